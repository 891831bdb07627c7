//! One download on the page side: an actor that owns its state (the [`SendWindow`], the
//! coalescer, the transferred stream's writer) and a [`Download`] handle that only sends it
//! commands and awaits replies.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::channel::oneshot;
use futures::future::{Fuse, FutureExt, LocalBoxFuture, Shared};
use js_sys::Uint8Array;
use sluice_core::window::{ByteLength, FlowConfig, Progress, SendError};
use sluice_core::wire::MAX_EXPIRE_AFTER_MS;
use sluice_core::{
    Address, Buffer, DownloadId, FileMeta, Message, Mode, Output, Refused, TransferPath, Unsupported, Writer,
};
use sluice_web::{ignore_rejection, now};
use sluice_worker_bus::channel::TrySendError;
use sluice_worker_bus::web::WebEndpoint;
use sluice_worker_bus::{ActorHandle, Incoming, Mailbox};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::WritableStreamDefaultWriter;

use crate::args::Trigger;
use crate::connection::{ConnectionHandle, Failable, ServiceWorkerBus, ACTIVE_EVERY};
use crate::error::SluiceError;
use crate::handoff::PageLink;
use crate::local::{self, Finish, Target};

/// Bytes to write: the caller's JavaScript view (never copied whole into wasm), a JavaScript
/// buffer that is Sluice's own, or Rust bytes.
pub(crate) enum Bytes {
    /// The caller's: each chunk cut from it is a copy (the caller may reuse its buffer).
    Js(Uint8Array),
    /// Sluice's own, a view on the whole of its `ArrayBuffer` (the small writes gathered): sent
    /// as it is, not copied again, when it makes one chunk. Its length is kept: a sent view
    /// reads 0 once its buffer is transferred.
    Owned(Uint8Array, usize),
    Rust(Vec<u8>),
}

impl Bytes {
    /// Bytes of Sluice's own, which nothing else keeps: sent as they are if `view` covers the
    /// whole of its `ArrayBuffer` (as a transfer takes it), else copied as the caller's are.
    pub(crate) fn owned(view: Uint8Array) -> Bytes {
        let len = view.length() as usize;
        match view.byte_offset() == 0 && view.byte_length() == view.buffer().byte_length() {
            true => Bytes::Owned(view, len),
            false => Bytes::Js(view),
        }
    }
}

/// One chunk, as a JavaScript buffer of its own (to transfer or to write).
pub(crate) struct Piece(pub(crate) Uint8Array);

impl ByteLength for Piece {
    fn byte_len(&self) -> u64 {
        u64::from(self.0.length())
    }
}

impl Buffer for Bytes {
    type Piece = Piece;

    fn len(&self) -> usize {
        match self {
            Bytes::Js(view) => view.length() as usize,
            Bytes::Owned(_, len) => *len,
            Bytes::Rust(bytes) => bytes.len(),
        }
    }

    fn copy(&self, at: usize, len: usize) -> Vec<u8> {
        match self {
            Bytes::Js(view) | Bytes::Owned(view, _) => view.subarray(at as u32, (at + len) as u32).to_vec(),
            Bytes::Rust(bytes) => bytes[at..at + len].to_vec(),
        }
    }

    fn piece(&self, at: usize, len: usize) -> Piece {
        Piece(match self {
            Bytes::Owned(view, whole) if at == 0 && len == *whole => view.clone(),
            Bytes::Js(view) | Bytes::Owned(view, _) => view.slice(at as u32, (at + len) as u32),
            Bytes::Rust(bytes) => Uint8Array::from(&bytes[at..at + len]),
        })
    }

    fn coalesced(bytes: Vec<u8>) -> Piece {
        Piece(Uint8Array::from(&bytes[..]))
    }
}

type Reply = oneshot::Sender<Result<(), SluiceError>>;

/// What a [`Download`] handle tells the download's actor (an abort goes beside, as a failure).
pub(crate) enum Command {
    Write(Bytes, Reply),
    Close(Reply),
    OnProgress(Box<dyn Fn(Progress)>),
    OnFailure(Box<dyn Fn(SluiceError)>),
}

