//! Sluice's service-worker side, built into `dist/sluice-sw.js` (a classic script) and, with
//! the page's side, into `dist/sluice_bg.wasm`.
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
//! - `service`: the entry points the shim calls (message, fetch);
//! - `connection`: one actor per page port: the bus, the page's liveness, its downloads;
//! - `transfer`, `fallback`: one actor per download, on each path;
//! - `actor`: what both download actors are made of (address, stream, commands, their end);
//! - `registry`: the task that owns core's [`sluice_core::Registry`], and its handle;
//! - `download`: the handle that fails a download, and the visible failure of its stream;
//! - `source`: a `ReadableStream` whose pull and cancel are events for an actor.
//!
//! Each uses only those below it.
//!
//! Its API is the service worker's script, `dist/sluice-sw.js`: registered as it is (the page's
//! `Sluice.register` does that), or imported into an app's own service worker:
//!
//! ```js
//! // sw.js, the app's service worker
//! importScripts('sluice-sw.js'); // sluice_bg.wasm beside it, or set self.sluiceWasmUrl first
//! self.addEventListener('fetch', (event) => {
//!   if (self.sluice.handleFetch(event)) return; // a Sluice download URL: answered
//!   // ... the app's own fetch handling
//! });
//! self.addEventListener('message', (event) => self.sluice.handleMessage(event));
//! ```

#[cfg(target_arch = "wasm32")]
mod actor;
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

#[cfg(target_arch = "wasm32")]
pub use service::{handle_fetch, handle_install, handle_message, respond};
