//! IR -> Gemini `generateContent` request (model and stream flag go in the URL, not here).
//!
//! Loss table (each reported in `losses` when present in the source):
//! - `reasoning.signature`: reasoning minted by another vendor (a function call without a
//!   Gemini signature gets the documented `skip_thought_signature_validator` instead).
//! - `frequency_penalty`, `presence_penalty`: many Gemini models reject them.
//! - `user`, `parallel_tool_calls`: no Gemini equivalent.
//! - `cache_control`: Gemini uses explicit cached contents instead.

use serde_json::{Map, Value, json};

use crate::ir::{Media, Part, Request, ResponseFormat, Role, Sig, Thinking, Tool, ToolChoice};
use crate::request::joined_text;
use crate::schema::clean_gemini_schema;
use crate::util::{args_value, lose, put};
use crate::{Loss, Protocol, RequestOptions};

const P: Protocol = Protocol::Gemini;
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

fn media_part(media: &Media) -> Value {
    match media {
        Media::Base64 { mime, data } => json!({"inlineData": {"mimeType": mime, "data": data}}),
        Media::Url(u) => json!({"fileData": {"fileUri": u, "mimeType": guess_mime(u)}}),
        Media::FileId(id) => json!({"fileData": {"fileUri": id}}),
    }
}

fn guess_mime(url: &str) -> &'static str {
    let lower = url.to_ascii_lowercase();
    match lower.rsplit('.').next().unwrap_or("") {
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        _ => "image/jpeg",
    }
}

pub(crate) fn encode(r: &Request, opts: &RequestOptions, losses: &mut Vec<Loss>) -> Value {
    let mut system: Vec<Value> = r
        .system
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } => Some(json!({"text": text})),
            _ => None,
        })
        .collect();
    let mut contents: Vec<Value> = Vec::new();
    for t in &r.turns {
        if t.role == Role::System {
            system.push(json!({"text": joined_text(&t.parts, "\n\n")}));
            continue;
        }
        let role = if t.role == Role::Assistant {
            "model"
        } else {
            "user"
        };
        let mut parts: Vec<Value> = Vec::new();
        let mut pending_sig: Option<String> = None;
        for p in &t.parts {
            match p {
                Part::Text {
                    text,
                    cache_control,
                } => {
                    if cache_control.is_some() && !losses.iter().any(|l| l.field == "cache_control")
                    {
                        lose(
                            losses,
                            "cache_control",
                            "Gemini uses explicit cached contents instead",
                        );
                    }
                    if !text.is_empty() {
                        parts.push(json!({"text": text}));
                    }
                }
                Part::TextDocument { .. } => {
                    if let Part::Text { text, .. } = p.clone().flatten_text_document() {
                        parts.push(json!({"text": text}));
                    }
                }
                Part::Image { media, .. } | Part::Document { media, .. } => {
                    parts.push(media_part(media))
                }
                Part::ToolCall(tc) => {
                    let mut part = json!({"functionCall": {"name": tc.name, "args": args_value(&tc.arguments)}});
                    let sig = tc
                        .signature
                        .as_ref()
                        .and_then(|s| s.for_upstream(P))
                        .map(str::to_owned)
                        .or_else(|| pending_sig.take());
                    if let Some(sig) = sig {
                        part["thoughtSignature"] = json!(sig);
                    }
                    parts.push(part);
                }
                Part::ToolResult {
                    name,
                    call_id,
                    content,
                    is_error,
                } => {
                    let text = joined_text(content, "\n");
                    let response = if *is_error {
                        json!({"error": text})
                    } else {
                        json!({"output": text})
                    };
                    parts.push(json!({"functionResponse": {"name": name.clone().unwrap_or_else(|| call_id.clone()), "response": response}}));
                }
                Part::Reasoning { signature, .. } => {
                    match signature.as_ref().map(|s: &Sig| s.for_upstream(P)) {
                        Some(Some(sig)) => pending_sig = Some(sig.to_owned()),
                        Some(None) => lose(
                            losses,
                            "reasoning.signature",
                            "reasoning minted by another vendor cannot be replayed to Gemini",
                        ),
                        None => {}
                    }
                }
            }
        }
        if let Some(sig) = pending_sig.take() {
            parts.push(json!({"text": "", "thoughtSignature": sig}));
        }
        // Gemini 3 wants a signature on the first call of each model turn.
        if role == "model"
            && let Some(first) = parts.iter_mut().find(|p| p.get("functionCall").is_some())
            && first.get("thoughtSignature").is_none()
        {
            first["thoughtSignature"] = json!(SKIP_SIGNATURE);
        }
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(a) = last["parts"].as_array_mut() {
                    a.extend(parts);
                }
            }
            _ => contents.push(json!({"role": role, "parts": parts})),
        }
    }
    if contents.is_empty() {
        contents.push(json!({"role": "user", "parts": std::mem::take(&mut system)}));
    }
    let mut m = Map::new();
    m.insert("contents".into(), json!(contents));
    if !system.is_empty() {
        m.insert("systemInstruction".into(), json!({"parts": system}));
    }
    let mut decls = Vec::new();
    let mut tools = Vec::new();
    for t in &r.tools {
        match t {
            Tool::Function {
                name,
                description,
                schema,
                ..
            } => {
                let mut d = json!({"name": name, "parameters": clean_gemini_schema(schema)});
                if let Some(desc) = description {
                    d["description"] = json!(desc);
                }
                decls.push(d);
            }
            Tool::WebSearch => tools.push(json!({"googleSearch": {}})),
        }
    }
    if !decls.is_empty() {
        tools.insert(0, json!({"functionDeclarations": decls}));
        if let Some(c) = &r.tool_choice {
            let cfg = match c {
                ToolChoice::Auto => json!({"mode": "AUTO"}),
                ToolChoice::None => json!({"mode": "NONE"}),
                ToolChoice::Required => json!({"mode": "ANY"}),
                ToolChoice::Named(n) => json!({"mode": "ANY", "allowedFunctionNames": [n]}),
            };
            m.insert("toolConfig".into(), json!({"functionCallingConfig": cfg}));
        }
    }
    if !tools.is_empty() {
        m.insert("tools".into(), json!(tools));
    }
    let mut g = Map::new();
    put(&mut g, "temperature", r.temperature);
    put(&mut g, "topP", r.top_p);
    put(&mut g, "topK", r.top_k);
    put(&mut g, "maxOutputTokens", r.max_tokens.filter(|x| *x > 0));
    put(&mut g, "seed", r.seed);
    if !r.stop.is_empty() {
        g.insert("stopSequences".into(), json!(r.stop));
    }
    if let Some(tc) = thinking_config(r, is_gemini3(&opts.upstream_model)) {
        g.insert("thinkingConfig".into(), tc);
    }
    match &r.response_format {
        Some(ResponseFormat::JsonObject) => {
            g.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            g.insert("responseMimeType".into(), json!("application/json"));
            g.insert("responseSchema".into(), clean_gemini_schema(schema));
        }
        None => {}
    }
    if !g.is_empty() {
        m.insert("generationConfig".into(), Value::Object(g));
    }
    for (field, present) in [
        ("frequency_penalty", r.frequency_penalty.is_some()),
        ("presence_penalty", r.presence_penalty.is_some()),
        ("user", r.user.is_some()),
        ("parallel_tool_calls", r.parallel_tool_calls.is_some()),
    ] {
        if present {
            lose(losses, field, "no Gemini equivalent");
        }
    }
    Value::Object(m)
}

