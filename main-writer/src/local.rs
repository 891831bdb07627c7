//! The rungs that need no service worker: the save picker, a file staged in the origin-private
//! file system (OPFS), and an in-memory `Blob`. Each gives the download's actor a stream to
//! write to, as the transfer path does (so the same [`sluice_core::Writer`] decides sizes,
//! progress, close and failure), and a [`Finish`]: what hands the file to the browser once
//! the stream closed whole, or drops it when the download failed (never a short file).
//!
//! OPFS: each download writes `sluice-staging/<id>` sequentially (`createWritable`), then the
//! browser gets the disk-backed `File` through an object URL and a download link. The file is
//! removed once the browser had time to copy it ([`linger`]); a Web Lock held meanwhile tells
//! every later `register()` (in any tab) which staged files are still in use: the others are
//! leftovers of a page that went away, and are removed.
//!
//! In a worker (a producer that adopted its page's Sluice) the OPFS and `Blob` rungs work the
//! same; only the hand-over is the page's, which gets the file over the hand-off's port.

use std::time::Duration;

use js_sys::{Array, Function, Promise, Reflect};
use sluice_core::FileMeta;
use sluice_web::{describe, ignore_rejection, sleep};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::WritableStreamDefaultWriter;

use crate::error::SluiceError;
use crate::js_calls::{call, global, method, object};

/// The OPFS folder that holds staged files.
const STAGING: &str = "sluice-staging";

/// The Web Lock a page holds while a staged file is in use.
fn lock_name(file: &str) -> String {
    format!("sluice-staged:{file}")
}

fn navigator(name: &str) -> JsValue {
    Reflect::get(&global("navigator"), &name.into()).unwrap_or(JsValue::UNDEFINED)
}

/// The name of a `DOMException` (`"AbortError"`, `"QuotaExceededError"`...).
fn error_name(e: &JsValue) -> String {
    Reflect::get(e, &"name".into()).ok().and_then(|n| n.as_string()).unwrap_or_default()
}

/// What a failed file-system call means for the save.
pub(crate) fn file_error(what: &str, e: &JsValue) -> SluiceError {
    match error_name(e).as_str() {
        "QuotaExceededError" => SluiceError::NoRoom(format!("the browser's storage is full ({what})")),
        "AbortError" => SluiceError::Download(sluice_core::SendError::Cancelled(format!("{what}: {}", describe(e)))),
        "NotAllowedError" | "SecurityError" => SluiceError::InvalidArgument(format!(
            "{what} needs a user gesture: call createDownload from a click or key handler ({})",
            describe(e)
        )),
        _ => SluiceError::Browser(format!("{what}: {}", describe(e))),
    }
}

/// Whether this page may use the save picker (`showSaveFilePicker` exists).
pub(crate) fn has_picker() -> bool {
    global("showSaveFilePicker").is_function()
}

/// Whether the call runs in a user gesture (`navigator.userActivation.isActive`).
pub(crate) fn in_gesture() -> bool {
    Reflect::get(&navigator("userActivation"), &"isActive".into()).ok().and_then(|v| v.as_bool()) == Some(true)
}

/// Starts the save picker at once (it needs the gesture the call runs in).
pub(crate) fn pick(name: &str) -> Result<Promise, SluiceError> {
    let options = object("suggestedName", &name.into());
    method(&global("window"), "showSaveFilePicker", &[&options])
        .map(|p| Promise::resolve(&p))
        .map_err(|e| file_error("the save picker", &e))
}

/// The staging folder, if OPFS gives writable files here (made if `create`).
async fn staging(create: bool) -> Result<JsValue, JsValue> {
    let writable = Reflect::get(&global("FileSystemFileHandle"), &"prototype".into())
        .and_then(|p| Reflect::get(&p, &"createWritable".into()))
        .is_ok_and(|f| f.is_function());
    if !writable {
        return Err("no createWritable".into());
    }
    let root = call(&navigator("storage"), "getDirectory", &[]).await?;
    call(&root, "getDirectoryHandle", &[&STAGING.into(), &object("create", &create.into())]).await
}

