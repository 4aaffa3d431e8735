#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Pricing: cache tokens, context tiers, service tiers, lookups, unknown models.

use relaygate_tokens::{Cost, PriceTable, Protocol, ServiceTier, Usage, cost, usage_from_json};

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input,
        output,
        ..Usage::default()
    }
}

fn micro(table: &PriceTable, model: &str, u: Usage, tier: ServiceTier) -> i64 {
    let c = cost(table, model, &u, tier);
    assert!(c.priced, "{model} is priced");
    c.micro_usd
}

#[test]
fn builtin_table_parses_and_covers_the_families() {
    let t = PriceTable::builtin();
    assert!(t.len() >= 35, "{}", t.len());
    for m in [
        "claude-opus-4-5",
        "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5",
        "claude-3-7-sonnet-20250219",
        "claude-3-5-haiku-latest",
        "claude-sonnet-4-6",
        "gpt-5",
        "gpt-5-mini-2025-08-07",
        "gpt-5.1-codex-max",
        "gpt-4.1-nano-2025-04-14",
        "gpt-4o-2024-08-06",
        "gpt-4o-mini",
        "o3",
        "o4-mini",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "gemini-2.0-flash",
        "gemini-3-pro-preview",
        "models/gemini-2.5-flash",
        "anthropic/claude-sonnet-4-5",
    ] {
        assert!(t.lookup(m).is_some(), "{m}");
    }
}

#[test]
fn plain_costs() {
    let t = PriceTable::builtin();
    // claude-sonnet-4-5: $3 in, $15 out per million → 100k in + 100k out = $1.80.
    assert_eq!(
        micro(
            &t,
            "claude-sonnet-4-5",
            usage(100_000, 100_000),
            ServiceTier::Standard
        ),
        1_800_000
    );
    // 12 in + 29 out (the recorded anthropic-text.json): 36 + 435 micro-dollars.
    assert_eq!(
        micro(
            &t,
            "claude-sonnet-4-5-20250929",
            usage(12, 29),
            ServiceTier::Standard
        ),
        471
    );
    // gpt-4.1-nano $0.10/$0.40: 16 in, 363 out = 1.6 + 145.2 = 146.8 → 147 (half up, once).
    assert_eq!(
        micro(
            &t,
            "gpt-4.1-nano-2025-04-14",
            usage(16, 363),
            ServiceTier::Standard
        ),
        147
    );
}

#[test]
fn cache_tokens_are_priced_apart() {
    let t = PriceTable::builtin();
    // Anthropic cache write (recorded 5942 fixture): 3 in, 18639 written for 5m, 1 out.
    let u = Usage {
        input: 3,
        cache_write_5m: 18_639,
        output: 1,
        ..Usage::default()
    };
    // 3×3 + 18639×3.75 + 1×15 = 9 + 69896.25 + 15 = 69920.25 → 69920.
    assert_eq!(
        micro(&t, "claude-sonnet-4-6", u, ServiceTier::Standard),
        69_920
    );
    let u = Usage {
        input: 3,
        cache_read: 18_639,
        output: 1,
        ..Usage::default()
    };
    // 9 + 18639×0.3 + 15 = 5615.7 → 5616.
    assert_eq!(
        micro(&t, "claude-sonnet-4-6", u, ServiceTier::Standard),
        5_616
    );
    let u = Usage {
        cache_write_1h: 1_000_000,
        ..Usage::default()
    };
    assert_eq!(
        micro(&t, "claude-opus-4-5", u, ServiceTier::Standard),
        10_000_000
    );
    // OpenAI cached input from a recorded body: 138 uncached + 9984 cached at gpt-4o-mini.
    let body = br#"{"usage":{"prompt_tokens":10122,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":9984}}}"#;
    let u = usage_from_json(Protocol::OpenAiChat, body).unwrap();
    assert_eq!((u.input, u.cache_read), (138, 9984));
    // 138×0.15 + 9984×0.075 + 1×0.6 = 20.7 + 748.8 + 0.6 = 770.1 → 770.
    assert_eq!(micro(&t, "gpt-4o-mini", u, ServiceTier::Standard), 770);
}

