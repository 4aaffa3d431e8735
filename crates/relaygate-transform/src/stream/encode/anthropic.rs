//! Deltas -> Anthropic Messages SSE.
//!
//! Loss table (reported in `losses`): inline images from the upstream (`content[image]`),
//! since an Anthropic assistant message cannot hold images.

use relaygate_protocol::sse::SseEvent;
use serde_json::{Value, json};

use super::lose_once;
use crate::errors::stream_error;
use crate::ir::{Delta, Finish, Usage};
use crate::stream::{Ctx, Encoder};
use crate::util::sanitize_tool_id;
use crate::{Loss, Protocol};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
    Tool,
}

pub(crate) fn anthropic_usage(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input.saturating_sub(u.cache_read.saturating_add(u.cache_write)),
        "cache_creation_input_tokens": u.cache_write,
        "cache_read_input_tokens": u.cache_read,
        "output_tokens": u.output,
    })
}

pub(crate) struct AnthropicEncoder {
    ctx: Ctx,
    started: bool,
    next_index: usize,
    open: Option<Open>,
    usage: Usage,
    finish: Option<Finish>,
    saw_tool: bool,
    ended: bool,
    losses: Vec<Loss>,
}

impl AnthropicEncoder {
    pub(crate) fn new(ctx: Ctx) -> Self {
        AnthropicEncoder {
            ctx,
            started: false,
            next_index: 0,
            open: None,
            usage: Usage::default(),
            finish: None,
            saw_tool: false,
            ended: false,
            losses: Vec::new(),
        }
    }

    fn emit(out: &mut Vec<SseEvent>, name: &str, v: Value) {
        out.push(SseEvent::named(name, v.to_string()));
    }

    fn start(&mut self, out: &mut Vec<SseEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let mut usage = anthropic_usage(&self.usage);
        usage["output_tokens"] = json!(0);
        Self::emit(
            out,
            "message_start",
            json!({"type": "message_start", "message": {
                "id": format!("msg_{}", self.ctx.seed),
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": self.ctx.model,
                "stop_reason": null,
                "stop_sequence": null,
                "usage": usage,
            }}),
        );
    }

    fn close(&mut self, out: &mut Vec<SseEvent>) {
        if self.open.take().is_some() {
            Self::emit(
                out,
                "content_block_stop",
                json!({"type": "content_block_stop", "index": self.next_index - 1}),
            );
        }
    }

    fn open_block(&mut self, out: &mut Vec<SseEvent>, kind: Open, block: Value) {
        self.start(out);
        self.close(out);
        Self::emit(
            out,
            "content_block_start",
            json!({"type": "content_block_start", "index": self.next_index, "content_block": block}),
        );
        self.next_index += 1;
        self.open = Some(kind);
    }

    fn block_delta(&self, out: &mut Vec<SseEvent>, delta: Value) {
        Self::emit(
            out,
            "content_block_delta",
            json!({"type": "content_block_delta", "index": self.next_index - 1, "delta": delta}),
        );
    }

    fn signature_block(&mut self, out: &mut Vec<SseEvent>, sig: String) {
        if self.open != Some(Open::Thinking) {
            self.open_block(
                out,
                Open::Thinking,
                json!({"type": "thinking", "thinking": "", "signature": ""}),
            );
        }
        self.block_delta(out, json!({"type": "signature_delta", "signature": sig}));
        self.close(out);
    }

    fn terminate(&mut self, out: &mut Vec<SseEvent>) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.start(out);
        self.close(out);
        let reason = self.finish.unwrap_or(Finish::Stop).effective(self.saw_tool);
        Self::emit(
            out,
            "message_delta",
            json!({"type": "message_delta",
                "delta": {"stop_reason": reason.anthropic(), "stop_sequence": null},
                "usage": anthropic_usage(&self.usage)}),
        );
        Self::emit(out, "message_stop", json!({"type": "message_stop"}));
    }
}

impl Encoder for AnthropicEncoder {
    fn delta(&mut self, d: Delta, out: &mut Vec<SseEvent>) {
        if self.ended {
            return;
        }
        match d {
            Delta::Meta { .. } => {}
            Delta::Text(t) => {
                if self.open != Some(Open::Text) {
                    self.open_block(out, Open::Text, json!({"type": "text", "text": ""}));
                }
                self.block_delta(out, json!({"type": "text_delta", "text": t}));
            }
            Delta::Reasoning(t) => {
                if self.open != Some(Open::Thinking) {
                    self.open_block(
                        out,
                        Open::Thinking,
                        json!({"type": "thinking", "thinking": "", "signature": ""}),
                    );
                }
                self.block_delta(out, json!({"type": "thinking_delta", "thinking": t}));
            }
            Delta::ReasoningSignature(sig) => {
                let sig = sig.for_client(Protocol::Anthropic);
                self.signature_block(out, sig);
            }
            Delta::RedactedReasoning(sig) => {
                let data = sig.for_client(Protocol::Anthropic);
                self.open_block(
                    out,
                    Open::Thinking,
                    json!({"type": "redacted_thinking", "data": data}),
                );
                self.close(out);
            }
            Delta::ToolStart {
                id,
                name,
                signature,
                ..
            } => {
                if let Some(sig) = signature {
                    // Gemini signs the call itself; Anthropic carries it in a thinking block.
                    self.close(out);
                    self.signature_block(out, sig.for_client(Protocol::Anthropic));
                }
                self.saw_tool = true;
                let id = sanitize_tool_id(&id.unwrap_or_default());
                self.open_block(
                    out,
                    Open::Tool,
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                );
            }
            Delta::ToolArgs { fragment, .. } => {
                if self.open == Some(Open::Tool) {
                    self.block_delta(
                        out,
                        json!({"type": "input_json_delta", "partial_json": fragment}),
                    );
                }
            }
            Delta::ToolEnd { .. } => {
                if self.open == Some(Open::Tool) {
                    self.close(out);
                }
            }
            Delta::Image { .. } => lose_once(
                &mut self.losses,
                "content[image]",
                "Anthropic assistant messages cannot hold images",
            ),
            Delta::Usage(u) => self.usage = u,
            Delta::Finish(f) => self.finish = Some(f),
            Delta::Error(e) => {
                self.ended = true;
                out.push(stream_error(Protocol::Anthropic, e.kind, &e.message, 0));
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
