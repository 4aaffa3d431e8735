//! IR -> OpenAI Chat Completions request.
//!
//! Loss table (each reported in `losses` when present in the source):
//! - `reasoning.signature`: Chat has no field for signatures or encrypted reasoning; the
//!   reasoning text goes back as `reasoning_content`.
//! - `tools[web_search]`: hosted web search is not a Chat tool.
//! - `top_k`: not an OpenAI parameter.
//! - `cache_control`: OpenAI caches prompts automatically.

use serde_json::{Map, Value, json};

use crate::ir::{Media, Part, Request, ResponseFormat, Role, Thinking, Tool, ToolChoice};
use crate::request::joined_text;
use crate::util::{data_url, lose, openai_tool_name, put};
use crate::{Loss, RequestOptions};

fn content_item(p: &Part) -> Option<Value> {
    Some(match p {
        Part::Text { text, .. } => json!({"type": "text", "text": text}),
        Part::Image { media, detail } => {
            let url = match media {
                Media::Url(u) => u.clone(),
                Media::Base64 { mime, data } => data_url(mime, data),
                Media::FileId(id) => return Some(json!({"type": "input_image", "file_id": id})),
            };
            let mut iu = json!({"url": url});
            if let Some(d) = detail {
                iu["detail"] = json!(d);
            }
            json!({"type": "image_url", "image_url": iu})
        }
        Part::Document { media, filename } => {
            let mut f = match media {
                Media::FileId(id) => json!({"file_id": id}),
                Media::Base64 { mime, data } => json!({"file_data": data_url(mime, data)}),
                Media::Url(u) => json!({"file_data": u}),
            };
            if let Some(n) = filename {
                f["filename"] = json!(n);
            }
            json!({"type": "file", "file": f})
        }
        _ => return None,
    })
}

/// Text-only content becomes a plain string (non-empty parts joined by a blank line),
/// anything else an array.
fn content(parts: &[&Part]) -> Value {
    if parts.iter().all(|p| matches!(p, Part::Text { .. })) {
        let text: Vec<&str> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Text { text, .. } if !text.is_empty() => Some(text.as_str()),
                _ => None,
            })
            .collect();
        return json!(text.join("\n\n"));
    }
    Value::Array(parts.iter().filter_map(|p| content_item(p)).collect())
}

