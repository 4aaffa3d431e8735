//! Pure protocol translation between the four LLM wire protocols relaygate speaks:
//! Anthropic Messages, OpenAI Chat Completions, OpenAI Responses and Gemini `generateContent`.
//!
//! # What it is
//!
//! - [`convert_request`]: a client request body to an upstream request body.
//! - [`convert_response`]: an upstream non-stream JSON body to the client's JSON body.
//! - [`stream_converter`]: a stateful converter fed one upstream SSE event at a time that emits
//!   the client protocol's complete event sequence (start, blocks, deltas, finish, usage,
//!   terminator), including at EOF when the upstream never sent its own terminator.
//! - [`convert_error`]: an upstream error body to the client's error envelope.
//!
//! Everything goes through an owned intermediate representation (hub and spoke): each protocol
//! has one decoder and one encoder per direction. Whatever the target protocol cannot express is
//! reported as a [`Loss`] next to the converted value, so the caller can log it.
//!
//! Thinking signatures travel across protocols: an Anthropic `signature`, a Gemini
//! `thoughtSignature` and a Responses `encrypted_content` are handed to a client of another
//! family tagged with their origin (`rg.<family>.` prefix), and restored when that client sends
//! them back toward an upstream of the same family. A signature is never sent to an upstream of
//! another family. The data of an Anthropic `redacted_thinking` block travels as
//! `rg.anthropic.redacted.<data>` so it comes back as `redacted_thinking`.
//!
//! OpenAI Chat and Responses upstreams reject function names outside `^[a-zA-Z0-9_-]{1,64}$`;
//! such names are renamed deterministically, and [`tool_name_table`] with
//! [`convert_response_with_tool_names`] / [`stream_converter_with_tool_names`] restores them.
//!
//! # What it is not
//!
//! It does no I/O, reads no clock and spawns nothing: no HTTP, no routing, no retries, no URL
//! building (for a Gemini upstream the caller builds `/v1beta/models/{model}:…` itself).
//! Timestamps in generated bodies come from the upstream when it sent one, else `0`.
//!
//! # Example
//!
//! ```
//! use relaygate_protocol::sse::SseEvent;
//! use relaygate_transform::{
//!     Protocol, RequestOptions, ResponseOptions, convert_request, stream_converter,
//! };
//!
//! // An OpenAI Chat client talking to an Anthropic upstream.
//! let body = br#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
//! let req = convert_request(
//!     Protocol::OpenAiChat,
//!     Protocol::Anthropic,
//!     body,
//!     &RequestOptions { upstream_model: "claude-sonnet-4-5".into(), stream: true },
//! )?;
//! let upstream: serde_json::Value = serde_json::from_slice(&req.value)?;
//! assert_eq!(upstream["model"], "claude-sonnet-4-5");
//! assert_eq!(upstream["messages"][0]["content"][0]["text"], "hi");
//!
//! // The upstream's stream, event by event.
//! let opts = ResponseOptions { client_model: "gpt-4o".into(), id_seed: "req42".into() };
//! let mut conv = stream_converter(Protocol::Anthropic, Protocol::OpenAiChat, &opts);
//! let mut out = Vec::new();
//! conv.push(&SseEvent::named("content_block_delta",
//!     r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#),
//!     &mut out)?;
//! conv.finish(&mut out)?; // EOF without message_stop: the client still gets a clean end.
//! assert!(out.iter().any(|e| e.data.contains("Hello")));
//! assert_eq!(out.last().map(|e| e.data.as_str()), Some("[DONE]"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod errors;
mod ir;
mod request;
mod response;
pub mod schema;
mod stream;
mod util;

pub use errors::{convert_error, error_kind};
pub use relaygate_protocol::Protocol;
pub use relaygate_protocol::sse::SseEvent;

/// Everything that can go wrong while translating.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The body is not valid JSON.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// The body is JSON but its shape is not one the protocol allows.
    #[error("unsupported {protocol} shape: {reason}")]
    Unsupported {
        /// The protocol whose body was being read.
        protocol: Protocol,
        /// What was wrong.
        reason: String,
    },
    /// The request holds nothing to send (no turns, no system text, no tools).
    #[error("the request holds no messages")]
    EmptyRequest,
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::InvalidJson(e.to_string())
    }
}

/// Request-side context.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestOptions {
    /// The model to ask the upstream for (after any redirect).
    pub upstream_model: String,
    /// Whether the upstream should stream.
    pub stream: bool,
}

/// Response-side context.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseOptions {
    /// The model name the client asked for; responses show it.
    pub client_model: String,
    /// A seed for unique ids (e.g. the gateway request id).
    pub id_seed: String,
}

