// A producer in a worker (dedicated or shared, a module): it adopts the Sluice its page handed
// off (`sluice.handOff()`) and writes the test file's bytes (`declared`: the size it declares,
// if not that); no chunk passes the page.
import init, { Sluice } from './sluice.js';
import { bytes } from './checks.js';

const ready = init();

// The bytes this producer writes: MiB `k` is the test file's first MiB with each byte XOR `k`
// (compat-tests/data.ts `blockSha256`), cheap to make, so the producer's own work stays small
// beside Sluice's.
const first = bytes(0, 1 << 20);
function block(k, length) {
  const out = new Uint8Array(first);
  const words = new Uint32Array(out.buffer);
  const mask = (k & 255) * 0x01010101;
  for (let i = 0; i < words.length; i++) words[i] ^= mask;
  return length === out.length ? out : out.slice(0, length);
}

/** Writes `size` bytes of the test file into `writer` at most `rate` bytes a second, then closes. */
async function writeAll(writer, size, rate) {
  const start = performance.now();
  for (let k = 0; k * (1 << 20) < size; k++) {
    await writer.write(block(k, Math.min(1 << 20, size - k * (1 << 20))));
    const due = start + ((k + 1) * (1 << 20) * 1000) / rate;
    if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
  }
  await writer.close();
}

async function produce({ port, name, size, declared = size, mode, rate = Infinity, control, close = false, closeAfterMs }) {
  // The control (compat-tests/demo/control/sw.js): the same bytes into a stream transferred to
  // a service worker that answers with it, no Sluice.
  if (control) {
    const { readable, writable } = new TransformStream();
    control.postMessage({ readable }, [readable]);
    await writeAll(writable.getWriter(), size, rate);
    return { done: size, mode: 'control' };
  }
  await ready;
  const sluice = await Sluice.adopt(port, { mode });
  const start = performance.now();
  const dl = sluice.createDownload(name, { size: declared });
  // `closeAfterMs`: the worker ends its Sluice while the download runs.
  if (closeAfterMs !== undefined) setTimeout(() => sluice.close(), closeAfterMs);
  await writeAll(dl.writable.getWriter(), size, rate);
  const done = await dl.done;
  const reasons = sluice.capabilities.filter((r) => !r.available).map((r) => `${r.mode}: ${r.reason}`);
  // `close`: the worker ends its Sluice (its page then stops serving it).
  if (close) sluice.close();
  return { done, mode: sluice.mode, downloadMode: dl.mode, seconds: (performance.now() - start) / 1000, reasons };
}

const answer = (reply) => (event) =>
  produce(event.data).then(reply, (e) => reply({ error: `${e.name}: ${e.message}`, code: e.code }));
// A dedicated worker's messages, or each port of a shared one.
self.onmessage = answer((result) => self.postMessage(result));
self.onconnect = (event) => {
  const port = event.ports[0];
  port.onmessage = answer((result) => port.postMessage(result));
};
