//! Sluice's service-worker side, built into `dist/sluice-sw.js` (a classic script).
//!
//! A page connects by posting `{ sluice: "connect" }` with a `MessagePort`; the bus over that
//! port carries [`sluice_core::Message::Open`] requests. Each open download waits (60 s by
//! default) for its one `GET` at `<scope>sluice/<id>/<name>`, which is answered with the
//! headers core computes and a stream:
//! - transfer path: a stream reading the `ReadableStream` the page transferred, which sees
//!   the consumer's cancel (and its reason) and ends only on the page's `Close`;
//! - fallback path: a stream built here whose `pull()` grants credit to the page
//!   ([`sluice_core::ReceiveWindow`]), so at most one window is ever queued here.
//!
//! Actors, each the one owner of its state (`a -> b`: a uses b):
//! `service` (entry points) -> `connection` (one per page: bus, liveness, its downloads)
//! -> `transfer` | `fallback` (one per download) -> `registry` (the task owning core's
//! [`sluice_core::Registry`]) -> `download` (the handle to fail a download) ; `source` (the
//! stream adapter) is used by both download actors.

use wasm_bindgen::prelude::*;

#[cfg(target_arch = "wasm32")]
mod connection;
#[cfg(target_arch = "wasm32")]
mod download;
#[cfg(target_arch = "wasm32")]
mod fallback;
#[cfg(target_arch = "wasm32")]
mod registry;
#[cfg(target_arch = "wasm32")]
mod service;
#[cfg(target_arch = "wasm32")]
mod source;
#[cfg(target_arch = "wasm32")]
mod transfer;

/// The Sluice build and wire version, e.g. `sluice 0.1.0 (wire 2)`.
#[wasm_bindgen]
pub fn version() -> String {
    format!("sluice {} (wire {})", env!("CARGO_PKG_VERSION"), sluice_core::WIRE_VERSION)
}

#[cfg(target_arch = "wasm32")]
pub use service::{handle_fetch, handle_message, respond};
