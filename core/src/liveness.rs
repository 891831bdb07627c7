//! Who is alive, sans-IO: the page's buses to the service worker and the downloads on each
//! ([`Links`]), and when the service worker looks whether a page is still there ([`Watch`]).

use std::time::Duration;

/// A download as a connection sees it.
pub trait Carried {
    /// It ended (succeeded or failed): it no longer keeps its bus alive.
    fn is_finished(&self) -> bool;
}

impl<T: Carried + ?Sized> Carried for std::rc::Rc<T> {
    fn is_finished(&self) -> bool {
        (**self).is_finished()
    }
}

/// Names one bus of a [`Links`].
pub type LinkId = u64;

#[derive(Debug)]
struct Link<B, D> {
    id: LinkId,
    bus: B,
    downloads: Vec<D>,
}

impl<B, D: Carried> Link<B, D> {
    fn carries(&mut self) -> bool {
        self.downloads.retain(|d| !d.is_finished());
        !self.downloads.is_empty()
    }
}

/// The page's buses to its service worker. New downloads go over the current bus; a
/// re-handshake (the worker restarted) makes a new one current, and the old ones stay as long
/// as they carry downloads: each of them is pinged, and a bus that does not answer fails
/// exactly its own downloads.
#[derive(Debug)]
pub struct Links<B, D> {
    links: Vec<Link<B, D>>,
    /// The current bus, if any.
    current: Option<LinkId>,
    next: LinkId,
}

impl<B: Clone, D: Carried> Links<B, D> {
    /// `bus`, which answered the handshake, is current.
    pub fn new(bus: B) -> Self {
        let mut links = Self { links: Vec::new(), current: None, next: 0 };
        links.handle_connected(bus);
        links
    }

    /// The bus new downloads go over.
    pub fn current(&self) -> Option<&B> {
        let current = self.current?;
        self.links.iter().find(|l| l.id == current).map(|l| &l.bus)
    }

    /// Some bus carries a running download (then keep the worker alive and ping).
    pub fn carries_downloads(&mut self) -> bool {
        self.links.iter_mut().fold(false, |any, link| link.carries() | any)
    }

    /// A new bus answered the handshake: it becomes current. Returns the buses to say goodbye
    /// to (replaced ones with no download).
    pub fn handle_connected(&mut self, bus: B) -> Vec<B> {
        let id = self.next;
        self.next += 1;
        self.links.push(Link { id, bus, downloads: Vec::new() });
        self.current = Some(id);
        self.sweep()
    }

    /// A download goes over the current bus; returns that bus (`None` if there is none).
    pub fn handle_attach(&mut self, download: D) -> Option<B> {
        let current = self.current?;
        let link = self.links.iter_mut().find(|l| l.id == current)?;
        link.downloads.push(download);
        Some(link.bus.clone())
    }

    /// The buses to ping now: every one that carries a running download.
    pub fn to_ping(&mut self) -> Vec<(LinkId, B)> {
        self.links.iter_mut().filter_map(|l| l.carries().then(|| (l.id, l.bus.clone()))).collect()
    }

    /// Bus `id` did not answer its ping: it is dropped. Returns its bus and the downloads to
    /// fail (only its own).
    pub fn handle_dead(&mut self, id: LinkId) -> Option<(B, Vec<D>)> {
        let at = self.links.iter().position(|l| l.id == id)?;
        let mut link = self.links.remove(at);
        if self.current == Some(id) {
            self.current = None;
        }
        link.carries();
        Some((link.bus, link.downloads))
    }

    /// After any event: replaced buses that carry nothing more, to say goodbye to.
    pub fn sweep(&mut self) -> Vec<B> {
        let current = self.current;
        let (keep, gone): (Vec<_>, Vec<_>) =
            self.links.drain(..).partition(|l| Some(l.id) == current || l.downloads.iter().any(|d| !d.is_finished()));
        self.links = keep;
        gone.into_iter().map(|l| l.bus).collect()
    }

