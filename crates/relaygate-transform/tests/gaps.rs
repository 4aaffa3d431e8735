#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Former known gaps: redacted thinking round trips, text documents and long tool names.

use relaygate_protocol::sse::SseEvent;
use relaygate_transform::{
    Protocol, RequestOptions, ResponseOptions, convert_request, convert_response,
    convert_response_with_tool_names, stream_converter, stream_converter_with_tool_names,
    tool_name_table,
};
use serde_json::{Value, json};

const DATA: &str = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr";

fn ropts() -> ResponseOptions {
    ResponseOptions {
        client_model: "client-model".into(),
        id_seed: "req-1".into(),
    }
}

fn req(client: Protocol, upstream: Protocol, body: &Value) -> Value {
    let opts = RequestOptions {
        upstream_model: "up".into(),
        stream: false,
    };
    let out = convert_request(client, upstream, body.to_string().as_bytes(), &opts).unwrap();
    serde_json::from_slice(&out.value).unwrap()
}

fn resp(up: Protocol, client: Protocol, body: &Value) -> Value {
    let out = convert_response(up, client, body.to_string().as_bytes(), &ropts()).unwrap();
    serde_json::from_slice(&out.value).unwrap()
}

fn anthropic_redacted_response() -> Value {
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
        "content": [{"type": "redacted_thinking", "data": DATA}, {"type": "text", "text": "Hi."}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 4}})
}

/// The assistant blocks an Anthropic upstream gets back.
fn assistant_blocks(v: &Value) -> Vec<Value> {
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant")
        .flat_map(|m| m["content"].as_array().unwrap().clone())
        .collect()
}

fn assert_redacted_back(blocks: &[Value]) {
    assert_eq!(
        blocks[0],
        json!({"type": "redacted_thinking", "data": DATA}),
        "{blocks:?}"
    );
    assert!(
        !blocks.iter().any(|b| b["type"] == "thinking"),
        "{blocks:?}"
    );
}

fn responses_history(output: &Value) -> Value {
    let mut input = vec![json!({"role": "user", "content": "hi"})];
    input.extend(output.as_array().unwrap().iter().cloned());
    input.push(json!({"role": "user", "content": "again"}));
    json!({"model": "m", "input": input})
}

fn gemini_history(content: &Value) -> Value {
    json!({"contents": [
        {"role": "user", "parts": [{"text": "hi"}]},
        content,
        {"role": "user", "parts": [{"text": "again"}]},
    ]})
}

#[test]
fn redacted_thinking_survives_a_responses_client() {
    let out = resp(
        Protocol::Anthropic,
        Protocol::OpenAiResponses,
        &anthropic_redacted_response(),
    );
    let history = responses_history(&out["output"]);
    let up = req(Protocol::OpenAiResponses, Protocol::Anthropic, &history);
    assert_redacted_back(&assistant_blocks(&up));
    // Never handed to another vendor, neither as a blob nor as text.
    for other in [Protocol::OpenAiChat, Protocol::Gemini] {
        let v = req(Protocol::OpenAiResponses, other, &history);
        assert!(!v.to_string().contains(DATA), "{other}: {v}");
        assert!(!v.to_string().contains("redacted"), "{other}: {v}");
    }
}

#[test]
fn redacted_thinking_survives_a_gemini_client() {
    let out = resp(
        Protocol::Anthropic,
        Protocol::Gemini,
        &anthropic_redacted_response(),
    );
    let history = gemini_history(&out["candidates"][0]["content"]);
    let up = req(Protocol::Gemini, Protocol::Anthropic, &history);
    assert_redacted_back(&assistant_blocks(&up));
    for other in [Protocol::OpenAiChat, Protocol::OpenAiResponses] {
        let v = req(Protocol::Gemini, other, &history);
        assert!(!v.to_string().contains(DATA), "{other}: {v}");
    }
}

fn anthropic_redacted_stream() -> Vec<SseEvent> {
    [
        ("message_start", json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
            "role": "assistant", "model": "claude", "content": [], "usage": {"input_tokens": 3, "output_tokens": 0}}})),
        ("content_block_start", json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "redacted_thinking", "data": DATA}})),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        ("content_block_start", json!({"type": "content_block_start", "index": 1,
            "content_block": {"type": "text", "text": ""}})),
        ("content_block_delta", json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "text_delta", "text": "Hi."}})),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 1})),
        ("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 4}})),
        ("message_stop", json!({"type": "message_stop"})),
    ]
    .into_iter()
    .map(|(n, d)| SseEvent::named(n, d.to_string()))
    .collect()
}

fn run(conv: &mut dyn relaygate_transform::StreamConverter, events: &[SseEvent]) -> Vec<Value> {
    let mut out = Vec::new();
    for e in events {
        conv.push(e, &mut out).unwrap();
    }
    conv.finish(&mut out).unwrap();
    out.iter()
        .filter_map(|e| serde_json::from_str(&e.data).ok())
        .collect()
}

