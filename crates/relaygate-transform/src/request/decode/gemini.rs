//! Gemini `generateContent` request -> IR.

use serde_json::Value;

use crate::ir::{
    Media, Part, Request, ResponseFormat, Role, Sig, Thinking, Tool, ToolCall, ToolChoice,
    effort_budget,
};
use crate::request::push_part;
use crate::util::{arr, f, lose, obj, s, unsupported};
use crate::{Error, Loss, Protocol};

const P: Protocol = Protocol::Gemini;

fn field<'a>(v: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    v.get(camel).or_else(|| v.get(snake))
}

fn media_part(mime: &str, media: Media) -> Part {
    if mime.starts_with("image/") {
        Part::Image {
            media,
            detail: None,
        }
    } else {
        Part::Document {
            media,
            filename: None,
        }
    }
}

pub(crate) fn decode(v: &Value, losses: &mut Vec<Loss>) -> Result<Request, Error> {
    obj(v, P)?;
    let mut r = Request::default();
    if let Some(si) = field(v, "systemInstruction", "system_instruction") {
        for p in arr(si, "parts") {
            if let Some(t) = s(p, "text").filter(|t| !t.trim().is_empty()) {
                r.system.push(Part::text(t));
            }
        }
    }
    // Calls without ids get synthesized ones; results pair with them by name, then FIFO.
    let mut pending: Vec<(String, String)> = Vec::new();
    let mut n = 0;
    for c in arr(v, "contents") {
        let role = match s(c, "role") {
            None | Some("" | "user" | "tool" | "function") => Role::User,
            Some("model" | "assistant") => Role::Assistant,
            Some(other) => return Err(unsupported(P, format!("unknown role {other}"))),
        };
        for p in arr(c, "parts") {
            let sig = field(p, "thoughtSignature", "thought_signature")
                .and_then(Value::as_str)
                .filter(|x| !x.is_empty())
                .map(|x| Sig::parse(P, x));
            let part = if let Some(fc) = field(p, "functionCall", "function_call") {
                n += 1;
                let id = s(fc, "id")
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("call_{n}"));
                let name = s(fc, "name").unwrap_or("").to_owned();
                pending.push((id.clone(), name.clone()));
                Part::ToolCall(ToolCall {
                    id,
                    name,
                    arguments: fc
                        .get("args")
                        .map(Value::to_string)
                        .unwrap_or_else(|| "{}".into()),
                    signature: sig,
                })
            } else if let Some(fr) = field(p, "functionResponse", "function_response") {
                let name = s(fr, "name").unwrap_or("").to_owned();
                let id = match s(fr, "id") {
                    Some(id) => {
                        pending.retain(|(i, _)| i != id);
                        id.to_owned()
                    }
                    None => {
                        let pos = pending
                            .iter()
                            .position(|(_, nm)| *nm == name)
                            .or(if pending.is_empty() { None } else { Some(0) });
                        match pos {
                            Some(i) => pending.remove(i).0,
                            None => {
                                n += 1;
                                format!("call_{n}")
                            }
                        }
                    }
                };
                let resp = &fr["response"];
                let text = match resp
                    .get("output")
                    .or(resp.get("result"))
                    .or(resp.get("content"))
                {
                    Some(Value::String(t)) => t.clone(),
                    Some(other) => other.to_string(),
                    None => resp.to_string(),
                };
                Part::ToolResult {
                    call_id: id,
                    name: Some(name),
                    content: vec![Part::text(text)],
                    is_error: resp.get("error").is_some(),
                }
            } else if let Some(t) = s(p, "text") {
                if p.get("thought").and_then(Value::as_bool) == Some(true) {
                    Part::Reasoning {
                        text: t.to_owned(),
                        signature: sig,
                        redacted: false,
                    }
                } else {
                    if let Some(sig) = sig {
                        push_part(
                            &mut r.turns,
                            role,
                            Part::Reasoning {
                                text: String::new(),
                                signature: Some(sig),
                                redacted: false,
                            },
                        );
                    }
                    if t.trim().is_empty() {
                        continue;
                    }
                    Part::text(t)
                }
            } else if let Some(d) = field(p, "inlineData", "inline_data") {
                let mime = field(d, "mimeType", "mime_type")
                    .and_then(Value::as_str)
                    .unwrap_or("application/octet-stream");
                media_part(
                    mime,
                    Media::Base64 {
                        mime: mime.to_owned(),
                        data: s(d, "data").unwrap_or("").to_owned(),
                    },
                )
            } else if let Some(d) = field(p, "fileData", "file_data") {
                let mime = field(d, "mimeType", "mime_type")
                    .and_then(Value::as_str)
                    .unwrap_or("application/octet-stream");
                let uri = field(d, "fileUri", "file_uri")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                media_part(mime, Media::Url(uri.to_owned()))
            } else {
                lose(
                    losses,
                    "contents.parts[?]",
                    "part type has no equivalent upstream",
                );
                continue;
            };
            push_part(&mut r.turns, role, part);
        }
    }
    for t in arr(v, "tools") {
        for fd in field(t, "functionDeclarations", "function_declarations")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let schema = field(fd, "parametersJsonSchema", "parameters_json_schema")
                .or(fd.get("parameters"))
                .cloned()
                .unwrap_or(serde_json::json!({"type": "object", "properties": {}}));
            r.tools.push(Tool::Function {
                name: s(fd, "name").unwrap_or("").to_owned(),
                description: s(fd, "description").map(str::to_owned),
                schema: lower_types(schema),
                strict: None,
                cache_control: None,
            });
        }
        if field(t, "googleSearch", "google_search").is_some()
            || field(t, "googleSearchRetrieval", "google_search_retrieval").is_some()
        {
            r.tools.push(Tool::WebSearch);
        }
        for other in [
            "codeExecution",
            "urlContext",
            "code_execution",
            "url_context",
        ] {
            if t.get(other).is_some() {
                lose(
                    losses,
                    format!("tools[{other}]"),
                    "Gemini built-in tool has no equivalent upstream",
                );
            }
        }
    }
    if let Some(fcc) = field(v, "toolConfig", "tool_config")
        .and_then(|tc| field(tc, "functionCallingConfig", "function_calling_config"))
    {
        let names =
            field(fcc, "allowedFunctionNames", "allowed_function_names").and_then(Value::as_array);
        r.tool_choice = match s(fcc, "mode") {
            Some("NONE") => Some(ToolChoice::None),
            Some("ANY" | "VALIDATED") => match names.map(Vec::as_slice) {
                Some([one]) => one.as_str().map(|n| ToolChoice::Named(n.to_owned())),
                _ => Some(ToolChoice::Required),
            },
            _ => Some(ToolChoice::Auto),
        };
    }
    let g = field(v, "generationConfig", "generation_config")
        .cloned()
        .unwrap_or(Value::Null);
    r.temperature = f(&g, "temperature");
    r.top_p = field(&g, "topP", "top_p").and_then(Value::as_f64);
    r.top_k = field(&g, "topK", "top_k").and_then(Value::as_u64);
    r.max_tokens = field(&g, "maxOutputTokens", "max_output_tokens").and_then(Value::as_u64);
    r.seed = g.get("seed").and_then(Value::as_i64);
    r.presence_penalty = field(&g, "presencePenalty", "presence_penalty").and_then(Value::as_f64);
    r.frequency_penalty =
        field(&g, "frequencyPenalty", "frequency_penalty").and_then(Value::as_f64);
    r.stop = field(&g, "stopSequences", "stop_sequences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if let Some(tc) = field(&g, "thinkingConfig", "thinking_config") {
        if let Some(level) = field(tc, "thinkingLevel", "thinking_level").and_then(Value::as_str) {
            let level = level.to_ascii_lowercase();
            r.thinking = Some(match effort_budget(&level) {
                Some(b) => Thinking::Enabled { budget: Some(b) },
                None => Thinking::Disabled,
            });
            r.effort = Some(level);
        } else if let Some(b) =
            field(tc, "thinkingBudget", "thinking_budget").and_then(Value::as_i64)
        {
            r.thinking = Some(match b {
                0 => Thinking::Disabled,
                b if b < 0 => Thinking::Adaptive,
                b => Thinking::Enabled {
                    budget: Some(b.unsigned_abs()),
                },
            });
        } else if field(tc, "includeThoughts", "include_thoughts").and_then(Value::as_bool)
            == Some(true)
        {
            r.thinking = Some(Thinking::Adaptive);
        }
    }
    if field(&g, "responseMimeType", "response_mime_type").and_then(Value::as_str)
        == Some("application/json")
    {
        r.response_format = Some(
            match field(&g, "responseJsonSchema", "response_json_schema").or(field(
                &g,
                "responseSchema",
                "response_schema",
            )) {
                Some(schema) => ResponseFormat::JsonSchema {
                    name: "response".into(),
                    schema: lower_types(schema.clone()),
                    strict: None,
                },
                None => ResponseFormat::JsonObject,
            },
        );
    }
    for key in [
        "safetySettings",
        "cachedContent",
        "safety_settings",
        "cached_content",
    ] {
        if v.get(key).is_some() {
            lose(losses, key, "Gemini-only request field");
        }
    }
    Ok(r)
}

/// Gemini OpenAPI schemas spell types in capitals (`OBJECT`); JSON Schema wants lower case.
///
/// Iterative (explicit stack), so a schema of any depth is walked without recursion.
fn lower_types(mut v: Value) -> Value {
    let mut stack: Vec<&mut Value> = vec![&mut v];
    while let Some(node) = stack.pop() {
        match node {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    match x {
                        Value::String(t) if k == "type" => t.make_ascii_lowercase(),
                        _ => stack.push(x),
                    }
                }
            }
            Value::Array(a) => stack.extend(a.iter_mut()),
            _ => {}
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::deep::{drop_iter, nest};

    #[test]
    fn lower_types_walks_any_depth_without_recursion() {
        let v = nest("items", 100_000, serde_json::json!({"type": "STRING"}));
        let mut v = lower_types(v);
        let mut depth = 0;
        let mut cur = &mut v;
        while cur.get("items").is_some() {
            cur = &mut cur["items"];
            depth += 1;
        }
        assert_eq!(depth, 100_000);
        assert_eq!(cur["type"], "string");
        drop_iter(v);
    }
}
