//! Which protocol and operation a request is, from its method and path alone.

use http::Method;
use relaygate_protocol::Protocol;

/// What the client asks the gateway to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// The protocol's main call (messages, chat completion, response, generateContent).
    Generate,
    /// A token count, answered locally.
    CountTokens,
    /// The model list, answered locally.
    ListModels,
    /// A liveness probe from a client (`HEAD /`, `HEAD /api/hello`): answered 200, not logged.
    Probe,
}

/// A matched route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The protocol; `None` for a model list whose shape depends on the client.
    pub protocol: Option<Protocol>,
    /// The operation.
    pub op: Operation,
    /// The model named in the path (Gemini).
    pub path_model: Option<String>,
    /// Whether the path itself asks for a stream (`:streamGenerateContent`).
    pub path_stream: bool,
}

impl Route {
    fn new(protocol: Protocol, op: Operation) -> Self {
        Route {
            protocol: Some(protocol),
            op,
            path_model: None,
            path_stream: false,
        }
    }
}

/// Matches a request; `None` means 404.
pub fn route(method: &Method, path: &str) -> Option<Route> {
    if method == Method::HEAD {
        return Some(Route {
            protocol: None,
            op: Operation::Probe,
            path_model: None,
            path_stream: false,
        });
    }
    if method == Method::GET {
        return match path.trim_end_matches('/') {
            "/v1/models" => Some(Route {
                protocol: None,
                op: Operation::ListModels,
                path_model: None,
                path_stream: false,
            }),
            "/v1beta/models" => Some(Route::new(Protocol::Gemini, Operation::ListModels)),
            "" | "/api/hello" => Some(Route {
                protocol: None,
                op: Operation::Probe,
                path_model: None,
                path_stream: false,
            }),
            _ => None,
        };
    }
    if method != Method::POST {
        return None;
    }
    match path {
        "/v1/messages" => Some(Route::new(Protocol::Anthropic, Operation::Generate)),
        "/v1/messages/count_tokens" => {
            Some(Route::new(Protocol::Anthropic, Operation::CountTokens))
        }
        "/v1/chat/completions" => Some(Route::new(Protocol::OpenAiChat, Operation::Generate)),
        "/v1/responses" => Some(Route::new(Protocol::OpenAiResponses, Operation::Generate)),
        "/v1/responses/input_tokens" => Some(Route::new(
            Protocol::OpenAiResponses,
            Operation::CountTokens,
        )),
        _ => gemini(path),
    }
}

fn gemini(path: &str) -> Option<Route> {
    let rest = path
        .strip_prefix("/v1beta/models/")
        .or_else(|| path.strip_prefix("/v1/models/"))?;
    let (model, action) = rest.rsplit_once(':')?;
    if model.is_empty() || model.contains('/') {
        return None;
    }
    let (op, stream) = match action {
        "generateContent" => (Operation::Generate, false),
        "streamGenerateContent" => (Operation::Generate, true),
        "countTokens" => (Operation::CountTokens, false),
        _ => return None,
    };
    Some(Route {
        protocol: Some(Protocol::Gemini),
        op,
        path_model: Some(model.to_owned()),
        path_stream: stream,
    })
}

/// The protocol a client most likely speaks, for answering an unmatched or model-list request
/// in its shape.
pub fn guess_protocol(path: &str, headers: &http::HeaderMap) -> Protocol {
    if path.starts_with("/v1beta") || headers.contains_key("x-goog-api-key") {
        Protocol::Gemini
    } else if path.starts_with("/v1/messages")
        || headers.contains_key("anthropic-version")
        || headers.contains_key("x-api-key")
    {
        Protocol::Anthropic
    } else if path.starts_with("/v1/responses") {
        Protocol::OpenAiResponses
    } else {
        Protocol::OpenAiChat
    }
}

/// Replaces the model segment of a Gemini path (`/v1beta/models/{model}:action`).
pub fn with_path_model(path: &str, model: &str) -> String {
    let Some(slash) = path.find("/models/") else {
        return path.to_owned();
    };
    let start = slash + "/models/".len();
    match path[start..].rfind(':') {
        Some(colon) => format!("{}{}{}", &path[..start], model, &path[start + colon..]),
        None => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(
        method: Method,
        path: &str,
        expect: Option<(Option<Protocol>, Operation, Option<&str>, bool)>,
    ) {
        let got = route(&method, path).map(|r| (r.protocol, r.op, r.path_model, r.path_stream));
        let expect = expect.map(|(p, o, m, s)| (p, o, m.map(str::to_owned), s));
        assert_eq!(got, expect, "{method} {path}");
    }

    #[test]
    fn route_table() {
        use Operation::*;
        use Protocol::*;
        check(
            Method::POST,
            "/v1/messages",
            Some((Some(Anthropic), Generate, None, false)),
        );
        check(
            Method::POST,
            "/v1/messages/count_tokens",
            Some((Some(Anthropic), CountTokens, None, false)),
        );
        check(
            Method::POST,
            "/v1/chat/completions",
            Some((Some(OpenAiChat), Generate, None, false)),
        );
        check(
            Method::POST,
            "/v1/responses",
            Some((Some(OpenAiResponses), Generate, None, false)),
        );
        check(
            Method::POST,
            "/v1beta/models/gemini-2.5-pro:generateContent",
            Some((Some(Gemini), Generate, Some("gemini-2.5-pro"), false)),
        );
        check(
            Method::POST,
            "/v1/models/gemini-2.5-pro:streamGenerateContent",
            Some((Some(Gemini), Generate, Some("gemini-2.5-pro"), true)),
        );
        check(
            Method::POST,
            "/v1beta/models/g:countTokens",
            Some((Some(Gemini), CountTokens, Some("g"), false)),
        );
        check(Method::POST, "/v1beta/models/g:embedContent", None);
        check(Method::POST, "/v1beta/models/:generateContent", None);
        check(
            Method::GET,
            "/v1/models",
            Some((None, ListModels, None, false)),
        );
        check(
            Method::GET,
            "/v1beta/models",
            Some((Some(Gemini), ListModels, None, false)),
        );
        check(Method::HEAD, "/api/hello", Some((None, Probe, None, false)));
        check(Method::GET, "/v1/messages", None);
        check(Method::DELETE, "/v1/messages", None);
        check(Method::POST, "/v1/embeddings", None);
    }

    #[test]
    fn gemini_model_rewrite() {
        assert_eq!(
            with_path_model(
                "/v1beta/models/alias:streamGenerateContent",
                "gemini-2.5-flash"
            ),
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
        );
        assert_eq!(with_path_model("/v1/messages", "x"), "/v1/messages");
    }
}
