//! [`SharedState`] for MySQL / MariaDB. Every admission takes a row lock on its key in
//! `limit_locks` (`SELECT … FOR UPDATE`), so concurrent instances serialise per key and
//! N instances admit no more than the limit between them.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, TxOpts};

use crate::model::CooldownRow;
use crate::mysql::MysqlStore;
use crate::{BoxFuture, Error, Result, SharedState};

const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `stats_hourly` key of a (channel, model) pair: a SHA-256 of both, length-prefixed so
/// that no two pairs share an input. A hash because the names are TEXT of any length and an
/// index over them has a length limit. Must match `migrations/mysql/0005_rollup_hash.sql`.
const ROLLUP_DIMS_HASH: &str = "UNHEX(SHA2(CONCAT(CHAR_LENGTH(COALESCE(channel_name, '')), ':', COALESCE(channel_name, ''), model_requested), 256))";

/// The `limit_locks` row that serialises rollups across instances.
const ROLLUP_LOCK_KEY: &str = "relaygate:rollup";

/// Adds the request logs that started before `before` to `stats_hourly` and deletes them (with
/// their attempts), in one transaction: a failure anywhere leaves both tables as they were, so
/// a row is never counted twice nor deleted uncounted. Returns the number of log rows removed.
///
/// Instances serialise on a row lock taken inside that transaction (so it is released by the
/// commit or the rollback, even when the caller gives up half-way): a second instance then
/// reads after the first committed and finds those rows gone, so running it again, or from
/// several instances at once, never adds the same rows twice.
async fn roll_up_and_delete(conn: &mut Conn, before: i64) -> Result<u64> {
    ensure_lock_row(conn, ROLLUP_LOCK_KEY).await?;
    // Repeatable read whatever the server's default: the aggregating read then locks the rows
    // (and gaps) it reads, so a late row cannot slip in between counting and deleting.
    let mut opts = TxOpts::default();
    opts.with_isolation_level(mysql_async::IsolationLevel::RepeatableRead);
    let mut tx = conn.start_transaction(opts).await?;
    tx.exec_drop(
        "SELECT key_name FROM limit_locks WHERE key_name = ? FOR UPDATE",
        (ROLLUP_LOCK_KEY,),
    )
    .await?;
    // Grouped by the hash, not the names: servers compare long TEXT values by a prefix only
    // (max_sort_length) when grouping. Within a group the names are equal, so MIN is just a
    // way to name the value under ONLY_FULL_GROUP_BY.
    let rollup = format!(
        "INSERT INTO stats_hourly (started_at, token_id, dims_hash, channel_name, model_requested,
           requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
           cost_micro_usd, unpriced, estimated_requests, estimated_input_tokens,
           estimated_output_tokens, estimated_cost_micro_usd)
         SELECT (started_at DIV 3600000) * 3600000 AS hour, COALESCE(token_id, 0) AS tok,
           {ROLLUP_DIMS_HASH} AS dims, MIN(COALESCE(channel_name, '')), MIN(model_requested),
           COUNT(*), SUM(CASE WHEN status >= 400 OR error IS NOT NULL THEN 1 ELSE 0 END),
           COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),
           COALESCE(SUM(cache_read_tokens), 0), COALESCE(SUM(cache_write_tokens), 0),
           COALESCE(SUM(cost_micro_usd), 0), SUM(unpriced), SUM(usage_estimated),
           COALESCE(SUM(CASE WHEN usage_estimated = 1 THEN input_tokens END), 0),
           COALESCE(SUM(CASE WHEN usage_estimated = 1 THEN output_tokens END), 0),
           COALESCE(SUM(CASE WHEN usage_estimated = 1 THEN cost_micro_usd END), 0)
         FROM request_logs WHERE started_at < ?
         GROUP BY hour, tok, dims
         ON DUPLICATE KEY UPDATE requests = requests + VALUES(requests),
           errors = errors + VALUES(errors), input_tokens = input_tokens + VALUES(input_tokens),
           output_tokens = output_tokens + VALUES(output_tokens),
           cache_read_tokens = cache_read_tokens + VALUES(cache_read_tokens),
           cache_write_tokens = cache_write_tokens + VALUES(cache_write_tokens),
           cost_micro_usd = cost_micro_usd + VALUES(cost_micro_usd),
           unpriced = unpriced + VALUES(unpriced),
           estimated_requests = estimated_requests + VALUES(estimated_requests),
           estimated_input_tokens = estimated_input_tokens + VALUES(estimated_input_tokens),
           estimated_output_tokens = estimated_output_tokens + VALUES(estimated_output_tokens),
           estimated_cost_micro_usd = estimated_cost_micro_usd + VALUES(estimated_cost_micro_usd)"
    );
    tx.exec_drop(rollup, (before,)).await?;
    tx.exec_drop(
        "DELETE a FROM request_attempts a JOIN request_logs l ON a.request_id = l.request_id
         WHERE l.started_at < ?",
        (before,),
    )
    .await?;
    tx.exec_drop("DELETE FROM request_logs WHERE started_at < ?", (before,))
        .await?;
    let removed = tx.affected_rows();
    tx.commit().await?;
    Ok(removed)
}

