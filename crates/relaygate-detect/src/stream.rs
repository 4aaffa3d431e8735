//! The events and end-of-stream steps of the pipeline for SSE answers.

use relaygate_protocol::Protocol;
use relaygate_protocol::sse::SseEvent;
use relaygate_protocol::stream::is_heartbeat;
use serde_json::Value;

use crate::facts::Facts;
use crate::soft::{classify_soft, classify_text_error, is_error_envelope, load_warning};
use crate::{CooldownHint, OutcomeKind, Policy, Scope, Verdict};

/// What a [`StreamProbe`] knows after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeState {
    /// No real content yet: the attempt may still fail over invisibly.
    Pending,
    /// Real content arrived (now or earlier): commit the stream to the client.
    Content,
    /// This event is an error. Before content the attempt fails over; after content the caller
    /// ends the stream cleanly and logs the verdict.
    Failed(Verdict),
}

/// Watches one upstream SSE stream: fed every event, it says when the first real content
/// arrives and whether an event is an error.
///
/// Real content is anything the client would want to see:
///
/// - Anthropic: a `content_block_start` of a tool or other non-text block, or with initial
///   text; a non-empty `text_delta`/`thinking_delta`, any `input_json_delta` or other delta
///   except a bare `signature_delta`; a `message_delta` stopping for `max_tokens` or `refusal`.
/// - OpenAI Chat: a choice delta (or message) with non-empty `content`, `reasoning_content`,
///   `reasoning` or `refusal`, `tool_calls` or `function_call`, or `text`; a `finish_reason` of
///   `length` or `content_filter`.
/// - Responses: a non-empty `*.delta`, an output item that is not a message or reasoning (a
///   tool call), a `*.done` with text, a terminal `response.completed`/`response.incomplete`
///   whose `output` is not empty, or any `response.incomplete`.
/// - Gemini: a part with non-empty `text` (thoughts included), `functionCall`,
///   `functionResponse`, `inlineData`, `fileData`, `executableCode` or `codeExecutionResult`;
///   a `promptFeedback.blockReason`; a `finishReason` other than `STOP`.
///
/// The terminal reasons in that list (blocked prompt, safety, token limit) count as content
/// because they are the upstream's final answer: another channel would answer the same, and
/// failing over would replace the explanation with a gateway error.
///
/// An error is an `event: error`, a payload with a non-null top-level `error`, a payload of
/// `type: "error"` or `"response.failed"` (or an `event: response.failed`), or a data line
/// that starts with a plain-text load warning. Its inner error is classified like a soft
/// error body. Heartbeats (`ping`) change nothing.
#[derive(Debug, Clone)]
pub struct StreamProbe {
    protocol: Protocol,
    policy: Policy,
    content: bool,
    failure: Option<Verdict>,
}

impl StreamProbe {
    /// A probe for a stream in the upstream's `protocol`.
    pub fn new(protocol: Protocol, policy: Policy) -> Self {
        StreamProbe {
            protocol,
            policy,
            content: false,
            failure: None,
        }
    }

    /// Feeds one upstream event. See [`StreamProbe`] for what counts as content and error.
    pub fn event(&mut self, event: &SseEvent, now_ms: u64) -> ProbeState {
        let name = event.event.as_deref();
        let named_error = matches!(name, Some("error" | "response.failed"));
        let data = event.data.trim();
        let json_like = matches!(data.as_bytes().first(), Some(b'{' | b'['));
        // After content only errors matter: events that cannot hold one are not parsed.
        let parse = json_like
            && (named_error
                || !self.content
                || data.contains("\"error\"")
                || data.contains("response.failed"));
        let parsed = if parse {
            serde_json::from_str::<Value>(data).ok()
        } else {
            None
        };
        let failed = match &parsed {
            Some(v) => {
                let root = match v {
                    Value::Array(items) => items.first().unwrap_or(v),
                    other => other,
                };
                (named_error || is_error_envelope(root))
                    .then(|| classify_soft(&Facts::from_value(root), now_ms, &self.policy))
            }
            None if named_error => Some(classify_text_error(data, &self.policy)),
            None if !json_like => load_warning(data.as_bytes(), &self.policy),
            None => None,
        };
        if let Some(v) = failed {
            if self.failure.is_none() {
                self.failure = Some(v.clone());
            }
            return ProbeState::Failed(v);
        }
        if !self.content
            && !is_heartbeat(event)
            && parsed.as_ref().is_some_and(|v| self.content_in(name, v))
        {
            self.content = true;
        }
        if self.content {
            ProbeState::Content
        } else {
            ProbeState::Pending
        }
    }

    /// Whether real content has been seen.
    pub fn saw_content(&self) -> bool {
        self.content
    }

