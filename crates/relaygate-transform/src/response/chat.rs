//! OpenAI Chat Completions non-stream bodies.
//!
//! Encoder loss table: reasoning signatures and redacted reasoning (`reasoning.signature`),
//! inline images (`content[image]`).

use serde_json::{Value, json};

use super::Out;
use crate::ir::{Finish, OutPart, Response, ToolCall};
use crate::stream::decode::chat::chat_usage;
use crate::stream::encode::chat::chat_usage_json;
use crate::stream::encode::lose_once;
use crate::util::{arr, s, u};
use crate::{Error, Protocol};

pub(crate) fn decode(v: &Value) -> Result<Response, Error> {
    let choice = v["choices"]
        .as_array()
        .and_then(|c| c.first())
        .ok_or_else(|| crate::util::unsupported(Protocol::OpenAiChat, "no choices"))?;
    let m = &choice["message"];
    let mut parts = Vec::new();
    for key in ["reasoning_content", "reasoning"] {
        if let Some(t) = s(m, key).filter(|t| !t.is_empty()) {
            parts.push(OutPart::Reasoning {
                text: t.to_owned(),
                signature: None,
                redacted: false,
            });
        }
    }
    match &m["content"] {
        Value::String(t) if !t.is_empty() => parts.push(OutPart::Text(t.clone())),
        Value::Array(items) => {
            for it in items {
                if let Some(t) = s(it, "text").filter(|t| !t.is_empty()) {
                    parts.push(OutPart::Text(t.to_owned()));
                }
            }
        }
        _ => {}
    }
    if let Some(t) = s(m, "refusal").filter(|t| !t.is_empty()) {
        parts.push(OutPart::Text(t.to_owned()));
    }
    for tc in arr(m, "tool_calls") {
        let f = &tc["function"];
        parts.push(OutPart::ToolCall(ToolCall {
            id: s(tc, "id").unwrap_or("").to_owned(),
            name: s(f, "name").unwrap_or("").to_owned(),
            arguments: crate::util::args_text(f.get("arguments")),
            signature: None,
        }));
    }
    Ok(Response {
        id: s(v, "id").map(str::to_owned),
        model: s(v, "model").map(str::to_owned),
        created: u(v, "created"),
        parts,
        finish: s(choice, "finish_reason").map(Finish::from_openai),
        usage: v
            .get("usage")
            .filter(|x| x.is_object())
            .map(chat_usage)
            .unwrap_or_default(),
    })
}

pub(crate) fn encode(r: &Response, out: &mut Out<'_>) -> Value {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for p in &r.parts {
        match p {
            OutPart::Text(t) => text.push_str(t),
            OutPart::Reasoning {
                text: t, signature, ..
            } => {
                if !t.is_empty() {
                    if !reasoning.is_empty() {
                        reasoning.push_str("\n\n");
                    }
                    reasoning.push_str(t);
                }
                if signature.is_some() {
                    lose_once(
                        &mut out.losses,
                        "reasoning.signature",
                        "OpenAI Chat has no field for reasoning signatures",
                    );
                }
            }
            OutPart::ToolCall(tc) => calls.push(json!({"id": tc.id, "type": "function",
                "function": {"name": tc.name, "arguments": tc.arguments}})),
            OutPart::Image { .. } => lose_once(
                &mut out.losses,
                "content[image]",
                "images are not carried in OpenAI Chat responses",
            ),
        }
    }
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }, "refusal": null});
    if !calls.is_empty() {
        message["tool_calls"] = json!(calls);
    }
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    json!({
        "id": format!("chatcmpl-{}", out.seed),
        "object": "chat.completion",
        "created": r.created.unwrap_or(0),
        "model": out.model,
        "choices": [{"index": 0, "message": message, "logprobs": null,
            "finish_reason": r.finish_or_default().openai()}],
        "usage": chat_usage_json(&r.usage),
    })
}
