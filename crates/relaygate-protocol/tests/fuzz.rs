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
use serde_json::{Map, Value};

// ---------------------------------------------------------------- JSON-ish grammar
//
// Random bytes rarely get past a JSON parser's first byte, so most inputs are built from a small
// grammar: objects whose keys come from the four protocols' vocabulary, `type`/`role`-like keys
// holding the protocols' own words, list-like keys holding arrays, and numbers at the edges
// (negative, u64::MAX, 1e300). Some inputs are then cut short or get a stray byte.

/// Keys the four wire protocols use, in requests, responses and stream events.
#[rustfmt::skip]
const KEYS: &[&str] = &[
    "model", "messages", "role", "content", "type", "text", "input", "output", "usage",
    "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
    "cache_creation", "ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens", "prompt_tokens",
    "completion_tokens", "prompt_tokens_details", "cached_tokens", "completion_tokens_details",
    "reasoning_tokens", "input_tokens_details", "output_tokens_details", "usageMetadata",
    "promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount", "totalTokenCount",
    "cachedContentTokenCount", "toolUsePromptTokenCount", "choices", "delta", "index",
    "finish_reason", "stop_reason", "finishReason", "candidates", "parts", "functionCall",
    "functionResponse", "args", "partialArgs", "jsonPath", "stringValue", "willContinue",
    "thought", "thoughtSignature", "error", "message", "code", "status", "stream", "tools",
    "tool_choice", "system", "contents", "generationConfig", "responseSchema", "parameters",
    "input_schema", "function", "name", "arguments", "tool_calls", "id", "call_id", "tool_use_id",
    "source", "data", "media_type", "url", "image_url", "thinking", "signature", "reasoning",
    "response", "item", "output_index", "content_index", "max_tokens", "temperature",
    "$ref", "$defs", "items", "properties", "anyOf", "required", "enum", "const", "nullable",
    "response_format", "json_schema", "schema", "instructions", "previous_response_id",
    "inlineData", "mimeType", "fileData", "systemInstruction", "content_block", "details",
    "retryDelay", "reason", "metadata", "promptFeedback", "blockReason", "summary",
    "encrypted_content", "partial_json", "refusal", "reasoning_content", "stream_options",
];

/// Keys whose values are the protocols' words.
#[rustfmt::skip]
const WORD_KEYS: &[&str] = &[
    "type", "role", "finish_reason", "stop_reason", "finishReason", "status", "code", "model",
    "object", "name", "jsonPath", "event",
];

/// Keys whose values are lists.
#[rustfmt::skip]
const LIST_KEYS: &[&str] = &[
    "messages", "content", "choices", "candidates", "parts", "tools", "contents", "input",
    "output", "tool_calls", "partialArgs", "details", "anyOf", "items", "required", "summary",
];

/// Words of the protocols: roles, block and event types, finish reasons, error statuses.
#[rustfmt::skip]
const WORDS: &[&str] = &[
    "user", "assistant", "system", "developer", "tool", "model", "function", "text", "image",
    "document", "tool_use", "tool_result", "server_tool_use", "thinking", "redacted_thinking",
    "search_result", "base64", "url", "file", "content", "message_start", "message_delta",
    "message_stop", "content_block_start", "content_block_delta", "content_block_stop", "ping",
    "error", "text_delta", "input_json_delta", "thinking_delta", "signature_delta",
    "response.created", "response.output_item.added", "response.output_text.delta",
    "response.function_call_arguments.delta", "response.output_item.done", "response.completed",
    "response.failed", "response.incomplete", "response.reasoning_summary_text.delta",
    "function_call", "function_call_output", "reasoning", "input_text", "output_text",
    "input_image", "image_url", "json_schema", "json_object", "object", "string", "OBJECT",
    "STRING", "array", "null", "stop", "length", "tool_calls", "content_filter", "end_turn",
    "max_tokens", "STOP", "MAX_TOKENS", "SAFETY", "rate_limit_error", "overloaded_error",
    "invalid_request_error", "RESOURCE_EXHAUSTED", "UNAVAILABLE", "insufficient_quota",
    "#/$defs/N", "$.a", "$.a.b", "$", "gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro",
    "rg.anthropic.sig", "rg.gemini.x", "data:image/png;base64,iVBORw0KGgo=", "", " ", "[DONE]",
];

/// Numbers at the edges of what upstreams report.
#[rustfmt::skip]
const NUMBERS: &[&str] = &[
    "0", "1", "-1", "-5", "3.7", "1e300", "-1e300", "18446744073709551615",
    "18446744073709551616", "9223372036854775807", "-9223372036854775808", "4294967296",
    "1e-300", "0.0", "65535",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(NUMBERS).prop_map(|n| serde_json::from_str(n).unwrap_or(Value::Null)),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(|w| Value::String(w.to_owned())),
        "\\PC{0,12}".prop_map(Value::String),
    ]
}

/// A JSON value from the grammar, at most 8 levels deep.
fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(8, 96, 6, |inner| {
        let entry = prop_oneof![
            (
                prop::sample::select(WORD_KEYS),
                prop::sample::select(WORDS).prop_map(|w| Value::String(w.to_owned()))
            ),
            (
                prop::sample::select(LIST_KEYS),
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array)
            ),
            (prop::sample::select(KEYS), inner.clone()),
        ];
        prop_oneof![
            1 => prop::collection::vec(inner, 0..4).prop_map(Value::Array),
            3 => prop::collection::vec(entry, 0..7).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>())
            }),
        ]
    })
}

/// A JSON object from the grammar (most bodies and events are objects).
fn object() -> impl Strategy<Value = Value> {
    json().prop_map(|v| match v {
        Value::Object(_) => v,
        other => {
            let mut m = Map::new();
            m.insert("messages".into(), other);
            Value::Object(m)
        }
    })
}

/// Bytes for a decoder: grammar JSON, grammar JSON cut short or with a stray byte, raw bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => object().prop_map(|v| v.to_string().into_bytes()),
        1 => json().prop_map(|v| v.to_string().into_bytes()),
        2 => (object(), any::<prop::sample::Index>(), any::<u8>(), any::<bool>()).prop_map(
            |(v, at, byte, cut)| {
                let mut b = v.to_string().into_bytes();
                let i = at.index(b.len() + 1);
                if cut {
                    b.truncate(i);
                } else {
                    b.insert(i, byte);
                }
                b
            }
        ),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

/// One SSE event: a protocol event name or none, and grammar JSON, `[DONE]` or any text.
fn sse_event() -> impl Strategy<Value = SseEvent> {
    (
        proptest::option::of(prop::sample::select(WORDS)),
        prop_oneof![
            8 => object().prop_map(|v| v.to_string()),
            1 => Just("[DONE]".to_owned()),
            1 => "\\PC{0,24}",
        ],
    )
        .prop_map(|(name, data)| SseEvent {
            event: name.map(str::to_owned),
            data,
            id: None,
            retry: None,
        })
}

#[allow(dead_code)]
fn protocol() -> impl Strategy<Value = Protocol> {
    prop::sample::select(Protocol::ALL.to_vec())
}

// Not every fuzz file checks outputs for JSON.
#[allow(dead_code)]
/// Whether `bytes` is JSON; the parser's depth limit is the one accepted failure, since a
/// converter may wrap a value that was already at the limit.
fn is_json(bytes: &[u8]) -> bool {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(_) => true,
        Err(e) => e.to_string().contains("recursion limit"),
    }
}

/// `depth` nested arrays around `1`, as text: deeper than any parser here accepts.
fn deep_array(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

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
