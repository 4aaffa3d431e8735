//! Everything relaygate keeps between requests and across restarts: channels, client tokens and
//! request logs, behind async traits, with an SQLite and a MySQL / MariaDB backend.
//!
//! The traits ([`ChannelStore`], [`TokenStore`], [`LogStore`], together [`Store`]) are
//! dyn-compatible so the proxy holds an `Arc<dyn Store>` and never becomes generic over the
//! backend. Backends are chosen by URL with [`open`] (`sqlite://path` or
//! `mysql://user:pass@host:3306/db`); `docs/storage.md` describes both.
//!
//! Request logs are written off the request path: [`LogStore::record`] only queues the row, and
//! the backend writes queued rows in batched transactions at least every
//! [`LOG_FLUSH_INTERVAL`]; [`LogStore::flush`] waits until everything queued so far is durable.
//!
//! [`Guarded`] wraps a store so that request-path calls (leases, rate windows, budgets) get a
//! deadline and a circuit breaker and fail fast with [`Error::Unavailable`].
//!
//! What this crate is not: it holds no routing logic and no caches of its own; callers load
//! what they need and keep it.
#![deny(missing_docs)]

mod admin;
mod guarded;
mod model;
mod mysql;
mod mysql_shared;
mod sqlite;
mod sqlite_admin;
mod sqlite_shared;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use admin::{
    AdminSession, AdminStore, Bucket, GroupBy, LogFilter, LogPage, LoggedRequest, MAX_PRICE_TABLE,
    PRICE_TABLE_SETTING, StatsQuery, StatsRow, StatusFilter,
};
pub use guarded::{BreakerState, GuardConfig, GuardStats, Guarded};
pub use model::{
    AttemptLog, Channel, ChannelKey, ChannelLimits, ChannelSpec, ClientToken, CooldownRow,
    KeyStrategy, LogQuery, ModelEntry, RequestLog, TokenLimits, TokenSpec, UsageRow,
};
pub use mysql::MysqlStore;
pub use sqlite::SqliteStore;

/// The boxed future the store traits return, so the traits stay dyn-compatible.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where files the store keeps beside the database (the MySQL spool) go unless told otherwise:
/// the gateway's default data directory, relative to its working directory.
pub const DEFAULT_DATA_DIR: &str = "./data";

/// Settings for [`open_with`] that do not belong in the storage URL.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct OpenOptions {
    /// The directory the MySQL spool goes under when the URL has no `spool=` (normally the
    /// gateway's data directory); `None` means [`DEFAULT_DATA_DIR`].
    pub spool_base: Option<std::path::PathBuf>,
}

impl OpenOptions {
    /// Puts the MySQL spool under `dir` (as `dir/spool-DB`).
    pub fn spool_base(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.spool_base = Some(dir.into());
        self
    }
}

/// Queued log rows are written at least this often.
pub const LOG_FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database rejected or failed a statement.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The MySQL / MariaDB server rejected a statement or could not be reached.
    #[error("mysql: {0}")]
    Mysql(Box<mysql_async::Error>),
    /// The database did not answer in time.
    #[error("timed out {what}")]
    Timeout {
        /// What was being done.
        what: &'static str,
    },
    /// A stored value could not be decoded.
    #[error("corrupt stored value in {table}.{column}: {detail}")]
    Corrupt {
        /// The table holding the value.
        table: &'static str,
        /// The column holding the value.
        column: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// The storage URL is malformed or names an unsupported backend.
    #[error("invalid storage URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given, password hidden by [`redact_url`].
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The input was refused before reaching the database.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The kind of object.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A [`Guarded`] call got no answer in time: its deadline passed, or the circuit breaker
    /// is open after repeated failures. The proxy decides between refusing the request and
    /// per-instance counters (see [`GuardConfig`]).
    #[error("store unavailable for {what}: {reason}")]
    Unavailable {
        /// What was being done.
        what: &'static str,
        /// `"deadline passed"` or `"circuit breaker open"`.
        reason: &'static str,
    },
    /// The backend's worker is gone (the store was closed or crashed).
    #[error("store is closed")]
    Closed,
    /// Filesystem error while opening the database.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// An [`Error::InvalidUrl`] for `url`, with any password hidden by [`redact_url`]: storage
    /// URLs carry credentials, and this error ends up in logs and on the console.
    pub(crate) fn invalid_url(url: &str, reason: impl Into<String>) -> Self {
        Error::InvalidUrl {
            url: redact_url(url),
            reason: reason.into(),
        }
    }
}

