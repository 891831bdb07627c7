import { test, expect, figure, rowsOf } from '../fixtures';

// Garbage posted to the real sluice-sw.js, on a bus of its own and to the worker itself, while
// two real downloads run: they stay byte-exact, each rejected frame that can be answered gets a
// typed error, the worker never fails (no `sluiceServiceWorkerError`), and a fresh register()
// works afterwards.
test('garbage on the bus and to the worker loses nothing and gets typed errors', rowsOf('hostile-input'), async ({ driver }) => {
  test.setTimeout(180_000);
  await driver.open();
  const result = await driver.evaluate(async () => {
    const workerErrors: string[] = [];
    navigator.serviceWorker.addEventListener('message', (e) => {
      if (e.data && e.data.sluiceServiceWorkerError) workerErrors.push(String(e.data.sluiceServiceWorkerError));
    });
    navigator.serviceWorker.startMessages();
    const wire = Number(/wire (\d+)/.exec(window.sluice.version())![1]);
    const probed = await window.sluice.Sluice.register({ mode: window.sluiceTest.streamTransferable() ? 'transfer' : 'fallback' });
    const fallback = await window.sluice.Sluice.register({ mode: 'fallback' });
    const SIZE = 24 * 1048576 + 7;
    const PART = 512 * 1024;
    // Two real downloads, slow enough to be in flight the whole time.
    const progress = [0, 0];
    const real = [probed, fallback].map((sluice, i) => {
      const dl = sluice.createDownload(`real-${i}.bin`, { size: SIZE, trigger: 'none' });
      const read = fetch(dl.url).then(async (response) => {
        const reader = response.body!.getReader();
        let length = 0;
        let firstBad = -1;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return { length, firstBad };
          const bad = window.sluiceTest.mismatch(value, length);
          if (bad >= 0 && firstBad < 0) firstBad = length + bad;
          length += value.length;
          progress[i] = length;
        }
      });
      const written = (async () => {
        const writer = dl.writable.getWriter();
        for (let offset = 0; offset < SIZE; offset += PART) {
          await writer.write(window.sluiceTest.bytes(offset, Math.min(PART, SIZE - offset)));
          await new Promise((r) => setTimeout(r, 25));
        }
        await writer.close();
      })();
      return { id: /sluice\/([0-9a-f]{32})\//.exec(dl.url)![1], mode: sluice.mode, read, written, done: dl.done };
    });
    const other = real[1].id;
    const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // Both are flowing (opened and requested) before the garbage starts.
    while (Math.min(...progress) < 1048576) await settle(20);

    // A bus of its own to the real worker.
    const registration = (await navigator.serviceWorker.getRegistration('./'))!;
    const worker = registration.active!;
    const channel = new MessageChannel();
    const replies: { kind?: string; type?: string; code?: string; id?: string; nonce?: number }[] = [];
    channel.port1.onmessage = (e) => {
      const body = e.data && e.data.body;
      replies.push({ kind: body?.kind, type: body?.msg?.type, code: body?.msg?.code, id: body?.msg?.id, nonce: body?.msg?.nonce });
    };
    worker.postMessage({ sluice: 'connect' }, [channel.port2]);
    const post = (frame: unknown, transfer: Transferable[] = []) => {
      try {
        channel.port1.postMessage(frame, transfer);
        return 1;
      } catch {
        return 0; // not clonable: the browser refuses it before Sluice sees it
      }
    };
    post({ v: wire, body: { kind: 'hello' } });
    while (!replies.some((r) => r.kind === 'welcome')) await settle(10);
    const deep = (n: number) => {
      let a: unknown[] = [];
      for (let i = 0; i < n; i++) a = [a];
      return a;
    };
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    const huge = 'x'.repeat(10_000_000);
    const tell = (msg: unknown, extra: object = {}) => ({ v: wire, body: { kind: 'tell', msg }, ...extra });
    const open = (meta: unknown) => tell({ type: 'open', id: 'ab'.repeat(16), meta, path: 'fallback', window_chunks: 2, window_bytes: 65536, expire_after_ms: 60000 });
    // Each of these is malformed: a typed `malformed` error comes back for each.
    const malformed = [
      { v: wire, body: 'tell' }, { v: wire, body: { kind: 'nope' } }, { v: wire, body: { kind: 'tell' } },
      tell({ type: 'chunk', id: other, seq: -1, len: 4 }),
      tell({ type: 'chunk', id: other, seq: 2 ** 53 + 2, len: 4 }),
      tell({ type: 'close', id: 'not hex', total: 1 }),
      tell({ type: 'ping', nonce: '1' }),
      tell({ type: 'ping', nonce: 1e300 }),
      tell({ type: 'ping', nonce: deep(10_000) }),
      tell({ type: 'ping', nonce: 1, junk: deep(10_000) }),
      { v: wire, body: deep(10_000) },
      tell(cyclic),
      { v: wire, body: { kind: 'request', req: { slot: -1, generation: 2 ** 40 }, msg: { type: 'ping', nonce: 1 } } },
      open({ name: huge }),
      open({ name: 'a.bin', size: -5 }),
      open({ name: 'a.bin', size: 2 ** 60 }),
      open({ name: 'a.bin', content_type: huge }),
      tell({ type: 'abort', id: other, reason: huge }),
    ];
    // One at a time, each awaited: which one went unanswered is then known.
    const replied = async (frame: unknown) => {
      const before = replies.length;
      if (!post(frame)) return null;
      for (let i = 0; i < 50 && replies.length === before; i++) await settle(20);
      return replies.slice(before);
    };
    let sent = 0;
    const unanswered: string[] = [];
    for (const [i, frame] of malformed.entries()) {
      const answers = await replied(frame);
      if (answers === null) continue;
      sent += 1;
      if (!answers.some((r) => r.type === 'error' && r.code === 'malformed')) unanswered.push(`#${i}: ${JSON.stringify(answers)}`);
    }
    // Not frames at all, or of another version: dropped (another version fails this bus last).
    for (const value of [{ v: wire }, null, undefined, 0, -1, 2 ** 53 + 2, true, 'hello', huge, [], {}, new ArrayBuffer(8), deep(10_000), cyclic]) post(value);
    // Well-formed, but for another connection's download: `no_such_actor`, and the download
    // is untouched.
    const foreign = [
      tell({ type: 'chunk', id: other, seq: 0, len: 4 }, { data: 'not a buffer' }),
      tell({ type: 'chunk', id: other, seq: 0, len: 4 }, { data: new ArrayBuffer(4) }),
      tell({ type: 'close', id: other, total: 1 }),
      tell({ type: 'abort', id: other, reason: 'hostile' }),
    ];
    for (const frame of foreign) post(frame);
    // A flood: 100,000 pings (a mailbox is bounded: some may be refused, none may break it).
    const FLOOD = 100_000;
    const floodStart = performance.now();
    for (let i = 0; i < FLOOD; i++) post({ v: wire, body: { kind: 'request', req: { slot: i % 1000, generation: i }, msg: { type: 'ping', nonce: i } } });
    // Then one more ping, told apart by its nonce: answered once the worker got through.
    post({ v: wire, body: { kind: 'request', req: { slot: 0, generation: 0 }, msg: { type: 'ping', nonce: FLOOD } } });
    while (!replies.some((r) => r.nonce === FLOOD) && performance.now() - floodStart < 60_000) await settle(50);
    const floodMs = Math.round(performance.now() - floodStart);
    // After goodbye, frames for a closed connection change nothing.
    post(tell({ type: 'bye' }));
    post(tell({ type: 'abort', id: other, reason: 'after bye' }));
    post(open({ name: 'after-bye.bin' }));

    // Garbage posted to the worker itself, with and without a port.
    const direct = [null, 1, 'connect', huge, deep(10_000), cyclic, { sluice: 'connect' }, { sluice: deep(100) }, { sluice: 'stats' },
      { sluice: 'instance', logLevel: huge }, { sluice: 'nope' }, { sluiceInstance: 'x' }];
    for (const value of direct) {
      try { worker.postMessage(value); } catch { /* not clonable */ }
      const port = new MessageChannel();
      try { worker.postMessage(value, [port.port2]); } catch { /* not clonable */ }
    }

    const downloads = await Promise.all(real.map(async (r) => {
      const [body] = await Promise.all([r.read, r.written]);
      return { mode: r.mode, body, done: await r.done.then((n) => n, (e) => `${e.code}: ${e.message}`) };
    }));
    await settle(1000);
    // The worker still answers: a fresh Sluice and a download on it.
    const fresh = await window.sluice.Sluice.register({});
    const dl = fresh.createDownload('after-garbage.bin', { size: 1048576, trigger: 'none' });
    const reading = fetch(dl.url).then((r) => window.sluiceTest.read(r));
    await window.sluiceTest.write(dl.writable, 1048576);
    const after = await reading;
    const count = (f: (r: (typeof replies)[0]) => boolean) => replies.filter(f).length;
    return {
      sent,
      unanswered,
      noSuchActor: count((r) => r.type === 'error' && r.code === 'no_such_actor' && r.id === other),
      pongs: count((r) => r.type === 'pong'),
      floodMs,
      welcome: count((r) => r.kind === 'welcome'),
      replies: replies.length,
      downloads,
      after,
      afterDone: await dl.done.catch((e) => `${e.code}: ${e.message}`),
      workerErrors,
      size: SIZE,
    };
  });
  for (const download of result.downloads) {
    expect(download.body, `the ${download.mode} download`).toEqual({ length: result.size, firstBad: -1 });
    expect(download.done).toBe(result.size);
  }
  expect(result.workerErrors).toEqual([]);
  expect(result.welcome).toBe(1);
  expect(result.unanswered, 'malformed frames without a malformed reply').toEqual([]);
  expect(result.noSuchActor).toBeGreaterThanOrEqual(3);
  expect(result.pongs).toBeGreaterThan(0);
  expect(result.after).toEqual({ length: 1048576, firstBad: -1 });
  expect(result.afterDone).toBe(1048576);
  figure('hostile-input', `${result.sent} malformed frames, each answered malformed; ${result.noSuchActor} no_such_actor; ${result.pongs} of 100,001 flood pings answered, the last after ${(result.floodMs / 1000).toFixed(1)} s; downloads byte-exact (${result.downloads.map((d) => d.mode).join(', ')})`);
});