#[test]
fn redacted_thinking_survives_streamed_clients() {
    let events = anthropic_redacted_stream();
    let mut conv = stream_converter(Protocol::Anthropic, Protocol::OpenAiResponses, &ropts());
    let out = run(conv.as_mut(), &events);
    let done = out
        .iter()
        .rev()
        .find(|e| e["type"] == "response.completed")
        .unwrap();
    let history = responses_history(&done["response"]["output"]);
    let up = req(Protocol::OpenAiResponses, Protocol::Anthropic, &history);
    assert_redacted_back(&assistant_blocks(&up));

    let mut conv = stream_converter(Protocol::Anthropic, Protocol::Gemini, &ropts());
    let parts: Vec<Value> = run(conv.as_mut(), &events)
        .iter()
        .flat_map(|c| {
            c["candidates"][0]["content"]["parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let history = gemini_history(&json!({"role": "model", "parts": parts}));
    let up = req(Protocol::Gemini, Protocol::Anthropic, &history);
    assert_redacted_back(&assistant_blocks(&up));
}

fn text_document_request() -> Value {
    json!({"model": "claude", "max_tokens": 100, "messages": [
        {"role": "user", "content": [
            {"type": "document", "title": "Notes", "context": "Meeting of May 3",
             "source": {"type": "text", "media_type": "text/plain", "data": "Ship it on Friday."}},
            {"type": "text", "text": "When do we ship?"}
        ]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "read", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "File body."}}
        ]}]}
    ]})
}

#[test]
fn text_documents_reach_other_upstreams_as_text() {
    let body = text_document_request();
    for up in [
        Protocol::OpenAiChat,
        Protocol::OpenAiResponses,
        Protocol::Gemini,
    ] {
        let v = req(Protocol::Anthropic, up, &body);
        let s = v.to_string();
        assert!(
            s.contains("Notes\\n\\nMeeting of May 3\\n\\nShip it on Friday."),
            "{up}: {s}"
        );
        assert!(s.contains("File body."), "{up}: {s}");
        for bad in [
            "text/plain",
            "file_data",
            "input_file",
            "inlineData",
            "base64",
        ] {
            assert!(!s.contains(bad), "{up}: {bad} in {s}");
        }
    }
}

const LONG: &str = "mcp__acme_knowledge_base_server__search_internal_documents_by_keyword_and_date";

fn tool_request() -> Value {
    json!({"model": "claude", "max_tokens": 100,
    "tools": [
        {"name": LONG, "input_schema": {"type": "object"}},
        {"name": "ns.lookup:v2", "input_schema": {"type": "object"}},
        {"name": "plain_tool", "input_schema": {"type": "object"}}
    ],
    "tool_choice": {"type": "tool", "name": LONG},
    "messages": [
        {"role": "user", "content": "find it"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "ns.lookup:v2", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "none"}]}
    ]})
}

fn valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[test]
fn long_tool_names_are_shortened_and_restored() {
    let body = tool_request();
    let bytes = body.to_string().into_bytes();
    let table = tool_name_table(Protocol::Anthropic, Protocol::OpenAiResponses, &bytes);
    assert_eq!(table.len(), 2, "{table:?}");
    assert_eq!(
        table,
        tool_name_table(Protocol::Anthropic, Protocol::OpenAiChat, &bytes)
    );
    assert!(tool_name_table(Protocol::Anthropic, Protocol::Gemini, &bytes).is_empty());
    let short = table.iter().find(|(_, c)| c == LONG).unwrap().0.clone();
    let dotted = table
        .iter()
        .find(|(_, c)| c == "ns.lookup:v2")
        .unwrap()
        .0
        .clone();

    let v = req(Protocol::Anthropic, Protocol::OpenAiResponses, &body);
    let names: Vec<&str> = v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [short.as_str(), dotted.as_str(), "plain_tool"]);
    assert!(names.iter().all(|n| valid(n)), "{names:?}");
    assert_eq!(v["tool_choice"]["name"], short.as_str());
    let call = v["input"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap();
    assert_eq!(call["name"], dotted.as_str());

    let v = req(Protocol::Anthropic, Protocol::OpenAiChat, &body);
    let names: Vec<&str> = v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [short.as_str(), dotted.as_str(), "plain_tool"]);
    assert_eq!(v["tool_choice"]["function"]["name"], short.as_str());
    assert_eq!(
        v["messages"][1]["tool_calls"][0]["function"]["name"],
        dotted.as_str()
    );

    // Non-stream answers get the client's names back.
    let answer = json!({"id": "resp_1", "object": "response", "status": "completed", "model": "gpt",
        "output": [{"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": short,
            "arguments": "{\"q\":\"x\"}", "status": "completed"}],
        "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}});
    let out = convert_response_with_tool_names(
        Protocol::OpenAiResponses,
        Protocol::Anthropic,
        answer.to_string().as_bytes(),
        &ropts(),
        &table,
    )
    .unwrap();
    let out: Value = serde_json::from_slice(&out.value).unwrap();
    assert_eq!(out["content"][0]["name"], LONG, "{out}");

    // Streams too.
    let chunks = [
        json!({"id": "c1", "object": "chat.completion.chunk", "model": "gpt", "choices": [{"index": 0,
            "delta": {"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1", "type": "function",
            "function": {"name": dotted, "arguments": ""}}]}}]}),
        json!({"id": "c1", "object": "chat.completion.chunk", "model": "gpt", "choices": [{"index": 0,
            "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}}]}),
        json!({"id": "c1", "object": "chat.completion.chunk", "model": "gpt", "choices": [{"index": 0,
            "delta": {}, "finish_reason": "tool_calls"}]}),
    ];
    let mut events: Vec<SseEvent> = chunks
        .iter()
        .map(|c| SseEvent::data(c.to_string()))
        .collect();
    events.push(SseEvent::data("[DONE]"));
    let mut conv = stream_converter_with_tool_names(
        Protocol::OpenAiChat,
        Protocol::Anthropic,
        &ropts(),
        &table,
    );
    let out = run(conv.as_mut(), &events);
    let start = out
        .iter()
        .find(|e| e["content_block"]["type"] == "tool_use")
        .unwrap();
    assert_eq!(start["content_block"]["name"], "ns.lookup:v2");
}
