//! What both download actors (transfer and fallback) are made of: the download's address on
//! its page's bus, its response stream (controller and events), its command channel, and how
//! it ends.

use futures::FutureExt;
use js_sys::Function;
use sluice_core::wire::ErrorCode;
use sluice_core::{Address, DownloadId, Message};
use sluice_web::describe;
use sluice_worker_bus::web::WebEndpoint;
use sluice_worker_bus::{ActorHandle, Incoming, Mailbox};
use wasm_bindgen::prelude::*;
use web_sys::ReadableStreamDefaultController;

use crate::download::{fail_visibly, next_command, Command, DownloadHandle, PageBus};
use crate::registry::{registry, Body};
use crate::source::{pull_stream, SourceEvent};

/// Something for a download actor to handle.
pub(crate) enum Input {
    /// From the page (`None`: the bus ended).
    Page(Option<Incoming<WebEndpoint>>),
    /// From the response stream (`None`: the browser dropped it).
    Stream(Option<SourceEvent>),
    /// From the connection or the registry.
    Command(Command),
}

/// The parts every download actor owns.
pub(crate) struct Parts {
    pub(crate) id: DownloadId,
    pub(crate) bus: PageBus,
    pub(crate) controller: ReadableStreamDefaultController,
    /// The pending `pull()`, resolved once the stream got something.
    pub(crate) pull: Option<Function>,
    /// How many chunks the response stream queues ahead of its consumer.
    high_water_mark: f64,
    /// The browser requested the download's URL.
    claimed: bool,
    /// The page's connection or bus ended: nothing more comes from it.
    page_gone: bool,
    /// The page was told how the download ended (`Done`, `Cancel` or an error).
    told_end: bool,
    actor: ActorHandle<WebEndpoint>,
    mailbox: Mailbox<WebEndpoint>,
    events: sluice_worker_bus::channel::Receiver<SourceEvent>,
    commands: sluice_worker_bus::channel::Receiver<Command>,
}

impl Parts {
    /// The download's response body, and the parts of its actor: the page's messages for
    /// download `id` come to it; the response stream queues up to `high_water_mark` chunks.
    pub(crate) fn new(bus: &PageBus, id: DownloadId, high_water_mark: f64) -> Result<(Body, Parts), String> {
        let (actor, mailbox) = bus.actor(Address::Download(id)).map_err(|e| e.to_string())?;
        let source = pull_stream(high_water_mark).map_err(|e| describe(&e))?;
        let (download, commands) = DownloadHandle::new();
        let body = Body { stream: source.stream, download };
        let parts = Parts {
            id,
            bus: bus.clone(),
            controller: source.controller,
            pull: None,
            high_water_mark,
            claimed: false,
            page_gone: false,
            told_end: false,
            actor,
            mailbox,
            events: source.events,
            commands,
        };
        Ok((body, parts))
    }

    /// The next input (the browser's claim and the page's end are noted here too).
    pub(crate) async fn next(&mut self) -> Input {
        let page = async {
            match self.page_gone {
                true => futures::future::pending().await,
                false => self.mailbox.recv().await,
            }
        };
        let input = futures::select_biased! {
            incoming = page.fuse() => Input::Page(incoming),
            event = self.events.recv().fuse() => Input::Stream(event.ok()),
            command = next_command(&self.commands).fuse() => Input::Command(command),
        };
        match input {
            Input::Command(Command::Claimed) => self.claimed = true,
            Input::Command(Command::PageGone(_)) | Input::Page(None) => self.page_gone = true,
            _ => {}
        }
        input
    }

    /// The browser requested the download's URL.
    pub(crate) fn claimed(&self) -> bool {
        self.claimed
    }

    /// Every byte arrived (`total`) and is the stream's: the download is done only once the
    /// browser requested it and took every queued chunk. Then the stream closes and the page
    /// hears `Done`; a page that merely resolved `done` before would tell its user of a file
    /// nobody saved. Returns why the download failed meanwhile (a cancel is told, not failed).
    pub(crate) async fn hand_over(&mut self, total: u64) -> Option<String> {
        loop {
            let taken = self.controller.desired_size().is_none_or(|free| free >= self.high_water_mark);
            if self.claimed && taken {
                let _ = self.controller.close();
                self.tell(Message::Done { id: self.id, total });
                self.resolve_pull();
                return None;
            }
            // A page gone once its download was requested leaves it to the browser; before,
            // nobody will request it.
            if self.page_gone && !self.claimed {
                return Some("the page went away before the browser requested the download".into());
            }
            // Each read of the browser pulls again: the queue is looked at then.
            self.resolve_pull();
            match self.next().await {
                Input::Stream(Some(SourceEvent::Pull(resolve))) => self.pull = Some(resolve),
                Input::Stream(Some(SourceEvent::Cancel(reason))) => {
                    self.tell(Message::Cancel { id: self.id, reason });
                    return None;
                }
                Input::Stream(None) => return Some("the browser dropped the response".into()),
                Input::Command(Command::Fail { code, reason }) => {
                    self.tell(Message::Error { id: Some(self.id), code, message: reason.clone() });
                    return Some(reason);
                }
                Input::Command(Command::Claimed | Command::PageGone(_)) | Input::Page(None) => {}
                Input::Page(Some(Incoming { msg: Message::Abort { reason, .. }, .. })) => {
                    return Some(format!("aborted by the page: {reason}"));
                }
                Input::Page(Some(Incoming { msg, .. })) => {
                    log::warn!("download {}: unexpected {}", self.id, msg.kind())
                }
            }
        }
    }

    /// Tells the page, logging what cannot be told.
    pub(crate) fn tell(&mut self, msg: Message) {
        self.told_end |= matches!(msg, Message::Done { .. } | Message::Cancel { .. } | Message::Error { .. });
        if let Err(e) = self.bus.tell(msg, None) {
            log::warn!("download {}: the page cannot be told: {e}", self.id);
        }
    }

    /// Lets the stream pull again.
    pub(crate) fn resolve_pull(&mut self) {
        if let Some(resolve) = self.pull.take() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }

    /// The download ended (`failed`: why, after `served` of `declared` bytes): the stream errors
    /// visibly if it failed, the page's messages stop, the registry forgets it.
    pub(crate) async fn end(mut self, failed: Option<String>, served: u64, declared: Option<u64>) {
        if let (Some(why), false) = (&failed, self.told_end) {
            // The page hears of every failure once (one that aborted after its close waits for
            // this answer or a `Done`).
            self.tell(Message::Error { id: Some(self.id), code: ErrorCode::Internal, message: why.clone() });
        }
        drop(self.actor);
        if let Some(why) = failed {
            let pull = self.pull.take();
            fail_visibly(&self.controller, &self.events, pull, self.high_water_mark, (served, declared), &why).await;
        }
        registry().finished(self.id);
    }
}
