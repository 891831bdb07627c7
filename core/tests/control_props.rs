//! Property test: every message to the service worker itself, and of a hand-off between a page
//! and its worker, decodes to what was encoded, and any other value (garbage, another app's
//! message, a wrong type) decodes to `None`, never a panic.
#![allow(clippy::unwrap_used, missing_docs)]

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use sluice_core::{FromPage, ToPage, ToServiceWorker};

/// What `write` writes, as a JSON object.
fn written(write: impl FnOnce(&mut Map<String, Value>)) -> Value {
    let mut out = Map::new();
    write(&mut out);
    Value::Object(out)
}

fn message() -> impl Strategy<Value = ToServiceWorker> {
    prop_oneof![
        any::<bool>().prop_map(|debug| ToServiceWorker::Connect { debug }),
        Just(ToServiceWorker::Run),
        Just(ToServiceWorker::Stats),
        Just(ToServiceWorker::Idle),
        Just(ToServiceWorker::TakeOver),
        Just(ToServiceWorker::Keepalive),
    ]
}

fn to_page() -> impl Strategy<Value = ToPage> {
    prop_oneof![
        Just(ToPage::Port),
        (".*", any::<bool>()).prop_map(|(url, navigate)| ToPage::Open { url, navigate }),
        (".*", any::<bool>()).prop_map(|(url, finished)| ToPage::Ended { url, finished }),
        Just(ToPage::Active),
        (".*", 0..=(1u64 << 53) - 1, proptest::option::of(".*")).prop_map(|(name, bytes, staged)| ToPage::Save {
            name,
            bytes,
            staged
        }),
        Just(ToPage::Bye),
        ".*".prop_map(|lock| ToPage::Alive { lock }),
    ]
}

fn from_page() -> impl Strategy<Value = FromPage> {
    prop_oneof![
        ".*".prop_map(|scope| FromPage::Port { scope }),
        Just(FromPage::Local),
        ".*".prop_map(|error| FromPage::PortFailed { error }),
        proptest::option::of(".*").prop_map(|error| FromPage::Saved { error }),
    ]
}

fn garbage() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::vec(("(sluice|logLevel|url|name|bytes|scope|error|local|lock|[a-z]{1,6})", inner), 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn what_is_encoded_decodes_back(message in message()) {
        let value = written(|o| message.write(o));
        prop_assert_eq!(ToServiceWorker::decode(&value), Some(message));
    }

    #[test]
    fn a_hand_off_message_decodes_back(to in to_page(), from in from_page()) {
        prop_assert_eq!(ToPage::decode(&written(|o| to.write(o))), Some(to));
        prop_assert_eq!(FromPage::decode(&written(|o| from.write(o))), Some(from));
    }

    #[test]
    fn garbage_is_no_hand_off_message_of_another_kind(value in garbage()) {
        let kind = value.get("sluice").and_then(Value::as_str).map(str::to_owned);
        if let Some(message) = ToPage::decode(&value) {
            let encoded = written(|o| message.write(o));
            prop_assert_eq!(encoded.get("sluice").and_then(Value::as_str), kind.as_deref());
        }
        if let Some(message) = FromPage::decode(&value) {
            let encoded = written(|o| message.write(o));
            prop_assert_eq!(encoded.get("sluice").and_then(Value::as_str), kind.as_deref());
        }
    }

    #[test]
    fn anything_else_is_none_and_never_a_panic(value in garbage()) {
        let decoded = ToServiceWorker::decode(&value);
        let kind = value.get("sluice").and_then(Value::as_str);
        let ours = ["connect", "instance", "stats", "idle", "take-over", "keepalive"];
        prop_assert_eq!(decoded.is_some(), kind.is_some_and(|k| ours.contains(&k)), "{:?} -> {:?}", value, decoded);
    }
}