    /// The verdict at the end of the stream: the first error event seen (if any), else
    /// [`OutcomeKind::EmptyResponse`] when the stream carried no content or tool call, else
    /// `None` (a good stream).
    pub fn eos(&self) -> Option<Verdict> {
        if let Some(v) = &self.failure {
            return Some(v.clone());
        }
        (!self.content).then(|| {
            Verdict::new(
                OutcomeKind::EmptyResponse,
                Scope::Channel,
                CooldownHint::Backoff {
                    first_ms: self.policy.server_ms,
                },
                502,
                format!(
                    "the {} stream ended without any content",
                    self.protocol.as_str()
                ),
            )
        })
    }

    fn content_in(&self, name: Option<&str>, v: &Value) -> bool {
        match self.protocol {
            Protocol::Anthropic => anthropic_content(name, v),
            Protocol::OpenAiChat => chat_content(v),
            Protocol::OpenAiResponses => responses_content(name, v),
            Protocol::Gemini => match v {
                Value::Array(items) => items.iter().any(gemini_content),
                other => gemini_content(other),
            },
        }
    }
}

fn non_empty_str(v: Option<&Value>) -> bool {
    match v {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        _ => false,
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The event type: the payload's `type`, else the `event:` name.
fn kind_of<'a>(name: Option<&'a str>, v: &'a Value) -> &'a str {
    let t = str_of(v, "type");
    if t.is_empty() {
        name.unwrap_or_default()
    } else {
        t
    }
}

fn anthropic_content(name: Option<&str>, v: &Value) -> bool {
    match kind_of(name, v) {
        "content_block_start" => {
            let Some(block) = v.get("content_block") else {
                return false;
            };
            match str_of(block, "type") {
                "text" => non_empty_str(block.get("text")),
                "thinking" => non_empty_str(block.get("thinking")),
                _ => true,
            }
        }
        "content_block_delta" => {
            let Some(delta) = v.get("delta") else {
                return false;
            };
            match str_of(delta, "type") {
                "text_delta" => non_empty_str(delta.get("text")),
                "thinking_delta" => non_empty_str(delta.get("thinking")),
                "signature_delta" => false,
                _ => true,
            }
        }
        "message_start" => v
            .get("message")
            .is_some_and(|m| non_empty_str(m.get("content"))),
        "message_delta" => matches!(
            v.get("delta")
                .map(|d| str_of(d, "stop_reason"))
                .unwrap_or_default(),
            "max_tokens" | "refusal" | "model_context_window_exceeded"
        ),
        _ => false,
    }
}

fn chat_content(v: &Value) -> bool {
    let Some(choices) = v.get("choices").and_then(Value::as_array) else {
        return false;
    };
    choices.iter().any(|c| {
        let part = |d: &Value| {
            [
                "content",
                "reasoning_content",
                "reasoning",
                "refusal",
                "tool_calls",
            ]
            .iter()
            .any(|k| non_empty_str(d.get(*k)))
                || d.get("function_call").is_some_and(Value::is_object)
        };
        c.get("delta").is_some_and(part)
            || c.get("message").is_some_and(part)
            || non_empty_str(c.get("text"))
            || matches!(str_of(c, "finish_reason"), "length" | "content_filter")
    })
}

fn responses_content(name: Option<&str>, v: &Value) -> bool {
    let kind = kind_of(name, v);
    match kind {
        "response.output_item.added" | "response.output_item.done" => {
            v.get("item")
                .is_some_and(|item| match str_of(item, "type") {
                    "message" => {
                        item.get("content")
                            .and_then(Value::as_array)
                            .is_some_and(|parts| {
                                parts.iter().any(|p| {
                                    non_empty_str(p.get("text")) || non_empty_str(p.get("refusal"))
                                })
                            })
                    }
                    "reasoning" | "" => false,
                    _ => true,
                })
        }
        "response.completed" | "response.done" => v
            .get("response")
            .is_some_and(|r| non_empty_str(r.get("output"))),
        "response.incomplete" => true,
        k if k.ends_with(".delta") => match v.get("delta") {
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Null) | None => false,
            Some(_) => true,
        },
        k if k.ends_with(".done") => {
            non_empty_str(v.get("text")) || non_empty_str(v.get("arguments"))
        }
        _ => false,
    }
}

fn gemini_content(v: &Value) -> bool {
    if v.get("promptFeedback")
        .is_some_and(|p| non_empty_str(p.get("blockReason")))
    {
        return true;
    }
    let Some(candidates) = v.get("candidates").and_then(Value::as_array) else {
        return false;
    };
    candidates.iter().any(|c| {
        let parts = c
            .get("content")
            .and_then(|content| content.get("parts"))
            .and_then(Value::as_array);
        let has_part = parts.is_some_and(|parts| {
            parts.iter().any(|p| {
                non_empty_str(p.get("text"))
                    || [
                        "functionCall",
                        "functionResponse",
                        "inlineData",
                        "fileData",
                        "executableCode",
                        "codeExecutionResult",
                    ]
                    .iter()
                    .any(|k| p.get(*k).is_some_and(|x| !x.is_null()))
            })
        });
        let reason = str_of(c, "finishReason");
        has_part
            || !(reason.is_empty() || reason == "STOP" || reason == "FINISH_REASON_UNSPECIFIED")
    })
}
