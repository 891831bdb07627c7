// A dedicated worker for the bus's browser tests: loads the peer's wasm and serves the page.
// wasm-bindgen-test-runner starts workers from a blob: wrapper, where relative URLs do not
// resolve, so the files are named from the origin.
const base = `${self.location.origin}/peer/pkg/`;
importScripts(`${base}sluice_bus_peer.js`);
sluice_bus_peer({ module_or_path: `${base}sluice_bus_peer_bg.wasm` }).then(() => sluice_bus_peer.start_worker());