#[test]
fn a_connect_asks_for_debug_logs_only_with_log_level_debug() {
    let decode = |v: Value| ToServiceWorker::decode(&v);
    assert_eq!(decode(json!({ "sluice": "connect" })), Some(ToServiceWorker::Connect { debug: false }));
    assert_eq!(
        decode(json!({ "sluice": "connect", "logLevel": "debug" })),
        Some(ToServiceWorker::Connect { debug: true })
    );
    assert_eq!(decode(json!({ "sluice": "connect", "logLevel": 7 })), Some(ToServiceWorker::Connect { debug: false }));
    assert_eq!(decode(json!({ "sluice": ["connect"] })), None);
    assert_eq!(decode(json!("connect")), None);
}

#[test]
fn a_hand_off_message_missing_what_it_needs_is_none() {
    assert_eq!(ToPage::decode(&json!({ "sluice": "open" })), None, "no url");
    assert_eq!(ToPage::decode(&json!({ "sluice": "save", "name": "a", "bytes": -1 })), None);
    assert_eq!(ToPage::decode(&json!({ "sluice": "save", "name": "a", "bytes": 1.5 })), None);
    assert_eq!(ToPage::decode(&json!({ "sluice": "save", "name": "a", "bytes": 9007199254740992.0 })), None);
    assert_eq!(FromPage::decode(&json!({ "sluice": "port" })), None, "neither a port, an error nor local");
    assert_eq!(
        ToPage::decode(&json!({ "sluice": "ended", "url": "u", "finished": true })),
        Some(ToPage::Ended { url: "u".into(), finished: false }),
        "only 1 means finished"
    );
}

#[derive(Debug, Clone)]
enum Op {
    /// The worker asks to open a new download URL: the registration's, or another scope's.
    Open { ours: bool },
    /// The worker says the `n`th URL it asked for ended.
    Ended(usize),
    /// The serving ends (bye, or the worker is gone).
    End,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<bool>().prop_map(|ours| Op::Open { ours }),
        3 => (0usize..16).prop_map(Op::Ended),
        1 => Just(Op::End),
    ]
}

proptest! {
    /// Every URL the page opened for a worker is let go of exactly once (when the worker says
    /// it ended, or when the serving ends); no other scope's URL is opened; an `ended` for a URL
    /// the page did not open (or let go of already) lets go of nothing.
    #[test]
    fn each_opened_url_is_let_go_of_once(ops in prop::collection::vec(op(), 0..40), scoped in any::<bool>()) {
        let scope = "https://app.example/";
        let mut opened = sluice_core::Opened::new(scoped.then(|| scope.to_owned()));
        let mut asked: Vec<String> = Vec::new();
        let mut let_go: Vec<String> = Vec::new();
        let mut open_now: Vec<String> = Vec::new();
        let mut ended = false;
        for op in ops {
            match op {
                Op::Open { ours } => {
                    let base = if ours { scope } else { "https://other.example/" };
                    let url = format!("{base}sluice/{:032x}/f.bin", asked.len() + 1);
                    asked.push(url.clone());
                    let may = opened.may_open(&url);
                    prop_assert_eq!(may, ours && scoped, "{}", url);
                    if may && !ended {
                        opened.handle_opened(url.clone());
                        open_now.push(url);
                    }
                }
                Op::Ended(n) => {
                    let Some(url) = asked.get(n) else { continue };
                    let released = opened.handle_ended(url);
                    prop_assert_eq!(released, open_now.contains(url));
                    if released {
                        open_now.retain(|u| u != url);
                        let_go.push(url.clone());
                    }
                }
                Op::End => {
                    let rest = opened.end();
                    prop_assert_eq!(&rest, &open_now);
                    let_go.extend(rest);
                    open_now.clear();
                    ended = true;
                }
            }
        }
        let_go.extend(opened.end());
        let mut once = let_go.clone();
        once.sort();
        once.dedup();
        prop_assert_eq!(once.len(), let_go.len(), "a URL let go of twice: {:?}", let_go);
        prop_assert!(let_go.iter().all(|u| u.starts_with(scope)), "only the registration's URLs");
    }
}
