//! The shared-state behaviour (rate windows, leases, spend, cooldown changes, cleanup), for
//! every backend. Concurrency is real: several store handles on one database race for slots.

use std::sync::Arc;

use relaygate_store::{CooldownRow, RequestLog, Store};

use crate::harness::Harness;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub async fn rate_windows_admit_exactly_the_limit_across_handles(h: &dyn Harness) {
    // Three handles stand for three gateway instances on one database.
    let stores: Vec<Arc<dyn Store>> = (0..3).map(|_| h.open()).collect();
    let t = now();
    let mut tasks = Vec::new();
    for i in 0..30 {
        let s = Arc::clone(&stores[i % 3]);
        tasks.push(tokio::spawn(async move {
            s.try_rate("channel:1:rpm".to_owned(), 10, 60_000, t)
                .await
                .unwrap()
        }));
    }
    let mut admitted = 0;
    let mut retry = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            None => admitted += 1,
            Some(ms) => retry.push(ms),
        }
    }
    assert_eq!(admitted, 10, "exactly the limit is admitted");
    assert!(
        retry.iter().all(|&ms| (1..=60_000).contains(&ms)),
        "{retry:?}"
    );
    // After the window the slots are free again.
    assert_eq!(
        stores[0]
            .try_rate("channel:1:rpm".to_owned(), 10, 60_000, t + 60_001)
            .await
            .unwrap(),
        None
    );
    // Other keys are independent.
    assert_eq!(
        stores[1]
            .try_rate("channel:2:rpm".to_owned(), 1, 60_000, t)
            .await
            .unwrap(),
        None
    );
    for s in stores {
        s.close().await.unwrap();
    }
}

pub async fn leases_bound_concurrency_and_expire(h: &dyn Harness) {
    let a = h.open();
    let b = h.open();
    let t = now();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let s = if i % 2 == 0 {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        tasks.push(tokio::spawn(async move {
            s.try_lease("token:7".to_owned(), 4, format!("lease-{i}"), t + 10_000, t)
                .await
                .unwrap()
        }));
    }
    let mut held = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        if task.await.unwrap() {
            held.push(format!("lease-{i}"));
        }
    }
    assert_eq!(held.len(), 4, "no more than the limit at once");
    a.release_lease(held[0].clone()).await.unwrap();
    assert!(
        b.try_lease("token:7".to_owned(), 4, "late".to_owned(), t + 10_000, t)
            .await
            .unwrap()
    );
    assert!(
        !b.try_lease("token:7".to_owned(), 4, "later".to_owned(), t + 10_000, t)
            .await
            .unwrap()
    );
    // A lease that is not renewed expires (its instance died); renewed ones stay.
    a.renew_leases(vec![held[1].clone()], t + 50_000)
        .await
        .unwrap();
    let after = t + 20_000;
    assert!(
        b.try_lease(
            "token:7".to_owned(),
            2,
            "after-expiry".to_owned(),
            after + 10_000,
            after
        )
        .await
        .unwrap()
    );
    assert!(
        !b.try_lease(
            "token:7".to_owned(),
            2,
            "over".to_owned(),
            after + 10_000,
            after
        )
        .await
        .unwrap()
    );
    a.close().await.unwrap();
    b.close().await.unwrap();
}

