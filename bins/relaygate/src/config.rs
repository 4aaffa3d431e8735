//! The TOML configuration file. Every setting is documented in `docs/configuration.md`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use relaygate_protocol::Protocol;
use relaygate_proxy::{
    Budgets, ChannelBudget, ClientLimits, CooldownConfig, ProxyConfig, RoutingConfig, Timeouts,
    TokenBudget,
};
use relaygate_store::{
    ChannelLimits, ChannelSpec, KeyStrategy, ModelEntry, TokenLimits, TokenSpec,
};
use serde::Deserialize;

/// The default database when none is configured.
pub const DEFAULT_STORAGE: &str = "sqlite://./data/relaygate.db";
/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub storage: Option<StorageFile>,
    pub max_body_bytes: Option<usize>,
    pub max_keys_per_channel: Option<usize>,
    pub shutdown_grace_secs: Option<u64>,
    pub prices_file: Option<String>,
    pub log_retention_days: Option<u32>,
    pub max_connections: Option<usize>,
    pub refused_log_rows_per_minute: Option<u32>,
    pub refused_log_rows_per_ip_per_minute: Option<u32>,
    #[serde(default)]
    pub timeouts: TimeoutsFile,
    #[serde(default)]
    pub cooldown: CooldownFile,
    #[serde(default)]
    pub routing: RoutingFile,
    #[serde(default)]
    pub channels: Vec<ChannelFile>,
    #[serde(default)]
    pub tokens: Vec<TokenFile>,
    #[serde(default)]
    pub admin: AdminFile,
    #[serde(default)]
    pub pricing: PricingFile,
}

/// `[pricing]`: what requests for models without a price do.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PricingFile {
    /// `"record"` (default), `"refuse"` or `"default"`.
    pub unpriced: Option<String>,
    /// The price of `unpriced = "default"`, in the fields of a price-table model entry.
    pub default_price: Option<toml::Table>,
}

impl PricingFile {
    fn policy(&self) -> anyhow::Result<(relaygate_proxy::UnpricedPolicy, Option<String>)> {
        use relaygate_proxy::UnpricedPolicy;
        let policy = match self.unpriced.as_deref().map(str::trim) {
            None | Some("record") => UnpricedPolicy::Record,
            Some("refuse") => UnpricedPolicy::Refuse,
            Some("default") => UnpricedPolicy::Default,
            Some(other) => {
                bail!("pricing.unpriced: {other:?} is not \"record\", \"refuse\" or \"default\"")
            }
        };
        let price = match &self.default_price {
            None => None,
            Some(t) => {
                // Checked as a price entry when the gateway starts.
                Some(toml::to_string(t).context("pricing.default_price")?)
            }
        };
        if policy == UnpricedPolicy::Default && price.is_none() {
            bail!("pricing.unpriced = \"default\" needs pricing.default_price (input and output)");
        }
        Ok((policy, price))
    }
}

/// `storage = "URL"`, or a `[storage]` table with the URL and the request path's store policy.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum StorageFile {
    Url(String),
    Table(StorageTable),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StorageTable {
    pub url: Option<String>,
    pub request_deadline_ms: Option<u64>,
    pub when_unavailable: Option<String>,
}

/// What limits do while the database can't answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnavailable {
    /// Requests whose limits can't be checked are refused (503) or skip the channel.
    Refuse,
    /// Concurrency and rate limits fall back to counters of this instance alone.
    Local,
}

/// The request path's store policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoragePolicy {
    /// Deadline of each request-path store call.
    pub request_deadline: Duration,
    /// Limits while the store is away.
    pub when_unavailable: WhenUnavailable,
}

impl Default for StoragePolicy {
    fn default() -> Self {
        StoragePolicy {
            request_deadline: Duration::from_millis(250),
            when_unavailable: WhenUnavailable::Refuse,
        }
    }
}

/// `[admin]`: the admin API and dashboard.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AdminFile {
    pub enabled: Option<bool>,
    pub password: Option<String>,
    pub session_ttl_hours: Option<u64>,
    pub max_failed_logins: Option<u32>,
    pub lockout_secs: Option<u64>,
    pub max_concurrent_logins: Option<usize>,
    pub login_timeout_secs: Option<u64>,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    pub secure_cookies: Option<bool>,
}

