//! Anthropic Messages SSE -> deltas.

use relaygate_protocol::errors::ErrorKind;
use relaygate_protocol::sse::SseEvent;
use serde_json::Value;

use super::{error_delta, payload};
use crate::Error;
use crate::errors::read_error;
use crate::ir::{Delta, Family, Finish, Sig, Usage};
use crate::util::{s, u};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    Tool,
    Other,
}

/// Raw Anthropic usage fields, merged as they arrive.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RawUsage {
    input: u64,
    cache_read: u64,
    cache_write: u64,
    output: u64,
    reasoning: u64,
}

impl RawUsage {
    pub(crate) fn merge(&mut self, v: &Value) {
        if let Some(n) = u(v, "input_tokens") {
            self.input = n;
        }
        if let Some(n) = u(v, "cache_read_input_tokens") {
            self.cache_read = n;
        }
        if let Some(n) = u(v, "cache_creation_input_tokens") {
            self.cache_write = n;
        }
        if let Some(n) = u(v, "output_tokens") {
            self.output = n;
        }
        if let Some(n) = u(v, "reasoning_tokens") {
            self.reasoning = n;
        }
    }

    pub(crate) fn canonical(&self) -> Usage {
        Usage {
            // Upstream numbers are untrusted: saturate rather than overflow.
            input: self
                .input
                .saturating_add(self.cache_read)
                .saturating_add(self.cache_write),
            cache_read: self.cache_read,
            cache_write: self.cache_write,
            output: self.output,
            reasoning: self.reasoning,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct AnthropicDecoder {
    blocks: Vec<(usize, Block, Option<String>)>,
    usage: RawUsage,
}

impl AnthropicDecoder {
    fn block(&mut self, index: usize) -> Option<&mut (usize, Block, Option<String>)> {
        self.blocks.iter_mut().find(|b| b.0 == index)
    }
}

impl crate::stream::Decoder for AnthropicDecoder {
    fn decode(&mut self, event: &SseEvent, out: &mut Vec<Delta>) -> Result<(), Error> {
        let Some(v) = payload(event) else {
            return Ok(());
        };
        let ty = s(&v, "type").unwrap_or(event.name()).to_owned();
        let index = u(&v, "index").unwrap_or(0) as usize;
        match ty.as_str() {
            "message_start" => {
                let m = &v["message"];
                out.push(Delta::Meta {
                    id: s(m, "id").map(str::to_owned),
                    model: s(m, "model").map(str::to_owned),
                    created: None,
                });
                if let Some(us) = m.get("usage") {
                    self.usage.merge(us);
                    out.push(Delta::Usage(self.usage.canonical()));
                }
                // A non-streaming-shaped start may already hold content; ignore it (the API never does).
            }
            "content_block_start" => {
                let b = &v["content_block"];
                let kind = match s(b, "type").unwrap_or("") {
                    "text" => {
                        if let Some(t) = s(b, "text").filter(|t| !t.is_empty()) {
                            out.push(Delta::Text(t.to_owned()));
                        }
                        Block::Text
                    }
                    "thinking" => {
                        if let Some(t) = s(b, "thinking").filter(|t| !t.is_empty()) {
                            out.push(Delta::Reasoning(t.to_owned()));
                        }
                        Block::Thinking
                    }
                    "redacted_thinking" => {
                        out.push(Delta::RedactedReasoning(Sig::redacted(
                            Family::Anthropic,
                            s(b, "data").unwrap_or(""),
                        )));
                        Block::Other
                    }
                    "tool_use" | "server_tool_use" => {
                        out.push(Delta::ToolStart {
                            key: index,
                            id: s(b, "id").map(str::to_owned),
                            name: s(b, "name").unwrap_or("").to_owned(),
                            signature: None,
                        });
                        if let Some(input) = b
                            .get("input")
                            .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                        {
                            out.push(Delta::ToolArgs {
                                key: index,
                                fragment: input.to_string(),
                            });
                        }
                        Block::Tool
                    }
                    _ => Block::Other,
                };
                self.blocks.retain(|b| b.0 != index);
                self.blocks.push((index, kind, None));
            }
            "content_block_delta" => {
                let d = &v["delta"];
                match s(d, "type").unwrap_or("") {
                    "text_delta" => {
                        if let Some(t) = s(d, "text").filter(|t| !t.is_empty()) {
                            out.push(Delta::Text(t.to_owned()));
                        }
                    }
                    "thinking_delta" => {
                        if let Some(t) = s(d, "thinking").filter(|t| !t.is_empty()) {
                            out.push(Delta::Reasoning(t.to_owned()));
                        }
                    }
                    "signature_delta" => {
                        let sig = s(d, "signature").unwrap_or("").to_owned();
                        if let Some(b) = self.block(index) {
                            b.2 = Some(sig);
                        }
                    }
                    "input_json_delta" => {
                        if let Some(p) = s(d, "partial_json").filter(|p| !p.is_empty()) {
                            out.push(Delta::ToolArgs {
                                key: index,
                                fragment: p.to_owned(),
                            });
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                if let Some(pos) = self.blocks.iter().position(|b| b.0 == index) {
                    let (_, kind, sig) = self.blocks.remove(pos);
                    match kind {
                        Block::Thinking => {
                            if let Some(sig) = sig.filter(|s| !s.is_empty()) {
                                out.push(Delta::ReasoningSignature(Sig::new(
                                    Family::Anthropic,
                                    sig,
                                )));
                            }
                        }
                        Block::Tool => out.push(Delta::ToolEnd { key: index }),
                        Block::Text | Block::Other => {}
                    }
                }
            }
            "message_delta" => {
                if let Some(us) = v.get("usage") {
                    self.usage.merge(us);
                    out.push(Delta::Usage(self.usage.canonical()));
                }
                if let Some(r) = s(&v["delta"], "stop_reason") {
                    out.push(Delta::Finish(Finish::from_anthropic(r)));
                }
            }
            "message_stop" => out.push(Delta::Done),
            "error" => {
                let (msg, kind) = read_error(&v);
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
