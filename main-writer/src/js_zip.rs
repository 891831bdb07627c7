//! The JavaScript zip API: `sluice.createZip(name, options)`, its `Zip` (`add`, `close`,
//! `done`, `abort`, `url`, `size`, `mode`), and `Sluice.zipSize(entries)`. The archive itself
//! is [`crate::zip`]'s; this module only reads JavaScript arguments into it.

use js_sys::{Array, Promise};
use sluice_core::zip::{Entry, Method};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

use crate::args::{parse_size, parse_trigger};
use crate::error::SluiceError;
use crate::js::{
    abort_reason, done_promise, get, name_of, options_object, progress_callback, report_progress, settled, text, to_js,
    JsSluice,
};
use crate::js_calls::{chunk_view, field, method, wrong};
use crate::zip::{Source, Zip, ZipEntry};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** An entry of an archive whose entries are declared up front: its name and size in bytes. */
export interface ZipEntrySize { name: string; size: number; }

/** Options of `createZip`. */
export interface ZipOptions {
  /** Every entry (name, size), in the order they will be added: the archive's exact size is then known before the first byte (Content-Length, `size`); entries must be stored. */
  entries?: ZipEntrySize[];
  /** 'iframe' (default, a hidden iframe), 'navigate', or 'none' (open `url` yourself). */
  trigger?: 'iframe' | 'navigate' | 'none';
  /** Called after each chunk of the archive sent. */
  onProgress?: (progress: SluiceProgress) => void;
}

/** Options of `Zip.add`. */
export interface ZipAddOptions {
  /** The entry's size in bytes (a Blob's, a File's or bytes' own size is taken by default); its data must have exactly this length. */
  size?: number;
  /** Last modified: a Date or milliseconds since 1970 (default: a File's, or now). */
  lastModified?: number | Date;
  /** Deflate this entry (default false: stored, as media is already compressed). */
  compress?: boolean;
}

/** An entry's data: bytes, a Blob or File, a Response, a ReadableStream or an async iterable of bytes. */
export type ZipSource = ReadableStream<Uint8Array> | Blob | Response | Uint8Array | ArrayBuffer | AsyncIterable<Uint8Array>;
"#;

#[wasm_bindgen(js_class = Sluice)]
impl JsSluice {
    /// Starts a zip archive named `name`, streamed to disk as its entries are added.
    #[wasm_bindgen(js_name = createZip)]
    pub fn create_zip(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ZipOptions")] options: Option<JsValue>,
    ) -> Result<JsZip, JsValue> {
        JsZip::start(self, &name, options.unwrap_or(JsValue::UNDEFINED)).map_err(|e| to_js(&e))
    }

    /// The exact size of a stored archive of these entries (`{ name, size }`, in order).
    #[wasm_bindgen(js_name = zipSize)]
    pub fn zip_size(#[wasm_bindgen(unchecked_param_type = "ZipEntrySize[]")] entries: JsValue) -> Result<f64, JsValue> {
        let size = declared(&entries)
            .and_then(|entries| Ok(sluice_core::zip::archive_size(entries.iter().map(|(n, s)| (n.as_str(), *s)))?));
        size.map(|size| size as f64).map_err(|e| to_js(&e))
    }
}

/// `{ name, size }` entries, as an array.
fn declared(entries: &JsValue) -> Result<Vec<(String, u64)>, SluiceError> {
    let entries = entries.dyn_ref::<Array>().ok_or_else(|| wrong("entries", "an array of { name, size }", entries))?;
    let mut list = Vec::with_capacity(entries.length() as usize);
    for entry in entries.iter() {
        options_object(&entry)?;
        let size = get(&entry, "size").ok_or_else(|| SluiceError::InvalidArgument("an entry has no size".into()))?;
        list.push((name_of(&get(&entry, "name").unwrap_or_default())?, parse_size(size.as_f64().unwrap_or(f64::NAN))?));
    }
    Ok(list)
}

/// A zip archive being streamed to disk: `add` its entries one after another, then `close`.
#[wasm_bindgen(js_name = Zip)]
#[derive(Debug)]
pub struct JsZip {
    zip: Zip,
    done: Promise,
}

impl JsZip {
    fn start(sluice: &JsSluice, name: &JsValue, options: JsValue) -> Result<JsZip, SluiceError> {
        let name = name_of(name)?;
        options_object(&options)?;
        let entries = get(&options, "entries").map(|e| declared(&e)).transpose()?;
        let trigger = parse_trigger(text(&options, "trigger")?.as_deref())?;
        let on_progress = progress_callback(&options)?;
        let zip = sluice.inner().create_zip(name, entries, trigger)?;
        report_progress(zip.download(), on_progress);
        Ok(JsZip { done: done_promise(zip.download()), zip })
    }
}

/// What `value` is, realm-blind (a value from another frame is one too): its
/// `Symbol.toStringTag` (`Blob`, `File`, `Response`, `ReadableStream`, `ArrayBuffer`, ...).
fn tag(value: &JsValue) -> String {
    if !value.is_object() {
        return String::new();
    }
    js_sys::Reflect::get(value, &js_sys::Symbol::to_string_tag()).ok().and_then(|t| t.as_string()).unwrap_or_default()
}

