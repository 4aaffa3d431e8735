//! Deltas -> OpenAI Responses SSE (full event sequence, `sequence_number` from 0).
//!
//! Loss table (reported in `losses`): inline images (`content[image]`); Responses output
//! messages hold text only.

use relaygate_protocol::sse::SseEvent;
use serde_json::{Value, json};

use super::lose_once;
use crate::errors::stream_error;
use crate::ir::{Delta, Finish, Usage};
use crate::stream::{Ctx, Encoder};
use crate::{Loss, Protocol};

pub(crate) fn responses_usage_json(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input,
        "input_tokens_details": {"cached_tokens": u.cache_read},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        "total_tokens": u.total(),
    })
}

/// The response object around `output`.
pub(crate) fn response_object(
    id: &str,
    model: &str,
    created: u64,
    status: &str,
    output: Vec<Value>,
    usage: Option<Value>,
) -> Value {
    json!({
        "id": id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": null,
        "incomplete_details": null,
        "instructions": null,
        "max_output_tokens": null,
        "model": model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        "store": false,
        "temperature": null,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": null,
        "truncation": "disabled",
        "usage": usage,
        "user": null,
        "metadata": {},
    })
}

enum Item {
    Message {
        id: String,
        text: String,
    },
    Reasoning {
        id: String,
        text: String,
        summary_open: bool,
        sig: Option<String>,
    },
    Call {
        id: String,
        call_id: String,
        name: String,
        args: String,
    },
}

pub(crate) struct ResponsesEncoder {
    ctx: Ctx,
    created: u64,
    seq: u64,
    started: bool,
    items: usize,
    open: Option<Item>,
    output: Vec<Value>,
    usage: Usage,
    finish: Option<Finish>,
    ended: bool,
    losses: Vec<Loss>,
}

impl ResponsesEncoder {
    pub(crate) fn new(ctx: Ctx) -> Self {
        ResponsesEncoder {
            ctx,
            created: 0,
            seq: 0,
            started: false,
            items: 0,
            open: None,
            output: Vec::new(),
            usage: Usage::default(),
            finish: None,
            ended: false,
            losses: Vec::new(),
        }
    }

    fn resp_id(&self) -> String {
        format!("resp_{}", self.ctx.seed)
    }

    fn emit(&mut self, out: &mut Vec<SseEvent>, ty: &str, mut v: Value) {
        v["type"] = json!(ty);
        v["sequence_number"] = json!(self.seq);
        self.seq += 1;
        out.push(SseEvent::named(ty, v.to_string()));
    }

    fn object(&self, status: &str, usage: Option<Value>) -> Value {
        response_object(
            &self.resp_id(),
            &self.ctx.model,
            self.created,
            status,
            self.output.clone(),
            usage,
        )
    }

    fn start(&mut self, out: &mut Vec<SseEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let r = self.object("in_progress", None);
        self.emit(out, "response.created", json!({"response": r}));
        let r = self.object("in_progress", None);
        self.emit(out, "response.in_progress", json!({"response": r}));
    }

    fn index(&self) -> usize {
        self.items.saturating_sub(1)
    }

