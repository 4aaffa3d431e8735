//! Anthropic Messages non-stream bodies.
//!
//! Encoder loss table: inline images (`content[image]`), which assistant messages cannot hold.

use serde_json::{Value, json};

use super::Out;
use crate::ir::{Family, Finish, OutPart, Response, Sig, ToolCall};
use crate::stream::decode::anthropic::RawUsage;
use crate::stream::encode::anthropic::anthropic_usage;
use crate::stream::encode::lose_once;
use crate::util::{arr, s, sanitize_tool_id};
use crate::{Error, Protocol};

pub(crate) fn decode(v: &Value) -> Result<Response, Error> {
    if s(v, "type") == Some("error") {
        return Err(crate::util::unsupported(
            Protocol::Anthropic,
            "body is an error envelope",
        ));
    }
    let mut parts = Vec::new();
    for b in arr(v, "content") {
        match s(b, "type").unwrap_or("") {
            "text" => parts.push(OutPart::Text(s(b, "text").unwrap_or("").to_owned())),
            "thinking" => parts.push(OutPart::Reasoning {
                text: s(b, "thinking").unwrap_or("").to_owned(),
                signature: s(b, "signature")
                    .filter(|x| !x.is_empty())
                    .map(|x| Sig::new(Family::Anthropic, x)),
                redacted: false,
            }),
            "redacted_thinking" => parts.push(OutPart::Reasoning {
                text: String::new(),
                signature: Some(Sig::redacted(Family::Anthropic, s(b, "data").unwrap_or(""))),
                redacted: true,
            }),
            "tool_use" | "server_tool_use" => parts.push(OutPart::ToolCall(ToolCall {
                id: s(b, "id").unwrap_or("").to_owned(),
                name: s(b, "name").unwrap_or("").to_owned(),
                arguments: crate::util::args_text(b.get("input")),
                signature: None,
            })),
            _ => {}
        }
    }
    let mut usage = RawUsage::default();
    usage.merge(&v["usage"]);
    Ok(Response {
        id: s(v, "id").map(str::to_owned),
        model: s(v, "model").map(str::to_owned),
        created: None,
        parts,
        finish: s(v, "stop_reason").map(Finish::from_anthropic),
        usage: usage.canonical(),
    })
}

pub(crate) fn encode(r: &Response, out: &mut Out<'_>) -> Value {
    let mut content = Vec::new();
    for p in &r.parts {
        match p {
            OutPart::Text(t) => content.push(json!({"type": "text", "text": t})),
            OutPart::Reasoning { text, signature, redacted: true } => {
                let data = signature.as_ref().map(|s| s.for_client(Protocol::Anthropic)).unwrap_or_default();
                let _ = text;
                content.push(json!({"type": "redacted_thinking", "data": data}));
            }
            OutPart::Reasoning { text, signature, .. } => content.push(json!({"type": "thinking",
                "thinking": text,
                "signature": signature.as_ref().map(|s| s.for_client(Protocol::Anthropic)).unwrap_or_default()})),
            OutPart::ToolCall(tc) => {
                if let Some(sig) = &tc.signature {
                    content.push(json!({"type": "thinking", "thinking": "", "signature": sig.for_client(Protocol::Anthropic)}));
                }
                content.push(json!({"type": "tool_use", "id": sanitize_tool_id(&tc.id), "name": tc.name,
                    "input": crate::util::args_value(&tc.arguments)}));
            }
            OutPart::Image { .. } => lose_once(&mut out.losses, "content[image]",
                "Anthropic assistant messages cannot hold images"),
        }
    }
    json!({
        "id": format!("msg_{}", out.seed),
        "type": "message",
        "role": "assistant",
        "model": out.model,
        "content": content,
        "stop_reason": r.finish_or_default().anthropic(),
        "stop_sequence": null,
        "usage": anthropic_usage(&r.usage),
    })
}