    /// The connection ends: no bus is current any more, so each is let go once it carries
    /// nothing ([`Links::sweep`]). Returns the downloads still running, to tell (they stay on
    /// their buses until they end: one whose bytes all went out waits for its answer).
    pub fn handle_close(&mut self) -> Vec<D>
    where
        D: Clone,
    {
        self.current = None;
        let mut running = Vec::new();
        for link in &mut self.links {
            link.carries();
            running.extend(link.downloads.iter().cloned());
        }
        running
    }

    /// No bus is left.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }
}

/// A round every `period` while downloads run, counted from the last round, whatever else
/// happens meanwhile: the page's keepalive rounds (an event for the service worker, and a ping
/// over every bus that carries downloads) and the ticks of the service worker's [`Watch`]. Times
/// are since any fixed origin.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    period: Duration,
    due: Option<Duration>,
}

impl Schedule {
    /// A round every `period` while downloads run.
    pub fn new(period: Duration) -> Self {
        Self { period, due: None }
    }

    /// At `now`, downloads run (`carrying`) or not: the schedule starts one period from the
    /// first, and stops with the last.
    pub fn handle_carrying(&mut self, carrying: bool, now: Duration) {
        self.due = match (carrying, self.due) {
            (true, None) => Some(now + self.period),
            (true, due) => due,
            (false, _) => None,
        };
    }

    /// When the next round is due, if downloads run.
    pub fn poll_deadline(&self) -> Option<Duration> {
        self.due
    }

    /// Time passed to `now`: whether a round is due (the next is then one period later).
    pub fn handle_timeout(&mut self, now: Duration) -> bool {
        match self.due {
            Some(due) if now >= due => {
                self.due = Some(now + self.period);
                true
            }
            _ => false,
        }
    }
}

/// What the service worker does at one tick of a page's [`Watch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Look whether the page's client still exists (`clients.get`).
    pub check_client: bool,
    /// Ping the page (answered within [`Watch::ping_timeout`], or the page is gone).
    pub ping: bool,
    /// The page never finished its handshake: end the connection.
    pub silent: bool,
}

/// The most connections a service worker keeps at once (from every page and worker); a
/// `connect` past it is refused. Far above what pages hold (one per Sluice), so that the idle
/// connections of closed pages, which linger where ports have no `close` event, cannot fill it
/// within a worker's life.
pub const MAX_CONNECTIONS: usize = 1024;

/// The service worker's watch over one page, while the page has downloads open (none
/// otherwise: an idle connection costs nothing): a short client check at every tick, so that a
/// closed page's downloads fail before the browser stops the worker, unless the port's `close`
/// event tells that; and a ping every few ticks (a page that hangs). Ticks keep their period
/// whatever messages come between them. Times are since any fixed origin.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The ticks: the same schedule as the page's keepalive rounds.
    schedule: Schedule,
    ping_every_ticks: u32,
    ping_timeout: Duration,
    /// The port's `close` event tells when the page goes: no client checks.
    close_events: bool,
    ticks: u32,
    /// Until the page's handshake (see [`Watch::handle_started`]): when its time is up.
    hello_due: Option<Duration>,
}

impl Watch {
    /// A tick every `every`, a ping every `ping_every_ticks` ticks that must be answered within
    /// `ping_timeout`; client checks only without `close_events`.
    pub fn new(every: Duration, ping_every_ticks: u32, ping_timeout: Duration, close_events: bool) -> Self {
        let ping_every_ticks = ping_every_ticks.max(1);
        Self { schedule: Schedule::new(every), ping_every_ticks, ping_timeout, close_events, ticks: 0, hello_due: None }
    }

    /// The defaults: a tick every second, a ping every fifth, answered within 15 s.
    pub fn with_close_events(close_events: bool) -> Self {
        Self::new(Duration::from_secs(1), 5, Duration::from_secs(15), close_events)
    }

    /// How long a ping may go unanswered.
    pub fn ping_timeout(&self) -> Duration {
        self.ping_timeout
    }

