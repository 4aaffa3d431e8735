//! IR -> Anthropic Messages request.
//!
//! Loss table (each reported in `losses` when present in the source):
//! - `seed`, `frequency_penalty`, `presence_penalty`: no Anthropic equivalent.
//! - `response_format`: not sent (no stable structured-output field).
//! - `reasoning.signature`: reasoning minted by another vendor (its text cannot be verified by
//!   Anthropic, so the block is left out).
//! - `temperature` / `top_k` / `tool_choice` with thinking on: Anthropic rejects them together.

use serde_json::{Map, Value, json};

use crate::ir::{Media, Part, Request, Role, Thinking, Tool, ToolChoice};
use crate::util::{args_value, lose, put, sanitize_tool_id};
use crate::{Loss, Protocol, RequestOptions};

const P: Protocol = Protocol::Anthropic;
/// Used when the client gave no limit (Anthropic requires one).
pub(crate) const DEFAULT_MAX_TOKENS: u64 = 8192;

fn source(m: &Media) -> Value {
    match m {
        Media::Url(u) => json!({"type": "url", "url": u}),
        Media::Base64 { mime, data } => json!({"type": "base64", "media_type": mime, "data": data}),
        Media::FileId(id) => json!({"type": "file", "file_id": id}),
    }
}

fn block(p: &Part, losses: &mut Vec<Loss>) -> Option<Value> {
    Some(match p {
        Part::Text {
            text,
            cache_control,
        } => {
            let mut b = json!({"type": "text", "text": text});
            if let Some(cc) = cache_control {
                b["cache_control"] = cc.clone();
            }
            b
        }
        Part::Image { media, .. } => json!({"type": "image", "source": source(media)}),
        Part::Document { media, filename } => {
            let mut b = json!({"type": "document", "source": source(media)});
            if let Some(f) = filename {
                b["title"] = json!(f);
            }
            b
        }
        Part::TextDocument {
            text,
            title,
            context,
            cache_control,
        } => {
            let mut b = json!({"type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": text}});
            if let Some(t) = title {
                b["title"] = json!(t);
            }
            if let Some(c) = context {
                b["context"] = json!(c);
            }
            if let Some(cc) = cache_control {
                b["cache_control"] = cc.clone();
            }
            b
        }
        Part::ToolCall(tc) => {
            json!({"type": "tool_use", "id": sanitize_tool_id(&tc.id), "name": tc.name,
            "input": args_value(&tc.arguments)})
        }
        Part::ToolResult {
            call_id,
            content,
            is_error,
            ..
        } => {
            let inner: Vec<Value> = content.iter().filter_map(|c| block(c, losses)).collect();
            let mut b = json!({"type": "tool_result", "tool_use_id": sanitize_tool_id(call_id), "content": inner});
            if *is_error {
                b["is_error"] = json!(true);
            }
            b
        }
        Part::Reasoning {
            text,
            signature,
            redacted,
        } => {
            let Some(sig) = signature.as_ref().and_then(|s| s.for_upstream(P)) else {
                if !text.is_empty() || signature.is_some() {
                    lose(
                        losses,
                        "reasoning.signature",
                        "reasoning minted by another vendor cannot be replayed to Anthropic",
                    );
                }
                return None;
            };
            if *redacted {
                json!({"type": "redacted_thinking", "data": sig})
            } else {
                json!({"type": "thinking", "thinking": text, "signature": sig})
            }
        }
    })
}

