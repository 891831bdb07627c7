// The StreamSaver.js drop-in (dist/streamsaver.js): its API, and StreamSaver's own examples from
// the pinned npm package, served unmodified except the script tag that loads the library
// (`cargo xtask serve` rewrites it: /streamsaver-examples/).
import { readFileSync } from 'node:fs';
import { test, expect, figure, notApplicable, rowsOf, waitForFile, type Browser } from '../fixtures';
import { expectedSha256, fileSha256 } from '../data';
import { describeOnDisk, onDisk, visiblyFailed } from '../downloads';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** StreamSaver's examples that cannot run here, and why (the matrix lists them). */
const CANNOT_RUN = [
  'fetch.html (fetches a video from cloudfront.net: no internet here)',
  'saving-multiple-files.html (its zip pulls the same video from cloudfront.net)',
  'torrent.html (WebTorrent from a CDN and peers on the internet)',
  'media-stream.html (a permissions helper from a CDN, and a camera or microphone)',
  'video-stream.html (an empty file in streamsaver 2.0.6)',
];

test('the drop-in: createWriteStream returns a WritableStream at once, saves byte-exact, passes errors back, ignores mitm', rowsOf('streamsaver-drop-in'), async ({ driver }) => {
  await driver.open();
  const size = 32 * 1048576 + 5;
  const result = await driver.evaluate(async (size) => {
    const streamSaver = await window.sluiceTest.streamSaver();
    const notes: string[] = [];
    const info = console.info;
    console.info = (...args: unknown[]) => notes.push(args.join(' '));
    streamSaver.mitm = 'https://example.com/mitm.html';
    console.info = info;
    const registeredBefore = (await navigator.serviceWorker.getRegistrations()).length;
    // A registration that fails (options Sluice refuses) fails its stream, and is tried again
    // by the next createWriteStream instead of failing every later one.
    streamSaver.sluice = { mode: 'nope' };
    const failed = await streamSaver.createWriteStream('never.bin').getWriter().write(new Uint8Array(1)).then(() => 'written', (e: any) => `${e.name}: ${e.code}`);
    streamSaver.sluice = {};
    const stream = streamSaver.createWriteStream('drop-in.bin', { size, writableStrategy: { highWaterMark: 2 } });
    const synchronous = stream instanceof WritableStream;
    await window.sluiceTest.write(stream, size);
    // The deprecated form (filename, size).
    const legacy = streamSaver.createWriteStream('legacy.txt', 5);
    const legacyWriter = legacy.getWriter();
    await legacyWriter.write(new TextEncoder().encode('hello'));
    await legacyWriter.close();
    // Fewer bytes than the size: close rejects with Sluice's error.
    const short = streamSaver.createWriteStream('short.bin', { size: 100 }).getWriter();
    await short.write(new Uint8Array(10));
    const closed = await short.close().then(() => 'closed', (e: any) => `${e.name}: ${e.code}`);
    // Options and strategies it cannot use: a SluiceError at once; a bad chunk: the write's.
    const thrown = (call: () => unknown) => {
      try {
        call();
        return 'ok';
      } catch (e: any) {
        return `${e.name}: ${e.code}`;
      }
    };
    const wrong = [
      ...['text', true, 10n, Symbol('s')].map((v) => thrown(() => streamSaver.createWriteStream('wrong.bin', v))),
      thrown(() => streamSaver.createWriteStream('wrong.bin', { writableStrategy: 42 })),
      await streamSaver.createWriteStream('wrong-chunk.bin').getWriter().write('text').then(() => 'written', (e: any) => `${e.name}: ${e.code}`),
    ];
    return { failed, synchronous, registeredBefore, notes, mitm: streamSaver.mitm, closed, wrong, supported: streamSaver.supported };
  }, size);
  expect(result.failed, 'a stream whose registration failed').toBe('SluiceError: invalid_argument');
  expect(result.synchronous, 'createWriteStream returns a WritableStream synchronously').toBe(true);
  expect(result.registeredBefore, 'loading the drop-in registers nothing').toBe(0);
  expect(result.notes.join('\n')).toContain('streamSaver.mitm is ignored');
  expect(result.mitm).toBe('https://example.com/mitm.html');
  expect(result.supported).toBe(true);
  expect(result.closed).toBe('SluiceError: size_mismatch');
  expect(result.wrong).toEqual(Array(6).fill('SluiceError: invalid_argument'));
  const file = await waitForFile(driver.downloadDir, 'drop-in.bin', size, 120_000);
  expect(await fileSha256(file)).toBe(expectedSha256(size));
  expect(readFileSync(await waitForFile(driver.downloadDir, 'legacy.txt', 5, 30_000), 'utf8')).toBe('hello');
  await sleep(2000);
  const short = onDisk(driver.downloadDir, 'short.bin');
  expect(visiblyFailed(short), `short.bin: ${describeOnDisk(short)}`).toBe(true);
  figure('streamsaver-drop-in', `32 MiB byte-exact; a short file: ${describeOnDisk(short)}`);
});

const click = (driver: Browser, id: string) =>
  driver.evaluate((id) => document.getElementById(id)!.click(), id);

