//! The owned intermediate representation every conversion goes through.

use serde_json::Value;

use crate::Protocol;

/// Which vendor minted an opaque reasoning blob; blobs only go back to the same vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Anthropic,
    Gemini,
    OpenAi,
}

impl Family {
    pub(crate) fn of(p: Protocol) -> Family {
        match p {
            Protocol::Anthropic => Family::Anthropic,
            Protocol::Gemini => Family::Gemini,
            Protocol::OpenAiChat | Protocol::OpenAiResponses => Family::OpenAi,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Family::Anthropic => "anthropic",
            Family::Gemini => "gemini",
            Family::OpenAi => "openai",
        }
    }
}

/// The marker after `rg.<family>.` that flags a whole redacted (encrypted) reasoning block
/// (Anthropic `redacted_thinking`); vendor blobs are base64 and never contain a dot.
const REDACTED: &str = "redacted.";

/// An opaque reasoning signature with its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sig {
    pub family: Family,
    pub value: String,
    /// The blob is a whole redacted reasoning block (Anthropic `redacted_thinking` data), not
    /// the signature of visible reasoning text.
    pub redacted: bool,
}

impl Sig {
    pub(crate) fn new(family: Family, value: impl Into<String>) -> Sig {
        Sig {
            family,
            value: value.into(),
            redacted: false,
        }
    }

    /// The data of a redacted reasoning block minted by `family`.
    pub(crate) fn redacted(family: Family, value: impl Into<String>) -> Sig {
        Sig {
            redacted: true,
            ..Sig::new(family, value)
        }
    }

    /// Reads a signature a client of `client` sent: tagged values keep their tagged origin
    /// (and their redacted marker).
    pub(crate) fn parse(client: Protocol, raw: &str) -> Sig {
        for fam in [Family::Anthropic, Family::Gemini, Family::OpenAi] {
            let prefix = format!("rg.{}.", fam.tag());
            if let Some(rest) = raw.strip_prefix(&prefix) {
                return match rest.strip_prefix(REDACTED) {
                    Some(data) => Sig::redacted(fam, data),
                    None => Sig::new(fam, rest),
                };
            }
        }
        Sig::new(Family::of(client), raw)
    }

    /// The string to hand to a client of protocol `client`.
    pub(crate) fn for_client(&self, client: Protocol) -> String {
        if Family::of(client) == self.family {
            self.value.clone()
        } else if self.redacted {
            format!("rg.{}.{REDACTED}{}", self.family.tag(), self.value)
        } else {
            format!("rg.{}.{}", self.family.tag(), self.value)
        }
    }

    /// The value to send upstream, only when the upstream minted it.
    pub(crate) fn for_upstream(&self, upstream: Protocol) -> Option<&str> {
        (Family::of(upstream) == self.family).then_some(self.value.as_str())
    }
}

/// Token counts in canonical form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// All prompt tokens, cache included.
    pub input: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    /// All output tokens, reasoning included.
    pub output: u64,
    pub reasoning: u64,
}

impl Usage {
    pub(crate) fn total(&self) -> u64 {
        // Upstream numbers are untrusted: an absurd report saturates instead of wrapping.
        self.input.saturating_add(self.output)
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    Stop,
    StopSequence,
    Length,
    ToolCalls,
    ContentFilter,
    Refusal,
    PauseTurn,
}

impl Finish {
    /// Stop with tool calls means tool calls; tool calls without any call means stop.
    pub(crate) fn effective(self, has_tool_calls: bool) -> Finish {
        match (self, has_tool_calls) {
            (Finish::Stop, true) => Finish::ToolCalls,
            (Finish::ToolCalls, false) => Finish::Stop,
            (f, _) => f,
        }
    }

    pub(crate) fn anthropic(self) -> &'static str {
        match self {
            Finish::Stop => "end_turn",
            Finish::StopSequence => "stop_sequence",
            Finish::Length => "max_tokens",
            Finish::ToolCalls => "tool_use",
            Finish::ContentFilter | Finish::Refusal => "refusal",
            Finish::PauseTurn => "pause_turn",
        }
    }

    pub(crate) fn from_anthropic(s: &str) -> Finish {
        match s {
            "stop_sequence" => Finish::StopSequence,
            "max_tokens" | "model_context_window_exceeded" => Finish::Length,
            "tool_use" => Finish::ToolCalls,
            "refusal" => Finish::Refusal,
            "pause_turn" => Finish::PauseTurn,
            _ => Finish::Stop,
        }
    }

