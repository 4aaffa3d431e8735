//! [`Guarded`]: a store wrapper that gives every request-path call a deadline and a circuit
//! breaker, so a slow or dead database costs a request at most the deadline, and, once it has
//! failed a few times in a row, nothing at all until a probe finds it back.
//!
//! Why a wrapper and not a setting of each backend: the deadline here is the *request's*
//! budget for a limit check (hundreds of milliseconds), far shorter than the backends' own
//! statement timeouts (seconds), which also guard background work such as log batches and
//! retention; and the breaker's state belongs to one gateway process, whichever backend it
//! talks to.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::admin::{AdminSession, AdminStore, LogFilter, LogPage, StatsQuery, StatsRow};
use crate::model::{
    AttemptLog, Channel, ChannelSpec, ClientToken, CooldownRow, LogQuery, RequestLog, TokenSpec,
};
use crate::{
    BoxFuture, ChannelStore, CooldownStore, Error, LogStore, QueueStats, Result, SharedState,
    Store, TokenStore,
};

/// Settings of a [`Guarded`] store.
///
/// `deadline` is what the configuration calls `request_deadline_ms` (`[storage]` section):
/// the longest a request waits for one store call on its path (a lease, a rate window, a
/// budget read, a charge). Past it, or while the breaker is open, the call returns
/// [`Error::Unavailable`] and the proxy decides what that means: with
/// `when_unavailable = "refuse"` the request is answered 503 (a limit that cannot be checked
/// does not hold), with `"local"` it falls back to per-instance counters (the limits then hold
/// per gateway instance, not across them, until the store answers again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardConfig {
    /// Deadline of each guarded call (`request_deadline_ms`; default 250 ms).
    pub deadline: Duration,
    /// Consecutive failures or timeouts that open the breaker (default 5; 0 is taken as 1).
    pub failure_threshold: u32,
    /// How long the breaker stays open before one probe call is let through (default 5 s).
    pub cool_off: Duration,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            deadline: Duration::from_millis(250),
            failure_threshold: 5,
            cool_off: Duration::from_secs(5),
        }
    }
}

impl GuardConfig {
    /// The defaults with the deadline `request_deadline_ms` from the configuration.
    pub fn with_request_deadline_ms(ms: u64) -> Self {
        GuardConfig {
            deadline: Duration::from_millis(ms),
            ..GuardConfig::default()
        }
    }
}

/// Where the circuit breaker of a [`Guarded`] store stands (for `/metrics` and health).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused with [`Error::Unavailable`] until the cool-off ends.
    Open,
    /// The cool-off ended: the next call is a probe; its outcome closes or reopens the breaker.
    HalfOpen,
}

#[derive(Debug)]
struct Breaker {
    /// Failures (errors or timeouts) in a row since the last success.
    failures: u32,
    /// Set while open: calls are refused until then.
    open_until: Option<Instant>,
    /// A half-open probe is in flight: other calls keep being refused meanwhile, so a
    /// recovering database is not hit by every waiting request at once.
    probing: bool,
}

/// Counters of a [`Guarded`] store, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GuardStats {
    /// Calls that passed their deadline.
    pub timeouts: u64,
    /// Calls refused at once because the breaker was open.
    pub rejected: u64,
    /// Times the breaker opened.
    pub opened: u64,
}

/// A store whose request-path calls ([`SharedState::try_rate`], [`SharedState::try_lease`],
/// [`SharedState::renew_leases`], [`SharedState::release_lease`], [`SharedState::spent`] and
/// [`SharedState::charge`]) each get a deadline and share one circuit breaker: after
/// [`GuardConfig::failure_threshold`] consecutive failures or timeouts the breaker opens and
/// calls fail at once with [`Error::Unavailable`] for [`GuardConfig::cool_off`]; then one probe
/// call is let through, and its outcome closes the breaker or opens it again.
///
/// Everything else (configuration, admin, log writes, background sweeps such as
/// [`SharedState::cleanup`] and [`SharedState::cooldowns_changed_since`]) passes straight
/// through: those are not on a request's path and have their own timeouts.
///
/// See [`GuardConfig`] for `request_deadline_ms` and how the proxy treats
/// [`Error::Unavailable`] (`when_unavailable = "refuse"` or `"local"`). Time is tokio's clock,
/// so tests can drive it with `tokio::time::pause`.
pub struct Guarded<S: ?Sized> {
    inner: Arc<S>,
    config: GuardConfig,
    breaker: Mutex<Breaker>,
    timeouts: std::sync::atomic::AtomicU64,
    rejected: std::sync::atomic::AtomicU64,
    opened: std::sync::atomic::AtomicU64,
}