/// Whether OPFS gives writable files here; removes the staged files no page uses any more.
pub(crate) async fn probe_opfs() -> bool {
    match staging(false).await {
        Ok(folder) => {
            if let Err(e) = remove_leftovers(&folder).await {
                log::warn!("cannot remove leftover staged files: {}", describe(&e));
            }
            true
        }
        // No staging folder yet: OPFS works if the error says so (not one of a missing API).
        Err(e) => error_name(&e) == "NotFoundError",
    }
}

/// Removes each staged file whose lock no page holds.
async fn remove_leftovers(folder: &JsValue) -> Result<(), JsValue> {
    let locks = navigator("locks");
    if locks.is_undefined() {
        return Ok(());
    }
    // The files first, then the locks: a file made meanwhile has its lock by then (a page
    // makes its file only once its lock is granted).
    let names = method(folder, "keys", &[])?;
    let mut files = Vec::new();
    loop {
        let next = call(&names, "next", &[]).await?;
        if Reflect::get(&next, &"done".into())?.is_truthy() {
            break;
        }
        files.extend(Reflect::get(&next, &"value".into())?.as_string());
    }
    let state = call(&locks, "query", &[]).await?;
    let mut in_use = Vec::new();
    for list in ["held", "pending"] {
        let locks = Array::from(&Reflect::get(&state, &list.into())?);
        in_use.extend(locks.iter().filter_map(|lock| Reflect::get(&lock, &"name".into()).ok()?.as_string()));
    }
    for name in files.into_iter().filter(|name| !in_use.contains(&lock_name(name))) {
        log::info!("removing the leftover staged file {name}");
        if let Err(e) = call(folder, "removeEntry", &[&name.as_str().into()]).await {
            log::warn!("cannot remove the leftover staged file {name}: {}", describe(&e));
        }
    }
    Ok(())
}

/// Takes the Web Lock `name`, once granted, until the returned function is called (nothing
/// where the page has no Web Locks).
async fn hold_lock(name: &str) -> Option<Function> {
    let locks = navigator("locks");
    if locks.is_undefined() {
        return None;
    }
    let (mut release, mut granted) = (None, None);
    let held = Promise::new(&mut |resolve, _| release = Some(resolve));
    let taken = Promise::new(&mut |resolve, _| granted = Some(resolve));
    let on_grant = Closure::once_into_js(move |_lock: JsValue| {
        if let Some(granted) = granted {
            let _ = granted.call0(&JsValue::NULL);
        }
        held
    });
    match method(&locks, "request", &[&name.into(), &on_grant]) {
        Ok(request) => {
            ignore_rejection(&Promise::resolve(&request));
            let _ = JsFuture::from(taken).await;
        }
        Err(e) => log::warn!("cannot lock {name}: {}", describe(&e)),
    }
    release
}

/// How long a handed-over file stays, so the browser can copy it first: 20 s, and 1 s more
/// per 25 MB (measured: Chromium copied 1 GiB from OPFS to the download folder in 4.6 s, so
/// about 10x that; a page that goes away sooner leaves the file to the next `register()`).
/// When removal is safe, measured on Linux with 512 MiB: Chromium saves nothing if the file is
/// removed right after the click, and the whole file if 100 ms after (it has the file open by
/// then); Firefox saves the whole file even if it is removed at once. Other systems may not
/// let an open file be removed, hence the margin.
fn linger(bytes: u64) -> Duration {
    Duration::from_secs(20 + bytes / 25_000_000)
}

/// Where a local save's bytes go.
pub(crate) enum Target {
    /// The save picker's file (its `showSaveFilePicker` promise, started in the gesture).
    Picker(Promise),
    /// A staged OPFS file.
    Opfs,
    /// A `Blob`, built by the browser from the stream.
    Blob,
}

/// What ends a local save.
pub(crate) enum Finish {
    /// The picked file, written in place, and the end of the pipe into it.
    Picker(JsValue, Promise),
    /// The staged OPFS file: handed over, removed later.
    Opfs(Staged),
    /// The `Blob` the browser builds from the stream (`Response.blob()`).
    Blob(Promise),
}

/// A staged OPFS file and the lock that says it is in use.
pub(crate) struct Staged {
    folder: JsValue,
    name: String,
    handle: JsValue,
    release: Option<Function>,
    /// The end of its writes: the `File` a sync access handle wrote ([`crate::sync_access`]), or
    /// the end of the pipe into it ([`piped`]).
    written: Option<Promise>,
}

