//! Answers the gateway gives itself, without an upstream: model lists in each client's shape
//! and local token counts (never forwarded, costing no quota). Both authenticate like generate
//! requests and are refused the same way.

use std::sync::Arc;

use http::{HeaderValue, Request};
use hyper::body::Incoming;
use relaygate_protocol::Protocol;
use relaygate_protocol::errors::ErrorKind;
use relaygate_protocol::peek::peek_request;
use relaygate_tokens::count_request;

use super::accept::peer;
use super::admit::{body_error_response, collect_body};
use super::authenticate::{check, refuse, refused};
use super::{Resp, error_response, json_response};
use crate::gateway::Inner;
use crate::routes::{Route, guess_protocol};

/// Lists the models of every enabled channel the token may use.
pub(super) async fn list_models(
    gw: &Arc<Inner>,
    req: Request<Incoming>,
    path: &str,
    protocol: Option<Protocol>,
) -> Resp {
    let protocol = protocol.unwrap_or_else(|| guess_protocol(path, req.headers()));
    let token = match check(gw, req.headers(), req.uri().query()) {
        Ok(t) => t,
        Err(refusal) => {
            let peer = peer(req.extensions());
            return refused(gw, protocol, peer, refusal, tokio::time::Instant::now());
        }
    };
    let table = gw.table();
    // Every client can reach every channel (relaygate translates), so every shape lists all.
    let models: Vec<String> = table
        .models()
        .into_iter()
        .filter(|m| token.allows_model(m))
        .collect();
    let body = match protocol {
        Protocol::Anthropic => {
            let data: Vec<_> = models
                .iter()
                .map(|m| serde_json::json!({"type": "model", "id": m, "display_name": m, "created_at": "1970-01-01T00:00:00Z"}))
                .collect();
            serde_json::json!({"data": data, "has_more": false, "first_id": models.first(), "last_id": models.last()})
        }
        Protocol::Gemini => {
            let data: Vec<_> = models
                .iter()
                .map(|m| serde_json::json!({
                    "name": format!("models/{m}"), "displayName": m,
                    "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"]
                }))
                .collect();
            serde_json::json!({ "models": data })
        }
        Protocol::OpenAiChat | Protocol::OpenAiResponses => {
            let data: Vec<_> = models
                .iter()
                .map(|m| serde_json::json!({"id": m, "object": "model", "created": 0, "owned_by": "relaygate"}))
                .collect();
            serde_json::json!({"object": "list", "data": data})
        }
    };
    json_response(body)
}

/// Answers a token count locally: Anthropic `/v1/messages/count_tokens`, Gemini
/// `:countTokens`, OpenAI `/v1/responses/input_tokens`.
pub(super) async fn count_tokens(gw: Arc<Inner>, req: Request<Incoming>, route: Route) -> Resp {
    let protocol = route.protocol.unwrap_or(Protocol::Anthropic);
    if let Err(refusal) = check(&gw, req.headers(), req.uri().query()) {
        let peer = peer(req.extensions());
        return refuse(&gw, protocol, peer, refusal, req.into_body()).await;
    }
    let (parts, body) = req.into_parts();
    let limit = gw.config.max_body_bytes;
    let body = match collect_body(&parts.headers, body, limit, &gw.config.client).await {
        Ok(b) => b,
        Err(e) => return body_error_response(protocol, &e).0,
    };
    let model = match (&route.path_model, peek_request(&body)) {
        (Some(m), _) => m.clone(),
        (None, Ok(peek)) => peek.model.unwrap_or_default(),
        (None, Err(e)) => {
            return error_response(protocol, ErrorKind::InvalidRequest, &e.to_string());
        }
    };
    // BPE counting is CPU work: keep it off the async workers.
    let counted = tokio::task::spawn_blocking(move || count_request(protocol, &model, &body)).await;
    let count = match counted {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return error_response(protocol, ErrorKind::InvalidRequest, &e.to_string()),
        Err(e) => return error_response(protocol, ErrorKind::Internal, &e.to_string()),
    };
    let body = match protocol {
        Protocol::Gemini => serde_json::json!({"totalTokens": count.tokens}),
        Protocol::OpenAiResponses | Protocol::OpenAiChat => {
            serde_json::json!({"object": "response.input_tokens", "input_tokens": count.tokens})
        }
        Protocol::Anthropic => serde_json::json!({"input_tokens": count.tokens}),
    };
    let mut resp = json_response(body);
    if let Ok(v) = HeaderValue::from_str(if count.exact { "exact" } else { "estimated" }) {
        resp.headers_mut().insert("x-relaygate-token-count", v);
    }
    resp
}
