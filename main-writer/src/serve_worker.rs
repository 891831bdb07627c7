//! The page's end of a hand-off ([`crate::handoff`] has the messages and the worker's end):
//! the page serves the worker that adopted its Sluice with new ports to the service worker,
//! the opening of download URLs, events for the service worker, and the hand-over of the files
//! a worker saved on a rung without one.

use sluice_core::DownloadUrl;
use sluice_web::describe;
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;
use web_sys::{MessagePort, ServiceWorkerRegistration};

use crate::args::Trigger;
use crate::connection::{open_port, ConnectionHandle, Timing};
use crate::js_calls::{field, listen, message};
use crate::local;

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

/// Serves, on the page, the worker that got the other end of `port`, until the worker's
/// connection ends (it says `bye`; before, a worker can ask again after the service worker
/// restarted). Without a `service`, the worker saves on a rung without one and the page hands
/// its files over.
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
                (Some("bye"), _) => break,
                (Some("save"), _) => save(&request),
                _ => log::warn!("a worker asked its page {}", describe(&request)),
            }
        }
    });
}
