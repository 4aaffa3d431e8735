#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Fuzz properties: arbitrary bytes and grammar-built JSON through the SSE codec (any chunk
//! split, tight limits), the request peek and model rewrite, the error envelopes and the stream
//! markers. Nothing may panic; a rewritten body is JSON with the new model, error bodies and
//! events are JSON.
//!
//! The case count is kept small so the file runs in seconds in debug builds; set
//! `PROPTEST_CASES` for a longer run.

use proptest::prelude::*;
use relaygate_protocol::Protocol;
use relaygate_protocol::errors::{ErrorKind, error_body, stream_error_event};
use relaygate_protocol::peek::{peek_request, rewrite_model};
use relaygate_protocol::sse::{SseDecoder, SseEvent};
use relaygate_protocol::stream::{is_heartbeat, is_terminal};
use serde_json::Value;

use relaygate_testkit::fuzz::*;

const KINDS: [ErrorKind; 11] = [
    ErrorKind::InvalidRequest,
    ErrorKind::Authentication,
    ErrorKind::PermissionDenied,
    ErrorKind::NotFound,
    ErrorKind::RequestTooLarge,
    ErrorKind::RateLimited,
    ErrorKind::Internal,
    ErrorKind::BadGateway,
    ErrorKind::Unavailable,
    ErrorKind::Timeout,
    ErrorKind::ClientTimeout,
];

/// SSE-ish bytes: encoded grammar events with stray line breaks and fields, or raw bytes.
fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(sse_event(), 0..6).prop_map(|evs| {
            let mut b = Vec::new();
            for e in &evs {
                e.encode_into(&mut b);
            }
            b
        }),
        prop::collection::vec(
            prop_oneof![
                Just(&b"\n"[..]),
                Just(&b"\r"[..]),
                Just(&b"\r\n"[..]),
                Just(&b"data:"[..]),
                Just(&b"event: "[..]),
                Just(&b"id:"[..]),
                Just(&b"retry: 99999999999999999999"[..]),
                Just(&b":"[..]),
                Just(&b"data: {\"a\":1}"[..]),
                Just(&b"\xff\xfe"[..]),
            ]
            .prop_map(<[u8]>::to_vec),
            0..40
        )
        .prop_map(|parts| parts.concat()),
        prop::collection::vec(any::<u8>(), 0..128),
    ]
}

/// Feeds `bytes` cut at `cuts` into a decoder with `limit`; errors are answers, not panics.
fn feed_all(bytes: &[u8], cuts: &[usize], limit: usize) -> Vec<SseEvent> {
    let mut d = SseDecoder::with_limit(limit);
    let mut out = Vec::new();
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut prev = 0;
    for c in cuts.into_iter().chain([bytes.len()]) {
        if let Ok(fed) = d.feed(&bytes[prev..c], &mut out) {
            assert!(fed.last_boundary.is_none_or(|b| b <= c - prev));
        }
        let _ = d.is_mid_event();
        prev = c;
    }
    d.finish(&mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn sse_decoder_takes_any_bytes_in_any_chunks(
        bytes in sse_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        limit in prop_oneof![Just(0usize), 1usize..64, Just(relaygate_protocol::sse::DEFAULT_MAX_EVENT_BYTES)],
    ) {
        let chunked = feed_all(&bytes, &cuts, limit);
        if limit == relaygate_protocol::sse::DEFAULT_MAX_EVENT_BYTES {
            // Within the limit, chunking never changes the events.
            prop_assert_eq!(chunked, feed_all(&bytes, &[], limit));
        }
    }

    #[test]
    fn sse_events_encode_and_markers_read_anything(
        event in proptest::option::of("\\PC{0,12}"),
        data in prop_oneof!["\\PC{0,32}", "[\r\n a-z:]{0,32}", object().prop_map(|v| v.to_string())],
        id in proptest::option::of("[^\r\n]{0,8}"),
        retry in proptest::option::of(any::<u64>()),
    ) {
        let e = SseEvent { event, data, id, retry };
        let wire = e.encode();
        let _ = feed_all(&wire, &[], relaygate_protocol::sse::DEFAULT_MAX_EVENT_BYTES);
        let _ = is_heartbeat(&e);
        for p in Protocol::ALL {
            let _ = is_terminal(p, &e);
        }
        let _ = e.name();
    }

    #[test]
    fn peek_reads_or_refuses_any_body(body in body()) {
        let peeked = peek_request(&body);
        if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&body)
            && let Ok(p) = &peeked
        {
            prop_assert_eq!(p.model.as_deref(), m.get("model").and_then(Value::as_str));
        }
    }

    #[test]
    fn rewrites_give_json_with_the_new_model(body in body(), model in "\\PC{0,16}") {
        let rewritten = rewrite_model(&body, &model);
        // serde skips unread fields without checking every escape (a lone `\ud800` in a nested
        // key passes), so only a body that parses as a tree must give one back.
        if let (Ok(out), Ok(_)) = (rewritten, serde_json::from_slice::<Value>(&body)) {
            let v: Value = serde_json::from_slice(&out)
                .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&out))))?;
            prop_assert_eq!(v.get("model").and_then(Value::as_str), Some(model.as_str()));
            if let Ok(p) = peek_request(&out) {
                prop_assert_eq!(p.model.as_deref(), Some(model.as_str()));
            }
        }
    }

    #[test]
    fn error_envelopes_are_json(message in "\\PC{0,40}", kind in prop::sample::select(KINDS.to_vec()), seq in any::<u64>()) {
        for p in Protocol::ALL {
            prop_assert!(is_json(&error_body(p, kind, &message)));
            let events = feed_all(&stream_error_event(p, kind, &message, seq), &[], 1 << 20);
            prop_assert!(!events.is_empty());
            for e in &events {
                prop_assert!(is_json(e.data.as_bytes()), "{p}: {:?}", e.data);
            }
        }
        let _ = kind.status();
        let _ = message.parse::<Protocol>();
    }
}

// ---------------------------------------------------------------- nesting far past the limit

#[test]
fn bodies_nested_100_000_deep_are_refused_not_overflowed() {
    let deep = deep_array(100_000);
    for body in [
        format!(r#"{{"model":"m","messages":{deep}}}"#),
        format!(r#"{{"messages":{deep},"model":"m"}}"#),
        format!(r#"{{"stream":{deep}}}"#),
        deep.clone(),
    ] {
        assert!(peek_request(body.as_bytes()).is_err());
        assert!(rewrite_model(body.as_bytes(), "x").is_err());
    }
}