pub(crate) fn encode(r: &Request, opts: &RequestOptions, losses: &mut Vec<Loss>) -> Value {
    let mut system: Vec<Value> = r
        .system
        .iter()
        .filter_map(|p| block(p, losses))
        .filter(|b| b["type"] == "text")
        .collect();
    let mut messages: Vec<Value> = Vec::new();
    for t in &r.turns {
        if t.role == Role::System {
            system.extend(
                t.parts
                    .iter()
                    .filter_map(|p| block(p, losses))
                    .filter(|b| b["type"] == "text"),
            );
            continue;
        }
        let role = if t.role == Role::Assistant {
            "assistant"
        } else {
            "user"
        };
        let mut blocks: Vec<Value> = t.parts.iter().filter_map(|p| block(p, losses)).collect();
        // tool_result blocks go first in a user message; thinking first in an assistant one.
        let first = if role == "user" {
            "tool_result"
        } else {
            "thinking"
        };
        blocks.sort_by_key(|b| {
            let ty = b["type"].as_str().unwrap_or("");
            !(ty == first || (first == "thinking" && ty == "redacted_thinking"))
        });
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(a) = last["content"].as_array_mut() {
                    a.extend(blocks);
                }
            }
            _ => messages.push(json!({"role": role, "content": blocks})),
        }
    }
    if messages.is_empty() {
        messages.push(json!({"role": "user", "content": std::mem::take(&mut system)}));
    }
    let thinking = r.effective_thinking();
    let thinking_on = matches!(
        thinking,
        Some(Thinking::Enabled { .. } | Thinking::Adaptive)
    );
    let mut max_tokens = r
        .max_tokens
        .filter(|m| *m > 0)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    let mut m = Map::new();
    m.insert("model".into(), json!(opts.upstream_model));
    m.insert("messages".into(), json!(messages));
    if !system.is_empty() {
        m.insert("system".into(), json!(system));
    }
    match &thinking {
        Some(Thinking::Enabled { budget }) => {
            let budget = budget.unwrap_or(4096).max(1024);
            if budget >= max_tokens {
                max_tokens = budget + DEFAULT_MAX_TOKENS.min(4096);
            }
            m.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": budget}),
            );
        }
        Some(Thinking::Disabled) => {
            m.insert("thinking".into(), json!({"type": "disabled"}));
        }
        Some(Thinking::Adaptive) => {
            m.insert("thinking".into(), json!({"type": "adaptive"}));
        }
        None => {}
    }
    m.insert("max_tokens".into(), json!(max_tokens));
    if opts.stream {
        m.insert("stream".into(), json!(true));
    }
    let mut tools: Vec<Value> = Vec::new();
    for t in &r.tools {
        match t {
            Tool::Function {
                name,
                description,
                schema,
                cache_control,
                ..
            } => {
                let mut schema = schema.clone();
                if !schema.is_object() {
                    schema = json!({"type": "object"});
                }
                let mut tv = json!({"name": name, "input_schema": schema});
                if let Some(d) = description {
                    tv["description"] = json!(d);
                }
                if let Some(cc) = cache_control {
                    tv["cache_control"] = cc.clone();
                }
                tools.push(tv);
            }
            Tool::WebSearch => {
                tools.push(json!({"type": "web_search_20250305", "name": "web_search"}))
            }
        }
    }
    if !tools.is_empty() {
        m.insert("tools".into(), json!(tools));
        let mut choice = match &r.tool_choice {
            Some(ToolChoice::Required) if thinking_on => {
                lose(
                    losses,
                    "tool_choice",
                    "Anthropic rejects a forced tool choice with thinking on",
                );
                Some(json!({"type": "auto"}))
            }
            Some(ToolChoice::Named(_)) if thinking_on => {
                lose(
                    losses,
                    "tool_choice",
                    "Anthropic rejects a forced tool choice with thinking on",
                );
                Some(json!({"type": "auto"}))
            }
            Some(ToolChoice::Auto) => Some(json!({"type": "auto"})),
            Some(ToolChoice::None) => Some(json!({"type": "none"})),
            Some(ToolChoice::Required) => Some(json!({"type": "any"})),
            Some(ToolChoice::Named(n)) => Some(json!({"type": "tool", "name": n})),
            None => None,
        };
        if r.parallel_tool_calls == Some(false) {
            let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
            c["disable_parallel_tool_use"] = json!(true);
        }
        put(&mut m, "tool_choice", choice);
    }
    if thinking_on {
        if r.temperature
            .is_some_and(|t| (t - 1.0).abs() > f64::EPSILON)
        {
            lose(
                losses,
                "temperature",
                "Anthropic requires temperature 1 with thinking on",
            );
        }
        if r.top_k.is_some() {
            lose(losses, "top_k", "Anthropic rejects top_k with thinking on");
        }
        put(&mut m, "top_p", r.top_p.map(|p| p.clamp(0.95, 1.0)));
    } else {
        put(&mut m, "temperature", r.temperature);
        put(&mut m, "top_p", r.top_p);
        put(&mut m, "top_k", r.top_k);
    }
    if !r.stop.is_empty() {
        m.insert("stop_sequences".into(), json!(r.stop));
    }
    if let Some(u) = &r.user {
        m.insert("metadata".into(), json!({"user_id": u}));
    }
    if let Some(e) = &r.effort
        && r.thinking == Some(Thinking::Adaptive)
    {
        m.insert("output_config".into(), json!({"effort": e}));
    }
    for (field, present) in [
        ("seed", r.seed.is_some()),
        ("frequency_penalty", r.frequency_penalty.is_some()),
        ("presence_penalty", r.presence_penalty.is_some()),
        ("response_format", r.response_format.is_some()),
    ] {
        if present {
            lose(losses, field, "no Anthropic Messages equivalent");
        }
    }
    Value::Object(m)
}
