//! One download on the page side: the writer over either path.

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::channel::oneshot;
use futures::future::{FutureExt, LocalBoxFuture, Shared};
use js_sys::Uint8Array;
use sluice_core::window::{Progress, SendError, SendWindow};
use sluice_core::wire::MAX_EXPIRE_AFTER_MS;
use sluice_core::{Address, Coalescer, DownloadId, FileMeta, Message, TransferPath};
use sluice_worker_bus::web::WebEndpoint;
use sluice_worker_bus::ActorHandle;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{TransformStream, WritableStreamDefaultWriter};

use crate::error::SluiceError;
use crate::page::{now, Page, PageBus, Trigger};

type Opened = Shared<LocalBoxFuture<'static, Result<(), SluiceError>>>;
type Done = Shared<LocalBoxFuture<'static, Result<u64, SluiceError>>>;
type Callback<T> = RefCell<Option<Box<dyn Fn(T)>>>;

/// Where the bytes go once the download is open.
enum Sink {
    Transfer(WritableStreamDefaultWriter),
    Fallback,
}

struct State {
    window: SendWindow,
    coalescer: Coalescer,
    bus: Option<PageBus>,
    sink: Option<Sink>,
    actor: Option<ActorHandle<WebEndpoint>>,
    failure: Option<SluiceError>,
    done_tx: Option<oneshot::Sender<Result<u64, SluiceError>>>,
    iframe: Option<web_sys::HtmlIFrameElement>,
}

pub(crate) struct Inner {
    id: DownloadId,
    url: String,
    path: TransferPath,
    state: RefCell<State>,
    /// Woken when credit arrives or the download fails.
    wake: (async_channel::Sender<()>, async_channel::Receiver<()>),
    busy: Cell<bool>,
    opened: RefCell<Option<Opened>>,
    done: Done,
    on_progress: Callback<Progress>,
    on_failure: Callback<SluiceError>,
}

/// A download in progress. Write its bytes, close it, await [`Download::done`].
/// Cheap to clone; clones are the same download.
#[derive(Clone)]
pub struct Download {
    pub(crate) inner: Rc<Inner>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download").field("url", &self.inner.url).field("path", &self.inner.path).finish()
    }
}

impl Download {
    pub(crate) fn start(
        page: Rc<Page>,
        id: DownloadId,
        url: String,
        meta: FileMeta,
        trigger: Trigger,
    ) -> Result<Download, SluiceError> {
        let flow = page.options.flow;
        let window = match page.path {
            TransferPath::Transfer => SendWindow::unmetered(id, flow, meta.size, now()),
            TransferPath::Fallback => SendWindow::new(id, flow, meta.size, now()),
        }
        .map_err(|e| SluiceError::Browser(e.to_string()))?;
        let (done_tx, done_rx) = oneshot::channel();
        let done: Done =
            async move { done_rx.await.unwrap_or(Err(SluiceError::Browser("the download was dropped".into()))) }
                .boxed_local()
                .shared();
        let inner = Rc::new(Inner {
            id,
            url,
            path: page.path,
            state: RefCell::new(State {
                window,
                coalescer: Coalescer::new(flow.min_chunk, flow.max_chunk),
                bus: None,
                sink: None,
                actor: None,
                failure: None,
                done_tx: Some(done_tx),
                iframe: None,
            }),
            wake: async_channel::bounded(1),
            busy: Cell::new(false),
            opened: RefCell::new(None),
            done,
            on_progress: RefCell::new(None),
            on_failure: RefCell::new(None),
        });
        let opened: Opened = open(page.clone(), inner.clone(), meta, trigger).boxed_local().shared();
        *inner.opened.borrow_mut() = Some(opened.clone());
        // Open now, not on the first write.
        spawn_local(async move {
            let _ = opened.await;
        });
        page.track(&inner);
        Ok(Download { inner })
    }

    /// The service-worker URL that serves this download.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The download's id.
    pub fn id(&self) -> DownloadId {
        self.inner.id
    }

    /// Calls `callback` after each chunk sent.
    pub fn on_progress(&self, callback: impl Fn(Progress) + 'static) {
        *self.inner.on_progress.borrow_mut() = Some(Box::new(callback));
    }

