//! The body step of the pipeline for non-stream answers: errors sent with status 200.

use relaygate_protocol::Protocol;
use serde_json::Value;

use crate::facts::{
    Facts, fixed_deadline, says_invalid_key, says_overloaded, says_quota, says_rate_limited, until,
};
use crate::{CooldownHint, OutcomeKind, Policy, Scope, Verdict, excerpt};

/// Plain-text load warnings some relays answer with status 200.
const LOAD_WARNINGS: [&str; 2] = ["当前模型负载过高", "current model load too high"];
/// A plain-text body longer than this is an answer, not a warning.
const MAX_WARNING_BYTES: usize = 256;

/// Checks a status-200 non-stream body for a soft error.
///
/// `body` is the whole body or a prefix of it. Returns `None` for a real answer. A soft error
/// is:
///
/// - a JSON object with a non-null top-level `error`, a top-level `type: "error"`, a Responses
///   object with `status: "failed"`, or `success: false` (a JSON array is read through its
///   first element, as Gemini sends without `alt=sse`);
/// - a short (at most 256 bytes) text body that *starts* with a load warning such as
///   `当前模型负载过高` or `Current model load too high`;
/// - an HTML page where an API answer was expected (a login, block or challenge page);
/// - an empty or whitespace-only body ([`OutcomeKind::EmptyResponse`]).
///
/// The inner error is classified like an HTTP error body: `1308`/`1310` and the other
/// fixed-deadline bodies, rate-limit wording ([`OutcomeKind::RateLimited`], 429), quota wording
/// ([`OutcomeKind::QuotaExhausted`], 429), overload ([`OutcomeKind::Overloaded`]), server
/// errors (`api_error`: channel), invalid keys; anything else is a key-level
/// [`OutcomeKind::SoftError`] (502).
///
/// It never guesses: JSON that does not parse (for example a prefix cut inside the object),
/// bodies that look like an SSE stream, binary content types and text that merely *contains* a
/// warning are all `None`. `protocol` is the upstream's protocol; the envelopes checked are the
/// union of all four, because OpenAI-compatible vendors mix them.
pub fn probe_body(
    protocol: Protocol,
    content_type: Option<&str>,
    body: &[u8],
    now_ms: u64,
    policy: &Policy,
) -> Option<Verdict> {
    let _ = protocol;
    if let Some(ct) = content_type {
        let ct = ct.to_ascii_lowercase();
        if !(ct.contains("json") || ct.starts_with("text/") || ct.trim().is_empty()) {
            return None;
        }
    }
    let body = body
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(body)
        .trim_ascii();
    if body.is_empty() {
        return Some(Verdict::new(
            OutcomeKind::EmptyResponse,
            Scope::Channel,
            CooldownHint::Backoff {
                first_ms: policy.server_ms,
            },
            502,
            "upstream answered 200 with an empty body".to_owned(),
        ));
    }
    match body.first() {
        Some(b'{' | b'[') => {
            let v: Value = serde_json::from_slice(body).ok()?;
            let root = match &v {
                Value::Array(items) => items.first()?,
                other => other,
            };
            is_error_envelope(root).then(|| classify_soft(&Facts::from_value(root), now_ms, policy))
        }
        Some(b'<') => {
            let head = String::from_utf8_lossy(body.get(..body.len().min(256)).unwrap_or_default())
                .to_ascii_lowercase();
            let html = content_type.is_some_and(|c| c.to_ascii_lowercase().contains("html"))
                || head.starts_with("<!doctype html")
                || head.starts_with("<html");
            html.then(|| {
                Verdict::new(
                    OutcomeKind::SoftError,
                    Scope::Channel,
                    CooldownHint::Backoff {
                        first_ms: policy.server_ms,
                    },
                    502,
                    "upstream answered 200 with an HTML page instead of an API answer".to_owned(),
                )
            })
        }
        _ => load_warning(body, policy),
    }
}

