//! Deltas -> Gemini `streamGenerateContent?alt=sse` chunks.
//!
//! Nothing is dropped: reasoning becomes `thought: true` parts, signatures of other families
//! travel tagged in `thoughtSignature`, tool calls go out whole as `functionCall` parts once
//! their arguments are complete.

use relaygate_protocol::sse::SseEvent;
use serde_json::{Value, json};

use crate::errors::stream_error;
use crate::ir::{Delta, Finish, Sig, Usage};
use crate::stream::{Ctx, Encoder};
use crate::util::args_value;
use crate::{Loss, Protocol};

pub(crate) fn gemini_usage_json(u: &Usage) -> Value {
    let mut m = json!({
        "promptTokenCount": u.input,
        "candidatesTokenCount": u.output.saturating_sub(u.reasoning),
        "totalTokenCount": u.total(),
    });
    if u.reasoning > 0 {
        m["thoughtsTokenCount"] = json!(u.reasoning);
    }
    if u.cache_read > 0 {
        m["cachedContentTokenCount"] = json!(u.cache_read);
    }
    m
}

/// A `functionCall` part.
pub(crate) fn function_call_part(id: &str, name: &str, args: &str, sig: Option<&Sig>) -> Value {
    let mut fc = json!({"name": name, "args": args_value(args)});
    if !id.is_empty() {
        fc["id"] = json!(id);
    }
    let mut part = json!({"functionCall": fc});
    if let Some(sig) = sig {
        part["thoughtSignature"] = json!(sig.for_client(Protocol::Gemini));
    }
    part
}

pub(crate) struct GeminiEncoder {
    ctx: Ctx,
    call: Option<(String, String, String, Option<Sig>)>,
    usage: Option<Usage>,
    finish: Option<Finish>,
    saw_tool: bool,
    ended: bool,
}

impl GeminiEncoder {
    pub(crate) fn new(ctx: Ctx) -> Self {
        GeminiEncoder {
            ctx,
            call: None,
            usage: None,
            finish: None,
            saw_tool: false,
            ended: false,
        }
    }

    fn chunk(&self, parts: Value, finish: Option<&str>) -> SseEvent {
        let mut cand = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if let Some(f) = finish {
            cand["finishReason"] = json!(f);
        }
        let mut v = json!({
            "candidates": [cand],
            "modelVersion": self.ctx.model,
            "responseId": self.ctx.seed,
        });
        if let Some(u) = &self.usage {
            v["usageMetadata"] = gemini_usage_json(u);
        }
        SseEvent::data(v.to_string())
    }

    fn terminate(&mut self, out: &mut Vec<SseEvent>) {
        if self.ended {
            return;
        }
        self.ended = true;
        let f = self.finish.unwrap_or(Finish::Stop).effective(self.saw_tool);
        if self.usage.is_none() {
            self.usage = Some(Usage::default());
        }
        out.push(self.chunk(json!([{"text": ""}]), Some(f.gemini())));
    }
}

impl Encoder for GeminiEncoder {
    fn delta(&mut self, d: Delta, out: &mut Vec<SseEvent>) {
        if self.ended {
            return;
        }
        match d {
            Delta::Meta { .. } => {}
            Delta::Text(t) => out.push(self.chunk(json!([{"text": t}]), None)),
            Delta::Reasoning(t) => out.push(self.chunk(json!([{"text": t, "thought": true}]), None)),
            Delta::ReasoningSignature(sig) | Delta::RedactedReasoning(sig) => out.push(self.chunk(
                json!([{"text": "", "thought": true, "thoughtSignature": sig.for_client(Protocol::Gemini)}]),
                None,
            )),
            Delta::ToolStart { id, name, signature, .. } => {
                self.saw_tool = true;
                self.call = Some((id.unwrap_or_default(), name, String::new(), signature));
            }
            Delta::ToolArgs { fragment, .. } => {
                if let Some(c) = &mut self.call {
                    c.2.push_str(&fragment);
                }
            }
            Delta::ToolEnd { .. } => {
                if let Some((id, name, args, sig)) = self.call.take() {
                    out.push(self.chunk(json!([function_call_part(&id, &name, &args, sig.as_ref())]), None));
                }
            }
            Delta::Image { mime, data } => out.push(self.chunk(
                json!([{"inlineData": {"mimeType": mime, "data": data}}]),
                None,
            )),
            Delta::Usage(u) => self.usage = Some(u),
            Delta::Finish(f) => self.finish = Some(f),
            Delta::Error(e) => {
                self.ended = true;
                out.push(stream_error(Protocol::Gemini, e.kind, &e.message, 0));
            }
            Delta::Done => self.terminate(out),
        }
    }

    fn finish(&mut self, out: &mut Vec<SseEvent>) {
        self.terminate(out);
    }

    fn losses(&self) -> Vec<Loss> {
        Vec::new()
    }
}
