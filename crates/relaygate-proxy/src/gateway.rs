use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use std::collections::HashMap;

use relaygate_health::{
    ChannelSelector, CooldownBook, CooldownState, HealthBook, HealthConfig, UrlBook,
};
use relaygate_store::{CooldownRow, Store};

use crate::clock::Clock;
use crate::config::ProxyConfig;
use crate::table::RoutingTable;
use crate::upstream::{UpstreamClient, build_client};

/// Something that can cool down.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    /// A whole channel.
    Channel(i64),
    /// One key of a channel (by index).
    Key(i64, u32),
    /// One base URL of a channel (by position).
    Url(i64, usize),
    /// One upstream model of a channel.
    Model(i64, String),
}

impl Target {
    /// The stored form (`channel:3`, `key:3:1`, `url:3:0`, `model:3:name`).
    pub fn encode(&self) -> String {
        match self {
            Target::Channel(c) => format!("channel:{c}"),
            Target::Key(c, k) => format!("key:{c}:{k}"),
            Target::Url(c, u) => format!("url:{c}:{u}"),
            Target::Model(c, m) => format!("model:{c}:{m}"),
        }
    }

    /// Parses the stored form.
    pub fn decode(s: &str) -> Option<Target> {
        let mut it = s.splitn(3, ':');
        let kind = it.next()?;
        let id: i64 = it.next()?.parse().ok()?;
        let rest = it.next();
        Some(match (kind, rest) {
            ("channel", None) => Target::Channel(id),
            ("key", Some(k)) => Target::Key(id, k.parse().ok()?),
            ("url", Some(u)) => Target::Url(id, u.parse().ok()?),
            ("model", Some(m)) => Target::Model(id, m.to_owned()),
            _ => return None,
        })
    }

    /// The scope name shown in attempt logs.
    pub fn scope(&self) -> &'static str {
        match self {
            Target::Channel(_) => "channel",
            Target::Key(..) => "key",
            Target::Url(..) => "url",
            Target::Model(..) => "model",
        }
    }
}

/// The installed side handler, if any.
#[derive(Default)]
pub(crate) struct SideCell(std::sync::OnceLock<crate::SideHandler>);

impl SideCell {
    pub fn get(&self) -> Option<&crate::SideHandler> {
        self.0.get()
    }
}

impl std::fmt::Debug for SideCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "SideCell(set)"
        } else {
            "SideCell(empty)"
        })
    }
}

/// A cooldown as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CooldownView {
    /// Stored form (`channel:3`, `key:3:1`, `url:3:0`, `model:3:name`).
    pub target: String,
    /// `channel`, `key`, `url` or `model`.
    pub scope: &'static str,
    /// The channel it belongs to.
    pub channel_id: i64,
    /// Until when, unix ms.
    pub until_ms: u64,
    /// How long from now.
    pub remaining_ms: u64,
    /// Failures in a row.
    pub failures: u32,
}

/// Routing state that changes with every request; guarded by one short-lived lock that is
/// never held across an await.
#[derive(Debug, Default)]
pub(crate) struct Health {
    pub cooldowns: CooldownBook<Target>,
    pub selector: ChannelSelector,
    pub scores: HealthBook,
    pub urls: UrlBook,
    /// When this instance last changed each cooldown (unix ms), so an older row read back
    /// from the shared store never undoes a newer local decision.
    pub local_changes: HashMap<Target, u64>,
    /// Round-robin key cursors per channel.
    pub key_cursor: HashMap<i64, usize>,
}

/// Something counted in flight, released on drop.
#[derive(Debug)]
pub(crate) enum Slot {
    /// A lease in the shared store, by id.
    Lease(String),
    /// A slot of this instance's fallback counters, by limit key (the store was away).
    Local(String),
}

/// Holds in-flight slots and releases them when dropped (at the end of the response).
#[derive(Debug)]
pub(crate) struct SlotGuard {
    inner: Arc<Inner>,
    slots: Vec<Slot>,
}

impl SlotGuard {
    pub fn new(inner: Arc<Inner>) -> Self {
        SlotGuard {
            inner,
            slots: Vec::new(),
        }
    }

    pub fn push(&mut self, slot: Slot) {
        self.slots.push(slot);
    }

    /// Releases the slots now and waits until the store has them back, so the next attempt
    /// of the same request can take them again.
    pub async fn release(mut self) {
        for slot in std::mem::take(&mut self.slots) {
            match slot {
                Slot::Lease(id) => {
                    if let Ok(mut held) = self.inner.held_leases.lock() {
                        held.remove(&id);
                    }
                    if let Err(e) = self.inner.store.release_lease(id).await {
                        tracing::warn!(error = %e, "releasing a lease failed");
                    }
                }
                Slot::Local(key) => self.inner.local_limits.release(&key),
            }
        }
    }

