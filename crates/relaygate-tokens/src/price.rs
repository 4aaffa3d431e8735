//! Prices and cost: integer micro-dollars, no floating point in the arithmetic.
//!
//! A price table is TOML (see `prices/default.toml` and `docs/tokens.md`): prices are written in
//! US dollars per million tokens as decimals with at most six decimals, and held as integer
//! micro-dollars per million tokens. A cost is `Σ tokens × price` summed in 128-bit integers,
//! times the service-tier multiplier (in per-mille), divided once at the end with half-up
//! rounding.

use std::collections::BTreeMap;

use crate::Error;
use crate::usage::Usage;

/// Prices of one model in one context-length tier, in micro-dollars per million tokens
/// (`3_000_000` is $3 per million tokens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TierPrices {
    /// Uncached input.
    pub input: u64,
    /// Output (and reasoning, unless `reasoning` is set).
    pub output: u64,
    /// Cache reads.
    pub cache_read: u64,
    /// Cache writes with a 5-minute lifetime.
    pub cache_write_5m: u64,
    /// Cache writes with a 1-hour lifetime.
    pub cache_write_1h: u64,
    /// Reasoning output; `None` bills reasoning as output.
    pub reasoning: Option<u64>,
}

/// A context-length tier: above `above_input_tokens` prompt tokens (uncached input, cache reads
/// and cache writes together) the whole request uses `prices`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LongContextTier {
    /// The prompt size beyond which this tier applies.
    pub above_input_tokens: u64,
    /// The prices of the tier.
    pub prices: TierPrices,
}

/// The price of one model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelPrice {
    /// Prices for prompts up to the tier threshold (or all prompts when there is no tier).
    pub base: TierPrices,
    /// Optional long-context tier.
    pub long_context: Option<LongContextTier>,
    /// Per-model service-tier multipliers in per-mille.
    pub service_tiers: TierMultipliers,
    /// Whole price sets of service tiers that are not a plain multiple of the standard prices
    /// (`[models."o4-mini".tiers.priority]`); they win over a multiplier of the same tier.
    pub tier_prices: Vec<(ServiceTier, TierPrices)>,
    /// The model's context window in tokens, when the price list states it.
    pub context_window: Option<u64>,
}

/// Service-tier multipliers in per-mille (`500` is ×0.5); `None` when not set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TierMultipliers {
    /// Batch API.
    pub batch: Option<u32>,
    /// OpenAI and Vertex flex processing.
    pub flex: Option<u32>,
    /// Priority processing.
    pub priority: Option<u32>,
    /// OpenAI scale tier (prepaid capacity, billed per token only where a price is set).
    pub scale: Option<u32>,
    /// OpenAI's fastest speed tier.
    pub ultrafast: Option<u32>,
}

impl TierMultipliers {
    fn get(&self, tier: ServiceTier) -> Option<u32> {
        match tier {
            ServiceTier::Standard | ServiceTier::Unknown => Some(1000),
            ServiceTier::Batch => self.batch,
            ServiceTier::Flex => self.flex,
            ServiceTier::Priority => self.priority,
            ServiceTier::Scale => self.scale,
            ServiceTier::UltraFast => self.ultrafast,
        }
    }

    fn set(&mut self, tier: ServiceTier, permille: u32) {
        let slot = match tier {
            ServiceTier::Batch => &mut self.batch,
            ServiceTier::Flex => &mut self.flex,
            ServiceTier::Priority => &mut self.priority,
            ServiceTier::Scale => &mut self.scale,
            ServiceTier::UltraFast => &mut self.ultrafast,
            ServiceTier::Standard | ServiceTier::Unknown => return,
        };
        *slot = Some(permille);
    }

    fn overlay(&mut self, other: TierMultipliers) {
        self.batch = other.batch.or(self.batch);
        self.flex = other.flex.or(self.flex);
        self.priority = other.priority.or(self.priority);
        self.scale = other.scale.or(self.scale);
        self.ultrafast = other.ultrafast.or(self.ultrafast);
    }
}

