//! The SQLite backend: one writer thread that owns the only write connection and batches log
//! rows into transactions, plus a small pool of read-only connections used from blocking tasks.
//!
//! SQLite allows one writer at a time anyway; giving it a thread of its own means request tasks
//! never wait on the database lock, and a burst of log rows costs one fsync per batch.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use relaygate_protocol::Protocol;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::model::{
    AttemptLog, Channel, ChannelKey, ChannelLimits, ChannelSpec, ClientToken, CooldownRow,
    KeyStrategy, LogQuery, ModelEntry, RequestLog, TokenLimits, TokenSpec, UsageRow,
};
use crate::{
    BoxFuture, ChannelStore, CooldownStore, Error, LOG_FLUSH_INTERVAL, LogStore, Result, Store,
    TokenStore,
};

/// Numbered migrations; entry `i` takes the schema from `user_version` i to i + 1.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_init.sql"),
    include_str!("../migrations/sqlite/0002_routing.sql"),
    include_str!("../migrations/sqlite/0003_usage.sql"),
    include_str!("../migrations/sqlite/0004_admin.sql"),
    include_str!("../migrations/sqlite/0005_shared.sql"),
    include_str!("../migrations/sqlite/0006_rollup.sql"),
    include_str!("../migrations/sqlite/0007_estimated.sql"),
];

/// Log rows written per transaction at most.
const MAX_BATCH: usize = 512;
/// Bytes of log rows the writer's queue takes; past it rows take the overflow path.
const QUEUE_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Bytes the overflow path takes on top; past it `record` drops rows (counted and logged)
/// rather than block or grow without bound.
const OVERFLOW_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Rows kept for a retry after a failed write at most; past it they are dropped (counted).
const RETRY_MAX_ROWS: usize = 65_536;

/// Log rows between `record` and the database, shared by the store and its writer thread.
///
/// `record` runs on async worker threads, so it must never wait: the command channel is
/// unbounded and the bound is kept here, in bytes. Rows over [`QUEUE_MAX_BYTES`] go to
/// `overflow` (a short, never contended-for-long lock; the writer takes the whole list at
/// once) instead of blocking the caller.
#[derive(Debug)]
struct LogQueue {
    /// Bounds in bytes of the channel and of the overflow list.
    max_bytes: u64,
    overflow_max_bytes: u64,
    /// Rows and bytes accepted and not yet durable.
    rows: AtomicU64,
    bytes: AtomicU64,
    overflow_rows: AtomicU64,
    dropped: AtomicU64,
    overflow: Mutex<Overflow>,
}

#[derive(Debug, Default)]
struct Overflow {
    rows: Vec<RequestLog>,
    bytes: u64,
}

impl LogQueue {
    fn new(max_bytes: u64, overflow_max_bytes: u64) -> Self {
        LogQueue {
            max_bytes,
            overflow_max_bytes,
            rows: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            overflow_rows: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            overflow: Mutex::new(Overflow::default()),
        }
    }

    fn stats(&self) -> crate::QueueStats {
        crate::QueueStats {
            queued_rows: self.rows.load(Ordering::Relaxed),
            queued_bytes: self.bytes.load(Ordering::Relaxed),
            overflow_rows: self.overflow_rows.load(Ordering::Relaxed),
            spooled_rows: 0,
            dropped_rows: self.dropped.load(Ordering::Relaxed),
        }
    }

