//! Error bodies: upstream envelope -> client envelope, keeping the message.

use relaygate_protocol::errors::{ErrorKind, error_body};
use serde_json::Value;

use crate::Protocol;
use crate::util::s;

/// The kind named by an error `type`, `code` or Gemini `status` string.
pub(crate) fn kind_from_name(name: &str) -> Option<ErrorKind> {
    Some(match name {
        "invalid_request_error"
        | "INVALID_ARGUMENT"
        | "FAILED_PRECONDITION"
        | "OUT_OF_RANGE"
        | "unsupported_parameter"
        | "invalid_value"
        | "context_length_exceeded" => ErrorKind::InvalidRequest,
        "authentication_error" | "invalid_api_key" | "UNAUTHENTICATED" | "authentication" => {
            ErrorKind::Authentication
        }
        "permission_error" | "PERMISSION_DENIED" | "permission" | "billing_error" => {
            ErrorKind::PermissionDenied
        }
        "not_found_error" | "not_found" | "NOT_FOUND" | "model_not_found" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::RequestTooLarge,
        "rate_limit_error"
        | "rate_limit_exceeded"
        | "RESOURCE_EXHAUSTED"
        | "insufficient_quota"
        | "tokens"
        | "requests" => ErrorKind::RateLimited,
        "api_error" | "server_error" | "INTERNAL" | "UNKNOWN" | "DATA_LOSS" => ErrorKind::Internal,
        "overloaded_error" | "UNAVAILABLE" | "server_is_overloaded" | "slow_down" => {
            ErrorKind::Unavailable
        }
        "timeout_error" | "timeout" | "DEADLINE_EXCEEDED" => ErrorKind::Timeout,
        _ => return None,
    })
}

/// The kind for an HTTP status.
pub(crate) fn kind_from_status(status: u16) -> ErrorKind {
    match status {
        401 => ErrorKind::Authentication,
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        413 => ErrorKind::RequestTooLarge,
        429 => ErrorKind::RateLimited,
        408 | 504 => ErrorKind::Timeout,
        502 => ErrorKind::BadGateway,
        503 | 529 => ErrorKind::Unavailable,
        s if s >= 500 => ErrorKind::Internal,
        _ => ErrorKind::InvalidRequest,
    }
}

/// Message and kind of an error envelope in any of the four shapes.
pub(crate) fn read_error(v: &Value) -> (Option<String>, Option<ErrorKind>) {
    let err = v.get("error").unwrap_or(v);
    let message = s(err, "message").map(str::to_owned);
    // Prefer the specific code, then the type, then Gemini's status.
    let kind = [s(err, "code"), s(err, "type"), s(err, "status")]
        .into_iter()
        .flatten()
        .find_map(kind_from_name);
    (message, kind)
}

/// The error kind of an upstream error answer, from its body, else from its status.
pub fn error_kind(
    upstream: Protocol,
    status: u16,
    body: &[u8],
) -> relaygate_protocol::errors::ErrorKind {
    let _ = upstream;
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| read_error(&v).1)
        .unwrap_or_else(|| kind_from_status(status))
}

/// Upstream error body (any status) -> client error body in the client's shape.
///
/// The message is kept; the type or status is mapped through
/// [`relaygate_protocol::errors::ErrorKind`] (the specific upstream type wins over the HTTP
/// status). The two OpenAI protocols share one envelope, so between them and for identical
/// protocols the body is returned unchanged. A body that is not a JSON error envelope becomes
/// the message itself (cut to 2000 bytes).
pub fn convert_error(upstream: Protocol, client: Protocol, status: u16, body: &[u8]) -> Vec<u8> {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let openai = |p| matches!(p, Protocol::OpenAiChat | Protocol::OpenAiResponses);
    if (upstream == client || (openai(upstream) && openai(client)))
        && parsed.as_ref().is_some_and(|v| v.get("error").is_some())
    {
        return body.to_vec();
    }
    let (message, kind) = parsed.as_ref().map(read_error).unwrap_or((None, None));
    let message = message.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let mut t: String = text.trim().chars().take(2000).collect();
        if t.is_empty() {
            t = format!("upstream answered HTTP {status}");
        }
        t
    });
    error_body(
        client,
        kind.unwrap_or_else(|| kind_from_status(status)),
        &message,
    )
}

/// The client-shaped event for a mid-stream error.
pub(crate) fn stream_error(
    client: Protocol,
    kind: ErrorKind,
    message: &str,
    sequence_number: u64,
) -> relaygate_protocol::sse::SseEvent {
    use relaygate_protocol::sse::SseEvent;
    let body = String::from_utf8_lossy(&error_body(client, kind, message)).into_owned();
    match client {
        Protocol::Anthropic => SseEvent::named("error", body),
        Protocol::OpenAiChat | Protocol::Gemini => SseEvent::data(body),
        Protocol::OpenAiResponses => {
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let code = v["error"]["code"]
                .as_str()
                .or(v["error"]["type"].as_str())
                .unwrap_or("server_error")
                .to_owned();
            SseEvent::named(
                "error",
                serde_json::json!({
                    "type": "error",
                    "code": code,
                    "message": message,
                    "param": null,
                    "sequence_number": sequence_number,
                })
                .to_string(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(up: Protocol, client: Protocol, status: u16, body: &str) -> Value {
        serde_json::from_slice(&convert_error(up, client, status, body.as_bytes())).unwrap()
    }

    #[test]
    fn overloaded_anthropic_becomes_each_shape() {
        let body = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let o = conv(Protocol::Anthropic, Protocol::OpenAiChat, 529, body);
        assert_eq!(o["error"]["message"], "Overloaded");
        assert_eq!(o["error"]["type"], "server_error");
        let g = conv(Protocol::Anthropic, Protocol::Gemini, 529, body);
        assert_eq!(g["error"]["status"], "UNAVAILABLE");
        assert_eq!(g["error"]["code"], 503);
    }

    #[test]
    fn gemini_rate_limit_to_anthropic() {
        let body = r#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}"#;
        let a = conv(Protocol::Gemini, Protocol::Anthropic, 429, body);
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "rate_limit_error");
        assert_eq!(a["error"]["message"], "quota");
    }

    #[test]
    fn non_json_body_keeps_text_and_status() {
        let a = conv(
            Protocol::OpenAiChat,
            Protocol::Anthropic,
            502,
            "bad gateway",
        );
        assert_eq!(a["error"]["message"], "bad gateway");
        assert_eq!(a["error"]["type"], "api_error");
    }
}
