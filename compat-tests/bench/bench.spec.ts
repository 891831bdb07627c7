// `cargo xtask bench`: real downloads to disk, the same producer into Sluice (each path and
// window), into StreamSaver.js 2.0.6 (from npm, unmodified), the ceiling (a service worker that
// generates the bytes itself) and postMessage alone (the fallback's transport without Sluice).
// Every file is checked byte-exact (sha256) on disk. Each run is a line of
// target/bench/results.jsonl; the xtask takes the medians and writes BENCHMARKS.md and its chart.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test, expect, type Browser } from '../fixtures';
import { expectedSha256, fileSha256 } from '../data';
import { browserPss, samplePeakPss } from '../memory';

const MiB = 1048576;
const QUICK = process.env.SLUICE_BENCH_QUICK === '1';
const RUNS = Number(process.env.SLUICE_BENCH_RUNS ?? (QUICK ? 1 : 3));
const OUT = process.env.SLUICE_BENCH_OUT ?? join(process.cwd(), 'target/bench/results.jsonl');
/** The large workloads (512 MiB and 2 GiB; --quick: 32 and 128 MiB) and the tiny-write count. */
const LARGE = QUICK ? [32 * MiB, 128 * MiB] : [512 * MiB, 2048 * MiB];
const TINY_WRITES = QUICK ? 100_000 : 1_000_000;

/** `producer`: the producer alone, into a `WritableStream` that keeps nothing (no download). */
type Impl = 'sluice' | 'streamsaver' | 'ceiling' | 'messages' | 'producer';
interface Case {
  id: string;
  impl: Impl;
  options?: Record<string, unknown>;
  /** The path this case is about; skipped where the probe picks another. */
  path?: 'transfer' | 'fallback';
  sizes: number[];
  chunk: number;
  yieldEach: boolean;
}

const large = { chunk: MiB, yieldEach: true };
const tiny = { sizes: [TINY_WRITES * 100], chunk: 100, yieldEach: false };
const CASES: Case[] = [
  { id: 'sluice-transfer', impl: 'sluice', options: { mode: 'auto' }, path: 'transfer', sizes: LARGE, ...large },
  { id: 'sluice-fallback', impl: 'sluice', options: { mode: 'fallback' }, path: 'fallback', sizes: LARGE, ...large },
  { id: 'sluice-fallback-window-1', impl: 'sluice', options: { mode: 'fallback', windowChunks: 1, windowBytes: MiB }, path: 'fallback', sizes: LARGE.slice(0, 1), ...large },
  { id: 'sluice-fallback-64k-chunks', impl: 'sluice', options: { mode: 'fallback', minChunk: 65536, maxChunk: 65536 }, path: 'fallback', sizes: LARGE.slice(0, 1), ...large },
  { id: 'ceiling', impl: 'ceiling', sizes: LARGE, ...large },
  { id: 'messages', impl: 'messages', sizes: LARGE, ...large },
  { id: 'streamsaver', impl: 'streamsaver', sizes: LARGE, ...large },
  { id: 'sluice-tiny', impl: 'sluice', options: { mode: 'auto' }, ...tiny },
  { id: 'streamsaver-tiny', impl: 'streamsaver', ...tiny },
  { id: 'producer-tiny', impl: 'producer', ...tiny },
];

interface Run { seconds: number; mbps: number; pssGrowth: number | null; error?: string }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How long a complete file may take to appear once the producer is done. */
const GRACE = 60_000;

/**
 * Resolves with Date.now() once `name` is complete: as the automation reports it, or on disk.
 * Gives up `GRACE` after the producer finished without a complete file, or at `deadline`.
 */
