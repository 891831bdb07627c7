// The JavaScript zip API (`sluice.createZip`): every kind of source an entry can come from,
// declared up front (exact size before the first byte) or not, deflated, on each rung this engine
// has; and the mistakes and failures, which leave no archive on disk that looks complete. Every
// archive is checked by the four readers (compat-tests/zipcheck.ts).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { test, expect, figure, notApplicable, rowsOf, waitForFile, type Browser } from '../fixtures';
import { acceptedBy, checkZip } from '../zipcheck';
import { describeOnDisk, failedOnDisk, visiblyFailed } from '../downloads';

/** The entries every archive here holds: a name, a size, and the kind of source it comes from. */
const ENTRIES = [
  { name: 'bytes.bin', size: 1000, kind: 'Uint8Array' },
  { name: 'empty.bin', size: 0, kind: 'ArrayBuffer' },
  { name: 'blob.txt', size: 200_000, kind: 'Blob' },
  { name: 'folder/file.txt', size: 5000, kind: 'File' },
  { name: 'folder/response.txt', size: 300_000, kind: 'Response' },
  { name: 'stream.txt', size: 1_500_000, kind: 'ReadableStream' },
  { name: 'Ünïcödé 日本.txt', size: 100_000, kind: 'async iterable' },
];

/** Entry `i`'s bytes, as the page makes them: `entry <i> ` over and over, cut at `size`. */
function content(i: number, size: number): Buffer {
  return Buffer.from(`entry ${i} `.repeat(Math.ceil(size / (`entry ${i} `.length)) + 1).slice(0, size), 'latin1');
}

const expected = () => ENTRIES.map((e, i) => ({ name: e.name, sha256: createHash('sha256').update(content(i, e.size)).digest('hex') }));

/** Skips (n.a., with the reason) where dist/ has no createZip. */
async function zipOrSkip(driver: Browser) {
  await driver.open();
  const has = await driver.evaluate(() => typeof (window.sluice.Sluice.prototype as any).createZip === 'function');
  if (!has) notApplicable('createZip is not in this dist/ (main-writer\'s js-zip feature is off: it does not fit the 120 KiB budget yet)');
}

/** Saves ENTRIES as `name` with a Sluice of `mode`; what the page saw. */
function saveAll(driver: Browser, name: string, mode: string, how: { declared: boolean; compress: boolean }) {
  return driver.evaluate(async ({ name, mode, entries, how }) => {
    const make = (i: number, size: number) => new TextEncoder().encode(`entry ${i} `.repeat(Math.ceil(size / `entry ${i} `.length) + 1).slice(0, size));
    const source = (i: number, kind: string, size: number): unknown => {
      const bytes = make(i, size);
      switch (kind) {
        case 'Uint8Array': return bytes;
        case 'ArrayBuffer': return bytes.buffer;
        case 'Blob': return new Blob([bytes]);
        case 'File': return new File([bytes], 'f', { lastModified: Date.UTC(2001, 1, 3, 4, 5, 6) });
        case 'Response': return new Response(new Blob([bytes]));
        case 'ReadableStream': {
          let at = 0;
          return new ReadableStream({
            pull(c) {
              if (at >= size) return c.close();
              c.enqueue(bytes.slice(at, at + 65536));
              at += 65536;
            },
          });
        }
        default: return (async function* () { for (let at = 0; at < size; at += 10_000) yield bytes.slice(at, at + 10_000); })();
      }
    };
    const sluice = await window.sluice.Sluice.register({ mode });
    const Sluice = window.sluice.Sluice as any;
    const declared = entries.map((e) => ({ name: e.name, size: e.size }));
    const zip = (sluice as any).createZip(name, how.declared ? { entries: declared } : {});
    for (const [i, e] of entries.entries()) await zip.add(e.name, source(i, e.kind, e.size), { compress: how.compress });
    await zip.close();
    return { mode: zip.mode, size: zip.size ?? null, predicted: Sluice.zipSize(declared), done: await zip.done };
  }, { name, mode, entries: ENTRIES, how });
}

