//! What both download actors (transfer and fallback) are made of: the download's address on
//! its page's bus, its response stream (controller and events), its command channel, and how
//! it ends.

use futures::FutureExt;
use js_sys::Function;
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
            actor,
            mailbox,
            events: source.events,
            commands,
        };
        Ok((body, parts))
    }

    /// The next input.
    pub(crate) async fn next(&self) -> Input {
        futures::select_biased! {
            incoming = self.mailbox.recv().fuse() => Input::Page(incoming),
            event = self.events.recv().fuse() => Input::Stream(event.ok()),
            command = next_command(&self.commands).fuse() => Input::Command(command),
        }
    }

    /// Tells the page, logging what cannot be told.
    pub(crate) fn tell(&self, msg: Message) {
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
        drop(self.actor);
        if let Some(why) = failed {
            let pull = self.pull.take();
            fail_visibly(&self.controller, &self.events, pull, self.high_water_mark, (served, declared), &why).await;
        }
        registry().finished(self.id);
    }
}
