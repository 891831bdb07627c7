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

/** Samples `browserPss()` every `intervalMs` until `stop()`, which returns the peak (or null). */
export function samplePeakPss(intervalMs = 200): { stop(): number | null } {
  let peak = browserPss();
  const timer = setInterval(() => {
    const now = browserPss();
    if (now !== null && (peak === null || now > peak)) peak = now;
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      const now = browserPss();
      return now !== null && peak !== null ? Math.max(peak, now) : peak;
    },
  };
}
