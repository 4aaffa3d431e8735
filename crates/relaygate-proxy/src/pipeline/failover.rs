//! Phase 6, failover: the loop over planned attempts. Each attempt first takes the channel's
//! concurrency and RPM slots; each failure's verdict says what cools (key, model, URL,
//! channel) and whether the request moves on. The loop ends with the first success, handed to
//! the relay, or with the last failure. Nothing is retried once a byte went to the client.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, header};
use relaygate_detect::{CooldownHint, OutcomeKind, Scope, Verdict};
use relaygate_health::CooldownPolicy;
use relaygate_protocol::Protocol;
use relaygate_protocol::errors::ErrorKind;
use relaygate_store::AttemptLog;
use relaygate_transform::convert_error;
use tokio::time::Instant;

use super::admit::{admit_channel, within_budget};
use super::attempt::{Attempt, Commit, Failure, Outgoing, attempt, prepare};
use super::plan::{Candidates, plan, skip_log};
use super::{Call, Resp, detect_policy, ms};
use crate::boundary::client_headers;
use crate::gateway::{Inner, Target};
use crate::relay::{RelayStream, ResponseBody};
use crate::table::ChannelEntry;
use crate::upstream::join_url;

pub(super) async fn run(mut call: Call, candidates: Candidates) -> Resp {
    let gw = Arc::clone(&call.gw);
    let policy = detect_policy(&gw);
    let mut skipped = Vec::new();
    let candidates = within_budget(&gw, candidates, &mut skipped).await;
    let planned = plan(&gw, &candidates, &mut skipped);
    call.guard.row.attempt_log.append(&mut skipped);
    let mut last: Option<Failure> = None;
    let mut dead_channels: Vec<i64> = Vec::new();
    let mut prepared: Vec<(Protocol, String, Outgoing)> = Vec::new();
    let mut untranslatable: Option<String> = None;
    let mut limited_retry_ms: Option<u64> = None;

    for p in &planned {
        if dead_channels.contains(&p.channel.id) {
            continue;
        }
        let channel_slot = match admit_channel(&gw, &p.channel).await {
            Ok(g) => g,
            Err((why, retry_ms)) => {
                call.guard
                    .row
                    .attempt_log
                    .push(skip_log(&p.channel, why, None));
                limited_retry_ms = Some(limited_retry_ms.map_or(retry_ms, |r| r.min(retry_ms)));
                dead_channels.push(p.channel.id);
                continue;
            }
        };
        let upstream_model = p
            .channel
            .models
            .get(&p.model)
            .cloned()
            .unwrap_or_else(|| p.model.clone());
        let out = match prepared
            .iter()
            .find(|(id, m, _)| *id == p.channel.protocol && *m == upstream_model)
        {
            Some((_, _, o)) => o.clone(),
            None => match prepare(&call, p.channel.protocol, &upstream_model) {
                Ok(o) => {
                    prepared.push((p.channel.protocol, upstream_model.clone(), o.clone()));
                    o
                }
                Err(why) => {
                    // The request can't be expressed in this channel's protocol: try another.
                    let mut entry = skip_log(&p.channel, "untranslatable", None);
                    entry.error = Some(why.clone());
                    call.guard.row.attempt_log.push(entry);
                    untranslatable = Some(why);
                    dead_channels.push(p.channel.id);
                    channel_slot.release().await;
                    continue;
                }
            },
        };
        let now = gw.clock.now_ms();
        let url_order = gw.with_health(|h| {
            let cooldowns = &h.cooldowns;
            let order = h.urls.order(
                p.channel.id,
                p.channel.base_urls.len(),
                |i| cooldowns.is_cooling(&Target::Url(p.channel.id, i), now),
                gw.random(),
            );
            // URLs switched off by hand are left out, unless nothing else is left.
            let (off, on): (Vec<usize>, Vec<usize>) = order.into_iter().partition(|&i| {
                cooldowns
                    .state(&Target::Url(p.channel.id, i))
                    .is_some_and(|s| crate::probe::is_manual(&s))
            });
            if on.is_empty() { off } else { on }
        });
        for (n, &url_index) in url_order.iter().enumerate() {
            let url = join_url(
                &p.channel.base_urls[url_index],
                &out.path,
                out.query.as_deref(),
            );
            let url_for_log = join_url(&p.channel.base_urls[url_index], &out.path, None);
            call.guard.row.attempts += 1;
            call.guard.row.channel_id = Some(p.channel.id);
            call.guard.row.channel_name = Some(p.channel.name.clone());
            call.guard.row.key_index = Some(p.key.index);
            call.guard.row.model_sent = Some(upstream_model.clone());
            call.guard.row.upstream_url = Some(url_for_log.clone());
            let t0 = Instant::now();
            let outcome = attempt(&call, p, &url, &out, &policy).await;
            let elapsed = ms(Instant::now().saturating_duration_since(t0));
            let mut entry = AttemptLog {
                channel_id: Some(p.channel.id),
                channel_name: Some(p.channel.name.clone()),
                key_index: Some(p.key.index),
                upstream_url: Some(url_for_log),
                duration_ms: elapsed,
                ..AttemptLog::default()
            };
            match outcome {
                Attempt::Success(commit) => {
                    let now = gw.clock.now_ms();
                    let cleared: Vec<Target> = gw.with_health(|h| {
                        h.scores.record(p.channel.id, now, true);
                        h.urls.observe(p.channel.id, url_index, elapsed as f64);
                        [
                            Target::Channel(p.channel.id),
                            Target::Key(p.channel.id, p.key.index),
                            Target::Url(p.channel.id, url_index),
                            Target::Model(p.channel.id, upstream_model.clone()),
                        ]
                        .into_iter()
                        // A URL switched off by hand stays off until switched on.
                        .filter(|t| {
                            let manual = matches!(t, Target::Url(..))
                                && h.cooldowns
                                    .state(t)
                                    .is_some_and(|s| crate::probe::is_manual(&s));
                            !manual && h.cooldowns.succeed(t)
                        })
                        .inspect(|t| {
                            h.local_changes.insert(t.clone(), now);
                        })
                        .collect()
                    });
                    for t in cleared {
                        gw.store.clear_cooldown(t.encode());
                    }
                    entry.status = Some(commit.parts.status.as_u16());
                    entry.outcome = "ok".to_owned();
                    call.guard.row.attempt_log.push(entry);
                    call.guard.channel = Some(p.channel.id);
                    if let Some(a) = &call.guard.active
                        && let Ok(mut c) = a.channel.lock()
                    {
                        *c = Some(p.channel.name.clone());
                    }
                    call.guard.slots.absorb(channel_slot);
                    return commit_response(call, commit, Arc::clone(&p.channel));
                }
                Attempt::Failed(f) => {
                    let v = &f.verdict;
                    entry.status = f
                        .response
                        .as_ref()
                        .map(|(parts, _, _)| parts.status.as_u16());
                    entry.outcome = v.kind.as_str().to_owned();
                    entry.error = Some(v.reason.clone());
                    tracing::info!(
                        request_id = %call.guard.row.request_id,
                        channel = %p.channel.name,
                        key_index = p.key.index,
                        outcome = v.kind.as_str(),
                        scope = v.scope.as_str(),
                        error = %v.reason,
                        "attempt failed"
                    );
                    if !matches!(
                        v.kind,
                        OutcomeKind::ClientError | OutcomeKind::ClientCancelled
                    ) {
                        let now = gw.clock.now_ms();
                        gw.with_health(|h| h.scores.record(p.channel.id, now, false));
                    }
                    let target = match v.scope {
                        Scope::Client => None,
                        Scope::Key => Some(Target::Key(p.channel.id, p.key.index)),
                        Scope::Model => Some(Target::Model(p.channel.id, upstream_model.clone())),
                        Scope::Url if n + 1 < url_order.len() => {
                            Some(Target::Url(p.channel.id, url_index))
                        }
                        Scope::Url | Scope::Channel => Some(Target::Channel(p.channel.id)),
                    };
                    if let Some(t) = &target {
                        entry.scope = Some(t.scope().to_owned());
                        entry.cooldown_until_ms =
                            cool(&gw, t, v).and_then(|u| i64::try_from(u).ok());
                    }
                    call.guard.row.attempt_log.push(entry);
                    if v.scope == Scope::Client || !v.retry_elsewhere {
                        channel_slot.release().await;
                        return give_up(call, f);
                    }
                    match target {
                        Some(Target::Url(..)) => {
                            last = Some(f);
                            continue;
                        }
                        Some(Target::Key(..)) => {}
                        _ => dead_channels.push(p.channel.id),
                    }
                    last = Some(f);
                    break;
                }
            }
        }
        channel_slot.release().await;
    }
    match last {
        Some(f) => give_up(call, f),
        None if untranslatable.is_some() && limited_retry_ms.is_none() => {
            let why = untranslatable.unwrap_or_default();
            call.fail(
                ErrorKind::InvalidRequest,
                format!("the request can't be sent to any channel serving this model: {why}"),
            )
        }
        None => match limited_retry_ms {
            Some(retry) => call.fail_with(
                ErrorKind::RateLimited,
                "every channel serving this model is at its rate or concurrency limit".to_owned(),
                Some(retry.div_ceil(1000)),
            ),
            None => call.fail(
                ErrorKind::Unavailable,
                "no upstream is available".to_owned(),
            ),
        },
    }
}

fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        400 | 422 => ErrorKind::InvalidRequest,
        401 => ErrorKind::Authentication,
        403 => ErrorKind::PermissionDenied,
        404 | 410 => ErrorKind::NotFound,
        413 => ErrorKind::RequestTooLarge,
        429 => ErrorKind::RateLimited,
        503 | 529 => ErrorKind::Unavailable,
        504 => ErrorKind::Timeout,
        500 => ErrorKind::Internal,
        _ => ErrorKind::BadGateway,
    }
}

/// Ends the request with its last failure: the upstream's own answer when it was an HTTP
/// error (same protocol on both sides, so it is already in the client's shape), otherwise a
/// gateway-made error with the verdict's status.
fn give_up(mut call: Call, f: Failure) -> Resp {
    let Failure { verdict, response } = f;
    let Some((parts, body, upstream)) = response else {
        let kind = kind_for_status(verdict.client_status);
        return call.fail(kind, verdict.reason);
    };
    let (body, headers) = if upstream == call.protocol {
        (
            body,
            client_headers(&parts.headers, false, call.rate_limit_headers()),
        )
    } else {
        // The upstream's error, in the client's own error shape.
        let converted = convert_error(upstream, call.protocol, parts.status.as_u16(), &body);
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(v) = parts.headers.get(header::RETRY_AFTER) {
            h.insert(header::RETRY_AFTER, v.clone());
        }
        (Bytes::from(converted), h)
    };
    let mut resp = Response::new(ResponseBody::full(body));
    *resp.status_mut() = parts.status;
    *resp.headers_mut() = headers;
    call.guard.tag(resp.headers_mut());
    call.guard
        .finish(parts.status.as_u16(), Some(verdict.reason));
    resp
}