impl Staged {
    /// Removes the file once the browser had time to copy its `bytes`.
    pub(crate) fn remove_later(self, bytes: u64) {
        spawn_local(async move {
            sleep(linger(bytes)).await;
            self.remove();
        });
    }

    /// Its name in the staging folder.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Lets go of the lock only: the page took the file over ([`take_over`]).
    pub(crate) fn let_go(self) {
        if let Some(release) = self.release {
            let _ = release.call0(&JsValue::NULL);
        }
    }

    /// Removes the file (once more a second later: an aborted writable may still hold it),
    /// then lets go of its lock.
    fn remove(mut self) {
        spawn_local(async move {
            // Its writes end first (an aborted pipe aborts the file's stream a moment later).
            if let Some(written) = self.written.take() {
                let _ = JsFuture::from(written).await;
            }
            let name: JsValue = self.name.as_str().into();
            if call(&self.folder, "removeEntry", &[&name]).await.is_err() {
                sleep(Duration::from_secs(1)).await;
                if let Err(e) = call(&self.folder, "removeEntry", &[&name]).await {
                    log::warn!("cannot remove the staged file {}: {}", self.name, describe(&e));
                }
            }
            if let Some(release) = self.release {
                let _ = release.call0(&JsValue::NULL);
            }
        });
    }
}

/// A pipe into the `createWritable` stream of file `handle` (`what`), so that Sluice's side of
/// a write overlaps the file's side of the one before (measured, 256 MiB to OPFS: Chromium
/// 137-202 MB/s against 109-123 unpiped, Firefox 480-769 against 196-456): the writer, and the
/// promise that the file is written.
async fn piped(handle: &JsValue, what: &str) -> Result<(WritableStreamDefaultWriter, Promise), SluiceError> {
    let file = call(handle, "createWritable", &[]).await.map_err(|e| file_error(what, &e))?;
    let pipe = crate::js_calls::pipe()?;
    let written = pipe.readable().pipe_to(file.unchecked_ref());
    ignore_rejection(&written);
    Ok((pipe.writable().get_writer()?, written))
}

/// Opens where download `id`'s bytes go: the stream to write them to, and its [`Finish`].
pub(crate) async fn open(
    target: Target,
    id: &str,
    meta: &FileMeta,
) -> Result<(WritableStreamDefaultWriter, Finish), SluiceError> {
    match target {
        Target::Picker(picked) => {
            let handle = JsFuture::from(picked).await.map_err(|e| file_error("the save picker", &e))?;
            match piped(&handle, "the picked file").await {
                Ok((writer, written)) => Ok((writer, Finish::Picker(handle, written))),
                Err(e) => {
                    // A file the picker made stays only if it is written whole.
                    discard(Finish::Picker(handle, Promise::resolve(&JsValue::UNDEFINED)));
                    Err(e)
                }
            }
        }
        Target::Opfs => {
            if let Some(size) = meta.size {
                check_room(size).await?;
            }
            let folder = staging(true).await.map_err(|e| file_error("the origin-private file system", &e))?;
            let release = hold_lock(&lock_name(id)).await;
            let handle = call(&folder, "getFileHandle", &[&id.into(), &object("create", &true.into())]).await;
            let mut staged =
                Staged { folder, name: id.into(), handle: handle.clone().unwrap_or_default(), release, written: None };
            let writer = match handle {
                Ok(handle) => match crate::sync_access::writer(&handle) {
                    Some((writer, written)) => {
                        staged.written = Some(written);
                        Ok(writer)
                    }
                    None => piped(&handle, "a staged file").await.map(|(writer, written)| {
                        staged.written = Some(written);
                        writer
                    }),
                },
                Err(e) => Err(file_error("a staged file", &e)),
            };
            match writer {
                Ok(writer) => Ok((writer, Finish::Opfs(staged))),
                Err(e) => {
                    staged.remove();
                    Err(e)
                }
            }
        }
        Target::Blob => {
            let pipe = web_sys::TransformStream::new()?;
            let content_type = meta.content_type.as_deref().unwrap_or("application/octet-stream");
            let init = object("headers", &object("content-type", &content_type.into()));
            let response =
                web_sys::Response::new_with_opt_readable_stream_and_init(Some(&pipe.readable()), init.unchecked_ref())?;
            Ok((pipe.writable().get_writer()?, Finish::Blob(response.blob()?)))
        }
    }
}

