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
self.addEventListener('message', (event) => self.sluice.handleMessage(event));
