//! Sluice's helpers for any browser global (a page, a worker, a service worker): time, timers,
//! text for a JavaScript value, and where logs and panics go. WebAssembly only; empty elsewhere.
#![cfg(target_arch = "wasm32")]

use js_sys::Reflect;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Text of a JS value: an `Error`'s message, a string, its JSON, or else its type.
pub fn describe(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    if let Some(text) = value.as_string() {
        return text;
    }
    // What JSON cannot show (undefined, a symbol, a BigInt, a function, a cycle): its type.
    js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .or_else(|| value.js_typeof().as_string())
        .unwrap_or_default()
}

/// An `ArrayBuffer`'s or a view's `byteLength`, whole: the typed getters cross as 32 bits and
/// wrap past 4 GiB (0 for anything without one).
pub fn byte_length(value: &JsValue) -> u64 {
    let length = Reflect::get(value, &"byteLength".into()).ok().and_then(|n| n.as_f64()).unwrap_or(0.0);
    length as u64
}

/// A promise nobody awaits (a reader's `cancel()`, a writer's `abort()`) must not become an
/// unhandled rejection.
pub fn ignore_rejection(promise: &js_sys::Promise) {
    thread_local! {
        static IGNORE: Closure<dyn FnMut(JsValue)> = Closure::new(|_| {});
    }
    IGNORE.with(|ignore| drop(promise.catch(ignore)));
}

/// Resolves after `duration` (`setTimeout` of whatever global this runs in); dropped before,
/// its timeout is cleared. At most `i32::MAX` ms (about 24 days), `setTimeout`'s limit.
pub fn sleep(duration: std::time::Duration) -> gloo_timers::future::TimeoutFuture {
    // Rounded up: a timer must not wake before its deadline (and sleep again for nothing).
    let ms =
        duration.as_secs().saturating_mul(1000).saturating_add(u64::from(duration.subsec_nanos().div_ceil(1_000_000)));
    let ms = ms.min(i32::MAX as u64) as u32;
    gloo_timers::future::TimeoutFuture::new(ms)
}

/// Monotonic time (`performance.now()` of whatever global this runs in) as a `Duration`
/// since the global started: the time core's state machines are given. Never the wall clock,
/// which can jump.
pub fn now() -> std::time::Duration {
    let ms = Reflect::get(&js_sys::global(), &"performance".into())
        .and_then(|p| Reflect::get(&p, &"now".into())?.dyn_into::<js_sys::Function>()?.call0(&p))
        .ok()
        .and_then(|t| t.as_f64())
        .unwrap_or(0.0);
    // Whole microseconds (`as` saturates: NaN and negatives are 0), cheaper than `from_secs_f64`.
    std::time::Duration::from_micros((ms * 1000.0) as u64)
}

/// The library's `log` calls go to the console (`console.warn` for warnings and errors,
/// `console.debug` below); messages above `level` are dropped.
struct ConsoleLogger;

impl log::Log for ConsoleLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = JsValue::from_str(&format!("[{}] {}", record.level(), record.args()));
        match record.level() {
            log::Level::Error => web_sys::console::error_1(&text),
            log::Level::Warn => web_sys::console::warn_1(&text),
            _ => web_sys::console::debug_1(&text),
        }
    }

    fn flush(&self) {}
}

/// Sends `log` records to the console at `level` and up (once per global; later calls only
/// change the level), and turns a panic into a `console.error` plus `report(message)`, so a
/// bug shows as an error instead of a silent trap.
pub fn install_diagnostics(level: log::LevelFilter, report: fn(&str)) {
    static LOGGER: ConsoleLogger = ConsoleLogger;
    if log::set_logger(&LOGGER).is_ok() {
        std::panic::set_hook(Box::new(move |info| {
            let message = format!("Sluice panicked (a bug, please report it): {info}");
            web_sys::console::error_1(&JsValue::from_str(&message));
            report(&message);
        }));
    }
    log::set_max_level(level);
}
