//! Phase 4, plan: which channels serve the model (the token's channel restriction applied
//! before ordering, so a fallback never lands on a channel the token may not use), then the
//! order of channels and keys for this request from cooldowns, health, availability hours and
//! the rotation, with the reason each passed-over channel was skipped.

use std::sync::Arc;

use relaygate_health::Candidate;
use relaygate_protocol::errors::ErrorKind;
use relaygate_store::AttemptLog;

use super::{Call, Resp};
use crate::gateway::{Inner, Target};
use crate::table::{ChannelEntry, KeyEntry};

/// Channels that may serve the request, each with its own name for the model.
pub(super) type Candidates = Vec<(Arc<ChannelEntry>, String)>;

/// The channels serving the call's model that its token may use (fuzzy matches when enabled
/// and nothing matches exactly).
pub(super) fn candidates(call: &mut Call) -> Result<Candidates, Box<Resp>> {
    let table = call.gw.table();
    let mut candidates: Candidates = table
        .candidates(&call.model)
        .into_iter()
        .map(|c| (c, call.model.clone()))
        .collect();
    if candidates.is_empty() && call.gw.config.routing.fuzzy_models {
        candidates = table.fuzzy_candidates(&call.model);
    }
    if candidates.is_empty() {
        let msg = format!("no channel serves model {:?}", call.model);
        return Err(Box::new(call.fail(ErrorKind::NotFound, msg)));
    }
    candidates.retain(|(c, _)| call.token.allows_channel(&c.name));
    if candidates.is_empty() {
        let msg = format!(
            "this token may not use any channel that serves {:?}",
            call.model
        );
        return Err(Box::new(call.fail(ErrorKind::PermissionDenied, msg)));
    }
    unpriced_policy(call, &mut candidates)?;
    Ok(candidates)
}

/// Leaves out channels whose model has no price when the operator refuses unpriced models,
/// or when the token has a budget (an unpriced request would spend what no budget can see)
/// and may not spend on them.
fn unpriced_policy(call: &mut Call, candidates: &mut Candidates) -> Result<(), Box<Resp>> {
    let gw = &call.gw;
    let budget = gw.config.budgets.tokens.get(&call.token.name);
    let refuse = match gw.config.unpriced {
        crate::UnpricedPolicy::Refuse => true,
        crate::UnpricedPolicy::Default => false,
        crate::UnpricedPolicy::Record => budget.is_some_and(|b| !b.allow_unpriced),
    };
    if !refuse {
        return Ok(());
    }
    let before = candidates.len();
    let prices = gw.prices.get();
    candidates.retain(|(c, model)| {
        let upstream = c.models.get(model).map_or(model.as_str(), String::as_str);
        prices.is_priced(upstream)
    });
    if candidates.is_empty() && before > 0 {
        let why = if gw.config.unpriced == crate::UnpricedPolicy::Refuse {
            "this gateway does not serve models without a price"
        } else {
            "this token has a budget and may not spend on models without a price"
        };
        let msg = format!("model {:?} has no price: {why}", call.model);
        return Err(Box::new(call.fail(ErrorKind::PermissionDenied, msg)));
    }
    Ok(())
}

/// One planned attempt: a channel, one of its keys, and the channel's name for the model.
pub(super) struct Planned {
    pub channel: Arc<ChannelEntry>,
    pub key: KeyEntry,
    pub model: String,
}

pub(super) fn skip_log(c: &ChannelEntry, outcome: &str, until: Option<u64>) -> AttemptLog {
    AttemptLog {
        channel_id: Some(c.id),
        channel_name: Some(c.name.clone()),
        outcome: outcome.to_owned(),
        scope: Some("skipped".to_owned()),
        cooldown_until_ms: until.and_then(|u| i64::try_from(u).ok()),
        ..AttemptLog::default()
    }
}

fn minute_of_day(now_ms: u64, offset_minutes: i32) -> u16 {
    let minutes = (now_ms / 60_000) as i64 + i64::from(offset_minutes);
    minutes.rem_euclid(1440) as u16
}