impl<S: ?Sized + std::fmt::Debug> std::fmt::Debug for Guarded<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("breaker", &self.breaker_state())
            .finish()
    }
}

/// May a call go ahead, and is it the half-open probe?
enum Admission {
    Go { probe: bool },
    Refuse,
}

/// Clears the probe flag if a probe call is dropped before it finishes (its caller gave up),
/// so the breaker does not stay half-open with no probe ever coming back.
struct ProbeGuard<'a> {
    breaker: Option<&'a Mutex<Breaker>>,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if let Some(b) = self.breaker
            && let Ok(mut b) = b.lock()
        {
            b.probing = false;
        }
    }
}

impl<S: ?Sized> Guarded<S> {
    /// Wraps `inner` with the default [`GuardConfig`].
    pub fn new(inner: Arc<S>) -> Self {
        Self::with_config(inner, GuardConfig::default())
    }

    /// Wraps `inner` with `config`.
    pub fn with_config(inner: Arc<S>, config: GuardConfig) -> Self {
        Guarded {
            inner,
            config,
            breaker: Mutex::new(Breaker {
                failures: 0,
                open_until: None,
                probing: false,
            }),
            timeouts: std::sync::atomic::AtomicU64::new(0),
            rejected: std::sync::atomic::AtomicU64::new(0),
            opened: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }

    /// The settings in force.
    pub fn config(&self) -> GuardConfig {
        self.config
    }

    /// Where the breaker stands now.
    pub fn breaker_state(&self) -> BreakerState {
        let Ok(b) = self.breaker.lock() else {
            return BreakerState::Open;
        };
        match b.open_until {
            None => BreakerState::Closed,
            Some(t) if Instant::now() < t => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// Counters since the wrapper was made.
    pub fn stats(&self) -> GuardStats {
        use std::sync::atomic::Ordering::Relaxed;
        GuardStats {
            timeouts: self.timeouts.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            opened: self.opened.load(Relaxed),
        }
    }

    fn admit(&self) -> Admission {
        // A poisoned lock means a panic while updating the breaker: refusing is the safe side.
        let Ok(mut b) = self.breaker.lock() else {
            return Admission::Refuse;
        };
        match b.open_until {
            None => Admission::Go { probe: false },
            Some(t) if Instant::now() < t => Admission::Refuse,
            Some(_) if b.probing => Admission::Refuse,
            Some(_) => {
                b.probing = true;
                Admission::Go { probe: true }
            }
        }
    }

    fn succeeded(&self) {
        if let Ok(mut b) = self.breaker.lock() {
            if b.open_until.is_some() {
                tracing::info!("store answers again: circuit breaker closed");
            }
            b.failures = 0;
            b.open_until = None;
            b.probing = false;
        }
    }

    fn failed(&self, probe: bool) {
        let Ok(mut b) = self.breaker.lock() else {
            return;
        };
        b.failures = b.failures.saturating_add(1);
        let threshold = self.config.failure_threshold.max(1);
        if probe || (b.open_until.is_none() && b.failures >= threshold) {
            b.open_until = Some(Instant::now() + self.config.cool_off);
            b.probing = false;
            self.opened
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(
                failures = b.failures,
                cool_off_ms = self.config.cool_off.as_millis() as u64,
                "store failing: circuit breaker open"
            );
        }
    }

    /// Runs one request-path call under the deadline and the breaker.
    async fn guard<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let probe = match self.admit() {
            Admission::Go { probe } => probe,
            Admission::Refuse => {
                self.rejected
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Err(Error::Unavailable {
                    what,
                    reason: "circuit breaker open",
                });
            }
        };
        let mut probe_guard = ProbeGuard {
            breaker: probe.then_some(&self.breaker),
        };
        let outcome = tokio::time::timeout(self.config.deadline, call).await;
        // The outcome is recorded below; the guard only matters when this future is dropped.
        probe_guard.breaker = None;
        match outcome {
            Ok(Ok(v)) => {
                self.succeeded();
                Ok(v)
            }
            Ok(Err(e)) if counts_as_failure(&e) => {
                self.failed(probe);
                Err(e)
            }
            Ok(Err(e)) => {
                // The store answered (it refused the input): it is up.
                self.succeeded();
                Err(e)
            }
            Err(_) => {
                self.timeouts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.failed(probe);
                Err(Error::Unavailable {
                    what,
                    reason: "deadline passed",
                })
            }
        }
    }
}

/// Whether an error says the store is unwell (as opposed to refusing what it was asked).
fn counts_as_failure(e: &Error) -> bool {
    !matches!(
        e,
        Error::Invalid { .. } | Error::InvalidUrl { .. } | Error::Corrupt { .. }
    )
}

impl<S: ?Sized + SharedState> SharedState for Guarded<S> {
    fn cooldowns_changed_since(
        &self,
        since_ms: i64,
    ) -> BoxFuture<'_, Result<Vec<(CooldownRow, i64)>>> {
        // A background poll: not on a request's path, so not guarded.
        self.inner.cooldowns_changed_since(since_ms)
    }

    fn try_rate(
        &self,
        key: String,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<Option<i64>>> {
        Box::pin(self.guard(
            "a rate window",
            self.inner.try_rate(key, limit, window_ms, now_ms),
        ))
    }

    fn try_lease(
        &self,
        key: String,
        limit: u32,
        lease: String,
        until_ms: i64,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<bool>> {
        Box::pin(self.guard(
            "a concurrency lease",
            self.inner.try_lease(key, limit, lease, until_ms, now_ms),
        ))
    }

    fn renew_leases(&self, leases: Vec<String>, until_ms: i64) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.guard("renewing leases", self.inner.renew_leases(leases, until_ms)))
    }

    fn release_lease(&self, lease: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.guard("releasing a lease", self.inner.release_lease(lease)))
    }

