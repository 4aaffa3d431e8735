//! What the events of each protocol's stream mean to a proxy that does not translate them:
//! which event ends a stream normally, and which events are only heartbeats.

use crate::Protocol;
use crate::sse::SseEvent;

/// Whether `event` is the protocol's normal end-of-stream marker.
///
/// Anthropic ends with `message_stop`, OpenAI Chat with `data: [DONE]`, Responses with
/// `response.completed` (or `response.incomplete`), and Gemini with a chunk whose candidate
/// carries a `finishReason`.
pub fn is_terminal(protocol: Protocol, event: &SseEvent) -> bool {
    match protocol {
        Protocol::Anthropic => event.event.as_deref() == Some("message_stop"),
        Protocol::OpenAiChat => event.data.trim() == "[DONE]",
        Protocol::OpenAiResponses => matches!(
            event.event.as_deref(),
            Some("response.completed" | "response.incomplete")
        ),
        Protocol::Gemini => event.data.contains("\"finishReason\""),
    }
}

/// Whether `event` carries nothing but liveness (Anthropic `ping`).
pub fn is_heartbeat(event: &SseEvent) -> bool {
    event.event.as_deref() == Some("ping")
        || event.data.trim() == r#"{"type": "ping"}"#
        || event.data.trim() == r#"{"type":"ping"}"#
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_markers() {
        assert!(is_terminal(
            Protocol::Anthropic,
            &SseEvent::named("message_stop", "{}")
        ));
        assert!(!is_terminal(
            Protocol::Anthropic,
            &SseEvent::named("message_delta", "{}")
        ));
        assert!(is_terminal(Protocol::OpenAiChat, &SseEvent::data("[DONE]")));
        assert!(!is_terminal(Protocol::OpenAiChat, &SseEvent::data("{}")));
        assert!(is_terminal(
            Protocol::OpenAiResponses,
            &SseEvent::named("response.completed", "{}")
        ));
        assert!(is_terminal(
            Protocol::Gemini,
            &SseEvent::data(r#"{"candidates":[{"finishReason":"STOP"}]}"#)
        ));
        assert!(!is_terminal(
            Protocol::Gemini,
            &SseEvent::data(r#"{"candidates":[]}"#)
        ));
    }

    #[test]
    fn heartbeats() {
        assert!(is_heartbeat(&SseEvent::named(
            "ping",
            r#"{"type": "ping"}"#
        )));
        assert!(!is_heartbeat(&SseEvent::named("content_block_delta", "{}")));
    }
}
