//! The credit window of the fallback path, sans-IO in the manner of quinn-proto.
//!
//! The service worker's [`ReceiveWindow`] grants credit (chunks and bytes) only when its queue
//! has room and the consumer pulls; the page's [`SendWindow`] may send a chunk only with credit.
//! Together they keep at most one window of bytes between the producer and the download
//! manager, on both sides.
//!
//! Call order, per event: feed it in with a `handle_*` method, then drain the outputs with the
//! `poll_*` methods until they return `None`.

use std::collections::VecDeque;
use std::time::Duration;

use crate::id::DownloadId;
use crate::wire::{ErrorCode, Message, MAX_SAFE_INTEGER, MAX_TEXT_BYTES};

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

/// Why the page may not send (now or ever).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Blocked until a [`Message::Grant`] with chunk credit arrives.
    #[error("blocked until the service worker grants credit for another chunk")]
    NoChunkCredit,
    /// Blocked until a [`Message::Grant`] brings enough byte credit.
    #[error("blocked until the service worker grants byte credit: {needed} needed, {available} available")]
    NoByteCredit {
        /// Length of the chunk.
        needed: u64,
        /// Byte credit held.
        available: u64,
    },
    /// Chunks are at most [`FlowConfig::max_chunk`] bytes.
    #[error("a chunk of {len} bytes is larger than the largest chunk ({max} bytes)")]
    ChunkTooLarge {
        /// Length of the chunk.
        len: u64,
        /// The limit.
        max: u32,
    },
    /// This write would pass the declared size; nothing was sent.
    #[error("writing up to {attempted} bytes would pass the declared size of {declared} bytes")]
    SizeExceeded {
        /// Declared size.
        declared: u64,
        /// Bytes in all with this write.
        attempted: u64,
    },
    /// Closed with another count than the declared size; the download was aborted.
    #[error("closed after {sent} bytes but the declared size is {declared} bytes")]
    SizeMismatch {
        /// Declared size.
        declared: u64,
        /// Bytes sent.
        sent: u64,
    },
    /// Already closed.
    #[error("the download is already closed")]
    Closed,
    /// Aborted by the page; carries the reason.
    #[error("the download was aborted: {0}")]
    Aborted(String),
    /// Cancelled by the consumer (the user or a reader); carries the reason.
    #[error("the download was cancelled: {0}")]
    Cancelled(String),
    /// The service worker broke the protocol or reported an error.
    #[error("the service worker failed the download: {0}")]
    Failed(String),
}

impl SendError {
    /// Waiting for credit, as opposed to a final error.
    pub fn is_blocked(&self) -> bool {
        matches!(self, SendError::NoChunkCredit | SendError::NoByteCredit { .. })
    }
}

/// How far a download got.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Bytes sent so far.
    pub bytes: u64,
    /// Declared size, if any.
    pub total: Option<u64>,
    /// Average rate since the download opened.
    pub bytes_per_second: f64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SendState {
    Open,
    Closed,
    Ended(SendError),
}

/// The page's side of a download's window.
#[derive(Debug, Clone)]
pub struct SendWindow {
    id: DownloadId,
    config: FlowConfig,
    declared: Option<u64>,
    opened_at: Duration,
    credit_chunks: u32,
    credit_bytes: u64,
    next_seq: u64,
    sent: u64,
    state: SendState,
    outbox: Option<Message>,
    /// Sends need credit (the fallback path); `false` where a stream's own backpressure paces
    /// the writer (the transfer path) and only the size and end rules apply.
    metered: bool,
}

