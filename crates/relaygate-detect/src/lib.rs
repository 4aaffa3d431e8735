//! Classification of upstream failures for the relaygate failover loop.
//!
//! This crate answers one question for the proxy: *an attempt went wrong (or looks like it
//! went right but did not); what failed, what should rest, for how long, and may the request
//! move on to another key, URL or channel?* Every answer is a [`Verdict`].
//!
//! It is shaped like a classify pipeline that follows one response through its life:
//!
//! 1. **Head** — no usable answer at all: [`classify_transport`]; a non-2xx answer:
//!    [`classify_http`] (status, headers and the error body).
//! 2. **Body / events** — a 2xx non-stream body is checked by [`probe_body`] for a soft error
//!    (an error envelope or a load warning sent with status 200); a 2xx stream feeds every SSE
//!    event to a [`StreamProbe`], which reports [`ProbeState::Pending`] until the first real
//!    content, [`ProbeState::Content`] after it, and [`ProbeState::Failed`] on an error event.
//! 3. **End of stream** — [`StreamProbe::eos`] turns a stream that ended without any content
//!    into an [`OutcomeKind::EmptyResponse`] verdict.
//!
//! What it is not: it performs no I/O, reads no clock (time comes in as `now_ms`, unix
//! milliseconds), keeps no cooldown state (the proxy feeds verdicts to
//! `relaygate-health`'s cooldown book) and never rewrites a response. It does not decide
//! the single-key upgrade (a key verdict on a channel with one key); the caller knows the
//! channel's keys. Every public function is total: arbitrary bytes, headers and numbers give a
//! verdict, never a panic.
//!
//! Upstream texts are only ever *read*: a [`Verdict::reason`] quotes at most a short, trimmed
//! piece of the upstream's message, and the proxy still scrubs keys from it before logging.
#![deny(missing_docs)]

mod facts;
mod http_class;
mod soft;
mod stream;
mod time;
mod transport;

pub use http_class::classify_http;
pub use soft::probe_body;
pub use stream::{ProbeState, StreamProbe};
pub use time::{go_duration_ms, http_date_ms, retry_after_ms, rfc3339_ms};
pub use transport::{TransportFailure, classify_transport};

/// What to cool down, and where the failover loop goes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The client's own request is at fault (or the client left): nothing cools, nothing is
    /// retried, the answer goes back to the client.
    Client,
    /// The channel key that was used: cool it, try the channel's next key.
    Key,
    /// The requested model on this channel: cool the (channel, model) pair, try another
    /// channel.
    Model,
    /// The base URL that was used: cool it, try the channel's next URL; after the last URL the
    /// proxy escalates to the channel.
    Url,
    /// The whole channel: cool it, try the next channel.
    Channel,
}

impl Scope {
    /// The snake_case name stored in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Client => "client",
            Scope::Key => "key",
            Scope::Model => "model",
            Scope::Url => "url",
            Scope::Channel => "channel",
        }
    }
}

/// Named outcome kinds, so callers never reason about raw status numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutcomeKind {
    /// The upstream rejected the credential (401/403, invalid API key, suspended account).
    AuthRejected,
    /// The key's quota, balance or billing limit is used up (402, `insufficient_quota`, the
    /// `1308` usage-limit bodies, daily limits). Distinct from a passing rate limit.
    QuotaExhausted,
    /// A passing rate limit (429 and its equivalents).
    RateLimited,
    /// The model is unknown to, or gone from, this channel (404 model not found, 410).
    ModelUnavailable,
    /// The upstream failed on its side (500, 502, 504, 520-524, unknown 5xx, a misrouted
    /// channel answering 404 for the endpoint).
    ServerError,
    /// The upstream says it is overloaded (503, 529, `overloaded_error`, load warnings).
    Overloaded,
    /// No answer in time (connect, first byte or idle timeout).
    Timeout,
    /// The connection could not be made (refused, DNS, TLS).
    ConnectFailed,
    /// The connection broke while the answer was coming (reset, HTTP/2 stream error).
    StreamBroken,
    /// A status-200 answer that carries an error the other kinds do not describe.
    SoftError,
    /// A status-200 answer without any content.
    EmptyResponse,
    /// The client's request was refused on its merits (400, 413, 422 and other 4xx).
    ClientError,
    /// The client went away.
    ClientCancelled,
}