/// The processing tier a request ran in.
///
/// The tier billed is the one the upstream reports (`service_tier` in OpenAI answers,
/// `usage.service_tier` in Anthropic's), else the one the request asked for. A tier is only
/// priced differently for a model whose price entry has it (`service_tiers` or `tiers`);
/// every other model is billed at standard whatever the tier says, except `batch`, which
/// every vendor discounts (table default ×0.5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceTier {
    /// Normal processing (`default`, `auto`, `standard`, `standard_only`, `on_demand`).
    #[default]
    Standard,
    /// Batch API.
    Batch,
    /// Priority processing (`priority`, and `fast`, its alias).
    Priority,
    /// Flex processing.
    Flex,
    /// OpenAI scale tier.
    Scale,
    /// OpenAI's fastest speed tier (`ultrafast`).
    UltraFast,
    /// A tier name relaygate does not know: billed as standard, and the caller logs it.
    Unknown,
}

impl ServiceTier {
    /// The tier named by a `service_tier` field of a request or an answer. Case, spaces and
    /// `-` versus `_` do not matter; a name not listed on the variants is `Unknown`.
    pub fn from_wire(s: &str) -> Self {
        let name: String = s
            .trim()
            .chars()
            .map(|c| {
                if c == '-' {
                    '_'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        match name.as_str() {
            "default"
            | "auto"
            | "standard"
            | "standard_only"
            | "on_demand"
            | "provisioned_throughput"
            | "" => ServiceTier::Standard,
            "priority" | "fast" | "on_demand_priority" => ServiceTier::Priority,
            "flex" | "on_demand_flex" => ServiceTier::Flex,
            "batch" | "batches" => ServiceTier::Batch,
            "scale" => ServiceTier::Scale,
            "ultrafast" | "ultra_fast" => ServiceTier::UltraFast,
            _ => ServiceTier::Unknown,
        }
    }

    /// The tier's name in price tables and log rows.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceTier::Standard => "standard",
            ServiceTier::Batch => "batch",
            ServiceTier::Priority => "priority",
            ServiceTier::Flex => "flex",
            ServiceTier::Scale => "scale",
            ServiceTier::UltraFast => "ultrafast",
            ServiceTier::Unknown => "unknown",
        }
    }

    /// The tier a price table key names (`batch`, `flex`, `priority`, `scale`, `ultrafast`).
    fn from_table_key(k: &str) -> Option<Self> {
        match ServiceTier::from_wire(k) {
            ServiceTier::Standard | ServiceTier::Unknown => None,
            t => Some(t),
        }
    }
}

/// The table-wide batch discount when the table sets none: every vendor halves batch prices.
const DEFAULT_BATCH_PERMILLE: u32 = 500;

/// A price list: models, aliases and service-tier multipliers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceTable {
    models: BTreeMap<String, ModelPrice>,
    aliases: BTreeMap<String, String>,
    service_tiers: TierMultipliers,
    /// The price of every model the table does not list, when the operator chose one.
    default: Option<ModelPrice>,
}

/// The price list shipped with the crate: a dated snapshot of a published price database,
/// written by `scripts/regenerate-prices.sh`.
const BUILTIN_TOML: &str = include_str!("../prices/default.toml");
/// Models the snapshot no longer lists (retired by their vendors), kept by hand.
const RETIRED_TOML: &str = include_str!("../prices/retired.toml");

impl PriceTable {
    /// The built-in list: `prices/retired.toml` with `prices/default.toml` on top, both
    /// embedded in the crate. (The files are checked by the tests; if one ever failed to
    /// parse, its models would be unpriced, never free.)
    pub fn builtin() -> Self {
        let mut table = Self::from_toml(RETIRED_TOML).unwrap_or_default();
        table.merge(Self::from_toml(BUILTIN_TOML).unwrap_or_default());
        table
    }

