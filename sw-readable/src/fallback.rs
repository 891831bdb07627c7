//! The fallback path's download actor: the response stream is built here, and its `pull()`
//! grants the page credit ([`ReceiveWindow`]), so at most one window is ever queued here.

use std::cell::Cell;

use futures::FutureExt;
use js_sys::{Function, Uint8Array};
use sluice_core::window::{ByteLength, Delivery, ReceiveWindow};
use sluice_core::{Address, DownloadId, Message};
use sluice_worker_bus::web::WebEndpoint;
use sluice_worker_bus::{ActorHandle, Incoming, Mailbox};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::ReadableStreamDefaultController;

use crate::connection::PageBus;
use crate::download::{fail_visibly, next_command, Command, DownloadHandle};
use crate::registry::{registry, Body};
use crate::source::{pull_stream, SourceEvent};

thread_local! {
    /// The most chunks and bytes any fallback download queued here (a debug counter).
    static PEAK: Cell<(usize, u64)> = const { Cell::new((0, 0)) };
}

/// The most chunks and bytes any fallback download queued in this service worker.
pub(crate) fn peak_queued() -> (usize, u64) {
    PEAK.with(Cell::get)
}

/// A chunk's bytes, as they arrived (a view on the transferred `ArrayBuffer`).
struct JsChunk(Uint8Array);

impl ByteLength for JsChunk {
    fn byte_len(&self) -> u64 {
        u64::from(self.0.byte_length())
    }
}

/// A fallback download, built and waiting to run.
pub(crate) struct Fallback {
    id: DownloadId,
    bus: PageBus,
    window: ReceiveWindow<JsChunk>,
    controller: ReadableStreamDefaultController,
    pull: Option<Function>,
    /// Bytes handed to the response stream, and the declared size.
    delivered: u64,
    declared: Option<u64>,
    /// Why the download failed; the stream errors once the notice is out.
    failed: Option<String>,
    actor: ActorHandle<WebEndpoint>,
    mailbox: Mailbox<WebEndpoint>,
    events: async_channel::Receiver<SourceEvent>,
    commands: async_channel::Receiver<Command>,
}

enum Input {
    Page(Option<Incoming<WebEndpoint>>),
    Stream(Option<SourceEvent>),
    Command(Command),
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
        let (actor, mailbox) = bus.actor(Address::Download(id)).map_err(|e| e.to_string())?;
        let source = pull_stream().map_err(|e| sluice_worker_bus::web::describe(&e))?;
        let (download, commands) = DownloadHandle::new();
        let body = Body { stream: source.stream, download };
        let this = Fallback {
            id,
            bus: bus.clone(),
            window,
            controller: source.controller,
            pull: None,
            delivered: 0,
            declared: size,
            failed: None,
            actor,
            mailbox,
            events: source.events,
            commands,
        };
        Ok((body, this))
    }

    /// Runs until the download ends, then tells the registry.
    pub(crate) async fn run(mut self) {
        while !self.window.is_finished() && self.failed.is_none() {
            let input = futures::select! {
                incoming = self.mailbox.recv().fuse() => Input::Page(incoming),
                event = self.events.recv().fuse() => Input::Stream(event.ok()),
                command = next_command(&self.commands).fuse() => Input::Command(command),
            };
            self.handle(input);
            self.drive();
        }
        drop(self.actor);
        if let Some(why) = self.failed.take() {
            let served = (self.delivered, self.declared);
            fail_visibly(&self.controller, &self.events, self.pull.take(), served, &why).await;
        }
        registry().finished(self.id);
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Page(Some(Incoming { msg, attachment, .. })) => match msg {
                Message::Chunk { seq, len, .. } => {
                    let bytes = attachment
                        .and_then(|a| a.dyn_into::<js_sys::ArrayBuffer>().ok())
                        .map_or_else(|| Uint8Array::new_with_length(0), |b| Uint8Array::new(&b));
                    if let Err(e) = self.window.handle_chunk(seq, len, JsChunk(bytes)) {
                        log::warn!("download {}: {e}", self.id);
                    }
                    let (chunks, bytes) = self.window.peak_queued();
                    PEAK.with(|p| {
                        let (c, b) = p.get();
                        p.set((c.max(chunks), b.max(bytes)));
                    });
                }
                Message::Close { total, .. } => {
                    if let Err(e) = self.window.handle_close(total) {
                        log::warn!("download {}: {e}", self.id);
                    }
                }
                Message::Abort { reason, .. } => self.window.handle_abort(&reason),
                other => log::warn!("download {}: unexpected {other:?}", self.id),
            },
            Input::Page(None) => self.window.handle_abort("the connection to the page ended"),
            Input::Stream(Some(SourceEvent::Pull(resolve))) => {
                self.window.handle_pull();
                self.pull = Some(resolve);
            }
            Input::Stream(Some(SourceEvent::Cancel(reason))) => self.window.handle_cancel(&reason),
            Input::Stream(None) => self.window.handle_cancel("the browser dropped the response"),
            Input::Command(Command::Fail { code, reason }) => {
                let _ = self.bus.tell(Message::Error { id: Some(self.id), code, message: reason.clone() }, None);
                self.window.handle_abort(&reason);
            }
        }
    }

    /// Sends what the window wants sent and hands the stream what it may have.
    fn drive(&mut self) {
        while let Some(msg) = self.window.poll_transmit() {
            if let Err(e) = self.bus.tell(msg, None) {
                log::warn!("download {}: the page cannot be told: {e}", self.id);
            }
        }
        let mut delivered = false;
        while let Some(delivery) = self.window.poll_deliver() {
            delivered = true;
            match delivery {
                Delivery::Chunk(chunk) => {
                    self.delivered += chunk.byte_len();
                    let _ = self.controller.enqueue_with_chunk(&chunk.0);
                }
                Delivery::End => {
                    let _ = self.controller.close();
                    let total = self.window.bytes_received();
                    let _ = self.bus.tell(Message::Done { id: self.id, total }, None);
                }
                Delivery::Failed(why) => self.failed = Some(why.to_string()),
            }
        }
        if (delivered || self.window.is_finished()) && self.failed.is_none() {
            if let Some(resolve) = self.pull.take() {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        }
    }
}
