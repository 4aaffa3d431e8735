//! Usage extraction: what the upstream says it consumed, normalised across protocols.
//!
//! | Protocol | `input` | `cache_read` | `cache_write_*` | `output` | `reasoning` |
//! | --- | --- | --- | --- | --- | --- |
//! | Anthropic | `input_tokens` | `cache_read_input_tokens` | `cache_creation.ephemeral_{5m,1h}_input_tokens` (a bare `cache_creation_input_tokens` counts as 5m) | `output_tokens` | 0 (not reported) |
//! | OpenAI Chat | `prompt_tokens − cached_tokens − cache_creation_input_tokens` | `prompt_tokens_details.cached_tokens` (else DeepSeek `prompt_cache_hit_tokens`) | non-standard top-level `cache_creation_input_tokens` as 5m | `completion_tokens` | `completion_tokens_details.reasoning_tokens` |
//! | Responses | `input_tokens − cached_tokens` | `input_tokens_details.cached_tokens` | 0 | `output_tokens` | `output_tokens_details.reasoning_tokens` |
//! | Gemini | `promptTokenCount + toolUsePromptTokenCount − cachedContentTokenCount` | `cachedContentTokenCount` | 0 | `candidatesTokenCount + thoughtsTokenCount` | `thoughtsTokenCount` |
//!
//! `reasoning` is always a part of `output`, never added to it.

use relaygate_protocol::Protocol;
use relaygate_protocol::sse::SseEvent;

use crate::price::ServiceTier;
use relaygate_protocol::stream::is_heartbeat;
use serde_json::Value;

/// One normalised usage record.
///
/// Never double counts: `input` EXCLUDES cached tokens (for OpenAI and Gemini, whose prompt
/// totals include cached tokens, they are subtracted; Anthropic reports them beside input).
/// `output` includes `reasoning` (thinking) tokens; `reasoning` only says how many of them were
/// reasoning, for prices that bill reasoning differently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Uncached prompt tokens.
    pub input: u64,
    /// Generated tokens, reasoning included.
    pub output: u64,
    /// Prompt tokens read from a cache.
    pub cache_read: u64,
    /// Prompt tokens written to a cache that lives 5 minutes (Anthropic's default TTL).
    pub cache_write_5m: u64,
    /// Prompt tokens written to a cache that lives 1 hour.
    pub cache_write_1h: u64,
    /// The part of `output` that was reasoning.
    pub reasoning: u64,
    /// Whether some of these numbers are local estimates rather than the upstream's report.
    pub estimated: bool,
    /// The service tier the upstream says it used (`service_tier`, Vertex `trafficType`).
    pub service_tier: Option<ServiceTier>,
    /// The upstream's report held a count that is negative, not an integer, not a number or
    /// above [`MAX_PLAUSIBLE_TOKENS`]: the caller logs it and estimates locally instead.
    pub implausible: bool,
}

/// No single answer reports more tokens than this; a larger count is a broken report.
pub const MAX_PLAUSIBLE_TOKENS: u64 = 1_000_000_000;

/// Whether every token count in a usage object is a plausible non-negative integer. Keys that
/// name counts end in `tokens` or `TokenCount` (`prompt_tokens`, `cached_tokens`,
/// `ephemeral_5m_input_tokens`, `promptTokenCount`, Gemini's per-modality `tokenCount`);
/// `null` counts as absent. Nested objects and arrays are looked into, at most 4 deep.
fn plausible(v: &Value, depth: u8) -> bool {
    let count_ok = |x: &Value| match x {
        Value::Null => true,
        Value::Number(n) => n.as_u64().is_some_and(|c| c <= MAX_PLAUSIBLE_TOKENS),
        _ => false,
    };
    match v {
        Value::Object(m) => m.iter().all(|(k, x)| {
            let is_count = k.ends_with("tokens")
                || k.ends_with("Tokens")
                || k.ends_with("TokenCount")
                || k.ends_with("tokenCount");
            match x {
                Value::Object(_) | Value::Array(_) => depth < 4 && plausible(x, depth + 1),
                _ if is_count => count_ok(x),
                _ => true,
            }
        }),
        Value::Array(items) => items
            .iter()
            .all(|x| !x.is_object() || (depth < 4 && plausible(x, depth + 1))),
        _ => true,
    }
}