/// Orders channels and keys for this request from cooldowns, health, availability hours and
/// the rotation; records why channels were passed over.
pub(super) fn plan(
    gw: &Inner,
    candidates: &[(Arc<ChannelEntry>, String)],
    skipped: &mut Vec<AttemptLog>,
) -> Vec<Planned> {
    let now = gw.clock.now_ms();
    let minute = minute_of_day(now, gw.config.routing.utc_offset_minutes);
    let max_keys = gw.config.max_keys_per_channel.max(1);
    gw.with_health(|h| {
        let mut usable: Vec<(Candidate, Vec<KeyEntry>)> = Vec::new();
        let mut in_hours: Vec<&(Arc<ChannelEntry>, String)> = Vec::new();
        for cand in candidates {
            let (c, model) = cand;
            if let Some(w) = c.window
                && !w.contains(minute)
            {
                skipped.push(skip_log(c, "outside_hours", None));
                continue;
            }
            in_hours.push(cand);
            if let Some(until) = h.cooldowns.cooling_until(&Target::Channel(c.id), now) {
                skipped.push(skip_log(c, "channel_cooling", Some(until)));
                continue;
            }
            let upstream = c
                .models
                .get(model)
                .cloned()
                .unwrap_or_else(|| model.clone());
            if let Some(until) = h
                .cooldowns
                .cooling_until(&Target::Model(c.id, upstream), now)
            {
                skipped.push(skip_log(c, "model_cooling", Some(until)));
                continue;
            }
            let mut keys: Vec<KeyEntry> = c
                .keys
                .iter()
                .filter(|k| !h.cooldowns.is_cooling(&Target::Key(c.id, k.index), now))
                .cloned()
                .collect();
            if keys.is_empty() {
                skipped.push(skip_log(c, "keys_cooling", None));
                continue;
            }
            if c.key_strategy == relaygate_store::KeyStrategy::RoundRobin {
                let cursor = h.key_cursor.entry(c.id).or_default();
                let start = *cursor % keys.len();
                *cursor = cursor.wrapping_add(1);
                keys.rotate_left(start);
            }
            let weight = c
                .weight
                .max(1)
                .saturating_mul(u32::try_from(keys.len()).unwrap_or(u32::MAX));
            usable.push((
                Candidate {
                    id: u64::try_from(c.id).unwrap_or(0),
                    priority: h.scores.effective_priority(c.id, c.priority, now),
                    weight,
                },
                keys,
            ));
        }
        let order = h
            .selector
            .order(&usable.iter().map(|(c, _)| *c).collect::<Vec<_>>());
        let mut out = Vec::new();
        for id in order {
            let Some((c, model)) = candidates
                .iter()
                .find(|(c, _)| u64::try_from(c.id).ok() == Some(id))
            else {
                continue;
            };
            let Some((_, keys)) = usable.iter().find(|(cand, _)| cand.id == id) else {
                continue;
            };
            for k in keys.iter().take(max_keys) {
                out.push(Planned {
                    channel: Arc::clone(c),
                    key: k.clone(),
                    model: model.clone(),
                });
            }
        }
        if out.is_empty() {
            // Everything is cooling: try the one (channel, key) that recovers first rather
            // than refuse outright.
            let soonest = in_hours
                .iter()
                .flat_map(|(c, m)| c.keys.iter().map(move |k| (c, m, k)))
                .min_by_key(|(c, _, k)| {
                    let ch = h
                        .cooldowns
                        .cooling_until(&Target::Channel(c.id), now)
                        .unwrap_or(0);
                    let key = h
                        .cooldowns
                        .cooling_until(&Target::Key(c.id, k.index), now)
                        .unwrap_or(0);
                    (ch.max(key), std::cmp::Reverse(c.priority))
                });
            if let Some((c, m, k)) = soonest {
                out.push(Planned {
                    channel: Arc::clone(c),
                    key: k.clone(),
                    model: (*m).clone(),
                });
            }
        }
        out
    })
}
