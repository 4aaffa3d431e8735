//! Work the gateway does off the request path, in tasks that end when the gateway is dropped:
//! following cooldown changes made by other instances (every second), renewing the
//! concurrency leases of requests still running, cleaning up old rows (hourly), and following
//! the operator's price table in the store (`crate::prices`).

use std::sync::{Arc, Weak};
use std::time::Duration;

use relaygate_health::CooldownState;

use crate::gateway::{Inner, LEASE_TTL_MS, Target};

/// How often cooldowns written by other instances are picked up.
pub(crate) const COOLDOWN_SYNC: Duration = Duration::from_secs(1);
const LEASE_RENEW: Duration = Duration::from_millis(LEASE_TTL_MS / 3);
const CLEANUP: Duration = Duration::from_secs(3600);
/// Clock skew and write delay tolerated between instances when reading changes.
const SYNC_MARGIN_MS: i64 = 3_000;

pub(crate) fn spawn(inner: &Arc<Inner>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    rt.spawn(sync_cooldowns(Arc::downgrade(inner)));
    rt.spawn(renew_leases(Arc::downgrade(inner)));
    rt.spawn(cleanup(Arc::downgrade(inner)));
    rt.spawn(crate::prices::sync_prices(Arc::downgrade(inner)));
}

async fn sync_cooldowns(weak: Weak<Inner>) {
    let mut since = weak
        .upgrade()
        .map_or(0, |g| g.clock.now_ms() as i64 - SYNC_MARGIN_MS);
    let mut tick = tokio::time::interval(COOLDOWN_SYNC);
    loop {
        tick.tick().await;
        let Some(gw) = weak.upgrade() else { return };
        let rows = match gw.store.cooldowns_changed_since(since).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "reading cooldown changes failed");
                continue;
            }
        };
        let now = gw.clock.now_ms();
        let mut newest = since;
        gw.with_health(|h| {
            for (row, at) in rows {
                newest = newest.max(at);
                let Some(target) = Target::decode(&row.target) else {
                    continue;
                };
                // Our own later decision wins over an older row.
                if h.local_changes
                    .get(&target)
                    .is_some_and(|&mine| mine as i64 > at)
                {
                    continue;
                }
                let until = u64::try_from(row.until_ms).unwrap_or(0);
                if until > now {
                    h.cooldowns.restore(
                        target,
                        CooldownState {
                            until_ms: until,
                            interval_ms: u64::try_from(row.interval_ms).unwrap_or(0),
                            failures: row.failures,
                        },
                    );
                } else {
                    h.cooldowns.succeed(&target);
                }
            }
        });
        since = newest - SYNC_MARGIN_MS;
    }
}

async fn renew_leases(weak: Weak<Inner>) {
    let mut tick = tokio::time::interval(LEASE_RENEW);
    loop {
        tick.tick().await;
        let Some(gw) = weak.upgrade() else { return };
        let held = gw.held_leases();
        if held.is_empty() {
            continue;
        }
        let until = gw.clock.now_ms().saturating_add(LEASE_TTL_MS);
        if let Err(e) = gw
            .store
            .renew_leases(held, i64::try_from(until).unwrap_or(i64::MAX))
            .await
        {
            tracing::warn!(error = %e, "renewing leases failed");
        }
    }
}

async fn cleanup(weak: Weak<Inner>) {
    let mut tick = tokio::time::interval(CLEANUP);
    loop {
        tick.tick().await;
        let Some(gw) = weak.upgrade() else { return };
        let now = gw.clock.now_ms() as i64;
        let days = gw.config.log_retention_days;
        let before = (days > 0).then(|| now - i64::from(days) * 86_400_000);
        match gw.store.cleanup(now, before).await {
            Ok(n) if n > 0 => tracing::info!(rows = n, days, "removed request logs past retention"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cleanup failed"),
        }
    }
}
