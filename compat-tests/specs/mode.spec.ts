import { test, expect } from '../fixtures';

test('the probe picks transfer in Chromium and Firefox, fallback in WebKit', async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    const sluice = await window.sluice.Sluice.register({ serviceWorker: './sluice-sw.js', scope: './' });
    return { mode: sluice.mode, probe: sluice.probe };
  });
  const transferable = driver.engine !== 'webkit';
  expect(result.mode).toBe(transferable ? 'transfer' : 'fallback');
  expect(result.probe).toEqual({
    serviceWorker: true,
    registrationActive: true,
    streamTransferable: transferable,
    responseFromStream: true,
  });
});

test('forcing fallback works everywhere; forcing transfer fails clearly where it cannot work', async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    const sluice = await window.sluice.Sluice.register({ mode: 'fallback' });
    const size = 3 * 1048576 + 5;
    const dl = sluice.createDownload('forced.bin', { size, trigger: 'none' });
    const writing = window.sluiceTest.write(dl.writable, size);
    const body = await window.sluiceTest.read(await fetch(dl.url));
    await writing;
    let transfer: string;
    try {
      transfer = (await window.sluice.Sluice.register({ mode: 'transfer' })).mode;
    } catch (e) {
      transfer = `${(e as Error).name}: ${(e as { code?: string }).code}`;
    }
    return { mode: sluice.mode, body, done: await dl.done, transfer };
  });
  expect(result.mode).toBe('fallback');
  expect(result.body).toEqual({ length: 3 * 1048576 + 5, firstBad: -1 });
  expect(result.done).toBe(3 * 1048576 + 5);
  expect(result.transfer).toBe(driver.engine === 'webkit' ? 'SluiceError: unsupported' : 'transfer');
});
