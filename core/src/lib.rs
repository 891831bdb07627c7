//! Sluice's protocol core: everything page and service worker must agree on, in pure Rust.
//!
//! No I/O, no clock, no JavaScript types: the wasm crates feed events in (`handle_*`), take
//! actions out (`poll_*`) and pass the current time in where it matters. That keeps every rule
//! natively testable.
//!
//! - [`wire`]: the messages that cross `postMessage`, with their version and decoding.
//! - [`window`]: the credit window of the fallback path, sender (page) and receiver (service worker).
//! - [`coalesce`]: turns many small writes into chunks of a useful size.
//! - [`control`]: the messages to the service worker itself, beside the bus.
//! - [`connection`]: the page's connection to its service worker (checks, keepalive rounds, which download fails).
//! - [`headers`]: file metadata to the download response's headers.
//! - [`id`]: download ids and the service-worker URLs built from them.
//! - [`capability`]: the ladder of ways to save, and which rung a browser gets, from probe results.
//! - [`lease`]: serve-once and expiry of a download URL.
//! - [`liveness`]: the page's buses and their downloads; the worker's watch over a page.
//! - [`registry`]: the service worker's open downloads (open, claim once, expiry, caps).
//! - [`transfer`]: when a transfer-path download is complete, and when it failed.
//! - [`writer`]: the page's side of one download (writes, closes, credit, its end).
//!
//! ```
//! use std::time::Duration;
//! use sluice_core::{content_disposition, DownloadId, FlowConfig, SendError, SendWindow};
//!
//! // The header a file name becomes: an ASCII fallback and the exact name (RFC 6266).
//! assert_eq!(
//!     content_disposition("résumé.pdf"),
//!     "attachment; filename=\"r_sum_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"
//! );
//!
//! // The fallback path's sender: no chunk goes out without the service worker's credit.
//! let id = DownloadId::from_u128(1);
//! let mut window = SendWindow::new(id, FlowConfig::default(), Some(100), Duration::ZERO)?;
//! assert!(matches!(window.send(60), Err(e) if e.is_blocked()));
//! window.handle_grant(1, 1 << 20)?;
//! window.send(60)?; // the Chunk message to post, with the 60 bytes
//! assert_eq!(window.bytes_sent(), 60);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod capability;
pub mod coalesce;
pub mod connection;
pub mod control;
pub mod headers;
pub mod id;
pub mod lease;
pub mod liveness;
pub mod registry;
pub mod transfer;
pub mod window;
pub mod wire;
pub mod writer;
pub mod zip;

pub use capability::{
    capabilities, decide, for_download, why_not, ForcedMode, Mode, Probe, Rung, TransferPath, Unsupported,
};
pub use coalesce::{Coalescer, Step};
pub use connection::{Action, Checked, PageConnection, Refusal};
pub use control::{FromPage, Opened, ToPage, ToServiceWorker};
pub use headers::{content_disposition, response_headers, sanitize_filename, HeaderError};
pub use id::{DownloadId, DownloadUrl, PROBE_TITLE};
pub use lease::{Lease, LeaseError};
pub use liveness::{Carried, Ended, LinkId, Links, Schedule, ServiceConnection, Tick, Watch, MAX_CONNECTIONS};
pub use registry::{ClaimError, Claimed, ConnectionId, Limits, OpenError, Registry};
pub use transfer::{TransferCheck, TransferEnd};
pub use window::{incomplete_notice, FlowConfig, ProtocolError, ReceiveWindow, SendError, SendWindow, INCOMPLETE_MARK};
pub use wire::{Address, DecodeError, Envelope, FileMeta, Frame, Message, RequestId, WIRE_VERSION};
pub use writer::{Buffer, Output, Refused, Writer};
pub use zip::{archive_size, safe_name, Entry, Method, ZipError, ZipWriter};
