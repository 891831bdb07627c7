//! The JavaScript API (`dist/sluice.js`): `Sluice.register`, `createDownload`,
//! `createWriteStream`, and `Download` with `url`, `writable`, `done`, `abort`.

use std::rc::Rc;
use std::time::Duration;

use js_sys::{Function, Object, Promise, Reflect};
use sluice_core::window::FlowConfig;
use sluice_core::FileMeta;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;
use web_sys::{WritableStream, WritableStreamDefaultController};

use crate::args::{parse_log_level, parse_mode, parse_size, parse_trigger, parse_whole};
use crate::download::Download;
use crate::error::SluiceError;
use crate::gather::{Gather, Written};
use crate::js_calls::{chunk_view, field, global, method, wrong};
use crate::page::{Options, Sluice};
use sluice_web::{describe, ignore_rejection};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** Options of `Sluice.register`. */
export interface SluiceOptions {
  /** URL of sluice-sw.js (or of your service worker that imports it). Default './sluice-sw.js'. */
  serviceWorker?: string;
  /** Registration scope. Default: the service worker's directory. */
  scope?: string;
  /** 'auto' (the best rung that works here), or one rung only: 'picker', 'transfer', 'fallback', 'opfs', 'blob'. */
  mode?: 'auto' | SluiceMode;
  /** Lets 'auto' take the save picker for a download created in a user gesture (default false). */
  picker?: boolean;
  /** The most bytes the 'blob' rung holds in memory (default 512 MiB). */
  blobLimit?: number;
  /** Fallback path: chunks and bytes in flight (default 8 and 8 MiB). */
  windowChunks?: number;
  windowBytes?: number;
  /** Writes are gathered into chunks of at least minChunk (64 KiB) and at most maxChunk (1 MiB) bytes. */
  minChunk?: number;
  maxChunk?: number;
  /** How long to wait for the service worker's answers (ms, default 10000). */
  timeoutMs?: number;
  /** Ping interval while a download is open (ms, default 10000). */
  keepaliveMs?: number;
  /** A download's URL expires if nobody requests it within this time (ms, default 60000). */
  expireAfterMs?: number;
  /** Sluice's console messages at this level and up (default 'warn'); 'debug' also in the service worker. */
  logLevel?: 'off' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
}

/** A way to save, best first: the save picker, the service worker's two paths, a file staged in the origin-private file system, an in-memory Blob. */
export type SluiceMode = 'picker' | 'transfer' | 'fallback' | 'opfs' | 'blob';

/** A rung of the ladder: whether it works here, and why not. */
export interface SluiceCapability { mode: SluiceMode; available: boolean; reason: string | null; }

/** What went wrong, as `error.code` of a `SluiceError`. */
export type SluiceErrorCode =
  | 'unsupported' | 'registration' | 'service_worker_gone' | 'cancelled' | 'aborted' | 'size_mismatch'
  | 'closed' | 'failed' | 'invalid_argument' | 'too_large' | 'expired' | 'too_many_downloads'
  | 'refused' | 'busy' | 'bus' | 'browser';

/** Every rejection and throw of Sluice: an `Error` named 'SluiceError' with a `code`. */
export interface SluiceError extends Error { name: 'SluiceError'; code: SluiceErrorCode; }

/** Progress of a download. */
export interface SluiceProgress { bytes: number; total?: number; bytesPerSecond: number; }

/** Options of `createDownload`. */
export interface DownloadOptions {
  /** Size in bytes; the download fails if another count arrives. Shown to the browser as Content-Length. */
  size?: number;
  /** MIME type (type/subtype), default application/octet-stream. */
  type?: string;
  /** 'iframe' (default, a hidden iframe), 'navigate', or 'none' (open `url` yourself). */
  trigger?: 'iframe' | 'navigate' | 'none';
  /** Called after each chunk sent. */
  onProgress?: (progress: SluiceProgress) => void;
}
"#;

/// A JS `Error` named `SluiceError` with a `code` (see [`SluiceError::code`]).
pub(crate) fn to_js(e: &SluiceError) -> JsValue {
    let error = js_sys::Error::new(&e.to_string());
    error.set_name("SluiceError");
    let _ = Reflect::set(&error, &"code".into(), &e.code().into());
    error.into()
}

