//! OpenAI Responses request -> IR.

use serde_json::Value;

use crate::ir::{Media, Part, Request, ResponseFormat, Role, Sig, Tool, ToolCall, ToolChoice};
use crate::request::push_part;
use crate::util::{args_text, arr, f, lose, media_from_url, obj, s, u, unsupported};
use crate::{Error, Loss, Protocol};

const P: Protocol = Protocol::OpenAiResponses;

fn parts(c: &Value, losses: &mut Vec<Loss>) -> Vec<Part> {
    let mut out = Vec::new();
    match c {
        Value::String(t) if !t.is_empty() => out.push(Part::text(t.clone())),
        Value::Array(items) => {
            for it in items {
                match s(it, "type").unwrap_or("input_text") {
                    "input_text" | "output_text" | "text" => {
                        if let Some(t) = s(it, "text").filter(|t| !t.is_empty()) {
                            out.push(Part::text(t));
                        }
                    }
                    "input_image" => {
                        let media = match (s(it, "image_url"), s(it, "file_id")) {
                            (Some(url), _) => media_from_url(url),
                            (None, Some(id)) => Media::FileId(id.to_owned()),
                            _ => continue,
                        };
                        out.push(Part::Image {
                            media,
                            detail: s(it, "detail").map(str::to_owned),
                        });
                    }
                    "input_file" => {
                        let media = if let Some(id) = s(it, "file_id") {
                            Media::FileId(id.to_owned())
                        } else if let Some(d) = s(it, "file_data") {
                            media_from_url(d)
                        } else if let Some(url) = s(it, "file_url") {
                            Media::Url(url.to_owned())
                        } else {
                            continue;
                        };
                        out.push(Part::Document {
                            media,
                            filename: s(it, "filename").map(str::to_owned),
                        });
                    }
                    "refusal" => {
                        if let Some(t) = s(it, "refusal") {
                            out.push(Part::text(t));
                        }
                    }
                    other => lose(
                        losses,
                        format!("input.content[{other}]"),
                        "content type has no equivalent upstream",
                    ),
                }
            }
        }
        _ => {}
    }
    out
}

pub(crate) fn decode(v: &Value, losses: &mut Vec<Loss>) -> Result<Request, Error> {
    obj(v, P)?;
    let mut r = Request::default();
    if let Some(i) = s(v, "instructions").filter(|i| !i.is_empty()) {
        r.system.push(Part::text(i));
    }
    match v.get("input") {
        Some(Value::String(t)) => push_part(&mut r.turns, Role::User, Part::text(t.clone())),
        Some(Value::Array(items)) => {
            for it in items {
                let ty = s(it, "type").unwrap_or(if it.get("role").is_some() {
                    "message"
                } else {
                    ""
                });
                match ty {
                    "message" => {
                        let role = match s(it, "role") {
                            Some("assistant") => Role::Assistant,
                            Some("system" | "developer") => Role::System,
                            Some("user") | None => Role::User,
                            Some(other) => {
                                return Err(unsupported(P, format!("unknown role {other}")));
                            }
                        };
                        let ps = parts(it.get("content").unwrap_or(&Value::Null), losses);
                        if role == Role::System && r.turns.is_empty() {
                            r.system.extend(ps);
                        } else {
                            for p in ps {
                                push_part(&mut r.turns, role, p);
                            }
                        }
                    }
                    "input_text" | "input_image" | "input_file" => {
                        for p in parts(&Value::Array(vec![it.clone()]), losses) {
                            push_part(&mut r.turns, Role::User, p);
                        }
                    }
                    "function_call" => push_part(
                        &mut r.turns,
                        Role::Assistant,
                        Part::ToolCall(ToolCall {
                            id: s(it, "call_id")
                                .or(s(it, "id"))
                                .or(s(it, "name"))
                                .unwrap_or("")
                                .to_owned(),
                            name: s(it, "name").unwrap_or("").to_owned(),
                            arguments: args_text(it.get("arguments")),
                            signature: None,
                        }),
                    ),
                    "function_call_output" => {
                        let content = match it.get("output").or(it.get("content")) {
                            Some(Value::String(t)) => vec![Part::text(t.clone())],
                            Some(a @ Value::Array(_)) => parts(a, losses),
                            Some(other) => vec![Part::text(other.to_string())],
                            None => Vec::new(),
                        };
                        push_part(
                            &mut r.turns,
                            Role::User,
                            Part::ToolResult {
                                call_id: s(it, "call_id").unwrap_or("").to_owned(),
                                name: None,
                                content,
                                is_error: it.get("is_error").and_then(Value::as_bool) == Some(true),
                            },
                        );
                    }
                    "reasoning" => {
                        let text = crate::stream::decode::responses::reasoning_text(it);
                        let sig = s(it, "encrypted_content")
                            .filter(|e| !e.is_empty())
                            .map(|e| Sig::parse(P, e));
                        if !text.is_empty() || sig.is_some() {
                            push_part(
                                &mut r.turns,
                                Role::Assistant,
                                Part::Reasoning {
                                    text,
                                    signature: sig,
                                    redacted: false,
                                },
                            );
                        }
                    }
                    other => lose(
                        losses,
                        format!("input[{other}]"),
                        "item type has no equivalent upstream (stateless gateway)",
                    ),
                }
            }
        }
        _ => {}
    }
    for t in arr(v, "tools") {
        match s(t, "type").unwrap_or("function") {
            "function" => r.tools.push(Tool::Function {
                name: s(t, "name").unwrap_or("").to_owned(),
                description: s(t, "description").map(str::to_owned),
                schema: t
                    .get("parameters")
                    .cloned()
                    .unwrap_or(serde_json::json!({"type": "object", "properties": {}})),
                strict: t.get("strict").and_then(Value::as_bool),
                cache_control: None,
            }),
            ty if ty.starts_with("web_search") => r.tools.push(Tool::WebSearch),
            ty => lose(
                losses,
                format!("tools[{ty}]"),
                "tool type has no equivalent upstream",
            ),
        }
    }
    r.tool_choice = match v.get("tool_choice") {
        Some(Value::String(c)) => match c.as_str() {
            "none" => Some(ToolChoice::None),
            "required" => Some(ToolChoice::Required),
            _ => Some(ToolChoice::Auto),
        },
        Some(c @ Value::Object(_)) => s(c, "name").map(|n| ToolChoice::Named(n.to_owned())),
        _ => None,
    };
    r.parallel_tool_calls = v.get("parallel_tool_calls").and_then(Value::as_bool);
    r.effort = s(&v["reasoning"], "effort").map(str::to_owned);
    r.max_tokens = u(v, "max_output_tokens");
    r.temperature = f(v, "temperature");
    r.top_p = f(v, "top_p");
    r.user = s(v, "user")
        .or(s(v, "safety_identifier"))
        .map(str::to_owned);
    let fmt = &v["text"]["format"];
    r.response_format = match s(fmt, "type") {
        Some("json_object") => Some(ResponseFormat::JsonObject),
        Some("json_schema") => Some(ResponseFormat::JsonSchema {
            name: s(fmt, "name").unwrap_or("response").to_owned(),
            schema: fmt.get("schema").cloned().unwrap_or(Value::Null),
            strict: fmt.get("strict").and_then(Value::as_bool),
        }),
        _ => None,
    };
    for key in [
        "previous_response_id",
        "prompt_cache_key",
        "background",
        "conversation",
    ] {
        if v.get(key).is_some_and(|x| !x.is_null()) {
            lose(losses, key, "Responses-only request field");
        }
    }
    Ok(r)
}
