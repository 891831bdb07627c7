import { test, expect, inPageRealm, notApplicable, rowsOf } from '../fixtures';

// Caller mistakes are typed, immediate and lose nothing: the Sluice keeps working after them.
test('caller mistakes get their own codes, before anything is sent', rowsOf('caller-errors'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    const code = (f: () => unknown) => {
      try {
        f();
        return 'no error';
      } catch (e) {
        return (e as { code?: string }).code ?? String(e);
      }
    };
    const sluice = await window.sluice.Sluice.register({});
    const registerMode = await window.sluice.Sluice.register({ mode: 'fast' as 'auto' }).then(() => 'no error', (e) => e.code);
    const registerWith = (options: unknown) =>
      window.sluice.Sluice.register(options as object).then(() => 'no error', (e) => e.code);
    const registerOptions = [
      await registerWith('fast'),
      await registerWith({ windowChunks: 'eight' }),
      await registerWith({ minChunk: -1 }),
      await registerWith({ maxChunk: 2 ** 32 }),
      await registerWith({ timeoutMs: 1.5 }),
      await registerWith({ timeoutMs: 0 }),
      await registerWith({ keepaliveMs: 0 }),
      await registerWith({ logLevel: 3 }),
      await registerWith({ somethingElse: true, serviceWorker: undefined }),
    ];
    const out = {
      registerMode,
      registerOptions,
      longName: code(() => sluice.createDownload('x'.repeat(5000))),
      longType: code(() => sluice.createDownload('a.txt', { type: 'text/' + 'x'.repeat(5000) })),
      badType: code(() => sluice.createDownload('a.txt', { type: 'not a type' })),
      badSize: code(() => sluice.createDownload('a.txt', { size: -1 })),
      fractionalSize: code(() => sluice.createDownload('a.txt', { size: 1.5 })),
      hugeSize: code(() => sluice.createDownload('a.txt', { size: 2 ** 53 })),
      badTrigger: code(() => sluice.createDownload('a.txt', { trigger: 'popup' as 'none' })),
      badChunk: '',
      after: 0,
    };
    const dl = sluice.createDownload('after.bin', { size: 3, trigger: 'none' });
    const writer = dl.writable.getWriter();
    out.badChunk = await writer.write('text' as unknown as Uint8Array).then(() => 'no error', (e) => e.code);
    const again = sluice.createDownload('after.bin', { size: 3, trigger: 'none' });
    const response = fetch(again.url);
    await window.sluiceTest.write(again.writable, 3);
    out.after = (await (await response).arrayBuffer()).byteLength;
    return out;
  });
  expect(result).toEqual({
    registerMode: 'invalid_argument',
    // A known option of the wrong type or out of range is refused; an unknown one is ignored.
    registerOptions: [...Array(8).fill('invalid_argument'), 'no error'],
    longName: 'too_large',
    longType: 'too_large',
    badType: 'invalid_argument',
    badSize: 'invalid_argument',
    fractionalSize: 'invalid_argument',
    hugeSize: 'invalid_argument',
    badTrigger: 'invalid_argument',
    badChunk: 'invalid_argument',
    after: 3,
  });
});