/// `Sluice.register`'s options, read with `Reflect`: an unknown key is ignored, a known one of
/// the wrong type is an `invalid_argument`.
fn options(value: JsValue) -> Result<Options, SluiceError> {
    options_object(&value)?;
    let text = |key: &str| text(&value, key);
    let whole = |key: &str, max: u64| match get(&value, key) {
        None => Ok(None),
        Some(n) => parse_whole(&format!("options: {key}"), n.as_f64().unwrap_or(f64::NAN), max).map(Some),
    };
    let small = |key: &str, default: u32| whole(key, u64::from(u32::MAX)).map(|n| n.map_or(default, |n| n as u32));
    let millis = |key: &str, default: Duration| whole(key, u64::MAX).map(|n| n.map_or(default, Duration::from_millis));
    let defaults = Options::default();
    let flow = FlowConfig::default();
    Ok(Options {
        log_level: parse_log_level(text("logLevel")?.as_deref())?,
        service_worker: text("serviceWorker")?.unwrap_or(defaults.service_worker),
        scope: text("scope")?,
        mode: parse_mode(text("mode")?.as_deref())?,
        picker: match get(&value, "picker") {
            None => false,
            Some(flag) => flag.as_bool().ok_or_else(|| wrong("picker", "a boolean", &flag))?,
        },
        blob_limit: whole("blobLimit", u64::MAX)?.unwrap_or(defaults.blob_limit),
        flow: FlowConfig {
            window_chunks: small("windowChunks", flow.window_chunks)?,
            window_bytes: whole("windowBytes", u64::MAX)?.unwrap_or(flow.window_bytes),
            min_chunk: small("minChunk", flow.min_chunk)?,
            max_chunk: small("maxChunk", flow.max_chunk)?,
        },
        timeout: millis("timeoutMs", defaults.timeout)?,
        keepalive: millis("keepaliveMs", defaults.keepalive)?,
        expire_after: millis("expireAfterMs", defaults.expire_after)?,
    })
}

/// Sluice in the page: register once, then create downloads.
#[wasm_bindgen(js_name = Sluice)]
#[derive(Debug)]
pub struct JsSluice(Sluice);

#[cfg(feature = "js-zip")]
impl JsSluice {
    /// The Sluice this wraps.
    pub(crate) fn inner(&self) -> &Sluice {
        &self.0
    }
}

#[wasm_bindgen(js_class = Sluice)]
impl JsSluice {
    /// Registers the service worker, waits until it answers, probes, and picks a path.
    pub async fn register(
        #[wasm_bindgen(unchecked_optional_param_type = "SluiceOptions")] options: Option<JsValue>,
    ) -> Result<JsSluice, JsValue> {
        let options = self::options(options.unwrap_or(JsValue::UNDEFINED)).map_err(|e| to_js(&e))?;
        Sluice::register(options).await.map(JsSluice).map_err(|e| to_js(&e))
    }

    /// In a dedicated or shared worker: Sluice over the port a page made with `handOff()`
    /// (`serviceWorker` and `scope` are the page's and not used here). The worker's downloads
    /// talk to the service worker directly and the page opens their URLs; on the rungs without
    /// a service worker the worker saves and the page hands each finished file over.
    pub async fn adopt(
        #[wasm_bindgen(unchecked_param_type = "MessagePort")] port: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SluiceOptions")] options: Option<JsValue>,
    ) -> Result<JsSluice, JsValue> {
        let port = port.dyn_into::<web_sys::MessagePort>().map_err(|other| {
            to_js(&SluiceError::InvalidArgument(format!(
                "adopt takes the MessagePort of handOff(), not {}",
                describe(&other)
            )))
        })?;
        let options = self::options(options.unwrap_or(JsValue::UNDEFINED)).map_err(|e| to_js(&e))?;
        Sluice::adopt(port, options).await.map(JsSluice).map_err(|e| to_js(&e))
    }

