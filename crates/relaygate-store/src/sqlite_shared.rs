//! [`SharedState`] for SQLite: the same statements as MySQL, run on the writer thread, which
//! serialises them (one process, or several sharing the file under SQLite's write lock).

use rusqlite::{Connection, OptionalExtension, params};

use crate::model::CooldownRow;
use crate::sqlite::SqliteStore;
use crate::{BoxFuture, Result, SharedState};

fn try_rate(
    conn: &mut Connection,
    key: &str,
    limit: u32,
    window_ms: i64,
    now_ms: i64,
) -> Result<Option<i64>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let (count, oldest): (i64, Option<i64>) = tx.query_row(
        "SELECT COUNT(*), MIN(ts_ms) FROM rate_events WHERE key_name = ?1 AND ts_ms > ?2",
        params![key, now_ms - window_ms],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let out = if count < i64::from(limit) {
        tx.execute(
            "INSERT INTO rate_events (key_name, ts_ms) VALUES (?1, ?2)",
            params![key, now_ms],
        )?;
        None
    } else {
        Some((oldest.unwrap_or(now_ms) + window_ms - now_ms).max(1))
    };
    tx.commit()?;
    Ok(out)
}

fn try_lease(
    conn: &mut Connection,
    key: &str,
    limit: u32,
    lease: &str,
    until_ms: i64,
    now_ms: i64,
) -> Result<bool> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let held: i64 = tx.query_row(
        "SELECT COUNT(*) FROM leases WHERE key_name = ?1 AND until_ms > ?2",
        params![key, now_ms],
        |r| r.get(0),
    )?;
    let ok = held < i64::from(limit);
    if ok {
        tx.execute(
            "INSERT OR REPLACE INTO leases (lease_id, key_name, until_ms) VALUES (?1, ?2, ?3)",
            params![lease, key, until_ms],
        )?;
    }
    tx.commit()?;
    Ok(ok)
}

