// `cargo xtask bench profile`: where the time goes while a browser saves a large file, per case.
// Chromium: the DevTools protocol's sampling profiler runs in the page and in every service worker
// during one timed download (the bench's producer and checks). WebKitGTK: Linux `perf` samples
// every thread of its processes, its JIT code named by JavaScriptCore's JIT dumps (perf.ts).
// Each thread's busy share and its functions with the most self time, and the CPU each of the
// browser's processes used, are printed and written to target/bench/profile.md. A thread that
// is mostly idle is not what limits a case. Firefox is skipped: it has no profiler a test can
// drive (WebDriver BiDi has none yet), and its libraries here have no symbols for perf.
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { CDPSession } from '@playwright/test';
import { test, expect } from '../fixtures';
import { CASES, MiB, extension, prepare, timed } from './harness';
import { browserCpu, cpuUsed, samplePeakPssByKind } from '../memory';
import { nameJitCode, perfMissing, recordBrowser, type ThreadProfile } from './perf';

const SIZE = Number(process.env.SLUICE_PROFILE_MIB ?? 512) * MiB;
const OUT = join(process.cwd(), 'target/bench/profile.md');
const PERF_DIR = join(process.cwd(), 'target/bench/perf');
const TOP = Number(process.env.SLUICE_PROFILE_TOP ?? 5);
const JIT_DIR = join(PERF_DIR, 'jit');
// Before the browser starts: JavaScriptCore reads its options once.
nameJitCode(JIT_DIR);
/** The cases profiled (SLUICE_PROFILE_CASES: a comma-separated list of case ids instead). */
const PROFILED = process.env.SLUICE_PROFILE_CASES?.split(',') ?? ['sluice-transfer', 'streamsaver', 'sluice-fallback', 'messages', 'ceiling'];

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }

/** A target's session over the browser's session (non-flat: Playwright routes only its own). */
async function attach(cdp: CDPSession, targetId: string) {
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId, flatten: false });
  let next = 0;
  const waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  cdp.on('Target.receivedMessageFromTarget', (e) => {
    if (e.sessionId !== sessionId) return;
    const reply = JSON.parse(e.message);
    const w = waiting.get(reply.id);
    if (!w) return;
    waiting.delete(reply.id);
    if (reply.error) w.reject(new Error(`${reply.error.message}`));
    else w.resolve(reply.result);
  });
  return (method: string, params: object = {}) =>
    new Promise<any>((resolve, reject) => {
      const id = ++next;
      waiting.set(id, { resolve, reject });
      void cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) }).catch(reject);
    });
}

