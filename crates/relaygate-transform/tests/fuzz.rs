#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Fuzz properties: arbitrary bytes and grammar-built JSON through every public entry point of
//! the crate (request, response, error and stream conversion for every protocol pair, schema
//! cleaning). Nothing may panic, and what a conversion returns as `Ok` is JSON.
//!
//! The case count is kept small so the file runs in seconds in debug builds; set
//! `PROPTEST_CASES` for a longer run.

use proptest::prelude::*;
use relaygate_transform::schema::clean_gemini_schema;
use relaygate_transform::{
    Protocol, RequestOptions, ResponseOptions, SseEvent, convert_error, convert_request,
    convert_response, convert_response_with_tool_names, error_kind, stream_converter,
    stream_converter_with_tool_names, tool_name_table,
};
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

// ---------------------------------------------------------------- protocol-shaped values
//
// Decoders check shapes (a message needs a role, a block a type), so flat grammar JSON rarely
// converts. These "fat" objects carry, each with odds of 3 in 10, every field some protocol reads at
// that place, typed as the protocol types it, so the decoders' deeper branches are reached.

/// An object holding each of `fields` with odds of 3 in 10 (sparse objects keep cases fast).
fn obj_of(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    let parts: Vec<_> = fields
        .into_iter()
        .map(|(k, s)| prop::option::weighted(0.3, s.prop_map(move |v| (k.to_owned(), v))))
        .collect();
    parts
        .prop_map(|kv| Value::Object(kv.into_iter().flatten().collect::<Map<_, _>>()))
        .boxed()
}

fn text() -> BoxedStrategy<Value> {
    prop_oneof![
        prop::sample::select(WORDS).prop_map(|w| Value::String(w.to_owned())),
        "\\PC{0,16}".prop_map(Value::String),
    ]
    .boxed()
}

fn num() -> BoxedStrategy<Value> {
    prop_oneof![
        prop::sample::select(NUMBERS).prop_map(|n| serde_json::from_str(n).unwrap_or(Value::Null)),
        (0u64..5000).prop_map(Value::from),
    ]
    .boxed()
}

fn flag() -> BoxedStrategy<Value> {
    any::<bool>().prop_map(Value::Bool).boxed()
}

fn word() -> BoxedStrategy<Value> {
    prop::sample::select(WORDS)
        .prop_map(|w| Value::String(w.to_owned()))
        .boxed()
}

fn list(s: BoxedStrategy<Value>, max: usize) -> BoxedStrategy<Value> {
    prop::collection::vec(s, 0..max)
        .prop_map(Value::Array)
        .boxed()
}

fn any_json() -> BoxedStrategy<Value> {
    json().boxed()
}

fn usage_shape() -> BoxedStrategy<Value> {
    obj_of(vec![
        ("input_tokens", num()),
        ("output_tokens", num()),
        ("cache_read_input_tokens", num()),
        ("cache_creation_input_tokens", num()),
        (
            "cache_creation",
            obj_of(vec![
                ("ephemeral_5m_input_tokens", num()),
                ("ephemeral_1h_input_tokens", num()),
            ]),
        ),
        ("prompt_tokens", num()),
        ("completion_tokens", num()),
        ("total_tokens", num()),
        (
            "prompt_tokens_details",
            obj_of(vec![("cached_tokens", num())]),
        ),
        (
            "completion_tokens_details",
            obj_of(vec![("reasoning_tokens", num())]),
        ),
        (
            "input_tokens_details",
            obj_of(vec![("cached_tokens", num())]),
        ),
        (
            "output_tokens_details",
            obj_of(vec![("reasoning_tokens", num())]),
        ),
        ("promptTokenCount", num()),
        ("candidatesTokenCount", num()),
        ("thoughtsTokenCount", num()),
        ("totalTokenCount", num()),
        ("cachedContentTokenCount", num()),
        ("toolUsePromptTokenCount", num()),
    ])
}