    fn spent(&self, keys: Vec<String>) -> BoxFuture<'_, Result<Vec<i64>>> {
        Box::pin(self.guard("reading spend", self.inner.spent(keys)))
    }

    fn charge(&self, entries: Vec<(String, i64)>) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.guard("charging spend", self.inner.charge(entries)))
    }

    fn reserve(&self, entries: Vec<(String, i64, i64)>) -> BoxFuture<'_, Result<bool>> {
        Box::pin(self.guard("reserving spend", self.inner.reserve(entries)))
    }

    fn cleanup(&self, now_ms: i64, logs_before_ms: Option<i64>) -> BoxFuture<'_, Result<u64>> {
        // Retention can take far longer than a request deadline, and runs in the background.
        self.inner.cleanup(now_ms, logs_before_ms)
    }
}

impl<S: ?Sized + ChannelStore> ChannelStore for Guarded<S> {
    fn list_channels(&self) -> BoxFuture<'_, Result<Vec<Channel>>> {
        self.inner.list_channels()
    }
    fn upsert_channel(&self, spec: ChannelSpec) -> BoxFuture<'_, Result<i64>> {
        self.inner.upsert_channel(spec)
    }
    fn delete_channel(&self, id: i64) -> BoxFuture<'_, Result<bool>> {
        self.inner.delete_channel(id)
    }
}

impl<S: ?Sized + TokenStore> TokenStore for Guarded<S> {
    fn list_tokens(&self) -> BoxFuture<'_, Result<Vec<ClientToken>>> {
        self.inner.list_tokens()
    }
    fn upsert_token(&self, spec: TokenSpec) -> BoxFuture<'_, Result<i64>> {
        self.inner.upsert_token(spec)
    }
}

