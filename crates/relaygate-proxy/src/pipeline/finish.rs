//! Phase 8, finish: the [`RequestGuard`] every authenticated request owns from the moment it
//! is admitted. Whichever way the request ends (an answer relayed to its end, a gateway-made
//! error, the client leaving before, during or after the first byte, a panic unwinding), the
//! guard ends it exactly once: it prices the usage and charges the budgets, writes the one
//! log row, removes the live entry and releases every concurrency slot and lease.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use relaygate_protocol::Protocol;
use relaygate_store::{RequestLog, UsageRow};
use relaygate_tokens::{
    ServiceTier, Usage, count_request, estimate_cut, estimate_tokens_from_bytes,
};
use tokio::time::Instant;

use crate::gateway::{Inner, SlotGuard};
use crate::observe::ActiveEntry;
use crate::routes::Route;
use crate::table::TokenEntry;

/// The status a request gets when its client went away first (nginx's convention).
pub(crate) const CLIENT_CLOSED: u16 = 499;

/// Request bodies up to this size are kept until the end, so that an answer without usage can
/// be billed from a local count of its input; larger ones are estimated from their size.
pub(super) const MAX_COUNTED_BODY: usize = 128 * 1024;

/// Owns the end of one request: see the module documentation.
#[derive(Debug)]
pub(crate) struct RequestGuard {
    pub gw: Arc<Inner>,
    /// The row written at the end.
    pub row: RequestLog,
    started: Instant,
    /// The channel that answered, whose health a late failure counts against.
    pub channel: Option<i64>,
    /// Usage reported by the upstream (or estimated), priced at the end.
    pub usage: Option<Usage>,
    /// Size of the request body, for estimating a cut stream's input.
    pub request_bytes: u64,
    /// The request body when small, for counting its input locally if the upstream reports
    /// no usage.
    counted_body: Option<Bytes>,
    /// The client's protocol (the counting rules of the body).
    protocol: Protocol,
    /// The service tier the request asked for, billed when the answer names none.
    pub requested_tier: Option<ServiceTier>,
    /// The service tier a stream reported without (or before) its usage.
    pub reported_tier: Option<ServiceTier>,
    /// The request's input counted at admission (for a budget's reservation), reused when the
    /// answer has no usage.
    pub counted_input: Option<u64>,
    /// Bytes of answer text delivered (text, reasoning, tool arguments), for estimating the
    /// output of an answer without usage.
    pub answer_text_bytes: u64,
    /// The answer was cut short (the client left, or the upstream broke or fell silent).
    pub cut: bool,
    /// Micro-dollars reserved on the token's budget before sending, replaced at the end by
    /// the real cost.
    pub reserved_micro_usd: i64,
    /// The (day, month) the reservation was made in: it is given back there, whenever the
    /// request ends.
    reserved_periods: (u32, u32),
    /// The in-flight entry the admin API shows.
    pub active: Option<Arc<ActiveEntry>>,
    /// The client token's name, for charging its budget.
    token_name: String,
    /// Concurrency slots and leases held for the request.
    pub slots: SlotGuard,
    finished: bool,
}

impl RequestGuard {
    /// Starts the guard of an authenticated request and shows it as in flight.
    pub fn start(gw: &Arc<Inner>, protocol: Protocol, route: &Route, token: &TokenEntry) -> Self {
        let request_id = gw.next_request_id();
        let started_at_ms = gw.clock.now_ms();
        let active = gw
            .observer
            .start(&request_id, started_at_ms, protocol.as_str());
        RequestGuard {
            gw: Arc::clone(gw),
            row: RequestLog {
                request_id,
                started_at_ms: i64::try_from(started_at_ms).unwrap_or(i64::MAX),
                token_id: Some(token.id),
                client_protocol: protocol.as_str().to_owned(),
                model_requested: route.path_model.clone().unwrap_or_default(),
                stream: route.path_stream,
                ..RequestLog::default()
            },
            started: Instant::now(),
            channel: None,
            usage: None,
            request_bytes: 0,
            counted_body: None,
            protocol,
            requested_tier: None,
            reported_tier: None,
            counted_input: None,
            answer_text_bytes: 0,
            cut: false,
            reserved_micro_usd: 0,
            reserved_periods: (0, 0),
            active: Some(active),
            token_name: token.name.clone(),
            slots: SlotGuard::new(Arc::clone(gw)),
            finished: false,
        }
    }

