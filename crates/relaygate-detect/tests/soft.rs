#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Soft errors: status-200 bodies and SSE streams.

mod common;

use relaygate_detect::{
    CooldownHint, OutcomeKind, Policy, ProbeState, Scope, StreamProbe, probe_body,
};
use relaygate_protocol::Protocol;
use relaygate_protocol::sse::SseEvent;

use CooldownHint::{Backoff, Until};
use OutcomeKind::*;
use Protocol::{Anthropic, Gemini, OpenAiChat, OpenAiResponses};

const NOW: u64 = 1_765_270_800_000;
const QUOTA: CooldownHint = Backoff {
    first_ms: 1_800_000,
};
const RATE: CooldownHint = Backoff { first_ms: 60_000 };
const SERVER: CooldownHint = Backoff { first_ms: 30_000 };
const AUTH: CooldownHint = Backoff { first_ms: 300_000 };
const JSON: Option<&str> = Some("application/json");

/// A soft error expected: kind, scope, cooldown, client status.
type Want = Option<(OutcomeKind, Scope, CooldownHint, u16)>;

#[track_caller]
fn check(protocol: Protocol, content_type: Option<&str>, body: &str, want: Want) {
    let got = probe_body(
        protocol,
        content_type,
        body.as_bytes(),
        NOW,
        &Policy::default(),
    );
    let got_short = got
        .as_ref()
        .map(|v| (v.kind, v.scope, v.cooldown, v.client_status));
    assert_eq!(
        got_short, want,
        "{protocol} {content_type:?} {body:?} -> {got:?}"
    );
    if let Some(v) = got {
        assert!(v.retry_elsewhere);
    }
}