impl<S: ?Sized + LogStore> LogStore for Guarded<S> {
    fn record(&self, row: RequestLog) {
        self.inner.record(row);
    }
    fn flush(&self) -> BoxFuture<'_, Result<()>> {
        self.inner.flush()
    }
    fn query_logs(&self, query: LogQuery) -> BoxFuture<'_, Result<Vec<RequestLog>>> {
        self.inner.query_logs(query)
    }
    fn queue_stats(&self) -> QueueStats {
        self.inner.queue_stats()
    }
}

impl<S: ?Sized + CooldownStore> CooldownStore for Guarded<S> {
    fn save_cooldown(&self, row: CooldownRow) {
        self.inner.save_cooldown(row);
    }
    fn clear_cooldown(&self, target: String) {
        self.inner.clear_cooldown(target);
    }
    fn active_cooldowns(&self, now_ms: i64) -> BoxFuture<'_, Result<Vec<CooldownRow>>> {
        self.inner.active_cooldowns(now_ms)
    }
    fn attempts(&self, request_id: String) -> BoxFuture<'_, Result<Vec<AttemptLog>>> {
        self.inner.attempts(request_id)
    }
}

impl<S: ?Sized + AdminStore> AdminStore for Guarded<S> {
    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        self.inner.ping()
    }
    fn list_settings(&self) -> BoxFuture<'_, Result<Vec<(String, String)>>> {
        self.inner.list_settings()
    }
    fn get_setting(&self, key: String) -> BoxFuture<'_, Result<Option<String>>> {
        self.inner.get_setting(key)
    }
    fn set_setting(&self, key: String, value: String) -> BoxFuture<'_, Result<()>> {
        self.inner.set_setting(key, value)
    }
    fn set_setting_if_absent(&self, key: String, value: String) -> BoxFuture<'_, Result<bool>> {
        self.inner.set_setting_if_absent(key, value)
    }
    fn delete_setting(&self, key: String) -> BoxFuture<'_, Result<bool>> {
        self.inner.delete_setting(key)
    }
    fn create_session(&self, session: AdminSession) -> BoxFuture<'_, Result<()>> {
        self.inner.create_session(session)
    }
    fn find_session(
        &self,
        token_hash: String,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<Option<AdminSession>>> {
        self.inner.find_session(token_hash, now_ms)
    }
    fn delete_session(&self, token_hash: String) -> BoxFuture<'_, Result<bool>> {
        self.inner.delete_session(token_hash)
    }
    fn delete_all_sessions(&self) -> BoxFuture<'_, Result<u64>> {
        self.inner.delete_all_sessions()
    }
    fn purge_sessions(&self, now_ms: i64) -> BoxFuture<'_, Result<u64>> {
        self.inner.purge_sessions(now_ms)
    }
    fn set_key_enabled(
        &self,
        channel_id: i64,
        key_index: u32,
        enabled: bool,
    ) -> BoxFuture<'_, Result<bool>> {
        self.inner.set_key_enabled(channel_id, key_index, enabled)
    }
    fn set_channel_enabled(&self, channel_id: i64, enabled: bool) -> BoxFuture<'_, Result<bool>> {
        self.inner.set_channel_enabled(channel_id, enabled)
    }
    fn delete_token(&self, id: i64) -> BoxFuture<'_, Result<bool>> {
        self.inner.delete_token(id)
    }
    fn search_logs(&self, filter: LogFilter) -> BoxFuture<'_, Result<LogPage>> {
        self.inner.search_logs(filter)
    }
    fn stats(&self, query: StatsQuery) -> BoxFuture<'_, Result<Vec<StatsRow>>> {
        self.inner.stats(query)
    }
}

impl<S: ?Sized + Store> Store for Guarded<S> {
    fn close(&self) -> BoxFuture<'_, Result<()>> {
        self.inner.close()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    use super::*;

    /// A stand-in for a database that is slow or failing on demand. It is not the database
    /// under test: the breaker and the deadline are.
    #[derive(Debug, Default)]
    struct Flaky {
        delay_ms: std::sync::atomic::AtomicU64,
        fail: AtomicBool,
        refuse: AtomicBool,
        calls: AtomicU32,
    }