/// Hides the password of a storage URL: `mysql://user:secret@host/db?x` becomes
/// `mysql://user:***@host/db?x`. SQLite URLs and plain paths are returned unchanged.
///
/// The URL may be malformed (that is usually why it is being shown), so this never parses it
/// strictly and never panics. When the end of the credentials is ambiguous (a password holding
/// a raw `@`, `/`, `?` or `#`), it errs on the side of hiding too much: everything up to the
/// last plausible `@` is treated as credentials.
pub fn redact_url(url: &str) -> String {
    if url.starts_with("sqlite:") {
        return url.to_owned();
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // Where the query or fragment would start if the credentials hold no `?` or `#`.
    let query_at = rest.find(['?', '#']).unwrap_or(rest.len());
    let head = &rest[..query_at];
    let at = match head.rfind('@') {
        Some(i) => Some(i),
        // No `@` before the first `?`/`#`: either there are no credentials, or the password
        // itself holds `?` or `#`. A `/` before that point means the authority had already
        // ended (so the `@` further on is in the query, not credentials).
        None if !head.contains('/') => rest.rfind('@'),
        None => None,
    };
    let Some(at) = at else {
        return url.to_owned();
    };
    let (creds, host) = (&rest[..at], &rest[at + 1..]);
    match creds.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        // A user without a password has nothing to hide.
        None => url.to_owned(),
    }
}

impl From<mysql_async::Error> for Error {
    fn from(e: mysql_async::Error) -> Self {
        Error::Mysql(Box::new(e))
    }
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Channels: upstream accounts with their URLs, keys and models.
pub trait ChannelStore: Send + Sync {
    /// Every channel, enabled or not, ordered by id.
    fn list_channels(&self) -> BoxFuture<'_, Result<Vec<Channel>>>;
    /// Creates the channel named `spec.name`, or replaces its settings, keys and models.
    /// Returns its id.
    fn upsert_channel(&self, spec: ChannelSpec) -> BoxFuture<'_, Result<i64>>;
    /// Deletes a channel; its request logs are kept. Returns whether it existed.
    fn delete_channel(&self, id: i64) -> BoxFuture<'_, Result<bool>>;
}

/// Client tokens: the gateway's own API keys, stored as hashes.
pub trait TokenStore: Send + Sync {
    /// Every token, enabled or not, ordered by id.
    fn list_tokens(&self) -> BoxFuture<'_, Result<Vec<ClientToken>>>;
    /// Creates the token named `spec.name`, or replaces its hash and settings. Returns its id.
    fn upsert_token(&self, spec: TokenSpec) -> BoxFuture<'_, Result<i64>>;
}

/// Where queued log rows stand, for `/metrics`. Counters only grow; `queued_*` are the rows
/// accepted by [`LogStore::record`] and not yet durable (in memory, queue and back-pressure
/// path together).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Rows accepted and not yet written (nor spooled).
    pub queued_rows: u64,
    /// Approximate bytes those rows hold.
    pub queued_bytes: u64,
    /// Rows that found the in-memory queue full and took the back-pressure path instead
    /// (SQLite: an overflow list the writer drains; MySQL: the on-disk spool).
    pub overflow_rows: u64,
    /// Rows written to the on-disk spool for any reason (MySQL only).
    pub spooled_rows: u64,
    /// Rows lost, each also logged as an error: the store was closed, or the back-pressure
    /// path was full too.
    pub dropped_rows: u64,
}

