// The benchmark's transport baseline: the page's chunks reach this service worker as
// postMessage()s over a MessageChannel, with a window of 8 chunks granted from the response
// stream's pull(), and nothing else (no Sluice). It answers /bench/messages/<size>/<name>
// with them. The page's side is `viaMessages` in compat-tests/demo/bench.html.
const ports = new Map(); // name -> { promise: the page's port, resolve }

function entry(name) {
  if (!ports.has(name)) {
    let resolve;
    const promise = new Promise((r) => (resolve = r));
    ports.set(name, { promise, resolve });
  }
  return ports.get(name);
}

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('message', (event) => entry(event.data.name).resolve(event.ports[0]));
self.addEventListener('fetch', (event) => {
  const match = /\/bench\/messages\/(\d+)\/([^/]+)$/.exec(new URL(event.request.url).pathname);
  if (!match) return;
  const name = decodeURIComponent(match[2]);
  let port = null;
  let granted = 0; // chunks granted and not yet arrived
  const body = new ReadableStream({
    async start(controller) {
      port = await entry(name).promise;
      ports.delete(name);
      port.onmessage = (e) => {
        if (e.data === 'end') return controller.close();
        granted--;
        controller.enqueue(new Uint8Array(e.data));
      };
    },
    pull(controller) {
      const more = controller.desiredSize - granted;
      if (more > 0) {
        granted += more;
        port.postMessage(more);
      }
    },
  }, { highWaterMark: 8 });
  event.respondWith(new Response(body, {
    headers: {
      'Content-Type': 'application/octet-stream',
      'Content-Length': match[1],
      'Content-Disposition': `attachment; filename*=UTF-8''${match[2]}`,
    },
  }));
});
