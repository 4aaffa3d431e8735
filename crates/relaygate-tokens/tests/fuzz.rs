#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Fuzz properties: arbitrary bytes and grammar-built JSON through local counting, usage
//! extraction (whole bodies and streams), cut-stream estimates, pricing and price-table
//! parsing. Nothing may panic; counts and costs stay within their types (they saturate).
//!
//! The case count is kept small so the file runs in seconds in debug builds; set
//! `PROPTEST_CASES` for a longer run.

use proptest::prelude::*;
use relaygate_protocol::sse::SseEvent;
use relaygate_tokens::{
    Encoding, JsonUsageScan, PriceTable, Protocol, ServiceTier, StreamUsage, Usage, cost,
    count_model_text, count_request, count_text, encoding_for, estimate_cut,
    estimate_tokens_from_bytes, tokenizer, usage_from_json,
};

use relaygate_testkit::fuzz::*;

/// Models of every family the counter knows, and some it does not.
#[rustfmt::skip]
const MODELS: &[&str] = &[
    "gpt-4o", "gpt-4-turbo", "gpt-5-mini", "o3", "gpt-4.1-nano", "claude-sonnet-4-5",
    "claude-3-5-haiku-latest", "gemini-2.5-pro", "gemini-3-pro-preview", "llama-3", "",
];

/// A known model, one with a date suffix or a provider prefix, or any text.
fn model() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(MODELS).prop_map(str::to_owned),
        (
            prop::sample::select(MODELS),
            prop_oneof![
                Just("-20250929"),
                Just("-2025-08-07"),
                Just("-9999-99-99"),
                Just("-é2025-08-07")
            ]
        )
            .prop_map(|(m, d)| format!("{m}{d}")),
        prop::sample::select(MODELS).prop_map(|m| format!("models/{m}")),
        "\\PC{0,24}",
    ]
}

fn usage_any() -> impl Strategy<Value = Usage> {
    let n = || {
        prop_oneof![
            Just(0u64),
            Just(u64::MAX),
            Just(u64::MAX / 2),
            0u64..10_000_000,
            any::<u64>()
        ]
    };
    (n(), n(), n(), n(), n(), n(), any::<bool>()).prop_map(
        |(input, output, cache_read, cache_write_5m, cache_write_1h, reasoning, estimated)| Usage {
            input,
            output,
            cache_read,
            cache_write_5m,
            cache_write_1h,
            reasoning,
            estimated,
            ..Usage::default()
        },
    )
}

