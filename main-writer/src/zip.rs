//! Many files as one zip, streamed into one download: [`Zip`] is the handle, and one actor per
//! archive owns core's [`ZipWriter`] and adds the entries one after another, each read from its
//! source as it is written (never held whole). Entries added meanwhile wait their turn unread.
//! Deflated entries go through the browser's `CompressionStream('deflate-raw')` (where there is
//! none, they are stored).

use std::cell::RefCell;
use std::pin::pin;

use futures::channel::oneshot;
use futures::future::Either;
use futures::stream::LocalBoxStream;
use futures::StreamExt;
use js_sys::{Array, Function, Reflect, Uint8Array};
use sluice_core::window::SendError;
use sluice_core::zip::{Entry, Method, ZipError, ZipWriter};
use sluice_worker_bus::channel::{self, Receiver, Sender};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::download::{Bytes, Download};
use crate::error::SluiceError;
use crate::js_calls::{call, field, global, method};

/// Bytes of an entry's data the archive takes at a time (its CRC-32 is taken in wasm).
const PIECE: u32 = 1 << 20;

/// Where an entry's bytes come from.
pub enum Source {
    /// A JavaScript reader: `read()` of a stream's reader or `next()` of an async iterator, and
    /// what ends it early (`cancel` or `return`).
    Js {
        /// The reader or iterator.
        reader: JsValue,
        /// Its method that gives `{ done, value }`.
        next: &'static str,
        /// Its method that lets go of the source early.
        stop: &'static str,
    },
    /// Bytes at hand (taken once).
    Once(Option<Uint8Array>),
    /// A Rust stream of byte vectors.
    Rust(LocalBoxStream<'static, Result<Vec<u8>, SluiceError>>),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Source")
    }
}

/// A JavaScript source is let go of however its entry ends (a finished one is not hurt by it),
/// so that no stream stays locked by an entry that was refused or never written.
impl Drop for Source {
    fn drop(&mut self) {
        self.stop("the zip let go of this entry's source");
    }
}

impl Source {
    /// The next chunk, or `None` at the end.
    async fn next(&mut self) -> Result<Option<Bytes>, SluiceError> {
        match self {
            Source::Js { reader, next, .. } => {
                let result = call(reader, next, &[]).await?;
                if field(&result, "done").is_truthy() {
                    return Ok(None);
                }
                crate::js_calls::chunk_view(field(&result, "value")).map(|view| Some(Bytes::Js(view)))
            }
            Source::Once(bytes) => Ok(bytes.take().map(Bytes::Js)),
            Source::Rust(stream) => stream.next().await.transpose().map(|b| b.map(Bytes::Rust)),
        }
    }

    /// Lets go of a source that will not be read to its end.
    fn stop(&self, why: &str) {
        if let Source::Js { reader, stop, .. } = self {
            if let Ok(promise) = method(reader, stop, &[&why.into()]) {
                sluice_web::ignore_rejection(&js_sys::Promise::resolve(&promise));
            }
        }
    }
}

/// One entry to add: how it is named and stored, and its bytes.
#[derive(Debug)]
pub struct ZipEntry {
    /// The entry's header fields (its name is made safe in the archive).
    pub entry: Entry,
    /// Its data.
    pub source: Source,
}

type Reply<T> = oneshot::Sender<Result<T, SluiceError>>;

enum Command {
    Add(ZipEntry, Reply<()>),
    Close(Reply<()>),
}

/// A zip archive being streamed to disk. Add entries (each `add` resolves once the entry is
/// written), then `close`; await [`Zip::download`]'s `done`.
#[derive(Debug, Clone)]
pub struct Zip {
    commands: Sender<Command>,
    download: Download,
    size: Option<u64>,
}

impl Zip {
    /// Starts the archive's actor over `download` (whose size, if any, is the declared archive's).
    pub(crate) fn start(writer: ZipWriter, download: Download, size: Option<u64>) -> Zip {
        // Entries queue by design (each `add` waits for the ones before it): what a queued one
        // holds is the caller's source, which the caller made.
        let (commands, mailbox) = channel::unbounded();
        wasm_bindgen_futures::spawn_local(run(writer, download.clone(), mailbox));
        Zip { commands, download, size }
    }

