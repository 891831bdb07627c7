// Peak memory of the browser under test: PSS from /proc/<pid>/smaps_rollup, summed over every
// process this test worker started (the browser, its helper processes and its driver).
import { readdirSync, readFileSync } from 'node:fs';

function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // The process ended meanwhile.
    }
  }
  const out: number[] = [];
  const stack = [...(children.get(root) ?? [])];
  while (stack.length) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** PSS in bytes summed over the browser's processes, or null where /proc cannot tell. */
export function browserPss(): number | null {
  if (process.platform !== 'linux') return null;
  let total = 0;
  for (const pid of descendants(process.pid)) {
    try {
      const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      if (match) total += Number(match[1]) * 1024;
    } catch {
      // The process ended meanwhile.
    }
  }
  return total;
}

/** PSS in bytes of each kind of browser process (`processKind`), where /proc tells. */
export function browserPssByKind(): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of descendants(process.pid)) {
    try {
      const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      const kind = processKind(pid);
      if (match) out.set(kind, (out.get(kind) ?? 0) + Number(match[1]) * 1024);
    } catch {
      // The process ended meanwhile.
    }
  }
  return out;
}

/** Samples `browserPssByKind()` every `intervalMs` until `stop()`: each kind's peak growth over its first reading, most first. */
export function samplePeakPssByKind(intervalMs = 200): { stop(): [string, number][] } {
  const before = browserPssByKind();
  const peak = new Map(before);
  const sample = () => {
    for (const [kind, bytes] of browserPssByKind()) peak.set(kind, Math.max(peak.get(kind) ?? 0, bytes));
  };
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return [...peak].map(([kind, bytes]): [string, number] => [kind, bytes - (before.get(kind) ?? 0)]).sort((a, b) => b[1] - a[1]);
    },
  };
}

/**
 * Samples `browserPss()` about every `intervalMs` until `stop()`, which returns the peak (or
 * null). A sample reads every browser process's smaps_rollup (25-55 ms with a browser open):
 * the pause after each is at least 4 times what it took, so the sampler takes at most a fifth
 * of a core from the browser it measures.
 */
export function samplePeakPss(intervalMs = 200): { stop(): number | null } {
  let peak = browserPss();
  let timer: ReturnType<typeof setTimeout>;
  const sample = () => {
    const t0 = performance.now();
    const now = browserPss();
    if (now !== null && (peak === null || now > peak)) peak = now;
    timer = setTimeout(sample, Math.max(intervalMs, 4 * (performance.now() - t0)));
  };
  timer = setTimeout(sample, intervalMs);
  return {
    stop() {
      clearTimeout(timer);
      const now = browserPss();
      return now !== null && peak !== null ? Math.max(peak, now) : peak;
    },
  };
}

/** What a browser process is, from its command line (Chromium's `--type=`, `--utility-sub-type=`). */
function processKind(pid: number): string {
  try {
    // Chromium rewrites its processes' titles: the arguments may come joined by spaces.
    const line = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    const flag = (name: string) => new RegExp(`--${name}=(\\S+)`).exec(line)?.[1];
    const sub = flag('utility-sub-type');
    const program = line.split(' ')[0].split('/').pop() || String(pid);
    const type = flag('type');
    if (type === 'renderer') return `renderer ${flag('renderer-client-id') ?? pid}`;
    return sub ? sub.replace(/\.mojom\..*/, '') : (type ?? program);
  } catch {
    return String(pid);
  }
}

/** CPU seconds (user + system) each thread of the browser's processes has used so far, by `pid/tid`. */
export function browserCpu(): Map<string, { kind: string; seconds: number }> {
  const out = new Map<string, { kind: string; seconds: number }>();
  for (const pid of descendants(process.pid)) {
    try {
      const kind = processKind(pid);
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        // utime and stime are fields 14 and 15 of stat, in clock ticks (100 a second on Linux).
        out.set(`${pid}/${tid}`, { kind: `${kind}: ${name}`, seconds: (Number(fields[11]) + Number(fields[12])) / 100 });
      }
    } catch {
      // The process or thread ended meanwhile.
    }
  }
  return out;
}

/** The CPU seconds each kind of thread used between two `browserCpu()` readings, most first. */
export function cpuUsed(before: ReturnType<typeof browserCpu>, after: ReturnType<typeof browserCpu>): [string, number][] {
  const byKind = new Map<string, number>();
  for (const [thread, { kind, seconds }] of after) {
    byKind.set(kind, (byKind.get(kind) ?? 0) + seconds - (before.get(thread)?.seconds ?? 0));
  }
  return [...byKind].filter(([, s]) => s >= 0.05).sort((a, b) => b[1] - a[1]);
}
