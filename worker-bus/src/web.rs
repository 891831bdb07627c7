//! Endpoints over the browser's `postMessage` targets.
//!
//! A frame travels as a plain object (core's [`Frame::encode`], read back field by field); an attachment
//! travels beside it under the key `data` and, when it is an `ArrayBuffer`, a `ReadableStream`
//! or a `MessagePort`, in the transfer list (moved, never copied).
//!
//! In a service worker, `message` listeners must exist from the script's first evaluation, so
//! `ClientEndpoint` (feature `testing`) installs none: the worker's own listener passes each
//! event to `dispatch_service_worker_message`.

use js_sys::{Array, ArrayBuffer, Reflect};
use sluice_core::wire::{Source, Value};
use sluice_core::wire::{MAX_FRAME_DEPTH, MAX_FRAME_VALUES, MAX_RECEIVED_TEXT, MAX_TEXT_BYTES};
use sluice_core::{DecodeError, Frame};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{
    DedicatedWorkerGlobalScope, EventTarget, MessageEvent, MessagePort, ReadableStream, ServiceWorker,
    ServiceWorkerContainer, Worker,
};

use sluice_web::describe;

use crate::endpoint::{Endpoint, Inbound, Listener, PostError, Rejected};

/// Key of the attachment beside the frame.
const DATA: &str = "data";

/// A frame's plain object as a JavaScript value.
fn to_js(value: &Value) -> JsValue {
    match value {
        Value::Number(n) => JsValue::from_f64(*n),
        Value::Text(s) => JsValue::from_str(s),
        Value::Null => JsValue::NULL,
        Value::Object(fields) => {
            let object = js_sys::Object::new();
            for (key, value) in fields {
                let _ = Reflect::set(&object, &JsValue::from_str(key), &to_js(value));
            }
            object.into()
        }
    }
}

/// Turns a frame and its attachment into what `postMessage` takes.
fn encode(frame: &Frame, attachment: Option<JsValue>) -> Result<(JsValue, Array), PostError> {
    let value = to_js(&frame.encode());
    let transfer = Array::new();
    if let Some(attachment) = attachment {
        Reflect::set(&value, &DATA.into(), &attachment).map_err(post_error)?;
        if attachment.is_instance_of::<ArrayBuffer>()
            || attachment.is_instance_of::<ReadableStream>()
            || attachment.is_instance_of::<MessagePort>()
        {
            transfer.push(&attachment);
        }
    }
    Ok((value, transfer))
}

/// A JavaScript object that core's encoders write field by field.
#[derive(Debug, Default)]
pub struct JsSink(pub js_sys::Object);

impl sluice_core::wire::Sink for JsSink {
    fn text(&mut self, key: &'static str, value: &str) {
        let _ = Reflect::set(&self.0, &JsValue::from_str(key), &JsValue::from_str(value));
    }

    fn number(&mut self, key: &'static str, value: f64) {
        let _ = Reflect::set(&self.0, &JsValue::from_str(key), &JsValue::from_f64(value));
    }
}

/// A new object with what `write` writes (core's encoders: `|o| message.write(o)`).
pub fn written(write: impl FnOnce(&mut JsSink)) -> js_sys::Object {
    let mut sink = JsSink::default();
    write(&mut sink);
    sink.0
}

/// A received JavaScript value, read field by field by core's decoders.
#[derive(Debug)]
pub struct JsSource(pub JsValue);

impl Source for JsSource {
    fn field(&self, key: &str) -> Option<Self> {
        if !self.0.is_object() {
            return None;
        }
        let value = Reflect::get(&self.0, &JsValue::from_str(key)).ok()?;
        (!value.is_undefined() && !value.is_null()).then_some(JsSource(value))
    }

    fn number(&self) -> Option<f64> {
        self.0.as_f64()
    }

    /// A string, cut to its first [`MAX_RECEIVED_TEXT`] units: any same-origin client may post
    /// one, and copying a huge one would grow wasm memory for good. (Cut, not refused: a long
    /// error must still read as an error.)
    fn text(&self) -> Option<String> {
        let text = self.0.dyn_ref::<js_sys::JsString>()?;
        match text.length() as usize > MAX_RECEIVED_TEXT {
            true => Some(text.slice(0, MAX_RECEIVED_TEXT as u32).into()),
            false => Some(text.into()),
        }
    }
}