    /// A port to hand this Sluice to a worker: transfer it (`worker.postMessage(msg, [port])`),
    /// and the worker calls `Sluice.adopt(port)`. This page keeps opening the worker's
    /// downloads and keeping the service worker awake for them (or hands over the files the
    /// worker saved on a rung without one), so it must stay open.
    #[wasm_bindgen(js_name = handOff)]
    pub fn hand_off(&self) -> Result<web_sys::MessagePort, JsValue> {
        self.0.hand_off().map_err(|e| to_js(&e))
    }

    /// The rung downloads take: `'transfer'`, `'fallback'`, `'opfs'`, `'blob'` (or `'picker'`).
    #[wasm_bindgen(getter, unchecked_return_type = "SluiceMode")]
    pub fn mode(&self) -> String {
        self.0.mode().name().into()
    }

    /// Every rung in ladder order: `{ mode, available, reason }` (reason: why not, or null).
    #[wasm_bindgen(getter, unchecked_return_type = "SluiceCapability[]")]
    pub fn capabilities(&self) -> js_sys::Array {
        self.0
            .capabilities()
            .into_iter()
            .map(|(mode, why)| {
                let rung = Object::new();
                let _ = Reflect::set(&rung, &"mode".into(), &mode.name().into());
                let _ = Reflect::set(&rung, &"available".into(), &why.is_none().into());
                let _ = Reflect::set(&rung, &"reason".into(), &why.map_or(JsValue::NULL, JsValue::from));
                JsValue::from(rung)
            })
            .collect()
    }

    /// What the probe found: `{ secureContext, serviceWorker, registrationActive, intercepts,
    /// streamTransferable, responseFromStream, picker, opfs }`.
    #[wasm_bindgen(getter)]
    pub fn probe(&self) -> JsValue {
        let probe = self.0.probe();
        let object = Object::new();
        for (key, value) in [
            ("secureContext", probe.secure_context),
            ("serviceWorker", probe.service_worker),
            ("registrationActive", probe.registration_active),
            ("intercepts", probe.intercepts),
            ("streamTransferable", probe.stream_transferable),
            ("responseFromStream", probe.response_from_stream),
            ("picker", probe.picker),
            ("opfs", probe.opfs),
        ] {
            let _ = Reflect::set(&object, &key.into(), &value.into());
        }
        object.into()
    }

    /// Starts a download named `name`.
    #[wasm_bindgen(js_name = createDownload)]
    pub fn create_download(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "DownloadOptions")] options: Option<JsValue>,
    ) -> Result<JsDownload, JsValue> {
        JsDownload::start(&self.0, &name, options.unwrap_or(JsValue::UNDEFINED)).map_err(|e| to_js(&e))
    }

    /// Ends this Sluice: new downloads are refused and open ones fail with `closed`, except
    /// those closed whose every byte went out (a resolved `close()` guarantees it): they finish
    /// first, then the service worker forgets the connection.
    pub fn close(&self) {
        self.0.close();
    }

    /// Shorthand: starts a download and returns only its `WritableStream`.
    #[wasm_bindgen(js_name = createWriteStream)]
    pub fn create_write_stream(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "DownloadOptions")] options: Option<JsValue>,
    ) -> Result<WritableStream, JsValue> {
        Ok(self.create_download(name, options)?.writable())
    }
}

/// One download: write into `writable`, then await `done`.
#[wasm_bindgen(js_name = Download)]
#[derive(Debug)]
pub struct JsDownload {
    download: Download,
    writable: WritableStream,
    done: Promise,
}

pub(crate) fn get(options: &JsValue, key: &str) -> Option<JsValue> {
    if options.is_undefined() || options.is_null() {
        return None;
    }
    Reflect::get(options, &key.into()).ok().filter(|v| !v.is_undefined() && !v.is_null())
}

/// Options are an object (or nothing): not a string, a number, an array or a function.
pub(crate) fn options_object(value: &JsValue) -> Result<(), SluiceError> {
    let absent = value.is_undefined() || value.is_null();
    if absent || (value.is_object() && !js_sys::Array::is_array(value)) {
        return Ok(());
    }
    Err(wrong("options", "an object", value))
}

