//! The bus in real browsers: page <-> dedicated worker, page <-> service worker, and
//! MessagePort, each a round trip, a 1 MiB transfer, a timeout and malformed input.
//! Run by `cargo xtask test` in Chromium, Firefox ESR and WebKitGTK.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use js_sys::{ArrayBuffer, Uint8Array};
use sluice_bus_peer::{ECHO, SILENT};
use sluice_core::{Address, Message};
use sluice_worker_bus::web::WebEndpoint;
use sluice_worker_bus::{Bus, BusConfig, BusError};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use wasm_bindgen_test::*;
use web_sys::MessageChannel;

wasm_bindgen_test_configure!(run_in_browser);

mod common;
use common::{service_worker, service_worker_port, sleep, worker};

fn chunk(seq: u64) -> Message {
    Message::Chunk { id: ECHO, seq, len: 0 }
}

async fn round_trip(bus: &Bus<WebEndpoint>) {
    for seq in [0, 1, 77] {
        let reply = bus.request(chunk(seq), None).await.unwrap();
        assert_eq!(reply.msg, Message::Pong { nonce: seq * 3 });
    }
    let pong = bus.request(Message::Ping { nonce: 9 }, None).await.unwrap();
    assert_eq!(pong.msg, Message::Pong { nonce: 9 });
}

async fn transfer_one_mib(bus: &Bus<WebEndpoint>) {
    let bytes: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let buffer = Uint8Array::from(&bytes[..]).buffer();
    let request = bus.request(chunk(5), Some(buffer.clone().into()));
    let reply =
        poll_once_then(request, |()| assert_eq!(buffer.byte_length(), 0, "the sender's buffer was not detached"));
    assert_eq!(reply.await.unwrap().msg, Message::Pong { nonce: 15 });
    // Answered with the same bytes, transferred back.
    let reply = bus.request(chunk(6), Some(Uint8Array::from(&bytes[..]).buffer().into())).await.unwrap();
    let back: ArrayBuffer = reply.attachment.unwrap().dyn_into().unwrap();
    assert_eq!(Uint8Array::new(&back).to_vec(), bytes);
}

/// Polls `future` once (which posts), runs `check`, then awaits it.
async fn poll_once_then<F: std::future::Future>(future: F, check: impl FnOnce(())) -> F::Output {
    let mut future = Box::pin(future);
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let first = future.as_mut().poll(&mut cx);
    check(());
    match first {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => future.await,
    }
}

async fn times_out(bus: &Bus<WebEndpoint>) {
    let before = bus.stats().timeouts;
    let answer =
        bus.request_within(Message::Chunk { id: SILENT, seq: 0, len: 0 }, None, Duration::from_millis(300)).await;
    assert_eq!(answer.unwrap_err(), BusError::Timeout(Duration::from_millis(300)));
    assert_eq!(bus.stats().timeouts, before + 1);
    assert_eq!(bus.stats().pending_requests, 0);
}

async fn rejected_by_peer(bus: &Bus<WebEndpoint>) -> u64 {
    match bus.request(Message::Close { id: ECHO, total: 0 }, None).await.unwrap().msg {
        Message::Pong { nonce } => nonce,
        other => panic!("{other:?}"),
    }
}

fn garbage() -> Vec<JsValue> {
    let not_a_frame = js_sys::JSON::parse(r#"{"v": 2, "body": {"kind": "no_such_kind"}}"#).unwrap();
    let huge = js_sys::JSON::parse(r#"{"v": 2, "body": {"kind": "tell", "msg": {"type": "close", "id": "0000000000000000000000000000ec40", "total": 1e300}}}"#).unwrap();
    vec![JsValue::from_str("garbage"), JsValue::NULL, not_a_frame, huge]
}

/// Round trips, a 1 MiB transfer, a timeout, and malformed input (posted with `post_raw`)
/// that the peer counts and ignores.
async fn exercise(bus: &Bus<WebEndpoint>, post_raw: impl Fn(&JsValue)) {
    round_trip(bus).await;
    transfer_one_mib(bus).await;
    times_out(bus).await;
    let before = rejected_by_peer(bus).await;
    for value in garbage() {
        post_raw(&value);
    }
    round_trip(bus).await;
    assert_eq!(rejected_by_peer(bus).await, before + 4);
}

#[wasm_bindgen_test]
async fn dedicated_worker() {
    let (worker, bus) = worker();
    exercise(&bus, |value| worker.post_message(value).unwrap()).await;
    worker.terminate();
}

#[wasm_bindgen_test]
async fn service_worker_round_trips() {
    let (sw, bus) = service_worker().await;
    exercise(&bus, |value| sw.post_message(value).unwrap()).await;
}

#[wasm_bindgen_test]
async fn service_worker_over_a_message_port() {
    let (port, bus) = service_worker_port().await;
    exercise(&bus, |value| port.post_message(value).unwrap()).await;
}

#[wasm_bindgen_test]
async fn message_port_and_malformed_input_on_this_side() {
    let channel = MessageChannel::new().unwrap();
    let raw = channel.port2();
    let near = Bus::new(WebEndpoint::port(channel.port1()), BusConfig::default());
    let far = Bus::new(WebEndpoint::port(channel.port2()), BusConfig::default());
    let (_echo, mailbox) = far.actor(Address::Download(ECHO)).unwrap();
    spawn_local(async move {
        while let Some(incoming) = mailbox.recv().await {
            if let (Message::Chunk { seq, .. }, Some(responder)) = (incoming.msg, incoming.responder) {
                responder.reply(Message::Pong { nonce: seq * 3 }, incoming.attachment).unwrap();
            }
        }
    });
    for value in garbage() {
        raw.post_message(&value).unwrap();
    }
    let reply = near.request(chunk(4), None).await.unwrap();
    assert_eq!(reply.msg, Message::Pong { nonce: 12 });
    sleep(50).await;
    assert_eq!(near.stats().rejected, 4);
    let unknown = near.request(Message::Chunk { id: SILENT, seq: 0, len: 0 }, None).await;
    assert!(matches!(unknown, Err(BusError::Remote { .. })), "{unknown:?}");
}

#[wasm_bindgen_test]
fn a_huge_text_is_cut_before_it_is_copied_in() {
    use sluice_core::wire::{Source, MAX_RECEIVED_TEXT};
    use sluice_core::ToServiceWorker;
    use sluice_worker_bus::web::JsSource;
    let text = |units: usize| JsSource(JsValue::from_str(&"a".repeat(units))).text();
    assert_eq!(text(MAX_RECEIVED_TEXT).map(|t| t.len()), Some(MAX_RECEIVED_TEXT));
    assert_eq!(text(MAX_RECEIVED_TEXT + 1).map(|t| t.len()), Some(MAX_RECEIVED_TEXT));
    // A control message whose kind is huge is not Sluice's; a true one still is.
    let control = |kind: &str| {
        let data = js_sys::Object::new();
        js_sys::Reflect::set(&data, &"sluice".into(), &kind.into()).unwrap();
        ToServiceWorker::decode(&JsSource(data.into()))
    };
    assert_eq!(control(&"stats".repeat(MAX_RECEIVED_TEXT)), None);
    assert_eq!(control("stats"), Some(ToServiceWorker::Stats));
}
