/*! Sluice's StreamSaver.js 2.x drop-in: load this instead of StreamSaver.js (a script tag, or
 * `require`/`import` of `sluice/streamsaver`); `streamSaver.createWriteStream` then saves through
 * Sluice, in every browser, Safari included. A script tag needs sluice.js, sluice-sw.js and
 * sluice_bg.wasm beside this file (the service worker's scope: this folder).
 *
 * The platform forces this shim: StreamSaver's `createWriteStream` returns a stream at once, while
 * Sluice's wasm loads and its service worker registers asynchronously. The stream returned hands
 * each write, the close and an abort to Sluice's writer once it exists, and its answers back:
 * backpressure and errors pass through. `readableStrategy` is accepted and not needed (Sluice's
 * service worker sizes its own stream). Everything else is Sluice's (sluice.js). */
;((definition) => {
  if (typeof module === 'object' && module.exports) module.exports = definition();
  else globalThis.streamSaver = definition();
})(() => {
  'use strict';
  // Where the service worker is: beside this file (a script tag), else in the page's folder
  // (bundled); `streamSaver.sluice` (Sluice.register's options) says otherwise.
  const here = (typeof document === 'object' && document.currentScript && document.currentScript.src) || globalThis.location.href;
  const defaultMitm = 'https://jimmywarting.github.io/StreamSaver.js/mitm.html?version=2.0.0';
  let mitm = defaultMitm;
  let sluice = null;
  // Sluice, registered on first use (loading this file alone registers nothing). The import is
  // relative to this file, in a script tag and in a bundler alike. A registration that failed
  // fails its streams, and the next call tries again.
  const registered = () => {
    if (!sluice) {
      const attempt = import('./sluice.js').then(async (module) => {
        await module.default();
        const options = { serviceWorker: new URL('sluice-sw.js', here).href, ...streamSaver.sluice };
        return module.Sluice.register(options);
      });
      attempt.catch(() => { if (sluice === attempt) sluice = null; });
      sluice = attempt;
    }
    return sluice;
  };

  /** StreamSaver 2.x's createWriteStream(filename, { size, writableStrategy, readableStrategy }). */
  function createWriteStream(filename, options, legacy) {
    // StreamSaver's deprecated forms, as it reads them: (filename, size, strategy) and
    // (filename, strategy, size).
    if (typeof options === 'number') options = { size: options, writableStrategy: legacy };
    else if (options && options.highWaterMark) options = { size: legacy, writableStrategy: options };
    const { size, writableStrategy } = options || {};
    // What StreamSaver could not use either is refused here, as Sluice refuses it (the name is
    // made a string, as StreamSaver does).
    const refuse = (what, value) => {
      const e = new Error(`${what} must be an object, not ${value === null ? 'null' : typeof value}`);
      throw Object.assign(e, { name: 'SluiceError', code: 'invalid_argument' });
    };
    if (options != null && typeof options !== 'object') refuse('options', options);
    if (writableStrategy != null && typeof writableStrategy !== 'object') refuse('writableStrategy', writableStrategy);
    // Sluice's download, once Sluice is registered; writes wait for it.
    const download = registered().then((s) => s.createDownload(String(filename), size === undefined ? {} : { size }));
    const writer = download.then((d) => d.writable.getWriter());
    // Seen by the first write or close; the inner writer's `closed` fails with the outer stream.
    writer.then((w) => w.closed.catch(() => {}), () => {});
    download.then((d) => d.done.catch(() => {}), () => {});
    return new WritableStream({
      write: async (chunk) => (await writer).write(chunk),
      // Resolves once the file is saved: a download the browser refused or cancelled after the
      // last write (Chromium asks before a page's second automatic download) rejects it.
      close: async () => {
        await (await writer).close();
        await (await download).done;
      },
      abort: async (reason) => (await writer).abort(reason),
    }, writableStrategy);
  }

  const streamSaver = {
    createWriteStream,
    /** Sluice.register's options for the drop-in (set before the first createWriteStream). */
    sluice: {},
    WritableStream: globalThis.WritableStream,
    TransformStream: globalThis.TransformStream,
    // Sluice saves in every context: without a service worker it takes its next rung (OPFS, a Blob).
    supported: true,
    version: { full: '2.0.6', major: 2, minor: 0, dot: 6 },
    /** StreamSaver's man-in-the-middle page: Sluice needs none, so a new value is ignored. */
    get mitm() { return mitm; },
    set mitm(url) {
      mitm = url;
      console.info('Sluice (StreamSaver drop-in): streamSaver.mitm is ignored; Sluice serves downloads from its own service worker (sluice-sw.js beside streamsaver.js).');
    },
  };
  return streamSaver;
});
