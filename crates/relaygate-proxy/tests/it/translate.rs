//! Translation through the proxy: any client protocol against any channel protocol, usage and
//! cost on the log row, translated errors, and the local token-count endpoints.

use relaygate_protocol::Protocol;
use relaygate_protocol::sse::SseDecoder;

use crate::support::*;

const TEXT: &str = "Hello from the mock upstream.";

/// The answer text as the client protocol carries it (JSON or stream).
fn answer_text(protocol: Protocol, stream: bool, body: &[u8]) -> String {
    if !stream {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        return match protocol {
            Protocol::Anthropic => v["content"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect(),
            Protocol::OpenAiChat => v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            Protocol::OpenAiResponses => v["output"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["type"] == "message")
                .flat_map(|i| i["content"].as_array().cloned().unwrap_or_default())
                .filter_map(|c| c["text"].as_str().map(str::to_owned))
                .collect(),
            Protocol::Gemini => v["candidates"][0]["content"]["parts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["thought"] != true)
                .filter_map(|p| p["text"].as_str())
                .collect(),
        };
    }
    let mut d = SseDecoder::new();
    let mut events = Vec::new();
    d.feed(body, &mut events).unwrap();
    d.finish(&mut events);
    let mut text = String::new();
    let mut terminated = false;
    for e in &events {
        if e.data == "[DONE]" {
            terminated = true;
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&e.data)
            .unwrap_or_else(|err| panic!("{protocol}: bad event {err}: {}", e.data));
        match protocol {
            Protocol::Anthropic => {
                if v["type"] == "content_block_delta" && v["delta"]["type"] == "text_delta" {
                    text.push_str(v["delta"]["text"].as_str().unwrap());
                }
                terminated |= v["type"] == "message_stop";
            }
            Protocol::OpenAiChat => {
                if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
                    text.push_str(t);
                }
            }
            Protocol::OpenAiResponses => {
                if v["type"] == "response.output_text.delta" {
                    text.push_str(v["delta"].as_str().unwrap());
                }
                assert!(
                    v["sequence_number"].is_u64(),
                    "{protocol}: every event is numbered"
                );
                terminated |= v["type"] == "response.completed";
            }
            Protocol::Gemini => {
                for p in v["candidates"][0]["content"]["parts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    if p["thought"] != true {
                        text.push_str(p["text"].as_str().unwrap_or_default());
                    }
                }
                terminated |= v["candidates"][0]["finishReason"].is_string();
            }
        }
    }
    assert!(
        terminated,
        "{protocol}: the stream ends with the protocol's terminator:\n{}",
        String::from_utf8_lossy(body)
    );
    text
}

#[tokio::test]
async fn every_client_protocol_reaches_every_channel_protocol() {
    for upstream in Protocol::ALL {
        let mock = MockUpstream::start().await.unwrap();
        let env = Env::start(vec![channel(
            "only",
            upstream,
            &mock.url(),
            &["up"],
            &["m-x"],
        )])
        .await;
        for client in Protocol::ALL {
            for stream in [false, true] {
                let (path, body) = request_for(client, "m-x", stream);
                let r = env.post(client, &path, &body).await;
                assert_eq!(
                    r.status,
                    200,
                    "{client} -> {upstream} stream={stream}: {}",
                    r.text()
                );
                let ct = r.headers["content-type"].to_str().unwrap();
                assert_eq!(
                    ct.starts_with("text/event-stream"),
                    stream,
                    "{client} -> {upstream}: {ct}"
                );
                assert_eq!(
                    answer_text(client, stream, &r.body),
                    TEXT,
                    "{client} -> {upstream} stream={stream}"
                );
            }
        }
        // The upstream always got its own protocol on its own path, with its own key.
        for seen in mock.requests() {
            let expected = match upstream {
                Protocol::Anthropic => "/v1/messages",
                Protocol::OpenAiChat => "/v1/chat/completions",
                Protocol::OpenAiResponses => "/v1/responses",
                Protocol::Gemini => "/v1beta/models/m-x:",
            };
            assert!(seen.path.starts_with(expected), "{upstream}: {}", seen.path);
            assert_eq!(seen.key.as_deref(), Some("up"));
            if upstream == Protocol::Gemini && seen.path.ends_with(":streamGenerateContent") {
                assert_eq!(
                    seen.query.as_deref(),
                    Some("alt=sse"),
                    "Gemini streams are requested as SSE"
                );
            }
        }
        // Every request's usage was extracted from the upstream's answer.
        let logs = env.logs().await;
        assert_eq!(logs.len(), 8);
        for l in &logs {
            let u = l
                .usage
                .unwrap_or_else(|| panic!("{upstream}: no usage on {l:?}"));
            assert_eq!(u.input + u.cache_read + u.output, 19, "{upstream}: {u:?}");
            assert!(l.unpriced, "m-x has no price");
        }
    }
}

