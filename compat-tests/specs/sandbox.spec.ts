import { readFileSync } from 'node:fs';
import { test, expect, figure, rowsOf, waitForFile } from '../fixtures';

// An HTML file with a script, downloaded by navigating to it and opened in a new tab: it is
// saved, never run in the app's origin (the flag its script would set stays unset).
const HTML = `<!doctype html><title>hostile</title><script>
  localStorage.setItem('sluice-sandbox-flag', location.href);
  try { opener && opener.postMessage('sluice-sandbox-ran', '*'); } catch (e) {}
</script><p>hostile</p>`;

test('an HTML download with a script never runs it in the app origin', rowsOf('sandbox'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async (html) => {
    localStorage.removeItem('sluice-sandbox-flag');
    let ran = false;
    addEventListener('message', (e) => { if (e.data === 'sluice-sandbox-ran') ran = true; });
    const sluice = await window.sluice.Sluice.register({});
    const bytes = new TextEncoder().encode(html);
    const write = async (writable: WritableStream) => {
      const writer = writable.getWriter();
      await writer.write(bytes);
      await writer.close();
    };
    const navigated = sluice.createDownload('page-navigate.html', { size: bytes.length, type: 'text/html', trigger: 'navigate' });
    await write(navigated.writable);
    await navigated.done;
    const tab = sluice.createDownload('page-tab.html', { size: bytes.length, type: 'text/html', trigger: 'none' });
    const opened = window.open(tab.url, '_blank');
    if (opened === null) {
      tab.abort('the browser refused window.open');
      await tab.done.catch(() => {});
    } else {
      await write(tab.writable);
      await tab.done;
    }
    await new Promise((r) => setTimeout(r, 3000));
    try { opened?.close(); } catch { /* gone */ }
    return { flag: localStorage.getItem('sluice-sandbox-flag'), ran, tabOpened: opened !== null };
  }, HTML);
  expect(result.flag, 'the script set its flag in the app origin').toBeNull();
  expect(result.ran).toBe(false);
  for (const name of result.tabOpened ? ['page-navigate.html', 'page-tab.html'] : ['page-navigate.html']) {
    const file = await waitForFile(driver.downloadDir, name, Buffer.byteLength(HTML), 30_000);
    expect(readFileSync(file, 'utf8')).toBe(HTML);
  }
  figure('sandbox', `navigate: saved, not run; new tab (${result.tabOpened ? 'window.open' : 'window.open refused'}): saved, not run`);
});
