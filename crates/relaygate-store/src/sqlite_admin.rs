//! [`AdminStore`] for the SQLite backend: reads on the read-only pool, writes on the writer
//! thread (through `SqliteStore::read` / `SqliteStore::write`).

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

use crate::admin::{
    AdminSession, AdminStore, Bucket, GroupBy, LogFilter, LogPage, LoggedRequest,
    PERCENTILE_SAMPLE_LIMIT, Sample, StatsQuery, StatsRow, StatusFilter, apply_percentiles,
    check_setting, sort_stats,
};
use crate::model::{RequestLog, UsageRow};
use crate::{BoxFuture, Result, SqliteStore};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn u64_of(v: i64) -> u64 {
    v.max(0) as u64
}

const SEARCH_SQL: &str = "SELECT id, request_id, started_at, token_id, client_protocol, model_requested,
        model_sent, channel_id, channel_name, key_index, upstream_url, status, attempts, duration_ms,
        first_byte_ms, is_stream, error, input_tokens, output_tokens, cache_read_tokens,
        cache_write_tokens, reasoning_tokens, usage_estimated, cost_micro_usd, unpriced
     FROM request_logs
     WHERE (?1 IS NULL OR started_at >= ?1) AND (?2 IS NULL OR started_at < ?2)
       AND (?3 IS NULL OR channel_id = ?3) AND (?4 IS NULL OR model_requested = ?4)
       AND (?5 IS NULL OR token_id = ?5) AND (?6 IS NULL OR status = ?6)
       AND (?7 = 0 OR (?7 = 1 AND status < 400 AND error IS NULL)
                   OR (?7 = 2 AND (status >= 400 OR error IS NOT NULL)))
       AND (?8 IS NULL OR request_id LIKE ?8 ESCAPE '\\' OR model_requested LIKE ?8 ESCAPE '\\'
            OR channel_name LIKE ?8 ESCAPE '\\' OR error LIKE ?8 ESCAPE '\\')
       AND (?9 IS NULL OR id < ?9)
     ORDER BY id DESC LIMIT ?10";

fn search(conn: &Connection, f: &LogFilter) -> Result<LogPage> {
    let (exact, class) = match f.status {
        StatusFilter::Any => (None, 0),
        StatusFilter::Exact(s) => (Some(s), 0),
        StatusFilter::Ok => (None, 1),
        StatusFilter::Failed => (None, 2),
    };
    let size = f.page_size();
    let mut stmt = conn.prepare_cached(SEARCH_SQL)?;
    let rows = stmt.query_map(
        params![
            f.from_ms,
            f.to_ms,
            f.channel_id,
            f.model,
            f.token_id,
            exact,
            class,
            f.like_pattern(),
            f.before_id,
            i64::from(size) + 1
        ],
        |r| {
            let usage = match r.get::<_, Option<i64>>(17)? {
                None => None,
                Some(input) => Some(UsageRow {
                    input: u64_of(input),
                    output: u64_of(r.get::<_, Option<i64>>(18)?.unwrap_or(0)),
                    cache_read: u64_of(r.get::<_, Option<i64>>(19)?.unwrap_or(0)),
                    cache_write: u64_of(r.get::<_, Option<i64>>(20)?.unwrap_or(0)),
                    reasoning: u64_of(r.get::<_, Option<i64>>(21)?.unwrap_or(0)),
                    estimated: r.get(22)?,
                }),
            };
            Ok(LoggedRequest {
                id: r.get(0)?,
                row: RequestLog {
                    request_id: r.get(1)?,
                    started_at_ms: r.get(2)?,
                    token_id: r.get(3)?,
                    client_protocol: r.get(4)?,
                    model_requested: r.get(5)?,
                    model_sent: r.get(6)?,
                    channel_id: r.get(7)?,
                    channel_name: r.get(8)?,
                    key_index: r.get(9)?,
                    upstream_url: r.get(10)?,
                    status: r.get(11)?,
                    attempts: r.get(12)?,
                    duration_ms: u64_of(r.get(13)?),
                    first_byte_ms: r.get::<_, Option<i64>>(14)?.map(u64_of),
                    stream: r.get(15)?,
                    error: r.get(16)?,
                    usage,
                    cost_micro_usd: r.get(23)?,
                    unpriced: r.get(24)?,
                    attempt_log: Vec::new(),
                },
            })
        },
    )?;
    let mut out = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let more = out.len() > size as usize;
    out.truncate(size as usize);
    Ok(LogPage {
        next_cursor: if more { out.last().map(|r| r.id) } else { None },
        rows: out,
    })
}