/// The most commands a download's mailbox holds. One write or close runs at a time (a second
/// is refused `busy`), so a full mailbox refuses at once instead of holding the caller's bytes.
const MAILBOX: usize = 4;

/// The connection's way to fail a download it carries: beside the download's commands (with
/// its handles' abort), so that the commands end when its last handle is gone (see
/// [`Writer::handle_abandoned`]).
struct DownloadControl {
    tx: sluice_worker_bus::channel::Sender<SluiceError>,
}

impl Failable for DownloadControl {
    fn fail(&self, e: SluiceError) {
        let _ = self.tx.try_send(e);
    }
}

impl sluice_core::Carried for DownloadControl {
    fn is_finished(&self) -> bool {
        self.tx.is_closed()
    }
}

type Done = Shared<LocalBoxFuture<'static, Result<u64, SluiceError>>>;

/// A download's failures: its connection's and its handles' abort.
type Failures = (sluice_worker_bus::channel::Sender<SluiceError>, sluice_worker_bus::channel::Receiver<SluiceError>);

struct Handle {
    id: DownloadId,
    url: String,
    /// The rung (its actor sets it when it takes the next one).
    mode: Rc<Cell<Mode>>,
    /// Writes below the first are worth gathering before they reach the actor, up to the second.
    chunk_sizes: (usize, usize),
    commands: sluice_worker_bus::channel::Sender<Command>,
    /// Where an abort goes: beside the commands, so that a full mailbox cannot lose it.
    failures: sluice_worker_bus::channel::Sender<SluiceError>,
    done: Done,
    /// `abort` was called: later calls add nothing (the first reason wins).
    aborted: Cell<bool>,
}

/// A download in progress. Write its bytes, close it, await [`Download::done`].
/// Cheap to clone; clones are the same download.
#[derive(Clone)]
pub struct Download {
    handle: Rc<Handle>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download").field("url", &self.handle.url).field("mode", &self.handle.mode.get()).finish()
    }
}

/// What a new download needs to know.
pub(crate) struct Plan {
    pub(crate) id: DownloadId,
    /// The service worker's URL (empty on the other rungs).
    pub(crate) url: String,
    pub(crate) mode: Mode,
    /// Where the bytes go on a rung without a service worker.
    pub(crate) target: Option<Target>,
    /// The most bytes the download may take (the `Blob` rung's limit).
    pub(crate) limit: Option<u64>,
    /// On a service-worker rung: the rung to take instead (with its limit) if the worker turns
    /// out not to answer this page's navigations when the download opens.
    pub(crate) next: Option<(Mode, Target, Option<u64>)>,
    pub(crate) meta: FileMeta,
    pub(crate) trigger: Trigger,
    pub(crate) flow: FlowConfig,
    pub(crate) expire_after: std::time::Duration,
    /// In a worker: the page that hands the finished file of a local rung to the browser.
    pub(crate) page: Option<Rc<PageLink>>,
    /// How long the page may take to answer.
    pub(crate) timeout: std::time::Duration,
}

impl Download {
    /// A handle whose commands go to `commands`, the download's failures (the connection's and
    /// the handle's abort), and the sender its actor settles `done` with.
    fn handle(
        id: DownloadId,
        url: String,
        mode: Mode,
        flow: &FlowConfig,
    ) -> (Download, sluice_worker_bus::channel::Receiver<Command>, Failures, oneshot::Sender<Result<u64, SluiceError>>)
    {
        let (tx, commands) = sluice_worker_bus::channel::bounded(MAILBOX);
        // One failure at most: the first reason wins.
        let (fail, failures) = sluice_worker_bus::channel::bounded(1);
        let (done_tx, done_rx) = oneshot::channel();
        let done: Done = async move { done_rx.await.unwrap_or(Err(SluiceError::Browser("the download ended".into()))) }
            .boxed_local()
            .shared();
        let chunk_sizes = (flow.min_chunk as usize, flow.max_chunk as usize);
        let handle = Handle {
            id,
            url,
            mode: Rc::new(Cell::new(mode)),
            chunk_sizes,
            commands: tx,
            failures: fail.clone(),
            done,
            aborted: Cell::new(false),
        };
        (Download { handle: Rc::new(handle) }, commands, (fail, failures), done_tx)
    }

