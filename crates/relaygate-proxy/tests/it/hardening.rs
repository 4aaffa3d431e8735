//! The trust boundary, tested as an attacker would: hostile headers both ways, keys in
//! upstream errors, unauthenticated floods, clients that leave, stall or never read.

use std::time::{Duration, Instant};

use bytes::Bytes;
use relaygate_protocol::Protocol;
use relaygate_testkit::{CannedOptions, canned_json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

const ALL: [Protocol; 4] = [
    Protocol::Anthropic,
    Protocol::OpenAiChat,
    Protocol::OpenAiResponses,
    Protocol::Gemini,
];

/// Headers a client may send that must never reach an upstream provider.
const HOSTILE_REQUEST: [(&str, &str); 11] = [
    ("cookie", "relaygate_session=s3ss10n; relaygate_csrf=c5rf"),
    ("x-forwarded-for", "10.9.8.7"),
    ("forwarded", "for=10.9.8.7;proto=https"),
    ("x-real-ip", "10.9.8.7"),
    ("proxy-authorization", "Basic cHJveHk6cHc="),
    ("x-relaygate-csrf", "c5rf"),
    ("x-relaygate-anything", "internal"),
    ("openai-organization", "org-attacker"),
    ("openai-project", "proj_attacker"),
    ("x-goog-user-project", "attacker-project"),
    ("x-custom-tracking", "whatever"),
];

/// Headers an upstream may send that must never reach the client.
const HOSTILE_RESPONSE: [(&str, &str); 5] = [
    ("set-cookie", "upstream=1; Path=/"),
    ("strict-transport-security", "max-age=63072000"),
    ("access-control-allow-origin", "*"),
    ("alt-svc", "h3=\":443\""),
    ("x-upstream-internal", "node-17"),
];

fn sdk_headers(protocol: Protocol) -> Vec<(&'static str, &'static str)> {
    let mut h = vec![
        ("x-stainless-lang", "python"),
        ("user-agent", "Anthropic/Python 0.40.0"),
        ("idempotency-key", "stainless-retry-1"),
    ];
    match protocol {
        Protocol::Anthropic => {
            h.push(("anthropic-version", "2023-06-01"));
            h.push(("anthropic-beta", "prompt-caching-2024-07-31"));
        }
        Protocol::OpenAiChat | Protocol::OpenAiResponses => {
            h.push(("openai-beta", "assistants=v2"))
        }
        Protocol::Gemini => h.push(("x-goog-api-client", "genai-py/1.0")),
    }
    h
}

#[tokio::test]
async fn hostile_request_headers_never_reach_the_upstream_in_any_protocol() {
    for client in ALL {
        for upstream in ALL {
            let mock = MockUpstream::start().await.unwrap();
            let env = Env::start(vec![channel(
                "c",
                upstream,
                &mock.url(),
                &["sk-chan-key-000000001"],
                &["m1"],
            )])
            .await;
            let (path, body) = request_for(client, "m1", false);
            let (auth, value) = auth_header(client, TOKEN);
            let mut headers: Vec<(&str, &str)> = vec![(auth, &value)];
            headers.extend(HOSTILE_REQUEST);
            headers.extend(sdk_headers(client));
            let r = env.request("POST", &path, &headers, &body).await;
            assert_eq!(r.status, 200, "{client:?}->{upstream:?}: {}", r.text());
            let seen = mock.requests();
            assert_eq!(seen.len(), 1);
            let h = &seen[0].headers;
            for (name, _) in HOSTILE_REQUEST {
                assert!(
                    h.get(name).is_none(),
                    "{client:?}->{upstream:?}: {name} reached the upstream"
                );
            }
            assert!(h.keys().all(|k| !k.as_str().starts_with("x-relaygate")));
            // The client's own credential (our token) never goes upstream either.
            let all: String = h
                .iter()
                .map(|(k, v)| format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())))
                .collect();
            assert!(!all.contains(TOKEN), "{client:?}->{upstream:?}: {all}");
            assert_eq!(seen[0].key.as_deref(), Some("sk-chan-key-000000001"));
            assert_eq!(h["x-stainless-lang"], "python", "{client:?}->{upstream:?}");
            assert_eq!(h["idempotency-key"], "stainless-retry-1");
            // A vendor's own headers go only to the same vendor.
            let same_vendor = |p: Protocol| match p {
                Protocol::OpenAiResponses => Protocol::OpenAiChat,
                p => p,
            };
            let vendor_header = match client {
                Protocol::Anthropic => "anthropic-beta",
                Protocol::OpenAiChat | Protocol::OpenAiResponses => "openai-beta",
                Protocol::Gemini => "x-goog-api-client",
            };
            assert_eq!(
                h.get(vendor_header).is_some(),
                same_vendor(client) == same_vendor(upstream),
                "{client:?}->{upstream:?}: {vendor_header}"
            );
        }
    }
}

