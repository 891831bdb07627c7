//! The response bodies: the fallback stream (pull-driven credit) and the wrapper around a
//! transferred stream (to see the end and the consumer's cancel).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Object, Promise, Reflect, Uint8Array};
use sluice_core::window::{ByteLength, Delivery, ReceiveWindow};
use sluice_core::{Address, DownloadId, Message};
use sluice_worker_bus::web::WebEndpoint;
use sluice_worker_bus::ActorHandle;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};
use web_sys::{QueuingStrategy, ReadableStream, ReadableStreamDefaultController, ReadableStreamDefaultReader};

use crate::service::{finished, PageBus};

/// How often a fallback download checks that its page still answers.
const PAGE_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

thread_local! {
    /// The most chunks and bytes any fallback download queued here (a debug counter).
    static PEAK: Cell<(usize, u64)> = const { Cell::new((0, 0)) };
}

/// The most chunks and bytes any fallback download queued in this service worker.
pub(crate) fn peak_queued() -> (usize, u64) {
    PEAK.with(Cell::get)
}

/// A chunk's bytes, as they arrived (a view on the transferred `ArrayBuffer`).
struct JsChunk(Uint8Array);

impl ByteLength for JsChunk {
    fn byte_len(&self) -> u64 {
        u64::from(self.0.byte_length())
    }
}

/// Text for a cancel reason; Chromium hands the service worker none.
pub(crate) fn describe(reason: &JsValue) -> String {
    if reason.is_undefined() {
        return "the browser gave no reason".to_string();
    }
    sluice_worker_bus::web::describe(reason)
}

/// Builds a `ReadableStream` (high-water mark 0: pull only on demand) from closures.
fn readable(
    start: impl FnMut(ReadableStreamDefaultController) + 'static,
    pull: impl FnMut(ReadableStreamDefaultController) -> Promise + 'static,
    cancel: impl FnMut(JsValue) + 'static,
) -> Result<ReadableStream, JsValue> {
    let source = Object::new();
    let start = Closure::<dyn FnMut(ReadableStreamDefaultController)>::new(start);
    let pull = Closure::<dyn FnMut(ReadableStreamDefaultController) -> Promise>::new(pull);
    let cancel = Closure::<dyn FnMut(JsValue)>::new(cancel);
    // The stream owns its callbacks: they live exactly as long as it does.
    Reflect::set(&source, &"start".into(), &start.into_js_value())?;
    Reflect::set(&source, &"pull".into(), &pull.into_js_value())?;
    Reflect::set(&source, &"cancel".into(), &cancel.into_js_value())?;
    let strategy = QueuingStrategy::new();
    strategy.set_high_water_mark(0.0);
    ReadableStream::new_with_underlying_source_and_strategy(&source, &strategy)
}

struct FallbackState {
    window: ReceiveWindow<JsChunk>,
    controller: Option<ReadableStreamDefaultController>,
    /// Resolves the pending `pull()`.
    pull_done: Option<js_sys::Function>,
}

/// The fallback path's body: chunks come from the page under the credit window.
pub(crate) struct FallbackStream {
    id: DownloadId,
    bus: PageBus,
    state: RefCell<FallbackState>,
    actor: RefCell<Option<ActorHandle<WebEndpoint>>>,
}

impl FallbackStream {
    /// Registers the download's actor on `bus`; the page's chunks go to it.
    pub(crate) fn new(
        bus: &PageBus,
        id: DownloadId,
        window_chunks: u32,
        window_bytes: u64,
        size: Option<u64>,
    ) -> Result<Rc<Self>, String> {
        let window = ReceiveWindow::new(id, window_chunks, window_bytes, size).map_err(|e| e.to_string())?;
        let (actor, mailbox) = bus.actor(Address::Download(id)).map_err(|e| e.to_string())?;
        let this = Rc::new(Self {
            id,
            bus: bus.clone(),
            state: RefCell::new(FallbackState { window, controller: None, pull_done: None }),
            actor: RefCell::new(Some(actor)),
        });
        let stream = this.clone();
        spawn_local(async move {
            while let Some(incoming) = mailbox.recv().await {
                stream.handle(incoming.msg, incoming.attachment);
                if stream.state.borrow().window.is_finished() {
                    break;
                }
            }
        });
        spawn_local(Self::watch_page(Rc::downgrade(&this)));
        Ok(this)
    }

    /// If the page stops answering (closed, crashed), the download fails instead of waiting
    /// forever for chunks that will never come.
    async fn watch_page(this: std::rc::Weak<Self>) {
        loop {
            sluice_worker_bus::web::sleep(PAGE_CHECK_EVERY).await;
            let Some(stream) = this.upgrade() else { return };
            if stream.state.borrow().window.is_finished() {
                return;
            }
            let ping = stream.bus.request_within(Message::Ping { nonce: 4 }, None, PAGE_CHECK_EVERY);
            if let Err(sluice_worker_bus::BusError::Timeout(_)) = ping.await {
                stream.handle(Message::Abort { id: stream.id, reason: "the page stopped answering".into() }, None);
                return;
            }
        }
    }

