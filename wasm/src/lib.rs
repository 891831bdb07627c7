//! The one WebAssembly module of `dist/`: the page's crate ([`sluice_main_writer`]) and the
//! service worker's ([`sluice_sw_readable`]) linked together, so the code they share (core, the
//! bus, the standard library) is shipped once. `cargo xtask build` runs wasm-bindgen on it twice:
//! as an ES module for pages and workers (`sluice.js`) and as a classic script for the service
//! worker (`sluice-sw.js`); both load the same `sluice_bg.wasm`.

pub use sluice_main_writer;
pub use sluice_sw_readable;
