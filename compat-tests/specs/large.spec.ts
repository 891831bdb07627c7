import { unlinkSync } from 'node:fs';
import { test, expect, figure, rowsOf, waitForFile, type Browser } from '../fixtures';
import { expectedSha256, fileSha256 } from '../data';
import { samplePeakPss } from '../memory';

const MiB = 1048576;
const SMALL = 256 * MiB;
const LARGE = 2048 * MiB;
/**
 * Memory that grew with the payload would add at least 1.75 GiB between the two downloads; the
 * engines' own noise (caches, garbage collection) stays well under this.
 */
const MAX_GROWTH = 768 * MiB;

async function downloadToDisk(driver: Browser, name: string, size: number) {
  const sampler = samplePeakPss();
  const result = await driver.evaluate(async ({ name, size }) => {
    const sluice = await window.sluice.Sluice.register({});
    const start = performance.now();
    const dl = sluice.createDownload(name, { size, trigger: 'iframe' });
    await window.sluiceTest.write(dl.writable, size);
    const done = await dl.done;
    return { done, mode: sluice.mode, seconds: (performance.now() - start) / 1000, stats: await window.sluiceTest.stats() };
  }, { name, size });
  const file = await waitForFile(driver.downloadDir, name, size, 600_000);
  const peak = sampler.stop();
  return { ...result, file, peak };
}

test('a 2 GiB download is byte-exact, and the browser uses no more memory than for 256 MiB', rowsOf('large'), async ({ driver }) => {
  test.setTimeout(1_200_000);
  const expectedLarge = expectedSha256(LARGE);
  await driver.open();
  const small = await downloadToDisk(driver, 'memory-256MiB.bin', SMALL);
  unlinkSync(small.file);
  const large = await downloadToDisk(driver, 'memory-2GiB.bin', LARGE);
  expect(large.done).toBe(LARGE);
  expect(await fileSha256(large.file)).toBe(expectedLarge);
  unlinkSync(large.file);
  if (large.mode === 'fallback') {
    // The service worker never queues more than the credit window (8 chunks, 8 MiB).
    expect(large.stats.maxQueuedChunks).toBeGreaterThan(0);
    expect(large.stats.maxQueuedChunks).toBeLessThanOrEqual(8);
    expect(large.stats.maxQueuedBytes).toBeLessThanOrEqual(8 * MiB);
  }
  const speed = `${large.mode}: 2 GiB in ${large.seconds.toFixed(1)} s (${(LARGE / 1e6 / large.seconds).toFixed(0)} MB/s)`;
  if (small.peak === null || large.peak === null) {
    figure('large', `${speed}; memory not measurable here (no /proc)`);
    return;
  }
  const mib = (bytes: number) => `${Math.round(bytes / MiB)} MiB`;
  const growth = large.peak - small.peak;
  figure('large', `${speed}; peak PSS ${mib(large.peak)} vs ${mib(small.peak)} for 256 MiB (${growth >= 0 ? '+' : ''}${mib(growth)})`);
  expect(growth, 'peak memory growth from 256 MiB to 2 GiB').toBeLessThan(MAX_GROWTH);
});