/// A download's name: a string (a long one is refused before it is copied into wasm).
pub(crate) fn name_of(value: &JsValue) -> Result<String, SluiceError> {
    let Some(text) = value.dyn_ref::<js_sys::JsString>() else {
        return Err(wrong("name", "a string", value));
    };
    // Each UTF-16 unit is at least one UTF-8 byte.
    let (units, max) = (text.length() as usize, sluice_core::wire::MAX_TEXT_BYTES);
    if units > max {
        return Err(SluiceError::TooLarge { what: "file name", bytes: units, max });
    }
    Ok(String::from(text))
}

/// The string at `key` of `options`, if there is one.
pub(crate) fn text(options: &JsValue, key: &str) -> Result<Option<String>, SluiceError> {
    match get(options, key) {
        None => Ok(None),
        Some(value) => value.as_string().map(Some).ok_or_else(|| wrong(key, "a string", &value)),
    }
}

impl JsDownload {
    fn start(sluice: &Sluice, name: &JsValue, options: JsValue) -> Result<JsDownload, SluiceError> {
        let name = name_of(name)?;
        options_object(&options)?;
        let size = match get(&options, "size") {
            None => None,
            Some(size) => Some(parse_size(size.as_f64().unwrap_or(f64::NAN))?),
        };
        let text = |key: &str| text(&options, key);
        let content_type = text("type")?;
        let trigger = parse_trigger(text("trigger")?.as_deref())?;
        let on_progress = progress_callback(&options)?;
        let download = sluice.create_download(FileMeta { name, size, content_type }, trigger)?;
        report_progress(&download, on_progress);
        let writable = writable(&download)?;
        Ok(JsDownload { done: done_promise(&download), download, writable })
    }
}

/// `options.onProgress`, if given (a function).
pub(crate) fn progress_callback(options: &JsValue) -> Result<Option<Function>, SluiceError> {
    match get(options, "onProgress") {
        None => Ok(None),
        Some(f) => f.dyn_into::<Function>().map(Some).map_err(|f| wrong("onProgress", "a function", &f)),
    }
}

/// Calls `callback` (if any) with `{ bytes, total?, bytesPerSecond }` after each chunk sent.
pub(crate) fn report_progress(download: &Download, callback: Option<Function>) {
    let Some(callback) = callback else { return };
    // A new download's mailbox has room for it (and for its writable's failure callback).
    let _ = download.on_progress(move |p| {
        let progress = Object::new();
        let _ = Reflect::set(&progress, &"bytes".into(), &(p.bytes as f64).into());
        if let Some(total) = p.total {
            let _ = Reflect::set(&progress, &"total".into(), &(total as f64).into());
        }
        let _ = Reflect::set(&progress, &"bytesPerSecond".into(), &p.bytes_per_second.into());
        let _ = callback.call1(&JsValue::NULL, &progress);
    });
}

/// A download's `done`: its byte count once saved. Nobody has to await it: a failure must not
/// become an unhandled rejection.
pub(crate) fn done_promise(download: &Download) -> Promise {
    let outcome = download.outcome();
    let done =
        future_to_promise(async move { outcome.await.map(|total| JsValue::from(total as f64)).map_err(|e| to_js(&e)) });
    ignore_rejection(&done);
    done
}

#[wasm_bindgen(js_class = Download)]
impl JsDownload {
    /// The service-worker URL of this download (empty on the rungs without a service worker).
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.download.url().to_string()
    }

    /// The rung this download takes.
    #[wasm_bindgen(getter, unchecked_return_type = "SluiceMode")]
    pub fn mode(&self) -> String {
        self.download.mode().name().into()
    }

    /// Write the file's bytes here (`pipeTo`, or `getWriter()`).
    #[wasm_bindgen(getter)]
    pub fn writable(&self) -> WritableStream {
        self.writable.clone()
    }

    /// Resolves with the byte count once every byte is saved (served, or the file handed
    /// over); rejects if the download failed, was aborted or cancelled.
    #[wasm_bindgen(getter, unchecked_return_type = "Promise<number>")]
    pub fn done(&self) -> Promise {
        self.done.clone()
    }

    /// Fails the download (the browser shows a failed download).
    pub fn abort(&self, reason: JsValue) {
        self.download.abort(&abort_reason(&reason));
    }
}

