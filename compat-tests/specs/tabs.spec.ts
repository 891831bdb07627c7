import { test, expect, figure, rowsOf, waitForFile } from '../fixtures';
import { expectedSha256, fileSha256 } from '../data';
import { describeOnDisk, onDisk, visiblyFailed } from '../downloads';
import { pacedState, pacedUntil, startPaced } from '../paced';

const MiB = 1048576;

test('two tabs download at once, and closing one mid-download leaves the other byte-exact', rowsOf('two-tabs'), async ({ driver }) => {
  test.setTimeout(240_000);
  await driver.open();
  const first = await driver.currentTab();
  // Tab 1: forced fallback, paced so that it outlives tab 2.
  const LONG = 40 * MiB + 3;
  const longMode = await startPaced(driver, { name: 'tab1-long.bin', mode: 'fallback', size: LONG, pace: 100 });
  // Tab 2: the transfer path where streams transfer (else the fallback); one download
  // finishes, one is left open, then the tab is closed.
  const second = await driver.newTab();
  await driver.open();
  const path = (await driver.evaluate(() => window.sluiceTest.streamTransferable())) ? 'transfer' : 'fallback';
  const SHORT = 16 * MiB + 5;
  const shortMode = await startPaced(driver, { name: 'tab2-done.bin', mode: path, size: SHORT, pace: 0 });
  await startPaced(driver, { name: 'tab2-cut.bin', mode: path, size: 96 * MiB, pace: 0, leaveOpen: 10 * MiB });
  const short = await pacedUntil(driver, 'tab2-done.bin', (s) => s.done !== 'pending', 60_000);
  expect(short.done).toBe(`resolved ${SHORT}`);
  await pacedUntil(driver, 'tab2-cut.bin', (s) => s.writer !== 'writing', 30_000);
  await driver.closeTab(second, first);
  const long = await pacedState(driver, 'tab1-long.bin');
  expect(long.done, 'tab 1 was still downloading when tab 2 closed').toBe('pending');
  const finished = await pacedUntil(driver, 'tab1-long.bin', (s) => s.done !== 'pending', 150_000);
  expect(finished.writer).toBe('closed');
  expect(finished.done).toBe(`resolved ${LONG}`);
  expect(await fileSha256(await waitForFile(driver.downloadDir, 'tab1-long.bin', LONG, 60_000))).toBe(expectedSha256(LONG));
  expect(await fileSha256(await waitForFile(driver.downloadDir, 'tab2-done.bin', SHORT, 60_000))).toBe(expectedSha256(SHORT));
  const cut = onDisk(driver.downloadDir, 'tab2-cut.bin');
  expect(visiblyFailed(cut), `the closed tab's open download: ${describeOnDisk(cut)}`).toBe(true);
  figure('two-tabs', `tab 1 (${longMode}) and tab 2 (${shortMode}) byte-exact; tab 2 closed mid-download: ${describeOnDisk(cut)}`);
});
