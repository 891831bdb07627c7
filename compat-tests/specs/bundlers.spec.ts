// The npm tarball, installed into a scratch app and bundled by esbuild and by Vite the way the
// README says (`cargo xtask test` builds them into target/bundlers/out/, served under /bundled/):
// the wasm must be found after bundling, and both Sluice's API and the drop-in save a file.
import { test, expect, figure, rowsOf, waitForFile } from '../fixtures';
import { expectedSha256, fileSha256 } from '../data';

const SIZE = 8 * 1048576 + 1;
const DROP_IN_SIZE = 4 * 1048576 + 3;

for (const bundler of ['esbuild', 'vite'] as const) {
  test(`the npm package bundled by ${bundler}: Sluice's API and the StreamSaver drop-in save byte-exact`, rowsOf(`bundler-${bundler}`), async ({ driver }) => {
    await driver.goto(`/bundled/${bundler}/index.html`);
    const result = await driver.evaluate(async ({ size, dropInSize, bundler }) => {
      const deadline = Date.now() + 30_000;
      while (document.getElementById('status')?.textContent !== 'ready' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const app = (window as any).app;
      const saved = await app.save(`${bundler}-api.bin`, size);
      await app.saveWithDropIn(`${bundler}-drop-in.bin`, dropInSize);
      const wasm = performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname).filter((p) => p.endsWith('.wasm'));
      return { ...saved, wasm };
    }, { size: SIZE, dropInSize: DROP_IN_SIZE, bundler });
    expect(result.done).toBe(SIZE);
    for (const [name, size] of [[`${bundler}-api.bin`, SIZE], [`${bundler}-drop-in.bin`, DROP_IN_SIZE]] as const) {
      const file = await waitForFile(driver.downloadDir, name, size, 60_000);
      expect(await fileSha256(file), name).toBe(expectedSha256(size));
    }
    figure(`bundler-${bundler}`, `${result.mode} path; the page's wasm from ${result.wasm.join(', ')}`);
  });
}

test("Vite with the README's one-wasm set-up: the page loads only the wasm the service worker loads", rowsOf('bundler-vite'), async ({ driver }) => {
  await driver.goto('/bundled/vite/index.html?one-wasm');
  const result = await driver.evaluate(async ({ size }) => {
    const deadline = Date.now() + 30_000;
    while (document.getElementById('status')?.textContent !== 'ready' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const saved = await (window as any).app.save('vite-one-wasm.bin', size);
    const wasm = performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname).filter((p) => p.endsWith('.wasm'));
    return { ...saved, wasm };
  }, { size: SIZE });
  expect(result.done).toBe(SIZE);
  expect(result.wasm).toEqual(['/bundled/vite/sluice_bg.wasm']);
  const file = await waitForFile(driver.downloadDir, 'vite-one-wasm.bin', SIZE, 60_000);
  expect(await fileSha256(file)).toBe(expectedSha256(SIZE));
  figure('bundler-vite', `one-wasm set-up: the page's only wasm is ${result.wasm.join(', ')}, the service worker's`);
});
