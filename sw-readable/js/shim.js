
// ---- Sluice service-worker shim (appended to wasm-bindgen's output by `cargo xtask build`) ----
// Browsers only honour `fetch`/`message` listeners added while the script first runs, and the
// wasm loads asynchronously, so this shim adds them now and hands every event to Rust once the
// wasm is ready. Standalone (registered as sluice-sw.js) it also takes control at once, and a
// new version takes over once the old one has no download running.
// Inside an app's own service worker: `importScripts('sluice-sw.js')` (set `self.sluiceWasmUrl`
// first if the wasm is not beside the service worker script), then call
// `self.sluice.handleFetch(event)` / `self.sluice.handleMessage(event)` from your listeners;
// both are safe to call for an event this shim already handled.
// Only in a service worker: a page's or a worker's sluice.js runs this file too, for the glue.
(() => {
  if (typeof ServiceWorkerGlobalScope !== 'function' || !(self instanceof ServiceWorkerGlobalScope)) return;
  const wasmUrl = self.sluiceWasmUrl || new URL('sluice_bg.wasm', self.location.href).href;
  // A missing or mismatched wasm is named here (and so in the page's register(), which sees
  // this worker fail to install).
  const wasm = fetch(wasmUrl).then((r) => {
    if (r.ok) return r;
    throw new Error(`HTTP ${r.status}`);
  });
  const ready = sluice_sw_wasm({ module_or_path: wasm }).catch((e) => {
    throw new Error(`Sluice: ${wasmUrl} did not start (${e.message || e}): copy sluice-sw.js and sluice_bg.wasm from one package`);
  });
  let started = false;
  ready.then(() => { started = true; });
  // Exactly the shape of a download URL (core's DownloadUrl): <scope>sluice/<32 hex>/<name>,
  // under this worker's own scope and origin, no query, no fragment; or the self-test's
  // <scope>sluice/probe.
  const isDownloadUrl = (href) => {
    const prefix = self.registration.scope + 'sluice/';
    return href.startsWith(prefix) && /^([0-9a-f]{32}\/[^/?#]+|probe)$/.test(href.slice(prefix.length));
  };
  const answerFetch = (event) => {
    if (started) return sluice_sw_wasm.handle_fetch(event);
    // Not started yet: only our own download URLs wait for the wasm.
    if (!isDownloadUrl(event.request.url)) return false;
    event.respondWith(ready.then(() => sluice_sw_wasm.respond(event)));
    return true;
  };
  // A page's question gets an answer even when the wasm did not start: why, at once.
  const answerMessage = (event) => {
    event.waitUntil(ready.then(() => sluice_sw_wasm.handle_message(event), (e) => {
      if (typeof event.data?.sluice === 'string' && event.ports[0]) event.ports[0].postMessage({ sluiceServiceWorkerError: e.message });
    }));
    return true;
  };
  // Each event is answered once, whether by these listeners or by the app's call; the app's
  // call with anything but its listener's event is refused before it reaches the wasm.
  const once = (type, answer) => {
    const answered = new WeakMap();
    return (event) => {
      if (!(event instanceof type)) {
        const e = new Error(`pass the ${type.name} your listener got, not ${event === null ? 'null' : typeof event}`);
        throw Object.assign(e, { name: 'SluiceError', code: 'invalid_argument' });
      }
      if (!answered.has(event)) answered.set(event, answer(event));
      return answered.get(event);
    };
  };
  const handleFetch = once(FetchEvent, answerFetch);
  const handleMessage = once(ExtendableMessageEvent, answerMessage);
  // `ready`: for an app's own install listener (`event.waitUntil(self.sluice.ready)`), so a
  // broken wasm fails the install and the page's register() at once.
  self.sluice = { handleFetch, handleMessage, ready };
  // Errors in the service worker are not silent: its pages get `{ sluiceServiceWorkerError }`.
  const report = (error) => self.clients.matchAll({ includeUncontrolled: true })
    .then((clients) => clients.forEach((c) => c.postMessage({ sluiceServiceWorkerError: String(error) })));
  self.addEventListener('error', (event) => report(event.message || event.error));
  self.addEventListener('unhandledrejection', (event) => report(event.reason));
  self.addEventListener('fetch', handleFetch);
  self.addEventListener('message', handleMessage);
  if (/\/sluice-sw\.js$/.test(self.location.pathname)) {
    // A new version waits until the active one has no download running (Rust decides).
    self.addEventListener('install', (event) => event.waitUntil(ready.then(() => sluice_sw_wasm.handle_install())));
    self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
  }
})();
