//! The head of the pipeline when there is no usable HTTP answer at all.

use crate::{CooldownHint, OutcomeKind, Policy, Scope, Verdict, excerpt};

/// Why no usable HTTP answer arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailure {
    /// The TCP or TLS connection could not be made (refused, DNS, handshake).
    Connect,
    /// Connecting took longer than allowed.
    ConnectTimeout,
    /// The response head or the first meaningful body byte did not arrive in time.
    FirstByteTimeout,
    /// The body stayed silent longer than allowed after it started.
    IdleTimeout,
    /// The connection was reset or the HTTP/2 stream was closed while the answer came in.
    Reset,
    /// The client went away; nothing upstream is at fault.
    ClientCancelled,
    /// Any other transport error; `message` is read to refine it.
    Other,
}

/// Classifies a failure that left no usable HTTP answer.
///
/// Upstream-side failures are [`Scope::Url`]: the proxy tries the channel's next URL and
/// escalates to the channel after the last one. Timeouts are [`OutcomeKind::Timeout`] (client
/// sees 504); failed connects [`OutcomeKind::ConnectFailed`] and resets
/// [`OutcomeKind::StreamBroken`] (502). [`TransportFailure::ClientCancelled`] is
/// [`Scope::Client`], no retry, no cooldown, status 499. [`TransportFailure::Other`] is refined
/// from the error text (a timeout, DNS/TLS/refused, or reset wording); unrecognised text is a
/// broken stream.
pub fn classify_transport(failure: TransportFailure, message: &str, policy: &Policy) -> Verdict {
    let lower = message.to_lowercase();
    let failure = match failure {
        TransportFailure::Other => refine(&lower),
        f => f,
    };
    let quoted = excerpt(message, 200);
    let reason = |label: &str| {
        if quoted.is_empty() {
            label.to_owned()
        } else {
            format!("{label}: {quoted}")
        }
    };
    let timeout = CooldownHint::Backoff {
        first_ms: policy.timeout_ms,
    };
    match failure {
        TransportFailure::Connect => Verdict::new(
            OutcomeKind::ConnectFailed,
            Scope::Url,
            timeout,
            502,
            reason("connect failed"),
        ),
        TransportFailure::ConnectTimeout => Verdict::new(
            OutcomeKind::Timeout,
            Scope::Url,
            timeout,
            504,
            reason("connect timed out"),
        ),
        TransportFailure::FirstByteTimeout => Verdict::new(
            OutcomeKind::Timeout,
            Scope::Url,
            timeout,
            504,
            reason("no first byte in time"),
        ),
        TransportFailure::IdleTimeout => Verdict::new(
            OutcomeKind::Timeout,
            Scope::Url,
            timeout,
            504,
            reason("stream idle too long"),
        ),
        TransportFailure::ClientCancelled => Verdict::new(
            OutcomeKind::ClientCancelled,
            Scope::Client,
            CooldownHint::None,
            499,
            reason("client cancelled"),
        ),
        TransportFailure::Reset | TransportFailure::Other => Verdict::new(
            OutcomeKind::StreamBroken,
            Scope::Url,
            CooldownHint::Backoff {
                first_ms: policy.server_ms,
            },
            502,
            reason("connection broken"),
        ),
    }
}

/// Reads an untyped transport error text.
fn refine(lower: &str) -> TransportFailure {
    let any = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if any(&["timed out", "timeout", "deadline exceeded"]) {
        TransportFailure::FirstByteTimeout
    } else if any(&[
        "connection refused",
        "no such host",
        "dns",
        "failed to lookup",
        "name or service not known",
        "host unreachable",
        "network unreachable",
        "no route to host",
        "certificate",
        "tls",
        "handshake",
    ]) {
        TransportFailure::Connect
    } else {
        TransportFailure::Other
    }
}
