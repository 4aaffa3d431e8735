//! The MySQL / MariaDB backend: an async connection pool for reads and configuration writes, and
//! one background task that batches request logs into multi-row `INSERT IGNORE` transactions.
//!
//! When the server cannot be reached, queued log rows go to an on-disk spool (JSON lines, one
//! immutable file per batch) and are replayed, idempotently by `request_id`, once it is back.
//! The SQL sticks to what MySQL 8 and MariaDB 10.11 both accept (`VALUES(x)` in
//! `ON DUPLICATE KEY UPDATE`, no row aliases, BIGINT unix-ms timestamps).

use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mysql_async::prelude::{FromValue, Queryable};
use mysql_async::{Conn, Opts, Pool, Row, TxOpts, Value};
use relaygate_protocol::Protocol;
use serde::{Deserialize, Serialize};
use tokio::sync::{OnceCell, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

#[path = "mysql_admin.rs"]
mod admin;

use crate::model::{
    AttemptLog, Channel, ChannelKey, ChannelLimits, ChannelSpec, ClientToken, CooldownRow,
    KeyStrategy, LogQuery, ModelEntry, RequestLog, TokenLimits, TokenSpec, UsageRow,
};
use crate::{
    BoxFuture, ChannelStore, CooldownStore, Error, LOG_FLUSH_INTERVAL, LogStore, Result, Store,
    TokenStore,
};

/// Numbered migrations: (version, name, SQL). Applied in order, recorded in `schema_migrations`.
const MIGRATIONS: &[(u32, &str, &str)] = &[
    (1, "init", include_str!("../migrations/mysql/0001_init.sql")),
    (
        2,
        "admin",
        include_str!("../migrations/mysql/0002_admin.sql"),
    ),
    (
        3,
        "shared",
        include_str!("../migrations/mysql/0003_shared.sql"),
    ),
    (
        4,
        "rollup",
        include_str!("../migrations/mysql/0004_rollup.sql"),
    ),
    (
        5,
        "rollup_hash",
        include_str!("../migrations/mysql/0005_rollup_hash.sql"),
    ),
    (
        6,
        "estimated",
        include_str!("../migrations/mysql/0006_estimated.sql"),
    ),
];

/// The named lock that serialises migrations across processes.
const MIGRATION_LOCK: &str = "relaygate_migrate";
/// Seconds to wait for [`MIGRATION_LOCK`].
const MIGRATION_LOCK_WAIT_SECS: u32 = 60;
/// Log rows written per transaction at most.
const MAX_BATCH: usize = 512;
/// Rows per multi-row `INSERT` statement (24 placeholders each; the protocol allows 65 535).
const LOG_ROWS_PER_STATEMENT: usize = 128;
/// Attempt rows per multi-row `INSERT` statement (12 placeholders each).
const ATTEMPT_ROWS_PER_STATEMENT: usize = 256;
/// Bound in rows of the writer's queue; past it `record` sends rows to the spool instead.
const QUEUE_CAPACITY: usize = 65_536;
/// Default bound in bytes of the rows waiting for the writer (`queue_max_mb`); past it too
/// rows go to the spool.
const DEFAULT_QUEUE_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Longest wait for one database operation before it counts as failed.
const DB_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for migrations (includes waiting for another instance's lock).
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(120);
/// First retry delay after the database failed; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// Longest retry delay while the database is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the spool directory is re-scanned for files left by other processes.
const SPOOL_RESCAN: Duration = Duration::from_secs(30);
/// Default bound of the spool directory.
const DEFAULT_SPOOL_MAX_BYTES: u64 = 256 * 1024 * 1024;

const LOG_COLUMNS: &str = "request_id, started_at, token_id, client_protocol, model_requested, \
    model_sent, channel_id, channel_name, key_index, upstream_url, status, attempts, duration_ms, \
    first_byte_ms, is_stream, error, input_tokens, output_tokens, cache_read_tokens, \
    cache_write_tokens, reasoning_tokens, usage_estimated, cost_micro_usd, unpriced";
const LOG_PARAMS: usize = 24;
const ATTEMPT_COLUMNS: &str = "request_id, seq, channel_id, channel_name, key_index, \
    upstream_url, status, outcome, scope, cooldown_until, duration_ms, error";
const ATTEMPT_PARAMS: usize = 12;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn clamp_u64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn corrupt(table: &'static str, column: &'static str, detail: impl Into<String>) -> Error {
    Error::Corrupt {
        table,
        column,
        detail: detail.into(),
    }
}

/// Takes column `i` of `row` as `T`; a NULL or mistyped value is a [`Error::Corrupt`].
fn take<T: FromValue>(
    row: &mut Row,
    i: usize,
    table: &'static str,
    column: &'static str,
) -> Result<T> {
    match row.take_opt::<T, usize>(i) {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(corrupt(table, column, e.to_string())),
        None => Err(corrupt(table, column, "column missing")),
    }
}

/// Runs a database operation with [`DB_TIMEOUT`].
async fn timed<T>(what: &'static str, fut: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(DB_TIMEOUT, fut)
        .await
        .map_err(|_| Error::Timeout { what })?
}

/// Decodes `%XX` escapes (for the spool path in the URL).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What `open` reads from the URL.
struct Config {
    opts: Opts,
    db_name: String,
    spool_dir: PathBuf,
    spool_max_bytes: u64,
    queue_max_bytes: u64,
}

/// Keeps a database name safe as one path component.
fn path_component(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Creates `dir` (and missing parents) readable by the owner only, and tightens an existing
/// one to that: spooled request logs hold model names, token ids and upstream errors, and the
/// directory may sit where other local users can look.
fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Tightens `dir` to owner-only if it exists with looser permissions; a missing directory is
/// not an error.
fn tighten_existing_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => ensure_private_dir(dir),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

impl Config {
    fn parse(url: &str, options: &crate::OpenOptions) -> Result<Config> {
        let invalid = |reason: String| Error::invalid_url(url, reason);
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let mut spool_dir = None;
        let mut spool_max_bytes = DEFAULT_SPOOL_MAX_BYTES;
        let mut queue_max_bytes = DEFAULT_QUEUE_MAX_BYTES;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "spool" if !value.is_empty() => {
                    spool_dir = Some(PathBuf::from(percent_decode(value)))
                }
                "spool" => return Err(invalid("spool= needs a directory".to_owned())),
                "spool_max_mb" => {
                    let mb: u64 = value
                        .parse()
                        .map_err(|_| invalid(format!("spool_max_mb={value:?} is not a number")))?;
                    spool_max_bytes = mb.saturating_mul(1024 * 1024);
                }
                "queue_max_mb" => {
                    let mb: u64 = value
                        .parse()
                        .map_err(|_| invalid(format!("queue_max_mb={value:?} is not a number")))?;
                    queue_max_bytes = mb.saturating_mul(1024 * 1024);
                }
                _ => kept.push(pair),
            }
        }
        let rebuilt = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let opts = Opts::from_url(&rebuilt).map_err(|e| invalid(e.to_string()))?;
        let db_name = opts
            .db_name()
            .filter(|d| !d.is_empty())
            .ok_or_else(|| invalid("missing database name (mysql://USER@HOST:PORT/DB)".to_owned()))?
            .to_owned();
        // Not the system temp directory: it is shared by every local user.
        let spool_dir = spool_dir.unwrap_or_else(|| {
            options
                .spool_base
                .clone()
                .unwrap_or_else(|| PathBuf::from(crate::DEFAULT_DATA_DIR))
                .join(format!("spool-{}", path_component(&db_name)))
        });
        Ok(Config {
            opts,
            db_name,
            spool_dir,
            spool_max_bytes,
            queue_max_bytes,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Spool: request logs that could not reach the database, as JSON lines on disk.

#[derive(Serialize, Deserialize)]
struct SpoolUsage {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    reasoning: u64,
    estimated: bool,
}

#[derive(Serialize, Deserialize)]
struct SpoolAttempt {
    channel_id: Option<i64>,
    channel_name: Option<String>,
    key_index: Option<u32>,
    upstream_url: Option<String>,
    status: Option<u16>,
    outcome: String,
    scope: Option<String>,
    cooldown_until_ms: Option<i64>,
    duration_ms: u64,
    error: Option<String>,
}

/// One spooled [`RequestLog`] (a private mirror, so the row types need no serde).
#[derive(Serialize, Deserialize)]
struct SpoolRow {
    request_id: String,
    started_at_ms: i64,
    token_id: Option<i64>,
    client_protocol: String,
    model_requested: String,
    model_sent: Option<String>,
    channel_id: Option<i64>,
    channel_name: Option<String>,
    key_index: Option<u32>,
    upstream_url: Option<String>,
    status: u16,
    attempts: u32,
    duration_ms: u64,
    first_byte_ms: Option<u64>,
    stream: bool,
    error: Option<String>,
    usage: Option<SpoolUsage>,
    cost_micro_usd: Option<i64>,
    unpriced: bool,
    attempt_log: Vec<SpoolAttempt>,
}

impl From<&RequestLog> for SpoolRow {
    fn from(r: &RequestLog) -> Self {
        SpoolRow {
            request_id: r.request_id.clone(),
            started_at_ms: r.started_at_ms,
            token_id: r.token_id,
            client_protocol: r.client_protocol.clone(),
            model_requested: r.model_requested.clone(),
            model_sent: r.model_sent.clone(),
            channel_id: r.channel_id,
            channel_name: r.channel_name.clone(),
            key_index: r.key_index,
            upstream_url: r.upstream_url.clone(),
            status: r.status,
            attempts: r.attempts,
            duration_ms: r.duration_ms,
            first_byte_ms: r.first_byte_ms,
            stream: r.stream,
            error: r.error.clone(),
            usage: r.usage.map(|u| SpoolUsage {
                input: u.input,
                output: u.output,
                cache_read: u.cache_read,
                cache_write: u.cache_write,
                reasoning: u.reasoning,
                estimated: u.estimated,
            }),
            cost_micro_usd: r.cost_micro_usd,
            unpriced: r.unpriced,
            attempt_log: r
                .attempt_log
                .iter()
                .map(|a| SpoolAttempt {
                    channel_id: a.channel_id,
                    channel_name: a.channel_name.clone(),
                    key_index: a.key_index,
                    upstream_url: a.upstream_url.clone(),
                    status: a.status,
                    outcome: a.outcome.clone(),
                    scope: a.scope.clone(),
                    cooldown_until_ms: a.cooldown_until_ms,
                    duration_ms: a.duration_ms,
                    error: a.error.clone(),
                })
                .collect(),
        }
    }
}

impl From<SpoolRow> for RequestLog {
    fn from(r: SpoolRow) -> Self {
        RequestLog {
            request_id: r.request_id,
            started_at_ms: r.started_at_ms,
            token_id: r.token_id,
            client_protocol: r.client_protocol,
            model_requested: r.model_requested,
            model_sent: r.model_sent,
            channel_id: r.channel_id,
            channel_name: r.channel_name,
            key_index: r.key_index,
            upstream_url: r.upstream_url,
            status: r.status,
            attempts: r.attempts,
            duration_ms: r.duration_ms,
            first_byte_ms: r.first_byte_ms,
            stream: r.stream,
            error: r.error,
            usage: r.usage.map(|u| UsageRow {
                input: u.input,
                output: u.output,
                cache_read: u.cache_read,
                cache_write: u.cache_write,
                reasoning: u.reasoning,
                estimated: u.estimated,
            }),
            cost_micro_usd: r.cost_micro_usd,
            unpriced: r.unpriced,
            attempt_log: r
                .attempt_log
                .into_iter()
                .map(|a| AttemptLog {
                    channel_id: a.channel_id,
                    channel_name: a.channel_name,
                    key_index: a.key_index,
                    upstream_url: a.upstream_url,
                    status: a.status,
                    outcome: a.outcome,
                    scope: a.scope,
                    cooldown_until_ms: a.cooldown_until_ms,
                    duration_ms: a.duration_ms,
                    error: a.error,
                })
                .collect(),
        }
    }
}

/// The spool directory. Files are written whole under a temporary name, synced, then renamed
/// to `*.jsonl`, so a visible file is complete and never changes: several processes may share
/// the directory, and a file is deleted only after its rows are in the database.
#[derive(Debug)]
struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    seq: AtomicU64,
}

impl Spool {
    /// Bytes held by finished spool files.
    fn used_bytes(&self) -> std::io::Result<u64> {
        Ok(self
            .list()?
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum())
    }

    /// Writes one batch as a new spool file; refuses when the spool would exceed its bound.
    fn write(&self, lines: &[u8]) -> std::io::Result<PathBuf> {
        ensure_private_dir(&self.dir)?;
        let used = self.used_bytes()?;
        if used.saturating_add(lines.len() as u64) > self.max_bytes {
            return Err(std::io::Error::other(format!(
                "spool {} is full ({used} of {} bytes)",
                self.dir.display(),
                self.max_bytes
            )));
        }
        let name = format!(
            "{:013}-{}-{:08}",
            now_ms(),
            std::process::id(),
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let path = self.dir.join(format!("{name}.jsonl"));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(lines)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(path)
    }

    /// Finished spool files, oldest first.
    fn list(&self) -> std::io::Result<Vec<PathBuf>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        files.sort();
        Ok(files)
    }

    /// Reads a spool file; lines that do not parse are skipped and logged.
    fn read(path: &Path) -> std::io::Result<Vec<RequestLog>> {
        let text = std::fs::read_to_string(path)?;
        let mut rows = Vec::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            match serde_json::from_str::<SpoolRow>(line) {
                Ok(r) => rows.push(RequestLog::from(r)),
                Err(e) => tracing::error!(file = %path.display(), line = n + 1, error = %e,
                    "unreadable spooled request log skipped"),
            }
        }
        Ok(rows)
    }

    fn encode(rows: &[RequestLog]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in rows {
            if serde_json::to_writer(&mut out, &SpoolRow::from(r)).is_ok() {
                out.push(b'\n');
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The store.

enum WriteCmd {
    Log(Box<RequestLog>),
    Cooldown(CooldownRow),
    ClearCooldown(String),
    Flush(oneshot::Sender<Result<()>>),
}

/// State shared by the store handle and its writer task.
struct Inner {
    pool: Pool,
    db_name: String,
    migrated: OnceCell<()>,
    spool: Spool,
    dropped: AtomicU64,
    spooled: AtomicU64,
    /// Rows accepted by `record` and not yet written, spooled or dropped, and their bytes.
    queued_rows: AtomicU64,
    queued_bytes: AtomicU64,
    queue_max_bytes: u64,
    /// Rows that found the queue full and went to the spool instead.
    overflow_rows: AtomicU64,
    /// Those rows on their way to the spool (written by a blocking task, never by `record`).
    overflow: Mutex<Vec<RequestLog>>,
    /// Whether a blocking task is draining `overflow`.
    overflow_task: std::sync::atomic::AtomicBool,
    /// Held while overflow rows are being written, so `flush` can wait for a running drain.
    overflow_drain: Mutex<()>,
    runtime: tokio::runtime::Handle,
}

// Written by hand: the pool's options (and so a derived `Debug`) hold the password.
impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("database", &self.db_name)
            .field("spool", &self.spool.dir)
            .finish_non_exhaustive()
    }
}

/// The MySQL / MariaDB store. Cheap to share behind an `Arc`.
pub struct MysqlStore {
    inner: Arc<Inner>,
    tx: Mutex<Option<mpsc::Sender<WriteCmd>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for MysqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlStore")
            .field("database", &self.inner.db_name)
            .field("spool", &self.inner.spool.dir)
            .finish()
    }
}

impl MysqlStore {
    /// Opens the database named by `url` (`mysql://USER:PASS@HOST:PORT/DB`, with any
    /// `mysql_async` URL parameter such as `require_ssl=true`). Two parameters are relaygate's:
    /// `spool=DIR` (where log rows wait while the server is unreachable; default
    /// `./data/spool-DB`, see [`MysqlStore::open_with`]) and `spool_max_mb=N` (its bound,
    /// default 256).
    ///
    /// Opening does not wait for the server: it must be called inside a tokio runtime, starts
    /// the log writer, and migrates on first use. Use [`MysqlStore::connect`] to fail early.
    pub fn open(url: &str) -> Result<Self> {
        Self::open_with(url, &crate::OpenOptions::default())
    }

    /// Like [`MysqlStore::open`], with `options`: without `spool=` in the URL the spool is
    /// `SPOOL_BASE/spool-DB`. An existing spool directory with looser permissions is tightened
    /// to owner-only (0700) here; a missing one is created 0700 when the first batch is
    /// spooled.
    pub fn open_with(url: &str, options: &crate::OpenOptions) -> Result<Self> {
        let cfg = Config::parse(url, options)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::Invalid {
            what: "runtime",
            reason: "the MySQL store must be opened inside a tokio runtime".to_owned(),
        })?;
        // An existing spool may hold rows from an earlier run: make it private now. A missing
        // one is created (owner-only) by the first spool write, so that opening has no side
        // effects on the filesystem, and a failure here is reported again at that write.
        if let Err(e) = tighten_existing_dir(&cfg.spool_dir) {
            tracing::warn!(error = %e, dir = %cfg.spool_dir.display(),
                "cannot make the MySQL spool directory private");
        }
        let _entered = runtime.enter();
        let inner = Arc::new(Inner {
            pool: Pool::new(cfg.opts),
            db_name: cfg.db_name,
            migrated: OnceCell::new(),
            spool: Spool {
                dir: cfg.spool_dir,
                max_bytes: cfg.spool_max_bytes,
                seq: AtomicU64::new(0),
            },
            dropped: AtomicU64::new(0),
            spooled: AtomicU64::new(0),
            queued_rows: AtomicU64::new(0),
            queued_bytes: AtomicU64::new(0),
            queue_max_bytes: cfg.queue_max_bytes,
            overflow_rows: AtomicU64::new(0),
            overflow: Mutex::new(Vec::new()),
            overflow_task: std::sync::atomic::AtomicBool::new(false),
            overflow_drain: Mutex::new(()),
            runtime: runtime.clone(),
        });
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let writer = runtime.spawn(writer_loop(Arc::clone(&inner), rx));
        Ok(MysqlStore {
            inner,
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Like [`MysqlStore::open`], then connects and migrates, so an unreachable server or a
    /// refused login is reported at once.
    pub async fn connect(url: &str) -> Result<Self> {
        let store = Self::open(url)?;
        store.inner.ready().await?;
        Ok(store)
    }

    /// The database name.
    pub fn database(&self) -> &str {
        &self.inner.db_name
    }

    /// The spool directory.
    pub fn spool_dir(&self) -> &Path {
        &self.inner.spool.dir
    }

    /// Log rows dropped: the store was closed, or the database and the spool both refused them
    /// for longer than the queue could hold.
    pub fn dropped_logs(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Log rows this store wrote to the spool because the database was unreachable.
    pub fn spooled_logs(&self) -> u64 {
        self.inner.spooled.load(Ordering::Relaxed)
    }

    fn sender(&self) -> Result<mpsc::Sender<WriteCmd>> {
        self.tx
            .lock()
            .map_err(|_| Error::Closed)?
            .clone()
            .ok_or(Error::Closed)
    }

    fn enqueue(&self, cmd: WriteCmd) -> std::result::Result<(), WriteCmd> {
        match self.sender() {
            Ok(tx) => tx.try_send(cmd).map_err(|e| match e {
                mpsc::error::TrySendError::Full(c) | mpsc::error::TrySendError::Closed(c) => c,
            }),
            Err(_) => Err(cmd),
        }
    }
}

impl Inner {
    /// `rows` left the in-memory queue (written, spooled or dropped).
    fn dequeued(&self, rows: &[RequestLog]) {
        let bytes: u64 = rows.iter().map(RequestLog::approx_bytes).sum();
        self.queued_rows
            .fetch_sub(rows.len() as u64, Ordering::Relaxed);
        self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Takes a row the queue had no room for: it goes to the spool from a blocking task, so
    /// the caller (an async worker) never waits for the disk.
    fn overflow(self: &Arc<Self>, row: RequestLog) {
        self.queued_rows.fetch_add(1, Ordering::Relaxed);
        self.queued_bytes
            .fetch_add(row.approx_bytes(), Ordering::Relaxed);
        self.overflow_rows.fetch_add(1, Ordering::Relaxed);
        match self.overflow.lock() {
            Ok(mut o) => o.push(row),
            Err(_) => {
                self.dequeued(std::slice::from_ref(&row));
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!(request_id = %row.request_id, "log overflow unusable: request log dropped");
                return;
            }
        }
        // One drain task at a time; it loops until the list is empty.
        if !self.overflow_task.swap(true, Ordering::AcqRel) {
            let inner = Arc::clone(self);
            drop(self.runtime.spawn_blocking(move || {
                loop {
                    inner.drain_overflow();
                    inner.overflow_task.store(false, Ordering::Release);
                    // A row pushed after the drain but before the flag cleared would otherwise
                    // wait for the next overflow or flush.
                    let more = inner
                        .overflow
                        .lock()
                        .map(|o| !o.is_empty())
                        .unwrap_or(false);
                    if !more || inner.overflow_task.swap(true, Ordering::AcqRel) {
                        break;
                    }
                }
            }));
        }
    }

    /// Writes every overflowed row to the spool (blocking: call from a blocking thread).
    fn drain_overflow(&self) {
        let Ok(_draining) = self.overflow_drain.lock() else {
            return;
        };
        loop {
            let rows = match self.overflow.lock() {
                Ok(mut o) => std::mem::take(&mut *o),
                Err(_) => return,
            };
            if rows.is_empty() {
                return;
            }
            for chunk in rows.chunks(MAX_BATCH) {
                match self.spool.write(&Spool::encode(chunk)) {
                    Ok(_) => {
                        self.spooled
                            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        self.dropped
                            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                        tracing::error!(error = %e, rows = chunk.len(),
                            "log queue full and the spool refused the rows: request logs dropped");
                    }
                }
                self.dequeued(chunk);
            }
            tracing::warn!(
                rows = rows.len(),
                "log queue full: request logs spooled to disk"
            );
        }
    }

    /// Migrates once per store (retried on the next call if it failed).
    async fn ready(&self) -> Result<()> {
        self.migrated
            .get_or_try_init(|| async {
                tokio::time::timeout(MIGRATE_TIMEOUT, migrate(&self.pool))
                    .await
                    .map_err(|_| Error::Timeout {
                        what: "migrating the MySQL schema",
                    })?
            })
            .await
            .map(|_| ())
    }

    /// A migrated connection from the pool.
    pub(crate) async fn conn(&self) -> Result<Conn> {
        self.ready().await?;
        timed("connecting to MySQL", async {
            Ok(self.pool.get_conn().await?)
        })
        .await
    }

    async fn insert_logs(&self, rows: &[RequestLog]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        timed("writing request logs", async {
            let mut tx = conn.start_transaction(TxOpts::default()).await?;
            for chunk in rows.chunks(LOG_ROWS_PER_STATEMENT) {
                let mut params = Vec::with_capacity(chunk.len() * LOG_PARAMS);
                for r in chunk {
                    push_log_params(&mut params, r);
                }
                let sql = insert_ignore_sql("request_logs", LOG_COLUMNS, LOG_PARAMS, chunk.len());
                tx.exec_drop(sql, params).await?;
            }
            let attempts: Vec<(&str, usize, &AttemptLog)> = rows
                .iter()
                .flat_map(|r| {
                    r.attempt_log
                        .iter()
                        .enumerate()
                        .map(move |(i, a)| (r.request_id.as_str(), i, a))
                })
                .collect();
            for chunk in attempts.chunks(ATTEMPT_ROWS_PER_STATEMENT) {
                let mut params = Vec::with_capacity(chunk.len() * ATTEMPT_PARAMS);
                for (id, seq, a) in chunk {
                    params.extend([
                        Value::from(*id),
                        Value::from(*seq as u64),
                        Value::from(a.channel_id),
                        Value::from(a.channel_name.as_deref()),
                        Value::from(a.key_index),
                        Value::from(a.upstream_url.as_deref()),
                        Value::from(a.status),
                        Value::from(a.outcome.as_str()),
                        Value::from(a.scope.as_deref()),
                        Value::from(a.cooldown_until_ms),
                        Value::from(clamp_u64(a.duration_ms)),
                        Value::from(a.error.as_deref()),
                    ]);
                }
                let sql = insert_ignore_sql(
                    "request_attempts",
                    ATTEMPT_COLUMNS,
                    ATTEMPT_PARAMS,
                    chunk.len(),
                );
                tx.exec_drop(sql, params).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn save_cooldown(&self, row: &CooldownRow) -> Result<()> {
        let mut conn = self.conn().await?;
        timed("saving a cooldown", async {
            conn.exec_drop(
                "INSERT INTO cooldowns (target, until_ms, interval_ms, failures, reason, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?)
                 ON DUPLICATE KEY UPDATE until_ms = VALUES(until_ms), interval_ms = VALUES(interval_ms),
                   failures = VALUES(failures), reason = VALUES(reason), updated_at = VALUES(updated_at)",
                vec![
                    Value::from(row.target.as_str()),
                    Value::from(row.until_ms),
                    Value::from(row.interval_ms),
                    Value::from(row.failures),
                    Value::from(row.reason.as_str()),
                    Value::from(now_ms()),
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn clear_cooldown(&self, target: &str) -> Result<()> {
        let mut conn = self.conn().await?;
        timed("clearing a cooldown", async {
            // Cleared, not deleted: other instances see the change by its time.
            conn.exec_drop(
                "UPDATE cooldowns SET until_ms = 0, interval_ms = 0, failures = 0, updated_at = ?
                 WHERE target = ?",
                (now_ms(), target),
            )
            .await?;
            Ok(())
        })
        .await
    }
}

fn insert_ignore_sql(table: &str, columns: &str, per_row: usize, rows: usize) -> String {
    let mut one = String::with_capacity(per_row * 3 + 2);
    one.push('(');
    for i in 0..per_row {
        one.push_str(if i == 0 { "?" } else { ", ?" });
    }
    one.push(')');
    let mut sql = format!("INSERT IGNORE INTO {table} ({columns}) VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&one);
    }
    sql
}

fn push_log_params(params: &mut Vec<Value>, r: &RequestLog) {
    let usage = |f: fn(&UsageRow) -> u64| r.usage.as_ref().map(|u| clamp_u64(f(u)));
    params.extend([
        Value::from(r.request_id.as_str()),
        Value::from(r.started_at_ms),
        Value::from(r.token_id),
        Value::from(r.client_protocol.as_str()),
        Value::from(r.model_requested.as_str()),
        Value::from(r.model_sent.as_deref()),
        Value::from(r.channel_id),
        Value::from(r.channel_name.as_deref()),
        Value::from(r.key_index),
        Value::from(r.upstream_url.as_deref()),
        Value::from(r.status),
        Value::from(r.attempts),
        Value::from(clamp_u64(r.duration_ms)),
        Value::from(r.first_byte_ms.map(clamp_u64)),
        Value::from(r.stream),
        Value::from(r.error.as_deref()),
        Value::from(usage(|u| u.input)),
        Value::from(usage(|u| u.output)),
        Value::from(usage(|u| u.cache_read)),
        Value::from(usage(|u| u.cache_write)),
        Value::from(usage(|u| u.reasoning)),
        Value::from(r.usage.is_some_and(|u| u.estimated)),
        Value::from(r.cost_micro_usd),
        Value::from(r.unpriced),
    ]);
}

/// Splits a migration file into statements (comments removed; no `;` inside literals).
fn statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .map(|l| l.split_once("--").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Applies pending migrations under a server-wide named lock, so instances starting at once
/// migrate once: the others wait for the lock, then find nothing left to do.
async fn migrate(pool: &Pool) -> Result<()> {
    let mut conn = timed("connecting to MySQL", async { Ok(pool.get_conn().await?) }).await?;
    let locked: Option<Option<i64>> = conn
        .exec_first(
            "SELECT GET_LOCK(?, ?)",
            (MIGRATION_LOCK, MIGRATION_LOCK_WAIT_SECS),
        )
        .await?;
    if locked.flatten() != Some(1) {
        return Err(Error::Invalid {
            what: "migration",
            reason: format!(
                "could not take the {MIGRATION_LOCK:?} lock within {MIGRATION_LOCK_WAIT_SECS} s"
            ),
        });
    }
    let applied = apply_migrations(&mut conn).await;
    let released = conn
        .exec_drop("SELECT RELEASE_LOCK(?)", (MIGRATION_LOCK,))
        .await;
    applied?;
    released?;
    Ok(())
}

async fn apply_migrations(conn: &mut Conn) -> Result<()> {
    conn.query_drop(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version     INT UNSIGNED NOT NULL,
            name        VARCHAR(191) NOT NULL,
            applied_at  BIGINT       NOT NULL,
            PRIMARY KEY (version)
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    )
    .await?;
    let current: Option<Option<u32>> = conn
        .query_first("SELECT MAX(version) FROM schema_migrations")
        .await?;
    let current = current.flatten().unwrap_or(0);
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        tracing::warn!(
            current,
            known,
            "the MySQL schema is newer than this build; continuing"
        );
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        for stmt in statements(sql) {
            conn.query_drop(stmt).await?;
        }
        conn.exec_drop(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (*version, *name, now_ms()),
        )
        .await?;
        tracing::info!(version, name, "applied MySQL migration");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The log writer.

/// The writer task's state: queued rows and whether the database is believed to be down.
struct Writer {
    inner: Arc<Inner>,
    pending: Vec<RequestLog>,
    /// While set and in the future, the database is not tried; rows go to the spool.
    down_until: Option<Instant>,
    backoff: Duration,
    /// Whether the spool may hold files to replay.
    spool_dirty: bool,
    last_scan: Instant,
}

async fn writer_loop(inner: Arc<Inner>, mut rx: mpsc::Receiver<WriteCmd>) {
    let mut w = Writer {
        inner,
        pending: Vec::new(),
        down_until: None,
        backoff: MIN_BACKOFF,
        spool_dirty: true,
        last_scan: Instant::now(),
    };
    let mut tick = tokio::time::interval(LOG_FLUSH_INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                None => break,
                Some(WriteCmd::Log(row)) => {
                    w.pending.push(*row);
                    if w.pending.len() >= MAX_BATCH {
                        let _ = w.write_pending().await;
                    }
                }
                Some(WriteCmd::Cooldown(row)) => {
                    if !w.db_available() {
                        tracing::warn!(target = %row.target, "MySQL unavailable: cooldown not persisted");
                    } else if let Err(e) = w.inner.save_cooldown(&row).await {
                        tracing::error!(error = %e, target = %row.target, "saving cooldown failed");
                    }
                }
                Some(WriteCmd::ClearCooldown(target)) => {
                    if !w.db_available() {
                        tracing::warn!(%target, "MySQL unavailable: cooldown clear not persisted");
                    } else if let Err(e) = w.inner.clear_cooldown(&target).await {
                        tracing::error!(error = %e, %target, "clearing cooldown failed");
                    }
                }
                Some(WriteCmd::Flush(done)) => {
                    // A flush also looks for spool files left by other processes.
                    w.spool_dirty = true;
                    w.replay().await;
                    let r = w.write_pending().await;
                    let _ = done.send(r);
                }
            },
            _ = tick.tick() => {
                w.replay().await;
                let _ = w.write_pending().await;
            }
        }
    }
    w.replay().await;
    let _ = w.write_pending().await;
}

impl Writer {
    fn db_available(&self) -> bool {
        self.down_until.is_none_or(|t| Instant::now() >= t)
    }

    fn mark_up(&mut self) {
        if self.down_until.take().is_some() {
            tracing::info!(database = %self.inner.db_name, "MySQL reachable again");
        }
        self.backoff = MIN_BACKOFF;
    }

    fn mark_down(&mut self, e: &Error) {
        if self.down_until.is_some() {
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        } else {
            self.backoff = MIN_BACKOFF;
        }
        tracing::warn!(error = %e, retry_in_ms = self.backoff.as_millis() as u64,
            "MySQL unavailable: request logs go to the spool");
        self.down_until = Some(Instant::now() + self.backoff);
    }

    /// Writes queued rows to the database, or to the spool when it fails. `Ok` means every
    /// queued row is durable in one or the other.
    async fn write_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if self.db_available() {
            match self.inner.insert_logs(&self.pending).await {
                Ok(()) => {
                    self.inner.dequeued(&self.pending);
                    self.pending.clear();
                    self.mark_up();
                    return Ok(());
                }
                Err(e) => self.mark_down(&e),
            }
        }
        let lines = Spool::encode(&self.pending);
        let inner = Arc::clone(&self.inner);
        let written = tokio::task::spawn_blocking(move || inner.spool.write(&lines))
            .await
            .map_err(|_| Error::Closed)
            .and_then(|r| r.map_err(Error::Io));
        match written {
            Ok(path) => {
                let n = self.pending.len();
                self.inner.spooled.fetch_add(n as u64, Ordering::Relaxed);
                tracing::warn!(rows = n, file = %path.display(), "request logs spooled to disk");
                self.inner.dequeued(&self.pending);
                self.pending.clear();
                self.spool_dirty = true;
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, rows = self.pending.len(),
                    "request logs reach neither MySQL nor the spool; kept in memory");
                if self.pending.len() > QUEUE_CAPACITY {
                    let n = self.pending.len();
                    self.inner.dropped.fetch_add(n as u64, Ordering::Relaxed);
                    tracing::error!(rows = n, "request log backlog too large: dropped");
                    self.inner.dequeued(&self.pending);
                    self.pending.clear();
                }
                Err(e)
            }
        }
    }

    /// Writes spooled files to the database (when it is believed up), deleting each after
    /// its rows are committed. Rows already present are ignored by `request_id`.
    async fn replay(&mut self) {
        if !self.spool_dirty && self.last_scan.elapsed() >= SPOOL_RESCAN {
            self.spool_dirty = true;
        }
        if !self.spool_dirty || !self.db_available() {
            return;
        }
        self.last_scan = Instant::now();
        let inner = Arc::clone(&self.inner);
        let files = match tokio::task::spawn_blocking(move || inner.spool.list()).await {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => {
                tracing::error!(error = %e, dir = %self.inner.spool.dir.display(), "listing the spool failed");
                return;
            }
            Err(_) => return,
        };
        for file in files {
            let path = file.clone();
            let rows = match tokio::task::spawn_blocking(move || Spool::read(&path)).await {
                Ok(Ok(rows)) => rows,
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, file = %file.display(), "reading a spool file failed");
                    continue;
                }
                Err(_) => return,
            };
            let mut refused = None;
            for chunk in rows.chunks(MAX_BATCH) {
                match self.inner.insert_logs(chunk).await {
                    Ok(()) => {}
                    // The server answered but refused the rows: retrying cannot help, and the
                    // file must not block the spool. Keep it aside for a human.
                    Err(Error::Mysql(e)) if matches!(*e, mysql_async::Error::Server(_)) => {
                        refused = Some(e);
                        break;
                    }
                    Err(e) => {
                        self.mark_down(&e);
                        return;
                    }
                }
            }
            if let Some(e) = refused {
                let aside = file.with_extension("jsonl.refused");
                tracing::error!(error = %e, file = %file.display(), aside = %aside.display(),
                    "MySQL refused spooled request logs; file set aside");
                let from = file.clone();
                let _ = tokio::task::spawn_blocking(move || std::fs::rename(&from, &aside)).await;
                continue;
            }
            self.mark_up();
            let path = file.clone();
            match tokio::task::spawn_blocking(move || std::fs::remove_file(&path)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, file = %file.display(), "removing a replayed spool file failed");
                }
                Err(_) => return,
            }
            tracing::info!(rows = rows.len(), file = %file.display(), "replayed spooled request logs");
        }
        self.spool_dirty = false;
    }
}

// ---------------------------------------------------------------------------------------------
// Reads and configuration writes.

fn read_only_snapshot() -> TxOpts {
    let mut opts = TxOpts::default();
    opts.with_consistent_snapshot(true).with_readonly(true);
    opts
}

async fn load_channels(conn: &mut Conn) -> Result<Vec<Channel>> {
    let mut tx = conn.start_transaction(read_only_snapshot()).await?;
    let rows: Vec<Row> = tx
        .exec(
            "SELECT id, name, protocol, base_urls, priority, weight, enabled, created_at, updated_at,
                    key_strategy, rpm_limit, max_concurrency, available_hours
             FROM channels ORDER BY id",
            (),
        )
        .await?;
    let mut channels = Vec::with_capacity(rows.len());
    for mut r in rows {
        let t = "channels";
        let protocol: String = take(&mut r, 2, t, "protocol")?;
        let protocol: Protocol =
            protocol
                .parse()
                .map_err(|e: relaygate_protocol::UnknownProtocol| {
                    corrupt(t, "protocol", e.to_string())
                })?;
        let urls: String = take(&mut r, 3, t, "base_urls")?;
        let base_urls: Vec<String> =
            serde_json::from_str(&urls).map_err(|e| corrupt(t, "base_urls", e.to_string()))?;
        let weight: i64 = take(&mut r, 5, t, "weight")?;
        let strategy: String = take(&mut r, 9, t, "key_strategy")?;
        channels.push(Channel {
            id: take(&mut r, 0, t, "id")?,
            name: take(&mut r, 1, t, "name")?,
            protocol,
            base_urls,
            keys: Vec::new(),
            models: Vec::new(),
            priority: take(&mut r, 4, t, "priority")?,
            weight: u32::try_from(weight).unwrap_or(1),
            enabled: take(&mut r, 6, t, "enabled")?,
            created_at_ms: take(&mut r, 7, t, "created_at")?,
            updated_at_ms: take(&mut r, 8, t, "updated_at")?,
            limits: ChannelLimits {
                key_strategy: KeyStrategy::parse(&strategy).unwrap_or_default(),
                rpm: take(&mut r, 10, t, "rpm_limit")?,
                max_concurrency: take(&mut r, 11, t, "max_concurrency")?,
                available_hours: take(&mut r, 12, t, "available_hours")?,
            },
        });
    }
    let index: std::collections::HashMap<i64, usize> = channels
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i))
        .collect();
    let keys: Vec<Row> = tx
        .exec(
            "SELECT channel_id, key_index, secret, enabled FROM channel_keys
             ORDER BY channel_id, key_index",
            (),
        )
        .await?;
    for mut r in keys {
        let t = "channel_keys";
        let cid: i64 = take(&mut r, 0, t, "channel_id")?;
        if let Some(&i) = index.get(&cid) {
            channels[i].keys.push(ChannelKey {
                index: take(&mut r, 1, t, "key_index")?,
                secret: take(&mut r, 2, t, "secret")?,
                enabled: take(&mut r, 3, t, "enabled")?,
            });
        }
    }
    let models: Vec<Row> = tx
        .exec(
            "SELECT channel_id, model, upstream_model FROM channel_models
             ORDER BY channel_id, position",
            (),
        )
        .await?;
    for mut r in models {
        let t = "channel_models";
        let cid: i64 = take(&mut r, 0, t, "channel_id")?;
        if let Some(&i) = index.get(&cid) {
            channels[i].models.push(ModelEntry {
                name: take(&mut r, 1, t, "model")?,
                upstream: take(&mut r, 2, t, "upstream_model")?,
            });
        }
    }
    tx.commit().await?;
    Ok(channels)
}

async fn upsert_channel_tx(conn: &mut Conn, spec: &ChannelSpec) -> Result<i64> {
    let urls = serde_json::to_string(&spec.base_urls).map_err(|e| Error::Invalid {
        what: "channel",
        reason: e.to_string(),
    })?;
    let now = now_ms();
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    tx.exec_drop(
        "INSERT INTO channels (name, protocol, base_urls, priority, weight, enabled, created_at,
                               updated_at, key_strategy, rpm_limit, max_concurrency, available_hours)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id), protocol = VALUES(protocol),
           base_urls = VALUES(base_urls), priority = VALUES(priority), weight = VALUES(weight),
           enabled = VALUES(enabled), updated_at = VALUES(updated_at),
           key_strategy = VALUES(key_strategy), rpm_limit = VALUES(rpm_limit),
           max_concurrency = VALUES(max_concurrency), available_hours = VALUES(available_hours)",
        vec![
            Value::from(spec.name.as_str()),
            Value::from(spec.protocol.as_str()),
            Value::from(urls),
            Value::from(spec.priority),
            Value::from(spec.weight),
            Value::from(spec.enabled),
            Value::from(now),
            Value::from(now),
            Value::from(spec.limits.key_strategy.as_str()),
            Value::from(spec.limits.rpm),
            Value::from(spec.limits.max_concurrency),
            Value::from(spec.limits.available_hours.as_deref()),
        ],
    )
    .await?;
    let id: Option<i64> = tx.query_first("SELECT LAST_INSERT_ID()").await?;
    let id = id
        .filter(|id| *id > 0)
        .ok_or_else(|| corrupt("channels", "id", "upsert returned no id"))?;
    tx.exec_drop("DELETE FROM channel_keys WHERE channel_id = ?", (id,))
        .await?;
    tx.exec_drop("DELETE FROM channel_models WHERE channel_id = ?", (id,))
        .await?;
    let keys: Vec<(i64, u64, &str)> = spec
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| (id, i as u64, k.trim()))
        .collect();
    tx.exec_batch(
        "INSERT INTO channel_keys (channel_id, key_index, secret, enabled) VALUES (?, ?, ?, 1)",
        keys,
    )
    .await?;
    let models: Vec<(i64, u64, &str, Option<&str>)> = spec
        .models
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let upstream = m.upstream.as_deref().filter(|u| *u != m.name);
            (id, i as u64, m.name.trim(), upstream)
        })
        .collect();
    tx.exec_batch(
        "INSERT INTO channel_models (channel_id, position, model, upstream_model) VALUES (?, ?, ?, ?)",
        models,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

fn json_list(text: Option<String>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn list_json(list: &[String]) -> Option<String> {
    (!list.is_empty()).then(|| serde_json::to_string(list).unwrap_or_default())
}

async fn load_tokens(conn: &mut Conn) -> Result<Vec<ClientToken>> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT id, name, token_hash, hint, enabled, expires_at, created_at, allowed_models,
                    allowed_channels, max_concurrency
             FROM client_tokens ORDER BY id",
            (),
        )
        .await?;
    let t = "client_tokens";
    rows.into_iter()
        .map(|mut r| {
            Ok(ClientToken {
                id: take(&mut r, 0, t, "id")?,
                name: take(&mut r, 1, t, "name")?,
                token_hash: take(&mut r, 2, t, "token_hash")?,
                hint: take(&mut r, 3, t, "hint")?,
                enabled: take(&mut r, 4, t, "enabled")?,
                expires_at_ms: take(&mut r, 5, t, "expires_at")?,
                created_at_ms: take(&mut r, 6, t, "created_at")?,
                limits: TokenLimits {
                    allowed_models: json_list(take(&mut r, 7, t, "allowed_models")?),
                    allowed_channels: json_list(take(&mut r, 8, t, "allowed_channels")?),
                    max_concurrency: take(&mut r, 9, t, "max_concurrency")?,
                },
            })
        })
        .collect()
}

/// Creates or updates the token named `spec.name`. Like the SQLite backend, only the name
/// decides which row is updated: a hash already used by another token is refused.
async fn upsert_token_tx(conn: &mut Conn, spec: &TokenSpec) -> Result<i64> {
    let now = now_ms();
    let settings = || {
        vec![
            Value::from(spec.token_hash.as_str()),
            Value::from(spec.hint.as_str()),
            Value::from(spec.enabled),
            Value::from(spec.expires_at_ms),
            Value::from(list_json(&spec.limits.allowed_models)),
            Value::from(list_json(&spec.limits.allowed_channels)),
            Value::from(spec.limits.max_concurrency),
            Value::from(now),
        ]
    };
    let mut retried = false;
    loop {
        let mut tx = conn.start_transaction(TxOpts::default()).await?;
        let existing: Option<i64> = tx
            .exec_first(
                "SELECT id FROM client_tokens WHERE name = ? FOR UPDATE",
                (spec.name.as_str(),),
            )
            .await?;
        let written = match existing {
            Some(id) => {
                let mut params = settings();
                params.push(Value::from(id));
                tx.exec_drop(
                    "UPDATE client_tokens SET token_hash = ?, hint = ?, enabled = ?, expires_at = ?,
                       allowed_models = ?, allowed_channels = ?, max_concurrency = ?, updated_at = ?
                     WHERE id = ?",
                    params,
                )
                .await
                .map(|()| id)
            }
            None => {
                let mut params = vec![Value::from(spec.name.as_str())];
                params.extend(settings());
                params.push(Value::from(now));
                match tx
                    .exec_drop(
                        "INSERT INTO client_tokens (name, token_hash, hint, enabled, expires_at,
                           allowed_models, allowed_channels, max_concurrency, updated_at, created_at)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        params,
                    )
                    .await
                {
                    Ok(()) => Ok(tx
                        .last_insert_id()
                        .and_then(|id| i64::try_from(id).ok())
                        .unwrap_or(0)),
                    Err(e) => Err(e),
                }
            }
        };
        match written {
            Ok(id) if id > 0 => {
                tx.commit().await?;
                return Ok(id);
            }
            Ok(_) => return Err(corrupt("client_tokens", "id", "insert returned no id")),
            // Another instance inserted the same name in between: update it instead.
            Err(mysql_async::Error::Server(se))
                if se.code == 1062 && existing.is_none() && !retried =>
            {
                retried = true;
                tx.rollback().await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn u64_of(v: i64) -> u64 {
    v.max(0) as u64
}

async fn query_logs(conn: &mut Conn, q: &LogQuery) -> Result<Vec<RequestLog>> {
    let limit = if q.limit == 0 {
        100
    } else {
        q.limit.min(10_000)
    };
    let mut sql = format!("SELECT {LOG_COLUMNS} FROM request_logs");
    let mut params = Vec::new();
    let mut conditions = Vec::new();
    if let Some(c) = q.channel_id {
        conditions.push("channel_id = ?");
        params.push(Value::from(c));
    }
    if let Some(id) = &q.request_id {
        conditions.push("request_id = ?");
        params.push(Value::from(id.as_str()));
    }
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    params.push(Value::from(limit));
    let rows: Vec<Row> = conn.exec(sql, params).await?;
    let t = "request_logs";
    rows.into_iter()
        .map(|mut r| {
            let input: Option<i64> = take(&mut r, 16, t, "input_tokens")?;
            let usage = match input {
                None => None,
                Some(input) => Some(UsageRow {
                    input: u64_of(input),
                    output: u64_of(
                        take::<Option<i64>>(&mut r, 17, t, "output_tokens")?.unwrap_or(0),
                    ),
                    cache_read: u64_of(
                        take::<Option<i64>>(&mut r, 18, t, "cache_read_tokens")?.unwrap_or(0),
                    ),
                    cache_write: u64_of(
                        take::<Option<i64>>(&mut r, 19, t, "cache_write_tokens")?.unwrap_or(0),
                    ),
                    reasoning: u64_of(
                        take::<Option<i64>>(&mut r, 20, t, "reasoning_tokens")?.unwrap_or(0),
                    ),
                    estimated: take(&mut r, 21, t, "usage_estimated")?,
                }),
            };
            Ok(RequestLog {
                request_id: take(&mut r, 0, t, "request_id")?,
                started_at_ms: take(&mut r, 1, t, "started_at")?,
                token_id: take(&mut r, 2, t, "token_id")?,
                client_protocol: take(&mut r, 3, t, "client_protocol")?,
                model_requested: take(&mut r, 4, t, "model_requested")?,
                model_sent: take(&mut r, 5, t, "model_sent")?,
                channel_id: take(&mut r, 6, t, "channel_id")?,
                channel_name: take(&mut r, 7, t, "channel_name")?,
                key_index: take(&mut r, 8, t, "key_index")?,
                upstream_url: take(&mut r, 9, t, "upstream_url")?,
                status: take(&mut r, 10, t, "status")?,
                attempts: take(&mut r, 11, t, "attempts")?,
                duration_ms: u64_of(take(&mut r, 12, t, "duration_ms")?),
                first_byte_ms: take::<Option<i64>>(&mut r, 13, t, "first_byte_ms")?.map(u64_of),
                stream: take(&mut r, 14, t, "is_stream")?,
                error: take(&mut r, 15, t, "error")?,
                usage,
                cost_micro_usd: take(&mut r, 22, t, "cost_micro_usd")?,
                unpriced: take(&mut r, 23, t, "unpriced")?,
                attempt_log: Vec::new(),
            })
        })
        .collect()
}

async fn load_attempts(conn: &mut Conn, request_id: &str) -> Result<Vec<AttemptLog>> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT channel_id, channel_name, key_index, upstream_url, status, outcome, scope,
                    cooldown_until, duration_ms, error
             FROM request_attempts WHERE request_id = ? ORDER BY seq",
            (request_id,),
        )
        .await?;
    let t = "request_attempts";
    rows.into_iter()
        .map(|mut r| {
            Ok(AttemptLog {
                channel_id: take(&mut r, 0, t, "channel_id")?,
                channel_name: take(&mut r, 1, t, "channel_name")?,
                key_index: take(&mut r, 2, t, "key_index")?,
                upstream_url: take(&mut r, 3, t, "upstream_url")?,
                status: take(&mut r, 4, t, "status")?,
                outcome: take(&mut r, 5, t, "outcome")?,
                scope: take(&mut r, 6, t, "scope")?,
                cooldown_until_ms: take(&mut r, 7, t, "cooldown_until")?,
                duration_ms: u64_of(take(&mut r, 8, t, "duration_ms")?),
                error: take(&mut r, 9, t, "error")?,
            })
        })
        .collect()
}

async fn active_cooldowns(conn: &mut Conn, now_ms: i64) -> Result<Vec<CooldownRow>> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT target, until_ms, interval_ms, failures, reason FROM cooldowns WHERE until_ms > ?",
            (now_ms,),
        )
        .await?;
    let t = "cooldowns";
    rows.into_iter()
        .map(|mut r| {
            Ok(CooldownRow {
                target: take(&mut r, 0, t, "target")?,
                until_ms: take(&mut r, 1, t, "until_ms")?,
                interval_ms: take(&mut r, 2, t, "interval_ms")?,
                failures: take(&mut r, 3, t, "failures")?,
                reason: take(&mut r, 4, t, "reason")?,
            })
        })
        .collect()
}

impl MysqlStore {
    /// A migrated connection, for the shared-state statements in `mysql_shared`.
    pub(crate) async fn shared_conn(&self) -> Result<Conn> {
        self.inner.conn().await
    }
}

impl ChannelStore for MysqlStore {
    fn list_channels(&self) -> BoxFuture<'_, Result<Vec<Channel>>> {
        Box::pin(async move {
            let mut conn = self.inner.conn().await?;
            timed("reading channels", load_channels(&mut conn)).await
        })
    }

    fn upsert_channel(&self, spec: ChannelSpec) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async move {
            spec.validate()?;
            let mut conn = self.inner.conn().await?;
            timed("writing a channel", upsert_channel_tx(&mut conn, &spec)).await
        })
    }

    fn delete_channel(&self, id: i64) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let mut conn = self.inner.conn().await?;
            timed("deleting a channel", async {
                conn.exec_drop("DELETE FROM channels WHERE id = ?", (id,))
                    .await?;
                Ok(conn.affected_rows() > 0)
            })
            .await
        })
    }
}