impl SendWindow {
    /// A download opened at `now`, of `declared` bytes if known, with no credit yet.
    pub fn new(id: DownloadId, config: FlowConfig, declared: Option<u64>, now: Duration) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            id,
            config,
            declared,
            opened_at: now,
            credit_chunks: 0,
            credit_bytes: 0,
            next_seq: 0,
            sent: 0,
            state: SendState::Open,
            outbox: None,
            metered: true,
        })
    }

    /// Like [`SendWindow::new`], but sending needs no credit: for the transfer path, where the
    /// transferred stream's backpressure paces the writer. Size, close and abort rules still hold.
    pub fn unmetered(
        id: DownloadId,
        config: FlowConfig,
        declared: Option<u64>,
        now: Duration,
    ) -> Result<Self, ConfigError> {
        Ok(Self { metered: false, ..Self::new(id, config, declared, now)? })
    }

    /// The configuration.
    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// Credit held: (chunks, bytes).
    pub fn credit(&self) -> (u32, u64) {
        (self.credit_chunks, self.credit_bytes)
    }

    /// Bytes sent so far.
    pub fn bytes_sent(&self) -> u64 {
        self.sent
    }

    /// The final error, once the download cannot go on (closed cleanly: `None`).
    pub fn error(&self) -> Option<&SendError> {
        match &self.state {
            SendState::Ended(e) => Some(e),
            SendState::Open | SendState::Closed => None,
        }
    }

    /// Progress at `now`.
    pub fn progress(&self, now: Duration) -> Progress {
        let secs = now.saturating_sub(self.opened_at).as_secs_f64();
        let rate = if secs > 0.0 { self.sent as f64 / secs } else { 0.0 };
        Progress { bytes: self.sent, total: self.declared, bytes_per_second: rate }
    }

    /// A [`Message::Grant`] arrived.
    pub fn handle_grant(&mut self, chunks: u32, bytes: u64) -> Result<(), SendError> {
        if self.state != SendState::Open {
            return Ok(()); // late grants after the end are harmless
        }
        let total_chunks = u64::from(self.credit_chunks) + u64::from(chunks);
        let total_bytes = self.credit_bytes.saturating_add(bytes);
        if total_chunks > u64::from(self.config.window_chunks) || total_bytes > self.config.window_bytes {
            let e = ProtocolError::GrantBeyondWindow { chunks: total_chunks, bytes: total_bytes };
            return Err(self.fail(SendError::Failed(e.to_string())));
        }
        self.credit_chunks = total_chunks as u32;
        self.credit_bytes = total_bytes;
        Ok(())
    }

    /// The consumer cancelled ([`Message::Cancel`]).
    pub fn handle_cancel(&mut self, reason: &str) {
        if matches!(self.state, SendState::Open | SendState::Closed) {
            self.outbox = None;
            self.state = SendState::Ended(SendError::Cancelled(reason.to_string()));
        }
    }

    /// The service worker reported an error for this download.
    pub fn handle_error(&mut self, message: &str) {
        if matches!(self.state, SendState::Open | SendState::Closed) {
            self.outbox = None;
            self.state = SendState::Ended(SendError::Failed(message.to_string()));
        }
    }

    /// Takes credit for a chunk of `len` bytes and returns its header; send the bytes with it.
    /// Checks are in order: ended, closed, too large, past the declared size, credit.
    pub fn send(&mut self, len: usize) -> Result<Message, SendError> {
        let len = len as u64;
        match &self.state {
            SendState::Open => {}
            SendState::Closed => return Err(SendError::Closed),
            SendState::Ended(e) => return Err(e.clone()),
        }
        if len > u64::from(self.config.max_chunk) {
            return Err(SendError::ChunkTooLarge { len, max: self.config.max_chunk });
        }
        let attempted = self.sent + len;
        if let Some(declared) = self.declared.filter(|&d| attempted > d) {
            return Err(SendError::SizeExceeded { declared, attempted });
        }
        if self.metered {
            if self.credit_chunks == 0 {
                return Err(SendError::NoChunkCredit);
            }
            if self.credit_bytes < len {
                return Err(SendError::NoByteCredit { needed: len, available: self.credit_bytes });
            }
            self.credit_chunks -= 1;
            self.credit_bytes -= len;
        }
        self.sent = attempted;
        let seq = self.next_seq;
        self.next_seq += 1;
        Ok(Message::Chunk { id: self.id, seq, len: len as u32 })
    }

    /// No more bytes. With a declared size that was not met, the download is aborted instead
    /// and [`SendError::SizeMismatch`] returned. Then drain [`SendWindow::poll_transmit`].
    pub fn close(&mut self) -> Result<(), SendError> {
        match &self.state {
            SendState::Open => {}
            SendState::Closed => return Err(SendError::Closed),
            SendState::Ended(e) => return Err(e.clone()),
        }
        if let Some(declared) = self.declared.filter(|&d| d != self.sent) {
            let e = SendError::SizeMismatch { declared, sent: self.sent };
            self.abort(&e.to_string());
            return Err(e);
        }
        self.state = SendState::Closed;
        self.outbox = Some(Message::Close { id: self.id, total: self.sent });
        Ok(())
    }

    /// The producer gave up: the download must fail. No effect once closed or ended.
    pub fn abort(&mut self, reason: &str) {
        if self.state == SendState::Open {
            let mut reason = reason.to_string();
            crate::wire::truncate(&mut reason, MAX_TEXT_BYTES);
            self.outbox = Some(Message::Abort { id: self.id, reason: reason.clone() });
            self.state = SendState::Ended(SendError::Aborted(reason));
        }
    }

    /// The next control message to send (a close or an abort).
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.outbox.take()
    }

    fn fail(&mut self, e: SendError) -> SendError {
        self.outbox = Some(Message::Abort { id: self.id, reason: e.to_string() });
        self.state = SendState::Ended(e.clone());
        e
    }
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

