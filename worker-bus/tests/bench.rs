//! `cargo xtask bench bus`: round trips per second and MB/s of transferred payloads between
//! the page and a service worker, with page <-> dedicated worker as the baseline of the same
//! run. Prints figures; asserts nothing about speed.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, missing_docs)]

use futures::stream::{FuturesUnordered, StreamExt};
use js_sys::ArrayBuffer;
use sluice_bus_peer::ECHO;
use sluice_core::Message;
use sluice_worker_bus::web::WebEndpoint;
use sluice_worker_bus::Bus;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

mod common;
use common::{service_worker, service_worker_port, worker};

const ROUND_TRIPS: u64 = 2000;
const BYTES_PER_SIZE: u64 = 128 << 20;
const IN_FLIGHT: usize = 8;

fn chunk(seq: u64) -> Message {
    Message::Chunk { id: ECHO, seq, len: 0 }
}

fn seconds_since(start: f64) -> f64 {
    (js_sys::Date::now() - start).max(1.0) / 1000.0
}

async fn round_trips_per_second(bus: &Bus<WebEndpoint>) -> f64 {
    let start = js_sys::Date::now();
    for seq in 0..ROUND_TRIPS {
        bus.request(chunk(seq), None).await.unwrap();
    }
    ROUND_TRIPS as f64 / seconds_since(start)
}

/// MB/s of `size`-byte payloads sent with up to [`IN_FLIGHT`] requests waiting; each buffer
/// is transferred there and back and then sent again.
async fn megabytes_per_second(bus: &Bus<WebEndpoint>, size: u32) -> f64 {
    let count = BYTES_PER_SIZE / u64::from(size);
    let mut free: Vec<JsValue> = (0..IN_FLIGHT).map(|_| ArrayBuffer::new(size).into()).collect();
    let mut waiting = FuturesUnordered::new();
    let start = js_sys::Date::now();
    let mut sent = 0;
    while sent < count || !waiting.is_empty() {
        while sent < count && !free.is_empty() {
            waiting.push(bus.request(chunk(sent), free.pop()));
            sent += 1;
        }
        let reply = waiting.next().await.unwrap().unwrap();
        let buffer: ArrayBuffer = reply.attachment.unwrap().dyn_into().unwrap();
        assert_eq!(buffer.byte_length(), size);
        free.push(buffer.into());
    }
    BYTES_PER_SIZE as f64 / 1e6 / seconds_since(start)
}

#[wasm_bindgen_test]
async fn bus_throughput() {
    let (worker_handle, worker_bus) = worker();
    let (_sw, sw_bus) = service_worker().await;
    let (_port, port_bus) = service_worker_port().await;
    let mut rows = Vec::new();
    for bus in [&worker_bus, &sw_bus, &port_bus] {
        let rtt = round_trips_per_second(bus).await;
        let small = megabytes_per_second(bus, 64 << 10).await;
        let large = megabytes_per_second(bus, 1 << 20).await;
        rows.push([rtt, small, large]);
    }
    console_log!(
        "bus benchmark ({ROUND_TRIPS} round trips; {} MiB per payload size; {IN_FLIGHT} requests in flight)",
        BYTES_PER_SIZE >> 20
    );
    console_log!("{:<32} {:>14} {:>14} {:>14}", "peer", "round trips/s", "64 KiB MB/s", "1 MiB MB/s");
    let names = ["page <-> dedicated worker", "page <-> service worker", "page <-> service worker (port)"];
    for (name, row) in names.iter().zip(&rows) {
        console_log!("{:<32} {:>14.0} {:>14.1} {:>14.1}", name, row[0], row[1], row[2]);
    }
    for (name, row) in ["service worker / baseline", "sw port / baseline"].iter().zip(&rows[1..]) {
        let ratio: Vec<String> = (0..3).map(|i| format!("{:.2}", row[i] / rows[0][i])).collect();
        console_log!("{:<32} {:>14} {:>14} {:>14}", name, ratio[0], ratio[1], ratio[2]);
    }
    worker_handle.terminate();
}
