//! What the admin API and dashboard need beyond the hot path: a settings key-value table,
//! admin sessions, key enable/disable, token deletion, filtered log search with cursor
//! pagination, and aggregated statistics with latency percentiles.
//!
//! Both backends implement [`AdminStore`] with the same behaviour (checked by the conformance
//! suite). Sums are computed by the database; percentiles are computed here, in Rust, from at
//! most [`PERCENTILE_SAMPLE_LIMIT`] rows of the window (MariaDB has no `percentile_cont`).

use crate::model::RequestLog;
use crate::{BoxFuture, Result};

/// Newest rows of a window used for latency percentiles at most.
pub const PERCENTILE_SAMPLE_LIMIT: usize = 100_000;

/// Longest accepted setting key, in bytes.
pub const MAX_SETTING_KEY: usize = 128;
/// Longest accepted setting value, in bytes.
pub const MAX_SETTING_VALUE: usize = 64 * 1024;
/// The setting holding the operator's price table (TOML), edited by `PUT /admin/api/prices`.
pub const PRICE_TABLE_SETTING: &str = "pricing.table";
/// Longest accepted price table, in bytes: a whole imported price database fits.
pub const MAX_PRICE_TABLE: usize = 4 * 1024 * 1024;

/// A logged-in admin session; only the SHA-256 of its token is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    /// Lowercase hex SHA-256 of the session token.
    pub token_hash: String,
    /// Lowercase hex SHA-256 of the session's CSRF token.
    pub csrf_hash: String,
    /// Creation time, unix ms.
    pub created_at_ms: i64,
    /// Expiry, unix ms.
    pub expires_at_ms: i64,
}

/// Status filter of a log search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    /// Any status.
    #[default]
    Any,
    /// Exactly this status.
    Exact(u16),
    /// Successful requests: status < 400 and no error.
    Ok,
    /// Failed requests: status ≥ 400 or an error.
    Failed,
}

/// Filters and cursor of a log search. Rows come newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Only rows that started at or after this instant, unix ms.
    pub from_ms: Option<i64>,
    /// Only rows that started before this instant, unix ms.
    pub to_ms: Option<i64>,
    /// Only this channel id.
    pub channel_id: Option<i64>,
    /// Only this requested model (exact).
    pub model: Option<String>,
    /// Only this client token id.
    pub token_id: Option<i64>,
    /// Status filter.
    pub status: StatusFilter,
    /// Substring of the request id, model, channel name or error text.
    pub text: Option<String>,
    /// Cursor: only rows older than this row id (from [`LogPage::next_cursor`]).
    pub before_id: Option<i64>,
    /// Rows per page (0 means 50; capped at 1000).
    pub limit: u32,
}

impl LogFilter {
    /// The effective page size.
    pub fn page_size(&self) -> u32 {
        if self.limit == 0 {
            50
        } else {
            self.limit.min(1000)
        }
    }

    /// The `LIKE` pattern of the text filter, with `%`, `_` and `\` escaped (escape `\`).
    pub fn like_pattern(&self) -> Option<String> {
        self.text.as_ref().filter(|t| !t.is_empty()).map(|t| {
            let mut p = String::with_capacity(t.len() + 2);
            p.push('%');
            for c in t.chars() {
                if matches!(c, '%' | '_' | '\\') {
                    p.push('\\');
                }
                p.push(c);
            }
            p.push('%');
            p
        })
    }
}

/// A stored log row with its row id (the cursor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// Row id: newer rows have larger ids.
    pub id: i64,
    /// The row (without attempts; read them with `CooldownStore::attempts`).
    pub row: RequestLog,
}

/// One page of a log search.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogPage {
    /// Rows, newest first.
    pub rows: Vec<LoggedRequest>,
    /// The cursor of the next page, if there may be one.
    pub next_cursor: Option<i64>,
}

/// Time bucket of a statistics query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bucket {
    /// One row per group for the whole window.
    #[default]
    Total,
    /// Hourly buckets (UTC).
    Hour,
    /// Daily buckets (UTC).
    Day,
}

impl Bucket {
    /// The bucket width in ms (`None` for [`Bucket::Total`]).
    pub fn width_ms(self) -> Option<i64> {
        match self {
            Bucket::Total => None,
            Bucket::Hour => Some(3_600_000),
            Bucket::Day => Some(86_400_000),
        }
    }
}

/// Grouping of a statistics query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    /// No grouping (one group, key empty).
    #[default]
    None,
    /// By channel name at the time (`""` when no channel was reached).
    Channel,
    /// By requested model.
    Model,
    /// By client token id (decimal; `""` when unauthenticated).
    Token,
}

