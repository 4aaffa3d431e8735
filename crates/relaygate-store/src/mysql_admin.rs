//! [`AdminStore`] for the MySQL / MariaDB backend, on the store's connection pool. A child
//! module of `mysql.rs` so it can use the pool and the row helpers there.

use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

use super::{LOG_COLUMNS, MysqlStore, now_ms, take, timed, u64_of};
use crate::admin::{
    AdminSession, AdminStore, GroupBy, LogFilter, LogPage, LoggedRequest, PERCENTILE_SAMPLE_LIMIT,
    Sample, StatsQuery, StatsRow, StatusFilter, apply_percentiles, check_setting, sort_stats,
};
use crate::model::{RequestLog, UsageRow};
use crate::{BoxFuture, Result};

fn log_row(mut r: Row) -> Result<LoggedRequest> {
    let t = "request_logs";
    let input: Option<i64> = take(&mut r, 17, t, "input_tokens")?;
    let usage = match input {
        None => None,
        Some(input) => Some(UsageRow {
            input: u64_of(input),
            output: u64_of(take::<Option<i64>>(&mut r, 18, t, "output_tokens")?.unwrap_or(0)),
            cache_read: u64_of(
                take::<Option<i64>>(&mut r, 19, t, "cache_read_tokens")?.unwrap_or(0),
            ),
            cache_write: u64_of(
                take::<Option<i64>>(&mut r, 20, t, "cache_write_tokens")?.unwrap_or(0),
            ),
            reasoning: u64_of(take::<Option<i64>>(&mut r, 21, t, "reasoning_tokens")?.unwrap_or(0)),
            estimated: take(&mut r, 22, t, "usage_estimated")?,
        }),
    };
    Ok(LoggedRequest {
        id: take(&mut r, 0, t, "id")?,
        row: RequestLog {
            request_id: take(&mut r, 1, t, "request_id")?,
            started_at_ms: take(&mut r, 2, t, "started_at")?,
            token_id: take(&mut r, 3, t, "token_id")?,
            client_protocol: take(&mut r, 4, t, "client_protocol")?,
            model_requested: take(&mut r, 5, t, "model_requested")?,
            model_sent: take(&mut r, 6, t, "model_sent")?,
            channel_id: take(&mut r, 7, t, "channel_id")?,
            channel_name: take(&mut r, 8, t, "channel_name")?,
            key_index: take(&mut r, 9, t, "key_index")?,
            upstream_url: take(&mut r, 10, t, "upstream_url")?,
            status: take(&mut r, 11, t, "status")?,
            attempts: take(&mut r, 12, t, "attempts")?,
            duration_ms: u64_of(take(&mut r, 13, t, "duration_ms")?),
            first_byte_ms: take::<Option<i64>>(&mut r, 14, t, "first_byte_ms")?.map(u64_of),
            stream: take(&mut r, 15, t, "is_stream")?,
            error: take(&mut r, 16, t, "error")?,
            usage,
            cost_micro_usd: take(&mut r, 23, t, "cost_micro_usd")?,
            unpriced: take(&mut r, 24, t, "unpriced")?,
            attempt_log: Vec::new(),
        },
    })
}

fn search_sql(f: &LogFilter) -> (String, Vec<Value>) {
    let mut conds: Vec<&str> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    if let Some(v) = f.from_ms {
        conds.push("started_at >= ?");
        params.push(v.into());
    }
    if let Some(v) = f.to_ms {
        conds.push("started_at < ?");
        params.push(v.into());
    }
    if let Some(v) = f.channel_id {
        conds.push("channel_id = ?");
        params.push(v.into());
    }
    if let Some(v) = &f.model {
        conds.push("model_requested = ?");
        params.push(v.as_str().into());
    }
    if let Some(v) = f.token_id {
        conds.push("token_id = ?");
        params.push(v.into());
    }
    match f.status {
        StatusFilter::Any => {}
        StatusFilter::Exact(s) => {
            conds.push("status = ?");
            params.push(s.into());
        }
        StatusFilter::Ok => conds.push("(status < 400 AND error IS NULL)"),
        StatusFilter::Failed => conds.push("(status >= 400 OR error IS NOT NULL)"),
    }
    if let Some(p) = f.like_pattern() {
        // `\` is MySQL's default LIKE escape character.
        conds.push(
            "(request_id LIKE ? OR model_requested LIKE ? OR channel_name LIKE ? OR error LIKE ?)",
        );
        for _ in 0..4 {
            params.push(p.as_str().into());
        }
    }
    if let Some(v) = f.before_id {
        conds.push("id < ?");
        params.push(v.into());
    }
    let mut sql = format!("SELECT id, {LOG_COLUMNS} FROM request_logs");
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    params.push((i64::from(f.page_size()) + 1).into());
    (sql, params)
}

