//! What the admin API needs from every backend: settings, sessions, key and channel switches,
//! token deletion, log search with cursor pagination, and statistics with percentiles.
//! Run against SQLite always and MySQL / MariaDB when `RELAYGATE_TEST_MYSQL_URL` is set.

use relaygate_store::{
    AdminSession, Bucket, GroupBy, LogFilter, RequestLog, StatsQuery, StatusFilter, TokenLimits,
    TokenSpec,
};

use crate::harness::Harness;
use crate::suite::{log, spec};

macro_rules! admin_conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let h = crate::harness::SqliteHarness::new(stringify!($case));
                    super::$case(&h).await;
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(h) = crate::harness::MysqlHarness::new(stringify!($case)).await else {
                        return;
                    };
                    super::$case(&h).await;
                }
            )*
        }
    };
}

admin_conformance!(
    settings_round_trip_and_are_checked,
    sessions_expire_and_are_deleted,
    keys_channels_and_tokens_switch_and_delete,
    log_search_filters_and_pages,
    stats_group_bucket_and_percentiles,
);

async fn settings_round_trip_and_are_checked(h: &dyn Harness) {
    let store = h.open();
    store.ping().await.unwrap();
    assert_eq!(store.get_setting("a.b".to_owned()).await.unwrap(), None);
    store
        .set_setting("a.b".to_owned(), "1".to_owned())
        .await
        .unwrap();
    store
        .set_setting("a.b".to_owned(), "2 ✓".to_owned())
        .await
        .unwrap();
    assert_eq!(
        store
            .get_setting("a.b".to_owned())
            .await
            .unwrap()
            .as_deref(),
        Some("2 ✓")
    );
    assert!(
        store
            .set_setting_if_absent("x".to_owned(), "first".to_owned())
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_setting_if_absent("x".to_owned(), "second".to_owned())
            .await
            .unwrap()
    );
    assert_eq!(
        store.list_settings().await.unwrap(),
        vec![
            ("a.b".to_owned(), "2 ✓".to_owned()),
            ("x".to_owned(), "first".to_owned())
        ]
    );
    assert!(
        store
            .set_setting("bad key".to_owned(), String::new())
            .await
            .is_err()
    );
    assert!(store.delete_setting("x".to_owned()).await.unwrap());
    assert!(!store.delete_setting("x".to_owned()).await.unwrap());
    store.close().await.unwrap();
    let store = h.open();
    assert_eq!(store.list_settings().await.unwrap().len(), 1);
    store.close().await.unwrap();
}

async fn sessions_expire_and_are_deleted(h: &dyn Harness) {
    let store = h.open();
    let s = |hash: &str, exp: i64| AdminSession {
        token_hash: hash.repeat(64 / hash.len()),
        csrf_hash: "c".repeat(64),
        created_at_ms: 1,
        expires_at_ms: exp,
    };
    store.create_session(s("a", 1_000)).await.unwrap();
    store.create_session(s("b", 5_000)).await.unwrap();
    let a = "a".repeat(64);
    assert_eq!(
        store.find_session(a.clone(), 999).await.unwrap(),
        Some(s("a", 1_000))
    );
    assert_eq!(store.find_session(a.clone(), 1_000).await.unwrap(), None);
    assert_eq!(store.purge_sessions(2_000).await.unwrap(), 1);
    assert!(
        store
            .find_session("b".repeat(64), 0)
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.delete_session("b".repeat(64)).await.unwrap());
    assert!(!store.delete_session("b".repeat(64)).await.unwrap());
    store.create_session(s("d", 9_000)).await.unwrap();
    assert_eq!(store.delete_all_sessions().await.unwrap(), 1);
    store.close().await.unwrap();
}

async fn keys_channels_and_tokens_switch_and_delete(h: &dyn Harness) {
    let store = h.open();
    let id = store.upsert_channel(spec("k")).await.unwrap();
    assert!(store.set_key_enabled(id, 1, false).await.unwrap());
    assert!(
        store.set_key_enabled(id, 1, false).await.unwrap(),
        "same value"
    );
    assert!(!store.set_key_enabled(id, 7, false).await.unwrap());
    assert!(store.set_channel_enabled(id, false).await.unwrap());
    assert!(!store.set_channel_enabled(id + 100, false).await.unwrap());
    let c = &store.list_channels().await.unwrap()[0];
    assert!(!c.enabled);
    assert!(c.keys[0].enabled && !c.keys[1].enabled);
    let tid = store
        .upsert_token(TokenSpec {
            name: "t".to_owned(),
            token_hash: "e".repeat(64),
            hint: "h".to_owned(),
            enabled: true,
            expires_at_ms: None,
            limits: TokenLimits::default(),
        })
        .await
        .unwrap();
    assert!(store.delete_token(tid).await.unwrap());
    assert!(!store.delete_token(tid).await.unwrap());
    assert!(store.list_tokens().await.unwrap().is_empty());
    store.close().await.unwrap();
}

fn row(id: &str, at: i64, channel: Option<(i64, &str)>, model: &str, status: u16) -> RequestLog {
    RequestLog {
        started_at_ms: at,
        model_requested: model.to_owned(),
        channel_id: channel.map(|c| c.0),
        channel_name: channel.map(|c| c.1.to_owned()),
        status,
        token_id: Some(7),
        ..log(id, None)
    }
}

