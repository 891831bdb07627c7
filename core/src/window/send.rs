//! The page's side of the credit window: [`SendWindow`].

use std::time::Duration;

use super::{ConfigError, FlowConfig, ProtocolError};
use crate::id::DownloadId;
use crate::wire::{Message, MAX_TEXT_BYTES};

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
    /// The bytes pass the most this way of saving takes (the `Blob` rung's `blobLimit`).
    #[error("the file does not fit: {bytes} bytes pass the limit of {limit} bytes of this way of saving (blobLimit)")]
    OverLimit {
        /// Bytes declared, or written so far with this write.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
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

    /// Every byte was sent and the `Close` went out.
    pub fn is_closed(&self) -> bool {
        self.state == SendState::Closed
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

    /// The producer gave up: the download must fail, even once closed (the worker may not
    /// have handed every byte to the browser yet). No effect once ended.
    pub fn abort(&mut self, reason: &str) {
        if matches!(self.state, SendState::Open | SendState::Closed) {
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