pub(crate) fn encode(r: &Request, opts: &RequestOptions, losses: &mut Vec<Loss>) -> Value {
    let mut messages: Vec<Value> = Vec::new();
    let mut cache_seen = false;
    let mut note_cache = |p: &Part, losses: &mut Vec<Loss>| {
        if let Part::Text {
            cache_control: Some(_),
            ..
        } = p
            && !cache_seen
        {
            cache_seen = true;
            lose(
                losses,
                "cache_control",
                "OpenAI caches prompts automatically",
            );
        }
    };
    if !r.system.is_empty() {
        r.system.iter().for_each(|p| note_cache(p, losses));
        messages.push(json!({"role": "system", "content": joined_text(&r.system, "\n\n")}));
    }
    for t in &r.turns {
        t.parts.iter().for_each(|p| note_cache(p, losses));
        match t.role {
            Role::System => {
                messages.push(json!({"role": "system", "content": joined_text(&t.parts, "\n\n")}))
            }
            Role::User => {
                // Tool messages must directly follow the assistant's tool_calls.
                for p in &t.parts {
                    if let Part::ToolResult {
                        call_id,
                        content: c,
                        is_error,
                        ..
                    } = p
                    {
                        let mut text = joined_text(c, "\n");
                        if *is_error {
                            text = format!("Error: {text}");
                        }
                        let has_media = c.iter().any(|x| !matches!(x, Part::Text { .. }));
                        let body = if has_media {
                            content(&c.iter().collect::<Vec<_>>())
                        } else {
                            json!(text)
                        };
                        messages.push(
                            json!({"role": "tool", "tool_call_id": call_id, "content": body}),
                        );
                    }
                }
                let rest: Vec<&Part> = t
                    .parts
                    .iter()
                    .filter(|p| !matches!(p, Part::ToolResult { .. }))
                    .collect();
                if !rest.is_empty() {
                    messages.push(json!({"role": "user", "content": content(&rest)}));
                }
            }
            Role::Assistant => {
                let mut reasoning = Vec::new();
                let mut calls = Vec::new();
                let mut rest = Vec::new();
                for p in &t.parts {
                    match p {
                        Part::Reasoning {
                            text, signature, ..
                        } => {
                            if !text.is_empty() {
                                reasoning.push(text.as_str());
                            }
                            if signature.is_some() {
                                lose(
                                    losses,
                                    "reasoning.signature",
                                    "OpenAI Chat has no field for reasoning signatures",
                                );
                            }
                        }
                        Part::ToolCall(tc) => calls.push(json!({"id": tc.id, "type": "function",
                            "function": {"name": openai_tool_name(&tc.name), "arguments": tc.arguments}})),
                        other => rest.push(other),
                    }
                }
                let mut msg = json!({"role": "assistant", "content": if rest.is_empty() { json!("") } else { content(&rest) }});
                if !calls.is_empty() {
                    msg["tool_calls"] = json!(calls);
                }
                if !reasoning.is_empty() {
                    msg["reasoning_content"] = json!(reasoning.join("\n\n"));
                }
                messages.push(msg);
            }
        }
    }
    let mut m = Map::new();
    m.insert("model".into(), json!(opts.upstream_model));
    m.insert("messages".into(), json!(messages));
    m.insert("stream".into(), json!(opts.stream));
    if opts.stream {
        m.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let mut tools = Vec::new();
    for t in &r.tools {
        match t {
            Tool::Function {
                name,
                description,
                schema,
                strict,
                ..
            } => {
                let mut f = json!({"name": openai_tool_name(name), "parameters": schema});
                if let Some(d) = description {
                    f["description"] = json!(d);
                }
                if let Some(s) = strict {
                    f["strict"] = json!(s);
                }
                tools.push(json!({"type": "function", "function": f}));
            }
            Tool::WebSearch => lose(
                losses,
                "tools[web_search]",
                "hosted web search is not a Chat Completions tool",
            ),
        }
    }
    if !tools.is_empty() {
        m.insert("tools".into(), json!(tools));
        put(
            &mut m,
            "tool_choice",
            r.tool_choice.as_ref().map(|c| match c {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Named(n) => {
                    json!({"type": "function", "function": {"name": openai_tool_name(n)}})
                }
            }),
        );
        put(&mut m, "parallel_tool_calls", r.parallel_tool_calls);
    }
    put(&mut m, "max_completion_tokens", r.max_tokens);
    put(&mut m, "temperature", r.temperature);
    put(&mut m, "top_p", r.top_p);
    put(&mut m, "seed", r.seed);
    put(&mut m, "frequency_penalty", r.frequency_penalty);
    put(&mut m, "presence_penalty", r.presence_penalty);
    put(&mut m, "user", r.user.clone());
    if !r.stop.is_empty() {
        m.insert("stop".into(), json!(r.stop));
    }
    if r.top_k.is_some() {
        lose(losses, "top_k", "not an OpenAI Chat parameter");
    }
    let effort = match (&r.effort, &r.thinking) {
        (Some(e), _) => Some(e.clone()),
        (None, Some(Thinking::Enabled { .. } | Thinking::Disabled)) => r.effective_effort(),
        _ => None,
    };
    put(
        &mut m,
        "reasoning_effort",
        effort.map(|e| if e == "max" { "high".to_owned() } else { e }),
    );
    match &r.response_format {
        Some(ResponseFormat::JsonObject) => {
            m.insert("response_format".into(), json!({"type": "json_object"}));
        }
        Some(ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        }) => {
            let mut js = json!({"name": name, "schema": schema});
            if let Some(s) = strict {
                js["strict"] = json!(s);
            }
            m.insert(
                "response_format".into(),
                json!({"type": "json_schema", "json_schema": js}),
            );
        }
        None => {}
    }
    Value::Object(m)
}