async fn log_search_filters_and_pages(h: &dyn Harness) {
    let store = h.open();
    for i in 0..25_i64 {
        let ch = if i % 2 == 0 { (1, "even") } else { (2, "odd") };
        let status = if i % 5 == 0 { 502 } else { 200 };
        let mut r = row(&format!("req-{i:02}"), 1_000 + i, Some(ch), "m-a", status);
        if i == 3 {
            r.error = Some("stream broke: 100%_done".to_owned());
            r.model_requested = "m-b".to_owned();
            r.token_id = None;
        }
        store.record(r);
    }
    store.flush().await.unwrap();
    let all = store.search_logs(LogFilter::default()).await.unwrap();
    assert_eq!(all.rows.len(), 25);
    assert_eq!(all.next_cursor, None);
    assert_eq!(all.rows[0].row.request_id, "req-24");
    assert!(all.rows[0].id > all.rows[1].id);
    // Pages of 10 walk every row once.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .search_logs(LogFilter {
                limit: 10,
                before_id: cursor,
                ..LogFilter::default()
            })
            .await
            .unwrap();
        seen.extend(page.rows.iter().map(|r| r.row.request_id.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(seen.last().map(String::as_str), Some("req-00"));
    let count = |f: LogFilter| {
        let store = &store;
        async move { store.search_logs(f).await.unwrap().rows.len() }
    };
    assert_eq!(
        count(LogFilter {
            channel_id: Some(2),
            ..LogFilter::default()
        })
        .await,
        12
    );
    assert_eq!(
        count(LogFilter {
            status: StatusFilter::Exact(502),
            ..LogFilter::default()
        })
        .await,
        5
    );
    assert_eq!(
        count(LogFilter {
            status: StatusFilter::Failed,
            ..LogFilter::default()
        })
        .await,
        6,
        "five 502s and one error"
    );
    assert_eq!(
        count(LogFilter {
            status: StatusFilter::Ok,
            ..LogFilter::default()
        })
        .await,
        19
    );
    assert_eq!(
        count(LogFilter {
            from_ms: Some(1_010),
            to_ms: Some(1_020),
            ..LogFilter::default()
        })
        .await,
        10
    );
    assert_eq!(
        count(LogFilter {
            model: Some("m-b".to_owned()),
            ..LogFilter::default()
        })
        .await,
        1
    );
    assert_eq!(
        count(LogFilter {
            token_id: Some(7),
            ..LogFilter::default()
        })
        .await,
        24
    );
    // Text search: wildcards in the text are literal.
    assert_eq!(
        count(LogFilter {
            text: Some("100%_d".to_owned()),
            ..LogFilter::default()
        })
        .await,
        1
    );
    assert_eq!(
        count(LogFilter {
            text: Some("1%0".to_owned()),
            ..LogFilter::default()
        })
        .await,
        0
    );
    assert_eq!(
        count(LogFilter {
            text: Some("odd".to_owned()),
            ..LogFilter::default()
        })
        .await,
        12
    );
    store.close().await.unwrap();
}

async fn stats_group_bucket_and_percentiles(h: &dyn Harness) {
    let store = h.open();
    let hour = 3_600_000_i64;
    let base = 1_700_000_000_000_i64 / hour * hour;
    for i in 0..100_i64 {
        let ch = if i < 60 { (1, "a") } else { (2, "b") };
        let mut r = row(&format!("s-{i}"), base + (i % 2) * hour, Some(ch), "m", 200);
        r.duration_ms = u64::try_from(i + 1).unwrap();
        r.first_byte_ms = Some(u64::try_from(i + 1).unwrap() * 10);
        if i == 99 {
            r.status = 500;
            r.cost_micro_usd = None;
            r.unpriced = true;
        }
        store.record(r);
    }
    store.record(row("outside", base + 5 * hour, None, "m", 200));
    store.flush().await.unwrap();
    let q = StatsQuery {
        from_ms: base,
        to_ms: base + 2 * hour,
        bucket: Bucket::Total,
        group_by: GroupBy::None,
    };
    let total = store.stats(q).await.unwrap();
    assert_eq!(total.len(), 1);
    let t = &total[0];
    assert_eq!(t.bucket_start_ms, base);
    assert_eq!((t.requests, t.errors, t.unpriced), (100, 1, 1));
    assert_eq!(t.input_tokens, 1000);
    assert_eq!(t.cost_micro_usd, 99 * 1234);
    assert_eq!((t.p50_ms, t.p95_ms), (Some(50), Some(95)));
    assert_eq!(
        (t.p50_first_byte_ms, t.p95_first_byte_ms),
        (Some(500), Some(950))
    );
    let by_channel = store
        .stats(StatsQuery {
            group_by: GroupBy::Channel,
            ..q
        })
        .await
        .unwrap();
    let keys: Vec<(&str, u64)> = by_channel
        .iter()
        .map(|r| (r.key.as_str(), r.requests))
        .collect();
    assert_eq!(keys, vec![("a", 60), ("b", 40)]);
    assert_eq!(by_channel[1].p50_ms, Some(80));
    let hourly = store
        .stats(StatsQuery {
            bucket: Bucket::Hour,
            ..q
        })
        .await
        .unwrap();
    let buckets: Vec<(i64, u64)> = hourly
        .iter()
        .map(|r| (r.bucket_start_ms - base, r.requests))
        .collect();
    assert_eq!(buckets, vec![(0, 50), (hour, 50)]);
    let by_token = store
        .stats(StatsQuery {
            bucket: Bucket::Day,
            group_by: GroupBy::Token,
            ..q
        })
        .await
        .unwrap();
    assert_eq!(by_token.len(), 1);
    assert_eq!(by_token[0].key, "7");
    assert_eq!(by_token[0].bucket_start_ms % 86_400_000, 0);
    let empty = store
        .stats(StatsQuery {
            from_ms: 0,
            to_ms: 10,
            ..q
        })
        .await
        .unwrap();
    assert!(empty.is_empty());
    store.close().await.unwrap();
}
