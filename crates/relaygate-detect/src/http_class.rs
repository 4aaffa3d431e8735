//! The head of the pipeline: a non-2xx upstream answer (status, headers, error body).

use http::HeaderMap;

use crate::facts::{
    Facts, fixed_deadline, says_account_disabled, says_invalid_key, says_overloaded, says_quota,
    until,
};
use crate::time::{go_duration_ms, retry_after_ms, rfc3339_ms, seconds_ms};
use crate::{CooldownHint, OutcomeKind, Policy, Scope, Verdict};

/// Classifies a non-2xx upstream answer.
///
/// Rules, in order:
///
/// 1. Bodies that name their own reset, whatever the status: `1308`/`1310` usage limits with a
///    `YYYY-MM-DD HH:MM:SS` reset time (read in [`Policy::quota_reset_utc_offset_minutes`]),
///    `MODEL_COOLDOWN`, `API_KEY_QUOTA_EXHAUSTED`, `FREE_TIER_BUDGET_EXCEEDED`, daily limits,
///    and "用量上限 … 北京时间明天 H点"; `RATE_LIMIT_EXCEEDED` with "retry after N seconds" is
///    a rate limit (rule 4) whatever the status.
/// 2. 401/403: [`OutcomeKind::AuthRejected`] on the key, or on the channel when the body says
///    the account is suspended, disabled or banned; a 403 about billing is a quota.
/// 3. 402 and quota or billing bodies: [`OutcomeKind::QuotaExhausted`] on the key, shown to the
///    client as 429.
/// 4. 429: [`OutcomeKind::RateLimited`] on the key (on the channel when `x-ratelimit-scope` is
///    global/ip/account or the body names an account, organization or IP limit), resting until
///    the reset the upstream announced, the first usable of: `retry-after` (seconds or
///    HTTP-date); `anthropic-ratelimit-unified-reset` (unix seconds);
///    `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset` (RFC 3339);
///    `x-ratelimit-reset-{requests,tokens}` (Go durations); Gemini `RetryInfo.retryDelay`;
///    "try again in 1.5s" in the message. Among per-limit resets the one whose `…-remaining`
///    is `0` wins, else the earliest. A Gemini `RESOURCE_EXHAUSTED` whose `QuotaFailure`
///    names a daily limit, or an `insufficient_quota`/billing body, is a quota instead.
/// 5. 404 naming a missing model, `model_not_found` with any 4xx, and 410:
///    [`OutcomeKind::ModelUnavailable`]; any other 404 and 405 mean the channel's URL is wrong:
///    a channel-level [`OutcomeKind::ServerError`].
/// 6. Other 4xx: [`OutcomeKind::ClientError`], no retry, no cooldown — except a 400 saying the
///    API key is invalid ([`OutcomeKind::AuthRejected`] on the key) and an upstream 499
///    (the upstream gave up: channel-level server error).
/// 7. 503, 529 and overload bodies: [`OutcomeKind::Overloaded`] on the channel; 408, 500, 502,
///    504, 520-524 and unknown 5xx: [`OutcomeKind::ServerError`] on the channel; both honour
///    `retry-after`.
/// 8. Anything else (1xx-3xx, out-of-range numbers): a channel-level server error, 502.
pub fn classify_http(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now_ms: u64,
    policy: &Policy,
) -> Verdict {
    let f = Facts::from_bytes(body);
    if let Some(v) = fixed_deadline(&f, now_ms, policy) {
        return v;
    }
    let label = format!("upstream {status}");
    // `RATE_LIMIT_EXCEEDED` with "retry after N seconds" is a rate limit whatever the status.
    if status != 429 && f.is("rate_limit_exceeded") && f.message_delay_ms().is_some_and(|ms| ms > 0)
    {
        return rate_limited(&f, &label, headers, now_ms, policy);
    }
    let backoff = |ms: u64| CooldownHint::Backoff { first_ms: ms };
    let retry_after = || {
        headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after_ms(v, now_ms))
            .filter(|t| *t > now_ms)
    };
    let quota = |cooldown: CooldownHint| {
        Verdict::new(
            OutcomeKind::QuotaExhausted,
            Scope::Key,
            cooldown,
            429,
            f.reason(&format!("{label} quota exhausted")),
        )
    };
    let model_missing = f.is("model_not_found")
        || f.says(&["model_not_found"])
        || (status == 404 && names_missing_model(&f));

    match status {
        401 | 403 => {
            if status == 403 && says_quota(&f) {
                return quota(backoff(policy.quota_ms));
            }
            if status == 403 && model_missing {
                return model(&f, &label, status, policy);
            }
            let scope = if says_account_disabled(&f) {
                Scope::Channel
            } else {
                Scope::Key
            };
            Verdict::new(
                OutcomeKind::AuthRejected,
                scope,
                backoff(policy.auth_ms),
                status,
                f.reason(&label),
            )
        }
        402 => quota(backoff(policy.quota_ms)),
        429 => rate_limited(&f, &label, headers, now_ms, policy),
        410 => model(&f, &label, status, policy),
        404 if model_missing => model(&f, &label, status, policy),
        404 | 405 => Verdict::new(
            OutcomeKind::ServerError,
            Scope::Channel,
            backoff(policy.server_ms),
            status,
            f.reason(&format!("{label}: the channel has no such endpoint")),
        ),
        408 => Verdict::new(
            OutcomeKind::ServerError,
            Scope::Channel,
            retry_after().map_or(backoff(policy.timeout_ms), |t| CooldownHint::Until {
                unix_ms: t,
            }),
            status,
            f.reason(&label),
        ),
        499 => Verdict::new(
            OutcomeKind::ServerError,
            Scope::Channel,
            backoff(policy.server_ms),
            502,
            f.reason(&format!("{label}: the upstream closed the request")),
        ),
        400..=499 => {
            if says_invalid_key(&f) {
                Verdict::new(
                    OutcomeKind::AuthRejected,
                    Scope::Key,
                    backoff(policy.auth_ms),
                    status,
                    f.reason(&format!("{label} invalid API key")),
                )
            } else if says_quota(&f) {
                quota(backoff(policy.quota_ms))
            } else if model_missing {
                model(&f, &label, status, policy)
            } else {
                Verdict::new(
                    OutcomeKind::ClientError,
                    Scope::Client,
                    CooldownHint::None,
                    status,
                    f.reason(&label),
                )
            }
        }
        500..=599 => {
            let overloaded = matches!(status, 503 | 529) || says_overloaded(&f);
            let first = if matches!(status, 504 | 524) {
                policy.timeout_ms
            } else {
                policy.server_ms
            };
            let cooldown =
                retry_after().map_or(backoff(first), |t| CooldownHint::Until { unix_ms: t });
            let kind = if overloaded {
                OutcomeKind::Overloaded
            } else {
                OutcomeKind::ServerError
            };
            Verdict::new(kind, Scope::Channel, cooldown, status, f.reason(&label))
        }
        _ => Verdict::new(
            OutcomeKind::ServerError,
            Scope::Channel,
            backoff(policy.server_ms),
            502,
            f.reason(&format!("unexpected upstream status {status}")),
        ),
    }
}

