//! One client request from arrival to the start of the relayed answer: route, authenticate,
//! read the body, pick channels and run the failover loop.
//!
//! Failover rules (a first version; `relaygate-detect` refines them):
//!
//! | upstream outcome | scope | action |
//! |---|---|---|
//! | 401, 402, 403 | key | cool the key (auth interval), try the next key |
//! | 429 | key | cool the key until `retry-after` or the rate-limit interval, next key |
//! | 408, 5xx, connect error, no head or first byte in time, empty 200 | channel | next URL of the key; after the last URL cool the channel, next channel |
//! | other 4xx (400, 404, 413, 422, …) | client | returned to the client as it is |
//!
//! Nothing is retried once a byte of the answer has been sent: the relay ends a broken
//! stream with an error event instead (see [`crate::relay`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use relaygate_health::{Candidate, CooldownPolicy};
use relaygate_protocol::Protocol;
use relaygate_protocol::errors::{ErrorKind, error_body};
use relaygate_protocol::peek::{peek_request, rewrite_model};
use relaygate_store::RequestLog;
use tokio::time::{Instant, timeout};

use crate::auth::{hash_token, presented_token, strip_key_param};
use crate::gateway::{Inner, Target};
use crate::relay::{LogFinish, RelayStream, ResponseBody};
use crate::routes::{self, Operation, Route, guess_protocol, with_path_model};
use crate::table::{ChannelEntry, KeyEntry};
use crate::upstream::{client_headers, join_url, upstream_headers};

/// Error bodies read from an upstream for logging and pass-through are capped at this size.
const MAX_ERROR_BODY: usize = 64 * 1024;

pub(crate) type Resp = Response<ResponseBody>;