// Every public entry point, each parameter, each wrong type: a SluiceError with its code, never a
// trap in the wasm (RuntimeError), a TypeError of the glue, or silence; a download after them all
// is byte-exact.
test('every entry point refuses each wrong type with a SluiceError, and Sluice keeps working', rowsOf('caller-errors'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    const detached = new ArrayBuffer(8);
    structuredClone(detached, { transfer: [detached] });
    const huge = 'x'.repeat(10_000_000);
    const values: Record<string, unknown> = {
      number: 42, string: 'text', object: {}, array: [1], null: null, undefined: undefined, boolean: true,
      bigint: 10n, symbol: Symbol('s'), hugeString: huge, detachedBuffer: detached,
    };
    /** The outcome of a call: 'ok', a SluiceError's code, or what else it threw (a bug). */
    const outcome = async (call: () => unknown) => {
      try {
        await call();
        return 'ok';
      } catch (e) {
        const error = e as { name?: string; code?: string; message?: string };
        return error?.name === 'SluiceError' ? error.code! : `NOT A SluiceError: ${String(e)}`;
      }
    };
    const { Sluice } = window.sluice;
    const sluice = await Sluice.register({});
    const out: Record<string, string> = {};
    const kinds = (except: string[]) => Object.keys(values).filter((k) => !except.includes(k));
    // register's options, and each option with each type it does not take.
    for (const k of Object.keys(values)) out[`register(${k})`] = await outcome(() => Sluice.register(values[k] as object));
    const optionTypes: Record<string, string[]> = {
      serviceWorker: ['string', 'hugeString'], scope: ['string', 'hugeString'], mode: [], logLevel: [],
      picker: ['boolean'], blobLimit: ['number'], windowChunks: ['number'], windowBytes: ['number'],
      minChunk: ['number'], maxChunk: ['number'], timeoutMs: ['number'], keepaliveMs: ['number'], expireAfterMs: ['number'],
    };
    for (const [key, right] of Object.entries(optionTypes)) {
      for (const k of kinds([...right, 'null', 'undefined'])) {
        out[`register({ ${key}: ${k} })`] = await outcome(() => Sluice.register({ [key]: values[k] } as object));
      }
    }
    for (const k of Object.keys(values)) out[`adopt(${k})`] = await outcome(() => Sluice.adopt(values[k] as MessagePort));
    // createDownload and createWriteStream: the name, the options, each option.
    for (const method of ['createDownload', 'createWriteStream'] as const) {
      const create = (name: unknown, options?: unknown) => (sluice[method] as (n: unknown, o?: unknown) => unknown).call(sluice, name, options);
      for (const k of kinds(['string'])) out[`${method}(${k})`] = await outcome(() => create(values[k], { trigger: 'none' }));
      for (const k of kinds(['object', 'null', 'undefined', 'detachedBuffer'])) out[`${method}('a.bin', ${k})`] = await outcome(() => create('a.bin', values[k]));
      const downloadOptions: Record<string, string[]> = { size: ['number'], type: [], trigger: [], onProgress: [] };
      for (const [key, right] of Object.entries(downloadOptions)) {
        for (const k of kinds([...right, 'null', 'undefined'])) {
          out[`${method}('a.bin', { ${key}: ${k} })`] = await outcome(() => create('a.bin', { trigger: 'none', [key]: values[k] }));
        }
      }
    }
    // A write of each thing that is not bytes (each on a download of its own: a bad chunk fails it).
    for (const k of kinds([])) {
      const dl = sluice.createDownload(`chunk-${k}.bin`, { trigger: 'none' });
      out[`write(${k})`] = await outcome(() => dl.writable.getWriter().write(values[k] as Uint8Array));
      out[`write(${k}): done`] = await outcome(() => dl.done);
    }
    // abort takes any reason.
    for (const k of kinds([])) {
      const dl = sluice.createDownload(`abort-${k}.bin`, { trigger: 'none' });
      out[`abort(${k})`] = await outcome(() => dl.abort(values[k]));
      out[`abort(${k}): done`] = await outcome(() => dl.done);
    }
    // After all that, the same Sluice saves byte-exact.
    const after = sluice.createDownload('after.bin', { size: 1_000_003, trigger: 'none' });
    const response = fetch(after.url);
    await window.sluiceTest.write(after.writable, 1_000_003);
    const body = await (await response).arrayBuffer();
    return { out, after: [body.byteLength, window.sluiceTest.mismatch(new Uint8Array(body))] };
  });
  const expected: Record<string, string> = {};
  for (const key of Object.keys(result.out)) {
    expected[key] =
      key.startsWith('abort(') ? (key.endsWith(': done') ? 'aborted' : 'ok')
      : key.startsWith('write(') ? (key.endsWith(': done') ? 'aborted' : 'invalid_argument')
      // No options, or an object (an ArrayBuffer is one; its keys are none of Sluice's).
      : /^register\((null|undefined|object|detachedBuffer)\)$/.test(key) ? 'ok'
      // A string of the right type, over the 4096 bytes a name or a type may have.
      : /^create\w+\(hugeString\)$|{ type: hugeString }/.test(key) ? 'too_large'
      : 'invalid_argument';
  }
  expect(result.out).toEqual(expected);
  expect(result.after).toEqual([1_000_003, -1]);
});

