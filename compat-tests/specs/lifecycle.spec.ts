import { unlinkSync } from 'node:fs';
import { test, expect, figure, notApplicable, onPath, rowsOf, waitForFile, PATHS, type Browser } from '../fixtures';
import { expectedSha256, fileSha256 } from '../data';
import { describeOnDisk, onDisk, visiblyFailed } from '../downloads';
import { pacedUntil, settled, startPaced } from '../paced';

/**
 * One 2 MiB download through `fetch` on the page's Sluice; returns what the service worker
 * served, and how long the response took (from `createDownload`).
 */
function download(driver: Browser, name: string) {
  return driver.evaluate(async (name) => {
    window.sluiceTest.current ??= await window.sluice.Sluice.register({});
    const size = 2 * 1048576 + 1;
    const start = performance.now();
    const dl = window.sluiceTest.current.createDownload(name, { size, trigger: 'none' });
    const writing = window.sluiceTest.write(dl.writable, size);
    const response = await fetch(dl.url);
    const answeredMs = Math.round(performance.now() - start);
    const body = await window.sluiceTest.read(response);
    await writing;
    return { body, done: await dl.done, size, answeredMs, served: (await window.sluiceTest.stats()).served };
  }, name);
}

/**
 * Registers a fallback Sluice with `timing` (keepaliveMs, timeoutMs) and starts a 64 MiB
 * download `name` with 1 MiB written, then left waiting; keeps its writer (`oldWriter`) and its
 * outcome (`oldDone`: 'done' or the error's code) on the page.
 */
function startWaitingDownload(driver: Browser, name: string, timing: { keepaliveMs: number; timeoutMs: number }) {
  return driver.evaluate(async ({ name, timing }) => {
    const sluice = await window.sluice.Sluice.register({ mode: 'fallback', ...timing });
    window.sluiceTest.current = sluice;
    const old = sluice.createDownload(name, { size: 64 * 1048576, trigger: 'none' });
    void fetch(old.url).then((r) => window.sluiceTest.read(r)).catch(() => {});
    const writer = old.writable.getWriter();
    await writer.write(window.sluiceTest.bytes(0, 1048576));
    const w = window as unknown as { oldWriter: WritableStreamDefaultWriter; oldDone: Promise<string> };
    w.oldWriter = writer;
    w.oldDone = old.done.then(() => 'done', (e: { code: string }) => e.code);
  }, { name, timing });
}

/** Starts a paced 256 MiB download (1 MiB writes 50 ms apart) and lets it run for 2 s. */
async function startSlowDownload(driver: Browser, mode: 'transfer' | 'fallback', name: string) {
  const size = 256 * 1048576;
  await startPaced(driver, { name, mode, size, pace: 50 });
  await new Promise((r) => setTimeout(r, 2000));
  return size;
}

/** Its state once both its writer and `done` settled (40 s at most). */
const slowState = (driver: Browser, name: string) => pacedUntil(driver, name, settled, 40_000);

