//! The bus: handshake, routing to actors, request/reply correlation, counters.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::rc::{Rc, Weak};
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::{self, Either};
use litemap::LiteMap;
use sluice_core::wire::ErrorCode;
use sluice_core::{Address, DecodeError, Envelope, Frame, Message, RequestId};

use crate::endpoint::{Endpoint, Inbound, Listener, PostError, Rejected};
use crate::requests::Requests;

/// Limits of a bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusConfig {
    /// How long [`Bus::request`] waits for a reply.
    pub request_timeout: Duration,
    /// Messages an actor's mailbox holds before new ones are refused.
    pub mailbox_capacity: usize,
    /// Requests waiting for replies at once.
    pub max_pending_requests: usize,
    /// Frames held until the peer answers the handshake; more are refused.
    pub max_queued: usize,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            mailbox_capacity: 1024,
            max_pending_requests: 1 << 16,
            max_queued: 1024,
        }
    }
}

/// Why a bus operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// No reply within the timeout (the peer may be gone).
    #[error("no reply within {} ms", .0.as_millis() as u64)]
    Timeout(Duration),
    /// The peer is another Sluice build; nothing more goes through this bus.
    #[error("wire version mismatch: this side speaks {ours}, the peer {theirs}; load the same Sluice build on page and service worker")]
    VersionMismatch {
        /// This build's wire version.
        ours: u32,
        /// The peer's.
        theirs: u32,
    },
    /// The peer answered with an error.
    #[error("the peer answered {code:?}: {message}")]
    Remote {
        /// Its kind.
        code: ErrorCode,
        /// Its text.
        message: String,
    },
    /// An actor already lives at this address.
    #[error("an actor is already registered at {0:?}")]
    AddressInUse(Address),
    /// Too many requests wait for replies.
    #[error("too many requests waiting for replies ({0})")]
    TooManyRequests(usize),
    /// Too many frames wait for the peer's handshake.
    #[error("too many frames waiting for the peer's handshake ({0})")]
    QueueFull(usize),
    /// The endpoint refused the message.
    #[error(transparent)]
    Post(#[from] PostError),
    /// The bus was dropped while the request waited.
    #[error("the bus is closed")]
    Closed,
    /// The peer cannot serve, for the reason it gave.
    #[error("{0}")]
    PeerBroken(String),
}

/// Counters, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames posted (hello included).
    pub sent: u64,
    /// Frames received and decoded.
    pub received: u64,
    /// Received values rejected as malformed, foreign or of another version.
    pub rejected: u64,
    /// Replies that matched no waiting request (late, duplicate or forged).
    pub late_replies: u64,
    /// Messages for an address with no actor.
    pub no_such_actor: u64,
    /// Messages refused because the actor's mailbox was full.
    pub mailbox_full: u64,
    /// Requests that timed out.
    pub timeouts: u64,
    /// Requests waiting for replies now.
    pub pending_requests: usize,
}

/// A reply to a request.
#[derive(Debug)]
pub struct Reply<A> {
    /// The answer.
    pub msg: Message,
    /// What travelled beside it.
    pub attachment: Option<A>,
}

/// A message delivered to an actor.
pub struct Incoming<E: Endpoint> {
    /// The message.
    pub msg: Message,
    /// What travelled beside it (a chunk's bytes, a stream).
    pub attachment: Option<E::Attachment>,
    /// Present when the sender waits for a reply.
    pub responder: Option<Responder<E>>,
}

impl<E: Endpoint> fmt::Debug for Incoming<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("msg", &self.msg)
            .field("attachment", &self.attachment.is_some())
            .field("responder", &self.responder)
            .finish()
    }
}

/// Answers one request. Dropped without answering, it replies with an error, so the
/// requester never waits for its timeout in vain.
pub struct Responder<E: Endpoint> {
    bus: Weak<Inner<E>>,
    req: Option<RequestId>,
}

impl<E: Endpoint> fmt::Debug for Responder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder").field("req", &self.req).finish()
    }
}

impl<E: Endpoint> Responder<E> {
    /// Sends the reply.
    pub fn reply(mut self, msg: Message, attachment: Option<E::Attachment>) -> Result<(), BusError> {
        match (self.req.take(), self.bus.upgrade()) {
            (Some(req), Some(bus)) => bus.send(Envelope::Reply { req, msg }, attachment),
            _ => Err(BusError::Closed),
        }
    }
}

