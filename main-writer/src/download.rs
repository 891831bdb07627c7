//! One download on the page side: an actor that owns its state (the [`SendWindow`], the
//! coalescer, the transferred stream's writer) and a [`Download`] handle that only sends it
//! commands and awaits replies.

use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::channel::oneshot;
use futures::future::{Fuse, FusedFuture, FutureExt, LocalBoxFuture, Shared};
use js_sys::Uint8Array;
use sluice_core::window::{FlowConfig, Progress, SendError, SendWindow};
use sluice_core::wire::MAX_EXPIRE_AFTER_MS;
use sluice_core::{Address, Coalescer, DownloadId, FileMeta, Message, Step, TransferPath};
use sluice_worker_bus::web::{ignore_rejection, now, WebEndpoint};
use sluice_worker_bus::{ActorHandle, Incoming, Mailbox};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{TransformStream, WritableStreamDefaultWriter};

use crate::args::Trigger;
use crate::connection::{Carried, ConnectionHandle, PageBus};
use crate::error::SluiceError;

/// Bytes to write: the caller's JavaScript view (never copied whole into wasm) or Rust bytes.
pub(crate) enum Bytes {
    Js(Uint8Array),
    Rust(Vec<u8>),
}

impl Bytes {
    fn len(&self) -> usize {
        match self {
            Bytes::Js(view) => view.length() as usize,
            Bytes::Rust(bytes) => bytes.len(),
        }
    }

    /// `len` bytes from `at`, copied into wasm (for the coalescer).
    fn to_vec(&self, at: usize, len: usize) -> Vec<u8> {
        match self {
            Bytes::Js(view) => view.subarray(at as u32, (at + len) as u32).to_vec(),
            Bytes::Rust(bytes) => bytes[at..at + len].to_vec(),
        }
    }

    /// `len` bytes from `at`, as a JavaScript buffer of their own (to transfer or write).
    fn to_js(&self, at: usize, len: usize) -> Uint8Array {
        match self {
            Bytes::Js(view) => view.slice(at as u32, (at + len) as u32),
            Bytes::Rust(bytes) => Uint8Array::from(&bytes[at..at + len]),
        }
    }
}

type Reply = oneshot::Sender<Result<(), SluiceError>>;

/// What a [`Download`] handle (or its connection) tells the download's actor.
pub(crate) enum Command {
    Write(Bytes, Reply),
    Close(Reply),
    Abort(String),
    Fail(SluiceError),
    OnProgress(Box<dyn Fn(Progress)>),
    OnFailure(Box<dyn Fn(SluiceError)>),
}

/// The connection's way to fail a download it carries.
struct DownloadControl {
    tx: async_channel::Sender<Command>,
}

impl Carried for DownloadControl {
    fn fail(&self, e: SluiceError) {
        let _ = self.tx.try_send(Command::Fail(e));
    }

    fn is_finished(&self) -> bool {
        self.tx.is_closed()
    }
}

type Done = Shared<LocalBoxFuture<'static, Result<u64, SluiceError>>>;

struct Handle {
    id: DownloadId,
    url: String,
    path: TransferPath,
    commands: async_channel::Sender<Command>,
    done: Done,
}

/// A download in progress. Write its bytes, close it, await [`Download::done`].
/// Cheap to clone; clones are the same download.
#[derive(Clone)]
pub struct Download {
    handle: Rc<Handle>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download").field("url", &self.handle.url).field("path", &self.handle.path).finish()
    }
}

/// What a new download needs to know.
pub(crate) struct Plan {
    pub(crate) id: DownloadId,
    pub(crate) url: String,
    pub(crate) path: TransferPath,
    pub(crate) meta: FileMeta,
    pub(crate) trigger: Trigger,
    pub(crate) flow: FlowConfig,
    pub(crate) expire_after: std::time::Duration,
}