#[tokio::test]
async fn gemini_clients_without_alt_sse_get_a_json_array_from_any_channel() {
    let mock = MockUpstream::start().await.unwrap();
    let env = Env::start(vec![channel(
        "a",
        Protocol::Anthropic,
        &mock.url(),
        &["up"],
        &["m-x"],
    )])
    .await;
    let r = env
        .post(
            Protocol::Gemini,
            "/v1beta/models/m-x:streamGenerateContent",
            "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}]}",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let chunks = v.as_array().unwrap();
    let text: String = chunks
        .iter()
        .flat_map(|c| {
            c["candidates"][0]["content"]["parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| p["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, TEXT);
}

#[tokio::test]
async fn upstream_errors_are_translated_into_the_clients_shape() {
    let mock = MockUpstream::start().await.unwrap();
    mock.on_any(Behavior::status(400, r#"{"error":{"message":"Invalid 'messages': too short","type":"invalid_request_error","param":"messages","code":null}}"#));
    let env = Env::start(vec![channel(
        "o",
        Protocol::OpenAiChat,
        &mock.url(),
        &["up"],
        &["m-x"],
    )])
    .await;
    let r = env
        .post(
            Protocol::Anthropic,
            "/v1/messages",
            r#"{"model":"m-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too short")
    );
    let r = env
        .post(
            Protocol::Gemini,
            "/v1beta/models/m-x:generateContent",
            r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["status"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn priced_models_get_a_cost_and_same_protocol_usage_is_recorded() {
    let mock = MockUpstream::start().await.unwrap();
    let env = Env::start(vec![channel(
        "a",
        Protocol::Anthropic,
        &mock.url(),
        &["up"],
        &["claude-sonnet-4-5"],
    )])
    .await;
    for stream in [false, true] {
        let (path, body) = request_for(Protocol::Anthropic, "claude-sonnet-4-5", stream);
        assert_eq!(
            env.post(Protocol::Anthropic, &path, &body).await.status,
            200
        );
    }
    let logs = env.logs().await;
    let table = relaygate_tokens::PriceTable::builtin();
    for l in &logs {
        let u = l.usage.unwrap();
        assert_eq!((u.input, u.output), (12, 7), "stream={}", l.stream);
        let expected = relaygate_tokens::cost(
            &table,
            "claude-sonnet-4-5",
            &relaygate_tokens::Usage {
                input: 12,
                output: 7,
                ..Default::default()
            },
            relaygate_tokens::ServiceTier::Standard,
        );
        assert!(expected.priced);
        assert_eq!(l.cost_micro_usd, Some(expected.micro_usd));
        assert!(!l.unpriced);
    }
    assert_eq!(
        logs[0].usage, logs[1].usage,
        "stream and non-stream record the same usage"
    );
}

#[tokio::test]
async fn token_counts_are_answered_locally() {
    let mock = MockUpstream::start().await.unwrap();
    let env = Env::start(vec![channel(
        "a",
        Protocol::Anthropic,
        &mock.url(),
        &["up"],
        &["claude-sonnet-4-5"],
    )])
    .await;
    let a = env
        .post(Protocol::Anthropic, "/v1/messages/count_tokens", r#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hello, how are you today?"}]}"#)
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let n = a.json()["input_tokens"].as_u64().unwrap();
    assert!((5..60).contains(&n), "{n}");
    assert_eq!(a.headers["x-relaygate-token-count"], "estimated");
    let o = env
        .post(
            Protocol::OpenAiResponses,
            "/v1/responses/input_tokens",
            r#"{"model":"gpt-4o","input":"Hello, how are you today?"}"#,
        )
        .await;
    assert_eq!(o.status, 200, "{}", o.text());
    assert_eq!(o.json()["object"], "response.input_tokens");
    assert_eq!(o.headers["x-relaygate-token-count"], "exact");
    let g = env
        .post(
            Protocol::Gemini,
            "/v1beta/models/gemini-2.5-pro:countTokens",
            r#"{"contents":[{"role":"user","parts":[{"text":"Hello, how are you today?"}]}]}"#,
        )
        .await;
    assert_eq!(g.status, 200, "{}", g.text());
    assert!(g.json()["totalTokens"].as_u64().unwrap() > 0);
    assert!(
        mock.requests().is_empty(),
        "counting never touches an upstream"
    );
    let bad = env
        .request("POST", "/v1/messages/count_tokens", &[], "{}")
        .await;
    assert_eq!(bad.status, 401);
}

#[tokio::test]
async fn tool_names_an_openai_upstream_would_refuse_are_shortened_on_the_way() {
    let mock = MockUpstream::start().await.unwrap();
    let env = Env::start(vec![channel(
        "o",
        Protocol::OpenAiResponses,
        &mock.url(),
        &["up"],
        &["m-x"],
    )])
    .await;
    let long = format!("mcp__server.{}", "lookup".repeat(15));
    let body = serde_json::json!({
        "model": "m-x", "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"name": long, "description": "d", "input_schema": {"type": "object", "properties": {}}}]
    });
    let r = env
        .post(Protocol::Anthropic, "/v1/messages", &body.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent: serde_json::Value = serde_json::from_slice(&mock.requests()[0].body).unwrap();
    let name = sent["tools"][0]["name"].as_str().unwrap();
    assert!(
        name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "{name}"
    );
}