impl AdminFile {
    /// The admin handler's settings.
    fn settings(&self) -> anyhow::Result<relaygate_admin::AdminConfig> {
        let d = relaygate_admin::AdminConfig::default();
        let mut trusted_proxies = Vec::new();
        for (i, text) in self.trusted_proxies.iter().enumerate() {
            trusted_proxies.push(
                text.parse()
                    .map_err(|e| anyhow::anyhow!("admin.trusted_proxies[{i}]: {e}"))?,
            );
        }
        if self.max_concurrent_logins == Some(0) {
            bail!("admin.max_concurrent_logins must be greater than 0");
        }
        Ok(relaygate_admin::AdminConfig {
            enabled: self.enabled.unwrap_or(true),
            session_ttl: self.session_ttl_hours.map_or(d.session_ttl, |h| {
                Duration::from_secs(h.saturating_mul(3600))
            }),
            max_failures: self.max_failed_logins.unwrap_or(d.max_failures).max(1),
            lockout: secs(self.lockout_secs, d.lockout),
            max_concurrent_logins: self
                .max_concurrent_logins
                .unwrap_or(d.max_concurrent_logins),
            login_timeout: secs(self.login_timeout_secs, d.login_timeout),
            trusted_proxies,
            secure_cookies: self.secure_cookies.unwrap_or(d.secure_cookies),
        })
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsFile {
    pub connect_secs: Option<u64>,
    pub first_byte_secs: Option<u64>,
    pub idle_secs: Option<u64>,
    pub client_header_secs: Option<u64>,
    pub client_body_secs: Option<u64>,
    pub client_body_total_secs: Option<u64>,
    pub client_write_secs: Option<u64>,
    pub http2_keepalive_secs: Option<u64>,
    pub http2_keepalive_timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CooldownFile {
    pub auth_secs: Option<u64>,
    pub rate_limit_secs: Option<u64>,
    pub server_secs: Option<u64>,
    pub timeout_secs: Option<u64>,
    pub quota_secs: Option<u64>,
    pub model_secs: Option<u64>,
    pub max_secs: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RoutingFile {
    pub fuzzy_models: Option<bool>,
    pub utc_offset: Option<String>,
    pub health_penalty: Option<f64>,
    pub health_window_secs: Option<u64>,
    pub hold_bytes: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelFile {
    pub name: String,
    pub protocol: String,
    pub base_url: Option<String>,
    #[serde(default)]
    pub base_urls: Vec<String>,
    pub key: Option<String>,
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub model_redirects: BTreeMap<String, String>,
    #[serde(default)]
    pub priority: i64,
    pub weight: Option<u32>,
    pub enabled: Option<bool>,
    pub key_strategy: Option<String>,
    #[serde(default)]
    pub rpm_limit: u32,
    #[serde(default)]
    pub max_concurrency: u32,
    pub available_hours: Option<String>,
    pub cost_multiplier: Option<f64>,
    pub daily_cost_limit_usd: Option<f64>,
    /// Pass the upstream's rate-limit headers back to clients of this channel.
    #[serde(default)]
    pub pass_rate_limit_headers: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFile {
    pub name: String,
    pub token: Option<String>,
    pub token_sha256: Option<String>,
    pub enabled: Option<bool>,
    pub expires_at_unix_ms: Option<i64>,
    #[serde(default)]
    pub allowed_models: Vec<String>,
    #[serde(default)]
    pub allowed_channels: Vec<String>,
    #[serde(default)]
    pub max_concurrency: u32,
    pub cost_limit_usd: Option<f64>,
    pub daily_cost_limit_usd: Option<f64>,
    pub monthly_cost_limit_usd: Option<f64>,
    /// Whether a budgeted token may spend on models without a price (default false).
    pub allow_unpriced: Option<bool>,
}

/// Dollars from the file to integer micro-dollars.
fn micro(usd: Option<f64>, what: &str) -> anyhow::Result<i64> {
    match usd {
        None => Ok(0),
        Some(v) if v.is_finite() && (0.0..1e12).contains(&v) => {
            Ok((v * 1_000_000.0).round() as i64)
        }
        Some(v) => bail!("{what}: {v} is not a dollar amount >= 0"),
    }
}

/// Parses `+08:00`, `-05:30`, `Z` or `UTC` into minutes east of UTC.
fn utc_offset_minutes(text: &str) -> Option<i32> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
        return Some(0);
    }
    let (sign, rest) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m < 60).then_some(sign * (h * 60 + m))
}

/// The effective configuration after defaults and command-line overrides.
#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub storage: String,
    /// Deadline and fallback of request-path store calls.
    pub storage_policy: StoragePolicy,
    pub proxy: ProxyConfig,
    pub channels: Vec<ChannelSpec>,
    pub tokens: Vec<TokenSpec>,
    /// Serve the admin API and dashboard.
    pub admin_enabled: bool,
    /// The admin handler's settings from `[admin]`.
    pub admin: relaygate_admin::AdminConfig,
    /// The admin password from `[admin] password` or `RELAYGATE_ADMIN_PASSWORD`.
    pub admin_password: Option<String>,
}

/// `${NAME}` as a whole value reads the environment variable NAME.
fn expand(value: &str, what: &str) -> anyhow::Result<String> {
    let v = value.trim();
    if let Some(name) = v.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        return std::env::var(name)
            .with_context(|| format!("{what}: environment variable {name} is not set"));
    }
    Ok(v.to_owned())
}

fn secs(v: Option<u64>, default: Duration) -> Duration {
    v.map_or(default, Duration::from_secs)
}

pub fn parse(text: &str, source: &str) -> anyhow::Result<FileConfig> {
    toml::from_str(text).map_err(|e| anyhow::anyhow!("{source}: {e}"))
}

pub fn load(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    match path {
        None => Ok(FileConfig::default()),
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            parse(&text, &p.display().to_string())
        }
    }
}

