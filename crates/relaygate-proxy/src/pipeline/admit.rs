//! Phase 3, admit: read the body within its size and silence limits, learn the model and the
//! stream flag, and apply what the token and the channels allow (model and channel
//! restrictions, concurrency leases, rate windows, budgets).
//!
//! Limits live in the shared store. When a store call fails here (its deadline passed or its
//! circuit breaker is open), concurrency and rate limits either refuse (`when_unavailable =
//! "refuse"`: a token's request gets 503, a channel is skipped as `limit_unknown`) or count in
//! this instance alone (`"local"`, see `fallback.rs`). Budgets always refuse: money is never
//! spent blindly.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use relaygate_protocol::Protocol;
use relaygate_protocol::errors::ErrorKind;
use relaygate_protocol::peek::peek_request;
use relaygate_store::AttemptLog;
use tokio::time::timeout;

use super::plan::{Candidates, skip_log};
use super::{Call, Resp};
use crate::gateway::{Inner, SlotGuard};
use crate::routes::Operation;
use crate::table::ChannelEntry;

/// Reads and discards a request body we refuse before reading it (bounded in size and time).
/// Answering while the client is still sending makes the server drop the connection, and
/// clients then see "server disconnected" instead of the error.
pub(crate) async fn drain(body: Incoming) {
    const MAX_DRAIN: usize = 1024 * 1024;
    let _ = timeout(
        std::time::Duration::from_secs(2),
        Limited::new(body, MAX_DRAIN).collect(),
    )
    .await;
}

/// Why a request body could not be read.
pub(super) enum BodyError {
    /// Over the limit (declared or counted).
    TooLarge(usize),
    /// Nothing arrived for this long.
    Stalled(std::time::Duration),
    /// The whole body took longer than this (a slow drip that never stays silent long).
    TooSlow(std::time::Duration),
    /// The client left half way.
    Closed(String),
    /// The body was malformed (bad chunking and the like).
    Bad(String),
}

impl BodyError {
    /// The answer's kind, the row's status and the message.
    pub fn describe(&self) -> (ErrorKind, u16, String) {
        match self {
            BodyError::TooLarge(limit) => (
                ErrorKind::RequestTooLarge,
                413,
                format!("request body is larger than the limit of {limit} bytes"),
            ),
            BodyError::Stalled(d) => (
                ErrorKind::ClientTimeout,
                408,
                format!(
                    "the request body stalled: nothing arrived for {}s",
                    d.as_secs()
                ),
            ),
            BodyError::TooSlow(d) => (
                ErrorKind::ClientTimeout,
                408,
                format!("the request body did not arrive within {}s", d.as_secs()),
            ),
            BodyError::Closed(e) => (
                ErrorKind::InvalidRequest,
                super::finish::CLIENT_CLOSED,
                format!("client_closed: the client left while sending the body: {e}"),
            ),
            BodyError::Bad(e) => (
                ErrorKind::InvalidRequest,
                400,
                format!("could not read the request body: {e}"),
            ),
        }
    }
}

