//! Phase 5, attempt: one try of one key on one URL of one channel. Builds the upstream
//! request (the client's bytes with at most the model swapped when the protocols match, a
//! translated body otherwise; headers from the allow-list in `crate::boundary`), sends it, and
//! holds a 2xx answer until its first real content (bounded in bytes and by the first-byte
//! timeout): an upstream that sends an error event, an error envelope with status 200 or
//! nothing at all is still invisible to the client and is failed over.
//!
//! Every text an upstream wrote that may reach the client, the log row or tracing is scrubbed
//! of the channel's keys and of anything shaped like an API key first.

use bytes::{Bytes, BytesMut};
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use relaygate_detect::{
    CooldownHint, OutcomeKind, Policy, Scope, StreamProbe, TransportFailure, Verdict,
    classify_http, classify_transport, probe_body,
};
use relaygate_protocol::Protocol;
use relaygate_protocol::peek::{rewrite_model, set_include_usage};
use relaygate_tokens::{JsonUsageScan, Usage, usage_from_json};
use relaygate_transform::{
    RequestOptions, ResponseOptions, convert_request, convert_response_with_tool_names,
    stream_converter_with_tool_names, tool_name_table,
};
use tokio::time::{Instant, timeout, timeout_at};

use super::Call;
use super::plan::Planned;
use crate::boundary::{scrub, scrub_str, upstream_headers};
use crate::relay::{Convert, SseAlign};
use crate::routes::with_path_model;

/// Error bodies read from an upstream for classification and pass-through are capped here.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// A non-stream 2xx body up to this size is read whole and checked for a soft error.
const MAX_PROBED_BODY: usize = 64 * 1024;
/// A translated non-stream body must be read whole; it is capped at this size.
const MAX_TRANSLATED_BODY: usize = 32 * 1024 * 1024;

/// A 2xx answer ready to relay.
pub(super) struct Commit {
    pub parts: http::response::Parts,
    pub first: Bytes,
    pub incoming: Option<Incoming>,
    pub sse: Option<SseAlign>,
    /// Usage of a body that was read whole.
    pub usage: Option<Usage>,
    /// The usage scan of a large JSON body that streams through.
    pub scan: Option<JsonUsageScan>,
    /// Answer text bytes of a body read whole (for an estimate when it has no usage).
    pub text_bytes: u64,
    /// Whether the answer was translated into the client's protocol.
    pub translated: bool,
}

