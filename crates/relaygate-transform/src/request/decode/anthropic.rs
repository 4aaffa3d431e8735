//! Anthropic Messages request -> IR.

use serde_json::Value;

use crate::ir::{Media, Part, Request, Role, Sig, Thinking, Tool, ToolCall, ToolChoice};
use crate::request::push_part;
use crate::util::{MAX_DEPTH, args_text, arr, f, lose, obj, s, u, unsupported};
use crate::{Error, Loss, Protocol};

const P: Protocol = Protocol::Anthropic;

fn media(src: &Value) -> Option<Media> {
    match s(src, "type")? {
        "base64" => Some(Media::Base64 {
            mime: s(src, "media_type")
                .unwrap_or("application/octet-stream")
                .to_owned(),
            data: s(src, "data").unwrap_or("").to_owned(),
        }),
        "url" => Some(Media::Url(s(src, "url")?.to_owned())),
        "file" => Some(Media::FileId(s(src, "file_id")?.to_owned())),
        _ => None,
    }
}

/// One content block; `depth` counts the `tool_result`s it sits in, so nesting stays bounded
/// even for a value that did not come through the (depth-limited) JSON parser.
fn block(b: &Value, losses: &mut Vec<Loss>, depth: usize) -> Option<Part> {
    let ty = s(b, "type").unwrap_or("text");
    Some(match ty {
        "text" => Part::Text {
            text: s(b, "text").unwrap_or("").to_owned(),
            cache_control: b.get("cache_control").cloned(),
        },
        "image" => Part::Image {
            media: media(&b["source"])?,
            detail: None,
        },
        "document" if s(&b["source"], "type") == Some("text") => Part::TextDocument {
            text: s(&b["source"], "data").unwrap_or("").to_owned(),
            title: s(b, "title").map(str::to_owned),
            context: s(b, "context").map(str::to_owned),
            cache_control: b.get("cache_control").cloned(),
        },
        "document" => Part::Document {
            media: media(&b["source"])?,
            filename: s(b, "title").map(str::to_owned),
        },
        "tool_use" => Part::ToolCall(ToolCall {
            id: s(b, "id").unwrap_or("").to_owned(),
            name: s(b, "name").unwrap_or("").to_owned(),
            arguments: args_text(b.get("input")),
            signature: None,
        }),
        "tool_result" => {
            let content = match b.get("content") {
                Some(Value::String(t)) => vec![Part::text(t.clone())],
                Some(Value::Array(_)) if depth >= MAX_DEPTH => {
                    lose(
                        losses,
                        "messages.content[tool_result].content",
                        "nested deeper than the JSON depth limit",
                    );
                    Vec::new()
                }
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|i| block(i, losses, depth + 1))
                    .collect(),
                None | Some(Value::Null) => Vec::new(),
                Some(other) => vec![Part::text(other.to_string())],
            };
            Part::ToolResult {
                call_id: s(b, "tool_use_id").unwrap_or("").to_owned(),
                name: None,
                content,
                is_error: b.get("is_error").and_then(Value::as_bool) == Some(true),
            }
        }
        "thinking" => Part::Reasoning {
            text: s(b, "thinking").unwrap_or("").to_owned(),
            signature: s(b, "signature")
                .filter(|x| !x.is_empty())
                .map(|x| Sig::parse(P, x)),
            redacted: false,
        },
        "redacted_thinking" => Part::Reasoning {
            text: String::new(),
            signature: Some(Sig {
                redacted: true,
                ..Sig::parse(P, s(b, "data").unwrap_or(""))
            }),
            redacted: true,
        },
        other => {
            lose(
                losses,
                format!("messages.content[{other}]"),
                "block type has no equivalent upstream",
            );
            return None;
        }
    })
}

