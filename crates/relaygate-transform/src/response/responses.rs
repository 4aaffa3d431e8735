//! OpenAI Responses non-stream bodies.
//!
//! Encoder loss table: inline images (`content[image]`).

use serde_json::{Value, json};

use super::Out;
use crate::ir::{Family, Finish, OutPart, Response, Sig, ToolCall};
use crate::stream::decode::responses::{reasoning_text, responses_usage};
use crate::stream::encode::lose_once;
use crate::stream::encode::responses::{response_object, responses_usage_json};
use crate::util::{arr, s, u};
use crate::{Error, Protocol};

pub(crate) fn decode(v: &Value) -> Result<Response, Error> {
    if v.get("output").is_none() {
        return Err(crate::util::unsupported(
            Protocol::OpenAiResponses,
            "no output",
        ));
    }
    let mut parts = Vec::new();
    for item in arr(v, "output") {
        match s(item, "type").unwrap_or("") {
            "message" => {
                for c in arr(item, "content") {
                    if let Some(t) = s(c, "text").or(s(c, "refusal")).filter(|t| !t.is_empty()) {
                        match parts.last_mut() {
                            Some(OutPart::Text(prev)) => prev.push_str(t),
                            _ => parts.push(OutPart::Text(t.to_owned())),
                        }
                    }
                }
            }
            "reasoning" => parts.push(OutPart::Reasoning {
                text: reasoning_text(item),
                signature: s(item, "encrypted_content")
                    .filter(|x| !x.is_empty())
                    .map(|x| Sig::new(Family::OpenAi, x)),
                redacted: false,
            }),
            "function_call" => parts.push(OutPart::ToolCall(ToolCall {
                id: s(item, "call_id")
                    .or(s(item, "id"))
                    .unwrap_or("")
                    .to_owned(),
                name: s(item, "name").unwrap_or("").to_owned(),
                arguments: crate::util::args_text(item.get("arguments")),
                signature: None,
            })),
            _ => {}
        }
    }
    Ok(Response {
        id: s(v, "id").map(str::to_owned),
        model: s(v, "model").map(str::to_owned),
        created: u(v, "created_at"),
        parts,
        finish: Some(Finish::from_responses(
            s(v, "status").unwrap_or("completed"),
            s(&v["incomplete_details"], "reason"),
        )),
        usage: v
            .get("usage")
            .filter(|x| x.is_object())
            .map(responses_usage)
            .unwrap_or_default(),
    })
}

pub(crate) fn encode(r: &Response, out: &mut Out<'_>) -> Value {
    let mut output: Vec<Value> = Vec::new();
    let seed = out.seed.clone();
    let mut n = 0;
    let mut next_id = |prefix: &str| {
        n += 1;
        format!("{prefix}_{seed}_{n}")
    };
    for p in &r.parts {
        match p {
            OutPart::Text(t) => {
                if let Some(last) = output.last_mut().filter(|l| l["type"] == "message")
                    && let Some(prev) = last["content"][0]["text"].as_str()
                {
                    let joined = format!("{prev}{t}");
                    last["content"][0]["text"] = json!(joined);
                    continue;
                }
                output.push(json!({"id": next_id("msg"), "type": "message", "status": "completed",
                    "role": "assistant", "content": [{"type": "output_text", "annotations": [], "text": t}]}));
            }
            OutPart::Reasoning {
                text, signature, ..
            } => {
                let mut item = json!({"id": next_id("rs"), "type": "reasoning",
                    "summary": if text.is_empty() { json!([]) } else { json!([{"type": "summary_text", "text": text}]) }});
                if let Some(sig) = signature {
                    item["encrypted_content"] = json!(sig.for_client(Protocol::OpenAiResponses));
                }
                output.push(item);
            }
            OutPart::ToolCall(tc) => {
                if let Some(sig) = &tc.signature {
                    output.push(
                        json!({"id": next_id("rs"), "type": "reasoning", "summary": [],
                        "encrypted_content": sig.for_client(Protocol::OpenAiResponses)}),
                    );
                }
                output.push(
                    json!({"id": next_id("fc"), "type": "function_call", "status": "completed",
                    "arguments": tc.arguments, "call_id": tc.id, "name": tc.name}),
                );
            }
            OutPart::Image { .. } => lose_once(
                &mut out.losses,
                "content[image]",
                "Responses output messages hold text only",
            ),
        }
    }
    let (status, reason) = r.finish_or_default().responses();
    let mut obj = response_object(
        &format!("resp_{}", out.seed),
        out.model,
        r.created.unwrap_or(0),
        status,
        output,
        Some(responses_usage_json(&r.usage)),
    );
    if let Some(reason) = reason {
        obj["incomplete_details"] = json!({"reason": reason});
    }
    obj
}
