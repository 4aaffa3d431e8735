use std::collections::HashMap;
use std::hash::Hash;

/// How long a failed target rests: `first_ms` after the first failure, doubled after each
/// further failure, never more than `max_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CooldownPolicy {
    /// The first interval, in milliseconds.
    pub first_ms: u64,
    /// The cap on any interval, in milliseconds.
    pub max_ms: u64,
}

impl CooldownPolicy {
    /// A policy starting at `first_ms` and capped at `max_ms`.
    pub const fn new(first_ms: u64, max_ms: u64) -> Self {
        CooldownPolicy { first_ms, max_ms }
    }
}

/// The cooldown of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CooldownState {
    /// The target is skipped until this time (ms on the caller's clock).
    pub until_ms: u64,
    /// The interval that produced `until_ms`; the next failure doubles it.
    pub interval_ms: u64,
    /// Failures in a row since the last success.
    pub failures: u32,
}

/// Cooldowns of many targets, keyed by anything hashable (channel id, `(channel, key index)`, …).
///
/// The interval is remembered after the cooldown has expired: a target that fails again after
/// resting keeps doubling, and only a success resets it, so a flapping upstream backs off.
#[derive(Debug, Clone)]
pub struct CooldownBook<K> {
    entries: HashMap<K, CooldownState>,
}

impl<K> Default for CooldownBook<K> {
    fn default() -> Self {
        CooldownBook {
            entries: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash + Clone> CooldownBook<K> {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a failure of `key` at `now` and returns its new state.
    pub fn fail(&mut self, key: &K, now_ms: u64, policy: CooldownPolicy) -> CooldownState {
        let state = match self.entries.get(key) {
            Some(prev) if prev.interval_ms > 0 => {
                let interval = prev.interval_ms.saturating_mul(2).min(policy.max_ms);
                CooldownState {
                    until_ms: now_ms.saturating_add(interval),
                    interval_ms: interval,
                    failures: prev.failures.saturating_add(1),
                }
            }
            _ => {
                let interval = policy.first_ms.min(policy.max_ms);
                CooldownState {
                    until_ms: now_ms.saturating_add(interval),
                    interval_ms: interval,
                    failures: 1,
                }
            }
        };
        self.entries.insert(key.clone(), state);
        state
    }

    /// Cools `key` until exactly `until_ms` (an upstream told us when it resets), keeping the
    /// doubling interval of earlier failures.
    pub fn fail_until(&mut self, key: &K, until_ms: u64) -> CooldownState {
        let prev = self.entries.get(key).copied();
        let state = CooldownState {
            until_ms: prev.map_or(until_ms, |p| p.until_ms.max(until_ms)),
            interval_ms: prev.map_or(0, |p| p.interval_ms),
            failures: prev.map_or(1, |p| p.failures.saturating_add(1)),
        };
        self.entries.insert(key.clone(), state);
        state
    }

    /// Records a success: the target is usable at once and its next failure starts afresh.
    /// Returns whether there was anything to clear.
    pub fn succeed(&mut self, key: &K) -> bool {
        self.entries.remove(key).is_some()
    }

    /// Puts back a state saved earlier (after a restart).
    pub fn restore(&mut self, key: K, state: CooldownState) {
        self.entries.insert(key, state);
    }

    /// When `key` becomes usable again, if it is cooling at `now`.
    pub fn cooling_until(&self, key: &K, now_ms: u64) -> Option<u64> {
        self.entries
            .get(key)
            .map(|s| s.until_ms)
            .filter(|&until| until > now_ms)
    }

    /// Whether `key` is cooling at `now`.
    pub fn is_cooling(&self, key: &K, now_ms: u64) -> bool {
        self.cooling_until(key, now_ms).is_some()
    }

    /// The stored state of `key`, expired or not.
    pub fn state(&self, key: &K) -> Option<CooldownState> {
        self.entries.get(key).copied()
    }

    /// Every target cooling at `now`, with its state.
    pub fn cooling(&self, now_ms: u64) -> impl Iterator<Item = (&K, &CooldownState)> {
        self.entries
            .iter()
            .filter(move |(_, s)| s.until_ms > now_ms)
    }

    /// Drops entries whose cooldown ended more than `idle_ms` ago, to bound memory.
    pub fn purge_idle(&mut self, now_ms: u64, idle_ms: u64) {
        self.entries
            .retain(|_, s| s.until_ms.saturating_add(idle_ms) > now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: CooldownPolicy = CooldownPolicy::new(1_000, 10_000);

    #[test]
    fn doubling_sequence_is_capped() {
        let mut book = CooldownBook::new();
        // (now, expected until)
        let table = [
            (0, 1_000),
            (1_000, 3_000),
            (3_000, 7_000),
            (7_000, 15_000),
            (15_000, 25_000),
            (25_000, 35_000),
        ];
        for (now, until) in table {
            assert_eq!(book.fail(&"k", now, P).until_ms, until, "failure at {now}");
        }
        assert_eq!(book.state(&"k").unwrap().failures, 6);
    }

    #[test]
    fn cooling_window_and_success_reset() {
        let mut book = CooldownBook::new();
        book.fail(&1u64, 100, P);
        assert!(book.is_cooling(&1, 100));
        assert!(book.is_cooling(&1, 1_099));
        assert!(!book.is_cooling(&1, 1_100));
        assert!(!book.is_cooling(&2, 100));
        // Expiry alone does not reset the interval...
        assert_eq!(book.fail(&1, 5_000, P).interval_ms, 2_000);
        // ...a success does.
        book.succeed(&1);
        assert_eq!(book.fail(&1, 9_000, P).interval_ms, 1_000);
    }

    #[test]
    fn explicit_deadline_never_shortens_a_cooldown() {
        let mut book = CooldownBook::new();
        book.fail(&"k", 0, CooldownPolicy::new(60_000, 60_000));
        assert_eq!(book.fail_until(&"k", 5_000).until_ms, 60_000);
        assert_eq!(book.fail_until(&"k", 90_000).until_ms, 90_000);
        assert_eq!(book.fail_until(&"new", 7).until_ms, 7);
    }

    #[test]
    fn purge_keeps_recent_entries() {
        let mut book = CooldownBook::new();
        book.fail(&"old", 0, P);
        book.fail(&"new", 50_000, P);
        book.purge_idle(60_000, 20_000);
        assert!(book.state(&"old").is_none());
        assert!(book.state(&"new").is_some());
        assert_eq!(book.cooling(50_500).count(), 1);
    }
}
