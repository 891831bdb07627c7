//! The page's end of a hand-off ([`crate::handoff`] has the messages and the worker's end):
//! the page serves the worker that adopted its Sluice with new ports to the service worker,
//! the opening of download URLs, events for the service worker, and the hand-over of the files
//! a worker saved on a rung without one.

use sluice_core::{FromPage, Opened, ToPage};
use sluice_web::{describe, ignore_rejection};
use sluice_worker_bus::web::{written, JsSource};
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;
use web_sys::{MessageEvent, MessagePort, ServiceWorkerRegistration};

use crate::args::Trigger;
use crate::connection::{open_port, ConnectionHandle, Timing};
use crate::js_calls::{field, global, listen, method};
use crate::local;

/// Answers the worker on `port`; a new port to the service worker goes with the answer.
fn answer(port: &MessagePort, answer: &FromPage, new_port: Option<&MessagePort>) {
    let message = written(|o| answer.write(o));
    let transfer = js_sys::Array::new();
    if let Some(new_port) = new_port {
        let _ = js_sys::Reflect::set(&message, &"port".into(), new_port);
        transfer.push(new_port);
    }
    if let Err(e) = port.post_message_with_transferable(&message, &transfer) {
        log::warn!("the worker cannot be answered: {}", describe(&e));
    }
}

/// Hands a worker's finished file to the browser, and answers on the request's port.
fn save(request: &JsValue, name: &str, bytes: u64, staged: Option<String>) {
    let Ok(reply) = field(request, "reply").dyn_into::<MessagePort>() else {
        return log::warn!("a worker asked its page to save with no port to answer on");
    };
    let error = match local::hand_over(&field(request, "file"), name, bytes) {
        Ok(()) => {
            if let Some(staged) = staged {
                local::take_over(staged, bytes);
            }
            None
        }
        Err(e) => Some(describe(&e)),
    };
    answer(&reply, &FromPage::Saved { error }, None);
    reply.close();
}

/// How long after the worker is gone its last messages may still come (they take another way
/// than the lock's grant).
const LAST_MESSAGES: f64 = 500.0;

/// Once the page is granted the worker's `lock` (the worker is gone), and [`LAST_MESSAGES`]
/// later, a message without data on its `port`.
fn watch(port: &MessagePort, lock: String) -> Result<(), JsValue> {
    let granted = method(&field(&global("navigator"), "locks"), "request", &[&lock.into(), &global("Boolean")])?;
    let gone = method(&field(port, "dispatchEvent"), "bind", &[port, &MessageEvent::new("message")?.into()])?;
    let later = method(&global("setTimeout"), "bind", &[&JsValue::NULL, &gone, &LAST_MESSAGES.into()])?;
    ignore_rejection(&method(&granted, "then", &[&later])?.unchecked_into());
    Ok(())
}

/// The page's service worker, for the worker it serves.
pub(crate) struct Service {
    pub(crate) registration: ServiceWorkerRegistration,
    pub(crate) timing: Timing,
    pub(crate) connection: ConnectionHandle,
}

/// Serves, on the page, the worker that got the other end of `port`, until the worker's
/// connection ends (it says `bye`; a worker can ask again after the service worker restarted)
/// or the worker is gone (the page is granted the lock the worker held).
/// Without a `service`, the worker saves on a rung without one and the page hands its files over.
pub(crate) fn serve(port: MessagePort, service: Option<Service>) {
    let (requests, on_message) = listen(&port);
    spawn_local(async move {
        let _on_message = on_message;
        let mut opened = Opened::new(service.as_ref().map(|s| s.registration.scope()));
        // `null`: the worker is gone (see `watch`).
        while let Some(request) = requests.recv().await.ok().filter(|r| !r.is_null()) {
            match (ToPage::decode(&JsSource(request.clone())), &service) {
                // Where it cannot be watched, the serving ends with the page's connection.
                (Some(ToPage::Alive { lock }), _) => drop(watch(&port, lock)),
                (Some(ToPage::Save { name, bytes, staged }), _) => save(&request, &name, bytes, staged),
                (Some(ToPage::Port), None) => answer(&port, &FromPage::Local, None),
                (Some(ToPage::Port), Some(Service { registration, timing, .. })) => {
                    match open_port(registration, *timing).await {
                        Ok(sw) => answer(&port, &FromPage::Port { scope: registration.scope() }, Some(&sw)),
                        Err(e) => answer(&port, &FromPage::PortFailed { error: e.to_string() }, None),
                    }
                }
                (Some(ToPage::Open { url, navigate }), Some(Service { connection, .. })) if opened.may_open(&url) => {
                    let trigger = if navigate { Trigger::Navigate } else { Trigger::Iframe };
                    match connection.open(url.clone(), trigger).await {
                        Ok(()) => opened.handle_opened(url),
                        Err(e) => log::warn!("a worker's download cannot be opened: {e}"),
                    }
                }
                (Some(ToPage::Ended { url, finished }), Some(service)) if opened.handle_ended(&url) => {
                    service.connection.ended(Some(url), finished);
                }
                (Some(ToPage::Active), Some(service)) => service.connection.active(),
                (Some(ToPage::Bye), Some(_)) => break,
                _ => log::warn!("a worker asked its page {}", describe(&request)),
            }
        }
        // The worker's connection ended, and its downloads with it: what opened them goes, and
        // the port with its listener (a late message finds it closed, not a closure that is gone).
        if let Some(service) = &service {
            for url in opened.end() {
                service.connection.ended(Some(url), false);
            }
        }
        port.set_onmessage(None);
        port.close();
    });
}