/// Reads a body of at most `limit` bytes, giving up when the client stays silent for
/// `silence`. Most bodies arrive in one frame: that one is kept as it is, with no copy.
pub(super) async fn collect_body(
    headers: &http::HeaderMap,
    mut body: Incoming,
    limit: usize,
    limits: &crate::ClientLimits,
) -> Result<Bytes, BodyError> {
    let silence = limits.body;
    let deadline = tokio::time::Instant::now() + limits.body_total;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut len = 0usize;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = match timeout(silence.min(left), body.frame()).await {
            Err(_) if left <= silence => return Err(BodyError::TooSlow(limits.body_total)),
            Err(_) => return Err(BodyError::Stalled(silence)),
            Ok(None) => break,
            Ok(Some(Err(e))) if e.is_incomplete_message() || e.is_canceled() => {
                return Err(BodyError::Closed(e.to_string()));
            }
            Ok(Some(Err(e))) => return Err(BodyError::Bad(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        len = len.saturating_add(data.len());
        if len > limit {
            return Err(BodyError::TooLarge(limit));
        }
        match (&mut joined, first.take()) {
            (Some(buf), _) => buf.extend_from_slice(&data),
            (None, None) => first = Some(data),
            (None, Some(prev)) => {
                let mut buf = BytesMut::with_capacity(prev.len() + data.len());
                buf.extend_from_slice(&prev);
                buf.extend_from_slice(&data);
                joined = Some(buf);
            }
        }
    }
    Ok(match joined {
        Some(buf) => buf.freeze(),
        None => first.unwrap_or_default(),
    })
}

/// The answer to a body that could not be read, in the client's protocol.
pub(super) fn body_error_response(protocol: Protocol, e: &BodyError) -> (Resp, u16, String) {
    let (kind, status, msg) = e.describe();
    let mut resp = super::error_response(protocol, kind, &msg);
    if matches!(e, BodyError::Stalled(_) | BodyError::TooSlow(_)) {
        // The rest of a stalled body may still come: the connection can't be reused.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    (resp, status, msg)
}

/// Reads the request body: 413 past `max_body_bytes` (declared or counted), 408 when the
/// client stays silent for `client_body_secs` or the whole body takes longer than
/// `client_body_total_secs`, 499 when it leaves half way.
pub(super) async fn read_body(call: &mut Call, body: Incoming) -> Result<(), Resp> {
    let limit = call.gw.config.max_body_bytes;
    let limits = call.gw.config.client;
    match collect_body(&call.headers, body, limit, &limits).await {
        Ok(b) => {
            call.body = b;
            call.guard.request_bytes = call.body.len() as u64;
            call.guard.keep_for_counting(&call.body);
            Ok(())
        }
        Err(e) => {
            let (mut resp, status, msg) = body_error_response(call.protocol, &e);
            call.guard.tag(resp.headers_mut());
            call.guard.finish(status, Some(msg));
            Err(resp)
        }
    }
}

/// Learns the model and stream flag and applies the token's restrictions, lease and budget;
/// returns the channels that may serve the request.
pub(super) async fn admit(call: &mut Call) -> Result<Candidates, Resp> {
    let gw = Arc::clone(&call.gw);
    if call.protocol == Protocol::Gemini {
        call.model = call.route.path_model.clone().unwrap_or_default();
    } else {
        match peek_request(&call.body) {
            Ok(peek) => {
                call.stream = peek.stream && call.route.op == Operation::Generate;
                call.include_usage = peek.include_usage;
                call.output_limit = peek.output_limit;
                call.guard.requested_tier = peek
                    .service_tier
                    .as_deref()
                    .map(relaygate_tokens::ServiceTier::from_wire);
                match peek.model {
                    Some(m) if !m.trim().is_empty() => call.model = m,
                    _ => {
                        return Err(call.fail(
                            ErrorKind::InvalidRequest,
                            "the request has no \"model\"".to_owned(),
                        ));
                    }
                }
            }
            Err(e) => return Err(call.fail(ErrorKind::InvalidRequest, e.to_string())),
        }
    }
    call.guard.set_model(&call.model, call.stream);

    if !call.token.allows_model(&call.model) {
        let msg = format!("model {:?} is not allowed for this token", call.model);
        return Err(call.fail(ErrorKind::PermissionDenied, msg));
    }
    let candidates = super::plan::candidates(call).map_err(|refusal| *refusal)?;

    let (token_id, max_concurrency) = (call.token.id, call.token.max_concurrency);
    if max_concurrency > 0 {
        // A lease in the shared store: instances together admit no more than the limit.
        match gw
            .take_slot(format!("token:{token_id}"), max_concurrency)
            .await
        {
            Ok(Some(slot)) => call.guard.slots.push(slot),
            Ok(None) => {
                let msg = format!("this token allows {max_concurrency} requests at once");
                return Err(call.fail_with(ErrorKind::RateLimited, msg, Some(1)));
            }
            Err(e) => {
                let msg = format!("the token's concurrency limit can't be checked: {e}");
                return Err(call.fail_with(ErrorKind::Unavailable, msg, Some(1)));
            }
        }
    }
    if let Some(budget) = gw.config.budgets.tokens.get(&call.token.name) {
        let now = gw.clock.now_ms();
        let periods = crate::budget::periods(now);
        let keys = crate::budget::token_keys(&call.token.name, periods).to_vec();
        let limits = [
            ("lifetime", budget.lifetime_micro_usd),
            ("daily", budget.daily_micro_usd),
            ("monthly", budget.monthly_micro_usd),
        ];
        // Reserve the most the request can cost before it is sent: concurrent requests on
        // every instance see each other's reservations, so together they stay within the
        // budget; the end replaces the reservation by the real cost.
        let estimate = reservation(call, &candidates).await;
        if estimate > 0 {
            let entries = keys
                .iter()
                .zip(limits.iter())
                .map(|(k, (_, limit))| (k.clone(), estimate, *limit))
                .collect();
            match reserve(&gw, entries, estimate).await {
                Ok(true) => call.guard.reserve(estimate, periods),
                // The reason (which budget) is told by the check below.
                Ok(false) => {}
                Err(e) => {
                    return Err(call.fail(
                        ErrorKind::Unavailable,
                        format!("the token's budget can't be reserved: {e}"),
                    ));
                }
            }
        }
        match gw.store.spent(keys).await {
            Ok(spent) => {
                for ((what, limit), used) in limits.iter().zip(spent) {
                    // A reservation that did not fit is refused by the budget it would pass.
                    let over = if estimate > 0 {
                        call.guard.reserved_micro_usd == 0 && used.saturating_add(estimate) > *limit
                    } else {
                        used >= *limit
                    };
                    if *limit > 0 && over {
                        call.guard.release_reservation();
                        let msg = format!(
                            "this token's {what} budget is spent: {} of {}",
                            crate::budget::usd(used),
                            crate::budget::usd(*limit)
                        );
                        let retry = match *what {
                            "daily" => Some(crate::budget::seconds_to_next_day(now)),
                            _ => None,
                        };
                        return Err(call.fail_with(ErrorKind::RateLimited, msg, retry));
                    }
                }
                if estimate > 0 && call.guard.reserved_micro_usd == 0 {
                    let msg = format!(
                        "this token's budget can't cover this request (up to {})",
                        crate::budget::usd(estimate)
                    );
                    return Err(call.fail_with(ErrorKind::RateLimited, msg, Some(1)));
                }
            }
            // Money first: a budget that can't be checked is not spent blindly.
            Err(e) => {
                call.guard.release_reservation();
                return Err(call.fail(
                    ErrorKind::Unavailable,
                    format!("the token's budget can't be checked: {e}"),
                ));
            }
        }
    }
    Ok(candidates)
}

/// Reserves in a task of its own: if the request is dropped while the store works (the
/// client left), the task gives a reservation that was made back, so none is left behind.
async fn reserve(
    gw: &Arc<crate::gateway::Inner>,
    entries: Vec<(String, i64, i64)>,
    estimate: i64,
) -> Result<bool, relaygate_store::Error> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let store = Arc::clone(&gw.store);
    tokio::spawn(async move {
        let keys: Vec<String> = entries.iter().map(|(k, _, _)| k.clone()).collect();
        let result = store.reserve(entries).await;
        if let Err(Ok(true)) = tx.send(result) {
            let back = keys.into_iter().map(|k| (k, -estimate)).collect();
            if let Err(e) = store.charge(back).await {
                tracing::error!(error = %e, "giving back the reservation of a dropped request failed");
            }
        }
    });
    rx.await.unwrap_or_else(|_| {
        Err(relaygate_store::Error::Invalid {
            what: "budget reservation",
            reason: "the reserving task ended without an answer".to_owned(),
        })
    })
}

/// The most this request can cost, micro-dollars: its input counted locally plus its output
/// limit (or [`crate::budget::DEFAULT_OUTPUT_CAP`]), at the dearest price among the models the
/// candidates would send. 0 when none of them has a price.
async fn reservation(call: &mut Call, candidates: &super::plan::Candidates) -> i64 {
    let (protocol, model, body) = (call.protocol, call.model.clone(), call.body.clone());
    let by_bytes = relaygate_tokens::estimate_tokens_from_bytes(call.body.len() as u64);
    // Counting is bounded like the end's: a large body is estimated from its size.
    let input = if body.len() > super::finish::MAX_COUNTED_BODY {
        by_bytes
    } else {
        let counted = tokio::task::spawn_blocking(move || {
            relaygate_tokens::count_request(protocol, &model, &body).map(|c| c.tokens)
        })
        .await
        .ok()
        .and_then(Result::ok);
        // Kept: an answer without usage is billed from this count, not a second one.
        call.guard.counted_input = counted;
        counted.unwrap_or(by_bytes)
    };
    let output = call
        .output_limit
        .unwrap_or(crate::budget::DEFAULT_OUTPUT_CAP);
    let usage = relaygate_tokens::Usage {
        input,
        output,
        ..relaygate_tokens::Usage::default()
    };
    let tier = call
        .guard
        .requested_tier
        .unwrap_or(relaygate_tokens::ServiceTier::Standard);
    let prices = call.gw.prices.get();
    candidates
        .iter()
        .map(|(c, m)| {
            let upstream = c.models.get(m).map_or(m.as_str(), String::as_str);
            let cost = relaygate_tokens::cost(&prices, upstream, &usage, tier);
            let permille = call
                .gw
                .config
                .budgets
                .channels
                .get(&c.name)
                .map_or(1000, |b| b.cost_multiplier_permille);
            crate::budget::apply_multiplier(cost.micro_usd, permille)
        })
        .max()
        .unwrap_or(0)
}

/// Takes a concurrency slot and an RPM slot of the channel, or says why it can't (with the
/// time to wait, ms).
pub(super) async fn admit_channel(
    gw: &Arc<Inner>,
    c: &ChannelEntry,
) -> Result<SlotGuard, (&'static str, u64)> {
    let now = gw.clock.now_ms();
    let mut guard = SlotGuard::new(Arc::clone(gw));
    if c.max_concurrency > 0 {
        match gw
            .take_slot(format!("channel:{}", c.id), c.max_concurrency)
            .await
        {
            Ok(Some(slot)) => guard.push(slot),
            Ok(None) => return Err(("concurrency_limit", 1_000)),
            Err(e) => {
                tracing::warn!(error = %e, channel = %c.name, "channel concurrency can't be checked: channel skipped");
                return Err(("limit_unknown", 1_000));
            }
        }
    }
    if c.rpm > 0 {
        let key = format!("channel:{}:rpm", c.id);
        match gw.try_rate(key, c.rpm, 60_000, now).await {
            Ok(None) => {}
            Ok(Some(retry)) => return Err(("rpm_limit", retry)),
            Err(e) => {
                tracing::warn!(error = %e, channel = %c.name, "channel RPM can't be checked: channel skipped");
                return Err(("limit_unknown", 1_000));
            }
        }
    }
    Ok(guard)
}

/// Leaves out channels whose daily budget is spent (or can't be checked).
pub(super) async fn within_budget(
    gw: &Inner,
    candidates: Candidates,
    skipped: &mut Vec<AttemptLog>,
) -> Candidates {
    let (day, _) = crate::budget::periods(gw.clock.now_ms());
    let mut out = Vec::with_capacity(candidates.len());
    for cand in candidates {
        let limit = gw
            .config
            .budgets
            .channels
            .get(&cand.0.name)
            .map_or(0, |b| b.daily_limit_micro_usd);
        if limit > 0 {
            let spent = gw
                .store
                .spent(vec![crate::budget::channel_day_key(&cand.0.name, day)])
                .await
                .map(|v| v.first().copied().unwrap_or(0));
            match spent {
                Ok(s) if s >= limit => {
                    skipped.push(skip_log(&cand.0, "budget_exhausted", None));
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, channel = %cand.0.name, "channel budget can't be checked: skipped");
                    skipped.push(skip_log(&cand.0, "budget_unknown", None));
                    continue;
                }
            }
        }
        out.push(cand);
    }
    out
}
