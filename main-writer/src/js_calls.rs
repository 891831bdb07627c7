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

/// A view of the bytes of a written chunk (a Uint8Array, any ArrayBuffer view, or an
/// ArrayBuffer, of any realm): a new plain Uint8Array on them, told by the built-in getters, so
/// that nothing the chunk says of itself (an own `length`, a prototype it was given, a `slice`
/// of its own) changes what is saved. Nothing is copied here.
pub(crate) fn chunk_view(chunk: JsValue) -> Result<Uint8Array, SluiceError> {
    let Some((buffer, offset, bytes)) = GETTERS.with(|getters| getters.span(&chunk)) else {
        return Err(wrong("a chunk", "a Uint8Array, an ArrayBuffer or another ArrayBuffer view", &chunk));
    };
    // Lengths and offsets cross into wasm as 32 bits: past them, a chunk would be cut short or
    // read elsewhere without a word. (Whole numbers: the getters answer integers.)
    let (offset, bytes) = (offset as u64, bytes as u64);
    if bytes > u64::from(u32::MAX) {
        return Err(SluiceError::InvalidArgument(format!("a chunk of {bytes} bytes is over 4 GiB: write it in parts")));
    }
    if offset + bytes > u64::from(u32::MAX) {
        return Err(SluiceError::InvalidArgument(format!(
            "a chunk that ends {} bytes into its ArrayBuffer, past 4 GiB: copy it out first",
            offset + bytes
        )));
    }
    if bytes == 0 {
        // A transferred buffer's views have no bytes left.
        if GETTERS.with(|getters| getters.detached(&buffer)) {
            return Err(SluiceError::InvalidArgument("a chunk's ArrayBuffer was transferred away (detached)".into()));
        }
        return Ok(Uint8Array::new_with_length(0));
    }
    Ok(Uint8Array::new_with_byte_offset_and_length(&buffer, offset as u32, bytes as u32))
}

/// The built-in getters of views and buffers, which answer from what a value is, whatever its
/// own properties or prototype say (and for any realm's).
struct Getters {
    /// `%TypedArray%.prototype`'s `Symbol.toStringTag`, `buffer`, `byteOffset`, `byteLength`.
    typed: [Getter; 4],
    /// `DataView.prototype`'s `buffer`, `byteOffset`, `byteLength`.
    data_view: [Getter; 3],
    /// `ArrayBuffer.prototype`'s `byteLength`.
    buffer_length: Getter,
    /// The `Uint8Array` constructor, which throws for a detached buffer.
    view: Function,
}

/// A built-in getter (none where the engine lacks it).
struct Getter(Option<Function>);

impl Getter {
    /// The getter of `key` on the prototype of `value`.
    fn of(value: &JsValue, key: JsValue) -> Getter {
        let descriptor = Object::get_own_property_descriptor(&Object::get_prototype_of(value), &key);
        Getter(Reflect::get(&descriptor, &"get".into()).ok().and_then(|get| get.dyn_into().ok()))
    }

    /// What it answers for `this` (none where it throws).
    fn get(&self, this: &JsValue) -> Option<JsValue> {
        self.0.as_ref()?.call0(this).ok()
    }

    /// A number it answers (0 where it throws).
    fn number(&self, this: &JsValue) -> f64 {
        self.get(this).and_then(|n| n.as_f64()).unwrap_or(0.0)
    }
}

thread_local! {
    static GETTERS: Getters = Getters::new();
}

/// Keeps the built-in getters as they are now (before the page's code could replace them).
pub(crate) fn keep_builtins() {
    GETTERS.with(|_| ());
}

impl Getters {
    fn new() -> Getters {
        let typed: JsValue = Object::get_prototype_of(&Uint8Array::new_with_length(0)).into();
        let buffer = js_sys::ArrayBuffer::new(0);
        let data_view: JsValue = js_sys::DataView::new(&buffer, 0, 0).into();
        let buffer: JsValue = buffer.into();
        Getters {
            typed: [js_sys::Symbol::to_string_tag().into(), "buffer".into(), "byteOffset".into(), "byteLength".into()]
                .map(|key| Getter::of(&typed, key)),
            data_view: ["buffer", "byteOffset", "byteLength"].map(|key| Getter::of(&data_view, key.into())),
            buffer_length: Getter::of(&buffer, "byteLength".into()),
            view: Uint8Array::new_with_length(0).constructor(),
        }
    }

    /// The buffer, byte offset and byte length `chunk` covers, if it is a view or an ArrayBuffer.
    fn span(&self, chunk: &JsValue) -> Option<(JsValue, f64, f64)> {
        // The tag's getter answers undefined for anything but a typed array (it never throws).
        let [tag, buffer, offset, length] = &self.typed;
        if tag.get(chunk).is_some_and(|tag| tag.is_string()) {
            return Some((buffer.get(chunk)?, offset.number(chunk), length.number(chunk)));
        }
        // The DataView getters throw for anything else (and its lengths for a detached buffer).
        let [buffer, offset, length] = &self.data_view;
        if let Some(buffer) = buffer.get(chunk) {
            return Some((buffer, offset.number(chunk), length.number(chunk)));
        }
        let length = self.buffer_length.get(chunk)?.as_f64()?;
        Some((chunk.clone(), 0.0, length))
    }

    /// Whether `buffer` was transferred away: no view can be made on it (in every engine, where
    /// `ArrayBuffer.prototype.detached` is recent).
    fn detached(&self, buffer: &JsValue) -> bool {
        Reflect::construct(&self.view, &js_sys::Array::of1(buffer)).is_err()
    }
}
