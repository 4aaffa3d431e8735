//! Same-protocol passthrough: bytes arrive unchanged, credentials are swapped, redirects apply.

use relaygate_protocol::Protocol;

use crate::support::*;

#[tokio::test]
async fn every_protocol_streams_and_answers_byte_for_byte() {
    let mock = MockUpstream::start().await.unwrap();
    let url = mock.url();
    let env = Env::start(vec![
        channel("a", Protocol::Anthropic, &url, &["up-a"], &["claude-x"]),
        channel("o", Protocol::OpenAiChat, &url, &["up-o"], &["gpt-x"]),
        channel(
            "r",
            Protocol::OpenAiResponses,
            &url,
            &["up-r"],
            &["codex-x"],
        ),
        channel("g", Protocol::Gemini, &url, &["up-g"], &["gemini-x"]),
    ])
    .await;
    for (protocol, model, key) in [
        (Protocol::Anthropic, "claude-x", "up-a"),
        (Protocol::OpenAiChat, "gpt-x", "up-o"),
        (Protocol::OpenAiResponses, "codex-x", "up-r"),
        (Protocol::Gemini, "gemini-x", "up-g"),
    ] {
        for stream in [false, true] {
            let (path, body) = request_for(protocol, model, stream);
            let via = env.post(protocol, &path, &body).await;
            let straight = direct(&mock, &path, key, protocol, &body).await;
            assert_eq!(
                via.status,
                200,
                "{protocol} stream={stream}: {}",
                via.text()
            );
            assert_eq!(
                via.body, straight.body,
                "{protocol} stream={stream}: bytes differ"
            );
            assert!(!via.body.is_empty());
            assert!(via.headers.contains_key("x-relaygate-request-id"));
            let ct = via.headers["content-type"].to_str().unwrap();
            assert_eq!(
                ct.starts_with("text/event-stream"),
                stream,
                "{protocol} {ct}"
            );
        }
    }
    // The upstream saw only channel keys, never the gateway token, and the same body bytes.
    for r in mock.requests() {
        let key = r.key.clone().unwrap();
        assert!(key.starts_with("up-"), "upstream saw credential {key}");
        for (_, v) in &r.headers {
            assert!(
                !v.to_str().unwrap_or("").contains(TOKEN),
                "gateway token leaked upstream in a header"
            );
        }
        assert!(!r.query.unwrap_or_default().contains(TOKEN));
    }
}

