//! Error envelopes of each protocol, so every error the gateway itself produces reaches the
//! client in the shape its SDK parses.
//!
//! | kind | HTTP | Anthropic `error.type` | OpenAI `error.type` / `code` | Gemini `status` |
//! |---|---|---|---|---|
//! | [`ErrorKind::InvalidRequest`] | 400 | `invalid_request_error` | `invalid_request_error` | `INVALID_ARGUMENT` |
//! | [`ErrorKind::Authentication`] | 401 | `authentication_error` | `invalid_request_error` / `invalid_api_key` | `UNAUTHENTICATED` (reason `API_KEY_INVALID`) |
//! | [`ErrorKind::PermissionDenied`] | 403 | `permission_error` | `permission_error` | `PERMISSION_DENIED` |
//! | [`ErrorKind::NotFound`] | 404 | `not_found_error` | `invalid_request_error` / `not_found` | `NOT_FOUND` |
//! | [`ErrorKind::RequestTooLarge`] | 413 | `request_too_large` | `invalid_request_error` / `request_too_large` | `INVALID_ARGUMENT` |
//! | [`ErrorKind::RateLimited`] | 429 | `rate_limit_error` | `rate_limit_error` / `rate_limit_exceeded` | `RESOURCE_EXHAUSTED` |
//! | [`ErrorKind::Internal`] | 500 | `api_error` | `server_error` | `INTERNAL` |
//! | [`ErrorKind::BadGateway`] | 502 | `api_error` | `server_error` | `UNAVAILABLE` |
//! | [`ErrorKind::Unavailable`] | 503 | `overloaded_error` | `server_error` | `UNAVAILABLE` |
//! | [`ErrorKind::Timeout`] | 504 | `timeout_error` | `server_error` / `timeout` | `DEADLINE_EXCEEDED` |

use serde_json::json;

use crate::Protocol;
use crate::sse::SseEvent;

/// What went wrong, independent of any protocol's spelling of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request itself is malformed.
    InvalidRequest,
    /// Missing or wrong gateway token.
    Authentication,
    /// The token may not do this (model or channel not allowed).
    PermissionDenied,
    /// Unknown route or model.
    NotFound,
    /// The request body is over the configured limit.
    RequestTooLarge,
    /// A client-side limit was hit.
    RateLimited,
    /// A bug or unexpected condition inside the gateway.
    Internal,
    /// Upstreams failed or answered something unusable.
    BadGateway,
    /// No channel could take the request.
    Unavailable,
    /// An upstream did not answer in time.
    Timeout,
    /// The client was too slow sending its request (head or body).
    ClientTimeout,
}

impl ErrorKind {
    /// The HTTP status the gateway answers with.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::RequestTooLarge => 413,
            ErrorKind::RateLimited => 429,
            ErrorKind::Internal => 500,
            ErrorKind::BadGateway => 502,
            ErrorKind::Unavailable => 503,
            ErrorKind::Timeout => 504,
            ErrorKind::ClientTimeout => 408,
        }
    }

    fn anthropic_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::PermissionDenied => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::RequestTooLarge => "request_too_large",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::Internal | ErrorKind::BadGateway => "api_error",
            ErrorKind::Unavailable => "overloaded_error",
            ErrorKind::Timeout => "timeout_error",
            ErrorKind::ClientTimeout => "invalid_request_error",
        }
    }

    fn openai_type_code(self) -> (&'static str, Option<&'static str>) {
        match self {
            ErrorKind::InvalidRequest => ("invalid_request_error", None),
            ErrorKind::Authentication => ("invalid_request_error", Some("invalid_api_key")),
            ErrorKind::PermissionDenied => ("permission_error", None),
            ErrorKind::NotFound => ("invalid_request_error", Some("not_found")),
            ErrorKind::RequestTooLarge => ("invalid_request_error", Some("request_too_large")),
            ErrorKind::RateLimited => ("rate_limit_error", Some("rate_limit_exceeded")),
            ErrorKind::Timeout => ("server_error", Some("timeout")),
            ErrorKind::ClientTimeout => ("invalid_request_error", Some("request_timeout")),
            ErrorKind::Internal | ErrorKind::BadGateway | ErrorKind::Unavailable => {
                ("server_error", None)
            }
        }
    }

    fn gemini_status(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::RequestTooLarge => "INVALID_ARGUMENT",
            ErrorKind::Authentication => "UNAUTHENTICATED",
            ErrorKind::PermissionDenied => "PERMISSION_DENIED",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::RateLimited => "RESOURCE_EXHAUSTED",
            ErrorKind::Internal => "INTERNAL",
            ErrorKind::BadGateway | ErrorKind::Unavailable => "UNAVAILABLE",
            ErrorKind::Timeout | ErrorKind::ClientTimeout => "DEADLINE_EXCEEDED",
        }
    }
}

