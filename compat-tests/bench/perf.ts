// Linux `perf` over the browser's processes, for `cargo xtask bench profile` where the browser has
// no profiler a test can drive. WebKitGTK names its JIT code (JavaScript and wasm) when
// JSC_useJITDump is set at its start (`perf inject --jit` reads the dumps), so a WebKit thread's
// time shows by function; Firefox's and Chromium's libraries here have no symbols.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { browserCpu } from '../memory';

/** Samples per second and thread. */
const FREQUENCY = 999;

/** Has JavaScriptCore write its JIT dumps to `dir`: set before the browser starts (it reads
 * its options once), for every WebKit browser this test process starts. */
export function nameJitCode(dir: string) {
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

/** One thread's share of the recording: busy (sampled on a CPU), and its functions with the
 * most self time, as shares of the whole recording (as Chromium's profiler gives them). */
export interface ThreadProfile {
  thread: string;
  busy: number;
  top: string[];
}

/** Records every process of the browser from now until `stop()`, which summarises each thread
 * (their names from /proc, read again at the end for threads that started meanwhile). */
export async function recordBrowser(out: string, jitDir: string, top: number): Promise<{ stop(): Promise<ThreadProfile[]> }> {
  const pids = [...new Set([...browserCpu().keys()].map((t) => t.split('/')[0]))];
  const perf = spawn('perf', ['record', '-q', '-k', 'mono', '-F', String(FREQUENCY), '-p', pids.join(','), '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  perf.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => {
    perf.on('exit', resolve);
    perf.on('error', (e) => ((stderr += e.message), resolve(null)));
  });
  // perf attaches within a few milliseconds; one that failed has exited by then.
  const early = await Promise.race([exited, new Promise((r) => setTimeout(() => r('running'), 300))]);
  if (early !== 'running') throw new Error(`perf record failed: ${stderr.trim()}`);
  const started = Date.now();
  return {
    async stop() {
      const seconds = (Date.now() - started) / 1000;
      if (perf.exitCode !== null) throw new Error(`perf record ended early: ${stderr.trim()}`);
      const threads = browserCpu();
      perf.kill('SIGINT');
      await exited;
      if (!readdirSync(jitDir).some((f) => f.endsWith('.dump'))) {
        throw new Error(`no JIT dumps in ${jitDir}: the browser did not get JSC_useJITDump (started before the profile spec set it?)`);
      }
      const jit = `${out}.jit`;
      const inject = spawnSync('perf', ['inject', '--jit', '-i', out, '-o', jit], { encoding: 'utf8' });
      if (inject.status !== 0) throw new Error(`perf inject --jit failed: ${inject.stderr.trim()}`);
      const report = spawnSync('perf', ['report', '-i', jit, '--no-children', '-g', 'none', '--sort', 'pid,sym', '--stdio', '-n', '-t', '\t'], { encoding: 'utf8', maxBuffer: 1 << 28 });
      if (report.status !== 0) throw new Error(`perf report failed: ${report.stderr.trim()}`);
      return summarise(report.stdout, threads, FREQUENCY * seconds, top);
    },
  };
}

/** Threads by samples, from `perf report --sort pid,sym -n -t '\t'` lines ("share\tsamples\ttid:comm\t[.] symbol");
 * `slots`: the samples a thread on a CPU all the time would have. */
function summarise(report: string, threads: Map<string, { kind: string }>, slots: number, top: number): ThreadProfile[] {
  const kindOf = new Map([...threads].map(([key, { kind }]) => [key.split('/')[1], kind]));
  const byThread = new Map<string, Map<string, number>>();
  for (const line of report.split('\n')) {
    const [, samples, thread, symbol] = line.split('\t').map((f) => f.trim());
    if (!symbol || !/^\d+$/.test(samples)) continue;
    const [tid, ...comm] = thread.split(':');
    const symbols = byThread.get(tid) ?? new Map<string, number>();
    const name = symbol.replace(/^\[[.k]\]\s*/, '');
    symbols.set(name, (symbols.get(name) ?? 0) + Number(samples));
    byThread.set(tid, symbols);
    if (!kindOf.has(tid)) kindOf.set(tid, comm.join(':'));
  }
  // Threads of one name (a helper thread in each process, say) stay apart, by thread id.
  const names = [...byThread.keys()].map((tid) => kindOf.get(tid)!);
  const label = (tid: string) => (names.filter((n) => n === kindOf.get(tid)).length > 1 ? `${kindOf.get(tid)} #${tid}` : kindOf.get(tid)!);
  return [...byThread]
    .map(([tid, symbols]) => {
      const total = [...symbols.values()].reduce((a, b) => a + b, 0);
      const best = [...symbols].sort((a, b) => b[1] - a[1]).slice(0, top);
      return { thread: label(tid), total, busy: total / slots, top: best.map(([s, n]) => `${s} ${((100 * n) / slots).toFixed(1)}%`) };
    })
    .sort((a, b) => b.total - a.total)
    .map(({ thread, busy, top }) => ({ thread, busy, top }));
}
