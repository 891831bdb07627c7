//! The service worker's open downloads: opened once per id, claimed once by a `GET`, expired
//! when nobody asks in time, capped per connection and in total. Sans-IO in quinn's manner:
//! feed inputs with `handle_*`, then drain [`Registry::poll_event`]; call
//! [`Registry::handle_timeout`] when [`Registry::poll_timeout`] says. Time is a monotonic
//! clock the caller passes in (`performance.now()` in the service worker), never the wall clock.
//!
//! The registry holds what each download will answer with (`B`, the body: a stream on the web)
//! until its request claims it, and what each waiting request answers to (`W`, e.g. a oneshot
//! sender): a request may arrive before its [`crate::Message::Open`] does, and then waits up to
//! [`Limits::open_grace`].

use std::collections::VecDeque;
use std::time::Duration;

use litemap::LiteMap;

use crate::headers::{response_headers, HeaderError};
use crate::id::DownloadId;
use crate::lease::{Lease, LeaseError};
use crate::wire::{ErrorCode, FileMeta};

/// Which page connection opened a download (the service worker numbers them).
pub type ConnectionId = u64;

/// How many downloads the registry holds, and how long a request waits for its `Open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open or running downloads of one connection.
    pub per_connection: usize,
    /// Open or running downloads of all connections.
    pub total: usize,
    /// Requests waiting for an `Open` that has not arrived yet.
    pub waiting_requests: usize,
    /// How long such a request waits before it is answered [`ClaimError::Unknown`].
    pub open_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { per_connection: 64, total: 256, waiting_requests: 256, open_grace: Duration::from_secs(3) }
    }
}

/// Why an `Open` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// A download with this id is open (or running) already.
    #[error("download {0} is already open")]
    Duplicate(DownloadId),
    /// The connection has [`Limits::per_connection`] downloads open; one must end first.
    #[error("this page has {0} downloads open already; finish one first")]
    TooManyOnConnection(usize),
    /// The service worker has [`Limits::total`] downloads open; one must end first.
    #[error("the service worker has {0} downloads open already; finish one first")]
    TooMany(usize),
    /// The file metadata cannot become headers.
    #[error("invalid file metadata: {0}")]
    InvalidMeta(#[from] HeaderError),
}

impl OpenError {
    /// The wire code the page gets for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            OpenError::Duplicate(_) => ErrorCode::Protocol,
            OpenError::TooManyOnConnection(_) | OpenError::TooMany(_) => ErrorCode::TooManyDownloads,
            OpenError::InvalidMeta(_) => ErrorCode::InvalidArgument,
        }
    }
}

/// Why a request for a download URL gets no body. None of these uses the URL up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// Only `GET` is served (a `HEAD` must not use up the served-once URL).
    #[error("method {0} not allowed: a download URL answers GET only")]
    MethodNotAllowed(String),
    /// A prefetch or prerender (`Sec-Purpose: prefetch`) is not the user's download.
    #[error("a prefetch does not start a download")]
    Prefetch,
    /// No download with this id was opened, within [`Limits::open_grace`].
    #[error("unknown download")]
    Unknown,
    /// The URL was served before, or expired.
    #[error(transparent)]
    Lease(#[from] LeaseError),
}

/// A download handed to its request.
#[derive(Debug, PartialEq, Eq)]
pub struct Claimed<B> {
    /// The download.
    pub id: DownloadId,
    /// The connection that opened it.
    pub connection: ConnectionId,
    /// Its metadata (for the headers).
    pub meta: FileMeta,
    /// What it answers with.
    pub body: B,
}

/// What the registry asks its caller to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<B, W> {
    /// Answer the request `waiter` with a body or an error.
    Answer {
        /// Who asked.
        waiter: W,
        /// The answer.
        answer: Result<Claimed<B>, ClaimError>,
    },
    /// Nobody requested download `id` in time: tell its connection, drop the body.
    Expired {
        /// The connection that opened it.
        connection: ConnectionId,
        /// The download.
        id: DownloadId,
        /// Its unused body.
        body: B,
    },
}

#[derive(Debug)]
struct Entry<B> {
    connection: ConnectionId,
    meta: FileMeta,
    lease: Lease,
    /// `Some` until claimed.
    body: Option<B>,
    /// Its stream ended before anyone claimed it (a 0-byte download, or one that failed):
    /// it waits for its request or its expiry all the same.
    ended: bool,
}

