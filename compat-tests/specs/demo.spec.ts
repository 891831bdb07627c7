import { join } from 'node:path';
import { test, expect, compatDir, figure, rowsOf, waitForFile } from '../fixtures';
import { acceptedBy } from '../zipcheck';

test('the demo page: its live checks pass, one download reaches the disk, a screenshot', rowsOf('demo'), async ({ driver }) => {
  await driver.goto('/index.html');
  const checks = await driver.evaluate(async () => {
    const table = document.getElementById('checks')!;
    const deadline = Date.now() + 120_000;
    while (table.dataset.done !== 'true' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    return [...table.querySelectorAll('tr')].slice(1).map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? ''));
  });
  const rungs = await driver.evaluate(() =>
    [...document.querySelectorAll('#rungs tr')].slice(1).map((tr) => tr.firstElementChild?.textContent ?? ''));
  expect(rungs, 'the ladder shown, in ladder order').toEqual(['picker', 'transfer', 'fallback', 'opfs', 'blob']);
  const finished = await driver.evaluate(async () => {
    (document.getElementById('size') as HTMLInputElement).value = '8';
    document.getElementById('generate')!.click();
    const table = document.getElementById('finished')!;
    const deadline = Date.now() + 60_000;
    while (table.querySelectorAll('tr').length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    return [...table.querySelectorAll('tr')].slice(1).map((tr) => tr.lastElementChild?.textContent ?? '');
  });
  // The screenshot first: it shows the page as it is, failures included.
  await driver.screenshot(join(compatDir(), `demo-${driver.engine}.png`));
  expect(checks.length, 'live checks shown').toBeGreaterThanOrEqual(8);
  for (const [check, result, detail] of checks) expect(result, `${check}: ${detail}`).toMatch(/^(yes|n\.a\.)$/);
  expect(finished).toEqual(['done']);
  await waitForFile(driver.downloadDir, 'generated-8MiB.bin', 8 * 1048576, 60_000);
  // "Zip generated files": where dist/ has createZip, 20 files of 100 KiB become files.zip;
  // where it has not, the button says so and does nothing.
  const zip = await driver.evaluate(async () => {
    const button = document.getElementById('zip') as HTMLButtonElement;
    if (button.disabled) return { note: document.getElementById('zipNote')!.textContent, results: [] };
    (document.getElementById('zipCount') as HTMLInputElement).value = '20';
    (document.getElementById('zipSize') as HTMLInputElement).value = '0.09765625';
    button.click();
    const table = document.getElementById('finished')!;
    const deadline = Date.now() + 60_000;
    while (table.querySelectorAll('tr').length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const rows = [...table.querySelectorAll('tr')].slice(2) as HTMLElement[];
    return { note: '', results: rows.map((tr) => tr.lastElementChild?.textContent ?? ''), bytes: Number(rows[0]?.dataset.bytes) };
  });
  let zipped = `zip: ${zip.note}`;
  if (!zip.note) {
    expect(zip.results, 'files.zip').toEqual(['done']);
    const listed = acceptedBy(await waitForFile(driver.downloadDir, 'files.zip', zip.bytes, 60_000));
    expect(listed, 'the readers that take files.zip').toEqual(['unzip -t', 'zipfile', '7z t', 'bsdtar -tf']);
    zipped = 'files.zip of 20 files: the four readers take it';
  } else {
    expect(zip.note).toMatch(/cargo xtask build --zip/);
  }
  figure('demo', `${checks.filter((c) => c[1] === 'yes').length} of ${checks.length} live checks yes; ${zipped}; demo-${driver.engine}.png`);
});