test("StreamSaver's example plain-text.html: buttons and typing, then Close, save what was written", rowsOf('streamsaver-examples'), async ({ driver }) => {
  await driver.goto('/streamsaver-examples/plain-text.html');
  await click(driver, '$a');
  await click(driver, '$b');
  await driver.evaluate(() => {
    const input = document.getElementById('$custom') as HTMLInputElement;
    input.value = 'typed!';
    input.dispatchEvent(new Event('input'));
  });
  await click(driver, '$c');
  await sleep(500);
  await click(driver, '$close');
  const text = 'a'.repeat(1024) + 'b'.repeat(1024) + 'typed!' + 'c'.repeat(1024);
  expect(readFileSync(await waitForFile(driver.downloadDir, 'sample.txt', text.length, 60_000), 'utf8')).toBe(text);
  figure('streamsaver-examples', `cannot run here: ${CANNOT_RUN.join('; ')}`);
});

test("StreamSaver's example plain-text.html: Abort leaves no complete file", rowsOf('streamsaver-examples'), async ({ driver }) => {
  await driver.goto('/streamsaver-examples/plain-text.html');
  await click(driver, '$a');
  await sleep(3000);
  await click(driver, '$abort');
  await sleep(3000);
  const aborted = onDisk(driver.downloadDir, 'sample.txt');
  expect(visiblyFailed(aborted), `sample.txt: ${describeOnDisk(aborted)}`).toBe(true);
  figure('streamsaver-examples', `plain-text Abort: ${describeOnDisk(aborted)}`);
});

test("StreamSaver's example saving-a-blob.html saves the Blob, sized", rowsOf('streamsaver-examples'), async ({ driver }) => {
  await driver.goto('/streamsaver-examples/saving-a-blob.html');
  await click(driver, '$start');
  const text = 'StreamSaver is awesome';
  expect(readFileSync(await waitForFile(driver.downloadDir, 'sample.txt', text.length, 60_000), 'utf8')).toBe(text);
});

test("StreamSaver's example write-slowly.html: a byte a second, sized", rowsOf('streamsaver-examples'), async ({ driver }) => {
  await driver.goto('/streamsaver-examples/write-slowly.html');
  await driver.evaluate(() => void ((document.getElementById('$num') as HTMLInputElement).value = '4'));
  await click(driver, '$start');
  expect(readFileSync(await waitForFile(driver.downloadDir, 'sample.txt', 4, 60_000), 'utf8')).toBe('aaaa');
});

test.describe('a download the browser refuses', () => {
  // As a new user's Chromium: a page's second automatic download waits for a permission the
  // automation never gives, so Chromium cancels it.
  test.use({ chromiumVia: 'chromedriver', automaticDownloads: false });

  test("the drop-in's close() and Sluice's done reject with cancelled, and nothing is saved", rowsOf('refused-download'), async ({ driver }) => {
    if (driver.engine !== 'chromium') notApplicable('only Chromium asks before a page\'s second automatic download');
    await driver.open();
    const size = 5 * 1048576 + 3;
    const result = await driver.evaluate(async (size) => {
      const streamSaver = await window.sluiceTest.streamSaver();
      const outcome = (p: Promise<unknown>) => p.then(() => 'resolved', (e: any) => e.code ?? String(e));
      const dropIn = async (name: string) => {
        const writer = streamSaver.createWriteStream(name, { size }).getWriter();
        const written = await outcome(writer.write(window.sluiceTest.bytes(0, size)));
        return { written, closed: await outcome(writer.close()) };
      };
      // The first automatic download is allowed; the ones after it wait for the user.
      const first = await dropIn('allowed.bin');
      const refused = await dropIn('refused-drop-in.bin');
      const direct: Record<string, unknown> = {};
      for (const mode of window.sluiceTest.streamTransferable() ? ['transfer', 'fallback'] : ['fallback']) {
        const sluice = await window.sluice.Sluice.register({ mode });
        const dl = sluice.createDownload(`refused-${mode}.bin`, { size });
        const writer = dl.writable.getWriter();
        const written = await outcome(writer.write(window.sluiceTest.bytes(0, size)).then(() => writer.close()));
        direct[sluice.mode] = { written, done: await outcome(dl.done) };
        sluice.close();
      }
      return { first, refused, direct };
    }, size);
    expect(result.first, 'the first download, allowed').toEqual({ written: 'resolved', closed: 'resolved' });
    expect(result.refused.closed, "the drop-in's close() of a refused download").toBe('cancelled');
    for (const [mode, r] of Object.entries(result.direct)) {
      expect((r as { done: string }).done, `done of a refused download (${mode})`).toBe('cancelled');
    }
    const file = await waitForFile(driver.downloadDir, 'allowed.bin', size, 30_000);
    expect(await fileSha256(file)).toBe(expectedSha256(size));
    await sleep(2000);
    const names = ['refused-drop-in.bin', ...Object.keys(result.direct).map((mode) => `refused-${mode}.bin`)];
    const seen = names.map((n) => `${n}: ${describeOnDisk(onDisk(driver.downloadDir, n))}`);
    for (const n of names) {
      expect(visiblyFailed(onDisk(driver.downloadDir, n)), seen.join('; ')).toBe(true);
    }
    figure('refused-download', `drop-in close(): ${result.refused.closed}; done: ${Object.entries(result.direct).map(([m, r]) => `${m} ${(r as { done: string }).done}`).join(', ')}; on disk: ${seen.join('; ')}`);
  });
});
