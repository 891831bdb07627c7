//! The page's connection to its service worker, sans-IO: which bus each new download goes
//! over, when to look whether the service worker still answers, when to ping, which downloads
//! fail when a bus dies, what to say goodbye to.
//!
//! The driver carries out each [`Action`] and reports back. Slow work (a check of the current
//! bus, which may reconnect; a keepalive round) runs beside the connection: the driver starts
//! it and goes on taking commands, and only its report ([`PageConnection::handle_checked`],
//! [`PageConnection::handle_pinged`]) moves the state on. So no download waits behind another's
//! handshake or behind a ping that times out, and a dead bus is noticed within one keepalive
//! period plus one ping timeout.

use std::collections::VecDeque;
use std::time::Duration;

use crate::liveness::{Carried, LinkId, Links, Schedule};

/// What the driver must do next.
#[derive(Debug, PartialEq)]
pub enum Action<B, D, R, E> {
    /// Look whether `current` (the bus new downloads go over; `None`: there is none) still
    /// answers, else open a new bus; report with [`PageConnection::handle_checked`]. At most one
    /// check runs at a time.
    Check(Option<B>),
    /// A keepalive round: send the service worker an event and ping these buses; report the
    /// ones that did not answer with [`PageConnection::handle_pinged`]. At most one round runs
    /// at a time.
    Round(Vec<(LinkId, B)>),
    /// Say goodbye on this bus: nothing goes over it any more.
    Bye(B),
    /// The download that asked with `R` goes over this bus.
    Attached(R, B),
    /// The download that asked with `R` cannot go over the service worker.
    Refused(R, Refusal<E>),
    /// Fail this download: its bus stopped answering.
    Lost(D),
    /// The connection closed while this download ran: it fails, unless all its bytes went out
    /// (then it waits for the service worker's answer; its bus stays until it ends).
    Closed(D),
}

/// Why a download cannot attach.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal<E> {
    /// The service worker's run that answers does not serve this page's navigations.
    NotIntercepted,
    /// The connection was closed.
    Closed,
    /// No bus could be opened.
    Failed(E),
}

/// What a check found.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked<B> {
    /// The current bus answered.
    Alive,
    /// A new bus answered the handshake (the service worker restarted, or there was none);
    /// `intercepts`: its run answers this page's navigations.
    Connected {
        /// The new bus.
        bus: B,
        /// Whether the service worker serves this page's download URLs.
        intercepts: bool,
    },
}

/// The page's connection: its buses ([`Links`]), the keepalive schedule, the attaches waiting
/// for a check. `B` is a bus, `D` a download, `R` how an attach is answered, `E` an error.
#[derive(Debug)]
pub struct PageConnection<B, D, R, E> {
    links: Links<B, D>,
    keepalive: Schedule,
    /// Attaches waiting for the running check.
    waiting: Vec<(D, R)>,
    checking: bool,
    pinging: bool,
    intercepts: bool,
    closed: bool,
    actions: VecDeque<Action<B, D, R, E>>,
}

impl<B: Clone, D: Carried + Clone, R, E: Clone> PageConnection<B, D, R, E> {
    /// A connection over `bus`, which answered the handshake; a keepalive round every
    /// `keepalive` while downloads run.
    pub fn new(bus: B, keepalive: Duration) -> Self {
        Self {
            links: Links::new(bus),
            keepalive: Schedule::new(keepalive),
            waiting: Vec::new(),
            checking: false,
            pinging: false,
            intercepts: true,
            closed: false,
            actions: VecDeque::new(),
        }
    }

    // ---- inputs ----

    /// A new download asks for a bus; answered with [`Action::Attached`] or [`Action::Refused`]
    /// once a check says whether the current bus still answers.
    pub fn handle_attach(&mut self, download: D, reply: R) {
        if self.closed {
            return self.actions.push_back(Action::Refused(reply, Refusal::Closed));
        }
        self.waiting.push((download, reply));
        if !self.checking {
            self.checking = true;
            self.actions.push_back(Action::Check(self.links.current().cloned()));
        }
    }

    /// The check ended: the waiting downloads attach (or are refused).
    pub fn handle_checked(&mut self, checked: Result<Checked<B>, E>) {
        self.checking = false;
        if self.closed {
            return;
        }
        let refusal = match checked {
            // The bus was found dead meanwhile (a keepalive round): look again.
            Ok(Checked::Alive) if self.links.current().is_none() => {
                self.checking = true;
                return self.actions.push_back(Action::Check(None));
            }
            Ok(Checked::Alive) => None,
            Ok(Checked::Connected { bus, intercepts }) => {
                self.intercepts = intercepts;
                let replaced = self.links.handle_connected(bus);
                self.actions.extend(replaced.into_iter().map(Action::Bye));
                None
            }
            Err(e) => Some(Refusal::Failed(e)),
        };
        let refusal = refusal.or((!self.intercepts).then_some(Refusal::NotIntercepted));
        for (download, reply) in std::mem::take(&mut self.waiting) {
            let action = match &refusal {
                Some(why) => Action::Refused(reply, why.clone()),
                None => match self.links.handle_attach(download) {
                    Some(bus) => Action::Attached(reply, bus),
                    None => Action::Refused(reply, Refusal::Closed),
                },
            };
            self.actions.push_back(action);
        }
    }