fn group_expr(g: GroupBy) -> &'static str {
    match g {
        GroupBy::None => "''",
        GroupBy::Channel => "COALESCE(channel_name, '')",
        GroupBy::Model => "model_requested",
        GroupBy::Token => "COALESCE(CAST(token_id AS TEXT), '')",
    }
}

fn bucket_expr(b: Bucket) -> String {
    match b.width_ms() {
        None => "?1".to_owned(),
        Some(w) => format!("((started_at / {w}) * {w})"),
    }
}

/// One row of `SELECT bucket, group, requests, errors, input, output, cache read, cache write,
/// cost, unpriced, estimated requests, input, output, cost` (from `request_logs` or
/// `stats_hourly`).
fn stats_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StatsRow> {
    Ok(StatsRow {
        bucket_start_ms: r.get(0)?,
        key: r.get(1)?,
        requests: u64_of(r.get(2)?),
        errors: u64_of(r.get(3)?),
        input_tokens: u64_of(r.get(4)?),
        output_tokens: u64_of(r.get(5)?),
        cache_read_tokens: u64_of(r.get(6)?),
        cache_write_tokens: u64_of(r.get(7)?),
        cost_micro_usd: r.get(8)?,
        unpriced: u64_of(r.get(9)?),
        estimated_requests: u64_of(r.get(10)?),
        estimated_input_tokens: u64_of(r.get(11)?),
        estimated_output_tokens: u64_of(r.get(12)?),
        estimated_cost_micro_usd: r.get(13)?,
        ..StatsRow::default()
    })
}

fn stats(conn: &Connection, q: &StatsQuery) -> Result<Vec<StatsRow>> {
    let (g, b) = (group_expr(q.group_by), bucket_expr(q.bucket));
    let sql = format!(
        "SELECT {b} AS bk, {g} AS gk, COUNT(*),
                SUM(CASE WHEN status >= 400 OR error IS NOT NULL THEN 1 ELSE 0 END),
                COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),
                COALESCE(SUM(cache_read_tokens), 0), COALESCE(SUM(cache_write_tokens), 0),
                COALESCE(SUM(cost_micro_usd), 0), SUM(unpriced),
                SUM(usage_estimated), COALESCE(SUM(CASE WHEN usage_estimated = 1 THEN input_tokens END), 0),
                COALESCE(SUM(CASE WHEN usage_estimated = 1 THEN output_tokens END), 0),
                COALESCE(SUM(CASE WHEN usage_estimated = 1 THEN cost_micro_usd END), 0)
         FROM request_logs WHERE started_at >= ?1 AND started_at < ?2
         GROUP BY bk, gk"
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt
        .query_map(params![q.from_ms, q.to_ms], stats_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let sample_sql = format!(
        "SELECT {b}, {g}, duration_ms, first_byte_ms FROM request_logs
         WHERE started_at >= ?1 AND started_at < ?2 ORDER BY id DESC LIMIT ?3"
    );
    let mut stmt = conn.prepare(&sample_sql)?;
    let samples = stmt
        .query_map(
            params![q.from_ms, q.to_ms, PERCENTILE_SAMPLE_LIMIT as i64],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    u64_of(r.get(2)?),
                    r.get::<_, Option<i64>>(3)?.map(u64_of),
                ))
            },
        )?
        .collect::<rusqlite::Result<Vec<Sample>>>()?;
    apply_percentiles(&mut rows, samples);
    let rg = crate::admin::rollup_group_expr(q.group_by, "TEXT");
    let rolled_sql = format!(
        "SELECT {b} AS bk, {rg} AS gk, SUM(requests), SUM(errors), SUM(input_tokens), SUM(output_tokens),
                SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(cost_micro_usd), SUM(unpriced),
                SUM(estimated_requests), SUM(estimated_input_tokens), SUM(estimated_output_tokens),
                SUM(estimated_cost_micro_usd)
         FROM stats_hourly WHERE started_at >= ?1 AND started_at < ?2
         GROUP BY bk, gk"
    );
    let mut stmt = conn.prepare(&rolled_sql)?;
    let rolled = stmt
        .query_map(params![q.from_ms, q.to_ms], stats_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    crate::admin::merge_rollup(&mut rows, rolled);
    sort_stats(&mut rows);
    Ok(rows)
}

