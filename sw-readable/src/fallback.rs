//! The fallback path's download actor: the response stream is built here, and its `pull()`
//! grants the page credit ([`ReceiveWindow`]), so at most one window is ever queued here.

use std::cell::Cell;

use js_sys::Uint8Array;
use sluice_core::window::{ByteLength, Delivery, ReceiveWindow};
use sluice_core::{DownloadId, Message};
use sluice_web::byte_length;
use sluice_worker_bus::Incoming;
use wasm_bindgen::JsCast;

use crate::actor::{Input, Parts};
use crate::download::{Command, PageBus};
use crate::registry::Body;
use crate::source::SourceEvent;

thread_local! {
    /// The most chunks and bytes any fallback download queued here (a debug counter).
    static PEAK: Cell<(usize, u64)> = const { Cell::new((0, 0)) };
}

/// The most chunks and bytes any fallback download queued in this service worker.
pub(crate) fn peak_queued() -> (usize, u64) {
    PEAK.with(Cell::get)
}

/// A chunk's bytes, as they arrived (a view on the transferred `ArrayBuffer`), and their true
/// length (a buffer past 4 GiB must not pass for the length it claims).
struct JsChunk(Uint8Array, u64);

impl ByteLength for JsChunk {
    fn byte_len(&self) -> u64 {
        self.1
    }
}

/// A fallback download, built and waiting to run.
pub(crate) struct Fallback {
    parts: Parts,
    window: ReceiveWindow<JsChunk>,
    /// Bytes handed to the response stream, and the declared size.
    delivered: u64,
    declared: Option<u64>,
    /// Why the download failed; the stream errors once the notice is out.
    failed: Option<String>,
    /// Every byte arrived: this many (the stream closes once the browser took them).
    complete: Option<u64>,
}

impl Fallback {
    /// The download's response body and its actor (run it with [`Fallback::run`] once the
    /// registry accepted it). Its chunks come to `Address::Download(id)` on `bus`.
    pub(crate) fn new(
        bus: &PageBus,
        id: DownloadId,
        window_chunks: u32,
        window_bytes: u64,
        size: Option<u64>,
    ) -> Result<(Body, Fallback), String> {
        let window = ReceiveWindow::new(id, window_chunks, window_bytes, size).map_err(|e| e.to_string())?;
        let (body, parts) = Parts::new(bus, id, 0.0)?;
        Ok((body, Fallback { parts, window, delivered: 0, declared: size, failed: None, complete: None }))
    }

    /// Runs until the download ends, then tells the registry.
    pub(crate) async fn run(mut self) {
        while !self.window.is_finished() && self.failed.is_none() {
            let input = self.parts.next().await;
            self.handle(input);
            self.drive();
        }
        if let (Some(total), None) = (self.complete, &self.failed) {
            self.failed = self.parts.hand_over(total).await;
        }
        self.parts.end(self.failed, self.delivered, self.declared).await;
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Page(Some(Incoming { msg, attachment, .. })) => match msg {
                Message::Chunk { seq, len, .. } => {
                    let chunk = match attachment.and_then(|a| a.dyn_into::<js_sys::ArrayBuffer>().ok()) {
                        Some(buffer) => JsChunk(Uint8Array::new(&buffer), byte_length(&buffer)),
                        None => JsChunk(Uint8Array::new_with_length(0), 0),
                    };
                    if let Err(e) = self.window.handle_chunk(seq, len, chunk) {
                        log::warn!("download {}: {e}", self.parts.id);
                    }
                    let (chunks, bytes) = self.window.peak_queued();
                    PEAK.with(|p| {
                        let (c, b) = p.get();
                        p.set((c.max(chunks), b.max(bytes)));
                    });
                }
                Message::Close { total, .. } => {
                    if let Err(e) = self.window.handle_close(total) {
                        log::warn!("download {}: {e}", self.parts.id);
                    }
                }
                Message::Abort { reason, .. } => self.window.handle_abort(&reason),
                other => log::warn!("download {}: unexpected {}", self.parts.id, other.kind()),
            },
            Input::Page(None) => self.page_gone("the connection to the page ended"),
            Input::Stream(Some(SourceEvent::Pull(resolve))) => {
                self.window.handle_pull();
                self.parts.pull = Some(resolve);
            }
            Input::Stream(Some(SourceEvent::Cancel(reason))) => self.window.handle_cancel(&reason),
            Input::Stream(None) => self.window.handle_cancel("the browser dropped the response"),
            Input::Command(Command::Fail { code, reason }) => {
                self.parts.tell(Message::Error { id: Some(self.parts.id), code, message: reason.clone() });
                self.window.handle_abort(&reason);
            }
            Input::Command(Command::Claimed) => {}
            Input::Command(Command::PageGone(reason)) => self.page_gone(&reason),
        }
    }

    /// The page went away: a download it closed and the browser requested still hands the
    /// browser every byte; any other fails (nobody will request it, or bytes are missing).
    fn page_gone(&mut self, reason: &str) {
        match self.parts.claimed() {
            true => self.window.handle_page_gone(reason),
            false => self.window.handle_abort(reason),
        }
    }

    /// Sends what the window wants sent and hands the stream what it may have.
    fn drive(&mut self) {
        while let Some(msg) = self.window.poll_transmit() {
            self.parts.tell(msg);
        }
        let mut delivered = false;
        while let Some(delivery) = self.window.poll_deliver() {
            delivered = true;
            match delivery {
                Delivery::Chunk(chunk) => {
                    self.delivered += chunk.byte_len();
                    let _ = self.parts.controller.enqueue_with_chunk(&chunk.0);
                }
                Delivery::End => self.complete = Some(self.window.bytes_received()),
                Delivery::Failed(why) => self.failed = Some(why.to_string()),
            }
        }
        if (delivered || self.window.is_finished()) && self.failed.is_none() {
            self.parts.resolve_pull();
        }
    }
}