/// Request logs: one row per client request.
pub trait LogStore: Send + Sync {
    /// Queues a row for writing; never waits for the database. Rows are idempotent by
    /// `request_id`: a second row with the same id is ignored.
    fn record(&self, row: RequestLog);
    /// Waits until every row queued before this call is durable.
    fn flush(&self) -> BoxFuture<'_, Result<()>>;
    /// Reads rows, newest first.
    fn query_logs(&self, query: LogQuery) -> BoxFuture<'_, Result<Vec<RequestLog>>>;
    /// Where the write queue stands (all zero for a backend that does not queue).
    fn queue_stats(&self) -> QueueStats {
        QueueStats::default()
    }
}

/// Cooldowns that outlive the process.
pub trait CooldownStore: Send + Sync {
    /// Queues an upsert of a cooldown (like [`LogStore::record`], never waits).
    fn save_cooldown(&self, row: CooldownRow);
    /// Queues the removal of a cooldown.
    fn clear_cooldown(&self, target: String);
    /// Cooldowns still running at `now_ms`.
    fn active_cooldowns(&self, now_ms: i64) -> BoxFuture<'_, Result<Vec<CooldownRow>>>;
    /// The attempts of one request, in order.
    fn attempts(&self, request_id: String) -> BoxFuture<'_, Result<Vec<AttemptLog>>>;
}

