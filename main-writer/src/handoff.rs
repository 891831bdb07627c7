//! A Sluice handed to a worker, the worker's end: the page makes a `MessagePort`
//! ([`crate::Sluice::hand_off`]; its end is the page's `serve_worker`)
//! that a dedicated or shared worker adopts ([`crate::Sluice::adopt`]). Over that port the
//! worker asks its page for what only a page has: new ports to the service worker (the worker's
//! buses then go straight to it, so no chunk passes the page), the opening of a download's URL,
//! events for the service worker while bytes flow (a port's messages are none), and, on the
//! rungs without a service worker, the hand-over of a finished file (a `File` or `Blob`,
//! which the page gets without a copy).
//!
//! The messages are core's [`ToPage`] (worker to page; a save also carries `file` and a
//! `reply` port) and [`FromPage`] (the page's answers; a port answer also carries `port`).

use std::time::Duration;

use futures::FutureExt;
use js_sys::Reflect;
use sluice_core::{FromPage, ToPage};
use sluice_web::{describe, ignore_rejection, sleep};
use sluice_worker_bus::web::{written, JsSource};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, MessagePort};

use crate::error::SluiceError;
use crate::js_calls::{field, global, listen, method, object};

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
        self.port.post_message(&written(|o| ToPage::Port.write(o)))?;
        let reply = answer(&self.replies, timeout).await.ok_or(SluiceError::ServiceWorkerGone(timeout))?;
        match (FromPage::decode(&JsSource(reply.clone())), field(&reply, "port").dyn_into::<MessagePort>()) {
            (Some(FromPage::PortFailed { error }), _) => {
                Err(SluiceError::Registration(format!("the page could not reach the service worker: {error}")))
            }
            (Some(FromPage::Local), _) => Ok(None),
            (Some(FromPage::Port { scope }), Ok(port)) => Ok(Some((port, scope))),
            _ => Err(SluiceError::Browser(format!("the page answered {}", describe(&reply)))),
        }
    }

    /// Holds a Web Lock for as long as this worker lives and tells the page its name (once the
    /// lock is ours), so that the page learns when the worker is gone (terminated, or closed
    /// without a goodbye). Where there is no `navigator.locks` (an insecure context), nothing.
    pub(crate) fn hold_lock(&self, lock: &str) -> Result<(), JsValue> {
        let locks = field(&global("navigator"), "locks");
        // Held while its callback's promise is pending: `Promise.race([])` never settles.
        let promise = global("Promise");
        let forever = method(&field(&promise, "race"), "bind", &[&promise, &js_sys::Array::new()])?;
        ignore_rejection(&method(&locks, "request", &[&lock.into(), &forever])?.unchecked_into());
        // A request for the lock only if it is free is refused once ours is first in its queue:
        // then the page is told, and its own request comes after ours.
        let taken =
            method(&locks, "request", &[&lock.into(), &object("ifAvailable", &JsValue::TRUE), &global("Boolean")])?;
        let alive = written(|o| ToPage::Alive { lock: lock.into() }.write(o));
        let tell = method(&field(&self.port, "postMessage"), "bind", &[&self.port, &alive, &js_sys::Array::new()])?;
        ignore_rejection(&method(&taken, "then", &[&tell])?.unchecked_into());
        Ok(())
    }

    /// Tells the page what a download or the connection needs.
    pub(crate) fn tell(&self, what: &ToPage) {
        if let Err(e) = self.port.post_message(&written(|o| what.write(o))) {
            log::warn!("the page cannot be told: {}", describe(&e));
        }
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
        let save = written(|o| ToPage::Save { name: name.into(), bytes, staged: staged.map(str::to_owned) }.write(o));
        let _ = Reflect::set(&save, &"file".into(), file);
        let _ = Reflect::set(&save, &"reply".into(), &channel.port2());
        self.port.post_message_with_transferable(&save, &js_sys::Array::of1(&channel.port2()))?;
        let answer = answer(&answers, timeout).await;
        // A late answer finds the port closed, not a listener that is gone.
        channel.port1().set_onmessage(None);
        channel.port1().close();
        let answer = answer.ok_or_else(|| {
            SluiceError::Browser(format!("the page took no file in {} ms", timeout.as_millis() as u64))
        })?;
        match FromPage::decode(&JsSource(answer)) {
            Some(FromPage::Saved { error: None }) => Ok(()),
            Some(FromPage::Saved { error: Some(error) }) => {
                Err(SluiceError::Browser(format!("the page could not hand the file over: {error}")))
            }
            _ => Err(SluiceError::Browser("the page answered no save".into())),
        }
    }
}
