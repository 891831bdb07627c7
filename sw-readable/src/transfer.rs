//! The transfer path's download actor: the response stream reads the page's transferred
//! `ReadableStream`, checks the declared size, and ends cleanly only when the page said
//! `Close` with the count that arrived: a stream that ends because its page went away is an
//! error, never a complete download.

use futures::future::{Fuse, FusedFuture};
use futures::FutureExt;
use js_sys::{Reflect, Uint8Array};
use sluice_core::{DownloadId, Message, TransferCheck, TransferEnd};
use sluice_web::{byte_length, describe, ignore_rejection};
use sluice_worker_bus::Incoming;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStream, ReadableStreamDefaultReader};

use crate::actor::{Input, Parts};
use crate::download::{Command, PageBus};
use crate::registry::Body;
use crate::source::SourceEvent;

/// How many chunks the response stream reads ahead of the browser's download manager: the
/// transferred stream gives one chunk per read, each a round trip to the page.
const READ_AHEAD: f64 = 4.0;

/// A transfer-path download, built and waiting to run.
pub(crate) struct Transfer {
    parts: Parts,
    reader: ReadableStreamDefaultReader,
    declared: Option<u64>,
    /// Counts the bytes and decides the end (core).
    check: TransferCheck,
    /// The consumer cancelled: the download ends, nothing more to say.
    cancelled: bool,
    drained: bool,
    /// How it ended, once it did.
    end: Option<TransferEnd>,
}

/// An input, or the transferred stream's answer to a read.
enum Event {
    Read(Result<JsValue, JsValue>),
    Input(Input),
}

impl Transfer {
    /// The download's response body and its actor (run it once the registry accepted it).
    pub(crate) fn new(
        bus: &PageBus,
        id: DownloadId,
        transferred: ReadableStream,
        declared: Option<u64>,
    ) -> Result<(Body, Transfer), String> {
        let reader: ReadableStreamDefaultReader = transferred.get_reader().unchecked_into();
        let (body, parts) = Parts::new(bus, id, READ_AHEAD)?;
        let check = TransferCheck::new(declared);
        Ok((body, Transfer { parts, reader, declared, check, cancelled: false, drained: false, end: None }))
    }

    /// Runs until the download ends, then tells the registry.
    pub(crate) async fn run(mut self) {
        let mut reading: Fuse<JsFuture> = Fuse::terminated();
        while self.end.is_none() && !self.cancelled {
            let event = futures::select_biased! {
                read = reading => Event::Read(read),
                input = self.parts.next().fuse() => Event::Input(input),
            };
            self.handle(event);
            self.end = self.check.poll_end();
            if self.parts.pull.is_some() && reading.is_terminated() && !self.drained {
                reading = JsFuture::from(self.reader.read()).fuse();
            }
        }
        let failed = match self.end {
            Some(TransferEnd::Complete(total)) => self.parts.hand_over(total).await,
            Some(TransferEnd::Failed(why)) => {
                ignore_rejection(&self.reader.cancel_with_reason(&JsValue::from_str(&why)));
                Some(why)
            }
            None => None,
        };
        self.parts.end(failed, self.check.received(), self.declared).await;
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Read(Ok(result)) => {
                let done = Reflect::get(&result, &"done".into()).ok().and_then(|d| d.as_bool()).unwrap_or(true);
                if done {
                    self.drained = true;
                    return self.check.handle_drained();
                }
                let value = Reflect::get(&result, &"value".into()).unwrap_or(JsValue::UNDEFINED);
                match value.dyn_ref::<Uint8Array>() {
                    Some(view) if self.check.handle_chunk(byte_length(view)) => {
                        let _ = self.parts.controller.enqueue_with_chunk(view);
                        self.parts.resolve_pull();
                    }
                    Some(_) => {}
                    None => self.check.handle_failure("the page wrote something other than bytes"),
                }
            }
            Event::Read(Err(e)) => {
                self.check.handle_failure(&format!("the page aborted the download: {}", describe(&e)))
            }
            Event::Input(Input::Page(Some(Incoming { msg, .. }))) => match msg {
                Message::Close { total, .. } => self.check.handle_close(total),
                Message::Abort { reason, .. } => self.check.handle_failure(&format!("aborted by the page: {reason}")),
                other => log::warn!("download {}: unexpected {}", self.parts.id, other.kind()),
            },
            Event::Input(Input::Page(None)) => self.check.handle_failure("the connection to the page ended"),
            Event::Input(Input::Stream(Some(SourceEvent::Pull(resolve)))) => self.parts.pull = Some(resolve),
            Event::Input(Input::Stream(Some(SourceEvent::Cancel(reason)))) => {
                self.parts.tell(Message::Cancel { id: self.parts.id, reason: reason.clone() });
                ignore_rejection(&self.reader.cancel_with_reason(&JsValue::from_str(&reason)));
                self.cancelled = true;
            }
            Event::Input(Input::Stream(None)) => self.check.handle_failure("the browser dropped the response"),
            Event::Input(Input::Command(Command::Fail { code, reason })) => {
                self.parts.tell(Message::Error { id: Some(self.parts.id), code, message: reason.clone() });
                self.check.handle_failure(&reason);
            }
            Event::Input(Input::Command(Command::Claimed)) => {}
            // Bytes still in the page may never come (Chromium does not end a stream whose page died).
            Event::Input(Input::Command(Command::PageGone(reason))) => self.check.handle_failure(&reason),
        }
    }
}
