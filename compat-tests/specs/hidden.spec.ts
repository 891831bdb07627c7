import { test, expect, figure, notApplicable, rowsOf, waitForFile } from '../fixtures';
import { expectedSha256, fileSha256 } from '../data';

// A tab in the background downloads for longer than the browsers' idle limits (Chromium stops a
// service worker 30 s after its last event, Firefox too; Chromium throttles a hidden tab's
// timers to once a minute after 5 minutes). The source is a slow server (0.5 MiB/s for each of
// two downloads, one per path), so the producer needs no page timer; the tab is hidden by a
// second tab in front of it, the whole time. Slow: runs in `cargo xtask test --slow`.
const RATE = 524_288;
const SECONDS = 390;
const SIZE = RATE * SECONDS;

test.use({ chromiumVia: 'chromedriver' });

/** What the downloading page records while hidden (`window.hiddenLog`). */
type HiddenLog = { hiddenAt: number[]; visibleAt: number[]; timerGapMs: number; outcomes: string[]; start: number };

test('a hidden tab downloads for 6.5 minutes from a slow source: byte-exact, on each path', rowsOf('hidden-tab'), async ({ driver }) => {
  if (!process.env.SLUICE_SLOW) notApplicable('slow (7 minutes): runs in cargo xtask test --slow');
  if (driver.engine !== 'chromium' && driver.engine !== 'firefox') {
    notApplicable("the idle limits this is about are Chromium's and Firefox's; not run here");
  }
  test.setTimeout((SECONDS + 300) * 1000);
  await driver.open();
  const started = await driver.evaluate(async ({ size, rate }) => {
    const probed = await window.sluice.Sluice.register({});
    const sluices = probed.probe.streamTransferable ? [await window.sluice.Sluice.register({ mode: 'transfer' }), probed] : [probed];
    const log: HiddenLog = { hiddenAt: [], visibleAt: [], timerGapMs: 0, outcomes: [], start: Date.now() };
    document.addEventListener('visibilitychange', () => (document.hidden ? log.hiddenAt : log.visibleAt).push(Date.now() - log.start));
    // How page timers fare meanwhile (a figure, not what the download rests on).
    let last = performance.now();
    setInterval(() => {
      log.timerGapMs = Math.max(log.timerGapMs, performance.now() - last);
      last = performance.now();
    }, 1000);
    Object.assign(window, { hiddenLog: log });
    return sluices.map((sluice, i) => {
      const name = `hidden-${sluice.mode}.bin`;
      // One declared size, one not.
      const dl = sluice.createDownload(name, i === 0 ? { size } : {});
      void fetch(`/paced/${size}?rate=${rate}`)
        .then((r) => r.body!.pipeTo(dl.writable))
        .then(() => dl.done)
        .then((n) => log.outcomes.push(`${name}: resolved ${n}`), (e) => log.outcomes.push(`${name}: ${e.code ?? e}`));
      return { name, mode: sluice.mode };
    });
  }, { size: SIZE, rate: RATE });
  const downloading = await driver.currentTab();
  // A second tab in front: the downloading one is hidden until the downloads are on disk.
  await driver.newTab();
  await driver.goto('about:blank');
  const files = await Promise.all(started.map((s) => waitForFile(driver.downloadDir, s.name, SIZE, (SECONDS + 180) * 1000)));
  for (const file of files) expect(await fileSha256(file)).toBe(expectedSha256(SIZE));
  await driver.switchTab(downloading);
  const log = await driver.evaluate(() => (window as unknown as { hiddenLog: HiddenLog }).hiddenLog);
  const hiddenFor = (Date.now() - log.start - (log.hiddenAt[0] ?? Infinity)) / 1000;
  expect(log.hiddenAt.length, 'the tab was hidden').toBeGreaterThan(0);
  expect(log.hiddenAt[0], 'hidden from the start').toBeLessThan(10_000);
  expect(log.visibleAt.filter((t) => t > log.hiddenAt[0]).length <= 1, `hidden the whole time: ${JSON.stringify(log)}`).toBe(true);
  expect(hiddenFor).toBeGreaterThan(360);
  expect(log.outcomes.sort()).toEqual(started.map((s) => `${s.name}: resolved ${SIZE}`).sort());
  figure('hidden-tab', `${started.map((s) => s.mode).join(' + ')}: 2 x ${(SIZE / 1048576).toFixed(0)} MiB at 0.5 MiB/s each, tab hidden ${hiddenFor.toFixed(0)} s (a second tab in front, ${driver.version}): byte-exact; longest page-timer gap meanwhile ${(log.timerGapMs / 1000).toFixed(1)} s`);
});