/// Whether `model` is a Gemini 3 model, which takes `thinkingLevel` instead of a budget.
fn is_gemini3(model: &str) -> bool {
    let m = model.strip_prefix("models/").unwrap_or(model);
    m.to_ascii_lowercase().starts_with("gemini-3")
}

/// The closest Gemini 3 Pro `thinkingLevel` (`low` or `high`) for a thinking budget.
fn thinking_level(budget: u64) -> &'static str {
    if budget < 4096 { "low" } else { "high" }
}

/// `generationConfig.thinkingConfig` for the effective thinking of `r`.
///
/// Gemini 2.x gets `thinkingBudget`; Gemini 3 gets `thinkingLevel` (it cannot turn thinking
/// off, so `Disabled` asks for `low`, and dynamic thinking is its default, so no level).
fn thinking_config(r: &Request, gemini3: bool) -> Option<Value> {
    Some(match r.effective_thinking()? {
        Thinking::Enabled { budget } => {
            let mut tc = json!({"includeThoughts": true});
            if let Some(b) = budget.filter(|b| *b > 0) {
                if gemini3 {
                    tc["thinkingLevel"] = json!(thinking_level(b));
                } else {
                    tc["thinkingBudget"] = json!(b);
                }
            }
            tc
        }
        Thinking::Adaptive if gemini3 => json!({"includeThoughts": true}),
        Thinking::Adaptive => json!({"includeThoughts": true, "thinkingBudget": -1}),
        Thinking::Disabled if gemini3 => json!({"thinkingLevel": "low"}),
        Thinking::Disabled => json!({"thinkingBudget": 0}),
    })
}