fn group_expr(g: GroupBy) -> &'static str {
    match g {
        GroupBy::None => "''",
        GroupBy::Channel => "COALESCE(channel_name, '')",
        GroupBy::Model => "model_requested",
        GroupBy::Token => "COALESCE(CAST(token_id AS CHAR), '')",
    }
}

fn bucket_expr(q: &StatsQuery) -> String {
    match q.bucket.width_ms() {
        // An integer we produced, not user text.
        None => format!("CAST({} AS SIGNED)", q.from_ms),
        Some(w) => format!("CAST((started_at DIV {w}) * {w} AS SIGNED)"),
    }
}

/// One row of `SELECT bucket, group, requests, errors, input, output, cache read, cache write,
/// cost, unpriced, estimated requests, input, output, cost` (from `request_logs` or
/// `stats_hourly`).
fn stats_row(mut r: Row, t: &'static str) -> Result<StatsRow> {
    Ok(StatsRow {
        bucket_start_ms: take(&mut r, 0, t, "started_at")?,
        key: take(&mut r, 1, t, "group")?,
        requests: u64_of(take(&mut r, 2, t, "requests")?),
        errors: u64_of(take(&mut r, 3, t, "errors")?),
        input_tokens: u64_of(take(&mut r, 4, t, "input_tokens")?),
        output_tokens: u64_of(take(&mut r, 5, t, "output_tokens")?),
        cache_read_tokens: u64_of(take(&mut r, 6, t, "cache_read_tokens")?),
        cache_write_tokens: u64_of(take(&mut r, 7, t, "cache_write_tokens")?),
        cost_micro_usd: take(&mut r, 8, t, "cost_micro_usd")?,
        unpriced: u64_of(take(&mut r, 9, t, "unpriced")?),
        estimated_requests: u64_of(take(&mut r, 10, t, "estimated_requests")?),
        estimated_input_tokens: u64_of(take(&mut r, 11, t, "estimated_input_tokens")?),
        estimated_output_tokens: u64_of(take(&mut r, 12, t, "estimated_output_tokens")?),
        estimated_cost_micro_usd: take(&mut r, 13, t, "estimated_cost_micro_usd")?,
        ..StatsRow::default()
    })
}

impl MysqlStore {
    async fn admin_exec(
        &self,
        what: &'static str,
        sql: &'static str,
        params: Vec<Value>,
    ) -> Result<u64> {
        let mut conn = self.inner.conn().await?;
        timed(what, async {
            conn.exec_drop(sql, params).await?;
            Ok(conn.affected_rows())
        })
        .await
    }

