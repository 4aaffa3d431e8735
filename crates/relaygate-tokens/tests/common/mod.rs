//! Loading of the recorded upstream fixtures in `../shared/fixtures/recorded` (read in place,
//! never copied into the repository).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};

use relaygate_protocol::sse::{SseDecoder, SseEvent};
use relaygate_tokens::Protocol;
use serde_json::Value;

/// The fixture directory, or `None` (with a note) when it is absent. With
/// `RELAYGATE_REQUIRE_FIXTURES=1` an absent directory is a failure.
pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/recorded");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("RELAYGATE_REQUIRE_FIXTURES").as_deref() == Ok("1") {
        panic!("fixtures required but {} is missing", dir.display());
    }
    eprintln!("skipping: recorded fixtures not found at {}", dir.display());
    None
}

/// Every fixture file (relative path), sorted.
pub fn all_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in std::fs::read_dir(dir).unwrap() {
        let sub = sub.unwrap().path();
        if !sub.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&sub).unwrap() {
            let f = f.unwrap().path();
            if f.is_dir() {
                for g in std::fs::read_dir(&f).unwrap() {
                    let g = g.unwrap().path();
                    out.push(g.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
                }
            } else {
                out.push(f.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// The wire protocol a fixture was recorded in, from its directory.
pub fn protocol_of(rel: &str) -> Protocol {
    if rel.contains("anthropic") {
        Protocol::Anthropic
    } else if rel.contains("openai-responses") {
        Protocol::OpenAiResponses
    } else if rel.contains("gemini") || rel.contains("firebase") {
        Protocol::Gemini
    } else {
        Protocol::OpenAiChat
    }
}

pub fn is_stream(rel: &str) -> bool {
    rel.ends_with(".sse") || rel.ends_with(".chunks.txt")
}

/// The SSE events of a stream fixture (`.sse` decoded as is; `.chunks.txt` framed again as the
/// fixture README says).
pub fn events(dir: &Path, rel: &str) -> Vec<SseEvent> {
    let bytes = std::fs::read(dir.join(rel)).unwrap();
    if rel.ends_with(".sse") {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        d.feed(&bytes, &mut out).unwrap();
        d.finish(&mut out);
        return out;
    }
    let named = matches!(
        protocol_of(rel),
        Protocol::Anthropic | Protocol::OpenAiResponses
    );
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let ty = serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned));
            match ty {
                Some(ty) if named => SseEvent::named(ty, line),
                _ => SseEvent::data(line),
            }
        })
        .collect()
}

/// Absolute percentage error of `est` against `truth`.
pub fn ape(est: u64, truth: u64) -> f64 {
    (est as f64 - truth as f64).abs() / truth.max(1) as f64 * 100.0
}

pub fn json(dir: &Path, rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(rel)).unwrap()).unwrap()
}

/// The answer of a response: visible text (thinking excluded) and tool-call JSON, as the
/// model generated them, from the parsed non-stream body or the stream events.
#[derive(Debug, Default, Clone)]
pub struct Answer {
    pub text: String,
    pub tool_json: String,
    pub tool_calls: u64,
}

