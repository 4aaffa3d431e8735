//! Routing intelligence through the real proxy: classification, soft errors, health,
//! persistence of cooldowns, limits and the attempt trail.

use std::sync::Arc;
use std::time::Duration;

use relaygate_protocol::Protocol;
use relaygate_proxy::{Gateway, Server};
use relaygate_store::{ChannelLimits, SqliteStore, Store, TokenLimits, TokenSpec};

use crate::support::*;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn quota_bodies_cool_the_key_for_long_and_the_trail_shows_why() {
    let mock = MockUpstream::start().await.unwrap();
    mock.on_key(
        "broke",
        Behavior::status(429, r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#),
    );
    let env = Env::start(vec![channel(
        "o",
        Protocol::OpenAiChat,
        &mock.url(),
        &["broke", "ok"],
        &["gpt-x"],
    )])
    .await;
    let (path, body) = request_for(Protocol::OpenAiChat, "gpt-x", false);
    let r = env.post(Protocol::OpenAiChat, &path, &body).await;
    assert_eq!(r.status, 200);
    let id = r.headers["x-relaygate-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    env.logs().await;
    let trail = env.store.attempts(id).await.unwrap();
    assert_eq!(trail.len(), 2, "{trail:?}");
    assert_eq!(trail[0].outcome, "quota_exhausted");
    assert_eq!(trail[0].scope.as_deref(), Some("key"));
    assert_eq!(trail[0].status, Some(429));
    let until = trail[0].cooldown_until_ms.unwrap();
    assert!(
        until >= now_ms() + 20 * 60 * 1000,
        "a quota rests far longer than a passing 429"
    );
    assert_eq!(trail[1].outcome, "ok");
    assert_eq!(trail[1].key_index, Some(1));
}

#[tokio::test]
async fn retry_after_is_honoured_exactly() {
    let mock = MockUpstream::start().await.unwrap();
    mock.on_key(
        "busy",
        Behavior::Status {
            status: 429,
            body: r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#
                .to_owned(),
            headers: vec![("retry-after".to_owned(), "7".to_owned())],
        },
    );
    let env = Env::start(vec![channel(
        "a",
        Protocol::Anthropic,
        &mock.url(),
        &["busy", "ok"],
        &["claude-x"],
    )])
    .await;
    let before = now_ms();
    let r = env
        .post(
            Protocol::Anthropic,
            "/v1/messages",
            r#"{"model":"claude-x"}"#,
        )
        .await;
    assert_eq!(r.status, 200);
    let id = r.headers["x-relaygate-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    env.logs().await;
    let trail = env.store.attempts(id).await.unwrap();
    assert_eq!(trail[0].outcome, "rate_limited");
    let until = trail[0].cooldown_until_ms.unwrap();
    assert!(
        (before + 6_000..=now_ms() + 8_000).contains(&until),
        "until {until} vs now {before}"
    );
}

fn soft_error_bodies(protocol: Protocol) -> (&'static str, Vec<bytes::Bytes>) {
    match protocol {
        Protocol::Anthropic => (
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            vec![
                bytes::Bytes::from_static(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"x\",\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\n"),
                bytes::Bytes::from_static(b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"),
            ],
        ),
        Protocol::OpenAiChat => (
            r#"{"error":{"message":"Rate limit reached","type":"rate_limit_error","code":"rate_limit_exceeded"}}"#,
            vec![bytes::Bytes::from_static(b"data: {\"error\":{\"message\":\"upstream failure\",\"type\":\"server_error\"}}\n\n")],
        ),
        Protocol::OpenAiResponses => (
            r#"{"error":{"message":"The server had an error","type":"server_error","code":null}}"#,
            vec![
                bytes::Bytes::from_static(b"event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"r\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[]}}\n\n"),
                bytes::Bytes::from_static(b"event: response.failed\ndata: {\"type\":\"response.failed\",\"sequence_number\":1,\"response\":{\"id\":\"r\",\"object\":\"response\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"boom\"},\"output\":[]}}\n\n"),
            ],
        ),
        Protocol::Gemini => (
            r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#,
            vec![bytes::Bytes::from_static(b"data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n")],
        ),
    }
}

#[tokio::test]
async fn soft_errors_fail_over_invisibly_in_every_protocol() {
    for protocol in Protocol::ALL {
        let (json_body, stream_events) = soft_error_bodies(protocol);
        for stream in [false, true] {
            let mock = MockUpstream::start().await.unwrap();
            let model = "m-x";
            // A soft error may be key- or channel-scoped: a second channel catches both.
            let mut soft = channel("soft", protocol, &mock.url(), &["soft"], &[model]);
            soft.priority = 5;
            let env = Env::start(vec![
                soft,
                channel("good", protocol, &mock.url(), &["good"], &[model]),
            ])
            .await;
            if stream {
                mock.on_key(
                    "soft",
                    Behavior::Replay {
                        content_type: "text/event-stream".to_owned(),
                        chunks: stream_events.clone(),
                    },
                );
            } else {
                mock.on_key(
                    "soft",
                    Behavior::Replay {
                        content_type: "application/json".to_owned(),
                        chunks: vec![bytes::Bytes::from_static(json_body.as_bytes())],
                    },
                );
            }
            let (path, body) = request_for(protocol, model, stream);
            let r = env.post(protocol, &path, &body).await;
            assert_eq!(r.status, 200, "{protocol} stream={stream}: {}", r.text());
            let direct = direct(&mock, &path, "good", protocol, &body).await;
            assert_eq!(
                r.body, direct.body,
                "{protocol} stream={stream}: the client sees only the good answer"
            );
            let logs = env.logs().await;
            assert_eq!(logs[0].attempts, 2, "{protocol} stream={stream}");
            let keys: Vec<_> = mock
                .requests()
                .iter()
                .map(|r| r.key.clone().unwrap())
                .collect();
            assert_eq!(&keys[..2], ["soft", "good"], "{protocol} stream={stream}");
        }
    }
}

#[tokio::test]
async fn an_error_event_after_content_ends_cleanly_and_is_logged_as_failed() {
    let mock = MockUpstream::start().await.unwrap();
    let events = vec![
        bytes::Bytes::from_static(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"x\",\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\n"),
        bytes::Bytes::from_static(b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"),
        bytes::Bytes::from_static(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n"),
        bytes::Bytes::from_static(b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"),
    ];
    let wire: Vec<u8> = events.concat();
    mock.on_any(Behavior::Replay {
        content_type: "text/event-stream".to_owned(),
        chunks: events,
    });
    let backup = MockUpstream::start().await.unwrap();
    let mut first = channel("a", Protocol::Anthropic, &mock.url(), &["k"], &["claude-x"]);
    first.priority = 5;
    let env = Env::start(vec![
        first,
        channel(
            "b",
            Protocol::Anthropic,
            &backup.url(),
            &["k"],
            &["claude-x"],
        ),
    ])
    .await;
    let (path, body) = request_for(Protocol::Anthropic, "claude-x", true);
    let r = env.post(Protocol::Anthropic, &path, &body).await;
    assert_eq!(r.status, 200);
    assert!(!r.aborted);
    assert_eq!(
        r.body.to_vec(),
        wire,
        "the upstream's own error event ends the stream"
    );
    assert!(backup.requests().is_empty(), "no retry after content");
    let logs = env.logs().await;
    assert!(
        logs[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("error event"),
        "{:?}",
        logs[0]
    );
}

#[tokio::test]
async fn empty_streams_fail_over() {
    let (a, b, env) = primary_and_backup(Protocol::OpenAiChat, "gpt-x").await;
    a.on_any(Behavior::Replay {
        content_type: "text/event-stream".to_owned(),
        chunks: vec![bytes::Bytes::from_static(b"data: [DONE]\n\n")],
    });
    let (path, body) = request_for(Protocol::OpenAiChat, "gpt-x", true);
    let r = env.post(Protocol::OpenAiChat, &path, &body).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("Hello"), "{}", r.text());
    assert_eq!(b.requests().len(), 1);
}

#[tokio::test]
async fn a_new_channel_that_fails_at_once_is_demoted_at_once() {
    let fresh = MockUpstream::start().await.unwrap();
    let steady = MockUpstream::start().await.unwrap();
    fresh.on_any(Behavior::status(
        500,
        r#"{"error":{"message":"boom","type":"server_error"}}"#,
    ));
    let mut config = fast_config();
    // No cooldown at all: only the health score can move traffic away.
    config.cooldown.server = Duration::ZERO;
    let mut a = channel(
        "fresh",
        Protocol::OpenAiChat,
        &fresh.url(),
        &["k"],
        &["gpt-x"],
    );
    a.priority = 10;
    let env = Env::start_with(
        vec![
            a,
            channel(
                "steady",
                Protocol::OpenAiChat,
                &steady.url(),
                &["k"],
                &["gpt-x"],
            ),
        ],
        config,
    )
    .await;
    let (path, body) = request_for(Protocol::OpenAiChat, "gpt-x", false);
    for _ in 0..4 {
        assert_eq!(
            env.post(Protocol::OpenAiChat, &path, &body).await.status,
            200
        );
    }
    assert_eq!(
        fresh.requests().len(),
        1,
        "one failure is enough to demote a new channel"
    );
    assert_eq!(steady.requests().len(), 4);
}

#[tokio::test]
async fn cooldowns_survive_a_restart() {
    let mock = MockUpstream::start().await.unwrap();
    mock.on_key("dead", Behavior::status(401, r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#));
    let db = temp_db();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).unwrap());
    store
        .upsert_channel(channel(
            "o",
            Protocol::OpenAiChat,
            &mock.url(),
            &["dead", "alive"],
            &["gpt-x"],
        ))
        .await
        .unwrap();
    store
        .upsert_token(TokenSpec {
            name: "t".to_owned(),
            token_hash: relaygate_proxy::auth::hash_token(TOKEN),
            hint: String::new(),
            enabled: true,
            expires_at_ms: None,
            limits: TokenLimits::default(),
        })
        .await
        .unwrap();
    let (path, body) = request_for(Protocol::OpenAiChat, "gpt-x", false);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let auth = format!("Bearer {TOKEN}");
    {
        let gw = Gateway::new(fast_config(), Arc::clone(&store))
            .await
            .unwrap();
        let server = Server::start("127.0.0.1:0".parse().unwrap(), gw)
            .await
            .unwrap();
        let url = format!("http://{}{}", server.local_addr(), path);
        let r = send(
            &client,
            "POST",
            &url,
            &[("authorization", &auth)],
            body.clone(),
        )
        .await;
        assert_eq!(r.status, 200);
        server.shutdown().await.unwrap();
    }
    store.close().await.unwrap();
    assert_eq!(mock.requests().len(), 2);
    // A new process on the same database.
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).unwrap());
    assert_eq!(store.active_cooldowns(now_ms()).await.unwrap().len(), 1);
    let gw = Gateway::new(fast_config(), Arc::clone(&store))
        .await
        .unwrap();
    let server = Server::start("127.0.0.1:0".parse().unwrap(), gw)
        .await
        .unwrap();
    let url = format!("http://{}{}", server.local_addr(), path);
    let r = send(&client, "POST", &url, &[("authorization", &auth)], body).await;
    assert_eq!(r.status, 200);
    assert_eq!(mock.requests().len(), 3);
    assert_eq!(
        mock.requests()[2].key.as_deref(),
        Some("alive"),
        "the dead key stays cooled after a restart"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn channel_rpm_limits_move_traffic_and_then_refuse_with_retry_after() {
    let a = MockUpstream::start().await.unwrap();
    let b = MockUpstream::start().await.unwrap();
    let mut first = channel("a", Protocol::Anthropic, &a.url(), &["k"], &["claude-x"]);
    first.priority = 5;
    first.limits = ChannelLimits {
        rpm: 2,
        ..ChannelLimits::default()
    };
    let mut second = channel("b", Protocol::Anthropic, &b.url(), &["k"], &["claude-x"]);
    second.limits = ChannelLimits {
        rpm: 1,
        ..ChannelLimits::default()
    };
    let env = Env::start(vec![first, second]).await;
    let body = r#"{"model":"claude-x"}"#;
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(
                env.post(Protocol::Anthropic, "/v1/messages", body)
                    .await
                    .status
                    .as_u16(),
            );
        }
        v
    };
    assert_eq!(statuses, vec![200, 200, 200, 429]);
    assert_eq!((a.requests().len(), b.requests().len()), (2, 1));
    let r = env.post(Protocol::Anthropic, "/v1/messages", body).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
}

#[tokio::test]
async fn token_restrictions_apply() {
    let mock = MockUpstream::start().await.unwrap();
    let url = mock.url();
    let env = Env::start(vec![
        channel(
            "allowed",
            Protocol::OpenAiChat,
            &url,
            &["k1"],
            &["gpt-x", "gpt-y"],
        ),
        channel("other", Protocol::OpenAiChat, &url, &["k2"], &["gpt-z"]),
    ])
    .await;
    env.store
        .upsert_token(TokenSpec {
            name: "limited".to_owned(),
            token_hash: relaygate_proxy::auth::hash_token("rg-limited-token"),
            hint: String::new(),
            enabled: true,
            expires_at_ms: None,
            limits: TokenLimits {
                allowed_models: vec!["gpt-x".to_owned(), "gpt-z".to_owned()],
                allowed_channels: vec!["allowed".to_owned()],
                max_concurrency: 1,
            },
        })
        .await
        .unwrap();
    env.gateway.reload().await.unwrap();
    let auth = [("authorization", "Bearer rg-limited-token")];
    let ok = env
        .request(
            "POST",
            "/v1/chat/completions",
            &auth,
            r#"{"model":"gpt-x","messages":[]}"#,
        )
        .await;
    assert_eq!(ok.status, 200);
    let model = env
        .request(
            "POST",
            "/v1/chat/completions",
            &auth,
            r#"{"model":"gpt-y","messages":[]}"#,
        )
        .await;
    assert_eq!(model.status, 403);
    assert_eq!(model.json()["error"]["type"], "permission_error");
    let chan = env
        .request(
            "POST",
            "/v1/chat/completions",
            &auth,
            r#"{"model":"gpt-z","messages":[]}"#,
        )
        .await;
    assert_eq!(chan.status, 403);
    // Concurrency 1: a second request while a slow stream is open is refused with retry-after.
    mock.on_any(Behavior::Slow(Duration::from_millis(300)));
    let slow = {
        let client = env.client.clone();
        let url = format!("{}/v1/chat/completions", env.base);
        tokio::spawn(async move {
            send(
                &client,
                "POST",
                &url,
                &[("authorization", "Bearer rg-limited-token")],
                r#"{"model":"gpt-x","stream":true,"messages":[]}"#.to_owned(),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let busy = env
        .request(
            "POST",
            "/v1/chat/completions",
            &auth,
            r#"{"model":"gpt-x","messages":[]}"#,
        )
        .await;
    assert_eq!(busy.status, 429);
    assert!(busy.headers.contains_key("retry-after"));
    assert_eq!(slow.await.unwrap().status, 200);
    let after = env
        .request(
            "POST",
            "/v1/chat/completions",
            &auth,
            r#"{"model":"gpt-x","messages":[]}"#,
        )
        .await;
    assert_eq!(
        after.status, 200,
        "the slot is released when the stream ends"
    );
}

#[tokio::test]
async fn availability_hours_and_fuzzy_models() {
    let night = MockUpstream::start().await.unwrap();
    let day = MockUpstream::start().await.unwrap();
    // A window that is closed right now: one minute long, starting two hours from now (UTC).
    let now_min = ((now_ms() / 60_000) % 1440) as u32;
    let start = (now_min + 120) % 1440;
    let end = (start + 1) % 1440;
    let hours = format!(
        "{:02}:{:02}-{:02}:{:02}",
        start / 60,
        start % 60,
        end / 60,
        end % 60
    );
    let mut closed = channel(
        "closed",
        Protocol::OpenAiChat,
        &night.url(),
        &["k"],
        &["gpt-4.1-2025-04-14"],
    );
    closed.priority = 100;
    closed.limits.available_hours = Some(hours);
    let mut config = fast_config();
    config.routing.fuzzy_models = true;
    let env = Env::start_with(
        vec![
            closed,
            channel(
                "open",
                Protocol::OpenAiChat,
                &day.url(),
                &["k"],
                &["gpt-4.1-2025-04-14", "gpt-4.1-2024-01-01"],
            ),
        ],
        config,
    )
    .await;
    let r = env
        .post(
            Protocol::OpenAiChat,
            "/v1/chat/completions",
            r#"{"model":"gpt-4.1","messages":[]}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        night.requests().is_empty(),
        "a channel outside its hours takes no traffic"
    );
    let seen: serde_json::Value = serde_json::from_slice(&day.requests()[0].body).unwrap();
    assert_eq!(
        seen["model"], "gpt-4.1-2025-04-14",
        "fuzzy match picks the newest dated model"
    );
}

#[tokio::test]
async fn live_view_shows_requests_in_flight_and_cooldowns_can_be_cleared() {
    let mock = MockUpstream::start().await.unwrap();
    mock.on_key("bad", Behavior::status(401, r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#));
    mock.on_key("good", Behavior::Slow(Duration::from_millis(150)));
    let env = Env::start(vec![channel(
        "live",
        Protocol::OpenAiChat,
        &mock.url(),
        &["bad", "good"],
        &["gpt-x"],
    )])
    .await;
    let slow = {
        let client = env.client.clone();
        let url = format!("{}/v1/chat/completions", env.base);
        let auth = format!("Bearer {TOKEN}");
        tokio::spawn(async move {
            send(
                &client,
                "POST",
                &url,
                &[("authorization", &auth)],
                r#"{"model":"gpt-x","stream":true,"messages":[]}"#.to_owned(),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let active = env.gateway.active_requests();
    assert_eq!(active.len(), 1, "{active:?}");
    assert_eq!(active[0].model, "gpt-x");
    assert_eq!(active[0].channel.as_deref(), Some("live"));
    assert!(active[0].stream);
    assert!(active[0].bytes > 0 && active[0].first_byte_ms.is_some());
    let cooling = env.gateway.cooldowns();
    assert_eq!(cooling.len(), 1);
    assert_eq!(cooling[0].scope, "key");
    assert!(cooling[0].remaining_ms > 60_000);
    assert_eq!(slow.await.unwrap().status, 200);
    assert!(env.gateway.active_requests().is_empty());
    assert!(env.gateway.clear_cooldown(&cooling[0].target));
    assert!(env.gateway.cooldowns().is_empty());
    let series = env.gateway.observer().series();
    assert_eq!(series[0].requests, 1);
    assert!(
        env.gateway
            .observer()
            .errors_by_kind()
            .iter()
            .any(|(k, n)| k == "auth_rejected" && *n == 1)
    );
}

async fn wait_for_spend(store: &Arc<dyn Store>, key: &str, at_least: i64) -> i64 {
    for _ in 0..100 {
        let v = store.spent(vec![key.to_owned()]).await.unwrap()[0];
        if v >= at_least {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    store.spent(vec![key.to_owned()]).await.unwrap()[0]
}

#[tokio::test]
async fn budgets_skip_spent_channels_refuse_spent_tokens_and_apply_multipliers() {
    let a = MockUpstream::start().await.unwrap();
    let b = MockUpstream::start().await.unwrap();
    // Mock usage is 12 input + 7 output tokens; price it the way the gateway does.
    let one = relaygate_tokens::cost(
        &relaygate_tokens::PriceTable::builtin(),
        "claude-sonnet-4-5",
        &relaygate_tokens::Usage {
            input: 12,
            output: 7,
            ..Default::default()
        },
        relaygate_tokens::ServiceTier::Standard,
    )
    .micro_usd;
    assert!(one > 0);
    let mut config = fast_config();
    config.budgets.channels.insert(
        "cheap".to_owned(),
        relaygate_proxy::ChannelBudget {
            cost_multiplier_permille: 2_000,
            daily_limit_micro_usd: 2 * one,
        },
    );
    config.budgets.tokens.insert(
        "test".to_owned(),
        relaygate_proxy::TokenBudget {
            lifetime_micro_usd: 3 * one,
            ..Default::default()
        },
    );
    let mut cheap = channel(
        "cheap",
        Protocol::Anthropic,
        &a.url(),
        &["k"],
        &["claude-sonnet-4-5"],
    );
    cheap.priority = 5;
    let env = Env::start_with(
        vec![
            cheap,
            channel(
                "other",
                Protocol::Anthropic,
                &b.url(),
                &["k"],
                &["claude-sonnet-4-5"],
            ),
        ],
        config,
    )
    .await;
    let (path, body) = request_for(Protocol::Anthropic, "claude-sonnet-4-5", false);
    // Each request reserves its worst case (input + max_tokens) before it is sent; an output
    // limit of 1 keeps that below one request's real cost, so the budgets here are decided
    // by what was really spent.
    let body = body.replace(r#""max_tokens":32"#, r#""max_tokens":1"#);
    let day = {
        let ms = now_ms() as u64;
        // Same UTC day key format the gateway uses.
        let logs_day = |ms: u64| -> String {
            let secs = (ms / 1000) as i64;
            let out = std::process::Command::new("date")
                .args(["-u", "-d", &format!("@{secs}"), "+%Y%m%d"])
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        logs_day(ms)
    };
    // 1st request: the cheap channel, charged at 2x its list price.
    assert_eq!(
        env.post(Protocol::Anthropic, &path, &body).await.status,
        200
    );
    assert_eq!(
        wait_for_spend(&env.store, &format!("channel:cheap:d:{day}"), 2 * one).await,
        2 * one
    );
    assert_eq!(a.requests().len(), 1);
    // 2nd: the cheap channel's daily budget is spent, so the other channel serves it.
    assert_eq!(
        env.post(Protocol::Anthropic, &path, &body).await.status,
        200
    );
    assert_eq!(b.requests().len(), 1);
    let token_spent = wait_for_spend(&env.store, "token:test:life", 3 * one).await;
    assert_eq!(
        token_spent,
        3 * one,
        "2x on the first channel + 1x on the second"
    );
    // 3rd: the token's lifetime budget is spent.
    let r = env.post(Protocol::Anthropic, &path, &body).await;
    assert_eq!(r.status, 429);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("budget")
    );
    let logs = env.logs().await;
    let costs: Vec<Option<i64>> = logs.iter().rev().map(|l| l.cost_micro_usd).collect();
    assert_eq!(costs[..2], [Some(2 * one), Some(one)]);
}

#[tokio::test]
async fn a_concurrency_limit_of_one_still_lets_a_request_fail_over_to_the_next_key() {
    // The failed attempt's slot must be back before the next key of the same channel tries.
    let mock = MockUpstream::start().await.unwrap();
    mock.on_key("bad", Behavior::status(401, r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#));
    let mut c = channel(
        "one",
        Protocol::OpenAiChat,
        &mock.url(),
        &["bad", "good"],
        &["gpt-x"],
    );
    c.limits = ChannelLimits {
        max_concurrency: 1,
        ..ChannelLimits::default()
    };
    let env = Env::start(vec![c]).await;
    for _ in 0..5 {
        let (path, body) = request_for(Protocol::OpenAiChat, "gpt-x", false);
        assert_eq!(
            env.post(Protocol::OpenAiChat, &path, &body).await.status,
            200
        );
    }
}
