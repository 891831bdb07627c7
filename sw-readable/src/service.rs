//! The service worker's state: connected pages, open downloads, fetch answers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use js_sys::{Promise, Reflect};
use sluice_core::wire::ErrorCode;
use sluice_core::{response_headers, Address, DownloadId, DownloadUrl, FileMeta, Lease, Message, TransferPath};
use sluice_worker_bus::web::{now, sleep, WebEndpoint};
use sluice_worker_bus::{ActorHandle, Bus, BusConfig, Incoming};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, spawn_local};
use web_sys::{ExtendableMessageEvent, FetchEvent, Headers, MessagePort, ReadableStream, Response, ResponseInit};

use crate::stream::{self, FallbackStream};

/// How long a request for a download URL waits for its `Open` to arrive over the bus (the
/// page may fetch the URL right after creating the download).
const OPEN_GRACE: Duration = Duration::from_secs(3);

pub(crate) type PageBus = Bus<WebEndpoint>;

/// What an open download will answer with.
enum Body {
    Transfer(ReadableStream),
    Fallback(Rc<FallbackStream>),
}

struct Entry {
    meta: FileMeta,
    lease: Lease,
    body: Option<Body>,
    bus: PageBus,
}

#[derive(Default)]
struct Service {
    downloads: HashMap<DownloadId, Entry>,
    connections: Vec<(PageBus, ActorHandle<WebEndpoint>)>,
    served: u64,
}

thread_local! {
    static SERVICE: RefCell<Service> = RefCell::new(Service::default());
}

fn scope() -> String {
    let global: web_sys::ServiceWorkerGlobalScope = js_sys::global().unchecked_into();
    global.registration().scope()
}

/// A `message` event: `{ sluice: "connect" }` with a port starts a bus for that page;
/// `{ sluice: "stats" }` with a port gets [`debug_stats`] back on it. `{ sluice: "keepalive" }`
/// needs nothing: being an event of the worker is what keeps it running. Anything else is not
/// Sluice's and is ignored.
#[wasm_bindgen]
pub fn handle_message(event: ExtendableMessageEvent) {
    let data = event.data();
    let kind = Reflect::get(&data, &"sluice".into()).ok().and_then(|v| v.as_string());
    let Ok(port) = event.ports().get(0).dyn_into::<MessagePort>() else {
        return;
    };
    match kind.as_deref() {
        Some("connect") => {}
        Some("stats") => {
            let _ = port.post_message(&debug_stats());
            return;
        }
        _ => return,
    }
    let bus = Bus::new(WebEndpoint::port(port), BusConfig::default());
    let Ok((control, mailbox)) = bus.actor(Address::Control) else {
        return;
    };
    let page = bus.clone();
    spawn_local(async move {
        while let Some(incoming) = mailbox.recv().await {
            handle_control(&page, incoming);
        }
    });
    SERVICE.with(|s| s.borrow_mut().connections.push((bus, control)));
}

fn handle_control(bus: &PageBus, incoming: Incoming<WebEndpoint>) {
    let Incoming { msg, attachment, responder } = incoming;
    let answer = match msg {
        Message::Open { id, meta, path, window_chunks, window_bytes, expire_after_ms } => {
            let expire_after = Duration::from_millis(expire_after_ms);
            open(bus, id, meta, path, (window_chunks, window_bytes), expire_after, attachment).map(|()| Message::Ack)
        }
        other => Err(format!("the service worker does not handle {other:?} here")),
    };
    let answer = answer.unwrap_or_else(|message| Message::Error { id: None, code: ErrorCode::Protocol, message });
    if let Some(responder) = responder {
        let _ = responder.reply(answer, None);
    }
}

fn open(
    bus: &PageBus,
    id: DownloadId,
    meta: FileMeta,
    path: TransferPath,
    (window_chunks, window_bytes): (u32, u64),
    expire_after: Duration,
    attachment: Option<JsValue>,
) -> Result<(), String> {
    response_headers(&meta).map_err(|e| e.to_string())?;
    if SERVICE.with(|s| s.borrow().downloads.contains_key(&id)) {
        return Err(format!("download {id} is already open"));
    }
    let body = match path {
        TransferPath::Transfer => {
            let stream = attachment
                .and_then(|a| a.dyn_into::<ReadableStream>().ok())
                .ok_or("the transfer path needs a ReadableStream beside the open message")?;
            Body::Transfer(stream)
        }
        TransferPath::Fallback => Body::Fallback(FallbackStream::new(bus, id, window_chunks, window_bytes, meta.size)?),
    };
    let entry = Entry { meta, lease: Lease::new(now(), expire_after), body: Some(body), bus: bus.clone() };
    SERVICE.with(|s| s.borrow_mut().downloads.insert(id, entry));
    spawn_local(expire_later(id, expire_after));
    Ok(())
}