pub async fn spend_counters_add_up_atomically(h: &dyn Harness) {
    let stores: Vec<Arc<dyn Store>> = (0..2).map(|_| h.open()).collect();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = Arc::clone(&stores[i % 2]);
        tasks.push(tokio::spawn(async move {
            s.charge(vec![
                ("token:1:life".to_owned(), 150),
                ("channel:2:d:20261130".to_owned(), 10),
            ])
            .await
            .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let spent = stores[0]
        .spent(vec![
            "token:1:life".to_owned(),
            "channel:2:d:20261130".to_owned(),
            "never".to_owned(),
        ])
        .await
        .unwrap();
    assert_eq!(spent, vec![3_000, 200, 0]);
    for s in stores {
        s.close().await.unwrap();
    }
}

pub async fn reservations_never_pass_a_limit_across_handles(h: &dyn Harness) {
    let stores: Vec<Arc<dyn Store>> = (0..2).map(|_| h.open()).collect();
    // 40 reservations of 70 against a limit of 1,000 on one key (and none on the other):
    // exactly 14 fit, whichever handle each goes through.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = Arc::clone(&stores[i % 2]);
        tasks.push(tokio::spawn(async move {
            s.reserve(vec![
                ("token:r:d:1".to_owned(), 70, 1_000),
                ("token:r:life".to_owned(), 70, 0),
            ])
            .await
            .unwrap()
        }));
    }
    let mut fitted = 0;
    for t in tasks {
        fitted += i64::from(t.await.unwrap());
    }
    assert_eq!(fitted, 14);
    let spent = stores[1]
        .spent(vec!["token:r:d:1".to_owned(), "token:r:life".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        spent,
        vec![980, 980],
        "a refused reservation changes nothing"
    );
    // Given back (a negative charge), it fits again.
    stores[0]
        .charge(vec![("token:r:d:1".to_owned(), -70)])
        .await
        .unwrap();
    assert!(
        stores[1]
            .reserve(vec![("token:r:d:1".to_owned(), 90, 1_000)])
            .await
            .unwrap()
    );
    for s in stores {
        s.close().await.unwrap();
    }
}

pub async fn cooldown_changes_are_visible_to_other_handles(h: &dyn Harness) {
    let a = h.open();
    let b = h.open();
    let t = now();
    a.save_cooldown(CooldownRow {
        target: "key:9:0".to_owned(),
        until_ms: t + 300_000,
        interval_ms: 300_000,
        failures: 1,
        reason: "auth_rejected".to_owned(),
    });
    a.flush().await.unwrap();
    let seen = b.cooldowns_changed_since(t - 5_000).await.unwrap();
    assert!(
        seen.iter()
            .any(|(r, at)| r.target == "key:9:0" && r.until_ms == t + 300_000 && *at >= t - 5_000),
        "{seen:?}"
    );
    a.clear_cooldown("key:9:0".to_owned());
    a.flush().await.unwrap();
    let seen = b.cooldowns_changed_since(t - 5_000).await.unwrap();
    let row = seen.iter().find(|(r, _)| r.target == "key:9:0").unwrap();
    assert_eq!(
        row.0.until_ms, 0,
        "a clear is a change others see, not a silent delete"
    );
    assert!(
        b.active_cooldowns(t)
            .await
            .unwrap()
            .iter()
            .all(|r| r.target != "key:9:0")
    );
    a.close().await.unwrap();
    b.close().await.unwrap();
}

pub async fn cleanup_removes_old_logs_and_expired_state(h: &dyn Harness) {
    let s = h.open();
    let t = now();
    for (id, at) in [("old", t - 10 * 86_400_000), ("new", t)] {
        s.record(RequestLog {
            request_id: id.to_owned(),
            started_at_ms: at,
            client_protocol: "openai".to_owned(),
            model_requested: "m".to_owned(),
            status: 200,
            attempts: 1,
            ..RequestLog::default()
        });
    }
    s.flush().await.unwrap();
    assert!(
        s.try_lease("k".to_owned(), 1, "l1".to_owned(), t - 1, t - 2)
            .await
            .unwrap()
    );
    let removed = s.cleanup(t, Some(t - 7 * 86_400_000)).await.unwrap();
    assert_eq!(removed, 1);
    let rows = s
        .query_logs(relaygate_store::LogQuery::default())
        .await
        .unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| r.request_id.as_str())
            .collect::<Vec<_>>(),
        ["new"]
    );
    // The expired lease is gone, so the key is free even with limit 1.
    assert!(
        s.try_lease("k".to_owned(), 1, "l2".to_owned(), t + 1_000, t)
            .await
            .unwrap()
    );
    s.close().await.unwrap();
}

macro_rules! shared_conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite_shared {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let h = crate::harness::SqliteHarness::new(stringify!($case));
                    crate::shared::$case(&h).await;
                }
            )*
        }
        mod mysql_shared {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(h) = crate::harness::MysqlHarness::new(stringify!($case)).await else {
                        return;
                    };
                    crate::shared::$case(&h).await;
                }
            )*
        }
    };
}

