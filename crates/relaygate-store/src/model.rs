use relaygate_protocol::Protocol;

/// One upstream key of a channel.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelKey {
    /// Position in the channel's key list, from 0.
    pub index: u32,
    /// The upstream credential. Never logged: `Debug` masks it.
    pub secret: String,
    /// Disabled keys are never used.
    pub enabled: bool,
}

impl std::fmt::Debug for ChannelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelKey")
            .field("index", &self.index)
            .field("secret", &mask_secret(&self.secret))
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// Masks a secret for display: a short prefix and suffix, never the middle.
pub(crate) fn mask_secret(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 8 {
        return "****".to_owned();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// A model a channel serves, with an optional different name to send upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    /// The name clients ask for.
    pub name: String,
    /// The name sent upstream instead, if any (a redirect).
    pub upstream: Option<String>,
}

impl ModelEntry {
    /// The model name to send upstream.
    pub fn upstream_name(&self) -> &str {
        self.upstream.as_deref().unwrap_or(&self.name)
    }
}

/// A stored channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// Database id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// The protocol the upstream speaks.
    pub protocol: Protocol,
    /// Base URLs, tried in order of preference.
    pub base_urls: Vec<String>,
    /// Upstream keys.
    pub keys: Vec<ChannelKey>,
    /// Models served.
    pub models: Vec<ModelEntry>,
    /// Higher is tried first.
    pub priority: i64,
    /// Share inside its priority.
    pub weight: u32,
    /// Disabled channels take no traffic.
    pub enabled: bool,
    /// Limits and key order.
    pub limits: ChannelLimits,
    /// Creation time, unix ms.
    pub created_at_ms: i64,
    /// Last change, unix ms.
    pub updated_at_ms: i64,
}

/// The fields needed to create or update a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSpec {
    /// Unique name; an existing channel with this name is updated.
    pub name: String,
    /// The protocol the upstream speaks.
    pub protocol: Protocol,
    /// At least one base URL.
    pub base_urls: Vec<String>,
    /// At least one key (enabled).
    pub keys: Vec<String>,
    /// At least one model.
    pub models: Vec<ModelEntry>,
    /// Higher is tried first.
    pub priority: i64,
    /// Share inside its priority.
    pub weight: u32,
    /// Whether it takes traffic.
    pub enabled: bool,
    /// Limits and key order.
    pub limits: ChannelLimits,
}

/// In which order a channel's keys are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyStrategy {
    /// Always from the first usable key.
    #[default]
    Sequential,
    /// Each request starts at the next key.
    RoundRobin,
}

impl KeyStrategy {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStrategy::Sequential => "sequential",
            KeyStrategy::RoundRobin => "round_robin",
        }
    }

    /// Parses a stored or configured name.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "" | "sequential" => Some(KeyStrategy::Sequential),
            "round_robin" | "round-robin" | "roundrobin" => Some(KeyStrategy::RoundRobin),
            _ => None,
        }
    }
}

/// Per-channel limits (0 = unlimited).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChannelLimits {
    /// Key order.
    pub key_strategy: KeyStrategy,
    /// Requests per rolling minute.
    pub rpm: u32,
    /// Requests in flight at once.
    pub max_concurrency: u32,
    /// Daily availability window `HH:MM-HH:MM` (in the gateway's configured UTC offset).
    pub available_hours: Option<String>,
}

impl ChannelSpec {
    /// Checks what the database can't: non-empty lists, sane URLs, unique models.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |reason: String| {
            Err(crate::Error::Invalid {
                what: "channel",
                reason,
            })
        };
        if self.name.trim().is_empty() {
            return bad("name is empty".to_owned());
        }
        if self.base_urls.is_empty() {
            return bad(format!("channel {:?} has no base URL", self.name));
        }
        for url in &self.base_urls {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return bad(format!(
                    "channel {:?}: base URL {url:?} must start with http:// or https://",
                    self.name
                ));
            }
        }
        if self.keys.is_empty() || self.keys.iter().any(|k| k.trim().is_empty()) {
            return bad(format!(
                "channel {:?} needs at least one non-empty key",
                self.name
            ));
        }
        if self.models.is_empty() {
            return bad(format!("channel {:?} serves no model", self.name));
        }
        if let Some(h) = &self.limits.available_hours
            && !valid_window(h)
        {
            return bad(format!(
                "channel {:?}: available_hours {h:?} is not HH:MM-HH:MM",
                self.name
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for m in &self.models {
            if m.name.trim().is_empty() || m.name.contains(['\r', '\n', '\0']) {
                return bad(format!(
                    "channel {:?}: invalid model name {:?}",
                    self.name, m.name
                ));
            }
            if !seen.insert(m.name.as_str()) {
                return bad(format!(
                    "channel {:?}: model {:?} listed twice",
                    self.name, m.name
                ));
            }
        }
        Ok(())
    }
}

fn valid_window(text: &str) -> bool {
    let ok = |t: &str| {
        t.trim().split_once(':').is_some_and(|(h, m)| {
            h.parse::<u8>().is_ok_and(|h| h < 24) && m.parse::<u8>().is_ok_and(|m| m < 60)
        })
    };
    text.split_once('-').is_some_and(|(a, b)| ok(a) && ok(b))
}

/// Restrictions of a client token (empty lists and 0 mean none).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenLimits {
    /// Models the token may use.
    pub allowed_models: Vec<String>,
    /// Channel names the token may use.
    pub allowed_channels: Vec<String>,
    /// Requests in flight at once.
    pub max_concurrency: u32,
}