/// Drops the download if nobody requested it in time, and tells the page.
async fn expire_later(id: DownloadId, expire_after: Duration) {
    sleep(expire_after + Duration::from_millis(50)).await;
    let expired = SERVICE.with(|s| {
        let mut service = s.borrow_mut();
        let entry = service.downloads.get_mut(&id)?;
        entry.lease.handle_timeout(now());
        entry.lease.is_expired().then(|| service.downloads.remove(&id)).flatten()
    });
    if let Some(entry) = expired {
        if let Some(Body::Fallback(stream)) = &entry.body {
            stream.end();
        }
        let reason = format!("the download URL was not requested within {expire_after:?}");
        let _ = entry.bus.tell(Message::Cancel { id, reason }, None);
    }
}

/// The `fetch` handler: answers (and returns `true`) only for this worker's download URLs.
#[wasm_bindgen]
pub fn handle_fetch(event: FetchEvent) -> bool {
    if DownloadUrl::parse(&scope(), &event.request().url()).is_none() {
        return false;
    }
    event.respond_with(&respond(event.clone())).is_ok()
}

/// The response for a download URL: the stream, or 404 if the URL is unknown, expired,
/// already served, or not a download URL.
#[wasm_bindgen]
pub fn respond(event: FetchEvent) -> Promise {
    let url = event.request().url();
    future_to_promise(async move {
        let Some(parsed) = DownloadUrl::parse(&scope(), &url) else {
            return not_found("not a Sluice download URL");
        };
        let deadline = now() + OPEN_GRACE;
        loop {
            match claim(parsed.id) {
                Claim::Ready(meta, body) => return answer(parsed.id, &meta, body),
                Claim::Gone(why) => return not_found(&why),
                Claim::Unknown if now() >= deadline => return not_found("unknown download"),
                Claim::Unknown => sleep(Duration::from_millis(20)).await,
            }
        }
    })
}

enum Claim {
    Ready(FileMeta, Body),
    Gone(String),
    Unknown,
}

fn claim(id: DownloadId) -> Claim {
    SERVICE.with(|s| {
        let service = &mut *s.borrow_mut();
        let Some(entry) = service.downloads.get_mut(&id) else {
            return Claim::Unknown;
        };
        match entry.lease.handle_claim(now()) {
            Ok(()) => match entry.body.take() {
                Some(body) => {
                    service.served += 1;
                    Claim::Ready(entry.meta.clone(), body)
                }
                None => Claim::Gone("already served".into()),
            },
            Err(e) => Claim::Gone(e.to_string()),
        }
    })
}

fn answer(id: DownloadId, meta: &FileMeta, body: Body) -> Result<JsValue, JsValue> {
    let headers = Headers::new()?;
    for (name, value) in response_headers(meta).map_err(|e| JsValue::from_str(&e.to_string()))? {
        headers.append(name, &value)?;
    }
    let bus = SERVICE.with(|s| s.borrow().downloads.get(&id).map(|e| e.bus.clone()));
    let stream = match (body, bus) {
        (Body::Transfer(inner), Some(bus)) => stream::wrap_transferred(bus, id, inner, meta.size)?,
        (Body::Fallback(fallback), _) => fallback.readable()?,
        (Body::Transfer(_), None) => return not_found("the page is gone"),
    };
    let init = ResponseInit::new();
    init.set_status(200);
    init.set_headers(&headers);
    Ok(Response::new_with_opt_readable_stream_and_init(Some(&stream), &init)?.into())
}

/// Forgets a download once its stream ended, failed or was cancelled.
pub(crate) fn finished(id: DownloadId) {
    SERVICE.with(|s| s.borrow_mut().downloads.remove(&id));
}

fn not_found(why: &str) -> Result<JsValue, JsValue> {
    let init = ResponseInit::new();
    init.set_status(404);
    Ok(Response::new_with_opt_str_and_init(Some(&format!("Sluice: {why}")), &init)?.into())
}

/// Counters for tests: `{ open, served, maxQueuedBytes, maxQueuedChunks, windowBytes }`.
#[wasm_bindgen]
pub fn debug_stats() -> JsValue {
    let stats = js_sys::Object::new();
    SERVICE.with(|s| {
        let service = s.borrow();
        let _ = Reflect::set(&stats, &"open".into(), &(service.downloads.len() as u32).into());
        let _ = Reflect::set(&stats, &"served".into(), &(service.served as f64).into());
    });
    let (chunks, bytes) = stream::peak_queued();
    let _ = Reflect::set(&stats, &"maxQueuedChunks".into(), &(chunks as u32).into());
    let _ = Reflect::set(&stats, &"maxQueuedBytes".into(), &(bytes as f64).into());
    stats.into()
}
