//! Request parsing that names the offending field in its 400 answer.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::Error;

/// Largest accepted JSON body (an import of many channels fits).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// A JSON body; a malformed one is a 400 whose message and `field` name the JSON path.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Error> {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
            .await
            .map_err(|_| Error::BadRequest {
                field: None,
                message: format!("body is larger than {MAX_BODY} bytes or unreadable"),
            })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses JSON, naming the path of the first error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::BadRequest {
            field: None,
            message: "a JSON body is required".to_owned(),
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.to_string();
        // serde names a missing field in its message and the path is its parent; for every
        // other error (unknown field included) the path is the field itself.
        let field = field_in_message(&msg)
            .map(|f| {
                if path == "." || path.is_empty() {
                    f
                } else {
                    format!("{path}.{f}")
                }
            })
            .or_else(|| (path != "." && !path.is_empty()).then_some(path));
        Error::BadRequest {
            message: match &field {
                Some(f) => format!("field {f}: {msg}"),
                None => format!("invalid JSON: {msg}"),
            },
            field,
        }
    })
}

fn field_in_message(msg: &str) -> Option<String> {
    msg.split("missing field `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .map(str::to_owned)
}

/// Query parameters, decoded; typed getters answer 400 naming the parameter.
#[derive(Debug, Default)]
pub struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        Ok(Params::parse(parts.uri.query().unwrap_or("")))
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Params {
    /// Parses a query string.
    pub fn parse(query: &str) -> Self {
        Params(
            query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    /// A non-empty string parameter.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// An integer parameter.
    pub fn i64(&self, name: &str) -> Result<Option<i64>, Error> {
        self.str(name)
            .map(|s| {
                s.trim().parse().map_err(|_| {
                    Error::field(name, format!("{name} must be an integer, got {s:?}"))
                })
            })
            .transpose()
    }
}