/// A content block, part or item of any protocol; `nested` blocks go in `content`.
fn block_with(nested: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    obj_of(vec![
        ("type", word()),
        ("text", text()),
        (
            "source",
            obj_of(vec![
                ("type", word()),
                ("data", text()),
                ("media_type", word()),
                ("url", text()),
                ("file_id", text()),
            ]),
        ),
        ("id", text()),
        ("name", text()),
        ("input", any_json()),
        ("content", prop_oneof![text(), list(nested, 3)].boxed()),
        ("tool_use_id", text()),
        ("is_error", flag()),
        ("thinking", text()),
        ("signature", text()),
        ("data", text()),
        (
            "image_url",
            prop_oneof![text(), obj_of(vec![("url", text()), ("detail", word())])].boxed(),
        ),
        (
            "function",
            obj_of(vec![("name", text()), ("arguments", text())]),
        ),
        ("arguments", text()),
        ("call_id", text()),
        ("output", prop_oneof![text(), any_json()].boxed()),
        (
            "functionCall",
            obj_of(vec![("name", text()), ("args", any_json()), ("id", text())]),
        ),
        (
            "functionResponse",
            obj_of(vec![
                ("name", text()),
                ("response", any_json()),
                ("id", text()),
            ]),
        ),
        (
            "inlineData",
            obj_of(vec![("mimeType", word()), ("data", text())]),
        ),
        (
            "fileData",
            obj_of(vec![("mimeType", word()), ("fileUri", text())]),
        ),
        ("thought", flag()),
        ("thoughtSignature", text()),
        (
            "summary",
            list(obj_of(vec![("type", word()), ("text", text())]), 2),
        ),
        ("encrypted_content", text()),
        ("cache_control", any_json()),
        ("role", word()),
        ("status", word()),
        ("title", text()),
    ])
}

fn block() -> BoxedStrategy<Value> {
    block_with(block_with(Just(Value::Null).boxed()))
}

fn message() -> BoxedStrategy<Value> {
    obj_of(vec![
        ("role", word()),
        ("content", prop_oneof![text(), list(block(), 4)].boxed()),
        ("parts", list(block(), 4)),
        (
            "tool_calls",
            list(
                obj_of(vec![
                    ("id", text()),
                    ("type", word()),
                    ("index", num()),
                    (
                        "function",
                        obj_of(vec![("name", text()), ("arguments", text())]),
                    ),
                ]),
                3,
            ),
        ),
        ("tool_call_id", text()),
        ("name", text()),
        ("reasoning_content", text()),
        ("refusal", text()),
    ])
}

fn tool() -> BoxedStrategy<Value> {
    obj_of(vec![
        ("name", text()),
        ("description", text()),
        ("type", word()),
        ("input_schema", any_json()),
        ("parameters", any_json()),
        (
            "function",
            obj_of(vec![
                ("name", text()),
                ("description", text()),
                ("parameters", any_json()),
            ]),
        ),
        (
            "functionDeclarations",
            list(
                obj_of(vec![
                    ("name", text()),
                    ("description", text()),
                    ("parameters", any_json()),
                    ("parametersJsonSchema", any_json()),
                ]),
                3,
            ),
        ),
    ])
}

/// A request body of any of the four protocols (fields of all of them may mix).
fn request() -> BoxedStrategy<Value> {
    obj_of(vec![
        ("model", text()),
        ("messages", list(message(), 4)),
        ("contents", list(message(), 4)),
        ("input", prop_oneof![text(), list(block(), 4)].boxed()),
        ("system", prop_oneof![text(), list(block(), 2)].boxed()),
        ("systemInstruction", message()),
        ("instructions", text()),
        ("tools", list(tool(), 3)),
        (
            "tool_choice",
            prop_oneof![word(), obj_of(vec![("type", word()), ("name", text())])].boxed(),
        ),
        ("stream", flag()),
        ("max_tokens", num()),
        ("max_output_tokens", num()),
        ("temperature", num()),
        ("top_p", num()),
        ("stop", prop_oneof![text(), list(text(), 3)].boxed()),
        ("response_format", any_json()),
        (
            "generationConfig",
            obj_of(vec![
                ("responseSchema", any_json()),
                ("responseMimeType", word()),
                ("maxOutputTokens", num()),
                ("thinkingConfig", any_json()),
                ("stopSequences", list(text(), 2)),
            ]),
        ),
        ("reasoning", any_json()),
        ("thinking", any_json()),
        ("metadata", any_json()),
        ("previous_response_id", text()),
    ])
}

/// A non-stream response body, or one stream chunk, of any protocol.
fn response_shape() -> BoxedStrategy<Value> {
    obj_of(vec![
        ("id", text()),
        ("model", text()),
        ("type", word()),
        ("role", word()),
        ("content", list(block(), 4)),
        ("stop_reason", word()),
        ("usage", usage_shape()),
        (
            "choices",
            list(
                obj_of(vec![
                    ("index", num()),
                    ("message", message()),
                    ("delta", message()),
                    ("finish_reason", word()),
                ]),
                3,
            ),
        ),
        (
            "candidates",
            list(
                obj_of(vec![
                    ("content", message()),
                    ("finishReason", word()),
                    ("index", num()),
                ]),
                2,
            ),
        ),
        ("usageMetadata", usage_shape()),
        ("output", list(block(), 4)),
        ("status", word()),
        ("error", any_json()),
        ("created", num()),
        ("modelVersion", text()),
        ("promptFeedback", obj_of(vec![("blockReason", word())])),
    ])
}

