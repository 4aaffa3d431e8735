//! Wire-level pieces of the four LLM API protocols relaygate speaks:
//! Anthropic Messages, OpenAI Chat Completions, OpenAI Responses and Gemini `generateContent`.
//!
//! This crate is sans-IO: it is fed bytes and returns values, and it never reads a clock,
//! opens a socket or spawns a task.
//! It holds what every other crate needs to know about the wire and nothing about routing:
//!
//! - [`sse`]: a streaming Server-Sent Events decoder (any chunking of the input gives the same
//!   events) and encoder, with bounded buffers.
//! - [`peek`]: reads only the routing fields of a request body (model, stream flag) without
//!   building a JSON tree, and rewrites the model while keeping every other byte.
//! - [`errors`]: each protocol's error envelope, for whole responses and for mid-stream events,
//!   so the gateway answers errors in the client's own format.
//! - [`stream`]: per-protocol knowledge of stream events (terminal markers, heartbeats).
//!
//! It depends on `serde`, `serde_json`, `memchr` and `thiserror` only, so it can be embedded by
//! another service without pulling in an async runtime.
#![deny(missing_docs)]

pub mod errors;
pub mod peek;
pub mod sse;
pub mod stream;

use std::fmt;
use std::str::FromStr;

/// Errors raised by the wire helpers of this crate.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// One SSE event (or one line of it) grew past the decoder's limit.
    #[error("SSE event exceeds the limit of {limit} bytes")]
    SseEventTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// The request body is not valid JSON.
    #[error("invalid JSON body: {0}")]
    InvalidJson(String),
    /// The request body is JSON but not an object.
    #[error("request body must be a JSON object")]
    NotAnObject,
    /// The request body nests arrays and objects as deep as the limit or deeper.
    #[error("request body nests {limit} levels deep or more")]
    TooDeep {
        /// The nesting that is refused.
        limit: usize,
    },
}

/// One of the four wire protocols, as spoken by a client or by a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// Anthropic Messages (`POST /v1/messages`).
    Anthropic,
    /// OpenAI Chat Completions (`POST /v1/chat/completions`), also spoken by many compatible vendors.
    OpenAiChat,
    /// OpenAI Responses (`POST /v1/responses`), as used by Codex CLI.
    OpenAiResponses,
    /// Google Gemini (`:generateContent` / `:streamGenerateContent`).
    Gemini,
}

impl Protocol {
    /// Every protocol, in a stable order.
    pub const ALL: [Protocol; 4] = [
        Protocol::Anthropic,
        Protocol::OpenAiChat,
        Protocol::OpenAiResponses,
        Protocol::Gemini,
    ];

    /// The configuration name: `anthropic`, `openai`, `responses` or `gemini`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Anthropic => "anthropic",
            Protocol::OpenAiChat => "openai",
            Protocol::OpenAiResponses => "responses",
            Protocol::Gemini => "gemini",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned when a protocol name is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol {0:?}: expected anthropic, openai, responses or gemini")]
pub struct UnknownProtocol(pub String);

impl FromStr for Protocol {
    type Err = UnknownProtocol;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "anthropic" | "claude" | "messages" => Ok(Protocol::Anthropic),
            "openai" | "chat" | "openai_chat" | "openai-chat" => Ok(Protocol::OpenAiChat),
            "responses" | "codex" | "openai_responses" | "openai-responses" => {
                Ok(Protocol::OpenAiResponses)
            }
            "gemini" | "google" => Ok(Protocol::Gemini),
            _ => Err(UnknownProtocol(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_round_trip() {
        for p in Protocol::ALL {
            assert_eq!(p.as_str().parse::<Protocol>(), Ok(p));
        }
        assert_eq!("codex".parse::<Protocol>(), Ok(Protocol::OpenAiResponses));
        assert!("grpc".parse::<Protocol>().is_err());
    }
}
