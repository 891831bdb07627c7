// A user's app: Sluice's page module and its StreamSaver drop-in, from the npm package.
import init, { Sluice } from 'sluice';
import streamSaver from 'sluice/streamsaver';

const byteAt = (p) => ((Math.imul(p, 2654435761) >>> 24) ^ Math.floor(p / 1048576)) & 255;
const chunk = (offset, length) => Uint8Array.from({ length }, (_, i) => byteAt(offset + i));

async function write(writable, size) {
  const writer = writable.getWriter();
  for (let offset = 0; offset < size; offset += 1048576) await writer.write(chunk(offset, Math.min(1048576, size - offset)));
  await writer.close();
}

window.app = {
  /** Saves `size` bytes of the test file as `name` through Sluice's API. */
  async save(name, size) {
    // `?one-wasm`: the README's one-wasm set-up for Vite (the copy the service worker loads).
    const oneWasm = new URLSearchParams(location.search).has('one-wasm');
    await init(oneWasm ? { module_or_path: new URL('sluice_bg.wasm', document.baseURI) } : undefined);
    const sluice = await Sluice.register({ serviceWorker: './sluice-sw.js' });
    const dl = sluice.createDownload(name, { size });
    await write(dl.writable, size);
    return { mode: sluice.mode, done: await dl.done };
  },
  /** The same through the StreamSaver drop-in. */
  async saveWithDropIn(name, size) {
    await write(streamSaver.createWriteStream(name, { size }), size);
  },
};
document.getElementById('status').textContent = 'ready';
