//! Reading and rewriting only what routing needs from a request body.
//!
//! A gateway that forwards a request to a channel of the same protocol needs the model name and
//! the stream flag, and at most has to swap the model for a redirect target. Building a JSON tree
//! for that costs several times a borrowed parse, so [`peek_request`] deserializes into a struct
//! of two fields (serde skips the rest without allocating), and [`rewrite_model`] splices a new
//! model string into the original bytes, leaving every other byte as the client sent it.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::Error;

/// The routing fields of a request body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestPeek {
    /// The top-level `model` string, if present.
    pub model: Option<String>,
    /// Whether the body asks for a stream (`"stream": true`, or a truthy string such as `"true"`).
    pub stream: bool,
    /// The top-level `service_tier` string (OpenAI and Anthropic), if present.
    pub service_tier: Option<String>,
    /// Whether `stream_options.include_usage` is `true` (OpenAI Chat).
    pub include_usage: bool,
    /// The output limit the request sets, whichever protocol's field holds it:
    /// `max_completion_tokens` or `max_tokens` (Chat, Anthropic), `max_output_tokens`
    /// (Responses), `generationConfig.maxOutputTokens` (Gemini). A value that is not a
    /// non-negative integer counts as unset.
    pub output_limit: Option<u64>,
}

#[derive(Deserialize)]
struct PeekWire<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    stream: Option<StreamFlag>,
    #[serde(borrow, default)]
    service_tier: Option<&'a RawValue>,
    #[serde(borrow, default)]
    stream_options: Option<&'a RawValue>,
    #[serde(borrow, default)]
    max_completion_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    max_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    max_output_tokens: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "generationConfig")]
    generation_config: Option<&'a RawValue>,
}

/// A raw value as a token count, when it is a non-negative integer.
fn count_of(raw: Option<&RawValue>) -> Option<u64> {
    raw.and_then(|r| serde_json::from_str::<u64>(r.get()).ok())
}

/// `generationConfig.maxOutputTokens`, however loosely `generationConfig` is written.
fn gemini_output_limit(raw: Option<&RawValue>) -> Option<u64> {
    #[derive(Deserialize)]
    struct Config<'a> {
        #[serde(borrow, default, rename = "maxOutputTokens")]
        max_output_tokens: Option<&'a RawValue>,
    }
    let cfg: Config<'_> = serde_json::from_str(raw?.get()).ok()?;
    count_of(cfg.max_output_tokens)
}

/// `stream_options.include_usage`, however loosely the client wrote `stream_options`.
fn include_usage(raw: Option<&RawValue>) -> bool {
    #[derive(Deserialize)]
    struct Opts {
        #[serde(default)]
        include_usage: Option<bool>,
    }
    raw.and_then(|r| serde_json::from_str::<Opts>(r.get()).ok())
        .and_then(|o| o.include_usage)
        .unwrap_or(false)
}

/// `stream` as clients actually send it: a bool, or a string some SDKs and scripts use.
struct StreamFlag(bool);

