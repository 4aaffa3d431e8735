//! Deltas -> OpenAI Chat Completions SSE.
//!
//! Loss table (reported in `losses`): reasoning signatures and redacted reasoning
//! (`reasoning.signature`; Chat has no field for them, the text still goes out as
//! `reasoning_content`), and inline images (`content[image]`).

use relaygate_protocol::sse::SseEvent;
use serde_json::{Value, json};

use super::lose_once;
use crate::errors::stream_error;
use crate::ir::{Delta, Finish, Usage};
use crate::stream::{Ctx, Encoder};
use crate::{Loss, Protocol};

pub(crate) fn chat_usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.input,
        "completion_tokens": u.output,
        "total_tokens": u.total(),
        "prompt_tokens_details": {"cached_tokens": u.cache_read},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning},
    })
}

pub(crate) struct ChatEncoder {
    ctx: Ctx,
    created: u64,
    role_sent: bool,
    tool_index: Option<usize>,
    tools: usize,
    usage: Option<Usage>,
    finish: Option<Finish>,
    ended: bool,
    losses: Vec<Loss>,
}

impl ChatEncoder {
    pub(crate) fn new(ctx: Ctx) -> Self {
        ChatEncoder {
            ctx,
            created: 0,
            role_sent: false,
            tool_index: None,
            tools: 0,
            usage: None,
            finish: None,
            ended: false,
            losses: Vec::new(),
        }
    }

    fn chunk(&self, choices: Value) -> Value {
        json!({
            "id": format!("chatcmpl-{}", self.ctx.seed),
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.ctx.model,
            "choices": choices,
        })
    }

    fn send(&mut self, out: &mut Vec<SseEvent>, delta: Value, finish: Option<&str>) {
        if !self.role_sent {
            self.role_sent = true;
            let role = self.chunk(json!([{"index": 0,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": null, "finish_reason": null}]));
            out.push(SseEvent::data(role.to_string()));
        }
        let c = self.chunk(
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]),
        );
        out.push(SseEvent::data(c.to_string()));
    }

    fn terminate(&mut self, out: &mut Vec<SseEvent>) {
        if self.ended {
            return;
        }
        self.ended = true;
        let f = self
            .finish
            .unwrap_or(Finish::Stop)
            .effective(self.tools > 0);
        self.send(out, json!({}), Some(f.openai()));
        let mut usage_chunk = self.chunk(json!([]));
        usage_chunk["usage"] = chat_usage_json(&self.usage.unwrap_or_default());
        out.push(SseEvent::data(usage_chunk.to_string()));
        out.push(SseEvent::data("[DONE]"));
    }
}

impl Encoder for ChatEncoder {
    fn delta(&mut self, d: Delta, out: &mut Vec<SseEvent>) {
        if self.ended {
            return;
        }
        match d {
            Delta::Meta { created, .. } => self.created = created.unwrap_or(self.created),
            Delta::Text(t) => self.send(out, json!({"content": t}), None),
            Delta::Reasoning(t) => self.send(out, json!({"reasoning_content": t}), None),
            Delta::ReasoningSignature(_) | Delta::RedactedReasoning(_) => lose_once(
                &mut self.losses,
                "reasoning.signature",
                "OpenAI Chat has no field for reasoning signatures",
            ),
            Delta::ToolStart { id, name, .. } => {
                let i = self.tools;
                self.tools += 1;
                self.tool_index = Some(i);
                self.send(
                    out,
                    json!({"tool_calls": [{"index": i, "id": id.unwrap_or_default(), "type": "function",
                        "function": {"name": name, "arguments": ""}}]}),
                    None,
                );
            }
            Delta::ToolArgs { fragment, .. } => {
                if let Some(i) = self.tool_index {
                    self.send(
                        out,
                        json!({"tool_calls": [{"index": i, "function": {"arguments": fragment}}]}),
                        None,
                    );
                }
            }
            Delta::ToolEnd { .. } => self.tool_index = None,
            Delta::Image { .. } => lose_once(
                &mut self.losses,
                "content[image]",
                "OpenAI Chat stream deltas cannot hold images",
            ),
            Delta::Usage(u) => self.usage = Some(u),
            Delta::Finish(f) => self.finish = Some(f),
            Delta::Error(e) => {
                self.ended = true;
                out.push(stream_error(Protocol::OpenAiChat, e.kind, &e.message, 0));
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
