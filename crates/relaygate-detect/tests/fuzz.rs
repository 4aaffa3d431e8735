#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Fuzz properties: grammar-built error envelopes, protocol-shaped bodies and stream events,
//! headers with edge numbers and arbitrary bytes through the classifier (`classify_http`,
//! `probe_body`, `StreamProbe`, `classify_transport`, the time parsers). Every function is
//! total: nothing panics, and every verdict is self-consistent.
//!
//! The case count is kept small so the file runs in seconds in debug builds; set
//! `PROPTEST_CASES` for a longer run.

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use relaygate_detect::{
    CooldownHint, OutcomeKind, Policy, ProbeState, Scope, StreamProbe, TransportFailure, Verdict,
    classify_http, classify_transport, go_duration_ms, http_date_ms, probe_body, retry_after_ms,
    rfc3339_ms,
};
use relaygate_protocol::Protocol;
use relaygate_protocol::sse::SseEvent;
use serde_json::Value;

use relaygate_testkit::fuzz::*;

/// Error envelopes of the four protocols and their vendors, with every field optional.
fn error_shape() -> BoxedStrategy<Value> {
    let detail = obj_of(vec![
        (
            "@type",
            prop::sample::select(vec![
                "type.googleapis.com/google.rpc.RetryInfo",
                "type.googleapis.com/google.rpc.QuotaFailure",
                "type.googleapis.com/google.rpc.ErrorInfo",
            ])
            .prop_map(|s| Value::String(s.to_owned()))
            .boxed(),
        ),
        (
            "retryDelay",
            prop_oneof![
                text(),
                Just(Value::String("99999999999999999999s".into())),
                Just(Value::String("-5s".into()))
            ]
            .boxed(),
        ),
        (
            "violations",
            list(
                obj_of(vec![("quotaId", text()), ("quotaMetric", text())]),
                2,
            ),
        ),
        ("reason", word()),
        ("metadata", any_json()),
    ]);
    let inner = obj_of(vec![
        ("type", word()),
        ("code", prop_oneof![word(), num()].boxed()),
        (
            "message",
            prop_oneof![
                text(),
                Just(Value::String("Please try again in 1.5s".into())),
                Just(Value::String(
                    "Rate limit reached, retry after 99999999999999999999 seconds".into()
                )),
                Just(Value::String(
                    "Usage limit reached, resets at 2025-12-09 18:08:11".into()
                )),
                Just(Value::String("您的额度将在明天 25:61 重置".into())),
            ]
            .boxed(),
        ),
        ("status", word()),
        ("details", list(detail, 3)),
        ("param", text()),
    ]);
    obj_of(vec![
        ("type", word()),
        ("error", prop_oneof![inner.clone(), text()].boxed()),
        ("message", text()),
        ("code", prop_oneof![word(), num()].boxed()),
        ("status", word()),
        (
            "base_resp",
            obj_of(vec![("status_code", num()), ("status_msg", text())]),
        ),
    ])
}

fn detect_body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        3 => error_shape().prop_map(|v| v.to_string().into_bytes()),
        3 => prop::collection::vec(error_shape(), 1..3).prop_map(|v| Value::Array(v).to_string().into_bytes()),
        2 => response_body(),
        1 => body(),
    ]
    .boxed()
}

#[rustfmt::skip]
const HEADER_NAMES: &[&str] = &[
    "retry-after", "x-ratelimit-scope", "anthropic-ratelimit-unified-reset",
    "anthropic-ratelimit-requests-reset", "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-tokens-reset", "anthropic-ratelimit-tokens-remaining",
    "x-ratelimit-reset-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-tokens",
    "x-ratelimit-remaining-tokens", "content-type",
];

#[rustfmt::skip]
const HEADER_VALUES: &[&str] = &[
    "0", "-1", "1.5", "1e300", "18446744073709551615", "99999999999999999999", "NaN", "inf",
    "Wed, 21 Oct 2015 07:28:00 GMT", "Sun, 31 Dec 9999 23:59:59 GMT", "2025-12-09T18:08:11Z",
    "9999-12-31T23:59:59.999999999+14:00", "0001-01-01T00:00:00-23:59", "1h2m3.5s", "-5s",
    "999999999h", "6m0s", "organization", "", "application/json", "text/event-stream",
];