/// A converted value plus what could not be expressed in the target protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted<T> {
    /// The converted value.
    pub value: T,
    /// Fields of the source that the target cannot carry, in the order they were met.
    pub losses: Vec<Loss>,
}

/// One field of the source that the target protocol cannot carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    /// The source field, as a dotted path (e.g. `frequency_penalty`, `tools[web_search]`).
    pub field: String,
    /// Why it was dropped.
    pub reason: &'static str,
}

/// Client body -> upstream body (JSON bytes).
///
/// For a Gemini upstream the model and stream flag are not in the body (the caller builds
/// `/v1beta/models/{model}:streamGenerateContent?alt=sse`); for an OpenAI Chat upstream with
/// `stream` set, `stream_options.include_usage` is set so usage arrives. Same protocol on both
/// sides returns the input bytes unchanged.
pub fn convert_request(
    client: Protocol,
    upstream: Protocol,
    body: &[u8],
    opts: &RequestOptions,
) -> Result<Converted<Vec<u8>>, Error> {
    if client == upstream {
        return Ok(Converted {
            value: body.to_vec(),
            losses: Vec::new(),
        });
    }
    request::convert(client, upstream, body, opts)
}

/// The tools [`convert_request`] renames for `upstream`, as `(upstream name, client name)`
/// pairs, for [`convert_response_with_tool_names`] and [`stream_converter_with_tool_names`].
///
/// OpenAI Chat and Responses upstreams only accept function names matching
/// `^[a-zA-Z0-9_-]{1,64}$`; other names are sanitised and shortened deterministically (kept
/// prefix plus a hash). `body` is the client's request body, as given to [`convert_request`].
/// The table is empty when nothing is renamed, for other upstreams, when both sides speak the
/// same protocol and when the body cannot be read.
pub fn tool_name_table(client: Protocol, upstream: Protocol, body: &[u8]) -> Vec<(String, String)> {
    if client == upstream {
        return Vec::new();
    }
    request::tool_name_table(client, upstream, body)
}

/// Upstream non-stream JSON body -> client JSON body.
///
/// An upstream that streamed although asked not to (an SSE body) is aggregated first.
/// Same protocol on both sides returns the input bytes unchanged.
pub fn convert_response(
    upstream: Protocol,
    client: Protocol,
    body: &[u8],
    opts: &ResponseOptions,
) -> Result<Converted<Vec<u8>>, Error> {
    if client == upstream {
        return Ok(Converted {
            value: body.to_vec(),
            losses: Vec::new(),
        });
    }
    response::convert(upstream, client, body, opts, &[])
}

/// [`convert_response`] that also gives renamed tools back their client names.
///
/// `tool_names` holds `(upstream name, client name)` pairs, as [`tool_name_table`] returns them
/// for the client's request: a call the upstream made under the first name reaches the client
/// under the second. Names not in the table are left as the upstream sent them.
pub fn convert_response_with_tool_names(
    upstream: Protocol,
    client: Protocol,
    body: &[u8],
    opts: &ResponseOptions,
    tool_names: &[(String, String)],
) -> Result<Converted<Vec<u8>>, Error> {
    if client == upstream {
        return Ok(Converted {
            value: body.to_vec(),
            losses: Vec::new(),
        });
    }
    response::convert(upstream, client, body, opts, tool_names)
}

/// A stateful stream converter.
///
/// Fed one upstream SSE event at a time, it appends the client events that are ready to `out`.
/// [`StreamConverter::finish`] is called once at the clean end of the upstream stream and emits
/// whatever the client protocol needs to terminate properly if the upstream did not.
pub trait StreamConverter: Send {
    /// Converts one upstream event.
    fn push(&mut self, event: &SseEvent, out: &mut Vec<SseEvent>) -> Result<(), Error>;
    /// Ends the stream (clean EOF of the upstream).
    fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), Error>;
    /// What the client protocol could not carry so far (empty for identity).
    fn losses(&self) -> Vec<Loss> {
        Vec::new()
    }
}

/// A converter from `upstream` stream events to `client` stream events.
///
/// Same protocol on both sides passes events through unchanged.
pub fn stream_converter(
    upstream: Protocol,
    client: Protocol,
    opts: &ResponseOptions,
) -> Box<dyn StreamConverter> {
    if upstream == client {
        return Box::new(stream::Identity);
    }
    stream::converter(upstream, client, opts, &[])
}

/// [`stream_converter`] that also gives renamed tools back their client names.
///
/// `tool_names` is as for [`convert_response_with_tool_names`].
pub fn stream_converter_with_tool_names(
    upstream: Protocol,
    client: Protocol,
    opts: &ResponseOptions,
    tool_names: &[(String, String)],
) -> Box<dyn StreamConverter> {
    if upstream == client {
        return Box::new(stream::Identity);
    }
    stream::converter(upstream, client, opts, tool_names)
}
