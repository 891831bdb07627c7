//! A Sluice handed to a worker, the worker's end: the page makes a `MessagePort`
//! ([`crate::Sluice::hand_off`]; its end is the page's `serve_worker`)
//! that a dedicated or shared worker adopts ([`crate::Sluice::adopt`]). Over that port the
//! worker asks its page for what only a page has: new ports to the service worker (the worker's
//! buses then go straight to it, so no chunk passes the page), the opening of a download's URL,
//! events for the service worker while bytes flow (a port's messages are none), and, on the
//! rungs without a service worker, the hand-over of a finished file (a `File` or `Blob`,
//! which the page gets without a copy).
//!
//! Worker to page: `{ sluice: "port" }`, `{ sluice: "open", url, trigger }`,
//! `{ sluice: "ended", url, finished }`, `{ sluice: "active" }`, `{ sluice: "bye" }` (its connection ended),
//! `{ sluice: "save", file, name, bytes, staged?, reply }` (`reply`: a port for the answer,
//! `{ error? }`; `staged`: the OPFS file's name, which the page then removes). Page to worker: `{ sluice: "port", port, scope }`, `{ sluice: "port", error }`,
//! or `{ sluice: "port", local: true }` where the page saves without a service worker.

use std::time::Duration;

use futures::FutureExt;
use js_sys::Reflect;
use sluice_web::{describe, sleep};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, MessagePort};

use crate::args::Trigger;
use crate::error::SluiceError;
use crate::js_calls::{field, listen, message};

/// What a worker's download asks of the page.
#[derive(Clone)]
pub(crate) enum ToPage {
    /// Open `url` as `trigger` says.
    Open { url: String, trigger: Trigger },
    /// The download at `url` ended (`finished`: served whole): let go of what opened it.
    Ended { url: String, finished: bool },
    /// The worker's connection ended: the page stops serving it.
    Bye,
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
            ToPage::Bye => self.port.post_message(&message("bye", &[])),
        };
        if let Err(e) = sent {
            log::warn!("the page cannot be told: {}", describe(&e));
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
        let answer = answer.ok_or_else(|| {
            SluiceError::Browser(format!("the page took no file in {} ms", timeout.as_millis() as u64))
        })?;
        match field(&answer, "error").as_string() {
            Some(error) => Err(SluiceError::Browser(format!("the page could not hand the file over: {error}"))),
            None => Ok(()),
        }
    }
}