/// The first words of [`incomplete_notice`], for tests that look for it in a saved file.
pub const INCOMPLETE_MARK: &str = "[Sluice: THIS FILE IS INCOMPLETE";

/// The text a failed download ends with before its stream errors. Browsers that discard a
/// failed download never keep it; one that keeps a failed service-worker download under its
/// final name (WebKit) keeps this note too, so the user can see the file is not whole.
pub fn incomplete_notice(served: u64, declared: Option<u64>, why: &str) -> String {
    let of = declared.map_or_else(String::new, |d| format!(" of {d}"));
    let mut why = why.replace(['\r', '\n'], " ");
    crate::wire::truncate(&mut why, 500);
    format!("\n\n{INCOMPLETE_MARK}: only {served}{of} bytes arrived before the download failed ({why}). Download it again.]\n")
}

/// Why a download's stream fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The page aborted it.
    #[error("aborted by the page: {0}")]
    Aborted(String),
    /// The page broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
}

/// What the receiver hands to the consumer's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery<T> {
    /// The next chunk, in order (enqueue it).
    Chunk(T),
    /// Every byte was delivered (close the stream).
    End,
    /// The download failed (error the stream): never looks complete.
    Failed(Failure),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ReceiveState {
    Open,
    Closing,
    Ended,
    Failed { reported: bool, why: Failure },
    Cancelled,
}

/// The service worker's side of a download's window. `T` is a chunk's bytes (a JS buffer in
/// the browser, `Vec<u8>` in tests).
#[derive(Debug)]
pub struct ReceiveWindow<T> {
    id: DownloadId,
    window_chunks: u32,
    window_bytes: u64,
    declared: Option<u64>,
    queue: VecDeque<T>,
    queued_bytes: u64,
    outstanding_chunks: u32,
    outstanding_bytes: u64,
    next_seq: u64,
    received: u64,
    pulled: bool,
    wants: bool,
    state: ReceiveState,
    outbox: VecDeque<Message>,
    peak_queued_chunks: usize,
    peak_queued_bytes: u64,
}

impl<T: ByteLength> ReceiveWindow<T> {
    /// The receiver for a [`Message::Open`] with this window and declared size.
    pub fn new(
        id: DownloadId,
        window_chunks: u32,
        window_bytes: u64,
        declared: Option<u64>,
    ) -> Result<Self, ConfigError> {
        check_window(window_chunks, window_bytes)?;
        Ok(Self {
            id,
            window_chunks,
            window_bytes,
            declared,
            queue: VecDeque::new(),
            queued_bytes: 0,
            outstanding_chunks: 0,
            outstanding_bytes: 0,
            next_seq: 0,
            received: 0,
            pulled: false,
            wants: false,
            state: ReceiveState::Open,
            outbox: VecDeque::new(),
            peak_queued_chunks: 0,
            peak_queued_bytes: 0,
        })
    }