    pub(crate) fn on_failure(&self, callback: impl Fn(SluiceError) + 'static) {
        *self.inner.on_failure.borrow_mut() = Some(Box::new(callback));
    }

    /// Writes `bytes` (coalesced into chunks; waits for credit or backpressure).
    pub async fn write(&self, bytes: &[u8]) -> Result<(), SluiceError> {
        let _busy = self.inner.enter()?;
        self.inner.opened().await?;
        self.inner.check()?;
        let mut rest = bytes;
        while !rest.is_empty() {
            let chunk = {
                let mut state = self.inner.state.borrow_mut();
                let taken = state.coalescer.push(rest);
                rest = &rest[taken..];
                state.coalescer.poll_chunk()
            };
            if let Some(chunk) = chunk {
                self.inner.send(chunk).await?;
            }
        }
        Ok(())
    }

    /// Sends what is buffered and ends the download. A declared size that was not met fails
    /// it instead (the browser shows a failed download, never a complete one).
    pub async fn close(&self) -> Result<(), SluiceError> {
        let _busy = self.inner.enter()?;
        self.inner.opened().await?;
        self.inner.check()?;
        let last = self.inner.state.borrow_mut().coalescer.flush();
        if let Some(chunk) = last {
            self.inner.send(chunk).await?;
        }
        let closed = self.inner.state.borrow_mut().window.close();
        if let Err(e) = closed {
            let e = SluiceError::from(e);
            self.inner.fail(e.clone());
            return Err(e);
        }
        self.inner.transmit();
        let sink = self.inner.state.borrow_mut().sink.take();
        if let Some(Sink::Transfer(writer)) = sink {
            self.inner.settle_transferred(writer.close()).await?;
        }
        Ok(())
    }

    /// Fails the download with `reason` (the browser shows a failed download).
    pub fn abort(&self, reason: &str) {
        self.inner.fail(SluiceError::Download(SendError::Aborted(reason.to_string())));
    }

    /// Resolves with the byte count once the service worker served every byte.
    pub async fn done(&self) -> Result<u64, SluiceError> {
        self.inner.done.clone().await
    }

    /// A `futures::Sink` of byte vectors over this download; closing it closes the download.
    pub fn into_sink(self) -> DownloadSink {
        DownloadSink { download: self, pending: None, closed: false }
    }
}

/// Releases the busy flag.
struct Busy<'a>(&'a Cell<bool>);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

