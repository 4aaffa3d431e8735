//! `GET/PUT /admin/api/prices`: the prices in force, the operator's table kept in the store,
//! and the models requests were served for without a price.
//!
//! The operator's table is TOML in the price-table format (`docs/tokens.md`), read on top of
//! the built-in snapshot and the configuration's `prices_file`. Saving it puts it in force on
//! this instance at once and on the others within seconds (`relaygate_proxy` follows the store).

use axum::extract::State;
use relaygate_store::{Bucket, GroupBy, MAX_PRICE_TABLE, PRICE_TABLE_SETTING, StatsQuery};
use relaygate_tokens::{ModelPrice, PriceTable, TierPrices, dollars_per_million as dollars};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::body::JsonBody;
use crate::{AppState, Error, Result, now_ms};

type Json = axum::Json<Value>;

/// How far back the unpriced-models list looks.
const UNPRICED_WINDOW_MS: i64 = 30 * 86_400_000;

/// Prices go out as exact decimal strings, so no float rounds a price on its way to the
/// dashboard.
fn prices_json(p: &TierPrices) -> Value {
    json!({
        "input": dollars(p.input), "output": dollars(p.output),
        "cache_read": dollars(p.cache_read), "cache_write_5m": dollars(p.cache_write_5m),
        "cache_write_1h": dollars(p.cache_write_1h), "reasoning": p.reasoning.map(dollars),
    })
}

fn model_json(name: &str, p: &ModelPrice, stored: Option<&PriceTable>) -> Value {
    let mut v = prices_json(&p.base);
    v["model"] = json!(name);
    v["context_window"] = json!(p.context_window);
    v["long_context"] = match &p.long_context {
        Some(lc) => {
            let mut t = prices_json(&lc.prices);
            t["above_input_tokens"] = json!(lc.above_input_tokens);
            t
        }
        None => Value::Null,
    };
    v["tiers"] = json!(
        p.tier_prices
            .iter()
            .map(|(t, _)| t.as_str())
            .collect::<Vec<_>>()
    );
    v["stored"] = json!(stored.is_some_and(|s| s.lookup(name) == Some(p)));
    v
}

/// Requests of the last 30 days whose model had no price, by model, most first.
async fn unpriced(st: &AppState) -> Result<Vec<Value>> {
    let to = now_ms() + 1;
    let mut rows = st
        .gateway
        .store()
        .stats(StatsQuery {
            from_ms: to - UNPRICED_WINDOW_MS,
            to_ms: to,
            bucket: Bucket::Total,
            group_by: GroupBy::Model,
        })
        .await?;
    rows.retain(|r| r.unpriced > 0);
    rows.sort_by(|a, b| b.unpriced.cmp(&a.unpriced).then(a.key.cmp(&b.key)));
    let prices = st.gateway.prices();
    Ok(rows
        .iter()
        .map(|r| {
            json!({"model": r.key, "requests": r.unpriced,
                   // Priced since (a table saved after those requests).
                   "priced_now": prices.is_priced(&r.key)})
        })
        .collect())
}

/// `GET /admin/api/prices`
pub(crate) async fn get_prices(State(st): State<AppState>) -> Result<Json> {
    let stored = st
        .gateway
        .store()
        .get_setting(PRICE_TABLE_SETTING.to_owned())
        .await?;
    let stored_table = stored
        .as_deref()
        .and_then(|t| PriceTable::from_toml(t).ok());
    let prices = st.gateway.prices();
    let models: Vec<Value> = prices
        .models()
        .map(|(n, p)| model_json(n, p, stored_table.as_ref()))
        .collect();
    Ok(axum::Json(json!({
        "builtin_source": PriceTable::builtin_source(),
        "stored": stored,
        "models": models,
        "unpriced": unpriced(&st).await?,
    })))
}

/// The body of `PUT /admin/api/prices`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricesInput {
    /// The operator's price table (TOML); empty removes it.
    pub table: String,
}

/// `PUT /admin/api/prices`
pub(crate) async fn put_prices(
    State(st): State<AppState>,
    JsonBody(body): JsonBody<PricesInput>,
) -> Result<Json> {
    let store = st.gateway.store();
    let mut stored_models = 0;
    if body.table.trim().is_empty() {
        store.delete_setting(PRICE_TABLE_SETTING.to_owned()).await?;
    } else {
        if body.table.len() > MAX_PRICE_TABLE {
            return Err(Error::field(
                "table",
                format!("the price table is larger than {MAX_PRICE_TABLE} bytes"),
            ));
        }
        let table =
            PriceTable::from_toml(&body.table).map_err(|e| Error::field("table", e.to_string()))?;
        if table.is_empty() {
            return Err(Error::field(
                "table",
                "the price table prices no model (send an empty table to remove it)",
            ));
        }
        stored_models = table.len();
        store
            .set_setting(PRICE_TABLE_SETTING.to_owned(), body.table)
            .await?;
    }
    st.gateway.reload_prices().await?;
    tracing::info!(stored_models, "price table saved");
    Ok(axum::Json(json!({
        "stored_models": stored_models,
        "models": st.gateway.prices().len(),
    })))
}