#[derive(Debug)]
struct Waiter<W> {
    id: DownloadId,
    deadline: Duration,
    waiter: W,
}

/// The open downloads of one service worker. See the module docs for the calling order.
#[derive(Debug)]
pub struct Registry<B, W> {
    limits: Limits,
    entries: LiteMap<DownloadId, Entry<B>>,
    waiters: Vec<Waiter<W>>,
    events: VecDeque<Event<B, W>>,
    served: u64,
    /// The latest downloads that were served or expired (at most [`Limits::total`]): a request
    /// for one is answered at once (ids are random: none is opened again).
    gone: VecDeque<(DownloadId, LeaseError)>,
}

impl<B, W> Registry<B, W> {
    /// An empty registry.
    pub fn new(limits: Limits) -> Self {
        let (waiters, events, gone) = (Vec::new(), VecDeque::new(), VecDeque::new());
        Self { limits, entries: LiteMap::new_vec(), waiters, events, served: 0, gone }
    }

    // ---- getters ----

    /// Downloads open or running (claimed, not yet finished).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No download is open or running.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Downloads open or running on `connection`.
    pub fn len_on(&self, connection: ConnectionId) -> usize {
        self.entries.values().filter(|e| e.connection == connection).count()
    }

    /// Requests waiting for their `Open`.
    pub fn waiting_requests(&self) -> usize {
        self.waiters.len()
    }

    /// Downloads claimed so far.
    pub fn served(&self) -> u64 {
        self.served
    }

    // ---- inputs ----

    /// A page opens download `id` at `now`; it expires `expire_after` later unless claimed.
    /// A request already waiting for it claims it at once.
    pub fn handle_open(
        &mut self,
        now: Duration,
        connection: ConnectionId,
        id: DownloadId,
        meta: FileMeta,
        expire_after: Duration,
        body: B,
    ) -> Result<(), OpenError> {
        response_headers(&meta)?;
        if self.entries.contains_key(&id) {
            return Err(OpenError::Duplicate(id));
        }
        if self.entries.len() >= self.limits.total {
            return Err(OpenError::TooMany(self.limits.total));
        }
        if self.len_on(connection) >= self.limits.per_connection {
            return Err(OpenError::TooManyOnConnection(self.limits.per_connection));
        }
        let entry = Entry { connection, meta, lease: Lease::new(now, expire_after), body: Some(body), ended: false };
        self.entries.insert(id, entry);
        if let Some(at) = self.waiters.iter().position(|w| w.id == id) {
            let waiter = self.waiters.remove(at);
            let answer = self.claim(now, id);
            self.events.push_back(Event::Answer { waiter: waiter.waiter, answer });
        }
        Ok(())
    }

    /// A request for download `id`'s URL arrived at `now`, with this HTTP method, and marked
    /// as a prefetch or not. Its answer comes out of [`Registry::poll_event`], at once or, if
    /// the `Open` has not arrived yet, when it does or [`Limits::open_grace`] passed.
    pub fn handle_request(&mut self, now: Duration, id: DownloadId, method: &str, prefetch: bool, waiter: W) {
        let answer = if !method.eq_ignore_ascii_case("GET") {
            Err(ClaimError::MethodNotAllowed(method.chars().take(32).collect()))
        } else if prefetch {
            Err(ClaimError::Prefetch)
        } else if self.entries.contains_key(&id) {
            self.claim(now, id)
        } else if let Some((_, gone)) = self.gone.iter().find(|(gone, _)| *gone == id) {
            Err(ClaimError::Lease(*gone))
        } else if self.waiters.len() < self.limits.waiting_requests {
            let deadline = now.saturating_add(self.limits.open_grace);
            self.waiters.push(Waiter { id, deadline, waiter });
            return;
        } else {
            Err(ClaimError::Unknown)
        };
        self.events.push_back(Event::Answer { waiter, answer });
    }