test("chunks made in another realm (an iframe's) are bytes too", rowsOf('caller-errors'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    const frame = document.createElement('iframe');
    document.body.append(frame);
    const other = frame.contentWindow as unknown as typeof globalThis;
    const chunks = [new other.Uint8Array([1, 2, 3]), new other.ArrayBuffer(4), new other.DataView(new other.ArrayBuffer(5))];
    const sluice = await window.sluice.Sluice.register({});
    const dl = sluice.createDownload('realm.bin', { size: 12, trigger: 'none' });
    const response = fetch(dl.url);
    const writer = dl.writable.getWriter();
    for (const chunk of chunks) await writer.write(chunk);
    await writer.close();
    frame.remove();
    return { done: await dl.done, length: (await (await response).arrayBuffer()).byteLength };
  });
  expect(result).toEqual({ done: 12, length: 12 });
});

test('small writes of any kind of view save its bytes, whatever prototype it was given; an object that only claims to be a Uint8Array is refused', rowsOf('caller-errors'), async ({ driver }) => {
  await driver.open();
  // In the page's own realm: Firefox's automation would set the prototypes on its Xrays only.
  const result = await inPageRealm(driver, async () => {
    const frame = document.createElement('iframe');
    document.body.append(frame);
    const other = frame.contentWindow as unknown as typeof globalThis;
    class LikeBuffer extends Uint8Array {}
    const dressed = <T extends object>(view: T, prototype: object) => Object.setPrototypeOf(view, prototype) as T;
    // Each 96 bytes of the test data in another kind of view. The small-write shim takes
    // this realm's Uint8Array, a subclass and another realm's; a wider view that passes
    // `instanceof Uint8Array` (its prototype swapped) must still save its bytes, not its
    // elements, whichever side takes it.
    const data = window.sluiceTest.bytes(0, 8 * 96);
    const part = (i: number) => data.slice(i * 96, (i + 1) * 96);
    const chunks = [
      part(0),
      new LikeBuffer(part(1)),
      new other.Uint8Array(part(2)),
      new Int8Array(part(3).buffer),
      new DataView(part(4).buffer),
      dressed(new Float32Array(part(5).buffer), LikeBuffer.prototype),
      dressed(new Float32Array(part(6).buffer), Uint8Array.prototype),
      dressed(new BigInt64Array(part(7).buffer), Uint8Array.prototype),
    ];
    const sluice = await window.sluice.Sluice.register({});
    const saved = await window.sluiceTest.saveChunks(sluice, 'kinds.bin', data.length, chunks);
    // Its length getter throws: the write fails with Sluice's error, and so does the download.
    const fake = sluice.createDownload('fake.bin', { trigger: 'none' });
    const code = (e: { code?: string }) => e.code ?? String(e);
    const written = await fake.writable.getWriter().write(Object.create(Uint8Array.prototype)).then(() => 'ok', code);
    frame.remove();
    const shim = typeof (window as unknown as { sluiceGatherWrite2?: unknown }).sluiceGatherWrite2;
    return { shim, saved, written, done: await fake.done.then(() => 'ok', code) };
  });
  expect(result).toEqual({ shim: 'function', saved: { done: 768, length: 768, mismatch: -1 }, written: 'invalid_argument', done: 'aborted' });
});