    async fn stats_impl(&self, q: StatsQuery) -> Result<Vec<StatsRow>> {
        let (g, b) = (group_expr(q.group_by), bucket_expr(&q));
        let sum_sql = format!(
            "SELECT {b} AS bk, CAST({g} AS CHAR) AS gk, CAST(COUNT(*) AS SIGNED),
                CAST(COALESCE(SUM(CASE WHEN status >= 400 OR error IS NOT NULL THEN 1 ELSE 0 END), 0) AS SIGNED),
                CAST(COALESCE(SUM(input_tokens), 0) AS SIGNED), CAST(COALESCE(SUM(output_tokens), 0) AS SIGNED),
                CAST(COALESCE(SUM(cache_read_tokens), 0) AS SIGNED),
                CAST(COALESCE(SUM(cache_write_tokens), 0) AS SIGNED),
                CAST(COALESCE(SUM(cost_micro_usd), 0) AS SIGNED), CAST(COALESCE(SUM(unpriced), 0) AS SIGNED),
                CAST(COALESCE(SUM(usage_estimated), 0) AS SIGNED),
                CAST(COALESCE(SUM(CASE WHEN usage_estimated = 1 THEN input_tokens END), 0) AS SIGNED),
                CAST(COALESCE(SUM(CASE WHEN usage_estimated = 1 THEN output_tokens END), 0) AS SIGNED),
                CAST(COALESCE(SUM(CASE WHEN usage_estimated = 1 THEN cost_micro_usd END), 0) AS SIGNED)
             FROM request_logs WHERE started_at >= ? AND started_at < ?
             GROUP BY bk, gk"
        );
        let sample_sql = format!(
            "SELECT {b}, CAST({g} AS CHAR), duration_ms, first_byte_ms FROM request_logs
             WHERE started_at >= ? AND started_at < ? ORDER BY id DESC LIMIT ?"
        );
        let mut conn = self.inner.conn().await?;
        timed("reading statistics", async {
            let sums: Vec<Row> = conn.exec(sum_sql, (q.from_ms, q.to_ms)).await?;
            let t = "request_logs";
            let mut rows = sums
                .into_iter()
                .map(|r| stats_row(r, t))
                .collect::<Result<Vec<_>>>()?;
            let raw: Vec<Row> = conn
                .exec(
                    sample_sql,
                    (q.from_ms, q.to_ms, PERCENTILE_SAMPLE_LIMIT as u64),
                )
                .await?;
            let samples = raw
                .into_iter()
                .map(|mut r| {
                    Ok((
                        take::<i64>(&mut r, 0, t, "started_at")?,
                        take::<String>(&mut r, 1, t, "group")?,
                        u64_of(take(&mut r, 2, t, "duration_ms")?),
                        take::<Option<i64>>(&mut r, 3, t, "first_byte_ms")?.map(u64_of),
                    ))
                })
                .collect::<Result<Vec<Sample>>>()?;
            apply_percentiles(&mut rows, samples);
            let rg = crate::admin::rollup_group_expr(q.group_by, "CHAR");
            let rolled_sql = format!(
                "SELECT {b} AS bk, CAST({rg} AS CHAR) AS gk, CAST(SUM(requests) AS SIGNED),
                        CAST(SUM(errors) AS SIGNED), CAST(SUM(input_tokens) AS SIGNED),
                        CAST(SUM(output_tokens) AS SIGNED), CAST(SUM(cache_read_tokens) AS SIGNED),
                        CAST(SUM(cache_write_tokens) AS SIGNED), CAST(SUM(cost_micro_usd) AS SIGNED),
                        CAST(SUM(unpriced) AS SIGNED), CAST(SUM(estimated_requests) AS SIGNED),
                        CAST(SUM(estimated_input_tokens) AS SIGNED),
                        CAST(SUM(estimated_output_tokens) AS SIGNED),
                        CAST(SUM(estimated_cost_micro_usd) AS SIGNED)
                 FROM stats_hourly WHERE started_at >= ? AND started_at < ?
                 GROUP BY bk, gk"
            );
            let rolled: Vec<Row> = conn.exec(rolled_sql, (q.from_ms, q.to_ms)).await?;
            let t = "stats_hourly";
            let rolled = rolled
                .into_iter()
                .map(|r| stats_row(r, t))
                .collect::<Result<Vec<_>>>()?;
            crate::admin::merge_rollup(&mut rows, rolled);
            sort_stats(&mut rows);
            Ok(rows)
        })
        .await
    }
}

