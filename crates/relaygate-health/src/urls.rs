use std::collections::HashMap;

/// Latency memory of each (channel, URL index), for choosing among a channel's base URLs.
///
/// Latency is an exponentially weighted moving average of time to first byte with weight 0.3
/// for the newest sample (`new = 0.3 × sample + 0.7 × old`; the first sample is taken as is).
#[derive(Debug, Clone, Default)]
pub struct UrlBook {
    ewma_ms: HashMap<(i64, usize), f64>,
}

const ALPHA: f64 = 0.3;

impl UrlBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a successful answer's time to first byte.
    pub fn observe(&mut self, channel: i64, url: usize, latency_ms: f64) {
        let v = latency_ms.max(0.0);
        self.ewma_ms
            .entry((channel, url))
            .and_modify(|e| *e = ALPHA * v + (1.0 - ALPHA) * *e)
            .or_insert(v);
    }

    /// The moving average, if the URL was ever measured.
    pub fn latency(&self, channel: i64, url: usize) -> Option<f64> {
        self.ewma_ms.get(&(channel, url)).copied()
    }

    /// The order in which to try `count` URLs of `channel`.
    ///
    /// URLs that are not cooling come first. Among them, one never measured goes first (chosen
    /// by `random`), so every URL gets explored; otherwise the first is drawn at random with
    /// weight `1 / latency`, so faster URLs get more traffic without starving the others. The
    /// rest follow by ascending latency; cooling URLs go last, still usable as a last resort.
    pub fn order(
        &self,
        channel: i64,
        count: usize,
        cooling: impl Fn(usize) -> bool,
        random: u64,
    ) -> Vec<usize> {
        let (mut live, mut cold): (Vec<usize>, Vec<usize>) = (0..count).partition(|&i| !cooling(i));
        let lat = |i: usize| self.latency(channel, i).unwrap_or(0.0);
        let by_latency = |a: &usize, b: &usize| lat(*a).total_cmp(&lat(*b)).then(a.cmp(b));
        live.sort_by(by_latency);
        cold.sort_by(by_latency);
        if live.len() > 1 {
            let unexplored: Vec<usize> = live
                .iter()
                .copied()
                .filter(|&i| self.latency(channel, i).is_none())
                .collect();
            let pick = if unexplored.is_empty() {
                let weights: Vec<f64> = live.iter().map(|&i| 1.0 / lat(i).max(0.1)).collect();
                let total: f64 = weights.iter().sum();
                let mut target = (random % 1_000_000) as f64 / 1_000_000.0 * total;
                let mut chosen = live[0];
                for (i, w) in live.iter().zip(&weights) {
                    if target < *w {
                        chosen = *i;
                        break;
                    }
                    target -= w;
                }
                chosen
            } else {
                unexplored[(random as usize) % unexplored.len()]
            };
            live.retain(|&i| i != pick);
            live.insert(0, pick);
        }
        live.extend(cold);
        live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ewma_and_exploration() {
        let mut b = UrlBook::new();
        b.observe(1, 0, 100.0);
        b.observe(1, 0, 200.0);
        assert!((b.latency(1, 0).unwrap() - 130.0).abs() < 1e-9);
        // URL 1 was never measured: it is explored first whatever the random draw.
        for r in 0..10 {
            assert_eq!(b.order(1, 2, |_| false, r)[0], 1);
        }
    }

    #[test]
    fn faster_urls_win_more_often_and_cooling_goes_last() {
        let mut b = UrlBook::new();
        b.observe(1, 0, 10.0);
        b.observe(1, 1, 90.0);
        let firsts: Vec<usize> = (0..1000u64)
            .map(|r| b.order(1, 2, |_| false, r * 1000)[0])
            .collect();
        let fast = firsts.iter().filter(|&&i| i == 0).count();
        assert!(
            (850..=950).contains(&fast),
            "fast URL first {fast}/1000 times"
        );
        // URL 0 cools: the unexplored URL 2 goes first, then 1, and the cooling URL last.
        assert_eq!(b.order(1, 3, |i| i == 0, 5), vec![2, 1, 0]);
    }
}
