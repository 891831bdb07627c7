// A zip made in a dedicated worker (a module): it adopts the Sluice its page handed off
// (`sluice.handOff()`) and adds entries there (zip.spec.ts); no byte passes the page.
import init, { Sluice } from './sluice.js';

const ready = init();

/** Entry `i`'s bytes: `entry <i> ` over and over, cut at `size` (as zip.spec.ts makes them). */
function content(i, size) {
  return new TextEncoder().encode(`entry ${i} `.repeat(Math.ceil(size / `entry ${i} `.length) + 1).slice(0, size));
}

self.onmessage = async ({ data: { port, name, entries } }) => {
  try {
    await ready;
    const sluice = await Sluice.adopt(port);
    const zip = sluice.createZip(name, { entries: entries.map(({ name, size }) => ({ name, size })) });
    for (const [i, { name, size }] of entries.entries()) await zip.add(name, new Blob([content(i, size)]));
    await zip.close();
    self.postMessage({ done: await zip.done, size: zip.size, mode: zip.mode });
  } catch (e) {
    self.postMessage({ error: `${e.name}: ${e.code ?? ''}: ${e.message}` });
  }
};