impl Inner {
    fn enter(&self) -> Result<Busy<'_>, SluiceError> {
        if self.busy.replace(true) {
            return Err(SluiceError::Busy);
        }
        Ok(Busy(&self.busy))
    }

    async fn opened(&self) -> Result<(), SluiceError> {
        let opened = self.opened.borrow().clone();
        match opened {
            Some(opened) => opened.await,
            None => Err(SluiceError::Browser("the download was not started".into())),
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        let state = self.state.borrow();
        state.failure.is_some() || state.done_tx.is_none()
    }

    fn check(&self) -> Result<(), SluiceError> {
        match &self.state.borrow().failure {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Sends one chunk, waiting for credit (fallback) or backpressure (transfer).
    async fn send(&self, chunk: Vec<u8>) -> Result<(), SluiceError> {
        loop {
            self.check()?;
            let attempt = { self.state.borrow_mut().window.send(chunk.len()) };
            match attempt {
                Ok(header) => {
                    let view = Uint8Array::from(&chunk[..]);
                    let result = match self.sink_kind() {
                        Some(true) => self.write_transferred(&view).await,
                        _ => self.tell(header, Some(view.buffer().into())),
                    };
                    result?;
                    self.progress();
                    return Ok(());
                }
                Err(e) if e.is_blocked() => {
                    let _ = self.wake.1.recv().await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `Some(true)` on the transfer path.
    fn sink_kind(&self) -> Option<bool> {
        self.state.borrow().sink.as_ref().map(|s| matches!(s, Sink::Transfer(_)))
    }

    async fn write_transferred(&self, view: &Uint8Array) -> Result<(), SluiceError> {
        let writer = match &self.state.borrow().sink {
            Some(Sink::Transfer(writer)) => writer.clone(),
            _ => return Err(SluiceError::Browser("no transferred stream".into())),
        };
        self.settle_transferred(writer.write_with_chunk(view)).await
    }

    /// Awaits a write or close of the transferred stream, or the download's failure, whichever
    /// comes first: when the service worker is gone, the stream's promises may never settle.
    async fn settle_transferred(&self, promise: js_sys::Promise) -> Result<(), SluiceError> {
        let settled = JsFuture::from(promise);
        let failed = async {
            loop {
                if let Err(e) = self.check() {
                    return e;
                }
                if self.wake.1.recv().await.is_err() {
                    futures::future::pending::<()>().await;
                }
            }
        };
        futures::pin_mut!(settled, failed);
        match futures::future::select(settled, failed).await {
            futures::future::Either::Left((Ok(_), _)) => Ok(()),
            futures::future::Either::Left((Err(e), _)) => Err(self.transfer_failure(&e).await),
            futures::future::Either::Right((e, _)) => Err(e),
        }
    }

    /// The transferred stream failed: the consumer cancelled (the service worker tells us why
    /// a moment later, over the bus), or the service worker is gone. Waits up to a second for
    /// that word before failing with the stream's own error.
    async fn transfer_failure(&self, e: &JsValue) -> SluiceError {
        for _ in 0..50 {
            if let Err(known) = self.check() {
                return known;
            }
            crate::page::sleep(std::time::Duration::from_millis(20)).await;
        }
        let e = SluiceError::Browser(format!("the transferred stream failed: {}", crate::js::describe(e)));
        self.fail(e.clone());
        e
    }

    fn tell(&self, msg: Message, attachment: Option<JsValue>) -> Result<(), SluiceError> {
        let bus = self.state.borrow().bus.clone();
        match bus {
            Some(bus) => bus.tell(msg, attachment).map_err(Into::into),
            None => Err(SluiceError::Browser("the download is not open".into())),
        }
    }

    /// Sends the window's control messages (close, abort) on the fallback path; on the
    /// transfer path the stream itself carries its end.
    fn transmit(&self) {
        let messages: Vec<Message> = {
            let mut state = self.state.borrow_mut();
            std::iter::from_fn(|| state.window.poll_transmit()).collect()
        };
        if self.path == TransferPath::Transfer {
            return;
        }
        for msg in messages {
            let _ = self.tell(msg, None);
        }
    }

    fn progress(&self) {
        let progress = self.state.borrow().window.progress(now());
        if let Some(callback) = self.on_progress.borrow().as_ref() {
            callback(progress);
        }
    }

    /// Ends the download with `e`: tells the service worker (abort), fails `done`, errors the
    /// writable. No effect once it ended.
    pub(crate) fn fail(&self, e: SluiceError) {
        let (done_tx, sink, iframe) = {
            let mut state = self.state.borrow_mut();
            if state.failure.is_some() {
                return;
            }
            match &e {
                SluiceError::Download(SendError::Cancelled(reason)) => state.window.handle_cancel(reason),
                other => state.window.abort(&other.to_string()),
            }
            state.failure = Some(e.clone());
            state.actor = None;
            (state.done_tx.take(), state.sink.take(), state.iframe.take())
        };
        self.transmit();
        if let Some(Sink::Transfer(writer)) = sink {
            let _ = writer.abort_with_reason(&JsValue::from_str(&e.to_string()));
        }
        if let Some(tx) = done_tx {
            let _ = tx.send(Err(e.clone()));
        }
        if let Some(iframe) = iframe {
            iframe.remove();
        }
        let _ = self.wake.0.try_send(());
        if let Some(callback) = self.on_failure.borrow().as_ref() {
            callback(e);
        }
    }

    /// Handles what the service worker says about this download.
    fn handle(&self, msg: Message) {
        match msg {
            Message::Grant { chunks, bytes, .. } => {
                let granted = self.state.borrow_mut().window.handle_grant(chunks, bytes);
                match granted {
                    Ok(()) => {
                        let _ = self.wake.0.try_send(());
                    }
                    Err(e) => self.fail(e.into()),
                }
            }
            Message::Cancel { reason, .. } => self.fail(SluiceError::Download(SendError::Cancelled(reason))),
            Message::Error { message, .. } => self.fail(SluiceError::Download(SendError::Failed(message))),
            Message::Done { total, .. } => {
                let (tx, iframe) = {
                    let mut state = self.state.borrow_mut();
                    state.actor = None;
                    (state.done_tx.take(), state.iframe.take())
                };
                if let Some(tx) = tx {
                    let _ = tx.send(Ok(total));
                }
                if let Some(iframe) = iframe {
                    iframe.remove();
                }
            }
            _ => {}
        }
    }
}

/// Connects (re-handshaking if the service worker restarted), opens the download in the
/// service worker, then triggers it.
async fn open(page: Rc<Page>, inner: Rc<Inner>, meta: FileMeta, trigger: Trigger) -> Result<(), SluiceError> {
    let result = open_inner(&page, &inner, meta, trigger).await;
    if let Err(e) = &result {
        inner.fail(e.clone());
    }
    result
}

async fn open_inner(page: &Rc<Page>, inner: &Rc<Inner>, meta: FileMeta, trigger: Trigger) -> Result<(), SluiceError> {
    let bus = page.live_bus().await?;
    let (actor, mailbox) = bus.actor(Address::Download(inner.id))?;
    let weak = Rc::downgrade(inner);
    spawn_local(async move {
        while let Some(incoming) = mailbox.recv().await {
            match weak.upgrade() {
                Some(inner) => inner.handle(incoming.msg),
                None => break,
            }
        }
    });
    let flow = page.options.flow;
    let (sink, attachment) = match inner.path {
        TransferPath::Transfer => {
            let pipe = TransformStream::new()?;
            let writer = pipe.writable().get_writer()?;
            (Sink::Transfer(writer), Some(JsValue::from(pipe.readable())))
        }
        TransferPath::Fallback => (Sink::Fallback, None),
    };
    {
        let mut state = inner.state.borrow_mut();
        state.bus = Some(bus.clone());
        state.sink = Some(sink);
        state.actor = Some(actor);
    }
    let open = Message::Open {
        id: inner.id,
        meta,
        path: inner.path,
        window_chunks: flow.window_chunks,
        window_bytes: flow.window_bytes,
        expire_after_ms: page.options.expire_after.as_millis().clamp(1, u128::from(MAX_EXPIRE_AFTER_MS)) as u64,
    };
    bus.request(open, attachment).await?;
    match trigger {
        Trigger::None => {}
        Trigger::Navigate => crate::page::window()?.location().set_href(&inner.url)?,
        Trigger::Iframe => {
            let document = crate::page::window()?.document().ok_or(SluiceError::Browser("no document".into()))?;
            let iframe: web_sys::HtmlIFrameElement = document.create_element("iframe")?.unchecked_into();
            iframe.set_src(&inner.url);
            iframe.style().set_property("display", "none")?;
            document.body().ok_or(SluiceError::Browser("no document body".into()))?.append_child(&iframe)?;
            inner.state.borrow_mut().iframe = Some(iframe);
        }
    }
    Ok(())
}

/// A `futures::Sink<Vec<u8>>` over a [`Download`]: `start_send` writes, `poll_close` closes.
pub struct DownloadSink {
    download: Download,
    pending: Option<LocalBoxFuture<'static, Result<(), SluiceError>>>,
    closed: bool,
}

impl std::fmt::Debug for DownloadSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownloadSink").field("download", &self.download).finish()
    }
}

impl DownloadSink {
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SluiceError>> {
        match self.pending.as_mut() {
            None => Poll::Ready(Ok(())),
            Some(future) => {
                let result = futures::ready!(future.as_mut().poll(cx));
                self.pending = None;
                Poll::Ready(result)
            }
        }
    }
}

impl futures::Sink<Vec<u8>> for DownloadSink {
    type Error = SluiceError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SluiceError>> {
        self.get_mut().poll_pending(cx)
    }

    fn start_send(self: Pin<&mut Self>, bytes: Vec<u8>) -> Result<(), SluiceError> {
        let this = self.get_mut();
        let download = this.download.clone();
        this.pending = Some(async move { download.write(&bytes).await }.boxed_local());
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SluiceError>> {
        self.get_mut().poll_pending(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SluiceError>> {
        let this = self.get_mut();
        loop {
            futures::ready!(this.poll_pending(cx))?;
            if this.closed {
                return Poll::Ready(Ok(()));
            }
            this.closed = true;
            let download = this.download.clone();
            this.pending = Some(async move { download.close().await }.boxed_local());
        }
    }
}