impl Download {
    /// Starts the download's actor: it opens the download over `connection` at once.
    pub(crate) fn start(connection: ConnectionHandle, plan: Plan) -> Result<Download, SluiceError> {
        let window = match plan.path {
            TransferPath::Transfer => SendWindow::unmetered(plan.id, plan.flow, plan.meta.size, now()),
            TransferPath::Fallback => SendWindow::new(plan.id, plan.flow, plan.meta.size, now()),
        }
        .map_err(|e| SluiceError::InvalidArgument(e.to_string()))?;
        let (tx, commands) = async_channel::unbounded();
        let (done_tx, done_rx) = oneshot::channel();
        let done: Done = async move { done_rx.await.unwrap_or(Err(SluiceError::Browser("the download ended".into()))) }
            .boxed_local()
            .shared();
        let handle = Handle { id: plan.id, url: plan.url.clone(), path: plan.path, commands: tx.clone(), done };
        let actor = Actor {
            id: plan.id,
            path: plan.path,
            window,
            coalescer: Coalescer::new(plan.flow.min_chunk, plan.flow.max_chunk),
            writer: None,
            bus: None,
            done: Some(done_tx),
            iframe: None,
            on_progress: None,
            on_failure: None,
            failure: None,
        };
        spawn_local(actor.run(connection, DownloadControl { tx }, commands, plan));
        Ok(Download { handle: Rc::new(handle) })
    }

    /// The service-worker URL that serves this download.
    pub fn url(&self) -> &str {
        &self.handle.url
    }

    /// The download's id.
    pub fn id(&self) -> DownloadId {
        self.handle.id
    }

    /// Calls `callback` after each chunk sent.
    pub fn on_progress(&self, callback: impl Fn(Progress) + 'static) {
        let _ = self.handle.commands.try_send(Command::OnProgress(Box::new(callback)));
    }

    /// Calls `callback` once if the download fails.
    pub(crate) fn on_failure(&self, callback: impl Fn(SluiceError) + 'static) {
        let _ = self.handle.commands.try_send(Command::OnFailure(Box::new(callback)));
    }

    async fn ask(&self, command: impl FnOnce(Reply) -> Command) -> Result<(), SluiceError> {
        let (reply, answer) = oneshot::channel();
        if self.handle.commands.try_send(command(reply)).is_err() {
            return Err(self.handle.done.clone().await.err().unwrap_or(SluiceError::Download(SendError::Closed)));
        }
        answer.await.unwrap_or(Err(SluiceError::Download(SendError::Closed)))
    }

    /// Writes `bytes` (coalesced into chunks; waits for credit or backpressure).
    pub async fn write(&self, bytes: &[u8]) -> Result<(), SluiceError> {
        self.ask(|reply| Command::Write(Bytes::Rust(bytes.to_vec()), reply)).await
    }

    /// Writes the bytes of a JavaScript view, cut into chunks on the JavaScript side.
    pub(crate) async fn write_js(&self, view: Uint8Array) -> Result<(), SluiceError> {
        self.ask(|reply| Command::Write(Bytes::Js(view), reply)).await
    }

    /// Sends what is buffered and ends the download. A declared size that was not met fails
    /// it instead (the browser shows a failed download, never a complete one).
    pub async fn close(&self) -> Result<(), SluiceError> {
        self.ask(Command::Close).await
    }

    /// Fails the download with `reason` (the browser shows a failed download).
    pub fn abort(&self, reason: &str) {
        let _ = self.handle.commands.try_send(Command::Abort(reason.to_string()));
    }

    /// Resolves with the byte count once the service worker served every byte.
    pub async fn done(&self) -> Result<u64, SluiceError> {
        self.handle.done.clone().await
    }

    /// A `futures::Sink` of byte vectors over this download; closing it closes the download.
    pub fn into_sink(self) -> DownloadSink {
        DownloadSink { download: self, pending: None, closed: false }
    }
}

/// The write or close the actor is working on.
enum Job {
    Write {
        bytes: Bytes,
        at: usize,
        reply: Reply,
    },
    Close(Reply),
    /// Transfer path: closed, waiting for the transferred stream's close to settle.
    Closing(Reply),
}

/// A chunk cut from a write, waiting for credit (fallback) or for the stream (transfer).
struct Outgoing(Uint8Array);

struct Actor {
    id: DownloadId,
    path: TransferPath,
    window: SendWindow,
    coalescer: Coalescer,
    /// The transferred stream's writer (transfer path).
    writer: Option<WritableStreamDefaultWriter>,
    bus: Option<PageBus>,
    done: Option<oneshot::Sender<Result<u64, SluiceError>>>,
    iframe: Option<web_sys::HtmlIFrameElement>,
    on_progress: Option<Box<dyn Fn(Progress)>>,
    on_failure: Option<Box<dyn Fn(SluiceError)>>,
    failure: Option<SluiceError>,
}

