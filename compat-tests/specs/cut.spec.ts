import { test, expect, figure, notApplicable, rowsOf, type Browser } from '../fixtures';
import { describeOnDisk, onDisk, visiblyFailed } from '../downloads';

// A download cut short (its page closed, or `dl.abort()`) must never leave a file under its
// final name that holds some but not all of its bytes: the browser must show it failed. An engine
// that keeps a failed service-worker download under its final name anyway (WebKit) must keep one
// that says so: Sluice ends every failed stream with its incomplete-notice before the error.
const MiB = 1048576;
const DECLARED = 96 * MiB;
const WRITTEN = 10 * MiB;
const WAIT_MS = 45_000;

interface Started { name: string; mode: string; sized: boolean }

/** Starts downloads on each path (sized and unsized), writes 10 MiB into each, leaves them open. */
function start(driver: Browser, prefix: string): Promise<Started[]> {
  return driver.evaluate(async ({ prefix, declared, written }) => {
    const probed = await window.sluice.Sluice.register({});
    const sluices = probed.probe.streamTransferable ? [await window.sluice.Sluice.register({ mode: 'transfer' }), probed] : [probed];
    const started = [];
    const open: { abort(reason: string): void }[] = [];
    for (const sluice of sluices) {
      for (const sized of [true, false]) {
        const name = `${prefix}-${sluice.mode}-${sized ? 'sized' : 'unsized'}.bin`;
        const dl = sluice.createDownload(name, sized ? { size: declared } : {});
        dl.done.catch(() => {});
        const writer = dl.writable.getWriter();
        for (let offset = 0; offset < written; offset += 1048576) await writer.write(window.sluiceTest.bytes(offset, 1048576));
        writer.releaseLock();
        open.push(dl);
        started.push({ name, mode: sluice.mode, sized });
      }
    }
    // Let the bytes reach the download manager.
    await new Promise((r) => setTimeout(r, 1500));
    Object.assign(window, { cutDownloads: open });
    return started;
  }, { prefix, declared: DECLARED, written: WRITTEN });
}

/** A download `start` left open, as the page holds it (`window.cutDownloads`). */
type CutDownload = { abort(reason: string): void; writable: WritableStream; done: Promise<number> };

/** Each `done` of the downloads `start` left open rejected with code `done`. */
async function rejected(driver: Browser, started: Started[], how: string, done: string) {
  const codes = await driver.evaluate(() => {
    const downloads = (window as unknown as { cutDownloads: CutDownload[] }).cutDownloads;
    return Promise.all(downloads.map((dl) => dl.done.then(() => 'resolved', (e) => e.code)));
  });
  // Soft: every cut is still judged on disk when one of them answered wrong.
  expect.soft(codes, `done after ${how}`).toEqual(started.map(() => done));
}

/** None of the downloads `started` and cut short by `how` is a partial file under its final name. */
function judge(driver: Browser, started: Started[], how: string) {
  const seen = started.map((s) => ({ ...s, ...onDisk(driver.downloadDir, s.name) }));
  figure(`cut-${how}`, seen.map((s) => `${s.mode}${s.sized ? '' : ' unsized'}: ${describeOnDisk(s)}`).join('; '));
  for (const s of seen) {
    expect.soft(visiblyFailed(s), `${s.name} after ${how}: ${s.final} bytes under the final name, no incomplete-notice`).toBe(true);
    expect.soft(s.final === null || s.final < DECLARED, `${s.name}: a cut download cannot be whole`).toBe(true);
  }
}

/**
 * Checks the downloads `start` began, cut short by `how`: each `done` rejected with code `done`
 * (when given), and 45 s later none is a partial file under its final name.
 */
async function check(driver: Browser, started: Started[], how: string, done?: string) {
  if (done) await rejected(driver, started, how, done);
  await new Promise((r) => setTimeout(r, WAIT_MS));
  judge(driver, started, how);
}

// Four ways to cut a download short, one after another in one browser, judged on disk together
// once the last cut is 45 s old (each waits at least that long; one wait instead of four). Every
// check is soft, so each cut is judged and shows its figure; a failure marks all four rows.
test('cut short (aborted, its producer failed, its page reloaded, its page closed): no partial file under the final name', rowsOf('cut-abort', 'cut-producer', 'cut-reload', 'cut-close'), async ({ driver }) => {
  test.setTimeout(240_000);
  await driver.open();
  const cut: [string, Started[]][] = [];

  const aborted = await start(driver, 'aborted');
  await driver.evaluate(() => {
    (window as unknown as { cutDownloads: CutDownload[] }).cutDownloads.forEach((dl) => dl.abort('the producer failed'));
  });
  await rejected(driver, aborted, 'abort', 'aborted');
  cut.push(['abort', aborted]);

  const producer = await start(driver, 'producer');
  await driver.evaluate(async () => {
    const downloads = (window as unknown as { cutDownloads: CutDownload[] }).cutDownloads;
    // What `(await fetch(src)).body.pipeTo(dl.writable)` does when the source fetch fails.
    const failing = () => new ReadableStream({ start: (c) => c.error(new TypeError('the source fetch failed')) });
    await Promise.all(downloads.map((dl) => failing().pipeTo(dl.writable).catch(() => {})));
  });
  await rejected(driver, producer, 'producer', 'aborted');
  cut.push(['producer', producer]);

  const reloaded = await start(driver, 'reloaded');
  // The same page again: the old document (and its writers) are gone.
  await driver.open();
  const again = await driver.evaluate(async () => {
    const sluice = await window.sluice.Sluice.register({});
    const size = 3 * 1048576 + 5;
    const dl = sluice.createDownload('after-reload.bin', { size, trigger: 'none' });
    const reading = fetch(dl.url).then((r) => window.sluiceTest.read(r));
    await window.sluiceTest.write(dl.writable, size);
    return { body: await reading, done: await dl.done, size };
  });
  expect.soft(again.body, 'the reloaded page downloads byte-exact').toEqual({ length: again.size, firstBad: -1 });
  expect.soft(again.done).toBe(again.size);
  cut.push(['reload', reloaded]);

  const closed = await start(driver, 'closed');
  await driver.closePage();
  cut.push(['close', closed]);

  await new Promise((r) => setTimeout(r, WAIT_MS));
  for (const [how, started] of cut) judge(driver, started, how);
});

test("the user cancels in the browser's download list: the writer errors cancelled", rowsOf('cut-cancel'), async ({ driver }) => {
  test.setTimeout(180_000);
  const cancel = driver.cancelDownload;
  if (!cancel) notApplicable('its automation cannot cancel a download (WebDriver has no such command)');
  await driver.open();
  const started = await start(driver, 'cancelled');
  let how = '';
  for (const s of started) how = await cancel!(s.name);
  // The producer goes on writing; its next writes must fail, with `cancelled`.
  const writes = await driver.evaluate(async () => {
    const downloads = (window as unknown as { cutDownloads: CutDownload[] }).cutDownloads;
    return Promise.all(downloads.map(async (dl) => {
      const writer = dl.writable.getWriter();
      let outcome = 'wrote 64 MiB more';
      try {
        for (let offset = 0; offset < 64 * 1048576; offset += 1048576) {
          await writer.write(window.sluiceTest.bytes(offset, 1048576));
          await new Promise((r) => setTimeout(r, 20));
        }
      } catch (e) {
        outcome = (e as { code?: string }).code ?? String(e);
      }
      return outcome;
    }));
  });
  expect(writes, `the writes after ${how}`).toEqual(started.map(() => 'cancelled'));
  await check(driver, started, 'cancel', 'cancelled');
});
