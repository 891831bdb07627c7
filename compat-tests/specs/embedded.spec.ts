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

test("inside an app's own service worker, handleFetch and handleMessage refuse anything but their event with a SluiceError", rowsOf('caller-errors'), async ({ driver }) => {
  await driver.open();
  const said = await driver.evaluate(async () => {
    const sluice = await window.sluice.Sluice.register({ serviceWorker: './app-sw.js', scope: './' });
    const registration = await navigator.serviceWorker.getRegistration('./');
    const { port1, port2 } = new MessageChannel();
    const answer = new Promise<string[]>((resolve) => (port1.onmessage = (e) => resolve(e.data)));
    registration!.active!.postMessage({ appTest: 'wrong-types' }, [port2]);
    const out = await answer;
    // The worker still serves after them.
    const dl = sluice.createDownload('after.bin', { size: 3, trigger: 'none' });
    const response = fetch(dl.url);
    await window.sluiceTest.write(dl.writable, 3);
    return [...out, String((await (await response).arrayBuffer()).byteLength)];
  });
  expect(said).toEqual([...Array(20).fill('invalid_argument'), '3']);
});
