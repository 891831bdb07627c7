//! The credit window of the fallback path, sans-IO in the manner of quinn-proto.
//!
//! The service worker's [`ReceiveWindow`] grants credit (chunks and bytes) only when its queue
//! has room and the consumer pulls; the page's [`SendWindow`] may send a chunk only with credit.
//! Together they keep at most one window of bytes between the producer and the download
//! manager, on both sides.
//!
//! Call order, per event: feed it in with a `handle_*` method, then drain the outputs with the
//! `poll_*` methods until they return `None`.

mod receive;
mod send;

pub use receive::{incomplete_notice, Delivery, Failure, ReceiveWindow, INCOMPLETE_MARK};
pub use send::{Progress, SendError, SendWindow};

use crate::wire::MAX_SAFE_INTEGER;

/// Default window: chunks in flight.
pub const DEFAULT_WINDOW_CHUNKS: u32 = 8;
/// Default window: bytes in flight.
pub const DEFAULT_WINDOW_BYTES: u64 = 8 << 20;
/// Default smallest chunk the coalescer emits (except the last).
pub const DEFAULT_MIN_CHUNK: u32 = 64 << 10;
/// Default largest chunk.
pub const DEFAULT_MAX_CHUNK: u32 = 1 << 20;
/// The largest window a service worker accepts, in chunks.
pub const MAX_WINDOW_CHUNKS: u32 = 1024;
/// The largest window a service worker accepts, in bytes.
pub const MAX_WINDOW_BYTES: u64 = 256 << 20;

/// Window and chunk sizes of one download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowConfig {
    /// Most chunks in flight (sent, not yet handed to the consumer).
    pub window_chunks: u32,
    /// Most bytes in flight.
    pub window_bytes: u64,
    /// Writes are gathered until a chunk has at least this many bytes (the last may be smaller).
    pub min_chunk: u32,
    /// No chunk is larger than this; must not exceed `window_bytes`.
    pub max_chunk: u32,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            window_chunks: DEFAULT_WINDOW_CHUNKS,
            window_bytes: DEFAULT_WINDOW_BYTES,
            min_chunk: DEFAULT_MIN_CHUNK,
            max_chunk: DEFAULT_MAX_CHUNK,
        }
    }
}

/// A [`FlowConfig`] that cannot work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A window of zero chunks or zero bytes never lets anything through.
    #[error("the window must allow at least one chunk and one byte")]
    EmptyWindow,
    /// Above [`MAX_WINDOW_CHUNKS`] or [`MAX_WINDOW_BYTES`].
    #[error(
        "the window is larger than the service worker accepts ({MAX_WINDOW_CHUNKS} chunks, {MAX_WINDOW_BYTES} bytes)"
    )]
    WindowTooLarge,
    /// Chunk sizes must satisfy `1 <= min_chunk <= max_chunk <= window_bytes`.
    #[error("chunk sizes must satisfy 1 <= min_chunk ({min}) <= max_chunk ({max}) <= window_bytes ({window})")]
    ChunkSizes {
        /// `min_chunk`.
        min: u32,
        /// `max_chunk`.
        max: u32,
        /// `window_bytes`.
        window: u64,
    },
}

impl FlowConfig {
    /// Checks that the sizes can work together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_window(self.window_chunks, self.window_bytes)?;
        let (min, max, window) = (self.min_chunk, self.max_chunk, self.window_bytes);
        if min == 0 || min > max || u64::from(max) > window {
            return Err(ConfigError::ChunkSizes { min, max, window });
        }
        Ok(())
    }
}

fn check_window(chunks: u32, bytes: u64) -> Result<(), ConfigError> {
    if chunks == 0 || bytes == 0 {
        Err(ConfigError::EmptyWindow)
    } else if chunks > MAX_WINDOW_CHUNKS || bytes > MAX_WINDOW_BYTES {
        Err(ConfigError::WindowTooLarge)
    } else {
        Ok(())
    }
}

/// A broken rule of the credit protocol, seen by either side. Always terminal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A chunk arrived while no chunk credit was outstanding.
    #[error("chunk {seq} arrived without credit")]
    Unsolicited {
        /// Its sequence number.
        seq: u64,
    },
    /// A chunk is larger than the byte credit outstanding.
    #[error("chunk {seq} has {len} bytes but only {credit} bytes of credit were outstanding")]
    ByteCreditExceeded {
        /// Its sequence number.
        seq: u64,
        /// Its length.
        len: u32,
        /// Credit outstanding.
        credit: u64,
    },
    /// A chunk with a sequence number already received.
    #[error("chunk {seq} arrived twice (expected {expected})")]
    Duplicate {
        /// Its sequence number.
        seq: u64,
        /// The next one expected.
        expected: u64,
    },
    /// A chunk from the future: one in between is missing.
    #[error("chunk {seq} arrived out of order (expected {expected})")]
    OutOfOrder {
        /// Its sequence number.
        seq: u64,
        /// The next one expected.
        expected: u64,
    },
    /// The header's length is not the length of the bytes beside it.
    #[error("chunk {seq} says {header} bytes but carries {actual}")]
    LengthMismatch {
        /// Its sequence number.
        seq: u64,
        /// Length in the header.
        header: u32,
        /// Length of the bytes.
        actual: u64,
    },
    /// A chunk after the close.
    #[error("chunk {seq} arrived after the close")]
    ChunkAfterClose {
        /// Its sequence number.
        seq: u64,
    },
    /// More bytes than the declared size.
    #[error("{received} bytes arrived but the declared size is {declared}")]
    SizeExceeded {
        /// Declared size.
        declared: u64,
        /// Bytes received including the offending chunk.
        received: u64,
    },
    /// The close does not match what arrived, or what was declared.
    #[error("closed after {received} bytes, expected {expected}")]
    SizeMismatch {
        /// What the close or the declared size promised.
        expected: u64,
        /// What arrived.
        received: u64,
    },
    /// The service worker granted more than the window.
    #[error("credit granted beyond the window ({chunks} chunks, {bytes} bytes)")]
    GrantBeyondWindow {
        /// Chunk credit after the grant.
        chunks: u64,
        /// Byte credit after the grant.
        bytes: u64,
    },
}

/// Anything with a length in bytes: what the receiver queues.
pub trait ByteLength {
    /// Length in bytes.
    fn byte_len(&self) -> u64;
}

impl ByteLength for Vec<u8> {
    fn byte_len(&self) -> u64 {
        self.len() as u64
    }
}

const _: () = assert!(MAX_WINDOW_BYTES <= MAX_SAFE_INTEGER);
