//! Request conversion: client body -> [`Request`] -> upstream body.

mod decode;
mod encode;

use crate::ir::{Part, Request, Role, Turn};
use crate::util::{parse, to_bytes};
use crate::{Converted, Error, Loss, Protocol, RequestOptions};

pub(crate) fn convert(
    client: Protocol,
    upstream: Protocol,
    body: &[u8],
    opts: &RequestOptions,
) -> Result<Converted<Vec<u8>>, Error> {
    let v = parse(body)?;
    let mut losses: Vec<Loss> = Vec::new();
    let mut req = match client {
        Protocol::Anthropic => decode::anthropic::decode(&v, &mut losses)?,
        Protocol::OpenAiChat => decode::chat::decode(&v, &mut losses)?,
        Protocol::OpenAiResponses => decode::responses::decode(&v, &mut losses)?,
        Protocol::Gemini => decode::gemini::decode(&v, &mut losses)?,
    };
    fill_result_names(&mut req);
    mark_redacted(&mut req);
    if upstream != Protocol::Anthropic {
        flatten_text_documents(&mut req);
    }
    if req.turns.is_empty() && req.system.is_empty() {
        return Err(Error::EmptyRequest);
    }
    note_cross_family(&req, upstream, &mut losses);
    let out = match upstream {
        Protocol::Anthropic => encode::anthropic::encode(&req, opts, &mut losses),
        Protocol::OpenAiChat => encode::chat::encode(&req, opts, &mut losses),
        Protocol::OpenAiResponses => encode::responses::encode(&req, opts, &mut losses),
        Protocol::Gemini => encode::gemini::encode(&req, opts, &mut losses),
    };
    let mut seen: Vec<String> = Vec::new();
    losses.retain(|l| {
        let new = !seen.contains(&l.field);
        seen.push(l.field.clone());
        new
    });
    Ok(Converted {
        value: to_bytes(&out),
        losses,
    })
}

pub(crate) fn tool_name_table(
    client: Protocol,
    upstream: Protocol,
    body: &[u8],
) -> Vec<(String, String)> {
    if !matches!(upstream, Protocol::OpenAiChat | Protocol::OpenAiResponses) {
        return Vec::new();
    }
    let Ok(v) = parse(body) else {
        return Vec::new();
    };
    let mut losses = Vec::new();
    let decoded = match client {
        Protocol::Anthropic => decode::anthropic::decode(&v, &mut losses),
        Protocol::OpenAiChat => decode::chat::decode(&v, &mut losses),
        Protocol::OpenAiResponses => decode::responses::decode(&v, &mut losses),
        Protocol::Gemini => decode::gemini::decode(&v, &mut losses),
    };
    let Ok(req) = decoded else {
        return Vec::new();
    };
    let mut names: Vec<&str> = Vec::new();
    for t in &req.tools {
        if let crate::ir::Tool::Function { name, .. } = t {
            names.push(name);
        }
    }
    if let Some(crate::ir::ToolChoice::Named(n)) = &req.tool_choice {
        names.push(n);
    }
    for p in req.turns.iter().flat_map(|t| t.parts.iter()) {
        if let Part::ToolCall(tc) = p {
            names.push(&tc.name);
        }
    }
    let mut table: Vec<(String, String)> = Vec::new();
    for n in names {
        let up = crate::util::openai_tool_name(n);
        if up != n && !table.iter().any(|(u, _)| *u == up) {
            table.push((up, n.to_owned()));
        }
    }
    table
}

/// Losses every non-native upstream shares: Anthropic cache hints and call signatures.
fn note_cross_family(req: &Request, upstream: Protocol, losses: &mut Vec<Loss>) {
    let parts = req
        .system
        .iter()
        .chain(req.turns.iter().flat_map(|t| t.parts.iter()));
    let mut cache = req.tools.iter().any(|t| {
        matches!(
            t,
            crate::ir::Tool::Function {
                cache_control: Some(_),
                ..
            }
        )
    });
    let mut foreign_sig = false;
    for p in parts {
        match p {
            Part::Text {
                cache_control: Some(_),
                ..
            } => cache = true,
            Part::ToolCall(tc) => {
                foreign_sig |= tc
                    .signature
                    .as_ref()
                    .is_some_and(|s| s.for_upstream(upstream).is_none());
            }
            _ => {}
        }
    }
    if cache && upstream != Protocol::Anthropic {
        crate::util::lose(
            losses,
            "cache_control",
            "only Anthropic upstreams take cache hints",
        );
    }
    if foreign_sig {
        crate::util::lose(
            losses,
            "reasoning.signature",
            "a call signature minted by another vendor cannot be replayed",
        );
    }
}

/// Reasoning whose blob carries the redacted marker is a redacted block again, without text
/// (a client of another family hands it back as reasoning with an empty or made-up summary).
fn mark_redacted(req: &mut Request) {
    for t in &mut req.turns {
        for p in &mut t.parts {
            if let Part::Reasoning {
                text,
                signature: Some(sig),
                redacted,
            } = p
                && sig.redacted
            {
                *redacted = true;
                text.clear();
            }
        }
    }
}

/// Text documents become text parts for upstreams that have no text-document type.
fn flatten_text_documents(req: &mut Request) {
    let parts = req
        .system
        .iter_mut()
        .chain(req.turns.iter_mut().flat_map(|t| t.parts.iter_mut()));
    for p in parts {
        if matches!(p, Part::TextDocument { .. } | Part::ToolResult { .. }) {
            *p = std::mem::replace(p, Part::text("")).flatten_text_document();
        }
    }
}

/// Fills `ToolResult.name` from the calls of the conversation (Gemini needs the name).
fn fill_result_names(req: &mut Request) {
    let mut names: Vec<(String, String)> = Vec::new();
    for t in &req.turns {
        for p in &t.parts {
            if let Part::ToolCall(tc) = p {
                names.push((tc.id.clone(), tc.name.clone()));
            }
        }
    }
    for t in &mut req.turns {
        for p in &mut t.parts {
            if let Part::ToolResult { call_id, name, .. } = p
                && name.is_none()
            {
                *name = names
                    .iter()
                    .find(|(id, _)| id == call_id)
                    .map(|(_, n)| n.clone());
            }
        }
    }
}

/// Appends `part` to the last turn when it has `role`, else starts a new turn.
pub(crate) fn push_part(turns: &mut Vec<Turn>, role: Role, part: Part) {
    match turns.last_mut() {
        Some(t) if t.role == role => t.parts.push(part),
        _ => turns.push(Turn {
            role,
            parts: vec![part],
        }),
    }
}

/// The text of text parts joined with `sep`.
pub(crate) fn joined_text(parts: &[Part], sep: &str) -> String {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_documents_stay_text_documents_for_anthropic() {
        let doc = json!({"type": "document", "title": "Notes", "context": "May",
            "cache_control": {"type": "ephemeral"},
            "source": {"type": "text", "media_type": "text/plain", "data": "Ship Friday."}});
        let body = json!({"messages": [{"role": "user", "content": [doc]}]});
        let mut losses = Vec::new();
        let req = decode::anthropic::decode(&body, &mut losses).unwrap();
        let opts = RequestOptions::default();
        let out = encode::anthropic::encode(&req, &opts, &mut losses);
        assert_eq!(out["messages"][0]["content"][0], doc);
        assert!(losses.is_empty(), "{losses:?}");
    }
}
