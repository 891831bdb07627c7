//! One page's connection: the bus over its `MessagePort`, its liveness, and the downloads it
//! opened. When the page goes (it says `Bye`, its port closes, its client is gone, or it stops
//! answering pings), every one of its downloads fails: a download whose page is gone must end
//! as an error before the browser stops this worker, or the browser may keep a short file.

use std::cell::Cell;
use std::time::Duration;

use futures::future::LocalBoxFuture;
use futures::FutureExt;
use js_sys::Reflect;
use sluice_core::wire::nonce;
use sluice_core::wire::ErrorCode;
use sluice_core::{
    Address, ConnectionId, DownloadId, Ended, FileMeta, Message, OpenError, ServiceConnection, TransferPath, Watch,
    MAX_CONNECTIONS,
};
use sluice_web::{now, sleep};
use sluice_worker_bus::web::WebEndpoint;
use sluice_worker_bus::{Bus, BusConfig, BusError, Incoming};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{MessagePort, ReadableStream, ServiceWorkerGlobalScope};

use crate::download::{DownloadHandle, PageBus};
use crate::fallback::Fallback;
use crate::registry::registry;
use crate::transfer::Transfer;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static NEXT_ID: Cell<ConnectionId> = const { Cell::new(1) };
}

/// Connections alive now (a debug counter for tests).
pub(crate) fn live_connections() -> usize {
    LIVE.with(Cell::get)
}

/// Counts a connection as live while it exists.
struct Alive;

impl Alive {
    fn new() -> Self {
        LIVE.with(|n| n.set(n.get() + 1));
        Alive
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        LIVE.with(|n| n.set(n.get().saturating_sub(1)));
    }
}

/// Starts a connection over `port` for the page whose client id is `client` (if known); refused
/// (the port closed: the page's handshake fails) past [`MAX_CONNECTIONS`].
pub(crate) fn spawn(port: MessagePort, client: Option<String>) {
    if live_connections() >= MAX_CONNECTIONS {
        log::warn!("connect refused: {MAX_CONNECTIONS} connections");
        return port.close();
    }
    spawn_local(run(port, client));
}

/// Forwards the port's `close` event (where browsers fire it) into a channel; removed on drop.
struct CloseListener {
    port: MessagePort,
    callback: Closure<dyn FnMut()>,
}

impl Drop for CloseListener {
    fn drop(&mut self) {
        let _ = self.port.remove_event_listener_with_callback("close", self.callback.as_ref().unchecked_ref());
    }
}

async fn run(port: MessagePort, client: Option<String>) {
    let _alive = Alive::new();
    let id = NEXT_ID.with(|n| n.replace(n.get() + 1));
    let (closed_tx, closed) = sluice_worker_bus::channel::bounded::<Ended>(4);
    let close_listener = {
        let tx = closed_tx.clone();
        let callback = Closure::<dyn FnMut()>::new(move || {
            let _ = tx.try_send(Ended::PortClosed);
        });
        let _ = port.add_event_listener_with_callback("close", callback.as_ref().unchecked_ref());
        CloseListener { port: port.clone(), callback }
    };
    // Where the port says when the page goes (its `close` event), no client checks are needed.
    let close_events = Reflect::has(&port, &"onclose".into()).unwrap_or(false);
    let bus = Bus::new(WebEndpoint::port(port), BusConfig::default());
    let Ok((control, mailbox)) = bus.actor(Address::Control) else { return };
    let mut state = ServiceConnection::new(Watch::with_close_events(close_events), now());
    let (end, open) = loop {
        if let Some(ended) = state.poll_end() {
            break ended;
        }
        // Due at its time, however many messages come meanwhile; never while nothing is open.
        let tick = match state.poll_deadline(now()) {
            Some(due) => sleep(due.saturating_sub(now())).left_future(),
            None => futures::future::pending().right_future(),
        };
        futures::select_biased! {
            incoming = mailbox.recv().fuse() => match incoming {
                None => state.handle_end(Ended::BusFailed),
                Some(Incoming { msg: Message::Bye, .. }) => state.handle_end(Ended::Bye),
                Some(incoming) => {
                    if let Some(download) = handle_control(&bus, id, incoming).await {
                        state.handle_opened(download, now());
                    }
                }
            },
            end = closed.recv().fuse() => state.handle_end(end.unwrap_or(Ended::PortClosed)),
            () = tick.fuse() => if let Some(tick) = state.handle_timeout(now(), bus.is_ready()) {
                // Both beside the loop: their answers come back as an end, if the page is gone.
                if let (true, Some(client)) = (tick.check_client, &client) {
                    spawn_local(check_client(client.clone(), closed_tx.clone()));
                }
                if tick.ping {
                    spawn_local(ping(bus.clone(), state.ping_timeout(), closed_tx.clone()));
                }
            },
        }
    };
    let reason = end.reason();
    log::debug!("connection {id}: {reason}");
    registry().connection_closed(id);
    for download in open {
        match end {
            // The page closed its Sluice, failing what it had not finished: so does the worker.
            Ended::Bye => download.fail(ErrorCode::Internal, reason.clone()),
            _ => download.page_gone(reason.clone()),
        }
    }
    drop((control, close_listener));
}