test.describe('a stopped service worker', () => {
  // Firefox stops a service worker 1 s after its last event here (30 s by default).
  test.use({ firefoxPrefs: { 'dom.serviceWorkers.idle_timeout': 1000, 'dom.serviceWorkers.idle_extended_timeout': 1000 } });

  test('the service worker stopped between two downloads: the second still works', rowsOf('sw-restart'), async ({ driver }) => {
    await driver.open();
    const first = await download(driver, 'before-stop.bin');
    expect(first.body).toEqual({ length: first.size, firstBad: -1 });
    expect(first.served).toBe(1);
    const how = await driver.stopServiceWorkers();
    const second = await download(driver, 'after-stop.bin');
    expect(second.body).toEqual({ length: second.size, firstBad: -1 });
    expect(second.done).toBe(second.size);
    // A service worker that kept running would have served two downloads by now.
    if (second.served !== 1) notApplicable(`the service worker was not stopped (${how}), so this was not tested`);
    figure('sw-restart', `stopped: ${how}; the next download answered in ${second.answeredMs} ms`);
  });

  test("a restarting service worker leaves the app's own /sluice/ pages to the network", rowsOf('passthrough'), async ({ driver }) => {
    await driver.open();
    await driver.evaluate(async () => void (await window.sluice.Sluice.register({})));
    const how = await driver.stopServiceWorkers();
    // The first fetch after the stop starts the worker: the shim answers before the wasm is ready.
    const page = await driver.evaluate(async () => {
      const response = await fetch('./docs/sluice/page.html');
      return { status: response.status, ours: (await response.text()).includes("An app's own page") };
    });
    expect(page, `after "${how}"`).toEqual({ status: 200, ours: true });
  });

  for (const mode of PATHS) {
    test(`a service worker stopped during a download: byte-exact, or failed on the writer and on disk (${mode})`, rowsOf('sw-stopped-mid-download'), async ({ driver }) => {
      if (driver.engine === 'webkit' || driver.engine === 'safari') {
        notApplicable('WebKit does not stop a service worker while its page is open, and its automation cannot');
      }
      await driver.open();
      await onPath(driver, mode);
      const name = `stopped-${mode}.bin`;
      const size = await startSlowDownload(driver, mode, name);
      if (driver.engine === 'firefox') {
        // Firefox stops a worker on its own by its idle limit (1 s in this file). The events
        // Sluice sends the worker while bytes flow keep it running, so the download must
        // finish. Without them Firefox stops the worker and keeps a partial file under the
        // final name. (Firefox killing the worker outright: "a service worker killed outright".)
        const how = 'idle in the page for 5 s, past the 1 s idle limit';
        await new Promise((r) => setTimeout(r, 5000));
        const state = await slowState(driver, name);
        expect(state, `after "${how}"`).toEqual({ mode: state.mode, writer: 'closed', done: `resolved ${size}` });
        expect(await fileSha256(await waitForFile(driver.downloadDir, name, size, 60_000))).toBe(expectedSha256(size));
        figure('sw-stopped-mid-download', `${state.mode}: not stopped by "${how}" (Sluice's events while bytes flow): byte-exact on disk`);
        return;
      }
      const how = await driver.stopServiceWorkers();
      const start = Date.now();
      const state = await slowState(driver, name);
      const settledAfter = ((Date.now() - start) / 1000).toFixed(0);
      expect(state.writer).toMatch(/^service_worker_gone: /);
      expect(state.done).toMatch(/^service_worker_gone: /);
      // And the browser shows it failed: no partial file under the final name.
      await new Promise((r) => setTimeout(r, 20_000));
      const seen = onDisk(driver.downloadDir, name);
      expect(visiblyFailed(seen), `on disk: ${describeOnDisk(seen)}`).toBe(true);
      figure('sw-stopped-mid-download', `${state.mode}: failed ${settledAfter} s after "${how}"; on disk: ${describeOnDisk(seen)}`);
    });
  }
});

test.describe('a service worker killed outright', () => {
  test('during two downloads (transfer and fallback): both writers fail and both done reject', rowsOf('sw-killed'), async ({ driver }) => {
    if (driver.engine !== 'firefox') {
      notApplicable('Chromium: its stop is a kill, see sw-stopped-mid-download; WebKit: its automation cannot stop a service worker');
    }
    await driver.open();
    const size = 256 * 1048576;
    const names = { transfer: 'killed-transfer.bin', fallback: 'killed-fallback.bin' };
    await startPaced(driver, { name: names.transfer, mode: 'transfer', size, pace: 50 });
    await startPaced(driver, { name: names.fallback, mode: 'fallback', size, pace: 50 });
    await new Promise((r) => setTimeout(r, 2000));
    const how = await driver.stopServiceWorkers();
    const seen: string[] = [];
    for (const name of Object.values(names)) {
      const state = await slowState(driver, name);
      expect(state.writer, `${name} after "${how}"`).toMatch(/^service_worker_gone: /);
      expect(state.done, `${name} after "${how}"`).toMatch(/^service_worker_gone: /);
      await new Promise((r) => setTimeout(r, 10_000));
      // What the download folder shows is the browser's: nothing is left in the killed worker
      // to error the response or to append the incomplete-notice.
      const disk = onDisk(driver.downloadDir, name);
      expect(disk.final === size && disk.beside.length === 0, `${name} looks complete after a kill`).toBe(false);
      seen.push(`${state.mode}: ${visiblyFailed(disk) ? 'failed' : 'a short file under the final name'} (${describeOnDisk(disk)})`);
    }
    figure('sw-killed', `after "${how}": the app told (service_worker_gone); on disk ${seen.join('; ')}`);
  });
});

