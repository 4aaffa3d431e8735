//! The SQLite backend against a real database file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use relaygate_protocol::Protocol;
use relaygate_store::{
    AttemptLog, ChannelLimits, ChannelSpec, ChannelStore, CooldownRow, CooldownStore, KeyStrategy,
    LogQuery, LogStore, ModelEntry, RequestLog, SqliteStore, Store, TokenLimits, TokenSpec,
    TokenStore,
};

fn temp_db(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "relaygate-store-{}-{}-{}",
        std::process::id(),
        name,
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("db.sqlite")
}

fn spec(name: &str) -> ChannelSpec {
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

fn log(id: &str, channel: Option<i64>) -> RequestLog {
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
        usage: Some(relaygate_store::UsageRow {
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

#[tokio::test]
async fn channels_upsert_by_name_and_keep_order() {
    let store = SqliteStore::open(temp_db("channels")).unwrap();
    let id = store.upsert_channel(spec("main")).await.unwrap();
    let mut changed = spec("main");
    changed.keys = vec!["sk-three-cccccccc".to_owned()];
    changed.priority = 9;
    assert_eq!(store.upsert_channel(changed).await.unwrap(), id);
    store.upsert_channel(spec("second")).await.unwrap();
    let all = store.list_channels().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].name, "main");
    assert_eq!(all[0].priority, 9);
    assert_eq!(all[0].keys.len(), 1);
    assert_eq!(all[0].keys[0].secret, "sk-three-cccccccc");
    assert_eq!(all[0].models[1].upstream_name(), "claude-b");
    assert_eq!(all[0].models[0].upstream, None);
    assert!(
        !format!("{:?}", all[0].keys[0]).contains("three"),
        "Debug must mask keys"
    );
    assert!(store.delete_channel(id).await.unwrap());
    assert!(!store.delete_channel(id).await.unwrap());
    assert_eq!(store.list_channels().await.unwrap().len(), 1);
}

#[tokio::test]
async fn invalid_channels_are_refused() {
    let store = SqliteStore::open(temp_db("invalid")).unwrap();
    let mut bad = spec("x");
    bad.base_urls = vec!["ftp://nope".to_owned()];
    assert!(store.upsert_channel(bad).await.is_err());
    let mut bad = spec("x");
    bad.models.push(ModelEntry {
        name: "claude-a".to_owned(),
        upstream: None,
    });
    assert!(store.upsert_channel(bad).await.is_err());
    assert!(store.list_channels().await.unwrap().is_empty());
}

#[tokio::test]
async fn tokens_upsert() {
    let store = SqliteStore::open(temp_db("tokens")).unwrap();
    let hash = "a".repeat(64);
    let t = TokenSpec {
        name: "ci".to_owned(),
        token_hash: hash.clone(),
        hint: "rg-…abcd".to_owned(),
        enabled: true,
        expires_at_ms: None,
        limits: TokenLimits::default(),
    };
    let id = store.upsert_token(t.clone()).await.unwrap();
    let t2 = TokenSpec {
        token_hash: "b".repeat(64),
        ..t
    };
    assert_eq!(store.upsert_token(t2).await.unwrap(), id);
    let tokens = store.list_tokens().await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].token_hash, "b".repeat(64));
    let bad = TokenSpec {
        name: "x".to_owned(),
        token_hash: "short".to_owned(),
        hint: String::new(),
        enabled: true,
        expires_at_ms: None,
        limits: TokenLimits::default(),
    };
    assert!(store.upsert_token(bad).await.is_err());
}

#[tokio::test]
async fn logs_are_batched_idempotent_and_survive_reopen() {
    let path = temp_db("logs");
    {
        let store = SqliteStore::open(&path).unwrap();
        for i in 0..1000 {
            store.record(log(&format!("req-{i}"), Some(i % 3)));
        }
        store.record(log("req-5", Some(99))); // duplicate id: ignored
        store.flush().await.unwrap();
        let rows = store
            .query_logs(LogQuery {
                limit: 5000,
                ..LogQuery::default()
            })
            .await
            .unwrap();
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
        store.record(log("after-flush", None));
        store.close().await.unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
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
}

#[tokio::test]
async fn queued_rows_are_written_without_an_explicit_flush() {
    let store = SqliteStore::open(temp_db("tick")).unwrap();
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

#[tokio::test]
async fn two_opens_of_one_file_migrate_once() {
    let path = temp_db("twice");
    let a = SqliteStore::open(&path).unwrap();
    let b = SqliteStore::open(&path).unwrap();
    a.upsert_channel(spec("shared")).await.unwrap();
    assert_eq!(b.list_channels().await.unwrap().len(), 1);
}

#[test]
fn open_by_url() {
    let path = temp_db("url");
    let url = format!("sqlite://{}", path.display());
    assert!(relaygate_store::open(&url).is_ok());
    assert!(relaygate_store::open("postgres://x").is_err());
    assert!(relaygate_store::open("sqlite://").is_err());
}

#[tokio::test]
async fn limits_and_restrictions_round_trip() {
    let store = SqliteStore::open(temp_db("limits")).unwrap();
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

#[tokio::test]
async fn cooldowns_persist_and_attempts_are_kept_per_request() {
    let path = temp_db("cooldowns");
    {
        let store = SqliteStore::open(&path).unwrap();
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
        let mut row = log("with-attempts", Some(1));
        row.attempt_log = vec![
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
        ];
        store.record(row);
        store.close().await.unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let active = store.active_cooldowns(1_000).await.unwrap();
    assert_eq!(
        active.len(),
        1,
        "expired and cleared cooldowns are not restored"
    );
    assert_eq!(active[0].target, "key:1:0");
    assert_eq!(active[0].interval_ms, 300_000);
    let attempts = store.attempts("with-attempts".to_owned()).await.unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].status, Some(401));
    assert_eq!(attempts[0].scope.as_deref(), Some("key"));
    assert_eq!(attempts[1].outcome, "ok");
}