/// A statistics query over `[from_ms, to_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsQuery {
    /// Window start, unix ms.
    pub from_ms: i64,
    /// Window end (exclusive), unix ms.
    pub to_ms: i64,
    /// Time bucket.
    pub bucket: Bucket,
    /// Grouping.
    pub group_by: GroupBy,
}

/// One row of statistics: a (bucket, group) pair.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatsRow {
    /// Bucket start, unix ms (the window start for [`Bucket::Total`]).
    pub bucket_start_ms: i64,
    /// Group key (see [`GroupBy`]).
    pub key: String,
    /// Requests.
    pub requests: u64,
    /// Failed requests (status ≥ 400 or an error).
    pub errors: u64,
    /// Input tokens (excluding cached).
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cached input tokens read.
    pub cache_read_tokens: u64,
    /// Cache writes.
    pub cache_write_tokens: u64,
    /// Cost, micro-dollars (priced requests only).
    pub cost_micro_usd: i64,
    /// Requests whose model had no price.
    pub unpriced: u64,
    /// Requests whose usage was counted locally, not reported by the upstream (reported
    /// requests are `requests - estimated_requests`, and so on).
    pub estimated_requests: u64,
    /// Input tokens of those requests.
    pub estimated_input_tokens: u64,
    /// Output tokens of those requests.
    pub estimated_output_tokens: u64,
    /// Cost of those requests, micro-dollars.
    pub estimated_cost_micro_usd: i64,
    /// Median duration, ms.
    pub p50_ms: Option<u64>,
    /// 95th percentile duration, ms.
    pub p95_ms: Option<u64>,
    /// Median time to first byte, ms.
    pub p50_first_byte_ms: Option<u64>,
    /// 95th percentile time to first byte, ms.
    pub p95_first_byte_ms: Option<u64>,
}

/// One latency sample for percentiles: (bucket start, group key, duration, first byte).
pub(crate) type Sample = (i64, String, u64, Option<u64>);

/// Nearest-rank percentile of a sorted slice.
pub(crate) fn percentile(sorted: &[u64], p: u64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    let rank = (p * n).div_ceil(100).max(1);
    sorted.get(usize::try_from(rank - 1).unwrap_or(0)).copied()
}

/// Fills the percentile fields of `rows` from `samples` (same bucket and key).
pub(crate) fn apply_percentiles(rows: &mut [StatsRow], samples: Vec<Sample>) {
    use std::collections::HashMap;
    let mut by: HashMap<(i64, String), (Vec<u64>, Vec<u64>)> = HashMap::new();
    for (bucket, key, d, fb) in samples {
        let e = by.entry((bucket, key)).or_default();
        e.0.push(d);
        if let Some(fb) = fb {
            e.1.push(fb);
        }
    }
    for row in rows {
        if let Some((mut d, mut fb)) = by.remove(&(row.bucket_start_ms, row.key.clone())) {
            d.sort_unstable();
            fb.sort_unstable();
            row.p50_ms = percentile(&d, 50);
            row.p95_ms = percentile(&d, 95);
            row.p50_first_byte_ms = percentile(&fb, 50);
            row.p95_first_byte_ms = percentile(&fb, 95);
        }
    }
}

/// Sorts statistics rows by bucket, then by requests (most first), then key.
/// Adds rows from `stats_hourly` (logs already removed by retention) to the rows computed from
/// `request_logs`. The two never cover the same request, so counts simply add up; percentiles
/// come from raw rows only.
pub(crate) fn merge_rollup(rows: &mut Vec<StatsRow>, rolled: Vec<StatsRow>) {
    for r in rolled {
        match rows
            .iter_mut()
            .find(|x| x.bucket_start_ms == r.bucket_start_ms && x.key == r.key)
        {
            Some(x) => {
                x.requests += r.requests;
                x.errors += r.errors;
                x.input_tokens += r.input_tokens;
                x.output_tokens += r.output_tokens;
                x.cache_read_tokens += r.cache_read_tokens;
                x.cache_write_tokens += r.cache_write_tokens;
                x.cost_micro_usd += r.cost_micro_usd;
                x.unpriced += r.unpriced;
                x.estimated_requests += r.estimated_requests;
                x.estimated_input_tokens += r.estimated_input_tokens;
                x.estimated_output_tokens += r.estimated_output_tokens;
                x.estimated_cost_micro_usd += r.estimated_cost_micro_usd;
            }
            None => rows.push(r),
        }
    }
}

/// The grouping expression over `stats_hourly` (token 0 there means unauthenticated).
pub(crate) fn rollup_group_expr(g: GroupBy, cast_text: &str) -> String {
    match g {
        GroupBy::None => "''".to_owned(),
        GroupBy::Channel => "channel_name".to_owned(),
        GroupBy::Model => "model_requested".to_owned(),
        GroupBy::Token => {
            format!("CASE WHEN token_id = 0 THEN '' ELSE CAST(token_id AS {cast_text}) END")
        }
    }
}

