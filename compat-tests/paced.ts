// A download the page writes at its own pace while the test does something else (stops the
// worker, deploys a new one, closes a tab), and how it has come along.
import type { Browser } from './fixtures';

/** What a paced download has come to: its path, its writer and its `done`. */
export interface Paced { mode: string; writer: string; done: string }

export interface PacedOptions {
  name: string;
  mode: 'auto' | 'transfer' | 'fallback';
  size: number;
  /** Milliseconds between the 1 MiB writes (0: none). */
  pace: number;
  /** Write only this many bytes and leave the download open. */
  leaveOpen?: number;
}

/**
 * Registers a Sluice (kept as `sluiceTest.current`) and starts a download of `size` bytes in
 * 1 MiB writes, triggered by an iframe; returns its path at once. `pacedState` tells how it is
 * going.
 */
export function startPaced(driver: Browser, options: PacedOptions): Promise<string> {
  return driver.evaluate(async ({ name, mode, size, pace, leaveOpen }) => {
    const sluice = await window.sluice.Sluice.register({ mode });
    window.sluiceTest.current = sluice;
    const dl = sluice.createDownload(name, { size, trigger: 'iframe' });
    const all = ((window as unknown as { pacedDownloads?: Record<string, Paced> }).pacedDownloads ??= {});
    const state: Paced = { mode: sluice.mode, writer: 'writing', done: 'pending' };
    all[name] = state;
    void (async () => {
      const writer = dl.writable.getWriter();
      const end = leaveOpen ?? size;
      for (let offset = 0; offset < end; offset += 1048576) {
        await writer.write(window.sluiceTest.bytes(offset, Math.min(1048576, end - offset)));
        if (pace) await new Promise((r) => setTimeout(r, pace));
      }
      if (leaveOpen === undefined) {
        await writer.close();
        state.writer = 'closed';
      } else {
        state.writer = 'left open';
      }
    })().catch((e) => (state.writer = `${e.code}: ${e.message}`));
    dl.done.then((n) => (state.done = `resolved ${n}`), (e) => (state.done = `${e.code}: ${e.message}`));
    return sluice.mode;
  }, options);
}

/** How paced download `name` of the current tab is going. */
export function pacedState(driver: Browser, name: string): Promise<Paced> {
  return driver.evaluate((name) => (window as unknown as { pacedDownloads: Record<string, Paced> }).pacedDownloads[name], name);
}

/** Its state once `settled` holds, or after `ms`, whichever comes first. */
export async function pacedUntil(driver: Browser, name: string, settled: (s: Paced) => boolean, ms: number): Promise<Paced> {
  const deadline = Date.now() + ms;
  for (;;) {
    const state = await pacedState(driver, name);
    if (settled(state) || Date.now() > deadline) return state;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Both its writer and its `done` settled. */
export const settled = (s: Paced) => s.writer !== 'writing' && s.done !== 'pending';
