//! A Sluice handed to a worker: the page makes a `MessagePort` ([`crate::Sluice::hand_off`])
//! that a dedicated or shared worker adopts ([`crate::Sluice::adopt`]). Over that port the
//! worker asks its page for what only a page has: new ports to the service worker (the worker's
//! buses then go straight to it, so no chunk passes the page), the opening of a download's URL,
//! events for the service worker while bytes flow (a port's messages are none), and, on the
//! rungs without a service worker, the hand-over of a finished file (a `File` or `Blob`,
//! which the page gets without a copy).
//!
//! Worker to page: `{ sluice: "port" }`, `{ sluice: "open", url, trigger }`,
//! `{ sluice: "ended", url, finished }`, `{ sluice: "active" }`,
//! `{ sluice: "save", file, name, bytes, staged?, reply }` (`reply`: a port for the answer,
//! `{ error? }`; `staged`: the OPFS file's name, which the page then removes). Page to worker: `{ sluice: "port", port, scope }`, `{ sluice: "port", error }`,
//! or `{ sluice: "port", local: true }` where the page saves without a service worker.

use std::time::Duration;

use futures::FutureExt;
use js_sys::{Object, Reflect};
use sluice_core::DownloadUrl;
use sluice_worker_bus::web::{describe, sleep};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{MessageEvent, MessagePort, ServiceWorkerRegistration};

use crate::args::Trigger;
use crate::connection::{open_port, ConnectionHandle, Timing};
use crate::error::SluiceError;
use crate::local;

/// What a worker's download asks of the page.
#[derive(Debug, Clone)]
pub(crate) enum ToPage {
    /// Open `url` as `trigger` says.
    Open { url: String, trigger: Trigger },
    /// The download at `url` ended (`finished`: served whole): let go of what opened it.
    Ended { url: String, finished: bool },
}

fn message(kind: &str, fields: &[(&str, JsValue)]) -> Object {
    let message = Object::new();
    let _ = Reflect::set(&message, &"sluice".into(), &kind.into());
    for (key, value) in fields {
        let _ = Reflect::set(&message, &(*key).into(), value);
    }
    message
}

fn field(data: &JsValue, key: &str) -> JsValue {
    Reflect::get(data, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// The data of each message that arrives on `port`, while the returned closure lives.
fn listen(port: &MessagePort) -> (sluice_worker_bus::channel::Receiver<JsValue>, Closure<dyn FnMut(MessageEvent)>) {
    let (tx, rx) = sluice_worker_bus::channel::unbounded();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let _ = tx.try_send(event.data());
    });
    port.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    (rx, on_message)
}

/// The next message of `messages`, if one comes within `timeout`.
async fn answer(messages: &sluice_worker_bus::channel::Receiver<JsValue>, timeout: Duration) -> Option<JsValue> {
    futures::select_biased! {
        message = messages.recv().fuse() => message.ok(),
        () = sleep(timeout).fuse() => None,
    }
}

