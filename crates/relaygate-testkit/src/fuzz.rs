//! Input generators for the pure crates' fuzz properties (`tests/fuzz.rs` of protocol,
//! transform, detect and tokens): a small JSON grammar over the four protocols' vocabulary,
//! protocol-shaped requests, responses, errors and stream events, and helpers for nesting far
//! past the decoders' limits. Test support only; nothing here runs in the gateway.
//!
//! One grammar serves every crate so a new protocol word or shape reaches all the fuzzers.

use proptest::prelude::*;
use relaygate_protocol::Protocol;
use relaygate_protocol::sse::SseEvent;
use serde_json::{Map, Value};

// ---------------------------------------------------------------- JSON-ish grammar
//
// Random bytes rarely get past a JSON parser's first byte, so most inputs are built from a small
// grammar: objects whose keys come from the four protocols' vocabulary, `type`/`role`-like keys
// holding the protocols' own words, list-like keys holding arrays, and numbers at the edges
// (negative, u64::MAX, 1e300). Some inputs are then cut short or get a stray byte.

/// Keys the four wire protocols use, in requests, responses and stream events.
#[rustfmt::skip]
pub const KEYS: &[&str] = &[
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
pub const WORD_KEYS: &[&str] = &[
    "type", "role", "finish_reason", "stop_reason", "finishReason", "status", "code", "model",
    "object", "name", "jsonPath", "event",
];

/// Keys whose values are lists.
#[rustfmt::skip]
pub const LIST_KEYS: &[&str] = &[
    "messages", "content", "choices", "candidates", "parts", "tools", "contents", "input",
    "output", "tool_calls", "partialArgs", "details", "anyOf", "items", "required", "summary",
];

/// Words of the protocols: roles, block and event types, finish reasons, error statuses.
#[rustfmt::skip]
pub const WORDS: &[&str] = &[
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
pub const NUMBERS: &[&str] = &[
    "0", "1", "-1", "-5", "3.7", "1e300", "-1e300", "18446744073709551615",
    "18446744073709551616", "9223372036854775807", "-9223372036854775808", "4294967296",
    "1e-300", "0.0", "65535",
];

pub fn leaf() -> impl Strategy<Value = Value> {
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
pub fn json() -> impl Strategy<Value = Value> {
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
pub fn object() -> impl Strategy<Value = Value> {
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
pub fn body() -> impl Strategy<Value = Vec<u8>> {
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
pub fn sse_event() -> impl Strategy<Value = SseEvent> {
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
pub fn protocol() -> impl Strategy<Value = Protocol> {
    prop::sample::select(Protocol::ALL.to_vec())
}

// Not every fuzz file checks outputs for JSON.
#[allow(dead_code)]
/// Whether `bytes` is JSON; the parser's depth limit is the one accepted failure, since a
/// converter may wrap a value that was already at the limit.
pub fn is_json(bytes: &[u8]) -> bool {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(_) => true,
        Err(e) => e.to_string().contains("recursion limit"),
    }
}

/// `depth` nested arrays around `1`, as text: deeper than any parser here accepts.
pub fn deep_array(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

// ---------------------------------------------------------------- protocol-shaped values
//
// Decoders check shapes (a message needs a role, a block a type), so flat grammar JSON rarely
// converts. These "fat" objects carry, each with odds of 3 in 10, every field some protocol reads at
// that place, typed as the protocol types it, so the decoders' deeper branches are reached.

/// An object holding each of `fields` with odds of 3 in 10 (sparse objects keep cases fast).
pub fn obj_of(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    let parts: Vec<_> = fields
        .into_iter()
        .map(|(k, s)| prop::option::weighted(0.3, s.prop_map(move |v| (k.to_owned(), v))))
        .collect();
    parts
        .prop_map(|kv| Value::Object(kv.into_iter().flatten().collect::<Map<_, _>>()))
        .boxed()
}

pub fn text() -> BoxedStrategy<Value> {
    prop_oneof![
        prop::sample::select(WORDS).prop_map(|w| Value::String(w.to_owned())),
        "\\PC{0,16}".prop_map(Value::String),
    ]
    .boxed()
}

pub fn num() -> BoxedStrategy<Value> {
    prop_oneof![
        prop::sample::select(NUMBERS).prop_map(|n| serde_json::from_str(n).unwrap_or(Value::Null)),
        (0u64..5000).prop_map(Value::from),
    ]
    .boxed()
}

pub fn flag() -> BoxedStrategy<Value> {
    any::<bool>().prop_map(Value::Bool).boxed()
}

pub fn word() -> BoxedStrategy<Value> {
    prop::sample::select(WORDS)
        .prop_map(|w| Value::String(w.to_owned()))
        .boxed()
}

pub fn list(s: BoxedStrategy<Value>, max: usize) -> BoxedStrategy<Value> {
    prop::collection::vec(s, 0..max)
        .prop_map(Value::Array)
        .boxed()
}

pub fn any_json() -> BoxedStrategy<Value> {
    json().boxed()
}

pub fn usage_shape() -> BoxedStrategy<Value> {
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
pub fn block_with(nested: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
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

pub fn block() -> BoxedStrategy<Value> {
    block_with(block_with(Just(Value::Null).boxed()))
}

pub fn message() -> BoxedStrategy<Value> {
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

pub fn tool() -> BoxedStrategy<Value> {
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
pub fn request() -> BoxedStrategy<Value> {
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
pub fn response_shape() -> BoxedStrategy<Value> {
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
pub const EVENT_TYPES: &[&str] = &[
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

pub fn event_type() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => prop::sample::select(EVENT_TYPES).prop_map(|w| Value::String(w.to_owned())),
        1 => word(),
    ]
    .boxed()
}

/// The data of one stream event of any protocol.
pub fn event_shape() -> BoxedStrategy<Value> {
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
pub fn request_body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        3 => request().prop_map(|v| v.to_string().into_bytes()),
        1 => body(),
    ]
    .boxed()
}

/// Bytes for a response decoder: shaped responses, plus everything [`body`] gives.
pub fn response_body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        3 => response_shape().prop_map(|v| v.to_string().into_bytes()),
        1 => body(),
    ]
    .boxed()
}

/// A stream event: mostly shaped event data, else whatever [`sse_event`] gives.
pub fn shaped_event() -> BoxedStrategy<SseEvent> {
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