impl FileConfig {
    pub fn resolve(
        self,
        listen: Option<String>,
        storage: Option<String>,
    ) -> anyhow::Result<Config> {
        let listen_text = listen
            .or(self.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text.parse().with_context(|| {
            format!("listen: {listen_text:?} is not an address like 127.0.0.1:8080")
        })?;
        let (storage_url, storage_policy) = match self.storage {
            None => (None, StoragePolicy::default()),
            Some(StorageFile::Url(u)) => (Some(u), StoragePolicy::default()),
            Some(StorageFile::Table(t)) => {
                let d = StoragePolicy::default();
                let policy = StoragePolicy {
                    request_deadline: match t.request_deadline_ms {
                        None => d.request_deadline,
                        Some(0) => bail!("storage.request_deadline_ms must be greater than 0"),
                        Some(ms) => Duration::from_millis(ms),
                    },
                    when_unavailable: match t.when_unavailable.as_deref() {
                        None | Some("refuse") => WhenUnavailable::Refuse,
                        Some("local") => WhenUnavailable::Local,
                        Some(other) => bail!(
                            "storage.when_unavailable: {other:?} is not \"refuse\" or \"local\""
                        ),
                    },
                };
                (t.url, policy)
            }
        };
        let defaults = ProxyConfig::default();
        let t = Timeouts::default();
        let c = CooldownConfig::default();
        let cl = ClientLimits::default();
        let nonzero = |v: Option<u64>, d: Duration, what: &str| -> anyhow::Result<Duration> {
            match v {
                Some(0) => bail!("timeouts.{what} must be greater than 0"),
                v => Ok(secs(v, d)),
            }
        };
        let proxy = ProxyConfig {
            max_body_bytes: self.max_body_bytes.unwrap_or(defaults.max_body_bytes),
            timeouts: Timeouts {
                connect: secs(self.timeouts.connect_secs, t.connect),
                first_byte: secs(self.timeouts.first_byte_secs, t.first_byte),
                idle: secs(self.timeouts.idle_secs, t.idle),
            },
            client: ClientLimits {
                header: nonzero(
                    self.timeouts.client_header_secs,
                    cl.header,
                    "client_header_secs",
                )?,
                body: nonzero(self.timeouts.client_body_secs, cl.body, "client_body_secs")?,
                body_total: nonzero(
                    self.timeouts.client_body_total_secs,
                    cl.body_total,
                    "client_body_total_secs",
                )?,
                write: nonzero(
                    self.timeouts.client_write_secs,
                    cl.write,
                    "client_write_secs",
                )?,
                http2_keepalive: nonzero(
                    self.timeouts.http2_keepalive_secs,
                    cl.http2_keepalive,
                    "http2_keepalive_secs",
                )?,
                http2_keepalive_timeout: nonzero(
                    self.timeouts.http2_keepalive_timeout_secs,
                    cl.http2_keepalive_timeout,
                    "http2_keepalive_timeout_secs",
                )?,
            },
            max_connections: self.max_connections.unwrap_or(defaults.max_connections),
            rate_limit_header_channels: self
                .channels
                .iter()
                .filter(|ch| ch.pass_rate_limit_headers)
                .map(|ch| ch.name.clone())
                .collect(),
            refused_rows_per_minute: self
                .refused_log_rows_per_minute
                .unwrap_or(defaults.refused_rows_per_minute),
            refused_rows_per_ip_per_minute: self
                .refused_log_rows_per_ip_per_minute
                .unwrap_or(defaults.refused_rows_per_ip_per_minute),
            when_store_unavailable: relaygate_proxy::WhenUnavailable::Refuse,
            unpriced: self.pricing.policy()?.0,
            default_price: self.pricing.policy()?.1,
            cooldown: CooldownConfig {
                auth: secs(self.cooldown.auth_secs, c.auth),
                rate_limit: secs(self.cooldown.rate_limit_secs, c.rate_limit),
                server: secs(self.cooldown.server_secs, c.server),
                timeout: secs(self.cooldown.timeout_secs, c.timeout),
                quota: secs(self.cooldown.quota_secs, c.quota),
                model: secs(self.cooldown.model_secs, c.model),
                max: secs(self.cooldown.max_secs, c.max),
            },
            routing: {
                let r = RoutingConfig::default();
                RoutingConfig {
                    fuzzy_models: self.routing.fuzzy_models.unwrap_or(r.fuzzy_models),
                    utc_offset_minutes: match &self.routing.utc_offset {
                        None => r.utc_offset_minutes,
                        Some(t) => utc_offset_minutes(t).with_context(|| {
                            format!("routing.utc_offset: {t:?} is not like +08:00")
                        })?,
                    },
                    health_penalty: self.routing.health_penalty.unwrap_or(r.health_penalty),
                    health_window: secs(self.routing.health_window_secs, r.health_window),
                    hold_bytes: self.routing.hold_bytes.unwrap_or(r.hold_bytes),
                }
            },
            max_keys_per_channel: self
                .max_keys_per_channel
                .unwrap_or(defaults.max_keys_per_channel),
            shutdown_grace: secs(self.shutdown_grace_secs, defaults.shutdown_grace),
            log_retention_days: self
                .log_retention_days
                .unwrap_or(defaults.log_retention_days),
            budgets: Budgets::default(),
            price_overrides: match &self.prices_file {
                None => None,
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("prices_file: reading {path}"))?,
                ),
            },
        };
        if proxy.max_connections == 0 {
            bail!("max_connections must be greater than 0");
        }
        if proxy.max_body_bytes == 0 {
            bail!("max_body_bytes must be greater than 0");
        }
        let mut budgets = Budgets::default();
        let mut channels = Vec::new();
        for ch in self.channels {
            let what = format!("channel {:?}", ch.name);
            if ch.cost_multiplier.is_some() || ch.daily_cost_limit_usd.is_some() {
                let m = ch.cost_multiplier.unwrap_or(1.0);
                if !(m.is_finite() && (0.0..=1000.0).contains(&m)) {
                    bail!("{what}: cost_multiplier {m} must be between 0 and 1000");
                }
                budgets.channels.insert(
                    ch.name.clone(),
                    ChannelBudget {
                        cost_multiplier_permille: (m * 1000.0).round() as u32,
                        daily_limit_micro_usd: micro(ch.daily_cost_limit_usd, &what)?,
                    },
                );
            }
            let protocol: Protocol = ch.protocol.parse().with_context(|| what.clone())?;
            let mut base_urls = ch.base_urls;
            base_urls.extend(ch.base_url);
            let mut keys = Vec::new();
            for k in ch.keys.iter().chain(ch.key.iter()) {
                keys.push(expand(k, &what)?);
            }
            let mut models: Vec<ModelEntry> = ch
                .models
                .iter()
                .map(|m| ModelEntry {
                    name: m.trim().to_owned(),
                    upstream: None,
                })
                .collect();
            for (from, to) in ch.model_redirects {
                match models.iter_mut().find(|m| m.name == from) {
                    Some(m) => m.upstream = Some(to),
                    None => models.push(ModelEntry {
                        name: from,
                        upstream: Some(to),
                    }),
                }
            }
            let spec = ChannelSpec {
                name: ch.name,
                protocol,
                base_urls,
                keys,
                models,
                priority: ch.priority,
                weight: ch.weight.unwrap_or(1),
                enabled: ch.enabled.unwrap_or(true),
                limits: ChannelLimits {
                    key_strategy: match ch.key_strategy.as_deref() {
                        None => KeyStrategy::Sequential,
                        Some(s) => KeyStrategy::parse(s).with_context(|| {
                            format!("{what}: key_strategy {s:?} is not sequential or round_robin")
                        })?,
                    },
                    rpm: ch.rpm_limit,
                    max_concurrency: ch.max_concurrency,
                    available_hours: ch.available_hours,
                },
            };
            spec.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
            channels.push(spec);
        }
        let mut tokens = Vec::new();
        for t in self.tokens {
            let what = format!("token {:?}", t.name);
            if t.cost_limit_usd.is_some()
                || t.daily_cost_limit_usd.is_some()
                || t.monthly_cost_limit_usd.is_some()
            {
                budgets.tokens.insert(
                    t.name.clone(),
                    TokenBudget {
                        lifetime_micro_usd: micro(t.cost_limit_usd, &what)?,
                        daily_micro_usd: micro(t.daily_cost_limit_usd, &what)?,
                        monthly_micro_usd: micro(t.monthly_cost_limit_usd, &what)?,
                        allow_unpriced: t.allow_unpriced.unwrap_or(false),
                    },
                );
            }
            let (hash, hint) = match (t.token, t.token_sha256) {
                (Some(plain), None) => {
                    let plain = expand(&plain, &what)?;
                    if plain.len() < 8 {
                        bail!("{what}: a token must be at least 8 characters");
                    }
                    (
                        relaygate_proxy::auth::hash_token(&plain),
                        relaygate_proxy::auth::mask(&plain),
                    )
                }
                (None, Some(hash)) => {
                    let hash = hash.trim().to_ascii_lowercase();
                    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                        bail!("{what}: token_sha256 must be 64 hex characters");
                    }
                    let hint = format!("sha256:{}…", &hash[..8]);
                    (hash, hint)
                }
                _ => bail!("{what}: set exactly one of token or token_sha256"),
            };
            tokens.push(TokenSpec {
                name: t.name,
                token_hash: hash,
                hint,
                enabled: t.enabled.unwrap_or(true),
                expires_at_ms: t.expires_at_unix_ms,
                limits: TokenLimits {
                    allowed_models: t.allowed_models,
                    allowed_channels: t.allowed_channels,
                    max_concurrency: t.max_concurrency,
                },
            });
        }
        let mut proxy = proxy;
        proxy.budgets = budgets;
        proxy.when_store_unavailable = match storage_policy.when_unavailable {
            WhenUnavailable::Refuse => relaygate_proxy::WhenUnavailable::Refuse,
            WhenUnavailable::Local => relaygate_proxy::WhenUnavailable::Local,
        };
        Ok(Config {
            listen,
            storage: storage
                .or(storage_url)
                .unwrap_or_else(|| DEFAULT_STORAGE.to_owned()),
            storage_policy,
            proxy,
            channels,
            tokens,
            admin_enabled: self.admin.enabled.unwrap_or(true),
            admin: self.admin.settings()?,
            admin_password: match self.admin.password {
                Some(p) => Some(expand(&p, "admin.password")?),
                None => std::env::var("RELAYGATE_ADMIN_PASSWORD")
                    .ok()
                    .filter(|p| !p.is_empty()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = parse(
            "listen = \"127.0.0.1:1\"\nlisten_port = 3\n",
            "relaygate.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("listen_port"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let err = parse(
            "[[channels]]\nname = \"a\"\nprotocol = \"openai\"\nkeyz = []\n",
            "f",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("keyz") && err.contains("line 4"), "{err}");
    }

    #[test]
    fn full_example_resolves() {
        let text = r#"
listen = "0.0.0.0:9000"
storage = "sqlite:///tmp/x.db"
max_body_bytes = 1024
[timeouts]
first_byte_secs = 5
[[channels]]
name = "a"
protocol = "anthropic"
base_url = "https://api.anthropic.com"
keys = ["sk-1", "sk-2"]
models = ["claude-x"]
model_redirects = { "claude-alias" = "claude-x" }
priority = 3
[[tokens]]
name = "me"
token = "rg-0123456789"
"#;
        let cfg = parse(text, "t").unwrap().resolve(None, None).unwrap();
        assert_eq!(cfg.listen.port(), 9000);
        assert_eq!(cfg.proxy.max_body_bytes, 1024);
        assert_eq!(cfg.proxy.timeouts.first_byte, Duration::from_secs(5));
        assert_eq!(cfg.channels[0].models.len(), 2);
        assert_eq!(
            cfg.channels[0].models[1].upstream.as_deref(),
            Some("claude-x")
        );
        assert_eq!(
            cfg.tokens[0].token_hash,
            relaygate_proxy::auth::hash_token("rg-0123456789")
        );
        assert!(!cfg.tokens[0].hint.contains("0123456"));
    }

    #[test]
    fn bad_values_are_explained() {
        let bad_proto =
            "[[channels]]\nname='a'\nprotocol='grpc'\nbase_url='http://x'\nkey='k'\nmodels=['m']\n";
        let err = format!(
            "{:#}",
            parse(bad_proto, "t")
                .unwrap()
                .resolve(None, None)
                .unwrap_err()
        );
        assert!(err.contains("grpc"), "{err}");
        let both = "[[tokens]]\nname='a'\ntoken='12345678'\ntoken_sha256='x'\n";
        assert!(parse(both, "t").unwrap().resolve(None, None).is_err());
        let env = "[[channels]]\nname='a'\nprotocol='openai'\nbase_url='http://x'\nkey='${RELAYGATE_TEST_UNSET_VAR}'\nmodels=['m']\n";
        let err = format!(
            "{:#}",
            parse(env, "t").unwrap().resolve(None, None).unwrap_err()
        );
        assert!(err.contains("RELAYGATE_TEST_UNSET_VAR"), "{err}");
    }

    #[test]
    fn hardening_settings_resolve() {
        let text = r#"
max_connections = 50
refused_log_rows_per_minute = 7
refused_log_rows_per_ip_per_minute = 3
[timeouts]
client_header_secs = 4
client_body_secs = 5
client_write_secs = 6
http2_keepalive_secs = 7
http2_keepalive_timeout_secs = 8
[admin]
trusted_proxies = ["10.0.0.0/8", "::1"]
secure_cookies = true
max_concurrent_logins = 3
[[channels]]
name = "a"
protocol = "openai"
base_url = "http://x"
key = "k"
models = ["m"]
pass_rate_limit_headers = true
"#;
        let cfg = parse(text, "t").unwrap().resolve(None, None).unwrap();
        let c = cfg.proxy.client;
        assert_eq!(
            (c.header, c.body, c.write),
            (
                Duration::from_secs(4),
                Duration::from_secs(5),
                Duration::from_secs(6)
            )
        );
        assert_eq!(c.http2_keepalive_timeout, Duration::from_secs(8));
        assert_eq!(cfg.proxy.max_connections, 50);
        assert_eq!(cfg.proxy.refused_rows_per_minute, 7);
        assert_eq!(cfg.proxy.refused_rows_per_ip_per_minute, 3);
        assert!(cfg.proxy.rate_limit_header_channels.contains("a"));
        assert_eq!(cfg.admin.trusted_proxies.len(), 2);
        assert!(cfg.admin.secure_cookies);
        assert_eq!(cfg.admin.max_concurrent_logins, 3);
        let bad = "[admin]\ntrusted_proxies = [\"10.0.0.0/40\"]\n";
        let err = format!(
            "{:#}",
            parse(bad, "t").unwrap().resolve(None, None).unwrap_err()
        );
        assert!(err.contains("trusted_proxies[0]"), "{err}");
        let zero = "[timeouts]\nclient_body_secs = 0\n";
        assert!(parse(zero, "t").unwrap().resolve(None, None).is_err());
    }
}
