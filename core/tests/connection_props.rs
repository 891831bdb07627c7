//! Property test: whatever downloads start and end, whichever service-worker runs die and
//! whenever the connection closes, the page's connection answers every attach once, runs one
//! check and one keepalive round at a time, notices a dead bus within two keepalive periods
//! while downloads run on it (closed or not), ends every download, says goodbye on a bus only
//! once its downloads ended, and polls nothing while none runs.
#![allow(clippy::unwrap_used, missing_docs)]

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

mod common;

use common::Dl;
use proptest::prelude::*;
use sluice_core::{Action, Checked, PageConnection, Refusal};

/// A bus: its number (the service worker's run it reaches is dead once killed).
type Bus = u32;

#[derive(Debug, Clone)]
enum Op {
    Attach,
    /// The running check ends.
    Answer,
    /// Download `n` (modulo those running) closes or aborts.
    Finish(usize),
    /// The service worker restarts: every bus so far is dead.
    Restart,
    /// Time passes (ms).
    Wait(u64),
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Attach),
        3 => Just(Op::Answer),
        2 => any::<usize>().prop_map(Op::Finish),
        1 => Just(Op::Restart),
        4 => (1u64..12_000).prop_map(Op::Wait),
        1 => Just(Op::Close),
    ]
}

const KEEPALIVE: Duration = Duration::from_secs(10);
/// A live bus answers a ping in this time.
const ANSWER: Duration = Duration::from_millis(40);

#[derive(Debug, PartialEq)]
enum Fate {
    Waiting,
    /// Since `at`.
    Running {
        bus: Bus,
        at: Duration,
    },
    Refused,
    Lost,
    /// Told that the connection closed, at `at`; it may still wait for its answer.
    Closed {
        bus: Bus,
        at: Duration,
    },
}

struct Sim {
    conn: PageConnection<Bus, Dl, usize, String>,
    now: Duration,
    next_bus: Bus,
    /// Buses at or below this number are dead, since this time.
    dead_below: Option<(Bus, Duration)>,
    fates: Vec<Fate>,
    finished: Vec<Rc<Cell<bool>>>,
    /// The check that runs: whether the bus it looks at answered (decided when it starts: the
    /// bus may die before the check reports).
    check: Option<bool>,
    /// The keepalive round that runs, and when its pings are answered or time out.
    round: Option<(Duration, Vec<(u64, Bus)>)>,
    /// How long a ping to a dead bus takes to time out.
    ping_timeout: Duration,
}

impl Sim {
    fn dead(&self, bus: Bus) -> bool {
        self.dead_below.is_some_and(|(below, _)| bus <= below)
    }

    /// Carries out the connection's actions, checking the invariants as they come.
    fn act(&mut self) {
        while let Some(action) = self.conn.poll_action() {
            match action {
                Action::Check(current) => {
                    assert!(self.check.is_none(), "two checks at once");
                    self.check = Some(current.is_some_and(|bus| !self.dead(bus)));
                }
                Action::Round(buses) => {
                    assert!(self.round.is_none(), "two keepalive rounds at once");
                    // Its pings end with the slowest: a dead bus's timeout.
                    let slowest = if buses.iter().any(|(_, bus)| self.dead(*bus)) { self.ping_timeout } else { ANSWER };
                    self.round = Some((self.now + slowest, buses));
                }
                Action::Bye(bye) => {
                    let carried = self.running().into_iter().find(|&n| self.bus_of(n) == Some(bye));
                    assert!(carried.is_none(), "goodbye on bus {bye} while download {carried:?} runs on it");
                }
                Action::Attached(n, bus) => {
                    assert_eq!(self.fates[n], Fate::Waiting, "download {n} answered twice");
                    self.fates[n] = Fate::Running { bus, at: self.now };
                }
                Action::Refused(n, why) => {
                    assert_eq!(self.fates[n], Fate::Waiting, "download {n} answered twice");
                    assert!(
                        why != Refusal::Closed || self.conn.is_closed(),
                        "download {n} refused as closed: it is not"
                    );
                    self.fates[n] = Fate::Refused;
                }
                Action::Lost(d) => {
                    let (Fate::Running { bus, at } | Fate::Closed { bus, at }) = self.fates[d.id] else {
                        panic!("download {} lost twice", d.id)
                    };
                    assert!(self.dead(bus), "a live bus's download lost");
                    if let Some((_, since)) = self.dead_below {
                        // Counted from the bus's death, or from the attach to a bus already dead.
                        let late = self.now.saturating_sub(since.max(at));
                        // Two periods where the timeout is at most one (the defaults: 10 s each).
                        let bound = KEEPALIVE + self.ping_timeout.max(ANSWER);
                        assert!(late <= bound, "download {} lost {late:?} after its bus died", d.id);
                    }
                    self.fates[d.id] = Fate::Lost;
                }
                Action::Closed(d) => {
                    let Fate::Running { bus, at } = self.fates[d.id] else { panic!("download {} closed twice", d.id) };
                    self.fates[d.id] = Fate::Closed { bus, at };
                }
            }
        }
    }

