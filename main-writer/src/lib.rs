//! Sluice's page side, built into `dist/sluice.js` (an ES module), and its Rust API.
//!
//! The Rust API exists on `wasm32` only (in a page, with `dist/sluice-sw.js` served beside it),
//! so this example is not run as a native doctest:
//!
//! ```ignore
//! use futures::{stream, SinkExt, StreamExt};
//! use sluice_main_writer::{FileMeta, Options, Sluice, SluiceError, Trigger};
//!
//! async fn save(rows: Vec<String>) -> Result<u64, SluiceError> {
//!     let sluice = Sluice::register(Options::default()).await?;
//!     let meta = FileMeta { name: "rows.csv".into(), size: None, content_type: Some("text/csv".into()) };
//!     let download = sluice.create_download(meta, Trigger::Iframe)?;
//!     // A futures::Sink<Vec<u8>>: the producer waits whenever the service worker is behind.
//!     let mut sink = download.clone().into_sink();
//!     sink.send_all(&mut stream::iter(rows).map(|row| Ok(row.into_bytes()))).await?;
//!     sink.close().await?;
//!     download.done().await // the service worker served every byte: their count
//! }
//! ```
//!
//! `register` registers the service worker, waits until it answers a ping over a
//! `MessageChannel` (the ready handshake), probes whether a `ReadableStream` can be
//! transferred to it, and picks the transfer or the fallback path (core's
//! [`sluice_core::decide`]). Small writes are coalesced into chunks of at least 64 KiB (up to
//! 1 MiB while sending is slow); large ones are cut into chunks on the JavaScript side, so no
//! write is copied whole into wasm.
//!
//! Actors, each the one owner of its state; each module uses only those below it:
//! - `js`: the JavaScript API (`Sluice`, `Download`, the `WritableStream`);
//! - `gather`: the sink below that stream, which gathers small writes while it sends;
//! - `page`: `Sluice`: register, probe, new downloads;
//! - `download`: one actor per download (window, coalescer, writer) and its `Download` handle;
//! - `js_zip`: the JavaScript `createZip` over `zip` (behind the `js-zip` feature: not in
//!   `dist/` until it fits the budget);
//! - `zip`: one actor per zip archive, over a download (the Rust API);
//! - `local`: one actor per save without a service worker (picker, OPFS, `Blob`);
//! - `handoff`: a `Sluice` handed to a worker: the messages and the worker's link;
//! - `serve_worker`: the page's side of a hand-off, which serves that worker;
//! - `connection`: one actor per `Sluice`: the bus, keepalive, re-handshake, each bus's downloads;
//! - `args`: checks of what callers pass;
//! - `error`: `SluiceError` and its codes.

use wasm_bindgen::prelude::*;

pub mod args;
#[cfg(target_arch = "wasm32")]
mod connection;
#[cfg(target_arch = "wasm32")]
mod download;
pub mod error;
#[cfg(target_arch = "wasm32")]
mod gather;
#[cfg(target_arch = "wasm32")]
mod handoff;
#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(target_arch = "wasm32")]
mod js_calls;
#[cfg(all(target_arch = "wasm32", feature = "js-zip"))]
mod js_zip;
#[cfg(target_arch = "wasm32")]
mod local;
#[cfg(target_arch = "wasm32")]
mod page;
#[cfg(target_arch = "wasm32")]
mod serve_worker;
#[cfg(target_arch = "wasm32")]
mod sync_access;
#[cfg(target_arch = "wasm32")]
mod zip;

pub use args::Trigger;
#[cfg(target_arch = "wasm32")]
pub use download::{Download, DownloadSink};
pub use error::SluiceError;
#[cfg(target_arch = "wasm32")]
pub use page::{Options, Sluice, DEFAULT_BLOB_LIMIT};
pub use sluice_core::zip::{archive_size as zip_size, Entry, Method, ZipError};
pub use sluice_core::{FileMeta, ForcedMode, Mode, Probe, TransferPath};
#[cfg(target_arch = "wasm32")]
pub use zip::{Source, Zip, ZipEntry};

/// The Sluice build and wire version, e.g. `sluice 0.1.0 (wire 2)`.
#[wasm_bindgen]
pub fn version() -> String {
    format!("sluice {} (wire {})", env!("CARGO_PKG_VERSION"), sluice_core::WIRE_VERSION)
}

/// The `Content-Disposition` header Sluice sends for a file name.
#[wasm_bindgen(js_name = contentDisposition)]
pub fn content_disposition(name: &str) -> String {
    sluice_core::content_disposition(name)
}