    pub(crate) fn openai(self) -> &'static str {
        match self {
            Finish::Stop | Finish::StopSequence | Finish::PauseTurn => "stop",
            Finish::Length => "length",
            Finish::ToolCalls => "tool_calls",
            Finish::ContentFilter | Finish::Refusal => "content_filter",
        }
    }

    pub(crate) fn from_openai(s: &str) -> Finish {
        match s {
            "length" => Finish::Length,
            "tool_calls" | "function_call" => Finish::ToolCalls,
            "content_filter" => Finish::ContentFilter,
            _ => Finish::Stop,
        }
    }

    pub(crate) fn gemini(self) -> &'static str {
        match self {
            Finish::Length => "MAX_TOKENS",
            Finish::ContentFilter | Finish::Refusal => "SAFETY",
            _ => "STOP",
        }
    }

    pub(crate) fn from_gemini(s: &str) -> Finish {
        match s {
            "MAX_TOKENS" => Finish::Length,
            "SAFETY"
            | "RECITATION"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT" => Finish::ContentFilter,
            _ => Finish::Stop,
        }
    }

    /// Responses `status` and `incomplete_details.reason`.
    pub(crate) fn responses(self) -> (&'static str, Option<&'static str>) {
        match self {
            Finish::Length => ("incomplete", Some("max_output_tokens")),
            Finish::ContentFilter | Finish::Refusal => ("incomplete", Some("content_filter")),
            _ => ("completed", None),
        }
    }

    pub(crate) fn from_responses(status: &str, reason: Option<&str>) -> Finish {
        match (status, reason) {
            ("incomplete", Some("content_filter")) => Finish::ContentFilter,
            ("incomplete", _) => Finish::Length,
            _ => Finish::Stop,
        }
    }
}

/// Where media bytes live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Media {
    Url(String),
    Base64 { mime: String, data: String },
    FileId(String),
}

/// One tool call, in a request history or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text (may be invalid JSON when the model was cut off).
    pub arguments: String,
    /// A Gemini-style signature attached to the call itself.
    pub signature: Option<Sig>,
}

/// One piece of content.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    Text {
        text: String,
        /// Anthropic `cache_control`, kept for Anthropic upstreams.
        cache_control: Option<Value>,
    },
    Image {
        media: Media,
        detail: Option<String>,
    },
    Document {
        media: Media,
        filename: Option<String>,
    },
    /// An Anthropic `document` whose source is plain text (`{"type": "text", ...}`).
    TextDocument {
        text: String,
        title: Option<String>,
        context: Option<String>,
        cache_control: Option<Value>,
    },
    ToolCall(ToolCall),
    ToolResult {
        call_id: String,
        name: Option<String>,
        content: Vec<Part>,
        is_error: bool,
    },
    Reasoning {
        text: String,
        signature: Option<Sig>,
        /// Anthropic `redacted_thinking` (the data is in `signature`).
        redacted: bool,
    },
}

impl Part {
    pub(crate) fn text(t: impl Into<String>) -> Part {
        Part::Text {
            text: t.into(),
            cache_control: None,
        }
    }

