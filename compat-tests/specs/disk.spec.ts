import { createHash } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { test, expect, figure, onPath, rowsOf, waitForFile } from '../fixtures';
import { expectedSha256, fileSha256 } from '../data';

const MiB = 1048576;
const SIZE = 256 * MiB;

for (const path of ['transfer', 'fallback'] as const) {
  test(`the ${path} path: a real 256 MiB download to disk has the right sha256 and name`, rowsOf(path), async ({ driver }) => {
    await driver.open();
    await onPath(driver, path);
    const mode = await driver.evaluate(async (mode) => {
      window.sluiceTest.current = await window.sluice.Sluice.register({ mode });
      return window.sluiceTest.current.mode;
    }, path);
    expect(mode).toBe(path);
    const result = await driver.evaluate(async (size) => {
      const start = performance.now();
      const dl = window.sluiceTest.current!.createDownload('résumé 2026.pdf', { size, trigger: 'iframe' });
      await window.sluiceTest.write(dl.writable, size);
      const done = await dl.done;
      return { done, seconds: (performance.now() - start) / 1000 };
    }, SIZE);
    expect(result.done).toBe(SIZE);
    const file = await waitForFile(driver.downloadDir, 'résumé 2026.pdf', SIZE);
    expect(await fileSha256(file)).toBe(expectedSha256(SIZE));
    unlinkSync(file);
    figure(path, `${(SIZE / 1e6 / result.seconds).toFixed(0)} MB/s`);
  });
}

// Names a user might give: accents, CJK, Cyrillic, an emoji, spaces, an apostrophe. (Not '%':
// Firefox saves it as '_', its own rule for file names, though Sluice sends it as given.)
const UNICODE_NAME = "Ünïcødé 日本語 данные l'été 🚀.bin";

test('a unicode filename is saved as given', rowsOf('unicode-filename'), async ({ driver }) => {
  await driver.open();
  const size = MiB + 3;
  const done = await driver.evaluate(async ({ name, size }) => {
    const sluice = await window.sluice.Sluice.register({});
    const dl = sluice.createDownload(name, { size, trigger: 'iframe' });
    await window.sluiceTest.write(dl.writable, size);
    return dl.done;
  }, { name: UNICODE_NAME, size });
  expect(done).toBe(size);
  const file = await waitForFile(driver.downloadDir, UNICODE_NAME, size, 60_000);
  expect(await fileSha256(file)).toBe(expectedSha256(size));
});

test("a page that replaces its body's content mid-download still gets the whole file", rowsOf('body-replaced'), async ({ driver }) => {
  // StreamSaver's own examples do this (`document.body.innerHTML = ...` on Close); Firefox drops
  // a download whose frame is removed, while its page is told the download is done.
  await driver.open();
  const size = 4 * MiB + 3;
  const results = await driver.evaluate(async (size) => {
    const out = [];
    for (const mode of window.sluiceTest.streamTransferable() ? ['transfer', 'fallback'] : ['fallback']) {
      for (const sized of [true, false]) {
        const sluice = await window.sluice.Sluice.register({ mode });
        const name = `replaced-${sluice.mode}-${sized ? 'sized' : 'unsized'}.bin`;
        const dl = sluice.createDownload(name, sized ? { size } : {});
        const writer = dl.writable.getWriter();
        // A few bytes, so the browser is still taking the response over when the frame goes.
        await writer.write(window.sluiceTest.bytes(0, 1000));
        await new Promise((r) => setTimeout(r, 3000));
        document.body.innerHTML = '<p>replaced</p>';
        await writer.write(window.sluiceTest.bytes(1000, size - 1000));
        await writer.close();
        out.push({ name, done: await dl.done });
      }
    }
    return out;
  }, size);
  for (const { name, done } of results) {
    expect(done).toBe(size);
    const file = await waitForFile(driver.downloadDir, name, size, 30_000);
    expect(await fileSha256(file)).toBe(expectedSha256(size));
  }
});

