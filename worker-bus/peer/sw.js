// A service worker for the bus's browser tests. Listeners are added during the first
// evaluation, as browsers require; each message waits for the wasm, in arrival order.
importScripts('./pkg/sluice_bus_peer.js');
const ready = sluice_bus_peer({ module_or_path: './pkg/sluice_bus_peer_bg.wasm' });
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('message', (event) => {
  event.waitUntil(ready.then(() => sluice_bus_peer.on_service_worker_message(event)));
});
