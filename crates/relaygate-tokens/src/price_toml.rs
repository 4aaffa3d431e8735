//! Writing a [`PriceTable`] back in the TOML format it is read from, so that an imported price
//! list, the built-in table and what the admin API serves are all the same text.
//!
//! Only what differs from what the reader would infer is written (a cache price equal to the
//! input price, a long-context or tier price equal to the base one), so that
//! `PriceTable::from_toml(&t.to_toml(..))` gives back `t` exactly.

use std::fmt::Write as _;

use crate::price::{ModelPrice, PriceTable, ServiceTier, TierMultipliers, TierPrices};

impl PriceTable {
    /// The table as TOML in the format of `prices/default.toml`. `header` lines are written
    /// first as `#` comments; `source` becomes the top-level `source` key when not empty.
    pub fn to_toml(&self, header: &str, source: &str) -> String {
        let mut out = String::new();
        for line in header.lines() {
            if line.is_empty() {
                out.push_str("#\n");
            } else {
                let _ = writeln!(out, "# {line}");
            }
        }
        if !header.is_empty() {
            out.push('\n');
        }
        if !source.is_empty() {
            let _ = writeln!(out, "source = {}", quote(source));
            out.push('\n');
        }
        if let Some(b) = self.batch_permille() {
            let _ = writeln!(out, "[service_tiers]\nbatch = {}\n", permille(b));
        }
        let mut aliases: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for (alias, model) in self.aliases() {
            aliases.entry(model).or_default().push(alias);
        }
        for (name, price) in self.models() {
            write_model(
                &mut out,
                name,
                price,
                aliases.get(name).map_or(&[][..], Vec::as_slice),
            );
        }
        out
    }
}

fn write_model(out: &mut String, name: &str, p: &ModelPrice, aliases: &[&str]) {
    let key = format!("models.{}", quote(name));
    let _ = writeln!(out, "[{key}]");
    write_prices(out, &p.base, None);
    if let Some(w) = p.context_window {
        let _ = writeln!(out, "context_window = {w}");
    }
    if !aliases.is_empty() {
        let list: Vec<String> = aliases.iter().map(|a| quote(a)).collect();
        let _ = writeln!(out, "aliases = [{}]", list.join(", "));
    }
    if let Some(lc) = &p.long_context {
        let _ = writeln!(out, "\n[{key}.above]");
        let _ = writeln!(out, "input_tokens = {}", lc.above_input_tokens);
        write_prices(out, &lc.prices, Some(&p.base));
    }
    if p.service_tiers != TierMultipliers::default() {
        let _ = writeln!(out, "\n[{key}.service_tiers]");
        let m = &p.service_tiers;
        for (tier, v) in [
            (ServiceTier::Batch, m.batch),
            (ServiceTier::Flex, m.flex),
            (ServiceTier::Priority, m.priority),
            (ServiceTier::Scale, m.scale),
            (ServiceTier::UltraFast, m.ultrafast),
        ] {
            if let Some(v) = v {
                let _ = writeln!(out, "{} = {}", tier.as_str(), permille(v));
            }
        }
    }
    let mut tiers: Vec<&(ServiceTier, TierPrices)> = p.tier_prices.iter().collect();
    tiers.sort_by_key(|(t, _)| *t);
    for (tier, prices) in tiers {
        let _ = writeln!(out, "\n[{key}.tiers.{}]", tier.as_str());
        write_prices(out, prices, Some(&p.base));
    }
    out.push('\n');
}

/// The price fields of `p`; with `inherit`, only those that differ from it (the reader
/// inherits the rest), else only those that differ from what the reader infers.
fn write_prices(out: &mut String, p: &TierPrices, inherit: Option<&TierPrices>) {
    let mut field = |k: &str, v: u64, implied: u64| {
        if v != implied {
            let _ = writeln!(out, "{k} = {}", dollars_per_million(v));
        }
    };
    match inherit {
        Some(b) => {
            field("input", p.input, b.input);
            field("output", p.output, b.output);
            field("cache_read", p.cache_read, b.cache_read);
            field("cache_write_5m", p.cache_write_5m, b.cache_write_5m);
            field("cache_write_1h", p.cache_write_1h, b.cache_write_1h);
            if p.reasoning != b.reasoning {
                // A set reasoning price can't be unset by a sub-table: write the output price,
                // which bills the same.
                field("reasoning", p.reasoning.unwrap_or(p.output), u64::MAX);
            }
        }
        None => {
            // `input` and `output` are required (never equal to `u64::MAX`).
            field("input", p.input, u64::MAX);
            field("output", p.output, u64::MAX);
            field("cache_read", p.cache_read, p.input);
            field("cache_write_5m", p.cache_write_5m, p.input);
            field("cache_write_1h", p.cache_write_1h, p.cache_write_5m);
            if let Some(r) = p.reasoning {
                field("reasoning", r, u64::MAX);
            }
        }
    }
}

/// Micro-dollars per million tokens (as [`TierPrices`] holds them) as dollars per million,
/// exact and as short as possible (`0.075`, `3`, `1.25`): the form the price table is written in.
pub fn dollars_per_million(micro: u64) -> String {
    decimal(micro, 1_000_000, 6)
}

/// Per-mille as a multiplier (`500` is `0.5`).
fn permille(v: u32) -> String {
    decimal(u64::from(v), 1_000, 3)
}

fn decimal(v: u64, unit: u64, digits: usize) -> String {
    let (int, frac) = (v / unit, v % unit);
    if frac == 0 {
        return int.to_string();
    }
    let frac = format!("{frac:0digits$}");
    format!("{int}.{}", frac.trim_end_matches('0'))
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact_and_short() {
        assert_eq!(dollars_per_million(3_000_000), "3");
        assert_eq!(dollars_per_million(75_000), "0.075");
        assert_eq!(dollars_per_million(1), "0.000001");
        assert_eq!(dollars_per_million(1_250_000), "1.25");
        assert_eq!(permille(500), "0.5");
        assert_eq!(permille(2_000), "2");
    }

    #[test]
    fn the_builtin_table_round_trips() {
        let t = PriceTable::builtin();
        assert!(!t.is_empty());
        let text = t.to_toml("a header\n\nline", "test");
        assert_eq!(PriceTable::from_toml(&text), Ok(t));
    }

    #[test]
    fn hostile_names_are_quoted() {
        let mut t = PriceTable::default();
        let p = PriceTable::price_from_toml("input = 1\noutput = 2").unwrap();
        t.insert("a\"b\\c\nd]", p);
        let back = PriceTable::from_toml(&t.to_toml("", "")).unwrap();
        assert!(back.is_priced("a\"b\\c\nd]"));
    }
}