    /// Releases every slot now, off the request path (the store calls run in the background).
    pub fn release_now(&mut self) {
        for slot in std::mem::take(&mut self.slots) {
            match slot {
                Slot::Lease(id) => self.inner.release_lease(id),
                Slot::Local(key) => self.inner.local_limits.release(&key),
            }
        }
    }

    /// Takes over the slots of `other`.
    pub fn absorb(&mut self, mut other: SlotGuard) {
        self.slots.append(&mut other.slots);
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.release_now();
    }
}

/// Log rows of refused (unauthenticated) requests in the current minute: capped per client IP
/// and in total, so a flood writes a bounded number of rows. The map holds at most as many
/// addresses as the total cap.
#[derive(Debug, Default)]
pub(crate) struct RefusalBook {
    minute: u64,
    total: u32,
    per_ip: HashMap<std::net::IpAddr, u32>,
}

impl RefusalBook {
    /// Whether one more refused row may be written now.
    pub fn admit(
        &mut self,
        ip: Option<std::net::IpAddr>,
        now_ms: u64,
        per_ip_cap: u32,
        total_cap: u32,
    ) -> bool {
        let minute = now_ms / 60_000;
        if minute != self.minute {
            self.minute = minute;
            self.total = 0;
            self.per_ip.clear();
        }
        if self.total >= total_cap {
            return false;
        }
        if let Some(ip) = ip {
            let n = self.per_ip.entry(ip).or_default();
            if *n >= per_ip_cap {
                return false;
            }
            *n += 1;
        }
        self.total += 1;
        true
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub config: ProxyConfig,
    pub store: Arc<dyn Store>,
    table: RwLock<Arc<RoutingTable>>,
    pub health: Mutex<Health>,
    pub client: UpstreamClient,
    pub clock: Clock,
    pub prices: crate::prices::PriceBook,
    pub observer: crate::observe::Observer,
    pub side: SideCell,
    unpriced_warned: Mutex<std::collections::HashSet<String>>,
    instance: u64,
    seq: AtomicU64,
    rng: AtomicU64,
    held_leases: Mutex<std::collections::HashSet<String>>,
    shutting_down: std::sync::atomic::AtomicBool,
    refusals: Mutex<RefusalBook>,
    /// Fallback counters while the shared store is away (`when_unavailable = "local"`).
    pub local_limits: crate::fallback::LocalLimits,
}

/// How long a lease lasts without renewal; an instance that dies frees its slots after this.
pub(crate) const LEASE_TTL_MS: u64 = 60_000;

impl Inner {
    pub fn table(&self) -> Arc<RoutingTable> {
        match self.table.read() {
            Ok(t) => Arc::clone(&t),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Runs `f` with the health state locked.
    pub fn with_health<T>(&self, f: impl FnOnce(&mut Health) -> T) -> T {
        match self.health.lock() {
            Ok(mut h) => f(&mut h),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Takes a concurrency slot on `key` (channel or token): a lease in the shared store, or,
    /// when the store can't answer and the operator chose `local`, a slot of this instance's
    /// counters. `Ok(None)` when the limit is reached.
    pub async fn take_slot(
        &self,
        key: String,
        limit: u32,
    ) -> Result<Option<Slot>, relaygate_store::Error> {
        match self.take_lease(&key, limit).await {
            Ok(lease) => Ok(lease.map(Slot::Lease)),
            Err(e) if self.config.when_store_unavailable == crate::WhenUnavailable::Local => {
                tracing::debug!(error = %e, %key, "store away: concurrency counted locally");
                Ok(self
                    .local_limits
                    .try_lease(&key, limit)
                    .then_some(Slot::Local(key)))
            }
            Err(e) => Err(e),
        }
    }

    /// Takes a slot of the rolling window on `key` (see [`Store::try_rate`]), falling back to
    /// this instance's counters like [`Inner::take_slot`].
    pub async fn try_rate(
        &self,
        key: String,
        limit: u32,
        window_ms: u64,
        now_ms: u64,
    ) -> Result<Option<u64>, relaygate_store::Error> {
        let window = i64::try_from(window_ms).unwrap_or(i64::MAX);
        let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
        match self.store.try_rate(key.clone(), limit, window, now).await {
            Ok(wait) => Ok(wait.map(|ms| u64::try_from(ms).unwrap_or(1_000))),
            Err(e) if self.config.when_store_unavailable == crate::WhenUnavailable::Local => {
                tracing::debug!(error = %e, %key, "store away: rate counted locally");
                Ok(self.local_limits.try_rate(&key, limit, window_ms, now_ms))
            }
            Err(e) => Err(e),
        }
    }

    /// Takes a lease on `key` in the shared store. `Ok(None)` when the limit is reached.
    async fn take_lease(
        &self,
        key: &str,
        limit: u32,
    ) -> Result<Option<String>, relaygate_store::Error> {
        let id = format!(
            "{:016x}-{:x}",
            self.instance,
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        let now = self.clock.now_ms();
        let until = now.saturating_add(LEASE_TTL_MS);
        let taken = self
            .store
            .try_lease(
                key.to_owned(),
                limit,
                id.clone(),
                i64::try_from(until).unwrap_or(i64::MAX),
                i64::try_from(now).unwrap_or(i64::MAX),
            )
            .await?;
        if !taken {
            return Ok(None);
        }
        if let Ok(mut held) = self.held_leases.lock() {
            held.insert(id.clone());
        }
        Ok(Some(id))
    }

    /// Gives a lease back, off the request path.
    /// Leases this instance holds (renewed in the background while their requests run).
    pub fn held_leases(&self) -> Vec<String> {
        self.held_leases
            .lock()
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn release_lease(self: &Arc<Self>, id: String) {
        if let Ok(mut held) = self.held_leases.lock() {
            held.remove(&id);
        }
        let me = Arc::clone(self);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = me.store.release_lease(id).await {
                    // The lease expires on its own; only the slot is held a little longer.
                    tracing::warn!(error = %e, "releasing a lease failed");
                }
            });
        }
    }

    /// Whether a refused request from `ip` may still write a log row this minute.
    pub fn admit_refusal_row(&self, ip: Option<std::net::IpAddr>, now_ms: u64) -> bool {
        let (per_ip, total) = (
            self.config.refused_rows_per_ip_per_minute,
            self.config.refused_rows_per_minute,
        );
        match self.refusals.lock() {
            Ok(mut book) => book.admit(ip, now_ms, per_ip, total),
            Err(p) => p.into_inner().admit(ip, now_ms, per_ip, total),
        }
    }

    /// Writes a cooldown through to the store so it survives a restart.
    pub fn persist_cooldown(&self, target: &Target, state: CooldownState, reason: &str) {
        self.store.save_cooldown(CooldownRow {
            target: target.encode(),
            until_ms: i64::try_from(state.until_ms).unwrap_or(i64::MAX),
            interval_ms: i64::try_from(state.interval_ms).unwrap_or(i64::MAX),
            failures: state.failures,
            reason: reason.to_owned(),
        });
    }

    /// Logs once per model that it has no price, so its requests are marked unpriced rather
    /// than silently free.
    pub fn warn_unpriced(&self, model: &str) {
        let first = match self.unpriced_warned.lock() {
            Ok(mut set) => set.insert(model.to_owned()),
            Err(_) => false,
        };
        if first {
            tracing::warn!(%model, "model has no price: its requests are logged as unpriced (add it to the price table)");
        }
    }

    /// Logs once per model that an upstream reported a service tier relaygate does not know:
    /// those requests are billed at standard, and the operator should say what the tier costs.
    pub fn warn_unknown_tier(&self, model: &str) {
        let first = match self.unpriced_warned.lock() {
            Ok(mut set) => set.insert(format!("tier:{model}")),
            Err(_) => false,
        };
        if first {
            tracing::warn!(%model, "the upstream reported an unknown service tier: billed at the standard price (add the tier to the model's price entry)");
        }
    }

    /// A cheap pseudo-random number (splitmix64 over a counter), for URL choice.
    pub fn random(&self) -> u64 {
        let mut z = self.rng.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A request id unique across instances and restarts: instance nonce, then a counter.
    pub fn next_request_id(&self) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}{:08x}", self.instance, n)
    }
}

/// The gateway: configuration, store, routing table, health state and the upstream client.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub(crate) inner: Arc<Inner>,
}

impl Gateway {
    /// Builds a gateway and loads its routing table from the store.
    pub async fn new(config: ProxyConfig, store: Arc<dyn Store>) -> Result<Self, crate::Error> {
        let client = build_client(&config.timeouts)?;
        let mut nonce = [0u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce).map_err(
            |_| {
                crate::Error::Config("the system random number generator is unavailable".to_owned())
            },
        )?;
        // The operator's stored table is read once the store is known to answer (below).
        let prices = crate::prices::PriceBook::new(crate::prices::build(&config, None)?);
        let scores = HealthBook::new(HealthConfig {
            penalty: config.routing.health_penalty,
            window_ms: u64::try_from(config.routing.health_window.as_millis()).unwrap_or(u64::MAX),
            ..HealthConfig::default()
        });
        let gw = Gateway {
            inner: Arc::new(Inner {
                config,
                store,
                table: RwLock::new(Arc::new(RoutingTable::default())),
                health: Mutex::new(Health {
                    scores,
                    ..Health::default()
                }),
                client,
                clock: Clock::new(),
                prices,
                observer: crate::observe::Observer::default(),
                side: SideCell::default(),
                unpriced_warned: Mutex::new(std::collections::HashSet::new()),
                instance: u64::from_le_bytes(nonce),
                seq: AtomicU64::new(0),
                rng: AtomicU64::new(u64::from_le_bytes(nonce).rotate_left(17)),
                held_leases: Mutex::new(std::collections::HashSet::new()),
                shutting_down: std::sync::atomic::AtomicBool::new(false),
                refusals: Mutex::new(RefusalBook::default()),
                local_limits: crate::fallback::LocalLimits::default(),
            }),
        };
        gw.reload().await?;
        gw.restore_cooldowns().await?;
        if let Err(e) = gw.reload_prices().await {
            // The built-in and configured prices stay in force; the stored table is retried.
            tracing::warn!(error = %e, "the stored price table was not put in force");
        }
        crate::background::spawn(&gw.inner);
        Ok(gw)
    }