/// The request as one channel's upstream needs it.
#[derive(Debug, Clone)]
pub(super) struct Outgoing {
    pub path: String,
    pub query: Option<String>,
    pub body: Bytes,
    pub translated: bool,
    /// Tool names shortened for the upstream, with the client's originals (restored in answers).
    pub tool_names: Vec<(String, String)>,
    /// The gateway asked a Chat upstream for the usage chunk the client did not ask for: it is
    /// taken out of what the client receives.
    pub strip_usage_chunk: bool,
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
pub(super) fn prepare(
    call: &Call,
    upstream: Protocol,
    upstream_model: &str,
) -> Result<Outgoing, String> {
    if upstream == call.protocol {
        let (path, mut body) = if upstream_model == call.model {
            (call.path.clone(), call.body.clone())
        } else if call.protocol == Protocol::Gemini {
            (
                with_path_model(&call.path, upstream_model),
                call.body.clone(),
            )
        } else {
            let b = rewrite_model(&call.body, upstream_model).map_err(|e| e.to_string())?;
            (call.path.clone(), Bytes::from(b))
        };
        // A Chat stream reports usage only when asked: ask, so that it can be billed.
        // `include_usage` comes from the peek: the body is not parsed again to check it.
        let strip_usage_chunk =
            call.protocol == Protocol::OpenAiChat && call.stream && !call.include_usage;
        if strip_usage_chunk {
            body = Bytes::from(set_include_usage(&body).map_err(|e| e.to_string())?);
        }
        return Ok(Outgoing {
            path,
            query: call.query.clone(),
            body,
            translated: false,
            tool_names: Vec::new(),
            strip_usage_chunk,
        });
    }
    let opts = RequestOptions {
        upstream_model: upstream_model.to_owned(),
        stream: call.stream,
    };
    let converted =
        convert_request(call.protocol, upstream, &call.body, &opts).map_err(|e| e.to_string())?;
    if !converted.losses.is_empty() {
        tracing::debug!(request_id = %call.guard.request_id(), losses = ?converted.losses, "request translation dropped fields");
    }
    let (path, query) = upstream_path(upstream, upstream_model, call.stream);
    Ok(Outgoing {
        path,
        query,
        body: Bytes::from(converted.value),
        translated: true,
        tool_names: tool_name_table(call.protocol, upstream, &call.body),
        strip_usage_chunk: false,
    })
}

/// What one attempt came to.
pub(super) enum Attempt {
    Success(Box<Commit>),
    Failed(Failure),
}

pub(super) struct Failure {
    pub verdict: Verdict,
    /// The upstream's own error answer and its protocol, when there was one (passed through,
    /// translated if need be, when it is the last).
    pub response: Option<(http::response::Parts, Bytes, Protocol)>,
}

impl Failure {
    fn of(verdict: Verdict) -> Attempt {
        Attempt::Failed(Failure {
            verdict,
            response: None,
        })
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

/// The channel's keys, for scrubbing.
fn channel_keys(p: &Planned) -> Vec<&str> {
    p.channel.keys.iter().map(|k| k.secret.as_str()).collect()
}

/// Tries `p` on `url`; a failure's texts come back scrubbed of secrets.
pub(super) async fn attempt(
    call: &Call,
    p: &Planned,
    url: &str,
    out: &Outgoing,
    policy: &Policy,
) -> Attempt {
    match send_and_hold(call, p, url, out, policy).await {
        Attempt::Failed(mut f) => {
            if let std::borrow::Cow::Owned(r) = scrub_str(&f.verdict.reason, &channel_keys(p)) {
                f.verdict.reason = r;
            }
            Attempt::Failed(f)
        }
        ok => ok,
    }
}

async fn send_and_hold(
    call: &Call,
    p: &Planned,
    url: &str,
    out: &Outgoing,
    policy: &Policy,
) -> Attempt {
    let gw = &call.gw;
    let mut builder = Request::builder().method(Method::POST).uri(url);
    if let Some(h) = builder.headers_mut() {
        *h = upstream_headers(
            &call.headers,
            call.protocol,
            p.channel.protocol,
            &p.key.secret,
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
            return Failure::of(classify_transport(kind, &msg, policy));
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
        // Scrubbed whole before it is cut, so no half key survives the cut.
        let body = match scrub(&body, &channel_keys(p)) {
            std::borrow::Cow::Borrowed(_) => body,
            std::borrow::Cow::Owned(b) => Bytes::from(b),
        };
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
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
                client_model: call.model.clone(),
                id_seed: call.guard.request_id().to_owned(),
            };
            Convert::new(
                stream_converter_with_tool_names(
                    p.channel.protocol,
                    call.protocol,
                    &opts,
                    &out.tool_names,
                ),
                call.protocol,
                !call.client_sse(),
            )
        });
        let mut align = SseAlign::new(
            p.channel.protocol,
            StreamProbe::new(p.channel.protocol, policy.clone()),
            convert,
        );
        // A Chat client that did not ask for usage gets no usage chunk, translated or not.
        align.strip_usage_chunk = out.strip_usage_chunk
            || (out.translated && call.protocol == Protocol::OpenAiChat && !call.include_usage);
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
                            scan: None,
                            text_bytes: 0,
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
                        scan: None,
                        text_bytes: 0,
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
                    // Too large to hold: its usage is found by a bounded scan as it passes.
                    let mut scan = JsonUsageScan::new(p.channel.protocol);
                    scan.feed(&held);
                    return Attempt::Success(Box::new(Commit {
                        parts,
                        first: held.freeze(),
                        incoming: Some(incoming),
                        sse: None,
                        usage: None,
                        scan: Some(scan),
                        text_bytes: 0,
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
    // Only an answer without usage needs its text measured (for a local estimate).
    let text_bytes = if usage.is_none_or(|u| u.implausible) {
        let mut scan = JsonUsageScan::new(p.channel.protocol);
        scan.feed(&held);
        scan.text_bytes()
    } else {
        0
    };
    let first = if out.translated {
        let opts = ResponseOptions {
            client_model: call.model.clone(),
            id_seed: call.guard.request_id().to_owned(),
        };
        match convert_response_with_tool_names(
            p.channel.protocol,
            call.protocol,
            &held,
            &opts,
            &out.tool_names,
        ) {
            Ok(c) => {
                if !c.losses.is_empty() {
                    tracing::debug!(request_id = %call.guard.request_id(), losses = ?c.losses, "response translation dropped fields");
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
        scan: None,
        text_bytes,
        translated: out.translated,
    }))
}
