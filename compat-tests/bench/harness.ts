// The benchmark's harness, shared by bench.spec.ts (the figures) and profile.spec.ts (where the
// time goes): the cases, the producer page's set-up, and one timed download checked on disk.
import { existsSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { expect, type Browser } from '../fixtures';
import { expectedSha256, fileSha256 } from '../data';
import { checkZip } from '../zipcheck';
import { browserPss, samplePeakPss } from '../memory';

export const MiB = 1048576;
export const QUICK = process.env.SLUICE_BENCH_QUICK === '1';
export const RUNS = Number(process.env.SLUICE_BENCH_RUNS ?? (QUICK ? 1 : 3));
export const OUT = process.env.SLUICE_BENCH_OUT ?? join(process.cwd(), 'target/bench/results.jsonl');
/** The large workloads (512 MiB and 2 GiB; --quick: 32 and 128 MiB) and the tiny-write count. */
/** (SLUICE_BENCH_MIB: a comma-separated list of sizes in MiB instead, for an A/B of one size;
 * SLUICE_BENCH_TINY: another count of tiny writes.) */
export const LARGE = process.env.SLUICE_BENCH_MIB
  ? process.env.SLUICE_BENCH_MIB.split(',').map((mib) => Number(mib) * MiB)
  : QUICK ? [32 * MiB, 128 * MiB] : [512 * MiB, 2048 * MiB];
export const TINY_WRITES = Number(process.env.SLUICE_BENCH_TINY ?? (QUICK ? 100_000 : 1_000_000));
/** Each of several concurrent downloads (4 and 16 at once; --quick: 16 MiB each). */
export const EACH = QUICK ? 16 * MiB : 256 * MiB;
/** One long download, for memory that must stay flat (--quick: 512 MiB). */
export const HUGE = QUICK ? 512 * MiB : 8192 * MiB;

/** Zips: 1,000 entries of 1 MiB (--quick: 100), and one entry of the larger size. */
export const ZIP_ENTRIES = QUICK ? 100 : 1000;

/** `producer`: the producer alone, into a `WritableStream` that keeps nothing (no download;
 * `options.sink`: a JavaScript sink that keeps nothing).
 * `sluice-zip`: Sluice's `createZip`; `client-zip`: client-zip's `makeZip` piped into a Sluice download. */
export type Impl = 'sluice' | 'streamsaver' | 'ceiling' | 'messages' | 'producer' | 'sluice-zip' | 'client-zip';
export interface Case {
  id: string;
  impl: Impl;
  options?: Record<string, unknown>;
  /** The rung this case is about; skipped where the probe picks another or it does not work. */
  path?: 'transfer' | 'fallback' | 'opfs' | 'blob';
  sizes: number[];
  chunk: number;
  yieldEach: boolean;
  /** Downloads at once, each of the size (the figure is their aggregate MB/s); 1 if unset. */
  count?: number;
  /** A zip of this many entries, the size split evenly among them (each the test file's first bytes). */
  entries?: number;
  /** Runs in the first round only (the 8 GiB download: one per engine and path). */
  once?: boolean;
  /** Timed runs in each round's browser (1 if unset): a short case takes several, for a steadier median. */
  repeat?: number;
}

const large = { chunk: MiB, yieldEach: true };
const tiny = { sizes: [TINY_WRITES * 100], chunk: 100, yieldEach: false, repeat: 3 };
export const CASES: Case[] = [
  { id: 'sluice-transfer', impl: 'sluice', options: { mode: 'transfer' }, path: 'transfer', sizes: LARGE, ...large },
  { id: 'sluice-fallback', impl: 'sluice', options: { mode: 'fallback' }, path: 'fallback', sizes: LARGE, ...large },
  { id: 'sluice-fallback-window-1', impl: 'sluice', options: { mode: 'fallback', windowChunks: 1, windowBytes: MiB }, path: 'fallback', sizes: LARGE.slice(0, 1), ...large },
  { id: 'sluice-fallback-64k-chunks', impl: 'sluice', options: { mode: 'fallback', minChunk: 65536, maxChunk: 65536 }, path: 'fallback', sizes: LARGE.slice(0, 1), ...large },
  // The rungs without a service worker, at the smaller size (512 MiB: the blob rung's default limit).
  { id: 'sluice-opfs', impl: 'sluice', options: { mode: 'opfs' }, path: 'opfs', sizes: LARGE.slice(0, 1), ...large },
  { id: 'sluice-blob', impl: 'sluice', options: { mode: 'blob' }, path: 'blob', sizes: LARGE.slice(0, 1), ...large },
  { id: 'ceiling', impl: 'ceiling', sizes: LARGE, ...large },
  { id: 'messages', impl: 'messages', sizes: LARGE, ...large },
  { id: 'streamsaver', impl: 'streamsaver', sizes: LARGE, ...large },
  // Scale: several downloads at once, and one long download (memory against the 2 GiB one).
  ...(['transfer', 'fallback'] as const).flatMap((path) => [
    ...[4, 16].map((count) => ({ id: `sluice-${path}-x${count}`, impl: 'sluice' as const, options: { mode: path }, path, sizes: [EACH], count, ...large })),
    { id: `sluice-${path}-huge`, impl: 'sluice' as const, options: { mode: path }, path, sizes: [HUGE], once: true, ...large },
  ]),
  // Zips, stored, of the same generated entries: Sluice's createZip against client-zip (npm,
  // pinned) piped into Sluice's download, both on the path `auto` takes.
  ...(['sluice-zip', 'client-zip'] as const).flatMap((impl) => [
    { id: `${impl}-many`, impl, options: { mode: 'auto' }, sizes: [ZIP_ENTRIES * MiB], entries: ZIP_ENTRIES, ...large },
    { id: `${impl}-large`, impl, options: { mode: 'auto' }, sizes: [LARGE[1]], entries: 1, ...large },
  ]),
  { id: 'sluice-tiny', impl: 'sluice', options: { mode: 'auto' }, ...tiny },
  // Far slower (1.5 MB/s in Chromium, cut off in Firefox) and far from Sluice: one run per browser.
  { id: 'streamsaver-tiny', impl: 'streamsaver', ...tiny, repeat: 1 },
  { id: 'producer-tiny', impl: 'producer', ...tiny },
  // The same into a sink whose write() is JavaScript: what any library's WritableStream costs at least.
  { id: 'producer-sink-tiny', impl: 'producer', options: { sink: true }, ...tiny },
];

/** `bound`: for a run cut off while its producer was still writing, the most MB/s it can have saved (the bytes handed to the writer by then, over the time). */
export interface Run { seconds: number; mbps: number; pssGrowth: number | null; error?: string; bound?: number }

/** A run cut off while its producer was still writing: how far it got. */
export class CutOff extends Error {
  constructor(message: string, readonly bound: number) {
    super(message);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A file's size, or -1 once it is gone (a browser renames its partial file when done). */
function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return -1;
  }
}

/** How long a complete file may take to appear once the producer is done. */
const GRACE = 60_000;
/** How long a running producer may hand nothing more to its writer, with nothing more on disk. */
const STALL = 60_000;

/**
 * Resolves with Date.now() once `name` is complete: as the automation reports it, or on disk.
 * Gives up `GRACE` after the producer finished without a complete file, `STALL` after the
 * running producer and the file on disk last moved, or at `deadline`.
 */
async function finished(driver: Browser, name: string, size: number, deadline: number): Promise<number> {
  let producerDone: number | null = null;
  let outcome: { at: number } | { error: Error } | null = null;
  let watched = false;
  let progress = { seen: '', at: Date.now() };
  const stem = name.replace(/\.[^.]*$/, '');
  for (let i = 0; ; i++) {
    const reported = driver.downloadFinished(name);
    if (reported && !watched) {
      watched = true;
      reported.then((at) => (outcome = { at }), (error) => (outcome = { error }));
    }
    if (outcome) {
      if ('error' in outcome) throw outcome.error;
      return outcome.at;
    }
    const files = readdirSync(driver.downloadDir);
    const partial = files.some((f) => f !== name && f.startsWith(stem));
    if (!reported && files.includes(name) && !partial && sizeOf(join(driver.downloadDir, name)) === size) return Date.now();
    if (i % 100 === 0) {
      const { state, handed } = await driver.evaluate(() => ({ state: window.bench.state(), handed: window.bench.handed() }));
      if (state !== 'running' && producerDone === null) producerDone = Date.now();
      const onDisk = files.filter((f) => f.startsWith(stem)).map((f) => sizeOf(join(driver.downloadDir, f)));
      const seen = `${handed} ${onDisk.join(',')}`;
      if (seen !== progress.seen) progress = { seen, at: Date.now() };
    }
    const why =
      Date.now() > deadline ? 'in time'
      : producerDone !== null && Date.now() - producerDone > GRACE ? `${GRACE / 1000} s after the producer finished`
      : producerDone === null && Date.now() - progress.at > STALL ? `(stalled: neither the producer nor the file on disk moved for ${STALL / 1000} s)`
      : null;
    if (why) throw new Error(`no complete ${name} ${why} (${files.join(', ') || 'no file'})`);
    await sleep(10);
  }
}

/** The saved file, once it is all there (Playwright copies it after the browser finished). */
async function saved(driver: Browser, name: string, size: number, deadline: number): Promise<string> {
  const file = join(driver.downloadDir, name);
  while (!(existsSync(file) && statSync(file).size === size)) {
    if (Date.now() > deadline) throw new Error(`${name} was not saved in time`);
    await sleep(50);
  }
  return file;
}

/** The file names of a run named `name` of `count` downloads at once. */
function namesOf(name: string, count: number): string[] {
  // `-3of16`: no name is the start of another's (the browser's partial files are found by it).
  return count > 1 ? Array.from({ length: count }, (_, i) => name.replace(/\.bin$/, `-${i + 1}of${count}.bin`)) : [name];
}

/** The extension of a case's files: a zip's or a plain file's. */
export const extension = (c: Case) => (c.entries ? 'zip' : 'bin');

/** Entry `i`'s name in a benchmark zip (as bench.html names it). */
export const zipEntryName = (i: number) => `file-${String(i).padStart(4, '0')}.bin`;

/** One timed run (`c.count` downloads of `size` at once); throws when a file is not byte-exact on disk. */
export async function timed(driver: Browser, c: Case, name: string, size: number): Promise<Run> {
  const names = namesOf(name, c.count ?? 1);
  if (c.impl === 'producer') {
    // Under the memory sampler the downloads run under, which takes CPU from the browser.
    const sampler = samplePeakPss(100);
    const options = { size, chunk: c.chunk, yieldEach: c.yieldEach, sink: c.options?.sink === true };
    const ms = await driver.evaluate((o) => window.bench.producerAlone(o), options).finally(() => sampler.stop());
    return { seconds: ms / 1000, mbps: size / 1e3 / ms, pssGrowth: null };
  }
  // A generous limit (2 minutes, --quick: 15 s, plus 1 s per MB), so a slow implementation is
  // measured, not cut off; one that is cut off gets an upper bound instead of a figure.
  // A zip's file is the archive: its size as the implementation predicts it.
  const fileSize = c.entries ? await driver.evaluate((a) => window.bench.zipSize(a.impl, a.entries, a.size), { impl: c.impl, entries: c.entries, size }) : size;
  const total = fileSize * names.length;
  const deadline = Date.now() + (QUICK ? 15_000 : 120_000) + total / 1000;
  const before = browserPss();
  const peak = samplePeakPss(100);
  const start = Date.now();
  let end: number;
  let top: number | null;
  try {
    await driver.evaluate(({ impl, options }) => window.bench.start(impl, options), {
      impl: c.impl,
      options: { names, size, chunk: c.chunk, yieldEach: c.yieldEach, entries: c.entries },
    });
    const ends = Promise.all(names.map((n) => finished(driver, n, fileSize, deadline)));
    end = await ends.then((at) => Math.max(...at)).catch(async (e) => {
      const state = await driver.evaluate(() => window.bench.state());
      if (state !== 'running') throw new Error(`${e.message}; the producer: ${state}`);
      const handed = await driver.evaluate(() => window.bench.handed());
      const seconds = (Date.now() - start) / 1000;
      const bound = handed / 1e6 / seconds; // all the downloads' bytes
      throw new CutOff(`${e.message}; the producer had handed ${(handed / 1e6).toFixed(1)} MB to the writer in ${seconds.toFixed(0)} s (at most ${bound.toFixed(2)} MB/s)`, bound);
    });
  } finally {
    // Also for a failed run: a sampler left running would load the cases after it.
    top = peak.stop();
  }
  for (let state = ''; state !== 'done'; ) {
    state = await driver.evaluate(() => window.bench.state());
    if (state.startsWith('error')) throw new Error(`the producer failed after the file was complete: ${state}`);
    if (Date.now() > deadline) throw new Error(`the producer did not finish: ${state}`);
    if (state !== 'done') await sleep(20);
  }
  for (const n of names) {
    const file = await saved(driver, n, fileSize, deadline);
    try {
      if (c.entries) {
        // Every entry byte-exact, by the four readers.
        const each = { sha256: expectedSha256(size / c.entries) };
        checkZip(file, Array.from({ length: c.entries }, (_, i) => ({ name: zipEntryName(i), ...each })));
      } else if ((await fileSha256(file)) !== expectedSha256(size)) {
        throw new Error(`${n} is not byte-exact on disk`);
      }
    } finally {
      unlinkSync(file);
    }
  }
  const seconds = (end - start) / 1000;
  return { seconds, mbps: total / 1e6 / seconds, pssGrowth: before !== null && top !== null ? top - before : null };
}

/** Opens the producer page in `driver` and sets up `c` there: how it saves (its path), once warm. */
export async function prepare(driver: Browser, c: Case): Promise<string> {
  await driver.goto('/bench.html');
  const ready = await driver.evaluate(async () => {
    for (let i = 0; i < 1500 && !window.benchReady; i++) await new Promise((r) => setTimeout(r, 20));
    return window.benchReady === true;
  });
  expect(ready, 'bench.html loaded (Sluice, StreamSaver.js)').toBe(true);
  const how = await driver.evaluate(({ impl, options }) => window.bench.setup(impl, options), { impl: c.impl, options: c.options ?? {} });
  if (how.startsWith('not here') || (c.path && how !== c.path)) return how;
  // A first small download warms up each implementation (its service worker, StreamSaver's mitm).
  await timed(driver, { ...c, sizes: [], count: 1, entries: c.entries && 1 }, `warm-up-${c.id}.${extension(c)}`, 65536 + 1);
  return how;
}