/// An abort's reason as text: "aborted" when none was given.
pub(crate) fn abort_reason(reason: &JsValue) -> String {
    if reason.is_undefined() {
        "aborted".to_string()
    } else {
        describe(reason)
    }
}

/// A write's or close's outcome for JavaScript.
pub(crate) fn settled(result: Result<(), SluiceError>) -> Result<JsValue, JsValue> {
    result.map(|()| JsValue::UNDEFINED).map_err(|e| to_js(&e))
}

/// The download's `WritableStream`; errored with the reason when the download fails.
fn writable(download: &Download) -> Result<WritableStream, SluiceError> {
    let sink = Object::new();
    let slot: Rc<std::cell::Cell<Option<WritableStreamDefaultController>>> = Default::default();
    let start = {
        let slot = slot.clone();
        Closure::<dyn FnMut(WritableStreamDefaultController)>::new(move |c| slot.set(Some(c)))
    };
    let gather = Gather::new(download.clone());
    let write = {
        let download = download.clone();
        let gather = gather.clone();
        // A staged write answers `undefined`: the stream takes it as done, with no promise made.
        Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |chunk: JsValue| match chunk_view(chunk) {
            Ok(view) => match gather.write(view) {
                Written::Staged => JsValue::UNDEFINED,
                Written::Wait(written) => future_to_promise(async move { settled(written.await) }).into(),
            },
            Err(e) => {
                // A bad chunk errors the writable, so the download cannot go on: it fails too.
                download.abort(&e.to_string());
                Promise::reject(&to_js(&e)).into()
            }
        })
    };
    let close = {
        let gather = gather.clone();
        Closure::<dyn FnMut() -> Promise>::new(move || {
            let gather = gather.clone();
            future_to_promise(async move { settled(gather.close().await) })
        })
    };
    let abort = {
        let download = download.clone();
        let gather = gather.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |reason: JsValue| {
            gather.clear();
            download.abort(&abort_reason(&reason));
        })
    };
    Reflect::set(&sink, &"start".into(), &start.into_js_value())?;
    // The fast path for small writes (main-writer/js/gather.js), where the glue has it.
    let write = match global("sluiceGatherWrite2").dyn_into::<Function>() {
        Ok(fast) => {
            let due = {
                let gather = gather.clone();
                Closure::<dyn FnMut()>::new(move || gather.due())
            };
            fast.call3(&JsValue::UNDEFINED, gather.shared(), &write.into_js_value(), &due.into_js_value())?
        }
        Err(_) => write.into_js_value(),
    };
    Reflect::set(&sink, &"write".into(), &write)?;
    Reflect::set(&sink, &"close".into(), &close.into_js_value())?;
    Reflect::set(&sink, &"abort".into(), &abort.into_js_value())?;
    let stream = WritableStream::new_with_underlying_sink(&sink)?;
    // `start` runs inside the constructor.
    let controller = slot.take().ok_or_else(|| SluiceError::Browser("the writable did not start".into()))?;
    // `abort()` waits for a write in flight (one waiting for the browser to read on, say) before
    // the sink hears of it; the controller's signal, where the browser has one, tells at once,
    // and failing the download settles that write. (The listener keeps no JavaScript value.)
    let signal = field(&controller, "signal");
    if signal.is_object() {
        let download = download.clone();
        let on_abort = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            gather.clear();
            download.abort(&abort_reason(&field(&field(&event, "target"), "reason")));
        });
        method(&signal, "addEventListener", &[&"abort".into(), &on_abort.into_js_value()])?;
    }
    // Held weakly: the download's actor must not keep its own stream (and so its handles)
    // alive, or a stream the page dropped unclosed would never fail.
    let controller = js_sys::WeakRef::new(controller.unchecked_ref::<Object>());
    let _ = download.on_failure(move |e| {
        if let Some(controller) = controller.deref() {
            controller.unchecked_into::<WritableStreamDefaultController>().error_with_e(&to_js(&e));
        }
    });
    Ok(stream)
}