    /// Starts the download's actor: it opens the download at once, over `connection` on the
    /// service worker's rungs (`None` on the others).
    pub(crate) fn start(connection: Option<ConnectionHandle>, plan: Plan) -> Result<Download, SluiceError> {
        let path = plan.mode.path().unwrap_or(TransferPath::Transfer);
        let writer = Writer::new(plan.id, path, plan.flow, plan.meta.size, now())
            .map_err(|e| SluiceError::InvalidArgument(e.to_string()))?
            .with_limit(plan.limit)?;
        let (download, commands, (tx, failures), done_tx) =
            Download::handle(plan.id, plan.url.clone(), plan.mode, &plan.flow);
        let actor = Actor {
            id: plan.id,
            writer,
            stream: None,
            bus: None,
            reply: None,
            done: Some(done_tx),
            opened: None,
            on_progress: None,
            on_failure: None,
            connection,
            told_active: None,
            finish: None,
            closing: false,
            mode: download.handle.mode.clone(),
        };
        spawn_local(actor.run(DownloadControl { tx }, failures, commands, plan));
        Ok(download)
    }

    /// The way this download saves.
    pub fn mode(&self) -> Mode {
        self.handle.mode.get()
    }

    /// The service-worker URL that serves this download (empty on the rungs without one).
    pub fn url(&self) -> &str {
        &self.handle.url
    }

    /// The download's id.
    pub fn id(&self) -> DownloadId {
        self.handle.id
    }

    /// Calls `callback` after each chunk sent. Refused with `busy` while the download's
    /// mailbox is full (writes that were not awaited); set it before the first write.
    pub fn on_progress(&self, callback: impl Fn(Progress) + 'static) -> Result<(), SluiceError> {
        self.tell(Command::OnProgress(Box::new(callback)))
    }

    /// Calls `callback` once if the download fails.
    pub(crate) fn on_failure(&self, callback: impl Fn(SluiceError) + 'static) -> Result<(), SluiceError> {
        self.tell(Command::OnFailure(Box::new(callback)))
    }

    /// Queues `command`: `busy` when the mailbox is full. Once the download ended its mailbox
    /// takes nothing (the command is dropped: a callback set then is never called).
    fn tell(&self, command: Command) -> Result<(), SluiceError> {
        match self.handle.commands.try_send(command) {
            Err(TrySendError::Full(_)) => Err(SluiceError::Busy),
            _ => Ok(()),
        }
    }

    async fn ask(&self, command: impl FnOnce(Reply) -> Command) -> Result<(), SluiceError> {
        let (reply, answer) = oneshot::channel();
        match self.handle.commands.try_send(command(reply)) {
            Ok(()) => answer.await.unwrap_or(Err(SluiceError::Download(SendError::Closed))),
            Err(TrySendError::Full(_)) => Err(SluiceError::Busy),
            Err(TrySendError::Closed(_)) => {
                Err(self.handle.done.clone().await.err().unwrap_or(SluiceError::Download(SendError::Closed)))
            }
        }
    }

    /// Writes `bytes` (coalesced into chunks; waits for credit or backpressure).
    pub async fn write(&self, bytes: &[u8]) -> Result<(), SluiceError> {
        self.ask(|reply| Command::Write(Bytes::Rust(bytes.to_vec()), reply)).await
    }

    /// The smallest and the largest chunk: writes below the first are gathered before they
    /// are sent.
    pub(crate) fn chunk_sizes(&self) -> (usize, usize) {
        self.handle.chunk_sizes
    }

    /// Writes bytes that are the caller's no more: Rust bytes, or a JavaScript view (cut into
    /// chunks on the JavaScript side). Nothing is copied here.
    pub(crate) async fn write_bytes(&self, bytes: Bytes) -> Result<(), SluiceError> {
        self.ask(|reply| Command::Write(bytes, reply)).await
    }

    /// Sends what is buffered and ends the download. A declared size that was not met fails
    /// it instead (the browser shows a failed download, never a complete one).
    pub async fn close(&self) -> Result<(), SluiceError> {
        self.ask(Command::Close).await
    }

