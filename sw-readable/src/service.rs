//! The service worker's entry points, called by the shim (`js/shim.js`) for each event:
//! `message` starts a connection, `fetch` claims a download from the registry.

use js_sys::{Promise, Reflect};
use sluice_core::wire::ErrorCode;
use sluice_core::{response_headers, ClaimError, Claimed, DownloadUrl, ToServiceWorker};
use sluice_web::describe;
use sluice_worker_bus::web::{written, JsSource};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, spawn_local};
use web_sys::{
    ExtendableMessageEvent, FetchEvent, Headers, MessagePort, Response, ResponseInit, ServiceWorker,
    ServiceWorkerGlobalScope,
};

use crate::registry::{registry, Body};
use crate::{connection, fallback};

fn scope() -> String {
    let global: web_sys::ServiceWorkerGlobalScope = js_sys::global().unchecked_into();
    global.registration().scope()
}

/// Reports a panic to every page of this worker (`{ sluiceServiceWorkerError }`).
fn report(message: &str) {
    let global: web_sys::ServiceWorkerGlobalScope = js_sys::global().unchecked_into();
    let message = message.to_string();
    spawn_local(async move {
        let Ok(clients) = wasm_bindgen_futures::JsFuture::from(global.clients().match_all()).await else { return };
        let report = js_sys::Object::new();
        let _ = Reflect::set(&report, &"sluiceServiceWorkerError".into(), &message.into());
        for client in js_sys::Array::from(&clients).iter() {
            if let Ok(client) = client.dyn_into::<web_sys::Client>() {
                let _ = client.post_message(&report);
            }
        }
    });
}

/// Runs when the module loads, wherever it loads (the module is the page's too): only a
/// service worker installs the service worker's diagnostics.
#[wasm_bindgen(start)]
fn start() {
    if js_sys::global().is_instance_of::<web_sys::ServiceWorkerGlobalScope>() {
        sluice_web::install_diagnostics(log::LevelFilter::Warn, report);
    }
}

thread_local! {
    /// This run of the worker: a page whose bus was opened to another run knows the bus is dead.
    static RUN: String = format!("{:016x}", (js_sys::Math::random() * 2f64.powi(53)) as u64);
}

/// A `message` event: one of [`ToServiceWorker`]'s messages (those that take a port are
/// answered or served over it); anything else is not Sluice's and is ignored.
#[wasm_bindgen]
pub fn handle_message(event: ExtendableMessageEvent) {
    let Some(message) = ToServiceWorker::decode(&JsSource(event.data())) else { return };
    let port = event.ports().get(0).dyn_into::<MessagePort>().ok();
    match (message, port) {
        // A new version of this worker is installing: it may take over once no download runs
        // here (taking over earlier would cut them: Firefox and WebKit stop the old worker).
        (ToServiceWorker::Idle, _) => {
            if let Some(newer) = event.source().and_then(|s| s.dyn_into::<ServiceWorker>().ok()) {
                spawn_local(async move {
                    registry().when_idle().await;
                    let _ = newer.post_message(&written(|o| ToServiceWorker::TakeOver.write(o)));
                });
            }
        }
        (ToServiceWorker::TakeOver, _) => {
            let global: ServiceWorkerGlobalScope = js_sys::global().unchecked_into();
            if let Ok(promise) = global.skip_waiting() {
                sluice_web::ignore_rejection(&promise);
            }
        }
        (ToServiceWorker::Connect { debug }, Some(port)) => {
            if debug {
                log::set_max_level(log::LevelFilter::Debug);
            }
            connection::spawn(port, connection::client_id(event.source()));
        }
        (ToServiceWorker::Run, Some(port)) => {
            let answer = js_sys::Object::new();
            let _ = Reflect::set(&answer, &"sluiceInstance".into(), &RUN.with(|i| i.clone()).into());
            let _ = port.post_message(&answer);
        }
        (ToServiceWorker::Stats, Some(port)) => spawn_local(async move {
            let _ = port.post_message(&debug_stats().await);
        }),
        // Keepalive: being an event is all it does; a question without its port has no answer.
        _ => {}
    }
}

/// The `install` handler of the standalone worker: the first version takes over at once; a new
/// version asks the active one, which says `take-over` once none of its downloads runs.
#[wasm_bindgen]
pub fn handle_install() {
    let global: ServiceWorkerGlobalScope = js_sys::global().unchecked_into();
    match global.registration().active() {
        Some(active) => {
            if let Err(e) = active.post_message(&written(|o| ToServiceWorker::Idle.write(o))) {
                log::warn!("cannot ask the active worker to hand over: {}", describe(&e));
            }
        }
        None => {
            if let Ok(promise) = global.skip_waiting() {
                sluice_web::ignore_rejection(&promise);
            }
        }
    }
}