// A producer that refills one buffer for each write (an encoder, a data channel's reader) once
// the last write resolved: each write must be saved as it was when written. Write sizes cross
// every way a write goes: gathered (below minChunk) and sent with the next large one, sent
// whole, cut into chunks (above maxChunk); then 400 gathered writes of 4,000 B, which start
// flushes (64 KiB staged) and stage on while a flush runs.
const REUSED_SIZES = [MiB + 17, 100, 65536, 3, 300 * 1024, 70_000, 1, 2 * MiB + 5, 4096];
const REUSED_MIXED = 45;
const REUSED_WRITES = REUSED_MIXED + 400;
/** Write `i`'s length. */
const reusedSize = (i: number) => (i < REUSED_MIXED ? REUSED_SIZES[i % REUSED_SIZES.length] : 4000);
/** Write `i`'s bytes (`reusedSize(i)` of them): each from its index and position. */
const reusedByte = (i: number, j: number) => (i * 31 + j * 7 + (j >> 8)) & 255;

test('a producer that reuses one buffer after each write resolves gets every write saved as written, on every rung (a Uint8Array, and a subclass whose slice is a view, as the Buffer polyfill)', rowsOf('reused-buffer'), async ({ driver }) => {
  test.setTimeout(300_000);
  await driver.open();
  const expected = createHash('sha256');
  let size = 0;
  for (let i = 0; i < REUSED_WRITES; i++) {
    const chunk = Buffer.alloc(reusedSize(i));
    for (let j = 0; j < chunk.length; j++) chunk[j] = reusedByte(i, j);
    expected.update(chunk);
    size += chunk.length;
  }
  const sha256 = expected.digest('hex');
  const results = await driver.evaluate(async ({ sizes, writes, byteSource, sizeSource, modes }) => {
    const byte = new Function(`return ${byteSource}`)() as (i: number, j: number) => number;
    const sizeOf = new Function('REUSED_MIXED', 'REUSED_SIZES', `return ${sizeSource}`)(sizes.mixed, sizes.cycle) as (i: number) => number;
    // As the `buffer` package's Buffer (bundlers' polyfill of Node's): `slice` gives a view.
    class LikeBuffer extends Uint8Array {
      slice(start?: number, end?: number) {
        return this.subarray(start, end);
      }
    }
    const out: { mode: string; kind: string; name?: string; done?: number; error?: string }[] = [];
    for (const kind of ['Uint8Array', 'LikeBuffer'])
    for (const mode of modes) {
      const sluice = await window.sluice.Sluice.register({ mode }).catch((e: Error) => e);
      if (sluice instanceof Error) {
        out.push({ mode, kind, error: `${(sluice as { code?: string }).code}: ${sluice.message}` });
        continue;
      }
      const name = `reused-${kind}-${sluice.mode}.bin`;
      const dl = sluice.createDownload(name, { trigger: 'iframe' });
      const writer = dl.writable.getWriter();
      const buffer = new (kind === 'LikeBuffer' ? LikeBuffer : Uint8Array)(Math.max(...sizes.cycle));
      for (let i = 0; i < writes; i++) {
        const view = buffer.subarray(0, sizeOf(i));
        for (let j = 0; j < view.length; j++) view[j] = byte(i, j);
        await writer.write(view);
        // Resolved: the buffer is the producer's again, and holds other bytes at once.
        buffer.fill(0xee);
      }
      await writer.close();
      out.push({ mode: sluice.mode, kind, name, done: await dl.done });
      sluice.close();
    }
    return out;
  }, {
    sizes: { mixed: REUSED_MIXED, cycle: REUSED_SIZES },
    writes: REUSED_WRITES,
    byteSource: reusedByte.toString(),
    sizeSource: reusedSize.toString(),
    modes: ['transfer', 'fallback', 'opfs', 'blob'],
  });
  const saved = [];
  for (const r of results) {
    if (r.error) {
      // A rung this browser does not have (picked by name, so only 'unsupported' is expected).
      expect(r.error, `${r.kind} ${r.mode}`).toMatch(/^unsupported: /);
      continue;
    }
    expect(r.done, `${r.kind} ${r.mode}: done`).toBe(size);
    const file = await waitForFile(driver.downloadDir, r.name!, size, 60_000);
    expect(await fileSha256(file), `${r.kind} ${r.mode}: sha256 of ${r.name}`).toBe(sha256);
    saved.push(`${r.mode} (${r.kind})`);
  }
  expect(saved.length, 'rungs saved').toBeGreaterThanOrEqual(4);
  figure('reused-buffer', `${size} B byte-exact on ${saved.join(', ')}`);
});