/// State that several gateway instances share through the database, so that running N
/// instances never multiplies a limit. Every admission is one atomic statement sequence in the
/// database; with SQLite (one process) the same statements run on the writer thread.
pub trait SharedState: Send + Sync {
    /// Cooldown rows changed at or after `since_ms` (a cleared cooldown has `until_ms` 0),
    /// each with the time it changed.
    fn cooldowns_changed_since(
        &self,
        since_ms: i64,
    ) -> BoxFuture<'_, Result<Vec<(CooldownRow, i64)>>>;
    /// Takes one slot of the rolling window of `window_ms` for `key` if fewer than `limit`
    /// were taken in it. `Ok(None)` = admitted; `Ok(Some(ms))` = full, a slot frees in `ms`.
    fn try_rate(
        &self,
        key: String,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<Option<i64>>>;
    /// Takes lease `lease` on `key` until `until_ms` if fewer than `limit` unexpired leases
    /// are held on it (by any instance). Returns whether it was taken.
    fn try_lease(
        &self,
        key: String,
        limit: u32,
        lease: String,
        until_ms: i64,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<bool>>;
    /// Extends leases this instance holds (a dead instance's leases simply expire).
    fn renew_leases(&self, leases: Vec<String>, until_ms: i64) -> BoxFuture<'_, Result<()>>;
    /// Gives a lease back.
    fn release_lease(&self, lease: String) -> BoxFuture<'_, Result<()>>;
    /// Money spent per key, micro-dollars (0 when none).
    fn spent(&self, keys: Vec<String>) -> BoxFuture<'_, Result<Vec<i64>>>;
    /// Adds to spend counters, each atomically.
    fn charge(&self, entries: Vec<(String, i64)>) -> BoxFuture<'_, Result<()>>;
    /// Adds `amount` to every counter `(key, amount, limit)` in one transaction if none of
    /// them would pass its limit (0 = no limit); otherwise changes nothing. Returns whether it
    /// was added. Concurrent reservations on every instance are serialised by the database,
    /// so together they never pass a limit.
    fn reserve(&self, entries: Vec<(String, i64, i64)>) -> BoxFuture<'_, Result<bool>>;
    /// Removes expired rate events and leases, and request logs (with their attempts) that
    /// started before `logs_before_ms`. Returns the number of log rows removed.
    fn cleanup(&self, now_ms: i64, logs_before_ms: Option<i64>) -> BoxFuture<'_, Result<u64>>;
}

/// Everything the gateway stores.
pub trait Store:
    ChannelStore + TokenStore + LogStore + CooldownStore + AdminStore + SharedState + std::fmt::Debug
{
    /// Flushes queued writes and stops the backend's workers.
    fn close(&self) -> BoxFuture<'_, Result<()>>;
}

/// Opens the store named by `url`: `sqlite://PATH` or a plain file path (SQLite), or
/// `mysql://USER:PASS@HOST:PORT/DB[?spool=DIR]` (MySQL 8 / MariaDB 10.11, see [`MysqlStore::open`];
/// must be called inside a tokio runtime).
pub fn open(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    open_with(url, &OpenOptions::default())
}

/// Like [`open`], with [`OpenOptions`] (where the MySQL spool goes).
pub fn open_with(url: &str, options: &OpenOptions) -> Result<std::sync::Arc<dyn Store>> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        if path.is_empty() {
            return Err(Error::invalid_url(url, "missing database path"));
        }
        return Ok(std::sync::Arc::new(SqliteStore::open(path)?));
    }
    if url.starts_with("mysql://") {
        return Ok(std::sync::Arc::new(MysqlStore::open_with(url, options)?));
    }
    if url.contains("://") {
        return Err(Error::invalid_url(
            url,
            "expected sqlite://PATH or mysql://USER@HOST:PORT/DB",
        ));
    }
    Ok(std::sync::Arc::new(SqliteStore::open(url)?))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact_url("mysql://user:secret@host/db?x"),
            "mysql://user:***@host/db?x"
        );
        assert_eq!(
            redact_url("mysql://user:secret@host:3306/db?spool=/a/b&x=1"),
            "mysql://user:***@host:3306/db?spool=/a/b&x=1"
        );
        // No password: nothing to hide.
        assert_eq!(redact_url("mysql://root@host/db"), "mysql://root@host/db");
        assert_eq!(redact_url("mysql://host/db"), "mysql://host/db");
    }

    #[test]
    fn hostile_passwords_never_leak() {
        let cases = [
            ("mysql://u:p@ss@host/db", "p@ss"),
            ("mysql://u:a:b:c@host/db", "a:b:c"),
            ("mysql://u:pa/ss@host/db?x=1", "pa/ss"),
            ("mysql://u:p%40ss%2F@host/db", "p%40ss%2F"),
            ("mysql://u:p@/:%s@host/db?spool=/tmp/x", "p@/:%s"),
            ("mysql://u:pa?ss@host/db", "pa?ss"),
            ("mysql://u:pa#ss@host/db", "pa#ss"),
            ("mysql://u:s3cr3t@", "s3cr3t"),
            ("mysql://u:s3cr3t@@@", "s3cr3t"),
            ("postgres://u:s3cr3t@host/db", "s3cr3t"),
        ];
        for (url, password) in cases {
            let shown = redact_url(url);
            assert!(!shown.contains(password), "{url} -> {shown}");
            assert!(shown.contains("u:***@"), "{url} -> {shown}");
        }
        assert_eq!(
            redact_url("mysql://u:p@ss/w@host/db?x"),
            "mysql://u:***@host/db?x"
        );
    }

    #[test]
    fn sqlite_and_garbage_are_left_alone() {
        for url in [
            "sqlite://./data/a:b@c.db",
            "sqlite:/x@y",
            "./data/relaygate.db",
            "",
            "://",
            "mysql://",
            "mysql://@",
            "mysql://:@",
            "@@::??##//",
            "mysql://h/db?spool=/tmp/a@b",
            "mysql://ü:ß@ö/ä",
        ] {
            // Never panics; SQLite and credential-free URLs come back unchanged.
            let shown = redact_url(url);
            if !url.contains(':') || url.starts_with("sqlite") || url.starts_with("mysql://h/") {
                assert_eq!(shown, url);
            }
        }
        assert_eq!(redact_url("mysql://ü:ß@ö/ä"), "mysql://ü:***@ö/ä");
    }

    #[test]
    fn invalid_url_errors_hide_the_password() {
        let err = crate::open("bogus://u:hunter2@host/db").err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("u:***@host"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
