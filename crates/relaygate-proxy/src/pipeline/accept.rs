//! Phase 1, accept and route: map method and path to an operation, hand paths outside the four
//! protocols' APIs to the side handler, and start the phases of a generate request.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response};
use hyper::body::Incoming;
use relaygate_protocol::Protocol;
use relaygate_protocol::errors::ErrorKind;

use super::{
    Call, RequestGuard, Resp, admit, authenticate, error_response, failover, json_response, local,
};
use crate::auth::strip_key_param;
use crate::gateway::Inner;
use crate::relay::ResponseBody;
use crate::routes::{self, Operation, Route, guess_protocol};

/// Entry point for every request the server accepts.
pub(crate) async fn handle(gw: Arc<Inner>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_owned();
    let route = routes::route(req.method(), &path);
    let side_path = match &route {
        None => true,
        Some(r) => r.op == Operation::Probe && req.method() == Method::GET,
    };
    if side_path && let Some(side) = gw.side.get() {
        let resp = side(req).await;
        let (parts, body) = resp.into_parts();
        return Response::from_parts(parts, ResponseBody::Side(body));
    }
    let Some(route) = route else {
        let protocol = guess_protocol(&path, req.headers());
        tracing::debug!(method = %req.method(), %path, "no such route");
        return error_response(
            protocol,
            ErrorKind::NotFound,
            &format!("relaygate has no route {} {}", req.method(), path),
        );
    };
    match route.op {
        Operation::Probe => {
            if req.method() == Method::HEAD {
                Response::new(ResponseBody::empty())
            } else {
                json_response(serde_json::json!({"name": "relaygate", "status": "ok"}))
            }
        }
        Operation::ListModels => local::list_models(&gw, req, &path, route.protocol).await,
        Operation::CountTokens => local::count_tokens(gw, req, route).await,
        Operation::Generate => generate(gw, req, route, path).await,
    }
}

/// The peer address the server recorded for this connection.
pub(super) fn peer(req_ext: &http::Extensions) -> Option<std::net::IpAddr> {
    req_ext.get::<SocketAddr>().map(SocketAddr::ip)
}

/// Runs a generate request through authenticate, admit, plan and failover.
async fn generate(gw: Arc<Inner>, req: Request<Incoming>, route: Route, path: String) -> Resp {
    let Some(protocol) = route.protocol else {
        return error_response(Protocol::OpenAiChat, ErrorKind::NotFound, "unknown route");
    };
    let (parts, body) = req.into_parts();
    let raw_query = parts.uri.query();
    let token = match authenticate::check(&gw, &parts.headers, raw_query) {
        Ok(t) => t,
        Err(refusal) => {
            return authenticate::refuse(&gw, protocol, peer(&parts.extensions), refusal, body)
                .await;
        }
    };
    let guard = RequestGuard::start(&gw, protocol, &route, &token);
    let mut call = Call {
        gw: Arc::clone(&gw),
        protocol,
        path,
        query: raw_query.and_then(strip_key_param),
        headers: parts.headers,
        body: bytes::Bytes::new(),
        model: String::new(),
        stream: route.path_stream,
        include_usage: false,
        output_limit: None,
        route,
        token,
        guard,
    };
    if let Err(resp) = admit::read_body(&mut call, body).await {
        return resp;
    }
    let candidates = match admit::admit(&mut call).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    failover::run(call, candidates).await
}
