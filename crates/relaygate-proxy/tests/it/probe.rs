//! Admin-side upstream calls: testing a channel, listing its upstream models, switching a base
//! URL off by hand.

use relaygate_protocol::Protocol;

use crate::support::*;

async fn id_of(env: &Env, name: &str) -> i64 {
    env.store
        .list_channels()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap()
        .id
}

const PROTOCOLS: [(&str, Protocol, &str); 4] = [
    ("a", Protocol::Anthropic, "/v1/messages"),
    ("o", Protocol::OpenAiChat, "/v1/chat/completions"),
    ("r", Protocol::OpenAiResponses, "/v1/responses"),
    ("g", Protocol::Gemini, "/v1beta/models/up-g:generateContent"),
];

#[tokio::test]
async fn a_channel_test_speaks_each_protocol_and_reads_the_answer() {
    let mock = MockUpstream::start().await.unwrap();
    let channels = PROTOCOLS
        .iter()
        .map(|(name, p, _)| {
            let redirect = format!("m-{name}=>up-{name}");
            channel(
                name,
                *p,
                &mock.url(),
                &[&format!("key-{name}")],
                &[&redirect],
            )
        })
        .collect();
    let env = Env::start(channels).await;
    for (name, protocol, path) in PROTOCOLS {
        mock.reset();
        let id = id_of(&env, name).await;
        let t = env.gateway.test_channel(id, None, None).await.unwrap();
        assert!(t.ok, "{protocol}: {t:?}");
        assert_eq!(t.status, Some(200));
        assert_eq!(
            t.answer_text.as_deref(),
            Some("Hello from the mock upstream.")
        );
        assert!(t.error.is_none());
        assert!(t.first_byte_ms.is_some_and(|f| f <= t.latency_ms));
        assert_eq!(t.model, format!("up-{name}"), "the redirect is followed");
        let seen = mock.requests();
        assert_eq!(seen.len(), 1, "{protocol}");
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[0].path, path, "{protocol}");
        assert_eq!(seen[0].key.as_deref(), Some(format!("key-{name}").as_str()));
        let body: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
        let text = body.to_string();
        assert!(text.contains("Say hi"), "{text}");
        assert!(text.contains("16"), "{text}");
        assert_ne!(body.get("stream"), Some(&serde_json::Value::Bool(true)));
        // A client model name given explicitly is mapped to its upstream name too.
        let t = env
            .gateway
            .test_channel(id, Some(format!("m-{name}")), Some(0))
            .await
            .unwrap();
        assert!(t.ok);
        assert_eq!(t.model, format!("up-{name}"));
    }
    // Nothing about routing changed.
    assert!(env.gateway.cooldowns().is_empty());
}

#[tokio::test]
async fn a_failing_key_is_reported_and_cools_nothing() {
    let mock = MockUpstream::start().await.unwrap();
    mock.on_key(
        "sk-bad-key-0123456789",
        Behavior::status(
            401,
            r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key sk-bad-key-0123456789"}}"#,
        ),
    );
    let env = Env::start(vec![channel(
        "a",
        Protocol::Anthropic,
        &mock.url(),
        &["sk-good-key-0123456789", "sk-bad-key-0123456789"],
        &["claude-x"],
    )])
    .await;
    let id = id_of(&env, "a").await;
    let t = env.gateway.test_channel(id, None, Some(1)).await.unwrap();
    assert!(!t.ok);
    assert_eq!(t.status, Some(401));
    assert_eq!(t.key_index, 1);
    let err = t.error.unwrap();
    assert!(err.contains("invalid x-api-key"), "{err}");
    assert!(
        !err.contains("sk-bad-key-0123456789"),
        "secret scrubbed: {err}"
    );
    assert!(t.answer_text.is_none());
    assert!(
        env.gateway.cooldowns().is_empty(),
        "a test does not cool the key"
    );
    // The good key still works, and unknown keys or channels are errors.
    assert!(
        env.gateway
            .test_channel(id, None, Some(0))
            .await
            .unwrap()
            .ok
    );
    assert!(env.gateway.test_channel(id, None, Some(7)).await.is_err());
    assert!(
        env.gateway
            .test_channel(id + 100, None, None)
            .await
            .is_err()
    );
    // An unreachable upstream is a failed test, not an error.
    let env2 = Env::start(vec![channel(
        "dead",
        Protocol::OpenAiChat,
        "http://127.0.0.1:9",
        &["k"],
        &["m"],
    )])
    .await;
    let id = id_of(&env2, "dead").await;
    let t = env2.gateway.test_channel(id, None, None).await.unwrap();
    assert!(!t.ok);
    assert_eq!(t.status, None);
    assert!(t.error.is_some());
    assert!(env2.gateway.cooldowns().is_empty());
}