    /// Fails the download with `reason` (the browser shows a failed download); only the first
    /// call counts.
    pub fn abort(&self, reason: &str) {
        if !self.handle.aborted.replace(true) {
            // Full: the download failed already (the first reason wins).
            let _ = self.handle.failures.try_send(SluiceError::Download(SendError::Aborted(reason.to_string())));
        }
    }

    /// Resolves with the byte count once every byte is saved (served by the service worker, or
    /// the file handed to the browser on the other rungs).
    pub async fn done(&self) -> Result<u64, SluiceError> {
        self.handle.done.clone().await
    }

    /// [`Download::done`] without this handle: awaiting it does not keep the download from
    /// being dropped (which fails it).
    pub(crate) fn outcome(&self) -> impl std::future::Future<Output = Result<u64, SluiceError>> {
        self.handle.done.clone()
    }

    /// A `futures::Sink` of byte vectors over this download; closing it closes the download.
    pub fn into_sink(self) -> DownloadSink {
        DownloadSink { download: self, pending: None, closing: false, closed: None }
    }
}

/// The download's actor: carries out what its [`Writer`] decides.
struct Actor {
    id: DownloadId,
    writer: Writer<Bytes, SluiceError>,
    /// The transferred stream's writer (transfer path).
    stream: Option<WritableStreamDefaultWriter>,
    bus: Option<ServiceWorkerBus>,
    /// The caller's write or close that runs.
    reply: Option<Reply>,
    done: Option<oneshot::Sender<Result<u64, SluiceError>>>,
    /// The URL the connection opened for the browser's download manager.
    opened: Option<String>,
    on_progress: Option<Box<dyn Fn(Progress)>>,
    on_failure: Option<Box<dyn Fn(SluiceError)>>,
    /// The connection to the service worker (on its rungs).
    connection: Option<ConnectionHandle>,
    /// When the connection was last told that bytes flow (`now()`).
    told_active: Option<std::time::Duration>,
    /// What hands the file to the browser, on a rung without a service worker.
    finish: Option<Finish>,
    /// The stream is being closed.
    closing: bool,
    /// The rung, as the download's handle shows it.
    mode: Rc<Cell<Mode>>,
}

enum Input {
    Command(Command),
    /// Every handle to the download is gone.
    Abandoned,
    /// Its connection fails it.
    Failed(SluiceError),
    Worker(Option<Incoming<WebEndpoint>>),
    Written(Result<JsValue, JsValue>),
}