    /// The request's id.
    pub fn request_id(&self) -> &str {
        &self.row.request_id
    }

    /// Adds the request id header to an answer.
    pub fn tag(&self, headers: &mut HeaderMap) {
        if let Ok(v) = HeaderValue::from_str(&self.row.request_id) {
            headers.insert("x-relaygate-request-id", v);
        }
    }

    /// Records the model and stream flag once the body is read.
    pub fn set_model(&mut self, model: &str, stream: bool) {
        self.row.model_requested = model.to_owned();
        self.row.stream = stream;
        if let Some(a) = &self.active {
            if let Ok(mut m) = a.model.lock() {
                m.clear();
                m.push_str(model);
            }
            a.stream.store(stream, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Milliseconds since the request arrived.
    pub fn elapsed_ms(&self) -> u64 {
        super::ms(Instant::now().saturating_duration_since(self.started))
    }

    /// Keeps a small request body for counting its input locally, if ever needed.
    pub fn keep_for_counting(&mut self, body: &Bytes) {
        if body.len() <= MAX_COUNTED_BODY {
            self.counted_body = Some(body.clone());
        }
    }

    /// The request's input tokens counted locally (a small body through the tokenizer, a
    /// large one from its size).
    fn input_estimate(&self) -> u64 {
        if let Some(n) = self.counted_input {
            return n;
        }
        let model = self.row.model_requested.as_str();
        match &self.counted_body {
            Some(body) => count_request(self.protocol, model, body)
                .map(|c| c.tokens)
                .unwrap_or_else(|_| estimate_tokens_from_bytes(self.request_bytes)),
            None => estimate_tokens_from_bytes(self.request_bytes),
        }
    }

    /// One rule: an answered request is never logged without usage. A 2xx answer whose
    /// upstream reported none (or an implausible report), and an answer cut short after an
    /// upstream was asked, are billed from local counts and marked estimated.
    fn settle_usage(&mut self, status: u16) {
        let answered = (200..300).contains(&status);
        let cut_after_asking = self.cut || (status == CLIENT_CLOSED && self.row.attempts > 0);
        let needs_estimate = match self.usage {
            None => answered || cut_after_asking,
            Some(u) => u.implausible || (cut_after_asking && !u.estimated),
        };
        if !needs_estimate {
            return;
        }
        if let Some(u) = self.usage
            && u.implausible
        {
            tracing::warn!(request_id = %self.row.request_id, model = %self.row.model_requested, "the upstream reported implausible usage (negative, fractional, non-numeric or over 10^9 tokens): billed from local counts");
        }
        let input = self.input_estimate();
        self.usage = Some(estimate_cut(self.usage, input, self.answer_text_bytes));
    }

    /// Gives the reservation back (the request was refused before it was sent).
    pub fn release_reservation(&mut self) {
        let r = std::mem::take(&mut self.reserved_micro_usd);
        if r > 0 {
            self.charge_token(-r, self.reserved_periods);
        }
    }

    /// Records a reservation of `micro` made on the counters of `periods`.
    pub fn reserve(&mut self, micro: i64, periods: (u32, u32)) {
        self.reserved_micro_usd = micro;
        self.reserved_periods = periods;
    }

    /// Records usage and its cost on the row, and settles the budgets.
    fn price(&mut self, status: u16) {
        self.settle_usage(status);
        let Some(u) = self.usage else {
            // Nothing to bill: the reservation goes back.
            self.release_reservation();
            return;
        };
        self.row.usage = Some(UsageRow {
            input: u.input,
            output: u.output,
            cache_read: u.cache_read,
            cache_write: u.cache_write_5m.saturating_add(u.cache_write_1h),
            reasoning: u.reasoning,
            estimated: u.estimated,
        });
        let model = self
            .row
            .model_sent
            .clone()
            .unwrap_or_else(|| self.row.model_requested.clone());
        let tier = u
            .service_tier
            .or(self.reported_tier)
            .or(self.requested_tier)
            .unwrap_or(ServiceTier::Standard);
        if tier == ServiceTier::Unknown {
            self.gw.warn_unknown_tier(&model);
        }
        let cost = relaygate_tokens::cost(&self.gw.prices.get(), &model, &u, tier);
        if cost.defaulted {
            self.gw.warn_unpriced(&model);
        }
        if cost.priced {
            let permille = self
                .row
                .channel_name
                .as_ref()
                .and_then(|c| self.gw.config.budgets.channels.get(c))
                .map_or(1000, |b| b.cost_multiplier_permille);
            let micro = crate::budget::apply_multiplier(cost.micro_usd, permille);
            self.row.cost_micro_usd = Some(micro);
            self.charge(micro);
        } else {
            self.row.unpriced = true;
            self.gw.warn_unpriced(&model);
            self.release_reservation();
        }
    }

    /// Adds `delta` (negative to give back) to the token's budget counters.
    fn charge_token(&self, delta: i64, periods: (u32, u32)) {
        if delta == 0 || !self.gw.config.budgets.tokens.contains_key(&self.token_name) {
            return;
        }
        let entries = crate::budget::token_keys(&self.token_name, periods)
            .into_iter()
            .map(|k| (k, delta))
            .collect();
        self.spawn_charge(entries);
    }

    fn spawn_charge(&self, entries: Vec<(String, i64)>) {
        let gw = Arc::clone(&self.gw);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = gw.store.charge(entries).await {
                    tracing::error!(error = %e, "charging a budget failed");
                }
            });
        }
    }

