//! Shared by the browser tests and the benchmark: starting the peers.
#![allow(dead_code)]

use sluice_worker_bus::web::WebEndpoint;
use sluice_worker_bus::{Bus, BusConfig};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{RegistrationOptions, ServiceWorker, ServiceWorkerState, Worker};

pub async fn sleep(ms: u64) {
    sluice_web::sleep(std::time::Duration::from_millis(ms)).await;
}

pub fn worker() -> (Worker, Bus<WebEndpoint>) {
    let worker = Worker::new("/peer/worker.js").unwrap();
    (worker.clone(), Bus::new(WebEndpoint::worker(worker), BusConfig::default()))
}

pub async fn service_worker() -> (ServiceWorker, Bus<WebEndpoint>) {
    let container = web_sys::window().unwrap().navigator().service_worker();
    let options = RegistrationOptions::new();
    options.set_scope("/peer/");
    let registration: web_sys::ServiceWorkerRegistration =
        JsFuture::from(container.register_with_options("/peer/sw.js", &options)).await.unwrap().unchecked_into();
    for _ in 0..200 {
        if let Some(active) = registration.active().filter(|w| w.state() == ServiceWorkerState::Activated) {
            let bus = Bus::new(WebEndpoint::service_worker(active.clone(), container), BusConfig::default());
            return (active, bus);
        }
        sleep(50).await;
    }
    panic!("the service worker did not activate within 10 s");
}

/// A bus to the service worker over a `MessageChannel` (the far port goes in a first
/// message); also returns the near port, for raw posts.
pub async fn service_worker_port() -> (web_sys::MessagePort, Bus<WebEndpoint>) {
    let (sw, _) = service_worker().await;
    let channel = web_sys::MessageChannel::new().unwrap();
    let hello = js_sys::Object::new();
    js_sys::Reflect::set(&hello, &"connect".into(), &true.into()).unwrap();
    sw.post_message_with_transferable(&hello, &js_sys::Array::of1(&channel.port2())).unwrap();
    (channel.port1(), Bus::new(WebEndpoint::port(channel.port1()), BusConfig::default()))
}
