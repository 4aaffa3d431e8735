//! Gemini `streamGenerateContent?alt=sse` -> deltas.
//!
//! Handles complete `functionCall` parts (Gemini API) and Vertex streamed arguments
//! (`willContinue` + `partialArgs`, ended by an empty `functionCall`).

use relaygate_protocol::errors::ErrorKind;
use relaygate_protocol::sse::SseEvent;
use serde_json::{Map, Value};

use super::{error_delta, payload};
use crate::Error;
use crate::errors::read_error;
use crate::ir::{Delta, Family, Finish, Sig, Usage};
use crate::util::{MAX_DEPTH, s, u};

/// Canonical usage from `usageMetadata` (output = candidates + thoughts).
pub(crate) fn gemini_usage(m: &Value) -> Usage {
    let thoughts = u(m, "thoughtsTokenCount").unwrap_or(0);
    Usage {
        input: u(m, "promptTokenCount").unwrap_or(0),
        cache_read: u(m, "cachedContentTokenCount").unwrap_or(0),
        cache_write: 0,
        output: u(m, "candidatesTokenCount")
            .unwrap_or(0)
            .saturating_add(thoughts),
        reasoning: thoughts,
    }
}

/// Sets `value` at a `$.a.b` path, appending to an existing string.
///
/// A path of more than [`MAX_DEPTH`] keys is ignored: each key nests the arguments one level
/// deeper, and a tree deeper than that could not be serialized or dropped without recursing
/// past the stack.
fn set_path(root: &mut Map<String, Value>, path: &str, value: Value) {
    let keys: Vec<&str> = path
        .trim_start_matches('$')
        .split('.')
        .filter(|k| !k.is_empty())
        .take(MAX_DEPTH + 1)
        .collect();
    if keys.len() > MAX_DEPTH {
        return;
    }
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut cur = root;
    for k in parents {
        let entry = cur
            .entry((*k).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Some(next) = entry.as_object_mut() else {
            return;
        };
        cur = next;
    }
    match (cur.get_mut(*last), &value) {
        (Some(Value::String(existing)), Value::String(more)) => existing.push_str(more),
        _ => {
            cur.insert((*last).to_owned(), value);
        }
    }
}

fn partial_value(p: &Value) -> Option<Value> {
    if let Some(v) = p.get("stringValue") {
        return Some(v.clone());
    }
    if let Some(v) = p.get("numberValue") {
        return Some(v.clone());
    }
    if let Some(v) = p.get("boolValue") {
        return Some(v.clone());
    }
    if p.get("nullValue").is_some() {
        return Some(Value::Null);
    }
    None
}

#[derive(Debug, Default)]
pub(crate) struct GeminiDecoder {
    meta_sent: bool,
    calls: usize,
    /// A call whose arguments are still streaming (Vertex).
    streaming: Option<(usize, Map<String, Value>)>,
}

impl GeminiDecoder {
    fn end_streaming(&mut self, out: &mut Vec<Delta>) {
        if let Some((key, args)) = self.streaming.take() {
            out.push(Delta::ToolArgs {
                key,
                fragment: Value::Object(args).to_string(),
            });
            out.push(Delta::ToolEnd { key });
        }
    }

    fn function_call(&mut self, part: &Value, fc: &Value, out: &mut Vec<Delta>) {
        let sig = s(part, "thoughtSignature")
            .filter(|x| !x.is_empty())
            .map(|x| Sig::new(Family::Gemini, x));
        let name = s(fc, "name");
        let will_continue = fc.get("willContinue").and_then(Value::as_bool) == Some(true);
        if let Some(name) = name {
            self.end_streaming(out);
            self.calls += 1;
            let key = self.calls;
            out.push(Delta::ToolStart {
                key,
                id: s(fc, "id").map(str::to_owned),
                name: name.to_owned(),
                signature: sig,
            });
            let mut args = fc
                .get("args")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for p in fc["partialArgs"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                if let (Some(path), Some(val)) = (s(p, "jsonPath"), partial_value(p)) {
                    set_path(&mut args, path, val);
                }
            }
            if will_continue {
                self.streaming = Some((key, args));
            } else {
                out.push(Delta::ToolArgs {
                    key,
                    fragment: Value::Object(args).to_string(),
                });
                out.push(Delta::ToolEnd { key });
            }
        } else if let Some((_, args)) = &mut self.streaming {
            for p in fc["partialArgs"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                if let (Some(path), Some(val)) = (s(p, "jsonPath"), partial_value(p)) {
                    set_path(args, path, val);
                }
            }
            if !will_continue {
                self.end_streaming(out);
            }
        }
    }
}

impl crate::stream::Decoder for GeminiDecoder {
    fn decode(&mut self, event: &SseEvent, out: &mut Vec<Delta>) -> Result<(), Error> {
        let Some(v) = payload(event) else {
            return Ok(());
        };
        // A JSON-array stream (no alt=sse) delivered as one event: decode each element.
        // Only object elements are chunks: skipping nested arrays keeps this one level deep
        // instead of recursing once per `[` the upstream sends.
        if let Value::Array(items) = &v {
            for item in items.iter().filter(|i| i.is_object()) {
                self.decode(&SseEvent::data(item.to_string()), out)?;
            }
            return Ok(());
        }
        if v.get("error").is_some_and(|e| e.is_object()) {
            let (msg, kind) = read_error(&v);
            out.push(error_delta(
                kind.unwrap_or(ErrorKind::BadGateway),
                msg.unwrap_or_else(|| "upstream stream error".into()),
            ));
            return Ok(());
        }
        if !self.meta_sent {
            self.meta_sent = true;
            out.push(Delta::Meta {
                id: s(&v, "responseId").map(str::to_owned),
                model: s(&v, "modelVersion").map(str::to_owned),
                created: None,
            });
        }
        let cand = v["candidates"].as_array().and_then(|c| c.first());
        if let Some(c) = cand {
            for part in c["content"]["parts"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                if let Some(fc) = part.get("functionCall") {
                    self.function_call(part, fc, out);
                    continue;
                }
                let sig = s(part, "thoughtSignature").filter(|x| !x.is_empty());
                let thought = part.get("thought").and_then(Value::as_bool) == Some(true);
                if let Some(t) = s(part, "text") {
                    if thought {
                        if !t.is_empty() {
                            out.push(Delta::Reasoning(t.to_owned()));
                        }
                        if let Some(sig) = sig {
                            out.push(Delta::ReasoningSignature(Sig::new(Family::Gemini, sig)));
                        }
                    } else {
                        if let Some(sig) = sig {
                            out.push(Delta::ReasoningSignature(Sig::new(Family::Gemini, sig)));
                        }
                        if !t.is_empty() {
                            out.push(Delta::Text(t.to_owned()));
                        }
                    }
                } else if let Some(d) = part.get("inlineData") {
                    out.push(Delta::Image {
                        mime: s(d, "mimeType")
                            .unwrap_or("application/octet-stream")
                            .to_owned(),
                        data: s(d, "data").unwrap_or("").to_owned(),
                    });
                } else if let Some(sig) = sig {
                    out.push(Delta::ReasoningSignature(Sig::new(Family::Gemini, sig)));
                }
            }
        }
        if let Some(m) = v.get("usageMetadata").filter(|m| {
            m.get("promptTokenCount").is_some() || m.get("candidatesTokenCount").is_some()
        }) {
            out.push(Delta::Usage(gemini_usage(m)));
        }
        let finish = cand
            .and_then(|c| s(c, "finishReason"))
            .filter(|f| !f.is_empty());
        if let Some(f) = finish {
            self.end_streaming(out);
            out.push(Delta::Finish(Finish::from_gemini(f)));
            out.push(Delta::Done);
        } else if cand.is_none() && v["promptFeedback"].get("blockReason").is_some() {
            out.push(Delta::Finish(Finish::ContentFilter));
            out.push(Delta::Done);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_args_concatenate() {
        let mut m = Map::new();
        set_path(&mut m, "$.id", Value::String("A".into()));
        set_path(&mut m, "$.id", Value::String("B".into()));
        set_path(&mut m, "$.a.b", Value::from(3));
        assert_eq!(Value::Object(m), serde_json::json!({"id":"AB","a":{"b":3}}));
    }

    #[test]
    fn json_paths_deeper_than_the_limit_are_ignored() {
        let mut m = Map::new();
        let deep = format!("${}", ".a".repeat(100_000));
        set_path(&mut m, &deep, Value::from(1));
        assert!(m.is_empty());
        let ok = format!("${}", ".a".repeat(MAX_DEPTH));
        set_path(&mut m, &ok, Value::from(1));
        assert!(!crate::util::deeper_than(
            &Value::Object(m.clone()),
            MAX_DEPTH
        ));
    }

    #[test]
    fn absurd_usage_numbers_saturate() {
        let u = gemini_usage(&serde_json::json!({
            "candidatesTokenCount": u64::MAX, "thoughtsTokenCount": u64::MAX,
            "promptTokenCount": -5, "cachedContentTokenCount": 1e300
        }));
        assert_eq!(u.output, u64::MAX);
        assert_eq!(u.input, 0);
        assert_eq!(u.total(), u64::MAX);
    }
}