/** A thread's busy share (not idle) and its functions with the most self time (five; SLUICE_PROFILE_TOP: another count). */
function summary(profile: Profile): { ms: number; busy: number; top: string[] } {
  const self = new Map<number, number>();
  profile.samples.forEach((node, i) => self.set(node, (self.get(node) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  const byName = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const node of profile.nodes) {
    const ms = self.get(node.id) ?? 0;
    total += ms;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') idle += ms;
    const name = url ? `${functionName || '(anonymous)'} ${basename(url)}:${lineNumber + 1}` : functionName || '(anonymous)';
    byName.set(name, (byName.get(name) ?? 0) + ms);
  }
  const top = [...byName]
    .filter(([name]) => name !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, TOP)
    .map(([name, ms]) => `${name} ${((100 * ms) / total).toFixed(1)}%`);
  return { ms: total, busy: total > 0 ? (total - idle) / total : 0, top };
}

test.beforeAll(() => {
  mkdirSync(dirname(OUT), { recursive: true });
  // One header for the engines of one invocation (`cargo xtask bench profile` removes the last).
  if (!existsSync(OUT)) writeFileSync(OUT, `# Where the time goes: ${SIZE / MiB} MiB of 1 MiB writes (tiny-write cases: their own size)\n\nWritten by \`cargo xtask bench profile\`: Chromium: the DevTools protocol's sampling profiler in the page and each service worker during one timed download; WebKitGTK: Linux perf over the threads of the browser's processes (those busy at least 2% of the recording, as "process: thread", with "#tid" where names repeat), JIT code named by JavaScriptCore's JIT dumps. MB/s is with the profiler running. Busy: the share of the thread's time not idle. Top: self time, as a share of the thread's time. All processes: the CPU the browser's processes used during the download, in cores (this machine has 2), then the eight busiest threads (process: thread name). Peak PSS growth by process: each process's highest PSS during the download over its PSS before it.\n\n| engine | case | MB/s | thread | busy | top self time |\n|---|---|---|---|---|---|\n`);
});

for (const id of PROFILED) {
  const c = CASES.find((x) => x.id === id);
  if (!c) throw new Error(`no case ${id}`);
  test(`profile ${id}`, async ({ driver }) => {
    test.setTimeout(0);
    const perf = driver.cdp === null && driver.engine === 'webkit';
    test.skip(driver.cdp === null && !perf, 'no profiler here: Chromium (DevTools protocol) and WebKitGTK (perf) only');
    const missing = perf ? perfMissing() : null;
    // In the report too: the line reporter does not print why a test was skipped.
    if (missing) appendFileSync(OUT, `| ${driver.engine} | ${id} | - | not profiled | - | ${missing} |\n`);
    test.skip(missing !== null, missing ?? '');
    // A tiny-write case keeps its own size (512 MiB of 100 B writes would take an hour).
    const size = c.chunk < MiB ? c.sizes[0] : SIZE;
    // A zip's entries split the size evenly, in whole bytes.
    test.skip(Boolean(c.entries && size % c.entries), `${size} B does not split into ${c.entries} entries of whole bytes: take another --mib`);
    const how = await prepare(driver, c);
    test.skip(how.startsWith('not here'), how);
    test.skip(Boolean(c.path && how !== c.path), `the probe picked the ${how} path here`);
    const sessions = [];
    if (driver.cdp) {
      const cdp = await driver.cdp();
      const { targetInfos } = await cdp.send('Target.getTargets');
      const threads = targetInfos.filter((t) => (t.type === 'page' || t.type === 'service_worker') && t.url.startsWith('http'));
      expect(threads.some((t) => t.type === 'page'), 'the producer page is a target').toBe(true);
      for (const t of threads) {
        const send = await attach(cdp, t.targetId);
        await send('Profiler.enable');
        await send('Profiler.setSamplingInterval', { interval: 200 });
        await send('Profiler.start');
        sessions.push({ name: t.type === 'page' ? 'page' : `service worker ${new URL(t.url).pathname}`, send });
      }
    }
    const recording = perf ? await recordBrowser(join(PERF_DIR, `perf-${driver.engine}-${id}.data`), JIT_DIR, TOP) : null;
    const cpuBefore = browserCpu();
    const memory = samplePeakPssByKind();
    // A failed run stops the sampler and perf too.
    let peaks: [string, number][] = [];
    let recorded: ThreadProfile[] = [];
    let run: Awaited<ReturnType<typeof timed>>;
    try {
      run = await timed(driver, c, `profile-${id}.${extension(c)}`, size);
    } catch (e) {
      memory.stop();
      await recording?.stop().catch(() => []);
      throw e;
    }
    peaks = memory.stop();
    recorded = (await recording?.stop()) ?? [];
    const cpu = cpuUsed(cpuBefore, browserCpu());
    const grown = peaks.filter(([, bytes]) => Math.abs(bytes) >= MiB);
    const growth = grown.map(([kind, bytes]) => `${kind} ${bytes >= 0 ? '+' : ''}${(bytes / MiB).toFixed(0)} MiB`).join('; ');
    const rows: string[] = [];
    const named = size === SIZE ? id : `${id} (${size / 1e6} MB)`;
    const row = (thread: string, busy: string, top: string) => rows.push(`| ${driver.engine} | ${named} | ${run.mbps.toFixed(1)} | ${thread} | ${busy} | ${top} |`);
    const cores = cpu.reduce((sum, [, s]) => sum + s, 0) / run.seconds;
    row(`all processes: ${cores.toFixed(2)} cores`, '-', cpu.slice(0, 8).map(([kind, s]) => `${kind} ${(s / run.seconds).toFixed(2)}`).join('; '));
    row('peak PSS growth by process', '-', growth);
    const label = `${driver.engine} ${id} (${run.mbps.toFixed(1)} MB/s)`;
    console.log(`${label}: peak PSS growth: ${growth}`);
    console.log(`${label}: CPU ${cores.toFixed(2)} cores: ${cpu.map(([kind, s]) => `${kind} ${s.toFixed(1)} s`).join(', ')}`);
    for (const { name, send } of sessions) {
      const { profile } = await send('Profiler.stop');
      const s = summary(profile);
      row(name, `${(100 * s.busy).toFixed(0)}%`, s.top.join('; '));
      console.log(`${label}: ${name}: busy ${(100 * s.busy).toFixed(0)}% of ${(s.ms / 1000).toFixed(1)} s; top: ${s.top.join('; ')}`);
    }
    // The threads that were busy at least 2% of the recording.
    for (const t of recorded) {
      if (t.busy < 0.02) continue;
      row(t.thread, `${(100 * t.busy).toFixed(0)}%`, t.top.join('; '));
      console.log(`${label}: ${t.thread}: busy ${(100 * t.busy).toFixed(0)}%; top: ${t.top.join('; ')}`);
    }
    appendFileSync(OUT, `${rows.join('\n')}\n`);
  });
}