impl AdminStore for SqliteStore {
    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
            Ok(())
        })
    }

    fn list_settings(&self) -> BoxFuture<'_, Result<Vec<(String, String)>>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT key, value FROM settings ORDER BY key")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn get_setting(&self, key: String) -> BoxFuture<'_, Result<Option<String>>> {
        self.read(move |conn| {
            Ok(conn
                .query_row("SELECT value FROM settings WHERE key = ?1", [&key], |r| {
                    r.get(0)
                })
                .optional()?)
        })
    }

    fn set_setting(&self, key: String, value: String) -> BoxFuture<'_, Result<()>> {
        self.write(move |conn| {
            check_setting(&key, &value)?;
            conn.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![key, value, now_ms()],
            )?;
            Ok(())
        })
    }

    fn set_setting_if_absent(&self, key: String, value: String) -> BoxFuture<'_, Result<bool>> {
        self.write(move |conn| {
            check_setting(&key, &value)?;
            let n = conn.execute(
                "INSERT OR IGNORE INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)",
                params![key, value, now_ms()],
            )?;
            Ok(n > 0)
        })
    }

    fn delete_setting(&self, key: String) -> BoxFuture<'_, Result<bool>> {
        self.write(move |conn| Ok(conn.execute("DELETE FROM settings WHERE key = ?1", [key])? > 0))
    }

    fn create_session(&self, s: AdminSession) -> BoxFuture<'_, Result<()>> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO admin_sessions (token_hash, csrf_hash, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![s.token_hash, s.csrf_hash, s.created_at_ms, s.expires_at_ms],
            )?;
            Ok(())
        })
    }

    fn find_session(
        &self,
        token_hash: String,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<Option<AdminSession>>> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT token_hash, csrf_hash, created_at, expires_at FROM admin_sessions
                     WHERE token_hash = ?1 AND expires_at > ?2",
                    params![token_hash, now_ms],
                    |r| {
                        Ok(AdminSession {
                            token_hash: r.get(0)?,
                            csrf_hash: r.get(1)?,
                            created_at_ms: r.get(2)?,
                            expires_at_ms: r.get(3)?,
                        })
                    },
                )
                .optional()?)
        })
    }

    fn delete_session(&self, token_hash: String) -> BoxFuture<'_, Result<bool>> {
        self.write(move |conn| {
            Ok(conn.execute(
                "DELETE FROM admin_sessions WHERE token_hash = ?1",
                [token_hash],
            )? > 0)
        })
    }

    fn delete_all_sessions(&self) -> BoxFuture<'_, Result<u64>> {
        self.write(|conn| Ok(conn.execute("DELETE FROM admin_sessions", [])? as u64))
    }

    fn purge_sessions(&self, now_ms: i64) -> BoxFuture<'_, Result<u64>> {
        self.write(move |conn| {
            Ok(conn.execute(
                "DELETE FROM admin_sessions WHERE expires_at <= ?1",
                [now_ms],
            )? as u64)
        })
    }

    fn set_key_enabled(
        &self,
        channel_id: i64,
        key_index: u32,
        enabled: bool,
    ) -> BoxFuture<'_, Result<bool>> {
        self.write(move |conn| {
            Ok(conn.execute(
                "UPDATE channel_keys SET enabled = ?3 WHERE channel_id = ?1 AND key_index = ?2",
                params![channel_id, key_index, enabled],
            )? > 0)
        })
    }

    fn set_channel_enabled(&self, channel_id: i64, enabled: bool) -> BoxFuture<'_, Result<bool>> {
        self.write(move |conn| {
            Ok(conn.execute(
                "UPDATE channels SET enabled = ?2, updated_at = ?3 WHERE id = ?1",
                params![channel_id, enabled, now_ms()],
            )? > 0)
        })
    }

    fn delete_token(&self, id: i64) -> BoxFuture<'_, Result<bool>> {
        self.write(move |conn| {
            Ok(conn.execute("DELETE FROM client_tokens WHERE id = ?1", [id])? > 0)
        })
    }

    fn search_logs(&self, filter: LogFilter) -> BoxFuture<'_, Result<LogPage>> {
        self.read(move |conn| search(conn, &filter))
    }

    fn stats(&self, query: StatsQuery) -> BoxFuture<'_, Result<Vec<StatsRow>>> {
        self.read(move |conn| stats(conn, &query))
    }
}