/// 404 wording that names a model rather than a route.
fn names_missing_model(f: &Facts) -> bool {
    f.says(&["model"])
        && (f.is("not_found_error")
            || f.is("not_found")
            || f.status == "NOT_FOUND"
            || f.says(&[
                "not found",
                "does not exist",
                "no such model",
                "unknown model",
                "not supported",
                "no access",
            ]))
}

fn model(f: &Facts, label: &str, status: u16, policy: &Policy) -> Verdict {
    Verdict::new(
        OutcomeKind::ModelUnavailable,
        Scope::Model,
        CooldownHint::Backoff {
            first_ms: policy.model_ms,
        },
        status,
        f.reason(&format!("{label} model unavailable")),
    )
}

fn rate_limited(
    f: &Facts,
    label: &str,
    headers: &HeaderMap,
    now_ms: u64,
    policy: &Policy,
) -> Verdict {
    let google = f.status == "RESOURCE_EXHAUSTED";
    let body_delay = f.retry_info_ms().or_else(|| f.message_delay_ms());
    let is_quota = if google {
        f.daily_quota_failure()
    } else {
        says_quota(f)
    };
    if is_quota {
        // Rate-limit headers describe the per-minute limits, not the spent quota: only a
        // delay the body gives for the quota itself counts.
        let cooldown = body_delay.filter(|ms| *ms > 0).map_or(
            CooldownHint::Backoff {
                first_ms: policy.quota_ms,
            },
            |ms| until(now_ms, ms),
        );
        return Verdict::new(
            OutcomeKind::QuotaExhausted,
            Scope::Key,
            cooldown,
            429,
            f.reason(&format!("{label} quota exhausted")),
        );
    }
    let reset = reset_from_headers(headers, now_ms).or_else(|| {
        body_delay
            .filter(|ms| *ms > 0)
            .map(|ms| now_ms.saturating_add(ms))
    });
    let cooldown = reset.map_or(
        CooldownHint::Backoff {
            first_ms: policy.rate_limit_ms,
        },
        |t| CooldownHint::Until { unix_ms: t },
    );
    let scope = if channel_wide_limit(headers, f) {
        Scope::Channel
    } else {
        Scope::Key
    };
    Verdict::new(
        OutcomeKind::RateLimited,
        scope,
        cooldown,
        429,
        f.reason(&format!("{label} rate limited")),
    )
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Whether the limit that was hit is shared by every key of the channel.
fn channel_wide_limit(headers: &HeaderMap, f: &Facts) -> bool {
    let scoped = header_str(headers, "x-ratelimit-scope").is_some_and(|s| {
        ["global", "ip", "account"]
            .iter()
            .any(|w| s.eq_ignore_ascii_case(w))
    });
    scoped
        || f.says(&[
            "ip rate limit",
            "account rate limit",
            "global rate limit",
            "organization",
            "organisation",
            "your account",
            "per account",
            "account limit",
            "account-level",
            "per ip",
            "ip address",
        ])
}

/// The moment a 429's limit resets, from the response headers, in unix ms.
///
/// Read in this order, the first usable one wins (a reset not after `now_ms` is ignored):
///
/// 1. `retry-after` (delta seconds or HTTP-date);
/// 2. `anthropic-ratelimit-unified-reset` (unix seconds);
/// 3. `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset` (RFC 3339);
/// 4. `x-ratelimit-reset-{requests,tokens}` (Go durations such as `6m0s`, relative to now).
///
/// For 3 and 4 the reset of a limit whose `…-remaining` is `0` is used (the latest, if several
/// are spent); when none says so, the earliest reset.
pub(crate) fn reset_from_headers(headers: &HeaderMap, now_ms: u64) -> Option<u64> {
    let later = |t: u64| (t > now_ms).then_some(t);
    if let Some(t) = header_str(headers, "retry-after")
        .and_then(|v| retry_after_ms(v, now_ms))
        .and_then(later)
    {
        return Some(t);
    }
    if let Some(t) = header_str(headers, "anthropic-ratelimit-unified-reset")
        .and_then(seconds_ms)
        .and_then(later)
    {
        return Some(t);
    }
    let anthropic = ["requests", "tokens", "input-tokens", "output-tokens"].map(|limit| {
        (
            header_str(headers, &format!("anthropic-ratelimit-{limit}-reset"))
                .and_then(rfc3339_ms)
                .and_then(later),
            spent(headers, &format!("anthropic-ratelimit-{limit}-remaining")),
        )
    });
    if let Some(t) = pick(&anthropic) {
        return Some(t);
    }
    let openai = ["requests", "tokens"].map(|limit| {
        (
            header_str(headers, &format!("x-ratelimit-reset-{limit}"))
                .and_then(go_duration_ms)
                .map(|ms| now_ms.saturating_add(ms))
                .and_then(later),
            spent(headers, &format!("x-ratelimit-remaining-{limit}")),
        )
    });
    pick(&openai)
}

/// Whether a `…-remaining` header says the limit is used up.
fn spent(headers: &HeaderMap, name: &str) -> bool {
    header_str(headers, name)
        .and_then(|v| v.parse::<f64>().ok())
        .is_some_and(|v| v <= 0.0)
}

/// The latest reset among spent limits, else the earliest reset.
fn pick(resets: &[(Option<u64>, bool)]) -> Option<u64> {
    let spent = resets
        .iter()
        .filter(|(_, s)| *s)
        .filter_map(|(t, _)| *t)
        .max();
    spent.or_else(|| resets.iter().filter_map(|(t, _)| *t).min())
}