pub(crate) fn sort_stats(rows: &mut [StatsRow]) {
    rows.sort_by(|a, b| {
        a.bucket_start_ms
            .cmp(&b.bucket_start_ms)
            .then(b.requests.cmp(&a.requests))
            .then(a.key.cmp(&b.key))
    });
}

/// Checks a setting before it reaches the database.
pub(crate) fn check_setting(key: &str, value: &str) -> Result<()> {
    let bad = |reason: String| {
        Err(crate::Error::Invalid {
            what: "setting",
            reason,
        })
    };
    if key.is_empty() || key.len() > MAX_SETTING_KEY {
        return bad(format!("key must be 1 to {MAX_SETTING_KEY} bytes"));
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return bad(format!("key {key:?} may hold only letters, digits, . _ -"));
    }
    let max = if key == PRICE_TABLE_SETTING {
        MAX_PRICE_TABLE
    } else {
        MAX_SETTING_VALUE
    };
    if value.len() > max {
        return bad(format!("value of {key:?} is longer than {max} bytes"));
    }
    Ok(())
}

/// What the admin API and dashboard need from the store.
pub trait AdminStore: Send + Sync {
    /// A cheap query that proves the database answers.
    fn ping(&self) -> BoxFuture<'_, Result<()>>;

    /// Every setting, ordered by key.
    fn list_settings(&self) -> BoxFuture<'_, Result<Vec<(String, String)>>>;
    /// One setting.
    fn get_setting(&self, key: String) -> BoxFuture<'_, Result<Option<String>>>;
    /// Creates or replaces a setting.
    fn set_setting(&self, key: String, value: String) -> BoxFuture<'_, Result<()>>;
    /// Sets a setting only if it is not set yet; returns whether it was set by this call.
    fn set_setting_if_absent(&self, key: String, value: String) -> BoxFuture<'_, Result<bool>>;
    /// Deletes a setting; returns whether it existed.
    fn delete_setting(&self, key: String) -> BoxFuture<'_, Result<bool>>;

    /// Stores a new session.
    fn create_session(&self, session: AdminSession) -> BoxFuture<'_, Result<()>>;
    /// The session with this token hash, if it has not expired at `now_ms`.
    fn find_session(
        &self,
        token_hash: String,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<Option<AdminSession>>>;
    /// Ends a session; returns whether it existed.
    fn delete_session(&self, token_hash: String) -> BoxFuture<'_, Result<bool>>;
    /// Deletes every session (after a password change); returns how many.
    fn delete_all_sessions(&self) -> BoxFuture<'_, Result<u64>>;
    /// Deletes sessions expired at `now_ms`; returns how many.
    fn purge_sessions(&self, now_ms: i64) -> BoxFuture<'_, Result<u64>>;

    /// Enables or disables one key of a channel; returns whether the key exists.
    /// (`upsert_channel` enables every key it writes: apply this afterwards.)
    fn set_key_enabled(
        &self,
        channel_id: i64,
        key_index: u32,
        enabled: bool,
    ) -> BoxFuture<'_, Result<bool>>;
    /// Enables or disables a channel; returns whether it exists.
    fn set_channel_enabled(&self, channel_id: i64, enabled: bool) -> BoxFuture<'_, Result<bool>>;
    /// Deletes a client token; returns whether it existed.
    fn delete_token(&self, id: i64) -> BoxFuture<'_, Result<bool>>;

    /// Log rows matching `filter`, newest first, one page at a time.
    fn search_logs(&self, filter: LogFilter) -> BoxFuture<'_, Result<LogPage>>;
    /// Aggregates over the window, per bucket and group.
    fn stats(&self, query: StatsQuery) -> BoxFuture<'_, Result<Vec<StatsRow>>>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 95), Some(95));
        assert_eq!(percentile(&[7], 95), Some(7));
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[1, 2], 50), Some(1));
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        let f = LogFilter {
            text: Some("50%_a\\".to_owned()),
            ..LogFilter::default()
        };
        assert_eq!(f.like_pattern().unwrap(), "%50\\%\\_a\\\\%");
    }

    #[test]
    fn setting_keys_are_checked() {
        assert!(check_setting("dashboard.refresh_secs", "5").is_ok());
        assert!(check_setting("", "x").is_err());
        assert!(check_setting("a b", "x").is_err());
        assert!(check_setting("k", &"x".repeat(MAX_SETTING_VALUE + 1)).is_err());
    }
}
