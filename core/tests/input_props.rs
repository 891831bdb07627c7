//! Property tests: whatever arrives from the other side of postMessage, or from the app as a
//! file name, is handled without a panic and within the rules.
#![allow(clippy::unwrap_used, missing_docs)]

use proptest::prelude::*;
use serde_json::{json, Value};
use sluice_core::{content_disposition, sanitize_filename, DecodeError, DownloadId, DownloadUrl, Frame};

fn decode(value: &Value) -> Result<Frame, DecodeError> {
    Frame::decode(value)
}

/// Arbitrary JSON values, biased towards the field names and kinds frames use.
fn value() -> impl Strategy<Value = Value> {
    let word = prop_oneof![
        Just("v".to_string()),
        Just("body".to_string()),
        Just("kind".to_string()),
        Just("msg".to_string()),
        Just("type".to_string()),
        Just("id".to_string()),
        Just("seq".to_string()),
        Just("len".to_string()),
        Just("tell".to_string()),
        Just("request".to_string()),
        Just("reply".to_string()),
        Just("chunk".to_string()),
        Just("open".to_string()),
        Just("grant".to_string()),
        Just("req".to_string()),
        Just("meta".to_string()),
        "[a-z_]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(Value::from(1)),
        word.clone().prop_map(Value::from),
        Just(Value::from("00000000000000000000000000000007")),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((word.clone(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

fn valid_frames() -> Vec<Value> {
    let id = "00000000000000000000000000000007";
    vec![
        json!({"v": 2, "body": {"kind": "hello"}}),
        json!({"v": 2, "body": {"kind": "tell", "msg": {"type": "chunk", "id": id, "seq": 3, "len": 65536}}}),
        json!({"v": 2, "body": {"kind": "request", "req": {"slot": 1, "generation": 2},
            "msg": {"type": "open", "id": id, "meta": {"name": "a.txt", "size": 10, "content_type": null},
                    "path": "fallback", "window_chunks": 8, "window_bytes": 8388608, "expire_after_ms": 60000}}}),
        json!({"v": 2, "body": {"kind": "reply", "req": {"slot": 1, "generation": 2},
            "msg": {"type": "error", "id": null, "code": "no_such_actor", "message": "x"}}}),
    ]
}

/// Replaces the value at a random path in `frame` with `replacement`.
fn mutate(node: &mut Value, mut choices: Vec<usize>, replacement: Value) {
    match (choices.pop(), node) {
        (Some(choice), Value::Object(map)) if !map.is_empty() => {
            let key = map.keys().nth(choice % map.len()).cloned().unwrap();
            mutate(map.get_mut(&key).unwrap(), choices, replacement);
        }
        (_, node) => *node = replacement,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
            let _ = decode(&value);
        }
    }

    #[test]
    fn arbitrary_values_never_panic(value in value()) {
        if let Ok(frame) = decode(&value) {
            // Whatever decodes re-encodes to something that decodes the same.
            let again = Value::from(frame.encode());
            prop_assert_eq!(decode(&again).unwrap(), frame);
        }
    }

    #[test]
    fn mutated_frames_never_panic(which in 0usize..4, path in prop::collection::vec(any::<usize>(), 0..5), replacement in value()) {
        let mut frame = valid_frames().swap_remove(which);
        mutate(&mut frame, path, replacement);
        let _ = decode(&frame);
    }

    #[test]
    fn sanitized_names_are_safe(name in any::<String>()) {
        let clean = sanitize_filename(&name);
        prop_assert!(!clean.is_empty() && clean.len() <= sluice_core::headers::MAX_FILENAME_BYTES);
        prop_assert!(!clean.chars().any(|c| c.is_control() || c == '/' || c == '\\'));
        let bidi = clean.chars().any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'));
        prop_assert!(!bidi);
        for edge in [clean.chars().next().unwrap(), clean.chars().last().unwrap()] {
            prop_assert!(edge != '.' && !edge.is_whitespace());
        }
        prop_assert_eq!(sanitize_filename(&clean), clean.clone());
        let header = content_disposition(&name);
        prop_assert!(header.is_ascii() && !header.contains(['\r', '\n', '\0']));
    }

    #[test]
    fn urls_round_trip_and_garbage_is_not_ours(bits in any::<u128>(), name in any::<String>(), junk in ".{0,80}") {
        let scope = "https://example.test/app/";
        let id = DownloadId::from_u128(bits);
        let clean = sanitize_filename(&name);
        let url = DownloadUrl::build(scope, id, &clean);
        prop_assert_eq!(DownloadUrl::parse(scope, &url), Some(DownloadUrl { id, filename: clean }));
        let _ = DownloadUrl::parse(scope, &junk);
        let _ = DownloadUrl::parse(scope, &format!("{scope}sluice/{junk}"));
    }
}

#[test]
fn valid_frames_decode() {
    for frame in valid_frames() {
        decode(&frame).unwrap();
    }
}
