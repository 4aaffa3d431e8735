#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Table tests for the head of the pipeline: HTTP errors, headers, transport failures.

mod common;

use http::{HeaderMap, HeaderName, HeaderValue};
use relaygate_detect::{
    CooldownHint, OutcomeKind, Policy, Scope, TransportFailure, Verdict, classify_http,
    classify_transport, go_duration_ms, http_date_ms, retry_after_ms, rfc3339_ms,
};

use CooldownHint::{Backoff, Until};
use OutcomeKind::*;

/// 2025-12-09 09:00:00 UTC (17:00 in Beijing).
const NOW: u64 = 1_765_270_800_000;
const AUTH: CooldownHint = Backoff { first_ms: 300_000 };
const QUOTA: CooldownHint = Backoff {
    first_ms: 1_800_000,
};
const RATE: CooldownHint = Backoff { first_ms: 60_000 };
const MODEL: CooldownHint = Backoff { first_ms: 600_000 };
const SERVER: CooldownHint = Backoff { first_ms: 30_000 };
const NONE: CooldownHint = CooldownHint::None;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn classify(status: u16, hdrs: &[(&str, &str)], body: &str) -> Verdict {
    classify_http(
        status,
        &headers(hdrs),
        body.as_bytes(),
        NOW,
        &Policy::default(),
    )
}

#[track_caller]
fn check(
    status: u16,
    hdrs: &[(&str, &str)],
    body: &str,
    kind: OutcomeKind,
    scope: Scope,
    cooldown: CooldownHint,
    client_status: u16,
) {
    let v = classify(status, hdrs, body);
    assert_eq!(
        (v.kind, v.scope, v.cooldown, v.client_status),
        (kind, scope, cooldown, client_status),
        "status {status}, headers {hdrs:?}, body {body:?} -> {v:?}"
    );
    let no_retry = matches!(kind, ClientError | ClientCancelled);
    assert_eq!(v.retry_elsewhere, !no_retry, "{v:?}");
    assert!(!v.reason.is_empty());
}