/// The `fetch` handler: answers (and returns `true`) only for this worker's download URLs.
#[wasm_bindgen]
pub fn handle_fetch(event: FetchEvent) -> bool {
    let url = event.request().url();
    if DownloadUrl::is_probe(&scope(), &url) {
        return event.respond_with(&Promise::resolve(&probe_answer())).is_ok();
    }
    if DownloadUrl::parse(&scope(), &url).is_none() {
        return false;
    }
    event.respond_with(&respond(event.clone())).is_ok()
}

/// The answer to the interception self-test (`DownloadUrl::probe`): a page with a known title.
fn probe_answer() -> JsValue {
    let page = format!("<!doctype html><title>{}</title>", sluice_core::PROBE_TITLE);
    let init = ResponseInit::new();
    init.set_status(200);
    let answered = Headers::new().and_then(|headers| {
        headers.append("Content-Type", "text/html; charset=utf-8")?;
        headers.append("Cache-Control", "no-store")?;
        init.set_headers(&headers);
        Response::new_with_opt_str_and_init(Some(&page), &init)
    });
    answered.map(Into::into).unwrap_or_else(|e| e)
}

/// The response for a download URL: its stream, served once and to `GET` only; 404 if the URL
/// is unknown, expired or served, 405 for another method, 503 for a prefetch.
#[wasm_bindgen]
pub fn respond(event: FetchEvent) -> Promise {
    let request = event.request();
    future_to_promise(async move {
        if DownloadUrl::is_probe(&scope(), &request.url()) {
            return Ok(probe_answer());
        }
        let Some(parsed) = DownloadUrl::parse(&scope(), &request.url()) else {
            return refuse(404, "not a Sluice download URL");
        };
        let headers = request.headers();
        // (A byte search: `str::contains` would bring a string searcher into the wasm for this alone.)
        let says_prefetch = |name| {
            let value = headers.get(name).ok().flatten().unwrap_or_default().to_ascii_lowercase();
            value.as_bytes().windows(8).any(|w| w == b"prefetch")
        };
        let prefetch = says_prefetch("sec-purpose") || says_prefetch("purpose");
        match registry().request(parsed.id, request.method(), prefetch).await {
            Ok(claimed) => {
                // The URL is used up: a response that cannot be built fails the download.
                let download = claimed.body.download.clone();
                match answer(claimed) {
                    Ok(response) => {
                        download.claimed();
                        Ok(response)
                    }
                    Err(e) => {
                        download.fail(ErrorCode::Internal, "its response could not be built");
                        Err(e)
                    }
                }
            }
            Err(e @ ClaimError::MethodNotAllowed(_)) => refuse(405, &e.to_string()),
            Err(e @ ClaimError::Prefetch) => refuse(503, &e.to_string()),
            Err(e) => refuse(404, &e.to_string()),
        }
    })
}

fn answer(claimed: Claimed<Body>) -> Result<JsValue, JsValue> {
    let headers = Headers::new()?;
    for (name, value) in response_headers(&claimed.meta).map_err(|e| JsValue::from_str(&e.to_string()))? {
        headers.append(name, &value)?;
    }
    let init = ResponseInit::new();
    init.set_status(200);
    init.set_headers(&headers);
    Ok(Response::new_with_opt_readable_stream_and_init(Some(&claimed.body.stream), &init)?.into())
}

fn refuse(status: u16, why: &str) -> Result<JsValue, JsValue> {
    let init = ResponseInit::new();
    init.set_status(status);
    Response::new_with_opt_str_and_init(Some(&format!("Sluice: {why}")), &init).map(Into::into).inspect_err(|e| {
        log::warn!("cannot build a {status} response: {}", describe(e));
    })
}

/// Counters for tests: `{ open, served, connections, maxQueuedBytes, maxQueuedChunks }`.
async fn debug_stats() -> JsValue {
    let (open, served) = registry().stats().await;
    let stats = js_sys::Object::new();
    let (chunks, bytes) = fallback::peak_queued();
    for (key, value) in [
        ("open", open as f64),
        ("served", served as f64),
        ("connections", connection::live_connections() as f64),
        ("maxQueuedChunks", chunks as f64),
        ("maxQueuedBytes", bytes as f64),
    ] {
        let _ = Reflect::set(&stats, &key.into(), &value.into());
    }
    stats.into()
}