impl OutcomeKind {
    /// The snake_case name stored in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::AuthRejected => "auth_rejected",
            OutcomeKind::QuotaExhausted => "quota_exhausted",
            OutcomeKind::RateLimited => "rate_limited",
            OutcomeKind::ModelUnavailable => "model_unavailable",
            OutcomeKind::ServerError => "server_error",
            OutcomeKind::Overloaded => "overloaded",
            OutcomeKind::Timeout => "timeout",
            OutcomeKind::ConnectFailed => "connect_failed",
            OutcomeKind::StreamBroken => "stream_broken",
            OutcomeKind::SoftError => "soft_error",
            OutcomeKind::EmptyResponse => "empty_response",
            OutcomeKind::ClientError => "client_error",
            OutcomeKind::ClientCancelled => "client_cancelled",
        }
    }
}

impl std::fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long the target of a verdict should rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CooldownHint {
    /// Nothing cools (client errors, client cancellations).
    None,
    /// Exponential backoff starting at `first_ms` (the cooldown book doubles it on repeated
    /// failures and resets it on success).
    Backoff {
        /// The first interval in milliseconds.
        first_ms: u64,
    },
    /// The upstream named the moment the limit resets: rest exactly until then.
    Until {
        /// The end of the cooldown, unix milliseconds.
        unix_ms: u64,
    },
}

/// The classification of one failed (or soft-failed) attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// What happened.
    pub kind: OutcomeKind,
    /// What to cool down and where to go next.
    pub scope: Scope,
    /// Whether another key, URL or channel may be tried for this request.
    pub retry_elsewhere: bool,
    /// How long the target of [`Verdict::scope`] should rest.
    pub cooldown: CooldownHint,
    /// The status the client should see if this attempt is the final outcome.
    pub client_status: u16,
    /// A short human-readable explanation for logs (may quote a trimmed piece of the upstream
    /// message; scrub secrets before storing it).
    pub reason: String,
}

impl Verdict {
    pub(crate) fn new(
        kind: OutcomeKind,
        scope: Scope,
        cooldown: CooldownHint,
        client_status: u16,
        reason: String,
    ) -> Self {
        let retry_elsewhere = !matches!(
            kind,
            OutcomeKind::ClientError | OutcomeKind::ClientCancelled
        ) && scope != Scope::Client;
        Verdict {
            kind,
            scope,
            retry_elsewhere,
            cooldown,
            client_status,
            reason,
        }
    }
}

/// First cooldown intervals per kind (milliseconds) and the timezone of quota reset texts.
#[derive(Debug, Clone)]
pub struct Policy {
    /// First cooldown after an [`OutcomeKind::AuthRejected`].
    pub auth_ms: u64,
    /// Cooldown after an [`OutcomeKind::QuotaExhausted`] that names no reset time.
    pub quota_ms: u64,
    /// First cooldown after an [`OutcomeKind::RateLimited`] that names no reset time.
    pub rate_limit_ms: u64,
    /// First cooldown after an [`OutcomeKind::ModelUnavailable`].
    pub model_ms: u64,
    /// First cooldown after server errors, overload, broken streams, soft errors and empty
    /// answers.
    pub server_ms: u64,
    /// First cooldown after a timeout or a failed connect.
    pub timeout_ms: u64,
    /// The UTC offset, in minutes, of reset times such as `2025-12-09 18:08:11` in quota
    /// bodies that carry no zone of their own, and of "daily" limits that reset at midnight.
    pub quota_reset_utc_offset_minutes: i32,
}

impl Default for Policy {
    /// Auth 5 min, quota 30 min, rate limit 1 min, model 10 min, server and timeout 30 s;
    /// reset texts in UTC+8 (Beijing), where the `1308` usage-limit bodies come from.
    fn default() -> Self {
        Policy {
            auth_ms: 300_000,
            quota_ms: 1_800_000,
            rate_limit_ms: 60_000,
            model_ms: 600_000,
            server_ms: 30_000,
            timeout_ms: 30_000,
            quota_reset_utc_offset_minutes: 480,
        }
    }
}

/// Cuts `text` to at most `max` bytes on a char boundary, trimmed, for a [`Verdict::reason`].
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    let t = text.trim();
    if t.len() <= max {
        return t.to_owned();
    }
    let mut end = max;
    while end > 0 && !t.is_char_boundary(end) {
        end -= 1;
    }
    let mut s = t.get(..end).unwrap_or_default().trim_end().to_owned();
    s.push('…');
    s
}