test.describe('a stopped service worker, then a new download', () => {

  test('a download left on the old bus still fails, while a new one goes over a new bus', rowsOf('sw-stopped-mid-download'), async ({ driver }) => {
    if (driver.engine === 'webkit' || driver.engine === 'safari') {
      notApplicable('WebKit does not stop a service worker while its page is open, and its automation cannot');
    }
    await driver.open();
    const name = 'old-bus.bin';
    await startSlowDownload(driver, 'fallback', name);
    const how = await driver.stopServiceWorkers();
    // The new download finds the old bus dead and makes a new one (the re-handshake).
    const second = await download(driver, 'new-bus.bin');
    expect(second.body, `after "${how}"`).toEqual({ length: second.size, firstBad: -1 });
    expect(second.done).toBe(second.size);
    const state = await slowState(driver, name);
    expect(state.writer, 'the download on the replaced bus').toMatch(/^service_worker_gone: /);
    expect(state.done).toMatch(/^service_worker_gone: /);
  });
});

test.describe('a stopped service worker, while another download flows', () => {
  test('a download left on the dead bus fails within the keepalive, while a new one still sends', rowsOf('sw-stopped-mid-download'), async ({ driver }) => {
    if (driver.engine === 'webkit' || driver.engine === 'safari') {
      notApplicable('WebKit does not stop a service worker while its page is open, and its automation cannot');
    }
    await driver.open();
    // Keepalive 1 s, timeout 2 s: the old bus must be found dead within about 3 s.
    await startWaitingDownload(driver, 'old-bus-waits.bin', { keepaliveMs: 1000, timeoutMs: 2000 });
    const how = await driver.stopServiceWorkers();
    const result = await driver.evaluate(async () => {
      const sluice = window.sluiceTest.current!;
      const oldWriter = (window as unknown as { oldWriter: WritableStreamDefaultWriter }).oldWriter;
      // The new download goes over a new bus and sends for about 12 s (an Active every 0.5 s).
      const size = 48 * 1048576;
      const busy = sluice.createDownload('new-bus-flows.bin', { size, trigger: 'none' });
      const reading = fetch(busy.url).then((r) => window.sluiceTest.read(r));
      const start = performance.now();
      let busyEnded = -1;
      const writing = (async () => {
        const writer = busy.writable.getWriter();
        for (let offset = 0; offset < size; offset += 1048576) {
          await writer.write(window.sluiceTest.bytes(offset, 1048576));
          await new Promise((r) => setTimeout(r, 250));
        }
        await writer.close();
        busyEnded = performance.now() - start;
      })();
      // The old download writes on: once its window is spent, it waits for credit from a
      // worker that is gone.
      const old = await (async () => {
        for (let offset = 1048576; offset < 64 * 1048576; offset += 1048576) {
          await oldWriter.write(window.sluiceTest.bytes(offset, 1048576));
        }
      })().then(
        () => ({ code: 'all written', ms: performance.now() - start }),
        (e) => ({ code: e.code as string, ms: performance.now() - start }),
      );
      const busyWhenOldFailed = busyEnded < 0;
      await writing;
      const body = await reading;
      return { old, busyWhenOldFailed, busyEnded, body, size, done: await busy.done };
    }, null);
    expect(result.old.code, `the old download's write, after "${how}"`).toBe('service_worker_gone');
    expect(result.busyWhenOldFailed, `the old download failed at ${Math.round(result.old.ms)} ms, the new one ended at ${Math.round(result.busyEnded)} ms`).toBe(true);
    expect(result.body).toEqual({ length: result.size, firstBad: -1 });
    expect(result.done).toBe(result.size);
    figure('sw-stopped-mid-download', `a download left on the dead bus failed ${(result.old.ms / 1000).toFixed(1)} s after a new one started sending (keepalive 1 s, timeout 2 s)`);
  });
});

