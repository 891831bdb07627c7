// The worker spec's control: a producer's transferred ReadableStream, answered as it is (as
// StreamSaver.js does), with no Sluice. The page posts this worker a MessagePort per download
// (`{ name }`) and opens the download's URL once this worker said it is ready; the producer (a worker holding the port's
// other end) posts the stream over it; /control/<size>/<name> answers with that stream.
const streams = new Map(); // name -> a promise of the producer's stream

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('message', (event) => {
  const port = event.ports[0];
  streams.set(event.data.name, new Promise((resolve) => (port.onmessage = (e) => resolve(e.data.readable))));
  event.source.postMessage({ ready: event.data.name });
});
self.addEventListener('fetch', (event) => {
  const match = /\/control\/(\d+)\/([^/]+)$/.exec(new URL(event.request.url).pathname);
  const stream = match && streams.get(decodeURIComponent(match[2]));
  if (!stream) return;
  streams.delete(decodeURIComponent(match[2]));
  event.respondWith(stream.then((readable) => new Response(readable, {
    headers: {
      'Content-Type': 'application/octet-stream',
      'Content-Length': match[1],
      'Content-Disposition': `attachment; filename*=UTF-8''${match[2]}`,
    },
  })));
});
