// The example apps in examples/, as `cargo xtask demo` serves them (/examples/<name>/).
import { createHash } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { test, expect, figure, notApplicable, rowsOf, waitForFile, type Browser } from '../fixtures';
import { expectedSha256, fileSha256 } from '../data';
import { acceptedBy, checkZip, extractSafely } from '../zipcheck';
import { describeOnDisk, failedOnDisk, visiblyFailed } from '../downloads';
import { join } from 'node:path';
import { samplePeakPss } from '../memory';

/** What examples/rust-sink writes for `count` rows. */
function table(count: number): string {
  let csv = 'n,n squared\n';
  for (let n = 0; n < count; n++) csv += `${n},${BigInt(n) * BigInt(n)}\n`;
  return csv;
}

test('examples/rust-sink: a Rust/wasm app streams a generated CSV through the Sink API', rowsOf('example-rust-sink'), async ({ driver }) => {
  const rows = 300_000;
  await driver.goto('/examples/rust-sink/index.html');
  const status = await driver.evaluate(async (rows) => {
    const status = document.getElementById('status')!;
    const until = async (done: () => boolean, ms: number) => {
      const deadline = Date.now() + ms;
      while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    };
    await until(() => status.textContent === 'ready', 30_000);
    (document.getElementById('rows') as HTMLInputElement).value = String(rows);
    document.getElementById('save')!.click();
    await until(() => /^(saved|failed)/.test(status.textContent ?? ''), 120_000);
    return status.textContent;
  }, rows);
  const expected = table(rows);
  expect(status).toBe(`saved: ${expected.length} bytes`);
  const file = await waitForFile(driver.downloadDir, 'table.csv', expected.length, 60_000);
  expect(readFileSync(file, 'utf8') === expected, 'table.csv holds every row, in order').toBe(true);
  figure('example-rust-sink', `${rows} rows, ${expected.length} bytes`);
});

/** The sha256 of what examples/rust-zip writes as entry `i` of `size` bytes, made a MiB at a time. */
function zipEntrySha256(i: number, size: number): string {
  const hash = createHash('sha256');
  let [left, line, pending] = [size, 0, ''];
  while (left > 0) {
    while (pending.length < Math.min(left, 1 << 20)) pending += `file ${i} line ${line++}\n`;
    const take = Math.min(left, pending.length);
    hash.update(pending.slice(0, take));
    [pending, left] = [pending.slice(take), left - take];
  }
  return hash.digest('hex');
}

/** The entries of examples/rust-zip's archive of `count` files of `size` bytes. */
function zipEntries(count: number, size: number) {
  return Array.from({ length: count }, (_, i) => ({ name: `files/file-${String(i).padStart(4, '0')}.txt`, sha256: zipEntrySha256(i, size) }));
}

