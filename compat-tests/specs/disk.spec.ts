import { test, expect, waitForFile } from '../fixtures';
import { expectedSha256, fileSha256 } from '../data';
import { pathsOf } from './paths';

const SIZE = 256 * 1048576;
let expected: string | undefined;

for (const mode of ['auto', 'fallback'] as const) {
  test(`a real 256 MiB download to disk has the right sha256 and name (${mode})`, async ({ driver }) => {
    test.skip(!pathsOf(driver.engine).includes(mode), 'fallback is already the probed path here');
    await driver.open();
    const result = await driver.evaluate(async ({ mode, size }) => {
      const sluice = await window.sluice.Sluice.register({ mode });
      const start = performance.now();
      const dl = sluice.createDownload('résumé 2026.pdf', { size, trigger: 'iframe' });
      await window.sluiceTest.write(dl.writable, size);
      const done = await dl.done;
      return { done, mode: sluice.mode, seconds: (performance.now() - start) / 1000 };
    }, { mode, size: SIZE });
    expect(result.done).toBe(SIZE);
    const path = await waitForFile(driver.downloadDir, 'résumé 2026.pdf', SIZE);
    expected ??= expectedSha256(SIZE);
    expect(await fileSha256(path)).toBe(expected);
    console.log(`${driver.engine} (${result.mode}): 256 MiB to disk in ${result.seconds.toFixed(1)} s`);
  });
}

test('the fallback path keeps the service worker queue within the window over 1 GiB', async ({ driver }) => {
  test.skip(driver.engine !== 'webkit', 'measured in WebKitGTK, where the fallback path is the probed one');
  await driver.open();
  const GiB = 1024 * 1048576;
  const result = await driver.evaluate(async (size) => {
    const sluice = await window.sluice.Sluice.register({});
    const dl = sluice.createDownload('one-gib.bin', { size, trigger: 'iframe' });
    await window.sluiceTest.write(dl.writable, size);
    const done = await dl.done;
    return { done, mode: sluice.mode, stats: await window.sluiceTest.stats() };
  }, GiB);
  expect(result.mode).toBe('fallback');
  expect(result.done).toBe(GiB);
  console.log(`webkit: service worker peak queue ${result.stats.maxQueuedChunks} chunks, ${result.stats.maxQueuedBytes} bytes`);
  expect(result.stats.maxQueuedChunks).toBeGreaterThan(0);
  expect(result.stats.maxQueuedChunks).toBeLessThanOrEqual(8);
  expect(result.stats.maxQueuedBytes).toBeLessThanOrEqual(8 * 1048576);
  await waitForFile(driver.downloadDir, 'one-gib.bin', GiB);
});