enum Input {
    Command(Command),
    Worker(Option<Incoming<WebEndpoint>>),
    Written(Result<JsValue, JsValue>),
}

impl Actor {
    async fn run(
        mut self,
        connection: ConnectionHandle,
        control: DownloadControl,
        commands: async_channel::Receiver<Command>,
        plan: Plan,
    ) {
        let (_actor, mailbox) = match self.open(&connection, control, &plan).await {
            Ok(opened) => opened,
            Err(e) => {
                self.fail(e);
                // Answer what was asked meanwhile, then end.
                while let Ok(command) = commands.try_recv() {
                    self.refuse(command);
                }
                return;
            }
        };
        let mut job: Option<Job> = None;
        let mut pending: Option<Outgoing> = None;
        let mut writing: Fuse<JsFuture> = Fuse::terminated();
        while self.done.is_some() {
            // Move the job on as far as credit and the stream allow.
            if self.failure.is_none() && writing.is_terminated() {
                if let Some(write) = self.step(&mut job, &mut pending) {
                    writing = JsFuture::from(write).fuse();
                }
            }
            let input = futures::select! {
                command = next_command(&commands).fuse() => Input::Command(command),
                incoming = mailbox.recv().fuse() => Input::Worker(incoming),
                written = writing => Input::Written(written),
            };
            match input {
                Input::Command(command) => self.command(command, &mut job),
                Input::Worker(None) => {
                    self.fail(SluiceError::Browser("the connection to the service worker ended".into()))
                }
                Input::Worker(Some(incoming)) => self.handle(incoming.msg),
                Input::Written(Ok(_)) => match job.take() {
                    Some(Job::Closing(reply)) => drop(reply.send(Ok(()))),
                    other => {
                        job = other;
                        self.progress();
                    }
                },
                Input::Written(Err(e)) => {
                    let why = sluice_worker_bus::web::describe(&e);
                    // The service worker says why a moment later (a cancel, an error), or is gone.
                    let reason = futures::select! {
                        incoming = mailbox.recv().fuse() => incoming.map(|i| i.msg),
                        () = sluice_worker_bus::web::sleep(std::time::Duration::from_secs(1)).fuse() => None,
                    };
                    if let Some(msg) = reason {
                        self.handle(msg);
                    }
                    self.fail(SluiceError::Browser(format!("the transferred stream failed: {why}")));
                }
            }
            if let Some(e) = self.failure.clone() {
                match job.take() {
                    Some(Job::Write { reply, .. } | Job::Close(reply) | Job::Closing(reply)) => {
                        let _ = reply.send(Err(e));
                    }
                    None => {}
                }
            }
        }
        // Ended. A close still settling (the service worker's Done can come first) succeeded;
        // whatever comes now gets the outcome.
        match job {
            Some(Job::Close(reply) | Job::Closing(reply)) => drop(reply.send(self.failure.clone().map_or(Ok(()), Err))),
            Some(Job::Write { reply, .. }) => self.refuse(Command::Close(reply)),
            None => {}
        }
        commands.close();
        while let Ok(command) = commands.try_recv() {
            self.refuse(command);
        }
    }

    /// Registers with the connection, opens the download in the service worker, triggers it.
    async fn open(
        &mut self,
        connection: &ConnectionHandle,
        control: DownloadControl,
        plan: &Plan,
    ) -> Result<(ActorHandle<WebEndpoint>, Mailbox<WebEndpoint>), SluiceError> {
        let bus = connection.attach(Box::new(control)).await?;
        let (actor, mailbox) = bus.actor(Address::Download(self.id))?;
        let attachment = match self.path {
            TransferPath::Transfer => {
                let pipe = TransformStream::new()?;
                self.writer = Some(pipe.writable().get_writer()?);
                Some(JsValue::from(pipe.readable()))
            }
            TransferPath::Fallback => None,
        };
        let open = Message::Open {
            id: self.id,
            meta: plan.meta.clone(),
            path: self.path,
            window_chunks: plan.flow.window_chunks,
            window_bytes: plan.flow.window_bytes,
            expire_after_ms: plan.expire_after.as_millis().clamp(1, u128::from(MAX_EXPIRE_AFTER_MS)) as u64,
        };
        self.bus = Some(bus.clone());
        bus.request(open, attachment).await?;
        trigger(plan.trigger, &plan.url, &mut self.iframe)?;
        Ok((actor, mailbox))
    }