#[test]
#[rustfmt::skip]
fn auth() {
    check(401, &[], "", AuthRejected, Scope::Key, AUTH, 401);
    check(403, &[], "<html>Forbidden</html>", AuthRejected, Scope::Key, AUTH, 403);
    check(401, &[], r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#, AuthRejected, Scope::Key, AUTH, 401);
    check(403, &[], r#"{"error":{"message":"Your account has been disabled"}}"#, AuthRejected, Scope::Channel, AUTH, 403);
    check(401, &[], "Account Suspended: contact support", AuthRejected, Scope::Channel, AUTH, 401);
    check(403, &[], r#"{"error":{"code":"unsupported_country_region_territory","message":"Country not supported"}}"#, AuthRejected, Scope::Channel, AUTH, 403);
    check(400, &[], r#"{"error":{"code":"invalid_api_key","message":"Incorrect API key provided"}}"#, AuthRejected, Scope::Key, AUTH, 400);
    check(400, &[], "api key not valid", AuthRejected, Scope::Key, AUTH, 400);
}

#[test]
#[rustfmt::skip]
fn quota() {
    check(402, &[], "", QuotaExhausted, Scope::Key, QUOTA, 429);
    check(429, &[("retry-after", "5")], r#"{"error":{"type":"insufficient_quota","code":"insufficient_quota","message":"You exceeded your current quota, please check your plan and billing details."}}"#, QuotaExhausted, Scope::Key, QUOTA, 429);
    check(400, &[], r#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}"#, QuotaExhausted, Scope::Key, QUOTA, 429);
    check(403, &[], r#"{"error":{"message":"billing not active"}}"#, QuotaExhausted, Scope::Key, QUOTA, 429);
    check(429, &[], r#"{"error":{"message":"余额不足"}}"#, QuotaExhausted, Scope::Key, QUOTA, 429);
    // Gemini: a daily QuotaFailure is a quota, resting for its RetryInfo.
    check(429, &[], r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"quota","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3600s"}]}}"#, QuotaExhausted, Scope::Key, Until { unix_ms: NOW + 3_600_000 }, 429);
    check(429, &[], r#"{"error":{"status":"RESOURCE_EXHAUSTED","message":"quota","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_requests_per_day"}]}]}}"#, QuotaExhausted, Scope::Key, QUOTA, 429);
}

#[test]
#[rustfmt::skip]
fn fixed_deadline_bodies() {
    // 1308: reset 2025-12-09 18:08:11 Beijing = 10:08:11 UTC.
    let body_1308 = r#"{"type":"error","error":{"type":"1308","message":"已达到 5 小时的使用上限。您的限额将在 2025-12-09 18:08:11 重置。"}}"#;
    check(429, &[], body_1308, QuotaExhausted, Scope::Key, Until { unix_ms: 1_765_274_891_000 }, 429);
    check(200, &[], body_1308, QuotaExhausted, Scope::Key, Until { unix_ms: 1_765_274_891_000 }, 429);
    check(500, &[], r#"{"error":{"code":"1310","message":"Weekly limit reached, resets at 2025-12-09 18:08:11"}}"#, QuotaExhausted, Scope::Key, Until { unix_ms: 1_765_274_891_000 }, 429);
    check(429, &[], r#"{"error":{"code":1308,"message":"reset at 2025-12-09 18:08:11"}}"#, QuotaExhausted, Scope::Key, Until { unix_ms: 1_765_274_891_000 }, 429);
    // A reset already past, or none at all: the quota interval.
    check(429, &[], r#"{"error":{"code":"1308","message":"reset at 2020-01-01 00:00:00"}}"#, QuotaExhausted, Scope::Key, QUOTA, 429);
    check(429, &[], r#"{"error":{"type":"1308","message":"limit"}}"#, QuotaExhausted, Scope::Key, QUOTA, 429);
    check(429, &[], r#"{"code":"MODEL_COOLDOWN","message":"cooling","reset_seconds":90}"#, RateLimited, Scope::Model, Until { unix_ms: NOW + 90_000 }, 429);
    check(429, &[], r#"{"error":{"code":"model_cooldown","reset_time":"3h49m51s"}}"#, RateLimited, Scope::Model, Until { unix_ms: NOW + 13_791_000 }, 429);
    check(429, &[], r#"{"error":{"code":"API_KEY_QUOTA_EXHAUSTED","message":"x"}}"#, QuotaExhausted, Scope::Key, QUOTA, 429);
    check(400, &[], r#"{"error":"FREE_TIER_BUDGET_EXCEEDED: upgrade"}"#, QuotaExhausted, Scope::Key, QUOTA, 429);
    check(429, &[], r#"{"code":"DAILY_LIMIT_EXCEEDED","message":"daily"}"#, QuotaExhausted, Scope::Key, Until { unix_ms: 1_765_296_000_000 }, 429);
    check(429, &[], r#"{"error":{"code":"USAGE_LIMIT_EXCEEDED","message":"DAILY_LIMIT_EXCEEDED for today"}}"#, QuotaExhausted, Scope::Key, Until { unix_ms: 1_765_296_000_000 }, 429);
    check(429, &[], r#"{"error":"您已达到用量上限，将于北京时间明天上午9点30分重置"}"#, QuotaExhausted, Scope::Key, Until { unix_ms: 1_765_330_200_000 }, 429);
    check(429, &[], r#"{"error":"已达到用量上限，北京时间明天 9点 恢复"}"#, QuotaExhausted, Scope::Key, Until { unix_ms: 1_765_330_200_000 - 1_800_000 }, 429);
    check(429, &[], r#"{"error":{"code":"RATE_LIMIT_EXCEEDED","message":"Please retry after 7 seconds"}}"#, RateLimited, Scope::Key, Until { unix_ms: NOW + 7_000 }, 429);
    check(400, &[], r#"{"error":{"code":"RATE_LIMIT_EXCEEDED","message":"Please retry after 7 seconds"}}"#, RateLimited, Scope::Key, Until { unix_ms: NOW + 7_000 }, 429);
    check(400, &[], r#"{"error":{"code":"RATE_LIMIT_EXCEEDED","message":"slow down"}}"#, ClientError, Scope::Client, NONE, 400);
    check(429, &[], r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Resource has been exhausted. Please retry in 59.409754061s."}}"#, RateLimited, Scope::Key, Until { unix_ms: NOW + 59_410 }, 429);
}

#[test]
#[rustfmt::skip]
fn quota_reset_offset_follows_policy() {
    let body = r#"{"error":{"type":"1308","message":"resets 2025-12-09 18:08:11"}}"#;
    let utc = Policy {
        quota_reset_utc_offset_minutes: 0,
        ..Policy::default()
    };
    let v = classify_http(429, &HeaderMap::new(), body.as_bytes(), NOW, &utc);
    assert_eq!(
        v.cooldown,
        Until {
            unix_ms: 1_765_274_891_000 + 8 * 3_600_000
        }
    );
}

#[test]
#[rustfmt::skip]
fn rate_limits() {
    check(429, &[], "", RateLimited, Scope::Key, RATE, 429);
    check(429, &[("retry-after", "20")], "", RateLimited, Scope::Key, Until { unix_ms: NOW + 20_000 }, 429);
    check(429, &[("retry-after", "Tue, 09 Dec 2025 09:01:00 GMT")], "", RateLimited, Scope::Key, Until { unix_ms: NOW + 60_000 }, 429);
    check(429, &[("retry-after", "garbage")], "", RateLimited, Scope::Key, RATE, 429);
    check(429, &[("retry-after", "0")], "", RateLimited, Scope::Key, RATE, 429);
    check(429, &[("anthropic-ratelimit-unified-reset", "1765270900")], "", RateLimited, Scope::Key, Until { unix_ms: NOW + 100_000 }, 429);
    // Anthropic per-limit resets: the spent one wins, else the earliest.
    let anth = [
        ("anthropic-ratelimit-requests-remaining", "10"),
        ("anthropic-ratelimit-requests-reset", "2025-12-09T09:00:30Z"),
        ("anthropic-ratelimit-tokens-remaining", "0"),
        ("anthropic-ratelimit-tokens-reset", "2025-12-09T09:01:00Z"),
    ];
    check(429, &anth, "", RateLimited, Scope::Key, Until { unix_ms: NOW + 60_000 }, 429);
    check(429, &anth[1..2], "", RateLimited, Scope::Key, Until { unix_ms: NOW + 30_000 }, 429);
    check(429, &[( "anthropic-ratelimit-input-tokens-reset", "2025-12-09T17:00:45+08:00", ), ( "anthropic-ratelimit-output-tokens-reset", "2025-12-09T09:02:00Z", )], "", RateLimited, Scope::Key, Until { unix_ms: NOW + 45_000 }, 429);
    // retry-after beats the rate-limit headers.
    check(429, &[("retry-after", "3"), ("anthropic-ratelimit-tokens-reset", "2025-12-09T09:01:00Z")], "", RateLimited, Scope::Key, Until { unix_ms: NOW + 3_000 }, 429);
    // OpenAI: Go durations; the limit with remaining 0, else the smallest.
    let oai = [
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", "6m0s"),
        ("x-ratelimit-remaining-tokens", "1500"),
        ("x-ratelimit-reset-tokens", "20ms"),
    ];
    check(429, &oai, "", RateLimited, Scope::Key, Until { unix_ms: NOW + 360_000 }, 429);
    check(429, &oai[1..], "", RateLimited, Scope::Key, Until { unix_ms: NOW + 20 }, 429);
    check(429, &[("x-ratelimit-reset-tokens", "1h2m3.5s")], "", RateLimited, Scope::Key, Until { unix_ms: NOW + 3_723_500 }, 429);
    // Gemini RetryInfo in the body.
    check(429, &[], r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"You exceeded your current quota, please check your plan and billing details.","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"12s"}]}}"#, RateLimited, Scope::Key, Until { unix_ms: NOW + 12_000 }, 429);
    // A delay in the message.
    check(429, &[], r#"{"error":{"code":"rate_limit_exceeded","message":"Please try again in 1.574s."}}"#, RateLimited, Scope::Key, Until { unix_ms: NOW + 1_574 }, 429);
}

#[test]
#[rustfmt::skip]
fn rate_limit_scope() {
    for scope in ["global", "IP", "Account"] {
        check(429, &[("x-ratelimit-scope", scope)], "", RateLimited, Scope::Channel, RATE, 429);
    }
    check(429, &[("x-ratelimit-scope", "user")], "", RateLimited, Scope::Key, RATE, 429);
    check(429, &[], "IP rate limit exceeded", RateLimited, Scope::Channel, RATE, 429);
    check(429, &[], r#"{"error":{"message":"Account rate limit reached"}}"#, RateLimited, Scope::Channel, RATE, 429);
    check(429, &[], r#"{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization of 40,000 input tokens per minute."}}"#, RateLimited, Scope::Channel, RATE, 429);
    check(429, &[], r#"{"error":{"message":"see https://platform.openai.com/account/rate-limits"}}"#, RateLimited, Scope::Key, RATE, 429);
}

#[test]
#[rustfmt::skip]
fn models_and_routes() {
    check(404, &[], r#"{"error":{"code":"model_not_found","message":"The model `gpt-9` does not exist or you do not have access to it."}}"#, ModelUnavailable, Scope::Model, MODEL, 404);
    check(404, &[], r#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-9"}}"#, ModelUnavailable, Scope::Model, MODEL, 404);
    check(410, &[], "gone", ModelUnavailable, Scope::Model, MODEL, 410);
    check(400, &[], r#"{"error":{"code":"model_not_found","message":"no"}}"#, ModelUnavailable, Scope::Model, MODEL, 400);
    check(404, &[], "", ServerError, Scope::Channel, SERVER, 404);
    check(404, &[], "<html><body>404 page not found</body></html>", ServerError, Scope::Channel, SERVER, 404);
    check(404, &[], r#"{"error":"endpoint not found"}"#, ServerError, Scope::Channel, SERVER, 404);
    check(405, &[], "method not allowed", ServerError, Scope::Channel, SERVER, 405);
}

#[test]
#[rustfmt::skip]
fn client_errors() {
    check(400, &[], "", ClientError, Scope::Client, NONE, 400);
    check(400, &[], r#"{"error":{"message":"context_length_exceeded","type":"invalid_request_error"}}"#, ClientError, Scope::Client, NONE, 400);
    check(413, &[], "too large", ClientError, Scope::Client, NONE, 413);
    check(422, &[], r#"{"detail":"bad"}"#, ClientError, Scope::Client, NONE, 422);
    check(415, &[], "", ClientError, Scope::Client, NONE, 415);
    check(451, &[], "", ClientError, Scope::Client, NONE, 451);
    check(499, &[], "", ServerError, Scope::Channel, SERVER, 502);
}

#[test]
#[rustfmt::skip]
fn server_errors() {
    for status in [500, 502, 520, 521, 522, 523, 599] {
        check(status, &[], "", ServerError, Scope::Channel, SERVER, status);
    }
    check(504, &[], "", ServerError, Scope::Channel, SERVER, 504);
    check(524, &[], "", ServerError, Scope::Channel, SERVER, 524);
    check(408, &[], "", ServerError, Scope::Channel, SERVER, 408);
    check(503, &[], "", Overloaded, Scope::Channel, SERVER, 503);
    check(529, &[], "", Overloaded, Scope::Channel, SERVER, 529);
    check(503, &[("retry-after", "120")], "", Overloaded, Scope::Channel, Until { unix_ms: NOW + 120_000 }, 503);
    check(500, &[], r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#, Overloaded, Scope::Channel, SERVER, 500);
    check(500, &[], "当前模型负载过高，请稍后重试", Overloaded, Scope::Channel, SERVER, 500);
    check(302, &[], "", ServerError, Scope::Channel, SERVER, 502);
    check(0, &[], "", ServerError, Scope::Channel, SERVER, 502);
    check(200, &[], "{}", ServerError, Scope::Channel, SERVER, 502);
}

#[test]
#[rustfmt::skip]
fn reasons_quote_the_upstream() {
    let v = classify(
        429,
        &[],
        r#"{"error":{"type":"rate_limit_error","message":"slow down"}}"#,
    );
    assert!(v.reason.contains("429"), "{}", v.reason);
    assert!(v.reason.contains("slow down"), "{}", v.reason);
    let long = "x".repeat(10_000);
    assert!(classify(500, &[], &long).reason.len() < 400);
    assert_eq!(OutcomeKind::QuotaExhausted.as_str(), "quota_exhausted");
    assert_eq!(Scope::Url.as_str(), "url");
}

// ---- header value parsers ----------------------------------------------------------------

#[track_caller]
fn check_retry_after(value: &str, want: Option<u64>) {
    assert_eq!(retry_after_ms(value, NOW), want, "retry-after {value:?}");
}

#[test]
#[rustfmt::skip]
fn retry_after_values() {
    check_retry_after("0", Some(NOW));
    check_retry_after("120", Some(NOW + 120_000));
    check_retry_after(" 7 ", Some(NOW + 7_000));
    check_retry_after("1.5", Some(NOW + 1_500));
    check_retry_after("Tue, 09 Dec 2025 09:01:00 GMT", Some(NOW + 60_000));
    check_retry_after("Tuesday, 09-Dec-25 09:01:00 GMT", Some(NOW + 60_000));
    check_retry_after("Tue Dec  9 09:01:00 2025", Some(NOW + 60_000));
    check_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", Some(NOW)); // past: now
    check_retry_after("-5", None);
    check_retry_after("", None);
    check_retry_after("soon", None);
    check_retry_after("Tue, 32 Dec 2025 09:01:00 GMT", None);
    check_retry_after("Tue, 09 Foo 2025 09:01:00 GMT", None);
    check_retry_after("99999999999999999999999", Some(NOW + 1_000_000_000_000_000));
}

#[track_caller]
fn check_http_date(value: &str, want: Option<u64>) {
    assert_eq!(http_date_ms(value), want, "http-date {value:?}");
}

#[test]
#[rustfmt::skip]
fn http_dates() {
    check_http_date("Sun, 06 Nov 1994 08:49:37 GMT", Some(784_111_777_000));
    check_http_date("Sunday, 06-Nov-94 08:49:37 GMT", Some(784_111_777_000));
    check_http_date("Sun Nov  6 08:49:37 1994", Some(784_111_777_000));
    check_http_date("Sun, 06 Nov 1994 25:49:37 GMT", None);
    check_http_date("Sun, 06 Nov 1994 GMT", None);
    check_http_date("06 Nov 1994 08:49:37:00 GMT", None);
}

#[track_caller]
fn check_rfc3339(value: &str, want: Option<u64>) {
    assert_eq!(rfc3339_ms(value), want, "rfc3339 {value:?}");
}

#[test]
#[rustfmt::skip]
fn rfc3339_values() {
    check_rfc3339("2030-01-01T00:00:00Z", Some(1_893_456_000_000));
    check_rfc3339("2030-01-01t00:00:00z", Some(1_893_456_000_000));
    check_rfc3339("2030-01-01T08:00:00+08:00", Some(1_893_456_000_000));
    check_rfc3339("2029-12-31T19:30:00-04:30", Some(1_893_456_000_000));
    check_rfc3339("2030-01-01T00:00:00.250Z", Some(1_893_456_000_250));
    check_rfc3339("2030-01-01T00:00:00.2501Z", Some(1_893_456_000_251));
    check_rfc3339("2030-01-01T00:00:00.5Z", Some(1_893_456_000_500));
    check_rfc3339("2030-01-01T00:00:00", None);
    check_rfc3339("2030-01-01T00:00:00.Z", None);
    check_rfc3339("2030-13-01T00:00:00Z", None);
    check_rfc3339("2030-01-01T00:00:00+0800", None);
    check_rfc3339("1765270800", None);
}

#[track_caller]
fn check_go(value: &str, want: Option<u64>) {
    assert_eq!(go_duration_ms(value), want, "duration {value:?}");
}

#[test]
#[rustfmt::skip]
fn go_durations() {
    check_go("1s", Some(1_000));
    check_go("6m0s", Some(360_000));
    check_go("20ms", Some(20));
    check_go("1h2m3.5s", Some(3_723_500));
    check_go("59.409754061s", Some(59_410));
    check_go("34.4s", Some(34_400));
    check_go("150us", Some(1));
    check_go("150µs", Some(1));
    check_go("10ns", Some(1));
    check_go("0", Some(0));
    check_go("0s", Some(0));
    check_go("", None);
    check_go("5", None);
    check_go("-1s", None);
    check_go("1d", None);
    check_go("1.2.3s", None);
    check_go("s", None);
}

// ---- transport ---------------------------------------------------------------------------

#[track_caller]
fn check_transport(
    failure: TransportFailure,
    message: &str,
    kind: OutcomeKind,
    scope: Scope,
    cooldown: CooldownHint,
    client_status: u16,
) {
    let v = classify_transport(failure, message, &Policy::default());
    assert_eq!(
        (v.kind, v.scope, v.cooldown, v.client_status),
        (kind, scope, cooldown, client_status),
        "{failure:?} {message:?} -> {v:?}"
    );
    assert_eq!(v.retry_elsewhere, kind != ClientCancelled);
}

#[test]
#[rustfmt::skip]
fn transport() {
    use TransportFailure as T;
    let timeout = Backoff { first_ms: 30_000 };
    check_transport(T::Connect, "connection refused", ConnectFailed, Scope::Url, timeout, 502);
    check_transport(T::ConnectTimeout, "", Timeout, Scope::Url, timeout, 504);
    check_transport(T::FirstByteTimeout, "", Timeout, Scope::Url, timeout, 504);
    check_transport(T::IdleTimeout, "", Timeout, Scope::Url, timeout, 504);
    check_transport(T::Reset, "connection reset by peer", StreamBroken, Scope::Url, SERVER, 502);
    check_transport(T::ClientCancelled, "", ClientCancelled, Scope::Client, NONE, 499);
    check_transport(T::Other, "operation timed out", Timeout, Scope::Url, timeout, 504);
    check_transport(T::Other, "dns error: no such host", ConnectFailed, Scope::Url, timeout, 502);
    check_transport(T::Other, "invalid peer certificate", ConnectFailed, Scope::Url, timeout, 502);
    check_transport(T::Other, "http2: stream error", StreamBroken, Scope::Url, SERVER, 502);
    check_transport(T::Other, "", StreamBroken, Scope::Url, SERVER, 502);
}

// ---- recorded error bodies ---------------------------------------------------------------

#[test]
#[rustfmt::skip]
fn recorded_error_bodies() {
    let Some(dir) = common::fixtures_dir() else {
        return;
    };
    let cases: &[(&str, u16, OutcomeKind, Scope, CooldownHint, u16)] = &[
        ("github-issues/anthropic-overloaded-529.json", 529, Overloaded, Scope::Channel, SERVER, 529),
        ("github-issues/anthropic-rate-limit-429.json", 429, RateLimited, Scope::Channel, RATE, 429),
        ("github-issues/openai-rate-limit-429.json", 429, RateLimited, Scope::Channel, Until { unix_ms: NOW + 1_574 }, 429),
        // Only the `data:` of a stream error, but as an HTTP body it is an overload too.
        ("github-issues/anthropic-vertex-sse-error-event-data.json", 529, Overloaded, Scope::Channel, SERVER, 529),
        ("vercel-ai/anthropic/anthropic-issue-17366-error.json", 400, ClientError, Scope::Client, NONE, 400),
        ("vercel-ai/openai-chat/reasoning-model-legacy-parameter-error.json", 400, ClientError, Scope::Client, NONE, 400),
        ("vercel-ai/openai-responses/openai-error.1.json", 429, QuotaExhausted, Scope::Key, QUOTA, 429),
        ("vercel-ai/openai-responses/reasoning-model-temperature-error.json", 400, ClientError, Scope::Client, NONE, 400),
        ("vercel-ai/gemini/google-429-retry-info.json", 429, RateLimited, Scope::Key, Until { unix_ms: NOW + 34_400 }, 429),
        ("vercel-ai/gemini/issue-8943-gemini-2.5-pro-error.json", 400, ClientError, Scope::Client, NONE, 400),
        ("vercel-ai/gemini/google-thinking-level-minimal-unsupported.json", 400, ClientError, Scope::Client, NONE, 400),
        ("firebase-vertexai-sdk-test-data/unary-failure-api-key.json", 400, AuthRejected, Scope::Key, AUTH, 400),
        ("firebase-vertexai-sdk-test-data/unary-failure-unknown-model.json", 404, ModelUnavailable, Scope::Model, MODEL, 404),
    ];
    // Every error body in the recorded set is covered by the table.
    let mut listed: Vec<String> = Vec::new();
    for sub in [
        "github-issues",
        "vercel-ai/anthropic",
        "vercel-ai/openai-chat",
        "vercel-ai/openai-responses",
        "vercel-ai/gemini",
        "vercel-ai/openai-compatible-chat",
    ] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let error_like = name.contains("error") || name.contains("429") || name.contains("529");
            if name.ends_with(".json") && (sub == "github-issues" || error_like) {
                listed.push(format!("{sub}/{name}"));
            }
        }
    }
    for name in [
        "unary-failure-api-key.json",
        "unary-failure-unknown-model.json",
    ] {
        listed.push(format!("firebase-vertexai-sdk-test-data/{name}"));
    }
    for l in &listed {
        assert!(
            cases.iter().any(|c| c.0 == l),
            "recorded error body {l} has no case"
        );
    }
    for (file, status, kind, scope, cooldown, client_status) in cases {
        let body = common::read(&dir, file);
        let v = classify_http(*status, &HeaderMap::new(), &body, NOW, &Policy::default());
        assert_eq!(
            (v.kind, v.scope, v.cooldown, v.client_status),
            (*kind, *scope, *cooldown, *client_status),
            "{file} -> {v:?}"
        );
    }
}