#[tokio::test]
async fn gemini_key_in_query_is_not_forwarded_and_json_array_streams_pass() {
    let mock = MockUpstream::start().await.unwrap();
    let env = Env::start(vec![channel(
        "g",
        Protocol::Gemini,
        &mock.url(),
        &["up-g"],
        &["gemini-x"],
    )])
    .await;
    let r = env
        .request(
            "POST",
            &format!("/v1/models/gemini-x:streamGenerateContent?key={TOKEN}"),
            &[],
            r#"{"contents":[]}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert!(v.as_array().is_some_and(|a| a.len() == 3), "{v}");
    let seen = mock.requests();
    assert_eq!(seen[0].path, "/v1/models/gemini-x:streamGenerateContent");
    assert_eq!(seen[0].query, None, "the key parameter must be stripped");
    assert_eq!(seen[0].key.as_deref(), Some("up-g"));
}

#[tokio::test]
async fn model_redirects_rewrite_only_the_model() {
    let mock = MockUpstream::start().await.unwrap();
    let url = mock.url();
    let env = Env::start(vec![
        channel(
            "a",
            Protocol::Anthropic,
            &url,
            &["up-a"],
            &["alias=>claude-real"],
        ),
        channel(
            "g",
            Protocol::Gemini,
            &url,
            &["up-g"],
            &["g-alias=>gemini-real"],
        ),
    ])
    .await;
    let body = r#"{ "messages": [{"role":"user","content":"keep \"this\" exactly"}], "model" : "alias", "max_tokens": 5 }"#;
    let r = env.post(Protocol::Anthropic, "/v1/messages", body).await;
    assert_eq!(r.status, 200);
    let r = env
        .post(
            Protocol::Gemini,
            "/v1beta/models/g-alias:generateContent",
            "{}",
        )
        .await;
    assert_eq!(r.status, 200);
    let seen = mock.requests();
    assert_eq!(
        std::str::from_utf8(&seen[0].body).unwrap(),
        r#"{ "messages": [{"role":"user","content":"keep \"this\" exactly"}], "model" : "claude-real", "max_tokens": 5 }"#
    );
    assert_eq!(seen[1].path, "/v1beta/models/gemini-real:generateContent");
    let logs = env.logs().await;
    let a = logs
        .iter()
        .find(|l| l.client_protocol == "anthropic")
        .unwrap();
    assert_eq!(a.model_requested, "alias");
    assert_eq!(a.model_sent.as_deref(), Some("claude-real"));
}

#[tokio::test]
async fn client_headers_pass_and_hop_by_hop_do_not() {
    let mock = MockUpstream::start().await.unwrap();
    let env = Env::start(vec![channel(
        "a",
        Protocol::Anthropic,
        &mock.url(),
        &["up-a"],
        &["claude-x"],
    )])
    .await;
    let (path, body) = request_for(Protocol::Anthropic, "claude-x", false);
    let r = env
        .request(
            "POST",
            &format!("{path}?beta=true"),
            &[
                ("x-api-key", TOKEN),
                ("anthropic-version", "2023-06-01"),
                ("anthropic-beta", "context-1m-2025-08-07,other"),
                ("x-claude-code-session-id", "s1"),
                ("accept-encoding", "gzip"),
            ],
            &body,
        )
        .await;
    assert_eq!(r.status, 200);
    let seen = &mock.requests()[0];
    assert_eq!(seen.query.as_deref(), Some("beta=true"));
    assert_eq!(
        seen.headers["anthropic-beta"],
        "context-1m-2025-08-07,other"
    );
    assert_eq!(seen.headers["x-claude-code-session-id"], "s1");
    assert_eq!(seen.headers["x-api-key"], "up-a");
    assert!(!seen.headers.contains_key("accept-encoding"));
}

#[tokio::test]
async fn h2c_clients_are_served_on_the_same_port() {
    let mock = MockUpstream::start().await.unwrap();
    let env = Env::start(vec![channel(
        "o",
        Protocol::OpenAiChat,
        &mock.url(),
        &["up-o"],
        &["gpt-x"],
    )])
    .await;
    let h2: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http2_only(true)
            .build_http();
    let (path, body) = request_for(Protocol::OpenAiChat, "gpt-x", true);
    let auth = format!("Bearer {TOKEN}");
    let r = send(
        &h2,
        "POST",
        &format!("{}{}", env.base, path),
        &[("authorization", &auth)],
        body,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.text().ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn model_lists_take_the_clients_shape() {
    let mock = MockUpstream::start().await.unwrap();
    let url = mock.url();
    let env = Env::start(vec![
        channel(
            "a",
            Protocol::Anthropic,
            &url,
            &["k"],
            &["claude-b", "claude-a"],
        ),
        channel("o", Protocol::OpenAiChat, &url, &["k"], &["gpt-x"]),
        channel("g", Protocol::Gemini, &url, &["k"], &["gemini-x"]),
    ])
    .await;
    let a = env
        .request(
            "GET",
            "/v1/models",
            &[("x-api-key", TOKEN), ("anthropic-version", "2023-06-01")],
            "",
        )
        .await;
    let v = a.json();
    assert_eq!(v["data"][0]["id"], "claude-a");
    assert_eq!(v["data"][0]["type"], "model");
    assert_eq!(v["has_more"], false);
    let o = env
        .request(
            "GET",
            "/v1/models",
            &[("authorization", &format!("Bearer {TOKEN}"))],
            "",
        )
        .await;
    let v = o.json();
    assert_eq!(v["object"], "list");
    // Every client reaches every channel through translation, so every model is listed.
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["claude-a", "claude-b", "gemini-x", "gpt-x"]);
    let g = env
        .request("GET", "/v1beta/models", &[("x-goog-api-key", TOKEN)], "")
        .await;
    assert_eq!(g.json()["models"][2]["name"], "models/gemini-x");
    let none = env.request("GET", "/v1/models", &[], "").await;
    assert_eq!(none.status, 401);
    assert!(
        mock.requests().is_empty(),
        "model lists are answered locally"
    );
}

#[tokio::test]
async fn probes_are_answered_without_auth_or_logs() {
    let env = Env::start(vec![]).await;
    let r = env.request("HEAD", "/api/hello", &[], "").await;
    assert_eq!(r.status, 200);
    let r = env.request("HEAD", "/", &[], "").await;
    assert_eq!(r.status, 200);
    assert!(env.logs().await.is_empty());
}