    fn accepted(&self, bytes: u64) {
        self.rows.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// `rows` left the queue (written or dropped).
    fn done(&self, rows: &[RequestLog]) {
        let bytes: u64 = rows.iter().map(RequestLog::approx_bytes).sum();
        self.rows.fetch_sub(rows.len() as u64, Ordering::Relaxed);
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Moves overflowed rows to the writer's batch.
    fn drain_overflow(&self, pending: &mut Vec<RequestLog>) {
        let taken = match self.overflow.lock() {
            Ok(mut o) => {
                o.bytes = 0;
                std::mem::take(&mut o.rows)
            }
            Err(_) => return,
        };
        pending.extend(taken);
    }
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

enum WriteCmd {
    Log(Box<RequestLog>),
    Cooldown(CooldownRow),
    ClearCooldown(String),
    Job(Job),
    Flush(oneshot::Sender<Result<()>>),
}

/// The SQLite store. Cheap to share behind an `Arc`.
pub struct SqliteStore {
    path: PathBuf,
    tx: Mutex<Option<Sender<WriteCmd>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    queue: Arc<LogQueue>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

/// Applies pending migrations. Safe when several processes start at once: the version is
/// re-read under an immediate (write-locking) transaction.
fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: usize = tx
        .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))?
        .try_into()
        .unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tracing::info!(version = i + 1, "applied SQLite migration");
    }
    tx.commit()?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, migrates it and starts the writer.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_bounded(path, LogQueue::new(QUEUE_MAX_BYTES, OVERFLOW_MAX_BYTES))
    }

    fn open_bounded(path: impl AsRef<Path>, queue: LogQueue) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        configure(&conn)?;
        migrate(&mut conn)?;
        let (tx, rx) = mpsc::channel();
        let queue = Arc::new(queue);
        let writer_queue = Arc::clone(&queue);
        let writer = std::thread::Builder::new()
            .name("relaygate-sqlite-writer".to_owned())
            .spawn(move || writer_loop(conn, rx, &writer_queue))?;
        Ok(SqliteStore {
            path,
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
            queue,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Log rows dropped: the store was closed, or the queue and its overflow were both full.
    pub fn dropped_logs(&self) -> u64 {
        self.queue.dropped.load(Ordering::Relaxed)
    }

    fn sender(&self) -> Result<Sender<WriteCmd>> {
        self.tx
            .lock()
            .map_err(|_| Error::Closed)?
            .clone()
            .ok_or(Error::Closed)
    }

    /// Runs `f` on the writer thread and waits for its result.
    pub(crate) fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> BoxFuture<'_, Result<T>> {
        let (done, wait) = oneshot::channel();
        let sent = self.sender().and_then(|tx| {
            tx.send(WriteCmd::Job(Box::new(move |conn| {
                let _ = done.send(f(conn));
            })))
            .map_err(|_| Error::Closed)
        });
        Box::pin(async move {
            sent?;
            wait.await.map_err(|_| Error::Closed)?
        })
    }

    /// Runs `f` on a read-only connection in a blocking task.
    pub(crate) fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> BoxFuture<'_, Result<T>> {
        let readers = Arc::clone(&self.readers);
        let path = self.path.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let pooled = readers.lock().ok().and_then(|mut r| r.pop());
                let conn = match pooled {
                    Some(c) => c,
                    None => {
                        let c = Connection::open_with_flags(
                            &path,
                            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                        )?;
                        configure(&c)?;
                        c
                    }
                };
                let out = f(&conn);
                if let Ok(mut r) = readers.lock()
                    && r.len() < 4
                {
                    r.push(conn);
                }
                out
            })
            .await
            .map_err(|_| Error::Closed)?
        })
    }
}