    fn open_item(&mut self, out: &mut Vec<SseEvent>, item: Item) {
        self.start(out);
        self.close(out);
        let (prefix, added) = match &item {
            Item::Message { .. } => (
                "msg",
                json!({"type": "message", "status": "in_progress", "content": [], "role": "assistant"}),
            ),
            Item::Reasoning { .. } => ("rs", json!({"type": "reasoning", "summary": []})),
            Item::Call { call_id, name, .. } => (
                "fc",
                json!({"type": "function_call", "status": "in_progress",
                "arguments": "", "call_id": call_id, "name": name}),
            ),
        };
        let id = format!("{prefix}_{}_{}", self.ctx.seed, self.items);
        let item = match item {
            Item::Message { text, .. } => Item::Message {
                id: id.clone(),
                text,
            },
            Item::Reasoning {
                text,
                summary_open,
                sig,
                ..
            } => Item::Reasoning {
                id: id.clone(),
                text,
                summary_open,
                sig,
            },
            Item::Call {
                call_id,
                name,
                args,
                ..
            } => Item::Call {
                id: id.clone(),
                call_id,
                name,
                args,
            },
        };
        let mut added = added;
        added["id"] = json!(id);
        self.items += 1;
        let oi = self.index();
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": oi, "item": added}),
        );
        if let Item::Message { id, .. } = &item {
            self.emit(out, "response.content_part.added", json!({"item_id": id, "output_index": oi,
                "content_index": 0, "part": {"type": "output_text", "annotations": [], "text": ""}}));
        }
        self.open = Some(item);
    }

    fn close(&mut self, out: &mut Vec<SseEvent>) {
        let Some(item) = self.open.take() else {
            return;
        };
        let oi = self.index();
        let done = match item {
            Item::Message { id, text } => {
                self.emit(
                    out,
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": oi,
                    "content_index": 0, "text": text, "logprobs": []}),
                );
                let part = json!({"type": "output_text", "annotations": [], "text": text});
                self.emit(
                    out,
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": oi,
                    "content_index": 0, "part": part}),
                );
                json!({"id": id, "type": "message", "status": "completed", "role": "assistant",
                    "content": [part]})
            }
            Item::Reasoning {
                id,
                text,
                summary_open,
                sig,
            } => {
                if summary_open {
                    self.emit(
                        out,
                        "response.reasoning_summary_text.done",
                        json!({"item_id": id,
                        "output_index": oi, "summary_index": 0, "text": text}),
                    );
                    self.emit(out, "response.reasoning_summary_part.done", json!({"item_id": id,
                        "output_index": oi, "summary_index": 0, "part": {"type": "summary_text", "text": text}}));
                }
                let summary = if text.is_empty() {
                    json!([])
                } else {
                    json!([{"type": "summary_text", "text": text}])
                };
                let mut item = json!({"id": id, "type": "reasoning", "summary": summary});
                if let Some(sig) = sig {
                    item["encrypted_content"] = json!(sig);
                }
                item
            }
            Item::Call {
                id,
                call_id,
                name,
                args,
            } => {
                let args = if args.trim().is_empty() {
                    "{}".to_owned()
                } else {
                    args
                };
                self.emit(
                    out,
                    "response.function_call_arguments.done",
                    json!({"item_id": id,
                    "output_index": oi, "arguments": args}),
                );
                json!({"id": id, "type": "function_call", "status": "completed", "arguments": args,
                    "call_id": call_id, "name": name})
            }
        };
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": oi, "item": done.clone()}),
        );
        self.output.push(done);
    }

    fn terminate(&mut self, out: &mut Vec<SseEvent>) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.start(out);
        self.close(out);
        let has_calls = self.output.iter().any(|i| i["type"] == "function_call");
        let (status, reason) = self
            .finish
            .unwrap_or(Finish::Stop)
            .effective(has_calls)
            .responses();
        let mut r = self.object(status, Some(responses_usage_json(&self.usage)));
        if let Some(reason) = reason {
            r["incomplete_details"] = json!({"reason": reason});
        }
        let ty = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        self.emit(out, ty, json!({"response": r}));
    }
}

