//! The sink below the download's `WritableStream`: small writes are gathered here and
//! answered at once, and they keep gathering while the gathered bytes before them are sent.
//!
//! A write below `min_chunk` costs a copy into a staging buffer on the JavaScript side (one
//! call; its bytes never cross into wasm), not a round trip to the download's actor. Once
//! `min_chunk` bytes are staged, a flush sends them; writes that come meanwhile stage up to
//! `max_chunk` bytes, so the chunks grow when sending is slow and the producer runs on.
//! Only a write that finds no room, a large write and the close wait. Memory stays below
//! two `max_chunk`s: the staged bytes and the chunk being sent.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures::future::{FutureExt, LocalBoxFuture, Shared};
use js_sys::Uint8Array;
use wasm_bindgen_futures::spawn_local;

use crate::download::{Bytes, Download};
use crate::error::SluiceError;

type Flush = Shared<LocalBoxFuture<'static, Result<(), SluiceError>>>;

/// The staged bytes and the flush that sends them. The stream calls `write` and `close` one
/// at a time, and no borrow outlives a call.
pub(crate) struct Gather {
    download: Download,
    min: usize,
    max: usize,
    /// The staged bytes are the first `staged` of `staging` (made at the first small write).
    staging: RefCell<Option<Uint8Array>>,
    staged: Cell<usize>,
    /// The flush that runs, if one does.
    flushing: RefCell<Option<Flush>>,
}

/// How a write is answered.
pub(crate) enum Written {
    /// Staged: the write is done.
    Staged,
    /// The write waits for this.
    Wait(LocalBoxFuture<'static, Result<(), SluiceError>>),
}

impl Gather {
    pub(crate) fn new(download: Download) -> Rc<Gather> {
        let (min, max) = download.chunk_sizes();
        Rc::new(Gather {
            download,
            min,
            max,
            staging: RefCell::default(),
            staged: Cell::new(0),
            flushing: RefCell::default(),
        })
    }

    /// Stages a small write that fits, or returns what the write must wait for.
    pub(crate) fn write(self: &Rc<Self>, view: Uint8Array) -> Written {
        let failed = self.flushing.borrow().as_ref().and_then(|flush| flush.peek().cloned());
        if let Some(Err(e)) = failed {
            return Written::Wait(futures::future::ready(Err(e)).boxed_local());
        }
        let len = view.length() as usize;
        if len < self.min && self.stage(&view, len) {
            return Written::Staged;
        }
        let this = self.clone();
        Written::Wait(
            async move {
                this.drain().await?;
                if len < this.min && this.stage(&view, len) {
                    return Ok(());
                }
                this.download.write_bytes(Bytes::Js(view)).await
            }
            .boxed_local(),
        )
    }

    /// Sends everything staged, then closes the download.
    pub(crate) async fn close(self: Rc<Self>) -> Result<(), SluiceError> {
        self.drain().await?;
        self.download.close().await
    }

    /// Drops what is staged (the stream was aborted).
    pub(crate) fn clear(&self) {
        self.staged.set(0);
    }

    /// Copies `view` (`len` bytes) in if it fits below `max_chunk`, and starts a flush once `min_chunk`
    /// bytes are staged and none runs.
    fn stage(self: &Rc<Self>, view: &Uint8Array, len: usize) -> bool {
        let at = self.staged.get();
        if at + len > self.max {
            return false;
        }
        let mut staging = self.staging.borrow_mut();
        staging.get_or_insert_with(|| Uint8Array::new_with_length(self.max as u32)).set(view, at as u32);
        drop(staging);
        self.staged.set(at + len);
        let due = at + len >= self.min;
        if due && self.flushing.borrow().is_none() {
            let flush = self.clone().flush().boxed_local().shared();
            *self.flushing.borrow_mut() = Some(flush.clone());
            spawn_local(flush.map(drop));
        }
        true
    }

    /// Sends the staged bytes while at least `min_chunk` of them wait.
    async fn flush(self: Rc<Self>) -> Result<(), SluiceError> {
        let sent = loop {
            if self.staged.get() < self.min {
                break Ok(());
            }
            if let Err(e) = self.download.write_bytes(Bytes::Js(self.take())).await {
                break Err(e);
            }
        };
        // A failed flush stays here: the next write or the close gets its error.
        if sent.is_ok() {
            self.flushing.borrow_mut().take();
        }
        sent
    }

    /// Waits for the flush that runs, then sends whatever is staged.
    async fn drain(&self) -> Result<(), SluiceError> {
        let running = self.flushing.borrow().clone();
        if let Some(flush) = running {
            flush.await?;
        }
        if self.staged.get() == 0 {
            return Ok(());
        }
        self.download.write_bytes(Bytes::Js(self.take())).await
    }

    /// The staged bytes, copied out of the staging buffer (which takes the next writes).
    fn take(&self) -> Uint8Array {
        let len = self.staged.replace(0) as u32;
        self.staging.borrow().as_ref().map_or_else(|| Uint8Array::new_with_length(0), |s| s.slice(0, len))
    }
}
