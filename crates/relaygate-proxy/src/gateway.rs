use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use relaygate_health::{ChannelSelector, CooldownBook};
use relaygate_store::Store;

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
}

/// Routing state that changes with every request; guarded by one short-lived lock that is
/// never held across an await.
#[derive(Debug, Default)]
pub(crate) struct Health {
    pub cooldowns: CooldownBook<Target>,
    pub selector: ChannelSelector,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub config: ProxyConfig,
    pub store: Arc<dyn Store>,
    table: RwLock<Arc<RoutingTable>>,
    pub health: Mutex<Health>,
    pub client: UpstreamClient,
    pub clock: Clock,
    instance: u64,
    seq: AtomicU64,
}

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
            |_| crate::Error::Channel {
                name: String::new(),
                reason: "no system randomness".to_owned(),
            },
        )?;
        let gw = Gateway {
            inner: Arc::new(Inner {
                config,
                store,
                table: RwLock::new(Arc::new(RoutingTable::default())),
                health: Mutex::new(Health::default()),
                client,
                clock: Clock::new(),
                instance: u64::from_le_bytes(nonce),
                seq: AtomicU64::new(0),
            }),
        };
        gw.reload().await?;
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

    /// The current routing table.
    pub fn table(&self) -> Arc<RoutingTable> {
        self.inner.table()
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