impl Usage {
    /// Every prompt token: uncached input, cache reads and cache writes.
    pub fn prompt_total(&self) -> u64 {
        self.input
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_write_5m)
            .saturating_add(self.cache_write_1h)
    }

    /// Prompt and output tokens together.
    pub fn total(&self) -> u64 {
        self.prompt_total().saturating_add(self.output)
    }
}

/// A token count as the upstream reported it, clamped into `u64`: negative numbers are 0, floats
/// are truncated and saturate (`1e300` is `u64::MAX`, as `as` casts do), so no report can make
/// the sums below wrap or panic; every sum of reported numbers saturates too.
fn u(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_i64().map(|i| i.max(0) as u64))
            .or_else(|| n.as_f64().map(|f| if f > 0.0 { f as u64 } else { 0 })),
        _ => None,
    }
}

fn path<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v, |v, k| v.get(k))
}

/// Anthropic `usage` object into `acc`: fields present overwrite (they are cumulative), except
/// that an `input_tokens` of 0 never erases a known input (some relays send 0 in `message_delta`).
fn merge_anthropic(acc: &mut Usage, usage: &Value) {
    if let Some(i) = u(usage.get("input_tokens"))
        && (i > 0 || acc.input == 0)
    {
        acc.input = i;
    }
    if let Some(o) = u(usage.get("output_tokens")) {
        acc.output = o;
    }
    if let Some(r) = u(usage.get("cache_read_input_tokens")) {
        acc.cache_read = r;
    }
    let total_write = u(usage.get("cache_creation_input_tokens"));
    match usage.get("cache_creation").filter(|c| c.is_object()) {
        Some(split) => {
            let m5 = u(split.get("ephemeral_5m_input_tokens")).unwrap_or(0);
            let h1 = u(split.get("ephemeral_1h_input_tokens")).unwrap_or(0);
            // A total larger than the split has tokens of no stated TTL: bill them at 5m.
            let rest = total_write
                .unwrap_or(0)
                .saturating_sub(m5.saturating_add(h1));
            acc.cache_write_5m = m5.saturating_add(rest);
            acc.cache_write_1h = h1;
        }
        None => {
            if let Some(t) = total_write {
                // Without a split, keep a 1h part learnt earlier in the stream (message_start
                // carries the split, message_delta only the total).
                let h1 = acc.cache_write_1h.min(t);
                acc.cache_write_1h = h1;
                acc.cache_write_5m = t - h1;
            }
        }
    }
    // Anthropic does not report reasoning separately; a relay may add a non-standard field.
    if let Some(r) = u(usage.get("reasoning_tokens")) {
        acc.reasoning = r;
    }
    acc.reasoning = acc.reasoning.min(acc.output);
    if let Some(Value::String(t)) = usage.get("service_tier") {
        acc.service_tier = Some(ServiceTier::from_wire(t));
    }
    acc.implausible |= !plausible(usage, 0);
}

/// OpenAI Chat or Responses `usage` object (both shapes are accepted whichever protocol).
fn openai_usage(usage: &Value) -> Option<Usage> {
    let chat = usage.get("prompt_tokens").is_some() || usage.get("completion_tokens").is_some();
    let (prompt, output, details_in, details_out) = if chat {
        (
            u(usage.get("prompt_tokens")),
            u(usage.get("completion_tokens")),
            "prompt_tokens_details",
            "completion_tokens_details",
        )
    } else {
        (
            u(usage.get("input_tokens")),
            u(usage.get("output_tokens")),
            "input_tokens_details",
            "output_tokens_details",
        )
    };
    if prompt.is_none() && output.is_none() {
        return None;
    }
    let prompt = prompt.unwrap_or(0);
    let cached = u(path(usage, &[details_in, "cached_tokens"]))
        .or_else(|| u(usage.get("prompt_cache_hit_tokens")))
        .or_else(|| u(usage.get("cache_read_input_tokens")))
        .unwrap_or(0)
        .min(prompt);
    let write = u(usage.get("cache_creation_input_tokens"))
        .unwrap_or(0)
        .min(prompt - cached);
    let output = output.unwrap_or(0);
    let reasoning = u(path(usage, &[details_out, "reasoning_tokens"]))
        .unwrap_or(0)
        .min(output);
    Some(Usage {
        input: prompt - cached - write,
        output,
        cache_read: cached,
        cache_write_5m: write,
        cache_write_1h: 0,
        reasoning,
        estimated: false,
        service_tier: None,
        implausible: !plausible(usage, 0),
    })
}

