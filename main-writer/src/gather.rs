//! The sink below the download's `WritableStream`: small writes are gathered here and
//! answered at once, and they keep gathering while the gathered bytes before them are sent.
//!
//! A write below `min_chunk` that fits is copied into a staging buffer on the JavaScript side,
//! by the fast path in `main-writer/js/gather.js` (a thin shim: crossing into wasm for each
//! write would cost more than the copy), not sent to the download's actor. Once a chunk's worth
//! is staged, a flush sends it; writes that come meanwhile stage up to `max_chunk` bytes, so
//! the chunks grow when sending is slow and the producer runs on. A chunk's worth is about
//! [`CHUNK_TIME`] of the producer's bytes, between `min_chunk` and `max_chunk`: a fast producer
//! sends few large chunks (each a message, which costs more than its bytes in WebKit), a slow
//! one's bytes still leave soon. Only a write that finds no room, a large write and the close
//! wait. Memory stays below two `max_chunk`s: the staged bytes and the chunk being sent.
//! Without the shim (a glue built otherwise), every write comes here, with the same outcome.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures::future::{FutureExt, LocalBoxFuture, Shared};
use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;

use crate::download::{Bytes, Download};
use crate::error::SluiceError;
use crate::js_calls::field;

/// About how long a producer's bytes stay staged: a flush starts once the bytes staged at the
/// producer's last rate would take this long to come, between `min_chunk` and `max_chunk`.
const CHUNK_TIME: Duration = Duration::from_millis(50);

type Flush = Shared<LocalBoxFuture<'static, Result<(), SluiceError>>>;

