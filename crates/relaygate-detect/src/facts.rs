//! What an error body says, read once into plain fields, and the rules that only depend on the
//! body (fixed-deadline quota bodies, rate-limit and overload wording).

use serde_json::Value;

use crate::time::{
    find_local_datetime_ms, go_duration_ms, next_local_midnight_ms, seconds_ms, tomorrow_at_ms,
};
use crate::{CooldownHint, OutcomeKind, Policy, Scope, Verdict, excerpt};

/// Error bodies are searched for wording up to this many bytes.
const MAX_SCAN: usize = 64 * 1024;
/// Reasons quote at most this many bytes of the upstream message.
const MAX_QUOTE: usize = 200;

/// The fields of an error envelope, whatever protocol or vendor wrote it.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    /// `error.type` (lower case), e.g. `rate_limit_error`, `1308`.
    pub(crate) err_type: String,
    /// `error.code` or a top-level `code` as text (lower case), e.g. `insufficient_quota`, `429`.
    pub(crate) code: String,
    /// A gRPC-style `status` (upper case), e.g. `RESOURCE_EXHAUSTED`.
    pub(crate) status: String,
    /// The human message.
    pub(crate) message: String,
    /// Lower-cased text of the whole body (bounded), for wording checks.
    pub(crate) hay: String,
    /// `error.details` (google.rpc), if any.
    pub(crate) details: Vec<Value>,
    /// `reset_seconds` of a structured quota body.
    pub(crate) reset_seconds: Option<u64>,
    /// `reset_time` of a structured quota body (Go duration).
    pub(crate) reset_time: Option<String>,
}

fn text_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn lossy_prefix(body: &[u8], max: usize) -> String {
    let cut = body.get(..max.min(body.len())).unwrap_or_default();
    String::from_utf8_lossy(cut).into_owned()
}

impl Facts {
    /// Reads an error body: JSON when it parses, otherwise its text.
    pub(crate) fn from_bytes(body: &[u8]) -> Facts {
        let trimmed = body.trim_ascii();
        if matches!(trimmed.first(), Some(b'{' | b'['))
            && let Ok(v) = serde_json::from_slice::<Value>(trimmed)
        {
            let mut f = Facts::from_value(&v);
            f.hay = lossy_prefix(trimmed, MAX_SCAN).to_lowercase();
            return f;
        }
        let text = lossy_prefix(trimmed, MAX_SCAN);
        Facts {
            hay: text.to_lowercase(),
            message: excerpt(&text, MAX_QUOTE),
            ..Facts::default()
        }
    }

