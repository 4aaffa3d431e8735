#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Importing price databases: our own small sample of each format (`fixtures/prices/`), and
//! the built-in table, which is a dated snapshot written by `scripts/regenerate-prices.sh`.

use relaygate_tokens::{
    ImportOptions, PriceFormat, PriceTable, ServiceTier, TierPrices, Usage, cost, import_prices,
};

fn sample(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../fixtures/prices/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn providers(list: &[&str]) -> ImportOptions {
    ImportOptions {
        format: None,
        providers: list.iter().map(|s| (*s).to_owned()).collect(),
    }
}

const M: u64 = 1_000_000;

fn prices(input: u64, output: u64, read: u64, w5: u64, w1: u64) -> TierPrices {
    TierPrices {
        input,
        output,
        cache_read: read,
        cache_write_5m: w5,
        cache_write_1h: w1,
        reasoning: None,
    }
}

fn million_each() -> Usage {
    Usage {
        input: M,
        output: M,
        ..Usage::default()
    }
}

#[test]
fn litellm_sample() {
    let got = import_prices(
        &sample("litellm-sample.json"),
        &providers(&["anthropic", "openai", "gemini", "vertex_ai-language-models"]),
    )
    .unwrap();
    assert_eq!(got.format, PriceFormat::LiteLlm);
    let t = &got.table;
    // Cache prices: 5-minute and 1-hour writes apart; batch is its own price set.
    let opus = t.lookup("relay-opus-9").unwrap();
    assert_eq!(opus.base, prices(5 * M, 25 * M, M / 2, 6_250_000, 10 * M));
    assert_eq!(opus.context_window, Some(200_000));
    assert_eq!(
        cost(t, "relay-opus-9", &million_each(), ServiceTier::Standard).micro_usd,
        30_000_000
    );
    let batch = cost(t, "relay-opus-9", &million_each(), ServiceTier::Batch);
    assert_eq!(
        (batch.micro_usd, batch.tier),
        (15_000_000, ServiceTier::Batch)
    );
    // Anthropic has no priority price: billed at standard.
    let pri = cost(t, "relay-opus-9", &million_each(), ServiceTier::Priority);
    assert_eq!(
        (pri.micro_usd, pri.tier),
        (30_000_000, ServiceTier::Standard)
    );

    // Priority and flex price sets, one long-context tier; a tier's long-context prices and
    // unbilled variants (`_cache_hit`, search) are left out.
    let gpt = t.lookup("relay-gpt-7").unwrap();
    assert_eq!(
        gpt.base,
        prices(1_250_000, 10 * M, 125_000, 1_250_000, 1_250_000)
    );
    let lc = gpt.long_context.unwrap();
    assert_eq!(lc.above_input_tokens, 272_000);
    assert_eq!(
        lc.prices,
        prices(2_500_000, 15 * M, 125_000, 1_250_000, 1_250_000)
    );
    let pri = cost(t, "relay-gpt-7", &million_each(), ServiceTier::Priority);
    assert_eq!(
        (pri.micro_usd, pri.tier),
        (22_500_000, ServiceTier::Priority)
    );
    let flex = cost(t, "relay-gpt-7", &million_each(), ServiceTier::Flex);
    assert_eq!((flex.micro_usd, flex.tier), (5_625_000, ServiceTier::Flex));
    // Without a batch price of its own, batch is the table-wide half, here of the
    // long-context prices (a 1M prompt is above 272k): (2.5 + 15) / 2.
    assert_eq!(
        cost(t, "relay-gpt-7", &million_each(), ServiceTier::Batch).micro_usd,
        8_750_000
    );

    // `gemini/` prefix dropped; the preferred provider wins a shared name; the lowest
    // long-context threshold is the one billed; a reasoning price is kept.
    let g = t.lookup("relay-gemini-4-pro").unwrap();
    assert_eq!(g.base.input, 1_250_000);
    assert_eq!(g.base.reasoning, Some(10 * M));
    assert_eq!(g.long_context.unwrap().above_input_tokens, 200_000);
    assert_eq!(g.long_context.unwrap().prices.cache_read, 250_000);
    assert!(t.lookup("gemini/relay-gemini-4-pro").is_some());

    // Not text models, other providers, bad entries.
    assert!(!t.is_priced("relay-embed-2"));
    assert!(!t.is_priced("relay-image-1"));
    assert!(!t.is_priced("relay-broken"));
    assert!(!t.is_priced("relay-no-output"));
    assert_eq!(got.skipped.len(), 2, "{:?}", got.skipped);
    assert!(got.skipped.iter().any(|s| s.starts_with("relay-broken: ")));
    assert!(
        got.skipped
            .iter()
            .any(|s| s == "relay-no-output: no output price")
    );
    assert_eq!(t.len(), 4, "opus, its dated name, gpt, gemini");

    // The other order of preference picks the other provider's price.
    let vertex_first = import_prices(
        &sample("litellm-sample.json"),
        &providers(&["vertex_ai-language-models", "gemini"]),
    )
    .unwrap();
    assert_eq!(
        vertex_first
            .table
            .lookup("relay-gemini-4-pro")
            .unwrap()
            .base
            .input,
        9_900_000
    );

    // Every provider: the bare first-party name wins over `bedrock/`.
    let all = import_prices(&sample("litellm-sample.json"), &ImportOptions::default()).unwrap();
    assert_eq!(all.table.lookup("relay-opus-9").unwrap().base.input, 5 * M);
}

#[test]
fn models_dev_sample() {
    let got = import_prices(&sample("models-dev-sample.json"), &ImportOptions::default()).unwrap();
    assert_eq!(got.format, PriceFormat::ModelsDev);
    let t = &got.table;
    // One cache-write price: the 5-minute one (1-hour writes default to it).
    let opus = t.lookup("relay-opus-9").unwrap();
    assert_eq!(
        opus.base,
        prices(5 * M, 25 * M, M / 2, 6_250_000, 6_250_000)
    );
    assert_eq!(opus.context_window, Some(200_000));
    // context_over_200k is the long-context tier.
    let sonnet = t.lookup("relay-sonnet-9").unwrap();
    let lc = sonnet.long_context.unwrap();
    assert_eq!(lc.above_input_tokens, 200_000);
    assert_eq!(
        lc.prices,
        prices(6 * M, 22_500_000, 600_000, 7_500_000, 7_500_000)
    );
    let long = Usage {
        input: 300_000,
        output: 1_000,
        ..Usage::default()
    };
    assert_eq!(
        cost(t, "relay-sonnet-9", &long, ServiceTier::Standard).micro_usd,
        1_822_500
    );
    assert_eq!(
        t.lookup("relay-gemini-4-flash").unwrap().base.reasoning,
        Some(2_500_000)
    );
    assert!(!t.is_priced("relay-free-preview"));
    assert!(!t.is_priced("relay-bad"));
    assert_eq!(got.skipped.len(), 2, "{:?}", got.skipped);

    let routed = import_prices(
        &sample("models-dev-sample.json"),
        &providers(&["openrouter"]),
    )
    .unwrap();
    assert_eq!(
        routed.table.lookup("relay-opus-9").unwrap().base.input,
        5_500_000
    );
    assert_eq!(routed.table.len(), 1);
}

#[test]
fn an_import_round_trips_through_the_table_format() {
    for (file, format) in [
        ("litellm-sample.json", PriceFormat::LiteLlm),
        ("models-dev-sample.json", PriceFormat::ModelsDev),
    ] {
        let got = import_prices(
            &sample(file),
            &ImportOptions {
                format: Some(format),
                providers: Vec::new(),
            },
        )
        .unwrap();
        let back = PriceTable::from_toml(&got.table.to_toml("header", "source")).unwrap();
        assert_eq!(back, got.table, "{file}");
    }
    // The wrong format given explicitly reads nothing rather than something wrong.
    let wrong = import_prices(
        &sample("models-dev-sample.json"),
        &ImportOptions {
            format: Some(PriceFormat::LiteLlm),
            providers: Vec::new(),
        },
    )
    .unwrap();
    assert!(wrong.table.is_empty());
}

#[test]
fn the_builtin_table_is_a_dated_snapshot_of_current_models() {
    let source = PriceTable::builtin_source();
    assert!(
        source.contains("LiteLLM") && source.contains("snapshot of 20"),
        "{source}"
    );
    let t = PriceTable::builtin();
    assert!(t.len() > 300, "{} models", t.len());
    // Current flagship models of the three vendors, and retired ones kept priced.
    for m in [
        "gpt-5",
        "gpt-5.5",
        "gpt-4.1",
        "o3",
        "claude-opus-4-7",
        "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5",
        "gemini-2.5-pro",
        "gemini-3.1-pro-preview",
        "claude-3-5-sonnet-latest",
        "claude-opus-4-1",
        "deepseek-chat",
        "grok-4.20",
    ] {
        assert!(t.is_priced(m), "{m} unpriced");
    }
}
