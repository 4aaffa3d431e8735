//! OpenAI Chat Completions SSE -> deltas.

use relaygate_protocol::errors::ErrorKind;
use relaygate_protocol::sse::SseEvent;
use serde_json::Value;

use super::{error_delta, payload};
use crate::Error;
use crate::errors::read_error;
use crate::ir::{Delta, Finish, Usage};
use crate::util::{s, u};

/// Canonical usage from an OpenAI Chat `usage` object.
pub(crate) fn chat_usage(us: &Value) -> Usage {
    let cached = us["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .or_else(|| u(us, "prompt_cache_hit_tokens"))
        .unwrap_or(0);
    Usage {
        input: u(us, "prompt_tokens").unwrap_or(0),
        cache_read: cached,
        cache_write: u(us, "cache_creation_input_tokens").unwrap_or(0),
        output: u(us, "completion_tokens").unwrap_or(0),
        reasoning: us["completion_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap_or(0),
    }
}

#[derive(Debug, Default)]
pub(crate) struct ChatDecoder {
    meta_sent: bool,
    /// (upstream index, call id) of every call seen, in order.
    calls: Vec<(usize, Option<String>)>,
}

impl crate::stream::Decoder for ChatDecoder {
    fn decode(&mut self, event: &SseEvent, out: &mut Vec<Delta>) -> Result<(), Error> {
        if event.data.trim() == "[DONE]" {
            out.push(Delta::Done);
            return Ok(());
        }
        let Some(v) = payload(event) else {
            return Ok(());
        };
        if v.get("error").is_some_and(|e| !e.is_null()) {
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
                id: s(&v, "id").map(str::to_owned),
                model: s(&v, "model").map(str::to_owned),
                created: u(&v, "created"),
            });
        }
        if let Some(choice) = v["choices"].as_array().and_then(|c| c.first()) {
            let d = &choice["delta"];
            for key in ["reasoning_content", "reasoning"] {
                if let Some(t) = s(d, key).filter(|t| !t.is_empty()) {
                    out.push(Delta::Reasoning(t.to_owned()));
                }
            }
            for key in ["content", "refusal"] {
                if let Some(t) = s(d, key).filter(|t| !t.is_empty()) {
                    out.push(Delta::Text(t.to_owned()));
                }
            }
            for tc in d["tool_calls"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                let id = s(tc, "id").filter(|i| !i.is_empty()).map(str::to_owned);
                // Key: the index; without one, a new id starts a new call, else the last call.
                let key = match u(tc, "index") {
                    Some(i) => i as usize,
                    None => match (&id, self.calls.last()) {
                        (Some(id), Some((k, Some(last)))) if last == id => *k,
                        (None, Some((k, _))) => *k,
                        _ => 1000 + self.calls.len(),
                    },
                };
                let f = &tc["function"];
                if !self.calls.iter().any(|c| c.0 == key) {
                    self.calls.push((key, id.clone()));
                    out.push(Delta::ToolStart {
                        key,
                        id,
                        name: s(f, "name").unwrap_or("").to_owned(),
                        signature: None,
                    });
                }
                if let Some(a) = s(f, "arguments").filter(|a| !a.is_empty()) {
                    out.push(Delta::ToolArgs {
                        key,
                        fragment: a.to_owned(),
                    });
                }
            }
            if let Some(us) = v.get("usage").filter(|u| u.is_object()) {
                out.push(Delta::Usage(chat_usage(us)));
            }
            if let Some(r) = s(choice, "finish_reason") {
                out.push(Delta::Finish(Finish::from_openai(r)));
            }
        } else if let Some(us) = v.get("usage").filter(|u| u.is_object()) {
            out.push(Delta::Usage(chat_usage(us)));
        }
        Ok(())
    }
}