impl<E: Endpoint> Drop for Responder<E> {
    fn drop(&mut self) {
        if let (Some(req), Some(bus)) = (self.req.take(), self.bus.upgrade()) {
            let msg = error(None, ErrorCode::Internal, "the actor dropped the request without replying".into());
            let _ = bus.send(Envelope::Reply { req, msg }, None);
        }
    }
}

/// An actor's mailbox: messages for its address, in arrival order.
pub struct Mailbox<E: Endpoint> {
    rx: crate::channel::Receiver<Incoming<E>>,
}

impl<E: Endpoint> fmt::Debug for Mailbox<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailbox").field("queued", &self.rx.len()).finish()
    }
}

impl<E: Endpoint> Mailbox<E> {
    /// The next message; `None` once every [`ActorHandle`] of this actor dropped (or the bus
    /// failed) and the queue is empty.
    pub async fn recv(&self) -> Option<Incoming<E>> {
        self.rx.recv().await.ok()
    }
}

/// Keeps an actor registered. Clone it freely; when the last clone drops, the address is
/// free again and the actor's [`Mailbox`] ends.
pub struct ActorHandle<E: Endpoint>(Rc<Registration<E>>);

impl<E: Endpoint> Clone for ActorHandle<E> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<E: Endpoint> fmt::Debug for ActorHandle<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ActorHandle").field(&self.0.address).finish()
    }
}

impl<E: Endpoint> ActorHandle<E> {
    /// The actor's address.
    pub fn address(&self) -> Address {
        self.0.address
    }
}

struct Registration<E: Endpoint> {
    bus: Weak<Inner<E>>,
    address: Address,
}

impl<E: Endpoint> Drop for Registration<E> {
    fn drop(&mut self) {
        if let Some(bus) = self.bus.upgrade() {
            bus.tidy(Orphan::Actor(self.address));
        }
    }
}

/// What a handle dropped leaves to remove from the bus's state.
enum Orphan {
    Actor(Address),
    Request(RequestId),
}

type Answer<A> = Result<Reply<A>, BusError>;

enum Peer {
    Waiting,
    Ready,
    Failed(BusError),
}

struct State<E: Endpoint> {
    peer: Peer,
    outbox: VecDeque<(Frame, Option<E::Attachment>)>,
    requests: Requests<Answer<E::Attachment>>,
    actors: LiteMap<Address, crate::channel::Sender<Incoming<E>>>,
    stats: Stats,
}

struct Inner<E: Endpoint> {
    endpoint: E,
    config: BusConfig,
    state: RefCell<State<E>>,
    /// Left by handles dropped while the state was borrowed (see [`Inner::tidy`]).
    orphans: RefCell<Vec<Orphan>>,
    listener: RefCell<Option<Listener>>,
}

/// One side of a conversation over an [`Endpoint`]. Cheap to clone; the bus lives (and
/// listens) while a clone does.
pub struct Bus<E: Endpoint> {
    inner: Rc<Inner<E>>,
}

impl<E: Endpoint> Clone for Bus<E> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

impl<E: Endpoint> fmt::Debug for Bus<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus").field("stats", &self.stats()).finish()
    }
}

fn error(id: Option<sluice_core::DownloadId>, code: ErrorCode, message: String) -> Message {
    Message::Error { id, code, message }
}

fn warn(what: &str) {
    log::warn!("sluice bus: {what}");
}

