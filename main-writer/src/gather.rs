//! The sink below the download's `WritableStream`: small writes are gathered here and
//! answered at once, and they keep gathering while the gathered bytes before them are sent.
//!
//! A write below `min_chunk` costs a copy, not a round trip to the download's actor. Once
//! `min_chunk` bytes are staged, a flush sends them; writes that come meanwhile stage up to
//! `max_chunk` bytes, so the chunks grow when sending is slow and the producer runs on.
//! Only a write that finds no room, a large write and the close wait. Memory stays below
//! two `max_chunk`s: the staged bytes and the chunk being sent.

use std::cell::RefCell;
use std::rc::Rc;

use futures::future::{FutureExt, LocalBoxFuture, Shared};
use js_sys::Uint8Array;
use wasm_bindgen_futures::spawn_local;

use crate::download::Download;
use crate::error::SluiceError;

type Flush = Shared<LocalBoxFuture<'static, Result<(), SluiceError>>>;

/// The staged bytes and the flush that sends them. The stream calls `write` and `close` one
/// at a time, and no borrow outlives a call.
pub(crate) struct Gather {
    download: Download,
    min: usize,
    max: usize,
    staged: RefCell<Vec<u8>>,
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
        Rc::new(Gather { download, min, max, staged: RefCell::default(), flushing: RefCell::default() })
    }

    /// Stages a small write that fits, or returns what the write must wait for.
    pub(crate) fn write(self: &Rc<Self>, view: Uint8Array) -> Written {
        let failed = self.flushing.borrow().as_ref().and_then(|flush| flush.peek().cloned());
        if let Some(Err(e)) = failed {
            return Written::Wait(futures::future::ready(Err(e)).boxed_local());
        }
        let len = view.length() as usize;
        if len < self.min && self.stage(&view) {
            return Written::Staged;
        }
        let this = self.clone();
        Written::Wait(
            async move {
                this.drain().await?;
                if len < this.min && this.stage(&view) {
                    return Ok(());
                }
                this.download.write_js(view).await
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
        self.staged.borrow_mut().clear();
    }

    /// Copies `view` in if it fits below `max_chunk`, and starts a flush once `min_chunk`
    /// bytes are staged and none runs.
    fn stage(self: &Rc<Self>, view: &Uint8Array) -> bool {
        let mut staged = self.staged.borrow_mut();
        let at = staged.len();
        let len = view.length() as usize;
        if at + len > self.max {
            return false;
        }
        staged.resize(at + len, 0);
        view.copy_to(&mut staged[at..]);
        let due = staged.len() >= self.min;
        drop(staged);
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
            let bytes = {
                let mut staged = self.staged.borrow_mut();
                if staged.len() < self.min {
                    break Ok(());
                }
                std::mem::take(&mut *staged)
            };
            if let Err(e) = self.download.write_vec(bytes).await {
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
        let rest = std::mem::take(&mut *self.staged.borrow_mut());
        if rest.is_empty() {
            return Ok(());
        }
        self.download.write_vec(rest).await
    }
}