fn gemini_usage(meta: &Value) -> Option<Usage> {
    let prompt = u(meta.get("promptTokenCount"));
    let candidates = u(meta.get("candidatesTokenCount"));
    let thoughts = u(meta.get("thoughtsTokenCount")).unwrap_or(0);
    let tool_prompt = u(meta.get("toolUsePromptTokenCount")).unwrap_or(0);
    let total = u(meta.get("totalTokenCount"));
    if prompt.is_none() && candidates.is_none() && total.is_none() {
        return None;
    }
    let prompt = prompt.unwrap_or(0).saturating_add(tool_prompt);
    let output = match (candidates, total) {
        (Some(c), _) => c.saturating_add(thoughts),
        // Early stream chunks may carry no candidate count: what the total holds beyond the
        // prompt is output (thoughts included).
        (None, Some(t)) => t.saturating_sub(prompt).max(thoughts),
        (None, None) => thoughts,
    };
    let cached = u(meta.get("cachedContentTokenCount"))
        .unwrap_or(0)
        .min(prompt);
    Some(Usage {
        input: prompt - cached,
        output,
        cache_read: cached,
        reasoning: thoughts.min(output),
        service_tier: tier_of(meta.get("trafficType")),
        implausible: !plausible(meta, 0),
        ..Usage::default()
    })
}

/// The tier a `service_tier` (or `trafficType`) value names.
fn tier_of(v: Option<&Value>) -> Option<ServiceTier> {
    match v {
        Some(Value::String(t)) => Some(ServiceTier::from_wire(t)),
        _ => None,
    }
}

/// Usage from one already parsed non-stream body (or one stream chunk of the same shape).
fn usage_from_value(protocol: Protocol, v: &Value) -> Option<Usage> {
    match protocol {
        Protocol::Anthropic => {
            let usage = v
                .get("usage")
                .or_else(|| path(v, &["message", "usage"]))
                .filter(|u| u.is_object())?;
            let mut acc = Usage::default();
            merge_anthropic(&mut acc, usage);
            Some(acc)
        }
        Protocol::OpenAiChat | Protocol::OpenAiResponses => {
            let mut found = v
                .get("usage")
                .or_else(|| path(v, &["response", "usage"]))
                .filter(|u| u.is_object())
                .and_then(openai_usage)?;
            found.service_tier = tier_of(v.get("service_tier"))
                .or_else(|| tier_of(path(v, &["response", "service_tier"])));
            Some(found)
        }
        Protocol::Gemini => {
            let chunk = |c: &Value| {
                c.get("usageMetadata")
                    .or_else(|| path(c, &["response", "usageMetadata"]))
                    .filter(|u| u.is_object())
                    .and_then(gemini_usage)
            };
            if let Value::Array(items) = v {
                // `streamGenerateContent` without `alt=sse` answers one JSON array of chunks,
                // each with cumulative usage: the last one that has usage wins. Chunks are
                // objects; nested arrays are not looked into, so this never recurses.
                return items.iter().rev().find_map(chunk);
            }
            chunk(v)
        }
    }
}

