use std::collections::HashMap;

/// A channel that could serve a request, as the selector sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The channel's id.
    pub id: u64,
    /// Higher priorities are tried first: the configured priority, lowered by bad health
    /// (see [`crate::HealthBook::effective_priority`]).
    pub priority: f64,
    /// Share of traffic inside its priority group (0 is treated as 1); callers multiply the
    /// configured weight by the number of usable keys.
    pub weight: u32,
}

impl Candidate {
    /// Channels whose priorities agree to 0.1 share a group.
    fn group(&self) -> i64 {
        (self.priority * 10.0 + 1e-9).floor() as i64
    }
}

/// Orders candidates: priority descending (grouped at 0.1 precision); inside each group the smooth weighted round-robin
/// winner first, then the others in their given order as the failover sequence.
///
/// Smooth weighted round-robin (as in nginx): every pick adds each member's weight to its
/// current value, takes the member with the highest current value (ties: lower id), and
/// subtracts the group's total weight from the winner. Over any run of `total` picks each member
/// wins exactly `weight` times, interleaved rather than in bursts.
///
/// State is kept per group, keyed by the sorted member ids, so a group whose membership changes
/// (a channel cools down or comes back) starts a fresh rotation instead of inheriting skewed
/// counters.
#[derive(Debug, Default, Clone)]
pub struct ChannelSelector {
    groups: HashMap<Vec<u64>, Vec<(u64, i64)>>,
}

impl ChannelSelector {
    /// A selector with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Orders `candidates` for one request and advances the rotation.
    pub fn order(&mut self, candidates: &[Candidate]) -> Vec<u64> {
        let mut sorted: Vec<Candidate> = candidates.to_vec();
        sorted.sort_by_key(|c| std::cmp::Reverse(c.group()));
        let mut out = Vec::with_capacity(sorted.len());
        let mut start = 0;
        while start < sorted.len() {
            let group_of = sorted[start].group();
            let end = start
                + sorted[start..]
                    .iter()
                    .take_while(|c| c.group() == group_of)
                    .count();
            let group = &sorted[start..end];
            if group.len() == 1 {
                out.push(group[0].id);
            } else {
                let winner = self.pick(group);
                out.push(winner);
                out.extend(group.iter().map(|c| c.id).filter(|&id| id != winner));
            }
            start = end;
        }
        out
    }

    fn pick(&mut self, group: &[Candidate]) -> u64 {
        let mut key: Vec<u64> = group.iter().map(|c| c.id).collect();
        key.sort_unstable();
        let state = self
            .groups
            .entry(key)
            .or_insert_with(|| group.iter().map(|c| (c.id, 0)).collect());
        let weight_of = |id: u64| {
            group
                .iter()
                .find(|c| c.id == id)
                .map_or(1, |c| i64::from(c.weight.max(1)))
        };
        let total: i64 = state.iter().map(|&(id, _)| weight_of(id)).sum();
        let mut best: Option<usize> = None;
        for i in 0..state.len() {
            let id = state[i].0;
            state[i].1 += weight_of(id);
            best = match best {
                Some(b)
                    if state[b].1 > state[i].1 || (state[b].1 == state[i].1 && state[b].0 < id) =>
                {
                    Some(b)
                }
                _ => Some(i),
            };
        }
        let b = best.unwrap_or(0);
        state[b].1 -= total;
        state[b].0
    }

    /// Forgets all rotation state (after the channel configuration changed).
    pub fn reset(&mut self) {
        self.groups.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: u64, priority: i64, weight: u32) -> Candidate {
        Candidate {
            id,
            priority: priority as f64,
            weight,
        }
    }

    #[test]
    fn priority_groups_come_first() {
        let mut s = ChannelSelector::new();
        assert_eq!(
            s.order(&[c(1, 0, 1), c(2, 10, 1), c(3, 5, 1)]),
            vec![2, 3, 1]
        );
    }

    #[test]
    fn smooth_weighted_sequence() {
        // nginx's example: weights 5, 1, 1 give a, a, b, a, c, a, a.
        let mut s = ChannelSelector::new();
        let group = [c(1, 0, 5), c(2, 0, 1), c(3, 0, 1)];
        let firsts: Vec<u64> = (0..7).map(|_| s.order(&group)[0]).collect();
        assert_eq!(firsts, vec![1, 1, 2, 1, 3, 1, 1]);
    }

    #[test]
    fn failover_order_keeps_the_rest() {
        let mut s = ChannelSelector::new();
        let group = [c(7, 1, 1), c(8, 1, 1), c(9, 0, 1)];
        assert_eq!(s.order(&group), vec![7, 8, 9]);
        assert_eq!(s.order(&group), vec![8, 7, 9]);
        assert_eq!(s.order(&group), vec![7, 8, 9]);
    }

    #[test]
    fn health_demotion_splits_a_priority_group() {
        let mut s = ChannelSelector::new();
        let healthy = c(1, 10, 1);
        let sick = Candidate {
            id: 2,
            priority: 10.0 - 50.0,
            weight: 100,
        };
        for _ in 0..5 {
            assert_eq!(s.order(&[sick, healthy]), vec![1, 2]);
        }
        // Tiny differences (< 0.1) stay in one rotation.
        let a = Candidate {
            id: 3,
            priority: 5.01,
            weight: 1,
        };
        let b = Candidate {
            id: 4,
            priority: 5.04,
            weight: 1,
        };
        let firsts: Vec<u64> = (0..4).map(|_| s.order(&[a, b])[0]).collect();
        assert_eq!(firsts, vec![3, 4, 3, 4]);
    }

    #[test]
    fn equal_weights_alternate_and_zero_counts_as_one() {
        let mut s = ChannelSelector::new();
        let group = [c(1, 0, 0), c(2, 0, 0)];
        let firsts: Vec<u64> = (0..4).map(|_| s.order(&group)[0]).collect();
        assert_eq!(firsts, vec![1, 2, 1, 2]);
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Over one full cycle (sum of weights picks) each member wins exactly its weight.
        #[test]
        fn swrr_gives_each_weight_its_exact_share(weights in proptest::collection::vec(1u32..8, 1..6)) {
            let group: Vec<Candidate> = weights
                .iter()
                .enumerate()
                .map(|(i, &w)| Candidate { id: i as u64 + 1, priority: 0.0, weight: w })
                .collect();
            let total: u32 = weights.iter().sum();
            let mut s = ChannelSelector::new();
            let mut wins = vec![0u32; weights.len()];
            for _ in 0..total {
                let first = s.order(&group)[0];
                wins[(first - 1) as usize] += 1;
            }
            prop_assert_eq!(wins, weights);
        }
    }
}
