//! A `ReadableStream` driven by a Rust actor: the stream's `pull()` and `cancel()` become
//! events in a channel, and the actor answers through the controller. The stream owns its
//! callbacks (they live exactly as long as it does).

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use web_sys::{QueuingStrategy, ReadableStream, ReadableStreamDefaultController};

/// What the consumer's stream asks of its actor.
pub(crate) enum SourceEvent {
    /// The consumer wants data: enqueue, close or error, then call `resolve` (the `pull()`
    /// promise) so the stream may pull again.
    Pull(Function),
    /// The consumer cancelled (the user, or a reader), with the reason the browser gave.
    Cancel(String),
}

/// A stream that pulls while fewer than `high_water_mark` chunks wait for its consumer (0: only
/// when the consumer reads), its controller and its events.
pub(crate) struct PullStream {
    pub(crate) stream: ReadableStream,
    pub(crate) controller: ReadableStreamDefaultController,
    pub(crate) events: sluice_worker_bus::channel::Receiver<SourceEvent>,
}

/// Text for a cancel reason; Chromium hands the service worker none.
pub(crate) fn describe_reason(reason: &JsValue) -> String {
    if reason.is_undefined() {
        return "cancelled by the user, or refused by the browser".to_string();
    }
    sluice_web::describe(reason)
}

/// A new [`PullStream`].
pub(crate) fn pull_stream(high_water_mark: f64) -> Result<PullStream, JsValue> {
    // Bounded by the stream: it calls `pull` again only once the last pull's promise settled,
    // and `cancel` once.
    let (tx, events) = sluice_worker_bus::channel::unbounded();
    let slot: Rc<Cell<Option<ReadableStreamDefaultController>>> = Rc::default();
    let start = {
        let slot = slot.clone();
        Closure::<dyn FnMut(ReadableStreamDefaultController)>::new(move |c| slot.set(Some(c)))
    };
    let pull = {
        let tx = tx.clone();
        Closure::<dyn FnMut(JsValue) -> Promise>::new(move |_| {
            Promise::new(&mut |resolve, _| {
                let _ = tx.try_send(SourceEvent::Pull(resolve));
            })
        })
    };
    let cancel = Closure::<dyn FnMut(JsValue)>::new(move |reason: JsValue| {
        let _ = tx.try_send(SourceEvent::Cancel(describe_reason(&reason)));
    });
    let source = Object::new();
    Reflect::set(&source, &"start".into(), &start.into_js_value())?;
    Reflect::set(&source, &"pull".into(), &pull.into_js_value())?;
    Reflect::set(&source, &"cancel".into(), &cancel.into_js_value())?;
    let strategy = QueuingStrategy::new();
    strategy.set_high_water_mark(high_water_mark);
    let stream = ReadableStream::new_with_underlying_source_and_strategy(&source, &strategy)?;
    // `start` runs inside the constructor.
    let controller = slot.take().ok_or_else(|| JsValue::from_str("the stream did not start"))?;
    Ok(PullStream { stream, controller, events })
}