fn writer_loop(mut conn: Connection, rx: Receiver<WriteCmd>, queue: &LogQueue) {
    let mut pending: Vec<RequestLog> = Vec::new();
    let mut oldest: Option<Instant> = None;
    loop {
        // Never an unbounded wait: rows may be waiting in the overflow list, which sends no
        // wake-up of its own.
        let wait = oldest.map_or(LOG_FLUSH_INTERVAL, |t| {
            LOG_FLUSH_INTERVAL.saturating_sub(t.elapsed())
        });
        let cmd = match rx.recv_timeout(wait) {
            Ok(c) => Some(c),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let before = pending.len();
        queue.drain_overflow(&mut pending);
        if pending.len() > before {
            oldest.get_or_insert_with(Instant::now);
        }
        match cmd {
            Some(WriteCmd::Log(row)) => {
                pending.push(*row);
                oldest.get_or_insert_with(Instant::now);
                if pending.len() >= MAX_BATCH {
                    let _ = write_logs(&mut conn, &mut pending, queue);
                    oldest = None;
                }
            }
            Some(WriteCmd::Cooldown(row)) => {
                if let Err(e) = save_cooldown(&conn, &row) {
                    tracing::error!(error = %e, target = %row.target, "saving cooldown failed");
                }
            }
            Some(WriteCmd::ClearCooldown(target)) => {
                // Cleared, not deleted: other instances see the change by its time.
                if let Err(e) = conn.execute(
                    "UPDATE cooldowns SET until_ms = 0, interval_ms = 0, failures = 0, updated_at = ?2
                     WHERE target = ?1",
                    params![&target, now_ms()],
                ) {
                    tracing::error!(error = %e, %target, "clearing cooldown failed");
                }
            }
            Some(WriteCmd::Job(job)) => {
                let _ = write_logs(&mut conn, &mut pending, queue);
                oldest = None;
                job(&mut conn);
            }
            Some(WriteCmd::Flush(done)) => {
                let r = write_logs(&mut conn, &mut pending, queue);
                oldest = None;
                let _ = done.send(r);
            }
            None => {
                if oldest.is_some_and(|t| t.elapsed() >= LOG_FLUSH_INTERVAL)
                    || pending.len() >= MAX_BATCH
                {
                    let _ = write_logs(&mut conn, &mut pending, queue);
                    oldest = None;
                }
            }
        }
    }
    queue.drain_overflow(&mut pending);
    let _ = write_logs(&mut conn, &mut pending, queue);
}

fn write_logs(
    conn: &mut Connection,
    pending: &mut Vec<RequestLog>,
    queue: &LogQueue,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let r = insert_logs(conn, pending);
    match &r {
        Ok(()) => {
            queue.done(pending);
            pending.clear();
        }
        Err(e) => {
            // Keep the rows for the next tick unless the backlog is unreasonable.
            tracing::error!(error = %e, rows = pending.len(), "writing request logs failed");
            if pending.len() > RETRY_MAX_ROWS {
                queue
                    .dropped
                    .fetch_add(pending.len() as u64, Ordering::Relaxed);
                tracing::error!(
                    rows = pending.len(),
                    "request log backlog too large: dropped"
                );
                queue.done(pending);
                pending.clear();
            }
        }
    }
    r
}

fn save_cooldown(conn: &Connection, row: &CooldownRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO cooldowns (target, until_ms, interval_ms, failures, reason, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(target) DO UPDATE SET until_ms = excluded.until_ms, interval_ms = excluded.interval_ms,
           failures = excluded.failures, reason = excluded.reason, updated_at = excluded.updated_at",
    )?
    .execute(params![row.target, row.until_ms, row.interval_ms, row.failures, row.reason, now_ms()])?;
    Ok(())
}

fn insert_logs(conn: &mut Connection, rows: &[RequestLog]) -> Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO request_logs (request_id, started_at, token_id, client_protocol,
               model_requested, model_sent, channel_id, channel_name, key_index, upstream_url,
               status, attempts, duration_ms, first_byte_ms, is_stream, error,
               input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
               usage_estimated, cost_micro_usd, unpriced)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
        )?;
        for r in rows {
            stmt.execute(params![
                r.request_id,
                r.started_at_ms,
                r.token_id,
                r.client_protocol,
                r.model_requested,
                r.model_sent,
                r.channel_id,
                r.channel_name,
                r.key_index,
                r.upstream_url,
                r.status,
                r.attempts,
                i64::try_from(r.duration_ms).unwrap_or(i64::MAX),
                r.first_byte_ms
                    .map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
                r.stream,
                r.error,
                r.usage.map(|u| i64::try_from(u.input).unwrap_or(i64::MAX)),
                r.usage.map(|u| i64::try_from(u.output).unwrap_or(i64::MAX)),
                r.usage
                    .map(|u| i64::try_from(u.cache_read).unwrap_or(i64::MAX)),
                r.usage
                    .map(|u| i64::try_from(u.cache_write).unwrap_or(i64::MAX)),
                r.usage
                    .map(|u| i64::try_from(u.reasoning).unwrap_or(i64::MAX)),
                r.usage.is_some_and(|u| u.estimated),
                r.cost_micro_usd,
                r.unpriced,
            ])?;
        }
        let mut att = tx.prepare_cached(
            "INSERT OR IGNORE INTO request_attempts (request_id, seq, channel_id, channel_name, key_index,
               upstream_url, status, outcome, scope, cooldown_until, duration_ms, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for r in rows {
            for (i, a) in r.attempt_log.iter().enumerate() {
                att.execute(params![
                    r.request_id,
                    i as i64,
                    a.channel_id,
                    a.channel_name,
                    a.key_index,
                    a.upstream_url,
                    a.status,
                    a.outcome,
                    a.scope,
                    a.cooldown_until_ms,
                    i64::try_from(a.duration_ms).unwrap_or(i64::MAX),
                    a.error,
                ])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

fn corrupt(table: &'static str, column: &'static str, detail: impl Into<String>) -> Error {
    Error::Corrupt {
        table,
        column,
        detail: detail.into(),
    }
}

fn load_channels(conn: &Connection) -> Result<Vec<Channel>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, protocol, base_urls, priority, weight, enabled, created_at, updated_at,
                key_strategy, rpm_limit, max_concurrency, available_hours
         FROM channels ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, bool>(6)?,
            r.get::<_, i64>(7)?,
            r.get::<_, i64>(8)?,
            ChannelLimits {
                key_strategy: KeyStrategy::parse(&r.get::<_, String>(9)?).unwrap_or_default(),
                rpm: r.get(10)?,
                max_concurrency: r.get(11)?,
                available_hours: r.get(12)?,
            },
        ))
    })?;
    let mut channels = Vec::new();
    for row in rows {
        let (id, name, protocol, urls, priority, weight, enabled, created, updated, limits) = row?;
        let protocol: Protocol =
            protocol
                .parse()
                .map_err(|e: relaygate_protocol::UnknownProtocol| {
                    corrupt("channels", "protocol", e.to_string())
                })?;
        let base_urls: Vec<String> = serde_json::from_str(&urls)
            .map_err(|e| corrupt("channels", "base_urls", e.to_string()))?;
        channels.push(Channel {
            id,
            name,
            protocol,
            base_urls,
            keys: Vec::new(),
            models: Vec::new(),
            priority,
            weight: u32::try_from(weight).unwrap_or(1),
            enabled,
            limits,
            created_at_ms: created,
            updated_at_ms: updated,
        });
    }
    let index: std::collections::HashMap<i64, usize> = channels
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i))
        .collect();
    let mut keys = conn.prepare_cached(
        "SELECT channel_id, key_index, secret, enabled FROM channel_keys ORDER BY channel_id, key_index",
    )?;
    for row in keys.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, u32>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, bool>(3)?,
        ))
    })? {
        let (cid, index_, secret, enabled) = row?;
        if let Some(&i) = index.get(&cid) {
            channels[i].keys.push(ChannelKey {
                index: index_,
                secret,
                enabled,
            });
        }
    }
    let mut models = conn.prepare_cached(
        "SELECT channel_id, model, upstream_model FROM channel_models ORDER BY channel_id, position",
    )?;
    for row in models.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
        ))
    })? {
        let (cid, name, upstream) = row?;
        if let Some(&i) = index.get(&cid) {
            channels[i].models.push(ModelEntry { name, upstream });
        }
    }
    Ok(channels)
}