test('what a chunk says of itself (own length, buffer, offset, tag, slice) changes nothing: its bytes are saved', rowsOf('caller-errors'), async ({ driver }) => {
  await driver.open();
  // Views that lie about themselves through own properties (or a prototype and tag they were
  // given), in large writes and in small ones that reach Rust (not Uint8Arrays, which the
  // page's shim stages): Sluice must read what each view is, not what it says.
  const result = await inPageRealm(driver, async () => {
    const sizes = [200_000, 100, 200_000, 100_000, 150_000, 120_000, 96, 64, 100_000, 80];
    const data = window.sluiceTest.bytes(0, sizes.reduce((a, b) => a + b, 0));
    let at = 0;
    const next = () => {
      const size = sizes.shift() as number;
      at += size;
      return data.slice(at - size, at);
    };
    const lie = <T extends object>(view: T, own: Record<PropertyKey, unknown>) => {
      for (const key of Reflect.ownKeys(own)) Object.defineProperty(view, key, { value: own[key as string] });
      return view;
    };
    const small = new Uint8Array(5);
    const lies = { length: 5, byteLength: 5, byteOffset: 3, buffer: small.buffer, slice: () => small, subarray: () => small };
    const dressed = (view: object) => Object.setPrototypeOf(view, Uint8Array.prototype);
    const chunks = [
      lie(next(), lies),
      lie(new Int8Array(next().buffer), lies),
      lie(dressed(new Float32Array(next().buffer)), { ...lies, [Symbol.toStringTag]: 'Uint8Array', length: 200_000 }),
      lie(new DataView(next().buffer), { byteLength: 10, byteOffset: 3, buffer: small.buffer }),
      lie(next().buffer, { byteLength: 7, slice: () => small.buffer }),
      (() => {
        const bytes = next();
        const host = new Uint8Array(bytes.length + 1000);
        host.set(bytes, 1000);
        return lie(host.subarray(1000), { ...lies, byteOffset: 0, buffer: bytes.buffer });
      })(),
      lie(new DataView(next().buffer), { byteLength: 4000, buffer: new ArrayBuffer(4000) }),
      dressed(new DataView(next().buffer)),
      dressed(new DataView(next().buffer)),
      lie(new Uint16Array(next().buffer), { length: 80, byteLength: 1 }),
    ];
    const sluice = await window.sluice.Sluice.register({});
    const saved = await window.sluiceTest.saveChunks(sluice, 'lies.bin', data.length, chunks);
    // Objects that only say they are bytes (a tag, a buffer and lengths of their own) are not.
    const code = (e: { code?: string }) => e.code ?? String(e);
    const refused = [];
    for (const tag of ['Uint8Array', 'ArrayBuffer']) {
      const fake = sluice.createDownload('fake.bin', { trigger: 'none' });
      const says = lie({}, { [Symbol.toStringTag]: tag, buffer: small.buffer, byteLength: 5, length: 5, byteOffset: 0 });
      refused.push(await fake.writable.getWriter().write(says as Uint8Array).then(() => 'ok', code));
    }
    return { ...saved, refused };
  });
  expect(result).toEqual({ done: 870_340, length: 870_340, mismatch: -1, refused: ['invalid_argument', 'invalid_argument'] });
});

test("small writes staged in another realm's buffer are all saved", rowsOf('caller-errors'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    // Where the small-write shim and the glue run in different globals (as in a Firefox
    // sandbox), the staging buffer the shim makes is another realm's Uint8Array: here an
    // iframe's, given to the page's shim by a wrapper installed in the page's own realm.
    const frame = document.createElement('iframe');
    frame.name = 'stagingRealm';
    document.body.append(frame);
    const inPage = (code: string) => {
      const script = document.createElement('script');
      script.textContent = code;
      document.head.append(script);
      script.remove();
    };
    inPage(`window.keptGatherWrite = window.sluiceGatherWrite2;
      window.sluiceGatherWrite2 = (stage, slow, due) => {
        stage.buf = new window.frames.stagingRealm.Uint8Array(stage.max);
        return window.keptGatherWrite(stage, slow, due);
      };`);
    const sluice = await window.sluice.Sluice.register({});
    const writes = 3000; // 300,000 B of 100 B writes: several flushes and a last partial one
    const outcomes = [];
    try {
      for (const size of [writes * 100, undefined]) {
        const dl = sluice.createDownload('staged-elsewhere.bin', { size, trigger: 'none' });
        const body = fetch(dl.url).then((r) => r.arrayBuffer()).then((b) => new Uint8Array(b), (e) => `${e}`);
        const writer = dl.writable.getWriter();
        const closed = (async () => {
          for (let i = 0; i < writes; i++) await writer.write(window.sluiceTest.bytes(i * 100, 100));
          await writer.close();
        })().then(() => 'closed', (e) => `${e.code}: ${e.message}`);
        const done = await dl.done.catch((e) => `${e.code}: ${e.message}`);
        const bytes = await body;
        outcomes.push({ closed: await closed, done, length: bytes.length, mismatch: typeof bytes === 'string' ? bytes : window.sluiceTest.mismatch(bytes) });
      }
    } finally {
      inPage('window.sluiceGatherWrite2 = window.keptGatherWrite;');
      frame.remove();
    }
    return outcomes;
  });
  expect(result).toEqual([
    { closed: 'closed', done: 300_000, length: 300_000, mismatch: -1 },
    { closed: 'closed', done: 300_000, length: 300_000, mismatch: -1 },
  ]);
});