    /// Rebuilds the routing table from the store; takes effect for the next request.
    pub async fn reload(&self) -> Result<(), crate::Error> {
        let channels = self.inner.store.list_channels().await?;
        let tokens = self.inner.store.list_tokens().await?;
        let table = Arc::new(RoutingTable::build(channels, tokens));
        match self.inner.table.write() {
            Ok(mut t) => *t = table,
            Err(p) => *p.into_inner() = table,
        }
        self.inner.with_health(|h| h.selector.reset());
        Ok(())
    }

    /// Loads the cooldowns still running from the store, so a restart does not send traffic
    /// back to a key or channel that was found failing.
    async fn restore_cooldowns(&self) -> Result<(), crate::Error> {
        let now = self.inner.clock.now_ms();
        let rows = self
            .inner
            .store
            .active_cooldowns(i64::try_from(now).unwrap_or(i64::MAX))
            .await?;
        let n = rows.len();
        self.inner.with_health(|h| {
            for row in rows {
                if let Some(target) = Target::decode(&row.target) {
                    h.cooldowns.restore(
                        target,
                        CooldownState {
                            until_ms: u64::try_from(row.until_ms).unwrap_or(0),
                            interval_ms: u64::try_from(row.interval_ms).unwrap_or(0),
                            failures: row.failures,
                        },
                    );
                }
            }
        });
        if n > 0 {
            tracing::info!(cooldowns = n, "restored cooldowns from the store");
        }
        Ok(())
    }