fn canned_ok(protocol: Protocol, headers: &[(&str, &str)]) -> Behavior {
    let (path, _) = request_for(protocol, "m1", false);
    let body = canned_json(
        &path,
        &CannedOptions {
            model: "m1".to_owned(),
            text: "hello".to_owned(),
            deltas: 1,
        },
    );
    Behavior::Status {
        status: 200,
        body: String::from_utf8_lossy(&body).into_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

#[tokio::test]
async fn hostile_response_headers_never_reach_the_client() {
    for protocol in ALL {
        let mock = MockUpstream::start().await.unwrap();
        let mut headers: Vec<(&str, &str)> = HOSTILE_RESPONSE.to_vec();
        headers.push(("request-id", "req_upstream_1"));
        headers.push(("x-ratelimit-remaining-requests", "12"));
        headers.push(("anthropic-ratelimit-requests-remaining", "12"));
        mock.on_any(canned_ok(protocol, &headers));
        for pass_rate_limits in [false, true] {
            let mut config = fast_config();
            if pass_rate_limits {
                config.rate_limit_header_channels.insert("c".to_owned());
            }
            let env = Env::start_with(
                vec![channel("c", protocol, &mock.url(), &["k1"], &["m1"])],
                config,
            )
            .await;
            let (path, body) = request_for(protocol, "m1", false);
            let r = env.post(protocol, &path, &body).await;
            assert_eq!(r.status, 200, "{protocol:?}: {}", r.text());
            for (name, _) in HOSTILE_RESPONSE {
                assert!(
                    r.headers.get(name).is_none(),
                    "{protocol:?}: {name} came back"
                );
            }
            assert_eq!(r.headers["request-id"], "req_upstream_1");
            for name in [
                "x-ratelimit-remaining-requests",
                "anthropic-ratelimit-requests-remaining",
            ] {
                assert_eq!(
                    r.headers.get(name).is_some(),
                    pass_rate_limits,
                    "{protocol:?}: {name} with pass_rate_limit_headers={pass_rate_limits}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_key_quoted_in_an_upstream_error_never_reaches_client_or_log() {
    const KEY: &str = "sk-proj-SECRETSECRET0123456789";
    const OTHER: &str = "sk-ant-api03-unrelatedSECRETunrelated99";
    for protocol in ALL {
        let mock = MockUpstream::start().await.unwrap();
        let message = format!("Invalid request from key {KEY}; also seen {OTHER}");
        let body =
            serde_json::json!({"error": {"message": message, "type": "invalid_request_error"}})
                .to_string();
        mock.on_any(Behavior::status(400, body));
        let env = Env::start(vec![channel("c", protocol, &mock.url(), &[KEY], &["m1"])]).await;
        let (path, req) = request_for(protocol, "m1", false);
        let r = env.post(protocol, &path, &req).await;
        assert_eq!(r.status, 400, "{protocol:?}");
        let text = r.text();
        assert!(!text.contains("SECRETSECRET"), "{protocol:?}: {text}");
        assert!(!text.contains("unrelatedSECRET"), "{protocol:?}: {text}");
        let logs = env.logs().await;
        let row = format!("{:?}", logs[0]);
        assert!(!row.contains("SECRETSECRET"), "{row}");
        assert!(!row.contains("unrelatedSECRET"), "{row}");
    }
}

#[tokio::test]
async fn an_unauthenticated_flood_leaves_nothing_that_grows() {
    let mock = MockUpstream::start().await.unwrap();
    let mut config = fast_config();
    config.refused_rows_per_minute = 100;
    config.refused_rows_per_ip_per_minute = 40;
    let env = Env::start_with(
        vec![channel(
            "c",
            Protocol::OpenAiChat,
            &mock.url(),
            &["k1"],
            &["m1"],
        )],
        config,
    )
    .await;
    // One real request so the table's own series exist.
    let (path, body) = request_for(Protocol::OpenAiChat, "m1", false);
    assert_eq!(
        env.post(Protocol::OpenAiChat, &path, &body).await.status,
        200
    );
    let series_before = env.gateway.observer().series().len();
    const N: usize = 3000;
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let client = env.client.clone();
        let base = env.base.clone();
        tasks.push(tokio::spawn(async move {
            for i in (worker..N).step_by(8) {
                let body = format!(
                    r#"{{"model":"invented-{i}-{worker}","messages":[{{"role":"user","content":"x"}}]}}"#
                );
                let token = if i % 2 == 0 { "Bearer wrong-token-123" } else { "" };
                let headers: Vec<(&str, &str)> = if token.is_empty() {
                    vec![]
                } else {
                    vec![("authorization", token)]
                };
                let r = send(
                    &client,
                    "POST",
                    &format!("{base}/v1/chat/completions"),
                    &headers,
                    body,
                )
                .await;
                assert_eq!(r.status, 401);
                assert_eq!(r.json()["error"]["type"], "invalid_request_error");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let observer = env.gateway.observer();
    assert_eq!(
        observer.series().len(),
        series_before,
        "no series per invented model"
    );
    let refused: u64 = observer.refused_by_reason().iter().map(|(_, n)| n).sum();
    assert_eq!(refused, N as u64);
    let reasons: Vec<&str> = observer
        .refused_by_reason()
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(r, _)| *r)
        .collect();
    assert!(reasons.contains(&"missing_token") && reasons.contains(&"invalid_token"));
    let rows = env.logs().await.iter().filter(|r| r.status == 401).count();
    assert_eq!(rows, 40, "rows capped per client IP");
    assert_eq!(observer.refused_rows_dropped(), (N - 40) as u64);
    assert!(env.gateway.active_requests().is_empty());
}

/// Polls until nothing is in flight (or panics after `limit`).
async fn settle(env: &Env, limit: Duration) {
    let start = Instant::now();
    while !env.gateway.active_requests().is_empty() || env.gateway.leases_held() > 0 {
        assert!(start.elapsed() < limit, "requests still in flight");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_client_leaving_before_the_first_byte_gets_a_499_row() {
    for protocol in ALL {
        let mock = MockUpstream::start().await.unwrap();
        mock.on_any(Behavior::Delay(
            Duration::from_secs(3),
            Box::new(Behavior::Ok),
        ));
        let env = Env::start(vec![channel("c", protocol, &mock.url(), &["k1"], &["m1"])]).await;
        for stream in [false, true] {
            let (path, body) = request_for(protocol, "m1", stream);
            let gone =
                tokio::time::timeout(Duration::from_millis(200), env.post(protocol, &path, &body))
                    .await;
            assert!(gone.is_err(), "the upstream answered too early");
        }
        settle(&env, Duration::from_secs(5)).await;
        let logs = env.logs().await;
        assert_eq!(logs.len(), 2, "{protocol:?}: one row per request");
        for row in logs {
            assert_eq!(row.status, 499, "{protocol:?}: {row:?}");
            assert!(
                row.error
                    .as_deref()
                    .unwrap_or("")
                    .starts_with("client_closed")
            );
        }
    }
}

#[tokio::test]
async fn a_thousand_random_cancels_leave_a_thousand_rows_and_nothing_in_flight() {
    let mock = MockUpstream::start().await.unwrap();
    // 80 ms to the head, then 40 events 2 ms apart: cancels from 40 ms to 220 ms fall before
    // the first byte, mid-stream and after the end.
    mock.on_any(Behavior::Delay(
        Duration::from_millis(80),
        Box::new(Behavior::Ok),
    ));
    mock.set_event_gap(Duration::from_millis(2));
    mock.set_canned(CannedOptions {
        model: "m1".to_owned(),
        text: "word ".repeat(40),
        deltas: 40,
    });
    let env = Env::start(vec![channel(
        "c",
        Protocol::Anthropic,
        &mock.url(),
        &["k1"],
        &["m1"],
    )])
    .await;
    const N: u64 = 1000;
    // At most 50 in flight, so every request reaches the gateway well within 40 ms.
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(50));
    let mut tasks = Vec::new();
    for i in 0..N {
        let client = env.client.clone();
        let base = env.base.clone();
        let permit = std::sync::Arc::clone(&in_flight)
            .acquire_owned()
            .await
            .unwrap();
        let cancel_after = Duration::from_micros(40_000 + (i * 7919) % 180_000);
        let stream = i % 3 != 0;
        tasks.push(tokio::spawn(async move {
            let (path, body) = request_for(Protocol::Anthropic, "m1", stream);
            let (auth, value) = auth_header(Protocol::Anthropic, TOKEN);
            let _ = tokio::time::timeout(
                cancel_after,
                send(
                    &client,
                    "POST",
                    &format!("{base}{path}"),
                    &[(auth, &value)],
                    body,
                ),
            )
            .await;
            drop(permit);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    settle(&env, Duration::from_secs(20)).await;
    env.store.flush().await.unwrap();
    let logs = env
        .store
        .query_logs(relaygate_store::LogQuery {
            limit: 5000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(logs.len() as u64, N, "exactly one row per request");
    let mut ids: Vec<&str> = logs.iter().map(|r| r.request_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as u64, N);
    assert!(logs.iter().all(|r| r.status == 200 || r.status == 499));
    let cancelled_before = logs
        .iter()
        .filter(|r| r.status == 499 && r.first_byte_ms.is_none())
        .count();
    let cancelled_during = logs
        .iter()
        .filter(|r| r.status == 499 && r.first_byte_ms.is_some())
        .count();
    assert!(cancelled_before > 0, "some cancels before the first byte");
    assert!(cancelled_during > 0, "some cancels mid-stream");
    assert!(logs.iter().any(|r| r.status == 200), "some finished");
    assert_eq!(env.gateway.leases_held(), 0);
}

/// Reads whatever the server sends until it closes or `limit` passes.
async fn read_until_close(sock: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + limit;
    loop {
        let left = end.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, sock.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&out).into_owned()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

fn addr(env: &Env) -> String {
    env.base.trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn a_stalled_request_body_gets_408_in_the_clients_protocol() {
    let mock = MockUpstream::start().await.unwrap();
    let mut config = fast_config();
    config.client.body = Duration::from_millis(300);
    let env = Env::start_with(
        vec![channel(
            "c",
            Protocol::Anthropic,
            &mock.url(),
            &["k1"],
            &["m1"],
        )],
        config,
    )
    .await;
    let mut sock = TcpStream::connect(addr(&env)).await.unwrap();
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: {TOKEN}\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{{\"model\":\"m1\","
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let answer = read_until_close(&mut sock, Duration::from_secs(5))
        .await
        .expect("the gateway kept a silent body open");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("invalid_request_error"), "{answer}");
    assert!(mock.requests().is_empty(), "nothing went upstream");
    settle(&env, Duration::from_secs(2)).await;
    let logs = env.logs().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].status, 408);
}

#[tokio::test]
async fn slow_clients_do_not_starve_a_normal_one() {
    let mock = MockUpstream::start().await.unwrap();
    let mut config = fast_config();
    config.client.header = Duration::from_secs(2);
    let env = Env::start_with(
        vec![channel(
            "c",
            Protocol::OpenAiChat,
            &mock.url(),
            &["k1"],
            &["m1"],
        )],
        config,
    )
    .await;
    // 1,000 slowloris connections: each sends part of a request head and then nothing.
    let mut slow = Vec::new();
    for _ in 0..1000 {
        let mut s = TcpStream::connect(addr(&env)).await.unwrap();
        s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    let (path, body) = request_for(Protocol::OpenAiChat, "m1", false);
    // Warm the client's connection pool first so the measurement is the gateway's.
    assert_eq!(
        env.post(Protocol::OpenAiChat, &path, &body).await.status,
        200
    );
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let r = env.post(Protocol::OpenAiChat, &path, &body).await;
        assert_eq!(r.status, 200);
        times.push(started.elapsed());
    }
    times.sort();
    assert!(
        times[2] < Duration::from_millis(100),
        "median {:?} with 1,000 slow clients",
        times[2]
    );
    // And the slow ones are cut off once their header time is over.
    let mut closed = 0;
    for s in slow.iter_mut().take(20) {
        if read_until_close(s, Duration::from_secs(5)).await.is_some() {
            closed += 1;
        }
    }
    assert_eq!(closed, 20, "slow heads are closed after client_header_secs");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_its_upstream_cancelled() {
    let mock = MockUpstream::start().await.unwrap();
    // A long same-protocol stream of large events: far more than socket buffers hold.
    let mut chunks = vec![Bytes::from_static(
        b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m1\",\"content\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n",
    )];
    let text = "x".repeat(60 * 1024);
    let delta = format!(
        "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{text}\"}}}}\n\n"
    );
    for _ in 0..2000 {
        chunks.push(Bytes::from(delta.clone()));
    }
    mock.on_any(Behavior::Replay {
        content_type: "text/event-stream".to_owned(),
        chunks,
    });
    mock.set_event_gap(Duration::from_millis(1));
    let mut config = fast_config();
    config.client.write = Duration::from_millis(500);
    config.timeouts.idle = Duration::from_secs(30);
    let env = Env::start_with(
        vec![channel(
            "c",
            Protocol::Anthropic,
            &mock.url(),
            &["k1"],
            &["m1"],
        )],
        config,
    )
    .await;
    let (path, body) = request_for(Protocol::Anthropic, "m1", true);
    let mut sock = TcpStream::connect(addr(&env)).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nx-api-key: {TOKEN}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    while env.gateway.active_requests().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "request never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Never read: the gateway must give up on us within a few seconds.
    settle(&env, Duration::from_secs(15)).await;
    let logs = env.logs().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].status, 499, "{:?}", logs[0]);
    drop(sock);
}

#[tokio::test]
async fn a_body_dripping_slower_than_the_total_deadline_gets_408() {
    let mock = MockUpstream::start().await.unwrap();
    let mut config = fast_config();
    config.client.body = Duration::from_millis(300);
    config.client.body_total = Duration::from_secs(1);
    let env = Env::start_with(
        vec![channel(
            "c",
            Protocol::Anthropic,
            &mock.url(),
            &["k1"],
            &["m1"],
        )],
        config,
    )
    .await;
    let mut sock = TcpStream::connect(addr(&env)).await.unwrap();
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: {TOKEN}\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n"
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    // One byte every 100 ms: never silent for 300 ms, never done.
    let (mut read, mut write) = sock.into_split();
    let drip = tokio::spawn(async move {
        for _ in 0..100 {
            if write.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), read.read_to_end(&mut answer)).await;
    drip.abort();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3));
    settle(&env, Duration::from_secs(2)).await;
    let logs = env.logs().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].status, 408);
}
