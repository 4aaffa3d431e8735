//! Billing: every answered request is logged with usage and a cost, whatever the path (the
//! OpenAI SDK's default stream, a JSON answer of any size, a stream the client leaves half
//! way, an implausible report), at the service tier the upstream reports, and unpriced models
//! only as the operator allows.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use relaygate_protocol::Protocol;
use relaygate_proxy::{ProxyConfig, TokenBudget, UnpricedPolicy};
use relaygate_testkit::CannedOptions;

use crate::support::*;

const ALL: [Protocol; 4] = [
    Protocol::Anthropic,
    Protocol::OpenAiChat,
    Protocol::OpenAiResponses,
    Protocol::Gemini,
];

/// $1 input and $2 output per million tokens: the canned usage (12 in, 7 out) costs 26 µ$.
const PRICES: &str = r#"
[models."m-anthropic"]
input = 1
output = 2
[models."m-openai"]
input = 1
output = 2
service_tiers = { priority = 2.0, flex = 0.5 }
[models."m-responses"]
input = 1
output = 2
[models."m-gemini"]
input = 1
output = 2
"#;

fn priced_config() -> ProxyConfig {
    let mut c = fast_config();
    c.price_overrides = Some(PRICES.to_owned());
    c
}

fn model_of(p: Protocol) -> String {
    format!("m-{}", p.as_str())
}

async fn env_with(mock: &MockUpstream, config: ProxyConfig) -> Env {
    let url = mock.url();
    let channels = ALL
        .iter()
        .map(|p| channel(p.as_str(), *p, &url, &["k"], &[&model_of(*p)]))
        .collect();
    Env::start_with(channels, config).await
}