#[tokio::test]
async fn upstream_model_lists_in_each_shape() {
    let mock = MockUpstream::start().await.unwrap();
    let channels = PROTOCOLS
        .iter()
        .map(|(name, p, _)| channel(name, *p, &mock.url(), &[&format!("key-{name}")], &["m"]))
        .chain([channel(
            "bad",
            Protocol::OpenAiChat,
            &mock.url(),
            &["bad"],
            &["m"],
        )])
        .collect();
    let env = Env::start(channels).await;
    let want = [
        ("a", vec!["mock-claude-1", "mock-claude-2"], "/v1/models"),
        ("o", vec!["mock-gpt-1", "mock-gpt-2"], "/v1/models"),
        ("r", vec!["mock-gpt-1", "mock-gpt-2"], "/v1/models"),
        (
            "g",
            vec!["mock-gemini-1", "mock-gemini-2"],
            "/v1beta/models",
        ),
    ];
    for (name, models, path) in want {
        mock.reset();
        let id = id_of(&env, name).await;
        assert_eq!(env.gateway.upstream_models(id).await.unwrap(), models);
        let seen = mock.requests();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, "GET");
        assert_eq!(seen[0].path, path);
        assert_eq!(seen[0].key.as_deref(), Some(format!("key-{name}").as_str()));
        if name == "a" {
            assert!(seen[0].headers.contains_key("anthropic-version"));
        }
        if name == "o" || name == "r" {
            assert_eq!(
                seen[0].headers["authorization"],
                format!("Bearer key-{name}")
            );
        }
    }
    mock.on_key(
        "bad",
        Behavior::status(403, r#"{"error":{"message":"forbidden"}}"#),
    );
    let id = id_of(&env, "bad").await;
    let err = env
        .gateway
        .upstream_models(id)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("403") && err.contains("forbidden"), "{err}");
    assert!(env.gateway.cooldowns().is_empty());
}

#[tokio::test]
async fn a_url_switched_off_takes_no_traffic_until_switched_on() {
    let first = MockUpstream::start().await.unwrap();
    let second = MockUpstream::start().await.unwrap();
    let mut spec = channel("o", Protocol::OpenAiChat, &first.url(), &["k"], &["gpt-x"]);
    spec.base_urls.push(second.url());
    let env = Env::start(vec![spec]).await;
    let id = id_of(&env, "o").await;
    let (path, body) = request_for(Protocol::OpenAiChat, "gpt-x", false);

    assert!(env.gateway.disable_url(id, 0, true).await.unwrap());
    assert!(
        !env.gateway.disable_url(id, 0, true).await.unwrap(),
        "already off"
    );
    assert!(env.gateway.disable_url(id, 5, true).await.is_err());
    let cooling = env.gateway.cooldowns();
    assert_eq!(cooling.len(), 1);
    assert_eq!(cooling[0].target, format!("url:{id}:0"));
    assert_eq!(cooling[0].scope, "url");
    assert_eq!(env.gateway.disabled_urls(id), [0]);
    env.store.flush().await.unwrap();
    let rows = env.store.active_cooldowns(0).await.unwrap();
    assert!(
        rows.iter()
            .any(|r| r.target == format!("url:{id}:0") && r.reason == "manual_disable"),
        "{rows:?}"
    );
    for _ in 0..6 {
        let r = env.post(Protocol::OpenAiChat, &path, &body).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert!(
        first.requests().is_empty(),
        "a switched-off URL takes nothing"
    );
    assert_eq!(second.requests().len(), 6);

    // With every URL off, the channel still answers (a last resort), and success does not
    // switch the URLs back on.
    assert!(env.gateway.disable_url(id, 1, true).await.unwrap());
    let r = env.post(Protocol::OpenAiChat, &path, &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(env.gateway.cooldowns().len(), 2);
    assert_eq!(env.gateway.disabled_urls(id), [0, 1]);

    // Switched back on: both take traffic again (the faster one more often, so send until
    // each has had some).
    assert!(env.gateway.disable_url(id, 0, false).await.unwrap());
    assert!(env.gateway.disable_url(id, 1, false).await.unwrap());
    assert!(!env.gateway.disable_url(id, 1, false).await.unwrap());
    assert!(env.gateway.cooldowns().is_empty());
    assert!(env.gateway.disabled_urls(id).is_empty());
    first.reset();
    second.reset();
    for _ in 0..500 {
        if !first.requests().is_empty() && !second.requests().is_empty() {
            break;
        }
        let r = env.post(Protocol::OpenAiChat, &path, &body).await;
        assert_eq!(r.status, 200);
    }
    assert!(!first.requests().is_empty());
    assert!(!second.requests().is_empty());
}

#[tokio::test]
async fn a_failure_on_a_switched_off_url_keeps_it_switched_off() {
    let mock = MockUpstream::start().await.unwrap();
    let mut spec = channel(
        "o",
        Protocol::OpenAiChat,
        "http://127.0.0.1:9",
        &["k"],
        &["gpt-x"],
    );
    spec.base_urls.push(mock.url());
    let env = Env::start(vec![spec]).await;
    let id = id_of(&env, "o").await;
    env.gateway.disable_url(id, 0, true).await.unwrap();
    env.gateway.disable_url(id, 1, true).await.unwrap();
    let (path, body) = request_for(Protocol::OpenAiChat, "gpt-x", false);
    for _ in 0..4 {
        let r = env.post(Protocol::OpenAiChat, &path, &body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(env.gateway.disabled_urls(id), [0, 1]);
    }
    // The dead URL was tried (and failed) at least once on the way.
    assert!(env.logs().await.iter().any(|l| l.attempts > 1));
}