    /// Download `id`'s actor ended (its stream finished, failed or was cancelled, or the page
    /// aborted it). A claimed download no longer counts; an unclaimed one keeps its ended
    /// stream for its request (which then sees the whole body, or its error, never a 404)
    /// until it expires.
    pub fn handle_finished(&mut self, id: DownloadId) {
        match self.entries.get_mut(&id) {
            Some(entry) if entry.body.is_some() => entry.ended = true,
            Some(_) => {
                self.entries.remove(&id);
                self.remember(id, LeaseError::AlreadyServed);
            }
            None => {}
        }
    }

    /// `connection` is gone. Returns the bodies nobody claimed, to be failed; ended ones stay
    /// for their requests (they need no page), and claimed ones count until their actors end
    /// (the browser may still be taking the last bytes).
    pub fn handle_connection_closed(&mut self, connection: ConnectionId) -> Vec<B> {
        let ids: Vec<DownloadId> = self
            .entries
            .iter()
            .filter(|(_, e)| e.connection == connection && e.body.is_some() && !e.ended)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter().filter_map(|id| self.entries.remove(&id)?.body).collect()
    }

    /// Time passed: expires downloads nobody claimed and answers requests that waited too long.
    pub fn handle_timeout(&mut self, now: Duration) {
        let mut expired: Vec<DownloadId> = Vec::new();
        for (id, entry) in &mut self.entries {
            entry.lease.handle_timeout(now);
            if entry.lease.is_expired() {
                expired.push(*id);
            }
        }
        expired.sort_unstable();
        for id in expired {
            self.expire(id);
        }
        let (late, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.waiters).into_iter().partition(|w| now >= w.deadline);
        self.waiters = waiting;
        for waiter in late {
            self.events.push_back(Event::Answer { waiter: waiter.waiter, answer: Err(ClaimError::Unknown) });
        }
    }

    // ---- outputs ----

    /// The next thing to do, if any.
    pub fn poll_event(&mut self) -> Option<Event<B, W>> {
        self.events.pop_front()
    }

