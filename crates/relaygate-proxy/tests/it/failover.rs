//! Failover across keys, URLs and channels; no retry once bytes reached the client; logs.

use std::time::Duration;

use relaygate_protocol::Protocol;
use relaygate_protocol::sse::SseDecoder;

use crate::support::*;

fn events(body: &[u8]) -> Vec<relaygate_protocol::sse::SseEvent> {
    let mut d = SseDecoder::new();
    let mut out = Vec::new();
    d.feed(body, &mut out).unwrap();
    d.finish(&mut out);
    out
}

#[tokio::test]
async fn a_refused_key_fails_over_to_the_next_key() {
    let mock = MockUpstream::start().await.unwrap();
    mock.on_key("bad", Behavior::status(401, r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#));
    let env = Env::start(vec![channel(
        "a",
        Protocol::Anthropic,
        &mock.url(),
        &["bad", "good"],
        &["claude-x"],
    )])
    .await;
    let (path, body) = request_for(Protocol::Anthropic, "claude-x", true);
    let r = env.post(Protocol::Anthropic, &path, &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let keys: Vec<_> = mock
        .requests()
        .iter()
        .map(|r| r.key.clone().unwrap())
        .collect();
    assert_eq!(keys, ["bad", "good"]);
    // The refused key is now cooling: the next request goes straight to the good one.
    let r = env.post(Protocol::Anthropic, &path, &body).await;
    assert_eq!(r.status, 200);
    assert_eq!(mock.requests().last().unwrap().key.as_deref(), Some("good"));
    assert_eq!(mock.requests().len(), 3);
    let logs = env.logs().await;
    assert_eq!(logs.len(), 2);
    let first = logs
        .iter()
        .find(|l| l.attempts == 2)
        .expect("row of the failed-over request");
    assert_eq!(first.key_index, Some(1));
    assert_eq!(first.status, 200);
    assert!(first.stream);
}

#[tokio::test]
async fn a_failing_channel_fails_over_to_the_next_channel_and_cools() {
    let primary = MockUpstream::start().await.unwrap();
    let backup = MockUpstream::start().await.unwrap();
    primary.on_any(Behavior::status(
        503,
        r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
    ));
    let mut p = channel(
        "primary",
        Protocol::OpenAiChat,
        &primary.url(),
        &["p1"],
        &["gpt-x"],
    );
    p.priority = 10;
    let b = channel(
        "backup",
        Protocol::OpenAiChat,
        &backup.url(),
        &["b1"],
        &["gpt-x"],
    );
    let env = Env::start(vec![p, b]).await;
    let (path, body) = request_for(Protocol::OpenAiChat, "gpt-x", false);
    let r = env.post(Protocol::OpenAiChat, &path, &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(primary.requests().len(), 1);
    assert_eq!(backup.requests().len(), 1);
    let r = env.post(Protocol::OpenAiChat, &path, &body).await;
    assert_eq!(r.status, 200);
    assert_eq!(primary.requests().len(), 1, "a cooling channel is skipped");
    assert_eq!(backup.requests().len(), 2);
    let logs = env.logs().await;
    let failed_over = logs.iter().find(|l| l.attempts == 2).unwrap();
    assert_eq!(failed_over.channel_name.as_deref(), Some("backup"));
}

#[tokio::test]
async fn a_second_url_of_the_same_channel_is_tried_before_giving_up() {
    let dead = "http://127.0.0.1:9"; // discard port: connection refused
    let mock = MockUpstream::start().await.unwrap();
    let mut c = channel("multi", Protocol::Gemini, dead, &["k"], &["gemini-x"]);
    c.base_urls.push(mock.url());
    let env = Env::start(vec![c]).await;
    let r = env
        .post(
            Protocol::Gemini,
            "/v1beta/models/gemini-x:generateContent",
            "{}",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn rate_limits_honour_retry_after_and_move_on() {
    let mock = MockUpstream::start().await.unwrap();
    mock.on_key(
        "limited",
        Behavior::Status {
            status: 429,
            body: r#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#.to_owned(),
            headers: vec![("retry-after".to_owned(), "120".to_owned())],
        },
    );
    let env = Env::start(vec![channel(
        "o",
        Protocol::OpenAiResponses,
        &mock.url(),
        &["limited", "ok"],
        &["codex-x"],
    )])
    .await;
    let (path, body) = request_for(Protocol::OpenAiResponses, "codex-x", true);
    for _ in 0..3 {
        let r = env.post(Protocol::OpenAiResponses, &path, &body).await;
        assert_eq!(r.status, 200);
    }
    let limited = mock
        .requests()
        .iter()
        .filter(|r| r.key.as_deref() == Some("limited"))
        .count();
    assert_eq!(limited, 1, "the rate-limited key rests for its retry-after");
}

#[tokio::test]
async fn client_errors_are_returned_as_they_are_without_failover() {
    let (a, b, env) = primary_and_backup(Protocol::Anthropic, "claude-x").await;
    let err = r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: field required"}}"#;
    a.on_any(Behavior::status(400, err));
    let r = env
        .post(
            Protocol::Anthropic,
            "/v1/messages",
            r#"{"model":"claude-x"}"#,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), err);
    assert!(b.requests().is_empty());
    let logs = env.logs().await;
    assert_eq!(logs[0].status, 400);
    assert!(logs[0].error.as_deref().unwrap().contains("max_tokens"));
}

#[tokio::test]
async fn when_everything_fails_the_last_upstream_error_is_returned() {
    let mock = MockUpstream::start().await.unwrap();
    mock.on_any(Behavior::status(
        529,
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    ));
    let env = Env::start(vec![channel(
        "a",
        Protocol::Anthropic,
        &mock.url(),
        &["k1", "k2"],
        &["claude-x"],
    )])
    .await;
    let r = env
        .post(
            Protocol::Anthropic,
            "/v1/messages",
            r#"{"model":"claude-x"}"#,
        )
        .await;
    assert_eq!(r.status, 529);
    assert_eq!(r.json()["error"]["type"], "overloaded_error");
}

#[tokio::test]
async fn unreachable_upstreams_give_a_502_in_the_clients_shape() {
    let env = Env::start(vec![channel(
        "g",
        Protocol::Gemini,
        "http://127.0.0.1:9",
        &["k"],
        &["gemini-x"],
    )])
    .await;
    let r = env
        .post(
            Protocol::Gemini,
            "/v1beta/models/gemini-x:generateContent",
            "{}",
        )
        .await;
    assert_eq!(r.status, 502);
    let v = r.json();
    assert_eq!(v["error"]["code"], 502);
    assert_eq!(v["error"]["status"], "UNAVAILABLE");
}

#[tokio::test]
async fn no_retry_after_the_first_byte_and_the_stream_ends_with_an_error_event() {
    let (a, b, env) = primary_and_backup(Protocol::Anthropic, "claude-x").await;
    a.on_any(Behavior::CutAfter(4));
    let (path, body) = request_for(Protocol::Anthropic, "claude-x", true);
    let r = env.post(Protocol::Anthropic, &path, &body).await;
    assert_eq!(r.status, 200);
    assert!(!r.aborted, "an SSE stream ends cleanly with an error event");
    let ev = events(&r.body);
    assert_eq!(ev.len(), 5, "{}", r.text());
    assert_eq!(ev[0].event.as_deref(), Some("message_start"));
    assert_eq!(ev[4].event.as_deref(), Some("error"));
    let err: serde_json::Value = serde_json::from_str(&ev[4].data).unwrap();
    assert_eq!(err["type"], "error");
    assert_eq!(err["error"]["type"], "api_error");
    assert!(
        b.requests().is_empty(),
        "no second attempt after bytes were sent"
    );
    let logs = env.logs().await;
    assert!(logs[0].error.as_deref().unwrap().contains("broke"));
}

#[tokio::test]
async fn a_stream_cut_before_its_first_byte_fails_over_invisibly() {
    let (a, b, env) = primary_and_backup(Protocol::OpenAiChat, "gpt-x").await;
    a.on_any(Behavior::CutAfter(0));
    let (path, body) = request_for(Protocol::OpenAiChat, "gpt-x", true);
    let r = env.post(Protocol::OpenAiChat, &path, &body).await;
    assert_eq!(r.status, 200);
    assert!(r.text().ends_with("data: [DONE]\n\n"), "{}", r.text());
    assert_eq!(b.requests().len(), 1);
}

#[tokio::test]
async fn errors_mid_stream_use_each_protocols_event_shape() {
    let mock = MockUpstream::start().await.unwrap();
    // Each cut comes after the first real content, so the stream is already committed.
    mock.on_any(Behavior::CutAfter(3));
    mock.on_key("kr", Behavior::CutAfter(5));
    mock.on_key("kg", Behavior::CutAfter(2));
    let url = mock.url();
    let env = Env::start(vec![
        channel("o", Protocol::OpenAiChat, &url, &["k"], &["gpt-x"]),
        channel("r", Protocol::OpenAiResponses, &url, &["kr"], &["codex-x"]),
        channel("g", Protocol::Gemini, &url, &["kg"], &["gemini-x"]),
    ])
    .await;
    let (path, body) = request_for(Protocol::OpenAiChat, "gpt-x", true);
    let ev = events(&env.post(Protocol::OpenAiChat, &path, &body).await.body);
    let last: serde_json::Value = serde_json::from_str(&ev.last().unwrap().data).unwrap();
    assert_eq!(last["error"]["type"], "server_error");
    let (path, body) = request_for(Protocol::OpenAiResponses, "codex-x", true);
    let ev = events(&env.post(Protocol::OpenAiResponses, &path, &body).await.body);
    assert_eq!(ev.len(), 6);
    assert_eq!(ev[5].event.as_deref(), Some("error"));
    let last: serde_json::Value = serde_json::from_str(&ev[5].data).unwrap();
    assert_eq!(
        last["sequence_number"], 5,
        "continues the upstream's numbering"
    );
    let (path, body) = request_for(Protocol::Gemini, "gemini-x", true);
    let ev = events(&env.post(Protocol::Gemini, &path, &body).await.body);
    assert_eq!(ev.len(), 3);
    let last: serde_json::Value = serde_json::from_str(&ev.last().unwrap().data).unwrap();
    assert_eq!(last["error"]["code"], 502);
}

#[tokio::test]
async fn a_json_body_cut_before_its_end_fails_over_and_a_late_cut_aborts() {
    let (a, b, env) = primary_and_backup(Protocol::Gemini, "gemini-x").await;
    a.on_any(Behavior::CutAfter(1));
    // Gemini without alt=sse streams a JSON array. Cut before it is complete, it is still held
    // (small non-stream bodies are read whole to look for soft errors) and fails over.
    let r = env
        .post(
            Protocol::Gemini,
            "/v1beta/models/gemini-x:streamGenerateContent",
            "{}",
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(!r.aborted);
    assert_eq!(r.json().as_array().map(Vec::len), Some(3));
    assert_eq!(b.requests().len(), 1);

    // A large body cut after it started flowing aborts the connection: a truncated body must
    // not look complete.
    let big = MockUpstream::start().await.unwrap();
    let chunk = bytes::Bytes::from(vec![b' '; 100 * 1024]);
    big.on_any(Behavior::ReplayThenCut {
        content_type: "application/json".to_owned(),
        chunks: vec![
            bytes::Bytes::from_static(b"[{\"candidates\":[]}"),
            chunk.clone(),
            chunk,
        ],
    });
    let env = Env::start(vec![channel(
        "big",
        Protocol::Gemini,
        &big.url(),
        &["k"],
        &["gemini-x"],
    )])
    .await;
    let r = env
        .post(
            Protocol::Gemini,
            "/v1beta/models/gemini-x:streamGenerateContent",
            "{}",
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.aborted, "truncated non-SSE body must abort");
}

#[tokio::test]
async fn slow_first_byte_fails_over_and_idle_streams_end() {
    let slow = MockUpstream::start().await.unwrap();
    let fast = MockUpstream::start().await.unwrap();
    slow.on_any(Behavior::Delay(
        Duration::from_secs(3),
        Box::new(Behavior::Ok),
    ));
    let mut config = fast_config();
    config.timeouts.first_byte = Duration::from_millis(300);
    let mut first = channel(
        "slow",
        Protocol::Anthropic,
        &slow.url(),
        &["k"],
        &["claude-x"],
    );
    first.priority = 5;
    let env = Env::start_with(
        vec![
            first,
            channel(
                "fast",
                Protocol::Anthropic,
                &fast.url(),
                &["k"],
                &["claude-x"],
            ),
        ],
        config,
    )
    .await;
    let (path, body) = request_for(Protocol::Anthropic, "claude-x", true);
    let r = env.post(Protocol::Anthropic, &path, &body).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        events(&r.body).last().unwrap().event.as_deref(),
        Some("message_stop")
    );
    assert_eq!(fast.requests().len(), 1);

    // A stream that goes silent after its first content ends with an error event.
    let stalls = MockUpstream::start().await.unwrap();
    stalls.on_any(Behavior::Slow(Duration::from_millis(400)));
    let mut config = fast_config();
    config.timeouts.idle = Duration::from_millis(250);
    let env = Env::start_with(
        vec![channel(
            "stalls",
            Protocol::Anthropic,
            &stalls.url(),
            &["k"],
            &["claude-x"],
        )],
        config,
    )
    .await;
    let r = env.post(Protocol::Anthropic, &path, &body).await;
    let ev = events(&r.body);
    assert_eq!(ev.first().unwrap().event.as_deref(), Some("message_start"));
    assert!(
        ev.iter()
            .any(|e| e.event.as_deref() == Some("content_block_delta"))
    );
    let last = ev.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("error"));
    assert!(last.data.contains("timeout_error"), "{}", last.data);
}

#[tokio::test]
async fn weighted_round_robin_spreads_load_inside_a_priority() {
    let a = MockUpstream::start().await.unwrap();
    let b = MockUpstream::start().await.unwrap();
    let mut ca = channel("a", Protocol::OpenAiChat, &a.url(), &["k"], &["gpt-x"]);
    ca.weight = 3;
    let env = Env::start(vec![
        ca,
        channel("b", Protocol::OpenAiChat, &b.url(), &["k"], &["gpt-x"]),
    ])
    .await;
    let (path, body) = request_for(Protocol::OpenAiChat, "gpt-x", false);
    for _ in 0..8 {
        assert_eq!(
            env.post(Protocol::OpenAiChat, &path, &body).await.status,
            200
        );
    }
    assert_eq!((a.requests().len(), b.requests().len()), (6, 2));
}

#[tokio::test]
async fn graceful_shutdown_flushes_every_log_row() {
    let mock = MockUpstream::start().await.unwrap();
    let mut env = Env::start(vec![channel(
        "a",
        Protocol::Anthropic,
        &mock.url(),
        &["k"],
        &["claude-x"],
    )])
    .await;
    let (path, body) = request_for(Protocol::Anthropic, "claude-x", false);
    for _ in 0..5 {
        env.post(Protocol::Anthropic, &path, &body).await;
    }
    env.shutdown().await;
    let rows = env
        .store
        .query_logs(relaygate_store::LogQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);
    let ids: std::collections::HashSet<_> = rows.iter().map(|r| r.request_id.clone()).collect();
    assert_eq!(ids.len(), 5, "request ids are unique");
    for r in rows {
        assert_eq!(r.status, 200);
        assert_eq!(r.client_protocol, "anthropic");
        assert_eq!(r.channel_name.as_deref(), Some("a"));
        assert_eq!(r.key_index, Some(0));
        assert!(r.upstream_url.as_deref().unwrap().ends_with("/v1/messages"));
        assert!(r.first_byte_ms.is_some());
        assert!(r.error.is_none());
    }
}