    /// The built-in snapshot's `source` line (what it was made from, and its date).
    pub fn builtin_source() -> &'static str {
        BUILTIN_TOML
            .lines()
            .find_map(|l| l.strip_prefix("source = \""))
            .and_then(|l| l.strip_suffix('"'))
            .unwrap_or("")
    }

    /// Parses a price table written in the format of `prices/default.toml`.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        let root: toml::Table =
            toml::from_str(text).map_err(|e| Error::PriceTable(e.to_string()))?;
        let mut table = PriceTable::default();
        for (key, value) in &root {
            match key.as_str() {
                "service_tiers" => {
                    let m = parse_multipliers("service_tiers", value)?;
                    if m.flex.or(m.priority).or(m.scale).or(m.ultrafast).is_some() {
                        // A table-wide priority multiplier would bill models that have no
                        // priority tier at twice their price.
                        return Err(Error::PriceTable(
                            "`[service_tiers]` sets only `batch`; other tiers are priced per \
                             model (`[models.\"<name>\".service_tiers]` or `.tiers.<tier>`), \
                             so a model without that tier is billed at standard"
                                .into(),
                        ));
                    }
                    table.service_tiers = m;
                }
                "models" => {
                    let models = value
                        .as_table()
                        .ok_or_else(|| Error::PriceTable("`models` must be a table".into()))?;
                    for (name, m) in models {
                        let (price, aliases) = parse_model(name, m)?;
                        for alias in aliases {
                            table.aliases.insert(alias, name.clone());
                        }
                        table.models.insert(name.clone(), price);
                    }
                }
                // Free-form metadata (source, date) is allowed at the top level.
                _ if !value.is_table() => {}
                other => {
                    return Err(Error::PriceTable(format!("unknown section `{other}`")));
                }
            }
        }
        Ok(table)
    }

    /// Adds `other` on top of this table: its models replace same-named ones, its aliases win,
    /// and the service-tier multipliers it sets replace these (operator overrides win).
    pub fn merge(&mut self, other: PriceTable) {
        for (name, price) in other.models {
            // A model defined again is no longer reachable through an alias to something else.
            self.aliases.remove(&name);
            self.models.insert(name, price);
        }
        self.aliases.extend(other.aliases);
        self.service_tiers.overlay(other.service_tiers);
    }

    /// Prices every model the table does not list at `price` (`[pricing] unpriced =
    /// "default"`); [`cost`] then says `defaulted`.
    pub fn set_default(&mut self, price: ModelPrice) {
        self.default = Some(price);
    }

    /// Parses one model entry (`input = 5`, `output = 15`, … as in the table) for
    /// [`set_default`](Self::set_default).
    pub fn price_from_toml(text: &str) -> Result<ModelPrice, Error> {
        let t: toml::Table = toml::from_str(text).map_err(|e| Error::PriceTable(e.to_string()))?;
        Ok(parse_model("default_price", &toml::Value::Table(t))?.0)
    }

    /// Whether `model` has a price of its own (the default price does not count).
    pub fn is_priced(&self, model: &str) -> bool {
        self.lookup(model).is_some()
    }

    /// Every model the table prices, by name, in name order.
    pub fn models(&self) -> impl Iterator<Item = (&str, &ModelPrice)> {
        self.models.iter().map(|(n, p)| (n.as_str(), p))
    }

    /// Every alias and the model it names, in alias order.
    pub fn aliases(&self) -> impl Iterator<Item = (&str, &str)> {
        self.aliases.iter().map(|(a, m)| (a.as_str(), m.as_str()))
    }

    /// The table-wide batch multiplier in per-mille, when the table sets one.
    pub fn batch_permille(&self) -> Option<u32> {
        self.service_tiers.batch
    }

    /// Adds or replaces the price of `name` (lower-cased, as lookups are).
    pub fn insert(&mut self, name: &str, price: ModelPrice) {
        let name = name.trim().to_ascii_lowercase();
        self.aliases.remove(&name);
        self.models.insert(name, price);
    }

    /// Makes `alias` another name of `model` (both lower-cased); an alias never hides a model
    /// of that name.
    pub fn add_alias(&mut self, alias: &str, model: &str) {
        let alias = alias.trim().to_ascii_lowercase();
        if !self.models.contains_key(&alias) {
            self.aliases
                .insert(alias, model.trim().to_ascii_lowercase());
        }
    }

    /// How many models the table prices.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Whether the table prices no model.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The price of `model`: the exact name, then without a date suffix (`-20250929`,
    /// `-2025-08-07`), then the aliases listed in the file (each also without a date suffix).
    /// A `provider/` or `models/` prefix is ignored, and case does not matter.
    pub fn lookup(&self, model: &str) -> Option<&ModelPrice> {
        let lower = model.trim().to_ascii_lowercase();
        let bare = lower.rsplit('/').next().unwrap_or(&lower);
        let undated = strip_date(bare);
        for cand in [model, bare, undated] {
            if let Some(p) = self.models.get(cand) {
                return Some(p);
            }
        }
        for cand in [bare, undated] {
            if let Some(p) = self.aliases.get(cand).and_then(|c| self.models.get(c)) {
                return Some(p);
            }
        }
        None
    }

    /// How `tier` is priced for a model priced `price`: a whole price set of the tier, or
    /// the standard prices times a multiplier (per-mille), and the tier actually billed. A
    /// model without a price for the tier is billed at standard; batch falls back to the
    /// table's discount (default ×0.5).
    pub fn tier_pricing<'a>(
        &self,
        price: &'a ModelPrice,
        tier: ServiceTier,
    ) -> (Option<&'a TierPrices>, u32, ServiceTier) {
        if matches!(tier, ServiceTier::Standard | ServiceTier::Unknown) {
            return (None, 1000, ServiceTier::Standard);
        }
        if let Some((_, p)) = price.tier_prices.iter().find(|(t, _)| *t == tier) {
            return (Some(p), 1000, tier);
        }
        if let Some(m) = price.service_tiers.get(tier) {
            return (None, m, tier);
        }
        if tier == ServiceTier::Batch {
            let m = self.service_tiers.batch.unwrap_or(DEFAULT_BATCH_PERMILLE);
            return (None, m, tier);
        }
        (None, 1000, ServiceTier::Standard)
    }

    /// The multiplier (per-mille) of `tier` for a model priced `price` (1000 when the tier is
    /// billed at standard or through its own price set).
    pub fn multiplier_permille(&self, price: &ModelPrice, tier: ServiceTier) -> u32 {
        self.tier_pricing(price, tier).1
    }
}