/// Event types of the four protocols' streams (Chat and Gemini events have none).
#[rustfmt::skip]
const EVENT_TYPES: &[&str] = &[
    "message_start", "content_block_start", "content_block_delta", "content_block_stop",
    "message_delta", "message_stop", "ping", "error", "response.created", "response.in_progress",
    "response.output_item.added", "response.output_item.done", "response.content_part.added",
    "response.output_text.delta", "response.output_text.done", "response.refusal.delta",
    "response.function_call_arguments.delta", "response.function_call_arguments.done",
    "response.reasoning_summary_text.delta", "response.reasoning_text.delta",
    "response.completed", "response.incomplete", "response.failed", "response.done",
    "text_delta", "input_json_delta", "thinking_delta", "signature_delta", "tool_use", "text",
    "thinking", "function_call", "message", "reasoning",
];

fn event_type() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => prop::sample::select(EVENT_TYPES).prop_map(|w| Value::String(w.to_owned())),
        1 => word(),
    ]
    .boxed()
}

/// The data of one stream event of any protocol.
fn event_shape() -> BoxedStrategy<Value> {
    obj_of(vec![
        ("type", event_type()),
        ("index", num()),
        (
            "delta",
            obj_of(vec![
                ("type", event_type()),
                ("text", text()),
                ("partial_json", text()),
                ("thinking", text()),
                ("signature", text()),
                ("stop_reason", word()),
                ("content", text()),
                ("reasoning_content", text()),
                ("role", word()),
            ]),
        ),
        (
            "content_block",
            obj_of(vec![
                ("type", event_type()),
                ("id", text()),
                ("name", text()),
                ("text", text()),
                ("input", any_json()),
            ]),
        ),
        ("message", response_shape()),
        ("response", response_shape()),
        (
            "item",
            obj_of(vec![
                ("type", event_type()),
                ("id", text()),
                ("call_id", text()),
                ("name", text()),
                ("arguments", text()),
                ("content", list(block(), 2)),
                (
                    "summary",
                    list(obj_of(vec![("type", word()), ("text", text())]), 2),
                ),
            ]),
        ),
        ("output_index", num()),
        ("content_index", num()),
        ("item_id", text()),
        ("usage", usage_shape()),
        ("sequence_number", num()),
        ("error", any_json()),
        (
            "choices",
            list(
                obj_of(vec![
                    ("index", num()),
                    ("delta", message()),
                    ("finish_reason", word()),
                ]),
                2,
            ),
        ),
        (
            "candidates",
            list(
                obj_of(vec![("content", message()), ("finishReason", word())]),
                2,
            ),
        ),
        ("usageMetadata", usage_shape()),
        ("delta_text", text()),
    ])
}

/// Bytes for a request decoder: shaped requests, plus everything [`body`] gives.
fn request_body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        3 => request().prop_map(|v| v.to_string().into_bytes()),
        1 => body(),
    ]
    .boxed()
}

/// Bytes for a response decoder: shaped responses, plus everything [`body`] gives.
fn response_body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        3 => response_shape().prop_map(|v| v.to_string().into_bytes()),
        1 => body(),
    ]
    .boxed()
}

/// A stream event: mostly shaped event data, else whatever [`sse_event`] gives.
fn shaped_event() -> BoxedStrategy<SseEvent> {
    prop_oneof![
        3 => (proptest::option::of(prop::sample::select(EVENT_TYPES)), event_shape()).prop_map(
            |(name, v)| SseEvent {
                event: name.map(str::to_owned),
                data: v.to_string(),
                id: None,
                retry: None,
            }
        ),
        1 => sse_event(),
    ]
    .boxed()
}

fn request_opts(stream: bool) -> RequestOptions {
    RequestOptions {
        upstream_model: "upstream-model".into(),
        stream,
    }
}

fn response_opts() -> ResponseOptions {
    ResponseOptions {
        client_model: "client-model".into(),
        id_seed: "req-1".into(),
    }
}

/// Every converted event is an SSE event whose data is JSON or the `[DONE]` marker.
fn check_events(up: Protocol, client: Protocol, out: &[SseEvent]) -> Result<(), TestCaseError> {
    for e in out {
        let _ = e.encode();
        prop_assert!(
            up == client || e.data == "[DONE]" || is_json(e.data.as_bytes()),
            "{up} -> {client}: event data is not JSON: {:?}",
            e.data
        );
    }
    Ok(())
}

