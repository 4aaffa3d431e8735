//! Upstream event decoders, one per protocol.

pub(crate) mod anthropic;
pub(crate) mod chat;
pub(crate) mod gemini;
pub(crate) mod responses;

use relaygate_protocol::errors::ErrorKind;
use relaygate_protocol::sse::SseEvent;
use serde_json::Value;

use crate::ir::{Delta, StreamError};

/// The event's JSON payload, or `None` for empty and non-JSON data (comments, keep-alives).
pub(crate) fn payload(event: &SseEvent) -> Option<Value> {
    let d = event.data.trim();
    if d.is_empty() || d == "[DONE]" {
        return None;
    }
    serde_json::from_str(d).ok()
}

/// A mid-stream error in whatever shape it came.
pub(crate) fn error_delta(kind: ErrorKind, message: impl Into<String>) -> Delta {
    Delta::Error(StreamError {
        kind,
        message: message.into(),
    })
}