impl TokenStore for MysqlStore {
    fn list_tokens(&self) -> BoxFuture<'_, Result<Vec<ClientToken>>> {
        Box::pin(async move {
            let mut conn = self.inner.conn().await?;
            timed("reading tokens", load_tokens(&mut conn)).await
        })
    }

    fn upsert_token(&self, spec: TokenSpec) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async move {
            if spec.name.trim().is_empty() || spec.token_hash.len() != 64 {
                return Err(Error::Invalid {
                    what: "token",
                    reason: "a token needs a name and a SHA-256 hash".to_owned(),
                });
            }
            let mut conn = self.inner.conn().await?;
            timed("writing a token", upsert_token_tx(&mut conn, &spec)).await
        })
    }
}

impl LogStore for MysqlStore {
    fn record(&self, row: RequestLog) {
        let inner = &self.inner;
        let Ok(tx) = self.sender() else {
            inner.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(request_id = %row.request_id, "store closed: request log dropped");
            return;
        };
        let bytes = row.approx_bytes();
        if inner
            .queued_bytes
            .load(Ordering::Relaxed)
            .saturating_add(bytes)
            > inner.queue_max_bytes
        {
            inner.overflow(row);
            return;
        }
        inner.queued_rows.fetch_add(1, Ordering::Relaxed);
        inner.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        match tx.try_send(WriteCmd::Log(Box::new(row))) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(WriteCmd::Log(r))) => {
                inner.dequeued(std::slice::from_ref(&*r));
                inner.overflow(*r);
            }
            Err(mpsc::error::TrySendError::Closed(WriteCmd::Log(r))) => {
                inner.dequeued(std::slice::from_ref(&*r));
                inner.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!(request_id = %r.request_id, "store closed: request log dropped");
            }
            Err(_) => {}
        }
    }

    fn queue_stats(&self) -> crate::QueueStats {
        let i = &self.inner;
        crate::QueueStats {
            queued_rows: i.queued_rows.load(Ordering::Relaxed),
            queued_bytes: i.queued_bytes.load(Ordering::Relaxed),
            overflow_rows: i.overflow_rows.load(Ordering::Relaxed),
            spooled_rows: i.spooled.load(Ordering::Relaxed),
            dropped_rows: i.dropped.load(Ordering::Relaxed),
        }
    }

    fn flush(&self) -> BoxFuture<'_, Result<()>> {
        let (done, wait) = oneshot::channel();
        let tx = self.sender();
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            // Overflowed rows first: they are durable once in the spool, which the writer
            // then replays.
            tokio::task::spawn_blocking(move || inner.drain_overflow())
                .await
                .map_err(|_| Error::Closed)?;
            tx?.send(WriteCmd::Flush(done))
                .await
                .map_err(|_| Error::Closed)?;
            wait.await.map_err(|_| Error::Closed)?
        })
    }

    fn query_logs(&self, query: LogQuery) -> BoxFuture<'_, Result<Vec<RequestLog>>> {
        Box::pin(async move {
            let mut conn = self.inner.conn().await?;
            timed("reading request logs", query_logs(&mut conn, &query)).await
        })
    }
}

