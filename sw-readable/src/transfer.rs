//! The transfer path's download actor: the response stream reads the page's transferred
//! `ReadableStream`, checks the declared size, and ends cleanly only when the page said
//! `Close` with the count that arrived: a stream that ends because its page went away is an
//! error, never a complete download.

use futures::future::{Fuse, FusedFuture};
use futures::FutureExt;
use js_sys::{Reflect, Uint8Array};
use sluice_core::{DownloadId, Message};
use sluice_worker_bus::web::{describe, ignore_rejection};
use sluice_worker_bus::Incoming;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStream, ReadableStreamDefaultReader};

use crate::actor::{Input, Parts};
use crate::download::{Command, PageBus};
use crate::registry::Body;
use crate::source::SourceEvent;

/// A transfer-path download, built and waiting to run.
pub(crate) struct Transfer {
    parts: Parts,
    reader: ReadableStreamDefaultReader,
    declared: Option<u64>,
    received: u64,
    /// The page's `Close { total }`, once it came.
    closed_with: Option<u64>,
    /// The transferred stream ended.
    drained: bool,
    finished: bool,
    /// Why the download failed; the stream errors once the notice is out.
    failed: Option<String>,
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
        let (body, parts) = Parts::new(bus, id)?;
        let this = Transfer {
            parts,
            reader,
            declared,
            received: 0,
            closed_with: None,
            drained: false,
            finished: false,
            failed: None,
        };
        Ok((body, this))
    }

    /// Runs until the download ends, then tells the registry.
    pub(crate) async fn run(mut self) {
        let mut reading: Fuse<JsFuture> = Fuse::terminated();
        while !self.finished {
            let event = futures::select! {
                read = reading => Event::Read(read),
                input = self.parts.next().fuse() => Event::Input(input),
            };
            self.handle(event);
            if self.parts.pull.is_some() && reading.is_terminated() && !self.drained && !self.finished {
                reading = JsFuture::from(self.reader.read()).fuse();
            }
        }
        self.parts.end(self.failed, self.received, self.declared).await;
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Read(Ok(result)) => {
                let done = Reflect::get(&result, &"done".into()).ok().and_then(|d| d.as_bool()).unwrap_or(true);
                if done {
                    self.drained = true;
                    self.try_end();
                    return;
                }
                let value = Reflect::get(&result, &"value".into()).unwrap_or(JsValue::UNDEFINED);
                let Some(view) = value.dyn_ref::<Uint8Array>() else {
                    return self.fail("the page wrote something other than bytes");
                };
                self.received += u64::from(view.byte_length());
                if let Some(declared) = self.declared.filter(|&d| self.received > d) {
                    return self.fail(&format!("{} bytes arrived, declared {declared}", self.received));
                }
                let _ = self.parts.controller.enqueue_with_chunk(view);
                self.parts.resolve_pull();
            }
            Event::Read(Err(e)) => self.fail(&format!("the page aborted the download: {}", describe(&e))),
            Event::Input(Input::Page(Some(Incoming { msg, .. }))) => match msg {
                Message::Close { total, .. } => {
                    self.closed_with = Some(total);
                    self.try_end();
                }
                Message::Abort { reason, .. } => self.fail(&format!("aborted by the page: {reason}")),
                other => log::warn!("download {}: unexpected {other:?}", self.parts.id),
            },
            Event::Input(Input::Page(None)) => self.fail("the connection to the page ended"),
            Event::Input(Input::Stream(Some(SourceEvent::Pull(resolve)))) => self.parts.pull = Some(resolve),
            Event::Input(Input::Stream(Some(SourceEvent::Cancel(reason)))) => {
                self.parts.tell(Message::Cancel { id: self.parts.id, reason: reason.clone() });
                ignore_rejection(&self.reader.cancel_with_reason(&JsValue::from_str(&reason)));
                self.finished = true;
            }
            Event::Input(Input::Stream(None)) => self.fail("the browser dropped the response"),
            Event::Input(Input::Command(Command::Fail { code, reason })) => {
                self.parts.tell(Message::Error { id: Some(self.parts.id), code, message: reason.clone() });
                self.fail(&reason);
            }
        }
    }

    /// Ends cleanly once the stream is drained and the page's close says what arrived.
    fn try_end(&mut self) {
        let (true, Some(total)) = (self.drained, self.closed_with) else { return };
        let expected = self.declared.unwrap_or(total);
        if total != self.received || expected != self.received {
            return self.fail(&format!("closed after {} bytes, expected {expected}", self.received));
        }
        let _ = self.parts.controller.close();
        self.parts.tell(Message::Done { id: self.parts.id, total });
        self.finished = true;
        self.parts.resolve_pull();
    }

    fn fail(&mut self, why: &str) {
        if self.finished {
            return;
        }
        ignore_rejection(&self.reader.cancel_with_reason(&JsValue::from_str(why)));
        self.failed = Some(why.to_string());
        self.finished = true;
    }
}