/// Hands a committed answer to the relay, with the client's headers.
fn commit_response(call: Call, commit: Box<Commit>, channel: Arc<ChannelEntry>) -> Resp {
    let Commit {
        parts,
        first,
        incoming,
        sse,
        usage,
        scan,
        text_bytes,
        translated,
    } = *commit;
    let mut call = call;
    call.guard.usage = usage;
    call.guard.answer_text_bytes = text_bytes;
    let is_sse = sse.is_some()
        || parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
    // A body read whole keeps an exact length; a relayed one may end with an error event.
    let mut headers = if translated {
        // The upstream's headers describe its own protocol; the client gets fresh ones.
        let mut h = HeaderMap::new();
        let ct = if is_sse && call.client_sse() {
            "text/event-stream"
        } else {
            "application/json"
        };
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        if is_sse {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        }
        h
    } else {
        client_headers(
            &parts.headers,
            incoming.is_none() || !is_sse,
            call.rate_limit_headers(),
        )
    };
    if incoming.is_none()
        && let Ok(v) = HeaderValue::from_str(&first.len().to_string())
    {
        headers.insert(header::CONTENT_LENGTH, v);
    }
    call.guard.tag(&mut headers);
    let status = parts.status.as_u16();
    let relay = RelayStream::new(
        first,
        incoming,
        sse,
        scan,
        call.protocol,
        status,
        call.gw.config.timeouts.idle,
        call.guard,
        channel,
    );
    let mut resp = Response::new(ResponseBody::Relay(Box::new(relay)));
    *resp.status_mut() = parts.status;
    *resp.headers_mut() = headers;
    resp
}

/// Applies a verdict's cooldown to `target`; returns when it ends.
fn cool(gw: &Inner, target: &Target, v: &Verdict) -> Option<u64> {
    let now = gw.clock.now_ms();
    // A URL switched off by hand (tried only as a last resort) keeps its switch-off.
    if let Some(s) = gw.with_health(|h| h.cooldowns.state(target))
        && matches!(target, Target::Url(..))
        && crate::probe::is_manual(&s)
    {
        return Some(s.until_ms);
    }
    let max = ms(gw.config.cooldown.max);
    let state = gw.with_health(|h| match v.cooldown {
        CooldownHint::None => None,
        CooldownHint::Until { unix_ms } => Some(h.cooldowns.fail_until(target, unix_ms)),
        CooldownHint::Backoff { first_ms } => Some(h.cooldowns.fail(
            target,
            now,
            CooldownPolicy::new(first_ms, max),
        )),
    })?;
    gw.with_health(|h| h.local_changes.insert(target.clone(), now));
    gw.persist_cooldown(target, state, v.kind.as_str());
    Some(state.until_ms)
}