/// Strips a trailing `-YYYYMMDD` or `-YYYY-MM-DD`.
pub(crate) fn strip_date(m: &str) -> &str {
    let b = m.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if b.len() > 9 && b[b.len() - 9] == b'-' && digits(&b[b.len() - 8..]) {
        return &m[..m.len() - 9];
    }
    if b.len() > 11 {
        let t = &b[b.len() - 11..];
        if t[0] == b'-'
            && digits(&t[1..5])
            && t[5] == b'-'
            && digits(&t[6..8])
            && t[8] == b'-'
            && digits(&t[9..11])
        {
            return &m[..m.len() - 11];
        }
    }
    m
}

fn invalid(field: &str, value: &str, reason: &'static str) -> Error {
    Error::InvalidPrice {
        field: field.to_owned(),
        value: value.to_owned(),
        reason,
    }
}

/// A decimal with at most `scale` fractional digits as an integer of that scale.
fn parse_decimal(field: &str, text: &str, scale: u32) -> Result<u64, Error> {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(invalid(field, text, "empty"));
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(field, text, "not a non-negative decimal"));
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > scale as usize {
        return Err(invalid(field, text, "too many decimals"));
    }
    let unit = 10u64.pow(scale);
    let int: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| invalid(field, text, "too large"))?
    };
    let frac_val: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<u64>()
            .map_err(|_| invalid(field, text, "too large"))?
            * 10u64.pow(scale - frac.len() as u32)
    };
    int.checked_mul(unit)
        .and_then(|v| v.checked_add(frac_val))
        .ok_or_else(|| invalid(field, text, "too large"))
}

/// A TOML number or string as an integer with `scale` decimals. Floats are read through their
/// shortest decimal representation, so `0.3` is exactly 300000 micro-units.
fn scaled(field: &str, v: &toml::Value, scale: u32) -> Result<u64, Error> {
    match v {
        toml::Value::Integer(i) => {
            let i = u64::try_from(*i).map_err(|_| invalid(field, &i.to_string(), "negative"))?;
            i.checked_mul(10u64.pow(scale))
                .ok_or_else(|| invalid(field, &i.to_string(), "too large"))
        }
        toml::Value::Float(f) => {
            let text = f.to_string();
            if !f.is_finite() || text.contains(['e', 'E']) {
                return Err(invalid(field, &text, "not a plain decimal"));
            }
            parse_decimal(field, &text, scale)
        }
        toml::Value::String(s) => parse_decimal(field, s, scale),
        other => Err(invalid(field, &other.to_string(), "not a number")),
    }
}