/// Usage from a non-stream JSON response body of `protocol`.
///
/// Returns `None` when the body is not JSON or carries no usage (error bodies, blocked prompts).
/// For Gemini a JSON array of chunks (`streamGenerateContent` without `alt=sse`) is accepted.
pub fn usage_from_json(protocol: Protocol, body: &[u8]) -> Option<Usage> {
    let v: Value = serde_json::from_slice(body).ok()?;
    usage_from_value(protocol, &v)
}

/// Usage accumulated over a stream.
///
/// Feed every SSE event of one upstream answer to [`push`](Self::push); [`usage`](Self::usage)
/// gives the record so far, which at the end of the stream is the same record as the non-stream
/// response of the same answer would give. [`output_text_bytes`](Self::output_text_bytes)
/// counts the answer bytes seen (text, thinking, tool arguments) so that a cut stream can be
/// estimated with [`estimate_cut`].
#[derive(Debug, Clone)]
pub struct StreamUsage {
    protocol: Protocol,
    usage: Option<Usage>,
    text_bytes: u64,
    /// Chat chunks carry `service_tier` whether or not they carry usage.
    tier: Option<ServiceTier>,
}

impl StreamUsage {
    /// An empty accumulator for a stream in `protocol`.
    pub fn new(protocol: Protocol) -> Self {
        StreamUsage {
            protocol,
            usage: None,
            text_bytes: 0,
            tier: None,
        }
    }

    /// Takes one SSE event into account. Heartbeats, `[DONE]` and non-JSON events are ignored.
    pub fn push(&mut self, ev: &SseEvent) {
        let data = ev.data.trim();
        if data.is_empty() || data == "[DONE]" || is_heartbeat(ev) {
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            return;
        };
        match self.protocol {
            Protocol::Anthropic => self.push_anthropic(&v),
            Protocol::OpenAiChat => self.push_chat(&v),
            Protocol::OpenAiResponses => self.push_responses(ev, &v),
            Protocol::Gemini => self.push_gemini(&v),
        }
    }

    /// The usage so far; `None` until the upstream sent any usage.
    pub fn usage(&self) -> Option<Usage> {
        self.usage.map(|mut u| {
            u.service_tier = u.service_tier.or(self.tier);
            u
        })
    }

    /// The service tier the stream reported so far (also known when it reported no usage).
    pub fn service_tier(&self) -> Option<ServiceTier> {
        self.usage.and_then(|u| u.service_tier).or(self.tier)
    }

    /// The bytes of answer text (text, reasoning, refusals, tool-call arguments) seen so far.
    pub fn output_text_bytes(&self) -> u64 {
        self.text_bytes
    }

    fn add_text(&mut self, s: Option<&Value>) {
        if let Some(Value::String(s)) = s {
            self.text_bytes = self.text_bytes.saturating_add(s.len() as u64);
        }
    }

    fn push_anthropic(&mut self, v: &Value) {
        let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
        match ty {
            "message_start" => {
                if let Some(usage) = path(v, &["message", "usage"]).filter(|u| u.is_object()) {
                    let mut acc = Usage::default();
                    merge_anthropic(&mut acc, usage);
                    self.usage = Some(acc);
                }
            }
            "message_delta" => {
                if let Some(usage) = v.get("usage").filter(|u| u.is_object()) {
                    let mut acc = self.usage.unwrap_or_default();
                    merge_anthropic(&mut acc, usage);
                    self.usage = Some(acc);
                }
            }
            "content_block_delta" => {
                if let Some(d) = v.get("delta") {
                    self.add_text(d.get("text"));
                    self.add_text(d.get("thinking"));
                    self.add_text(d.get("partial_json"));
                }
            }
            "content_block_start" => {
                if let Some(b) = v.get("content_block") {
                    self.add_text(b.get("text"));
                    self.add_text(b.get("thinking"));
                }
            }
            _ => {}
        }
    }

