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

/// First cooldown intervals by kind of failure; each repeat doubles up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CooldownConfig {
    /// A key refused (401/403/402).
    pub auth: Duration,
    /// A key or channel rate-limited (429) without a usable `retry-after`.
    pub rate_limit: Duration,
    /// A channel or URL failing (5xx, connect error, timeout).
    pub server: Duration,
    /// The cap on any cooldown.
    pub max: Duration,
}

impl Default for CooldownConfig {
    fn default() -> Self {
        CooldownConfig {
            auth: Duration::from_secs(300),
            rate_limit: Duration::from_secs(60),
            server: Duration::from_secs(30),
            max: Duration::from_secs(1800),
        }
    }
}

/// Settings of the proxy core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// Largest accepted request body in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Upstream timeouts.
    pub timeouts: Timeouts,
    /// Cooldown intervals.
    pub cooldown: CooldownConfig,
    /// Keys tried per channel per request at most.
    pub max_keys_per_channel: usize,
    /// How long a graceful shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            max_body_bytes: 10 * 1024 * 1024,
            timeouts: Timeouts::default(),
            cooldown: CooldownConfig::default(),
            max_keys_per_channel: 3,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}