/// A stored client token (the plaintext is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientToken {
    /// Database id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Lowercase hex SHA-256 of the plaintext.
    pub token_hash: String,
    /// A masked form of the plaintext for display.
    pub hint: String,
    /// Disabled tokens are refused.
    pub enabled: bool,
    /// Expiry, unix ms.
    pub expires_at_ms: Option<i64>,
    /// Restrictions.
    pub limits: TokenLimits,
    /// Creation time, unix ms.
    pub created_at_ms: i64,
}

/// The fields needed to create or update a client token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    /// Unique name; an existing token with this name is updated.
    pub name: String,
    /// Lowercase hex SHA-256 of the plaintext.
    pub token_hash: String,
    /// A masked form of the plaintext for display.
    pub hint: String,
    /// Whether it is accepted.
    pub enabled: bool,
    /// Expiry, unix ms.
    pub expires_at_ms: Option<i64>,
    /// Restrictions.
    pub limits: TokenLimits,
}

/// One client request as it ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestLog {
    /// Unique id of the request (idempotency key).
    pub request_id: String,
    /// When the request arrived, unix ms.
    pub started_at_ms: i64,
    /// The client token used, if authenticated.
    pub token_id: Option<i64>,
    /// The client's protocol name.
    pub client_protocol: String,
    /// The model the client asked for.
    pub model_requested: String,
    /// The model sent upstream by the last attempt, if one was made.
    pub model_sent: Option<String>,
    /// The channel of the last attempt.
    pub channel_id: Option<i64>,
    /// Its name at the time (kept after the channel is deleted).
    pub channel_name: Option<String>,
    /// Index of the key of the last attempt (never the key itself).
    pub key_index: Option<u32>,
    /// The upstream URL of the last attempt.
    pub upstream_url: Option<String>,
    /// The status the client got.
    pub status: u16,
    /// Upstream attempts made.
    pub attempts: u32,
    /// From arrival to the end of the response, ms.
    pub duration_ms: u64,
    /// From arrival to the first body byte sent to the client, ms.
    pub first_byte_ms: Option<u64>,
    /// Whether the response was a stream.
    pub stream: bool,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Token usage, when the upstream reported it or it was estimated.
    pub usage: Option<UsageRow>,
    /// What the request cost, in micro-dollars (multipliers applied).
    pub cost_micro_usd: Option<i64>,
    /// True when the model has no price: the cost is then unknown, not zero.
    pub unpriced: bool,
    /// Every upstream attempt, in order.
    pub attempt_log: Vec<AttemptLog>,
}

/// Token counts of one request as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsageRow {
    /// Input tokens, excluding cached ones.
    pub input: u64,
    /// Output tokens (including reasoning).
    pub output: u64,
    /// Input tokens read from a prompt cache.
    pub cache_read: u64,
    /// Input tokens written to a prompt cache.
    pub cache_write: u64,
    /// Reasoning tokens (part of output).
    pub reasoning: u64,
    /// Whether the counts are an estimate (the stream was cut or the upstream sent none).
    pub estimated: bool,
}

/// One upstream attempt of a request: where it went and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttemptLog {
    /// The channel tried.
    pub channel_id: Option<i64>,
    /// Its name at the time.
    pub channel_name: Option<String>,
    /// The key index used.
    pub key_index: Option<u32>,
    /// The upstream URL.
    pub upstream_url: Option<String>,
    /// The upstream's HTTP status, if it answered.
    pub status: Option<u16>,
    /// `ok` or the outcome kind (`rate_limited`, `server_error`, `soft_error`, …).
    pub outcome: String,
    /// What was cooled (`key`, `channel`, `url`, `model`) or skipped, if anything.
    pub scope: Option<String>,
    /// Until when it cools, unix ms.
    pub cooldown_until_ms: Option<i64>,
    /// How long the attempt took, ms.
    pub duration_ms: u64,
    /// What went wrong.
    pub error: Option<String>,
}

/// A stored cooldown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CooldownRow {
    /// What cools: `channel:ID`, `key:ID:INDEX`, `url:ID:INDEX`, `model:ID:NAME`.
    pub target: String,
    /// Until when, unix ms.
    pub until_ms: i64,
    /// The interval that produced it (the next failure doubles it).
    pub interval_ms: i64,
    /// Failures in a row.
    pub failures: u32,
    /// Why (an outcome kind).
    pub reason: String,
}

/// Filters for reading request logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// At most this many rows (0 means 100).
    pub limit: u32,
    /// Only this channel.
    pub channel_id: Option<i64>,
    /// Only this request.
    pub request_id: Option<String>,
}

fn opt_len(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, String::len)
}

impl RequestLog {
    /// Roughly the memory this row holds (struct plus heap text), for bounding queues in bytes:
    /// a row count alone lets a burst of rows with long errors or model names take unbounded
    /// memory.
    pub(crate) fn approx_bytes(&self) -> u64 {
        let text = self.request_id.len()
            + self.client_protocol.len()
            + self.model_requested.len()
            + opt_len(&self.model_sent)
            + opt_len(&self.channel_name)
            + opt_len(&self.upstream_url)
            + opt_len(&self.error);
        let attempts: usize = self
            .attempt_log
            .iter()
            .map(|a| {
                std::mem::size_of::<AttemptLog>()
                    + opt_len(&a.channel_name)
                    + opt_len(&a.upstream_url)
                    + a.outcome.len()
                    + opt_len(&a.scope)
                    + opt_len(&a.error)
            })
            .sum();
        (std::mem::size_of::<RequestLog>() + text + attempts) as u64
    }
}
