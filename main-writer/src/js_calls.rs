//! Calls into JavaScript by name, for what web-sys does not bind (or binds only behind features
//! that cost), and the pipe the download's bytes go through to another thread.

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageEvent, MessagePort, TransformStream};

/// Chunks the page's end of a transfer pipe holds, so that a write need not wait for the
/// service worker's next read (each read is a round trip between the two).
const PIPE_CHUNKS: f64 = 4.0;

/// `target[name](...args)`.
pub(crate) fn method(target: &JsValue, name: &str, args: &[&JsValue]) -> Result<JsValue, JsValue> {
    let function: Function = Reflect::get(target, &name.into())?.dyn_into()?;
    function.apply(target, &args.iter().collect::<Array>())
}

/// `target[name](...args)` to await (a promise, or a plain value).
pub(crate) fn call(target: &JsValue, name: &str, args: &[&JsValue]) -> JsFuture {
    JsFuture::from(method(target, name, args).map_or_else(|e| Promise::reject(&e), |v| Promise::resolve(&v)))
}

/// `{ key: value }`.
pub(crate) fn object(key: &str, value: &JsValue) -> JsValue {
    let object = Object::new();
    let _ = Reflect::set(&object, &key.into(), value);
    object.into()
}

/// `globalThis[name]`.
pub(crate) fn global(name: &str) -> JsValue {
    Reflect::get(&js_sys::global(), &name.into()).unwrap_or(JsValue::UNDEFINED)
}

/// `data[key]` (undefined where there is none).
pub(crate) fn field(data: &JsValue, key: &str) -> JsValue {
    Reflect::get(data, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// The data of each message that arrives on `port`, while the returned closure lives.
pub(crate) fn listen(
    port: &MessagePort,
) -> (sluice_worker_bus::channel::Receiver<JsValue>, Closure<dyn FnMut(MessageEvent)>) {
    let (tx, rx) = sluice_worker_bus::channel::unbounded();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let _ = tx.try_send(event.data());
    });
    port.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    (rx, on_message)
}

/// A pipe whose readable end queues [`PIPE_CHUNKS`] chunks, for a stream the download's bytes go
/// through to another thread (the service worker, a stager).
pub(crate) fn pipe() -> Result<TransformStream, JsValue> {
    let queued = web_sys::QueuingStrategy::new();
    queued.set_high_water_mark(PIPE_CHUNKS);
    TransformStream::new_with_transformer_and_writable_strategy_and_readable_strategy(
        &js_sys::Object::new(),
        &web_sys::QueuingStrategy::new(),
        &queued,
    )
}
