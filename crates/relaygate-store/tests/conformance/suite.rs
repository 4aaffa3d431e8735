//! The behaviour every backend must show, written once against a [`Harness`].

use relaygate_protocol::Protocol;
use relaygate_store::{
    AttemptLog, ChannelLimits, ChannelSpec, CooldownRow, KeyStrategy, LogQuery, ModelEntry,
    RequestLog, Store, TokenLimits, TokenSpec, UsageRow,
};

use crate::harness::Harness;

pub fn spec(name: &str) -> ChannelSpec {
    ChannelSpec {
        name: name.to_owned(),
        protocol: Protocol::Anthropic,
        base_urls: vec!["https://api.example.com".to_owned()],
        keys: vec!["sk-one-aaaaaaaa".to_owned(), "sk-two-bbbbbbbb".to_owned()],
        models: vec![
            ModelEntry {
                name: "claude-a".to_owned(),
                upstream: None,
            },
            ModelEntry {
                name: "alias".to_owned(),
                upstream: Some("claude-b".to_owned()),
            },
        ],
        priority: 5,
        weight: 2,
        enabled: true,
        limits: ChannelLimits::default(),
    }
}

pub fn log(id: &str, channel: Option<i64>) -> RequestLog {
    RequestLog {
        request_id: id.to_owned(),
        started_at_ms: 1_700_000_000_000,
        client_protocol: "anthropic".to_owned(),
        model_requested: "claude-a".to_owned(),
        channel_id: channel,
        status: 200,
        attempts: 1,
        duration_ms: 12,
        first_byte_ms: Some(3),
        stream: true,
        usage: Some(UsageRow {
            input: 10,
            output: 5,
            cache_read: 2,
            cache_write: 1,
            reasoning: 3,
            estimated: false,
        }),
        cost_micro_usd: Some(1234),
        ..RequestLog::default()
    }
}

pub fn two_attempts() -> Vec<AttemptLog> {
    vec![
        AttemptLog {
            channel_id: Some(1),
            key_index: Some(0),
            status: Some(401),
            outcome: "auth_rejected".to_owned(),
            scope: Some("key".to_owned()),
            cooldown_until_ms: Some(10_000),
            duration_ms: 4,
            ..AttemptLog::default()
        },
        AttemptLog {
            channel_id: Some(1),
            key_index: Some(1),
            status: Some(200),
            outcome: "ok".to_owned(),
            duration_ms: 9,
            ..AttemptLog::default()
        },
    ]
}

pub async fn all_logs(store: &dyn Store) -> Vec<RequestLog> {
    store
        .query_logs(LogQuery {
            limit: 10_000,
            ..LogQuery::default()
        })
        .await
        .unwrap()
}

fn token(name: &str, hash: char) -> TokenSpec {
    TokenSpec {
        name: name.to_owned(),
        token_hash: hash.to_string().repeat(64),
        hint: "rg-…abcd".to_owned(),
        enabled: true,
        expires_at_ms: None,
        limits: TokenLimits::default(),
    }
}

pub async fn channels_upsert_by_name_and_keep_order(h: &dyn Harness) {
    let store = h.open();
    let id = store.upsert_channel(spec("main")).await.unwrap();
    let mut changed = spec("main");
    changed.keys = vec!["sk-three-cccccccc".to_owned()];
    changed.priority = 9;
    assert_eq!(store.upsert_channel(changed).await.unwrap(), id);
    store.upsert_channel(spec("second")).await.unwrap();
    let all = store.list_channels().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].id, id);
    assert_eq!(all[0].name, "main");
    assert_eq!(all[0].priority, 9);
    assert_eq!(all[0].weight, 2);
    assert_eq!(all[0].protocol, Protocol::Anthropic);
    assert_eq!(all[0].base_urls, vec!["https://api.example.com".to_owned()]);
    assert_eq!(all[0].keys.len(), 1);
    assert_eq!(all[0].keys[0].secret, "sk-three-cccccccc");
    assert_eq!(all[0].keys[0].index, 0);
    assert!(all[0].keys[0].enabled);
    assert_eq!(all[0].models[1].upstream_name(), "claude-b");
    assert_eq!(all[0].models[0].upstream, None);
    assert!(all[0].updated_at_ms >= all[0].created_at_ms);
    assert!(
        !format!("{:?}", all[0].keys[0]).contains("three"),
        "Debug must mask keys"
    );
    assert_eq!(all[1].keys.len(), 2);
    assert!(store.delete_channel(id).await.unwrap());
    assert!(!store.delete_channel(id).await.unwrap());
    assert_eq!(store.list_channels().await.unwrap().len(), 1);
    // Re-creating a deleted name works and gets a new id.
    assert_ne!(store.upsert_channel(spec("main")).await.unwrap(), id);
}

