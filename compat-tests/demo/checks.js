// What works in this browser, checked live in the page: the demo page shows these checks, and the
// end-to-end tests (compat-tests/specs, through test.html) use the same helpers and probes.

/** Byte `p` of a test file (compat-tests/data.ts computes the same in Node). */
export const byteAt = (p) => ((Math.imul(p, 2654435761) >>> 24) ^ Math.floor(p / 1048576)) & 255;

/** Bytes [offset, offset + length) of a test file. */
export function bytes(offset, length) {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = byteAt(offset + i);
  return out;
}

/** Index of the first byte of `body` that is not the test file's, or -1. */
export function mismatch(body, offset = 0) {
  for (let i = 0; i < body.length; i++) if (body[i] !== byteAt(offset + i)) return i;
  return -1;
}

/** Writes `size` test bytes into `writable` in chunks of `chunk` bytes, then closes it. */
export async function write(writable, size, chunk = 1 << 20) {
  const writer = writable.getWriter();
  for (let offset = 0; offset < size; offset += chunk) {
    await writer.write(bytes(offset, Math.min(chunk, size - offset)));
  }
  await writer.close();
}

/** Reads a whole response body; checks it against the test file as it goes. */
export async function read(response) {
  const reader = response.body.getReader();
  let length = 0, firstBad = -1;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { length, firstBad };
    const bad = mismatch(value, length);
    if (bad >= 0 && firstBad < 0) firstBad = length + bad;
    length += value.length;
  }
}

/** The ground truth Sluice's probe must match: can a ReadableStream be transferred? */
export function streamTransferable() {
  try {
    const stream = new ReadableStream();
    new MessageChannel().port1.postMessage(stream, [stream]);
    return true;
  } catch {
    return false;
  }
}

const MiB = 1048576;
const within = (ms, promise) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms))]);

/** A download read back through `fetch(dl.url)`: its status, headers and byte check. */
async function roundTrip(sluice, name, size) {
  const dl = sluice.createDownload(name, { size, trigger: 'none' });
  const writing = write(dl.writable, size, 65536 + 17);
  const response = await fetch(dl.url);
  const body = await read(response);
  await writing;
  return { response, body, done: await dl.done, exact: body.length === size && body.firstBad < 0 };
}

/**
 * Runs the checks one by one and calls `report({ check, result, detail })` as each ends;
 * `result` is "yes", "no" or "n.a.". `Sluice` is the class from sluice.js.
 */
export async function runChecks(Sluice, report) {
  const check = async (name, run) => {
    try {
      const [result, detail] = await within(30_000, run());
      report({ check: name, result, detail });
    } catch (e) {
      report({ check: name, result: 'no', detail: String(e && e.message ? e.message : e) });
    }
  };
  let probed;
  await check('Service worker registers and answers the handshake', async () => {
    const began = performance.now();
    probed = await Sluice.register({ serviceWorker: './sluice-sw.js', scope: './' });
    return ['yes', `ready in ${Math.round(performance.now() - began)} ms`];
  });
  if (!probed) return;
  await check('Probe picks the path this browser supports', async () => {
    const transferable = probed.probe.streamTransferable;
    if (transferable !== streamTransferable()) return ['no', 'the probe disagrees with a direct check'];
    return ['yes', `${transferable ? 'streams transferable' : 'streams not transferable'}: ${probed.mode} path`];
  });
  await check('Transfer path: 4 MiB byte-exact', async () => {
    if (!probed.probe.streamTransferable) return ['n.a.', 'streams are not transferable here'];
    const { exact } = await roundTrip(await Sluice.register({ mode: 'transfer' }), 'check-transfer.bin', 4 * MiB + 3);
    return [exact ? 'yes' : 'no', exact ? '' : 'bytes differ'];
  });
  const fallback = await Sluice.register({ mode: 'fallback' }).catch(() => null);
  await check('Fallback path: 4 MiB byte-exact', async () => {
    const { exact } = await roundTrip(fallback, 'check-fallback.bin', 4 * MiB + 5);
    return [exact ? 'yes' : 'no', exact ? '' : 'bytes differ'];
  });
  await check('Unicode filename and Content-Length reach the browser', async () => {
    const { response } = await roundTrip(probed, 'été 日本 🚀.bin', 1000);
    const length = response.headers.get('content-length');
    const disposition = response.headers.get('content-disposition') ?? '';
    const ok = length === '1000' && disposition.includes("filename*=UTF-8''%C3%A9t%C3%A9%20%E6%97%A5%E6%9C%AC%20%F0%9F%9A%80.bin");
    return [ok ? 'yes' : 'no', `Content-Length: ${length}`];
  });
  await check('Cancel by the consumer reaches the writer', async () => {
    const dl = probed.createDownload('check-cancel.bin', { trigger: 'none' });
    const writer = dl.writable.getWriter();
    const writing = (async () => {
      for (let i = 0; ; i++) await writer.write(bytes(i * 65536, 65536));
    })().catch((e) => e);
    const reader = (await fetch(dl.url)).body.getReader();
    await reader.read();
    await reader.cancel('stop');
    const e = await writing;
    return [e.code === 'cancelled' ? 'yes' : 'no', e.message];
  });
  await check('Abort by the writer fails the download', async () => {
    const dl = probed.createDownload('check-abort.bin', { size: 10 * MiB, trigger: 'none' });
    void dl.writable.getWriter().write(bytes(0, MiB)).catch(() => {});
    const reader = (await fetch(dl.url)).body.getReader();
    await reader.read();
    dl.abort('demo abort');
    const ending = await (async () => {
      for (;;) if ((await reader.read()).done) return 'the body ended cleanly';
    })().catch(() => 'the body errored');
    return [ending === 'the body errored' ? 'yes' : 'no', ending];
  });
  await check('Four downloads at once', async () => {
    const sizes = [MiB + 3, 3 * MiB, 2 * MiB + 11, 200 * 1024];
    const all = await Promise.all(sizes.map((size, i) => roundTrip(probed, `check-parallel-${i}.bin`, size)));
    return [all.every((r) => r.exact) ? 'yes' : 'no', `${(sizes.reduce((a, b) => a + b) / MiB).toFixed(1)} MiB in total`];
  });
}