/// Decodes a received value; `expected_origin` is checked when the event names an origin.
fn decode(data: &JsValue, origin: &str, expected_origin: &str) -> Inbound<JsValue> {
    if !origin.is_empty() && origin != expected_origin {
        return Err(Rejected::ForeignOrigin(origin.chars().take(200).collect()));
    }
    let broken = data.is_object().then(|| Reflect::get(data, &"sluiceServiceWorkerError".into()).ok()).flatten();
    if let Some(why) = broken.and_then(|w| w.as_string()) {
        return Err(Rejected::PeerBroken(why.chars().take(1000).collect()));
    }
    check_shape(data)?;
    let frame = Frame::decode(&JsSource(data.clone()))?;
    let attachment = Reflect::get(data, &DATA.into()).ok().filter(|v| !v.is_undefined() && !v.is_null());
    Ok((frame, attachment))
}

/// Bounds what arrives before decoding reads it (a deeply nested, cyclic or huge value is
/// refused whole) and before a text is copied into wasm memory: at
/// most [`MAX_FRAME_DEPTH`] levels and [`MAX_FRAME_VALUES`] values, no text over
/// [`MAX_TEXT_BYTES`] (a text's UTF-16 length never exceeds its UTF-8 length). The attachment
/// beside the frame is not walked. A value without a numeric `v` is not a frame at all.
fn check_shape(data: &JsValue) -> Result<(), DecodeError> {
    let version = data.is_object().then(|| Reflect::get(data, &"v".into()).ok()).flatten();
    if version.and_then(|v| v.as_f64()).is_none() {
        return Err(DecodeError::NotAFrame);
    }
    let mut stack = vec![(data.clone(), 0)];
    let mut values = 0;
    while let Some((value, depth)) = stack.pop() {
        values += 1;
        if values > MAX_FRAME_VALUES {
            return Err(DecodeError::OutOfRange("frame holds too many values"));
        }
        if let Some(text) = value.dyn_ref::<js_sys::JsString>() {
            if text.length() as usize > MAX_TEXT_BYTES {
                return Err(DecodeError::OutOfRange("text too long"));
            }
            continue;
        }
        if !value.is_object() {
            continue;
        }
        if depth == MAX_FRAME_DEPTH {
            return Err(DecodeError::OutOfRange("frame nested too deep"));
        }
        let long_array = value.dyn_ref::<Array>().is_some_and(|a| a.length() as usize > MAX_FRAME_VALUES);
        let keys = match long_array {
            true => Array::new(),
            false => js_sys::Object::keys(value.unchecked_ref::<js_sys::Object>()),
        };
        if long_array || keys.length() as usize > MAX_FRAME_VALUES {
            return Err(DecodeError::OutOfRange("frame holds too many values"));
        }
        for key in keys.iter() {
            if depth == 0 && key.as_string().as_deref() == Some(DATA) {
                continue;
            }
            stack.push((Reflect::get(&value, &key).unwrap_or(JsValue::UNDEFINED), depth + 1));
        }
    }
    Ok(())
}

/// This global's origin (`self.origin`).
fn own_origin() -> String {
    Reflect::get(&js_sys::global(), &"origin".into()).ok().and_then(|o| o.as_string()).unwrap_or_default()
}

fn post_error(e: JsValue) -> PostError {
    PostError(describe(&e))
}

enum Target {
    Port(MessagePort),
    Worker(Worker),
    WorkerScope(DedicatedWorkerGlobalScope),
    ServiceWorker(ServiceWorker),
}

/// An endpoint that listens with `addEventListener('message')`: a `MessagePort`, a dedicated
/// `Worker` (from the page), the worker's own global scope, or the page's view of a service
/// worker.
pub struct WebEndpoint {
    target: Target,
    events: EventTarget,
    origin: String,
}

impl std::fmt::Debug for WebEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.target {
            Target::Port(_) => "MessagePort",
            Target::Worker(_) => "Worker",
            Target::WorkerScope(_) => "DedicatedWorkerGlobalScope",
            Target::ServiceWorker(_) => "ServiceWorker",
        };
        f.debug_struct("WebEndpoint").field("kind", &kind).finish()
    }
}

impl WebEndpoint {
    /// A `MessagePort` (also what a `SharedWorker` gives you); started when the bus listens.
    pub fn port(port: MessagePort) -> Self {
        let events = port.clone().unchecked_into();
        Self { target: Target::Port(port), events, origin: own_origin() }
    }

    /// A dedicated worker, seen from the page.
    pub fn worker(worker: Worker) -> Self {
        let events = worker.clone().unchecked_into();
        Self { target: Target::Worker(worker), events, origin: own_origin() }
    }

    /// The page, seen from inside a dedicated worker.
    pub fn worker_scope(scope: DedicatedWorkerGlobalScope) -> Self {
        let events = scope.clone().unchecked_into();
        Self { target: Target::WorkerScope(scope), events, origin: own_origin() }
    }

    /// A service worker, seen from the page; its messages arrive on `container`.
    pub fn service_worker(worker: ServiceWorker, container: ServiceWorkerContainer) -> Self {
        Self { target: Target::ServiceWorker(worker), events: container.unchecked_into(), origin: own_origin() }
    }
}