test.describe('a keepalive round that waits on a dead bus', () => {
  test('holds no new download back', rowsOf('sw-stopped-mid-download'), async ({ driver }) => {
    if (driver.engine === 'webkit' || driver.engine === 'safari') {
      notApplicable('WebKit does not stop a service worker while its page is open, and its automation cannot');
    }
    await driver.open();
    // Keepalive 1 s, timeout 8 s: a round that pings the dead bus waits 8 s for its answer.
    await startWaitingDownload(driver, 'round-old.bin', { keepaliveMs: 1000, timeoutMs: 8000 });
    const how = await driver.stopServiceWorkers();
    // The next round starts within 1 s, and then waits for its ping.
    await new Promise((r) => setTimeout(r, 2000));
    const result = await driver.evaluate(async () => {
      const sluice = window.sluiceTest.current!;
      const size = 2 * 1048576;
      const start = performance.now();
      const dl = sluice.createDownload('round-new.bin', { size, trigger: 'none' });
      const writing = window.sluiceTest.write(dl.writable, size);
      const response = await fetch(dl.url);
      const answeredMs = performance.now() - start;
      const body = await window.sluiceTest.read(response);
      await writing;
      const w = window as unknown as { oldDone: Promise<string> };
      return { answeredMs, body, size, done: await dl.done, old: await w.oldDone };
    }, null);
    expect(result.body).toEqual({ length: result.size, firstBad: -1 });
    expect(result.done).toBe(result.size);
    expect(result.answeredMs, `the new download was answered ${Math.round(result.answeredMs)} ms after it was created, after "${how}"`).toBeLessThan(4000);
    expect(result.old).toBe('service_worker_gone');
    figure('sw-stopped-mid-download', `a new download while a keepalive round waited 8 s on the dead bus: answered in ${Math.round(result.answeredMs)} ms`);
  });
});