impl<'de> Deserialize<'de> for StreamFlag {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StreamFlag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<StreamFlag, E> {
                Ok(StreamFlag(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StreamFlag, E> {
                let t = v.trim();
                Ok(StreamFlag(
                    ["1", "true", "yes", "y", "on"]
                        .iter()
                        .any(|w| t.eq_ignore_ascii_case(w)),
                ))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<StreamFlag, E> {
                Ok(StreamFlag(false))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<StreamFlag, E> {
                Ok(StreamFlag(false))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<StreamFlag, E> {
                Ok(StreamFlag(false))
            }
            fn visit_unit<E: de::Error>(self) -> Result<StreamFlag, E> {
                Ok(StreamFlag(false))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<StreamFlag, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(StreamFlag(false))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<StreamFlag, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(StreamFlag(false))
            }
        }
        d.deserialize_any(V)
    }
}

/// The nesting of arrays and objects at which a request body is refused (`{}` is one level):
/// at most `MAX_DEPTH - 1` levels pass.
///
/// Exactly `serde_json`'s recursion limit (128, which refuses the 128th level), the one every
/// other decoder of the gateway parses with. The peek needs its own check: serde skips the fields it does not read without counting
/// their depth, so without it a body nested 100 000 levels deep would pass the peek and be
/// forwarded to a same-protocol upstream.
pub const MAX_DEPTH: usize = 128;

fn ensure_object(body: &[u8]) -> Result<(), Error> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(_) => return Err(Error::NotAnObject),
        None => return Err(Error::InvalidJson("empty body".to_owned())),
    }
    check_depth(body)
}

/// Refuses bodies nested [`MAX_DEPTH`] levels deep or more, scanning the bytes once without recursion.
///
/// Brackets inside strings do not count. The scan trusts the body to be JSON: a body that is
/// not fails in the parse that follows, whatever this scan concluded.
fn check_depth(body: &[u8]) -> Result<(), Error> {
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        match b {
            b'"' => {
                // Skip to the closing quote, stepping over escapes.
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', body.get(i..).unwrap_or_default()) {
                        Some(off) if body.get(i + off) == Some(&b'\\') => i += off + 2,
                        Some(off) => {
                            i += off;
                            break;
                        }
                        // Unterminated string: the parser reports it.
                        None => return Ok(()),
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth >= MAX_DEPTH {
                    return Err(Error::TooDeep { limit: MAX_DEPTH });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Reads the model and stream flag from a JSON request body.
///
/// The whole body is validated as JSON, but nothing other than the two fields is materialised.
pub fn peek_request(body: &[u8]) -> Result<RequestPeek, Error> {
    ensure_object(body)?;
    let wire: PeekWire<'_> =
        serde_json::from_slice(body).map_err(|e| Error::InvalidJson(e.to_string()))?;
    Ok(RequestPeek {
        model: wire.model.map(Cow::into_owned),
        stream: wire.stream.is_some_and(|s| s.0),
        service_tier: wire
            .service_tier
            .and_then(|r| serde_json::from_str::<String>(r.get()).ok()),
        include_usage: include_usage(wire.stream_options),
        output_limit: count_of(wire.max_completion_tokens)
            .or_else(|| count_of(wire.max_tokens))
            .or_else(|| count_of(wire.max_output_tokens))
            .or_else(|| gemini_output_limit(wire.generation_config)),
    })
}

/// The byte range of a top-level value, if there is one.
struct ModelSpan(Option<(usize, usize)>);

struct SpanVisitor<'k> {
    base: usize,
    key: &'k str,
}

impl<'de> Visitor<'de> for SpanVisitor<'_> {
    type Value = ModelSpan;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<ModelSpan, A::Error> {
        let mut span = None;
        while let Some(key) = m.next_key::<Cow<'de, str>>()? {
            if key == self.key {
                let raw: &'de RawValue = m.next_value()?;
                let text = raw.get();
                // The raw value borrows from the body, so its address locates it in the body.
                let start = (text.as_ptr() as usize).wrapping_sub(self.base);
                span = Some((start, start + text.len()));
            } else {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(ModelSpan(span))
    }
}

/// Returns `body` with its top-level `model` set to `model`; all other bytes are unchanged.
///
/// If the body has no `model` field, one is inserted as the first member.
pub fn rewrite_model(body: &[u8], model: &str) -> Result<Vec<u8>, Error> {
    let quoted = serde_json::to_string(model).map_err(|e| Error::InvalidJson(e.to_string()))?;
    replace_top_level(body, "model", |_| Ok(quoted.clone()))
}

/// Returns an OpenAI Chat body with `stream_options.include_usage` set to `true`, keeping the
/// other stream options and every other byte; `None` when it is set already.
pub fn with_include_usage(body: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    if peek_request(body)?.include_usage {
        return Ok(None);
    }
    set_include_usage(body).map(Some)
}

/// Returns an OpenAI Chat body with `stream_options.include_usage` set to `true`, keeping the
/// other stream options and every other byte, for a caller that already knows it is unset
/// (one parse fewer than [`with_include_usage`]).
pub fn set_include_usage(body: &[u8]) -> Result<Vec<u8>, Error> {
    replace_top_level(body, "stream_options", |old| {
        let mut opts = match old.map(serde_json::from_str::<serde_json::Value>) {
            Some(Ok(serde_json::Value::Object(m))) => m,
            _ => serde_json::Map::new(),
        };
        opts.insert("include_usage".into(), serde_json::Value::Bool(true));
        serde_json::to_string(&opts).map_err(|e| Error::InvalidJson(e.to_string()))
    })
}

/// Replaces the value of the top-level `key` by what `value` makes of the old one (raw JSON),
/// or inserts `"key": value` as the first member; every other byte is kept.
fn replace_top_level(
    body: &[u8],
    key: &str,
    value: impl FnOnce(Option<&str>) -> Result<String, Error>,
) -> Result<Vec<u8>, Error> {
    ensure_object(body)?;
    let base = body.as_ptr() as usize;
    let mut de = serde_json::Deserializer::from_slice(body);
    let span = de::Deserializer::deserialize_map(&mut de, SpanVisitor { base, key })
        .and_then(|s| de.end().map(|()| s))
        .map_err(|e| Error::InvalidJson(e.to_string()))?;
    let mut out = Vec::with_capacity(body.len() + 64);
    match span.0 {
        Some((start, end)) if start <= end && end <= body.len() => {
            let old = std::str::from_utf8(&body[start..end]).ok();
            let new = value(old)?;
            out.extend_from_slice(&body[..start]);
            out.extend_from_slice(new.as_bytes());
            out.extend_from_slice(&body[end..]);
        }
        _ => {
            let new = value(None)?;
            let open = body.iter().position(|&b| b == b'{').unwrap_or(0);
            let rest = &body[open + 1..];
            let empty = rest.iter().all(|b| b.is_ascii_whitespace() || *b == b'}');
            out.extend_from_slice(&body[..=open]);
            out.push(b'"');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(new.as_bytes());
            if !empty {
                out.push(b',');
            }
            out.extend_from_slice(rest);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peeks_model_and_stream() {
        let p = peek_request(
            br#"{"messages":[{"role":"user","content":"a\"b"}],"model":"claude-x","stream":true}"#,
        )
        .unwrap();
        assert_eq!(p.model.as_deref(), Some("claude-x"));
        assert!(p.stream);
        let p = peek_request(br#"{"model":"m\u00e9","stream":"yes"}"#).unwrap();
        assert_eq!(p.model.as_deref(), Some("mé"));
        assert!(p.stream);
        for body in [
            &br#"{"stream":1}"#[..],
            br#"{"stream":null}"#,
            br#"{"stream":"no"}"#,
            b"{}",
        ] {
            assert!(
                !peek_request(body).unwrap().stream,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn include_usage_is_added_keeping_the_other_options() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (
                br#"{"model":"m","stream":true}"#,
                Some(r#"{"stream_options":{"include_usage":true},"model":"m","stream":true}"#),
            ),
            (
                br#"{"model":"m","stream_options":{"include_obfuscation":false}}"#,
                Some(
                    r#"{"model":"m","stream_options":{"include_obfuscation":false,"include_usage":true}}"#,
                ),
            ),
            (
                br#"{"model":"m","stream_options":{"include_usage":false}}"#,
                Some(r#"{"model":"m","stream_options":{"include_usage":true}}"#),
            ),
            (
                br#"{"model":"m","stream_options":null}"#,
                Some(r#"{"model":"m","stream_options":{"include_usage":true}}"#),
            ),
            (
                br#"{"model":"m","stream_options":{"include_usage":true}}"#,
                None,
            ),
        ];
        for (body, want) in cases {
            let got = with_include_usage(body).unwrap();
            assert_eq!(
                got.as_deref().map(|b| std::str::from_utf8(b).unwrap()),
                *want
            );
            if let Some(out) = got {
                assert!(peek_request(&out).unwrap().include_usage);
            }
        }
        let p = peek_request(br#"{"model":"m","service_tier":"priority"}"#).unwrap();
        assert_eq!(p.service_tier.as_deref(), Some("priority"));
        // A service_tier or stream_options of another type is ignored, not an error.
        let p = peek_request(br#"{"model":"m","service_tier":3,"stream_options":"x"}"#).unwrap();
        assert_eq!((p.service_tier, p.include_usage), (None, false));
    }

    #[test]
    fn output_limits_of_every_protocol_and_hostile_values() {
        let limit = |b: &str| peek_request(b.as_bytes()).unwrap().output_limit;
        assert_eq!(limit(r#"{"model":"m","max_tokens":32}"#), Some(32));
        assert_eq!(
            limit(r#"{"model":"m","max_tokens":32,"max_completion_tokens":64}"#),
            Some(64)
        );
        assert_eq!(limit(r#"{"model":"m","max_output_tokens":5}"#), Some(5));
        assert_eq!(
            limit(r#"{"contents":[],"generationConfig":{"maxOutputTokens":7}}"#),
            Some(7)
        );
        assert_eq!(limit(r#"{"model":"m"}"#), None);
        // Not a non-negative integer: unset, and never an error for the whole request.
        for hostile in [
            r#"{"model":"m","max_tokens":-1}"#,
            r#"{"model":"m","max_tokens":"100"}"#,
            r#"{"model":"m","max_tokens":1.5}"#,
            r#"{"model":"m","max_tokens":99999999999999999999999}"#,
            r#"{"model":"m","generationConfig":"x"}"#,
            r#"{"model":"m","generationConfig":{"maxOutputTokens":null}}"#,
        ] {
            assert_eq!(limit(hostile), None, "{hostile}");
        }
        // set_include_usage adds the option without a check of its own.
        let out = set_include_usage(br#"{"model":"m","stream":true}"#).unwrap();
        assert!(peek_request(&out).unwrap().include_usage);
    }

    #[test]
    fn peek_rejects_non_objects_and_bad_json() {
        assert_eq!(peek_request(b"[1]"), Err(Error::NotAnObject));
        assert!(matches!(peek_request(b""), Err(Error::InvalidJson(_))));
        assert!(matches!(
            peek_request(br#"{"model":"x""#),
            Err(Error::InvalidJson(_))
        ));
        assert!(matches!(
            peek_request(br#"{"model":3}"#),
            Err(Error::InvalidJson(_))
        ));
    }

    #[test]
    fn rewrite_keeps_every_other_byte() {
        let body = br#"{ "a" : [1, {"model":"inner"}],  "model" : "old" , "z":"\n" }"#;
        let out = rewrite_model(body, "new\"one").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{ "a" : [1, {"model":"inner"}],  "model" : "new\"one" , "z":"\n" }"#
        );
    }

    #[test]
    fn depth_limit_matches_the_json_parser() {
        let nest = |d: usize| format!(r#"{{"model":"m","a":{}1{}}}"#, "[".repeat(d), "]".repeat(d));
        // The object itself is one level: `MAX_DEPTH - 2` arrays inside it are the most allowed,
        // as for serde_json.
        for d in [MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, 100_000] {
            let body = nest(d);
            let serde_ok = serde_json::from_str::<serde_json::Value>(&body).is_ok();
            let peek = peek_request(body.as_bytes());
            assert_eq!(peek.is_ok(), serde_ok, "depth {d}: {peek:?}");
            assert_eq!(
                rewrite_model(body.as_bytes(), "x").is_ok(),
                serde_ok,
                "depth {d}"
            );
            if !serde_ok {
                assert_eq!(peek, Err(Error::TooDeep { limit: MAX_DEPTH }));
            }
        }
        // Brackets in strings, escaped quotes included, do not count.
        let body = format!(r#"{{"model":"m","s":"\"{}"}}"#, "[".repeat(1000));
        assert!(peek_request(body.as_bytes()).is_ok());
    }

    #[test]
    fn rewrite_inserts_when_missing() {
        assert_eq!(rewrite_model(b"{}", "m").unwrap(), br#"{"model":"m"}"#);
        assert_eq!(
            rewrite_model(br#" {"x":1}"#, "m").unwrap(),
            br#" {"model":"m","x":1}"#
        );
    }
}