fn tier() -> impl Strategy<Value = ServiceTier> {
    prop_oneof![
        Just(ServiceTier::Standard),
        Just(ServiceTier::Batch),
        Just(ServiceTier::Flex),
        Just(ServiceTier::Priority),
        Just(ServiceTier::Scale),
        Just(ServiceTier::UltraFast),
        "[a-z_]{0,8}".prop_map(|s| ServiceTier::from_wire(&s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn requests_count_or_fail_cleanly(body in request_body(), model in model()) {
        for p in Protocol::ALL {
            let _ = count_request(p, &model, &body);
        }
    }

    #[test]
    fn text_counts_agree_with_encoding(text in "\\PC{0,64}", model in model()) {
        for enc in [Encoding::O200kBase, Encoding::Cl100kBase] {
            let t = tokenizer(enc).unwrap();
            let c = t.count(&text);
            prop_assert_eq!(c.tokens, t.encode(&text).len() as u64);
            prop_assert_eq!(t.pieces(&text).collect::<String>(), text.clone());
            prop_assert!(count_text(enc, &text).is_ok());
        }
        let _ = encoding_for(&model);
        let _ = count_model_text(&model, &text);
    }

    #[test]
    fn usage_is_read_from_any_body(body in response_body()) {
        for p in Protocol::ALL {
            if let Some(u) = usage_from_json(p, &body) {
                prop_assert!(u.reasoning <= u.output, "{p}: {u:?}");
                let _ = (u.total(), u.prompt_total());
            }
        }
    }

    #[test]
    fn usage_scan_agrees_with_itself_in_any_pieces(body in response_body(), cut in 1usize..64) {
        for p in Protocol::ALL {
            let mut whole = JsonUsageScan::new(p);
            whole.feed(&body);
            let mut pieces = JsonUsageScan::new(p);
            for c in body.chunks(cut) {
                pieces.feed(c);
            }
            prop_assert_eq!(whole.finish(), pieces.finish(), "{}", p);
            prop_assert_eq!(whole.text_bytes(), pieces.text_bytes());
            // What the scan finds at the top level, the whole-body parse finds too.
            if let (Some(_), Ok(serde_json::Value::Object(_))) =
                (whole.finish(), serde_json::from_slice::<serde_json::Value>(&body))
            {
                prop_assert!(usage_from_json(p, &body).is_some(), "{}", p);
            }
        }
    }

    #[test]
    fn usage_is_read_from_any_stream(events in prop::collection::vec(shaped_event(), 0..12), input in any::<u64>()) {
        for p in Protocol::ALL {
            let mut s = StreamUsage::new(p);
            for e in &events {
                s.push(e);
            }
            if let Some(u) = s.usage() {
                prop_assert!(u.reasoning <= u.output, "{p}: {u:?}");
            }
            let cut = estimate_cut(s.usage(), input, s.output_text_bytes());
            prop_assert!(cut.estimated && cut.reasoning <= cut.output);
        }
    }

    #[test]
    fn costs_saturate(u in usage_any(), model in model(), t in tier()) {
        let c = cost(&PriceTable::builtin(), &model, &u, t);
        prop_assert!(c.micro_usd >= 0);
        prop_assert!(c.priced || c.micro_usd == 0);
        let _ = estimate_tokens_from_bytes(u.input);
        let e = estimate_cut(Some(u), u.output, u.cache_read);
        prop_assert!(e.reasoning <= e.output);
    }

    #[test]
    fn price_tables_parse_or_fail_cleanly(text in prop_oneof![
        "\\PC{0,80}",
        (prop::sample::select(&["input", "output", "cache_read", "reasoning", "above", "aliases", "service_tiers", "colour"][..]),
         prop_oneof![Just("1".to_owned()), Just("-1".to_owned()), Just("\"0.0000001\"".to_owned()), Just("1e300".to_owned()),
                     Just("18446744073709551615".to_owned()), Just("\"18446744073709.551616\"".to_owned()), Just("{ input_tokens = -1 }".to_owned()),
                     Just("[1, \"a\"]".to_owned()), Just("{ batch = 4294967296 }".to_owned()), "[ -~]{0,12}"])
            .prop_map(|(k, v)| format!("[models.m]\ninput = 1\noutput = 2\n{k} = {v}\n")),
    ]) {
        if let Ok(t) = PriceTable::from_toml(&text) {
            let u = Usage { input: u64::MAX, output: u64::MAX, ..Usage::default() };
            prop_assert!(cost(&t, "m", &u, ServiceTier::Priority).micro_usd >= 0);
        }
    }
}

// ---------------------------------------------------------------- nesting far past the limit

#[test]
fn bodies_nested_100_000_deep_are_refused_not_overflowed() {
    let deep = deep_array(100_000);
    let bodies = [
        format!(r#"{{"model":"m","messages":[{{"role":"user","content":{deep}}}]}}"#),
        format!(r#"{{"usage":{deep}}}"#),
        deep.clone(),
    ];
    for body in &bodies {
        for p in Protocol::ALL {
            assert!(count_request(p, "claude-sonnet-4-5", body.as_bytes()).is_err());
            assert_eq!(usage_from_json(p, body.as_bytes()), None);
            let mut s = StreamUsage::new(p);
            s.push(&SseEvent::data(body.clone()));
            assert_eq!(s.usage(), None);
        }
    }
}