fn run_stream(
    up: Protocol,
    client: Protocol,
    events: &[SseEvent],
    names: &[(String, String)],
) -> Result<(), TestCaseError> {
    let mut conv = if names.is_empty() {
        stream_converter(up, client, &response_opts())
    } else {
        stream_converter_with_tool_names(up, client, &response_opts(), names)
    };
    let mut out = Vec::new();
    for e in events {
        // An error is a defined answer; the converter must still not panic afterwards.
        let _ = conv.push(e, &mut out);
    }
    let _ = conv.finish(&mut out);
    let _ = conv.losses();
    check_events(up, client, &out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn requests_convert_or_fail_cleanly(body in request_body(), stream in any::<bool>()) {
        for client in Protocol::ALL {
            for upstream in Protocol::ALL {
                let _ = tool_name_table(client, upstream, &body);
                if let Ok(c) = convert_request(client, upstream, &body, &request_opts(stream)) {
                    prop_assert!(
                        client == upstream || is_json(&c.value),
                        "{client} -> {upstream}: not JSON: {}",
                        String::from_utf8_lossy(&c.value)
                    );
                }
            }
        }
    }

    #[test]
    fn responses_convert_or_fail_cleanly(body in response_body(), names in prop::collection::vec(("[a-z_]{1,8}", "[ -~]{1,8}"), 0..3)) {
        for upstream in Protocol::ALL {
            for client in Protocol::ALL {
                let converted = [
                    convert_response(upstream, client, &body, &response_opts()),
                    convert_response_with_tool_names(upstream, client, &body, &response_opts(), &names),
                ];
                for c in converted.into_iter().flatten() {
                    prop_assert!(
                        client == upstream || is_json(&c.value),
                        "{upstream} -> {client}: not JSON: {}",
                        String::from_utf8_lossy(&c.value)
                    );
                }
            }
        }
    }

    #[test]
    fn streamed_bodies_aggregate_or_fail_cleanly(events in prop::collection::vec(shaped_event(), 0..8)) {
        // An upstream that streams although asked not to: the SSE body is aggregated.
        let mut body = Vec::new();
        for e in &events {
            e.encode_into(&mut body);
        }
        for upstream in Protocol::ALL {
            for client in Protocol::ALL {
                if let Ok(c) = convert_response(upstream, client, &body, &response_opts()) {
                    prop_assert!(client == upstream || is_json(&c.value));
                }
            }
        }
    }

    #[test]
    fn errors_always_give_a_json_envelope(body in response_body(), status in any::<u16>()) {
        for upstream in Protocol::ALL {
            let _ = error_kind(upstream, status, &body);
            for client in Protocol::ALL {
                let out = convert_error(upstream, client, status, &body);
                prop_assert!(is_json(&out), "{upstream} -> {client}: {}", String::from_utf8_lossy(&out));
            }
        }
    }

    #[test]
    fn stream_converters_take_any_events(events in prop::collection::vec(shaped_event(), 0..12), named in any::<bool>()) {
        let names = if named {
            vec![("tool_1".to_owned(), "tool.one".to_owned())]
        } else {
            Vec::new()
        };
        for up in Protocol::ALL {
            for client in Protocol::ALL {
                run_stream(up, client, &events, &names)?;
            }
        }
    }

    #[test]
    fn gemini_schemas_always_clean_to_an_object(schema in json()) {
        let c = clean_gemini_schema(&schema);
        prop_assert!(c.is_object());
        prop_assert!(is_json(c.to_string().as_bytes()));
    }
}

// ---------------------------------------------------------------- nesting far past the limit

/// Drops `v` without recursion (serde_json's own drop recurses once per level).
fn drop_iter(v: Value) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(a) => stack.extend(a),
            Value::Object(m) => stack.extend(m.into_iter().map(|(_, x)| x)),
            _ => {}
        }
    }
}

