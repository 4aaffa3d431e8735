//! Small JSON and id helpers.

use serde_json::{Map, Value};

use crate::ir::Media;
use crate::{Error, Loss, Protocol};

/// The deepest JSON nesting any walker of this crate descends into.
///
/// It matches `serde_json`'s default recursion limit, so everything that was parsed from bytes
/// fits; the limit matters for values built in memory (schemas passed to
/// [`crate::schema::clean_gemini_schema`], argument trees assembled from Gemini `jsonPath`s),
/// whose depth is otherwise unbounded and would overflow the stack of a recursive walk.
pub(crate) const MAX_DEPTH: usize = 128;

/// Whether `v` holds containers nested more than `limit` levels deep (`[]` is one level).
///
/// Iterative with an explicit stack, so it is safe on values of any depth.
pub(crate) fn deeper_than(v: &Value, limit: usize) -> bool {
    let mut stack: Vec<(&Value, usize)> = vec![(v, 0)];
    while let Some((v, depth)) = stack.pop() {
        if matches!(v, Value::Array(_) | Value::Object(_)) && depth + 1 > limit {
            return true;
        }
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, depth + 1))),
            Value::Object(m) => stack.extend(m.values().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    false
}

pub(crate) fn parse(body: &[u8]) -> Result<Value, Error> {
    Ok(serde_json::from_slice(body)?)
}

pub(crate) fn obj(v: &Value, protocol: Protocol) -> Result<&Map<String, Value>, Error> {
    v.as_object()
        .ok_or_else(|| unsupported(protocol, "body must be a JSON object"))
}

pub(crate) fn unsupported(protocol: Protocol, reason: impl Into<String>) -> Error {
    Error::Unsupported {
        protocol,
        reason: reason.into(),
    }
}

pub(crate) fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

pub(crate) fn u(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

pub(crate) fn f(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

pub(crate) fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Records a loss.
pub(crate) fn lose(losses: &mut Vec<Loss>, field: impl Into<String>, reason: &'static str) {
    losses.push(Loss {
        field: field.into(),
        reason,
    });
}

/// Keeps only `[A-Za-z0-9_-]`.
pub(crate) fn clean_seed(seed: &str) -> String {
    let c: String = seed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(48)
        .collect();
    if c.is_empty() { "relaygate".into() } else { c }
}

/// FNV-1a, for deterministic short hashes.
pub(crate) fn fnv(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// A tool-call id Anthropic accepts (`^[a-zA-Z0-9_-]+$`), deterministic so the next turn matches.
pub(crate) fn sanitize_tool_id(id: &str) -> String {
    if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return id.to_owned();
    }
    let base: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{base}_{:08x}", fnv(id))
}

/// The longest function name OpenAI (Chat and Responses) accepts.
pub(crate) const OPENAI_TOOL_NAME_MAX: usize = 64;

/// A function name OpenAI accepts (`^[a-zA-Z0-9_-]{1,64}$`), deterministic so responses can be
/// mapped back: valid names are kept, others get their invalid characters replaced by `_`, are
/// cut to 55 characters and get `_` plus an 8-hex-digit hash of the original name.
pub(crate) fn openai_tool_name(name: &str) -> String {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !name.is_empty() && name.len() <= OPENAI_TOOL_NAME_MAX && name.chars().all(valid) {
        return name.to_owned();
    }
    let base: String = name
        .chars()
        .map(|c| if valid(c) { c } else { '_' })
        .take(OPENAI_TOOL_NAME_MAX - 9)
        .collect();
    format!("{base}_{:08x}", fnv(name))
}

/// The client's name for a tool the upstream called `name`, from `(upstream, client)` pairs.
pub(crate) fn restore_tool_name(table: &[(String, String)], name: &mut String) {
    if let Some((_, original)) = table.iter().find(|(up, _)| up == name) {
        name.clone_from(original);
    }
}

/// Splits a `data:` URL into mime and base64 payload.
pub(crate) fn media_from_url(url: &str) -> Media {
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((head, data)) = rest.split_once(',')
    {
        let mime = head.trim_end_matches(";base64").to_owned();
        return Media::Base64 {
            mime: if mime.is_empty() {
                "application/octet-stream".into()
            } else {
                mime
            },
            data: data.to_owned(),
        };
    }
    Media::Url(url.to_owned())
}

pub(crate) fn data_url(mime: &str, data: &str) -> String {
    format!("data:{mime};base64,{data}")
}

/// Arguments text from a JSON value (objects are serialized, strings kept).
pub(crate) fn args_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "{}".into(),
        Some(Value::String(s)) if s.trim().is_empty() => "{}".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Arguments as a JSON object for object targets; invalid JSON becomes `{}` (or wrapped).
pub(crate) fn args_value(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Object(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(other) => serde_json::json!({ "value": other }),
        Err(_) => Value::Object(Map::new()),
    }
}

/// Inserts `value` under `key` when it is `Some`.
pub(crate) fn put<T: Into<Value>>(m: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value {
        m.insert(key.to_owned(), v.into());
    }
}

pub(crate) fn to_bytes(v: &Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// Test helpers for values deeper than any recursive code may touch.
#[cfg(test)]
pub(crate) mod deep {
    use serde_json::{Map, Value};

    /// `depth` objects nested under `key`, innermost `leaf`; built in a loop, no recursion.
    pub(crate) fn nest(key: &str, depth: usize, leaf: Value) -> Value {
        let mut v = leaf;
        for _ in 0..depth {
            let mut m = Map::new();
            m.insert(key.to_owned(), v);
            v = Value::Object(m);
        }
        v
    }

    /// Drops `v` without recursion (serde_json's own drop recurses once per level).
    pub(crate) fn drop_iter(v: Value) {
        let mut stack = vec![v];
        while let Some(v) = stack.pop() {
            match v {
                Value::Array(a) => stack.extend(a),
                Value::Object(m) => stack.extend(m.into_iter().map(|(_, x)| x)),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_ids_are_sanitized_deterministically() {
        assert_eq!(sanitize_tool_id("toolu_01-A"), "toolu_01-A");
        let a = sanitize_tool_id("functions.get_weather:0");
        assert!(a.starts_with("functions_get_weather_0_"));
        assert_eq!(a, sanitize_tool_id("functions.get_weather:0"));
        assert_ne!(a, sanitize_tool_id("functions_get_weather:0"));
    }

    #[test]
    fn openai_tool_names_are_shortened_deterministically() {
        assert_eq!(openai_tool_name("get_weather-2"), "get_weather-2");
        let long = "mcp__server__".to_owned() + &"x".repeat(80);
        let a = openai_tool_name(&long);
        assert_eq!(a.len(), OPENAI_TOOL_NAME_MAX);
        assert_eq!(a, openai_tool_name(&long));
        assert_ne!(a, openai_tool_name(&(long.clone() + "y")));
        let b = openai_tool_name("ns.get:weather");
        assert!(b.starts_with("ns_get_weather_"));
        assert!(
            b.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        );
        let mut n = b.clone();
        restore_tool_name(&[(b, "ns.get:weather".into())], &mut n);
        assert_eq!(n, "ns.get:weather");
    }

    #[test]
    fn data_urls_split() {
        assert_eq!(
            media_from_url("data:image/png;base64,AAAA"),
            Media::Base64 {
                mime: "image/png".into(),
                data: "AAAA".into()
            }
        );
    }
}
