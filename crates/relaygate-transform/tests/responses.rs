#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Every recorded non-stream body: A -> B -> A for the three other protocols.

mod common;

use common::{read_body, same_args};
use relaygate_transform::{Protocol, ResponseOptions, convert_response};
use serde_json::Value;

fn opts() -> ResponseOptions {
    ResponseOptions {
        client_model: "client-model".into(),
        id_seed: "req-9".into(),
    }
}

#[test]
fn recorded_bodies_round_trip() {
    let Some(root) = common::fixtures_dir() else {
        return;
    };
    let fixtures = common::json_fixtures(&root);
    assert!(fixtures.len() >= 15, "found only {}", fixtures.len());
    for (name, a, body) in fixtures {
        let original = read_body(a, &serde_json::from_slice(&body).unwrap());
        for b in Protocol::ALL {
            if b == a {
                continue;
            }
            let there = convert_response(a, b, &body, &opts()).unwrap();
            let mid: Value = serde_json::from_slice(&there.value).unwrap();
            let mid_summary = read_body(b, &mid);
            let back = convert_response(b, a, &there.value, &opts()).unwrap();
            let end = read_body(a, &serde_json::from_slice(&back.value).unwrap());
            for (stage, got) in [("there", &mid_summary), ("back", &end)] {
                let ctx = format!("{name}: {a} -> {b} ({stage})");
                assert_eq!(got.text, original.text, "{ctx}: text");
                assert_eq!(got.tools.len(), original.tools.len(), "{ctx}: tools");
                for (g, o) in got.tools.iter().zip(&original.tools) {
                    assert_eq!(g.0, o.0, "{ctx}");
                    assert!(same_args(&g.1, &o.1), "{ctx}: {} vs {}", g.1, o.1);
                }
                assert_eq!(got.finish, original.finish, "{ctx}: finish");
                assert_eq!(
                    (got.input, got.output),
                    (original.input, original.output),
                    "{ctx}: usage"
                );
                assert_eq!(
                    got.thinking.replace("\n\n", ""),
                    original.thinking.replace("\n\n", ""),
                    "{ctx}: thinking"
                );
            }
            assert_eq!(
                mid["model"].as_str().or(mid["modelVersion"].as_str()),
                Some("client-model"),
                "{name} -> {b}"
            );
        }
    }
}

#[test]
fn same_protocol_is_identity() {
    let body = br#"{"id":"x","weird":  true}"#;
    for p in Protocol::ALL {
        assert_eq!(
            convert_response(p, p, body, &opts()).unwrap().value,
            body.to_vec()
        );
    }
}

#[test]
fn thinking_signature_round_trips_through_other_families() {
    let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[
        {"type":"thinking","thinking":"hmm","signature":"SIG123"},
        {"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}],
        "stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":4}}"#;
    for b in [Protocol::OpenAiResponses, Protocol::Gemini] {
        let there = convert_response(Protocol::Anthropic, b, body, &opts()).unwrap();
        let s = String::from_utf8(there.value.clone()).unwrap();
        assert!(s.contains("rg.anthropic.SIG123"), "{b}: {s}");
        let back = convert_response(b, Protocol::Anthropic, &there.value, &opts()).unwrap();
        let v: Value = serde_json::from_slice(&back.value).unwrap();
        let sig = v["content"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|c| c["signature"].as_str())
            .unwrap();
        assert!(sig.ends_with("SIG123"), "{b}: {v}");
    }
    // Chat cannot carry it and says so.
    let chat = convert_response(Protocol::Anthropic, Protocol::OpenAiChat, body, &opts()).unwrap();
    assert!(chat.losses.iter().any(|l| l.field == "reasoning.signature"));
}

#[test]
fn sse_body_for_a_non_stream_request_is_aggregated() {
    let body = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"x\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n";
    let out = convert_response(Protocol::Anthropic, Protocol::OpenAiChat, body, &opts()).unwrap();
    let v: Value = serde_json::from_slice(&out.value).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "hi");
    assert_eq!(v["usage"]["prompt_tokens"], 5);
    assert_eq!(v["usage"]["completion_tokens"], 2);
}
