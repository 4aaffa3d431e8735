#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Every public function is total: arbitrary bytes, headers and numbers never panic.

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use relaygate_detect::{
    Policy, ProbeState, StreamProbe, TransportFailure, classify_http, classify_transport,
    go_duration_ms, http_date_ms, probe_body, retry_after_ms, rfc3339_ms,
};
use relaygate_protocol::Protocol;
use relaygate_protocol::sse::SseEvent;

const HEADER_NAMES: [&str; 14] = [
    "retry-after",
    "x-ratelimit-scope",
    "anthropic-ratelimit-unified-reset",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-output-tokens-reset",
    "x-ratelimit-reset-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-tokens",
    "x-ratelimit-remaining-tokens",
    "content-type",
];

/// Bodies that are mostly near-miss JSON error envelopes, plus raw bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let fragments = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        "\"error\"",
        ":",
        ",",
        "\"type\"",
        "\"code\"",
        "\"message\"",
        "\"status\"",
        "\"1308\"",
        "1310",
        "\"RESOURCE_EXHAUSTED\"",
        "\"details\"",
        "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":",
        "\"9999999999999999h\"",
        "\"reset_seconds\"",
        "1e308",
        "-1",
        "null",
        "\"MODEL_COOLDOWN\"",
        "2025-12-09 18:08:11",
        "9999-12-31 23:59:59",
        "0000-00-00 00:00:00",
        "明天",
        "点",
        "分",
        "用量上限",
        "北京时间",
        "retry in ",
        "retry after ",
        "1.5s",
        "seconds",
        "当前模型负载过高",
        "\"choices\"",
        "\"delta\"",
        "\"content\"",
        "\"candidates\"",
        "\"parts\"",
        "\"text\"",
        "\"response\"",
        "\"failed\"",
        "\"success\"",
        "false",
        "<html>",
        "\u{feff}",
        " ",
        "\n",
    ]);
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        prop::collection::vec(fragments, 0..40).prop_map(|v| v.concat().into_bytes()),
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        "[0-9.:+TZ -]{0,30}",
        "[0-9hmsuµn.]{0,20}",
        Just("Tue, 09 Dec 2025 09:01:00 GMT".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just("9999-12-31T23:59:60.9999999999+23:59".to_owned()),
    ]
}

fn headers() -> impl Strategy<Value = HeaderMap> {
    prop::collection::vec(
        (prop::sample::select(HEADER_NAMES.to_vec()), header_value()),
        0..8,
    )
    .prop_map(|pairs| {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.append(HeaderName::from_static(k), v);
            }
        }
        h
    })
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop::sample::select(Protocol::ALL.to_vec())
}

fn policy() -> impl Strategy<Value = Policy> {
    (any::<u64>(), any::<i32>()).prop_map(|(ms, off)| Policy {
        auth_ms: ms,
        quota_ms: ms,
        rate_limit_ms: ms,
        model_ms: ms,
        server_ms: ms,
        timeout_ms: ms,
        quota_reset_utc_offset_minutes: off,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn classify_http_is_total(status in any::<u16>(), h in headers(), b in body(), now in any::<u64>(), p in policy()) {
        let v = classify_http(status, &h, &b, now, &p);
        prop_assert!(!v.reason.is_empty());
        let v = classify_http(status, &h, &b, now, &Policy::default());
        prop_assert!(v.reason.len() < 1024);
    }

    #[test]
    fn probe_body_is_total(proto in protocol(), ct in proptest::option::of("[ -~]{0,30}"), b in body(), now in any::<u64>(), p in policy()) {
        let _ = probe_body(proto, ct.as_deref(), &b, now, &p);
    }

    #[test]
    fn stream_probe_is_total(proto in protocol(), evs in prop::collection::vec((proptest::option::of(prop::sample::select(vec!["error", "ping", "response.failed", "message_start", "content_block_delta", "response.output_text.delta"])), body()), 0..12), now in any::<u64>()) {
        let mut probe = StreamProbe::new(proto, Policy::default());
        let mut content = false;
        for (name, data) in evs {
            let data = String::from_utf8_lossy(&data).into_owned();
            let ev = match name {
                Some(n) => SseEvent::named(n, data),
                None => SseEvent::data(data),
            };
            match probe.event(&ev, now) {
                ProbeState::Content => content = true,
                // Once content was seen the probe never goes back to Pending.
                ProbeState::Pending => prop_assert!(!content),
                ProbeState::Failed(_) => {}
            }
        }
        prop_assert_eq!(probe.saw_content(), content);
        let _ = probe.eos();
    }

    #[test]
    fn parsers_are_total(s in "\\PC{0,60}", now in any::<u64>()) {
        let _ = retry_after_ms(&s, now);
        let _ = http_date_ms(&s);
        let _ = rfc3339_ms(&s);
        let _ = go_duration_ms(&s);
        for f in [TransportFailure::Connect, TransportFailure::Other, TransportFailure::ClientCancelled] {
            let _ = classify_transport(f, &s, &Policy::default());
        }
    }
}