    /// The archive's exact size, where its entries were declared.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// The download the archive is written into.
    pub fn download(&self) -> &Download {
        &self.download
    }

    async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Result<T, SluiceError> {
        let (reply, answer) = oneshot::channel();
        if self.commands.try_send(command(reply)).is_err() {
            return Err(SluiceError::Download(SendError::Closed));
        }
        answer.await.unwrap_or(Err(SluiceError::Download(SendError::Closed)))
    }

    /// Adds an entry once the ones before it are written; resolves when it is. A name that is
    /// not usable (empty once made safe, a duplicate, a path that would be both a file and a
    /// folder) is refused and the archive goes on; a
    /// source that fails or whose length is not the declared size, or an entry that is not the
    /// declared one, fails the whole download.
    pub async fn add(&self, entry: ZipEntry) -> Result<(), SluiceError> {
        self.ask(|reply| Command::Add(entry, reply)).await
    }

    /// Ends the archive (its central directory) and the download.
    pub async fn close(&self) -> Result<(), SluiceError> {
        self.ask(Command::Close).await
    }

    /// Fails the archive's download (the entry being written lets go of its source).
    pub fn abort(&self, reason: &str) {
        self.download.abort(reason);
    }
}

/// The archive's actor: adds each entry in turn; once every handle is gone unclosed, fails the
/// download (an archive without its central directory must not look complete).
async fn run(writer: ZipWriter, download: Download, mailbox: Receiver<Command>) {
    let writer = RefCell::new(writer);
    while let Ok(command) = mailbox.recv().await {
        match command {
            Command::Add(entry, reply) => {
                let _ = reply.send(add(&writer, &download, entry).await);
            }
            Command::Close(reply) => {
                // Entries added after close() are refused (closed), and let go of their sources.
                mailbox.close();
                while mailbox.try_recv().is_ok() {}
                let tail = writer.borrow_mut().finish();
                let closed = async {
                    download.write_bytes(Bytes::Rust(tail?)).await?;
                    download.close().await
                };
                let closed = closed.await;
                if let Err(e) = &closed {
                    // Entries declared but not added, or a failed write: it cannot end whole.
                    download.abort(&e.to_string());
                }
                let _ = reply.send(closed);
                return;
            }
        }
    }
    download.abort("the zip was dropped before close()");
}

/// Writes one entry: header, data, descriptor. An error once the header is written fails the
/// download (the archive cannot be whole); one before leaves it as it was, but where the
/// entries were declared (the archive's size is promised). The source is let go of on any
/// error, and as soon as the download fails (aborted, or cancelled in the browser).
async fn add(writer: &RefCell<ZipWriter>, download: &Download, entry: ZipEntry) -> Result<(), SluiceError> {
    let ZipEntry { mut entry, mut source } = entry;
    // Without a compressor the entry is stored, and its header says so (a declared archive
    // refuses a deflated entry in every browser).
    let compressor = (entry.method == Method::Deflated).then(compressor).flatten();
    if compressor.is_none() && !writer.borrow().is_declared() {
        entry.method = Method::Stored;
    }
    let header = writer.borrow_mut().start_entry(entry);
    let header = match header {
        Ok(header) => header,
        Err(e) => {
            source.stop(&e.to_string());
            if matches!(e, ZipError::NotDeclared { .. }) {
                download.abort(&e.to_string());
            }
            return Err(e.into());
        }
    };
    let written = async {
        download.write_bytes(Bytes::Rust(header)).await?;
        match compressor {
            Some(compressor) => deflated(writer, download, &mut source, compressor).await?,
            None => stored(writer, download, &mut source).await?,
        }
        let descriptor = writer.borrow_mut().end_entry()?;
        download.write_bytes(Bytes::Rust(descriptor)).await
    };
    let written = {
        // A download that fails meanwhile ends the wait for a source that may never go on.
        let failed = async { Err(download.outcome().await.err().unwrap_or(SluiceError::Download(SendError::Closed))) };
        match futures::future::select(pin!(written), pin!(failed)).await {
            Either::Left((result, _)) | Either::Right((result, _)) => result,
        }
    };
    if let Err(e) = &written {
        source.stop(&e.to_string());
        download.abort(&e.to_string());
    }
    written
}