    /// A text document as a plain text part (title, context and body separated by blank lines),
    /// for upstreams without a text-document type; other parts are returned unchanged.
    pub(crate) fn flatten_text_document(self) -> Part {
        match self {
            Part::TextDocument {
                text,
                title,
                context,
                cache_control,
            } => Part::Text {
                text: [title, context, Some(text)]
                    .into_iter()
                    .flatten()
                    .filter(|x| !x.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n\n"),
                cache_control,
            },
            Part::ToolResult {
                call_id,
                name,
                content,
                is_error,
            } => Part::ToolResult {
                call_id,
                name,
                content: content
                    .into_iter()
                    .map(Part::flatten_text_document)
                    .collect(),
                is_error,
            },
            other => other,
        }
    }
}

/// Who speaks a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A system or developer message in the middle of the conversation.
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Turn {
    pub role: Role,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tool {
    Function {
        name: String,
        description: Option<String>,
        schema: Value,
        strict: Option<bool>,
        cache_control: Option<Value>,
    },
    /// A hosted web search tool (`web_search`, `googleSearch`, `web_search_20250305`).
    WebSearch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToolChoice {
    Auto,
    None,
    Required,
    Named(String),
}

/// Thinking configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Thinking {
    Enabled {
        budget: Option<u64>,
    },
    Disabled,
    /// Anthropic `adaptive` (the model decides).
    Adaptive,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ResponseFormat {
    JsonObject,
    JsonSchema {
        name: String,
        schema: Value,
        strict: Option<bool>,
    },
}

/// A whole request.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Request {
    pub system: Vec<Part>,
    pub turns: Vec<Turn>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub thinking: Option<Thinking>,
    pub effort: Option<String>,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub stop: Vec<String>,
    pub seed: Option<i64>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
    pub user: Option<String>,
    pub response_format: Option<ResponseFormat>,
}

/// Thinking budget for an effort level (spec 6.1).
pub(crate) fn effort_budget(effort: &str) -> Option<u64> {
    match effort {
        "none" => None,
        "minimal" | "low" => Some(1024),
        "high" => Some(16384),
        "xhigh" | "max" => Some(32768),
        _ => Some(4096),
    }
}

/// Effort level for a thinking budget (spec 6.1).
pub(crate) fn budget_effort(budget: u64) -> &'static str {
    match budget {
        b if b >= 16384 => "high",
        b if b >= 4096 => "medium",
        0 => "medium",
        _ => "low",
    }
}

impl Request {
    /// The effort to ask for, from an explicit effort or the thinking budget.
    pub(crate) fn effective_effort(&self) -> Option<String> {
        if let Some(e) = &self.effort {
            return Some(e.clone());
        }
        match &self.thinking {
            Some(Thinking::Enabled { budget }) => {
                Some(budget_effort(budget.unwrap_or(0)).to_owned())
            }
            Some(Thinking::Adaptive) => Some("medium".to_owned()),
            Some(Thinking::Disabled) => Some("none".to_owned()),
            None => None,
        }
    }

    /// The thinking config, derived from the effort when only an effort was given.
    pub(crate) fn effective_thinking(&self) -> Option<Thinking> {
        if let Some(t) = &self.thinking {
            return Some(t.clone());
        }
        let e = self.effort.as_deref()?;
        Some(match effort_budget(e) {
            Some(b) => Thinking::Enabled { budget: Some(b) },
            None => Thinking::Disabled,
        })
    }
}

/// A part of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OutPart {
    Text(String),
    Reasoning {
        text: String,
        signature: Option<Sig>,
        redacted: bool,
    },
    ToolCall(ToolCall),
    Image {
        mime: String,
        data: String,
    },
}

/// A whole non-stream response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Response {
    pub id: Option<String>,
    pub model: Option<String>,
    pub created: Option<u64>,
    pub parts: Vec<OutPart>,
    pub finish: Option<Finish>,
    pub usage: Usage,
}

impl Response {
    pub(crate) fn has_tool_calls(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, OutPart::ToolCall(_)))
    }

    pub(crate) fn finish_or_default(&self) -> Finish {
        self.finish
            .unwrap_or(Finish::Stop)
            .effective(self.has_tool_calls())
    }
}

/// What went wrong in a stream, in protocol-neutral terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamError {
    pub kind: relaygate_protocol::errors::ErrorKind,
    pub message: String,
}

/// One decoded upstream stream event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delta {
    /// Upstream metadata (first event).
    Meta {
        id: Option<String>,
        model: Option<String>,
        created: Option<u64>,
    },
    Text(String),
    Reasoning(String),
    /// Ends the current reasoning block with its signature.
    ReasoningSignature(Sig),
    /// A whole redacted (encrypted) reasoning block.
    RedactedReasoning(Sig),
    /// A new tool call; `key` identifies it among the upstream's calls.
    ToolStart {
        key: usize,
        id: Option<String>,
        name: String,
        signature: Option<Sig>,
    },
    ToolArgs {
        key: usize,
        fragment: String,
    },
    ToolEnd {
        key: usize,
    },
    Image {
        mime: String,
        data: String,
    },
    /// Cumulative usage so far.
    Usage(Usage),
    Finish(Finish),
    Error(StreamError),
    /// The upstream's normal terminator.
    Done,
}
