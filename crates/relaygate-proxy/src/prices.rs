//! The prices in force: the built-in snapshot, the configuration's `prices_file` on top, then
//! the operator's table kept in the store (`PUT /admin/api/prices`), and the default price of
//! `[pricing] unpriced = "default"`. The store's table is followed by every instance: it is
//! read at start and every [`PRICE_SYNC`], and replaced at once by the instance that saved it.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use relaygate_tokens::PriceTable;

use crate::config::{ProxyConfig, UnpricedPolicy};
use crate::gateway::Gateway;

/// How often the operator's price table is re-read from the store.
pub(crate) const PRICE_SYNC: Duration = Duration::from_secs(5);

/// The table in force and the stored text it was built from.
#[derive(Debug, Default)]
pub(crate) struct PriceBook {
    table: RwLock<Arc<PriceTable>>,
    /// Hash of the stored table in force (`None`: none stored), and of the last one refused.
    seen: Mutex<(Option<u64>, Option<u64>)>,
}

fn hash_of(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// The table for `config` with `stored` (the operator's table) on top.
pub(crate) fn build(
    config: &ProxyConfig,
    stored: Option<&str>,
) -> Result<PriceTable, crate::Error> {
    let mut prices = PriceTable::builtin();
    if let Some(text) = &config.price_overrides {
        let extra = PriceTable::from_toml(text)
            .map_err(|e| crate::Error::Config(format!("price table: {e}")))?;
        prices.merge(extra);
    }
    if let Some(text) = stored {
        let extra = PriceTable::from_toml(text)
            .map_err(|e| crate::Error::Config(format!("stored price table: {e}")))?;
        prices.merge(extra);
    }
    match (config.unpriced, &config.default_price) {
        (UnpricedPolicy::Default, Some(text)) => {
            let p = PriceTable::price_from_toml(text)
                .map_err(|e| crate::Error::Config(format!("pricing.default_price: {e}")))?;
            prices.set_default(p);
        }
        (UnpricedPolicy::Default, None) => {
            return Err(crate::Error::Config(
                "pricing: unpriced = \"default\" needs a default_price".to_owned(),
            ));
        }
        _ => {}
    }
    Ok(prices)
}

impl PriceBook {
    pub(crate) fn new(table: PriceTable) -> Self {
        PriceBook {
            table: RwLock::new(Arc::new(table)),
            seen: Mutex::new((None, None)),
        }
    }

    pub(crate) fn get(&self) -> Arc<PriceTable> {
        match self.table.read() {
            Ok(t) => Arc::clone(&t),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Puts the table built with `stored` in force, unless it is the one in force already.
    /// A stored table that does not read is refused (the table in force stays) and reported
    /// once per text.
    fn follow(&self, config: &ProxyConfig, stored: Option<&str>) -> Result<bool, crate::Error> {
        let h = stored.map(hash_of);
        {
            let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if seen.0 == h || (h.is_some() && seen.1 == h) {
                return Ok(false);
            }
        }
        match build(config, stored) {
            Ok(t) => {
                match self.table.write() {
                    Ok(mut slot) => *slot = Arc::new(t),
                    Err(p) => *p.into_inner() = Arc::new(t),
                }
                self.seen.lock().unwrap_or_else(|p| p.into_inner()).0 = h;
                Ok(true)
            }
            Err(e) => {
                self.seen.lock().unwrap_or_else(|p| p.into_inner()).1 = h;
                Err(e)
            }
        }
    }
}

impl Gateway {
    /// The prices in force (cheap: a shared pointer).
    pub fn prices(&self) -> Arc<PriceTable> {
        self.inner.prices.get()
    }

    /// Re-reads the operator's price table from the store and puts it in force; returns
    /// whether the prices changed. An unreadable stored table is an error and changes nothing.
    pub async fn reload_prices(&self) -> Result<bool, crate::Error> {
        let stored = self
            .inner
            .store
            .get_setting(relaygate_store::PRICE_TABLE_SETTING.to_owned())
            .await?;
        self.inner
            .prices
            .follow(&self.inner.config, stored.as_deref())
    }
}

/// Follows the stored price table while the gateway lives.
pub(crate) async fn sync_prices(weak: std::sync::Weak<crate::gateway::Inner>) {
    let mut tick = tokio::time::interval(PRICE_SYNC);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        let gw = Gateway { inner };
        match gw.reload_prices().await {
            Ok(true) => tracing::info!("price table changed in the store: now in force"),
            Ok(false) => {}
            Err(crate::Error::Config(e)) => {
                tracing::warn!(error = %e, "the stored price table does not read: prices unchanged");
            }
            Err(e) => tracing::debug!(error = %e, "reading the stored price table failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_table_wins_and_a_bad_one_changes_nothing() {
        let config = ProxyConfig::default();
        let book = PriceBook::new(build(&config, None).unwrap());
        assert!(!book.get().is_priced("house-model"));
        let good = "[models.house-model]\ninput = 1\noutput = 2\n";
        assert_eq!(book.follow(&config, Some(good)).ok(), Some(true));
        assert!(book.get().is_priced("house-model"));
        assert_eq!(
            book.follow(&config, Some(good)).ok(),
            Some(false),
            "same text"
        );
        assert!(
            book.follow(&config, Some("[models.x]\ninput = -1"))
                .is_err()
        );
        assert!(
            book.get().is_priced("house-model"),
            "the table in force stays"
        );
        assert_eq!(
            book.follow(&config, Some("[models.x]\ninput = -1")).ok(),
            Some(false),
            "a refused text is reported once"
        );
        assert_eq!(book.follow(&config, None).ok(), Some(true));
        assert!(!book.get().is_priced("house-model"));
        assert!(book.get().is_priced("gpt-5"));
    }
}
