//! Gemini `generateContent` non-stream bodies.
//!
//! Encoder loss table: none (reasoning becomes `thought` parts, signatures travel tagged in
//! `thoughtSignature`).

use serde_json::{Value, json};

use super::Out;
use crate::ir::{Family, Finish, OutPart, Response, Sig, ToolCall};
use crate::stream::decode::gemini::gemini_usage;
use crate::stream::encode::gemini::{function_call_part, gemini_usage_json};
use crate::util::{arr, s};
use crate::{Error, Protocol};

pub(crate) fn decode(v: &Value) -> Result<Response, Error> {
    if v.get("error").is_some() {
        return Err(crate::util::unsupported(
            Protocol::Gemini,
            "body is an error envelope",
        ));
    }
    let cand = v["candidates"].as_array().and_then(|c| c.first());
    let mut parts = Vec::new();
    let mut n = 0;
    if let Some(c) = cand {
        for p in arr(&c["content"], "parts") {
            let sig = s(p, "thoughtSignature")
                .filter(|x| !x.is_empty())
                .map(|x| Sig::new(Family::Gemini, x));
            if let Some(fc) = p.get("functionCall") {
                n += 1;
                parts.push(OutPart::ToolCall(ToolCall {
                    id: s(fc, "id")
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("call_{n}")),
                    name: s(fc, "name").unwrap_or("").to_owned(),
                    arguments: crate::util::args_text(fc.get("args")),
                    signature: sig,
                }));
            } else if let Some(t) = s(p, "text") {
                let thought = p.get("thought").and_then(Value::as_bool) == Some(true);
                if thought || (t.is_empty() && sig.is_some()) {
                    parts.push(OutPart::Reasoning {
                        text: t.to_owned(),
                        signature: sig,
                        redacted: false,
                    });
                } else {
                    if sig.is_some() {
                        parts.push(OutPart::Reasoning {
                            text: String::new(),
                            signature: sig,
                            redacted: false,
                        });
                    }
                    if !t.is_empty() {
                        match parts.last_mut() {
                            Some(OutPart::Text(prev)) => prev.push_str(t),
                            _ => parts.push(OutPart::Text(t.to_owned())),
                        }
                    }
                }
            } else if let Some(d) = p.get("inlineData") {
                parts.push(OutPart::Image {
                    mime: s(d, "mimeType")
                        .unwrap_or("application/octet-stream")
                        .to_owned(),
                    data: s(d, "data").unwrap_or("").to_owned(),
                });
            }
        }
    }
    let finish = match cand.and_then(|c| s(c, "finishReason")) {
        Some(f) => Some(Finish::from_gemini(f)),
        None if v["promptFeedback"].get("blockReason").is_some() => Some(Finish::ContentFilter),
        None => None,
    };
    Ok(Response {
        id: s(v, "responseId").map(str::to_owned),
        model: s(v, "modelVersion").map(str::to_owned),
        created: None,
        parts,
        finish,
        usage: v.get("usageMetadata").map(gemini_usage).unwrap_or_default(),
    })
}

pub(crate) fn encode(r: &Response, out: &mut Out<'_>) -> Value {
    let mut parts = Vec::new();
    for p in &r.parts {
        match p {
            OutPart::Text(t) => parts.push(json!({"text": t})),
            OutPart::Reasoning {
                text, signature, ..
            } => {
                let mut part = json!({"text": text, "thought": true});
                if let Some(sig) = signature {
                    part["thoughtSignature"] = json!(sig.for_client(Protocol::Gemini));
                }
                parts.push(part);
            }
            OutPart::ToolCall(tc) => parts.push(function_call_part(
                &tc.id,
                &tc.name,
                &tc.arguments,
                tc.signature.as_ref(),
            )),
            OutPart::Image { mime, data } => {
                parts.push(json!({"inlineData": {"mimeType": mime, "data": data}}))
            }
        }
    }
    json!({
        "candidates": [{"content": {"role": "model", "parts": parts},
            "finishReason": r.finish_or_default().gemini(), "index": 0}],
        "usageMetadata": gemini_usage_json(&r.usage),
        "modelVersion": out.model,
        "responseId": out.seed,
    })
}