/// Where an entry's bytes come from, and their length where the source says it.
fn source_of(source: JsValue) -> Result<(Source, Option<u64>), SluiceError> {
    let number = |key: &str| field(&source, key).as_f64().map(|n| n as u64);
    match tag(&source).as_str() {
        "Blob" | "File" => Ok((reader(&method(&source, "stream", &[])?)?, number("size"))),
        "Response" => match field(&source, "body") {
            body if body.is_null() => Ok((Source::Once(None), Some(0))),
            body => Ok((reader(&body)?, None)),
        },
        "ReadableStream" => Ok((reader(&source)?, None)),
        tag if tag == "ArrayBuffer" || js_sys::ArrayBuffer::is_view(&source) => {
            let view = chunk_view(source)?;
            let len = u64::from(view.length());
            Ok((Source::Once(Some(view)), Some(len)))
        }
        _ => {
            let iterate = js_sys::Reflect::get(&source, &js_sys::Symbol::async_iterator()).unwrap_or_default();
            match iterate.dyn_ref::<js_sys::Function>() {
                Some(iterate) => {
                    Ok((Source::Js { reader: iterate.call0(&source)?, next: "next", stop: "return" }, None))
                }
                None => Err(wrong(
                    "a zip entry's source",
                    "a ReadableStream, Blob, Response, Uint8Array, ArrayBuffer or async iterable",
                    &source,
                )),
            }
        }
    }
}

/// A reader of `stream`, as a source (a stream already read by another reader is refused).
fn reader(stream: &JsValue) -> Result<Source, SluiceError> {
    if field(stream, "locked").is_truthy() {
        return Err(SluiceError::InvalidArgument("a zip entry's stream is locked (already being read)".into()));
    }
    Ok(Source::Js { reader: method(stream, "getReader", &[])?, next: "read", stop: "cancel" })
}

/// An entry's last-modified time in seconds: `lastModified` (a Date or milliseconds), a
/// File's own, or now.
fn modified(source: &JsValue, options: &JsValue) -> Result<i64, SluiceError> {
    let millis = match get(options, "lastModified") {
        Some(millis) if millis.as_f64().is_some() => millis.as_f64().unwrap_or_default(),
        Some(date) => method(&date, "getTime", &[])
            .ok()
            .and_then(|t| t.as_f64())
            .ok_or_else(|| wrong("lastModified", "a Date or a number", &date))?,
        None if tag(source) == "File" => field(source, "lastModified").as_f64().unwrap_or_default(),
        None => js_sys::Date::now(),
    };
    if !millis.is_finite() {
        return Err(SluiceError::InvalidArgument("lastModified must be a valid date".into()));
    }
    Ok((millis / 1000.0).floor() as i64)
}

#[wasm_bindgen(js_class = Zip)]
impl JsZip {
    /// Adds an entry once the ones before it are written, reading `source` as it goes;
    /// resolves when it is written. A name refused (a duplicate, a path that would be both a
    /// file and a folder, nothing left once made safe) rejects, its source is cancelled, and the
    /// archive goes on; in a declared archive, an entry that is not the next one declared (name,
    /// size, or compressed) fails the whole download, as does a source that fails or is not its
    /// size.
    pub fn add(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        #[wasm_bindgen(unchecked_param_type = "ZipSource")] source: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ZipAddOptions")] options: Option<JsValue>,
    ) -> Promise {
        let entry = (|| {
            let options = options.unwrap_or(JsValue::UNDEFINED);
            let name = name_of(&name)?;
            options_object(&options)?;
            let compress = match get(&options, "compress") {
                None => false,
                Some(flag) => flag.as_bool().ok_or_else(|| wrong("compress", "a boolean", &flag))?,
            };
            let size = get(&options, "size").map(|s| parse_size(s.as_f64().unwrap_or(f64::NAN))).transpose()?;
            let modified = modified(&source, &options)?;
            let (source, own) = source_of(source)?;
            let method = if compress { Method::Deflated } else { Method::Stored };
            Ok(ZipEntry { entry: Entry { name, size: size.or(own), modified, method }, source })
        })();
        let zip = self.zip.clone();
        future_to_promise(async move {
            let entry: Result<ZipEntry, SluiceError> = entry;
            let added = match entry {
                Ok(entry) => zip.add(entry).await,
                Err(e) => Err(e),
            };
            settled(added)
        })
    }

    /// Ends the archive (its central directory) and the download; resolves once handed over
    /// (`done` says when it is saved).
    pub fn close(&self) -> Promise {
        let zip = self.zip.clone();
        future_to_promise(async move { settled(zip.close().await) })
    }

    /// Resolves with the archive's byte count once saved; rejects if it failed.
    #[wasm_bindgen(getter, unchecked_return_type = "Promise<number>")]
    pub fn done(&self) -> Promise {
        self.done.clone()
    }

    /// Fails the archive's download (the browser shows a failed download).
    pub fn abort(&self, reason: JsValue) {
        self.zip.abort(&abort_reason(&reason));
    }

    /// The service-worker URL of the archive (empty on the rungs without a service worker).
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.zip.download().url().to_string()
    }

    /// The archive's exact size, where its entries were declared.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> Option<f64> {
        self.zip.size().map(|s| s as f64)
    }

    /// The rung this archive's download takes.
    #[wasm_bindgen(getter, unchecked_return_type = "SluiceMode")]
    pub fn mode(&self) -> String {
        self.zip.download().mode().name().into()
    }
}
