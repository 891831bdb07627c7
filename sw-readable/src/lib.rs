//! Sluice's service-worker side, built into `dist/sluice-sw.js` (a classic script).
//!
//! A page connects by posting `{ sluice: "connect" }` with a `MessagePort`; the bus over that
//! port carries [`sluice_core::Message::Open`] requests. Each open download waits (60 s by
//! default) for its one request at `<scope>sluice/<id>/<name>`, which is answered with the
//! headers core computes and a stream:
//! - transfer path: the `ReadableStream` the page transferred, read through a wrapper that
//!   sees the consumer's cancel (and its reason) and the end;
//! - fallback path: a stream built here whose `pull()` grants credit to the page
//!   ([`sluice_core::ReceiveWindow`]), so at most one window is ever queued here.

use wasm_bindgen::prelude::*;

#[cfg(target_arch = "wasm32")]
mod service;
#[cfg(target_arch = "wasm32")]
mod stream;

/// The Sluice build and wire version, e.g. `sluice 0.1.0 (wire 2)`.
#[wasm_bindgen]
pub fn version() -> String {
    format!("sluice {} (wire {})", env!("CARGO_PKG_VERSION"), sluice_core::WIRE_VERSION)
}

#[cfg(target_arch = "wasm32")]
pub use service::{debug_stats, handle_fetch, handle_message, respond};
