//! The service worker's side of the credit window: [`ReceiveWindow`], and the notice a failed
//! download ends with.

use std::collections::VecDeque;

use super::{check_window, ByteLength, ConfigError, ProtocolError};
use crate::id::DownloadId;
use crate::wire::{ErrorCode, Message, MAX_TEXT_BYTES};

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

    /// The page's connection ended: a download still open fails; one the page closed (every
    /// byte here) still hands the rest to the stream.
    pub fn handle_page_gone(&mut self, reason: &str) {
        if self.state == ReceiveState::Open {
            self.handle_abort(reason);
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