impl Actor {
    async fn run(
        mut self,
        control: DownloadControl,
        failures: sluice_worker_bus::channel::Receiver<SluiceError>,
        commands: sluice_worker_bus::channel::Receiver<Command>,
        mut plan: Plan,
    ) {
        let opened = match plan.target.take() {
            Some(target) => self.open_local(target, &plan).await.map(|()| None),
            None => match (self.open(control, &plan).await, plan.next.take()) {
                (Err(SluiceError::Unsupported(Unsupported::NotIntercepted)), Some((mode, target, limit))) => {
                    log::warn!(
                        "download {}: the service worker does not answer here; saving through {}",
                        self.id,
                        mode.name()
                    );
                    self.take_next(mode, limit, &plan);
                    self.open_local(target, &plan).await.map(|()| None)
                }
                (opened, _) => opened.map(Some),
            },
        };
        let (_actor, mailbox) = match opened {
            Ok(Some((actor, mailbox))) => (Some(actor), Some(mailbox)),
            Ok(None) => (None, None),
            Err(e) => {
                self.writer.handle_fail(e);
                self.carry_out();
                return self.refuse_all(commands);
            }
        };
        let mut writing: Fuse<JsFuture> = Fuse::terminated();
        let mut abandoned = false;
        loop {
            if let Some(promise) = self.carry_out() {
                writing = JsFuture::from(promise).fuse();
            }
            if self.writer.is_ended() {
                break;
            }
            // What the service worker says and how a write went, before the caller's next command.
            let input = futures::select_biased! {
                incoming = next_message(mailbox.as_ref()).fuse() => Input::Worker(incoming),
                written = writing => Input::Written(written),
                failure = failures.recv_until_closed(false).fuse() => failure.map_or(Input::Abandoned, Input::Failed),
                command = commands.recv_until_closed(!abandoned).fuse() => command.map_or(Input::Abandoned, Input::Command),
            };
            match input {
                Input::Command(command) => self.command(command),
                // The caller's abort: a service worker may have served every byte already.
                Input::Failed(e @ SluiceError::Download(SendError::Aborted(_))) if self.bus.is_some() => {
                    self.writer.handle_abort(e)
                }
                // `sluice.close()`: a download whose bytes all went out waits for its answer.
                Input::Failed(e @ SluiceError::SluiceClosed) => self.writer.handle_connection_closed(e),
                Input::Failed(e) => self.writer.handle_fail(e),
                Input::Abandoned => {
                    abandoned = true;
                    self.writer.handle_abandoned();
                }
                Input::Worker(None) => {
                    let e = SluiceError::Browser("the connection to the service worker ended".into());
                    self.writer.handle_fail(e);
                }
                Input::Worker(Some(incoming)) => self.handle(incoming.msg),
                // The stream of a rung without a service worker closed: the close settles once
                // the file is handed over (or with why it could not be).
                Input::Written(Ok(_)) if self.closing => self.finish(&plan).await,
                Input::Written(Ok(_)) => self.writer.handle_written(Ok(())),
                // A file's write failed (its storage is full?): no service worker to ask why.
                Input::Written(Err(e)) if self.finish.is_some() => {
                    self.writer.handle_written(Err(local::file_error("writing the file", &e)));
                }
                Input::Written(Err(e)) => {
                    let why = sluice_web::describe(&e);
                    // The service worker says why a moment later (a cancel, an error), or is gone.
                    let reason = futures::select_biased! {
                        incoming = next_message(mailbox.as_ref()).fuse() => incoming.map(|i| i.msg),
                        () = sluice_web::sleep(std::time::Duration::from_secs(1)).fuse() => None,
                    };
                    if let Some(msg) = reason {
                        self.handle(msg);
                    }
                    let e = SluiceError::Browser(format!("the transferred stream failed: {why}"));
                    self.writer.handle_written(Err(e));
                }
            }
        }
        self.refuse_all(commands);
    }

    /// Takes rung `mode` instead of the service worker's (nothing was written yet).
    fn take_next(&mut self, mode: Mode, limit: Option<u64>, plan: &Plan) {
        self.mode.set(mode);
        match Writer::new(plan.id, TransferPath::Transfer, plan.flow, plan.meta.size, now())
            .map(|w| w.with_limit(limit))
        {
            Ok(Ok(writer)) => self.writer = writer,
            Ok(Err(e)) => self.writer.handle_fail(e.into()),
            Err(e) => self.writer.handle_fail(SluiceError::InvalidArgument(e.to_string())),
        }
    }

    /// Opens the file of a rung without a service worker.
    async fn open_local(&mut self, target: Target, plan: &Plan) -> Result<(), SluiceError> {
        let (stream, finish) = local::open(target, &self.id.to_string(), &plan.meta).await?;
        self.stream = Some(stream);
        self.finish = Some(finish);
        Ok(())
    }

    /// The stream closed whole, on a rung without a service worker: the file goes to the
    /// browser (from the page; a worker's page takes it), then the download is done.
    async fn finish(&mut self, plan: &Plan) {
        let total = self.writer.progress(now()).bytes;
        let finished = match self.finish.take() {
            Some(finish) => hand_over(finish, plan, total).await,
            None => Err(SluiceError::Download(sluice_core::SendError::Closed)),
        };
        let done = finished.is_ok();
        self.writer.handle_written(finished);
        if done {
            self.writer.handle_done(total);
        }
    }