    /// Reads the fields of an already parsed error envelope. `hay` is built from the fields.
    pub(crate) fn from_value(v: &Value) -> Facts {
        // Gemini without `alt=sse` wraps bodies in an array.
        let root = match v {
            Value::Array(items) => items.first().unwrap_or(v),
            _ => v,
        };
        let mut f = Facts::default();
        let Some(obj) = root.as_object() else {
            f.message = excerpt(&text_of(Some(root)), MAX_QUOTE);
            f.hay = f.message.to_lowercase();
            return f;
        };
        // The error object: `error`, or a failed Responses object's `response.error`.
        let err = match obj.get("error") {
            Some(e @ Value::Object(_)) => Some(e),
            Some(Value::String(s)) => {
                f.message = s.clone();
                None
            }
            _ => obj
                .get("response")
                .and_then(|r| r.get("error"))
                .filter(|e| e.is_object()),
        };
        if let Some(e) = err {
            f.err_type = text_of(e.get("type"));
            f.code = text_of(e.get("code"));
            f.status = text_of(e.get("status"));
            if f.message.is_empty() {
                f.message = text_of(e.get("message"));
            }
            if let Some(Value::Array(d)) = e.get("details") {
                f.details = d.clone();
            }
            f.reset_seconds = e.get("reset_seconds").and_then(reset_secs);
            f.reset_time = e
                .get("reset_time")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        // Top-level fields of vendor bodies (`{"code":…,"message":…}`) fill what is missing.
        // A top-level `type` is the Anthropic wrapper `error` or an event name, never the
        // error's own type, so it is not read.
        if f.code.is_empty() {
            f.code = text_of(obj.get("code"));
        }
        if f.status.is_empty() {
            f.status = text_of(obj.get("status"));
        }
        if f.message.is_empty() {
            for k in ["message", "msg", "detail", "error_msg"] {
                let m = text_of(obj.get(k));
                if !m.is_empty() {
                    f.message = m;
                    break;
                }
            }
        }
        if f.reset_seconds.is_none() {
            f.reset_seconds = obj.get("reset_seconds").and_then(reset_secs);
        }
        if f.reset_time.is_none() {
            f.reset_time = obj
                .get("reset_time")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        f.err_type = f.err_type.to_lowercase();
        f.code = f.code.to_lowercase();
        f.status = f.status.to_uppercase();
        f.hay = format!("{} {} {} {}", f.err_type, f.code, f.status, f.message).to_lowercase();
        f
    }

    /// Whether the type or code equals `name` (lower case).
    pub(crate) fn is(&self, name: &str) -> bool {
        self.err_type == name || self.code == name
    }

    /// Whether the lower-cased body contains any of `needles`.
    pub(crate) fn says(&self, needles: &[&str]) -> bool {
        needles.iter().any(|n| self.hay.contains(n))
    }

    /// A short quote of the upstream message for a reason.
    pub(crate) fn quote(&self) -> String {
        excerpt(&self.message, MAX_QUOTE)
    }

    /// `label: message` or `label` alone.
    pub(crate) fn reason(&self, label: &str) -> String {
        let mut r = label.to_owned();
        let what = if !self.err_type.is_empty() {
            &self.err_type
        } else {
            &self.code
        };
        if !what.is_empty() && !label.contains(what.as_str()) {
            r.push(' ');
            r.push_str(what);
        }
        let q = self.quote();
        if !q.is_empty() {
            r.push_str(": ");
            r.push_str(&q);
        }
        r
    }

    /// The google.rpc detail objects whose `@type` ends with `name`.
    fn detail(&self, name: &str) -> impl Iterator<Item = &Value> {
        self.details.iter().filter(move |d| {
            d.get("@type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with(name))
        })
    }

    /// Gemini `RetryInfo.retryDelay` in milliseconds.
    pub(crate) fn retry_info_ms(&self) -> Option<u64> {
        self.detail("google.rpc.RetryInfo")
            .find_map(|d| d.get("retryDelay").and_then(Value::as_str))
            .and_then(go_duration_ms)
    }

    /// Whether a `QuotaFailure` names a daily (or longer) limit.
    pub(crate) fn daily_quota_failure(&self) -> bool {
        self.detail("google.rpc.QuotaFailure").any(|d| {
            d.get("violations")
                .and_then(Value::as_array)
                .is_some_and(|vs| {
                    vs.iter().any(|v| {
                        ["quotaId", "quotaMetric"].iter().any(|k| {
                            v.get(*k).and_then(Value::as_str).is_some_and(|s| {
                                let s = s.to_ascii_lowercase();
                                s.contains("perday") || s.contains("per_day") || s.contains("daily")
                            })
                        })
                    })
                })
        })
    }

    /// Whether a google.rpc `ErrorInfo.reason` equals `reason`.
    pub(crate) fn error_info_reason(&self, reason: &str) -> bool {
        self.detail("google.rpc.ErrorInfo").any(|d| {
            d.get("reason")
                .and_then(Value::as_str)
                .is_some_and(|r| r.eq_ignore_ascii_case(reason))
        })
    }

    /// A delay written into the message: "retry in 59.4s", "try again in 1.574s", "retry
    /// after 30 seconds".
    pub(crate) fn message_delay_ms(&self) -> Option<u64> {
        let lower = self.message.to_lowercase();
        for marker in [
            "retry in ",
            "try again in ",
            "retry after ",
            "try again after ",
        ] {
            let Some(pos) = lower.find(marker) else {
                continue;
            };
            let rest = lower.get(pos + marker.len()..).unwrap_or_default();
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
                .collect();
            let word = word.trim_end_matches('.');
            if let Some(ms) = go_duration_ms(word) {
                return Some(ms);
            }
            if let Some(ms) = seconds_ms(word) {
                // "retry after 30 seconds" / "in 20 ms"
                let unit = rest.get(word.len()..).unwrap_or_default().trim_start();
                if unit.starts_with("ms") || unit.starts_with("millisecond") {
                    return Some(ms.div_ceil(1000));
                }
                if unit.starts_with("min") {
                    return Some(ms.saturating_mul(60));
                }
                return Some(ms);
            }
        }
        None
    }
}

fn reset_secs(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f.ceil() as u64)
        }),
        Value::String(s) => seconds_ms(s).map(|ms| ms.div_ceil(1000)),
        _ => None,
    }
}

