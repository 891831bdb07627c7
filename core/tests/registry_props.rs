//! Property tests: random sequences of opens, requests (any method, prefetch or not), time,
//! finished streams and closed connections against the service worker's registry.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use proptest::prelude::*;
use sluice_core::registry::Event;
use sluice_core::{DownloadId, FileMeta, Limits, Registry};

#[derive(Debug, Clone)]
enum Op {
    Open { connection: u64, id: u8, expire_ms: u64 },
    Request { id: u8, get: bool, prefetch: bool },
    Advance(u64),
    Finished(u8),
    ConnectionClosed(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..3, 0u8..6, 1u64..5000).prop_map(|(connection, id, expire_ms)| Op::Open { connection, id, expire_ms }),
        4 => (0u8..6, prop::bool::weighted(0.8), prop::bool::weighted(0.1))
            .prop_map(|(id, get, prefetch)| Op::Request { id, get, prefetch }),
        3 => (0u64..4000).prop_map(Op::Advance),
        1 => (0u8..6).prop_map(Op::Finished),
        1 => (0u64..3).prop_map(Op::ConnectionClosed),
    ]
}

/// A body is (download, which open of it): each may be handed out once, in one place.
type Body = (u8, u32);

proptest! {
    #[test]
    fn every_body_is_handed_out_once_and_every_request_answered(
        ops in prop::collection::vec(op(), 1..200),
        per_connection in 1usize..5,
        total in 1usize..8,
    ) {
        let limits = Limits { per_connection, total, waiting_requests: 4, open_grace: Duration::from_millis(3000) };
        let mut reg: Registry<Body, u32> = Registry::new(limits);
        let mut now = Duration::ZERO;
        let mut opens: HashMap<u8, u32> = HashMap::new();
        let mut handed_out: HashSet<Body> = HashSet::new();
        let mut opened: HashSet<Body> = HashSet::new();
        let mut asked = 0u32;
        let mut answered: HashSet<u32> = HashSet::new();
        let meta = FileMeta { name: "x.bin".into(), size: None, content_type: None };
        let take = |body: Body, handed_out: &mut HashSet<Body>| {
            prop_assert!(handed_out.insert(body), "body {:?} handed out twice", body);
            Ok(())
        };
        for op in ops {
            match op {
                Op::Open { connection, id, expire_ms } => {
                    let n = opens.entry(id).or_default();
                    *n += 1;
                    let body = (id, *n);
                    let result = reg.handle_open(now, connection, DownloadId::from_u128(id.into()), meta.clone(), Duration::from_millis(expire_ms), body);
                    if result.is_ok() {
                        opened.insert(body);
                    }
                    prop_assert!(reg.len() <= total);
                    prop_assert!(reg.len_on(connection) <= per_connection);
                }
                Op::Request { id, get, prefetch } => {
                    asked += 1;
                    let method = if get { "GET" } else { "HEAD" };
                    reg.handle_request(now, DownloadId::from_u128(id.into()), method, prefetch, asked);
                }
                Op::Advance(ms) => {
                    now += Duration::from_millis(ms);
                    reg.handle_timeout(now);
                    prop_assert!(reg.poll_timeout().is_none_or(|t| t > now), "a timeout left in the past");
                }
                Op::Finished(id) => {
                    reg.handle_finished(DownloadId::from_u128(id.into()));
                }
                Op::ConnectionClosed(connection) => {
                    for body in reg.handle_connection_closed(connection) {
                        take(body, &mut handed_out)?;
                    }
                    prop_assert!(reg.handle_connection_closed(connection).is_empty(), "closed twice");
                }
            }
            while let Some(event) = reg.poll_event() {
                match event {
                    Event::Answer { waiter, answer } => {
                        prop_assert!(answered.insert(waiter), "request {} answered twice", waiter);
                        if let Ok(claimed) = answer {
                            prop_assert_eq!(DownloadId::from_u128(claimed.body.0.into()), claimed.id);
                            take(claimed.body, &mut handed_out)?;
                        }
                    }
                    Event::Expired { id, body, .. } => {
                        prop_assert_eq!(DownloadId::from_u128(body.0.into()), id);
                        take(body, &mut handed_out)?;
                    }
                }
            }
        }
        // Long after: every request has its answer, every body one place.
        now += Duration::from_secs(3600);
        reg.handle_timeout(now);
        while let Some(event) = reg.poll_event() {
            match event {
                Event::Answer { waiter, answer } => {
                    prop_assert!(answered.insert(waiter));
                    prop_assert!(answer.is_err(), "nothing can be claimed after an hour");
                }
                Event::Expired { body, .. } => take(body, &mut handed_out)?,
            }
        }
        prop_assert_eq!(answered.len() as u32, asked, "a request was never answered");
        prop_assert!(handed_out.is_subset(&opened));
        prop_assert_eq!(handed_out.len(), opened.len(), "an opened body was lost");
        prop_assert_eq!(reg.waiting_requests(), 0);
    }

    #[test]
    fn only_get_requests_that_are_not_prefetches_use_a_url_up(prefetch in any::<bool>(), method in "[A-Z]{3,7}") {
        let mut reg: Registry<u8, u8> = Registry::new(Limits::default());
        let meta = FileMeta { name: "x.bin".into(), size: None, content_type: None };
        let id = DownloadId::from_u128(1);
        reg.handle_open(Duration::ZERO, 1, id, meta, Duration::from_secs(60), 9).unwrap();
        reg.handle_request(Duration::ZERO, id, &method, prefetch, 1);
        let first = reg.poll_event();
        reg.handle_request(Duration::ZERO, id, "GET", false, 2);
        let second = reg.poll_event();
        let served_first = matches!(first, Some(Event::Answer { answer: Ok(_), .. }));
        prop_assert_eq!(served_first, method == "GET" && !prefetch);
        prop_assert_eq!(matches!(second, Some(Event::Answer { answer: Ok(_), .. })), !served_first);
    }
}