fn error_value(protocol: Protocol, kind: ErrorKind, message: &str) -> serde_json::Value {
    match protocol {
        Protocol::Anthropic => json!({
            "type": "error",
            "error": {"type": kind.anthropic_type(), "message": message},
        }),
        Protocol::OpenAiChat | Protocol::OpenAiResponses => {
            let (ty, code) = kind.openai_type_code();
            json!({"error": {"message": message, "type": ty, "param": null, "code": code}})
        }
        Protocol::Gemini => {
            let mut err = json!({
                "code": kind.status(),
                "message": message,
                "status": kind.gemini_status(),
            });
            if kind == ErrorKind::Authentication {
                err["details"] = json!([{
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "relaygate",
                }]);
            }
            json!({ "error": err })
        }
    }
}

/// The JSON body of a whole error response in `protocol`'s shape.
pub fn error_body(protocol: Protocol, kind: ErrorKind, message: &str) -> Vec<u8> {
    error_value(protocol, kind, message)
        .to_string()
        .into_bytes()
}

/// The SSE bytes that end a stream with an error in `protocol`'s shape.
///
/// `sequence_number` is the next sequence number of an OpenAI Responses stream (the number of
/// events already sent); the other protocols ignore it.
pub fn stream_error_event(
    protocol: Protocol,
    kind: ErrorKind,
    message: &str,
    sequence_number: u64,
) -> Vec<u8> {
    let event = match protocol {
        Protocol::Anthropic => {
            SseEvent::named("error", error_value(protocol, kind, message).to_string())
        }
        // OpenAI's own streams carry errors as a data chunk with an `error` member; the SDK raises it.
        Protocol::OpenAiChat | Protocol::Gemini => {
            SseEvent::data(error_value(protocol, kind, message).to_string())
        }
        Protocol::OpenAiResponses => {
            let (_, code) = kind.openai_type_code();
            SseEvent::named(
                "error",
                json!({
                    "type": "error",
                    "code": code.unwrap_or(kind.openai_type_code().0),
                    "message": message,
                    "param": null,
                    "sequence_number": sequence_number,
                })
                .to_string(),
            )
        }
    };
    event.encode()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn parse(b: &[u8]) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn auth_errors_in_each_shape() {
        let a = parse(&error_body(
            Protocol::Anthropic,
            ErrorKind::Authentication,
            "bad token",
        ));
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "authentication_error");
        assert_eq!(a["error"]["message"], "bad token");
        let o = parse(&error_body(
            Protocol::OpenAiChat,
            ErrorKind::Authentication,
            "bad token",
        ));
        assert_eq!(o["error"]["code"], "invalid_api_key");
        assert_eq!(o["error"]["param"], Value::Null);
        let g = parse(&error_body(
            Protocol::Gemini,
            ErrorKind::Authentication,
            "bad token",
        ));
        assert_eq!(g["error"]["code"], 401);
        assert_eq!(g["error"]["status"], "UNAUTHENTICATED");
        assert_eq!(g["error"]["details"][0]["reason"], "API_KEY_INVALID");
    }

    #[test]
    fn every_kind_has_a_distinct_status() {
        let kinds = [
            ErrorKind::InvalidRequest,
            ErrorKind::Authentication,
            ErrorKind::PermissionDenied,
            ErrorKind::NotFound,
            ErrorKind::RequestTooLarge,
            ErrorKind::RateLimited,
            ErrorKind::Internal,
            ErrorKind::BadGateway,
            ErrorKind::Unavailable,
            ErrorKind::Timeout,
        ];
        let mut statuses: Vec<u16> = kinds.iter().map(|k| k.status()).collect();
        statuses.dedup();
        assert_eq!(statuses.len(), kinds.len());
        for p in Protocol::ALL {
            for k in kinds {
                let v = parse(&error_body(p, k, "m"));
                assert!(v.get("error").is_some(), "{p} {k:?}");
            }
        }
    }

    #[test]
    fn stream_errors_are_whole_sse_events() {
        let a = stream_error_event(Protocol::Anthropic, ErrorKind::BadGateway, "cut", 0);
        assert!(a.starts_with(b"event: error\ndata: {"));
        assert!(a.ends_with(b"}\n\n"));
        let r = stream_error_event(Protocol::OpenAiResponses, ErrorKind::Timeout, "slow", 7);
        let text = String::from_utf8(r).unwrap();
        let data = text.lines().nth(1).unwrap().strip_prefix("data: ").unwrap();
        let v: Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["sequence_number"], 7);
        assert_eq!(v["code"], "timeout");
        let o = stream_error_event(Protocol::OpenAiChat, ErrorKind::BadGateway, "x", 0);
        assert!(o.starts_with(b"data: {\"error\""));
    }
}