    /// The driver's side of a check: done at once (a real one takes a round trip).
    fn answer_check(&mut self) {
        if let Some(answered) = self.check.take() {
            let checked = match answered {
                true => Checked::Alive,
                false => {
                    self.next_bus += 1;
                    Checked::Connected { bus: self.next_bus, intercepts: true }
                }
            };
            self.conn.handle_checked(Ok(checked));
            self.act();
        }
    }

    /// Lets time pass to `until`, with the keepalive deadlines and ping answers between.
    fn wait(&mut self, until: Duration) {
        loop {
            let deadline = self.conn.poll_deadline(self.now);
            let answered = self.round.as_ref().map(|(at, _)| *at);
            let next = [deadline, answered].into_iter().flatten().min().filter(|&t| t <= until);
            let Some(next) = next else { break };
            self.now = self.now.max(next);
            if answered == Some(next) {
                let (_, buses) = self.round.take().unwrap();
                let dead: Vec<u64> = buses.iter().filter(|(_, bus)| self.dead(*bus)).map(|(id, _)| *id).collect();
                self.conn.handle_pinged(&dead);
            } else {
                self.conn.handle_timeout(self.now);
            }
            self.act();
        }
        self.now = until;
    }

    /// The downloads that have not ended, closed ones included.
    fn running(&self) -> Vec<usize> {
        (0..self.fates.len()).filter(|&n| self.bus_of(n).is_some() && !self.finished[n].get()).collect()
    }

    fn bus_of(&self, n: usize) -> Option<Bus> {
        match self.fates[n] {
            Fate::Running { bus, .. } | Fate::Closed { bus, .. } => Some(bus),
            _ => None,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn every_attach_is_answered_once_and_a_dead_bus_is_noticed_within_two_periods(
        ops in prop::collection::vec(op(), 1..80),
        ping_timeout_ms in 100u64..20_000,
    ) {
        let mut sim = Sim {
            conn: PageConnection::new(0, KEEPALIVE),
            now: Duration::ZERO,
            next_bus: 0,
            dead_below: None,
            fates: Vec::new(),
            finished: Vec::new(),
            check: None,
            round: None,
            ping_timeout: Duration::from_millis(ping_timeout_ms),
        };
        for op in ops {
            match op {
                Op::Attach => {
                    let finished = Rc::new(Cell::new(false));
                    let id = sim.fates.len();
                    sim.fates.push(Fate::Waiting);
                    sim.finished.push(finished.clone());
                    sim.conn.handle_attach(Dl { id, finished }, id);
                    sim.act();
                }
                Op::Answer => sim.answer_check(),
                Op::Finish(n) => {
                    let running = sim.running();
                    if !running.is_empty() {
                        sim.finished[running[n % running.len()]].set(true);
                    }
                }
                Op::Restart => {
                    // Only the first death is timed: later ones restart the clock of none.
                    if sim.dead_below.is_none() {
                        sim.dead_below = Some((sim.next_bus, sim.now));
                    }
                }
                Op::Wait(ms) => {
                    let until = sim.now + Duration::from_millis(ms);
                    sim.wait(until);
                }
                Op::Close => {
                    sim.conn.handle_close();
                    sim.act();
                }
            }
            if sim.running().is_empty() && sim.round.is_none() {
                prop_assert_eq!(sim.conn.poll_deadline(sim.now), None, "nothing runs, yet a deadline");
            }
        }
        // Every check answered, then two more periods: every download on a dead bus is lost by then.
        while sim.check.is_some() {
            sim.answer_check();
        }
        let until = sim.now + 2 * KEEPALIVE + sim.ping_timeout;
        sim.wait(until);
        for n in sim.running() {
            let bus = sim.bus_of(n).unwrap();
            prop_assert!(!sim.dead(bus), "download {} still runs on dead bus {}", n, bus);
        }
        sim.conn.handle_close();
        sim.act();
        for (n, fate) in sim.fates.iter().enumerate() {
            let ended = match fate {
                Fate::Waiting => false,
                Fate::Running { .. } => sim.finished[n].get(),
                Fate::Refused | Fate::Lost | Fate::Closed { .. } => true,
            };
            prop_assert!(ended, "download {} did not end: {:?}", n, fate);
        }
        // Once the closed downloads got their answers, every bus is let go and nothing is polled.
        for finished in &sim.finished {
            finished.set(true);
        }
        sim.act();
        prop_assert!(sim.conn.is_ended(), "closed, every download ended, yet not ended");
        prop_assert_eq!(sim.conn.poll_deadline(sim.now), None);
    }
}