impl AdminStore for MysqlStore {
    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let mut conn = self.inner.conn().await?;
            timed("pinging MySQL", async {
                let _: Option<i64> = conn.query_first("SELECT 1").await?;
                Ok(())
            })
            .await
        })
    }

    fn list_settings(&self) -> BoxFuture<'_, Result<Vec<(String, String)>>> {
        Box::pin(async move {
            let mut conn = self.inner.conn().await?;
            timed("reading settings", async {
                Ok(conn
                    .query("SELECT `key`, value FROM settings ORDER BY `key`")
                    .await?)
            })
            .await
        })
    }

    fn get_setting(&self, key: String) -> BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async move {
            let mut conn = self.inner.conn().await?;
            timed("reading a setting", async {
                Ok(conn
                    .exec_first("SELECT value FROM settings WHERE `key` = ?", (key,))
                    .await?)
            })
            .await
        })
    }

    fn set_setting(&self, key: String, value: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            check_setting(&key, &value)?;
            self.admin_exec(
                "writing a setting",
                "INSERT INTO settings (`key`, value, updated_at) VALUES (?, ?, ?)
                 ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at)",
                vec![key.into(), value.into(), now_ms().into()],
            )
            .await
            .map(|_| ())
        })
    }

    fn set_setting_if_absent(&self, key: String, value: String) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            check_setting(&key, &value)?;
            let n = self
                .admin_exec(
                    "writing a setting",
                    "INSERT IGNORE INTO settings (`key`, value, updated_at) VALUES (?, ?, ?)",
                    vec![key.into(), value.into(), now_ms().into()],
                )
                .await?;
            Ok(n > 0)
        })
    }

    fn delete_setting(&self, key: String) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let n = self
                .admin_exec(
                    "deleting a setting",
                    "DELETE FROM settings WHERE `key` = ?",
                    vec![key.into()],
                )
                .await?;
            Ok(n > 0)
        })
    }

    fn create_session(&self, s: AdminSession) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.admin_exec(
                "writing a session",
                "INSERT INTO admin_sessions (token_hash, csrf_hash, created_at, expires_at)
                 VALUES (?, ?, ?, ?)",
                vec![
                    s.token_hash.into(),
                    s.csrf_hash.into(),
                    s.created_at_ms.into(),
                    s.expires_at_ms.into(),
                ],
            )
            .await
            .map(|_| ())
        })
    }

    fn find_session(
        &self,
        token_hash: String,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<Option<AdminSession>>> {
        Box::pin(async move {
            let mut conn = self.inner.conn().await?;
            timed("reading a session", async {
                let row: Option<(String, String, i64, i64)> = conn
                    .exec_first(
                        "SELECT token_hash, csrf_hash, created_at, expires_at FROM admin_sessions
                         WHERE token_hash = ? AND expires_at > ?",
                        (token_hash, now_ms),
                    )
                    .await?;
                Ok(row.map(|(token_hash, csrf_hash, c, e)| AdminSession {
                    token_hash,
                    csrf_hash,
                    created_at_ms: c,
                    expires_at_ms: e,
                }))
            })
            .await
        })
    }

    fn delete_session(&self, token_hash: String) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let n = self
                .admin_exec(
                    "deleting a session",
                    "DELETE FROM admin_sessions WHERE token_hash = ?",
                    vec![token_hash.into()],
                )
                .await?;
            Ok(n > 0)
        })
    }

    fn delete_all_sessions(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            self.admin_exec("deleting sessions", "DELETE FROM admin_sessions", vec![])
                .await
        })
    }

    fn purge_sessions(&self, now_ms: i64) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            self.admin_exec(
                "purging sessions",
                "DELETE FROM admin_sessions WHERE expires_at <= ?",
                vec![now_ms.into()],
            )
            .await
        })
    }

    fn set_key_enabled(
        &self,
        channel_id: i64,
        key_index: u32,
        enabled: bool,
    ) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let mut conn = self.inner.conn().await?;
            timed("updating a key", async {
                // affected_rows counts changed rows only: check existence separately.
                let exists: Option<i64> = conn
                    .exec_first(
                        "SELECT 1 FROM channel_keys WHERE channel_id = ? AND key_index = ?",
                        (channel_id, key_index),
                    )
                    .await?;
                if exists.is_none() {
                    return Ok(false);
                }
                conn.exec_drop(
                    "UPDATE channel_keys SET enabled = ? WHERE channel_id = ? AND key_index = ?",
                    (enabled, channel_id, key_index),
                )
                .await?;
                Ok(true)
            })
            .await
        })
    }

    fn set_channel_enabled(&self, channel_id: i64, enabled: bool) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let mut conn = self.inner.conn().await?;
            timed("updating a channel", async {
                // affected_rows counts changed rows only: check existence separately.
                let exists: Option<i64> = conn
                    .exec_first("SELECT 1 FROM channels WHERE id = ?", (channel_id,))
                    .await?;
                if exists.is_none() {
                    return Ok(false);
                }
                conn.exec_drop(
                    "UPDATE channels SET enabled = ?, updated_at = ? WHERE id = ?",
                    (enabled, now_ms(), channel_id),
                )
                .await?;
                Ok(true)
            })
            .await
        })
    }

    fn delete_token(&self, id: i64) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let n = self
                .admin_exec(
                    "deleting a token",
                    "DELETE FROM client_tokens WHERE id = ?",
                    vec![id.into()],
                )
                .await?;
            Ok(n > 0)
        })
    }

    fn search_logs(&self, filter: LogFilter) -> BoxFuture<'_, Result<LogPage>> {
        Box::pin(async move {
            let (sql, params) = search_sql(&filter);
            let size = filter.page_size() as usize;
            let mut conn = self.inner.conn().await?;
            timed("searching request logs", async {
                let rows: Vec<Row> = conn.exec(sql, params).await?;
                let mut out = rows.into_iter().map(log_row).collect::<Result<Vec<_>>>()?;
                let more = out.len() > size;
                out.truncate(size);
                Ok(LogPage {
                    next_cursor: if more { out.last().map(|r| r.id) } else { None },
                    rows: out,
                })
            })
            .await
        })
    }

    fn stats(&self, query: StatsQuery) -> BoxFuture<'_, Result<Vec<StatsRow>>> {
        Box::pin(self.stats_impl(query))
    }
}
