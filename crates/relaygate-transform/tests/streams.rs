#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Every recorded upstream stream through every converter to the three other protocols.

mod common;

use common::{Summary, read_stream, same_args, stream_fixtures};
use relaygate_protocol::sse::SseEvent;
use relaygate_transform::{Protocol, ResponseOptions, stream_converter};

fn opts() -> ResponseOptions {
    ResponseOptions {
        client_model: "client-model".into(),
        id_seed: "req-123".into(),
    }
}

fn convert(up: Protocol, client: Protocol, events: &[SseEvent]) -> Vec<SseEvent> {
    let mut conv = stream_converter(up, client, &opts());
    let mut out = Vec::new();
    for e in events {
        conv.push(e, &mut out).unwrap();
    }
    conv.finish(&mut out).unwrap();
    out
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn check(
    name: &str,
    up: Protocol,
    client: Protocol,
    expected: &Summary,
    got: &Summary,
    out: &[SseEvent],
) {
    let ctx = format!("{name}: {up} -> {client}");
    if expected.error.is_some() {
        assert_eq!(got.error, expected.error, "{ctx}: error message");
        return;
    }
    assert!(got.terminated, "{ctx}: stream not terminated");
    assert_eq!(got.text, expected.text, "{ctx}: text");
    assert_eq!(
        squash(&got.thinking),
        squash(&expected.thinking),
        "{ctx}: thinking"
    );
    assert_eq!(
        got.tools.len(),
        expected.tools.len(),
        "{ctx}: tool count {:?}",
        got.tools
    );
    for (g, e) in got.tools.iter().zip(&expected.tools) {
        assert_eq!(g.0, e.0, "{ctx}: tool name");
        assert!(same_args(&g.1, &e.1), "{ctx}: args {} vs {}", g.1, e.1);
    }
    assert_eq!(got.finish, expected.finish, "{ctx}: finish");
    assert_eq!(
        (got.input, got.output),
        (expected.input, expected.output),
        "{ctx}: usage"
    );
    let all: String = out.iter().map(|e| e.data.as_str()).collect();
    assert!(
        !all.contains("\"thought\":true") || client == Protocol::Gemini,
        "{ctx}: thought leak"
    );
}

#[test]
fn recorded_streams_convert_to_every_client() {
    let Some(root) = common::fixtures_dir() else {
        return;
    };
    let fixtures = stream_fixtures(&root);
    assert!(
        fixtures.len() >= 25,
        "found only {} stream fixtures",
        fixtures.len()
    );
    let mut checked = 0;
    for (name, up, events) in &fixtures {
        let expected = read_stream(*up, events, false);
        for client in Protocol::ALL {
            if client == *up {
                continue;
            }
            let out = convert(*up, client, events);
            let got = read_stream(client, &out, true);
            check(name, *up, client, &expected, &got, &out);
            checked += 1;
        }
    }
    assert_eq!(checked, fixtures.len() * 3);
}

#[test]
fn signatures_reach_clients_that_can_carry_them() {
    let Some(root) = common::fixtures_dir() else {
        return;
    };
    for (name, up, events) in stream_fixtures(&root) {
        let sigs: Vec<String> = events
            .iter()
            .filter(|e| {
                !matches!(
                    e.event.as_deref(),
                    Some("response.output_item.added" | "response.completed")
                )
            })
            .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.data).ok())
            .flat_map(|v| {
                let mut found = Vec::new();
                collect_sigs(&v, &mut found);
                found
            })
            .collect();
        for client in [
            Protocol::Anthropic,
            Protocol::OpenAiResponses,
            Protocol::Gemini,
        ] {
            if client == up {
                continue;
            }
            let out = convert(up, client, &events);
            let all: String = out.iter().map(|e| e.data.as_str()).collect();
            for sig in &sigs {
                assert!(
                    all.contains(sig.as_str()),
                    "{name} -> {client}: signature lost"
                );
            }
        }
    }
}

fn collect_sigs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                if matches!(
                    k.as_str(),
                    "signature" | "thoughtSignature" | "encrypted_content"
                ) && let Some(s) = x.as_str().filter(|s| !s.is_empty())
                {
                    out.push(s.to_owned());
                } else {
                    collect_sigs(x, out);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_sigs(x, out)),
        _ => {}
    }
}

