// Linux `perf` over the browser's processes, for `cargo xtask bench profile` where the browser has
// no profiler a test can drive. WebKitGTK names its JIT code (JavaScript and wasm) when
// JSC_useJITDump is set at its start (`perf inject --jit` reads the dumps), so a WebKit thread's
// time shows by function; Firefox's and Chromium's libraries here have no symbols.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { browserCpu } from '../memory';

/** Samples per second and thread. */
const FREQUENCY = 999;

/** Where JavaScriptCore writes its JIT dumps: set before the browser starts. */
export function nameJitCode(dir: string) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  process.env.JSC_useJITDump = '1';
  process.env.JSC_jitDumpDirectory = dir;
}

/** Why `perf` cannot record the browser here, or null when it can. */
export function perfMissing(): string | null {
  const probe = spawnSync('perf', ['record', '-q', '-o', '/dev/null', '--', 'true'], { encoding: 'utf8' });
  if (probe.error) return `no perf here (${probe.error.message}): install linux-perf`;
  return probe.status === 0 ? null : `perf cannot record: ${probe.stderr.trim().split('\n')[0]}`;
}

/** One thread's share of the recording: busy (sampled on CPU) and its functions with the most self time. */
export interface ThreadProfile {
  thread: string;
  busy: number;
  top: string[];
}

/** Records every browser process from now until `stop()`, which summarises each thread. */
export async function recordBrowser(out: string, top: number): Promise<{ stop(): Promise<ThreadProfile[]> }> {
  const threads = browserCpu();
  const pids = [...new Set([...threads.keys()].map((t) => t.split('/')[0]))];
  const perf = spawn('perf', ['record', '-q', '-k', 'mono', '-F', String(FREQUENCY), '-p', pids.join(','), '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  perf.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => perf.on('exit', resolve));
  const started = Date.now();
  // perf attaches within a few milliseconds; one that failed has exited by then.
  const early = await Promise.race([exited, new Promise((r) => setTimeout(() => r('running'), 300))]);
  if (early !== 'running') throw new Error(`perf record failed: ${stderr.trim()}`);
  return {
    async stop() {
      const seconds = (Date.now() - started) / 1000;
      perf.kill('SIGINT');
      await exited;
      const jit = `${out}.jit`;
      const inject = spawnSync('perf', ['inject', '--jit', '-i', out, '-o', jit], { encoding: 'utf8' });
      const data = inject.status === 0 ? jit : out;
      const report = spawnSync('perf', ['report', '-i', data, '--no-children', '-g', 'none', '--sort', 'pid,sym', '--stdio', '-n', '-t', '\t'], { encoding: 'utf8', maxBuffer: 1 << 28 });
      if (report.status !== 0) throw new Error(`perf report failed: ${report.stderr.trim()}`);
      return summarise(report.stdout, threads, seconds, top);
    },
  };
}

/** Threads by samples, from `perf report --sort pid,sym -n -t '\t'` lines ("share\tsamples\ttid:comm\t[.] symbol"). */
export function summarise(report: string, threads: Map<string, { kind: string }>, seconds: number, top: number): ThreadProfile[] {
  const kindOf = new Map([...threads].map(([key, { kind }]) => [key.split('/')[1], kind]));
  const byThread = new Map<string, Map<string, number>>();
  for (const line of report.split('\n')) {
    const [, samples, thread, symbol] = line.split('\t').map((f) => f.trim());
    if (!symbol || !/^\d+$/.test(samples)) continue;
    const [tid, ...comm] = thread.split(':');
    const name = kindOf.get(tid) ?? `${tid}: ${comm.join(':')}`;
    const symbols = byThread.get(name) ?? new Map<string, number>();
    const clean = symbol.replace(/^\[[.k]\]\s*/, '');
    symbols.set(clean, (symbols.get(clean) ?? 0) + Number(samples));
    byThread.set(name, symbols);
  }
  return [...byThread]
    .map(([thread, symbols]) => {
      const total = [...symbols.values()].reduce((a, b) => a + b, 0);
      const best = [...symbols].sort((a, b) => b[1] - a[1]).slice(0, top);
      return { thread, total, busy: total / (FREQUENCY * seconds), top: best.map(([s, n]) => `${s} ${((100 * n) / total).toFixed(1)}%`) };
    })
    .sort((a, b) => b.total - a.total)
    .map(({ thread, busy, top }) => ({ thread, busy, top }));
}

/** Where a case's recording goes. */
export const perfData = (dir: string, id: string) => join(dir, `perf-${id}.data`);