#[test]
fn long_context_tiers() {
    let t = PriceTable::builtin();
    let at = |input, cache_read| Usage {
        input,
        cache_read,
        output: 1_000,
        ..Usage::default()
    };
    // gemini-2.5-pro: ≤200k prompt → 1.25 / 10; above → 2.5 / 15.
    assert_eq!(
        micro(&t, "gemini-2.5-pro", at(200_000, 0), ServiceTier::Standard),
        250_000 + 10_000
    );
    assert_eq!(
        micro(&t, "gemini-2.5-pro", at(200_001, 0), ServiceTier::Standard),
        500_003 + 15_000
    );
    // Cache reads count toward the threshold and use the tier's cache price.
    assert_eq!(
        micro(
            &t,
            "gemini-2.5-pro",
            at(100_000, 150_000),
            ServiceTier::Standard
        ),
        250_000 + 37_500 + 15_000
    );
    // claude-sonnet-4 over 200k: 6 / 22.5.
    assert_eq!(
        micro(&t, "claude-sonnet-4", at(300_000, 0), ServiceTier::Standard),
        1_800_000 + 22_500
    );
}

#[test]
fn reasoning_and_service_tiers() {
    let t = PriceTable::builtin();
    let u = Usage {
        input: 1_000_000,
        output: 1_000_000,
        reasoning: 400_000,
        ..Usage::default()
    };
    // No reasoning price: reasoning is output (gpt-5: 1.25 + 10).
    assert_eq!(micro(&t, "gpt-5", u, ServiceTier::Standard), 11_250_000);
    assert_eq!(micro(&t, "gpt-5", u, ServiceTier::Priority), 22_500_000);
    assert_eq!(micro(&t, "gpt-5", u, ServiceTier::Flex), 5_625_000);
    assert_eq!(micro(&t, "gpt-5", u, ServiceTier::Batch), 5_625_000);
    assert_eq!(ServiceTier::from_wire("priority"), ServiceTier::Priority);
    assert_eq!(ServiceTier::from_wire("default"), ServiceTier::Standard);
    let custom = PriceTable::from_toml(
        r#"
        [models.m]
        input = 1
        output = 10
        reasoning = 20
        [models.m.service_tiers]
        batch = 0.4
        priority = 1.75
        "#,
    )
    .unwrap();
    // 1 + 0.6×10 + 0.4×20 = 15 dollars.
    assert_eq!(micro(&custom, "m", u, ServiceTier::Standard), 15_000_000);
    assert_eq!(micro(&custom, "m", u, ServiceTier::Batch), 6_000_000);
    assert_eq!(micro(&custom, "m", u, ServiceTier::Priority), 26_250_000);
    assert_eq!(
        cost(&custom, "m", &u, ServiceTier::Flex),
        Cost {
            micro_usd: 15_000_000,
            priced: true,
            tier: ServiceTier::Standard,
            defaulted: false
        },
        "m has no flex price: billed at standard"
    );
}

