import { test, expect, figure, rowsOf } from '../fixtures';

test('four downloads at once, different sizes, all byte-exact', rowsOf('concurrent'), async ({ driver }) => {
  await driver.open();
  const results = await driver.evaluate(async () => {
    const sluice = await window.sluice.Sluice.register({});
    const sizes = [1048576 + 3, 3 * 1048576, 5 * 1048576 + 11, 200 * 1024];
    return Promise.all(sizes.map(async (size, i) => {
      const dl = sluice.createDownload(`parallel-${i}.bin`, { size, trigger: 'none' });
      const writing = window.sluiceTest.write(dl.writable, size, 300000 + i);
      const body = await window.sluiceTest.read(await fetch(dl.url));
      await writing;
      return { size, body, done: await dl.done };
    }));
  });
  for (const r of results) {
    expect(r.body).toEqual({ length: r.size, firstBad: -1 });
    expect(r.done).toBe(r.size);
  }
});

test('1,000,000 writes of 100 B finish and are byte-exact', rowsOf('small-writes'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    const sluice = await window.sluice.Sluice.register({});
    const writes = 1_000_000;
    const size = writes * 100;
    const dl = sluice.createDownload('tiny-writes.bin', { size, trigger: 'none' });
    const all = window.sluiceTest.bytes(0, size);
    const start = performance.now();
    const writing = (async () => {
      const writer = dl.writable.getWriter();
      for (let i = 0; i < writes; i++) await writer.write(all.subarray(i * 100, i * 100 + 100));
      await writer.close();
    })();
    const body = await window.sluiceTest.read(await fetch(dl.url));
    await writing;
    await dl.done;
    return { body, seconds: (performance.now() - start) / 1000, mode: sluice.mode };
  });
  expect(result.body).toEqual({ length: 100_000_000, firstBad: -1 });
  figure('small-writes', `${result.seconds.toFixed(1)} s (${result.mode})`);
});

test('tiny writes go out in large chunks from a producer that never yields, and after minChunk from a slow one', rowsOf('small-writes'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    const sluice = await window.sluice.Sluice.register({});
    const save = async (name: string, writes: number, each: number, pause: number) => {
      const size = writes * each;
      const seen = { bytes: 0, sizes: [] as number[] };
      const dl = sluice.createDownload(name, { size, trigger: 'none', onProgress: (p: { bytes: number }) => { seen.sizes.push(p.bytes - seen.bytes); seen.bytes = p.bytes; } });
      const all = window.sluiceTest.bytes(0, size);
      const writing = (async () => {
        const writer = dl.writable.getWriter();
        for (let i = 0; i < writes; i++) {
          await writer.write(all.subarray(i * each, (i + 1) * each));
          if (pause) await new Promise((r) => setTimeout(r, pause));
        }
        const beforeClose = seen.bytes;
        await writer.close();
        return beforeClose;
      })();
      const body = await window.sluiceTest.read(await fetch(dl.url));
      const beforeClose = await writing;
      return { body, done: await dl.done, chunks: seen.sizes, beforeClose };
    };
    // 30 MB of 100 B writes with no yield; 192 KiB of 4 KiB writes, 20 ms apart (200 KB/s).
    return { tight: await save('tight.bin', 300_000, 100, 0), slow: await save('slow.bin', 48, 4096, 20) };
  });
  expect(result.tight.body).toEqual({ length: 30_000_000, firstBad: -1 });
  expect(result.tight.done).toBe(30_000_000);
  // Each chunk is a message (WebKit pays per message): about 50 ms of this producer's bytes
  // (over 10 MB/s: 1 MiB), not 64 KiB while credit lasts (before: the first 33 chunks).
  const small = result.tight.chunks.filter((n: number) => n < 128 * 1024);
  expect(small.length, `chunks below 128 KiB (of ${result.tight.chunks.length})`).toBeLessThanOrEqual(3);
  expect(result.slow.body).toEqual({ length: 48 * 4096, firstBad: -1 });
  // The slow producer's bytes left 64 KiB at a time (its rate makes a chunk's worth less),
  // not at its close.
  expect(result.slow.beforeClose, 'bytes sent before the close').toBeGreaterThanOrEqual(2 * 65536);
});

test('writes of every size into a slow reader, on both paths, are byte-exact', rowsOf('mixed-writes'), async ({ driver }) => {
  await driver.open();
  const results = await driver.evaluate(async () => {
    // Small chunk limits, so that gathering, gathering while a flush runs, a write that finds
    // no room, and a write larger than a chunk all happen many times.
    const min = 1000, max = 5000;
    const edges = [1, min - 1, min, min + 1, max - 1, max, max + 1, 2 * max + 7, 65536];
    let seed = 7;
    const random = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
    const sizes: number[] = [];
    for (let i = 0; i < 3000; i++) sizes.push(random(4) === 0 ? edges[random(edges.length)] : 1 + random(random(2) ? 300 : 4000));
    const size = sizes.reduce((a, b) => a + b, 0);
    const out = [];
    for (const mode of window.sluiceTest.streamTransferable() ? ['transfer', 'fallback'] : ['fallback']) {
      const sluice = await window.sluice.Sluice.register({ mode, minChunk: min, maxChunk: max, windowChunks: 2, windowBytes: 2 * max });
      const dl = sluice.createDownload(`mixed-${mode}.bin`, { size, trigger: 'none' });
      const all = window.sluiceTest.bytes(0, size);
      const writing = (async () => {
        const writer = dl.writable.getWriter();
        let at = 0;
        for (const [i, n] of sizes.entries()) {
          // Some writes are not awaited: the stream queues them behind the one that runs.
          const written = writer.write(all.slice(at, at + n));
          if (i % 3 !== 0) await written;
          at += n;
        }
        await writer.close();
      })();
      // A slow reader: the service worker's stream, and so every flush, waits now and then.
      const reader = (await fetch(dl.url)).body!.getReader();
      let length = 0, firstBad = -1, reads = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const bad = window.sluiceTest.mismatch(value, length);
        if (bad >= 0 && firstBad < 0) firstBad = length + bad;
        length += value.length;
        if (++reads % 8 === 0) await new Promise((r) => setTimeout(r, 5));
      }
      await writing;
      out.push({ mode: sluice.mode, size, length, firstBad, done: await dl.done });
      sluice.close();
    }
    return out;
  });
  expect(results.map((r) => r.mode)).toContain('fallback');
  for (const r of results) {
    expect({ length: r.length, firstBad: r.firstBad, done: r.done }, r.mode).toEqual({ length: r.size, firstBad: -1, done: r.size });
  }
});