/// Pings the page; if it does not answer in time, the connection ends.
async fn ping(bus: PageBus, timeout: Duration, closed: sluice_worker_bus::channel::Sender<Ended>) {
    if let Err(e @ BusError::Timeout(_)) =
        bus.request_within(Message::Ping { nonce: nonce::WATCH }, None, timeout).await
    {
        let _ = closed.try_send(Ended::NoPong(e.to_string()));
    }
}

/// Looks whether the page's client still exists (`clients.get`); if not, the connection ends.
async fn check_client(client: String, closed: sluice_worker_bus::channel::Sender<Ended>) {
    let global: ServiceWorkerGlobalScope = js_sys::global().unchecked_into();
    // Cannot tell (an error): assume it is there; the pings decide.
    if let Ok(found) = JsFuture::from(global.clients().get(&client)).await {
        if found.is_undefined() || found.is_null() {
            let _ = closed.try_send(Ended::ClientGone);
        }
    }
}

/// Answers one control request; returns the download it opened.
async fn handle_control(
    bus: &PageBus,
    connection: ConnectionId,
    incoming: Incoming<WebEndpoint>,
) -> Option<DownloadHandle> {
    let Incoming { msg, attachment, responder } = incoming;
    let (answer, opened) = match msg {
        Message::Open { id, meta, path, window_chunks, window_bytes, expire_after_ms } => {
            let expire_after = Duration::from_millis(expire_after_ms);
            let stream = attachment.and_then(|a| a.dyn_into::<ReadableStream>().ok());
            match open(bus, connection, id, meta, path, (window_chunks, window_bytes), expire_after, stream).await {
                Ok(download) => (Message::Ack, Some(download)),
                Err((code, message)) => (Message::Error { id: Some(id), code, message }, None),
            }
        }
        other => {
            let message = format!("the service worker does not handle {} here", other.kind());
            (Message::Error { id: other.download_id(), code: ErrorCode::Protocol, message }, None)
        }
    };
    if let Some(responder) = responder {
        if let Err(e) = responder.reply(answer, None) {
            log::warn!("connection {connection}: cannot answer the page: {e}");
        }
    }
    opened
}

#[allow(clippy::too_many_arguments)]
async fn open(
    bus: &PageBus,
    connection: ConnectionId,
    id: DownloadId,
    meta: FileMeta,
    path: TransferPath,
    (window_chunks, window_bytes): (u32, u64),
    expire_after: Duration,
    stream: Option<ReadableStream>,
) -> Result<DownloadHandle, (ErrorCode, String)> {
    let internal = |e: String| (ErrorCode::Internal, e);
    let refused = |e: OpenError| (e.code(), e.to_string());
    let size = meta.size;
    let (body, run): (_, LocalBoxFuture<'static, ()>) = match path {
        TransferPath::Transfer => {
            let stream = stream.ok_or((
                ErrorCode::InvalidArgument,
                "the transfer path needs a ReadableStream beside the open message".to_string(),
            ))?;
            let (body, actor) = Transfer::new(bus, id, stream, size).map_err(internal)?;
            (body, actor.run().boxed_local())
        }
        TransferPath::Fallback => {
            let (body, actor) = Fallback::new(bus, id, window_chunks, window_bytes, size).map_err(internal)?;
            (body, actor.run().boxed_local())
        }
    };
    let download = body.download.clone();
    registry().open(connection, id, meta, expire_after, body).await.map_err(refused)?;
    spawn_local(run);
    Ok(download)
}

/// The client id of a message event's sender, if a page sent it.
pub(crate) fn client_id(source: Option<js_sys::Object>) -> Option<String> {
    Reflect::get(&JsValue::from(source?), &"id".into()).ok()?.as_string()
}