impl CooldownStore for MysqlStore {
    fn save_cooldown(&self, row: CooldownRow) {
        if self.enqueue(WriteCmd::Cooldown(row)).is_err() {
            tracing::error!("write queue full: cooldown not persisted");
        }
    }

    fn clear_cooldown(&self, target: String) {
        if self.enqueue(WriteCmd::ClearCooldown(target)).is_err() {
            tracing::error!("write queue full: cooldown clear not persisted");
        }
    }

    fn active_cooldowns(&self, now_ms: i64) -> BoxFuture<'_, Result<Vec<CooldownRow>>> {
        Box::pin(async move {
            let mut conn = self.inner.conn().await?;
            timed("reading cooldowns", active_cooldowns(&mut conn, now_ms)).await
        })
    }

    fn attempts(&self, request_id: String) -> BoxFuture<'_, Result<Vec<AttemptLog>>> {
        Box::pin(async move {
            let mut conn = self.inner.conn().await?;
            timed("reading attempts", load_attempts(&mut conn, &request_id)).await
        })
    }
}

impl Store for MysqlStore {
    fn close(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let flushed = self.flush().await;
            // Dropping the last sender ends the writer loop after it drains the queue.
            if let Ok(mut tx) = self.tx.lock() {
                tx.take();
            }
            let handle = self.writer.lock().ok().and_then(|mut w| w.take());
            if let Some(h) = handle {
                let _ = h.await;
            }
            let pool = self.inner.pool.clone();
            let _ = tokio::time::timeout(DB_TIMEOUT, pool.disconnect()).await;
            match flushed {
                Err(Error::Closed) => Ok(()),
                other => other,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn url_parameters_of_our_own_are_removed() {
        let d = crate::OpenOptions::default();
        let cfg = Config::parse(
            "mysql://u:secret@127.0.0.1:3306/db?spool=/tmp/a%20b&spool_max_mb=2",
            &d,
        )
        .unwrap();
        assert_eq!(cfg.db_name, "db");
        assert_eq!(cfg.spool_dir, PathBuf::from("/tmp/a b"));
        assert_eq!(cfg.spool_max_bytes, 2 * 1024 * 1024);
        let cfg = Config::parse("mysql://u@h/other", &d).unwrap();
        assert_eq!(cfg.spool_dir, Path::new("./data").join("spool-other"));
        let err = Config::parse("mysql://u:secret@h:3306/", &d)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("missing database name"), "{err}");
        assert!(
            !err.contains("secret"),
            "passwords stay out of errors: {err}"
        );
        assert!(Config::parse("mysql://u@h/db?bogus=1", &d).is_err());
    }

    #[test]
    fn migration_files_split_into_statements() {
        let stmts = statements(MIGRATIONS[0].2);
        assert_eq!(stmts.len(), 7);
        assert!(
            stmts
                .iter()
                .all(|s| s.starts_with("CREATE TABLE IF NOT EXISTS"))
        );
    }

    #[test]
    fn spool_rows_round_trip() {
        let row = RequestLog {
            request_id: "r".to_owned(),
            usage: Some(UsageRow {
                input: 1,
                estimated: true,
                ..UsageRow::default()
            }),
            attempt_log: vec![AttemptLog {
                outcome: "ok".to_owned(),
                status: Some(200),
                ..AttemptLog::default()
            }],
            unpriced: true,
            ..RequestLog::default()
        };
        let bytes = Spool::encode(std::slice::from_ref(&row));
        let text = String::from_utf8(bytes).unwrap();
        let back: SpoolRow = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(RequestLog::from(back), row);
    }
}

#[cfg(test)]
mod spool_dir_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "relaygate-mysql-unit-{tag}-{}-{}",
            std::process::id(),
            now_ms()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn spool_defaults_under_the_data_dir_owner_only() {
        let base = scratch("spool");
        let opts = crate::OpenOptions::default().spool_base(&base);
        // Nothing listens on port 1: opening never waits for the server.
        let store = MysqlStore::open_with("mysql://root:pw@127.0.0.1:1/my.db", &opts).unwrap();
        assert_eq!(store.spool_dir(), base.join("spool-my_db"));
        assert!(!base.exists(), "opening creates nothing");
        // The first spooled batch creates it, owner-only.
        store.inner.spool.write(b"{}\n").unwrap();
        assert_eq!(mode(store.spool_dir()), 0o700);
        drop(store);

        // An existing directory with loose permissions is tightened.
        use std::os::unix::fs::PermissionsExt as _;
        let loose = base.join("spool-other");
        std::fs::create_dir_all(&loose).unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o777)).unwrap();
        let store = MysqlStore::open_with("mysql://root@127.0.0.1:1/other", &opts).unwrap();
        assert_eq!(store.spool_dir(), loose.as_path());
        assert_eq!(mode(&loose), 0o700);
        drop(store);

        // The explicit spool= is honoured and made private too.
        let explicit = base.join("explicit");
        let url = format!("mysql://root@127.0.0.1:1/db?spool={}", explicit.display());
        let store = MysqlStore::open_with(&url, &opts).unwrap();
        assert_eq!(store.spool_dir(), explicit.as_path());
        store.inner.spool.write(b"{}\n").unwrap();
        assert_eq!(mode(&explicit), 0o700);
        drop(store);
        let _ = std::fs::remove_dir_all(&base);
    }

    #[tokio::test]
    async fn debug_output_never_shows_the_password() {
        let store =
            MysqlStore::open("mysql://root:hunter2@127.0.0.1:1/db?spool=/nonexistent/x").unwrap();
        let shown = format!("{store:?} {:?}", store.inner);
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn default_spool_is_not_the_system_temp_dir() {
        let cfg = Config::parse("mysql://root@h/db", &crate::OpenOptions::default()).unwrap();
        assert_eq!(cfg.spool_dir, Path::new("./data").join("spool-db"));
        assert!(!cfg.spool_dir.starts_with(std::env::temp_dir()));
    }
}
