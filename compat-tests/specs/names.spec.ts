import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test, expect, figure, rowsOf } from '../fixtures';
import { expectedSha256, fileSha256 } from '../data';

// Hostile file names, end to end: the headers stay one clean line each, and what the browser
// saves is a sane name inside the download folder, holding the exact bytes.
const NAMES = [
  'line\r\nbreak.txt',
  'nul\0byte.txt',
  'quote"s and \'apostrophes\'.txt',
  'back\\slash.txt',
  '../x-traversal.txt',
  '..\\..\\y-traversal.txt',
  'bidi\u202Etxt.exe',
  'long-' + 'x'.repeat(995) + '.txt',
  '...',
  '.hidden',
  'emoji 🎉.txt',
  'CON.txt',
  'semi;colon=x, percent %20.txt',
];
// Each download has its own size, so the saved file is known by its size whatever its name.
const sizeOf = (i: number) => 4096 + 17 * i;

/** What a saved name must never hold: path separators, control or bidi characters. */
const UNSAFE = /[/\\\u0000-\u001f\u007f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

test('hostile file names: safe headers, and a sane saved name holding the exact bytes', rowsOf('hostile-filenames'), async ({ driver }) => {
  test.setTimeout(180_000);
  await driver.open();
  const before = new Set(readdirSync(driver.downloadDir));
  const outside = new Set(readdirSync(dirname(driver.downloadDir)));
  const headers = await driver.evaluate(async ({ names, sizes }) => {
    const sluice = await window.sluice.Sluice.register({});
    const out: string[] = [];
    for (const [i, name] of names.entries()) {
      // The headers, read through fetch; then the same name as a real download.
      const probe = sluice.createDownload(name, { size: 1, trigger: 'none' });
      const response = fetch(probe.url);
      await window.sluiceTest.write(probe.writable, 1);
      out.push((await response).headers.get('content-disposition') ?? '');
      const dl = sluice.createDownload(name, { size: sizes[i], trigger: 'iframe' });
      await window.sluiceTest.write(dl.writable, sizes[i]);
      await dl.done;
    }
    return out;
  }, { names: NAMES, sizes: NAMES.map((_, i) => sizeOf(i)) });
  for (const value of headers) {
    expect(value, 'one header line').not.toMatch(/[\r\n\0]/);
    expect(value).toMatch(/^attachment; filename="[^"\\]*"; filename\*=UTF-8''[A-Za-z0-9!#$&+.^_`|~%-]+$/);
  }
  // Every file is there once no partial file is left.
  const saved = new Map<number, string>();
  const deadline = Date.now() + 60_000;
  while (saved.size < NAMES.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    const files = readdirSync(driver.downloadDir).filter((f) => !before.has(f));
    if (files.some((f) => /\.(part|crdownload)$/.test(f))) continue;
    for (const f of files) saved.set(statSync(join(driver.downloadDir, f)).size, f);
  }
  const lines: string[] = [];
  for (const [i, name] of NAMES.entries()) {
    const file = saved.get(sizeOf(i));
    lines.push(`${JSON.stringify(name.length > 40 ? name.slice(0, 20) + '…' : name)} -> ${file === undefined ? 'nothing' : JSON.stringify(file.length > 40 ? `${file.slice(0, 20)}… (${Buffer.byteLength(file)} B)` : file)}`);
    expect(file, `a file for ${JSON.stringify(name)} among ${JSON.stringify([...saved.values()])}`).toBeDefined();
    expect(file!, 'a sane name').not.toMatch(UNSAFE);
    expect(Buffer.byteLength(file!), 'at most 200 bytes (room for the browser\'s suffixes)').toBeLessThanOrEqual(200);
    expect(file!.replace(/[. ]/g, ''), 'not only dots and spaces').not.toBe('');
    expect(await fileSha256(join(driver.downloadDir, file!))).toBe(expectedSha256(sizeOf(i)));
  }
  // Nothing landed beside the download folder.
  const escaped = readdirSync(dirname(driver.downloadDir)).filter((f) => !outside.has(f) && /traversal/.test(f));
  expect(escaped).toEqual([]);
  expect(existsSync(join(dirname(driver.downloadDir), 'x-traversal.txt'))).toBe(false);
  figure('hostile-filenames', lines.join('; '));
});