fn upsert_channel_tx(conn: &mut Connection, spec: &ChannelSpec) -> Result<i64> {
    spec.validate()?;
    let now = now_ms();
    let urls = serde_json::to_string(&spec.base_urls).map_err(|e| Error::Invalid {
        what: "channel",
        reason: e.to_string(),
    })?;
    let tx = conn.transaction()?;
    let id: i64 = tx.query_row(
        "INSERT INTO channels (name, protocol, base_urls, priority, weight, enabled, created_at, updated_at,
                               key_strategy, rpm_limit, max_concurrency, available_hours)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT(name) DO UPDATE SET protocol = excluded.protocol, base_urls = excluded.base_urls,
           priority = excluded.priority, weight = excluded.weight, enabled = excluded.enabled,
           updated_at = excluded.updated_at, key_strategy = excluded.key_strategy,
           rpm_limit = excluded.rpm_limit, max_concurrency = excluded.max_concurrency,
           available_hours = excluded.available_hours
         RETURNING id",
        params![
            spec.name,
            spec.protocol.as_str(),
            urls,
            spec.priority,
            spec.weight,
            spec.enabled,
            now,
            spec.limits.key_strategy.as_str(),
            spec.limits.rpm,
            spec.limits.max_concurrency,
            spec.limits.available_hours
        ],
        |r| r.get(0),
    )?;
    tx.execute("DELETE FROM channel_keys WHERE channel_id = ?1", [id])?;
    tx.execute("DELETE FROM channel_models WHERE channel_id = ?1", [id])?;
    {
        let mut k = tx.prepare_cached(
            "INSERT INTO channel_keys (channel_id, key_index, secret, enabled) VALUES (?1, ?2, ?3, 1)",
        )?;
        for (i, key) in spec.keys.iter().enumerate() {
            k.execute(params![id, i as i64, key.trim()])?;
        }
        let mut m = tx.prepare_cached(
            "INSERT INTO channel_models (channel_id, position, model, upstream_model) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (i, model) in spec.models.iter().enumerate() {
            let upstream = model.upstream.as_deref().filter(|u| *u != model.name);
            m.execute(params![id, i as i64, model.name.trim(), upstream])?;
        }
    }
    tx.commit()?;
    Ok(id)
}