fn parse_multipliers(field: &str, v: &toml::Value) -> Result<TierMultipliers, Error> {
    let t = v
        .as_table()
        .ok_or_else(|| Error::PriceTable(format!("`{field}` must be a table")))?;
    let mut m = TierMultipliers::default();
    for (k, v) in t {
        let f = format!("{field}.{k}");
        let permille = u32::try_from(scaled(&f, v, 3)?)
            .map_err(|_| invalid(&f, &v.to_string(), "too large"))?;
        match ServiceTier::from_table_key(k) {
            Some(t) => m.set(t, permille),
            None => return Err(Error::PriceTable(format!("unknown service tier `{f}`"))),
        }
    }
    Ok(m)
}

/// Reads the price fields of `t` on top of `inherit`; `input` and `output` are required when
/// there is nothing to inherit.
fn parse_prices(
    field: &str,
    t: &toml::Table,
    inherit: Option<&TierPrices>,
) -> Result<TierPrices, Error> {
    let get = |k: &str| -> Result<Option<u64>, Error> {
        t.get(k)
            .map(|v| scaled(&format!("{field}.{k}"), v, 6))
            .transpose()
    };
    let need = |k: &str, v: Option<u64>, inherited: Option<u64>| {
        v.or(inherited)
            .ok_or_else(|| Error::PriceTable(format!("`{field}` needs `{k}`")))
    };
    let input = need("input", get("input")?, inherit.map(|p| p.input))?;
    let output = need("output", get("output")?, inherit.map(|p| p.output))?;
    // Missing cache prices fall back to the input price: never silently cheaper.
    let cache_read = get("cache_read")?
        .or(inherit.map(|p| p.cache_read))
        .unwrap_or(input);
    let cache_write_5m = get("cache_write_5m")?
        .or(inherit.map(|p| p.cache_write_5m))
        .unwrap_or(input);
    let cache_write_1h = get("cache_write_1h")?
        .or(inherit.map(|p| p.cache_write_1h))
        .unwrap_or(cache_write_5m);
    let reasoning = get("reasoning")?.or(inherit.and_then(|p| p.reasoning));
    Ok(TierPrices {
        input,
        output,
        cache_read,
        cache_write_5m,
        cache_write_1h,
        reasoning,
    })
}

const MODEL_KEYS: &[&str] = &[
    "input",
    "output",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "reasoning",
    "aliases",
    "above",
    "service_tiers",
    "tiers",
    "context_window",
    "note",
];

fn parse_model(name: &str, v: &toml::Value) -> Result<(ModelPrice, Vec<String>), Error> {
    let field = format!("models.\"{name}\"");
    let t = v
        .as_table()
        .ok_or_else(|| Error::PriceTable(format!("`{field}` must be a table")))?;
    if let Some(k) = t.keys().find(|k| !MODEL_KEYS.contains(&k.as_str())) {
        return Err(Error::PriceTable(format!("unknown key `{field}.{k}`")));
    }
    let base = parse_prices(&field, t, None)?;
    let long_context = match t.get("above") {
        None => None,
        Some(a) => {
            let f = format!("{field}.above");
            let at = a
                .as_table()
                .ok_or_else(|| Error::PriceTable(format!("`{f}` must be a table")))?;
            let threshold = at
                .get("input_tokens")
                .and_then(toml::Value::as_integer)
                .and_then(|i| u64::try_from(i).ok())
                .ok_or_else(|| Error::PriceTable(format!("`{f}.input_tokens` is required")))?;
            Some(LongContextTier {
                above_input_tokens: threshold,
                prices: parse_prices(&f, at, Some(&base))?,
            })
        }
    };
    let service_tiers = match t.get("service_tiers") {
        None => TierMultipliers::default(),
        Some(s) => parse_multipliers(&format!("{field}.service_tiers"), s)?,
    };
    let mut tier_prices = Vec::new();
    if let Some(tiers) = t.get("tiers") {
        let f = format!("{field}.tiers");
        let tt = tiers
            .as_table()
            .ok_or_else(|| Error::PriceTable(format!("`{f}` must be a table")))?;
        for (k, v) in tt {
            let tier = ServiceTier::from_table_key(k)
                .ok_or_else(|| Error::PriceTable(format!("unknown service tier `{f}.{k}`")))?;
            let pt = v
                .as_table()
                .ok_or_else(|| Error::PriceTable(format!("`{f}.{k}` must be a table")))?;
            tier_prices.push((tier, parse_prices(&format!("{f}.{k}"), pt, Some(&base))?));
        }
        tier_prices.sort_by_key(|(t, _)| *t);
    }
    let aliases = match t.get("aliases") {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|a| {
                a.as_str()
                    .map(|s| s.to_ascii_lowercase())
                    .ok_or_else(|| Error::PriceTable(format!("`{field}.aliases` holds strings")))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(Error::PriceTable(format!(
                "`{field}.aliases` must be an array"
            )));
        }
    };
    Ok((
        ModelPrice {
            base,
            long_context,
            service_tiers,
            tier_prices,
            context_window: t
                .get("context_window")
                .and_then(toml::Value::as_integer)
                .and_then(|i| u64::try_from(i).ok()),
        },
        aliases,
    ))
}

