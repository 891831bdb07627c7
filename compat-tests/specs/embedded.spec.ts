import { test, expect, rowsOf } from '../fixtures';

test("inside an app's own service worker (importScripts), downloads work and the app's routes too", rowsOf('embedded'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    const sluice = await window.sluice.Sluice.register({ serviceWorker: './app-sw.js', scope: './' });
    const size = 1048576 + 9;
    const dl = sluice.createDownload('embedded.bin', { size, trigger: 'none' });
    const writing = window.sluiceTest.write(dl.writable, size);
    const body = await window.sluiceTest.read(await fetch(dl.url));
    await writing;
    const app = await (await fetch('./app-sw-hello')).text();
    return { body, done: await dl.done, app, script: navigator.serviceWorker.controller?.scriptURL ?? '' };
  });
  expect(result.body).toEqual({ length: 1048585, firstBad: -1 });
  expect(result.done).toBe(1048585);
  expect(result.app).toBe('hello from the app');
  expect(result.script).toMatch(/app-sw\.js$/);
});
