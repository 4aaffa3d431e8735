//! Reading published price databases into a [`PriceTable`]: LiteLLM's
//! `model_prices_and_context_window.json` and models.dev's `api.json`.
//!
//! Both keep far more than relaygate bills (images, audio, seconds of video, search calls);
//! only token prices of text models are read: input, output, cache reads, 5-minute and 1-hour
//! cache writes, reasoning, one long-context tier, the batch, flex, priority and ultrafast tiers
//! and the context window. Every entry left out is listed with the reason, so an import never
//! drops a model silently.

use serde_json::{Map, Value};

use crate::Error;
use crate::price::{LongContextTier, ModelPrice, PriceTable, ServiceTier, TierPrices};

/// The format of a price database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceFormat {
    /// LiteLLM's `model_prices_and_context_window.json`: one object per model, prices in
    /// dollars per token.
    LiteLlm,
    /// models.dev's `api.json`: providers holding models, prices in dollars per million tokens.
    ModelsDev,
}

impl PriceFormat {
    /// The format's name as the command line takes it (`litellm`, `models.dev`).
    pub fn as_str(self) -> &'static str {
        match self {
            PriceFormat::LiteLlm => "litellm",
            PriceFormat::ModelsDev => "models.dev",
        }
    }

    /// The format named `s` (`litellm`, `models.dev` or `modelsdev`).
    pub fn from_name(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "litellm" => Some(PriceFormat::LiteLlm),
            "models.dev" | "modelsdev" | "models-dev" => Some(PriceFormat::ModelsDev),
            _ => None,
        }
    }
}

/// What to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The format; `None` detects it from the file's shape.
    pub format: Option<PriceFormat>,
    /// Providers to keep (LiteLLM's `litellm_provider`, models.dev's provider ids), in order of
    /// preference when two of them price a model of the same name. Empty keeps every provider.
    pub providers: Vec<String>,
}

/// The result of an import.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The format read.
    pub format: PriceFormat,
    /// The models priced.
    pub table: PriceTable,
    /// Entries left out, with the reason (`name: reason`); entries of other providers and of
    /// models that are not text models are counted, not listed.
    pub skipped: Vec<String>,
    /// Entries of providers not asked for, and of non-text models (images, embeddings, audio).
    pub not_selected: usize,
}

/// The largest price accepted, dollars per million tokens: a figure beyond it is a unit error.
const MAX_DOLLARS_PER_MILLION: f64 = 1_000_000.0;

/// Reads a price database. The file must be a JSON object in one of the [`PriceFormat`]s.
pub fn import_prices(json: &[u8], options: &ImportOptions) -> Result<Imported, Error> {
    let root: Value =
        serde_json::from_slice(json).map_err(|e| Error::InvalidJson(e.to_string()))?;
    let root = root.as_object().ok_or(Error::NotAnObject)?;
    let format = match options.format {
        Some(f) => f,
        None => detect(root).ok_or_else(|| {
            Error::PriceTable(
                "not a LiteLLM or models.dev price file (give the format explicitly)".into(),
            )
        })?,
    };
    let mut picked = Picked::default();
    let mut skipped = Vec::new();
    let mut not_selected = 0;
    match format {
        PriceFormat::LiteLlm => {
            for (key, entry) in root {
                let Some(e) = entry.as_object() else {
                    continue;
                };
                let provider = e
                    .get("litellm_provider")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let mode = e.get("mode").and_then(Value::as_str).unwrap_or("");
                let Some(rank) = rank(&options.providers, provider) else {
                    not_selected += 1;
                    continue;
                };
                if !matches!(mode, "chat" | "responses" | "completion") {
                    not_selected += 1;
                    continue;
                }
                match litellm_model(e) {
                    Ok(price) => picked.offer(key, rank, price),
                    Err(reason) => skipped.push(format!("{key}: {reason}")),
                }
            }
        }
        PriceFormat::ModelsDev => {
            let providers = root
                .get("providers")
                .and_then(Value::as_object)
                .unwrap_or(root);
            for (provider, p) in providers {
                let Some(rank) = rank(&options.providers, provider) else {
                    not_selected += 1;
                    continue;
                };
                let Some(models) = p.get("models").and_then(Value::as_object) else {
                    continue;
                };
                for (key, m) in models {
                    let Some(m) = m.as_object() else { continue };
                    if m.get("cost").is_none() {
                        skipped.push(format!("{provider}/{key}: no cost"));
                        continue;
                    }
                    match models_dev_model(m) {
                        Ok(price) => picked.offer(key, rank, price),
                        Err(reason) => skipped.push(format!("{provider}/{key}: {reason}")),
                    }
                }
            }
        }
    }
    Ok(Imported {
        format,
        table: picked.into_table(),
        skipped,
        not_selected,
    })
}