    /// Adds the cost to the budgets that watch it (shared across instances); the token's
    /// counters get the difference from what was reserved.
    fn charge(&mut self, micro: i64) {
        let reserved = std::mem::take(&mut self.reserved_micro_usd);
        let now = crate::budget::periods(self.gw.clock.now_ms());
        if reserved > 0 && self.reserved_periods != now {
            // Past midnight (or a month's end): the reservation goes back to the day it was
            // made on, and the cost is charged to today.
            self.charge_token(-reserved, self.reserved_periods);
            self.charge_token(micro.max(0), now);
        } else {
            self.charge_token(micro.max(0) - reserved, now);
        }
        if micro <= 0 {
            return;
        }
        let (day, _) = crate::budget::periods(self.gw.clock.now_ms());
        let budgets = &self.gw.config.budgets;
        let mut entries = Vec::new();
        if let Some(c) = self
            .row
            .channel_name
            .as_ref()
            .filter(|c| budgets.channels.contains_key(*c))
        {
            entries.push((crate::budget::channel_day_key(c, day), micro));
        }
        if !entries.is_empty() {
            self.spawn_charge(entries);
        }
    }

    /// Ends the request: prices and charges, writes the row, forgets the live entry and
    /// releases the slots. Only the first call does anything.
    pub fn finish(&mut self, status: u16, error: Option<String>) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.price(status);
        self.row.status = status;
        self.row.duration_ms = self.elapsed_ms();
        if error.is_some() {
            self.row.error = error;
        }
        if let Some(e) = &self.row.error {
            tracing::warn!(request_id = %self.row.request_id, status, error = %e, "request failed");
        } else {
            tracing::debug!(request_id = %self.row.request_id, status, ms = self.row.duration_ms, "request done");
        }
        if let (Some(ch), Some(_)) = (self.channel, &self.row.error)
            && status != CLIENT_CLOSED
        {
            let now = self.gw.clock.now_ms();
            self.gw.with_health(|h| h.scores.record(ch, now, false));
        }
        // Metric labels keep only models the routing table knows: a token holder inventing
        // model names must not grow the metric series.
        let known = self.gw.table().serves(&self.row.model_requested);
        self.gw.observer.finish(&self.row, known);
        self.active = None;
        self.slots.release_now();
        self.gw.store.record(std::mem::take(&mut self.row));
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if !self.finished {
            // Dropped unfinished: the server dropped the request's future because the client
            // went away before the answer started (or something unwound).
            self.finish(
                CLIENT_CLOSED,
                Some("client_closed: the client went away before the response started".to_owned()),
            );
        }
    }
}
