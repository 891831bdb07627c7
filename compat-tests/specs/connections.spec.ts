import { test, expect, figure, rowsOf } from '../fixtures';

test('50 register() and close(): the service worker drops every connection it no longer needs', rowsOf('connections'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    const settled = async (want: (n: number) => boolean) => {
      for (let i = 0; i < 100; i++) {
        const { connections } = await window.sluiceTest.stats();
        if (want(connections)) return connections;
        await new Promise((r) => setTimeout(r, 50));
      }
      return (await window.sluiceTest.stats()).connections;
    };
    const base = await window.sluice.Sluice.register({});
    const before = await settled(() => true);
    for (let i = 0; i < 50; i++) (await window.sluice.Sluice.register({})).close();
    const after = await settled((n) => n <= before);
    // A Sluice that is not closed keeps its connection, and a download still works on it.
    const kept = await window.sluice.Sluice.register({});
    const open = await settled((n) => n > before);
    const dl = kept.createDownload('after-50.bin', { size: 4, trigger: 'none' });
    const reading = fetch(dl.url).then((r) => r.arrayBuffer());
    await window.sluiceTest.write(dl.writable, 4);
    const done = await dl.done;
    base.close();
    return { before, after, open, body: (await reading).byteLength, done };
  });
  expect(result.after).toBe(result.before);
  expect(result.open).toBe(result.before + 1);
  expect(result.body).toBe(4);
  expect(result.done).toBe(4);
});

test('1,100 connects that never say hello: at most 1,024 kept, each ended within 15 s, and the page saves again', rowsOf('connections'), async ({ driver }) => {
  test.setTimeout(120_000);
  await driver.open();
  const result = await driver.evaluate(async () => {
    const base = await window.sluice.Sluice.register({});
    const before = (await window.sluiceTest.stats()).connections;
    const registration = (await navigator.serviceWorker.getRegistration('./'))!;
    // Ports whose page end never speaks (kept here, so they are not collected).
    const silent = Array.from({ length: 1100 }, () => new MessageChannel());
    for (const channel of silent) registration.active!.postMessage({ sluice: 'connect' }, [channel.port2]);
    let peak = 0;
    const start = performance.now();
    let now = before;
    for (;;) {
      now = (await window.sluiceTest.stats()).connections;
      peak = Math.max(peak, now);
      if ((now <= before && peak > before) || performance.now() - start > 40_000) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const endedAfter = (performance.now() - start) / 1000;
    const dl = base.createDownload('after-silent.bin', { size: 4, trigger: 'none' });
    const reading = fetch(dl.url).then((r) => r.arrayBuffer());
    await window.sluiceTest.write(dl.writable, 4);
    const done = await dl.done;
    const fresh = await window.sluice.Sluice.register({});
    fresh.close();
    base.close();
    return { before, peak, now, endedAfter, body: (await reading).byteLength, done, silent: silent.length };
  });
  figure('connections', `1,100 silent connects: ${result.peak} kept at most, all ended after ${result.endedAfter.toFixed(1)} s`);
  expect(result.peak, 'connections kept at once').toBeLessThanOrEqual(1024);
  expect(result.peak, 'the silent ones were taken').toBeGreaterThan(result.before);
  expect(result.now, 'connections once the silent ones ended').toBe(result.before);
  expect(result.endedAfter).toBeLessThan(25);
  expect(result.body).toBe(4);
  expect(result.done).toBe(4);
});

const GiB = 1 << 30;

test('one write() of a 1 GiB buffer is byte-exact and never copied whole into wasm', rowsOf('large-write'), async ({ driver }) => {
  test.setTimeout(300_000);
  await driver.open();
  const results = await driver.evaluate(async (size) => {
    // The page's own helpers do the per-byte work (a WebDriver script's sandbox is slow at it).
    const buffer = window.sluiceTest.bytes(0, size);
    const probed = await window.sluice.Sluice.register({});
    const sluices = probed.probe.streamTransferable ? [await window.sluice.Sluice.register({ mode: 'transfer' }), probed] : [probed];
    const out = [];
    for (const sluice of sluices) {
      const start = performance.now();
      const dl = sluice.createDownload('one-write.bin', { size, trigger: 'none' });
      const response = fetch(dl.url);
      const writer = dl.writable.getWriter();
      const writing = writer.write(buffer).then(() => writer.close());
      const { length, firstBad } = await window.sluiceTest.read(await response);
      await writing;
      const done = await dl.done;
      const seconds = (performance.now() - start) / 1000;
      out.push({ mode: sluice.mode, length, firstBad, done, seconds, wasm: window.sluiceWasm.memory.buffer.byteLength });
    }
    return out;
  }, GiB);
  figure('large-write', results.map((r) => `${r.mode}: ${r.seconds.toFixed(1)} s, wasm memory ${(r.wasm / 1048576).toFixed(1)} MiB`).join('; '));
  for (const r of results) {
    expect(r, r.mode).toMatchObject({ length: GiB, firstBad: -1, done: GiB });
    expect(r.wasm, `${r.mode}: the page's wasm memory`).toBeLessThan(64 * 1048576);
  }
});