async function finished(driver: Browser, name: string, size: number, deadline: number): Promise<number> {
  let producerDone: number | null = null;
  for (let i = 0; ; i++) {
    const reported = driver.downloadFinished(name);
    if (reported) {
      const late = sleep(Math.max(0, deadline - Date.now())).then(() => {
        throw new Error(`${name} did not finish in time (the browser's download is still running)`);
      });
      return Promise.race([reported, late]);
    }
    const files = readdirSync(driver.downloadDir);
    const partial = files.some((f) => f !== name && f.startsWith(name));
    if (files.includes(name) && !partial && statSync(join(driver.downloadDir, name)).size === size) return Date.now();
    if (i % 50 === 0 && producerDone === null && (await driver.evaluate(() => window.bench.state())) !== 'running') {
      producerDone = Date.now();
    }
    const why = Date.now() > deadline ? 'in time' : producerDone !== null && Date.now() - producerDone > GRACE ? `${GRACE / 1000} s after the producer finished` : null;
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

/** One timed download; throws when it is not byte-exact on disk. */
async function timed(driver: Browser, c: Case, name: string, size: number): Promise<Run> {
  if (c.impl === 'producer') {
    const ms = await driver.evaluate((options) => window.bench.producerAlone(options), { size, chunk: c.chunk, yieldEach: c.yieldEach });
    return { seconds: ms / 1000, mbps: size / 1e3 / ms, pssGrowth: null };
  }
  // A generous limit (down to 0.2 MB/s), so a slow implementation is measured, not cut off.
  const deadline = Date.now() + 120_000 + size / 200;
  const before = browserPss();
  const peak = samplePeakPss(100);
  const start = Date.now();
  await driver.evaluate(({ impl, options }) => window.bench.start(impl, options), {
    impl: c.impl,
    options: { name, size, chunk: c.chunk, yieldEach: c.yieldEach },
  });
  const end = await finished(driver, name, size, deadline).catch(async (e) => {
    const state = await driver.evaluate(() => window.bench.state());
    throw new Error(`${e.message}; the producer: ${state}`);
  });
  const top = peak.stop();
  for (let state = ''; state !== 'done'; ) {
    state = await driver.evaluate(() => window.bench.state());
    if (state.startsWith('error')) throw new Error(`the producer failed after the file was complete: ${state}`);
    if (Date.now() > deadline) throw new Error(`the producer did not finish: ${state}`);
    if (state !== 'done') await sleep(20);
  }
  const file = await saved(driver, name, size, deadline);
  const sha = await fileSha256(file);
  unlinkSync(file);
  if (sha !== expectedSha256(size)) throw new Error(`${name} is not byte-exact on disk`);
  const seconds = (end - start) / 1000;
  return { seconds, mbps: size / 1e6 / seconds, pssGrowth: before !== null && top !== null ? top - before : null };
}

/** Runs of this invocation (`cargo xtask bench` sets it): a case run again later replaces them. */
const SESSION = process.env.SLUICE_BENCH_SESSION ?? String(Date.now());

/** The runs of this session already written for `engine`, `case` and `size`. */
function earlier(engine: string, id: string, size: number): Run[] {
  if (!existsSync(OUT)) return [];
  return readFileSync(OUT, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l))
    .filter((r) => r.session === SESSION && r.engine === engine && r.case === id && r.size === size)
    .map((r) => r.run);
}

// The runs are interleaved: the first run of every case, then the second of every case, and so
// on, each in a browser of its own. A machine that slows down as the benchmark goes (the disk,
// the page cache) then weighs on every case alike, not on the cases that happen to come last.
// Each run is a line of OUT; the xtask takes the median of each case's runs.
for (let run = 0; run < RUNS; run++) {
  for (const c of CASES) {
    test(`${c.id}, run ${run + 1} of ${RUNS}`, async ({ driver }) => {
      test.setTimeout(0);
      // A failed download may leave the browser in any state: no more runs of it.
      const sizes = c.sizes.filter((size) => !earlier(driver.engine, c.id, size).some((r) => r.error));
      test.skip(sizes.length === 0, 'an earlier run failed at every size');
      await driver.goto('/bench.html');
      const ready = await driver.evaluate(async () => {
        for (let i = 0; i < 1500 && !window.benchReady; i++) await new Promise((r) => setTimeout(r, 20));
        return window.benchReady === true;
      });
      expect(ready, 'bench.html loaded (Sluice, StreamSaver.js)').toBe(true);
      const how = await driver.evaluate(({ impl, options }) => window.bench.setup(impl, options), { impl: c.impl, options: c.options ?? {} });
      if (c.path && how !== c.path) test.skip(true, `the probe picked the ${how} path here`);
      // A first small download warms up each implementation (its service worker, StreamSaver's mitm).
      await timed(driver, { ...c, sizes: [] }, `warm-up-${c.id}.bin`, 65536 + 1);
      for (const size of sizes) {
        let result: Run;
        try {
          result = await timed(driver, c, `bench-${c.id}-${size}-${run}.bin`, size);
        } catch (e) {
          result = { seconds: 0, mbps: 0, pssGrowth: null, error: (e as Error).message };
        }
        const record = {
          session: SESSION,
          engine: driver.engine,
          version: driver.version,
          case: c.id,
          impl: c.impl,
          how,
          size,
          writes: Math.ceil(size / c.chunk),
          chunk: c.chunk,
          run: result,
        };
        mkdirSync(dirname(OUT), { recursive: true });
        appendFileSync(OUT, `${JSON.stringify(record)}\n`);
        const shown = result.error ? `failed: ${result.error}` : `${result.mbps.toFixed(1)} MB/s, PSS +${((result.pssGrowth ?? 0) / MiB).toFixed(0)} MiB`;
        console.log(`${driver.engine}: ${c.id}, ${c.chunk === 100 ? `${record.writes} x 100 B` : `${size / MiB} MiB`} (${how}), run ${run + 1}: ${shown}`);
      }
      // A failure is a figure of the benchmark, not a failed test; only the impossible fails here.
      expect(sizes.length).toBeGreaterThan(0);
    });
  }
}