fn headers() -> impl Strategy<Value = HeaderMap> {
    prop::collection::vec(
        (
            prop::sample::select(HEADER_NAMES),
            prop_oneof![
                prop::sample::select(HEADER_VALUES).prop_map(str::to_owned),
                "[ -~]{0,24}"
            ],
        ),
        0..6,
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

fn now() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(1_765_000_000_000u64),
        any::<u64>()
    ]
}

/// A verdict agrees with itself: client faults are never retried, and nothing cools for them.
fn consistent(v: &Verdict) -> Result<(), TestCaseError> {
    prop_assert!(!v.reason.is_empty() && v.reason.len() < 1024, "{v:?}");
    if matches!(
        v.kind,
        OutcomeKind::ClientError | OutcomeKind::ClientCancelled
    ) || v.scope == Scope::Client
    {
        prop_assert!(!v.retry_elsewhere, "{v:?}");
    }
    if let CooldownHint::Backoff { first_ms } = v.cooldown {
        prop_assert!(first_ms < u64::MAX, "{v:?}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn http_errors_always_classify(status in prop_oneof![Just(429u16), Just(400), Just(401), Just(403), Just(404), Just(500), Just(503), Just(529), any::<u16>()],
                                   h in headers(), b in detect_body(), now in now()) {
        consistent(&classify_http(status, &h, &b, now, &Policy::default()))?;
        let odd = Policy { quota_reset_utc_offset_minutes: i32::MIN, ..Policy::default() };
        consistent(&classify_http(status, &h, &b, now, &odd))?;
    }

    #[test]
    fn soft_errors_probe_cleanly(ct in proptest::option::of(prop::sample::select(HEADER_VALUES)), b in detect_body(), now in now()) {
        for p in Protocol::ALL {
            if let Some(v) = probe_body(p, ct, &b, now, &Policy::default()) {
                consistent(&v)?;
            }
        }
    }

    #[test]
    fn stream_probes_take_any_events(events in prop::collection::vec(prop_oneof![
            3 => shaped_event(),
            1 => (proptest::option::of(prop::sample::select(vec!["error", "ping", "response.failed"])), error_shape())
                .prop_map(|(n, v)| SseEvent { event: n.map(str::to_owned), data: v.to_string(), id: None, retry: None }),
        ], 0..12), now in now()) {
        for p in Protocol::ALL {
            let mut probe = StreamProbe::new(p, Policy::default());
            let mut content = false;
            for e in &events {
                match probe.event(e, now) {
                    ProbeState::Content => content = true,
                    ProbeState::Pending => prop_assert!(!content),
                    ProbeState::Failed(v) => consistent(&v)?,
                }
            }
            prop_assert_eq!(probe.saw_content(), content);
            if let Some(v) = probe.eos() {
                consistent(&v)?;
            }
        }
    }

    #[test]
    fn transport_failures_and_times_always_read(s in prop_oneof![prop::sample::select(HEADER_VALUES).prop_map(str::to_owned), "\\PC{0,40}"], now in now()) {
        for f in [
            TransportFailure::Connect, TransportFailure::ConnectTimeout, TransportFailure::FirstByteTimeout,
            TransportFailure::IdleTimeout, TransportFailure::Reset, TransportFailure::ClientCancelled,
            TransportFailure::Other,
        ] {
            consistent(&classify_transport(f, &s, &Policy::default()))?;
        }
        let _ = (retry_after_ms(&s, now), http_date_ms(&s), rfc3339_ms(&s), go_duration_ms(&s));
    }
}

// ---------------------------------------------------------------- nesting far past the limit

#[test]
fn bodies_nested_100_000_deep_classify_without_overflow() {
    let deep = deep_array(100_000);
    for body in [
        format!(r#"{{"error":{{"message":"overloaded","details":{deep}}}}}"#),
        deep.clone(),
    ] {
        for status in [200, 429, 500] {
            consistent(&classify_http(
                status,
                &HeaderMap::new(),
                body.as_bytes(),
                0,
                &Policy::default(),
            ))
            .unwrap();
        }
        for p in Protocol::ALL {
            if let Some(v) = probe_body(
                p,
                Some("application/json"),
                body.as_bytes(),
                0,
                &Policy::default(),
            ) {
                consistent(&v).unwrap();
            }
            let mut probe = StreamProbe::new(p, Policy::default());
            let _ = probe.event(&SseEvent::data(body.clone()), 0);
            let _ = probe.eos();
        }
    }
}