async fn last_row(env: &Env) -> relaygate_store::RequestLog {
    for _ in 0..200 {
        if let Some(r) = env.logs().await.into_iter().next() {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no row was written");
}

async fn clear(env: &Env) {
    env.store.flush().await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    env.store.cleanup(now, Some(i64::MAX)).await.unwrap();
}

#[tokio::test]
async fn the_openai_sdk_default_stream_is_billed_through_every_channel_protocol() {
    let mock = MockUpstream::start().await.unwrap();
    let env = env_with(&mock, priced_config()).await;
    for channel in ALL {
        clear(&env).await;
        // What the official SDK sends by default: a stream without `stream_options`.
        let (path, body) = request_for(Protocol::OpenAiChat, &model_of(channel), true);
        assert!(!body.contains("stream_options"));
        let r = env.post(Protocol::OpenAiChat, &path, &body).await;
        assert_eq!(r.status, 200, "{channel}: {}", r.text());
        let text = r.text();
        assert!(text.contains("data: [DONE]"), "{channel}: {text}");
        assert!(
            !text.contains(r#""choices":[]"#),
            "{channel}: the client got a usage chunk it did not ask for: {text}"
        );
        let row = last_row(&env).await;
        let u = row.usage.expect("usage logged");
        assert_eq!(
            (u.input, u.output, u.estimated),
            (12, 7, false),
            "{channel}"
        );
        assert_eq!(row.cost_micro_usd, Some(26), "{channel}");
    }
    // The Chat upstream was asked for usage although the client was not.
    let asked = mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .all(|r| String::from_utf8_lossy(&r.body).contains(r#""include_usage":true"#));
    assert!(asked);
}

#[tokio::test]
async fn a_one_mib_json_answer_is_billed_through_every_channel_protocol() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_canned(CannedOptions {
        model: "m".to_owned(),
        text: "lorem ipsum ".repeat(90_000),
        deltas: 1,
    });
    let env = env_with(&mock, priced_config()).await;
    // Same protocol (the body streams through and is scanned) and translated (read whole).
    let mut pairs: Vec<(Protocol, Protocol)> = ALL.iter().map(|p| (*p, *p)).collect();
    pairs.extend(ALL.iter().map(|c| (Protocol::OpenAiChat, *c)));
    pairs.extend(ALL.iter().map(|c| (Protocol::Anthropic, *c)));
    for (client, channel) in pairs {
        clear(&env).await;
        let (path, body) = request_for(client, &model_of(channel), false);
        let r = env.post(client, &path, &body).await;
        assert_eq!(r.status, 200, "{client} -> {channel}");
        assert!(
            r.body.len() > 1_000_000,
            "{client} -> {channel}: {}",
            r.body.len()
        );
        let row = last_row(&env).await;
        let u = row
            .usage
            .unwrap_or_else(|| panic!("{client} -> {channel}: no usage"));
        assert_eq!(
            (u.input, u.output, u.estimated),
            (12, 7, false),
            "{client} -> {channel}"
        );
        assert_eq!(row.cost_micro_usd, Some(26), "{client} -> {channel}");
    }
}

#[tokio::test]
async fn a_stream_cancelled_half_way_is_billed_for_input_and_what_was_delivered() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_event_gap(Duration::from_millis(30));
    mock.set_canned(CannedOptions {
        model: "m".to_owned(),
        text: "several words of answer ".repeat(40),
        deltas: 40,
    });
    let env = env_with(&mock, priced_config()).await;
    let mut pairs: Vec<(Protocol, Protocol)> = ALL.iter().map(|p| (*p, *p)).collect();
    pairs.extend(ALL.iter().map(|c| (Protocol::OpenAiChat, *c)));
    for (client, channel) in pairs {
        clear(&env).await;
        let (path, body) = request_for(client, &model_of(channel), true);
        let (auth, value) = auth_header(client, TOKEN);
        let req = http::Request::post(format!("{}{path}", env.base))
            .header(auth, value)
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(body)))
            .unwrap();
        let resp = env.client.request(req).await.unwrap();
        assert_eq!(resp.status(), 200, "{client} -> {channel}");
        let mut incoming = resp.into_body();
        let mut got = 0;
        // Read about a quarter of the answer, then leave.
        while got < 10 {
            match incoming.frame().await {
                Some(Ok(f)) if f.is_data() => got += 1,
                Some(Ok(_)) => {}
                _ => break,
            }
        }
        drop(incoming);
        let row = last_row(&env).await;
        assert_eq!(row.status, 499, "{client} -> {channel}");
        let u = row
            .usage
            .unwrap_or_else(|| panic!("{client} -> {channel}: a cut stream without usage"));
        assert!(u.estimated, "{client} -> {channel}");
        assert!(u.input > 0 && u.output > 0, "{client} -> {channel}: {u:?}");
        // Less than the whole answer (40 deltas of 24 bytes is about 240 tokens).
        assert!(u.output < 240, "{client} -> {channel}: {u:?}");
        assert!(
            row.cost_micro_usd.is_some_and(|c| c > 0),
            "{client} -> {channel}"
        );
    }
}

#[tokio::test]
async fn implausible_usage_is_replaced_by_local_counts() {
    let mock = MockUpstream::start().await.unwrap();
    let env = env_with(&mock, priced_config()).await;
    for usage in [
        r#"{"prompt_tokens":-5,"completion_tokens":3}"#,
        r#"{"prompt_tokens":"12","completion_tokens":3}"#,
        r#"{"prompt_tokens":12,"completion_tokens":5000000000}"#,
    ] {
        clear(&env).await;
        let body = format!(
            r#"{{"id":"x","object":"chat.completion","model":"m-openai","choices":[{{"index":0,"message":{{"role":"assistant","content":"Hello there, friend."}},"finish_reason":"stop"}}],"usage":{usage}}}"#
        );
        mock.on_any(Behavior::Replay {
            content_type: "application/json".to_owned(),
            chunks: vec![bytes::Bytes::from(body)],
        });
        let (path, req) = request_for(Protocol::OpenAiChat, "m-openai", false);
        let r = env.post(Protocol::OpenAiChat, &path, &req).await;
        assert_eq!(r.status, 200);
        let row = last_row(&env).await;
        let u = row.usage.unwrap();
        assert!(u.estimated, "{usage}");
        // The local count of the request (gpt-style counting of one short message) and of
        // the answer's text, never a wrapped or absurd number.
        assert!(u.input > 0 && u.input < 100, "{usage}: {u:?}");
        assert!(u.output > 0 && u.output < 100, "{usage}: {u:?}");
    }
}

#[tokio::test]
async fn the_tier_billed_is_the_one_reported_else_the_one_requested_and_only_where_priced() {
    let mock = MockUpstream::start().await.unwrap();
    let env = env_with(&mock, priced_config()).await;
    let chat = |tier: Option<&str>| {
        let tier = tier.map_or(String::new(), |t| format!(r#""service_tier":"{t}","#));
        format!(
            r#"{{"id":"x","object":"chat.completion","model":"m-openai",{tier}"choices":[{{"index":0,"message":{{"role":"assistant","content":"hi"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":12,"completion_tokens":7}}}}"#
        )
    };
    // (answer's tier, request's tier, cost): m-openai has priority ×2 and flex ×0.5.
    let cases = [
        (None, None, 26),
        (Some("priority"), None, 52),
        (Some("default"), Some("priority"), 26),
        (None, Some("flex"), 13),
        (Some("scale"), None, 26),
        (Some("warp-speed"), None, 26),
    ];
    for (answer, request, want) in cases {
        clear(&env).await;
        mock.on_any(Behavior::Replay {
            content_type: "application/json".to_owned(),
            chunks: vec![bytes::Bytes::from(chat(answer))],
        });
        let (path, mut req) = request_for(Protocol::OpenAiChat, "m-openai", false);
        if let Some(t) = request {
            req = req.replacen('{', &format!(r#"{{"service_tier":"{t}","#), 1);
        }
        let r = env.post(Protocol::OpenAiChat, &path, &req).await;
        assert_eq!(r.status, 200);
        let row = last_row(&env).await;
        assert_eq!(row.cost_micro_usd, Some(want), "{answer:?} {request:?}");
    }
    // Anthropic reports priority, but the model has no priority price: standard.
    clear(&env).await;
    mock.on_any(Behavior::Replay {
        content_type: "application/json".to_owned(),
        chunks: vec![bytes::Bytes::from(
            r#"{"id":"m","type":"message","role":"assistant","model":"m-anthropic","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":7,"service_tier":"priority"}}"#,
        )],
    });
    let (path, req) = request_for(Protocol::Anthropic, "m-anthropic", false);
    assert_eq!(env.post(Protocol::Anthropic, &path, &req).await.status, 200);
    assert_eq!(last_row(&env).await.cost_micro_usd, Some(26));
}

#[tokio::test]
async fn unpriced_models_are_served_refused_or_defaulted_as_configured() {
    let mock = MockUpstream::start().await.unwrap();
    let unpriced = |policy| {
        let mut c = priced_config();
        c.unpriced = policy;
        c.default_price = Some("input = 10\noutput = 10".to_owned());
        c
    };
    let url = mock.url();
    let channels = || {
        vec![
            channel("free", Protocol::OpenAiChat, &url, &["k"], &["mystery"]),
            channel("paid", Protocol::OpenAiChat, &url, &["k"], &["m-openai"]),
        ]
    };
    let (path, req) = request_for(Protocol::OpenAiChat, "mystery", false);

    // record: served, the row says unpriced (cost unknown, never zero).
    let env = Env::start_with(channels(), unpriced(UnpricedPolicy::Record)).await;
    assert_eq!(
        env.post(Protocol::OpenAiChat, &path, &req).await.status,
        200
    );
    let row = last_row(&env).await;
    assert!(row.unpriced && row.cost_micro_usd.is_none());

    // refuse: refused in the client's protocol, and no upstream call is made.
    let before = mock.requests().len();
    let env = Env::start_with(channels(), unpriced(UnpricedPolicy::Refuse)).await;
    let r = env.post(Protocol::OpenAiChat, &path, &req).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no price")
    );
    assert_eq!(mock.requests().len(), before);
    let (ppath, preq) = request_for(Protocol::OpenAiChat, "m-openai", false);
    assert_eq!(
        env.post(Protocol::OpenAiChat, &ppath, &preq).await.status,
        200
    );

    // default: billed at the default price ($10 + $10 per million: 190 µ$).
    let env = Env::start_with(channels(), unpriced(UnpricedPolicy::Default)).await;
    assert_eq!(
        env.post(Protocol::OpenAiChat, &path, &req).await.status,
        200
    );
    let row = last_row(&env).await;
    assert_eq!((row.unpriced, row.cost_micro_usd), (false, Some(190)));

    // A token with a budget may not spend on an unpriced model (it would bypass the budget)
    // unless the operator allows it.
    for allow in [false, true] {
        let mut c = unpriced(UnpricedPolicy::Record);
        c.budgets.tokens.insert(
            "test".to_owned(),
            TokenBudget {
                daily_micro_usd: 1_000_000,
                allow_unpriced: allow,
                ..TokenBudget::default()
            },
        );
        let env = Env::start_with(channels(), c).await;
        let r = env.post(Protocol::OpenAiChat, &path, &req).await;
        assert_eq!(
            r.status,
            if allow { 200 } else { 403 },
            "allow={allow}: {}",
            r.text()
        );
        let r = env.post(Protocol::OpenAiChat, &ppath, &preq).await;
        assert_eq!(r.status, 200, "a priced model is fine");
    }
}

/// Two gateways on one database (two `SqliteStore`s on one file, as two processes would open
/// it) and 50 concurrent requests of one budgeted token: reservations keep the spend within
/// the budget, and once every request has ended the counter holds exactly the real costs.
#[tokio::test]
async fn reservations_keep_a_budget_across_two_instances() {
    use std::sync::Arc;

    use relaygate_proxy::{Gateway, Server};
    use relaygate_store::{SqliteStore, Store};

    let mock = MockUpstream::start().await.unwrap();
    // Slow answers, so that all 50 requests are in flight together.
    mock.on_any(Behavior::Delay(
        Duration::from_millis(400),
        Box::new(Behavior::Ok),
    ));
    // Each answer costs 26 µ$ (12 in, 7 out); each reservation is larger (the counted input
    // plus max_tokens 32 at $2). 300 µ$ holds a few reservations at once, not 50.
    const LIMIT: i64 = 300;
    let mut config = priced_config();
    config.budgets.tokens.insert(
        "test".to_owned(),
        TokenBudget {
            daily_micro_usd: LIMIT,
            ..TokenBudget::default()
        },
    );
    let db = temp_db();
    let mut bases = Vec::new();
    let mut gateways = Vec::new();
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for i in 0..2 {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(db.clone()).unwrap());
        if i == 0 {
            let a = channel(
                "a",
                Protocol::Anthropic,
                &mock.url(),
                &["k"],
                &["m-anthropic"],
            );
            seed(&store, vec![a]).await;
        }
        let gw = Gateway::new(config.clone(), Arc::clone(&store))
            .await
            .unwrap();
        let server = Server::start("127.0.0.1:0".parse().unwrap(), gw.clone())
            .await
            .unwrap();
        bases.push(format!("http://{}", server.local_addr()));
        gateways.push((gw, server));
        stores.push(store);
    }
    let client: hyper_util::client::legacy::Client<_, Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let (path, body) = request_for(Protocol::Anthropic, "m-anthropic", false);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (client, url, body) = (
            client.clone(),
            format!("{}{path}", bases[i % 2]),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (auth, value) = auth_header(Protocol::Anthropic, TOKEN);
            let r = send(&client, "POST", &url, &[(auth, &value)], body).await;
            (r.status, r.text())
        }));
    }
    let mut ok = 0;
    let mut refused = 0;
    for t in tasks {
        let (status, text) = t.await.unwrap();
        match status.as_u16() {
            200 => ok += 1,
            429 => {
                assert!(text.contains("budget"), "{text}");
                refused += 1;
            }
            other => panic!("unexpected status {other}: {text}"),
        }
    }
    assert!(ok >= 1 && refused >= 1, "ok {ok}, refused {refused}");
    // Settlements are written after the answers: wait for them.
    let mut spent = i64::MAX;
    for _ in 0..100 {
        let logs = {
            stores[0].flush().await.unwrap();
            stores[1].flush().await.unwrap();
            stores[0]
                .query_logs(relaygate_store::LogQuery {
                    limit: 1000,
                    ..Default::default()
                })
                .await
                .unwrap()
        };
        let billed: i64 = logs.iter().filter_map(|r| r.cost_micro_usd).sum();
        spent = stores[0]
            .spent(vec!["token:test:life".to_owned()])
            .await
            .unwrap()[0];
        if spent == billed && logs.len() == 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        spent,
        26 * ok,
        "the counter holds the real costs, reservations settled"
    );
    assert!(spent <= LIMIT, "spent {spent} of {LIMIT}");
    for (_, server) in gateways {
        server.shutdown().await.unwrap();
    }
}