impl SharedState for SqliteStore {
    fn cooldowns_changed_since(
        &self,
        since_ms: i64,
    ) -> BoxFuture<'_, Result<Vec<(CooldownRow, i64)>>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT target, until_ms, interval_ms, failures, reason, updated_at
                 FROM cooldowns WHERE updated_at >= ?1",
            )?;
            let rows = stmt.query_map([since_ms], |r| {
                Ok((
                    CooldownRow {
                        target: r.get(0)?,
                        until_ms: r.get(1)?,
                        interval_ms: r.get(2)?,
                        failures: r.get(3)?,
                        reason: r.get(4)?,
                    },
                    r.get(5)?,
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(crate::Error::from)
        })
    }

    fn try_rate(
        &self,
        key: String,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<Option<i64>>> {
        self.write(move |conn| try_rate(conn, &key, limit, window_ms, now_ms))
    }

    fn try_lease(
        &self,
        key: String,
        limit: u32,
        lease: String,
        until_ms: i64,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<bool>> {
        self.write(move |conn| try_lease(conn, &key, limit, &lease, until_ms, now_ms))
    }

    fn renew_leases(&self, leases: Vec<String>, until_ms: i64) -> BoxFuture<'_, Result<()>> {
        self.write(move |conn| {
            let tx = conn.transaction()?;
            {
                let mut stmt =
                    tx.prepare_cached("UPDATE leases SET until_ms = ?2 WHERE lease_id = ?1")?;
                for l in &leases {
                    stmt.execute(params![l, until_ms])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn release_lease(&self, lease: String) -> BoxFuture<'_, Result<()>> {
        self.write(move |conn| {
            conn.execute("DELETE FROM leases WHERE lease_id = ?1", [&lease])?;
            Ok(())
        })
    }

    fn spent(&self, keys: Vec<String>) -> BoxFuture<'_, Result<Vec<i64>>> {
        self.read(move |conn| {
            let mut stmt =
                conn.prepare_cached("SELECT micro_usd FROM spend WHERE key_name = ?1")?;
            let mut out = Vec::with_capacity(keys.len());
            for k in &keys {
                out.push(
                    stmt.query_row([k], |r| r.get::<_, i64>(0))
                        .optional()?
                        .unwrap_or(0),
                );
            }
            Ok(out)
        })
    }

    fn reserve(&self, entries: Vec<(String, i64, i64)>) -> BoxFuture<'_, Result<bool>> {
        self.write(move |conn| {
            // Immediate: the write lock is taken before the read, so another process can't
            // add between the check and the add.
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut read = tx.prepare_cached("SELECT micro_usd FROM spend WHERE key_name = ?1")?;
                for (k, amount, limit) in &entries {
                    let cur: i64 = read.query_row([k], |r| r.get(0)).optional()?.unwrap_or(0);
                    if *limit > 0 && cur.saturating_add(*amount) > *limit {
                        return Ok(false);
                    }
                }
                let mut add = tx.prepare_cached(
                    "INSERT INTO spend (key_name, micro_usd) VALUES (?1, ?2)
                     ON CONFLICT(key_name) DO UPDATE SET micro_usd = micro_usd + excluded.micro_usd",
                )?;
                for (k, amount, _) in &entries {
                    add.execute(params![k, amount])?;
                }
            }
            tx.commit()?;
            Ok(true)
        })
    }

    fn charge(&self, entries: Vec<(String, i64)>) -> BoxFuture<'_, Result<()>> {
        self.write(move |conn| {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO spend (key_name, micro_usd) VALUES (?1, ?2)
                     ON CONFLICT(key_name) DO UPDATE SET micro_usd = micro_usd + excluded.micro_usd",
                )?;
                for (k, v) in &entries {
                    stmt.execute(params![k, v])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn cleanup(&self, now_ms: i64, logs_before_ms: Option<i64>) -> BoxFuture<'_, Result<u64>> {
        self.write(move |conn| {
            let tx = conn.transaction()?;
            // Rate windows are at most a few minutes long; an hour of margin is plenty.
            tx.execute(
                "DELETE FROM rate_events WHERE ts_ms < ?1",
                [now_ms - 3_600_000],
            )?;
            tx.execute("DELETE FROM leases WHERE until_ms < ?1", [now_ms])?;
            let mut removed = 0u64;
            if let Some(before) = logs_before_ms {
                // Keep hourly aggregates of what is about to go.
                tx.execute(
                    "INSERT INTO stats_hourly (started_at, channel_name, model_requested, token_id, requests,
                       errors, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
                       cost_micro_usd, unpriced, estimated_requests, estimated_input_tokens,
                       estimated_output_tokens, estimated_cost_micro_usd)
                     SELECT (started_at / 3600000) * 3600000, COALESCE(channel_name, ''), model_requested,
                    COALESCE(token_id, 0), COUNT(*),
                    SUM(CASE WHEN status >= 400 OR error IS NOT NULL THEN 1 ELSE 0 END),
                    COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),
                    COALESCE(SUM(cache_read_tokens), 0), COALESCE(SUM(cache_write_tokens), 0),
                    COALESCE(SUM(cost_micro_usd), 0), SUM(unpriced),
                    SUM(usage_estimated), COALESCE(SUM(CASE WHEN usage_estimated = 1 THEN input_tokens END), 0),
                    COALESCE(SUM(CASE WHEN usage_estimated = 1 THEN output_tokens END), 0),
                    COALESCE(SUM(CASE WHEN usage_estimated = 1 THEN cost_micro_usd END), 0)
                     FROM request_logs WHERE started_at < ?1
                     GROUP BY 1, 2, 3, 4
                     ON CONFLICT(started_at, channel_name, model_requested, token_id) DO UPDATE SET
                       requests = requests + excluded.requests, errors = errors + excluded.errors,
                       input_tokens = input_tokens + excluded.input_tokens,
                       output_tokens = output_tokens + excluded.output_tokens,
                       cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                       cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
                       cost_micro_usd = cost_micro_usd + excluded.cost_micro_usd,
                       unpriced = unpriced + excluded.unpriced,
                       estimated_requests = estimated_requests + excluded.estimated_requests,
                       estimated_input_tokens = estimated_input_tokens + excluded.estimated_input_tokens,
                       estimated_output_tokens = estimated_output_tokens + excluded.estimated_output_tokens,
                       estimated_cost_micro_usd = estimated_cost_micro_usd + excluded.estimated_cost_micro_usd",
                    [before],
                )?;
                tx.execute(
                    "DELETE FROM request_attempts WHERE request_id IN
                       (SELECT request_id FROM request_logs WHERE started_at < ?1)",
                    [before],
                )?;
                removed =
                    tx.execute("DELETE FROM request_logs WHERE started_at < ?1", [before])? as u64;
            }
            tx.commit()?;
            Ok(removed)
        })
    }
}