    impl Flaky {
        fn answer<T: Send + 'static>(&self, v: T) -> BoxFuture<'_, Result<T>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                let delay = self.delay_ms.load(Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(delay)).await;
                if self.refuse.load(Ordering::SeqCst) {
                    return Err(Error::Invalid {
                        what: "key",
                        reason: "refused".to_owned(),
                    });
                }
                if self.fail.load(Ordering::SeqCst) {
                    return Err(Error::Closed);
                }
                Ok(v)
            })
        }
    }

    impl SharedState for Flaky {
        fn cooldowns_changed_since(
            &self,
            _: i64,
        ) -> BoxFuture<'_, Result<Vec<(CooldownRow, i64)>>> {
            self.answer(Vec::new())
        }
        fn try_rate(
            &self,
            _: String,
            _: u32,
            _: i64,
            _: i64,
        ) -> BoxFuture<'_, Result<Option<i64>>> {
            self.answer(None)
        }
        fn try_lease(
            &self,
            _: String,
            _: u32,
            _: String,
            _: i64,
            _: i64,
        ) -> BoxFuture<'_, Result<bool>> {
            self.answer(true)
        }
        fn renew_leases(&self, _: Vec<String>, _: i64) -> BoxFuture<'_, Result<()>> {
            self.answer(())
        }
        fn release_lease(&self, _: String) -> BoxFuture<'_, Result<()>> {
            self.answer(())
        }
        fn spent(&self, keys: Vec<String>) -> BoxFuture<'_, Result<Vec<i64>>> {
            self.answer(vec![7; keys.len()])
        }
        fn charge(&self, _: Vec<(String, i64)>) -> BoxFuture<'_, Result<()>> {
            self.answer(())
        }
        fn reserve(&self, _: Vec<(String, i64, i64)>) -> BoxFuture<'_, Result<bool>> {
            self.answer(true)
        }
        fn cleanup(&self, _: i64, _: Option<i64>) -> BoxFuture<'_, Result<u64>> {
            self.answer(0)
        }
    }

    fn guarded() -> (Arc<Flaky>, Guarded<Flaky>) {
        let flaky = Arc::new(Flaky::default());
        let g = Guarded::with_config(
            Arc::clone(&flaky),
            GuardConfig {
                deadline: Duration::from_millis(250),
                failure_threshold: 3,
                cool_off: Duration::from_secs(5),
            },
        );
        (flaky, g)
    }

    fn is_unavailable(r: &Result<impl std::fmt::Debug>, why: &str) -> bool {
        matches!(r, Err(Error::Unavailable { reason, .. }) if *reason == why)
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_store_answers_unavailable_at_the_deadline() {
        let (flaky, g) = guarded();
        flaky.delay_ms.store(10_000, Ordering::SeqCst);
        let start = Instant::now();
        let r = g.try_lease("k".into(), 1, "l".into(), 0, 0).await;
        assert!(is_unavailable(&r, "deadline passed"), "{r:?}");
        assert_eq!(start.elapsed(), Duration::from_millis(250));
        assert_eq!(g.stats().timeouts, 1);
        // Background sweeps are not held to the request deadline.
        assert_eq!(g.cleanup(0, None).await.unwrap(), 0);
        assert_eq!(start.elapsed(), Duration::from_millis(10_250));
    }

    #[tokio::test(start_paused = true)]
    async fn the_breaker_opens_probes_and_closes() {
        let (flaky, g) = guarded();
        flaky.fail.store(true, Ordering::SeqCst);
        for _ in 0..3 {
            assert!(matches!(
                g.spent(vec!["a".into()]).await,
                Err(Error::Closed)
            ));
        }
        assert_eq!(g.breaker_state(), BreakerState::Open);
        assert_eq!(g.stats().opened, 1);
        // Open: refused at once, the store is not called.
        let r = g.spent(vec!["a".into()]).await;
        assert!(is_unavailable(&r, "circuit breaker open"), "{r:?}");
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 3);
        assert_eq!(g.stats().rejected, 1);

        // After the cool-off one probe goes through; it fails, so the breaker opens again.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(g.breaker_state(), BreakerState::HalfOpen);
        assert!(matches!(g.charge(vec![]).await, Err(Error::Closed)));
        assert_eq!(g.breaker_state(), BreakerState::Open);
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 4);

        // Next probe: while it is in flight, other calls are still refused; it succeeds and
        // closes the breaker.
        tokio::time::advance(Duration::from_secs(5)).await;
        flaky.fail.store(false, Ordering::SeqCst);
        flaky.delay_ms.store(100, Ordering::SeqCst);
        let (probe, other) = tokio::join!(g.spent(vec!["a".into()]), async {
            tokio::task::yield_now().await;
            g.try_rate("k".into(), 1, 1000, 0).await
        });
        assert_eq!(probe.unwrap(), vec![7]);
        assert!(is_unavailable(&other, "circuit breaker open"), "{other:?}");
        assert_eq!(g.breaker_state(), BreakerState::Closed);
        assert_eq!(g.try_rate("k".into(), 1, 1000, 0).await.unwrap(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_probe_does_not_wedge_the_breaker() {
        let (flaky, g) = guarded();
        flaky.delay_ms.store(10_000, Ordering::SeqCst);
        for _ in 0..3 {
            let r = g.release_lease("l".into()).await;
            assert!(is_unavailable(&r, "deadline passed"), "{r:?}");
        }
        assert_eq!(g.breaker_state(), BreakerState::Open);
        tokio::time::advance(Duration::from_secs(5)).await;
        // The caller gives up on the probe half-way.
        let gave_up =
            tokio::time::timeout(Duration::from_millis(10), g.release_lease("l".into())).await;
        assert!(gave_up.is_err());
        // The next call is a probe again (not refused as if one were still in flight).
        flaky.delay_ms.store(0, Ordering::SeqCst);
        g.release_lease("l".into()).await.unwrap();
        assert_eq!(g.breaker_state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_of_the_input_do_not_trip_the_breaker() {
        let (flaky, g) = guarded();
        flaky.refuse.store(true, Ordering::SeqCst);
        for _ in 0..10 {
            assert!(matches!(
                g.renew_leases(vec![], 0).await,
                Err(Error::Invalid { .. })
            ));
        }
        assert_eq!(g.breaker_state(), BreakerState::Closed);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn guards_a_real_sqlite_store_behind_dyn_store() {
        let dir = std::env::temp_dir().join(format!(
            "relaygate-guarded-{}-{}",
            std::process::id(),
            crate::sqlite::now_ms()
        ));
        let sqlite: Arc<dyn Store> =
            Arc::new(crate::SqliteStore::open(dir.join("db.sqlite")).unwrap());
        // The wrapper is itself a Store, so the proxy can hold it as `Arc<dyn Store>`.
        let store: Arc<dyn Store> = Arc::new(Guarded::with_config(
            sqlite,
            GuardConfig::with_request_deadline_ms(2_000),
        ));
        let now = crate::sqlite::now_ms();
        assert!(
            store
                .try_lease("tok:1".into(), 1, "a".into(), now + 60_000, now)
                .await
                .unwrap()
        );
        assert!(
            !store
                .try_lease("tok:1".into(), 1, "b".into(), now + 60_000, now)
                .await
                .unwrap()
        );
        store.release_lease("a".into()).await.unwrap();
        assert!(
            store
                .try_lease("tok:1".into(), 1, "b".into(), now + 60_000, now)
                .await
                .unwrap()
        );
        assert_eq!(
            store.try_rate("r".into(), 1, 60_000, now).await.unwrap(),
            None
        );
        assert!(
            store
                .try_rate("r".into(), 1, 60_000, now)
                .await
                .unwrap()
                .is_some()
        );
        store.charge(vec![("budget:1".into(), 250)]).await.unwrap();
        assert_eq!(
            store
                .spent(vec!["budget:1".into(), "none".into()])
                .await
                .unwrap(),
            vec![250, 0]
        );
        assert!(store.list_channels().await.unwrap().is_empty());
        store.close().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