#[test]
fn bodies_nested_100_000_deep_are_refused_not_overflowed() {
    let deep = deep_array(100_000);
    let bodies = [
        format!(r#"{{"model":"m","messages":[{{"role":"user","content":{deep}}}]}}"#),
        format!(
            r#"{{"contents":[{{"parts":[{{"functionCall":{{"name":"f","args":{deep}}}}}]}}]}}"#
        ),
        deep.clone(),
    ];
    for body in &bodies {
        for a in Protocol::ALL {
            for b in Protocol::ALL {
                if a != b {
                    assert!(convert_request(a, b, body.as_bytes(), &request_opts(false)).is_err());
                    assert!(convert_response(a, b, body.as_bytes(), &response_opts()).is_err());
                }
                let _ = tool_name_table(a, b, body.as_bytes());
                assert!(is_json(&convert_error(a, b, 500, body.as_bytes())));
                run_stream(a, b, &[SseEvent::data(body.clone())], &[]).unwrap();
            }
        }
    }
}

#[test]
fn schemas_nested_100_000_deep_become_the_permissive_object() {
    let mut schema = serde_json::json!({"type": "string"});
    for _ in 0..100_000 {
        let mut m = Map::new();
        m.insert("type".into(), "object".into());
        let mut props = Map::new();
        props.insert("next".into(), schema);
        m.insert("properties".into(), Value::Object(props));
        schema = Value::Object(m);
    }
    assert_eq!(
        clean_gemini_schema(&schema),
        serde_json::json!({"type": "object"})
    );
    drop_iter(schema);
}

#[test]
fn gemini_json_paths_100_000_keys_deep_are_ignored() {
    // Vertex streamed arguments: each `jsonPath` key nests the arguments one level deeper.
    let path = format!("${}", ".a".repeat(100_000));
    let event = serde_json::json!({"candidates": [{"content": {"role": "model", "parts": [{
        "functionCall": {"name": "f", "partialArgs": [{"jsonPath": path, "stringValue": "x"}]}
    }]}, "finishReason": "STOP"}]});
    let events = [SseEvent::data(event.to_string())];
    for client in Protocol::ALL {
        run_stream(Protocol::Gemini, client, &events, &[]).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// What a conversion emits is a request the upstream protocol's own decoder takes: it
    /// converts on to every other protocol. (`EmptyRequest` is the one accepted refusal: a
    /// source holding only an empty system block yields an empty system message, which the
    /// next hop drops.)
    #[test]
    fn converted_requests_convert_again(body in request_body()) {
        for client in Protocol::ALL {
            for upstream in Protocol::ALL {
                if client == upstream {
                    continue;
                }
                let Ok(c) = convert_request(client, upstream, &body, &request_opts(false)) else {
                    continue;
                };
                for next in Protocol::ALL {
                    if next == upstream {
                        continue;
                    }
                    let r = convert_request(upstream, next, &c.value, &request_opts(false));
                    prop_assert!(
                        r.is_ok() || r == Err(relaygate_transform::Error::EmptyRequest),
                        "{client} -> {upstream} -> {next}: {:?}\n in: {}\n mid: {}",
                        r.err(),
                        String::from_utf8_lossy(&body),
                        String::from_utf8_lossy(&c.value)
                    );
                }
            }
        }
    }

    /// A converted response is a response of the client protocol: it converts on.
    #[test]
    fn converted_responses_convert_again(body in response_body()) {
        for up in Protocol::ALL {
            for client in Protocol::ALL {
                if client == up {
                    continue;
                }
                let Ok(c) = convert_response(up, client, &body, &response_opts()) else {
                    continue;
                };
                for next in Protocol::ALL {
                    if next != client {
                        let r = convert_response(client, next, &c.value, &response_opts());
                        prop_assert!(
                            r.is_ok(),
                            "{up} -> {client} -> {next}: {:?}\n in: {}\n mid: {}",
                            r.err(),
                            String::from_utf8_lossy(&body),
                            String::from_utf8_lossy(&c.value)
                        );
                    }
                }
            }
        }
    }

    /// Whatever events a stream converter emitted, they form a stream of the client protocol:
    /// aggregated as a body, they convert to every other protocol.
    #[test]
    fn converted_streams_aggregate_again(events in prop::collection::vec(shaped_event(), 0..12)) {
        for up in Protocol::ALL {
            for client in Protocol::ALL {
                if client == up {
                    continue;
                }
                let mut conv = stream_converter(up, client, &response_opts());
                let mut out = Vec::new();
                for e in &events {
                    let _ = conv.push(e, &mut out);
                }
                let _ = conv.finish(&mut out);
                let mut body = Vec::new();
                for e in &out {
                    e.encode_into(&mut body);
                }
                for next in Protocol::ALL {
                    if next != client {
                        let r = convert_response(client, next, &body, &response_opts());
                        prop_assert!(
                            r.is_ok(),
                            "{up} -> {client} -> {next}: {:?}\n stream: {}",
                            r.err(),
                            String::from_utf8_lossy(&body)
                        );
                    }
                }
            }
        }
    }
}