struct EventListener {
    target: EventTarget,
    callback: Closure<dyn FnMut(MessageEvent)>,
}

impl Drop for EventListener {
    fn drop(&mut self) {
        let _ = self.target.remove_event_listener_with_callback("message", self.callback.as_ref().unchecked_ref());
    }
}

impl Endpoint for WebEndpoint {
    type Attachment = JsValue;

    fn post(&self, frame: &Frame, attachment: Option<JsValue>) -> Result<(), PostError> {
        let (value, transfer) = encode(frame, attachment)?;
        match &self.target {
            Target::Port(p) => p.post_message_with_transferable(&value, &transfer),
            Target::Worker(w) => w.post_message_with_transfer(&value, &transfer),
            Target::WorkerScope(s) => s.post_message_with_transfer(&value, &transfer),
            Target::ServiceWorker(s) => s.post_message_with_transferable(&value, &transfer),
        }
        .map_err(post_error)
    }

    fn listen(&self, deliver: Box<dyn Fn(Inbound<JsValue>)>) -> Listener {
        let origin = self.origin.clone();
        let callback = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            deliver(decode(&event.data(), &event.origin(), &origin));
        });
        let _ = self.events.add_event_listener_with_callback("message", callback.as_ref().unchecked_ref());
        match &self.target {
            Target::Port(port) => port.start(),
            Target::ServiceWorker(_) => {
                // `startMessages()` (not in web-sys): messages queue until it is called.
                let start = Reflect::get(&self.events, &"startMessages".into());
                if let Ok(start) = start.and_then(|f| f.dyn_into::<js_sys::Function>()) {
                    let _ = start.call0(&self.events);
                }
            }
            Target::Worker(_) | Target::WorkerScope(_) => {}
        }
        Listener::new(EventListener { target: self.events.clone(), callback })
    }
}

#[cfg(feature = "testing")]
pub use clients::{dispatch_service_worker_message, message_client, ClientEndpoint};

/// The service worker's endpoint per page (feature `testing`: the bus's browser tests).
#[cfg(feature = "testing")]
mod clients {
    use std::cell::RefCell;
    use std::rc::Rc;

    use litemap::LiteMap;
    use web_sys::{Client, ExtendableMessageEvent};

    use super::*;

    type Deliver = Rc<dyn Fn(Inbound<JsValue>)>;

    thread_local! {
        /// Buses of the service worker, by client id.
        static CLIENTS: RefCell<LiteMap<String, Deliver>> = RefCell::new(LiteMap::new_vec());
    }

    /// A page (a `Client`), seen from the service worker. Its messages reach the bus through
    /// [`dispatch_service_worker_message`].
    pub struct ClientEndpoint {
        client: Client,
    }

    impl std::fmt::Debug for ClientEndpoint {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("ClientEndpoint").field("id", &self.client.id()).finish()
        }
    }

    impl ClientEndpoint {
        /// The endpoint for `client`.
        pub fn new(client: Client) -> Self {
            Self { client }
        }
    }

    struct Unregister(String);

    impl Drop for Unregister {
        fn drop(&mut self) {
            let _ = CLIENTS.try_with(|clients| clients.borrow_mut().remove(&self.0));
        }
    }

    impl Endpoint for ClientEndpoint {
        type Attachment = JsValue;

        fn post(&self, frame: &Frame, attachment: Option<JsValue>) -> Result<(), PostError> {
            let (value, transfer) = encode(frame, attachment)?;
            self.client.post_message_with_transfer(&value, &transfer).map_err(post_error)
        }

        fn listen(&self, deliver: Box<dyn Fn(Inbound<JsValue>)>) -> Listener {
            let id = self.client.id();
            CLIENTS.with(|clients| clients.borrow_mut().insert(id.clone(), Rc::from(deliver)));
            Listener::new(Unregister(id))
        }
    }

    /// The `Client` that sent `event`, if a page did.
    pub fn message_client(event: &ExtendableMessageEvent) -> Option<Client> {
        event.source()?.dyn_into::<Client>().ok()
    }

    /// Hands a service worker's `message` event to the bus of its client. `false`: no bus
    /// listens for that client (create one with [`ClientEndpoint::new`], then dispatch again).
    pub fn dispatch_service_worker_message(event: &ExtendableMessageEvent) -> bool {
        let Some(client) = message_client(event) else {
            return false;
        };
        let deliver = CLIENTS.with(|clients| clients.borrow().get(&client.id()).cloned());
        match deliver {
            Some(deliver) => {
                deliver(decode(&event.data(), &event.origin(), &own_origin()));
                true
            }
            None => false,
        }
    }
}