#[test]
#[rustfmt::skip]
fn json_envelopes() {
    check(Anthropic, JSON, r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#, Some((Overloaded, Scope::Channel, SERVER, 503)));
    check(Anthropic, JSON, r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}"#, Some((RateLimited, Scope::Key, RATE, 429)));
    check(Anthropic, JSON, r#"{"type":"error","error":{"type":"1308","message":"已达到 5 小时的使用上限。您的限额将在 2025-12-09 18:08:11 重置。"}}"#, Some(( QuotaExhausted, Scope::Key, Until { unix_ms: 1_765_274_891_000 }, 429, )));
    check(Anthropic, JSON, r#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#, Some((ServerError, Scope::Channel, SERVER, 502)));
    check(Anthropic, JSON, r#"{"type":"error","error":{"type":"invalid_request_error","message":"odd"}}"#, Some((SoftError, Scope::Key, SERVER, 502)));
    check(Anthropic, JSON, r#"{"type":"error","error":{"type":"authentication_error","message":"bad key"}}"#, Some((AuthRejected, Scope::Key, AUTH, 502)));
    check(OpenAiChat, JSON, r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#, Some((RateLimited, Scope::Key, RATE, 429)));
    check(OpenAiChat, JSON, r#"{"error":{"message":"quota","type":"insufficient_quota"}}"#, Some((QuotaExhausted, Scope::Key, QUOTA, 429)));
    check(OpenAiChat, JSON, r#"{"error":"something broke"}"#, Some((SoftError, Scope::Key, SERVER, 502)));
    check(OpenAiChat, None, r#"{"success":false,"msg":"渠道错误"}"#, Some((SoftError, Scope::Key, SERVER, 502)));
    check(OpenAiChat, JSON, r#"{"error":{"code":"too_many_requests","message":"x"}}"#, Some((RateLimited, Scope::Key, RATE, 429)));
    check(OpenAiResponses, JSON, r#"{"id":"resp_1","object":"response","status":"failed","error":{"code":"server_error","message":"boom"},"output":[]}"#, Some((ServerError, Scope::Channel, SERVER, 502)));
    check(OpenAiResponses, JSON, r#"{"id":"resp_1","object":"response","status":"failed","error":null,"output":[]}"#, Some((SoftError, Scope::Key, SERVER, 502)));
    check(Gemini, JSON, r#"[{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"retry in 2s"}}]"#, Some(( RateLimited, Scope::Key, Until { unix_ms: NOW + 2_000 }, 429, )));
    check(Gemini, JSON, r#"{"error":{"code":503,"status":"UNAVAILABLE","message":"The model is overloaded."}}"#, Some((Overloaded, Scope::Channel, SERVER, 503)));
}

#[test]
#[rustfmt::skip]
fn real_answers() {
    check(Anthropic, JSON, r#"{"id":"msg_1","type":"message","content":[{"type":"text","text":"the error was fixed"}]}"#, None);
    check(OpenAiResponses, JSON, r#"{"id":"resp_1","object":"response","status":"completed","error":null,"output":[]}"#, None);
    check(OpenAiChat, JSON, r#"{"choices":[{"message":{"content":"{\"type\":\"error\"}"}}],"error":null}"#, None);
    check(OpenAiChat, JSON, r#"{"choices":[],"error":{}}"#, None);
    check(Gemini, JSON, r#"{"promptFeedback":{"blockReason":"SAFETY"}}"#, None);
    check(Gemini, JSON, "[]", None);
    // Never guess: truncated or broken JSON, SSE bodies, binary types, long or mid-text warnings.
    check(Anthropic, JSON, r#"{"type":"error","error":{"type":"overloaded_error","mess"#, None);
    check(OpenAiChat, JSON, "{not json", None);
    check(OpenAiChat, Some("text/event-stream"), "data: {\"error\":{}}\n\n", None);
    check(OpenAiChat, None, "data: {\"error\":{\"message\":\"x\"}}\n\n", None);
    check(OpenAiChat, Some("application/octet-stream"), r#"{"error":"x"}"#, None);
    check(OpenAiChat, Some("text/plain"), "Everything is fine. 当前模型负载过高 was yesterday.", None);
    let long = format!("当前模型负载过高{}", "。".repeat(100));
    check(OpenAiChat, Some("text/plain"), &long, None);
}

#[test]
#[rustfmt::skip]
fn text_warnings_html_and_empty() {
    check(Anthropic, Some("text/plain; charset=utf-8"), "当前模型负载过高，请稍后重试", Some((Overloaded, Scope::Channel, SERVER, 503)));
    check(OpenAiChat, None, "  Current model load too high, please try again later\n", Some((Overloaded, Scope::Channel, SERVER, 503)));
    check(OpenAiChat, Some("text/html"), "<!DOCTYPE html><html><title>Just a moment...</title></html>", Some((SoftError, Scope::Channel, SERVER, 502)));
    check(OpenAiChat, None, "<html><body>login</body></html>", Some((SoftError, Scope::Channel, SERVER, 502)));
    check(OpenAiChat, JSON, "", Some((EmptyResponse, Scope::Channel, SERVER, 502)));
    check(Gemini, None, " \r\n\t", Some((EmptyResponse, Scope::Channel, SERVER, 502)));
}

// ---- streams -----------------------------------------------------------------------------

fn run(protocol: Protocol, events: &[SseEvent]) -> (Vec<ProbeState>, StreamProbe) {
    let mut probe = StreamProbe::new(protocol, Policy::default());
    let states = events.iter().map(|e| probe.event(e, NOW)).collect();
    (states, probe)
}

fn n(name: &str, data: &str) -> SseEvent {
    SseEvent::named(name, data)
}

fn d(data: &str) -> SseEvent {
    SseEvent::data(data)
}

/// Which event first reaches Content (index), or None; and the first Failed kind.
#[track_caller]
fn check_stream(
    protocol: Protocol,
    events: &[SseEvent],
    content_at: Option<usize>,
    failed: Option<(usize, OutcomeKind)>,
    eos: Option<OutcomeKind>,
) {
    let (states, probe) = run(protocol, events);
    let first_content = states.iter().position(|s| *s == ProbeState::Content);
    assert_eq!(first_content, content_at, "{protocol}: {states:?}");
    let first_failed = states.iter().enumerate().find_map(|(i, s)| match s {
        ProbeState::Failed(v) => Some((i, v.kind)),
        _ => None,
    });
    assert_eq!(first_failed, failed, "{protocol}: {states:?}");
    assert_eq!(probe.eos().map(|v| v.kind), eos, "{protocol}");
    assert_eq!(probe.saw_content(), content_at.is_some());
}

#[test]
#[rustfmt::skip]
fn anthropic_streams() {
    let start = n("message_start", r#"{"type":"message_start","message":{"content":[]}}"#);
    let ping = n("ping", r#"{"type": "ping"}"#);
    let block = n("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#);
    let empty = n("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}"#);
    let text = n("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#);
    let tool = n("content_block_start", r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}"#);
    let stop = n("message_stop", r#"{"type":"message_stop"}"#);
    let err = n("error", r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#);
    let maxed = n("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"}}"#);
    check_stream(Anthropic, &[start.clone(), ping.clone(), block.clone(), empty.clone(), text.clone(), stop.clone()], Some(4), None, None);
    check_stream(Anthropic, &[start.clone(), tool, stop.clone()], Some(1), None, None);
    check_stream(Anthropic, &[start.clone(), ping.clone(), err.clone()], None, Some((2, Overloaded)), Some(Overloaded));
    check_stream(Anthropic, &[start.clone(), text.clone(), err.clone(), stop.clone()], Some(1), Some((2, Overloaded)), Some(Overloaded));
    check_stream(Anthropic, &[start.clone(), ping.clone(), block, empty, stop.clone()], None, None, Some(EmptyResponse));
    check_stream(Anthropic, &[start.clone(), maxed, stop.clone()], Some(1), None, None);
    check_stream(Anthropic, &[], None, None, Some(EmptyResponse));
    check_stream(Anthropic, &[ping], None, None, Some(EmptyResponse));
    // An `event: error` with a 1308 payload, and with a non-JSON payload.
    check_stream(Anthropic, &[start.clone(), n( "error", r#"{"type":"error","error":{"type":"1308","message":"您的限额将在 2025-12-09 18:08:11 重置"}}"#, )], None, Some((1, QuotaExhausted)), Some(QuotaExhausted));
    check_stream(Anthropic, &[start.clone(), n("error", "upstream exploded")], None, Some((1, SoftError)), Some(SoftError));
    // A payload of type error without an `event:` line.
    check_stream(Anthropic, &[d( r#"{"type":"error","error":{"type":"rate_limit_error","message":"x"}}"#, )], None, Some((0, RateLimited)), Some(RateLimited));
}

#[test]
#[rustfmt::skip]
fn chat_streams() {
    let role = d(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#);
    let text = d(r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#);
    let reasoning = d(r#"{"choices":[{"index":0,"delta":{"reasoning_content":"hm"}}]}"#);
    let tool = d(r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":""}}]}}]}"#);
    let stop = d(r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#);
    let usage = d(r#"{"choices":[],"usage":{"prompt_tokens":1}}"#);
    let done = d("[DONE]");
    let error = d(r#"{"error":{"message":"Rate limit","code":"rate_limit_exceeded"}}"#);
    check_stream(OpenAiChat, &[role.clone(), text.clone(), stop.clone(), usage.clone(), done.clone()], Some(1), None, None);
    check_stream(OpenAiChat, &[role.clone(), reasoning], Some(1), None, None);
    check_stream(OpenAiChat, &[role.clone(), tool], Some(1), None, None);
    check_stream(OpenAiChat, &[role.clone(), stop.clone(), usage.clone(), done.clone()], None, None, Some(EmptyResponse));
    check_stream(OpenAiChat, &[role.clone(), error.clone()], None, Some((1, RateLimited)), Some(RateLimited));
    check_stream(OpenAiChat, &[role.clone(), text.clone(), error.clone()], Some(1), Some((2, RateLimited)), Some(RateLimited));
    check_stream(OpenAiChat, &[d(r#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#)], Some(0), None, None);
    check_stream(OpenAiChat, &[d("当前模型负载过高，请稍后再试")], None, Some((0, Overloaded)), Some(Overloaded));
    check_stream(OpenAiChat, &[d(r#"{"id":"x","choices":[],"error":null}"#), done], None, None, Some(EmptyResponse));
}

#[test]
#[rustfmt::skip]
fn responses_streams() {
    let created = n("response.created", r#"{"type":"response.created","response":{"status":"in_progress","error":null,"output":[]}}"#);
    let delta = n("response.output_text.delta", r#"{"type":"response.output_text.delta","delta":"Hi"}"#);
    let empty_done = n("response.completed", r#"{"type":"response.completed","response":{"status":"completed","error":null,"output":[]}}"#);
    let failed = n("response.failed", r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"boom"}}}"#);
    let item = n("response.output_item.added", r#"{"type":"response.output_item.added","item":{"type":"function_call","name":"f","arguments":""}}"#);
    check_stream(OpenAiResponses, &[created.clone(), delta.clone(), empty_done.clone()], Some(1), None, None);
    check_stream(OpenAiResponses, &[created.clone(), item], Some(1), None, None);
    check_stream(OpenAiResponses, &[created.clone(), empty_done.clone()], None, None, Some(EmptyResponse));
    check_stream(OpenAiResponses, &[created.clone(), failed.clone()], None, Some((1, ServerError)), Some(ServerError));
    check_stream(OpenAiResponses, &[created.clone(), n( "error", r#"{"type":"error","code":"rate_limit_exceeded","message":"x"}"#, )], None, Some((1, RateLimited)), Some(RateLimited));
    check_stream(OpenAiResponses, &[created, n( "response.incomplete", r#"{"type":"response.incomplete","response":{"incomplete_details":{"reason":"max_output_tokens"},"output":[]}}"#, )], Some(1), None, None);
}

#[test]
#[rustfmt::skip]
fn gemini_streams() {
    let text = d(r#"{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"}}]}"#);
    let sig_only = d(r#"{"candidates":[{"content":{"parts":[{"text":"","thoughtSignature":"abc"}],"role":"model"}}]}"#);
    let stop_empty = d(r#"{"candidates":[{"content":{"role":"model"},"finishReason":"STOP"}]}"#);
    let call =
        d(r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{}}}]}}]}"#);
    check_stream(Gemini, &[sig_only.clone(), text.clone()], Some(1), None, None);
    check_stream(Gemini, &[call], Some(0), None, None);
    check_stream(Gemini, &[sig_only.clone(), stop_empty.clone()], None, None, Some(EmptyResponse));
    check_stream(Gemini, &[d(r#"{"candidates":[{"finishReason":"SAFETY"}]}"#)], Some(0), None, None);
    check_stream(Gemini, &[d( r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"x"}}"#, )], None, Some((0, RateLimited)), Some(RateLimited));
    check_stream(Gemini, &[d( r#"[{"error":{"code":500,"status":"INTERNAL","message":"x"}}]"#, )], None, Some((0, ServerError)), Some(ServerError));
}

#[test]
#[rustfmt::skip]
fn recorded_error_streams() {
    let Some(dir) = common::fixtures_dir() else {
        return;
    };
    // Responses: `error` (insufficient_quota) then `response.failed`, before any content.
    let events = common::events(&dir, "vercel-ai/openai-responses/openai-error.1.chunks.txt");
    let (states, probe) = run(OpenAiResponses, &events);
    assert_eq!(states.first(), Some(&ProbeState::Pending));
    let first_failed = states
        .iter()
        .position(|s| matches!(s, ProbeState::Failed(_)));
    assert_eq!(first_failed, Some(2), "{states:?}");
    let Some(ProbeState::Failed(v)) = states.get(2) else {
        panic!("{states:?}")
    };
    assert_eq!(
        (v.kind, v.scope, v.client_status),
        (QuotaExhausted, Scope::Key, 429)
    );
    assert!(
        matches!(states.get(3), Some(ProbeState::Failed(_))),
        "{states:?}"
    );
    assert!(!probe.saw_content());
    assert_eq!(probe.eos().map(|v| v.kind), Some(QuotaExhausted));

    // Anthropic on Vertex: the data of an `event: error` frame.
    let data = String::from_utf8(common::read(
        &dir,
        "github-issues/anthropic-vertex-sse-error-event-data.json",
    ))
    .unwrap();
    let start = n("message_start", r#"{"type":"message_start","message":{"content":[]}}"#);
    check_stream(Anthropic, &[start.clone(), n("error", data.trim())], None, Some((1, Overloaded)), Some(Overloaded));
    let text = n("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#);
    check_stream(Anthropic, &[start, text, n("error", data.trim())], Some(1), Some((2, Overloaded)), Some(Overloaded));

    // Gemini prompt blocked: the upstream's final answer, passed on rather than retried.
    let events = common::events(
        &dir,
        "firebase-vertexai-sdk-test-data/streaming-failure-prompt-blocked-safety.sse",
    );
    check_stream(Gemini, &events, Some(0), None, None);
}

#[test]
#[rustfmt::skip]
fn recorded_success_streams_reach_content() {
    let Some(dir) = common::fixtures_dir() else {
        return;
    };
    let cases: &[(&str, Protocol)] = &[
        ("anthropic-sdk-python/messages-text-stream.sse", Anthropic),
        ("anthropic-sdk-python/messages-tool-use-stream.sse", Anthropic),
        ("anthropic-sdk-python/messages-incomplete-partial-json-stream.sse", Anthropic),
        ("openai-python/chat-text-stream.sse", OpenAiChat),
        ("openai-python/chat-tool-call-stream.sse", OpenAiChat),
        ("openai-python/chat-parallel-tool-calls-stream.sse", OpenAiChat),
        ("openai-python/chat-finish-length-stream.sse", OpenAiChat),
        ("openai-python/chat-refusal-stream.sse", OpenAiChat),
        ("firebase-vertexai-sdk-test-data/streaming-success-basic-reply-short.sse", Gemini),
        ("firebase-vertexai-sdk-test-data/streaming-success-empty-parts.sse", Gemini),
        ("firebase-vertexai-sdk-test-data/streaming-success-thinking-function-call-thought-summary-signature.sse", Gemini),
        ("firebase-vertexai-sdk-test-data/streaming-success-thinking-reply-thought-summary.sse", Gemini),
    ];
    let mut all: Vec<(String, Protocol)> =
        cases.iter().map(|(f, p)| ((*f).to_owned(), *p)).collect();
    for (sub, protocol) in [
        ("vercel-ai/anthropic", Anthropic),
        ("vercel-ai/openai-compatible-chat", OpenAiChat),
        ("vercel-ai/openai-responses", OpenAiResponses),
        ("vercel-ai/gemini", Gemini),
    ] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".chunks.txt") && !name.contains("error") {
                all.push((format!("{sub}/{name}"), protocol));
            }
        }
    }
    assert!(all.len() >= 25, "{}", all.len());
    for (file, protocol) in &all {
        let events = common::events(&dir, file);
        assert!(!events.is_empty(), "{file}");
        let (states, probe) = run(*protocol, &events);
        assert!(
            !states.iter().any(|s| matches!(s, ProbeState::Failed(_))),
            "{file}: {states:?}"
        );
        assert!(probe.saw_content(), "{file}: never reached content");
        assert_eq!(states.last(), Some(&ProbeState::Content), "{file}");
        assert_eq!(probe.eos(), None, "{file}");
    }
}

#[test]
fn recorded_bodies_as_status_200() {
    let Some(dir) = common::fixtures_dir() else {
        return;
    };
    let answers: &[(&str, Protocol)] = &[
        ("vercel-ai/anthropic/anthropic-text.json", Anthropic),
        (
            "vercel-ai/anthropic/anthropic-clear-thinking.1.json",
            Anthropic,
        ),
        ("vercel-ai/anthropic/anthropic-tool-no-args.json", Anthropic),
        ("vercel-ai/openai-chat/openai-text.json", OpenAiChat),
        (
            "vercel-ai/openai-compatible-chat/deepseek-reasoning.json",
            OpenAiChat,
        ),
        (
            "vercel-ai/openai-compatible-chat/deepseek-tool-call.json",
            OpenAiChat,
        ),
        (
            "vercel-ai/openai-responses/openai-phase.1.json",
            OpenAiResponses,
        ),
        (
            "vercel-ai/openai-responses/azure-tool-call.1.json",
            OpenAiResponses,
        ),
        (
            "vercel-ai/openai-responses/openai-reasoning-encrypted-content.1.json",
            OpenAiResponses,
        ),
        ("vercel-ai/gemini/google-text.json", Gemini),
        ("vercel-ai/gemini/google-tool-call.json", Gemini),
        (
            "firebase-vertexai-sdk-test-data/unary-success-basic-reply-short.json",
            Gemini,
        ),
        (
            "firebase-vertexai-sdk-test-data/unary-success-thinking-reply-thought-summary.json",
            Gemini,
        ),
        (
            "firebase-vertexai-sdk-test-data/unary-success-thinking-function-call-thought-summary-signature.json",
            Gemini,
        ),
        // A safety stop is the upstream's final answer, not a soft error.
        (
            "firebase-vertexai-sdk-test-data/unary-failure-finish-reason-safety.json",
            Gemini,
        ),
    ];
    for (file, protocol) in answers {
        let body = common::read(&dir, file);
        let got = probe_body(*protocol, JSON, &body, NOW, &Policy::default());
        assert_eq!(got, None, "{file}");
    }
    // Error bodies delivered with status 200 are soft errors of the same kind.
    let errors: &[(&str, Protocol, OutcomeKind)] = &[
        (
            "github-issues/anthropic-overloaded-529.json",
            Anthropic,
            Overloaded,
        ),
        (
            "github-issues/anthropic-rate-limit-429.json",
            Anthropic,
            RateLimited,
        ),
        (
            "github-issues/openai-rate-limit-429.json",
            OpenAiChat,
            RateLimited,
        ),
        (
            "vercel-ai/openai-responses/openai-error.1.json",
            OpenAiResponses,
            QuotaExhausted,
        ),
        (
            "vercel-ai/gemini/google-429-retry-info.json",
            Gemini,
            RateLimited,
        ),
        (
            "vercel-ai/anthropic/anthropic-issue-17366-error.json",
            Anthropic,
            SoftError,
        ),
        (
            "firebase-vertexai-sdk-test-data/unary-failure-api-key.json",
            Gemini,
            AuthRejected,
        ),
    ];
    for (file, protocol, kind) in errors {
        let body = common::read(&dir, file);
        let got = probe_body(*protocol, JSON, &body, NOW, &Policy::default());
        assert_eq!(got.map(|v| v.kind), Some(*kind), "{file}");
        // A prefix cut inside the JSON is never guessed at.
        let cut = body.get(..body.len() / 2).unwrap();
        assert_eq!(
            probe_body(*protocol, JSON, cut, NOW, &Policy::default()),
            None,
            "{file} (cut)"
        );
    }
}