/// A declared size that cannot fit in the origin's storage fails before any byte.
async fn check_room(size: u64) -> Result<(), SluiceError> {
    let Ok(estimate) = call(&navigator("storage"), "estimate", &[]).await else { return Ok(()) };
    let number = |key: &str| Reflect::get(&estimate, &key.into()).ok().and_then(|v| v.as_f64());
    if let (Some(quota), Some(usage)) = (number("quota"), number("usage")) {
        let free = (quota - usage).max(0.0) as u64;
        if size > free {
            return Err(SluiceError::NoRoom(format!("{size} bytes, and this site has {free} bytes of storage free")));
        }
    }
    Ok(())
}

/// The file a local save wrote, once its stream closed whole: `None` for the picked file
/// (written in place), else the file to hand over and, for OPFS, the staged file it reads.
pub(crate) async fn settle(finish: Finish) -> Result<Option<(JsValue, Option<Staged>)>, SluiceError> {
    match finish {
        Finish::Picker(handle, written) => match JsFuture::from(written).await {
            Ok(_) => Ok(None),
            // The last chunks or the file's close failed: the picked file goes, as on any failure.
            Err(e) => {
                discard(Finish::Picker(handle, Promise::resolve(&JsValue::UNDEFINED)));
                Err(file_error("writing the picked file", &e))
            }
        },
        Finish::Blob(blob) => Ok(Some((JsFuture::from(blob).await.map_err(|e| file_error("the Blob", &e))?, None))),
        Finish::Opfs(mut staged) => {
            // The file a sync access handle wrote, or the end of the pipe into the file.
            let file = match staged.written.take() {
                Some(written) => JsFuture::from(written).await,
                None => Ok(JsValue::UNDEFINED),
            };
            let file = match file {
                Ok(file) if file.is_undefined() => call(&staged.handle, "getFile", &[]).await,
                other => other,
            };
            match file {
                Ok(file) => Ok(Some((file, Some(staged)))),
                Err(e) => {
                    staged.remove();
                    Err(file_error("the staged file", &e))
                }
            }
        }
    }
}

/// Takes over staged file `name` from the worker that wrote it (after the hand-over): its lock,
/// asked for at once (a pending lock counts as in use for every sweep) and granted once the
/// worker lets go, then its removal once the browser had time to copy its `bytes`.
pub(crate) fn take_over(name: String, bytes: u64) {
    spawn_local(async move {
        let release = hold_lock(&lock_name(&name)).await;
        match staging(false).await {
            Ok(folder) => {
                Staged { folder, name, handle: JsValue::UNDEFINED, release, written: None }.remove_later(bytes)
            }
            Err(_) => drop(release.map(|release| release.call0(&JsValue::NULL))),
        }
    });
}

/// Hands `file` (`bytes` long) to the browser as `name`: an object URL and a download link,
/// on a page. The URL is revoked once the browser had time to copy the file.
pub(crate) fn hand_over(file: &JsValue, name: &str, bytes: u64) -> Result<(), JsValue> {
    let url = method(&global("URL"), "createObjectURL", &[file])?;
    let clicked = click(&url, name);
    spawn_local(async move {
        sleep(linger(bytes)).await;
        let _ = method(&global("URL"), "revokeObjectURL", &[&url]);
    });
    clicked
}

/// A download link to `url`, named `name`, clicked.
fn click(url: &JsValue, name: &str) -> Result<(), JsValue> {
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let link = document.create_element("a")?;
    link.set_attribute("href", &url.as_string().unwrap_or_default())?;
    link.set_attribute("download", name)?;
    document.document_element().ok_or("no document element")?.append_child(&link)?;
    let clicked = method(&link, "click", &[]);
    link.remove();
    clicked.map(drop)
}

/// The download failed: what was written is dropped (the stream itself was aborted).
pub(crate) fn discard(finish: Finish) {
    match finish {
        Finish::Opfs(staged) => staged.remove(),
        // The picker made the chosen file: remove it where the browser can.
        Finish::Picker(handle, written) => spawn_local(async move {
            let _ = JsFuture::from(written).await;
            if let Ok(removed) = method(&handle, "remove", &[]) {
                ignore_rejection(&Promise::resolve(&removed));
            }
        }),
        Finish::Blob(blob) => ignore_rejection(&blob),
    }
}