/// The cost of one request in micro-dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// Micro-dollars (1 USD = 1,000,000), rounded half up.
    pub micro_usd: i64,
    /// Whether the model had a price. An unpriced request costs 0 here: the caller must mark
    /// the row unpriced and warn, never treat it as free.
    pub priced: bool,
    /// The service tier billed: the one asked for, or `Standard` when the model has no price
    /// for it.
    pub tier: ServiceTier,
    /// The model has no price of its own and was billed at the table's default price.
    pub defaulted: bool,
}

/// Cost of `usage` for `model` in `tier`.
///
/// The long-context tier applies when the whole prompt (input, cache reads and writes) exceeds
/// its threshold. Reasoning tokens, which are part of `output`, are billed at the reasoning
/// price when the model has one. `priced = false` (and 0) when the model has no price.
pub fn cost(table: &PriceTable, model: &str, usage: &Usage, tier: ServiceTier) -> Cost {
    let (price, defaulted) = match table.lookup(model) {
        Some(p) => (p, false),
        None => match &table.default {
            Some(d) => (d, true),
            None => {
                return Cost {
                    micro_usd: 0,
                    priced: false,
                    tier: ServiceTier::Standard,
                    defaulted: false,
                };
            }
        },
    };
    let (tier_prices, permille, billed) = table.tier_pricing(price, tier);
    // A tier's own price set has no long-context variant (no vendor publishes one).
    let p = match (tier_prices, &price.long_context) {
        (Some(tp), _) => tp,
        (None, Some(lc)) if usage.prompt_total() > lc.above_input_tokens => &lc.prices,
        (None, _) => &price.base,
    };
    let t = |n: u64, per_m: u64| u128::from(n) * u128::from(per_m);
    let reasoning = usage.reasoning.min(usage.output);
    // Each product of two u64 fits in u128, but their sum and the multiplier need not: token
    // counts come from the upstream, so every step saturates (the result is then capped at
    // i64::MAX below) instead of wrapping or panicking.
    let sum = [
        t(usage.input, p.input),
        t(usage.output - reasoning, p.output),
        t(reasoning, p.reasoning.unwrap_or(p.output)),
        t(usage.cache_read, p.cache_read),
        t(usage.cache_write_5m, p.cache_write_5m),
        t(usage.cache_write_1h, p.cache_write_1h),
    ]
    .into_iter()
    .fold(0u128, u128::saturating_add);
    let permille = u128::from(permille);
    // Per million tokens (÷ 10^6) and per-mille (÷ 10^3), rounded half up once.
    const DIV: u128 = 1_000_000_000;
    let micro = sum.saturating_mul(permille).saturating_add(DIV / 2) / DIV;
    Cost {
        micro_usd: i64::try_from(micro).unwrap_or(i64::MAX),
        priced: true,
        tier: billed,
        defaulted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(parse_decimal("f", "0.3", 6), Ok(300_000));
        assert_eq!(parse_decimal("f", "22.5", 6), Ok(22_500_000));
        assert_eq!(parse_decimal("f", "0.000001", 6), Ok(1));
        assert!(parse_decimal("f", "0.0000001", 6).is_err());
        assert!(parse_decimal("f", "-1", 6).is_err());
        assert_eq!(
            scaled("f", &toml::Value::Float(0.075), 6),
            Ok(75_000),
            "floats go through their shortest decimal form"
        );
    }

    #[test]
    fn date_suffixes() {
        assert_eq!(
            strip_date("claude-sonnet-4-5-20250929"),
            "claude-sonnet-4-5"
        );
        assert_eq!(strip_date("gpt-5-mini-2025-08-07"), "gpt-5-mini");
        assert_eq!(strip_date("gpt-4o"), "gpt-4o");
        assert_eq!(strip_date("o3-mini"), "o3-mini");
    }
}
