use std::time::Duration;

/// Timeouts applied to upstream calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP (and TLS) connect.
    pub connect: Duration,
    /// From sending the request to the first body byte of the answer.
    pub first_byte: Duration,
    /// Longest silence between two body frames once the answer streams.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(120),
            idle: Duration::from_secs(300),
        }
    }
}

/// Limits on what a client may hold: time to send its request, silence while sending the
/// body or reading the answer, and HTTP/2 liveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Time to send the request head (HTTP/1.1); also how long an idle keep-alive connection
    /// waits for its next request.
    pub header: Duration,
    /// Longest silence while reading a request body (then 408 in the client's protocol).
    pub body: Duration,
    /// Longest time for a whole request body, however steadily it drips (then 408).
    pub body_total: Duration,
    /// A client that reads nothing of its answer for this long is dropped and its upstream
    /// request cancelled.
    pub write: Duration,
    /// Interval of HTTP/2 keep-alive pings.
    pub http2_keepalive: Duration,
    /// An HTTP/2 connection whose peer does not answer a ping within this is closed.
    pub http2_keepalive_timeout: Duration,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            header: Duration::from_secs(10),
            body: Duration::from_secs(30),
            body_total: Duration::from_secs(300),
            write: Duration::from_secs(60),
            http2_keepalive: Duration::from_secs(30),
            http2_keepalive_timeout: Duration::from_secs(20),
        }
    }
}

/// First cooldown intervals by kind of failure; each repeat doubles up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CooldownConfig {
    /// A key refused (401/403/402).
    pub auth: Duration,
    /// A key or channel rate-limited (429) without a usable `retry-after`.
    pub rate_limit: Duration,
    /// A channel or URL failing (5xx, connect error).
    pub server: Duration,
    /// A timeout (connect, first byte, idle).
    pub timeout: Duration,
    /// A key whose quota is exhausted (when the upstream names no reset time).
    pub quota: Duration,
    /// A model a channel says it does not have (404 model not found, 410).
    pub model: Duration,
    /// The cap on any cooldown.
    pub max: Duration,
}

impl Default for CooldownConfig {
    fn default() -> Self {
        CooldownConfig {
            auth: Duration::from_secs(300),
            rate_limit: Duration::from_secs(60),
            server: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
            quota: Duration::from_secs(1800),
            model: Duration::from_secs(600),
            max: Duration::from_secs(1800),
        }
    }
}

/// How candidates are chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingConfig {
    /// Match a model a channel does not list exactly by substring (newest wins).
    pub fuzzy_models: bool,
    /// The offset of local time from UTC, in minutes, for channel availability hours.
    pub utc_offset_minutes: i32,
    /// Priority points a channel loses at health score 0.
    pub health_penalty: f64,
    /// The window health is measured over.
    pub health_window: Duration,
    /// Bytes of a 2xx answer held back while looking for a soft error before the first content.
    pub hold_bytes: usize,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            fuzzy_models: false,
            utc_offset_minutes: 0,
            health_penalty: 100.0,
            health_window: Duration::from_secs(30 * 60),
            hold_bytes: 256 * 1024,
        }
    }
}

/// Settings of the proxy core.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyConfig {
    /// Largest accepted request body in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Upstream timeouts.
    pub timeouts: Timeouts,
    /// Cooldown intervals.
    pub cooldown: CooldownConfig,
    /// Candidate choice.
    pub routing: RoutingConfig,
    /// Keys tried per channel per request at most.
    pub max_keys_per_channel: usize,
    /// How long a graceful shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// Price table entries (TOML, the format of `relaygate-tokens`' built-in table) that
    /// override or extend the built-in prices.
    pub price_overrides: Option<String>,
    /// Request logs older than this many days are deleted (0 keeps them forever).
    pub log_retention_days: u32,
    /// Cost multipliers and budgets per channel and token, by name.
    pub budgets: Budgets,
    /// Client-side timeouts.
    pub client: ClientLimits,
    /// Client connections served at once; more wait in the accept backlog.
    pub max_connections: usize,
    /// Channels (by name) whose upstream rate-limit headers are passed back to clients.
    pub rate_limit_header_channels: std::collections::HashSet<String>,
    /// Log rows written per minute for refused (unauthenticated) requests, in total.
    pub refused_rows_per_minute: u32,
    /// Log rows written per minute for refused requests from one client IP.
    pub refused_rows_per_ip_per_minute: u32,
    /// What concurrency and rate limits do while the shared store can't answer in time.
    pub when_store_unavailable: crate::WhenUnavailable,
    /// What a request for a model without a price does (`[pricing] unpriced`).
    pub unpriced: UnpricedPolicy,
    /// The price entry (TOML, one model's fields) of `unpriced = "default"`.
    pub default_price: Option<String>,
}

/// `[pricing] unpriced`: what a request for a model that has no price does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnpricedPolicy {
    /// Served and logged as unpriced (cost unknown, never zero); the warning says which model.
    #[default]
    Record,
    /// Channels whose model has no price are not used; with none left the request is refused.
    Refuse,
    /// Billed at `[pricing] default_price`.
    Default,
}

/// A channel's money settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelBudget {
    /// Cost recorded for this channel's requests, in thousandths of the list price (1000 = 1×).
    pub cost_multiplier_permille: u32,
    /// Spend per UTC day after which the channel is skipped, micro-dollars (0 = none).
    pub daily_limit_micro_usd: i64,
}

impl Default for ChannelBudget {
    fn default() -> Self {
        ChannelBudget {
            cost_multiplier_permille: 1000,
            daily_limit_micro_usd: 0,
        }
    }
}

/// A client token's spending limits, micro-dollars (0 = none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenBudget {
    /// Over the token's whole life.
    pub lifetime_micro_usd: i64,
    /// Per UTC day.
    pub daily_micro_usd: i64,
    /// Per UTC calendar month.
    pub monthly_micro_usd: i64,
    /// Whether the token may spend on models without a price (whose cost no budget can see).
    pub allow_unpriced: bool,
}

/// Budgets by channel and token name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Budgets {
    /// By channel name.
    pub channels: std::collections::HashMap<String, ChannelBudget>,
    /// By token name.
    pub tokens: std::collections::HashMap<String, TokenBudget>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            max_body_bytes: 10 * 1024 * 1024,
            timeouts: Timeouts::default(),
            cooldown: CooldownConfig::default(),
            routing: RoutingConfig::default(),
            max_keys_per_channel: 3,
            shutdown_grace: Duration::from_secs(30),
            price_overrides: None,
            log_retention_days: 30,
            budgets: Budgets::default(),
            client: ClientLimits::default(),
            max_connections: 10_000,
            rate_limit_header_channels: std::collections::HashSet::new(),
            when_store_unavailable: crate::WhenUnavailable::Refuse,
            refused_rows_per_minute: 600,
            refused_rows_per_ip_per_minute: 60,
            unpriced: UnpricedPolicy::Record,
            default_price: None,
        }
    }
}
