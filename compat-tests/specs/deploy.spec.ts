// Deployments broken on purpose (served by `cargo xtask serve` under /broken/<case>/): register()
// settles within 3 s with `registration` and a message that names the file at fault, instead of
// waiting out the handshake (10 s) and blaming the browser with `unsupported`. With `auto`, it
// resolves on the next rung at once and the service-worker rungs give the same reason.
import { unlinkSync } from 'node:fs';
import { test, expect, figure, notApplicable, rowsOf, waitForFile } from '../fixtures';
import { blockSha256, fileSha256 } from '../data';

const CASES = [
  { id: 'no-wasm', what: 'sluice_bg.wasm missing beside sluice-sw.js', names: 'sluice_bg.wasm' },
  { id: 'other-version', what: 'sluice_bg.wasm of another build (another module)', names: 'sluice_bg.wasm' },
  { id: 'no-worker', what: 'sluice-sw.js missing (404)', names: 'sluice-sw.js' },
  { id: 'dev-server', what: "sluice-sw.js missing on a dev server (its index.html, text/html)", names: 'sluice-sw.js' },
  { id: 'wrong-scope', what: 'a scope above the script\'s folder', names: 'sluice-sw.js' },
  { id: 'imported', what: "sluice_bg.wasm missing beside an app's own worker that imports sluice-sw.js", names: 'sluice_bg.wasm' },
];

for (const c of CASES) {
  test(`a broken deployment, ${c.what}: register() fails within 3 s with registration, naming ${c.names}`, rowsOf('broken-deploy'), async ({ driver }) => {
    await driver.open();
    const folder = c.id === 'wrong-scope' ? 'no-wasm' : c.id;
    const serviceWorker = `/broken/${folder}/${c.id === 'imported' ? 'app-sw.js' : 'sluice-sw.js'}`;
    const scope = c.id === 'wrong-scope' ? '/' : `/broken/${folder}/`;
    const result = await driver.evaluate(async ({ serviceWorker, scope }) => {
      const attempt = async (mode: string) => {
        const start = performance.now();
        try {
          const sluice = await window.sluice.Sluice.register({ serviceWorker, scope, mode: mode as 'auto' });
          const reasons = sluice.capabilities.filter((r) => r.mode === 'transfer' || r.mode === 'fallback').map((r) => r.reason ?? '');
          return { ms: performance.now() - start, mode: sluice.mode, code: null, message: reasons.join(' | ') };
        } catch (e) {
          const error = e as { name: string; code?: string; message: string };
          return { ms: performance.now() - start, mode: null, code: `${error.name}: ${error.code}`, message: error.message };
        }
      };
      const forced = await attempt('fallback');
      const auto = await attempt('auto');
      for (const registration of await navigator.serviceWorker.getRegistrations()) {
        if (registration.scope.includes('/broken/')) await registration.unregister();
      }
      return { forced, auto };
    }, { serviceWorker, scope });
    // What a broken worker reports to its pages (`{ sluiceServiceWorkerError }`, where the
    // engine delivers it) is expected here, not an uncaught error of the test.
    await new Promise((r) => setTimeout(r, 1500));
    await driver.evaluate(() => void (window.sluiceErrors = window.sluiceErrors.filter((e) => !e.includes('/broken/'))), null);
    expect(result.forced.code, result.forced.message).toBe('SluiceError: registration');
    expect(result.forced.message).toContain(c.names);
    expect(result.forced.ms, 'ms until register() settled').toBeLessThan(3000);
    expect(result.auto.code, result.auto.message).toBeNull();
    expect(result.auto.mode).not.toMatch(/transfer|fallback/);
    expect(result.auto.message).toContain(c.names);
    expect(result.auto.ms, 'ms until register() settled (auto)').toBeLessThan(3000);
    figure('broken-deploy', `${c.id}: registration in ${Math.round(result.forced.ms)} ms, auto on ${result.auto.mode} in ${Math.round(result.auto.ms)} ms`);
  });
}

test.describe('a deployment that breaks while the page runs', () => {

  test("a producer in a worker with auto saves on the worker's own rung when the restarted service worker cannot load its wasm", rowsOf('broken-deploy'), async ({ driver, engine }) => {
    if (engine === 'webkit') notApplicable("WebKit's automation cannot stop a service worker while its page stays open");
    await driver.open();
    const registered = await driver.evaluate(async () => {
      await fetch('/broken/later/mend-now');
      const sluice = await window.sluice.Sluice.register({ serviceWorker: '/broken/later/sluice-sw.js', scope: '/broken/later/' });
      window.sluiceTest.current = sluice;
      return sluice.mode;
    }, null);
    expect(registered, 'the rung while the deployment is whole').toMatch(/transfer|fallback/);
    await driver.evaluate(() => fetch('/broken/later/break-now').then(() => undefined), null);
    const how = await driver.stopServiceWorkers();
    const size = 8 * 1048576;
    const name = 'broken-later-worker.bin';
    const start = Date.now();
    const result = await driver.evaluate(async ({ name, size }) => {
      const port = window.sluiceTest.current!.handOff();
      return window.sluiceTest.produce('dedicated', { port, name, size, mode: 'auto' });
    }, { name, size });
    const ms = Date.now() - start;
    await driver.evaluate(async () => {
      await fetch('/broken/later/mend-now');
      for (const registration of await navigator.serviceWorker.getRegistrations()) {
        if (registration.scope.includes('/broken/')) await registration.unregister();
      }
      window.sluiceErrors = window.sluiceErrors.filter((e) => !e.includes('/broken/'));
    }, null);
    expect(result.error, 'the worker\'s error').toBeUndefined();
    expect(result.mode, 'the worker\'s rung').not.toMatch(/transfer|fallback/);
    expect(result.reasons.join(' | '), 'why the service worker\'s rungs are out').toContain('sluice_bg.wasm');
    const file = await waitForFile(driver.downloadDir, name, size, 60_000);
    expect(await fileSha256(file), name).toBe(blockSha256(size));
    unlinkSync(file);
    figure('broken-deploy', `wasm gone after a restart (${how}): a worker's auto on ${result.mode}, saved in ${ms} ms`);
  });
});