test('a chunk over 4 GiB, or ending past 4 GiB into its buffer, is refused with invalid_argument, not cut short', rowsOf('caller-errors'), async ({ driver }) => {
  await driver.open();
  // In the page's own realm (Firefox's automation reaches the page's arrays through an Xray).
  const said = await inPageRealm(driver, async () => {
    let big: Uint8Array;
    try {
      big = new Uint8Array(2 ** 32 + 16);
    } catch (e) {
      return 'n.a.: ' + e;
    }
    const sluice = await window.sluice.Sluice.register({});
    const said = [];
    // The whole array, then its last 128 KiB (a view that ends past 4 GiB into its buffer;
    // smaller writes are copied by the page's shim).
    for (const chunk of [big, big.subarray(big.length - 131072)]) {
      const dl = sluice.createDownload('over-4-gib.bin', { trigger: 'none' });
      const writer = dl.writable.getWriter();
      const wrote = await writer.write(chunk).then(() => (writer.close(), 'written'), (e) => e.code + ': ' + e.message);
      const done = await dl.done.then(() => 'resolved', (e) => e.code);
      said.push(wrote + ' / done ' + done);
    }
    return said.join(' | ');
  });
  if (said.startsWith('n.a.: RangeError')) notApplicable(`this browser makes no Uint8Array over 4 GiB (${said.slice(6)})`);
  expect(said.split(' | ')).toEqual([
    'invalid_argument: invalid argument: a chunk of 4294967312 bytes is over 4 GiB: write it in parts / done aborted',
    'invalid_argument: invalid argument: a chunk that ends 4294967312 bytes into its ArrayBuffer, past 4 GiB: copy it out first / done aborted',
  ]);
});

test('a call before init() says to call it first, as a SluiceError', rowsOf('caller-errors'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    // Sluice in a realm of its own (a same-origin frame), whose init() has not run.
    const frame = document.createElement('iframe');
    document.body.append(frame);
    const url = new URL('./sluice.js', location.href).href;
    const fresh = (await (frame.contentWindow as unknown as { eval(code: string): Promise<unknown> }).eval(`import(${JSON.stringify(url)})`)) as typeof window.sluice;
    const outcome = (call: () => unknown) =>
      Promise.resolve().then(call).then(() => 'ok', (e) => `${e?.name} ${e?.code}: ${e?.message}`);
    const before = [await outcome(() => fresh.Sluice.register({})), await outcome(() => fresh.version())];
    await fresh.default();
    return { before, after: await outcome(() => fresh.version()) };
  });
  for (const said of result.before) expect(said).toMatch(/^SluiceError invalid_argument: call `await init\(\)`/);
  expect(result.after).toBe('ok');
});

test('a connection holds at most 64 open downloads: the next is refused with too_many_downloads', rowsOf('too-many-downloads'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    const sluice = await window.sluice.Sluice.register({});
    const downloads = Array.from({ length: 65 }, (_, i) => sluice.createDownload(`open-${i}.bin`, { trigger: 'none' }));
    const last = await downloads[64].done.then(() => 'resolved', (e) => e.code);
    const first = downloads[0];
    const reading = fetch(first.url).then((r) => r.arrayBuffer());
    await window.sluiceTest.write(first.writable, 10);
    const body = (await reading).byteLength;
    sluice.close();
    const closed = await downloads[1].done.then(() => 'resolved', (e) => e.code);
    return { last, body, closed };
  });
  expect(result).toEqual({ last: 'too_many_downloads', body: 10, closed: 'closed' });
});

test('abort() called a million times keeps the first reason and holds nothing per call', rowsOf('caller-errors'), async ({ driver }) => {
  await driver.open();
  const result = await driver.evaluate(async () => {
    const sluice = await window.sluice.Sluice.register({});
    const dl = sluice.createDownload('aborted-often.bin', { size: 10, trigger: 'none' });
    const before = window.sluiceWasm.memory.buffer.byteLength;
    const reason = 'first '.repeat(20);
    for (let i = 0; i < 1_000_000; i++) dl.abort(i === 0 ? reason : `later ${i} `.repeat(10));
    const grown = window.sluiceWasm.memory.buffer.byteLength - before;
    const outcome = await dl.done.then(() => 'done', (e: { code: string; message: string }) => `${e.code}: ${e.message}`);
    sluice.close();
    return { grown, outcome };
  });
  expect(result.outcome).toMatch(/^aborted: .*first first/);
  expect(result.grown, "the page's wasm memory grew by (bytes)").toBeLessThan(4 * 1048576);
});