fn load_tokens(conn: &Connection) -> Result<Vec<ClientToken>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, token_hash, hint, enabled, expires_at, created_at, allowed_models, allowed_channels,
                max_concurrency
         FROM client_tokens ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(ClientToken {
            id: r.get(0)?,
            name: r.get(1)?,
            token_hash: r.get(2)?,
            hint: r.get(3)?,
            enabled: r.get(4)?,
            expires_at_ms: r.get(5)?,
            created_at_ms: r.get(6)?,
            limits: TokenLimits {
                allowed_models: json_list(r.get(7)?),
                allowed_channels: json_list(r.get(8)?),
                max_concurrency: r.get(9)?,
            },
        })
    })?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(Error::from)
}

fn json_list(text: Option<String>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn list_json(list: &[String]) -> Option<String> {
    (!list.is_empty()).then(|| serde_json::to_string(list).unwrap_or_default())
}

fn load_attempts(conn: &Connection, request_id: &str) -> Result<Vec<AttemptLog>> {
    let mut stmt = conn.prepare_cached(
        "SELECT channel_id, channel_name, key_index, upstream_url, status, outcome, scope, cooldown_until,
                duration_ms, error
         FROM request_attempts WHERE request_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([request_id], |r| {
        Ok(AttemptLog {
            channel_id: r.get(0)?,
            channel_name: r.get(1)?,
            key_index: r.get(2)?,
            upstream_url: r.get(3)?,
            status: r.get(4)?,
            outcome: r.get(5)?,
            scope: r.get(6)?,
            cooldown_until_ms: r.get(7)?,
            duration_ms: r.get::<_, i64>(8)?.max(0) as u64,
            error: r.get(9)?,
        })
    })?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(Error::from)
}

fn query_logs(conn: &Connection, q: &LogQuery) -> Result<Vec<RequestLog>> {
    let limit = if q.limit == 0 {
        100
    } else {
        q.limit.min(10_000)
    };
    let mut stmt = conn.prepare_cached(
        "SELECT request_id, started_at, token_id, client_protocol, model_requested, model_sent,
                channel_id, channel_name, key_index, upstream_url, status, attempts, duration_ms,
                first_byte_ms, is_stream, error, input_tokens, output_tokens, cache_read_tokens,
                cache_write_tokens, reasoning_tokens, usage_estimated, cost_micro_usd, unpriced
         FROM request_logs
         WHERE (?1 IS NULL OR channel_id = ?1) AND (?2 IS NULL OR request_id = ?2)
         ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![q.channel_id, q.request_id, limit], |r| {
        Ok(RequestLog {
            request_id: r.get(0)?,
            started_at_ms: r.get(1)?,
            token_id: r.get(2)?,
            client_protocol: r.get(3)?,
            model_requested: r.get(4)?,
            model_sent: r.get(5)?,
            channel_id: r.get(6)?,
            channel_name: r.get(7)?,
            key_index: r.get(8)?,
            upstream_url: r.get(9)?,
            status: r.get(10)?,
            attempts: r.get(11)?,
            duration_ms: r.get::<_, i64>(12)?.max(0) as u64,
            first_byte_ms: r.get::<_, Option<i64>>(13)?.map(|v| v.max(0) as u64),
            stream: r.get(14)?,
            error: r.get(15)?,
            usage: match r.get::<_, Option<i64>>(16)? {
                None => None,
                Some(input) => Some(UsageRow {
                    input: input.max(0) as u64,
                    output: r.get::<_, Option<i64>>(17)?.unwrap_or(0).max(0) as u64,
                    cache_read: r.get::<_, Option<i64>>(18)?.unwrap_or(0).max(0) as u64,
                    cache_write: r.get::<_, Option<i64>>(19)?.unwrap_or(0).max(0) as u64,
                    reasoning: r.get::<_, Option<i64>>(20)?.unwrap_or(0).max(0) as u64,
                    estimated: r.get(21)?,
                }),
            },
            cost_micro_usd: r.get(22)?,
            unpriced: r.get(23)?,
            attempt_log: Vec::new(),
        })
    })?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(Error::from)
}

impl ChannelStore for SqliteStore {
    fn list_channels(&self) -> BoxFuture<'_, Result<Vec<Channel>>> {
        self.read(load_channels)
    }

    fn upsert_channel(&self, spec: ChannelSpec) -> BoxFuture<'_, Result<i64>> {
        self.write(move |conn| upsert_channel_tx(conn, &spec))
    }

    fn delete_channel(&self, id: i64) -> BoxFuture<'_, Result<bool>> {
        self.write(move |conn| Ok(conn.execute("DELETE FROM channels WHERE id = ?1", [id])? > 0))
    }
}