pub async fn invalid_channels_are_refused(h: &dyn Harness) {
    let store = h.open();
    let mut bad = spec("x");
    bad.base_urls = vec!["ftp://nope".to_owned()];
    assert!(store.upsert_channel(bad).await.is_err());
    let mut bad = spec("x");
    bad.models.push(ModelEntry {
        name: "claude-a".to_owned(),
        upstream: None,
    });
    assert!(store.upsert_channel(bad).await.is_err());
    let mut bad = spec("x");
    bad.keys.clear();
    assert!(store.upsert_channel(bad).await.is_err());
    assert!(store.list_channels().await.unwrap().is_empty());
}

pub async fn channel_names_are_exact_and_unicode_safe(h: &dyn Harness) {
    let store = h.open();
    let a = store.upsert_channel(spec("Main")).await.unwrap();
    let b = store.upsert_channel(spec("main")).await.unwrap();
    assert_ne!(a, b, "names compare exactly (case-sensitive)");
    let mut emoji = spec("通道 🚀");
    emoji.models = vec![ModelEntry {
        name: "模型-😀".to_owned(),
        upstream: Some("上游".to_owned()),
    }];
    store.upsert_channel(emoji.clone()).await.unwrap();
    let all = store.list_channels().await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].name, "通道 🚀");
    assert_eq!(all[2].models, emoji.models);
}

pub async fn deleting_a_channel_keeps_its_logs(h: &dyn Harness) {
    let store = h.open();
    let id = store.upsert_channel(spec("gone")).await.unwrap();
    let mut row = log("kept", Some(id));
    row.channel_name = Some("gone".to_owned());
    row.attempt_log = two_attempts();
    store.record(row);
    store.flush().await.unwrap();
    assert!(store.delete_channel(id).await.unwrap());
    let rows = store
        .query_logs(LogQuery {
            channel_id: Some(id),
            ..LogQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].channel_name.as_deref(), Some("gone"));
    assert_eq!(store.attempts("kept".to_owned()).await.unwrap().len(), 2);
}

pub async fn tokens_upsert(h: &dyn Harness) {
    let store = h.open();
    let t = token("ci", 'a');
    let id = store.upsert_token(t.clone()).await.unwrap();
    let t2 = TokenSpec {
        token_hash: "b".repeat(64),
        enabled: false,
        ..t
    };
    assert_eq!(store.upsert_token(t2).await.unwrap(), id);
    let tokens = store.list_tokens().await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].id, id);
    assert_eq!(tokens[0].token_hash, "b".repeat(64));
    assert_eq!(tokens[0].hint, "rg-…abcd");
    assert!(!tokens[0].enabled);
    assert_eq!(tokens[0].expires_at_ms, None);
    assert_eq!(tokens[0].limits, TokenLimits::default());
    assert!(tokens[0].created_at_ms > 0);
    let bad = TokenSpec {
        name: "x".to_owned(),
        token_hash: "short".to_owned(),
        hint: String::new(),
        enabled: true,
        expires_at_ms: None,
        limits: TokenLimits::default(),
    };
    assert!(store.upsert_token(bad).await.is_err());
    let second = store.upsert_token(token("other", 'c')).await.unwrap();
    assert!(second > id);
    let names: Vec<String> = store
        .list_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["ci", "other"]);
}

pub async fn a_token_hash_belongs_to_one_name(h: &dyn Harness) {
    let store = h.open();
    store.upsert_token(token("first", 'a')).await.unwrap();
    assert!(
        store.upsert_token(token("second", 'a')).await.is_err(),
        "a hash used by another token is refused, not moved"
    );
    let tokens = store.list_tokens().await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].name, "first");
}

pub async fn limits_and_restrictions_round_trip(h: &dyn Harness) {
    let store = h.open();
    let mut c = spec("limited");
    c.limits = ChannelLimits {
        key_strategy: KeyStrategy::RoundRobin,
        rpm: 60,
        max_concurrency: 4,
        available_hours: Some("22:00-06:00".to_owned()),
    };
    store.upsert_channel(c.clone()).await.unwrap();
    assert_eq!(store.list_channels().await.unwrap()[0].limits, c.limits);
    c.limits.available_hours = Some("25:00-01:00".to_owned());
    assert!(store.upsert_channel(c).await.is_err());
    let limits = TokenLimits {
        allowed_models: vec!["claude-a".to_owned()],
        allowed_channels: vec!["limited".to_owned()],
        max_concurrency: 2,
    };
    let t = TokenSpec {
        name: "r".to_owned(),
        token_hash: "c".repeat(64),
        hint: String::new(),
        enabled: true,
        expires_at_ms: Some(5),
        limits: limits.clone(),
    };
    store.upsert_token(t).await.unwrap();
    let tokens = store.list_tokens().await.unwrap();
    assert_eq!(tokens[0].limits, limits);
    assert_eq!(tokens[0].expires_at_ms, Some(5));
}