/// `now + ms` as an exact deadline.
pub(crate) fn until(now_ms: u64, ms: u64) -> CooldownHint {
    CooldownHint::Until {
        unix_ms: now_ms.saturating_add(ms),
    }
}

/// Rule 1 and 2 of the body-only rules: quota and cooldown bodies that name their own end.
/// They decide whatever the HTTP status (including soft errors inside a 200).
pub(crate) fn fixed_deadline(f: &Facts, now_ms: u64, policy: &Policy) -> Option<Verdict> {
    let quota = |cooldown: CooldownHint, reason: String| {
        Some(Verdict::new(
            OutcomeKind::QuotaExhausted,
            Scope::Key,
            cooldown,
            429,
            reason,
        ))
    };
    let code_upper = f.code.to_uppercase();
    let type_upper = f.err_type.to_uppercase();
    let named = |name: &str| code_upper == name || type_upper == name;

    // 1308 / 1310: a usage limit with its reset time ("…将在 2025-12-09 18:08:11 重置").
    if f.is("1308") || f.is("1310") {
        let which = if f.is("1308") { "1308" } else { "1310" };
        return match find_local_datetime_ms(&f.message, policy.quota_reset_utc_offset_minutes) {
            Some(t) if t > now_ms => quota(
                CooldownHint::Until { unix_ms: t },
                f.reason(&format!("usage limit {which} until reset")),
            ),
            _ => quota(
                CooldownHint::Backoff {
                    first_ms: policy.quota_ms,
                },
                f.reason(&format!("usage limit {which}")),
            ),
        };
    }

    if named("MODEL_COOLDOWN") {
        let ms = f
            .reset_seconds
            .map(|s| s.saturating_mul(1000))
            .or_else(|| f.reset_time.as_deref().and_then(go_duration_ms));
        let cooldown = ms.map_or(
            CooldownHint::Backoff {
                first_ms: policy.model_ms,
            },
            |ms| until(now_ms, ms),
        );
        return Some(Verdict::new(
            OutcomeKind::RateLimited,
            Scope::Model,
            cooldown,
            429,
            f.reason("model cooldown"),
        ));
    }

    if named("API_KEY_QUOTA_EXHAUSTED")
        || named("FREE_TIER_BUDGET_EXCEEDED")
        || f.message.contains("FREE_TIER_BUDGET_EXCEEDED")
    {
        return quota(
            CooldownHint::Backoff {
                first_ms: policy.quota_ms,
            },
            f.reason("quota exhausted"),
        );
    }

    if named("DAILY_LIMIT_EXCEEDED")
        || (named("USAGE_LIMIT_EXCEEDED") && f.message.contains("DAILY_LIMIT_EXCEEDED"))
    {
        return quota(
            CooldownHint::Until {
                unix_ms: next_local_midnight_ms(now_ms, policy.quota_reset_utc_offset_minutes),
            },
            f.reason("daily limit until midnight"),
        );
    }

    // "…已达到用量上限…北京时间明天上午 9点30分 重置": Beijing time, whatever the policy says.
    if f.message.contains("用量上限")
        && f.message.contains("北京时间")
        && let Some((h, m)) = tomorrow_clock(&f.message)
    {
        return quota(
            CooldownHint::Until {
                unix_ms: tomorrow_at_ms(now_ms, 480, h, m),
            },
            f.reason("usage limit until tomorrow"),
        );
    }

    None
}