test('createZip: entries from bytes, Blob, File, Response, ReadableStream and async iterable, declared (exact size), on every rung', rowsOf('zip-js'), async ({ driver }) => {
  await zipOrSkip(driver);
  const rungs = await driver.evaluate(async () => {
    const sluice = await window.sluice.Sluice.register({});
    return (sluice.capabilities as { mode: string; available: boolean }[]).filter((c) => c.available && c.mode !== 'picker').map((c) => c.mode);
  });
  const figures: string[] = [];
  for (const mode of rungs) {
    const name = `declared-${mode}.zip`;
    const saved = await saveAll(driver, name, mode, { declared: true, compress: false });
    expect(saved.mode).toBe(mode);
    expect(saved.size, `${mode}: zip.size is Sluice.zipSize of the entries`).toBe(saved.predicted);
    expect(saved.done, `${mode}: done is the size`).toBe(saved.size);
    const file = await waitForFile(driver.downloadDir, name, saved.size!, 60_000);
    figures.push(`${mode}: ${saved.size} B (known before the first byte); ${checkZip(file, expected())}`);
    // The File's lastModified is the entry's time (DOS fields, local = UTC here: 2 s steps).
    const time = execFileSync('python3', ['-c', 'import sys, zipfile\nprint(list(zipfile.ZipFile(sys.argv[1]).getinfo("folder/file.txt").date_time))', file], { encoding: 'utf8' });
    expect(JSON.parse(time), `${mode}: folder/file.txt's time is its File's lastModified`).toEqual([2001, 2, 3, 4, 5, 6]);
  }
  expect(rungs.length, 'the rungs tried').toBeGreaterThan(0);
  figure('zip-js', figures.join('<br>'));
});

test('createZip: undeclared (the entries without a size of their own are ZIP64 entries) and deflated', rowsOf('zip-js'), async ({ driver }) => {
  await zipOrSkip(driver);
  const figures: string[] = [];
  let stored = 0;
  for (const [name, compress] of [['unsized.zip', false], ['deflated.zip', true]] as [string, boolean][]) {
    const saved = await saveAll(driver, name, 'auto', { declared: false, compress });
    expect(saved.size, 'no size is known before the first byte').toBeNull();
    const file = await waitForFile(driver.downloadDir, name, saved.done, 60_000);
    if (!compress) stored = saved.done;
    else expect(saved.done, 'text compresses').toBeLessThan(stored / 2);
    figures.push(`${name}: ${saved.done} B; ${checkZip(file, expected())}`);
  }
  figure('zip-js', figures.join('<br>'));
});

test('createZip: a source that refills one buffer for each chunk is saved as each chunk was when it came, on each service-worker path', rowsOf('zip-js'), async ({ driver }) => {
  await zipOrSkip(driver);
  // 48 chunks of 256 KiB, all in one buffer that the source refills with the chunk's number.
  const [chunks, chunkSize] = [48, 256 * 1024];
  const hash = createHash('sha256');
  for (let i = 0; i < chunks; i++) hash.update(Buffer.alloc(chunkSize, i));
  const sha256 = hash.digest('hex');
  const figures: string[] = [];
  for (const mode of ['transfer', 'fallback']) {
    const name = `refilled-${mode}.zip`;
    const saved = await driver.evaluate(async ({ name, mode, chunks, chunkSize }) => {
      const sluice = (await window.sluice.Sluice.register({ mode }).catch(() => null)) as any;
      if (!sluice) return null;
      const zip = sluice.createZip(name);
      const buffer = new Uint8Array(chunkSize);
      await zip.add('refilled.bin', (async function* () {
        for (let i = 0; i < chunks; i++) yield buffer.fill(i);
      })());
      await zip.close();
      return await zip.done;
    }, { name, mode, chunks, chunkSize });
    if (saved === null) continue; // this engine has no such path
    const file = await waitForFile(driver.downloadDir, name, saved, 60_000);
    figures.push(`${mode}: ${checkZip(file, [{ name: 'refilled.bin', sha256 }])}`);
  }
  expect(figures.length, 'a service-worker path tried').toBeGreaterThan(0);
  figure('zip-js', figures.join('<br>'));
});

