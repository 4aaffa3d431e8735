//! One client request from arrival to the start of the relayed answer, as named phases, each a
//! module that reads on its own:
//!
//! 1. [`accept`]: map method and path to an operation; hand side paths to the admin handler.
//! 2. [`authenticate`]: check the gateway token; a refusal is counted by reason and leaves
//!    nothing that grows with it (no metric series, capped log rows).
//! 3. [`admit`]: read the body (size and silence limits), peek model and stream flag, apply the
//!    token's model and channel restrictions, its concurrency lease and its budget.
//! 4. [`plan`]: list the channels serving the model and order channels and keys from
//!    cooldowns, health, hours and the rotation.
//! 5. [`attempt`]: build the upstream request for one channel, send it, and hold a 2xx answer
//!    until its first real content so soft errors still fail over.
//! 6. [`failover`]: the loop over planned attempts; applies each verdict's cooldown and ends
//!    with the first success or the last failure.
//! 7. The relay (`crate::relay`) streams the committed answer.
//! 8. [`finish`]: the [`RequestGuard`] owned by the request writes its one log row, releases
//!    its slots, removes the live entry and settles the budget, however the request ends
//!    (including a client that leaves at any point: status 499, `client_closed`).
//!
//! Local answers (model lists, token counts) are in [`local`].

mod accept;
mod admit;
mod attempt;
mod authenticate;
mod failover;
mod finish;
mod local;
mod plan;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use relaygate_detect::Policy;
use relaygate_protocol::Protocol;
use relaygate_protocol::errors::{ErrorKind, error_body};

pub(crate) use accept::handle;
pub(crate) use authenticate::Refusal;
pub(crate) use finish::{CLIENT_CLOSED, RequestGuard};

use crate::gateway::Inner;
use crate::relay::ResponseBody;
use crate::routes::Route;
use crate::table::TokenEntry;

pub(crate) type Resp = Response<ResponseBody>;

pub(crate) fn error_response(protocol: Protocol, kind: ErrorKind, message: &str) -> Resp {
    let mut r = Response::new(ResponseBody::full(error_body(protocol, kind, message)));
    *r.status_mut() = StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub(crate) fn json_response(body: serde_json::Value) -> Resp {
    let mut r = Response::new(ResponseBody::full(body.to_string()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub(crate) fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The detection policy (first cooldowns) from the gateway's configuration.
pub(crate) fn detect_policy(gw: &Inner) -> Policy {
    let c = gw.config.cooldown;
    Policy {
        auth_ms: ms(c.auth),
        quota_ms: ms(c.quota),
        rate_limit_ms: ms(c.rate_limit),
        model_ms: ms(c.model),
        server_ms: ms(c.server),
        timeout_ms: ms(c.timeout),
        ..Policy::default()
    }
}

/// An authenticated generate request on its way through the phases.
pub(crate) struct Call {
    gw: Arc<Inner>,
    protocol: Protocol,
    route: Route,
    path: String,
    /// The query without the client's `key` parameter.
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    model: String,
    stream: bool,
    /// The client asked for the usage chunk of a Chat stream (`stream_options.include_usage`).
    include_usage: bool,
    /// The output limit the request sets (for a budget's reservation).
    output_limit: Option<u64>,
    token: TokenEntry,
    guard: RequestGuard,
}

impl Call {
    /// Whether the client reads SSE (a Gemini client without `alt=sse` reads a JSON array).
    fn client_sse(&self) -> bool {
        self.protocol != Protocol::Gemini
            || self
                .query
                .as_deref()
                .is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"))
    }

    /// Whether the operator lets the answering channel's rate-limit headers through.
    fn rate_limit_headers(&self) -> bool {
        self.guard
            .row
            .channel_name
            .as_ref()
            .is_some_and(|c| self.gw.config.rate_limit_header_channels.contains(c))
    }

    /// Ends the request with a gateway-made error (and its log row).
    fn fail(&mut self, kind: ErrorKind, message: String) -> Resp {
        self.fail_with(kind, message, None)
    }

    fn fail_with(&mut self, kind: ErrorKind, message: String, retry_after_s: Option<u64>) -> Resp {
        let mut resp = error_response(self.protocol, kind, &message);
        if let Some(s) = retry_after_s
            && let Ok(v) = HeaderValue::from_str(&s.max(1).to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        self.guard.tag(resp.headers_mut());
        self.guard.finish(kind.status(), Some(message));
        resp
    }
}