/// Reads "明天[凌晨|早上|上午|下午|晚上] H点[M分]" into (hour, minute).
fn tomorrow_clock(text: &str) -> Option<(u32, u32)> {
    let pos = text.find("明天")?;
    let mut rest = text.get(pos + "明天".len()..)?.trim_start();
    let mut pm = false;
    for word in ["凌晨", "早上", "上午", "中午", "下午", "晚上"] {
        if let Some(r) = rest.strip_prefix(word) {
            pm = matches!(word, "下午" | "晚上");
            rest = r.trim_start();
            break;
        }
    }
    let hour_digits: String = rest
        .chars()
        .take_while(char::is_ascii_digit)
        .take(2)
        .collect();
    let mut hour: u32 = hour_digits.parse().ok()?;
    rest = rest.get(hour_digits.len()..)?.trim_start();
    rest = rest.strip_prefix('点').or_else(|| rest.strip_prefix(':'))?;
    let min_digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .take(2)
        .collect();
    let minute: u32 = if min_digits.is_empty() {
        0
    } else {
        min_digits.parse().ok()?
    };
    if pm && hour < 12 {
        hour += 12;
    }
    (hour <= 23 && minute <= 59).then_some((hour, minute))
}

/// Rate-limit wording in a soft error or an ambiguous status.
pub(crate) fn says_rate_limited(f: &Facts) -> bool {
    [
        "rate_limit_error",
        "rate_limit_exceeded",
        "too_many_requests",
        "rate_limited",
        "ratelimit",
    ]
    .iter()
    .any(|n| f.is(n))
        || f.status == "RESOURCE_EXHAUSTED"
        || f.says(&[
            "rate limit",
            "rate-limit",
            "too many requests",
            "请求过于频繁",
            "频率限制",
        ])
}

/// Quota, balance and billing wording (not Gemini's per-minute "exceeded your current quota",
/// which [`crate::http_class`] decides from the `QuotaFailure` details).
pub(crate) fn says_quota(f: &Facts) -> bool {
    [
        "insufficient_quota",
        "billing_hard_limit_reached",
        "billing_not_active",
        "quota_exceeded",
        "insufficient_balance",
        "insufficient_user_quota",
    ]
    .iter()
    .any(|n| f.is(n))
        || f.says(&[
            "insufficient_quota",
            "billing",
            "credit balance",
            "insufficient balance",
            "余额不足",
            "额度不足",
            "额度已用尽",
        ])
}

/// Overload wording.
pub(crate) fn says_overloaded(f: &Facts) -> bool {
    [
        "overloaded_error",
        "server_is_overloaded",
        "service_unavailable_error",
        "1305",
    ]
    .iter()
    .any(|n| f.is(n))
        || f.status == "UNAVAILABLE"
        || f.says(&["overloaded", "负载过高", "load too high", "at capacity"])
}

/// Invalid-key wording (for 400s and soft errors).
pub(crate) fn says_invalid_key(f: &Facts) -> bool {
    f.is("invalid_api_key")
        || f.is("authentication_error")
        || f.error_info_reason("API_KEY_INVALID")
        || f.says(&[
            "invalid_api_key",
            "invalid api key",
            "incorrect api key",
            "malformed api key",
            "api key you provided is malformed",
            "api key not valid",
            "api_key_invalid",
        ])
}

/// Account-level bans: the whole channel is unusable, not one key.
pub(crate) fn says_account_disabled(f: &Facts) -> bool {
    f.says(&[
        "account suspended",
        "account disabled",
        "account banned",
        "account has been suspended",
        "account has been disabled",
        "account is suspended",
        "account is disabled",
        "account deactivated",
        "organization has been disabled",
        "service disabled",
        "unsupported_country",
    ])
}