/// The staged bytes and the flush that sends them. The stream calls `write` and `close` one
/// at a time, and no borrow outlives a call.
pub(crate) struct Gather {
    download: Download,
    min: usize,
    max: usize,
    /// What the JavaScript fast path reads and stages into: the staged bytes are the first `n`
    /// of `buf` (made at the first small write); writes below `min` are staged; `due`: the
    /// staged bytes that start a flush; `open`: small writes may be staged (no flush failed);
    /// `flushing`: a flush runs or failed (so reaching `due` starts none).
    stage: Object,
    /// When the staged bytes were last taken (or the download made).
    taken_at: Cell<Duration>,
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
        let stage = Object::new();
        for (key, value) in [("n", 0.0), ("min", min as f64), ("due", min as f64), ("max", max as f64)] {
            let _ = Reflect::set(&stage, &key.into(), &value.into());
        }
        let gather = Rc::new(Gather {
            download,
            min,
            max,
            stage,
            taken_at: Cell::new(sluice_web::now()),
            flushing: RefCell::default(),
        });
        gather.set("open", true);
        gather.set("flushing", false);
        gather
    }

    /// The state the JavaScript fast path shares.
    pub(crate) fn shared(&self) -> &Object {
        &self.stage
    }

    fn set(&self, key: &str, value: impl Into<JsValue>) {
        let _ = Reflect::set(&self.stage, &key.into(), &value.into());
    }

    /// Bytes staged.
    fn staged(&self) -> usize {
        field(&self.stage, "n").as_f64().unwrap_or(0.0) as usize
    }

    /// The staging buffer, once a small write made it. Only Rust and the shim set it, to a
    /// `Uint8Array`, but the shim's may be of another realm than the glue's (where they are
    /// evaluated in different globals, as in a Firefox sandbox), and `instanceof` would miss it.
    fn buffer(&self) -> Option<Uint8Array> {
        Some(field(&self.stage, "buf")).filter(JsValue::is_object).map(JsCast::unchecked_into)
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
        self.set("n", 0.0);
    }

    /// Copies `view` (`len` bytes) in if it fits below `max_chunk`, and starts a flush once a
    /// chunk's worth is staged and none runs ([`Gather::due`]).
    fn stage(self: &Rc<Self>, view: &Uint8Array, len: usize) -> bool {
        let at = self.staged();
        if at + len > self.max {
            return false;
        }
        let buffer = self.buffer().unwrap_or_else(|| {
            let buffer = Uint8Array::new_with_length(self.max as u32);
            self.set("buf", &buffer);
            buffer
        });
        buffer.set(view, at as u32);
        self.set("n", (at + len) as f64);
        self.due();
        true
    }

    /// Starts a flush once a chunk's worth is staged and none runs.
    pub(crate) fn due(self: &Rc<Self>) {
        let worth = field(&self.stage, "due").as_f64().unwrap_or(0.0) as usize;
        if self.staged() >= worth && self.flushing.borrow().is_none() {
            let flush = self.clone().flush().boxed_local().shared();
            *self.flushing.borrow_mut() = Some(flush.clone());
            self.set("flushing", true);
            spawn_local(flush.map(drop));
        }
    }

    /// Sends the staged bytes while at least `min_chunk` of them wait.
    async fn flush(self: Rc<Self>) -> Result<(), SluiceError> {
        let sent = loop {
            if self.staged() < self.min {
                break Ok(());
            }
            let sent = match self.take() {
                Ok(chunk) => self.download.write_bytes(Bytes::owned(chunk)).await,
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
                break Err(e);
            }
        };
        // A failed flush stays here: the next write or the close gets its error, and no write
        // is staged any more.
        match sent {
            Ok(()) => {
                self.flushing.borrow_mut().take();
                self.set("flushing", false);
            }
            Err(_) => self.set("open", false),
        }
        sent
    }

    /// Waits for the flush that runs, then sends whatever is staged.
    async fn drain(&self) -> Result<(), SluiceError> {
        let running = self.flushing.borrow().clone();
        if let Some(flush) = running {
            flush.await?;
        }
        if self.staged() == 0 {
            return Ok(());
        }
        self.download.write_bytes(Bytes::owned(self.take()?)).await
    }

    /// The staged bytes, copied out of the staging buffer (which takes the next writes) into a
    /// buffer of their own, sent as it is. Staged bytes are never dropped: were the buffer
    /// gone, the download fails.
    fn take(&self) -> Result<Uint8Array, SluiceError> {
        let len = self.staged() as u32;
        let Some(buffer) = self.buffer() else {
            let e = SluiceError::Browser(format!("{len} staged bytes are gone: the staging buffer was replaced"));
            self.download.abort(&e.to_string());
            return Err(e);
        };
        self.set("n", 0.0);
        let now = sluice_web::now();
        let worth = chunk_worth(len as usize, now.saturating_sub(self.taken_at.replace(now)), (self.min, self.max));
        self.set("due", worth as f64);
        Ok(buffer.slice(0, len))
    }
}

/// A chunk's worth for a producer that staged `staged` bytes in `took`: what it stages in
/// [`CHUNK_TIME`] at that rate, within `(min, max)`.
fn chunk_worth(staged: usize, took: Duration, (min, max): (usize, usize)) -> usize {
    let rate = staged as f64 / took.as_secs_f64().max(1e-6);
    ((rate * CHUNK_TIME.as_secs_f64()) as usize).clamp(min, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: (usize, usize) = (64 << 10, 1 << 20);

    #[test]
    fn a_chunk_holds_about_chunk_time_of_the_producer_s_bytes() {
        let ms = Duration::from_millis;
        assert_eq!(chunk_worth(100_000, ms(10), LIMITS), 500_000, "10 MB/s: 50 ms of it");
        assert_eq!(chunk_worth(64 << 10, ms(1), LIMITS), 1 << 20, "a fast producer: the largest chunk");
        assert_eq!(chunk_worth(64 << 10, Duration::ZERO, LIMITS), 1 << 20, "no time passed");
        assert_eq!(chunk_worth(64 << 10, ms(10_000), LIMITS), 64 << 10, "a slow producer: the smallest");
        assert_eq!(chunk_worth(0, ms(5), LIMITS), 64 << 10, "nothing staged");
    }
}
