// The benchmark's ceiling: a service worker that generates the test file itself and answers
// /bench/ceiling/<size>/<name> with it, so no page is involved. Same bytes, same 1 MiB pieces
// as the page producers (compat-tests/demo/checks.js).
const byteAt = (p) => ((Math.imul(p, 2654435761) >>> 24) ^ Math.floor(p / 1048576)) & 255; // as checks.js

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('fetch', (event) => {
  const match = /\/bench\/ceiling\/(\d+)\/([^/]+)$/.exec(new URL(event.request.url).pathname);
  if (!match) return;
  const size = Number(match[1]);
  let offset = 0;
  const body = new ReadableStream({
    pull(controller) {
      if (offset >= size) return controller.close();
      const length = Math.min(1 << 20, size - offset);
      const piece = new Uint8Array(length);
      for (let i = 0; i < length; i++) piece[i] = byteAt(offset + i);
      controller.enqueue(piece);
      offset += length;
    },
  }, { highWaterMark: 0 });
  event.respondWith(new Response(body, {
    headers: {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(size),
      'Content-Disposition': `attachment; filename*=UTF-8''${match[2]}`,
    },
  }));
});