    /// Registers with the connection, opens the download in the service worker, triggers it.
    async fn open(
        &mut self,
        control: DownloadControl,
        plan: &Plan,
    ) -> Result<(ActorHandle<WebEndpoint>, Mailbox<WebEndpoint>), SluiceError> {
        let connection = self.connection.clone().ok_or(SluiceError::SluiceClosed)?;
        let bus = connection.attach(Rc::new(control)).await?;
        let (actor, mailbox) = bus.actor(Address::Download(self.id))?;
        let path = plan.mode.path().unwrap_or(TransferPath::Fallback);
        let attachment = match path {
            TransferPath::Transfer => {
                let pipe = crate::js_calls::pipe()?;
                self.stream = Some(pipe.writable().get_writer()?);
                Some(JsValue::from(pipe.readable()))
            }
            TransferPath::Fallback => None,
        };
        let open = Message::Open {
            id: self.id,
            meta: plan.meta.clone(),
            path,
            window_chunks: plan.flow.window_chunks,
            window_bytes: plan.flow.window_bytes,
            expire_after_ms: plan.expire_after.as_millis().clamp(1, u128::from(MAX_EXPIRE_AFTER_MS)) as u64,
        };
        self.bus = Some(bus.clone());
        bus.request(open, attachment).await?;
        if plan.trigger != Trigger::None {
            connection.open(plan.url.clone(), plan.trigger).await?;
            self.opened = Some(plan.url.clone());
        }
        Ok((actor, mailbox))
    }

    fn command(&mut self, command: Command) {
        let (taken, reply) = match command {
            Command::Write(bytes, reply) => (self.writer.handle_write(bytes), reply),
            Command::Close(reply) => (self.writer.handle_close(), reply),
            Command::OnProgress(callback) => return self.on_progress = Some(callback),
            Command::OnFailure(callback) => return self.on_failure = Some(callback),
        };
        match taken {
            Ok(()) => self.reply = Some(reply),
            Err(Refused::Busy) => drop(reply.send(Err(SluiceError::Busy))),
            Err(Refused::Ended(e)) => drop(reply.send(Err(e))),
        }
    }

    /// Answers what is still asked once the download ended, then what comes after.
    fn refuse_all(&mut self, commands: sluice_worker_bus::channel::Receiver<Command>) {
        commands.close();
        while let Ok(command) = commands.try_recv() {
            match command {
                Command::Write(_, reply) | Command::Close(reply) => drop(reply.send(Err(self.writer.refusal()))),
                Command::OnFailure(callback) => {
                    if let Some(e) = self.writer.failure() {
                        callback(e.clone());
                    }
                }
                Command::OnProgress(_) => {}
            }
        }
    }

    /// Carries out what the writer decided; returns a stream write or close to await.
    fn carry_out(&mut self) -> Option<js_sys::Promise> {
        let mut settling = None;
        while let Some(output) = self.writer.poll_output() {
            if matches!(output, Output::Send { .. } | Output::Write(_)) {
                self.tell_active();
            }
            match output {
                Output::Send { header, piece } => {
                    let sent = match &self.bus {
                        Some(bus) => bus.tell(header, Some(piece.0.buffer().into())).map_err(SluiceError::from),
                        None => Err(SluiceError::Browser("the download is not open".into())),
                    };
                    if let Err(e) = sent {
                        self.writer.handle_fail(e);
                    }
                }
                Output::Write(piece) => match &self.stream {
                    Some(stream) => settling = Some(stream.write_with_chunk(&piece.0)),
                    None => self.writer.handle_fail(SluiceError::Browser("the download has no stream".into())),
                },
                Output::CloseStream => match self.stream.take() {
                    Some(stream) if self.finish.is_some() => {
                        self.closing = true;
                        settling = Some(stream.close());
                    }
                    Some(stream) => settling = Some(stream.close()),
                    None => self.writer.handle_written(Ok(())),
                },
                // A Close or an Abort the service worker never gets would leave its response
                // waiting: the download fails here, visibly, instead.
                Output::Tell(msg) => {
                    if let Some(Err(e)) = self.bus.as_ref().map(|bus| bus.tell(msg, None)) {
                        self.writer.handle_fail(e.into());
                    }
                }
                Output::Progressed => {
                    if let Some(callback) = &self.on_progress {
                        callback(self.writer.progress(now()));
                    }
                }
                Output::Settled(result) => {
                    if let Some(reply) = self.reply.take() {
                        let _ = reply.send(result);
                    }
                }
                Output::Done(total) => self.end(Ok(total)),
                Output::Failed(e) => {
                    log::debug!("download {} failed: {e}", self.id);
                    if let Some(stream) = self.stream.take() {
                        ignore_rejection(&stream.abort_with_reason(&JsValue::from_str(&e.to_string())));
                    }
                    if let Some(finish) = self.finish.take() {
                        local::discard(finish);
                    }
                    self.end(Err(e.clone()));
                    if let Some(callback) = &self.on_failure {
                        callback(e);
                    }
                }
            }
        }
        settling
    }