pub async fn logs_are_batched_idempotent_and_survive_reopen(h: &dyn Harness) {
    {
        let store = h.open();
        for i in 0..1000 {
            store.record(log(&format!("req-{i}"), Some(i % 3)));
        }
        store.record(log("req-5", Some(99))); // duplicate id: ignored
        store.flush().await.unwrap();
        let rows = all_logs(&*store).await;
        assert_eq!(rows.len(), 1000);
        assert_eq!(rows[0].request_id, "req-999");
        let one = store
            .query_logs(LogQuery {
                request_id: Some("req-5".to_owned()),
                ..LogQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].channel_id, Some(2));
        assert_eq!(one[0].first_byte_ms, Some(3));
        assert_eq!(one[0].usage.unwrap().reasoning, 3);
        assert_eq!(one[0].cost_micro_usd, Some(1234));
        assert!(!one[0].unpriced);
        assert_eq!(
            store.query_logs(LogQuery::default()).await.unwrap().len(),
            100,
            "limit 0 means 100"
        );
        store.record(log("after-flush", None));
        store.close().await.unwrap();
    }
    let store = h.open();
    let rows = store
        .query_logs(LogQuery {
            limit: 1,
            ..LogQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        rows[0].request_id, "after-flush",
        "close must write queued rows"
    );
    let by_channel = store
        .query_logs(LogQuery {
            channel_id: Some(1),
            limit: 5000,
            ..LogQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_channel.len(), 333);
    let both = store
        .query_logs(LogQuery {
            channel_id: Some(1),
            request_id: Some("req-4".to_owned()),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(both.len(), 1);
}

pub async fn every_log_field_round_trips(h: &dyn Harness) {
    let store = h.open();
    let full = RequestLog {
        request_id: "full".to_owned(),
        started_at_ms: 1_750_000_000_123,
        token_id: Some(7),
        client_protocol: "openai".to_owned(),
        model_requested: "gpt-x".to_owned(),
        model_sent: Some("gpt-x-2025".to_owned()),
        channel_id: Some(3),
        channel_name: Some("ch ✓".to_owned()),
        key_index: Some(2),
        upstream_url: Some("https://up.example.com/v1".to_owned()),
        status: 502,
        attempts: 3,
        duration_ms: 98_765,
        first_byte_ms: None,
        stream: false,
        error: Some("upstream said \"no\"\nsecond line".to_owned()),
        usage: Some(UsageRow {
            input: 1 << 40,
            output: 0,
            cache_read: 11,
            cache_write: 12,
            reasoning: 13,
            estimated: true,
        }),
        cost_micro_usd: None,
        unpriced: true,
        attempt_log: Vec::new(),
    };
    let bare = RequestLog {
        request_id: "bare".to_owned(),
        client_protocol: "gemini".to_owned(),
        model_requested: String::new(),
        status: 499,
        ..RequestLog::default()
    };
    store.record(full.clone());
    store.record(bare.clone());
    store.flush().await.unwrap();
    let rows = all_logs(&*store).await;
    assert_eq!(rows, vec![bare, full]);
}

pub async fn queued_rows_are_written_without_an_explicit_flush(h: &dyn Harness) {
    let store = h.open();
    store.record(log("tick-1", None));
    // The writer flushes on its own within LOG_FLUSH_INTERVAL; poll for up to 5 s.
    let mut found = false;
    for _ in 0..100 {
        let rows = store.query_logs(LogQuery::default()).await.unwrap();
        if !rows.is_empty() {
            found = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(found, "row not written by the background tick");
}

pub async fn flush_waits_for_durability(h: &dyn Harness) {
    let writer = h.open();
    // A second, independent store on the same database sees everything flushed by the first.
    let reader = h.open();
    for round in 0..3 {
        for i in 0..200 {
            writer.record(log(&format!("d-{round}-{i}"), None));
        }
        writer.flush().await.unwrap();
        assert_eq!(all_logs(&*reader).await.len(), (round + 1) * 200);
    }
    // A flush with nothing queued returns at once.
    writer.flush().await.unwrap();
}

pub async fn rows_survive_close_and_reopen(h: &dyn Harness) {
    {
        let store = h.open();
        for i in 0..50 {
            let mut row = log(&format!("s-{i}"), Some(1));
            row.attempt_log = two_attempts();
            store.record(row);
        }
        // No flush: close must write what is queued.
        store.close().await.unwrap();
    }
    let store = h.open();
    let rows = all_logs(&*store).await;
    assert_eq!(rows.len(), 50);
    assert_eq!(
        store.attempts("s-49".to_owned()).await.unwrap(),
        two_attempts()
    );
    store.close().await.unwrap();
    let store = h.open();
    assert_eq!(all_logs(&*store).await.len(), 50);
}

pub async fn replayed_rows_are_written_once(h: &dyn Harness) {
    let first = h.open();
    for i in 0..20 {
        let mut row = log(&format!("r-{i}"), Some(1));
        row.attempt_log = two_attempts();
        first.record(row);
    }
    first.flush().await.unwrap();
    first.close().await.unwrap();
    // The same rows again (as a retry or a spool replay would send them), from another store
    // and in one batch with new rows: the old ones are ignored, attempts are not doubled.
    let second = h.open();
    for i in 0..25 {
        let mut row = log(&format!("r-{i}"), Some(2));
        row.status = 500;
        row.attempt_log = two_attempts();
        second.record(row);
    }
    second.flush().await.unwrap();
    let rows = all_logs(&*second).await;
    assert_eq!(rows.len(), 25);
    let old = rows.iter().find(|r| r.request_id == "r-3").unwrap();
    assert_eq!(
        (old.status, old.channel_id),
        (200, Some(1)),
        "first write wins"
    );
    let new = rows.iter().find(|r| r.request_id == "r-22").unwrap();
    assert_eq!(new.status, 500);
    assert_eq!(second.attempts("r-3".to_owned()).await.unwrap().len(), 2);
    assert_eq!(second.attempts("r-22".to_owned()).await.unwrap().len(), 2);
}

pub async fn cooldowns_persist_and_attempts_are_kept_per_request(h: &dyn Harness) {
    {
        let store = h.open();
        store.save_cooldown(CooldownRow {
            target: "key:1:0".to_owned(),
            until_ms: 10_000,
            interval_ms: 300_000,
            failures: 1,
            reason: "auth_rejected".to_owned(),
        });
        store.save_cooldown(CooldownRow {
            target: "channel:2".to_owned(),
            until_ms: 500,
            interval_ms: 500,
            failures: 1,
            reason: "server_error".to_owned(),
        });
        store.save_cooldown(CooldownRow {
            target: "url:3:1".to_owned(),
            until_ms: 20_000,
            interval_ms: 1,
            failures: 2,
            reason: "timeout".to_owned(),
        });
        store.clear_cooldown("url:3:1".to_owned());
        // An upsert replaces the earlier row for the same target.
        store.save_cooldown(CooldownRow {
            target: "model:4:claude-x".to_owned(),
            until_ms: 2_000,
            interval_ms: 1_000,
            failures: 1,
            reason: "rate_limited".to_owned(),
        });
        store.save_cooldown(CooldownRow {
            target: "model:4:claude-x".to_owned(),
            until_ms: 40_000,
            interval_ms: 2_000,
            failures: 2,
            reason: "rate_limited".to_owned(),
        });
        let mut row = log("with-attempts", Some(1));
        row.attempt_log = two_attempts();
        store.record(row);
        store.close().await.unwrap();
    }
    let store = h.open();
    let mut active = store.active_cooldowns(1_000).await.unwrap();
    active.sort_by(|a, b| a.target.cmp(&b.target));
    assert_eq!(
        active.len(),
        2,
        "expired and cleared cooldowns are not restored"
    );
    assert_eq!(active[0].target, "key:1:0");
    assert_eq!(active[0].interval_ms, 300_000);
    assert_eq!(active[0].reason, "auth_rejected");
    assert_eq!(active[1].target, "model:4:claude-x");
    assert_eq!((active[1].until_ms, active[1].failures), (40_000, 2));
    let attempts = store.attempts("with-attempts".to_owned()).await.unwrap();
    assert_eq!(attempts, two_attempts());
    assert_eq!(attempts[0].scope.as_deref(), Some("key"));
    assert!(store.attempts("nope".to_owned()).await.unwrap().is_empty());
}

pub async fn closed_store_refuses_work(h: &dyn Harness) {
    let store = h.open();
    store.record(log("before-close", None));
    store.close().await.unwrap();
    store.close().await.unwrap(); // closing twice is fine
    assert!(store.flush().await.is_err(), "flush after close reports it");
    store.record(log("after-close", None)); // dropped, never panics
    store.save_cooldown(CooldownRow {
        target: "channel:1".to_owned(),
        until_ms: i64::MAX,
        interval_ms: 1,
        failures: 1,
        reason: "x".to_owned(),
    });
    let reopened = h.open();
    let rows = all_logs(&*reopened).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].request_id, "before-close");
}