impl<E: Endpoint> Bus<E> {
    /// Starts a bus on `endpoint`: listens, and says hello.
    pub fn new(endpoint: E, config: BusConfig) -> Self {
        let inner = Rc::new(Inner {
            endpoint,
            config,
            state: RefCell::new(State {
                peer: Peer::Waiting,
                outbox: VecDeque::new(),
                requests: Requests::new(),
                actors: LiteMap::new_vec(),
                stats: Stats::default(),
            }),
            orphans: RefCell::default(),
            listener: RefCell::new(None),
        });
        let weak = Rc::downgrade(&inner);
        let listener = inner.endpoint.listen(Box::new(move |inbound| {
            if let Some(inner) = weak.upgrade() {
                inner.handle_inbound(inbound);
            }
        }));
        *inner.listener.borrow_mut() = Some(listener);
        let _ = inner.post_now(Envelope::Hello, None);
        Self { inner }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &E {
        &self.inner.endpoint
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        let state = self.inner.state();
        Stats { pending_requests: state.requests.len(), ..state.stats }
    }

    /// The peer answered the handshake.
    pub fn is_ready(&self) -> bool {
        matches!(self.inner.state.borrow().peer, Peer::Ready)
    }

    /// Registers an actor at `address`.
    pub fn actor(&self, address: Address) -> Result<(ActorHandle<E>, Mailbox<E>), BusError> {
        let mut state = self.inner.state();
        if let Peer::Failed(e) = &state.peer {
            return Err(e.clone());
        }
        if state.actors.contains_key(&address) {
            return Err(BusError::AddressInUse(address));
        }
        let (tx, rx) = crate::channel::bounded(self.inner.config.mailbox_capacity.max(1));
        state.actors.insert(address, tx);
        let registration = Registration { bus: Rc::downgrade(&self.inner), address };
        Ok((ActorHandle(Rc::new(registration)), Mailbox { rx }))
    }

    /// Sends `msg` with no reply expected.
    pub fn tell(&self, msg: Message, attachment: Option<E::Attachment>) -> Result<(), BusError> {
        self.inner.send(Envelope::Tell { msg }, attachment)
    }

    /// Sends `msg` and waits for its reply, at most [`BusConfig::request_timeout`].
    pub async fn request(&self, msg: Message, attachment: Option<E::Attachment>) -> Answer<E::Attachment> {
        self.request_within(msg, attachment, self.inner.config.request_timeout).await
    }

    /// Sends `msg` and waits for its reply, at most `timeout`. Dropping the future frees its
    /// slot; a reply that comes later is counted in [`Stats::late_replies`] and dropped.
    pub async fn request_within(
        &self,
        msg: Message,
        attachment: Option<E::Attachment>,
        timeout: Duration,
    ) -> Answer<E::Attachment> {
        let (req, rx) = {
            let mut state = self.inner.state();
            if let Peer::Failed(e) = &state.peer {
                return Err(e.clone());
            }
            let max = self.inner.config.max_pending_requests;
            if state.requests.len() >= max {
                return Err(BusError::TooManyRequests(max));
            }
            state.requests.insert()
        };
        let _slot = SlotGuard { bus: Rc::downgrade(&self.inner), req };
        self.inner.send(Envelope::Request { req, msg }, attachment)?;
        #[cfg(target_arch = "wasm32")]
        let timer = sluice_web::sleep(timeout);
        #[cfg(not(target_arch = "wasm32"))]
        let timer = futures_timer::Delay::new(timeout);
        match future::select(rx, timer).await {
            Either::Left((Ok(Ok(reply)), _)) => match reply.msg {
                Message::Error { code, message, .. } => Err(BusError::Remote { code, message }),
                _ => Ok(reply),
            },
            Either::Left((Ok(Err(e)), _)) => Err(e),
            Either::Left((Err(oneshot::Canceled), _)) => Err(BusError::Closed),
            Either::Right(_) => {
                self.inner.state.borrow_mut().stats.timeouts += 1;
                Err(BusError::Timeout(timeout))
            }
        }
    }
}

/// Frees a request's slot when its future ends or is dropped.
struct SlotGuard<E: Endpoint> {
    bus: Weak<Inner<E>>,
    req: RequestId,
}

impl<E: Endpoint> Drop for SlotGuard<E> {
    fn drop(&mut self) {
        if let Some(bus) = self.bus.upgrade() {
            bus.tidy(Orphan::Request(self.req));
        }
    }
}

/// What [`State::remove`] took out, to drop once the state is no longer borrowed: dropping a
/// mailbox's last sender drops the requests queued in it, whose responders answer over the bus.
type Removed<E> =
    (Option<crate::channel::Sender<Incoming<E>>>, Option<oneshot::Sender<Answer<<E as Endpoint>::Attachment>>>);

impl<E: Endpoint> State<E> {
    fn remove(&mut self, orphan: Orphan) -> Removed<E> {
        match orphan {
            Orphan::Actor(address) => (self.actors.remove(&address), None),
            Orphan::Request(req) => (None, self.requests.take(req)),
        }
    }
}

impl<E: Endpoint> Inner<E> {
    /// Removes what a dropped handle left; if the state is borrowed just now (the drop came
    /// from inside the bus), it is removed at the state's next use instead.
    fn tidy(&self, orphan: Orphan) {
        let removed = match self.state.try_borrow_mut() {
            Ok(mut state) => state.remove(orphan),
            Err(_) => return self.orphans.borrow_mut().push(orphan),
        };
        drop(removed);
    }