/// `bytes` taken into the open entry, as the pieces to write, each made when it is asked for:
/// a JavaScript view is copied into wasm a piece at a time (at most [`PIECE`] bytes, never the
/// whole of a large view), and each piece's CRC-32 is taken of the copy that is written, so
/// that a source that refills its buffer for the next chunk cannot change it.
fn pieces<'a>(
    writer: &'a RefCell<ZipWriter>,
    bytes: Bytes,
) -> Box<dyn Iterator<Item = Result<Vec<u8>, SluiceError>> + 'a> {
    let take = move |piece: Vec<u8>| writer.borrow_mut().data(&piece).map(|()| piece).map_err(SluiceError::from);
    match bytes {
        Bytes::Rust(bytes) => Box::new(std::iter::once(take(bytes))),
        Bytes::Js(view) | Bytes::Owned(view, _) => {
            let len = view.length();
            Box::new(
                (0..len)
                    .step_by(PIECE as usize)
                    .map(move |at| take(view.subarray(at, len.min(at.saturating_add(PIECE))).to_vec())),
            )
        }
    }
}

/// A stored entry's data, as it comes. Each chunk's pieces are written as they are made, and
/// the last one while the source's next chunk is read (one chunk ahead, so that making the
/// bytes and saving them overlap; the chunk's view is not needed any more by then).
async fn stored(writer: &RefCell<ZipWriter>, download: &Download, source: &mut Source) -> Result<(), SluiceError> {
    let mut next = source.next().await?;
    while let Some(bytes) = next {
        // Each piece is written once the next is made; the last is left for below.
        let mut last = None;
        for piece in pieces(writer, bytes) {
            if let Some(made) = last.replace(piece?) {
                download.write_bytes(Bytes::Rust(made)).await?;
            }
        }
        let write = async {
            match last {
                Some(piece) => download.write_bytes(Bytes::Rust(piece)).await,
                None => Ok(()),
            }
        };
        // A failed write ends the entry at once, whatever the source does.
        next = futures::try_join!(write, source.next())?.1;
    }
    Ok(())
}

/// A `CompressionStream('deflate-raw')`, where the browser has one.
fn compressor() -> Option<JsValue> {
    let class = global("CompressionStream").dyn_into::<Function>().ok()?;
    Reflect::construct(&class, &Array::of1(&"deflate-raw".into())).ok()
}

/// A deflated entry's data: the source feeds the compressor while its output is written.
async fn deflated(
    writer: &RefCell<ZipWriter>,
    download: &Download,
    source: &mut Source,
    compressor: JsValue,
) -> Result<(), SluiceError> {
    let input = method(&field(&compressor, "writable"), "getWriter", &[])?;
    let output = method(&field(&compressor, "readable"), "getReader", &[])?;
    let feed = async {
        let fed = async {
            while let Some(bytes) = source.next().await? {
                for piece in pieces(writer, bytes) {
                    call(&input, "write", &[&Uint8Array::from(&piece?[..])]).await?;
                }
            }
            call(&input, "close", &[]).await.map(drop).map_err(SluiceError::from)
        };
        let fed = fed.await;
        if let Err(e) = &fed {
            let _ = method(&input, "abort", &[&e.to_string().into()]);
        }
        fed
    };
    let drain = async {
        let drained = async {
            loop {
                let next = call(&output, "read", &[]).await?;
                if field(&next, "done").is_truthy() {
                    return Ok(());
                }
                let view: Uint8Array = field(&next, "value").unchecked_into();
                writer.borrow_mut().compressed(u64::from(view.length()))?;
                download.write_bytes(Bytes::Js(view)).await?;
            }
        };
        let drained: Result<(), SluiceError> = drained.await;
        if let Err(e) = &drained {
            let _ = method(&output, "cancel", &[&e.to_string().into()]);
        }
        drained
    };
    futures::future::try_join(feed, drain).await.map(drop)
}