// Issue 27, defect 6 (a response that fails after the claim leaves its download open): the one
// input that could make the response fail, metadata that cannot become headers (a content type
// that is no `type/subtype`), sent straight over the bus, is refused at the open with
// `invalid_argument`, so its URL is never used up by a response that cannot be built.
test('an open whose headers cannot be built is refused, and leaves nothing open', rowsOf('hostile-input'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    const wire = Number(/wire (\d+)/.exec(window.sluice.version())![1]);
    await window.sluice.Sluice.register({ mode: 'fallback' });
    const registration = (await navigator.serviceWorker.getRegistration('./'))!;
    const channel = new MessageChannel();
    const replies: { kind?: string; type?: string; code?: string }[] = [];
    channel.port1.onmessage = (e) => {
      const body = e.data && e.data.body;
      replies.push({ kind: body?.kind, type: body?.msg?.type, code: body?.msg?.code });
    };
    registration.active!.postMessage({ sluice: 'connect' }, [channel.port2]);
    const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
    channel.port1.postMessage({ v: wire, body: { kind: 'hello' } });
    while (!replies.some((r) => r.kind === 'welcome')) await settle(10);
    const id = 'cd'.repeat(16);
    const msg = { type: 'open', id, meta: { name: 'bad-type.bin', content_type: 'not a type' }, path: 'fallback', window_chunks: 2, window_bytes: 65536, expire_after_ms: 60000 };
    channel.port1.postMessage({ v: wire, body: { kind: 'request', req: { slot: 0, generation: 1 }, msg } });
    for (let i = 0; i < 100 && !replies.some((r) => r.kind === 'reply'); i++) await settle(20);
    const reply = replies.find((r) => r.kind === 'reply');
    const status = (await fetch(`${registration.scope}sluice/${id}/bad-type.bin`)).status;
    return { reply, status, open: (await window.sluiceTest.stats()).open };
  }, null);
  expect(result.reply).toEqual({ kind: 'reply', type: 'error', code: 'invalid_argument' });
  expect(result.status).toBe(404);
  expect(result.open).toBe(0);
});