/// The worker's end of a hand-off.
pub(crate) struct PageLink {
    port: MessagePort,
    replies: sluice_worker_bus::channel::Receiver<JsValue>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl PageLink {
    /// Takes the port a page made with [`crate::Sluice::hand_off`].
    pub(crate) fn new(port: MessagePort) -> PageLink {
        let (replies, on_message) = listen(&port);
        PageLink { port, replies, _on_message: on_message }
    }

    /// A new port to the service worker, and the registration's scope, from the page; `None`
    /// where the page saves without a service worker.
    pub(crate) async fn port(&self, timeout: Duration) -> Result<Option<(MessagePort, String)>, SluiceError> {
        while self.replies.try_recv().is_ok() {} // a late answer to an earlier question
        self.port.post_message(&message("port", &[]))?;
        let reply = answer(&self.replies, timeout).await.ok_or(SluiceError::ServiceWorkerGone(timeout))?;
        if let Some(error) = field(&reply, "error").as_string() {
            return Err(SluiceError::Registration(format!("the page could not reach the service worker: {error}")));
        }
        if field(&reply, "local").as_bool() == Some(true) {
            return Ok(None);
        }
        match (field(&reply, "port").dyn_into::<MessagePort>(), field(&reply, "scope").as_string()) {
            (Ok(port), Some(scope)) => Ok(Some((port, scope))),
            _ => Err(SluiceError::Browser(format!("the page answered {}", describe(&reply)))),
        }
    }

    /// Tells the page what a download needs.
    pub(crate) fn tell(&self, what: &ToPage) {
        let sent = match what {
            ToPage::Open { url, trigger } => {
                let trigger = if *trigger == Trigger::Navigate { "navigate" } else { "iframe" };
                self.port.post_message(&message("open", &[("url", url.into()), ("trigger", trigger.into())]))
            }
            ToPage::Ended { url, finished } => {
                self.port.post_message(&message("ended", &[("url", url.into()), ("finished", (*finished).into())]))
            }
        };
        if let Err(e) = sent {
            log::warn!("the page cannot be told {what:?}: {}", describe(&e));
        }
    }

    /// Bytes flow: the page sends the service worker an event.
    pub(crate) fn tell_active(&self) {
        let _ = self.port.post_message(&message("active", &[]));
    }

    /// Has the page hand `file` (whole, `bytes` long) to the browser as `name`.
    /// Where the file is a staged OPFS file, its name there: the page takes it over (its lock
    /// and its removal), so a worker that ends at once leaves nothing behind.
    pub(crate) async fn save(
        &self,
        file: &JsValue,
        name: &str,
        bytes: u64,
        staged: Option<&str>,
        timeout: Duration,
    ) -> Result<(), SluiceError> {
        let channel = web_sys::MessageChannel::new()?;
        let (answers, _on_message) = listen(&channel.port1());
        let staged = staged.map_or(JsValue::UNDEFINED, JsValue::from);
        let fields =
            [("file", file.clone()), ("name", name.into()), ("bytes", (bytes as f64).into()), ("staged", staged)];
        let save = message("save", &fields);
        let _ = Reflect::set(&save, &"reply".into(), &channel.port2());
        self.port.post_message_with_transferable(&save, &js_sys::Array::of1(&channel.port2()))?;
        let answer = answer(&answers, timeout).await;
        // A late answer finds the port closed, not a listener that is gone.
        channel.port1().set_onmessage(None);
        channel.port1().close();
        let answer = answer
            .ok_or_else(|| SluiceError::Browser(format!("the page took no file in {} ms", timeout.as_millis())))?;
        match field(&answer, "error").as_string() {
            Some(error) => Err(SluiceError::Browser(format!("the page could not hand the file over: {error}"))),
            None => Ok(()),
        }
    }
}

/// What a page that saves without a service worker does for its worker.
fn serve_local(request: &JsValue, port: &MessagePort) {
    match field(request, "sluice").as_string().as_deref() {
        Some("port") => {
            if let Err(e) = port.post_message(&message("port", &[("local", true.into())])) {
                log::warn!("the worker cannot be answered: {}", describe(&e));
            }
        }
        Some("save") => save(request),
        _ => log::warn!("a worker asked its page {}", describe(request)),
    }
}

/// Hands a worker's finished file to the browser, and answers on the request's port.
fn save(request: &JsValue) {
    let Ok(reply) = field(request, "reply").dyn_into::<MessagePort>() else {
        return log::warn!("a worker asked its page to save with no port to answer on");
    };
    let name = field(request, "name").as_string().unwrap_or_default();
    let bytes = field(request, "bytes").as_f64().unwrap_or_default() as u64;
    let answer = match local::hand_over(&field(request, "file"), &name, bytes) {
        Ok(()) => {
            if let Some(staged) = field(request, "staged").as_string() {
                local::take_over(staged, bytes);
            }
            message("saved", &[])
        }
        Err(e) => message("saved", &[("error", describe(&e).into())]),
    };
    let _ = reply.post_message(&answer);
    reply.close();
}

/// The page's service worker, for the worker it serves.
pub(crate) struct Service {
    pub(crate) registration: ServiceWorkerRegistration,
    pub(crate) timing: Timing,
    pub(crate) connection: ConnectionHandle,
}

/// Serves, on the page, the worker that got the other end of `port`: for as long as the page
/// lives (a worker can ask again after the service worker restarted). Without a `service`, the
/// worker saves on a rung without one and the page hands its files over.
pub(crate) fn serve(port: MessagePort, service: Option<Service>) {
    let (requests, on_message) = listen(&port);
    spawn_local(async move {
        let _on_message = on_message;
        let Some(Service { registration, timing, connection }) = service else {
            while let Ok(request) = requests.recv().await {
                serve_local(&request, &port);
            }
            return;
        };
        let scope = registration.scope();
        while let Ok(request) = requests.recv().await {
            let url = field(&request, "url").as_string();
            // Only this registration's download URLs are opened.
            let url = url.filter(|url| DownloadUrl::parse(&scope, url).is_some());
            match (field(&request, "sluice").as_string().as_deref(), url) {
                (Some("port"), _) => {
                    let answer = match open_port(&registration, timing).await {
                        Ok(sw) => port.post_message_with_transferable(
                            &message("port", &[("port", sw.clone().into()), ("scope", scope.clone().into())]),
                            &js_sys::Array::of1(&sw),
                        ),
                        Err(e) => port.post_message(&message("port", &[("error", e.to_string().into())])),
                    };
                    if let Err(e) = answer {
                        log::warn!("the worker cannot be answered: {}", describe(&e));
                    }
                }
                (Some("open"), Some(url)) => {
                    let trigger = if field(&request, "trigger").as_string().as_deref() == Some("navigate") {
                        Trigger::Navigate
                    } else {
                        Trigger::Iframe
                    };
                    if let Err(e) = connection.open(url, trigger).await {
                        log::warn!("a worker's download cannot be opened: {e}");
                    }
                }
                (Some("ended"), Some(url)) => {
                    connection.ended(url, field(&request, "finished").as_bool() == Some(true))
                }
                (Some("active"), _) => connection.active(),
                (Some("save"), _) => save(&request),
                _ => log::warn!("a worker asked its page {}", describe(&request)),
            }
        }
    });
}
