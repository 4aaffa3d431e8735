//! Phase 2, authenticate: the gateway token in any of the four places clients put it.
//!
//! Anyone who can reach the port can be refused, so a refusal leaves nothing that grows with
//! the number of refusals: it is counted by reason (a fixed set of labels), its log row is
//! capped per client IP and in total per minute (the overflow is counted), and it creates no
//! metric series, live entry or per-model state.

use std::net::IpAddr;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue};
use hyper::body::Incoming;
use relaygate_protocol::Protocol;
use relaygate_protocol::errors::ErrorKind;
use relaygate_store::RequestLog;

use super::{Resp, error_response};
use crate::auth::{hash_token, presented_token};
use crate::gateway::Inner;
use crate::table::TokenEntry;

/// Why a request was refused before it was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No `[[tokens]]` exist at all.
    NoTokens,
    /// The request carried no credential.
    Missing,
    /// The credential matches no enabled token.
    Invalid,
    /// The token has expired.
    Expired,
}

impl Refusal {
    /// Every reason, in the order metrics list them.
    pub const ALL: [Refusal; 4] = [
        Refusal::NoTokens,
        Refusal::Missing,
        Refusal::Invalid,
        Refusal::Expired,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NoTokens => "no_tokens_configured",
            Refusal::Missing => "missing_token",
            Refusal::Invalid => "invalid_token",
            Refusal::Expired => "expired_token",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Refusal::NoTokens => {
                "no gateway tokens are configured: add a [[tokens]] entry to the configuration"
            }
            Refusal::Missing => {
                "missing gateway token: send it as Authorization: Bearer, x-api-key or x-goog-api-key"
            }
            Refusal::Invalid => "invalid gateway token",
            Refusal::Expired => "gateway token expired",
        }
    }
}

/// Checks the client's token.
pub(crate) fn check(
    gw: &Inner,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<TokenEntry, Refusal> {
    let table = gw.table();
    let Some(token) = presented_token(headers, query) else {
        return Err(if table.has_tokens() {
            Refusal::Missing
        } else {
            Refusal::NoTokens
        });
    };
    let Some(entry) = table.token(&hash_token(token)) else {
        return Err(Refusal::Invalid);
    };
    if let Some(exp) = entry.expires_at_ms
        && i64::try_from(gw.clock.now_ms()).unwrap_or(i64::MAX) >= exp
    {
        return Err(Refusal::Expired);
    }
    Ok(entry.clone())
}

/// Answers a refused request with the protocol's own 401, after draining its body (bounded)
/// so the client reads the answer rather than a reset.
pub(crate) async fn refuse(
    gw: &Arc<Inner>,
    protocol: Protocol,
    peer: Option<IpAddr>,
    refusal: Refusal,
    body: Incoming,
) -> Resp {
    let started = tokio::time::Instant::now();
    super::admit::drain(body).await;
    refused(gw, protocol, peer, refusal, started)
}

/// Counts a refusal, writes its (capped) log row and builds the answer.
pub(crate) fn refused(
    gw: &Arc<Inner>,
    protocol: Protocol,
    peer: Option<IpAddr>,
    refusal: Refusal,
    started: tokio::time::Instant,
) -> Resp {
    gw.observer.refused(refusal);
    let mut resp = error_response(protocol, ErrorKind::Authentication, refusal.message());
    let now = gw.clock.now_ms();
    if gw.admit_refusal_row(peer, now) {
        let request_id = gw.next_request_id();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-relaygate-request-id", v);
        }
        gw.store.record(RequestLog {
            request_id,
            started_at_ms: i64::try_from(now).unwrap_or(i64::MAX),
            client_protocol: protocol.as_str().to_owned(),
            status: ErrorKind::Authentication.status(),
            duration_ms: super::ms(started.elapsed()),
            error: Some(format!("{}: {}", refusal.as_str(), refusal.message())),
            ..RequestLog::default()
        });
    } else {
        gw.observer.refused_row_dropped();
    }
    tracing::debug!(reason = refusal.as_str(), "request refused");
    resp
}
