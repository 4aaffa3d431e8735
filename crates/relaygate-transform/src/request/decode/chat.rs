//! OpenAI Chat Completions request -> IR.

use serde_json::Value;

use crate::ir::{Media, Part, Request, ResponseFormat, Role, Tool, ToolCall, ToolChoice};
use crate::request::push_part;
use crate::util::{args_text, arr, f, lose, media_from_url, obj, s, u, unsupported};
use crate::{Error, Loss, Protocol};

const P: Protocol = Protocol::OpenAiChat;

fn content_parts(c: &Value, losses: &mut Vec<Loss>) -> Vec<Part> {
    let mut out = Vec::new();
    match c {
        Value::String(t) if !t.is_empty() => out.push(Part::text(t.clone())),
        Value::Array(items) => {
            for it in items {
                match s(it, "type").unwrap_or("text") {
                    "text" | "input_text" => {
                        if let Some(t) = s(it, "text").filter(|t| !t.is_empty()) {
                            out.push(Part::text(t));
                        }
                    }
                    "image_url" | "input_image" => {
                        let iu = &it["image_url"];
                        let url = iu.as_str().or(s(iu, "url"));
                        let media = match (url, s(it, "file_id")) {
                            (Some(url), _) => media_from_url(url),
                            (None, Some(id)) => Media::FileId(id.to_owned()),
                            _ => continue,
                        };
                        out.push(Part::Image {
                            media,
                            detail: s(iu, "detail").or(s(it, "detail")).map(str::to_owned),
                        });
                    }
                    "file" | "input_file" => {
                        let fl = it.get("file").unwrap_or(it);
                        let media = if let Some(id) = s(fl, "file_id") {
                            Media::FileId(id.to_owned())
                        } else if let Some(d) = s(fl, "file_data") {
                            media_from_url(d)
                        } else {
                            continue;
                        };
                        out.push(Part::Document {
                            media,
                            filename: s(fl, "filename").map(str::to_owned),
                        });
                    }
                    other => lose(
                        losses,
                        format!("messages.content[{other}]"),
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
    for m in arr(v, "messages") {
        let content = m.get("content").unwrap_or(&Value::Null);
        match s(m, "role") {
            Some("system" | "developer") => {
                let parts = content_parts(content, losses);
                if r.turns.is_empty() {
                    r.system.extend(parts);
                } else {
                    for p in parts {
                        push_part(&mut r.turns, Role::System, p);
                    }
                }
            }
            Some("user") => {
                for p in content_parts(content, losses) {
                    push_part(&mut r.turns, Role::User, p);
                }
            }
            Some("assistant") => {
                let mut parts = Vec::new();
                if let Some(t) = s(m, "reasoning_content").filter(|t| !t.is_empty()) {
                    parts.push(Part::Reasoning {
                        text: t.to_owned(),
                        signature: None,
                        redacted: false,
                    });
                }
                parts.extend(content_parts(content, losses));
                for tc in arr(m, "tool_calls") {
                    let func = &tc["function"];
                    parts.push(Part::ToolCall(ToolCall {
                        id: s(tc, "id").unwrap_or("").to_owned(),
                        name: s(func, "name").unwrap_or("").to_owned(),
                        arguments: args_text(func.get("arguments")),
                        signature: None,
                    }));
                }
                for p in parts {
                    push_part(&mut r.turns, Role::Assistant, p);
                }
            }
            Some("tool" | "function") => {
                let id = s(m, "tool_call_id")
                    .ok_or_else(|| unsupported(P, "tool message without tool_call_id"))?;
                let parts = match content {
                    Value::String(t) => vec![Part::text(t.clone())],
                    other => content_parts(other, losses),
                };
                push_part(
                    &mut r.turns,
                    Role::User,
                    Part::ToolResult {
                        call_id: id.to_owned(),
                        name: s(m, "name").map(str::to_owned),
                        content: parts,
                        is_error: false,
                    },
                );
            }
            other => return Err(unsupported(P, format!("unknown role {other:?}"))),
        }
    }
    for t in arr(v, "tools") {
        match s(t, "type").unwrap_or("function") {
            "function" => {
                let func = &t["function"];
                r.tools.push(Tool::Function {
                    name: s(func, "name").unwrap_or("").to_owned(),
                    description: s(func, "description").map(str::to_owned),
                    schema: func
                        .get("parameters")
                        .cloned()
                        .unwrap_or(serde_json::json!({"type": "object", "properties": {}})),
                    strict: func.get("strict").and_then(Value::as_bool),
                    cache_control: None,
                });
            }
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
        Some(c @ Value::Object(_)) => {
            s(&c["function"], "name").map(|n| ToolChoice::Named(n.to_owned()))
        }
        _ => None,
    };
    r.parallel_tool_calls = v.get("parallel_tool_calls").and_then(Value::as_bool);
    r.max_tokens = u(v, "max_completion_tokens").or(u(v, "max_tokens"));
    r.temperature = f(v, "temperature");
    r.top_p = f(v, "top_p");
    r.top_k = u(v, "top_k");
    r.seed = v.get("seed").and_then(Value::as_i64);
    r.frequency_penalty = f(v, "frequency_penalty");
    r.presence_penalty = f(v, "presence_penalty");
    r.user = s(v, "user").map(str::to_owned);
    r.stop = match v.get("stop") {
        Some(Value::String(x)) => vec![x.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    r.stop.retain(|x| !x.is_empty());
    r.effort = s(v, "reasoning_effort").map(str::to_owned);
    let rf = &v["response_format"];
    r.response_format = match s(rf, "type") {
        Some("json_object") => Some(ResponseFormat::JsonObject),
        Some("json_schema") => Some(ResponseFormat::JsonSchema {
            name: s(&rf["json_schema"], "name")
                .unwrap_or("response")
                .to_owned(),
            schema: rf["json_schema"]
                .get("schema")
                .cloned()
                .unwrap_or(Value::Null),
            strict: rf["json_schema"].get("strict").and_then(Value::as_bool),
        }),
        _ => None,
    };
    for key in [
        "n",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "modalities",
        "audio",
        "prediction",
        "service_tier",
    ] {
        if v.get(key).is_some_and(|x| !x.is_null()) {
            lose(losses, key, "OpenAI Chat-only request field");
        }
    }
    Ok(r)
}
