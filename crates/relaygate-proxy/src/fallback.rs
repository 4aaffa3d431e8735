//! Per-instance limit counters, used only while the shared store can't answer and the operator
//! chose `when_unavailable = "local"`: concurrency leases and rolling rate windows kept in this
//! process. Each instance then enforces each limit on its own (so N instances admit up to N
//! times a limit) instead of refusing every limited request until the database is back.
//!
//! Keys are channel and token ids from the routing table, so the maps are bounded by the
//! configuration, never by traffic; each rate window holds at most `limit` timestamps.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// What to do with a limit the shared store can't check in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenUnavailable {
    /// Refuse: a token's request gets 503, a channel is skipped (`limit_unknown`).
    #[default]
    Refuse,
    /// Count in this instance alone until the store answers again.
    Local,
}

/// The counters.
#[derive(Debug, Default)]
pub(crate) struct LocalLimits {
    leases: Mutex<HashMap<String, u32>>,
    windows: Mutex<HashMap<String, VecDeque<u64>>>,
}

impl LocalLimits {
    /// Takes one of `limit` concurrent slots on `key`; false when all are taken.
    pub fn try_lease(&self, key: &str, limit: u32) -> bool {
        let mut leases = match self.leases.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let held = leases.entry(key.to_owned()).or_default();
        if *held >= limit {
            return false;
        }
        *held += 1;
        true
    }

    /// Gives back a slot taken with [`LocalLimits::try_lease`].
    pub fn release(&self, key: &str) {
        let mut leases = match self.leases.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(held) = leases.get_mut(key) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                leases.remove(key);
            }
        }
    }

    /// Takes one slot of the rolling window of `window_ms` on `key`: `None` when admitted,
    /// else the milliseconds until a slot frees.
    pub fn try_rate(&self, key: &str, limit: u32, window_ms: u64, now_ms: u64) -> Option<u64> {
        let mut windows = match self.windows.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let events = windows.entry(key.to_owned()).or_default();
        while events
            .front()
            .is_some_and(|t| t.saturating_add(window_ms) <= now_ms)
        {
            events.pop_front();
        }
        if events.len() >= limit as usize {
            let oldest = events.front().copied().unwrap_or(now_ms);
            return Some(
                oldest
                    .saturating_add(window_ms)
                    .saturating_sub(now_ms)
                    .max(1),
            );
        }
        events.push_back(now_ms);
        None
    }

    /// Slots held now, over every key.
    pub fn leases_held(&self) -> u32 {
        match self.leases.lock() {
            Ok(g) => g.values().sum(),
            Err(p) => p.into_inner().values().sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_count_up_to_the_limit_and_come_back() {
        let l = LocalLimits::default();
        assert!(l.try_lease("t", 2));
        assert!(l.try_lease("t", 2));
        assert!(!l.try_lease("t", 2));
        assert!(l.try_lease("u", 1), "keys are independent");
        l.release("t");
        assert!(l.try_lease("t", 2));
        l.release("t");
        l.release("t");
        l.release("t");
        l.release("u");
        assert_eq!(l.leases_held(), 0, "over-release never underflows");
    }

    #[test]
    fn rate_windows_roll() {
        let l = LocalLimits::default();
        assert_eq!(l.try_rate("c", 2, 60_000, 0), None);
        assert_eq!(l.try_rate("c", 2, 60_000, 10_000), None);
        assert_eq!(l.try_rate("c", 2, 60_000, 20_000), Some(40_000));
        assert_eq!(
            l.try_rate("c", 2, 60_000, 60_000),
            None,
            "the first slot freed"
        );
        assert!(
            l.try_rate("d", 0, 60_000, 0).is_some(),
            "limit 0 admits nothing"
        );
    }
}
