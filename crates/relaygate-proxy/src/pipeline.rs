//! One client request from arrival to the start of the relayed answer: route, authenticate,
//! apply the token's restrictions, read the body, plan channels and keys, and run the failover
//! loop. Every attempt is classified by `relaygate-detect`; the verdict says what cools
//! (key, model, URL, channel) and whether the request moves on. See `docs/routing.md`.
//!
//! A 2xx answer is held back until its first real content (bounded in bytes and by the
//! first-byte timeout): an upstream that sends an error event, an error envelope with status
//! 200 or nothing at all is still invisible to the client and is failed over. Nothing is
//! retried once a byte went to the client; the relay ends a broken stream cleanly instead.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use relaygate_detect::{
    CooldownHint, OutcomeKind, Policy, Scope, StreamProbe, TransportFailure, Verdict,
    classify_http, classify_transport, probe_body,
};
use relaygate_health::{Candidate, CooldownPolicy};
use relaygate_protocol::Protocol;
use relaygate_protocol::errors::{ErrorKind, error_body};
use relaygate_protocol::peek::{peek_request, rewrite_model};
use relaygate_store::{AttemptLog, RequestLog};
use relaygate_tokens::{Usage, count_request, usage_from_json};
use relaygate_transform::{
    RequestOptions, ResponseOptions, convert_error, convert_request,
    convert_response_with_tool_names, stream_converter_with_tool_names, tool_name_table,
};
use tokio::time::{Instant, timeout, timeout_at};

use crate::auth::{hash_token, presented_token, strip_key_param};
use crate::gateway::{Inner, Slot, SlotGuard, Target};
use crate::relay::{Convert, LogFinish, RelayStream, ResponseBody, SseAlign};
use crate::routes::{self, Operation, Route, guess_protocol, with_path_model};
use crate::table::{ChannelEntry, KeyEntry, TokenEntry};
use crate::upstream::{client_headers, join_url, upstream_headers};

/// Error bodies read from an upstream for classification and pass-through are capped here.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// A non-stream 2xx body up to this size is read whole and checked for a soft error.
const MAX_PROBED_BODY: usize = 64 * 1024;
/// A translated non-stream body must be read whole; it is capped at this size.
const MAX_TRANSLATED_BODY: usize = 32 * 1024 * 1024;

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

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

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
        Operation::ListModels => list_models(&gw, &req, &path, route.protocol),
        Operation::CountTokens => count_tokens(gw, req, route).await,
        Operation::Generate => proxy(gw, req, route, path).await,
    }
}

