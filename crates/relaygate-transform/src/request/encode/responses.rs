//! IR -> OpenAI Responses request.
//!
//! Loss table (each reported in `losses` when present in the source):
//! - `reasoning.signature`: reasoning minted by another vendor (no `encrypted_content` OpenAI
//!   can read), left out.
//! - `top_k`, `stop`, `seed`, `frequency_penalty`, `presence_penalty`: no Responses equivalent.
//! - `cache_control`: OpenAI caches prompts automatically.

use serde_json::{Map, Value, json};

use crate::ir::{Media, Part, Request, ResponseFormat, Role, Tool, ToolChoice};
use crate::request::joined_text;
use crate::util::{data_url, lose, openai_tool_name, put};
use crate::{Loss, Protocol, RequestOptions};

const P: Protocol = Protocol::OpenAiResponses;

fn input_part(p: &Part, assistant: bool) -> Option<Value> {
    Some(match p {
        Part::Text { text, .. } if assistant => json!({"type": "output_text", "text": text}),
        Part::Text { text, .. } => json!({"type": "input_text", "text": text}),
        Part::Image { media, detail } => {
            let mut v = match media {
                Media::Url(u) => json!({"type": "input_image", "image_url": u}),
                Media::Base64 { mime, data } => {
                    json!({"type": "input_image", "image_url": data_url(mime, data)})
                }
                Media::FileId(id) => json!({"type": "input_image", "file_id": id}),
            };
            v["detail"] = json!(detail.clone().unwrap_or_else(|| "auto".into()));
            v
        }
        Part::Document { media, filename } => {
            let mut v = match media {
                Media::Url(u) => json!({"type": "input_file", "file_url": u}),
                Media::Base64 { mime, data } => {
                    json!({"type": "input_file", "file_data": data_url(mime, data)})
                }
                Media::FileId(id) => json!({"type": "input_file", "file_id": id}),
            };
            if let Some(f) = filename {
                v["filename"] = json!(f);
            }
            v
        }
        _ => return None,
    })
}

fn effort(e: &str) -> &str {
    match e {
        "auto" => "medium",
        "max" => "high",
        other => other,
    }
}

pub(crate) fn encode(r: &Request, opts: &RequestOptions, losses: &mut Vec<Loss>) -> Value {
    let mut input: Vec<Value> = Vec::new();
    let mut pending: Vec<Value> = Vec::new();
    let mut pending_role = "user";
    let flush = |input: &mut Vec<Value>, pending: &mut Vec<Value>, role: &str| {
        if !pending.is_empty() {
            input
                .push(json!({"type": "message", "role": role, "content": std::mem::take(pending)}));
        }
    };
    for t in &r.turns {
        let role = match t.role {
            Role::System => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        if role != pending_role {
            flush(&mut input, &mut pending, pending_role);
            pending_role = role;
        }
        for p in &t.parts {
            match p {
                Part::ToolCall(tc) => {
                    flush(&mut input, &mut pending, role);
                    input.push(json!({"type": "function_call", "call_id": tc.id, "name": openai_tool_name(&tc.name), "arguments": tc.arguments}));
                }
                Part::ToolResult {
                    call_id,
                    content,
                    is_error,
                    ..
                } => {
                    flush(&mut input, &mut pending, role);
                    let mut text = joined_text(content, "\n");
                    if *is_error {
                        text = format!("Error: {text}");
                    }
                    input.push(
                        json!({"type": "function_call_output", "call_id": call_id, "output": text}),
                    );
                }
                Part::Reasoning {
                    text, signature, ..
                } => {
                    flush(&mut input, &mut pending, role);
                    match signature.as_ref().and_then(|s| s.for_upstream(P)) {
                        Some(enc) => {
                            let summary = if text.is_empty() {
                                json!([])
                            } else {
                                json!([{"type": "summary_text", "text": text}])
                            };
                            input.push(json!({"type": "reasoning", "summary": summary, "encrypted_content": enc}));
                        }
                        None => lose(
                            losses,
                            "reasoning.signature",
                            "reasoning minted by another vendor cannot be replayed to OpenAI",
                        ),
                    }
                }
                Part::Text {
                    cache_control: Some(_),
                    ..
                } => {
                    if !losses.iter().any(|l| l.field == "cache_control") {
                        lose(
                            losses,
                            "cache_control",
                            "OpenAI caches prompts automatically",
                        );
                    }
                    pending.extend(input_part(p, t.role == Role::Assistant));
                }
                other => pending.extend(input_part(other, t.role == Role::Assistant)),
            }
        }
    }
    flush(&mut input, &mut pending, pending_role);
    let mut m = Map::new();
    m.insert("model".into(), json!(opts.upstream_model));
    let instructions = joined_text(&r.system, "\n\n");
    if !instructions.is_empty() {
        m.insert("instructions".into(), json!(instructions));
    }
    m.insert("input".into(), json!(input));
    if opts.stream {
        m.insert("stream".into(), json!(true));
    }
    m.insert("store".into(), json!(false));
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
                let mut f = json!({"type": "function", "name": openai_tool_name(name), "parameters": schema, "strict": strict.unwrap_or(false)});
                if let Some(d) = description {
                    f["description"] = json!(d);
                }
                tools.push(f);
            }
            Tool::WebSearch => tools.push(json!({"type": "web_search"})),
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
                ToolChoice::Named(n) => json!({"type": "function", "name": openai_tool_name(n)}),
            }),
        );
        put(&mut m, "parallel_tool_calls", r.parallel_tool_calls);
    }
    put(&mut m, "max_output_tokens", r.max_tokens.filter(|x| *x > 0));
    put(&mut m, "temperature", r.temperature);
    put(&mut m, "top_p", r.top_p);
    put(&mut m, "user", r.user.clone());
    if let Some(e) = r.effective_effort().filter(|e| e != "none") {
        m.insert(
            "reasoning".into(),
            json!({"effort": effort(&e), "summary": "auto"}),
        );
        m.insert("include".into(), json!(["reasoning.encrypted_content"]));
    }
    match &r.response_format {
        Some(ResponseFormat::JsonObject) => {
            m.insert("text".into(), json!({"format": {"type": "json_object"}}));
        }
        Some(ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        }) => {
            m.insert("text".into(), json!({"format": {"type": "json_schema", "name": name, "schema": schema, "strict": strict.unwrap_or(false)}}));
        }
        None => {}
    }
    for (field, present) in [
        ("top_k", r.top_k.is_some()),
        ("stop", !r.stop.is_empty()),
        ("seed", r.seed.is_some()),
        ("frequency_penalty", r.frequency_penalty.is_some()),
        ("presence_penalty", r.presence_penalty.is_some()),
    ] {
        if present {
            lose(losses, field, "no OpenAI Responses equivalent");
        }
    }
    Value::Object(m)
}
