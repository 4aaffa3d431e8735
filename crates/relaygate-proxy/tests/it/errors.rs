//! Errors the gateway writes itself: auth, size, routing, bad input.

use relaygate_protocol::Protocol;

use crate::support::*;

#[tokio::test]
async fn auth_errors_take_each_protocols_shape() {
    let mock = MockUpstream::start().await.unwrap();
    let url = mock.url();
    let env = Env::start(vec![
        channel("a", Protocol::Anthropic, &url, &["k"], &["claude-x"]),
        channel("o", Protocol::OpenAiChat, &url, &["k"], &["gpt-x"]),
        channel("r", Protocol::OpenAiResponses, &url, &["k"], &["codex-x"]),
        channel("g", Protocol::Gemini, &url, &["k"], &["gemini-x"]),
    ])
    .await;
    for (protocol, model) in [
        (Protocol::Anthropic, "claude-x"),
        (Protocol::OpenAiChat, "gpt-x"),
        (Protocol::OpenAiResponses, "codex-x"),
        (Protocol::Gemini, "gemini-x"),
    ] {
        let (path, body) = request_for(protocol, model, false);
        let (name, wrong) = auth_header(protocol, "rg-wrong-token");
        for headers in [vec![], vec![(name, wrong.as_str())]] {
            let r = env.request("POST", &path, &headers, &body).await;
            assert_eq!(r.status, 401, "{protocol}");
            let v = r.json();
            match protocol {
                Protocol::Anthropic => {
                    assert_eq!(v["type"], "error");
                    assert_eq!(v["error"]["type"], "authentication_error");
                }
                Protocol::OpenAiChat | Protocol::OpenAiResponses => {
                    assert_eq!(v["error"]["code"], "invalid_api_key")
                }
                Protocol::Gemini => assert_eq!(v["error"]["status"], "UNAUTHENTICATED"),
            }
        }
    }
    assert!(mock.requests().is_empty());
    // Presenting the stored hash instead of the token does not authenticate.
    let hash = relaygate_proxy::auth::hash_token(TOKEN);
    let r = env
        .request(
            "POST",
            "/v1/messages",
            &[("x-api-key", &hash)],
            r#"{"model":"claude-x"}"#,
        )
        .await;
    assert_eq!(r.status, 401);
    let logs = env.logs().await;
    assert_eq!(logs.len(), 9, "failed auth is logged too");
    assert!(logs.iter().all(|l| l.status == 401 && l.token_id.is_none()));
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let mock = MockUpstream::start().await.unwrap();
    let mut config = fast_config();
    config.max_body_bytes = 1024;
    let env = Env::start_with(
        vec![channel(
            "o",
            Protocol::OpenAiChat,
            &mock.url(),
            &["k"],
            &["gpt-x"],
        )],
        config,
    )
    .await;
    let big = format!(
        r#"{{"model":"gpt-x","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(2000)
    );
    let r = env
        .post(Protocol::OpenAiChat, "/v1/chat/completions", &big)
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["code"], "request_too_large");
    let ok = r#"{"model":"gpt-x","messages":[]}"#;
    assert_eq!(
        env.post(Protocol::OpenAiChat, "/v1/chat/completions", ok)
            .await
            .status,
        200
    );
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn bodies_over_the_limit_without_a_length_get_413() {
    use http_body_util::BodyExt;
    let mock = MockUpstream::start().await.unwrap();
    let mut config = fast_config();
    config.max_body_bytes = 1024;
    let env = Env::start_with(
        vec![channel(
            "a",
            Protocol::Anthropic,
            &mock.url(),
            &["k"],
            &["claude-x"],
        )],
        config,
    )
    .await;
    // A chunked body (no content-length) larger than the limit.
    let (tx, rx) =
        tokio::sync::mpsc::channel::<Result<http_body::Frame<bytes::Bytes>, std::io::Error>>(4);
    tokio::spawn(async move {
        for _ in 0..8 {
            if tx
                .send(Ok(http_body::Frame::data(bytes::Bytes::from(vec![
                    b' ';
                    512
                ]))))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    struct Rx(tokio::sync::mpsc::Receiver<Result<http_body::Frame<bytes::Bytes>, std::io::Error>>);
    impl http_body::Body for Rx {
        type Data = bytes::Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, std::io::Error>>>
        {
            self.0.poll_recv(cx)
        }
    }
    let client: hyper_util::client::legacy::Client<_, Rx> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let req = http::Request::post(format!("{}/v1/messages", env.base))
        .header("x-api-key", TOKEN)
        .body(Rx(rx))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 413);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["type"], "request_too_large");
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn bad_requests_are_refused_before_any_upstream() {
    let mock = MockUpstream::start().await.unwrap();
    let env = Env::start(vec![channel(
        "a",
        Protocol::Anthropic,
        &mock.url(),
        &["k"],
        &["claude-x"],
    )])
    .await;
    for body in ["not json", "[1,2]", r#"{"messages":[]}"#, r#"{"model":""}"#] {
        let r = env.post(Protocol::Anthropic, "/v1/messages", body).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    }
    let r = env
        .post(
            Protocol::Anthropic,
            "/v1/messages",
            r#"{"model":"claude-unknown"}"#,
        )
        .await;
    assert_eq!(r.status, 404);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("claude-unknown")
    );
    let r = env.request("POST", "/v1/embeddings", &[], "{}").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "not_found");
    assert!(mock.requests().is_empty());
}