    /// When [`Registry::handle_timeout`] must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let leases = self.entries.values().filter_map(|e| e.lease.poll_timeout());
        let waiters = self.waiters.iter().map(|w| w.deadline);
        leases.chain(waiters).min()
    }

    fn claim(&mut self, now: Duration, id: DownloadId) -> Result<Claimed<B>, ClaimError> {
        let entry = self.entries.get_mut(&id).ok_or(ClaimError::Unknown)?;
        if let Err(e) = entry.lease.handle_claim(now) {
            if e == LeaseError::Expired {
                // Expired between two timeouts: the page hears of it as for any expiry.
                self.expire(id);
            }
            return Err(e.into());
        }
        let body = entry.body.take().ok_or(ClaimError::Lease(LeaseError::AlreadyServed))?;
        let claimed = Claimed { id, connection: entry.connection, meta: entry.meta.clone(), body };
        if entry.ended {
            self.entries.remove(&id);
            self.remember(id, LeaseError::AlreadyServed);
        }
        self.served += 1;
        Ok(claimed)
    }

    /// Removes unclaimed download `id`, which expired, and tells its connection.
    fn expire(&mut self, id: DownloadId) {
        if let Some(Entry { connection, body: Some(body), .. }) = self.entries.remove(&id) {
            self.events.push_back(Event::Expired { connection, id, body });
            self.remember(id, LeaseError::Expired);
        }
    }

    /// Keeps `id`'s end for the requests that come after it.
    fn remember(&mut self, id: DownloadId, end: LeaseError) {
        if self.gone.len() >= self.limits.total.max(1) {
            self.gone.pop_front();
        }
        self.gone.push_back((id, end));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;
    type Reg = Registry<&'static str, u32>;

    fn meta() -> FileMeta {
        FileMeta { name: "a.txt".into(), size: Some(3), content_type: None }
    }

    fn id(n: u128) -> DownloadId {
        DownloadId::from_u128(n)
    }

    fn answer(reg: &mut Reg) -> (u32, Result<&'static str, ClaimError>) {
        match reg.poll_event() {
            Some(Event::Answer { waiter, answer }) => (waiter, answer.map(|c| c.body)),
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    #[test]
    fn served_once_and_only_to_get() {
        let mut reg = Reg::new(Limits::default());
        reg.handle_open(S(0), 1, id(1), meta(), S(60), "body").unwrap();
        reg.handle_request(S(1), id(1), "HEAD", false, 10);
        assert_eq!(answer(&mut reg), (10, Err(ClaimError::MethodNotAllowed("HEAD".into()))));
        reg.handle_request(S(1), id(1), "GET", true, 11);
        assert_eq!(answer(&mut reg), (11, Err(ClaimError::Prefetch)));
        reg.handle_request(S(1), id(1), "get", false, 12);
        assert_eq!(answer(&mut reg), (12, Ok("body")));
        reg.handle_request(S(2), id(1), "GET", false, 13);
        assert_eq!(answer(&mut reg), (13, Err(ClaimError::Lease(LeaseError::AlreadyServed))));
        assert_eq!(reg.served(), 1);
        assert_eq!(reg.len(), 1, "a running download still counts");
        reg.handle_finished(id(1));
        assert!(reg.is_empty());
        assert_eq!(reg.poll_timeout(), None);
    }

    #[test]
    fn duplicates_and_caps_are_refused() {
        let limits = Limits { per_connection: 2, total: 3, ..Limits::default() };
        let mut reg = Reg::new(limits);
        reg.handle_open(S(0), 1, id(1), meta(), S(60), "a").unwrap();
        assert_eq!(reg.handle_open(S(0), 2, id(1), meta(), S(60), "b"), Err(OpenError::Duplicate(id(1))));
        reg.handle_open(S(0), 1, id(2), meta(), S(60), "c").unwrap();
        assert_eq!(reg.handle_open(S(0), 1, id(3), meta(), S(60), "d"), Err(OpenError::TooManyOnConnection(2)));
        reg.handle_open(S(0), 2, id(3), meta(), S(60), "e").unwrap();
        let refused = reg.handle_open(S(0), 3, id(4), meta(), S(60), "f").unwrap_err();
        assert_eq!(refused, OpenError::TooMany(3));
        assert_eq!(refused.code(), ErrorCode::TooManyDownloads);
        let bad = FileMeta { content_type: Some("nope".into()), ..meta() };
        assert_eq!(reg.handle_open(S(0), 3, id(5), bad, S(60), "g").unwrap_err().code(), ErrorCode::InvalidArgument);
        let mut freed = reg.handle_connection_closed(1);
        freed.sort_unstable();
        assert_eq!(freed, vec!["a", "c"]);
        assert_eq!(reg.len(), 1);
        reg.handle_open(S(0), 3, id(6), meta(), S(60), "h").unwrap();
    }

    #[test]
    fn a_closed_connection_gives_back_its_unclaimed_bodies() {
        let mut reg = Reg::new(Limits::default());
        reg.handle_open(S(0), 1, id(1), meta(), S(60), "a").unwrap();
        reg.handle_open(S(0), 1, id(2), meta(), S(60), "b").unwrap();
        reg.handle_open(S(0), 2, id(3), meta(), S(60), "c").unwrap();
        reg.handle_request(S(1), id(2), "GET", false, 1);
        assert_eq!(answer(&mut reg), (1, Ok("b")));
        assert_eq!(reg.handle_connection_closed(1), vec!["a"]);
        // The claimed one runs on without its page: it counts until its actor ends.
        assert_eq!(reg.len(), 2);
        assert_eq!(reg.len_on(2), 1);
        reg.handle_finished(id(2));
        assert_eq!(reg.len(), 1);
        assert!(!reg.is_empty());
    }

    #[test]
    fn unclaimed_downloads_expire_on_the_monotonic_clock() {
        let mut reg = Reg::new(Limits::default());
        reg.handle_open(S(100), 7, id(1), meta(), S(60), "a").unwrap();
        reg.handle_open(S(130), 7, id(2), meta(), S(60), "b").unwrap();
        assert_eq!(reg.poll_timeout(), Some(S(160)));
        reg.handle_timeout(S(159));
        assert_eq!(reg.poll_event(), None);
        reg.handle_timeout(S(160));
        assert_eq!(reg.poll_event(), Some(Event::Expired { connection: 7, id: id(1), body: "a" }));
        assert_eq!(reg.poll_timeout(), Some(S(190)), "the next expiry is scheduled");
        reg.handle_request(S(200), id(2), "GET", false, 5);
        assert_eq!(reg.poll_event(), Some(Event::Expired { connection: 7, id: id(2), body: "b" }));
        assert_eq!(answer(&mut reg), (5, Err(ClaimError::Lease(LeaseError::Expired))));
        assert!(reg.is_empty());
    }

    #[test]
    fn a_request_before_its_open_waits_for_it() {
        let mut reg = Reg::new(Limits::default());
        reg.handle_request(S(10), id(1), "GET", false, 1);
        reg.handle_request(S(10), id(2), "GET", false, 2);
        assert_eq!(reg.poll_event(), None);
        assert_eq!(reg.waiting_requests(), 2);
        assert_eq!(reg.poll_timeout(), Some(S(13)));
        reg.handle_open(S(11), 1, id(1), meta(), S(60), "a").unwrap();
        assert_eq!(answer(&mut reg), (1, Ok("a")));
        reg.handle_timeout(S(13));
        assert_eq!(answer(&mut reg), (2, Err(ClaimError::Unknown)));
        assert_eq!(reg.waiting_requests(), 0);
    }

    #[test]
    fn a_download_that_ended_unclaimed_is_still_served_once() {
        let mut reg = Reg::new(Limits::default());
        reg.handle_open(S(0), 1, id(1), meta(), S(60), "empty").unwrap();
        reg.handle_open(S(0), 1, id(2), meta(), S(60), "failed").unwrap();
        reg.handle_finished(id(1));
        reg.handle_finished(id(2));
        assert!(reg.handle_connection_closed(1).is_empty(), "ended streams need no page");
        reg.handle_request(S(1), id(1), "GET", false, 1);
        assert_eq!(answer(&mut reg), (1, Ok("empty")));
        assert_eq!(reg.len(), 1, "served once, then gone");
        reg.handle_request(S(1), id(1), "GET", false, 2);
        assert_eq!(answer(&mut reg), (2, Err(ClaimError::Lease(LeaseError::AlreadyServed))));
        reg.handle_timeout(S(60));
        assert_eq!(reg.poll_event(), Some(Event::Expired { connection: 1, id: id(2), body: "failed" }));
        assert!(reg.is_empty());
    }

    #[test]
    fn a_request_for_a_download_that_ended_is_answered_at_once() {
        let mut reg = Reg::new(Limits { total: 2, ..Limits::default() });
        reg.handle_open(S(0), 1, id(1), meta(), S(60), "served").unwrap();
        reg.handle_open(S(0), 1, id(2), meta(), S(5), "expired").unwrap();
        reg.handle_request(S(1), id(1), "GET", false, 1);
        assert_eq!(answer(&mut reg), (1, Ok("served")));
        reg.handle_finished(id(1));
        reg.handle_timeout(S(5));
        assert_eq!(reg.poll_event(), Some(Event::Expired { connection: 1, id: id(2), body: "expired" }));
        // Not after the wait for a late `Open`: neither comes again.
        reg.handle_request(S(6), id(1), "GET", false, 2);
        assert_eq!(answer(&mut reg), (2, Err(ClaimError::Lease(LeaseError::AlreadyServed))));
        reg.handle_request(S(6), id(2), "GET", false, 3);
        assert_eq!(answer(&mut reg), (3, Err(ClaimError::Lease(LeaseError::Expired))));
        assert_eq!(reg.waiting_requests(), 0);
        // Only the latest are kept (as many as downloads may be open): an older one waits.
        for n in 3..5 {
            reg.handle_open(S(6), 1, id(n), meta(), S(60), "more").unwrap();
            reg.handle_request(S(6), id(n), "GET", false, 0);
            assert_eq!(answer(&mut reg), (0, Ok("more")));
            reg.handle_finished(id(n));
        }
        reg.handle_request(S(7), id(1), "GET", false, 4);
        assert_eq!(reg.poll_event(), None);
        reg.handle_timeout(S(10));
        assert_eq!(answer(&mut reg), (4, Err(ClaimError::Unknown)));
    }

    #[test]
    fn waiting_requests_are_capped() {
        let mut reg = Reg::new(Limits { waiting_requests: 1, ..Limits::default() });
        reg.handle_request(S(0), id(1), "GET", false, 1);
        reg.handle_request(S(0), id(2), "GET", false, 2);
        assert_eq!(answer(&mut reg), (2, Err(ClaimError::Unknown)));
    }
}