    fn handle(self: &Rc<Self>, msg: Message, attachment: Option<JsValue>) {
        {
            let mut state = self.state.borrow_mut();
            match msg {
                Message::Chunk { seq, len, .. } => {
                    let bytes = attachment
                        .and_then(|a| a.dyn_into::<js_sys::ArrayBuffer>().ok())
                        .map_or_else(|| Uint8Array::new_with_length(0), |b| Uint8Array::new(&b));
                    let _ = state.window.handle_chunk(seq, len, JsChunk(bytes));
                    let (chunks, bytes) = state.window.peak_queued();
                    PEAK.with(|p| {
                        let (c, b) = p.get();
                        p.set((c.max(chunks), b.max(bytes)));
                    });
                }
                Message::Close { total, .. } => {
                    let _ = state.window.handle_close(total);
                }
                Message::Abort { reason, .. } => state.window.handle_abort(&reason),
                _ => {}
            }
        }
        self.drive();
    }

    /// Sends what the window wants sent and hands the stream what it may have; no borrow is
    /// held while calling into JS.
    fn drive(self: &Rc<Self>) {
        loop {
            let (messages, deliveries, pull_done, controller, received) = {
                let mut state = self.state.borrow_mut();
                let messages: Vec<Message> = std::iter::from_fn(|| state.window.poll_transmit()).collect();
                // Nothing is handed out before the response's stream exists.
                let deliveries: Vec<Delivery<JsChunk>> = match state.controller {
                    Some(_) => std::iter::from_fn(|| state.window.poll_deliver()).collect(),
                    None => Vec::new(),
                };
                let pull_done = if deliveries.is_empty() { None } else { state.pull_done.take() };
                (messages, deliveries, pull_done, state.controller.clone(), state.window.bytes_received())
            };
            if messages.is_empty() && deliveries.is_empty() {
                return;
            }
            for msg in messages {
                let _ = self.bus.tell(msg, None);
            }
            for delivery in deliveries {
                let Some(controller) = &controller else { continue };
                match delivery {
                    Delivery::Chunk(chunk) => {
                        let _ = controller.enqueue_with_chunk(&chunk.0);
                    }
                    Delivery::End => {
                        let _ = controller.close();
                        let _ = self.bus.tell(Message::Done { id: self.id, total: received }, None);
                        self.end();
                    }
                    Delivery::Failed(why) => {
                        controller.error_with_e(&js_sys::Error::new(&format!("Sluice: {why}")));
                        self.end();
                    }
                }
            }
            if let Some(resolve) = pull_done {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        }
    }

    /// Stops listening to the page and forgets the download.
    pub(crate) fn end(&self) {
        self.actor.borrow_mut().take();
        finished(self.id);
    }

    /// The response body.
    pub(crate) fn readable(self: &Rc<Self>) -> Result<ReadableStream, JsValue> {
        let (on_start, on_pull, on_cancel) = (self.clone(), self.clone(), self.clone());
        readable(
            move |controller| {
                on_start.state.borrow_mut().controller = Some(controller);
                on_start.drive();
            },
            move |_| {
                let this = on_pull.clone();
                Promise::new(&mut |resolve, _| {
                    {
                        let mut state = this.state.borrow_mut();
                        state.window.handle_pull();
                        state.pull_done = Some(resolve);
                    }
                    this.drive();
                })
            },
            move |reason| {
                on_cancel.state.borrow_mut().window.handle_cancel(&describe(&reason));
                on_cancel.drive();
                on_cancel.end();
            },
        )
    }
}

/// The transfer path's body: reads the page's transferred stream, checks the declared size,
/// tells the page when every byte was served, and reports the consumer's cancel with its reason.
pub(crate) fn wrap_transferred(
    bus: PageBus,
    id: DownloadId,
    inner: ReadableStream,
    size: Option<u64>,
) -> Result<ReadableStream, JsValue> {
    let reader: ReadableStreamDefaultReader = inner.get_reader().unchecked_into();
    let received = Rc::new(Cell::new(0u64));
    let (pull_reader, cancel_reader, cancel_bus) = (reader.clone(), reader, bus.clone());
    readable(
        |_| {},
        move |controller| {
            let (reader, bus, received) = (pull_reader.clone(), bus.clone(), received.clone());
            future_to_promise(async move {
                let fail = |why: String| {
                    controller.error_with_e(&js_sys::Error::new(&format!("Sluice: {why}")));
                    finished(id);
                };
                let result = match JsFuture::from(reader.read()).await {
                    Ok(result) => result,
                    Err(e) => {
                        fail(format!("the page aborted the download: {}", describe(&e)));
                        return Ok(JsValue::UNDEFINED);
                    }
                };
                let done = Reflect::get(&result, &"done".into())?.as_bool().unwrap_or(true);
                if done {
                    match size {
                        Some(declared) if declared != received.get() => {
                            fail(format!("closed after {} bytes, declared {declared}", received.get()))
                        }
                        _ => {
                            controller.close()?;
                            let _ = bus.tell(Message::Done { id, total: received.get() }, None);
                            finished(id);
                        }
                    }
                    return Ok(JsValue::UNDEFINED);
                }
                let value = Reflect::get(&result, &"value".into())?;
                let len = value.dyn_ref::<Uint8Array>().map_or(0, |v| u64::from(v.byte_length()));
                received.set(received.get() + len);
                match size {
                    Some(declared) if received.get() > declared => {
                        fail(format!("{} bytes arrived, declared {declared}", received.get()))
                    }
                    _ => controller.enqueue_with_chunk(&value)?,
                }
                Ok(JsValue::UNDEFINED)
            })
        },
        move |reason| {
            let _ = cancel_bus.tell(Message::Cancel { id, reason: describe(&reason) }, None);
            let _ = cancel_reader.cancel_with_reason(&reason);
            finished(id);
        },
    )
}
