import { test, expect, rowsOf } from '../fixtures';

// Caller mistakes are typed, immediate and lose nothing: the Sluice keeps working after them.
test('caller mistakes get their own codes, before anything is sent', rowsOf('caller-errors'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    const code = (f: () => unknown) => {
      try {
        f();
        return 'no error';
      } catch (e) {
        return (e as { code?: string }).code ?? String(e);
      }
    };
    const sluice = await window.sluice.Sluice.register({});
    const registerMode = await window.sluice.Sluice.register({ mode: 'fast' as 'auto' }).then(() => 'no error', (e) => e.code);
    const registerWith = (options: unknown) =>
      window.sluice.Sluice.register(options as object).then(() => 'no error', (e) => e.code);
    const registerOptions = [
      await registerWith('fast'),
      await registerWith({ windowChunks: 'eight' }),
      await registerWith({ minChunk: -1 }),
      await registerWith({ maxChunk: 2 ** 32 }),
      await registerWith({ timeoutMs: 1.5 }),
      await registerWith({ logLevel: 3 }),
      await registerWith({ somethingElse: true, serviceWorker: undefined }),
    ];
    const out = {
      registerMode,
      registerOptions,
      longName: code(() => sluice.createDownload('x'.repeat(5000))),
      longType: code(() => sluice.createDownload('a.txt', { type: 'text/' + 'x'.repeat(5000) })),
      badType: code(() => sluice.createDownload('a.txt', { type: 'not a type' })),
      badSize: code(() => sluice.createDownload('a.txt', { size: -1 })),
      fractionalSize: code(() => sluice.createDownload('a.txt', { size: 1.5 })),
      hugeSize: code(() => sluice.createDownload('a.txt', { size: 2 ** 53 })),
      badTrigger: code(() => sluice.createDownload('a.txt', { trigger: 'popup' as 'none' })),
      badChunk: '',
      after: 0,
    };
    const dl = sluice.createDownload('after.bin', { size: 3, trigger: 'none' });
    const writer = dl.writable.getWriter();
    out.badChunk = await writer.write('text' as unknown as Uint8Array).then(() => 'no error', (e) => e.code);
    const again = sluice.createDownload('after.bin', { size: 3, trigger: 'none' });
    const response = fetch(again.url);
    await window.sluiceTest.write(again.writable, 3);
    out.after = (await (await response).arrayBuffer()).byteLength;
    return out;
  });
  expect(result).toEqual({
    registerMode: 'invalid_argument',
    // A known option of the wrong type or out of range is refused; an unknown one is ignored.
    registerOptions: ['invalid_argument', 'invalid_argument', 'invalid_argument', 'invalid_argument', 'invalid_argument', 'invalid_argument', 'no error'],
    longName: 'too_large',
    longType: 'too_large',
    badType: 'invalid_argument',
    badSize: 'invalid_argument',
    fractionalSize: 'invalid_argument',
    hugeSize: 'invalid_argument',
    badTrigger: 'invalid_argument',
    badChunk: 'invalid_argument',
    after: 3,
  });
});

test('a connection holds at most 64 open downloads: the next is refused with too_many_downloads', rowsOf('too-many-downloads'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    const sluice = await window.sluice.Sluice.register({});
    const downloads = Array.from({ length: 65 }, (_, i) => sluice.createDownload(`open-${i}.bin`, { trigger: 'none' }));
    const last = await downloads[64].done.then(() => 'resolved', (e) => e.code);
    const first = downloads[0];
    const reading = fetch(first.url).then((r) => r.arrayBuffer());
    await window.sluiceTest.write(first.writable, 10);
    const body = (await reading).byteLength;
    sluice.close();
    const closed = await downloads[1].done.then(() => 'resolved', (e) => e.code);
    return { last, body, closed };
  });
  expect(result).toEqual({ last: 'too_many_downloads', body: 10, closed: 'closed' });
});
