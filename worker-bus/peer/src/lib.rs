//! The far end of the bus's browser tests: a dedicated worker or a service worker that
//! serves two actors (see [`ECHO`] and [`SILENT`]). Loaded by `worker.js` / `sw.js` beside
//! this crate, built by `cargo xtask` into `pkg/`.

use sluice_core::DownloadId;

/// Answers a request for `Chunk { seq }` with `Pong { nonce: seq * 3 }`, sending the
/// attachment back; answers `Close` with `Pong { nonce: <frames this side rejected> }`.
pub const ECHO: DownloadId = DownloadId::from_u128(0xec40);

/// Keeps every request and never answers (for timeouts).
pub const SILENT: DownloadId = DownloadId::from_u128(0x5113);

#[cfg(target_arch = "wasm32")]
mod serve {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use sluice_core::{Address, Message};
    use sluice_worker_bus::web::{dispatch_service_worker_message, message_client, ClientEndpoint, WebEndpoint};
    use sluice_worker_bus::{ActorHandle, Bus, BusConfig, Endpoint};
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::spawn_local;
    use web_sys::{DedicatedWorkerGlobalScope, ExtendableMessageEvent};

    use super::{ECHO, SILENT};

    /// A bus and its actors, kept alive for as long as the worker runs.
    struct Served<E: Endpoint> {
        _bus: Bus<E>,
        _actors: Vec<ActorHandle<E>>,
    }

    thread_local! {
        static WORKER: RefCell<Option<Served<WebEndpoint>>> = const { RefCell::new(None) };
        static CLIENTS: RefCell<HashMap<String, Served<ClientEndpoint>>> = RefCell::new(HashMap::new());
        static PORTS: RefCell<Vec<Served<WebEndpoint>>> = const { RefCell::new(Vec::new()) };
    }

    fn serve<E: Endpoint<Attachment = JsValue>>(bus: Bus<E>) -> Served<E> {
        let (echo, mailbox) = bus.actor(Address::Download(ECHO)).expect_throw("echo actor");
        let stats_bus = bus.clone();
        spawn_local(async move {
            while let Some(incoming) = mailbox.recv().await {
                let Some(responder) = incoming.responder else {
                    continue;
                };
                let reply = match incoming.msg {
                    Message::Chunk { seq, .. } => Message::Pong { nonce: seq * 3 },
                    _ => Message::Pong { nonce: stats_bus.stats().rejected },
                };
                let _ = responder.reply(reply, incoming.attachment);
            }
        });
        let (silent, mailbox) = bus.actor(Address::Download(SILENT)).expect_throw("silent actor");
        spawn_local(async move {
            let mut kept = Vec::new();
            while let Some(incoming) = mailbox.recv().await {
                kept.push(incoming);
            }
        });
        Served { _bus: bus, _actors: vec![echo, silent] }
    }

    /// Serves the page that started this dedicated worker.
    #[wasm_bindgen]
    pub fn start_worker() {
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        let bus = Bus::new(WebEndpoint::worker_scope(scope), BusConfig::default());
        WORKER.with(|w| *w.borrow_mut() = Some(serve(bus)));
    }

    /// Handles a service worker `message` event (the script's listener calls this). A
    /// message that carries a `MessagePort` (`{ connect: true }` + the port in the transfer
    /// list) starts a bus over that port instead.
    #[wasm_bindgen]
    pub fn on_service_worker_message(event: ExtendableMessageEvent) {
        if let Ok(port) = event.ports().get(0).dyn_into::<web_sys::MessagePort>() {
            let bus = Bus::new(WebEndpoint::port(port), BusConfig::default());
            PORTS.with(|p| p.borrow_mut().push(serve(bus)));
            return;
        }
        if dispatch_service_worker_message(&event) {
            return;
        }
        let Some(client) = message_client(&event) else {
            return;
        };
        let id = client.id();
        let bus = Bus::new(ClientEndpoint::new(client), BusConfig::default());
        CLIENTS.with(|c| c.borrow_mut().insert(id, serve(bus)));
        dispatch_service_worker_message(&event);
    }
}