    fn push_chat(&mut self, v: &Value) {
        if let Some(t) = tier_of(v.get("service_tier")) {
            self.tier = Some(t);
        }
        if let Some(usage) = v.get("usage").filter(|u| u.is_object())
            && let Some(found) = openai_usage(usage)
        {
            // Some vendors repeat cumulative usage on every chunk: the last one wins.
            self.usage = Some(found);
        }
        if let Some(Value::Array(choices)) = v.get("choices") {
            for c in choices {
                let Some(d) = c.get("delta") else { continue };
                self.add_text(d.get("content"));
                self.add_text(d.get("reasoning_content"));
                self.add_text(d.get("reasoning"));
                self.add_text(d.get("refusal"));
                if let Some(Value::Array(calls)) = d.get("tool_calls") {
                    for call in calls {
                        self.add_text(path(call, &["function", "name"]));
                        self.add_text(path(call, &["function", "arguments"]));
                    }
                }
            }
        }
    }

    fn push_responses(&mut self, ev: &SseEvent, v: &Value) {
        let ty = v
            .get("type")
            .and_then(Value::as_str)
            .or(ev.event.as_deref())
            .unwrap_or("");
        match ty {
            "response.completed" | "response.incomplete" | "response.failed" | "response.done" => {
                if let Some(found) = path(v, &["response", "usage"])
                    .filter(|u| u.is_object())
                    .and_then(openai_usage)
                {
                    self.usage = Some(found);
                }
                if let Some(t) = tier_of(path(v, &["response", "service_tier"])) {
                    self.tier = Some(t);
                }
            }
            "response.output_text.delta"
            | "response.refusal.delta"
            | "response.reasoning_text.delta"
            | "response.reasoning_summary_text.delta"
            | "response.function_call_arguments.delta"
            | "response.custom_tool_call_input.delta" => self.add_text(v.get("delta")),
            _ => {}
        }
    }

    fn push_gemini(&mut self, v: &Value) {
        if let Some(found) = v
            .get("usageMetadata")
            .filter(|u| u.is_object())
            .and_then(gemini_usage)
        {
            self.usage = Some(found);
        }
        if let Some(Value::Array(cands)) = v.get("candidates") {
            for c in cands {
                let Some(Value::Array(parts)) = path(c, &["content", "parts"]) else {
                    continue;
                };
                for p in parts {
                    self.add_text(p.get("text"));
                    if let Some(call) = p.get("functionCall") {
                        self.add_text(call.get("name"));
                        if let Some(args) = call.get("args") {
                            let len = args.to_string().len() as u64;
                            self.text_bytes = self.text_bytes.saturating_add(len);
                        }
                    }
                }
            }
        }
    }
}

/// The rough token count of `bytes` bytes of text: one token per 4 bytes, rounded up.
pub fn estimate_tokens_from_bytes(bytes: u64) -> u64 {
    bytes.div_ceil(4)
}

