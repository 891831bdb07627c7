//! Who is alive, sans-IO: the page's buses to the service worker and the downloads on each
//! ([`Links`]), and when the service worker looks whether a page is still there ([`Watch`]).

use std::time::Duration;

/// A download as a connection sees it.
pub trait Carried {
    /// It ended (succeeded or failed): it no longer keeps its bus alive.
    fn is_finished(&self) -> bool;
}

impl<T: Carried + ?Sized> Carried for Box<T> {
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

    /// The connection ends: every bus, and the downloads still running on them.
    pub fn handle_close(&mut self) -> (Vec<B>, Vec<D>) {
        self.current = None;
        let mut buses = Vec::new();
        let mut downloads = Vec::new();
        for mut link in self.links.drain(..) {
            link.carries();
            buses.push(link.bus);
            downloads.append(&mut link.downloads);
        }
        (buses, downloads)
    }
}

/// When the page's connection makes its keepalive round (an event for the service worker, and a
/// ping over every bus that carries downloads): every `period` while downloads run, counted from
/// the last round, whatever else the connection does meanwhile. Times are since any fixed origin.
#[derive(Debug, Clone, Copy)]
pub struct Keepalive {
    period: Duration,
    due: Option<Duration>,
}

impl Keepalive {
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
}

/// The service worker's watch over one page: a short client check at every tick (so a closed
/// page's downloads fail before the browser stops the worker), and, while the page has
/// downloads, a ping every few ticks (a page that hangs, or a client check that cannot tell).
#[derive(Debug, Clone)]
pub struct Watch {
    every: Duration,
    ping_every_ticks: u32,
    ping_timeout: Duration,
    ticks: u32,
}

impl Default for Watch {
    fn default() -> Self {
        Self::new(Duration::from_secs(1), 5, Duration::from_secs(15))
    }
}

impl Watch {
    /// A tick every `every`, a ping every `ping_every_ticks` ticks that must be answered
    /// within `ping_timeout`.
    pub fn new(every: Duration, ping_every_ticks: u32, ping_timeout: Duration) -> Self {
        Self { every, ping_every_ticks: ping_every_ticks.max(1), ping_timeout, ticks: 0 }
    }

    /// Time between ticks.
    pub fn every(&self) -> Duration {
        self.every
    }

    /// How long a ping may go unanswered.
    pub fn ping_timeout(&self) -> Duration {
        self.ping_timeout
    }

    /// A tick passed; `has_downloads` says whether the page has running downloads.
    pub fn handle_tick(&mut self, has_downloads: bool) -> Tick {
        self.ticks = self.ticks.wrapping_add(1);
        Tick { check_client: true, ping: has_downloads && self.ticks % self.ping_every_ticks == 0 }
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
        let (d, _) = dl("d");
        links.handle_attach(d);
        let (buses, downloads) = links.handle_close();
        assert_eq!((buses, names(&downloads)), (vec!["bus 2"], vec!["d"]));
        assert!(links.current().is_none());
    }

    #[test]
    fn keepalive_rounds_keep_their_period_whatever_happens_between_them() {
        let s = Duration::from_secs;
        let mut keepalive = Keepalive::new(s(10));
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
    fn the_watch_checks_the_client_each_tick_and_pings_only_with_downloads() {
        let mut watch = Watch::new(Duration::from_secs(1), 3, Duration::from_secs(15));
        let ticks: Vec<Tick> = [true, true, true, false, false, false, true].map(|d| watch.handle_tick(d)).into();
        assert!(ticks.iter().all(|t| t.check_client));
        let pings: Vec<bool> = ticks.iter().map(|t| t.ping).collect();
        assert_eq!(pings, vec![false, false, true, false, false, false, false]);
        assert!(!watch.handle_tick(true).ping && watch.handle_tick(true).ping);
    }
}