    /// At `now`, the page has downloads open (`open`) or not: the ticks start one period from
    /// the first, and stop with the last.
    pub fn handle_downloads(&mut self, open: bool, now: Duration) {
        self.schedule.handle_carrying(open, now);
    }

    /// The connection started at `now`: the page must finish its handshake within the ping
    /// timeout, or the connection ends (a `connect` that never says hello holds nothing long).
    pub fn handle_started(&mut self, now: Duration) {
        self.hello_due = Some(now + self.ping_timeout);
    }

    /// The page finished its handshake.
    pub fn handle_hello(&mut self) {
        self.hello_due = None;
    }

    /// When the next tick is due: while downloads are open, or a handshake is awaited.
    pub fn poll_deadline(&self) -> Option<Duration> {
        match (self.schedule.poll_deadline(), self.hello_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time passed to `now`: the tick that is due, if one is (the next is one period later).
    pub fn handle_timeout(&mut self, now: Duration) -> Option<Tick> {
        if self.hello_due.is_some_and(|due| now >= due) {
            return Some(Tick { check_client: false, ping: false, silent: true });
        }
        if !self.schedule.handle_timeout(now) {
            return None;
        }
        self.ticks = self.ticks.wrapping_add(1);
        Some(Tick { check_client: !self.close_events, ping: self.ticks % self.ping_every_ticks == 0, silent: false })
    }
}

/// Why the service worker ends a page's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The page said goodbye.
    Bye,
    /// The bus to the page failed.
    BusFailed,
    /// The page's port closed.
    PortClosed,
    /// The page's client is gone (closed or navigated away).
    ClientGone,
    /// The page did not answer a ping (the bus's error).
    NoPong(String),
    /// The page never finished its handshake.
    NoHello,
}

impl Ended {
    /// Why, in words: what its downloads fail with.
    pub fn reason(&self) -> String {
        match self {
            Ended::Bye => "the page closed its connection".into(),
            Ended::BusFailed => "the connection to the page failed".into(),
            Ended::PortClosed => "the page is gone (its port closed)".into(),
            Ended::ClientGone => "the page is gone (closed or navigated away)".into(),
            Ended::NoPong(e) => format!("the page stopped answering ({e})"),
            Ended::NoHello => "the page never finished its handshake".into(),
        }
    }
}

/// The service worker's side of one page's connection, sans-IO: the downloads the page opened,
/// the [`Watch`] over the page while any is open (and over its handshake), and the end: the
/// first reason wins, and every download still open is handed back to be failed, once.
#[derive(Debug)]
pub struct ServiceConnection<D> {
    watch: Watch,
    downloads: Vec<D>,
    ended: Option<Ended>,
    told_end: bool,
}

impl<D: Carried> ServiceConnection<D> {
    /// A connection that started at `now`, watched by `watch` (its handshake awaited from now).
    pub fn new(mut watch: Watch, now: Duration) -> Self {
        watch.handle_started(now);
        Self { watch, downloads: Vec::new(), ended: None, told_end: false }
    }

    /// How long a ping may go unanswered.
    pub fn ping_timeout(&self) -> Duration {
        self.watch.ping_timeout()
    }

    /// The page opened `download` at `now`.
    pub fn handle_opened(&mut self, download: D, now: Duration) {
        self.downloads.push(download);
        self.watch.handle_downloads(true, now);
    }

    /// The connection ends for `why` (unless it ended already).
    pub fn handle_end(&mut self, why: Ended) {
        self.ended.get_or_insert(why);
    }

    /// When to call [`ServiceConnection::handle_timeout`], as of `now` (downloads that ended
    /// are let go first); `None` while nothing is open and the handshake is done.
    pub fn poll_deadline(&mut self, now: Duration) -> Option<Duration> {
        self.downloads.retain(|d| !d.is_finished());
        self.watch.handle_downloads(!self.downloads.is_empty(), now);
        self.watch.poll_deadline()
    }