    fn command(&mut self, command: Command, job: &mut Option<Job>) {
        match command {
            Command::Write(bytes, reply) => match (&self.failure, job.is_some()) {
                (Some(e), _) => drop(reply.send(Err(e.clone()))),
                (None, true) => drop(reply.send(Err(SluiceError::Busy))),
                (None, false) => *job = Some(Job::Write { bytes, at: 0, reply }),
            },
            Command::Close(reply) => match (&self.failure, job.is_some()) {
                (Some(e), _) => drop(reply.send(Err(e.clone()))),
                (None, true) => drop(reply.send(Err(SluiceError::Busy))),
                (None, false) => *job = Some(Job::Close(reply)),
            },
            Command::Abort(reason) => self.fail(SluiceError::Download(SendError::Aborted(reason))),
            Command::Fail(e) => self.fail(e),
            Command::OnProgress(callback) => self.on_progress = Some(callback),
            Command::OnFailure(callback) => self.on_failure = Some(callback),
        }
    }

    /// Answers a command once the download has ended.
    fn refuse(&mut self, command: Command) {
        let outcome = self.failure.clone().unwrap_or(SluiceError::Download(SendError::Closed));
        match command {
            Command::Write(_, reply) | Command::Close(reply) => drop(reply.send(Err(outcome))),
            Command::OnFailure(callback) => {
                if let Some(e) = &self.failure {
                    callback(e.clone());
                }
            }
            Command::Abort(_) | Command::Fail(_) | Command::OnProgress(_) => {}
        }
    }

    /// Moves the job on: sends the pending chunk if the window allows, cuts the next one.
    /// Returns a write of the transferred stream to await (transfer path).
    fn step(&mut self, job: &mut Option<Job>, pending: &mut Option<Outgoing>) -> Option<js_sys::Promise> {
        loop {
            if let Some(Outgoing(chunk)) = pending.take() {
                match self.window.send(chunk.length() as usize) {
                    Ok(header) => match (&self.writer, &self.bus) {
                        (Some(writer), _) => return Some(writer.write_with_chunk(&chunk)),
                        (None, Some(bus)) => match bus.tell(header, Some(chunk.buffer().into())) {
                            Ok(()) => self.progress(),
                            Err(e) => return self.fail_with(e.into()),
                        },
                        (None, None) => return self.fail_with(SluiceError::Browser("the download is not open".into())),
                    },
                    Err(e) if e.is_blocked() => {
                        *pending = Some(Outgoing(chunk));
                        return None; // a Grant will move it on
                    }
                    Err(e) => return self.fail_with(e.into()),
                }
            }
            match job.take() {
                None => return None,
                Some(Job::Write { bytes, at, reply }) => match self.coalescer.next_step(bytes.len() - at) {
                    None => drop(reply.send(Ok(()))),
                    Some(Step::Emit) => {
                        let chunk = self.coalescer.poll_chunk().unwrap_or_default();
                        *pending = Some(Outgoing(Uint8Array::from(&chunk[..])));
                        *job = Some(Job::Write { bytes, at, reply });
                    }
                    Some(Step::Direct(n)) => {
                        *pending = Some(Outgoing(bytes.to_js(at, n)));
                        *job = Some(Job::Write { bytes, at: at + n, reply });
                    }
                    Some(Step::Buffer(n)) => {
                        self.coalescer.push(&bytes.to_vec(at, n));
                        *job = Some(Job::Write { bytes, at: at + n, reply });
                    }
                },
                Some(Job::Close(reply)) => {
                    if let Some(last) = self.coalescer.flush() {
                        *pending = Some(Outgoing(Uint8Array::from(&last[..])));
                        *job = Some(Job::Close(reply));
                        continue;
                    }
                    let result = self.window.close().map_err(SluiceError::from);
                    self.transmit();
                    if let Err(e) = &result {
                        self.fail(e.clone());
                    }
                    // The service worker ends the response once it has our Close and the
                    // stream's end: a stream cut short by the page's going is never complete.
                    if let (Ok(()), Some(writer)) = (&result, self.writer.take()) {
                        *job = Some(Job::Closing(reply));
                        return Some(writer.close());
                    }
                    let _ = reply.send(result);
                    return None;
                }
                Some(Job::Closing(reply)) => {
                    *job = Some(Job::Closing(reply));
                    return None;
                }
            }
        }
    }

