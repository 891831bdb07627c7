// `cargo xtask bench`: real downloads to disk, the same producer into Sluice (each path and
// window), into StreamSaver.js 2.0.6 (from npm, unmodified), the ceiling (a service worker that
// generates the bytes itself) and postMessage alone (the fallback's transport without Sluice).
// Every file is checked byte-exact (sha256) on disk. Each run is a line of
// target/bench/results.jsonl; the xtask takes the medians and writes BENCHMARKS.md and its chart.
import { appendFileSync, existsSync, mkdirSync, readFileSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { test, expect } from '../fixtures';
import { CASES, CutOff, MiB, OUT, RUNS, extension, prepare, timed, type Run } from './harness';

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

/** Free space on the disk of `dir`, in GiB. */
function freeGiB(dir: string): string {
  try {
    const fs = statfsSync(dir);
    return ((fs.bavail * fs.bsize) / 2 ** 30).toFixed(1);
  } catch {
    return '?';
  }
}

// The runs are interleaved: the first run of every case, then the second of every case, and so
// on, each in a browser of its own. A machine that slows down as the benchmark goes (the disk,
// the page cache) then weighs on every case alike, not on the cases that happen to come last.
// Each run is a line of OUT; the xtask takes the median of each case's runs. A case marked
// `once` (8 GiB) runs in the first round only; one with `repeat` runs that often in each
// round's browser.
for (let run = 0; run < RUNS; run++) {
  for (const c of CASES.filter((c) => run === 0 || !c.once)) {
    test.describe(() => {
      // Playwright's contexts are off the record, and keep OPFS in memory: that rung runs in
      // Chromium with a profile on disk (chromedriver's), as a user's.
      test.use({ chromiumVia: c.path === 'opfs' ? 'chromedriver' : 'playwright' });
      test(`${c.id}, run ${run + 1} of ${c.once ? 1 : RUNS}`, async ({ driver }) => {
        test.setTimeout(0);
        // A failed download may leave the browser in any state: no more runs of it.
        const sizes = c.sizes.filter((size) => !earlier(driver.engine, c.id, size).some((r) => r.error));
        test.skip(sizes.length === 0, 'an earlier run failed at every size');
        const write = (how: string, size: number, result: Run, again: number) => {
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
            entries: c.entries,
            run: result,
          };
          mkdirSync(dirname(OUT), { recursive: true });
          appendFileSync(OUT, `${JSON.stringify(record)}\n`);
          const shown = result.error ? `failed: ${result.error}` : `${result.mbps.toFixed(1)} MB/s, PSS +${((result.pssGrowth ?? 0) / MiB).toFixed(0)} MiB`;
          console.log(`${driver.engine}: ${c.id}, ${c.chunk === 100 ? `${record.writes} x 100 B` : `${size / MiB} MiB`} (${how}), run ${run + 1}${(c.repeat ?? 1) > 1 ? `.${again + 1}` : ''}: ${shown}`);
        };
        // With the disk's free space: a browser cancels a download that finds its disk full.
        const failed = (e: unknown): Run => ({ seconds: 0, mbps: 0, pssGrowth: null, error: `${(e as Error).message} (${freeGiB(driver.downloadDir)} GiB free on the download disk)`, ...(e instanceof CutOff ? { bound: e.bound } : {}) });
        let how: string;
        try {
          how = await prepare(driver, c);
        } catch (e) {
          // A failure before the timed downloads is a failed run of each size, so that its
          // message is in the report even when the invocation is stopped before its summary.
          for (const size of sizes) write(c.path ?? 'auto', size, failed(new Error(`before the download: ${(e as Error).message}`)), 0);
          throw e;
        }
        if (c.path && how !== c.path) test.skip(true, `the probe picked the ${how} path here`);
        if (how.startsWith('not here')) test.skip(true, how);
        for (const size of sizes) {
          for (let again = 0; again < (c.repeat ?? 1); again++) {
            let result: Run;
            try {
              result = await timed(driver, c, `bench-${c.id}-${size}-${run}-${again}.${extension(c)}`, size);
            } catch (e) {
              result = failed(e);
            }
            write(how, size, result, again);
            if (result.error) break;
          }
        }
        // A failure is a figure of the benchmark, not a failed test; only the impossible fails here.
        expect(sizes.length).toBeGreaterThan(0);
      });
    });
  }
}
