use std::collections::{HashMap, VecDeque};

/// How channel health is scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthConfig {
    /// Length of the sliding window, ms.
    pub window_ms: u64,
    /// Number of buckets the window is kept in (its resolution).
    pub buckets: u32,
    /// Pseudo-successes of the prior (see [`HealthBook::score`]).
    pub prior_successes: f64,
    /// Priority points a channel loses at score 0 (it loses `penalty × (1 − score)`).
    pub penalty: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            window_ms: 30 * 60 * 1000,
            buckets: 30,
            prior_successes: 1.0,
            penalty: 100.0,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    start_ms: u64,
    ok: u32,
    failed: u32,
}

/// Success and failure counts per channel over a sliding window, turned into a score.
///
/// The score is the posterior mean of the success rate under a prior of
/// `prior_successes` pseudo-successes and no pseudo-failures:
///
/// ```text
/// score = (successes + a) / (successes + failures + a)        a = prior_successes (1 by default)
/// ```
///
/// A channel with no data scores 1 (healthy until shown otherwise). Its first failure takes it
/// to 1/2 and a second to 1/3, so a new channel that fails at once is demoted at once; the
/// seed gateway instead multiplied the penalty by `min(1, n / 20)`, which let a channel with 4
/// failures in 4 requests keep 80% of its priority. An established channel moves slowly: 95
/// successes and 5 failures score 96/101 ≈ 0.95.
///
/// Rate limits count as failures: a channel that only answers 429 must not look healthy.
/// Client errors and client cancellations are not recorded at all.
#[derive(Debug, Clone, Default)]
pub struct HealthBook {
    config: HealthConfig,
    windows: HashMap<i64, VecDeque<Bucket>>,
}

impl HealthBook {
    /// An empty book.
    pub fn new(config: HealthConfig) -> Self {
        HealthBook {
            config,
            windows: HashMap::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    fn bucket_ms(&self) -> u64 {
        (self.config.window_ms / u64::from(self.config.buckets.max(1))).max(1)
    }

    /// Records one outcome of `channel` at `now_ms`.
    pub fn record(&mut self, channel: i64, now_ms: u64, success: bool) {
        let size = self.bucket_ms();
        let window = self.config.window_ms;
        let start = now_ms - now_ms % size;
        let q = self.windows.entry(channel).or_default();
        while q
            .front()
            .is_some_and(|b| b.start_ms.saturating_add(window) <= now_ms)
        {
            q.pop_front();
        }
        match q.back_mut() {
            Some(b) if b.start_ms == start => {
                if success {
                    b.ok += 1;
                } else {
                    b.failed += 1;
                }
            }
            _ => q.push_back(Bucket {
                start_ms: start,
                ok: u32::from(success),
                failed: u32::from(!success),
            }),
        }
    }

    /// Successes and failures of `channel` inside the window ending at `now_ms`.
    pub fn counts(&self, channel: i64, now_ms: u64) -> (u32, u32) {
        let window = self.config.window_ms;
        self.windows.get(&channel).map_or((0, 0), |q| {
            q.iter()
                .filter(|b| b.start_ms.saturating_add(window) > now_ms)
                .fold((0, 0), |(o, f), b| (o + b.ok, f + b.failed))
        })
    }

    /// The score in `[0, 1]`; 1 for a channel without data.
    pub fn score(&self, channel: i64, now_ms: u64) -> f64 {
        let (ok, failed) = self.counts(channel, now_ms);
        let a = self.config.prior_successes.max(0.0);
        let n = f64::from(ok) + f64::from(failed) + a;
        if n <= 0.0 {
            1.0
        } else {
            (f64::from(ok) + a) / n
        }
    }

    /// `priority − penalty × (1 − score)`.
    pub fn effective_priority(&self, channel: i64, priority: i64, now_ms: u64) -> f64 {
        priority as f64 - self.config.penalty * (1.0 - self.score(channel, now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_channels_are_demoted_by_their_first_failures() {
        let mut h = HealthBook::new(HealthConfig::default());
        assert_eq!(h.score(1, 0), 1.0);
        h.record(1, 1_000, false);
        assert_eq!(h.score(1, 1_000), 0.5);
        h.record(1, 2_000, false);
        assert!((h.score(1, 2_000) - 1.0 / 3.0).abs() < 1e-9);
        // Priority 10 with two failures falls below a clean priority-0 channel.
        assert!(h.effective_priority(1, 10, 2_000) < h.effective_priority(2, 0, 2_000));
    }

    #[test]
    fn established_channels_move_slowly_and_the_window_slides() {
        let cfg = HealthConfig {
            window_ms: 60_000,
            buckets: 6,
            ..HealthConfig::default()
        };
        let mut h = HealthBook::new(cfg);
        for i in 0..95 {
            h.record(7, i * 100, true);
        }
        for i in 0..5 {
            h.record(7, 9_500 + i * 100, false);
        }
        assert_eq!(h.counts(7, 10_000), (95, 5));
        assert!((h.score(7, 10_000) - 96.0 / 101.0).abs() < 1e-9);
        // A minute later everything has left the window.
        assert_eq!(h.counts(7, 80_000), (0, 0));
        assert_eq!(h.score(7, 80_000), 1.0);
        h.record(7, 80_000, true);
        assert_eq!(h.counts(7, 80_000), (1, 0));
    }
}