async fn timed<T>(
    what: &'static str,
    f: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(STATEMENT_TIMEOUT, f).await {
        Ok(r) => r,
        // A timeout, not a refusal: callers (and the circuit breaker of `Guarded`) treat the
        // two differently.
        Err(_) => Err(Error::Timeout { what }),
    }
}

/// Makes sure the lock row of `key` exists. Done in its own statement, outside the admission
/// transaction: inserting it inside would take gap locks that deadlock concurrent admissions.
async fn ensure_lock_row(conn: &mut Conn, key: &str) -> Result<()> {
    conn.exec_drop(
        "INSERT IGNORE INTO limit_locks (key_name) VALUES (?)",
        (key,),
    )
    .await?;
    Ok(())
}

fn is_deadlock(e: &Error) -> bool {
    matches!(e, Error::Mysql(m) if matches!(&**m, mysql_async::Error::Server(se) if se.code == 1213 || se.code == 1205))
}

/// How often an admission is retried when InnoDB picks it as a deadlock victim.
const DEADLOCK_RETRIES: u64 = 5;

async fn lock_key(tx: &mut mysql_async::Transaction<'_>, key: &str) -> Result<()> {
    let _: Option<String> = tx
        .exec_first(
            "SELECT key_name FROM limit_locks WHERE key_name = ? FOR UPDATE",
            (key,),
        )
        .await?;
    Ok(())
}

async fn try_rate(
    conn: &mut Conn,
    key: &str,
    limit: u32,
    window_ms: i64,
    now_ms: i64,
) -> Result<Option<i64>> {
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    lock_key(&mut tx, key).await?;
    let row: Option<(i64, Option<i64>)> = tx
        .exec_first(
            "SELECT COUNT(*), MIN(ts_ms) FROM rate_events WHERE key_name = ? AND ts_ms > ?",
            (key, now_ms - window_ms),
        )
        .await?;
    let (count, oldest) = row.unwrap_or((0, None));
    let out = if count < i64::from(limit) {
        tx.exec_drop(
            "INSERT INTO rate_events (key_name, ts_ms) VALUES (?, ?)",
            (key, now_ms),
        )
        .await?;
        None
    } else {
        Some((oldest.unwrap_or(now_ms) + window_ms - now_ms).max(1))
    };
    tx.commit().await?;
    Ok(out)
}

