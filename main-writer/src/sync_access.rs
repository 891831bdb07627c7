//! Staged OPFS files written with a sync access handle where there is one (a dedicated worker: a
//! producer that adopted its page's Sluice), several times faster there than `createWritable`
//! (measured in Chromium, 256 MiB from a dedicated worker: 361 MB/s against 83-151). The
//! download writes into a pipe whose readable end [`write_all`] drains into the file. A page has
//! no sync access handles; a stager worker for it was measured and left out: the page's own
//! side, not the file's writes, limits the page's OPFS rung (Chromium 96-139 MB/s with the
//! stager, 109-123 without).

use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use web_sys::{ReadableStream, WritableStreamDefaultWriter};

use crate::js_calls::{call, global, method, object};

/// Whether this global has sync access handles (a dedicated worker).
fn here() -> bool {
    Reflect::get(&global("FileSystemFileHandle"), &"prototype".into())
        .and_then(|p| Reflect::get(&p, &"createSyncAccessHandle".into()))
        .is_ok_and(|f| f.is_function())
}

/// Drains `readable` into the file of `handle` through a sync access handle; the written `File`.
/// A chunk that fails to write cancels `readable` with why (so the download's write fails).
async fn write_all(handle: JsValue, readable: ReadableStream) -> Result<JsValue, JsValue> {
    let reader: JsValue = readable.get_reader().into();
    let written = async {
        let access = call(&handle, "createSyncAccessHandle", &[]).await?;
        let mut at = 0.0;
        let drained = async {
            loop {
                let next = call(&reader, "read", &[]).await?;
                if Reflect::get(&next, &"done".into())?.is_truthy() {
                    break;
                }
                let chunk = Reflect::get(&next, &"value".into())?;
                let length = Reflect::get(&chunk, &"byteLength".into())?;
                let wrote = method(&access, "write", &[&chunk, &object("at", &at.into())])?;
                if wrote.as_f64() != length.as_f64() {
                    return Err(JsValue::from(js_sys::Error::new("the staged file took only part of a chunk")));
                }
                at += wrote.as_f64().unwrap_or(0.0);
            }
            method(&access, "flush", &[]).map(drop)
        };
        let drained = drained.await;
        let _ = method(&access, "close", &[]);
        drained
    };
    match written.await {
        Ok(()) => call(&handle, "getFile", &[]).await,
        Err(e) => {
            if let Ok(cancelled) = method(&reader, "cancel", &[&e]) {
                sluice_web::ignore_rejection(&Promise::resolve(&cancelled));
            }
            Err(e)
        }
    }
}

/// Where this global has sync access handles: the writer of a pipe drained into staged file
/// `handle`, and the promise of the written `File`.
pub(crate) fn writer(handle: &JsValue) -> Option<(WritableStreamDefaultWriter, Promise)> {
    if !here() {
        return None;
    }
    let pipe = crate::js_calls::pipe().ok()?;
    let writer = pipe.writable().get_writer().ok()?;
    let written = future_to_promise(write_all(handle.clone(), pipe.readable()));
    sluice_web::ignore_rejection(&written);
    Some((writer, written))
}
