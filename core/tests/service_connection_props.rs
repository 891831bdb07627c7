//! Property test: whatever a page opens and ends, whenever it says hello or goes, the service
//! worker's side of its connection pings it on schedule while downloads are open, polls nothing
//! while none is (once the handshake is done), ends a page that never said hello at the ping
//! timeout, keeps the first reason it ends for, and hands back every download still open, once.
#![allow(clippy::unwrap_used, missing_docs)]

use std::rc::Rc;
use std::time::Duration;

mod common;

use common::Dl;
use proptest::prelude::*;
use sluice_core::{Carried, Ended, ServiceConnection, Watch};

#[derive(Debug, Clone)]
enum Op {
    Open,
    Finish(usize),
    Hello,
    Advance(u64),
    End(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Open),
        3 => any::<usize>().prop_map(Op::Finish),
        1 => Just(Op::Hello),
        6 => (1..8_000u64).prop_map(Op::Advance),
        1 => any::<u8>().prop_map(Op::End),
    ]
}

fn ended(kind: u8) -> Ended {
    match kind % 6 {
        0 => Ended::Bye,
        1 => Ended::BusFailed,
        2 => Ended::PortClosed,
        3 => Ended::ClientGone,
        4 => Ended::NoPong("timed out".into()),
        _ => Ended::NoHello,
    }
}

const PERIOD: Duration = Duration::from_secs(1);
const PING_EVERY: u32 = 5;
const PING_TIMEOUT: Duration = Duration::from_secs(15);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn the_service_worker_watches_on_schedule_and_ends_everything(
        ops in prop::collection::vec(op(), 1..60),
        close_events in any::<bool>(),
    ) {
        let start = Duration::from_secs(100);
        let mut now = start;
        let mut state = ServiceConnection::new(Watch::new(PERIOD, PING_EVERY, PING_TIMEOUT, close_events), now);
        let mut downloads: Vec<Dl> = Vec::new();
        let mut hello = false;
        // The state learns of the hello at its next timeout (the driver looks at the bus then).
        let mut hello_told = false;
        let mut first_end: Option<Ended> = None;
        // Downloads open without a break since, and the last ping.
        let mut open_since: Option<Duration> = None;
        let mut last_ping: Option<Duration> = None;
        let mut end = None;
        for op in ops {
            match op.clone() {
                Op::Open => {
                    let dl = Dl { id: downloads.len(), finished: Rc::default() };
                    downloads.push(dl.clone());
                    state.handle_opened(dl, now);
                }
                Op::Finish(i) if !downloads.is_empty() => downloads[i % downloads.len()].finished.set(true),
                Op::Finish(_) => {}
                Op::Hello => hello = true,
                Op::End(kind) => {
                    first_end.get_or_insert(ended(kind));
                    state.handle_end(ended(kind));
                }
                Op::Advance(ms) => {
                    let until = now + Duration::from_millis(ms);
                    loop {
                        let open = downloads.iter().any(|d| !d.is_finished());
                        if open && open_since.is_none() {
                            open_since = Some(now);
                        } else if !open {
                            open_since = None;
                        }
                        let deadline = state.poll_deadline(now);
                        if !open && hello_told {
                            prop_assert_eq!(deadline, None, "polled with nothing open, after the hello");
                        }
                        if let Some(since) = open_since {
                            let watched = last_ping.map_or(since, |p| p.max(since));
                            prop_assert!(now - watched <= PERIOD * PING_EVERY, "no ping for {:?} while downloads are open", now - watched);
                        }
                        match deadline {
                            Some(due) if due <= until => {
                                now = now.max(due);
                                hello_told |= hello;
                                if let Some(tick) = state.handle_timeout(now, hello) {
                                    prop_assert_eq!(tick.check_client, !close_events, "client checks only where the port has no close event");
                                    if tick.ping {
                                        last_ping = Some(now);
                                    }
                                }
                                if !hello && first_end.is_none() && now >= start + PING_TIMEOUT {
                                    first_end = Some(Ended::NoHello);
                                }
                            }
                            _ => {
                                now = until;
                                break;
                            }
                        }
                        if end.is_some() || first_end.is_some() {
                            break;
                        }
                    }
                }
            }
            // Ends that come together (before the driver's next pass) are told at the next pass.
            if matches!(op, Op::Advance(_)) {
                if let Some((why, open)) = state.poll_end() {
                    end = Some((why, open));
                    break;
                }
            }
        }
        match (end, first_end) {
            (Some((why, open)), Some(first)) => {
                prop_assert_eq!(why, first, "the first reason wins");
                let mut open: Vec<usize> = open.iter().map(|d| d.id).collect();
                open.sort_unstable();
                let unfinished: Vec<usize> = downloads.iter().filter(|d| !d.is_finished()).map(|d| d.id).collect();
                prop_assert_eq!(open, unfinished, "every download still open is handed back to fail");
                prop_assert!(state.poll_end().is_none(), "the end is told once");
            }
            (None, None) => {}
            (None, Some(_)) => prop_assert!(state.poll_end().is_some(), "an end is told at the next pass"),
            (end, first) => prop_assert!(false, "ended {:?}, expected {:?}", end.map(|e| e.0), first),
        }
    }
}

#[test]
fn a_page_that_never_says_hello_is_ended_at_the_ping_timeout() {
    let s = Duration::from_secs;
    let mut state: ServiceConnection<Dl> = ServiceConnection::new(Watch::new(s(1), 5, s(15), false), s(0));
    assert_eq!(state.poll_deadline(s(0)), Some(s(15)));
    assert_eq!(state.handle_timeout(s(15), false), None);
    assert_eq!(state.poll_end().map(|e| e.0), Some(Ended::NoHello));
    let mut greeted: ServiceConnection<Dl> = ServiceConnection::new(Watch::new(s(1), 5, s(15), false), s(0));
    assert_eq!(greeted.handle_timeout(s(15), true), None);
    assert!(greeted.poll_end().is_none(), "a page that said hello stays");
    assert_eq!(greeted.poll_deadline(s(16)), None, "and costs nothing while idle");
}