    /// Time passed to `now`: a keepalive round may be due (one that falls due while another
    /// runs starts when that one ends). Rounds go on after a close while downloads still end.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.pinging {
            return;
        }
        self.keepalive.handle_carrying(self.links.carries_downloads(), now);
        if self.keepalive.handle_timeout(now) {
            self.pinging = true;
            self.actions.push_back(Action::Round(self.links.to_ping()));
        }
    }

    /// The round ended; `dead`: the buses that did not answer. Exactly their downloads fail.
    pub fn handle_pinged(&mut self, dead: &[LinkId]) {
        self.pinging = false;
        for &id in dead {
            if let Some((bus, downloads)) = self.links.handle_dead(id) {
                self.actions.extend(downloads.into_iter().map(Action::Lost));
                self.actions.push_back(Action::Bye(bus));
            }
        }
    }

    /// The connection closes: waiting attaches are refused, running downloads told
    /// ([`Action::Closed`]), and each bus said goodbye to once its downloads ended.
    pub fn handle_close(&mut self) {
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        for (_, reply) in std::mem::take(&mut self.waiting) {
            self.actions.push_back(Action::Refused(reply, Refusal::Closed));
        }
        let downloads = self.links.handle_close();
        self.actions.extend(downloads.into_iter().map(Action::Closed));
    }

    // ---- outputs ----

    /// The next thing to do. Replaced buses (every bus, once closed) whose downloads all ended
    /// are said goodbye to.
    pub fn poll_action(&mut self) -> Option<Action<B, D, R, E>> {
        if self.actions.is_empty() {
            let idle = self.links.sweep();
            self.actions.extend(idle.into_iter().map(Action::Bye));
        }
        self.actions.pop_front()
    }

    /// When to call [`PageConnection::handle_timeout`] next: one keepalive period after the
    /// last round began while downloads run, never restarted by other input; `None` while none
    /// runs, or while a round runs.
    pub fn poll_deadline(&mut self, now: Duration) -> Option<Duration> {
        if self.pinging {
            return None;
        }
        self.keepalive.handle_carrying(self.links.carries_downloads(), now);
        self.keepalive.poll_deadline()
    }

    /// Whether the connection was closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether it closed and said goodbye on every bus: nothing is left to do.
    pub fn is_ended(&self) -> bool {
        self.closed && self.links.is_empty() && self.actions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Dl(&'static str, Rc<Cell<bool>>);

    impl Carried for Dl {
        fn is_finished(&self) -> bool {
            self.1.get()
        }
    }

    fn dl(name: &'static str) -> Dl {
        Dl(name, Rc::default())
    }

    type Conn = PageConnection<&'static str, Dl, u32, String>;
    type Act = Action<&'static str, Dl, u32, String>;

    fn drain(c: &mut Conn) -> Vec<Act> {
        std::iter::from_fn(|| c.poll_action()).collect()
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn an_attach_is_answered_while_a_keepalive_round_still_runs() {
        let mut c = Conn::new("bus 1", S(10));
        c.handle_attach(dl("a"), 1);
        assert_eq!(drain(&mut c), vec![Action::Check(Some("bus 1"))]);
        c.handle_checked(Ok(Checked::Alive));
        assert_eq!(drain(&mut c), vec![Action::Attached(1, "bus 1")]);
        assert_eq!(c.poll_deadline(S(0)), Some(S(10)));
        c.handle_timeout(S(10));
        assert_eq!(drain(&mut c), vec![Action::Round(vec![(0, "bus 1")])]);
        // The round waits for its ping (up to the timeout): a new download does not.
        c.handle_attach(dl("b"), 2);
        assert_eq!(drain(&mut c), vec![Action::Check(Some("bus 1"))]);
        c.handle_checked(Ok(Checked::Connected { bus: "bus 2", intercepts: true }));
        assert_eq!(drain(&mut c), vec![Action::Attached(2, "bus 2")]);
        c.handle_pinged(&[0]);
        let after = drain(&mut c);
        assert_eq!(after, vec![Action::Lost(dl("a")), Action::Bye("bus 1")], "only the old bus's download fails");
    }

    #[test]
    fn one_check_serves_every_attach_that_waits_for_it_and_one_round_runs_at_a_time() {
        let mut c = Conn::new("bus 1", S(10));
        c.handle_attach(dl("a"), 1);
        c.handle_attach(dl("b"), 2);
        assert_eq!(drain(&mut c), vec![Action::Check(Some("bus 1"))], "one check for both");
        c.handle_checked(Err("no worker".into()));
        let refused = Refusal::Failed("no worker".to_string());
        assert_eq!(drain(&mut c), vec![Action::Refused(1, refused.clone()), Action::Refused(2, refused)]);
        assert_eq!(c.poll_deadline(S(1)), None, "nothing runs, nothing is polled");
        c.handle_attach(dl("c"), 3);
        assert_eq!(drain(&mut c), vec![Action::Check(Some("bus 1"))], "the next attach checks again");
        c.handle_checked(Ok(Checked::Alive));
        drain(&mut c);
        assert_eq!(c.poll_deadline(S(1)), Some(S(11)));
        c.handle_timeout(S(11));
        assert!(matches!(drain(&mut c)[..], [Action::Round(_)]));
        assert_eq!(c.poll_deadline(S(12)), None, "no deadline while a round runs");
        c.handle_timeout(S(21));
        assert!(drain(&mut c).is_empty(), "no second round while the first runs");
        c.handle_pinged(&[]);
        assert_eq!(c.poll_deadline(S(22)), Some(S(21)), "the round that fell due meanwhile starts at once");
        c.handle_timeout(S(22));
        assert!(matches!(drain(&mut c)[..], [Action::Round(_)]));
    }

    #[test]
    fn a_check_that_found_the_bus_alive_looks_again_if_a_round_found_it_dead_meanwhile() {
        let mut c = Conn::new("bus 1", S(10));
        c.handle_attach(dl("a"), 1);
        drain(&mut c);
        c.handle_checked(Ok(Checked::Alive));
        drain(&mut c);
        c.poll_deadline(S(0));
        c.handle_timeout(S(10));
        drain(&mut c);
        c.handle_attach(dl("b"), 2);
        assert_eq!(drain(&mut c), vec![Action::Check(Some("bus 1"))]);
        c.handle_pinged(&[0]);
        assert_eq!(drain(&mut c), vec![Action::Lost(dl("a")), Action::Bye("bus 1")]);
        c.handle_checked(Ok(Checked::Alive));
        assert_eq!(drain(&mut c), vec![Action::Check(None)], "b is not refused: a new bus is looked for");
        c.handle_checked(Ok(Checked::Connected { bus: "bus 2", intercepts: true }));
        assert_eq!(drain(&mut c), vec![Action::Attached(2, "bus 2")]);
    }

    #[test]
    fn a_run_that_does_not_intercept_refuses_until_one_does() {
        let mut c = Conn::new("bus 1", S(10));
        c.handle_attach(dl("a"), 1);
        drain(&mut c);
        c.handle_checked(Ok(Checked::Connected { bus: "bus 2", intercepts: false }));
        assert_eq!(drain(&mut c), vec![Action::Bye("bus 1"), Action::Refused(1, Refusal::NotIntercepted)]);
        c.handle_attach(dl("b"), 2);
        drain(&mut c);
        c.handle_checked(Ok(Checked::Alive));
        assert_eq!(drain(&mut c), vec![Action::Refused(2, Refusal::NotIntercepted)]);
        c.handle_attach(dl("c"), 3);
        drain(&mut c);
        c.handle_checked(Ok(Checked::Connected { bus: "bus 3", intercepts: true }));
        assert_eq!(drain(&mut c), vec![Action::Bye("bus 2"), Action::Attached(3, "bus 3")]);
    }

    /// A connection over "bus 1" that carries download `a`.
    fn carrying_a() -> (Conn, Dl) {
        let mut c = Conn::new("bus 1", S(10));
        let a = dl("a");
        c.handle_attach(a.clone(), 1);
        drain(&mut c);
        c.handle_checked(Ok(Checked::Alive));
        drain(&mut c);
        (c, a)
    }

    #[test]
    fn close_tells_every_download_refuses_what_comes_after_and_says_goodbye_once_they_ended() {
        let (mut c, a) = carrying_a();
        c.handle_attach(dl("b"), 2);
        drain(&mut c);
        c.handle_close();
        assert_eq!(drain(&mut c), vec![Action::Refused(2, Refusal::Closed), Action::Closed(a.clone())]);
        c.handle_checked(Ok(Checked::Alive));
        c.handle_attach(dl("c"), 3);
        assert_eq!(drain(&mut c), vec![Action::Refused(3, Refusal::Closed)]);
        // `a` sent all its bytes and waits for its answer: its bus stays, and is still pinged.
        assert!(!c.is_ended());
        assert_eq!(c.poll_deadline(S(0)), Some(S(10)));
        c.handle_timeout(S(10));
        assert_eq!(drain(&mut c), vec![Action::Round(vec![(0, "bus 1")])]);
        c.handle_pinged(&[]);
        a.1.set(true);
        assert_eq!(drain(&mut c), vec![Action::Bye("bus 1")]);
        assert!(c.is_ended());
        assert_eq!(c.poll_deadline(S(100)), None);
    }

    #[test]
    fn a_closed_connection_still_notices_a_dead_bus() {
        let (mut c, a) = carrying_a();
        c.handle_close();
        assert_eq!(drain(&mut c), vec![Action::Closed(a.clone())]);
        c.handle_timeout(S(10));
        drain(&mut c);
        c.handle_pinged(&[0]);
        assert_eq!(drain(&mut c), vec![Action::Lost(a), Action::Bye("bus 1")]);
        assert!(c.is_ended());
    }
}
