#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Error bodies for every ordered protocol pair, plus the recorded ones.

mod common;

use relaygate_protocol::sse::SseEvent;
use relaygate_transform::{Protocol, ResponseOptions, convert_error, stream_converter};
use serde_json::Value;

fn sample(p: Protocol) -> (&'static str, &'static str) {
    match p {
        Protocol::Anthropic => (
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
            "slow down",
        ),
        Protocol::OpenAiChat | Protocol::OpenAiResponses => (
            r#"{"error":{"message":"slow down","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#,
            "slow down",
        ),
        Protocol::Gemini => (
            r#"{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}"#,
            "slow down",
        ),
    }
}

fn check_shape(client: Protocol, v: &Value, msg: &str, ctx: &str) {
    match client {
        Protocol::Anthropic => {
            assert_eq!(v["type"], "error", "{ctx}");
            assert_eq!(v["error"]["type"], "rate_limit_error", "{ctx}");
            assert_eq!(v["error"]["message"], msg, "{ctx}");
        }
        Protocol::OpenAiChat | Protocol::OpenAiResponses => {
            assert_eq!(v["error"]["message"], msg, "{ctx}");
            assert_eq!(v["error"]["code"], "rate_limit_exceeded", "{ctx}");
        }
        Protocol::Gemini => {
            assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED", "{ctx}");
            assert_eq!(v["error"]["code"], 429, "{ctx}");
            assert_eq!(v["error"]["message"], msg, "{ctx}");
        }
    }
}

#[test]
fn every_pair_maps_rate_limits() {
    for up in Protocol::ALL {
        let (body, msg) = sample(up);
        for client in Protocol::ALL {
            let out = convert_error(up, client, 429, body.as_bytes());
            let v: Value = serde_json::from_slice(&out).unwrap();
            check_shape(client, &v, msg, &format!("{up} -> {client}"));
        }
    }
}

#[test]
fn recorded_error_bodies_keep_their_message() {
    let Some(root) = common::fixtures_dir() else {
        return;
    };
    let cases = [
        (
            "github-issues/anthropic-overloaded-529.json",
            Protocol::Anthropic,
            529,
            "UNAVAILABLE",
        ),
        (
            "github-issues/anthropic-rate-limit-429.json",
            Protocol::Anthropic,
            429,
            "RESOURCE_EXHAUSTED",
        ),
        (
            "vercel-ai/anthropic/anthropic-issue-17366-error.json",
            Protocol::Anthropic,
            400,
            "INVALID_ARGUMENT",
        ),
        (
            "github-issues/openai-rate-limit-429.json",
            Protocol::OpenAiChat,
            429,
            "RESOURCE_EXHAUSTED",
        ),
        (
            "vercel-ai/openai-responses/openai-error.1.json",
            Protocol::OpenAiResponses,
            429,
            "RESOURCE_EXHAUSTED",
        ),
        (
            "vercel-ai/openai-responses/reasoning-model-temperature-error.json",
            Protocol::OpenAiResponses,
            400,
            "INVALID_ARGUMENT",
        ),
        (
            "vercel-ai/gemini/google-429-retry-info.json",
            Protocol::Gemini,
            429,
            "RESOURCE_EXHAUSTED",
        ),
        (
            "firebase-vertexai-sdk-test-data/unary-failure-unknown-model.json",
            Protocol::Gemini,
            404,
            "NOT_FOUND",
        ),
    ];
    for (file, up, status, gemini_status) in cases {
        let body = std::fs::read(root.join(file)).unwrap();
        let orig: Value = serde_json::from_slice(&body).unwrap();
        let msg = orig["error"]["message"].as_str().unwrap();
        for client in Protocol::ALL {
            let v: Value =
                serde_json::from_slice(&convert_error(up, client, status, &body)).unwrap();
            let got = v["error"]["message"].as_str().unwrap();
            assert_eq!(got, msg, "{file} -> {client}");
            if client == Protocol::Gemini && up != Protocol::Gemini {
                assert_eq!(v["error"]["status"], gemini_status, "{file}");
            }
        }
    }
}

#[test]
fn recorded_mid_stream_error_is_translated() {
    let Some(root) = common::fixtures_dir() else {
        return;
    };
    let body = std::fs::read(root.join("github-issues/anthropic-vertex-sse-error-event-data.json"))
        .unwrap();
    let ev = SseEvent::named("error", String::from_utf8(body).unwrap());
    let opts = ResponseOptions {
        client_model: "m".into(),
        id_seed: "s".into(),
    };
    for client in [
        Protocol::OpenAiChat,
        Protocol::OpenAiResponses,
        Protocol::Gemini,
    ] {
        let mut conv = stream_converter(Protocol::Anthropic, client, &opts);
        let mut out = Vec::new();
        conv.push(&ev, &mut out).unwrap();
        conv.finish(&mut out).unwrap();
        let all: String = out.iter().map(|e| e.data.clone()).collect();
        assert!(all.contains("Overloaded"), "{client}: {all}");
        assert!(
            !all.contains("[DONE]") && !all.contains("response.completed"),
            "{client}: an error is not a clean end"
        );
        if client == Protocol::Gemini {
            let v: Value = serde_json::from_str(&out[0].data).unwrap();
            assert_eq!(v["error"]["status"], "UNAVAILABLE");
        }
    }
}
