// An app's own service worker that embeds Sluice, as the README describes (used by the tests).
importScripts('./sluice-sw.js');
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('fetch', (event) => {
  if (self.sluice.handleFetch(event)) return;
  if (new URL(event.request.url).pathname.endsWith('/app-sw-hello')) {
    event.respondWith(new Response('hello from the app'));
  }
});
self.addEventListener('message', (event) => {
  // The tests' question: what handleFetch and handleMessage say to each wrong type.
  if (event.data && event.data.appTest === 'wrong-types') {
    const values = [42, 'text', {}, [1], null, undefined, true, 10n, Symbol('s'), new ArrayBuffer(8)];
    const outcome = (call) => {
      try {
        call();
        return 'ok';
      } catch (e) {
        return e && e.name === 'SluiceError' ? e.code : `NOT A SluiceError: ${e}`;
      }
    };
    const said = values.flatMap((v) => [outcome(() => self.sluice.handleFetch(v)), outcome(() => self.sluice.handleMessage(v))]);
    return event.ports[0].postMessage(said);
  }
  self.sluice.handleMessage(event);
});