#[test]
fn identity_passes_events_through() {
    let ev = SseEvent::named("message_start", "{\"type\":\"message_start\"}");
    let out = convert(
        Protocol::Anthropic,
        Protocol::Anthropic,
        std::slice::from_ref(&ev),
    );
    assert_eq!(out, vec![ev]);
}

#[test]
fn mid_stream_errors_become_client_errors() {
    let cases: [(Protocol, SseEvent); 4] = [
        (
            Protocol::Anthropic,
            SseEvent::named(
                "error",
                r#"{"type":"error","error":{"details":null,"type":"overloaded_error","message":"Overloaded"}}"#,
            ),
        ),
        (
            Protocol::OpenAiChat,
            SseEvent::data(
                r#"{"error":{"message":"Overloaded","type":"server_error","param":null,"code":null}}"#,
            ),
        ),
        (
            Protocol::OpenAiResponses,
            SseEvent::named(
                "error",
                r#"{"type":"error","sequence_number":2,"error":{"type":"insufficient_quota","code":"insufficient_quota","message":"Overloaded","param":null}}"#,
            ),
        ),
        (
            Protocol::Gemini,
            SseEvent::data(
                r#"{"error":{"code":503,"message":"Overloaded","status":"UNAVAILABLE"}}"#,
            ),
        ),
    ];
    let text = |p: Protocol| -> SseEvent {
        match p {
            Protocol::Anthropic => SseEvent::named(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"partial"}}"#,
            ),
            Protocol::OpenAiChat => SseEvent::data(
                r#"{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"partial"},"finish_reason":null}]}"#,
            ),
            Protocol::OpenAiResponses => SseEvent::named(
                "response.output_text.delta",
                r#"{"type":"response.output_text.delta","output_index":0,"delta":"partial"}"#,
            ),
            Protocol::Gemini => SseEvent::data(
                r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"partial"}]}}]}"#,
            ),
        }
    };
    for (up, err) in &cases {
        for client in Protocol::ALL {
            if client == *up {
                continue;
            }
            let out = convert(*up, client, &[text(*up), err.clone()]);
            let s = read_stream(client, &out, true);
            assert_eq!(s.text, "partial", "{up} -> {client}");
            assert_eq!(
                s.error.as_deref(),
                Some("Overloaded"),
                "{up} -> {client}: {out:?}"
            );
            if client == Protocol::OpenAiResponses {
                assert_eq!(
                    out.last().unwrap().event.as_deref(),
                    Some("response.failed")
                );
            }
        }
    }
}

#[test]
fn empty_upstream_still_terminates() {
    for up in Protocol::ALL {
        for client in Protocol::ALL {
            if up == client {
                continue;
            }
            let out = convert(up, client, &[]);
            let s = read_stream(client, &out, true);
            assert!(s.terminated, "{up} -> {client}");
            assert_eq!(s.finish, "stop");
        }
    }
}

/// Each encoder's documented loss table shows up in `losses`.
#[test]
fn stream_loss_tables_are_reported() {
    let signed = [
        SseEvent::data(
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"hm","thought":true,"thoughtSignature":"S1"}]}}]}"#,
        ),
        SseEvent::data(
            r#"{"candidates":[{"content":{"role":"model","parts":[{"inlineData":{"mimeType":"image/png","data":"AA=="}}]},"finishReason":"STOP"}]}"#,
        ),
    ];
    let expect: [(Protocol, &[&str]); 3] = [
        (
            Protocol::OpenAiChat,
            &["reasoning.signature", "content[image]"],
        ),
        (Protocol::Anthropic, &["content[image]"]),
        (Protocol::OpenAiResponses, &["content[image]"]),
    ];
    for (client, fields) in expect {
        let mut conv = stream_converter(Protocol::Gemini, client, &opts());
        let mut out = Vec::new();
        for e in &signed {
            conv.push(e, &mut out).unwrap();
        }
        conv.finish(&mut out).unwrap();
        let losses: Vec<String> = conv.losses().into_iter().map(|l| l.field).collect();
        for f in fields {
            assert!(losses.iter().any(|l| l == f), "{client}: {losses:?}");
        }
    }
}