fn detect(root: &Map<String, Value>) -> Option<PriceFormat> {
    if root.get("providers").is_some_and(Value::is_object) {
        return Some(PriceFormat::ModelsDev);
    }
    let mut objects = root.values().filter_map(Value::as_object).peekable();
    objects.peek()?;
    for o in objects {
        if o.contains_key("litellm_provider") || o.contains_key("input_cost_per_token") {
            return Some(PriceFormat::LiteLlm);
        }
        if o.get("models").is_some_and(Value::is_object) {
            return Some(PriceFormat::ModelsDev);
        }
    }
    None
}

/// The preference of `provider` (lower is preferred), `None` when it is not asked for.
fn rank(providers: &[String], provider: &str) -> Option<usize> {
    if providers.is_empty() {
        return Some(0);
    }
    providers
        .iter()
        .position(|p| p.eq_ignore_ascii_case(provider))
}

/// The model names kept so far, with the preference of the entry that priced each.
#[derive(Default)]
struct Picked {
    /// name → (provider rank, whether the key had a provider prefix, price)
    models: std::collections::BTreeMap<String, (usize, bool, ModelPrice)>,
}

impl Picked {
    /// Keeps `price` under the key's model name unless a preferred provider (or, from the same
    /// provider, a key without a `provider/` prefix) already priced it.
    fn offer(&mut self, key: &str, rank: usize, price: ModelPrice) {
        let lower = key.trim().to_ascii_lowercase();
        let prefixed = lower.contains('/');
        let name = lower.rsplit('/').next().unwrap_or(&lower).to_owned();
        if name.is_empty() {
            return;
        }
        match self.models.get(&name) {
            Some((r, p, _)) if (*r, *p) <= (rank, prefixed) => {}
            _ => {
                self.models.insert(name, (rank, prefixed, price));
            }
        }
    }

    /// The table, with each dated name (`-20250929`, `@20240307`) also reachable by its
    /// undated one when no model has that name (the newest date wins).
    fn into_table(self) -> PriceTable {
        let mut t = PriceTable::default();
        let mut undated = std::collections::BTreeMap::new();
        for (name, (_, _, price)) in self.models {
            let bare = crate::price::strip_date(name.split('@').next().unwrap_or(&name));
            if bare != name && !bare.is_empty() {
                undated.insert(bare.to_owned(), name.clone());
            }
            t.insert(&name, price);
        }
        for (alias, model) in undated {
            t.add_alias(&alias, &model);
        }
        t
    }
}

/// Which price a LiteLLM field holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Input,
    Output,
    CacheRead,
    CacheWrite5m,
    CacheWrite1h,
    Reasoning,
}

/// LiteLLM's field names, longest first so that a prefix never hides a longer name.
const LITELLM_FIELDS: &[(&str, Field)] = &[
    (
        "cache_creation_input_token_cost_above_1hr",
        Field::CacheWrite1h,
    ),
    ("cache_creation_input_token_cost", Field::CacheWrite5m),
    ("output_cost_per_reasoning_token", Field::Reasoning),
    ("cache_read_input_token_cost", Field::CacheRead),
    ("input_cost_per_token", Field::Input),
    ("output_cost_per_token", Field::Output),
];

/// One LiteLLM price field: `<field>[_above_<N>k_tokens][_<tier>]`.
struct FieldName {
    field: Field,
    above_tokens: Option<u64>,
    tier: Option<ServiceTier>,
}

fn parse_field_name(name: &str) -> Option<FieldName> {
    let (base, field) = LITELLM_FIELDS
        .iter()
        .find(|(base, _)| name.starts_with(base))?;
    let mut rest = &name[base.len()..];
    let mut above_tokens = None;
    if let Some(r) = rest.strip_prefix("_above_") {
        let end = r.find("k_tokens")?;
        let thousands: u64 = r[..end].parse().ok()?;
        above_tokens = Some(thousands.checked_mul(1000)?);
        rest = &r[end + "k_tokens".len()..];
    }
    let tier = match rest {
        "" => None,
        "_priority" => Some(ServiceTier::Priority),
        "_flex" => Some(ServiceTier::Flex),
        "_batches" => Some(ServiceTier::Batch),
        "_ultrafast" => Some(ServiceTier::UltraFast),
        // Region, mode or unit variants relaygate does not bill (`_cache_hit`, `_12hr`, …).
        _ => return None,
    };
    Some(FieldName {
        field: *field,
        above_tokens,
        tier,
    })
}