fn blocks(content: &Value, losses: &mut Vec<Loss>) -> Vec<Part> {
    match content {
        Value::String(t) => vec![Part::text(t.clone())],
        Value::Array(items) => items.iter().filter_map(|b| block(b, losses, 0)).collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn decode(v: &Value, losses: &mut Vec<Loss>) -> Result<Request, Error> {
    obj(v, P)?;
    let mut r = Request {
        system: blocks(v.get("system").unwrap_or(&Value::Null), losses),
        ..Request::default()
    };
    for m in arr(v, "messages") {
        let role = match s(m, "role") {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some("system") => Role::System,
            other => return Err(unsupported(P, format!("unknown role {other:?}"))),
        };
        let parts: Vec<Part> = blocks(m.get("content").unwrap_or(&Value::Null), losses)
            .into_iter()
            .filter(|p| !matches!(p, Part::Text { text, .. } if text.is_empty()))
            .collect();
        if parts.is_empty() {
            continue;
        }
        if role == Role::System && r.turns.is_empty() {
            r.system.extend(parts);
            continue;
        }
        for p in parts {
            push_part(&mut r.turns, role, p);
        }
    }
    for t in arr(v, "tools") {
        match s(t, "type") {
            None | Some("custom") | Some("function") => r.tools.push(Tool::Function {
                name: s(t, "name").unwrap_or("").to_owned(),
                description: s(t, "description").map(str::to_owned),
                schema: t
                    .get("input_schema")
                    .cloned()
                    .unwrap_or(serde_json::json!({"type": "object"})),
                strict: t.get("strict").and_then(Value::as_bool),
                cache_control: t.get("cache_control").cloned(),
            }),
            Some(ty) if ty.starts_with("web_search") => r.tools.push(Tool::WebSearch),
            Some(ty) => lose(
                losses,
                format!("tools[{ty}]"),
                "Anthropic server tool has no equivalent upstream",
            ),
        }
    }
    if let Some(tc) = v.get("tool_choice") {
        r.tool_choice = match s(tc, "type") {
            Some("any") => Some(ToolChoice::Required),
            Some("tool") => Some(ToolChoice::Named(s(tc, "name").unwrap_or("").to_owned())),
            Some("none") => Some(ToolChoice::None),
            _ => Some(ToolChoice::Auto),
        };
        if tc.get("disable_parallel_tool_use").and_then(Value::as_bool) == Some(true) {
            r.parallel_tool_calls = Some(false);
        }
    }
    if let Some(t) = v.get("thinking") {
        r.thinking = match s(t, "type") {
            Some("enabled") => Some(Thinking::Enabled {
                budget: u(t, "budget_tokens"),
            }),
            Some("disabled") => Some(Thinking::Disabled),
            Some(_) => Some(Thinking::Adaptive),
            None => None,
        };
    }
    r.effort = s(&v["output_config"], "effort").map(str::to_owned);
    r.max_tokens = u(v, "max_tokens");
    r.temperature = f(v, "temperature");
    r.top_p = f(v, "top_p");
    r.top_k = u(v, "top_k");
    r.stop = arr(v, "stop_sequences")
        .iter()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect();
    r.user = s(&v["metadata"], "user_id").map(str::to_owned);
    for key in [
        "context_management",
        "container",
        "mcp_servers",
        "service_tier",
    ] {
        if v.get(key).is_some() {
            lose(losses, key, "Anthropic-only request field");
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::deep::drop_iter;

    #[test]
    fn nested_tool_results_stop_at_the_depth_limit() {
        // 100 000 tool_results each holding the next, built without recursion.
        let mut v = serde_json::json!({"type": "text", "text": "leaf"});
        for _ in 0..100_000 {
            // Not `json!`: it would serialize `v` recursively.
            let mut m = serde_json::Map::new();
            m.insert("type".into(), "tool_result".into());
            m.insert("content".into(), Value::Array(vec![v]));
            v = Value::Object(m);
        }
        let mut losses = Vec::new();
        let part = block(&v, &mut losses, 0);
        assert!(matches!(part, Some(Part::ToolResult { .. })));
        assert!(
            losses
                .iter()
                .any(|l| l.reason == "nested deeper than the JSON depth limit")
        );
        // The IR is as deep as the limit; take it apart level by level.
        let mut cur = part;
        while let Some(Part::ToolResult { mut content, .. }) = cur {
            cur = content.pop();
        }
        drop_iter(v);
    }
}