    /// Time passed to `now` (`hello`: the page's handshake is done): what to look at, if a
    /// tick is due. A page that never said hello in time ends the connection.
    pub fn handle_timeout(&mut self, now: Duration, hello: bool) -> Option<Tick> {
        if hello {
            self.watch.handle_hello();
        }
        let tick = self.watch.handle_timeout(now)?;
        if tick.silent {
            self.handle_end(Ended::NoHello);
            return None;
        }
        Some(tick)
    }

    /// Once ended, and only once: why, and the downloads still open, which fail with it.
    pub fn poll_end(&mut self) -> Option<(Ended, Vec<D>)> {
        if self.told_end {
            return None;
        }
        let why = self.ended.clone()?;
        self.told_end = true;
        self.downloads.retain(|d| !d.is_finished());
        Some((why, std::mem::take(&mut self.downloads)))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    #[derive(Debug, Clone)]
    struct Dl(&'static str, Rc<Cell<bool>>);

    impl Carried for Dl {
        fn is_finished(&self) -> bool {
            self.1.get()
        }
    }

    fn dl(name: &'static str) -> (Dl, Rc<Cell<bool>>) {
        let finished = Rc::new(Cell::new(false));
        (Dl(name, finished.clone()), finished)
    }

    fn names(downloads: &[Dl]) -> Vec<&'static str> {
        downloads.iter().map(|d| d.0).collect()
    }

    #[test]
    fn a_download_on_a_replaced_bus_is_still_pinged_and_fails_with_its_bus() {
        let mut links: Links<&str, Dl> = Links::new("bus 1");
        let (a, _) = dl("a");
        assert_eq!(links.handle_attach(a), Some("bus 1"));
        assert!(links.handle_connected("bus 2").is_empty(), "bus 1 still carries a");
        let (b, _) = dl("b");
        assert_eq!(links.handle_attach(b), Some("bus 2"));
        let pinged: Vec<_> = links.to_ping().into_iter().map(|(_, bus)| bus).collect();
        assert_eq!(pinged, vec!["bus 1", "bus 2"], "the old bus is pinged too");
        let (bus, failed) = links.handle_dead(0).unwrap();
        assert_eq!((bus, names(&failed)), ("bus 1", vec!["a"]), "only its own downloads fail");
        assert_eq!(links.current(), Some(&"bus 2"));
        assert!(links.carries_downloads());
    }

    #[test]
    fn a_replaced_bus_goes_once_its_downloads_ended() {
        let mut links: Links<&str, Dl> = Links::new("bus 1");
        let (a, a_done) = dl("a");
        links.handle_attach(a);
        links.handle_connected("bus 2");
        assert!(links.sweep().is_empty());
        a_done.set(true);
        assert_eq!(links.sweep(), vec!["bus 1"]);
        assert!(!links.carries_downloads());
        assert!(links.to_ping().is_empty(), "nothing to keep alive");
        assert!(links.handle_connected("bus 3").contains(&"bus 2"), "an idle replaced bus goes at once");
    }

    #[test]
    fn a_dead_current_bus_leaves_no_current_and_close_ends_everything() {
        let mut links: Links<&str, Dl> = Links::new("bus 1");
        let (a, _) = dl("a");
        let (b, b_done) = dl("b");
        links.handle_attach(a);
        links.handle_attach(b);
        b_done.set(true);
        let (_, failed) = links.handle_dead(0).unwrap();
        assert_eq!(names(&failed), vec!["a"], "an ended download is not failed");
        assert_eq!(links.current(), None);
        let (c, _) = dl("c");
        assert!(links.handle_attach(c).is_none());
        links.handle_connected("bus 2");
        let (d, d_done) = dl("d");
        links.handle_attach(d);
        let downloads = links.handle_close();
        assert_eq!(names(&downloads), vec!["d"]);
        assert!(links.current().is_none());
        assert!(links.sweep().is_empty(), "bus 2 carries d until d ends");
        d_done.set(true);
        assert_eq!(links.sweep(), vec!["bus 2"]);
        assert!(links.is_empty());
    }

    #[test]
    fn keepalive_rounds_keep_their_period_whatever_happens_between_them() {
        let s = Duration::from_secs;
        let mut keepalive = Schedule::new(s(10));
        keepalive.handle_carrying(false, s(0));
        assert_eq!(keepalive.poll_deadline(), None, "no download, no round");
        keepalive.handle_carrying(true, s(1));
        assert_eq!(keepalive.poll_deadline(), Some(s(11)));
        // Events every half second (a download's `Active`) do not put the round off.
        let mut rounds = Vec::new();
        for half in 3..=50u64 {
            let now = Duration::from_millis(half * 500);
            keepalive.handle_carrying(true, now);
            if keepalive.poll_deadline().is_some_and(|due| due <= now) && keepalive.handle_timeout(now) {
                rounds.push(now.as_secs());
            }
        }
        assert_eq!(rounds, vec![11, 21]);
        assert!(!keepalive.handle_timeout(s(30)), "not due before its time");
        keepalive.handle_carrying(false, s(30));
        assert!(!keepalive.handle_timeout(s(60)), "stopped with the last download");
        keepalive.handle_carrying(true, s(61));
        assert_eq!(keepalive.poll_deadline(), Some(s(71)), "starts afresh");
    }

    #[test]
    fn the_watch_ticks_only_while_downloads_are_open_and_keeps_its_period() {
        let s = Duration::from_secs;
        let mut watch = Watch::new(s(1), 3, s(15), false);
        watch.handle_downloads(false, s(0));
        assert_eq!(watch.poll_deadline(), None, "an idle connection is not watched");
        assert_eq!(watch.handle_timeout(s(100)), None);
        watch.handle_downloads(true, s(10));
        // Messages between ticks (each a handle_downloads) do not put the tick off.
        let mut ticks = Vec::new();
        for tenth in 101..=140u64 {
            let now = Duration::from_millis(tenth * 100);
            watch.handle_downloads(true, now);
            if let Some(tick) = watch.handle_timeout(now) {
                ticks.push((now.as_secs(), tick));
            }
        }
        let seconds: Vec<u64> = ticks.iter().map(|(at, _)| *at).collect();
        assert_eq!(seconds, vec![11, 12, 13, 14]);
        assert!(ticks.iter().all(|(_, t)| t.check_client));
        let pings: Vec<bool> = ticks.iter().map(|(_, t)| t.ping).collect();
        assert_eq!(pings, vec![false, false, true, false]);
        watch.handle_downloads(false, s(15));
        assert_eq!(watch.poll_deadline(), None, "stops with the last download");

        let mut told = Watch::new(s(1), 1, s(15), true);
        told.handle_downloads(true, s(0));
        let tick = told.handle_timeout(s(1)).unwrap();
        assert!(!tick.check_client && tick.ping, "where the port's close event tells, no client checks; pings go on");
    }

    #[test]
    fn a_connection_that_never_says_hello_ends_and_one_that_did_costs_nothing() {
        let s = Duration::from_secs;
        let mut silent = Watch::new(s(1), 5, s(15), false);
        silent.handle_started(s(100));
        silent.handle_downloads(false, s(100));
        assert_eq!(silent.poll_deadline(), Some(s(115)), "the handshake is waited for the ping timeout");
        assert_eq!(silent.handle_timeout(s(114)), None);
        assert!(silent.handle_timeout(s(115)).is_some_and(|t| t.silent), "no hello: it ends");

        let mut greeted = Watch::new(s(1), 5, s(15), false);
        greeted.handle_started(s(100));
        greeted.handle_hello();
        greeted.handle_downloads(false, s(101));
        assert_eq!(greeted.poll_deadline(), None, "after the hello an idle connection is not watched");
        greeted.handle_downloads(true, s(102));
        assert!(greeted.handle_timeout(s(200)).is_some_and(|t| !t.silent));
    }
}