test.describe('a download the page drops unclosed', () => {
  for (const mode of ['transfer', 'fallback'] as const) {
    test(`fails as aborted, visibly, and the service worker lets it go (${mode})`, rowsOf('dropped-unclosed'), async ({ driver }) => {
      await driver.open();
      const name = `dropped-${mode}.bin`;
      const available = await driver.evaluate(async ({ name, mode }) => {
        const forced = await window.sluice.Sluice.register({ mode }).catch(() => null);
        if (!forced) return false;
        window.sluiceTest.current = forced;
        // Only the outcome is kept: the download, its writable and its writer go out of reach.
        const w = window as unknown as { droppedOutcome: Promise<string> };
        // (In an object: an async function's returned promise would be awaited here.)
        ({ outcome: w.droppedOutcome } = await (async () => {
          const dl = forced.createDownload(name, { size: 8 * 1048576 });
          const writer = dl.writable.getWriter();
          await writer.write(window.sluiceTest.bytes(0, 1048576));
          writer.releaseLock();
          return { outcome: dl.done.then((n: number) => `done ${n}`, (e: { code: string }) => e.code) };
        })());
        return true;
      }, { name, mode });
      if (!available) notApplicable(`no ${mode} path in this engine`);
      const start = Date.now();
      let outcome: string | null = null;
      let how = '';
      while (outcome === null && Date.now() - start < 60_000) {
        how = await driver.collectGarbage();
        outcome = await driver.evaluate(() => {
          const w = window as unknown as { droppedOutcome: Promise<string> };
          return Promise.race([w.droppedOutcome, new Promise<null>((r) => setTimeout(() => r(null), 500))]);
        });
      }
      expect(outcome, `done, ${Math.round((Date.now() - start) / 1000)} s after dropping it (garbage collected by ${how})`).toBe('aborted');
      const failedAfter = Date.now() - start;
      // The service worker let it go: nothing open there any more.
      let open = -1;
      for (let i = 0; i < 50 && open !== 0; i++) {
        open = (await driver.evaluate(() => window.sluiceTest.stats())).open;
        if (open !== 0) await new Promise((r) => setTimeout(r, 200));
      }
      expect(open, 'downloads the service worker still holds').toBe(0);
      await new Promise((r) => setTimeout(r, 5000));
      const seen = onDisk(driver.downloadDir, name);
      expect(visiblyFailed(seen), `on disk: ${describeOnDisk(seen)}`).toBe(true);
      figure('dropped-unclosed', `${mode}: aborted ${(failedAfter / 1000).toFixed(1)} s after it was dropped (${how}); on disk: ${describeOnDisk(seen)}`);
    });
  }
});

test('done waits for the browser: a download nobody requested is not done, and expires', rowsOf('done-after-request'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    const out: Record<string, string> = {};
    out.transferable = String(window.sluiceTest.streamTransferable());
    for (const mode of window.sluiceTest.streamTransferable() ? ['transfer', 'fallback'] : ['fallback']) {
      const sluice = await window.sluice.Sluice.register({ mode, expireAfterMs: 6000 });
      // Below and above what the transfer path's pipe and the worker's read-ahead hold.
      const sizes = [0, 10, 3 << 20, 6 << 20];
      const downloads = sizes.map((size) => {
        const dl = sluice.createDownload(`not-requested-${size}.bin`, { size, trigger: 'none' });
        const closed = window.sluiceTest.write(dl.writable, size).then(() => 'closed', (e) => `${e.code}`);
        const done = dl.done.then(() => 'resolved', (e) => `${e.code}`);
        return { size, dl, closed, done };
      });
      const later = (ms: number) => new Promise((r) => setTimeout(() => r('pending'), ms));
      await later(2000);
      const before = await Promise.all(downloads.map(({ closed, done }) => Promise.all([Promise.race([closed, later(0)]), Promise.race([done, later(0)])])));
      // Requested: done once every byte was read; not requested: still pending, then expired.
      for (const [i, { size, dl, closed, done }] of downloads.entries()) {
        const [wrote, was] = before[i];
        if (i < 2) {
          const read = await fetch(dl.url).then((r) => r.arrayBuffer()).then((b) => b.byteLength);
          out[`${sluice.mode} ${size} B, requested`] = `done ${was}; read ${read} B; ${await closed}; done ${await done}`;
        } else {
          out[`${sluice.mode} ${size} B, not requested`] = `${wrote}; done ${was}, then ${await done}`;
        }
      }
      sluice.close();
    }
    return out;
  });
  const expected: Record<string, string> = { transferable: result.transferable };
  for (const mode of result.transferable === 'true' ? ['transfer', 'fallback'] : ['fallback']) {
    for (const size of [0, 10]) expected[`${mode} ${size} B, requested`] = `done pending; read ${size} B; closed; done resolved`;
    // The transfer path's pipe takes 6 MiB at once, so the writer closed; the fallback grants
    // nothing before the browser reads.
    for (const size of [3 << 20, 6 << 20]) expected[`${mode} ${size} B, not requested`] = `${mode === 'transfer' ? 'closed' : 'pending'}; done pending, then expired`;
  }
  expect(result).toEqual(expected);
});