/// Dollars per `per` tokens as micro-dollars per million tokens.
fn micro_per_million(v: &Value, tokens_per_unit: f64) -> Result<u64, &'static str> {
    let f = v.as_f64().ok_or("a price is not a number")?;
    let per_million = f * 1_000_000.0 / tokens_per_unit;
    if !per_million.is_finite() || per_million < 0.0 {
        return Err("a price is negative or not finite");
    }
    if per_million > MAX_DOLLARS_PER_MILLION {
        return Err("a price is beyond $1,000,000 per million tokens");
    }
    // Bounded above, so the cast neither saturates nor wraps.
    Ok((per_million * 1_000_000.0).round() as u64)
}

/// Prices set on top of inherited ones.
#[derive(Default, Clone, Copy)]
struct Partial {
    input: Option<u64>,
    output: Option<u64>,
    cache_read: Option<u64>,
    cache_write_5m: Option<u64>,
    cache_write_1h: Option<u64>,
    reasoning: Option<u64>,
}

impl Partial {
    fn set(&mut self, f: Field, v: u64) {
        let slot = match f {
            Field::Input => &mut self.input,
            Field::Output => &mut self.output,
            Field::CacheRead => &mut self.cache_read,
            Field::CacheWrite5m => &mut self.cache_write_5m,
            Field::CacheWrite1h => &mut self.cache_write_1h,
            Field::Reasoning => &mut self.reasoning,
        };
        *slot = Some(v);
    }

    fn is_empty(&self) -> bool {
        self.input
            .or(self.output)
            .or(self.cache_read)
            .or(self.cache_write_5m)
            .or(self.cache_write_1h)
            .or(self.reasoning)
            .is_none()
    }

    /// The base prices: input and output required; cache prices default as the TOML reader's
    /// do (reads and 5-minute writes to the input price, 1-hour writes to the 5-minute one).
    fn base(&self) -> Result<TierPrices, &'static str> {
        let input = self.input.ok_or("no input price")?;
        let output = self.output.ok_or("no output price")?;
        let cache_write_5m = self.cache_write_5m.unwrap_or(input);
        Ok(TierPrices {
            input,
            output,
            cache_read: self.cache_read.unwrap_or(input),
            cache_write_5m,
            cache_write_1h: self.cache_write_1h.unwrap_or(cache_write_5m),
            reasoning: self.reasoning,
        })
    }

    /// These prices over `base`.
    fn over(&self, base: &TierPrices) -> TierPrices {
        TierPrices {
            input: self.input.unwrap_or(base.input),
            output: self.output.unwrap_or(base.output),
            cache_read: self.cache_read.unwrap_or(base.cache_read),
            cache_write_5m: self.cache_write_5m.unwrap_or(base.cache_write_5m),
            cache_write_1h: self.cache_write_1h.unwrap_or(base.cache_write_1h),
            reasoning: self.reasoning.or(base.reasoning),
        }
    }
}

fn litellm_model(e: &Map<String, Value>) -> Result<ModelPrice, &'static str> {
    let mut base = Partial::default();
    // Only one long-context tier is billed: the lowest threshold the entry prices.
    let mut long: Option<(u64, Partial)> = None;
    let mut tiers: Vec<(ServiceTier, Partial)> = Vec::new();
    for (k, v) in e {
        let Some(f) = parse_field_name(k) else {
            continue;
        };
        let price = micro_per_million(v, 1.0)?;
        match (f.above_tokens, f.tier) {
            (None, None) => base.set(f.field, price),
            (Some(n), None) => match &mut long {
                Some((at, p)) if *at == n => p.set(f.field, price),
                Some((at, _)) if *at < n => {}
                _ => {
                    let mut p = Partial::default();
                    p.set(f.field, price);
                    long = Some((n, p));
                }
            },
            // A tier's own long-context prices have no place in the table: the tier's
            // standard-length prices are used at any length.
            (Some(_), Some(_)) => {}
            (None, Some(t)) => match tiers.iter_mut().find(|(x, _)| *x == t) {
                Some((_, p)) => p.set(f.field, price),
                None => {
                    let mut p = Partial::default();
                    p.set(f.field, price);
                    tiers.push((t, p));
                }
            },
        }
    }
    let base = base.base()?;
    tiers.sort_by_key(|(t, _)| *t);
    let context_window = ["max_input_tokens", "max_tokens"]
        .iter()
        .find_map(|k| e.get(*k).and_then(Value::as_u64));
    Ok(ModelPrice {
        base,
        long_context: long
            .filter(|(_, p)| !p.is_empty())
            .map(|(n, p)| LongContextTier {
                above_input_tokens: n,
                prices: p.over(&base),
            }),
        tier_prices: tiers.iter().map(|(t, p)| (*t, p.over(&base))).collect(),
        context_window,
        ..ModelPrice::default()
    })
}

