//! The transfer path's download actor: the response stream reads the page's transferred
//! `ReadableStream`, checks the declared size, and ends cleanly only when the page said
//! `Close` with the count that arrived: a stream that ends because its page went away is an
//! error, never a complete download.

use futures::future::{Fuse, FusedFuture};
use futures::FutureExt;
use js_sys::{Function, Reflect, Uint8Array};
use sluice_core::{Address, DownloadId, Message};
use sluice_worker_bus::web::{describe, ignore_rejection, WebEndpoint};
use sluice_worker_bus::{ActorHandle, Incoming, Mailbox};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStream, ReadableStreamDefaultController, ReadableStreamDefaultReader};

use crate::connection::PageBus;
use crate::download::{fail_visibly, next_command, Command, DownloadHandle};
use crate::registry::{registry, Body};
use crate::source::{pull_stream, SourceEvent};

/// A transfer-path download, built and waiting to run.
pub(crate) struct Transfer {
    id: DownloadId,
    bus: PageBus,
    reader: ReadableStreamDefaultReader,
    controller: ReadableStreamDefaultController,
    declared: Option<u64>,
    received: u64,
    /// The page's `Close { total }`, once it came.
    closed_with: Option<u64>,
    /// The transferred stream ended.
    drained: bool,
    finished: bool,
    /// Why the download failed; the stream errors once the notice is out.
    failed: Option<String>,
    pull: Option<Function>,
    actor: ActorHandle<WebEndpoint>,
    mailbox: Mailbox<WebEndpoint>,
    events: async_channel::Receiver<SourceEvent>,
    commands: async_channel::Receiver<Command>,
}

enum Input {
    Read(Result<JsValue, JsValue>),
    Page(Option<Incoming<WebEndpoint>>),
    Stream(Option<SourceEvent>),
    Command(Command),
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
        let (actor, mailbox) = bus.actor(Address::Download(id)).map_err(|e| e.to_string())?;
        let source = pull_stream().map_err(|e| describe(&e))?;
        let (download, commands) = DownloadHandle::new();
        let body = Body { stream: source.stream, download };
        let this = Transfer {
            id,
            bus: bus.clone(),
            reader,
            controller: source.controller,
            declared,
            received: 0,
            closed_with: None,
            drained: false,
            finished: false,
            failed: None,
            pull: None,
            actor,
            mailbox,
            events: source.events,
            commands,
        };
        Ok((body, this))
    }

    /// Runs until the download ends, then tells the registry.
    pub(crate) async fn run(mut self) {
        let mut reading: Fuse<JsFuture> = Fuse::terminated();
        while !self.finished {
            let input = futures::select! {
                read = reading => Input::Read(read),
                incoming = self.mailbox.recv().fuse() => Input::Page(incoming),
                event = self.events.recv().fuse() => Input::Stream(event.ok()),
                command = next_command(&self.commands).fuse() => Input::Command(command),
            };
            self.handle(input);
            if self.pull.is_some() && reading.is_terminated() && !self.drained && !self.finished {
                reading = JsFuture::from(self.reader.read()).fuse();
            }
        }
        drop(self.actor);
        if let Some(why) = self.failed.take() {
            let served = (self.received, self.declared);
            fail_visibly(&self.controller, &self.events, self.pull.take(), served, &why).await;
        }
        registry().finished(self.id);
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Read(Ok(result)) => {
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
                let _ = self.controller.enqueue_with_chunk(view);
                self.resolve_pull();
            }
            Input::Read(Err(e)) => self.fail(&format!("the page aborted the download: {}", describe(&e))),
            Input::Page(Some(Incoming { msg, .. })) => match msg {
                Message::Close { total, .. } => {
                    self.closed_with = Some(total);
                    self.try_end();
                }
                Message::Abort { reason, .. } => self.fail(&format!("aborted by the page: {reason}")),
                other => log::warn!("download {}: unexpected {other:?}", self.id),
            },
            Input::Page(None) => self.fail("the connection to the page ended"),
            Input::Stream(Some(SourceEvent::Pull(resolve))) => self.pull = Some(resolve),
            Input::Stream(Some(SourceEvent::Cancel(reason))) => {
                let _ = self.bus.tell(Message::Cancel { id: self.id, reason: reason.clone() }, None);
                ignore_rejection(&self.reader.cancel_with_reason(&JsValue::from_str(&reason)));
                self.finished = true;
            }
            Input::Stream(None) => self.fail("the browser dropped the response"),
            Input::Command(Command::Fail { code, reason }) => {
                let _ = self.bus.tell(Message::Error { id: Some(self.id), code, message: reason.clone() }, None);
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
        let _ = self.controller.close();
        let _ = self.bus.tell(Message::Done { id: self.id, total }, None);
        self.finished = true;
        self.resolve_pull();
    }

    fn fail(&mut self, why: &str) {
        if self.finished {
            return;
        }
        ignore_rejection(&self.reader.cancel_with_reason(&JsValue::from_str(why)));
        self.failed = Some(why.to_string());
        self.finished = true;
    }

    fn resolve_pull(&mut self) {
        if let Some(resolve) = self.pull.take() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }
}