async fn try_lease(
    conn: &mut Conn,
    key: &str,
    limit: u32,
    lease: &str,
    until_ms: i64,
    now_ms: i64,
) -> Result<bool> {
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    lock_key(&mut tx, key).await?;
    let held: Option<i64> = tx
        .exec_first(
            "SELECT COUNT(*) FROM leases WHERE key_name = ? AND until_ms > ?",
            (key, now_ms),
        )
        .await?;
    let ok = held.unwrap_or(0) < i64::from(limit);
    if ok {
        tx.exec_drop(
            "INSERT INTO leases (lease_id, key_name, until_ms) VALUES (?, ?, ?)
             ON DUPLICATE KEY UPDATE until_ms = VALUES(until_ms)",
            (lease, key, until_ms),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(ok)
}

impl SharedState for MysqlStore {
    fn cooldowns_changed_since(
        &self,
        since_ms: i64,
    ) -> BoxFuture<'_, Result<Vec<(CooldownRow, i64)>>> {
        Box::pin(async move {
            let mut conn = self.shared_conn().await?;
            timed("reading cooldown changes", async {
                let rows: Vec<(String, i64, i64, u32, String, i64)> = conn
                    .exec(
                        "SELECT target, until_ms, interval_ms, failures, reason, updated_at
                         FROM cooldowns WHERE updated_at >= ?",
                        (since_ms,),
                    )
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|(target, until_ms, interval_ms, failures, reason, at)| {
                        (
                            CooldownRow {
                                target,
                                until_ms,
                                interval_ms,
                                failures,
                                reason,
                            },
                            at,
                        )
                    })
                    .collect())
            })
            .await
        })
    }

    fn try_rate(
        &self,
        key: String,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<Option<i64>>> {
        Box::pin(async move {
            let mut conn = self.shared_conn().await?;
            timed("taking a rate slot", async {
                ensure_lock_row(&mut conn, &key).await?;
                let mut tries = 0;
                loop {
                    match try_rate(&mut conn, &key, limit, window_ms, now_ms).await {
                        Err(e) if is_deadlock(&e) && tries < DEADLOCK_RETRIES => {
                            tries += 1;
                            tokio::time::sleep(Duration::from_millis(5 * tries)).await;
                        }
                        other => return other,
                    }
                }
            })
            .await
        })
    }

    fn try_lease(
        &self,
        key: String,
        limit: u32,
        lease: String,
        until_ms: i64,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let mut conn = self.shared_conn().await?;
            timed("taking a lease", async {
                ensure_lock_row(&mut conn, &key).await?;
                let mut tries = 0;
                loop {
                    match try_lease(&mut conn, &key, limit, &lease, until_ms, now_ms).await {
                        Err(e) if is_deadlock(&e) && tries < DEADLOCK_RETRIES => {
                            tries += 1;
                            tokio::time::sleep(Duration::from_millis(5 * tries)).await;
                        }
                        other => return other,
                    }
                }
            })
            .await
        })
    }

    fn renew_leases(&self, leases: Vec<String>, until_ms: i64) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if leases.is_empty() {
                return Ok(());
            }
            let mut conn = self.shared_conn().await?;
            timed("renewing leases", async {
                conn.exec_batch(
                    "UPDATE leases SET until_ms = ? WHERE lease_id = ?",
                    leases.iter().map(|l| (until_ms, l.as_str())),
                )
                .await?;
                Ok(())
            })
            .await
        })
    }

    fn release_lease(&self, lease: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let mut conn = self.shared_conn().await?;
            timed("releasing a lease", async {
                conn.exec_drop("DELETE FROM leases WHERE lease_id = ?", (lease,))
                    .await?;
                Ok(())
            })
            .await
        })
    }

    fn spent(&self, keys: Vec<String>) -> BoxFuture<'_, Result<Vec<i64>>> {
        Box::pin(async move {
            let mut conn = self.shared_conn().await?;
            timed("reading spend", async {
                let mut out = Vec::with_capacity(keys.len());
                for k in &keys {
                    let v: Option<i64> = conn
                        .exec_first(
                            "SELECT micro_usd FROM spend WHERE key_name = ?",
                            (k.as_str(),),
                        )
                        .await?;
                    out.push(v.unwrap_or(0));
                }
                Ok(out)
            })
            .await
        })
    }

    fn reserve(&self, entries: Vec<(String, i64, i64)>) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            if entries.is_empty() {
                return Ok(true);
            }
            let mut entries = entries;
            // One lock order for every caller, so reservations wait for each other instead of
            // deadlocking.
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut conn = self.shared_conn().await?;
            timed("reserving spend", async {
                // The rows exist before the transaction (autocommit), so that it only takes
                // row locks.
                conn.exec_batch(
                    "INSERT IGNORE INTO spend (key_name, micro_usd) VALUES (?, 0)",
                    entries.iter().map(|(k, _, _)| (k.as_str(),)),
                )
                .await?;
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match reserve_once(&mut conn, &entries).await {
                        Err(Error::Mysql(e))
                            if attempt < 5
                                && matches!(&*e, mysql_async::Error::Server(s) if s.code == 1213) =>
                        {
                            continue;
                        }
                        other => return other,
                    }
                }
            })
            .await
        })
    }

    fn charge(&self, entries: Vec<(String, i64)>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if entries.is_empty() {
                return Ok(());
            }
            let mut conn = self.shared_conn().await?;
            timed("charging spend", async {
                conn.exec_batch(
                    "INSERT INTO spend (key_name, micro_usd) VALUES (?, ?)
                     ON DUPLICATE KEY UPDATE micro_usd = micro_usd + VALUES(micro_usd)",
                    entries.iter().map(|(k, v)| (k.as_str(), *v)),
                )
                .await?;
                Ok(())
            })
            .await
        })
    }

    fn cleanup(&self, now_ms: i64, logs_before_ms: Option<i64>) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let mut conn = self.shared_conn().await?;
            timed("cleaning up", async {
                conn.exec_drop(
                    "DELETE FROM rate_events WHERE ts_ms < ?",
                    (now_ms - 3_600_000,),
                )
                .await?;
                conn.exec_drop("DELETE FROM leases WHERE until_ms < ?", (now_ms,))
                    .await?;
                let mut removed = 0;
                if let Some(before) = logs_before_ms {
                    removed = roll_up_and_delete(&mut conn, before).await?;
                }
                Ok(removed)
            })
            .await
        })
    }
}

/// One try of a reservation: lock the counters in key order, check, add, commit.
async fn reserve_once(conn: &mut Conn, entries: &[(String, i64, i64)]) -> Result<bool> {
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    for (k, amount, limit) in entries {
        let cur: Option<i64> = tx
            .exec_first(
                "SELECT micro_usd FROM spend WHERE key_name = ? FOR UPDATE",
                (k.as_str(),),
            )
            .await?;
        // The row was inserted just before: a missing one means the key did not fit the
        // column, and a budget that can't be read is not passed blindly.
        let Some(cur) = cur else {
            tx.rollback().await?;
            return Err(crate::Error::Invalid {
                what: "budget counter",
                reason: format!("no counter row for a key of {} bytes", k.len()),
            });
        };
        if *limit > 0 && cur.saturating_add(*amount) > *limit {
            tx.rollback().await?;
            return Ok(false);
        }
    }
    tx.exec_batch(
        "UPDATE spend SET micro_usd = micro_usd + ? WHERE key_name = ?",
        entries.iter().map(|(k, amount, _)| (*amount, k.as_str())),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