/// Checks the client's token; on failure returns the reason for a 401.
fn authenticate(
    gw: &Inner,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<TokenEntry, String> {
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
    Ok(entry.clone())
}

fn list_models(
    gw: &Inner,
    req: &Request<Incoming>,
    path: &str,
    protocol: Option<Protocol>,
) -> Resp {
    let protocol = protocol.unwrap_or_else(|| guess_protocol(path, req.headers()));
    let token = match authenticate(gw, req.headers(), req.uri().query()) {
        Ok(t) => t,
        Err(why) => return error_response(protocol, ErrorKind::Authentication, &why),
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

/// Answers a token count locally (never forwarded, costs no quota): Anthropic
/// `/v1/messages/count_tokens`, Gemini `:countTokens`, OpenAI `/v1/responses/input_tokens`.
async fn count_tokens(gw: Arc<Inner>, req: Request<Incoming>, route: Route) -> Resp {
    let protocol = route.protocol.unwrap_or(Protocol::Anthropic);
    if let Err(why) = authenticate(&gw, req.headers(), req.uri().query()) {
        drain(req.into_body()).await;
        return error_response(protocol, ErrorKind::Authentication, &why);
    }
    let limit = gw.config.max_body_bytes;
    let body = match Limited::new(req.into_body(), limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            let msg = format!("request body is larger than the limit of {limit} bytes");
            return error_response(protocol, ErrorKind::RequestTooLarge, &msg);
        }
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

/// Reads and discards a request body we refuse before reading it (bounded in size and time).
/// Answering while the client is still sending makes the server drop the connection, and
/// clients then see "server disconnected" instead of the error.
async fn drain(body: Incoming) {
    const MAX_DRAIN: usize = 1024 * 1024;
    let _ = timeout(
        std::time::Duration::from_secs(2),
        Limited::new(body, MAX_DRAIN).collect(),
    )
    .await;
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
    slots: SlotGuard,
}

impl Ctx {
    /// Whether the client reads SSE (a Gemini client without `alt=sse` reads a JSON array).
    fn client_sse(&self) -> bool {
        self.protocol != Protocol::Gemini
            || self
                .query
                .as_deref()
                .is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"))
    }

    /// Writes the log row and returns a gateway-made error.
    fn fail(self, kind: ErrorKind, message: String) -> Resp {
        self.fail_with(kind, message, None)
    }

    fn fail_with(self, kind: ErrorKind, message: String, retry_after_s: Option<u64>) -> Resp {
        let mut resp = error_response(self.protocol, kind, &message);
        if let Some(s) = retry_after_s
            && let Ok(v) = HeaderValue::from_str(&s.max(1).to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.log.row.request_id) {
            resp.headers_mut().insert("x-relaygate-request-id", v);
        }
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
        gw: Arc::clone(&gw),
        row: RequestLog {
            request_id,
            started_at_ms: i64::try_from(gw.clock.now_ms()).unwrap_or(i64::MAX),
            client_protocol: protocol.as_str().to_owned(),
            model_requested: route.path_model.clone().unwrap_or_default(),
            stream: route.path_stream,
            ..RequestLog::default()
        },
        started,
        channel: None,
        usage: None,
        request_bytes: 0,
        active: None,
        token_name: None,
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
        slots: SlotGuard::new(Arc::clone(&gw)),
    };

    let token = match authenticate(&gw, &ctx.headers, query.as_deref()) {
        Ok(t) => t,
        Err(why) => {
            drain(body).await;
            return ctx.fail(ErrorKind::Authentication, why);
        }
    };
    ctx.log.row.token_id = Some(token.id);
    ctx.log.active = Some(gw.observer.start(
        &ctx.log.row.request_id,
        u64::try_from(ctx.log.row.started_at_ms).unwrap_or(0),
        protocol.as_str(),
    ));
    // Read the body before any other refusal, so the client gets the answer and not a reset.
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

    ctx.log.token_name = Some(token.name.clone());
    if token.max_concurrency > 0 {
        // A lease in the shared store: instances together admit no more than the limit.
        match gw
            .take_lease(format!("token:{}", token.id), token.max_concurrency)
            .await
        {
            Ok(Some(id)) => ctx.slots.push(Slot::Lease(id)),
            Ok(None) => {
                let msg = format!(
                    "this token allows {} requests at once",
                    token.max_concurrency
                );
                return ctx.fail_with(ErrorKind::RateLimited, msg, Some(1));
            }
            // Availability first: a store outage must not stop traffic.
            Err(e) => {
                tracing::warn!(error = %e, "token concurrency not enforced: store unavailable")
            }
        }
    }
    if let Some(budget) = gw.config.budgets.tokens.get(&token.name) {
        let now = gw.clock.now_ms();
        let (day, month) = crate::budget::periods(now);
        let keys = vec![
            format!("token:{}:life", token.name),
            format!("token:{}:d:{day}", token.name),
            format!("token:{}:m:{month}", token.name),
        ];
        let limits = [
            ("lifetime", budget.lifetime_micro_usd),
            ("daily", budget.daily_micro_usd),
            ("monthly", budget.monthly_micro_usd),
        ];
        match gw.store.spent(keys).await {
            Ok(spent) => {
                for ((what, limit), used) in limits.iter().zip(spent) {
                    if *limit > 0 && used >= *limit {
                        let msg = format!(
                            "this token's {what} budget is spent: {} of {}",
                            crate::budget::usd(used),
                            crate::budget::usd(*limit)
                        );
                        let retry = match *what {
                            "daily" => Some(crate::budget::seconds_to_next_day(now)),
                            _ => None,
                        };
                        return ctx.fail_with(ErrorKind::RateLimited, msg, retry);
                    }
                }
            }
            // Money first: a budget that can't be checked is not spent blindly.
            Err(e) => {
                return ctx.fail(
                    ErrorKind::Unavailable,
                    format!("the token's budget can't be checked: {e}"),
                );
            }
        }
    }

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
    ctx.log.request_bytes = ctx.body.len() as u64;
    if let Some(a) = &ctx.log.active {
        if let Ok(mut m) = a.model.lock() {
            m.clone_from(&ctx.model);
        }
        a.stream
            .store(ctx.stream, std::sync::atomic::Ordering::Relaxed);
    }

    if !token.allows_model(&ctx.model) {
        let msg = format!("model {:?} is not allowed for this token", ctx.model);
        return ctx.fail(ErrorKind::PermissionDenied, msg);
    }
    let table = gw.table();
    let mut candidates: Vec<(Arc<ChannelEntry>, String)> = table
        .candidates(&ctx.model)
        .into_iter()
        .map(|c| (c, ctx.model.clone()))
        .collect();
    if candidates.is_empty() && gw.config.routing.fuzzy_models {
        candidates = table.fuzzy_candidates(&ctx.model);
    }
    if candidates.is_empty() {
        let msg = format!("no channel serves model {:?}", ctx.model);
        return ctx.fail(ErrorKind::NotFound, msg);
    }
    // The token's channel restriction applies before ordering, so a fallback never lands on a
    // channel the token may not use.
    candidates.retain(|(c, _)| token.allows_channel(&c.name));
    if candidates.is_empty() {
        let msg = format!(
            "this token may not use any channel that serves {:?}",
            ctx.model
        );
        return ctx.fail(ErrorKind::PermissionDenied, msg);
    }
    failover(ctx, candidates).await
}

/// One planned attempt: a channel, one of its keys, and the channel's name for the model.
struct Planned {
    channel: Arc<ChannelEntry>,
    key: KeyEntry,
    model: String,
}

fn skip_log(c: &ChannelEntry, outcome: &str, until: Option<u64>) -> AttemptLog {
    AttemptLog {
        channel_id: Some(c.id),
        channel_name: Some(c.name.clone()),
        outcome: outcome.to_owned(),
        scope: Some("skipped".to_owned()),
        cooldown_until_ms: until.and_then(|u| i64::try_from(u).ok()),
        ..AttemptLog::default()
    }
}

fn minute_of_day(now_ms: u64, offset_minutes: i32) -> u16 {
    let minutes = (now_ms / 60_000) as i64 + i64::from(offset_minutes);
    minutes.rem_euclid(1440) as u16
}

/// Orders channels and keys for this request from cooldowns, health, availability hours and
/// the rotation; records why channels were passed over.
fn plan(
    gw: &Inner,
    candidates: &[(Arc<ChannelEntry>, String)],
    skipped: &mut Vec<AttemptLog>,
) -> Vec<Planned> {
    let now = gw.clock.now_ms();
    let minute = minute_of_day(now, gw.config.routing.utc_offset_minutes);
    let max_keys = gw.config.max_keys_per_channel.max(1);
    gw.with_health(|h| {
        let mut usable: Vec<(Candidate, Vec<KeyEntry>)> = Vec::new();
        let mut in_hours: Vec<&(Arc<ChannelEntry>, String)> = Vec::new();
        for cand in candidates {
            let (c, model) = cand;
            if let Some(w) = c.window
                && !w.contains(minute)
            {
                skipped.push(skip_log(c, "outside_hours", None));
                continue;
            }
            in_hours.push(cand);
            if let Some(until) = h.cooldowns.cooling_until(&Target::Channel(c.id), now) {
                skipped.push(skip_log(c, "channel_cooling", Some(until)));
                continue;
            }
            let upstream = c
                .models
                .get(model)
                .cloned()
                .unwrap_or_else(|| model.clone());
            if let Some(until) = h
                .cooldowns
                .cooling_until(&Target::Model(c.id, upstream), now)
            {
                skipped.push(skip_log(c, "model_cooling", Some(until)));
                continue;
            }
            let mut keys: Vec<KeyEntry> = c
                .keys
                .iter()
                .filter(|k| !h.cooldowns.is_cooling(&Target::Key(c.id, k.index), now))
                .cloned()
                .collect();
            if keys.is_empty() {
                skipped.push(skip_log(c, "keys_cooling", None));
                continue;
            }
            if c.key_strategy == relaygate_store::KeyStrategy::RoundRobin {
                let cursor = h.key_cursor.entry(c.id).or_default();
                let start = *cursor % keys.len();
                *cursor = cursor.wrapping_add(1);
                keys.rotate_left(start);
            }
            let weight = c
                .weight
                .max(1)
                .saturating_mul(u32::try_from(keys.len()).unwrap_or(u32::MAX));
            usable.push((
                Candidate {
                    id: u64::try_from(c.id).unwrap_or(0),
                    priority: h.scores.effective_priority(c.id, c.priority, now),
                    weight,
                },
                keys,
            ));
        }
        let order = h
            .selector
            .order(&usable.iter().map(|(c, _)| *c).collect::<Vec<_>>());
        let mut out = Vec::new();
        for id in order {
            let Some((c, model)) = candidates
                .iter()
                .find(|(c, _)| u64::try_from(c.id).ok() == Some(id))
            else {
                continue;
            };
            let Some((_, keys)) = usable.iter().find(|(cand, _)| cand.id == id) else {
                continue;
            };
            for k in keys.iter().take(max_keys) {
                out.push(Planned {
                    channel: Arc::clone(c),
                    key: k.clone(),
                    model: model.clone(),
                });
            }
        }
        if out.is_empty() {
            // Everything is cooling: try the one (channel, key) that recovers first rather
            // than refuse outright.
            let soonest = in_hours
                .iter()
                .flat_map(|(c, m)| c.keys.iter().map(move |k| (c, m, k)))
                .min_by_key(|(c, _, k)| {
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
            if let Some((c, m, k)) = soonest {
                out.push(Planned {
                    channel: Arc::clone(c),
                    key: k.clone(),
                    model: (*m).clone(),
                });
            }
        }
        out
    })
}

/// A 2xx answer ready to relay.
struct Commit {
    parts: http::response::Parts,
    first: Bytes,
    incoming: Option<Incoming>,
    sse: Option<SseAlign>,
    /// Usage of a body that was read whole.
    usage: Option<Usage>,
    /// Whether the answer was translated into the client's protocol.
    translated: bool,
}

/// The request as one channel's upstream needs it.
#[derive(Debug, Clone)]
struct Outgoing {
    path: String,
    query: Option<String>,
    body: Bytes,
    translated: bool,
    /// Tool names shortened for the upstream, with the client's originals (restored in answers).
    tool_names: Vec<(String, String)>,
}

/// The canonical path of `protocol`'s main call.
fn upstream_path(protocol: Protocol, model: &str, stream: bool) -> (String, Option<String>) {
    match protocol {
        Protocol::Anthropic => ("/v1/messages".to_owned(), None),
        Protocol::OpenAiChat => ("/v1/chat/completions".to_owned(), None),
        Protocol::OpenAiResponses => ("/v1/responses".to_owned(), None),
        // Gemini streams are always asked for as SSE: the relay parses events, not arrays.
        Protocol::Gemini if stream => (
            format!("/v1beta/models/{model}:streamGenerateContent"),
            Some("alt=sse".to_owned()),
        ),
        Protocol::Gemini => (format!("/v1beta/models/{model}:generateContent"), None),
    }
}

/// Builds the upstream request for a channel of `upstream` protocol: the client's bytes with
/// at most the model swapped when the protocols match, a translated body otherwise.
fn prepare(ctx: &Ctx, upstream: Protocol, upstream_model: &str) -> Result<Outgoing, String> {
    if upstream == ctx.protocol {
        let (path, body) = if upstream_model == ctx.model {
            (ctx.path.clone(), ctx.body.clone())
        } else if ctx.protocol == Protocol::Gemini {
            (with_path_model(&ctx.path, upstream_model), ctx.body.clone())
        } else {
            let b = rewrite_model(&ctx.body, upstream_model).map_err(|e| e.to_string())?;
            (ctx.path.clone(), Bytes::from(b))
        };
        return Ok(Outgoing {
            path,
            query: ctx.query.clone(),
            body,
            translated: false,
            tool_names: Vec::new(),
        });
    }
    let opts = RequestOptions {
        upstream_model: upstream_model.to_owned(),
        stream: ctx.stream,
    };
    let converted =
        convert_request(ctx.protocol, upstream, &ctx.body, &opts).map_err(|e| e.to_string())?;
    if !converted.losses.is_empty() {
        tracing::debug!(request_id = %ctx.log.row.request_id, losses = ?converted.losses, "request translation dropped fields");
    }
    let (path, query) = upstream_path(upstream, upstream_model, ctx.stream);
    Ok(Outgoing {
        path,
        query,
        body: Bytes::from(converted.value),
        translated: true,
        tool_names: tool_name_table(ctx.protocol, upstream, &ctx.body),
    })
}

/// What one attempt came to.
enum Attempt {
    Success(Box<Commit>),
    Failed(Failure),
}

struct Failure {
    verdict: Verdict,
    /// The upstream's own error answer and its protocol, when there was one (passed through,
    /// translated if need be, when it is the last).
    response: Option<(http::response::Parts, Bytes, Protocol)>,
}

impl Failure {
    fn of(verdict: Verdict) -> Attempt {
        Attempt::Failed(Failure {
            verdict,
            response: None,
        })
    }
}

fn scrub(text: &str, secret: &str) -> String {
    if secret.len() >= 4 && text.contains(secret) {
        text.replace(secret, &crate::auth::mask(secret))
    } else {
        text.to_owned()
    }
}

fn empty_response(policy: &Policy, message: String) -> Verdict {
    Verdict {
        kind: OutcomeKind::EmptyResponse,
        scope: Scope::Channel,
        retry_elsewhere: true,
        cooldown: CooldownHint::Backoff {
            first_ms: policy.server_ms,
        },
        client_status: 502,
        reason: message,
    }
}

#[allow(clippy::too_many_arguments)]
async fn attempt(ctx: &Ctx, p: &Planned, url: &str, out: &Outgoing, policy: &Policy) -> Attempt {
    let gw = &ctx.gw;
    let mut builder = Request::builder().method(Method::POST).uri(url);
    if let Some(h) = builder.headers_mut() {
        *h = upstream_headers(
            &ctx.headers,
            p.channel.protocol,
            &p.key.secret,
            out.translated,
        );
    }
    let req = match builder.body(Full::new(out.body.clone())) {
        Ok(r) => r,
        Err(e) => {
            return Failure::of(classify_transport(
                TransportFailure::Other,
                &format!("invalid upstream URL {url}: {e}"),
                policy,
            ));
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
            let kind = if e.is_connect() {
                if msg.contains("timed out") {
                    TransportFailure::ConnectTimeout
                } else {
                    TransportFailure::Connect
                }
            } else {
                TransportFailure::Reset
            };
            return Failure::of(classify_transport(
                kind,
                &scrub(&msg, &p.key.secret),
                policy,
            ));
        }
        Err(_) => {
            let msg = format!("upstream sent no response within {}s", first_byte.as_secs());
            return Failure::of(classify_transport(
                TransportFailure::FirstByteTimeout,
                &msg,
                policy,
            ));
        }
    };
    let (parts, mut incoming) = resp.into_parts();
    let status = parts.status.as_u16();
    if !parts.status.is_success() {
        let body = match timeout(
            gw.config.timeouts.idle,
            Limited::new(incoming, MAX_ERROR_BODY).collect(),
        )
        .await
        {
            Ok(Ok(c)) => c.to_bytes(),
            _ => Bytes::new(),
        };
        let mut verdict = classify_http(status, &parts.headers, &body, gw.clock.now_ms(), policy);
        let text = scrub(
            &String::from_utf8_lossy(&body[..body.len().min(300)]),
            &p.key.secret,
        );
        verdict.reason = format!("upstream {status}: {}", text.trim());
        return Attempt::Failed(Failure {
            verdict,
            response: Some((parts, body, p.channel.protocol)),
        });
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let hold_limit = gw.config.routing.hold_bytes;
    if content_type.starts_with("text/event-stream") {
        // Hold whole events until the first real content shows the answer is genuine.
        let convert = out.translated.then(|| {
            let opts = ResponseOptions {
                client_model: ctx.model.clone(),
                id_seed: ctx.log.row.request_id.clone(),
            };
            Convert::new(
                stream_converter_with_tool_names(
                    p.channel.protocol,
                    ctx.protocol,
                    &opts,
                    &out.tool_names,
                ),
                ctx.protocol,
                !ctx.client_sse(),
            )
        });
        let mut align = SseAlign::new(
            p.channel.protocol,
            StreamProbe::new(p.channel.protocol, policy.clone()),
            convert,
        );
        let mut held = BytesMut::new();
        loop {
            match timeout_at(deadline, incoming.frame()).await {
                Ok(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    let a = match align.feed(data, gw.clock.now_ms()) {
                        Ok(a) => a,
                        Err(e) => {
                            return Failure::of(classify_transport(
                                TransportFailure::Other,
                                &e,
                                policy,
                            ));
                        }
                    };
                    if let Some(v) = a.failed {
                        return Failure::of(v);
                    }
                    held.extend_from_slice(&a.out);
                    if a.content || held.len() + align.pending() > hold_limit {
                        return Attempt::Success(Box::new(Commit {
                            parts,
                            first: held.freeze(),
                            incoming: Some(incoming),
                            sse: Some(align),
                            usage: None,
                            translated: out.translated,
                        }));
                    }
                }
                Ok(Some(Err(e))) => {
                    let msg = format!("upstream stream failed before any content: {e}");
                    return Failure::of(classify_transport(TransportFailure::Reset, &msg, policy));
                }
                Ok(None) => {
                    let (tail, failed) = align.finish(gw.clock.now_ms());
                    if let Some(v) = failed {
                        return Failure::of(v);
                    }
                    if let Some(v) = align.probe().eos() {
                        return Failure::of(v);
                    }
                    held.extend_from_slice(&tail);
                    return Attempt::Success(Box::new(Commit {
                        parts,
                        first: held.freeze(),
                        incoming: None,
                        sse: Some(align),
                        usage: None,
                        translated: out.translated,
                    }));
                }
                Err(_) => {
                    let msg = format!("upstream sent no content within {}s", first_byte.as_secs());
                    return Failure::of(classify_transport(
                        TransportFailure::FirstByteTimeout,
                        &msg,
                        policy,
                    ));
                }
            }
        }
    }
    // A non-stream body: read it whole when small, so a soft error (an error envelope with
    // status 200) can still fail over; larger bodies stream through after the first bytes.
    let mut held = BytesMut::new();
    loop {
        match timeout_at(deadline, incoming.frame()).await {
            Ok(Some(Ok(frame))) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                held.extend_from_slice(&data);
                if out.translated && held.len() > MAX_TRANSLATED_BODY {
                    let msg = format!(
                        "upstream body larger than {MAX_TRANSLATED_BODY} bytes cannot be translated"
                    );
                    return Failure::of(classify_transport(TransportFailure::Other, &msg, policy));
                }
                if !out.translated && held.len() > MAX_PROBED_BODY {
                    return Attempt::Success(Box::new(Commit {
                        parts,
                        first: held.freeze(),
                        incoming: Some(incoming),
                        sse: None,
                        usage: None,
                        translated: false,
                    }));
                }
            }
            Ok(Some(Err(e))) => {
                let msg = format!("upstream body failed: {e}");
                return Failure::of(classify_transport(TransportFailure::Reset, &msg, policy));
            }
            Ok(None) => break,
            Err(_) => {
                let msg = format!("upstream sent no body within {}s", first_byte.as_secs());
                return Failure::of(classify_transport(
                    TransportFailure::FirstByteTimeout,
                    &msg,
                    policy,
                ));
            }
        }
    }
    if held.is_empty() {
        return Failure::of(empty_response(
            policy,
            format!("upstream answered {status} with an empty body"),
        ));
    }
    let ct = (!content_type.is_empty()).then_some(content_type.as_str());
    if let Some(v) = probe_body(p.channel.protocol, ct, &held, gw.clock.now_ms(), policy) {
        return Failure::of(v);
    }
    let usage = usage_from_json(p.channel.protocol, &held);
    let first = if out.translated {
        let opts = ResponseOptions {
            client_model: ctx.model.clone(),
            id_seed: ctx.log.row.request_id.clone(),
        };
        match convert_response_with_tool_names(
            p.channel.protocol,
            ctx.protocol,
            &held,
            &opts,
            &out.tool_names,
        ) {
            Ok(c) => {
                if !c.losses.is_empty() {
                    tracing::debug!(request_id = %ctx.log.row.request_id, losses = ?c.losses, "response translation dropped fields");
                }
                Bytes::from(c.value)
            }
            Err(e) => {
                let msg = format!("could not translate the {} answer: {e}", p.channel.protocol);
                return Failure::of(classify_transport(TransportFailure::Other, &msg, policy));
            }
        }
    } else {
        held.freeze()
    };
    Attempt::Success(Box::new(Commit {
        parts,
        first,
        incoming: None,
        sse: None,
        usage,
        translated: out.translated,
    }))
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

/// Takes a concurrency slot and an RPM slot of the channel, or says why it can't.
async fn admit_channel(
    gw: &Arc<Inner>,
    c: &ChannelEntry,
) -> Result<SlotGuard, (&'static str, u64)> {
    let now = gw.clock.now_ms();
    let mut guard = SlotGuard::new(Arc::clone(gw));
    if c.max_concurrency > 0 {
        match gw
            .take_lease(format!("channel:{}", c.id), c.max_concurrency)
            .await
        {
            Ok(Some(id)) => guard.push(Slot::Lease(id)),
            Ok(None) => return Err(("concurrency_limit", 1_000)),
            Err(e) => {
                tracing::warn!(error = %e, channel = %c.name, "channel concurrency not enforced: store unavailable")
            }
        }
    }
    if c.rpm > 0 {
        let key = format!("channel:{}:rpm", c.id);
        let t = i64::try_from(now).unwrap_or(i64::MAX);
        match gw.store.try_rate(key, c.rpm, 60_000, t).await {
            Ok(None) => {}
            Ok(Some(retry)) => return Err(("rpm_limit", u64::try_from(retry).unwrap_or(1_000))),
            Err(e) => {
                tracing::warn!(error = %e, channel = %c.name, "channel RPM not enforced: store unavailable")
            }
        }
    }
    Ok(guard)
}

/// Leaves out channels whose daily budget is spent.
async fn within_budget(
    gw: &Inner,
    candidates: Vec<(Arc<ChannelEntry>, String)>,
    skipped: &mut Vec<AttemptLog>,
) -> Vec<(Arc<ChannelEntry>, String)> {
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
                .spent(vec![format!("channel:{}:d:{day}", cand.0.name)])
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

async fn failover(mut ctx: Ctx, candidates: Vec<(Arc<ChannelEntry>, String)>) -> Resp {
    let gw = Arc::clone(&ctx.gw);
    let policy = detect_policy(&gw);
    let mut skipped = Vec::new();
    let candidates = within_budget(&gw, candidates, &mut skipped).await;
    let planned = plan(&gw, &candidates, &mut skipped);
    ctx.log.row.attempt_log.append(&mut skipped);
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
                ctx.log
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
            None => match prepare(&ctx, p.channel.protocol, &upstream_model) {
                Ok(o) => {
                    prepared.push((p.channel.protocol, upstream_model.clone(), o.clone()));
                    o
                }
                Err(why) => {
                    // The request can't be expressed in this channel's protocol: try another.
                    let mut entry = skip_log(&p.channel, "untranslatable", None);
                    entry.error = Some(why.clone());
                    ctx.log.row.attempt_log.push(entry);
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
            ctx.log.row.attempts += 1;
            ctx.log.row.channel_id = Some(p.channel.id);
            ctx.log.row.channel_name = Some(p.channel.name.clone());
            ctx.log.row.key_index = Some(p.key.index);
            ctx.log.row.model_sent = Some(upstream_model.clone());
            ctx.log.row.upstream_url = Some(url_for_log.clone());
            let t0 = Instant::now();
            let outcome = attempt(&ctx, p, &url, &out, &policy).await;
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
                    ctx.log.row.attempt_log.push(entry);
                    ctx.log.channel = Some(p.channel.id);
                    if let Some(a) = &ctx.log.active
                        && let Ok(mut c) = a.channel.lock()
                    {
                        *c = Some(p.channel.name.clone());
                    }
                    let mut slots =
                        std::mem::replace(&mut ctx.slots, SlotGuard::new(Arc::clone(&gw)));
                    slots.absorb(channel_slot);
                    return commit_response(ctx, commit, slots);
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
                        request_id = %ctx.log.row.request_id,
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
                    ctx.log.row.attempt_log.push(entry);
                    if v.scope == Scope::Client || !v.retry_elsewhere {
                        channel_slot.release().await;
                        return give_up(ctx, f);
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
        Some(f) => give_up(ctx, f),
        None if untranslatable.is_some() && limited_retry_ms.is_none() => {
            let why = untranslatable.unwrap_or_default();
            ctx.fail(
                ErrorKind::InvalidRequest,
                format!("the request can't be sent to any channel serving this model: {why}"),
            )
        }
        None => match limited_retry_ms {
            Some(retry) => ctx.fail_with(
                ErrorKind::RateLimited,
                "every channel serving this model is at its rate or concurrency limit".to_owned(),
                Some(retry.div_ceil(1000)),
            ),
            None => ctx.fail(
                ErrorKind::Unavailable,
                "no upstream is available".to_owned(),
            ),
        },
    }
}

/// Ends the request with its last failure: the upstream's own answer when it was an HTTP
/// error (same protocol on both sides, so it is already in the client's shape), otherwise a
/// gateway-made error with the verdict's status.
fn give_up(ctx: Ctx, f: Failure) -> Resp {
    let Failure { verdict, response } = f;
    let Some((parts, body, upstream)) = response else {
        let kind = kind_for_status(verdict.client_status);
        return ctx.fail(kind, verdict.reason);
    };
    let (body, headers) = if upstream == ctx.protocol {
        (body, client_headers(&parts.headers, false))
    } else {
        // The upstream's error, in the client's own error shape.
        let converted = convert_error(upstream, ctx.protocol, parts.status.as_u16(), &body);
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
    if let Ok(v) = HeaderValue::from_str(&ctx.log.row.request_id) {
        resp.headers_mut().insert("x-relaygate-request-id", v);
    }
    ctx.log.finish(parts.status.as_u16(), Some(verdict.reason));
    resp
}

fn commit_response(ctx: Ctx, commit: Box<Commit>, slots: SlotGuard) -> Resp {
    let Commit {
        parts,
        first,
        incoming,
        sse,
        usage,
        translated,
    } = *commit;
    let mut ctx = ctx;
    ctx.log.usage = usage;
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
        let ct = if is_sse && ctx.client_sse() {
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
        client_headers(&parts.headers, incoming.is_none() || !is_sse)
    };
    if incoming.is_none()
        && let Ok(v) = HeaderValue::from_str(&first.len().to_string())
    {
        headers.insert(header::CONTENT_LENGTH, v);
    }
    if let Ok(v) = HeaderValue::from_str(&ctx.log.row.request_id) {
        headers.insert("x-relaygate-request-id", v);
    }
    let status = parts.status.as_u16();
    let relay = RelayStream::new(
        first,
        incoming,
        sse,
        ctx.protocol,
        status,
        ctx.gw.config.timeouts.idle,
        ctx.log,
        slots,
    );
    let mut resp = Response::new(ResponseBody::Relay(Box::new(relay)));
    *resp.status_mut() = parts.status;
    *resp.headers_mut() = headers;
    resp
}