    /// Tells the connection that bytes flow, at most every [`ACTIVE_EVERY`].
    fn tell_active(&mut self) {
        let now = now();
        if self.told_active.is_none_or(|told| now.saturating_sub(told) >= ACTIVE_EVERY) {
            self.told_active = Some(now);
            if let Some(connection) = &self.connection {
                connection.active();
            }
        }
    }

    /// The download ended: `done` settles, and the connection lets go of what opened it.
    fn end(&mut self, outcome: Result<u64, SluiceError>) {
        let finished = outcome.is_ok();
        if let Some(done) = self.done.take() {
            let _ = done.send(outcome);
        }
        if let Some(connection) = &self.connection {
            connection.ended(self.opened.take(), finished);
        }
    }

    /// Handles what the service worker says about this download.
    fn handle(&mut self, msg: Message) {
        match msg {
            Message::Grant { chunks, bytes, .. } => self.writer.handle_grant(chunks, bytes),
            Message::Cancel { reason, .. } => self.writer.handle_cancel(&reason),
            Message::Error { code, message, .. } => self.writer.handle_fail(SluiceError::from_remote(code, message)),
            Message::Done { total, .. } => self.writer.handle_done(total),
            other => log::warn!("download {}: unexpected {}", self.id, other.kind()),
        }
    }
}

/// Hands the file of a finished local save to the browser (`total` bytes).
async fn hand_over(finish: Finish, plan: &Plan, total: u64) -> Result<(), SluiceError> {
    let Some((file, staged)) = local::settle(finish).await? else { return Ok(()) };
    let name = &plan.meta.name;
    let handed = match &plan.page {
        Some(page) => page.save(&file, name, total, staged.as_ref().map(|s| s.name()), plan.timeout).await,
        None => {
            local::hand_over(&file, name, total).map_err(|e| local::file_error("handing the file to the browser", &e))
        }
    };
    match (staged, &plan.page, &handed) {
        // A worker's page took the staged file over.
        (Some(staged), Some(_), Ok(())) => staged.let_go(),
        (Some(staged), _, _) => staged.remove_later(total),
        (None, _, _) => {}
    }
    handed
}

/// The service worker's next message, or nothing ever where there is no service worker.
async fn next_message(mailbox: Option<&Mailbox<WebEndpoint>>) -> Option<Incoming<WebEndpoint>> {
    match mailbox {
        Some(mailbox) => mailbox.recv().await,
        None => futures::future::pending().await,
    }
}

/// A `futures::Sink<Vec<u8>>` over a [`Download`]: `start_send` writes, `poll_close` closes.
pub struct DownloadSink {
    download: Download,
    pending: Option<LocalBoxFuture<'static, Result<(), SluiceError>>>,
    /// The close was started.
    closing: bool,
    /// How the close ended: every later poll answers the same.
    closed: Option<Result<(), SluiceError>>,
}

impl std::fmt::Debug for DownloadSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownloadSink").field("download", &self.download).finish()
    }
}

impl DownloadSink {
    /// The pending write's or close's outcome; once the close ended, its outcome, every time.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SluiceError>> {
        if let Some(closed) = &self.closed {
            return Poll::Ready(closed.clone());
        }
        let Some(future) = self.pending.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let result = futures::ready!(future.as_mut().poll(cx));
        self.pending = None;
        if self.closing {
            self.closed = Some(result.clone());
        }
        Poll::Ready(result)
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
            let result = futures::ready!(this.poll_pending(cx));
            if this.closing {
                return Poll::Ready(result);
            }
            result?;
            this.closing = true;
            let download = this.download.clone();
            this.pending = Some(async move { download.close().await }.boxed_local());
        }
    }
}
