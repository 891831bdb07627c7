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
