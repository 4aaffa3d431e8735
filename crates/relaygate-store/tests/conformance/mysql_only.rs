//! What only the MySQL backend has: the on-disk spool, the migration lock, URL handling.

use std::path::Path;

use mysql_async::prelude::Queryable;
use relaygate_store::{ChannelStore, CooldownStore, LogStore, MysqlStore, Store};

use crate::harness::{Harness, MysqlHarness};
use crate::suite::{all_logs, log, spec, two_attempts};

fn spool_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn spooled_ids(dir: &Path) -> Vec<String> {
    spool_files(dir)
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    v["request_id"].as_str().unwrap().to_owned()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_spools_rows_and_replays_them_once() {
    let Some(h) = MysqlHarness::new("spool").await else {
        return;
    };
    // 1. The server is unreachable: rows land in the spool, flush and close still succeed.
    let down = MysqlStore::open(&h.unreachable_url()).unwrap();
    assert_eq!(down.spool_dir(), h.spool.as_path());
    for i in 0..30 {
        let mut row = log(&format!("sp-{i}"), Some(1));
        row.attempt_log = two_attempts();
        down.record(row);
    }
    down.record(log("sp-3", Some(9))); // a duplicate id
    down.flush().await.unwrap();
    assert!(
        down.query_logs(Default::default()).await.is_err(),
        "reads report the outage"
    );
    for i in 30..40 {
        down.record(log(&format!("sp-{i}"), Some(1)));
    }
    down.close().await.unwrap();
    assert_eq!(down.spooled_logs(), 41);
    assert_eq!(down.dropped_logs(), 0);
    let ids = spooled_ids(&h.spool);
    assert_eq!(ids.len(), 41, "every row is in the spool, as JSON lines");
    let saved: Vec<(std::path::PathBuf, String)> = spool_files(&h.spool)
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            (f, text)
        })
        .collect();

    // 2. The server is back: opening with the same spool replays it, each row once.
    let up = MysqlStore::open(&h.url()).unwrap();
    up.record(log("live-1", None));
    up.flush().await.unwrap();
    let rows = all_logs(&up).await;
    assert_eq!(rows.len(), 41, "40 spooled ids + 1 live row, no duplicates");
    let dup = rows.iter().find(|r| r.request_id == "sp-3").unwrap();
    assert_eq!(dup.channel_id, Some(1), "the first spooled copy wins");
    assert_eq!(
        up.attempts("sp-7".to_owned()).await.unwrap(),
        two_attempts()
    );
    assert!(
        spool_files(&h.spool).is_empty(),
        "replayed files are removed"
    );

    // 3. A replay of the same files again (e.g. a crash between insert and delete) adds nothing.
    for (path, text) in &saved {
        std::fs::write(path, text).unwrap();
    }
    up.flush().await.unwrap();
    assert_eq!(all_logs(&up).await.len(), 41);
    assert_eq!(up.attempts("sp-7".to_owned()).await.unwrap().len(), 2);
    assert!(spool_files(&h.spool).is_empty());
    let mut conn = h.conn().await;
    let attempts: Option<u64> = conn
        .query_first("SELECT COUNT(*) FROM request_attempts")
        .await
        .unwrap();
    assert_eq!(attempts, Some(60));
    conn.disconnect().await.unwrap();
    up.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_is_replayed_in_the_background() {
    let Some(h) = MysqlHarness::new("spool_bg").await else {
        return;
    };
    let down = MysqlStore::open(&h.unreachable_url()).unwrap();
    down.record(log("bg-1", None));
    down.close().await.unwrap();
    assert_eq!(spooled_ids(&h.spool), ["bg-1"]);
    // No flush: the writer replays on its own shortly after start.
    let up = h.open();
    let mut found = false;
    // The file is deleted just after the rows commit: wait for both.
    for _ in 0..100 {
        if all_logs(&*up).await.len() == 1 && spool_files(&h.spool).is_empty() {
            found = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        found,
        "spooled row not replayed (and its file removed) by the background task"
    );
    assert_eq!(all_logs(&*up).await.len(), 1, "replayed exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_at_once_migrate_once() {
    let Some(h) = MysqlHarness::new("migrate").await else {
        return;
    };
    let url = h.url();
    let opens = (0..4).map(|_| {
        let url = url.clone();
        async move { MysqlStore::connect(&url).await }
    });
    let stores: Vec<MysqlStore> = futures_join(opens).await;
    stores[0].upsert_channel(spec("shared")).await.unwrap();
    for s in &stores {
        assert_eq!(s.list_channels().await.unwrap().len(), 1);
    }
    let mut conn = h.conn().await;
    let versions: Vec<(u32, String)> = conn
        .query("SELECT version, name FROM schema_migrations ORDER BY version")
        .await
        .unwrap();
    // Each migration is recorded exactly once, in order, however many instances raced.
    assert_eq!(versions.first(), Some(&(1, "init".to_owned())));
    let mut numbers: Vec<u32> = versions.iter().map(|v| v.0).collect();
    let before = numbers.len();
    numbers.dedup();
    assert_eq!(numbers.len(), before, "{versions:?}");
    assert_eq!(
        versions.iter().map(|v| v.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
    conn.disconnect().await.unwrap();
    // Reopening finds nothing to do.
    let again = MysqlStore::connect(&url).await.unwrap();
    assert_eq!(again.list_channels().await.unwrap().len(), 1);
    for s in stores {
        s.close().await.unwrap();
    }
    again.close().await.unwrap();
}

/// Runs the futures concurrently on the runtime and collects their results in order.
async fn futures_join<F>(futs: impl Iterator<Item = F>) -> Vec<MysqlStore>
where
    F: std::future::Future<Output = relaygate_store::Result<MysqlStore>> + Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap().unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_by_url_dispatches_to_mysql() {
    let Some(h) = MysqlHarness::new("url").await else {
        return;
    };
    let store = relaygate_store::open(&h.url()).unwrap();
    assert!(format!("{store:?}").contains("MysqlStore"));
    store.upsert_channel(spec("via-url")).await.unwrap();
    assert_eq!(store.list_channels().await.unwrap().len(), 1);
    store.close().await.unwrap();
}

#[test]
fn mysql_urls_are_checked_without_a_server() {
    // Outside a runtime the MySQL backend refuses to start rather than panic.
    let err = relaygate_store::open("mysql://root@127.0.0.1:1/db").unwrap_err();
    assert!(err.to_string().contains("tokio runtime"), "{err}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let err = relaygate_store::open("mysql://root:hunter2@127.0.0.1:3306").unwrap_err();
        assert!(err.to_string().contains("database name"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(relaygate_store::open("mysql://root@127.0.0.1:3306/db?nonsense=1").is_err());
        // Opening does not wait for the server.
        let lazy = relaygate_store::open("mysql://root@127.0.0.1:1/db?spool=/nonexistent/x");
        assert!(lazy.is_ok());
    });
}

/// Stats by model over the window holding [`log`]'s rows, as (model, requests, cost).
async fn by_model(s: &MysqlStore) -> Vec<(String, u64, i64)> {
    use relaygate_store::{AdminStore, Bucket, GroupBy, StatsQuery};
    let mut rows: Vec<(String, u64, i64)> = s
        .stats(StatsQuery {
            from_ms: 1_699_990_000_000,
            to_ms: 1_700_010_000_000,
            bucket: Bucket::Total,
            group_by: GroupBy::Model,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.requests, r.cost_micro_usd))
        .collect();
    rows.sort();
    rows
}

fn cleanup_all(s: &MysqlStore) -> impl std::future::Future<Output = relaygate_store::Result<u64>> {
    use relaygate_store::SharedState;
    let now = 1_800_000_000_000;
    s.cleanup(now, Some(now - 86_400_000))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollup_takes_model_names_of_any_length_and_is_idempotent() {
    let Some(h) = MysqlHarness::new("rollup_long").await else {
        return;
    };
    let s = MysqlStore::open(&h.url()).unwrap();
    // Two 1000-character names that differ only in their last character, and a short one.
    let long_a = format!("{}a", "m".repeat(999));
    let long_b = format!("{}b", "m".repeat(999));
    for (i, model) in [&long_a, &long_a, &long_b, &"short".to_owned()]
        .into_iter()
        .enumerate()
    {
        let mut row = log(&format!("long-{i}"), Some(1));
        row.model_requested = model.clone();
        row.channel_name = Some("c".repeat(300));
        row.attempt_log = two_attempts();
        s.record(row);
    }
    s.flush().await.unwrap();
    let live = by_model(&s).await;
    assert_eq!(cleanup_all(&s).await.unwrap(), 4);
    let rolled = by_model(&s).await;
    assert_eq!(rolled, live, "the rollup keeps what the logs said");
    assert_eq!(
        rolled,
        vec![
            (long_a.clone(), 2, 2468),
            (long_b.clone(), 1, 1234),
            ("short".to_owned(), 1, 1234)
        ]
    );
    // Running it again changes nothing.
    assert_eq!(cleanup_all(&s).await.unwrap(), 0);
    assert_eq!(by_model(&s).await, rolled);
    // Later rows for the same hour, channel and model add to the same rollup row.
    let mut row = log("long-late", Some(1));
    row.model_requested = long_a.clone();
    row.channel_name = Some("c".repeat(300));
    s.record(row);
    s.flush().await.unwrap();
    assert_eq!(cleanup_all(&s).await.unwrap(), 1);
    assert_eq!(by_model(&s).await[0], (long_a.clone(), 3, 3702));
    let mut conn = h.conn().await;
    let attempts: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM request_attempts")
        .await
        .unwrap();
    assert_eq!(attempts, Some(0), "attempts go with their logs");
    let hourly: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM stats_hourly")
        .await
        .unwrap();
    assert_eq!(hourly, Some(3));
    conn.disconnect().await.unwrap();
    s.close().await.unwrap();
}

/// Statements of a migration file, as the store splits them (comments off, split on `;`).
fn migration_statements(sql: &str) -> Vec<String> {
    sql.lines()
        .map(|l| l.split_once("--").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollup_hash_migration_keeps_old_rows_and_merges_new_ones() {
    let Some(h) = MysqlHarness::new("rollup_migrate").await else {
        return;
    };
    // A database as the previous release left it: migrations 1 to 4, one rolled-up row.
    let mut conn = h.conn().await;
    conn.query_drop(
        "CREATE TABLE schema_migrations (version INT UNSIGNED NOT NULL, name VARCHAR(191) NOT NULL,
           applied_at BIGINT NOT NULL, PRIMARY KEY (version))
         ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    )
    .await
    .unwrap();
    let old = [
        include_str!("../../migrations/mysql/0001_init.sql"),
        include_str!("../../migrations/mysql/0002_admin.sql"),
        include_str!("../../migrations/mysql/0003_shared.sql"),
        include_str!("../../migrations/mysql/0004_rollup.sql"),
    ];
    for (i, sql) in old.iter().enumerate() {
        for stmt in migration_statements(sql) {
            conn.query_drop(stmt).await.unwrap();
        }
        conn.exec_drop(
            "INSERT INTO schema_migrations VALUES (?, 'old', 0)",
            (i + 1,),
        )
        .await
        .unwrap();
    }
    conn.query_drop(
        "INSERT INTO stats_hourly VALUES (1699999200000, 'c', 'claude-a', 0, 5, 1, 50, 25, 0, 0,
           5000, 0)",
    )
    .await
    .unwrap();
    // The store migrates it; the old row's key matches what the rollup computes now.
    let s = MysqlStore::connect(&h.url()).await.unwrap();
    let mut row = log("after-migration", None);
    row.channel_name = Some("c".to_owned());
    s.record(row);
    s.flush().await.unwrap();
    assert_eq!(cleanup_all(&s).await.unwrap(), 1);
    assert_eq!(by_model(&s).await, vec![("claude-a".to_owned(), 6, 6234)]);
    let hourly: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM stats_hourly")
        .await
        .unwrap();
    assert_eq!(hourly, Some(1), "merged into the migrated row");
    conn.disconnect().await.unwrap();
    s.close().await.unwrap();
}

// One thread: the writer task cannot run while the test records, so the queue fills for sure.
#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_sends_rows_to_the_spool_and_loses_none() {
    let Some(h) = MysqlHarness::new("queue_full").await else {
        return;
    };
    let s = MysqlStore::connect(&format!("{}&queue_max_mb=1", h.url()))
        .await
        .unwrap();
    for i in 0..1500 {
        let mut row = log(&format!("full-{i:05}"), None);
        // About 1.2 KiB a row: the 1 MiB queue takes some 800 of them.
        row.error = Some("x".repeat(1000));
        s.record(row); // never waits, although nothing drains the queue meanwhile
    }
    let stats = s.queue_stats();
    assert!(stats.overflow_rows > 300, "{stats:?}");
    assert_eq!(stats.dropped_rows, 0, "{stats:?}");
    s.flush().await.unwrap();
    let stats = s.queue_stats();
    assert_eq!((stats.queued_rows, stats.queued_bytes), (0, 0), "{stats:?}");
    assert!(stats.spooled_rows >= stats.overflow_rows, "{stats:?}");
    let mut conn = h.conn().await;
    let written: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM request_logs")
        .await
        .unwrap();
    assert_eq!(written, Some(1500), "every row reached the database");
    conn.disconnect().await.unwrap();
    assert!(spool_files(&h.spool).is_empty(), "the spool was replayed");
    s.close().await.unwrap();
}