for (const mode of PATHS) {
  test(`a requested download whose every byte arrived still completes when its page is closed (${mode})`, rowsOf('done-after-request'), async ({ driver }) => {
    test.setTimeout(120_000);
    // 3 MiB: what the service worker takes in while the reader holds (its read-ahead of 4
    // chunks, or the fallback's window); more would still be in the closed page's pipe.
    const size = 3 * 1048576;
    await driver.open();
    await onPath(driver, mode);
    const first = await driver.currentTab();
    // Tab 1 makes the download; tab 2 requests it and reads its first chunk (so the fallback
    // grants its window), as a download manager that is slower than the page.
    const url = await driver.evaluate(async ({ mode, size }) => {
      const sluice = await window.sluice.Sluice.register({ mode });
      const dl = sluice.createDownload('left-behind.bin', { size, trigger: 'none' });
      (window as any).writing = window.sluiceTest.write(dl.writable, size).then(() => 'closed', (e) => `${e.code}`);
      return dl.url;
    }, { mode, size });
    const second = await driver.newTab();
    await driver.open();
    await driver.evaluate(async (url) => {
      const reader = (await fetch(url)).body!.getReader();
      (window as any).leftBehind = { reader, parts: [(await reader.read()).value] };
    }, url);
    // Tab 1 closes once its writer did: every byte is the service worker's.
    await driver.switchTab(first);
    expect(await driver.evaluate(() => (window as any).writing)).toBe('closed');
    await driver.closeTab(first, second);
    const said = await driver.evaluate(async () => {
      const { reader, parts } = (window as any).leftBehind;
      // Long enough for the service worker to notice the page is gone.
      await new Promise((r) => setTimeout(r, 3000));
      let ending = 'clean end';
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parts.push(value);
        }
      } catch (e) {
        ending = `error: ${e}`;
      }
      const body = new Uint8Array(parts.reduce((n: number, p: Uint8Array) => n + p.length, 0));
      parts.reduce((at: number, p: Uint8Array) => (body.set(p, at), at + p.length), 0);
      return `${ending}, ${body.length} B, first bad byte ${window.sluiceTest.mismatch(body)}`;
    });
    expect(said).toBe(`clean end, ${size} B, first bad byte -1`);
  });
}

test('a download open for 60 s with idle gaps of 15 s is byte-exact, on each path', rowsOf('idle-gaps'), async ({ driver }) => {
  test.setTimeout(300_000);
  await driver.open();
  const PART = 1048576 + 13;
  const PARTS = 5;
  const results = await driver.evaluate(async ({ part, parts }) => {
    const probed = await window.sluice.Sluice.register({});
    const sluices = probed.probe.streamTransferable ? [await window.sluice.Sluice.register({ mode: 'transfer' }), probed] : [probed];
    return Promise.all(sluices.map(async (sluice) => {
      const name = `idle-gaps-${sluice.mode}.bin`;
      const start = performance.now();
      const dl = sluice.createDownload(name, { size: part * parts, trigger: 'iframe' });
      const writer = dl.writable.getWriter();
      for (let i = 0; i < parts; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 15_000));
        await writer.write(window.sluiceTest.bytes(i * part, part));
      }
      await writer.close();
      return { name, mode: sluice.mode, done: await dl.done, seconds: (performance.now() - start) / 1000 };
    }));
  }, { part: PART, parts: PARTS });
  const expected = expectedSha256(PART * PARTS);
  for (const r of results) {
    expect(r.done).toBe(PART * PARTS);
    const file = await waitForFile(driver.downloadDir, r.name, PART * PARTS, 30_000);
    expect(await fileSha256(file), r.mode).toBe(expected);
    unlinkSync(file);
  }
  figure('idle-gaps', results.map((r) => `${r.mode}: ${r.seconds.toFixed(0)} s`).join(', '));
});