    fn fail_with(&mut self, e: SluiceError) -> Option<js_sys::Promise> {
        self.fail(e);
        None
    }

    /// Sends the window's control messages (close, abort).
    fn transmit(&mut self) {
        while let Some(msg) = self.window.poll_transmit() {
            if let Some(bus) = &self.bus {
                if let Err(e) = bus.tell(msg, None) {
                    log::warn!("download {}: the service worker cannot be told: {e}", self.id);
                }
            }
        }
    }

    fn progress(&self) {
        if let Some(callback) = &self.on_progress {
            callback(self.window.progress(now()));
        }
    }

    /// Handles what the service worker says about this download.
    fn handle(&mut self, msg: Message) {
        match msg {
            Message::Grant { chunks, bytes, .. } => {
                if let Err(e) = self.window.handle_grant(chunks, bytes) {
                    self.fail(e.into());
                }
            }
            Message::Cancel { reason, .. } => self.fail(SluiceError::Download(SendError::Cancelled(reason))),
            Message::Error { code, message, .. } => self.fail(SluiceError::from_remote(code, message)),
            Message::Done { total, .. } => {
                if let Some(done) = self.done.take() {
                    let _ = done.send(Ok(total));
                }
                if let Some(iframe) = self.iframe.take() {
                    iframe.remove();
                }
            }
            other => log::warn!("download {}: unexpected {other:?}", self.id),
        }
    }

    /// Ends the download with `e`: tells the service worker (abort), fails `done`, errors the
    /// writable. No effect once it ended.
    fn fail(&mut self, e: SluiceError) {
        if self.failure.is_some() || self.done.is_none() {
            return;
        }
        log::debug!("download {} failed: {e}", self.id);
        match &e {
            SluiceError::Download(SendError::Cancelled(reason)) => self.window.handle_cancel(reason),
            other => self.window.abort(&other.to_string()),
        }
        self.failure = Some(e.clone());
        self.transmit();
        if let Some(writer) = self.writer.take() {
            ignore_rejection(&writer.abort_with_reason(&JsValue::from_str(&e.to_string())));
        }
        if let Some(done) = self.done.take() {
            let _ = done.send(Err(e.clone()));
        }
        if let Some(iframe) = self.iframe.take() {
            iframe.remove();
        }
        if let Some(callback) = &self.on_failure {
            callback(e);
        }
    }
}

/// Receives a command, or waits forever once every handle is gone (the download goes on to
/// its end; a `select!` over this never spins).
async fn next_command(commands: &async_channel::Receiver<Command>) -> Command {
    match commands.recv().await {
        Ok(command) => command,
        Err(_) => futures::future::pending().await,
    }
}

/// Hands the download URL to the browser's download manager.
fn trigger(trigger: Trigger, url: &str, iframe: &mut Option<web_sys::HtmlIFrameElement>) -> Result<(), SluiceError> {
    let window = || web_sys::window().ok_or_else(|| SluiceError::Browser("Sluice's page side runs in a window".into()));
    match trigger {
        Trigger::None => {}
        Trigger::Navigate => window()?.location().set_href(url)?,
        Trigger::Iframe => {
            let document = window()?.document().ok_or(SluiceError::Browser("no document".into()))?;
            let frame: web_sys::HtmlIFrameElement = document.create_element("iframe")?.unchecked_into();
            frame.set_src(url);
            frame.style().set_property("display", "none")?;
            document.body().ok_or(SluiceError::Browser("no document body".into()))?.append_child(&frame)?;
            *iframe = Some(frame);
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
        this.pending =
            Some(async move { download.ask(|reply| Command::Write(Bytes::Rust(bytes), reply)).await }.boxed_local());
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