/** Opens examples/rust-zip and waits until its wasm is ready (`window.saveZip`). */
async function openZipExample(driver: Browser): Promise<void> {
  await driver.goto('/examples/rust-zip/index.html');
  await driver.evaluate(async () => {
    const deadline = Date.now() + 30_000;
    while (document.getElementById('status')!.textContent !== 'ready' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  });
}

test('examples/rust-zip: a Rust/wasm app streams generated files as one zip, declared (exact size) and deflated, and four readers accept it', rowsOf('example-rust-zip'), async ({ driver }) => {
  await openZipExample(driver);
  const figures: string[] = [];
  let stored = 0;
  const cases = [
    { name: 'declared.zip', count: 300, size: 10_000, mode: 'declared' },
    { name: 'deflated.zip', count: 300, size: 10_000, mode: 'deflated' },
    { name: 'unsized.zip', count: 300, size: 10_000, mode: 'unsized' },
    // Where the browser has no CompressionStream, entries asked to be deflated are stored.
    { name: 'no-compressor.zip', count: 300, size: 10_000, mode: 'deflated', hide: true },
  ];
  for (const c of cases) {
    const [known, served] = await driver.evaluate(async (c) => {
      // In the page's own realm (Firefox runs this script through an Xray, whose deletes the
      // page does not see).
      const inPage = (code: string) => {
        const script = document.createElement('script');
        script.textContent = code;
        document.head.append(script);
        script.remove();
      };
      if (c.hide) inPage('window.hiddenCompressionStream = CompressionStream; delete window.CompressionStream;');
      try {
        return Array.from(await (window as any).saveZip(c.name, c.count, c.size, c.mode)) as number[];
      } finally {
        if (c.hide) inPage('window.CompressionStream = window.hiddenCompressionStream;');
      }
    }, c);
    if (c.mode === 'declared') expect(known, `${c.name}: the size known before the first byte is the size served`).toBe(served);
    else expect(known, `${c.name}: no size is known before the first byte`).toBe(-1);
    const file = await waitForFile(driver.downloadDir, c.name, served, 60_000);
    const readers = checkZip(file, zipEntries(c.count, c.size));
    if (c.hide) expect(served, `${c.name}: stored, as declared.zip's entries`).toBe(stored);
    else if (c.mode === 'deflated') expect(served, `${c.name}: deflated (text compresses)`).toBeLessThan((c.count * c.size) / 2);
    // Each entry of unknown size is a ZIP64 entry: 20 B of ZIP64 extra in its local header, 8 B
    // more in its 64-bit descriptor, 28 B of ZIP64 extra in its central header.
    if (c.mode === 'declared') stored = served;
    if (c.mode === 'unsized') expect(served, `${c.name}: ZIP64 entries, 56 B each over declared.zip`).toBe(stored + c.count * 56);
    figures.push(`${c.name}: ${c.count} files, ${served} B${c.mode === 'declared' ? ' (size known before the first byte)' : ''}; ${readers}`);
  }
  figure('example-rust-zip', figures.join('<br>'));
});

test('examples/rust-zip: an entry whose source ends early or fails fails the download, and no reader takes what is on disk for an archive', rowsOf('example-rust-zip'), async ({ driver }) => {
  await openZipExample(driver);
  const figures: string[] = [];
  for (const [mode, code] of [['short', 'size_mismatch'], ['failing', 'browser']]) {
    const name = `${mode}.zip`;
    // 40 entries of 100 KiB, so that part of the archive is on its way to disk when it fails.
    const error = await driver.evaluate(async ([name, mode]) => {
      try {
        await (window as any).saveZip(name, 40, 102_400, mode);
        return null;
      } catch (e: any) {
        return String(e.message);
      }
    }, [name, mode]);
    expect(error, `${name}: save_zip's error`).toMatch(new RegExp(`^${code}: `));
    const seen = await failedOnDisk(driver.downloadDir, name);
    expect(visiblyFailed(seen), `${name} on disk: ${describeOnDisk(seen)}`).toBe(true);
    const accepted = seen.final ? acceptedBy(join(driver.downloadDir, name)) : [];
    expect(accepted, `${name}: the readers that take what is on disk for a whole archive`).toEqual([]);
    figures.push(`${mode} source: ${code}; on disk: ${describeOnDisk(seen)}${seen.final ? ', which no reader accepts' : ''}`);
  }
  figure('example-rust-zip', figures.join('<br>'));
});

test('examples/rust-zip: 1,000 small files and 3 of 100 MiB, stored (declared: exact size) and with the small ones deflated; four readers check every entry', rowsOf('zip-mixed'), async ({ driver }) => {
  test.setTimeout(600_000);
  await openZipExample(driver);
  const [small, smallSize, big, bigSize] = [1000, 4096, 3, 100 * 1048576];
  const entries = [
    ...Array.from({ length: small }, (_, i) => ({ name: `small/file-${String(i).padStart(4, '0')}.txt`, sha256: zipEntrySha256(i, smallSize) })),
    ...Array.from({ length: big }, (_, j) => ({ name: `big/file-${j}.bin`, sha256: zipEntrySha256(small + j, bigSize) })),
  ];
  const figures: string[] = [];
  let stored = 0;
  for (const compress of [false, true]) {
    const name = compress ? 'mixed-deflated.zip' : 'mixed.zip';
    const began = Date.now();
    const [known, served] = await driver.evaluate(
      async (a) => Array.from(await (window as any).saveMixed(a.name, a.small, a.smallSize, a.big, a.bigSize, a.compress)) as number[],
      { name, small, smallSize, big, bigSize, compress },
    );
    const seconds = (Date.now() - began) / 1000;
    if (compress) {
      expect(known, 'no size is known before the first byte').toBe(-1);
      expect(served, 'the small text files are deflated').toBeLessThan(stored - (small * smallSize) / 2);
    } else {
      expect(known, 'the size known before the first byte is the size served').toBe(served);
      stored = served;
    }
    const file = await waitForFile(driver.downloadDir, name, served, 120_000);
    figures.push(`${name}: ${served} B in ${seconds.toFixed(1)} s${compress ? ' (small files deflated)' : ' (declared)'}; ${checkZip(file, entries)}`);
  }
  figure('zip-mixed', figures.join('<br>'));
});

test('examples/rust-zip: hostile and Unicode names are stored made safe, refused ones get a typed error, and four readers extract nothing outside their folder', rowsOf('zip-names'), async ({ driver }) => {
  await openZipExample(driver);
  // What the app names each entry, and what the archive must store (null: refused).
  const cases: [string, string | null][] = [
    ['../../etc/passwd', 'etc/passwd'],
    ['C:\\x', 'x'],
    ['a/../../b', 'a/b'],
    ['/abs', 'abs'],
    ['nul\u0000byte', 'nul_byte'],
    ['a\\c\\d.txt', 'a/c/d.txt'],
    // a/b is a file already, so it cannot be a folder too; a/c is a folder, so not a file.
    ['a\\b\\c.txt', null],
    ['a/c', null],
    ['Fotos/Ärger ünd 日本語 🎉.txt', 'Fotos/Ärger ünd 日本語 🎉.txt'],
    ['dir/trailing. ', 'dir/trailing'],
    ['CON', '_CON'],
    ['logs/CONIN$.txt', 'logs/_CONIN$.txt'],
    // A right-to-left override would show this as photoexe.jpg.
    ['photo\u202Egpj.exe', 'photo_gpj.exe'],
    ['bell\u0007/../x?.txt', 'bell_/x_.txt'],
    ['..', null],
    ['/', null],
    ['dup.txt', 'dup.txt'],
    ['./dup.txt', null],
  ];
  const [served, ...outcomes] = await driver.evaluate(async (names) => Array.from(await (window as any).saveNamed('names.zip', names)) as string[], cases.map(([n]) => n));
  cases.forEach(([name, stored], i) => {
    if (stored === null) expect(outcomes[i], `${JSON.stringify(name)}: refused with a typed error`).toMatch(/^invalid_argument: zip: the (entry|archive) /);
    else expect(outcomes[i], `${JSON.stringify(name)}: added`).toBe('');
  });
  const kept = cases.filter(([, stored]) => stored !== null) as [string, string][];
  const file = await waitForFile(driver.downloadDir, 'names.zip', Number(served), 60_000);
  const sha = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
  const readers = checkZip(file, kept.map(([name, stored]) => ({ name: stored, sha256: sha(name) })));
  const extracted = extractSafely(file, kept.map(([, stored]) => stored));
  figure('zip-names', `${kept.length} stored made safe, ${cases.length - kept.length} refused (invalid_argument); ${readers}; ${extracted}`);
});

test('examples/rust-zip at scale: 70,000 entries get the ZIP64 end records, and four readers list and check every one', rowsOf('zip-many'), async ({ driver }) => {
  await openZipExample(driver);
  const [count, size] = [70_000, 10];
  const began = Date.now();
  const [known, served] = await driver.evaluate(async ([count, size]) => Array.from(await (window as any).saveZip('many.zip', count, size, 'declared')) as number[], [count, size]);
  const seconds = (Date.now() - began) / 1000;
  expect(known, 'the size known before the first byte is the size served').toBe(served);
  const file = await waitForFile(driver.downloadDir, 'many.zip', served, 60_000);
  const readers = checkZip(file, zipEntries(count, size));
  figure('zip-many', `${count} entries, ${served} B in ${seconds.toFixed(1)} s; ${readers}`);
});

test('examples/rust-zip at scale: one 5 GiB entry, declared (Content-Length past 4 GiB), gets ZIP64 records, four readers check it, and the browser uses no more memory than for 256 MiB', rowsOf('zip-huge'), async ({ driver }) => {
  if (!process.env.SLUICE_SLOW) notApplicable('slow (5 GiB to disk and four readers over it): runs in cargo xtask test --slow');
  test.setTimeout(20 * 60_000);
  await openZipExample(driver);
  /** Saves a zip of one declared entry of `size` bytes; its size, time and the browser's peak memory (PSS). */
  const save = async (name: string, size: number) => {
    const sampler = samplePeakPss();
    const began = Date.now();
    const [known, served] = await driver.evaluate(async ([name, size]) => Array.from(await (window as any).saveZip(name, 1, size, 'declared')) as number[], [name, size] as [string, number]);
    const seconds = (Date.now() - began) / 1000;
    expect(known, `${name}: the size known before the first byte is the size served`).toBe(served);
    const file = await waitForFile(driver.downloadDir, name, served, 300_000);
    return { served, seconds, file, peak: sampler.stop() };
  };
  const small = await save('huge-256MiB.zip', 256 * 1048576);
  unlinkSync(small.file);
  const size = 5 * 1024 ** 3;
  const huge = await save('huge.zip', size);
  const readers = checkZip(huge.file, zipEntries(1, size));
  let memory = 'memory not measurable here (no /proc)';
  if (small.peak !== null && huge.peak !== null) {
    const growth = huge.peak - small.peak;
    memory = `peak PSS ${Math.round(huge.peak / 1048576)} MiB vs ${Math.round(small.peak / 1048576)} MiB for 256 MiB (${growth >= 0 ? '+' : ''}${Math.round(growth / 1048576)} MiB)`;
    // Memory that grew with the archive would add about 4.75 GiB; the engines' own noise stays far under this.
    expect(growth, 'peak memory growth from a 256 MiB zip to a 5 GiB one').toBeLessThan(768 * 1048576);
  }
  figure('zip-huge', `${huge.served} B in ${huge.seconds.toFixed(0)} s; ${memory}; ${readers}`);
});

/** Opens examples/object-storage once its Sluice is ready. */
async function openObjectStorage(driver: Browser) {
  await driver.goto('/examples/object-storage/index.html');
  const ready = await driver.evaluate(async () => {
    for (let i = 0; i < 1500 && document.getElementById('status')!.textContent !== 'ready'; i++) await new Promise((r) => setTimeout(r, 20));
    return document.getElementById('status')!.textContent;
  });
  expect(ready, 'examples/object-storage loaded').toBe('ready');
}

/** Clicks `selector` in examples/object-storage and waits for it to say saved or failed: what it
 * said, the progress steps seen and the largest progress total. */
function saveWith(driver: Browser, selector: string) {
  return driver.evaluate(async (selector) => {
    const status = document.getElementById('status')!;
    const progress = document.getElementById('progress') as HTMLProgressElement;
    const seen: number[] = [];
    let max = 0;
    document.querySelector<HTMLButtonElement>(selector)!.click();
    for (const deadline = Date.now() + 120_000; Date.now() < deadline && !/^(saved|failed)/.test(status.textContent ?? ''); ) {
      if (seen.at(-1) !== progress.value) seen.push(progress.value);
      max = Math.max(max, progress.max);
      await new Promise((r) => setTimeout(r, 20));
    }
    return { status: status.textContent, seen: seen.length, max: Math.max(max, progress.max) };
  }, selector);
}

test('examples/object-storage: a private object from another origin, with a token, saved under its real name with progress', rowsOf('example-object-storage'), async ({ driver }) => {
  const size = 24 * 1048576 + 11; // the object xtask serve's object store holds
  await openObjectStorage(driver);
  // What the object store says without the app's token.
  const without = await driver.evaluate(async () => (await fetch(`http://127.0.0.1:${Number(location.port) + 1}/objects/5e884898da28047151d0e56f8dc62927`)).status);
  expect(without, 'the bucket without the token').toBe(401);
  const result = await saveWith(driver, '#catalogue button');
  expect(result.status).toBe(`saved Quarterly report 2026.pdf: ${size} bytes`);
  expect(result.max, 'progress knows the total').toBe(size);
  const file = await waitForFile(driver.downloadDir, 'Quarterly report 2026.pdf', size, 60_000);
  expect(await fileSha256(file)).toBe(expectedSha256(size));
  figure('example-object-storage', `${size} B byte-exact; ${result.seen} progress steps seen`);
});

test('examples/object-storage: every object as one zip, fetched one after another, its size known before its first byte; four readers check every entry', rowsOf('example-object-storage-zip'), async ({ driver }) => {
  // The objects xtask serve's object store holds (the test file's first bytes), as the catalogue names them.
  const objects = [
    { name: 'Quarterly report 2026.pdf', size: 24 * 1048576 + 11 },
    { name: 'Photos/IMG_0001.jpg', size: 3 * 1048576 + 5 },
    { name: 'Photos/IMG_0002.jpg', size: 5 * 1048576 + 17 },
    { name: 'notes.txt', size: 1000 },
  ];
  await openObjectStorage(driver);
  const note = await driver.evaluate(() => ((document.getElementById('zip') as HTMLButtonElement).disabled ? document.getElementById('zip-note')!.textContent : null));
  if (note !== null) {
    expect(note, 'the page says why it has no zip').toMatch(/createZip is not in this build/);
    notApplicable('createZip is not in this dist/ (main-writer\'s js-zip feature is off: it does not fit the 120 KiB budget yet)');
  }
  const result = await saveWith(driver, '#zip');
  // The progress total is the archive's size, known before its first byte from the catalogue's sizes.
  const size = result.max;
  expect(result.status).toBe(`saved bucket.zip: ${size} bytes`);
  const file = await waitForFile(driver.downloadDir, 'bucket.zip', size, 60_000);
  const readers = checkZip(file, objects.map((o) => ({ name: o.name, sha256: expectedSha256(o.size) })));
  figure('example-object-storage-zip', `bucket.zip: ${size} B = the progress total (declared); ${readers}`);
});

test('examples/lan-transfer: a file over a WebRTC data channel between two tabs, saved as it arrives', rowsOf('example-lan-transfer'), async ({ driver }) => {
  const size = 16 * 1048576 + 3;
  await driver.goto('/examples/lan-transfer/index.html');
  const receiver = await driver.currentTab();
  const rtc = await driver.evaluate(() => typeof RTCPeerConnection === 'function');
  if (!rtc) notApplicable('no RTCPeerConnection in this engine');
  // The sender starts first: its offer waits for a receiver, which asks again when it starts.
  const sender = await driver.newTab();
  await driver.goto('/examples/lan-transfer/index.html');
  await driver.evaluate((size) => {
    (document.getElementById('size') as HTMLInputElement).value = String(size);
    document.getElementById('generate')!.click();
  }, size);
  const until = async (pattern: string) =>
    driver.evaluate(async (pattern) => {
      const status = document.getElementById('status')!;
      const deadline = Date.now() + 90_000;
      while (!new RegExp(pattern).test(status.textContent ?? '') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      return status.textContent;
    }, pattern);
  await driver.switchTab(receiver);
  await driver.evaluate(() => document.getElementById('receive')!.click());
  const received = await until('^(saved|failed)');
  await driver.switchTab(sender);
  const sent = await until('^(sent: done|failed)');
  expect(sent).toBe('sent: done');
  expect(received).toBe(`saved: ${size}`);
  const file = await waitForFile(driver.downloadDir, 'generated.bin', size, 60_000);
  expect(await fileSha256(file)).toBe(expectedSha256(size));
  figure('example-lan-transfer', `${size} B byte-exact`);
});