/// Whether a parsed value is an error envelope rather than an answer.
pub(crate) fn is_error_envelope(v: &Value) -> bool {
    let Some(obj) = v.as_object() else {
        return false;
    };
    let error_set = match obj.get("error") {
        None | Some(Value::Null | Value::Bool(false)) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    let str_field = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or_default();
    error_set
        || str_field("type").eq_ignore_ascii_case("error")
        || str_field("type") == "response.failed"
        || (str_field("object") == "response" && str_field("status") == "failed")
        || obj.get("success") == Some(&Value::Bool(false))
}

/// A short text body that starts with a load warning.
pub(crate) fn load_warning(body: &[u8], policy: &Policy) -> Option<Verdict> {
    let text = body.trim_ascii();
    if text.len() > MAX_WARNING_BYTES {
        return None;
    }
    let text = std::str::from_utf8(text).ok()?;
    let lower = text.to_lowercase();
    LOAD_WARNINGS.iter().any(|w| lower.starts_with(w)).then(|| {
        Verdict::new(
            OutcomeKind::Overloaded,
            Scope::Channel,
            CooldownHint::Backoff {
                first_ms: policy.server_ms,
            },
            503,
            format!("load warning: {}", excerpt(text, 200)),
        )
    })
}

/// Classifies the inner error of a soft error (a 200 body or a stream error event).
pub(crate) fn classify_soft(f: &Facts, now_ms: u64, policy: &Policy) -> Verdict {
    if let Some(v) = fixed_deadline(f, now_ms, policy) {
        return v;
    }
    let body_delay = f.retry_info_ms().or_else(|| f.message_delay_ms());
    let backoff = |ms: u64| CooldownHint::Backoff { first_ms: ms };
    let google_daily = f.status == "RESOURCE_EXHAUSTED" && f.daily_quota_failure();
    if google_daily || (f.status != "RESOURCE_EXHAUSTED" && says_quota(f)) {
        let cooldown = body_delay
            .filter(|ms| *ms > 0)
            .map_or(backoff(policy.quota_ms), |ms| until(now_ms, ms));
        return Verdict::new(
            OutcomeKind::QuotaExhausted,
            Scope::Key,
            cooldown,
            429,
            f.reason("soft error: quota exhausted"),
        );
    }
    if says_rate_limited(f) {
        let cooldown = body_delay
            .filter(|ms| *ms > 0)
            .map_or(backoff(policy.rate_limit_ms), |ms| until(now_ms, ms));
        return Verdict::new(
            OutcomeKind::RateLimited,
            Scope::Key,
            cooldown,
            429,
            f.reason("soft error: rate limited"),
        );
    }
    if says_overloaded(f) {
        return Verdict::new(
            OutcomeKind::Overloaded,
            Scope::Channel,
            backoff(policy.server_ms),
            503,
            f.reason("soft error: overloaded"),
        );
    }
    if says_invalid_key(f) || f.is("permission_error") {
        return Verdict::new(
            OutcomeKind::AuthRejected,
            Scope::Key,
            backoff(policy.auth_ms),
            502,
            f.reason("soft error: credential rejected"),
        );
    }
    if ["api_error", "server_error", "internal_error", "internal"]
        .iter()
        .any(|n| f.is(n))
        || f.status == "INTERNAL"
    {
        return Verdict::new(
            OutcomeKind::ServerError,
            Scope::Channel,
            backoff(policy.server_ms),
            502,
            f.reason("soft error: upstream server error"),
        );
    }
    Verdict::new(
        OutcomeKind::SoftError,
        Scope::Key,
        backoff(policy.server_ms),
        502,
        f.reason("soft error"),
    )
}

/// Classifies a stream error payload that is not JSON (or empty).
pub(crate) fn classify_text_error(text: &str, policy: &Policy) -> Verdict {
    if let Some(v) = load_warning(text.as_bytes(), policy) {
        return v;
    }
    let q = excerpt(text, 200);
    Verdict::new(
        OutcomeKind::SoftError,
        Scope::Key,
        CooldownHint::Backoff {
            first_ms: policy.server_ms,
        },
        502,
        if q.is_empty() {
            "soft error: error event without a payload".to_owned()
        } else {
            format!("soft error: {q}")
        },
    )
}