    /// Installs the handler for every request that is not an API call of one of the four
    /// protocols (the admin API, the dashboard, `/metrics`, health checks). Only the first call
    /// takes effect.
    pub fn set_side_handler(&self, handler: crate::SideHandler) {
        let _ = self.inner.side.0.set(handler);
    }

    /// Whether a graceful shutdown has begun: long-lived side responses (live streams) should
    /// end so the drain does not wait for them.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Relaxed)
    }

    pub(crate) fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Relaxed);
    }

    /// Requests in flight right now, oldest first.
    pub fn active_requests(&self) -> Vec<crate::observe::ActiveRequest> {
        self.inner.observer.active()
    }

    /// The counters since start (for `/metrics`).
    pub fn observer(&self) -> &crate::observe::Observer {
        &self.inner.observer
    }

    /// Everything cooling right now.
    pub fn cooldowns(&self) -> Vec<CooldownView> {
        let now = self.inner.clock.now_ms();
        let mut out: Vec<CooldownView> = self.inner.with_health(|h| {
            h.cooldowns
                .cooling(now)
                .map(|(t, s)| CooldownView {
                    target: t.encode(),
                    scope: t.scope(),
                    channel_id: match t {
                        Target::Channel(c)
                        | Target::Key(c, _)
                        | Target::Url(c, _)
                        | Target::Model(c, _) => *c,
                    },
                    until_ms: s.until_ms,
                    remaining_ms: s.until_ms.saturating_sub(now),
                    failures: s.failures,
                })
                .collect()
        });
        out.sort_by(|a, b| a.target.cmp(&b.target));
        out
    }

    /// Ends a cooldown now (from the admin API). Returns whether it existed.
    pub fn clear_cooldown(&self, target: &str) -> bool {
        let Some(t) = Target::decode(target) else {
            return false;
        };
        let existed = self.inner.with_health(|h| h.cooldowns.succeed(&t));
        self.inner.store.clear_cooldown(target.to_owned());
        existed
    }

    /// The current routing table.
    pub fn table(&self) -> Arc<RoutingTable> {
        self.inner.table()
    }

    /// Concurrency leases this instance holds right now (one per limited request in flight
    /// and limit); zero when nothing is in flight.
    pub fn leases_held(&self) -> usize {
        let local = self.inner.local_limits.leases_held() as usize;
        local + self.inner.held_leases.lock().map_or(0, |h| h.len())
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The proxy configuration.
    pub fn config(&self) -> &ProxyConfig {
        &self.inner.config
    }
}