shared_conformance!(
    rate_windows_admit_exactly_the_limit_across_handles,
    leases_bound_concurrency_and_expire,
    spend_counters_add_up_atomically,
    reservations_never_pass_a_limit_across_handles,
    cooldown_changes_are_visible_to_other_handles,
    cleanup_removes_old_logs_and_expired_state,
    retention_keeps_hourly_aggregates,
);

pub async fn retention_keeps_hourly_aggregates(h: &dyn Harness) {
    use relaygate_store::{Bucket, GroupBy, StatsQuery, UsageRow};
    let s = h.open();
    let t = now();
    let old = t - 10 * 86_400_000;
    for (i, status) in [200u16, 200, 502].into_iter().enumerate() {
        s.record(RequestLog {
            request_id: format!("agg-{i}"),
            started_at_ms: old + i as i64,
            token_id: if i == 0 { None } else { Some(4) },
            client_protocol: "openai".to_owned(),
            model_requested: "m".to_owned(),
            channel_name: Some("c".to_owned()),
            status,
            attempts: 1,
            usage: Some(UsageRow {
                input: 10 + i as u64,
                output: 5,
                // The second row's usage was counted locally.
                estimated: i == 1,
                ..UsageRow::default()
            }),
            cost_micro_usd: Some(100),
            ..RequestLog::default()
        });
    }
    s.flush().await.unwrap();
    let q = StatsQuery {
        from_ms: old - 3_600_000,
        to_ms: t,
        bucket: Bucket::Total,
        group_by: GroupBy::None,
    };
    let before = s.stats(q).await.unwrap();
    assert_eq!(s.cleanup(t, Some(t - 7 * 86_400_000)).await.unwrap(), 3);
    assert!(
        s.query_logs(relaygate_store::LogQuery::default())
            .await
            .unwrap()
            .is_empty()
    );
    let after = s.stats(q).await.unwrap();
    assert_eq!(after.len(), 1, "{after:?}");
    let (b, a) = (&before[0], &after[0]);
    assert_eq!(
        (
            a.requests,
            a.errors,
            a.input_tokens,
            a.output_tokens,
            a.cost_micro_usd
        ),
        (3, 1, 33, 15, 300)
    );
    assert_eq!(
        (a.requests, a.errors, a.cost_micro_usd),
        (b.requests, b.errors, b.cost_micro_usd)
    );
    // Reported and estimated apart, from raw rows and from the aggregates alike.
    for r in [a, b] {
        assert_eq!(
            (
                r.estimated_requests,
                r.estimated_input_tokens,
                r.estimated_output_tokens,
                r.estimated_cost_micro_usd
            ),
            (1, 11, 5, 100),
            "{r:?}"
        );
    }
    let by_token = s
        .stats(StatsQuery {
            group_by: GroupBy::Token,
            ..q
        })
        .await
        .unwrap();
    let keys: Vec<(&str, u64)> = by_token
        .iter()
        .map(|r| (r.key.as_str(), r.requests))
        .collect();
    assert!(
        keys.contains(&("", 1)) && keys.contains(&("4", 2)),
        "{keys:?}"
    );
    // A second cleanup finds nothing new and does not double the aggregates.
    assert_eq!(s.cleanup(t, Some(t - 7 * 86_400_000)).await.unwrap(), 0);
    assert_eq!(s.stats(q).await.unwrap()[0].requests, 3);
    s.close().await.unwrap();
}