    /// Chunks and bytes queued here now.
    pub fn queued(&self) -> (usize, u64) {
        (self.queue.len(), self.queued_bytes)
    }

    /// The most chunks and bytes ever queued here (a debug counter for memory tests).
    pub fn peak_queued(&self) -> (usize, u64) {
        (self.peak_queued_chunks, self.peak_queued_bytes)
    }

    /// Credit granted and not yet used: (chunks, bytes).
    pub fn outstanding(&self) -> (u32, u64) {
        (self.outstanding_chunks, self.outstanding_bytes)
    }

    /// Bytes received so far.
    pub fn bytes_received(&self) -> u64 {
        self.received
    }

    /// Nothing more will be delivered or sent.
    pub fn is_finished(&self) -> bool {
        match &self.state {
            ReceiveState::Ended | ReceiveState::Cancelled => true,
            ReceiveState::Failed { reported, .. } => *reported && self.outbox.is_empty(),
            ReceiveState::Open | ReceiveState::Closing => false,
        }
    }

    /// The consumer's stream asks for one more chunk (its `pull()`).
    pub fn handle_pull(&mut self) {
        self.pulled = true;
        self.wants = true;
    }

    /// A chunk header arrived with its bytes.
    pub fn handle_chunk(&mut self, seq: u64, len: u32, bytes: T) -> Result<(), ProtocolError> {
        let result = self.accept_chunk(seq, len, &bytes);
        match result {
            Ok(true) => {
                self.outstanding_chunks -= 1;
                self.outstanding_bytes -= u64::from(len);
                self.next_seq += 1;
                self.received += u64::from(len);
                self.queued_bytes += u64::from(len);
                self.queue.push_back(bytes);
                self.peak_queued_chunks = self.peak_queued_chunks.max(self.queue.len());
                self.peak_queued_bytes = self.peak_queued_bytes.max(self.queued_bytes);
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(e) => {
                if matches!(self.state, ReceiveState::Open | ReceiveState::Closing) {
                    self.fail(Failure::Protocol(e.clone()));
                }
                Err(e)
            }
        }
    }

    /// Ok(true): queue it; Ok(false): drop it silently (the download already ended).
    fn accept_chunk(&self, seq: u64, len: u32, bytes: &T) -> Result<bool, ProtocolError> {
        match self.state {
            ReceiveState::Open => {}
            ReceiveState::Closing | ReceiveState::Ended => return Err(ProtocolError::ChunkAfterClose { seq }),
            // In-flight chunks after a cancel or failure are expected; they carry nothing new.
            ReceiveState::Failed { .. } | ReceiveState::Cancelled => return Ok(false),
        }
        let expected = self.next_seq;
        if seq < expected {
            return Err(ProtocolError::Duplicate { seq, expected });
        }
        if seq > expected {
            return Err(ProtocolError::OutOfOrder { seq, expected });
        }
        let actual = bytes.byte_len();
        if actual != u64::from(len) {
            return Err(ProtocolError::LengthMismatch { seq, header: len, actual });
        }
        if self.outstanding_chunks == 0 {
            return Err(ProtocolError::Unsolicited { seq });
        }
        if u64::from(len) > self.outstanding_bytes {
            return Err(ProtocolError::ByteCreditExceeded { seq, len, credit: self.outstanding_bytes });
        }
        let received = self.received + u64::from(len);
        if let Some(declared) = self.declared.filter(|&d| received > d) {
            return Err(ProtocolError::SizeExceeded { declared, received });
        }
        Ok(true)
    }

    /// The page closed after `total` bytes.
    pub fn handle_close(&mut self, total: u64) -> Result<(), ProtocolError> {
        match self.state {
            ReceiveState::Open => {}
            ReceiveState::Closing | ReceiveState::Ended => {
                let e = ProtocolError::SizeMismatch { expected: total, received: self.received };
                return if total == self.received { Ok(()) } else { Err(e) };
            }
            ReceiveState::Failed { .. } | ReceiveState::Cancelled => return Ok(()),
        }
        let expected = self.declared.unwrap_or(total);
        if total != self.received || expected != self.received {
            let expected = if total != self.received { total } else { expected };
            let e = ProtocolError::SizeMismatch { expected, received: self.received };
            self.fail(Failure::Protocol(e.clone()));
            return Err(e);
        }
        self.state = ReceiveState::Closing;
        Ok(())
    }

    /// The page aborted: the stream fails with `reason`.
    pub fn handle_abort(&mut self, reason: &str) {
        if matches!(self.state, ReceiveState::Open | ReceiveState::Closing) {
            self.queue.clear();
            self.queued_bytes = 0;
            self.state = ReceiveState::Failed { reported: false, why: Failure::Aborted(reason.to_string()) };
        }
    }

    /// The consumer cancelled the stream: tell the page.
    pub fn handle_cancel(&mut self, reason: &str) {
        if matches!(self.state, ReceiveState::Open | ReceiveState::Closing) {
            self.queue.clear();
            self.queued_bytes = 0;
            self.state = ReceiveState::Cancelled;
            let mut reason = reason.to_string();
            crate::wire::truncate(&mut reason, MAX_TEXT_BYTES);
            self.outbox.push_back(Message::Cancel { id: self.id, reason });
        }
    }

    /// The next message for the page: a grant, a cancel or an error.
    pub fn poll_transmit(&mut self) -> Option<Message> {
        if let Some(msg) = self.outbox.pop_front() {
            return Some(msg);
        }
        if self.state != ReceiveState::Open || !self.pulled {
            return None;
        }
        let used_chunks = self.queue.len() as u64 + u64::from(self.outstanding_chunks);
        let free_chunks = u64::from(self.window_chunks).saturating_sub(used_chunks) as u32;
        let free_bytes = self.window_bytes.saturating_sub(self.queued_bytes + self.outstanding_bytes);
        if free_chunks == 0 && free_bytes == 0 {
            return None;
        }
        self.outstanding_chunks += free_chunks;
        self.outstanding_bytes += free_bytes;
        Some(Message::Grant { id: self.id, chunks: free_chunks, bytes: free_bytes })
    }

    /// The next thing for the consumer's stream.
    pub fn poll_deliver(&mut self) -> Option<Delivery<T>> {
        match &mut self.state {
            ReceiveState::Open | ReceiveState::Closing => {
                if self.wants {
                    if let Some(chunk) = self.queue.pop_front() {
                        self.wants = false;
                        self.queued_bytes -= chunk.byte_len();
                        return Some(Delivery::Chunk(chunk));
                    }
                }
                if self.state == ReceiveState::Closing && self.queue.is_empty() {
                    self.state = ReceiveState::Ended;
                    return Some(Delivery::End);
                }
                None
            }
            ReceiveState::Failed { reported, why } if !*reported => {
                *reported = true;
                Some(Delivery::Failed(why.clone()))
            }
            ReceiveState::Failed { .. } | ReceiveState::Ended | ReceiveState::Cancelled => None,
        }
    }

    fn fail(&mut self, why: Failure) {
        self.queue.clear();
        self.queued_bytes = 0;
        self.outbox.push_back(Message::Error {
            id: Some(self.id),
            code: ErrorCode::Protocol,
            message: why.to_string(),
        });
        self.state = ReceiveState::Failed { reported: false, why };
    }
}

const _: () = assert!(MAX_WINDOW_BYTES <= MAX_SAFE_INTEGER);

#[cfg(test)]
mod notice_tests {
    use super::*;

    #[test]
    fn the_incomplete_notice_says_how_much_and_why_on_its_own_lines() {
        let notice = incomplete_notice(10, Some(96), "the page\r\nwas closed");
        let expected = format!(
            "\n\n{INCOMPLETE_MARK}: only 10 of 96 bytes arrived before the download failed (the page  was closed). Download it again.]\n"
        );
        assert_eq!(notice, expected);
        assert!(incomplete_notice(5, None, &"x".repeat(9000)).len() < 700);
    }
}
