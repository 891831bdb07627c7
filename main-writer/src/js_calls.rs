//! Calls into JavaScript by name, for what web-sys does not bind (or binds only behind features
//! that cost), and the pipe the download's bytes go through to another thread.

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageEvent, MessagePort, TransformStream};

use crate::error::SluiceError;

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

/// What kind of JavaScript value `value` is, for an error text: `typeof`, or null or an array.
fn kind(value: &JsValue) -> String {
    if value.is_null() {
        "null".into()
    } else if js_sys::Array::is_array(value) {
        "an array".into()
    } else {
        value.js_typeof().as_string().unwrap_or_default()
    }
}

/// `what` must be `takes`, and `value` is not.
pub(crate) fn wrong(what: &str, takes: &str, value: &JsValue) -> SluiceError {
    SluiceError::InvalidArgument(format!("{what} must be {takes}, not {}", kind(value)))
}

/// Whether `buffer` (an `ArrayBuffer`) was transferred away: its bytes are gone.
fn detached(buffer: &JsValue) -> bool {
    Reflect::get(buffer, &"detached".into()).ok().and_then(|v| v.as_bool()) == Some(true)
}

/// A view of the bytes of a written chunk (a Uint8Array, any ArrayBuffer view, or an
/// ArrayBuffer): nothing is copied here.
pub(crate) fn chunk_view(chunk: JsValue) -> Result<Uint8Array, SluiceError> {
    // Lengths and offsets cross into wasm as 32 bits: past them, a chunk would be cut short or
    // read elsewhere without a word.
    let bytes = sluice_web::byte_length(&chunk);
    let offset = Reflect::get(&chunk, &"byteOffset".into()).ok().and_then(|v| v.as_f64()).unwrap_or(0.0) as u64;
    if bytes > u64::from(u32::MAX) {
        return Err(SluiceError::InvalidArgument(format!("a chunk of {bytes} bytes is over 4 GiB: write it in parts")));
    }
    if offset + bytes > u64::from(u32::MAX) {
        return Err(SluiceError::InvalidArgument(format!(
            "a chunk that ends {} bytes into its ArrayBuffer, past 4 GiB: copy it out first",
            offset + bytes
        )));
    }
    let view = any_view(chunk)?;
    // A subclass (Node's `Buffer` and its browser polyfill) may answer `slice` with a view of
    // the caller's memory, which the caller may refill once the write resolves: Sluice's copies
    // are made from a plain Uint8Array on the same bytes.
    if !PLAIN.with(|plain| *plain == JsValue::from(Object::get_prototype_of(&view))) {
        return Ok(Uint8Array::new_with_byte_offset_and_length(&view.buffer(), view.byte_offset(), view.byte_length()));
    }
    Ok(view)
}

thread_local! {
    /// This realm's `Uint8Array.prototype`.
    static PLAIN: JsValue = Object::get_prototype_of(&Uint8Array::new_with_length(0)).into();
}

/// The chunk as a Uint8Array on its bytes, of any kind or realm.
fn any_view(chunk: JsValue) -> Result<Uint8Array, SluiceError> {
    // The kind of a view is its tag: `instanceof` tells only the prototype, which a wider view
    // (a Float32Array) may have been given; its elements are not its bytes.
    let tag = Reflect::get(&chunk, &js_sys::Symbol::to_string_tag()).ok().and_then(|t| t.as_string());
    let bytes_kind = tag.as_deref() == Some("Uint8Array");
    // The common case: a Uint8Array of this realm (a real one: an object made from its
    // prototype is no view) with bytes in it (a detached buffer's views have none).
    let chunk = match chunk.dyn_into::<Uint8Array>() {
        Ok(view) if bytes_kind && js_sys::ArrayBuffer::is_view(&view) && view.length() > 0 => return Ok(view),
        Ok(view) => JsValue::from(view),
        Err(chunk) => chunk,
    };
    let chunk = &chunk;
    // Realm-blind checks: a chunk made in another frame (or by the automation) is bytes too.
    let view = js_sys::ArrayBuffer::is_view(chunk);
    let buffer = chunk.is_object() && tag.as_deref() == Some("ArrayBuffer");
    if !(view || buffer) {
        return Err(wrong("a chunk", "a Uint8Array, an ArrayBuffer or another ArrayBuffer view", chunk));
    }
    let buffer = if view { Reflect::get(chunk, &"buffer".into())? } else { chunk.clone() };
    if detached(&buffer) {
        return Err(SluiceError::InvalidArgument("a chunk's ArrayBuffer was transferred away (detached)".into()));
    }
    if let Some(view) = chunk.dyn_ref::<Uint8Array>().filter(|_| bytes_kind) {
        return Ok(view.clone());
    }
    if !view {
        return Ok(Uint8Array::new(&buffer));
    }
    let number = |key: &str| Reflect::get(chunk, &key.into()).ok().and_then(|v| v.as_f64()).unwrap_or(0.0) as u32;
    Ok(Uint8Array::new_with_byte_offset_and_length(&buffer, number("byteOffset"), number("byteLength")))
}
