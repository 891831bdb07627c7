//! The task that owns the service worker's [`sluice_core::Registry`], its timer on the
//! monotonic clock, and the handle everyone else sends to.

use std::time::Duration;

use futures::channel::oneshot;
use futures::FutureExt;
use sluice_core::registry::Event;
use sluice_core::wire::ErrorCode;
use sluice_core::{ClaimError, Claimed, ConnectionId, DownloadId, FileMeta, Limits, OpenError, Registry};
use sluice_web::{now, sleep};
use wasm_bindgen_futures::spawn_local;
use web_sys::ReadableStream;

use crate::download::DownloadHandle;

/// What an open download answers its request with: the response stream, and its actor.
pub(crate) struct Body {
    pub(crate) stream: ReadableStream,
    pub(crate) download: DownloadHandle,
}

/// A request's answer: the download, or why not.
pub(crate) type Answer = Result<Claimed<Body>, ClaimError>;

enum Command {
    Open {
        connection: ConnectionId,
        id: DownloadId,
        meta: FileMeta,
        expire_after: Duration,
        body: Body,
        reply: oneshot::Sender<Result<(), OpenError>>,
    },
    Request {
        id: DownloadId,
        method: String,
        prefetch: bool,
        reply: oneshot::Sender<Answer>,
    },
    Finished(DownloadId),
    ConnectionClosed(ConnectionId),
    Stats(oneshot::Sender<(usize, u64)>),
    WhenIdle(oneshot::Sender<()>),
}

/// Sends to the registry task.
#[derive(Clone)]
pub(crate) struct RegistryHandle {
    tx: sluice_worker_bus::channel::Sender<Command>,
}

thread_local! {
    static REGISTRY: RegistryHandle = {
        // Bounded by the connections (at most MAX_CONNECTIONS) and their downloads: each
        // asks and awaits, or tells once when it ends.
        let (tx, rx) = sluice_worker_bus::channel::unbounded();
        spawn_local(run(rx));
        RegistryHandle { tx }
    };
}

/// The service worker's registry (started on first use).
pub(crate) fn registry() -> RegistryHandle {
    REGISTRY.with(RegistryHandle::clone)
}

impl RegistryHandle {
    fn send(&self, command: Command) {
        // The task runs as long as the worker: the channel never closes.
        let _ = self.tx.try_send(command);
    }

    /// Opens a download; refused if its id is taken or too many are open.
    pub(crate) async fn open(
        &self,
        connection: ConnectionId,
        id: DownloadId,
        meta: FileMeta,
        expire_after: Duration,
        body: Body,
    ) -> Result<(), OpenError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Open { connection, id, meta, expire_after, body, reply });
        answer.await.unwrap_or(Err(OpenError::TooMany(0)))
    }

    /// Claims download `id` for a request (waits a moment if its `Open` is still on its way).
    pub(crate) async fn request(&self, id: DownloadId, method: String, prefetch: bool) -> Answer {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Request { id, method, prefetch, reply });
        answer.await.unwrap_or(Err(ClaimError::Unknown))
    }

    /// Download `id` ended.
    pub(crate) fn finished(&self, id: DownloadId) {
        self.send(Command::Finished(id));
    }

    /// A page connection ended.
    pub(crate) fn connection_closed(&self, connection: ConnectionId) {
        self.send(Command::ConnectionClosed(connection));
    }

    /// Resolves once no download is open or running here (at once if none is).
    pub(crate) async fn when_idle(&self) {
        let (reply, answer) = oneshot::channel();
        self.send(Command::WhenIdle(reply));
        let _ = answer.await;
    }

    /// (open downloads, downloads served).
    pub(crate) async fn stats(&self) -> (usize, u64) {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Stats(reply));
        answer.await.unwrap_or_default()
    }
}

async fn run(commands: sluice_worker_bus::channel::Receiver<Command>) {
    let mut registry: Registry<Body, oneshot::Sender<Answer>> = Registry::new(Limits::default());
    let mut idle_waiters: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        let timer = match registry.poll_timeout() {
            Some(at) => sleep(at.saturating_sub(now())).left_future(),
            None => futures::future::pending().right_future(),
        };
        futures::select_biased! {
            command = commands.recv().fuse() => match command {
                Ok(command) => handle(&mut registry, &mut idle_waiters, command),
                Err(_) => return,
            },
            () = timer.fuse() => registry.handle_timeout(now()),
        }
        while let Some(event) = registry.poll_event() {
            match event {
                Event::Answer { waiter, answer } => {
                    if let Err(Ok(claimed)) = waiter.send(answer) {
                        // The request went away (the browser dropped it): the URL stays used.
                        claimed.body.download.fail(ErrorCode::Gone, "the request for the download went away");
                    }
                }
                Event::Expired { id, body, .. } => {
                    let reason = format!("the download URL of {id} was not requested in time");
                    body.download.fail(ErrorCode::Expired, reason);
                }
            }
        }
        if registry.is_empty() {
            for waiter in idle_waiters.drain(..) {
                let _ = waiter.send(());
            }
        }
    }
}

fn handle(
    registry: &mut Registry<Body, oneshot::Sender<Answer>>,
    idle_waiters: &mut Vec<oneshot::Sender<()>>,
    command: Command,
) {
    match command {
        Command::Open { connection, id, meta, expire_after, body, reply } => {
            let _ = reply.send(registry.handle_open(now(), connection, id, meta, expire_after, body));
        }
        Command::Request { id, method, prefetch, reply } => {
            registry.handle_request(now(), id, &method, prefetch, reply)
        }
        Command::Finished(id) => registry.handle_finished(id),
        Command::ConnectionClosed(connection) => {
            for body in registry.handle_connection_closed(connection) {
                body.download.fail(ErrorCode::Internal, "the page is gone");
            }
        }
        Command::Stats(reply) => {
            let _ = reply.send((registry.len(), registry.served()));
        }
        Command::WhenIdle(reply) => idle_waiters.push(reply),
    }
}