impl Encoder for ResponsesEncoder {
    fn delta(&mut self, d: Delta, out: &mut Vec<SseEvent>) {
        if self.ended {
            return;
        }
        match d {
            Delta::Meta { created, .. } => self.created = created.unwrap_or(self.created),
            Delta::Text(t) => {
                if !matches!(self.open, Some(Item::Message { .. })) {
                    self.open_item(
                        out,
                        Item::Message {
                            id: String::new(),
                            text: String::new(),
                        },
                    );
                }
                let oi = self.index();
                if let Some(Item::Message { id, text }) = &mut self.open {
                    text.push_str(&t);
                    let id = id.clone();
                    self.emit(
                        out,
                        "response.output_text.delta",
                        json!({"item_id": id, "output_index": oi,
                        "content_index": 0, "delta": t, "logprobs": []}),
                    );
                }
            }
            Delta::Reasoning(t) => {
                let reuse = matches!(&self.open, Some(Item::Reasoning { sig: None, .. }));
                if !reuse {
                    self.open_item(
                        out,
                        Item::Reasoning {
                            id: String::new(),
                            text: String::new(),
                            summary_open: false,
                            sig: None,
                        },
                    );
                }
                let oi = self.index();
                if let Some(Item::Reasoning {
                    id,
                    text,
                    summary_open,
                    ..
                }) = &mut self.open
                {
                    let id = id.clone();
                    let first = !*summary_open;
                    *summary_open = true;
                    text.push_str(&t);
                    if first {
                        self.emit(out, "response.reasoning_summary_part.added", json!({"item_id": id,
                            "output_index": oi, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}));
                    }
                    self.emit(
                        out,
                        "response.reasoning_summary_text.delta",
                        json!({"item_id": id,
                        "output_index": oi, "summary_index": 0, "delta": t}),
                    );
                }
            }
            Delta::ReasoningSignature(sig) | Delta::RedactedReasoning(sig) => {
                let value = sig.for_client(Protocol::OpenAiResponses);
                if !matches!(&self.open, Some(Item::Reasoning { sig: None, .. })) {
                    self.open_item(
                        out,
                        Item::Reasoning {
                            id: String::new(),
                            text: String::new(),
                            summary_open: false,
                            sig: None,
                        },
                    );
                }
                if let Some(Item::Reasoning { sig, .. }) = &mut self.open {
                    *sig = Some(value);
                }
                self.close(out);
            }
            Delta::ToolStart {
                id,
                name,
                signature,
                ..
            } => {
                if let Some(sig) = signature {
                    self.open_item(
                        out,
                        Item::Reasoning {
                            id: String::new(),
                            text: String::new(),
                            summary_open: false,
                            sig: Some(sig.for_client(Protocol::OpenAiResponses)),
                        },
                    );
                }
                self.open_item(
                    out,
                    Item::Call {
                        id: String::new(),
                        call_id: id.unwrap_or_default(),
                        name,
                        args: String::new(),
                    },
                );
            }
            Delta::ToolArgs { fragment, .. } => {
                let oi = self.index();
                if let Some(Item::Call { id, args, .. }) = &mut self.open {
                    args.push_str(&fragment);
                    let id = id.clone();
                    self.emit(
                        out,
                        "response.function_call_arguments.delta",
                        json!({"item_id": id,
                        "output_index": oi, "delta": fragment}),
                    );
                }
            }
            Delta::ToolEnd { .. } => {
                if matches!(self.open, Some(Item::Call { .. })) {
                    self.close(out);
                }
            }
            Delta::Image { .. } => lose_once(
                &mut self.losses,
                "content[image]",
                "Responses output messages hold text only",
            ),
            Delta::Usage(u) => self.usage = u,
            Delta::Finish(f) => self.finish = Some(f),
            Delta::Error(e) => {
                self.start(out);
                self.close(out);
                let ev = stream_error(Protocol::OpenAiResponses, e.kind, &e.message, self.seq);
                self.seq += 1;
                let code = serde_json::from_str::<Value>(&ev.data)
                    .ok()
                    .and_then(|v| v["code"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                out.push(ev);
                let mut r = self.object("failed", None);
                r["error"] = json!({"code": code, "message": e.message});
                self.emit(out, "response.failed", json!({"response": r}));
                self.ended = true;
            }
            Delta::Done => self.terminate(out),
        }
    }

    fn finish(&mut self, out: &mut Vec<SseEvent>) {
        self.terminate(out);
    }

    fn losses(&self) -> Vec<Loss> {
        self.losses.clone()
    }
}