test('createZip: caller mistakes are typed and the archive goes on; a failing source fails it visibly', rowsOf('zip-js'), async ({ driver }) => {
  await zipOrSkip(driver);
  const result = await driver.evaluate(async () => {
    const sluice = (await window.sluice.Sluice.register({})) as any;
    const code = (p: () => unknown) => Promise.resolve().then(p).then(() => 'ok', (e) => `${e.name}: ${e.code}`);
    const zip = sluice.createZip('mistakes.zip');
    const mistakes = [
      await code(() => zip.add('a.txt', 42)),
      await code(() => zip.add('a.txt', 'text')),
      await code(() => zip.add(7, new Uint8Array(1))),
      await code(() => zip.add('..', new Uint8Array(1))),
      await code(() => zip.add('a.txt', new Uint8Array(1), { compress: 'yes' })),
      await code(() => zip.add('a.txt', new Uint8Array(1), { size: -1 })),
      await code(() => sluice.createZip('x.zip', { entries: 'a' })),
      await code(() => (window.sluice.Sluice as any).zipSize([{ name: 'a' }])),
    ];
    const good = await code(() => zip.add('a.txt', new TextEncoder().encode('kept')));
    const duplicate = await code(() => zip.add('./a.txt', new Uint8Array(1)));
    const closed = await code(() => zip.close());
    const done = await zip.done;
    // An entry added after close() is refused, and its stream is cancelled (not left locked and read by nobody).
    let cancelled = false;
    const lateStream = new ReadableStream({ pull: (c) => c.enqueue(new Uint8Array(1)), cancel: () => { cancelled = true; } });
    const late = await code(() => zip.add('late.txt', lateStream));
    await new Promise((r) => setTimeout(r, 100));

    const failing = sluice.createZip('failing.zip');
    await failing.add('first.txt', new Uint8Array(100_000));
    let sent = 0;
    const broken = new ReadableStream({
      pull(c) {
        if (sent >= 300_000) return c.error(new TypeError('the source failed'));
        c.enqueue(new Uint8Array(100_000));
        sent += 100_000;
      },
    });
    const failedAdd = await code(() => failing.add('second.txt', broken));
    const failedDone = await code(() => failing.done);

    const declared = sluice.createZip('declared-short.zip', { entries: [{ name: 'a', size: 10 }] });
    // Said to be 10 bytes (as declared), but the Blob holds 9.
    const short = await code(() => declared.add('a', new Blob([new Uint8Array(9)]), { size: 10 }));
    const shortDone = await code(() => declared.done);
    return { mistakes, good, duplicate, closed, done, late, cancelled, failedAdd, failedDone, short, shortDone };
  });
  expect(result.mistakes).toEqual(Array(8).fill('SluiceError: invalid_argument'));
  expect([result.good, result.duplicate, result.closed]).toEqual(['ok', 'SluiceError: invalid_argument', 'ok']);
  expect([result.late, result.cancelled], 'an entry added after close()').toEqual(['SluiceError: closed', true]);
  const file = await waitForFile(driver.downloadDir, 'mistakes.zip', result.done, 60_000);
  checkZip(file, [{ name: 'a.txt', sha256: createHash('sha256').update('kept').digest('hex') }]);
  expect(result.failedAdd).toMatch(/^SluiceError: /);
  expect(result.failedDone).toMatch(/^SluiceError: /);
  expect(result.short).toBe('SluiceError: size_mismatch');
  expect(result.shortDone).toMatch(/^SluiceError: /);
  const figures = [`8 mistakes and a duplicate: invalid_argument, the archive goes on (${result.done} B, readers ok)`];
  for (const name of ['failing.zip', 'declared-short.zip']) {
    const seen = await failedOnDisk(driver.downloadDir, name);
    expect(visiblyFailed(seen), `${name} on disk: ${describeOnDisk(seen)}`).toBe(true);
    const accepted = seen.final ? acceptedBy(join(driver.downloadDir, name)) : [];
    expect(accepted, `${name}: the readers that take it for a whole archive`).toEqual([]);
    figures.push(`${name}: ${name === 'failing.zip' ? result.failedAdd : result.short}; on disk: ${describeOnDisk(seen)}`);
  }
  figure('zip-js', figures.join('<br>'));
});

test('createZip in a worker: a Sluice handed off to a dedicated worker zips there (adopt)', rowsOf('zip-js'), async ({ driver }) => {
  await zipOrSkip(driver);
  const saved = await driver.evaluate(async (entries) => {
    const sluice = await window.sluice.Sluice.register({});
    const port = sluice.handOff();
    const worker = new Worker('./zip-worker.js', { type: 'module' });
    const reply = new Promise<any>((resolve) => { worker.onmessage = ({ data }) => resolve(data); worker.onerror = (e) => resolve({ error: e.message }); });
    worker.postMessage({ port, name: 'from-worker.zip', entries }, [port]);
    const out = await reply;
    return { ...out, predicted: (window.sluice.Sluice as any).zipSize(entries.map(({ name, size }: any) => ({ name, size }))) };
  }, ENTRIES);
  expect(saved.error).toBeUndefined();
  expect(saved.done, 'the worker\'s zip.done is its exact size').toBe(saved.predicted);
  const file = await waitForFile(driver.downloadDir, 'from-worker.zip', saved.done, 60_000);
  figure('zip-js', `in a worker (${saved.mode}): ${saved.done} B; ${checkZip(file, expected())}`);
});