    /// The state to change, once what was left to remove is gone.
    fn state(&self) -> std::cell::RefMut<'_, State<E>> {
        for orphan in self.orphans.take() {
            let removed = self.state.borrow_mut().remove(orphan);
            drop(removed);
        }
        self.state.borrow_mut()
    }

    /// Posts now, whatever the handshake state (hello, welcome).
    fn post_now(&self, body: Envelope, attachment: Option<E::Attachment>) -> Result<(), BusError> {
        let frame = Frame::new(body);
        self.endpoint.post(&frame, attachment)?;
        self.state.borrow_mut().stats.sent += 1;
        Ok(())
    }

    /// Posts, or queues until the peer said hello.
    fn send(&self, body: Envelope, attachment: Option<E::Attachment>) -> Result<(), BusError> {
        {
            let mut state = self.state.borrow_mut();
            match &state.peer {
                Peer::Failed(e) => return Err(e.clone()),
                Peer::Waiting if state.outbox.len() >= self.config.max_queued => {
                    return Err(BusError::QueueFull(self.config.max_queued));
                }
                Peer::Waiting => {
                    state.outbox.push_back((Frame::new(body), attachment));
                    return Ok(());
                }
                Peer::Ready => {}
            }
        }
        self.post_now(body, attachment)
    }

    fn peer_ready(&self) {
        let queued = {
            let mut state = self.state.borrow_mut();
            if !matches!(state.peer, Peer::Waiting) {
                return;
            }
            state.peer = Peer::Ready;
            std::mem::take(&mut state.outbox)
        };
        for (frame, attachment) in queued {
            match self.endpoint.post(&frame, attachment) {
                Ok(()) => self.state.borrow_mut().stats.sent += 1,
                // Its sender was told it went: the bus fails, so that nobody waits for it.
                Err(e) => return self.fail(e.into()),
            }
        }
    }

    /// Nothing more goes through: every waiting request and mailbox ends with `e`.
    fn fail(&self, e: BusError) {
        let (waiting, actors) = {
            let mut state = self.state.borrow_mut();
            if matches!(state.peer, Peer::Failed(_)) {
                return;
            }
            state.peer = Peer::Failed(e.clone());
            state.outbox.clear();
            (state.requests.drain(), std::mem::take(&mut state.actors))
        };
        drop(actors);
        for tx in waiting {
            let _ = tx.send(Err(e.clone()));
        }
    }