#[test]
fn a_tier_is_billed_only_where_the_model_has_it() {
    let t = PriceTable::builtin();
    let u = usage(1_000_000, 1_000_000);
    let billed = |model: &str, tier| {
        let c = cost(&t, model, &u, tier);
        (c.micro_usd, c.tier)
    };
    use ServiceTier::*;
    // Hand-computed from the list prices in prices/default.toml (and retired.toml).
    let cases = [
        // gpt-5: 1.25 + 10; flex ×0.5; priority ×2.
        ("gpt-5", Standard, 11_250_000, Standard),
        ("gpt-5", Flex, 5_625_000, Flex),
        ("gpt-5", Priority, 22_500_000, Priority),
        ("gpt-5", Batch, 5_625_000, Batch),
        // gpt-4.1: no flex tier; priority 3.5 + 14.
        ("gpt-4.1", Flex, 10_000_000, Standard),
        ("gpt-4.1", Priority, 17_500_000, Priority),
        // o4-mini priority is its own price set: 2 + 8.
        ("o4-mini", Priority, 10_000_000, Priority),
        ("o4-mini", Flex, 2_750_000, Flex),
        // Claude: priority is capacity, not a price; batch is half.
        ("claude-haiku-4-5", Priority, 6_000_000, Standard),
        ("claude-haiku-4-5", Batch, 3_000_000, Batch),
        // gemini-2.5-flash has its own priority prices (0.54 + 4.5); gemini-2.0-flash none.
        ("gemini-2.5-flash", Priority, 5_040_000, Priority),
        ("gemini-2.0-flash", Priority, 500_000, Standard),
        // Scale and ultrafast are priced nowhere in the built-in table.
        ("gpt-5", Scale, 11_250_000, Standard),
        ("gpt-5", UltraFast, 11_250_000, Standard),
        ("gpt-5", Unknown, 11_250_000, Standard),
    ];
    for (model, tier, micro, as_tier) in cases {
        assert_eq!(billed(model, tier), (micro, as_tier), "{model} {tier:?}");
    }
    // Every name the vendors use today.
    for (wire, tier) in [
        ("auto", Standard),
        ("default", Standard),
        ("standard", Standard),
        ("standard_only", Standard),
        ("Scale", Scale),
        ("priority", Priority),
        ("fast", Priority),
        ("flex", Flex),
        ("batch", Batch),
        ("ultrafast", UltraFast),
        ("ON_DEMAND", Standard),
        ("ON_DEMAND_FLEX", Flex),
        ("PROVISIONED_THROUGHPUT", Standard),
        ("turbo", Unknown),
    ] {
        assert_eq!(ServiceTier::from_wire(wire), tier, "{wire}");
    }
    // A table-wide priority multiplier is refused: it would double models with no priority.
    let err = PriceTable::from_toml("[service_tiers]\npriority = 2").unwrap_err();
    assert!(err.to_string().contains("per model"), "{err}");
}

#[test]
fn unknown_model_is_unpriced_not_free() {
    let t = PriceTable::builtin();
    assert_eq!(
        cost(
            &t,
            "no-such-model-anywhere",
            &usage(100, 100),
            ServiceTier::Standard
        ),
        Cost {
            micro_usd: 0,
            priced: false,
            tier: ServiceTier::Standard,
            defaulted: false
        }
    );
    // With a default price, every other model is billed at it and says so.
    let mut d = t.clone();
    d.set_default(PriceTable::price_from_toml("input = 2\noutput = 8").unwrap());
    let c = cost(
        &d,
        "no-such-model-anywhere",
        &usage(1_000_000, 1_000_000),
        ServiceTier::Standard,
    );
    assert_eq!(
        (c.micro_usd, c.priced, c.defaulted),
        (10_000_000, true, true)
    );
    assert!(!d.is_priced("no-such-model-anywhere"));
    assert!(!cost(&d, "gpt-4o", &usage(1, 1), ServiceTier::Standard).defaulted);
    assert!(cost(&t, "gpt-4o", &usage(0, 0), ServiceTier::Standard).priced);
}