/// Estimate for a cut stream, or for an answer whose usage is missing or implausible: the
/// usage reported so far, with input filled from `input_estimate` when the upstream reported no
/// prompt tokens, and output raised to the estimate from `output_text_bytes` (4 bytes a token)
/// when the upstream reported fewer tokens than the text already seen (Anthropic reports
/// `output_tokens: 1` at the start). An implausible report is replaced by the local figures
/// whole (its tier is kept). Always marked `estimated`.
pub fn estimate_cut(partial: Option<Usage>, input_estimate: u64, output_text_bytes: u64) -> Usage {
    let mut usage = match partial {
        Some(p) if p.implausible => Usage {
            service_tier: p.service_tier,
            implausible: true,
            ..Usage::default()
        },
        Some(p) => p,
        None => Usage::default(),
    };
    if usage.prompt_total() == 0 {
        usage.input = input_estimate;
    }
    usage.output = usage
        .output
        .max(estimate_tokens_from_bytes(output_text_bytes));
    usage.reasoning = usage.reasoning.min(usage.output);
    usage.estimated = true;
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_cached_tokens_are_subtracted() {
        let body = br#"{"usage":{"prompt_tokens":100,"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":3}}}"#;
        let got = usage_from_json(Protocol::OpenAiChat, body);
        assert_eq!(
            got,
            Some(Usage {
                input: 36,
                output: 7,
                cache_read: 64,
                reasoning: 3,
                ..Usage::default()
            })
        );
    }

    #[test]
    fn anthropic_bare_creation_total_is_5m() {
        let body =
            br#"{"usage":{"input_tokens":3,"cache_creation_input_tokens":50,"output_tokens":2}}"#;
        let got = usage_from_json(Protocol::Anthropic, body).map(|u| (u.cache_write_5m, u.input));
        assert_eq!(got, Some((50, 3)));
    }

    #[test]
    fn anthropic_stream_keeps_the_1h_split_and_never_double_counts() {
        let mut s = StreamUsage::new(Protocol::Anthropic);
        s.push(&SseEvent::named(
            "message_start",
            r#"{"type":"message_start","message":{"usage":{"input_tokens":10,"cache_read_input_tokens":7,"cache_creation_input_tokens":150,"cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":50},"output_tokens":1}}}"#,
        ));
        s.push(&SseEvent::named(
            "message_delta",
            r#"{"type":"message_delta","usage":{"input_tokens":0,"cache_creation_input_tokens":150,"output_tokens":42}}"#,
        ));
        let u = s.usage().unwrap_or_default();
        assert_eq!(
            (
                u.input,
                u.cache_read,
                u.cache_write_5m,
                u.cache_write_1h,
                u.output
            ),
            (10, 7, 100, 50, 42)
        );
        assert_eq!(u.prompt_total(), 10 + 7 + 150);
        // A split smaller than the total: the rest is billed as 5m.
        let body = br#"{"usage":{"input_tokens":1,"cache_creation_input_tokens":30,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":20}}}"#;
        let u = usage_from_json(Protocol::Anthropic, body).unwrap_or_default();
        assert_eq!((u.cache_write_5m, u.cache_write_1h), (10, 20));
    }

    #[test]
    fn relayed_cache_creation_in_openai_shape_is_not_input() {
        // ccLoad-style conversion: prompt = input + cache read + cache creation.
        let body = br#"{"usage":{"prompt_tokens":100,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":30},"cache_creation_input_tokens":50}}"#;
        let u = usage_from_json(Protocol::OpenAiChat, body).unwrap_or_default();
        assert_eq!((u.input, u.cache_read, u.cache_write_5m), (20, 30, 50));
    }

    #[test]
    fn gemini_cached_content_is_subtracted() {
        let body = br#"{"usageMetadata":{"promptTokenCount":1000,"cachedContentTokenCount":800,"candidatesTokenCount":5,"thoughtsTokenCount":10,"totalTokenCount":1015}}"#;
        let u = usage_from_json(Protocol::Gemini, body).unwrap_or_default();
        assert_eq!(
            (u.input, u.cache_read, u.output, u.reasoning),
            (200, 800, 15, 10)
        );
        assert_eq!(u.total(), 1015);
    }

    #[test]
    fn absurd_reported_numbers_saturate_and_never_panic() {
        let max = u64::MAX;
        // (protocol, body, expected usage)
        let cases: &[(Protocol, String, Usage)] = &[
            (
                Protocol::Anthropic,
                format!(
                    r#"{{"usage":{{"input_tokens":{max},"output_tokens":{max},"cache_read_input_tokens":{max},
                    "cache_creation_input_tokens":{max},
                    "cache_creation":{{"ephemeral_5m_input_tokens":{max},"ephemeral_1h_input_tokens":{max}}}}}}}"#
                ),
                Usage {
                    input: max,
                    output: max,
                    cache_read: max,
                    cache_write_5m: max,
                    cache_write_1h: max,
                    ..Usage::default()
                },
            ),
            (
                Protocol::Anthropic,
                r#"{"usage":{"input_tokens":-5,"output_tokens":1e300,"cache_read_input_tokens":-1e300}}"#
                    .into(),
                Usage {
                    output: max,
                    ..Usage::default()
                },
            ),
            (
                Protocol::OpenAiChat,
                format!(
                    r#"{{"usage":{{"prompt_tokens":{max},"completion_tokens":-5,
                    "prompt_tokens_details":{{"cached_tokens":1e300}},"cache_creation_input_tokens":{max},
                    "completion_tokens_details":{{"reasoning_tokens":{max}}}}}}}"#
                ),
                Usage {
                    cache_read: max,
                    ..Usage::default()
                },
            ),
            (
                Protocol::OpenAiResponses,
                r#"{"usage":{"input_tokens":3.7,"output_tokens":18446744073709551616}}"#.into(),
                Usage {
                    input: 3,
                    output: max,
                    ..Usage::default()
                },
            ),
            (
                Protocol::Gemini,
                format!(
                    r#"{{"usageMetadata":{{"promptTokenCount":{max},"toolUsePromptTokenCount":{max},
                    "candidatesTokenCount":{max},"thoughtsTokenCount":{max},"cachedContentTokenCount":-5}}}}"#
                ),
                Usage {
                    input: max,
                    output: max,
                    reasoning: max,
                    ..Usage::default()
                },
            ),
            (
                Protocol::Gemini,
                format!(r#"{{"usageMetadata":{{"totalTokenCount":{max},"thoughtsTokenCount":{max}}}}}"#),
                Usage {
                    output: max,
                    reasoning: max,
                    ..Usage::default()
                },
            ),
        ];
        for (protocol, body, want) in cases {
            let got = usage_from_json(*protocol, body.as_bytes());
            // Every one of these reports is flagged: the caller estimates locally instead.
            assert!(got.is_some_and(|u| u.implausible), "{protocol}: {body}");
            let got = got.map(|u| Usage {
                implausible: false,
                ..u
            });
            assert_eq!(got, Some(*want), "{protocol}: {body}");
            let got = got.unwrap_or_default();
            // Totals over saturated fields saturate as well.
            assert!(got.total() >= got.prompt_total());
            // The same numbers through the stream accumulator, twice (sums across events).
            let mut s = StreamUsage::new(*protocol);
            let ev = match protocol {
                Protocol::Anthropic => {
                    let inner = &body[r#"{"usage":"#.len()..body.len() - 1];
                    SseEvent::named(
                        "message_delta",
                        format!(r#"{{"type":"message_delta","usage":{inner}}}"#),
                    )
                }
                Protocol::OpenAiResponses => SseEvent::named(
                    "response.completed",
                    format!(r#"{{"type":"response.completed","response":{body}}}"#),
                ),
                _ => SseEvent::data(body.clone()),
            };
            s.push(&ev);
            s.push(&ev);
            assert!(s.usage().is_some(), "{protocol}: {body}");
        }
        let cut = estimate_cut(
            Some(Usage {
                output: max,
                ..Usage::default()
            }),
            max,
            max,
        );
        assert_eq!(cut.output, max);
    }

    #[test]
    fn implausible_reports_are_flagged_and_replaced_by_estimates() {
        let cases: &[(Protocol, &str, bool)] = &[
            (
                Protocol::OpenAiChat,
                r#"{"usage":{"prompt_tokens":10,"completion_tokens":5}}"#,
                false,
            ),
            (
                Protocol::OpenAiChat,
                r#"{"usage":{"prompt_tokens":-1,"completion_tokens":5}}"#,
                true,
            ),
            (
                Protocol::OpenAiChat,
                r#"{"usage":{"prompt_tokens":"10","completion_tokens":5}}"#,
                true,
            ),
            (
                Protocol::OpenAiChat,
                r#"{"usage":{"prompt_tokens":10,"completion_tokens":1000000001}}"#,
                true,
            ),
            (
                Protocol::OpenAiChat,
                r#"{"usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":null}}}"#,
                false,
            ),
            (
                Protocol::OpenAiChat,
                r#"{"usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":2.5}}}"#,
                true,
            ),
            (
                Protocol::Anthropic,
                r#"{"usage":{"input_tokens":10,"output_tokens":5,"cache_creation":{"ephemeral_1h_input_tokens":-3}}}"#,
                true,
            ),
            (
                Protocol::Gemini,
                r#"{"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"promptTokensDetails":[{"modality":"TEXT","tokenCount":10}]}}"#,
                false,
            ),
            (
                Protocol::Gemini,
                r#"{"usageMetadata":{"promptTokenCount":10,"promptTokensDetails":[{"modality":"TEXT","tokenCount":"x"}]}}"#,
                true,
            ),
        ];
        for (p, body, bad) in cases {
            let u = usage_from_json(*p, body.as_bytes()).unwrap();
            assert_eq!(u.implausible, *bad, "{p}: {body}");
            let est = estimate_cut(Some(u), 42, 40);
            assert!(est.estimated);
            if *bad {
                // Local figures, whole: 42 input, 40 bytes / 4 output.
                assert_eq!(
                    (est.input, est.output, est.cache_read),
                    (42, 10, 0),
                    "{body}"
                );
            }
        }
    }

    #[test]
    fn service_tiers_are_read_where_each_protocol_reports_them() {
        use crate::ServiceTier;
        let json = [
            (
                Protocol::OpenAiChat,
                r#"{"service_tier":"priority","usage":{"prompt_tokens":1,"completion_tokens":1}}"#,
                ServiceTier::Priority,
            ),
            (
                Protocol::OpenAiResponses,
                r#"{"service_tier":"flex","usage":{"input_tokens":1,"output_tokens":1}}"#,
                ServiceTier::Flex,
            ),
            (
                Protocol::Anthropic,
                r#"{"usage":{"input_tokens":1,"output_tokens":1,"service_tier":"batch"}}"#,
                ServiceTier::Batch,
            ),
            (
                Protocol::Gemini,
                r#"{"usageMetadata":{"promptTokenCount":1,"trafficType":"ON_DEMAND_PRIORITY"}}"#,
                ServiceTier::Priority,
            ),
            (
                Protocol::OpenAiChat,
                r#"{"service_tier":"warp","usage":{"prompt_tokens":1,"completion_tokens":1}}"#,
                ServiceTier::Unknown,
            ),
        ];
        for (p, body, tier) in json {
            assert_eq!(
                usage_from_json(p, body.as_bytes()).unwrap().service_tier,
                Some(tier),
                "{body}"
            );
        }
        // A Chat stream without usage still tells its tier; with usage, the usage carries it.
        let mut s = StreamUsage::new(Protocol::OpenAiChat);
        s.push(&SseEvent::data(
            r#"{"service_tier":"priority","choices":[{"delta":{"content":"hi"}}]}"#,
        ));
        assert_eq!(
            (s.usage(), s.service_tier()),
            (None, Some(ServiceTier::Priority))
        );
        s.push(&SseEvent::data(r#"{"service_tier":"priority","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#));
        assert_eq!(s.usage().unwrap().service_tier, Some(ServiceTier::Priority));
        let mut s = StreamUsage::new(Protocol::OpenAiResponses);
        s.push(&SseEvent::named("response.completed", r#"{"type":"response.completed","response":{"service_tier":"flex","usage":{"input_tokens":3,"output_tokens":1}}}"#));
        assert_eq!(s.usage().unwrap().service_tier, Some(ServiceTier::Flex));
    }

    #[test]
    fn nested_gemini_arrays_are_not_walked() {
        // A deep array of arrays: only the top level holds chunks, so this is a plain `None`.
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(usage_from_json(Protocol::Gemini, deep.as_bytes()), None);
        let nested = r#"[[{"usageMetadata":{"promptTokenCount":1}}]]"#;
        assert_eq!(usage_from_json(Protocol::Gemini, nested.as_bytes()), None);
        let flat = r#"[{"usageMetadata":{"promptTokenCount":1}}]"#;
        assert!(usage_from_json(Protocol::Gemini, flat.as_bytes()).is_some());
    }

    #[test]
    fn estimate_cut_fills_gaps() {
        let got = estimate_cut(None, 120, 41);
        assert_eq!((got.input, got.output, got.estimated), (120, 11, true));
        let partial = Usage {
            input: 5,
            output: 1,
            ..Usage::default()
        };
        let got = estimate_cut(Some(partial), 999, 8);
        assert_eq!((got.input, got.output), (5, 2));
    }
}