    fn handle_inbound(self: &Rc<Self>, inbound: Inbound<E::Attachment>) {
        let (frame, attachment) = match inbound {
            Ok(item) => item,
            Err(rejected) => {
                self.state.borrow_mut().stats.rejected += 1;
                warn(&format!("rejected a message: {rejected}"));
                // A Sluice frame that is wrong gets a typed answer; a value that is no Sluice
                // frame at all, or comes from another origin, gets none.
                let code = match &rejected {
                    Rejected::Decode(DecodeError::VersionMismatch { .. }) => Some(ErrorCode::VersionMismatch),
                    Rejected::Decode(DecodeError::Malformed(_) | DecodeError::OutOfRange(_)) => {
                        Some(ErrorCode::Malformed)
                    }
                    Rejected::Decode(DecodeError::NotAFrame) | Rejected::ForeignOrigin(_) | Rejected::PeerBroken(_) => {
                        None
                    }
                };
                // Once, not after the bus failed: two buses of other versions must not echo.
                let failed = matches!(self.state.borrow().peer, Peer::Failed(_));
                if let (Some(code), false) = (code, failed) {
                    let _ = self.post_now(Envelope::Tell { msg: error(None, code, rejected.to_string()) }, None);
                }
                match rejected {
                    Rejected::Decode(DecodeError::VersionMismatch { ours, theirs }) => {
                        self.fail(BusError::VersionMismatch { ours, theirs })
                    }
                    Rejected::PeerBroken(why) => self.fail(BusError::PeerBroken(why)),
                    _ => {}
                }
                return;
            }
        };
        self.state.borrow_mut().stats.received += 1;
        if matches!(self.state.borrow().peer, Peer::Failed(_)) {
            return;
        }
        match frame.body {
            Envelope::Hello => {
                let _ = self.post_now(Envelope::Welcome, None);
                self.peer_ready();
            }
            Envelope::Welcome => self.peer_ready(),
            Envelope::Tell { msg: Message::Ping { nonce } } => {
                let _ = self.send(Envelope::Tell { msg: Message::Pong { nonce } }, None);
            }
            Envelope::Request { req, msg: Message::Ping { nonce } } => {
                let _ = self.send(Envelope::Reply { req, msg: Message::Pong { nonce } }, None);
            }
            Envelope::Tell { msg } => self.route(msg, attachment, None),
            Envelope::Request { req, msg } => self.route(msg, attachment, Some(req)),
            Envelope::Reply { req, msg } => {
                let waiting = self.state.borrow_mut().requests.take(req);
                match waiting {
                    Some(tx) => {
                        let _ = tx.send(Ok(Reply { msg, attachment }));
                    }
                    None => {
                        self.state.borrow_mut().stats.late_replies += 1;
                        warn(&format!("dropped a reply to {req:?}: no request waits for it (late or duplicate)"));
                    }
                }
            }
        }
    }

    fn route(self: &Rc<Self>, msg: Message, attachment: Option<E::Attachment>, req: Option<RequestId>) {
        let address = msg.address();
        let mailbox = self.state.borrow().actors.get(&address).cloned();
        let id = msg.download_id();
        let is_error = matches!(msg, Message::Error { .. });
        let responder = req.map(|req| Responder { bus: Rc::downgrade(self), req: Some(req) });
        let refused = match mailbox {
            Some(tx) => match tx.try_send(Incoming { msg, attachment, responder }) {
                Ok(()) => return,
                Err(crate::channel::TrySendError::Full(incoming)) => {
                    self.state.borrow_mut().stats.mailbox_full += 1;
                    (incoming, ErrorCode::Internal, format!("the mailbox of {address:?} is full"))
                }
                Err(crate::channel::TrySendError::Closed(incoming)) => {
                    self.state.borrow_mut().stats.no_such_actor += 1;
                    (incoming, ErrorCode::NoSuchActor, format!("no actor at {address:?}"))
                }
            },
            None => {
                self.state.borrow_mut().stats.no_such_actor += 1;
                let incoming = Incoming { msg: Message::Ack, attachment: None, responder };
                (incoming, ErrorCode::NoSuchActor, format!("no actor at {address:?}"))
            }
        };
        let (mut incoming, code, message) = refused;
        warn(&message);
        let answer = error(id, code, message);
        match incoming.responder.take() {
            Some(responder) => {
                let _ = responder.reply(answer, None);
            }
            // Never answer an error with an error: two buses would echo forever.
            None if !is_error => {
                let _ = self.send(Envelope::Tell { msg: answer }, None);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    #[test]
    fn a_handle_dropped_while_the_state_is_borrowed_is_removed_at_the_next_use() {
        let (end, _) = crate::memory::pair();
        let bus = Bus::new(end, BusConfig::default());
        let address = Address::Control;
        let (handle, _mailbox) = bus.actor(address).unwrap();
        let held = bus.inner.state.borrow_mut();
        drop(handle);
        drop(held);
        assert!(bus.actor(address).is_ok(), "the address was freed");

        let mut request = Box::pin(bus.request(Message::Ping { nonce: 1 }, None));
        let waker = futures::task::noop_waker();
        assert!(Future::poll(request.as_mut(), &mut std::task::Context::from_waker(&waker)).is_pending());
        assert_eq!(bus.stats().pending_requests, 1);
        let held = bus.inner.state.borrow_mut();
        drop(request);
        drop(held);
        assert_eq!(bus.stats().pending_requests, 0, "the request's slot was freed");
    }
}
