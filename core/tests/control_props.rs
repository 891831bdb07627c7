//! Property test: every message to the service worker itself decodes to what was encoded, and
//! any other value (garbage, another app's message, a wrong type) decodes to `None`, never a
//! panic.
#![allow(clippy::unwrap_used, missing_docs)]

use proptest::prelude::*;
use serde_json::{json, Value};
use sluice_core::ToServiceWorker;

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
            prop::collection::vec(("(sluice|logLevel|[a-z]{1,6})", inner), 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn what_is_encoded_decodes_back(message in message()) {
        let value = Value::from(message.encode());
        prop_assert_eq!(ToServiceWorker::decode(&value), Some(message));
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