#[test]
fn merge_and_aliases() {
    let mut t = PriceTable::builtin();
    let overrides = PriceTable::from_toml(
        r#"
        [models."gpt-4o"]
        input = "2.0"
        output = 8
        [models."my-model"]
        input = 0.5
        output = 1
        aliases = ["mine"]
        "#,
    )
    .unwrap();
    t.merge(overrides);
    assert_eq!(
        micro(
            &t,
            "gpt-4o-2099-01-01",
            usage(1_000_000, 0),
            ServiceTier::Standard
        ),
        2_000_000
    );
    assert_eq!(
        micro(
            &t,
            "mine-20250101",
            usage(1_000_000, 0),
            ServiceTier::Standard
        ),
        500_000
    );
    // Defaults: a missing cache price is the input price (never silently cheaper).
    let p = t.lookup("my-model").unwrap();
    assert_eq!(
        (
            p.base.cache_read,
            p.base.cache_write_5m,
            p.base.cache_write_1h
        ),
        (500_000, 500_000, 500_000)
    );
    // Aliases in the file: an undated name reaches its dated entry
    // (ft:gpt-4o → ft:gpt-4o-2024-11-20, which the snapshot lists only dated).
    assert_eq!(t.lookup("ft:gpt-4o"), t.lookup("ft:gpt-4o-2024-11-20"));
    assert!(t.lookup("ft:gpt-4o").is_some());
}

#[test]
fn bad_tables_are_errors() {
    assert!(
        PriceTable::from_toml("[models.x]\ninput = 1").is_err(),
        "output required"
    );
    assert!(PriceTable::from_toml("[models.x]\ninput = -1\noutput = 1").is_err());
    assert!(PriceTable::from_toml("[models.x]\ninput = 1\noutput = 1\ncolour = 1").is_err());
    assert!(PriceTable::from_toml("[models.x]\ninput = 1\noutput = \"1.0000001\"").is_err());
    assert!(PriceTable::from_toml("not toml [").is_err());
    assert!(PriceTable::from_toml("[service_tiers]\nturbo = 2").is_err());
}

#[test]
fn absurd_usage_and_prices_saturate_instead_of_wrapping() {
    // The largest price the table accepts (u64::MAX micro-dollars per million) and a 4 294 967x
    // service-tier multiplier (u32::MAX per-mille).
    let t = PriceTable::from_toml(
        r#"
        [models.huge]
        input = "18446744073709.551615"
        output = "18446744073709.551615"
        reasoning = "18446744073709.551615"
        service_tiers = { priority = "4294967.295" }
        [models.cheap]
        input = 1
        output = 1
        "#,
    )
    .unwrap();
    let max = u64::MAX;
    let all_max = Usage {
        input: max,
        output: max,
        cache_read: max,
        cache_write_5m: max,
        cache_write_1h: max,
        reasoning: max,
        ..Usage::default()
    };
    // (model, usage, tier, expected micro-dollars)
    let cases = [
        ("huge", all_max, ServiceTier::Priority, i64::MAX),
        ("huge", all_max, ServiceTier::Standard, i64::MAX),
        ("cheap", all_max, ServiceTier::Standard, i64::MAX),
        ("huge", Usage::default(), ServiceTier::Priority, 0),
        // reasoning above output is clamped to output, never subtracted below zero.
        (
            "cheap",
            Usage {
                output: 1_000_000,
                reasoning: max,
                ..Usage::default()
            },
            ServiceTier::Standard,
            1_000_000,
        ),
    ];
    for (model, u, tier, want) in cases {
        assert_eq!(micro(&t, model, u, tier), want, "{model} {u:?} {tier:?}");
    }
    // Reported numbers that are negative, fractional or beyond u64 (through usage extraction).
    for body in [
        r#"{"usage":{"prompt_tokens":-5,"completion_tokens":1e300}}"#,
        r#"{"usage":{"prompt_tokens":18446744073709551615,"completion_tokens":18446744073709551615,"prompt_tokens_details":{"cached_tokens":-1}}}"#,
        r#"{"usage":{"prompt_tokens":1e308,"completion_tokens":-1e308}}"#,
    ] {
        let u = usage_from_json(Protocol::OpenAiChat, body.as_bytes()).unwrap();
        let c = micro(&t, "huge", u, ServiceTier::Priority);
        assert_eq!(c, i64::MAX, "{body}");
        assert!(micro(&t, "cheap", u, ServiceTier::Standard) >= 0);
    }
}
