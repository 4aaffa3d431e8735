//! Non-stream response conversion: upstream JSON -> [`Response`] -> client JSON.

mod anthropic;
mod chat;
mod gemini;
mod responses;

use crate::ir::Response;
use crate::stream::aggregate_sse;
use crate::util::{clean_seed, parse, to_bytes};
use crate::{Converted, Error, Loss, Protocol, ResponseOptions};

/// What encoders need besides the response.
pub(crate) struct Out<'a> {
    pub model: &'a str,
    pub seed: String,
    pub losses: Vec<Loss>,
}

pub(crate) fn decode(upstream: Protocol, body: &[u8]) -> Result<Response, Error> {
    let trimmed = body.trim_ascii_start();
    if trimmed.starts_with(b"event:") || trimmed.starts_with(b"data:") {
        // Upstreams that stream although asked not to.
        return Ok(aggregate_sse(upstream, body)?.response);
    }
    let v = parse(body)?;
    match upstream {
        Protocol::Anthropic => anthropic::decode(&v),
        Protocol::OpenAiChat => chat::decode(&v),
        Protocol::OpenAiResponses => responses::decode(&v),
        Protocol::Gemini => gemini::decode(&v),
    }
}

pub(crate) fn encode(client: Protocol, r: &Response, out: &mut Out<'_>) -> serde_json::Value {
    match client {
        Protocol::Anthropic => anthropic::encode(r, out),
        Protocol::OpenAiChat => chat::encode(r, out),
        Protocol::OpenAiResponses => responses::encode(r, out),
        Protocol::Gemini => gemini::encode(r, out),
    }
}

pub(crate) fn convert(
    upstream: Protocol,
    client: Protocol,
    body: &[u8],
    opts: &ResponseOptions,
    tool_names: &[(String, String)],
) -> Result<Converted<Vec<u8>>, Error> {
    let mut r = decode(upstream, body)?;
    for p in &mut r.parts {
        if let crate::ir::OutPart::ToolCall(tc) = p {
            crate::util::restore_tool_name(tool_names, &mut tc.name);
        }
    }
    let mut out = Out {
        model: &opts.client_model,
        seed: clean_seed(&opts.id_seed),
        losses: Vec::new(),
    };
    let v = encode(client, &r, &mut out);
    Ok(Converted {
        value: to_bytes(&v),
        losses: out.losses,
    })
}
