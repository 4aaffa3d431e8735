//! OpenAI Responses SSE -> deltas.

use relaygate_protocol::errors::ErrorKind;
use relaygate_protocol::sse::SseEvent;
use serde_json::Value;

use super::{error_delta, payload};
use crate::Error;
use crate::errors::read_error;
use crate::ir::{Delta, Family, Finish, Sig, Usage};
use crate::util::{arr, s, u};

/// Canonical usage from a Responses `usage` object.
pub(crate) fn responses_usage(us: &Value) -> Usage {
    Usage {
        input: u(us, "input_tokens").unwrap_or(0),
        cache_read: us["input_tokens_details"]["cached_tokens"]
            .as_u64()
            .or_else(|| u(us, "cache_read_input_tokens"))
            .unwrap_or(0),
        cache_write: u(us, "cache_creation_input_tokens").unwrap_or(0),
        output: u(us, "output_tokens").unwrap_or(0),
        reasoning: us["output_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap_or(0),
    }
}

/// The summary (else reasoning content) text of a reasoning item.
pub(crate) fn reasoning_text(item: &Value) -> String {
    let mut parts: Vec<&str> = arr(item, "summary")
        .iter()
        .filter_map(|p| s(p, "text"))
        .collect();
    if parts.is_empty() {
        parts = arr(item, "content")
            .iter()
            .filter_map(|p| s(p, "text"))
            .collect();
    }
    parts.join("\n\n")
}

#[derive(Debug, Default)]
struct ItemState {
    output_index: u64,
    kind: String,
    saw_delta: bool,
    last_summary: Option<u64>,
}

#[derive(Debug, Default)]
pub(crate) struct ResponsesDecoder {
    items: Vec<ItemState>,
    errored: bool,
}

impl ResponsesDecoder {
    fn item(&mut self, output_index: u64) -> &mut ItemState {
        if let Some(pos) = self
            .items
            .iter()
            .position(|i| i.output_index == output_index)
        {
            return &mut self.items[pos];
        }
        self.items.push(ItemState {
            output_index,
            ..ItemState::default()
        });
        let last = self.items.len() - 1;
        &mut self.items[last]
    }
}

fn finish_of(resp: &Value) -> Finish {
    Finish::from_responses(
        s(resp, "status").unwrap_or("completed"),
        s(&resp["incomplete_details"], "reason"),
    )
}

impl crate::stream::Decoder for ResponsesDecoder {
    fn decode(&mut self, event: &SseEvent, out: &mut Vec<Delta>) -> Result<(), Error> {
        let Some(v) = payload(event) else {
            return Ok(());
        };
        let ty = s(&v, "type").unwrap_or(event.name()).to_owned();
        let oi = u(&v, "output_index").unwrap_or(0);
        let key = oi as usize;
        match ty.as_str() {
            "response.created" => {
                let r = &v["response"];
                out.push(Delta::Meta {
                    id: s(r, "id").map(str::to_owned),
                    model: s(r, "model").map(str::to_owned),
                    created: u(r, "created_at"),
                });
            }
            "response.output_item.added" => {
                let item = &v["item"];
                let kind = s(item, "type").unwrap_or("").to_owned();
                self.item(oi).kind = kind.clone();
                if kind == "function_call" {
                    out.push(Delta::ToolStart {
                        key,
                        id: s(item, "call_id").or(s(item, "id")).map(str::to_owned),
                        name: s(item, "name").unwrap_or("").to_owned(),
                        signature: None,
                    });
                    if let Some(a) = s(item, "arguments").filter(|a| !a.is_empty()) {
                        self.item(oi).saw_delta = true;
                        out.push(Delta::ToolArgs {
                            key,
                            fragment: a.to_owned(),
                        });
                    }
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                if let Some(d) = s(&v, "delta").filter(|d| !d.is_empty()) {
                    self.item(oi).saw_delta = true;
                    out.push(Delta::Text(d.to_owned()));
                }
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                let idx = u(&v, "summary_index").or(u(&v, "content_index"));
                if let Some(d) = s(&v, "delta").filter(|d| !d.is_empty()) {
                    let st = self.item(oi);
                    if st.saw_delta && st.last_summary != idx {
                        out.push(Delta::Reasoning("\n\n".into()));
                    }
                    st.saw_delta = true;
                    st.last_summary = idx;
                    out.push(Delta::Reasoning(d.to_owned()));
                }
            }
            "response.function_call_arguments.delta" => {
                if let Some(d) = s(&v, "delta").filter(|d| !d.is_empty()) {
                    self.item(oi).saw_delta = true;
                    out.push(Delta::ToolArgs {
                        key,
                        fragment: d.to_owned(),
                    });
                }
            }
            "response.output_item.done" => {
                let item = &v["item"];
                let saw = self.item(oi).saw_delta;
                match s(item, "type").unwrap_or("") {
                    "function_call" => {
                        if self.item(oi).kind != "function_call" {
                            self.item(oi).kind = "function_call".into();
                            out.push(Delta::ToolStart {
                                key,
                                id: s(item, "call_id").or(s(item, "id")).map(str::to_owned),
                                name: s(item, "name").unwrap_or("").to_owned(),
                                signature: None,
                            });
                        }
                        if !saw && let Some(a) = s(item, "arguments").filter(|a| !a.is_empty()) {
                            out.push(Delta::ToolArgs {
                                key,
                                fragment: a.to_owned(),
                            });
                        }
                        out.push(Delta::ToolEnd { key });
                    }
                    "reasoning" => {
                        let text = reasoning_text(item);
                        if !saw && !text.is_empty() {
                            out.push(Delta::Reasoning(text));
                        }
                        if let Some(enc) = s(item, "encrypted_content").filter(|e| !e.is_empty()) {
                            out.push(Delta::ReasoningSignature(Sig::new(Family::OpenAi, enc)));
                        }
                    }
                    "message" if !saw => {
                        for c in arr(item, "content") {
                            if let Some(t) =
                                s(c, "text").or(s(c, "refusal")).filter(|t| !t.is_empty())
                            {
                                out.push(Delta::Text(t.to_owned()));
                            }
                        }
                    }
                    _ => {}
                }
            }
            "response.completed" | "response.incomplete" => {
                let r = &v["response"];
                if let Some(us) = r.get("usage").filter(|u| u.is_object()) {
                    out.push(Delta::Usage(responses_usage(us)));
                }
                out.push(Delta::Finish(finish_of(r)));
                out.push(Delta::Done);
            }
            "response.failed" | "error" if !self.errored => {
                self.errored = true;
                let src = if ty == "error" { &v } else { &v["response"] };
                let (msg, kind) = read_error(src);
                out.push(error_delta(
                    kind.unwrap_or(ErrorKind::BadGateway),
                    msg.unwrap_or_else(|| "upstream stream error".into()),
                ));
            }
            _ => {}
        }
        Ok(())
    }
}