fn error_response(protocol: Protocol, kind: ErrorKind, message: &str) -> Resp {
    let mut r = Response::new(ResponseBody::full(error_body(protocol, kind, message)));
    *r.status_mut() = StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn json_response(body: serde_json::Value) -> Resp {
    let mut r = Response::new(ResponseBody::full(body.to_string()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Entry point for every request the server accepts.
pub(crate) async fn handle(gw: Arc<Inner>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_owned();
    let Some(route) = routes::route(req.method(), &path) else {
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
        Operation::ListModels => list_models(&gw, &req, &path, route.protocol),
        Operation::Generate | Operation::CountTokens => proxy(gw, req, route, path).await,
    }
}

/// Checks the client's token; on failure returns the protocol's 401 and the reason.
fn authenticate(gw: &Inner, headers: &HeaderMap, query: Option<&str>) -> Result<i64, String> {
    let table = gw.table();
    let Some(token) = presented_token(headers, query) else {
        return Err(if table.has_tokens() {
            "missing gateway token: send it as Authorization: Bearer, x-api-key or x-goog-api-key"
                .to_owned()
        } else {
            "no gateway tokens are configured: add a [[tokens]] entry to the configuration"
                .to_owned()
        });
    };
    let Some(entry) = table.token(&hash_token(token)) else {
        return Err("invalid gateway token".to_owned());
    };
    if let Some(exp) = entry.expires_at_ms
        && i64::try_from(gw.clock.now_ms()).unwrap_or(i64::MAX) >= exp
    {
        return Err("gateway token expired".to_owned());
    }
    Ok(entry.id)
}

fn list_models(
    gw: &Inner,
    req: &Request<Incoming>,
    path: &str,
    protocol: Option<Protocol>,
) -> Resp {
    let protocol = protocol.unwrap_or_else(|| guess_protocol(path, req.headers()));
    if let Err(why) = authenticate(gw, req.headers(), req.uri().query()) {
        return error_response(protocol, ErrorKind::Authentication, &why);
    }
    let table = gw.table();
    let body = match protocol {
        Protocol::Anthropic => {
            let models = table.models(Some(Protocol::Anthropic));
            let data: Vec<_> = models
                .iter()
                .map(|m| serde_json::json!({"type": "model", "id": m, "display_name": m, "created_at": "1970-01-01T00:00:00Z"}))
                .collect();
            serde_json::json!({"data": data, "has_more": false, "first_id": models.first(), "last_id": models.last()})
        }
        Protocol::Gemini => {
            let data: Vec<_> = table
                .models(Some(Protocol::Gemini))
                .iter()
                .map(|m| serde_json::json!({
                    "name": format!("models/{m}"), "displayName": m,
                    "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"]
                }))
                .collect();
            serde_json::json!({ "models": data })
        }
        Protocol::OpenAiChat | Protocol::OpenAiResponses => {
            let mut models = table.models(Some(Protocol::OpenAiChat));
            models.extend(table.models(Some(Protocol::OpenAiResponses)));
            models.sort();
            models.dedup();
            let data: Vec<_> = models
                .iter()
                .map(|m| serde_json::json!({"id": m, "object": "model", "created": 0, "owned_by": "relaygate"}))
                .collect();
            serde_json::json!({"object": "list", "data": data})
        }
    };
    json_response(body)
}

/// Per-request context threaded through the failover loop.
struct Ctx {
    gw: Arc<Inner>,
    protocol: Protocol,
    route: Route,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    model: String,
    stream: bool,
    log: LogFinish,
}

impl Ctx {
    /// Writes the log row and returns a gateway-made error.
    fn fail(mut self, kind: ErrorKind, message: String) -> Resp {
        let resp = error_response(self.protocol, kind, &message);
        self.log.row.status = kind.status();
        self.log.finish(kind.status(), Some(message));
        resp
    }
}

async fn proxy(gw: Arc<Inner>, req: Request<Incoming>, route: Route, path: String) -> Resp {
    let Some(protocol) = route.protocol else {
        return error_response(Protocol::OpenAiChat, ErrorKind::NotFound, "unknown route");
    };
    let started = Instant::now();
    let request_id = gw.next_request_id();
    let (parts, body) = req.into_parts();
    let query = parts.uri.query().map(str::to_owned);
    let log = LogFinish {
        store: Arc::clone(&gw.store),
        row: RequestLog {
            request_id,
            started_at_ms: i64::try_from(gw.clock.now_ms()).unwrap_or(i64::MAX),
            client_protocol: protocol.as_str().to_owned(),
            model_requested: route.path_model.clone().unwrap_or_default(),
            stream: route.path_stream,
            ..RequestLog::default()
        },
        started,
    };
    let mut ctx = Ctx {
        gw: Arc::clone(&gw),
        protocol,
        path,
        query: query.as_deref().and_then(strip_key_param),
        headers: parts.headers,
        body: Bytes::new(),
        model: String::new(),
        stream: route.path_stream,
        route,
        log,
    };

    match authenticate(&gw, &ctx.headers, query.as_deref()) {
        Ok(id) => ctx.log.row.token_id = Some(id),
        Err(why) => return ctx.fail(ErrorKind::Authentication, why),
    }

    let limit = gw.config.max_body_bytes;
    let declared = ctx
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ctx.fail(
            ErrorKind::RequestTooLarge,
            format!("request body is larger than the limit of {limit} bytes"),
        );
    }
    ctx.body = match Limited::new(body, limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return ctx.fail(
                ErrorKind::RequestTooLarge,
                format!("request body is larger than the limit of {limit} bytes"),
            );
        }
        Err(e) => {
            return ctx.fail(
                ErrorKind::InvalidRequest,
                format!("could not read the request body: {e}"),
            );
        }
    };

    if protocol == Protocol::Gemini {
        ctx.model = ctx.route.path_model.clone().unwrap_or_default();
    } else {
        match peek_request(&ctx.body) {
            Ok(peek) => {
                ctx.stream = peek.stream && ctx.route.op == Operation::Generate;
                match peek.model {
                    Some(m) if !m.trim().is_empty() => ctx.model = m,
                    _ => {
                        return ctx.fail(
                            ErrorKind::InvalidRequest,
                            "the request has no \"model\"".to_owned(),
                        );
                    }
                }
            }
            Err(e) => return ctx.fail(ErrorKind::InvalidRequest, e.to_string()),
        }
    }
    ctx.log.row.model_requested = ctx.model.clone();
    ctx.log.row.stream = ctx.stream;

    let candidates = gw.table().candidates(protocol, &ctx.model);
    if candidates.is_empty() {
        let msg = format!(
            "no channel serves model {:?} over the {protocol} protocol",
            ctx.model
        );
        return ctx.fail(ErrorKind::NotFound, msg);
    }
    failover(ctx, candidates).await
}

/// One planned attempt: a channel and one of its keys.
struct Planned {
    channel: Arc<ChannelEntry>,
    key: KeyEntry,
}

/// Orders channels and keys for this request from the cooldowns and the rotation.
fn plan(gw: &Inner, candidates: &[Arc<ChannelEntry>]) -> Vec<Planned> {
    let now = gw.clock.now_ms();
    let max_keys = gw.config.max_keys_per_channel.max(1);
    gw.with_health(|h| {
        let usable: Vec<Candidate> = candidates
            .iter()
            .filter(|c| !h.cooldowns.is_cooling(&Target::Channel(c.id), now))
            .map(|c| Candidate {
                id: u64::try_from(c.id).unwrap_or(0),
                priority: c.priority,
                weight: c.weight,
            })
            .collect();
        let order = h.selector.order(&usable);
        let mut out = Vec::new();
        for id in order {
            let Some(c) = candidates
                .iter()
                .find(|c| u64::try_from(c.id).ok() == Some(id))
            else {
                continue;
            };
            for k in c
                .keys
                .iter()
                .filter(|k| !h.cooldowns.is_cooling(&Target::Key(c.id, k.index), now))
                .take(max_keys)
            {
                out.push(Planned {
                    channel: Arc::clone(c),
                    key: k.clone(),
                });
            }
        }
        if out.is_empty() {
            // Everything is cooling: try the one (channel, key) that recovers first rather
            // than refuse outright.
            let soonest = candidates
                .iter()
                .flat_map(|c| c.keys.iter().map(move |k| (c, k)))
                .min_by_key(|(c, k)| {
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
            if let Some((c, k)) = soonest {
                out.push(Planned {
                    channel: Arc::clone(c),
                    key: k.clone(),
                });
            }
        }
        out
    })
}

/// What one attempt came to.
enum Attempt {
    /// The upstream answered 2xx with a first body frame: commit.
    Success(http::response::Parts, Bytes, Incoming),
    /// Failed; the scope says what to cool and where to go next.
    Failed(Failure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Key,
    Channel,
    Client,
}

struct Failure {
    scope: Scope,
    kind: ErrorKind,
    message: String,
    /// The upstream's own answer, when there was one (passed through if it is the last).
    response: Option<(http::response::Parts, Bytes)>,
    /// An exact cooldown end requested by the upstream (`retry-after`), unix ms.
    until_ms: Option<u64>,
    policy: CooldownPolicy,
}

fn policy(d: Duration, max: Duration) -> CooldownPolicy {
    CooldownPolicy::new(
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
        u64::try_from(max.as_millis()).unwrap_or(u64::MAX),
    )
}

fn retry_after_ms(headers: &HeaderMap) -> Option<u64> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = v.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then_some((secs * 1000.0) as u64)
}

fn scrub(text: &str, secret: &str) -> String {
    if secret.len() >= 4 && text.contains(secret) {
        text.replace(secret, &crate::auth::mask(secret))
    } else {
        text.to_owned()
    }
}

async fn attempt(ctx: &Ctx, p: &Planned, url_index: usize, body: Bytes, path: &str) -> Attempt {
    let gw = &ctx.gw;
    let cd = gw.config.cooldown;
    let channel_failure = |kind: ErrorKind, message: String| {
        Attempt::Failed(Failure {
            scope: Scope::Channel,
            kind,
            message,
            response: None,
            until_ms: None,
            policy: policy(cd.server, cd.max),
        })
    };
    let base = &p.channel.base_urls[url_index];
    let url = join_url(base, path, ctx.query.as_deref());
    let mut builder = Request::builder().method(Method::POST).uri(&url);
    if let Some(h) = builder.headers_mut() {
        *h = upstream_headers(&ctx.headers, p.channel.protocol, &p.key.secret);
    }
    let req = match builder.body(Full::new(body)) {
        Ok(r) => r,
        Err(e) => {
            return channel_failure(
                ErrorKind::BadGateway,
                format!("invalid upstream URL {url}: {e}"),
            );
        }
    };
    let first_byte = gw.config.timeouts.first_byte;
    let deadline = Instant::now() + first_byte;
    let resp = match timeout(first_byte, gw.client.request(req)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            let mut msg = format!("upstream request failed: {e}");
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            return channel_failure(ErrorKind::BadGateway, scrub(&msg, &p.key.secret));
        }
        Err(_) => {
            return channel_failure(
                ErrorKind::Timeout,
                format!("upstream sent no response within {}s", first_byte.as_secs()),
            );
        }
    };
    let (parts, mut incoming) = resp.into_parts();
    let status = parts.status.as_u16();
    if parts.status.is_success() {
        // Hold the head until the first body bytes: an upstream that dies or stays silent
        // here is still invisible to the client and can be failed over.
        loop {
            match tokio::time::timeout_at(deadline, incoming.frame()).await {
                Ok(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => return Attempt::Success(parts, data, incoming),
                    _ => continue,
                },
                Ok(Some(Err(e))) => {
                    return channel_failure(
                        ErrorKind::BadGateway,
                        format!("upstream body failed before any byte: {e}"),
                    );
                }
                Ok(None) => {
                    return channel_failure(
                        ErrorKind::BadGateway,
                        format!("upstream answered {status} with an empty body"),
                    );
                }
                Err(_) => {
                    return channel_failure(
                        ErrorKind::Timeout,
                        format!("upstream sent no body within {}s", first_byte.as_secs()),
                    );
                }
            }
        }
    }
    let body = match timeout(
        gw.config.timeouts.idle,
        Limited::new(incoming, MAX_ERROR_BODY).collect(),
    )
    .await
    {
        Ok(Ok(c)) => c.to_bytes(),
        _ => Bytes::new(),
    };
    let text = scrub(
        &String::from_utf8_lossy(&body[..body.len().min(512)]),
        &p.key.secret,
    );
    let message = format!("upstream {status}: {}", text.trim());
    let (scope, kind, pol) = match status {
        401..=403 => (
            Scope::Key,
            ErrorKind::Authentication,
            policy(cd.auth, cd.max),
        ),
        429 => (
            Scope::Key,
            ErrorKind::RateLimited,
            policy(cd.rate_limit, cd.max),
        ),
        408 | 500..=599 => (
            Scope::Channel,
            ErrorKind::BadGateway,
            policy(cd.server, cd.max),
        ),
        _ => (
            Scope::Client,
            ErrorKind::InvalidRequest,
            policy(cd.server, cd.max),
        ),
    };
    let until_ms = (status == 429)
        .then(|| retry_after_ms(&parts.headers))
        .flatten()
        .map(|ms| gw.clock.now_ms().saturating_add(ms));
    Attempt::Failed(Failure {
        scope,
        kind,
        message,
        response: Some((parts, body)),
        until_ms,
        policy: pol,
    })
}

fn cool(gw: &Inner, target: Target, f: &Failure) {
    let now = gw.clock.now_ms();
    gw.with_health(|h| match f.until_ms {
        Some(until) => {
            h.cooldowns.fail_until(&target, until);
        }
        None => {
            h.cooldowns.fail(&target, now, f.policy);
        }
    });
}

async fn failover(mut ctx: Ctx, candidates: Vec<Arc<ChannelEntry>>) -> Resp {
    let gw = Arc::clone(&ctx.gw);
    let planned = plan(&gw, &candidates);
    let mut last: Option<Failure> = None;
    let mut dead_channels: Vec<i64> = Vec::new();
    let mut rewritten: Option<(String, Bytes)> = None;

    for p in &planned {
        if dead_channels.contains(&p.channel.id) {
            continue;
        }
        let upstream_model = p
            .channel
            .models
            .get(&ctx.model)
            .cloned()
            .unwrap_or_else(|| ctx.model.clone());
        // Rewrite the model only when a redirect asks for it, once per distinct target.
        let (path, body) = if upstream_model == ctx.model {
            (ctx.path.clone(), ctx.body.clone())
        } else if ctx.protocol == Protocol::Gemini {
            (
                with_path_model(&ctx.path, &upstream_model),
                ctx.body.clone(),
            )
        } else {
            match &rewritten {
                Some((m, b)) if *m == upstream_model => (ctx.path.clone(), b.clone()),
                _ => match rewrite_model(&ctx.body, &upstream_model) {
                    Ok(b) => {
                        let b = Bytes::from(b);
                        rewritten = Some((upstream_model.clone(), b.clone()));
                        (ctx.path.clone(), b)
                    }
                    Err(e) => return ctx.fail(ErrorKind::InvalidRequest, e.to_string()),
                },
            }
        };
        let urls = p.channel.base_urls.len();
        let now = gw.clock.now_ms();
        let mut url_order: Vec<usize> = (0..urls).collect();
        gw.with_health(|h| {
            url_order.sort_by_key(|&i| h.cooldowns.is_cooling(&Target::Url(p.channel.id, i), now));
        });
        for (n, &url_index) in url_order.iter().enumerate() {
            ctx.log.row.attempts += 1;
            ctx.log.row.channel_id = Some(p.channel.id);
            ctx.log.row.channel_name = Some(p.channel.name.clone());
            ctx.log.row.key_index = Some(p.key.index);
            ctx.log.row.model_sent = Some(upstream_model.clone());
            ctx.log.row.upstream_url = Some(join_url(&p.channel.base_urls[url_index], &path, None));
            match attempt(&ctx, p, url_index, body.clone(), &path).await {
                Attempt::Success(parts, first, incoming) => {
                    gw.with_health(|h| {
                        h.cooldowns.succeed(&Target::Channel(p.channel.id));
                        h.cooldowns.succeed(&Target::Key(p.channel.id, p.key.index));
                        h.cooldowns.succeed(&Target::Url(p.channel.id, url_index));
                    });
                    return commit(ctx, parts, first, incoming);
                }
                Attempt::Failed(f) => {
                    tracing::info!(
                        request_id = %ctx.log.row.request_id,
                        channel = %p.channel.name,
                        key_index = p.key.index,
                        scope = ?f.scope,
                        error = %f.message,
                        "attempt failed"
                    );
                    match f.scope {
                        Scope::Client => return pass_through(ctx, f),
                        Scope::Key => {
                            cool(&gw, Target::Key(p.channel.id, p.key.index), &f);
                            last = Some(f);
                            break;
                        }
                        Scope::Channel => {
                            if n + 1 < url_order.len() {
                                cool(&gw, Target::Url(p.channel.id, url_index), &f);
                            } else {
                                cool(&gw, Target::Channel(p.channel.id), &f);
                                dead_channels.push(p.channel.id);
                            }
                            last = Some(f);
                        }
                    }
                }
            }
        }
    }
    match last {
        Some(f) if f.response.is_some() => pass_through(ctx, f),
        Some(f) => {
            let kind = f.kind;
            ctx.fail(
                kind,
                format!("all upstream attempts failed; last: {}", f.message),
            )
        }
        None => ctx.fail(
            ErrorKind::Unavailable,
            "no upstream is available".to_owned(),
        ),
    }
}

/// Returns an upstream's error answer to the client as it is (same protocol on both sides).
fn pass_through(ctx: Ctx, f: Failure) -> Resp {
    let Some((parts, body)) = f.response else {
        return ctx.fail(f.kind, f.message);
    };
    let mut resp = Response::new(ResponseBody::full(body));
    *resp.status_mut() = parts.status;
    *resp.headers_mut() = client_headers(&parts.headers, false);
    if let Ok(v) = HeaderValue::from_str(&ctx.log.row.request_id) {
        resp.headers_mut().insert("x-relaygate-request-id", v);
    }
    ctx.log.finish(parts.status.as_u16(), Some(f.message));
    resp
}

fn commit(ctx: Ctx, parts: http::response::Parts, first: Bytes, incoming: Incoming) -> Resp {
    let is_sse = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let mut headers = client_headers(&parts.headers, !is_sse);
    if let Ok(v) = HeaderValue::from_str(&ctx.log.row.request_id) {
        headers.insert("x-relaygate-request-id", v);
    }
    let status = parts.status.as_u16();
    let relay = RelayStream::new(
        first,
        incoming,
        is_sse,
        ctx.protocol,
        status,
        ctx.gw.config.timeouts.idle,
        ctx.log,
    );
    let mut resp = Response::new(ResponseBody::Relay(Box::new(relay)));
    *resp.status_mut() = parts.status;
    *resp.headers_mut() = headers;
    resp
}
