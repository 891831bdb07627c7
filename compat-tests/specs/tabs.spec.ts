import { test, expect, figure, rowsOf, waitForFile, type Browser } from '../fixtures';
import { expectedSha256, fileSha256 } from '../data';
import { describeOnDisk, onDisk, visiblyFailed } from '../downloads';

const MiB = 1048576;

/** What a download started in the page has come to (`window.tabDownloads[name]`). */
type State = { mode: string; writer: string; done: string };

/**
 * Starts a download in the current tab and returns at once: `size` bytes in 1 MiB writes
 * `pace` ms apart, closed at the end unless `leaveOpen` bytes are all it gets.
 */
function startDownload(driver: Browser, o: { name: string; mode: 'auto' | 'fallback'; size: number; pace: number; leaveOpen?: number }) {
  return driver.evaluate(async ({ name, mode, size, pace, leaveOpen }) => {
    const sluice = await window.sluice.Sluice.register({ mode });
    const dl = sluice.createDownload(name, { size, trigger: 'iframe' });
    const all = ((window as unknown as { tabDownloads?: Record<string, State> }).tabDownloads ??= {});
    const state: State = { mode: sluice.mode, writer: 'writing', done: 'pending' };
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
  }, o);
}

function stateOf(driver: Browser, name: string) {
  return driver.evaluate((name) => (window as unknown as { tabDownloads: Record<string, State> }).tabDownloads[name], name);
}

async function until(driver: Browser, name: string, settled: (s: State) => boolean, ms: number): Promise<State> {
  const deadline = Date.now() + ms;
  for (;;) {
    const state = await stateOf(driver, name);
    if (settled(state) || Date.now() > deadline) return state;
    await new Promise((r) => setTimeout(r, 500));
  }
}

test('two tabs download at once, and closing one mid-download leaves the other byte-exact', rowsOf('two-tabs'), async ({ driver }) => {
  test.setTimeout(240_000);
  await driver.open();
  const first = await driver.currentTab();
  // Tab 1: forced fallback, paced so that it outlives tab 2.
  const LONG = 40 * MiB + 3;
  const longMode = await startDownload(driver, { name: 'tab1-long.bin', mode: 'fallback', size: LONG, pace: 100 });
  // Tab 2: the probed path; one download finishes, one is left open, then the tab is closed.
  const second = await driver.newTab();
  await driver.open();
  const SHORT = 16 * MiB + 5;
  const shortMode = await startDownload(driver, { name: 'tab2-done.bin', mode: 'auto', size: SHORT, pace: 0 });
  await startDownload(driver, { name: 'tab2-cut.bin', mode: 'auto', size: 96 * MiB, pace: 0, leaveOpen: 10 * MiB });
  const short = await until(driver, 'tab2-done.bin', (s) => s.done !== 'pending', 60_000);
  expect(short.done).toBe(`resolved ${SHORT}`);
  await until(driver, 'tab2-cut.bin', (s) => s.writer !== 'writing', 30_000);
  await driver.closeTab(second, first);
  const long = await stateOf(driver, 'tab1-long.bin');
  expect(long.done, 'tab 1 was still downloading when tab 2 closed').toBe('pending');
  const finished = await until(driver, 'tab1-long.bin', (s) => s.done !== 'pending', 150_000);
  expect(finished.writer).toBe('closed');
  expect(finished.done).toBe(`resolved ${LONG}`);
  expect(await fileSha256(await waitForFile(driver.downloadDir, 'tab1-long.bin', LONG, 60_000))).toBe(expectedSha256(LONG));
  expect(await fileSha256(await waitForFile(driver.downloadDir, 'tab2-done.bin', SHORT, 60_000))).toBe(expectedSha256(SHORT));
  const cut = onDisk(driver.downloadDir, 'tab2-cut.bin');
  expect(visiblyFailed(cut), `the closed tab's open download: ${describeOnDisk(cut)}`).toBe(true);
  figure('two-tabs', `tab 1 (${longMode}) and tab 2 (${shortMode}) byte-exact; tab 2 closed mid-download: ${describeOnDisk(cut)}`);
});