impl TokenStore for SqliteStore {
    fn list_tokens(&self) -> BoxFuture<'_, Result<Vec<ClientToken>>> {
        self.read(load_tokens)
    }

    fn upsert_token(&self, spec: TokenSpec) -> BoxFuture<'_, Result<i64>> {
        self.write(move |conn| {
            if spec.name.trim().is_empty() || spec.token_hash.len() != 64 {
                return Err(Error::Invalid {
                    what: "token",
                    reason: "a token needs a name and a SHA-256 hash".to_owned(),
                });
            }
            let now = now_ms();
            let id = conn
                .query_row(
                    "INSERT INTO client_tokens (name, token_hash, hint, enabled, expires_at, created_at, updated_at,
                                               allowed_models, allowed_channels, max_concurrency)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9)
                     ON CONFLICT(name) DO UPDATE SET token_hash = excluded.token_hash, hint = excluded.hint,
                       enabled = excluded.enabled, expires_at = excluded.expires_at, updated_at = excluded.updated_at,
                       allowed_models = excluded.allowed_models, allowed_channels = excluded.allowed_channels,
                       max_concurrency = excluded.max_concurrency
                     RETURNING id",
                    params![
                        spec.name,
                        spec.token_hash,
                        spec.hint,
                        spec.enabled,
                        spec.expires_at_ms,
                        now,
                        list_json(&spec.limits.allowed_models),
                        list_json(&spec.limits.allowed_channels),
                        spec.limits.max_concurrency
                    ],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or(Error::Invalid {
                    what: "token",
                    reason: "upsert returned no row".to_owned(),
                })?;
            Ok(id)
        })
    }
}

impl LogStore for SqliteStore {
    fn record(&self, row: RequestLog) {
        let q = &self.queue;
        let Ok(tx) = self.sender() else {
            q.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(request_id = %row.request_id, "store closed: request log dropped");
            return;
        };
        let bytes = row.approx_bytes();
        if q.bytes.load(Ordering::Relaxed).saturating_add(bytes) <= q.max_bytes {
            q.accepted(bytes);
            if let Err(mpsc::SendError(cmd)) = tx.send(WriteCmd::Log(Box::new(row))) {
                // The writer is gone (closing): the row is lost, and said so.
                q.dropped.fetch_add(1, Ordering::Relaxed);
                if let WriteCmd::Log(r) = cmd {
                    q.done(std::slice::from_ref(&*r));
                    tracing::error!(request_id = %r.request_id, "store closed: request log dropped");
                }
            }
            return;
        }
        // The queue holds its share: the back-pressure path takes the row instead.
        let Ok(mut overflow) = q.overflow.lock() else {
            q.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(request_id = %row.request_id, "log overflow unusable: request log dropped");
            return;
        };
        if overflow.bytes.saturating_add(bytes) > q.overflow_max_bytes {
            drop(overflow);
            q.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(request_id = %row.request_id,
                "log queue and overflow full: request log dropped");
            return;
        }
        // Counted before the writer can see the row, so its `done` never runs ahead.
        q.accepted(bytes);
        q.overflow_rows.fetch_add(1, Ordering::Relaxed);
        overflow.bytes += bytes;
        overflow.rows.push(row);
        drop(overflow);
    }

    fn flush(&self) -> BoxFuture<'_, Result<()>> {
        let (done, wait) = oneshot::channel();
        let sent = self
            .sender()
            .and_then(|tx| tx.send(WriteCmd::Flush(done)).map_err(|_| Error::Closed));
        Box::pin(async move {
            sent?;
            wait.await.map_err(|_| Error::Closed)?
        })
    }

    fn query_logs(&self, query: LogQuery) -> BoxFuture<'_, Result<Vec<RequestLog>>> {
        self.read(move |conn| query_logs(conn, &query))
    }

    fn queue_stats(&self) -> crate::QueueStats {
        self.queue.stats()
    }
}

