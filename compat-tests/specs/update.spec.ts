import { test, expect, figure, rowsOf, waitForFile } from '../fixtures';
import { expectedSha256, fileSha256 } from '../data';
import { describeOnDisk, onDisk, visiblyFailed } from '../downloads';
import { pacedUntil, startPaced } from '../paced';

const MiB = 1048576;

// A new version of sluice-sw.js is deployed (a second tab registers it; it takes over at once)
// while a download runs: that download finishes byte-exact or fails visibly, and the next one,
// on the same Sluice, works on the new version.
test('a new service worker version deployed mid-download: the running download is whole or visibly failed, the next works', rowsOf('sw-update'), async ({ driver }) => {
  test.setTimeout(240_000);
  await driver.open();
  const first = await driver.currentTab();
  const SIZE = 48 * MiB + 3;
  // The transfer path where streams transfer, else the fallback (WebKit's row).
  const path = (await driver.evaluate(() => window.sluiceTest.streamTransferable())) ? 'transfer' : 'fallback';
  const mode = await startPaced(driver, { name: 'during-update.bin', mode: path, size: SIZE, pace: 100 });
  await new Promise((r) => setTimeout(r, 1500));
  // The deploy: another tab registers a new script URL for the same scope.
  const second = await driver.newTab();
  await driver.open();
  const deployed = await driver.evaluate(async () => {
    const registration = await navigator.serviceWorker.register('./sluice-sw.js?version=2');
    const worker = registration.installing ?? registration.waiting ?? registration.active!;
    while (worker.state === 'installing') {
      await new Promise((r) => worker.addEventListener('statechange', r, { once: true }));
    }
    return { state: worker.state, script: worker.scriptURL };
  });
  // Installed; it takes over once the running download is done (or at once, were none running).
  expect(deployed.state).toMatch(/^(installed|activating|activated)$/);
  await driver.closeTab(second, first);
  const running = await pacedUntil(driver, 'during-update.bin', (s) => s.done !== 'pending', 150_000);
  // Whole, or failed where the user sees it.
  let running_on_disk: string;
  if (running.done === `resolved ${SIZE}`) {
    const file = await waitForFile(driver.downloadDir, 'during-update.bin', SIZE, 60_000);
    expect(await fileSha256(file)).toBe(expectedSha256(SIZE));
    running_on_disk = `finished byte-exact (the new version was ${deployed.state} meanwhile)`;
  } else {
    expect(running.done, 'a running download fails with a clear code').toMatch(/^(service_worker_gone|cancelled): /);
    await new Promise((r) => setTimeout(r, 20_000));
    const seen = onDisk(driver.downloadDir, 'during-update.bin');
    expect(visiblyFailed(seen), `on disk: ${describeOnDisk(seen)}`).toBe(true);
    running_on_disk = `failed (${running.done.split(':')[0]}), on disk: ${describeOnDisk(seen)}`;
  }
  // The new version takes over, and the next download on the same Sluice goes to it.
  const next = await driver.evaluate(async () => {
    const deadline = Date.now() + 30_000;
    while (!navigator.serviceWorker.controller?.scriptURL.includes('version=2') && Date.now() < deadline) {
      await new Promise((r) => {
        navigator.serviceWorker.addEventListener('controllerchange', r, { once: true });
        setTimeout(r, 1000);
      });
    }
    const size = 2 * 1048576 + 1;
    const dl = window.sluiceTest.current!.createDownload('after-update.bin', { size, trigger: 'none' });
    const writing = window.sluiceTest.write(dl.writable, size);
    const response = await fetch(dl.url);
    const reading = window.sluiceTest.read(response);
    await writing;
    return { status: response.status, body: await reading, done: await dl.done, size, controller: navigator.serviceWorker.controller?.scriptURL ?? '' };
  });
  expect(next.status).toBe(200);
  expect(next.body).toEqual({ length: next.size, firstBad: -1 });
  expect(next.done).toBe(next.size);
  expect(next.controller).toContain('version=2');
  figure('sw-update', `${mode}: the running download ${running_on_disk}; the next one byte-exact on the new version`);
});