pub fn answer_of_json(protocol: Protocol, v: &Value) -> Answer {
    let mut a = Answer::default();
    match protocol {
        Protocol::Anthropic => {
            for b in v["content"].as_array().into_iter().flatten() {
                match b["type"].as_str() {
                    Some("text") => a.text.push_str(b["text"].as_str().unwrap_or("")),
                    Some("tool_use") => {
                        a.tool_calls += 1;
                        a.tool_json.push_str(b["name"].as_str().unwrap_or(""));
                        a.tool_json.push_str(&b["input"].to_string());
                    }
                    _ => {}
                }
            }
        }
        Protocol::OpenAiChat => {
            for c in v["choices"].as_array().into_iter().flatten() {
                let m = &c["message"];
                a.text.push_str(m["content"].as_str().unwrap_or(""));
                for t in m["tool_calls"].as_array().into_iter().flatten() {
                    a.tool_calls += 1;
                    a.tool_json
                        .push_str(t["function"]["name"].as_str().unwrap_or(""));
                    a.tool_json
                        .push_str(t["function"]["arguments"].as_str().unwrap_or(""));
                }
            }
        }
        Protocol::OpenAiResponses => {
            for item in v["output"].as_array().into_iter().flatten() {
                match item["type"].as_str() {
                    Some("message") => {
                        for c in item["content"].as_array().into_iter().flatten() {
                            a.text.push_str(c["text"].as_str().unwrap_or(""));
                        }
                    }
                    Some("function_call") => {
                        a.tool_calls += 1;
                        a.tool_json.push_str(item["name"].as_str().unwrap_or(""));
                        a.tool_json
                            .push_str(item["arguments"].as_str().unwrap_or(""));
                    }
                    _ => {}
                }
            }
        }
        Protocol::Gemini => gemini_parts(v, &mut a),
    }
    a
}

fn gemini_parts(v: &Value, a: &mut Answer) {
    for c in v["candidates"].as_array().into_iter().flatten() {
        for p in c["content"]["parts"].as_array().into_iter().flatten() {
            if p["thought"].as_bool() == Some(true) {
                continue;
            }
            if let Some(t) = p["text"].as_str() {
                a.text.push_str(t);
            }
            if let Some(f) = p.get("functionCall") {
                if f.get("name").is_some() {
                    a.tool_calls += 1;
                }
                a.tool_json.push_str(f["name"].as_str().unwrap_or(""));
                if let Some(args) = f.get("args") {
                    a.tool_json.push_str(&args.to_string());
                }
            }
        }
    }
}

pub fn answer_of_stream(protocol: Protocol, events: &[SseEvent]) -> Answer {
    let mut a = Answer::default();
    for ev in events {
        let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
            continue;
        };
        match protocol {
            Protocol::Anthropic => match v["type"].as_str() {
                Some("content_block_start") if v["content_block"]["type"] == "tool_use" => {
                    a.tool_calls += 1;
                    a.tool_json
                        .push_str(v["content_block"]["name"].as_str().unwrap_or(""));
                }
                Some("content_block_delta") => {
                    let d = &v["delta"];
                    a.text.push_str(d["text"].as_str().unwrap_or(""));
                    a.tool_json
                        .push_str(d["partial_json"].as_str().unwrap_or(""));
                }
                _ => {}
            },
            Protocol::OpenAiChat => {
                for c in v["choices"].as_array().into_iter().flatten() {
                    let d = &c["delta"];
                    a.text.push_str(d["content"].as_str().unwrap_or(""));
                    a.text.push_str(d["refusal"].as_str().unwrap_or(""));
                    for t in d["tool_calls"].as_array().into_iter().flatten() {
                        if t["function"]["name"].is_string() {
                            a.tool_calls += 1;
                        }
                        a.tool_json
                            .push_str(t["function"]["name"].as_str().unwrap_or(""));
                        a.tool_json
                            .push_str(t["function"]["arguments"].as_str().unwrap_or(""));
                    }
                }
            }
            Protocol::OpenAiResponses => match v["type"].as_str() {
                Some("response.output_text.delta") => {
                    a.text.push_str(v["delta"].as_str().unwrap_or(""))
                }
                Some("response.function_call_arguments.delta") => {
                    a.tool_json.push_str(v["delta"].as_str().unwrap_or(""))
                }
                Some("response.output_item.added") if v["item"]["type"] == "function_call" => {
                    a.tool_calls += 1;
                    a.tool_json
                        .push_str(v["item"]["name"].as_str().unwrap_or(""));
                }
                _ => {}
            },
            Protocol::Gemini => gemini_parts(&v, &mut a),
        }
    }
    a
}