impl CooldownStore for SqliteStore {
    fn save_cooldown(&self, row: CooldownRow) {
        if self
            .sender()
            .and_then(|tx| tx.send(WriteCmd::Cooldown(row)).map_err(|_| Error::Closed))
            .is_err()
        {
            tracing::error!("store closed: cooldown not persisted");
        }
    }

    fn clear_cooldown(&self, target: String) {
        if self
            .sender()
            .and_then(|tx| {
                tx.send(WriteCmd::ClearCooldown(target))
                    .map_err(|_| Error::Closed)
            })
            .is_err()
        {
            tracing::error!("store closed: cooldown clear not persisted");
        }
    }

    fn active_cooldowns(&self, now_ms: i64) -> BoxFuture<'_, Result<Vec<CooldownRow>>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT target, until_ms, interval_ms, failures, reason FROM cooldowns WHERE until_ms > ?1",
            )?;
            let rows = stmt.query_map([now_ms], |r| {
                Ok(CooldownRow {
                    target: r.get(0)?,
                    until_ms: r.get(1)?,
                    interval_ms: r.get(2)?,
                    failures: r.get(3)?,
                    reason: r.get(4)?,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(Error::from)
        })
    }

    fn attempts(&self, request_id: String) -> BoxFuture<'_, Result<Vec<AttemptLog>>> {
        self.read(move |conn| load_attempts(conn, &request_id))
    }
}

impl Store for SqliteStore {
    fn close(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let flushed = self.flush().await;
            // Dropping the last sender ends the writer loop after it drains the queue.
            if let Ok(mut tx) = self.tx.lock() {
                tx.take();
            }
            let handle = self.writer.lock().ok().and_then(|mut w| w.take());
            if let Some(h) = handle {
                let _ = tokio::task::spawn_blocking(move || h.join()).await;
            }
            match flushed {
                Err(Error::Closed) => Ok(()),
                other => other,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn row(id: usize) -> RequestLog {
        RequestLog {
            request_id: format!("q-{id:04}"),
            started_at_ms: 1_700_000_000_000,
            client_protocol: "openai".to_owned(),
            model_requested: "m".to_owned(),
            status: 200,
            // About 1 KiB per row, so the small test bounds are reached after a few rows.
            error: Some("e".repeat(1000)),
            ..RequestLog::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_overflows_without_blocking_and_loses_nothing_silently() {
        let dir = std::env::temp_dir().join(format!(
            "relaygate-sqlite-queue-{}-{}",
            std::process::id(),
            now_ms()
        ));
        let per_row = row(0).approx_bytes();
        // Room for 10 rows in the queue and 10 in the overflow.
        let store = SqliteStore::open_bounded(
            dir.join("db.sqlite"),
            LogQueue::new(per_row * 10, per_row * 10),
        )
        .unwrap();
        // Hold the writer thread so nothing drains while the rows arrive.
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let held = store.write(move |_| {
            let _ = started.send(());
            let _ = gate.recv();
            Ok(())
        });
        running.recv().unwrap();
        for i in 0..25 {
            store.record(row(i)); // returns at once although the writer is stuck
        }
        let stats = store.queue_stats();
        assert_eq!(stats.queued_rows, 20, "{stats:?}");
        assert_eq!(stats.queued_bytes, per_row * 20);
        assert_eq!(stats.overflow_rows, 10);
        assert_eq!(stats.dropped_rows, 5, "counted, never silent");
        assert_eq!(store.dropped_logs(), 5);
        release.send(()).unwrap();
        held.await.unwrap();
        store.flush().await.unwrap();
        let logged = store
            .query_logs(LogQuery {
                limit: 100,
                ..LogQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(logged.len(), 20, "overflowed rows are written too");
        let stats = store.queue_stats();
        assert_eq!((stats.queued_rows, stats.queued_bytes), (0, 0), "{stats:?}");
        // With room again, rows take the queue.
        store.record(row(100));
        store.flush().await.unwrap();
        assert_eq!(store.queue_stats().overflow_rows, 10);
        store.close().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
