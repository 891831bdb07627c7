import { test, expect, onPath, rowsOf, PATHS } from '../fixtures';

const SIZES = [0, 1, 65535, 65536, 65537, 10 * 1048576 + 7];

for (const mode of PATHS) {
  test(`fetch(dl.url) is byte-exact with the exact headers, served once (${mode})`, rowsOf('content-length'), async ({ driver }) => {
    await driver.open();
    await onPath(driver, mode);
    const results = await driver.evaluate(async ({ mode, sizes }) => {
      const sluice = await window.sluice.Sluice.register({ mode });
      const out = [];
      for (const size of sizes) {
        const dl = sluice.createDownload('résumé 2026.pdf', { size, type: 'application/pdf', trigger: 'none' });
        const writing = window.sluiceTest.write(dl.writable, size, 65536 + 17);
        const response = await fetch(dl.url);
        const headers = [...response.headers].map(([k, v]) => `${k}: ${v}`).sort();
        const body = await window.sluiceTest.read(response);
        await writing;
        const done = await dl.done;
        const again = await fetch(dl.url);
        out.push({ size, status: response.status, headers, body, done, again: again.status, mode: sluice.mode });
      }
      return out;
    }, { mode, sizes: SIZES });
    for (const r of results) {
      expect(r.status, `size ${r.size}`).toBe(200);
      expect(r.body, `size ${r.size}`).toEqual({ length: r.size, firstBad: -1 });
      expect(r.done).toBe(r.size);
      expect(r.again, 'a second fetch of the same URL').toBe(404);
      expect(r.headers).toEqual(
        [
          'cache-control: no-store',
          "content-disposition: attachment; filename=\"r_sum_ 2026.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202026.pdf",
          `content-length: ${r.size}`,
          "content-security-policy: default-src 'none'; sandbox",
          'content-type: application/pdf',
          'referrer-policy: no-referrer',
          'x-content-type-options: nosniff',
        ],
      );
    }
  });
}

test('URLs the service worker does not own reach the network; unknown downloads get 404', rowsOf('passthrough'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    await window.sluice.Sluice.register({});
    const page = await fetch('./test.html?from-the-network');
    const unknown = await fetch('./sluice/00000000000000000000000000000000/x.bin');
    return { page: page.status, text: (await page.text()).includes('Sluice test page'), unknown: unknown.status };
  });
  expect(result).toEqual({ page: 200, text: true, unknown: 404 });
});

test('an unclaimed download expires (configurable), then gets 404 and fails its writer', rowsOf('expiry'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    const sluice = await window.sluice.Sluice.register({ expireAfterMs: 1000 });
    const dl = sluice.createDownload('late.bin', { trigger: 'none' });
    const writer = dl.writable.getWriter();
    await writer.write(new Uint8Array(10));
    await new Promise((r) => setTimeout(r, 2000));
    const response = await fetch(dl.url);
    const done = await dl.done.then(() => 'resolved', (e) => `${e.code}: ${e.message}`);
    return { status: response.status, done };
  });
  expect(result.status).toBe(404);
  expect(result.done).toMatch(/^expired: .*not requested in time/);
});

test('a HEAD or a prefetch does not use up the served-once URL', rowsOf('served-once-get'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    const sluice = await window.sluice.Sluice.register({});
    const dl = sluice.createDownload('head.bin', { size: 5, trigger: 'none' });
    const head = await fetch(dl.url, { method: 'HEAD' });
    const prefetch = await fetch(dl.url, { headers: { Purpose: 'prefetch' } }).then((r) => r.status, (e) => `error ${e}`);
    const writing = window.sluiceTest.write(dl.writable, 5);
    const get = await fetch(dl.url);
    const body = await window.sluiceTest.read(get);
    await writing;
    return { head: head.status, prefetch, get: get.status, body, done: await dl.done };
  });
  expect(result).toEqual({ head: 405, prefetch: 503, get: 200, body: { length: 5, firstBad: -1 }, done: 5 });
});

test('a download that ended before its request is still served once: whole, or failed, never a 404', rowsOf('served-once-get'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    const sluice = await window.sluice.Sluice.register({ mode: 'fallback' });
    const empty = sluice.createDownload('empty.bin', { size: 0, trigger: 'none' });
    await empty.writable.close();
    // Every byte (none) is in; done waits for the request.
    const first = await fetch(empty.url);
    const body = await window.sluiceTest.read(first);
    const emptyDone = await empty.done;
    const again = await fetch(empty.url);
    const aborted = sluice.createDownload('aborted.bin', { size: 100, trigger: 'none' });
    const writer = aborted.writable.getWriter();
    await writer.write(new Uint8Array(10));
    await writer.abort('changed my mind');
    const abortedDone = await aborted.done.then(() => 'resolved', (e) => e.code);
    const late = await fetch(aborted.url);
    const read = await late.arrayBuffer().then((b) => `complete with ${b.byteLength} B`, () => 'errored');
    return { emptyDone, first: first.status, body, again: again.status, abortedDone, late: late.status, read };
  });
  expect(result).toEqual({
    emptyDone: 0, first: 200, body: { length: 0, firstBad: -1 }, again: 404,
    abortedDone: 'aborted', late: 200, read: 'errored',
  });
});
