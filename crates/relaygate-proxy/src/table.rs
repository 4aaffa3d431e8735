//! The routing table: an immutable snapshot of enabled channels and tokens, indexed for the
//! hot path. A new snapshot replaces the old one atomically when the configuration changes.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use relaygate_health::{DailyWindow, fuzzy_pick};
use relaygate_protocol::Protocol;
use relaygate_store::{Channel, ClientToken, KeyStrategy};

/// One usable key of a channel.
#[derive(Clone)]
pub struct KeyEntry {
    /// Index in the channel's key list (what logs show).
    pub index: u32,
    /// The upstream credential.
    pub secret: String,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("index", &self.index)
            .field("secret", &crate::auth::mask(&self.secret))
            .finish()
    }
}

/// An enabled channel as the hot path needs it.
#[derive(Debug)]
pub struct ChannelEntry {
    /// Store id.
    pub id: i64,
    /// Name, for logs.
    pub name: String,
    /// The protocol its upstream speaks.
    pub protocol: Protocol,
    /// Base URLs without a trailing slash.
    pub base_urls: Vec<String>,
    /// Enabled keys, in order.
    pub keys: Vec<KeyEntry>,
    /// Client model name -> upstream model name.
    pub models: HashMap<String, String>,
    /// Higher first.
    pub priority: i64,
    /// Share inside its priority.
    pub weight: u32,
    /// Key order.
    pub key_strategy: KeyStrategy,
    /// Requests per rolling minute (0 = unlimited).
    pub rpm: u32,
    /// Requests in flight at once (0 = unlimited).
    pub max_concurrency: u32,
    /// Hours the channel may be used.
    pub window: Option<DailyWindow>,
}

/// A client token as the hot path needs it.
#[derive(Debug, Clone)]
pub struct TokenEntry {
    /// Store id.
    pub id: i64,
    /// Name (budgets are configured by name).
    pub name: String,
    /// Expiry, unix ms.
    pub expires_at_ms: Option<i64>,
    /// Models it may use, lowercased (empty = any).
    pub allowed_models: Vec<String>,
    /// Channel names it may use (empty = any).
    pub allowed_channels: Vec<String>,
    /// Requests in flight at once (0 = unlimited).
    pub max_concurrency: u32,
}

impl TokenEntry {
    /// Whether the token may ask for `model`.
    pub fn allows_model(&self, model: &str) -> bool {
        self.allowed_models.is_empty()
            || self
                .allowed_models
                .iter()
                .any(|m| m.eq_ignore_ascii_case(model))
    }

    /// Whether the token may use channel `name`.
    pub fn allows_channel(&self, name: &str) -> bool {
        self.allowed_channels.is_empty() || self.allowed_channels.iter().any(|c| c == name)
    }
}

/// Snapshot of what routing needs.
#[derive(Debug, Default)]
pub struct RoutingTable {
    channels: Vec<Arc<ChannelEntry>>,
    by_model: HashMap<String, Vec<usize>>,
    tokens: HashMap<String, TokenEntry>,
}

impl RoutingTable {
    /// Builds a table from stored rows; disabled channels, keys and tokens are left out.
    pub fn build(channels: Vec<Channel>, tokens: Vec<ClientToken>) -> Self {
        let mut table = RoutingTable::default();
        for c in channels.into_iter().filter(|c| c.enabled) {
            let keys: Vec<KeyEntry> = c
                .keys
                .into_iter()
                .filter(|k| k.enabled)
                .map(|k| KeyEntry {
                    index: k.index,
                    secret: k.secret,
                })
                .collect();
            if keys.is_empty() || c.base_urls.is_empty() {
                tracing::warn!(channel = %c.name, "channel has no enabled key or no URL; skipped");
                continue;
            }
            let idx = table.channels.len();
            let mut models = HashMap::new();
            for m in &c.models {
                models.insert(m.name.clone(), m.upstream_name().to_owned());
                table.by_model.entry(m.name.clone()).or_default().push(idx);
            }
            table.channels.push(Arc::new(ChannelEntry {
                id: c.id,
                name: c.name,
                protocol: c.protocol,
                base_urls: c
                    .base_urls
                    .iter()
                    .map(|u| u.trim_end_matches('/').to_owned())
                    .collect(),
                keys,
                models,
                priority: c.priority,
                weight: c.weight,
                key_strategy: c.limits.key_strategy,
                rpm: c.limits.rpm,
                max_concurrency: c.limits.max_concurrency,
                window: c
                    .limits
                    .available_hours
                    .as_deref()
                    .and_then(DailyWindow::parse),
            }));
        }
        for t in tokens.into_iter().filter(|t| t.enabled) {
            table.tokens.insert(
                t.token_hash,
                TokenEntry {
                    id: t.id,
                    name: t.name,
                    expires_at_ms: t.expires_at_ms,
                    allowed_models: t.limits.allowed_models,
                    allowed_channels: t.limits.allowed_channels,
                    max_concurrency: t.limits.max_concurrency,
                },
            );
        }
        table
    }

    /// Enabled channels that serve `model`, whatever protocol they speak (the proxy
    /// translates when it differs from the client's).
    pub fn candidates(&self, model: &str) -> Vec<Arc<ChannelEntry>> {
        self.by_model
            .get(model)
            .map(|ids| ids.iter().map(|&i| Arc::clone(&self.channels[i])).collect())
            .unwrap_or_default()
    }

    /// Channels whose model names contain `model` (case-insensitive), each with the newest
    /// matching model name it lists.
    pub fn fuzzy_candidates(&self, model: &str) -> Vec<(Arc<ChannelEntry>, String)> {
        self.channels
            .iter()
            .filter_map(|c| {
                let names: Vec<&str> = c.models.keys().map(String::as_str).collect();
                fuzzy_pick(&names, model).map(|m| (Arc::clone(c), m.to_owned()))
            })
            .collect()
    }

    /// Whether some enabled channel lists `model` (metric labels keep only such names).
    pub fn serves(&self, model: &str) -> bool {
        self.by_model.contains_key(model)
    }

    /// The token with this hash, if enabled.
    pub fn token(&self, hash: &str) -> Option<&TokenEntry> {
        self.tokens.get(hash)
    }

    /// Whether any token exists at all.
    pub fn has_tokens(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Number of usable channels.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Sorted model names of all enabled channels (every client can reach every channel).
    pub fn models(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self.by_model.keys().map(String::as_str).collect();
        set.into_iter().map(str::to_owned).collect()
    }
}