fn models_dev_prices(cost: &Map<String, Value>) -> Result<Partial, &'static str> {
    let mut p = Partial::default();
    for (k, f) in [
        ("input", Field::Input),
        ("output", Field::Output),
        ("cache_read", Field::CacheRead),
        // models.dev has one cache-write price: Anthropic's 5-minute one.
        ("cache_write", Field::CacheWrite5m),
        ("reasoning", Field::Reasoning),
    ] {
        if let Some(v) = cost.get(k).filter(|v| !v.is_null()) {
            p.set(f, micro_per_million(v, 1_000_000.0)?);
        }
    }
    // With one write price, 1-hour writes are billed at it too, also in the long tier.
    if let Some(w) = p.cache_write_5m {
        p.set(Field::CacheWrite1h, w);
    }
    Ok(p)
}

fn models_dev_model(m: &Map<String, Value>) -> Result<ModelPrice, &'static str> {
    let cost = m
        .get("cost")
        .and_then(Value::as_object)
        .ok_or("`cost` is not an object")?;
    let base = models_dev_prices(cost)?.base()?;
    let long_context = match cost.get("context_over_200k").and_then(Value::as_object) {
        Some(over) => {
            let p = models_dev_prices(over)?;
            (!p.is_empty()).then(|| LongContextTier {
                above_input_tokens: 200_000,
                prices: p.over(&base),
            })
        }
        None => None,
    };
    Ok(ModelPrice {
        base,
        long_context,
        context_window: m
            .get("limit")
            .and_then(|l| l.get("context"))
            .and_then(Value::as_u64)
            .filter(|&c| c > 0),
        ..ModelPrice::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names() {
        let f = parse_field_name("cache_creation_input_token_cost_above_1hr_above_200k_tokens")
            .unwrap();
        assert!(f.field == Field::CacheWrite1h && f.above_tokens == Some(200_000));
        let f = parse_field_name("input_cost_per_token_above_272k_tokens_priority").unwrap();
        assert!(f.above_tokens == Some(272_000) && f.tier == Some(ServiceTier::Priority));
        let f = parse_field_name("output_cost_per_token_batches").unwrap();
        assert!(f.field == Field::Output && f.tier == Some(ServiceTier::Batch));
        for ignored in [
            "input_cost_per_token_cache_hit",
            "cache_creation_input_token_cost_above_12hr",
            "input_cost_per_token_balanced",
            "input_cost_per_audio_token",
            "input_cost_per_token_above_xk_tokens",
            "input_cost_per_token_above_99999999999999999999k_tokens",
        ] {
            assert!(parse_field_name(ignored).is_none(), "{ignored}");
        }
    }

    #[test]
    fn prices_convert_exactly_and_refuse_nonsense() {
        let v = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert_eq!(micro_per_million(&v("3e-06"), 1.0), Ok(3_000_000));
        assert_eq!(micro_per_million(&v("3.75e-06"), 1.0), Ok(3_750_000));
        assert_eq!(micro_per_million(&v("1.25e-07"), 1.0), Ok(125_000));
        assert_eq!(micro_per_million(&v("0.075"), 1e6), Ok(75_000));
        assert!(micro_per_million(&v("-1e-06"), 1.0).is_err());
        assert!(micro_per_million(&v("\"3\""), 1.0).is_err());
        assert!(micro_per_million(&v("1e300"), 1.0).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let o = ImportOptions::default();
        assert!(import_prices(b"[1,2]", &o).is_err());
        assert!(import_prices(b"{\"a\": 1}", &o).is_err());
        assert!(import_prices(b"not json", &o).is_err());
        let weird =
            br#"{"m": {"litellm_provider": "x", "mode": "chat", "input_cost_per_token": "1"}}"#;
        let got = import_prices(weird, &o).unwrap();
        assert!(got.table.is_empty());
        assert_eq!(got.skipped.len(), 1);
    }
}
