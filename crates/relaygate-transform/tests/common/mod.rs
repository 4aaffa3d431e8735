//! Shared test helpers: recorded fixture loading and independent per-protocol stream readers
//! (they do not use the crate's decoders, so they check the output on their own terms).
#![allow(dead_code, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use relaygate_protocol::sse::{SseDecoder, SseEvent};
use relaygate_transform::Protocol;
use serde_json::Value;

pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/recorded");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("RELAYGATE_REQUIRE_FIXTURES").as_deref() == Ok("1") {
        panic!("recorded fixtures missing at {}", dir.display());
    }
    eprintln!(
        "skipping: recorded fixtures not found at {} (set RELAYGATE_REQUIRE_FIXTURES=1 to fail)",
        dir.display()
    );
    None
}

fn protocol_of(rel: &str) -> Option<Protocol> {
    let p = if rel.starts_with("anthropic-sdk-python/") || rel.starts_with("vercel-ai/anthropic/") {
        Protocol::Anthropic
    } else if rel.starts_with("openai-python/")
        || rel.contains("openai-chat/")
        || rel.contains("openai-compatible-chat/")
    {
        Protocol::OpenAiChat
    } else if rel.starts_with("vercel-ai/openai-responses/") {
        Protocol::OpenAiResponses
    } else if rel.starts_with("vercel-ai/gemini/")
        || rel.starts_with("firebase-vertexai-sdk-test-data/")
    {
        Protocol::Gemini
    } else {
        return None;
    };
    Some(p)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every recorded stream: (name, protocol, events); Responses files are split per response.
pub fn stream_fixtures(root: &Path) -> Vec<(String, Protocol, Vec<SseEvent>)> {
    let mut files = Vec::new();
    walk(root, &mut files);
    let mut out = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let Some(proto) = protocol_of(&rel) else {
            continue;
        };
        let bytes = std::fs::read(&f).unwrap();
        let framed: Vec<u8> = if rel.ends_with(".sse") {
            bytes
        } else if rel.ends_with(".chunks.txt") {
            let mut s = String::new();
            for line in String::from_utf8(bytes)
                .unwrap()
                .lines()
                .filter(|l| !l.trim().is_empty())
            {
                if matches!(proto, Protocol::Anthropic | Protocol::OpenAiResponses) {
                    let v: Value = serde_json::from_str(line.trim()).unwrap();
                    s.push_str(&format!("event: {}\n", v["type"].as_str().unwrap()));
                }
                s.push_str(&format!("data: {line}\n\n"));
            }
            s.into_bytes()
        } else {
            continue;
        };
        let mut dec = SseDecoder::new();
        let mut events = Vec::new();
        dec.feed(&framed, &mut events).unwrap();
        dec.finish(&mut events);
        if proto == Protocol::OpenAiResponses {
            let mut cur: Vec<SseEvent> = Vec::new();
            let mut n = 0;
            for e in events {
                if e.event.as_deref() == Some("response.created") && !cur.is_empty() {
                    out.push((format!("{rel}#{n}"), proto, std::mem::take(&mut cur)));
                    n += 1;
                }
                cur.push(e);
            }
            out.push((format!("{rel}#{n}"), proto, cur));
        } else {
            out.push((rel, proto, events));
        }
    }
    out
}

/// Every recorded non-stream success body: (name, protocol, body).
pub fn json_fixtures(root: &Path) -> Vec<(String, Protocol, Vec<u8>)> {
    let mut files = Vec::new();
    walk(root, &mut files);
    let mut out = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if !rel.ends_with(".json") || rel.starts_with("github-issues/") {
            continue;
        }
        let Some(proto) = protocol_of(&rel) else {
            continue;
        };
        let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        if v.get("error").is_some() || v["type"] == "error" {
            continue;
        }
        if let Some(attempts) = v.get("attempts").and_then(Value::as_array) {
            for (i, a) in attempts.iter().enumerate() {
                out.push((
                    format!("{rel}#{i}"),
                    proto,
                    a["rawResponseBody"].to_string().into_bytes(),
                ));
            }
            continue;
        }
        out.push((rel, proto, v.to_string().into_bytes()));
    }
    out
}

/// What a client would take away from a stream or a body.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub text: String,
    pub thinking: String,
    pub tools: Vec<(String, String)>,
    pub finish: String,
    pub input: u64,
    pub output: u64,
    pub error: Option<String>,
    pub terminated: bool,
}

fn j(e: &SseEvent) -> Value {
    serde_json::from_str(e.data.trim()).unwrap_or_else(|err| panic!("bad JSON {err}: {}", e.data))
}

fn norm_finish(p: Protocol, f: &str, has_tools: bool) -> String {
    let s = match (p, f) {
        (Protocol::Anthropic, "max_tokens")
        | (Protocol::OpenAiChat, "length")
        | (Protocol::Gemini, "MAX_TOKENS") => "length",
        (Protocol::Anthropic, "tool_use") | (Protocol::OpenAiChat, "tool_calls") => "tool_calls",
        (Protocol::Anthropic, "refusal") | (Protocol::OpenAiChat, "content_filter") => "filter",
        (
            Protocol::Gemini,
            "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII",
        ) => "filter",
        (Protocol::OpenAiResponses, "incomplete:max_output_tokens") => "length",
        (Protocol::OpenAiResponses, "incomplete:content_filter") => "filter",
        _ if has_tools => "tool_calls",
        _ => "stop",
    };
    s.to_owned()
}

/// Reads a stream as `p`'s client SDK would, asserting the protocol's event grammar.
pub fn read_stream(p: Protocol, events: &[SseEvent], strict: bool) -> Summary {
    match p {
        Protocol::Anthropic => read_anthropic(events, strict),
        Protocol::OpenAiChat => read_chat(events, strict),
        Protocol::OpenAiResponses => read_responses(events, strict),
        Protocol::Gemini => read_gemini(events, strict),
    }
}

fn read_anthropic(events: &[SseEvent], strict: bool) -> Summary {
    let mut s = Summary::default();
    let (mut inp, mut cr, mut cw, mut out) = (0, 0, 0, 0);
    let mut open: Option<(u64, String)> = None;
    let mut next_index = 0;
    let mut tool_args = String::new();
    let mut tool_name = String::new();
    let mut started = false;
    let mut finish = String::new();
    for (i, e) in events.iter().enumerate() {
        let v = j(e);
        let ty = v["type"].as_str().unwrap().to_owned();
        if strict {
            assert_eq!(e.event.as_deref(), Some(ty.as_str()), "event name = type");
            assert!(!s.terminated, "event after message_stop: {ty}");
            if ty != "error" && ty != "ping" {
                assert!(
                    started || ty == "message_start",
                    "first event must be message_start, got {ty}"
                );
            }
        }
        let mut usage = |u: &Value| {
            if let Some(n) = u["input_tokens"].as_u64() {
                inp = n;
            }
            if let Some(n) = u["cache_read_input_tokens"].as_u64() {
                cr = n;
            }
            if let Some(n) = u["cache_creation_input_tokens"].as_u64() {
                cw = n;
            }
            if let Some(n) = u["output_tokens"].as_u64() {
                out = n;
            }
        };
        match ty.as_str() {
            "message_start" => {
                started = true;
                usage(&v["message"]["usage"]);
            }
            "content_block_start" => {
                let idx = v["index"].as_u64().unwrap();
                if strict {
                    assert!(open.is_none(), "block {idx} opened inside another");
                    assert_eq!(idx, next_index, "block indices count up");
                }
                next_index = idx + 1;
                let b = &v["content_block"];
                let bt = b["type"].as_str().unwrap().to_owned();
                if bt == "tool_use" {
                    assert!(
                        b["id"]
                            .as_str()
                            .unwrap()
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    );
                    tool_name = b["name"].as_str().unwrap().to_owned();
                    tool_args.clear();
                }
                open = Some((idx, bt));
            }
            "content_block_delta" => {
                let (idx, bt) = open.clone().expect("delta outside a block");
                assert_eq!(v["index"].as_u64().unwrap(), idx);
                let d = &v["delta"];
                match (d["type"].as_str().unwrap(), bt.as_str()) {
                    ("text_delta", "text") => s.text.push_str(d["text"].as_str().unwrap()),
                    ("thinking_delta", "thinking") => {
                        s.thinking.push_str(d["thinking"].as_str().unwrap())
                    }
                    ("signature_delta", "thinking") => {}
                    ("input_json_delta", "tool_use") => {
                        tool_args.push_str(d["partial_json"].as_str().unwrap())
                    }
                    (dt, bt) => panic!("delta {dt} in block {bt}"),
                }
            }
            "content_block_stop" => {
                let (idx, bt) = open.take().expect("stop outside a block");
                assert_eq!(v["index"].as_u64().unwrap(), idx);
                if bt == "tool_use" {
                    s.tools.push((
                        tool_name.clone(),
                        if tool_args.is_empty() {
                            "{}".into()
                        } else {
                            tool_args.clone()
                        },
                    ));
                }
            }
            "message_delta" => {
                if !strict
                    && let Some((_, bt)) = open.take()
                    && bt == "tool_use"
                {
                    // A block cut off without its stop (max_tokens).
                    s.tools.push((tool_name.clone(), tool_args.clone()));
                }
                usage(&v["usage"]);
                if let Some(r) = v["delta"]["stop_reason"].as_str() {
                    finish = r.to_owned();
                }
            }
            "message_stop" => {
                if strict {
                    assert!(open.is_none(), "message_stop with an open block");
                    assert!(!finish.is_empty(), "message_stop without message_delta");
                }
                s.terminated = true;
            }
            "error" => {
                s.error = Some(v["error"]["message"].as_str().unwrap().to_owned());
                if strict {
                    assert_eq!(i, events.len() - 1, "error must be last");
                }
            }
            "ping" => {}
            other => panic!("unknown Anthropic event {other}"),
        }
    }
    s.input = inp + cr + cw;
    s.output = out;
    s.finish = norm_finish(Protocol::Anthropic, &finish, !s.tools.is_empty());
    s
}

fn read_chat(events: &[SseEvent], strict: bool) -> Summary {
    let mut s = Summary::default();
    let mut tools: Vec<(u64, String, String)> = Vec::new();
    let mut finish = String::new();
    let mut finishes = 0;
    for (i, e) in events.iter().enumerate() {
        if strict {
            assert!(e.event.is_none(), "chat events carry no name");
            assert!(!s.terminated, "event after [DONE]");
        }
        if e.data.trim() == "[DONE]" {
            s.terminated = true;
            continue;
        }
        let v = j(e);
        if let Some(err) = v.get("error") {
            s.error = Some(err["message"].as_str().unwrap().to_owned());
            if strict {
                assert_eq!(i, events.len() - 1, "error must be last");
            }
            continue;
        }
        if strict {
            assert_eq!(v["object"], "chat.completion.chunk");
            if i == 0 {
                assert_eq!(
                    v["choices"][0]["delta"]["role"], "assistant",
                    "role chunk first"
                );
            }
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            s.input = u["prompt_tokens"].as_u64().unwrap_or(0);
            s.output = u["completion_tokens"].as_u64().unwrap_or(0);
        }
        let Some(c) = v["choices"].as_array().and_then(|c| c.first()) else {
            continue;
        };
        let d = &c["delta"];
        if let Some(t) = d["content"].as_str() {
            s.text.push_str(t);
        }
        if let Some(t) = d["refusal"].as_str() {
            s.text.push_str(t);
        }
        if let Some(t) = d["reasoning_content"].as_str() {
            s.thinking.push_str(t);
        }
        for tc in d["tool_calls"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let idx = tc["index"].as_u64().unwrap();
            match tools.iter_mut().find(|t| t.0 == idx) {
                Some(t) => {
                    t.2.push_str(tc["function"]["arguments"].as_str().unwrap_or(""))
                }
                None => {
                    if strict {
                        assert!(
                            tc["id"].as_str().is_some_and(|x| !x.is_empty()),
                            "first tool fragment has an id"
                        );
                    }
                    tools.push((
                        idx,
                        tc["function"]["name"].as_str().unwrap().to_owned(),
                        tc["function"]["arguments"]
                            .as_str()
                            .unwrap_or("")
                            .to_owned(),
                    ));
                }
            }
        }
        if let Some(f) = c["finish_reason"].as_str() {
            finish = f.to_owned();
            finishes += 1;
        }
    }
    if strict && s.error.is_none() {
        assert_eq!(finishes, 1, "exactly one finish_reason");
    }
    s.tools = tools
        .into_iter()
        .map(|t| (t.1, if t.2.is_empty() { "{}".into() } else { t.2 }))
        .collect();
    s.finish = norm_finish(Protocol::OpenAiChat, &finish, false);
    s
}

fn read_responses(events: &[SseEvent], strict: bool) -> Summary {
    let mut s = Summary::default();
    let mut open: Vec<(u64, String)> = Vec::new();
    let mut finish = String::new();
    let mut last_summary: Option<(String, u64)> = None;
    for (i, e) in events.iter().enumerate() {
        let v = j(e);
        let ty = v["type"].as_str().unwrap().to_owned();
        if strict {
            assert_eq!(e.event.as_deref(), Some(ty.as_str()), "event name = type");
            assert_eq!(
                v["sequence_number"].as_u64(),
                Some(i as u64),
                "sequence numbers count from 0"
            );
            if i == 0 {
                assert_eq!(ty, "response.created");
            }
            if i == 1 {
                assert_eq!(ty, "response.in_progress");
            }
            assert!(!s.terminated, "event after the terminal one");
        }
        match ty.as_str() {
            "response.output_item.added" => {
                if strict {
                    assert!(open.is_empty(), "items are sequential");
                }
                open.push((
                    v["output_index"].as_u64().unwrap(),
                    v["item"]["type"].as_str().unwrap().to_owned(),
                ));
            }
            "response.output_text.delta" => {
                if strict {
                    assert!(open.last().is_some_and(|o| o.1 == "message"));
                }
                s.text.push_str(v["delta"].as_str().unwrap());
            }
            "response.refusal.delta" => s.text.push_str(v["delta"].as_str().unwrap()),
            "response.reasoning_summary_text.delta" => {
                let key = (
                    v["item_id"].as_str().unwrap().to_owned(),
                    v["summary_index"].as_u64().unwrap(),
                );
                if last_summary
                    .as_ref()
                    .is_some_and(|l| l.0 == key.0 && l.1 != key.1)
                {
                    s.thinking.push_str("\n\n");
                }
                last_summary = Some(key);
                s.thinking.push_str(v["delta"].as_str().unwrap());
            }
            "response.output_item.done" => {
                let item = &v["item"];
                if strict {
                    let o = open.pop().expect("done without added");
                    assert_eq!(o.0, v["output_index"].as_u64().unwrap());
                }
                if item["type"] == "function_call" {
                    s.tools.push((
                        item["name"].as_str().unwrap().to_owned(),
                        item["arguments"].as_str().unwrap().to_owned(),
                    ));
                    if strict {
                        assert!(item["call_id"].as_str().is_some_and(|c| !c.is_empty()));
                    }
                }
            }
            "response.completed" | "response.incomplete" => {
                s.terminated = true;
                let r = &v["response"];
                s.input = r["usage"]["input_tokens"].as_u64().unwrap_or(0);
                s.output = r["usage"]["output_tokens"].as_u64().unwrap_or(0);
                finish = match r["status"].as_str().unwrap() {
                    "incomplete" => format!(
                        "incomplete:{}",
                        r["incomplete_details"]["reason"].as_str().unwrap_or("")
                    ),
                    other => other.to_owned(),
                };
                if strict {
                    let n_out = r["output"].as_array().unwrap().len();
                    assert!(
                        n_out > 0 || s.text.is_empty(),
                        "completed carries the output"
                    );
                }
            }
            "error" => {
                s.error = Some(
                    v["message"]
                        .as_str()
                        .or(v["error"]["message"].as_str())
                        .unwrap()
                        .to_owned(),
                )
            }
            "response.failed" => s.terminated = true,
            _ => {}
        }
    }
    s.finish = norm_finish(Protocol::OpenAiResponses, &finish, !s.tools.is_empty());
    s
}

fn read_gemini(events: &[SseEvent], strict: bool) -> Summary {
    let mut s = Summary::default();
    let mut finish = String::new();
    let mut streaming: Option<(String, serde_json::Map<String, Value>)> = None;
    for (i, e) in events.iter().enumerate() {
        if strict {
            assert!(e.event.is_none());
        }
        let v = j(e);
        if let Some(err) = v.get("error") {
            s.error = Some(err["message"].as_str().unwrap().to_owned());
            if strict {
                assert_eq!(i, events.len() - 1);
            }
            continue;
        }
        if let Some(m) = v
            .get("usageMetadata")
            .filter(|m| m.get("promptTokenCount").is_some())
        {
            s.input = m["promptTokenCount"].as_u64().unwrap_or(0);
            s.output = m["candidatesTokenCount"].as_u64().unwrap_or(0)
                + m["thoughtsTokenCount"].as_u64().unwrap_or(0);
        }
        if v.get("promptFeedback").is_some() && v.get("candidates").is_none() {
            finish = "SAFETY".into();
            s.terminated = true;
        }
        let Some(c) = v["candidates"].as_array().and_then(|c| c.first()) else {
            continue;
        };
        for p in c["content"]["parts"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            if let Some(fc) = p.get("functionCall") {
                // Vertex streams arguments; only the test's own simple accumulation.
                if let Some(name) = fc["name"].as_str() {
                    if let Some((n, a)) = streaming.take() {
                        s.tools.push((n, Value::Object(a).to_string()));
                    }
                    if fc["willContinue"] == true {
                        streaming = Some((name.to_owned(), Default::default()));
                    } else {
                        s.tools.push((
                            name.to_owned(),
                            fc.get("args")
                                .cloned()
                                .unwrap_or(Value::Object(Default::default()))
                                .to_string(),
                        ));
                    }
                } else if let Some((_, args)) = &mut streaming {
                    for pa in fc["partialArgs"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or(&[])
                    {
                        let k = pa["jsonPath"]
                            .as_str()
                            .unwrap()
                            .trim_start_matches("$.")
                            .to_owned();
                        let add = pa["stringValue"].as_str().unwrap_or("");
                        let cur = args.entry(k).or_insert(Value::String(String::new()));
                        let joined = format!("{}{add}", cur.as_str().unwrap_or(""));
                        *cur = Value::String(joined);
                    }
                    if fc.get("willContinue").is_none() {
                        let (n, a) = streaming.take().unwrap();
                        s.tools.push((n, Value::Object(a).to_string()));
                    }
                }
            } else if let Some(t) = p["text"].as_str() {
                if p["thought"] == true {
                    s.thinking.push_str(t)
                } else {
                    s.text.push_str(t)
                }
            }
        }
        if let Some(f) = c["finishReason"].as_str() {
            finish = f.to_owned();
            s.terminated = true;
            if strict {
                assert_eq!(i, events.len() - 1, "finishReason on the last chunk");
                assert!(v.get("usageMetadata").is_some(), "usage on the last chunk");
            }
        }
    }
    s.finish = norm_finish(Protocol::Gemini, &finish, !s.tools.is_empty());
    s
}

/// Argument texts compare as JSON when they parse.
pub fn same_args(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => true, // cut-off JSON (max_tokens): only the name is comparable
    }
}

/// Reads a non-stream body as `p`'s client SDK would.
pub fn read_body(p: Protocol, v: &Value) -> Summary {
    let mut s = Summary {
        terminated: true,
        ..Summary::default()
    };
    let arr = |x: &Value| x.as_array().cloned().unwrap_or_default();
    let finish;
    match p {
        Protocol::Anthropic => {
            for b in arr(&v["content"]) {
                match b["type"].as_str().unwrap() {
                    "text" => s.text.push_str(b["text"].as_str().unwrap()),
                    "thinking" => s.thinking.push_str(b["thinking"].as_str().unwrap()),
                    "tool_use" => s
                        .tools
                        .push((b["name"].as_str().unwrap().into(), b["input"].to_string())),
                    _ => {}
                }
            }
            let u = &v["usage"];
            s.input = [
                "input_tokens",
                "cache_read_input_tokens",
                "cache_creation_input_tokens",
            ]
            .iter()
            .map(|k| u[*k].as_u64().unwrap_or(0))
            .sum();
            s.output = u["output_tokens"].as_u64().unwrap_or(0);
            finish = v["stop_reason"].as_str().unwrap_or("").to_owned();
        }
        Protocol::OpenAiChat => {
            let m = &v["choices"][0]["message"];
            s.text.push_str(m["content"].as_str().unwrap_or(""));
            s.thinking
                .push_str(m["reasoning_content"].as_str().unwrap_or(""));
            for tc in arr(&m["tool_calls"]) {
                s.tools.push((
                    tc["function"]["name"].as_str().unwrap().into(),
                    tc["function"]["arguments"].as_str().unwrap().into(),
                ));
            }
            s.input = v["usage"]["prompt_tokens"].as_u64().unwrap_or(0);
            s.output = v["usage"]["completion_tokens"].as_u64().unwrap_or(0);
            finish = v["choices"][0]["finish_reason"]
                .as_str()
                .unwrap_or("")
                .to_owned();
        }
        Protocol::OpenAiResponses => {
            for item in arr(&v["output"]) {
                match item["type"].as_str().unwrap() {
                    "message" => arr(&item["content"])
                        .iter()
                        .for_each(|c| s.text.push_str(c["text"].as_str().unwrap_or(""))),
                    "reasoning" => {
                        let texts: Vec<&str> = item["summary"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .filter_map(|x| x["text"].as_str())
                            .collect();
                        s.thinking.push_str(&texts.join("\n\n"));
                    }
                    "function_call" => s.tools.push((
                        item["name"].as_str().unwrap().into(),
                        item["arguments"].as_str().unwrap().into(),
                    )),
                    _ => {}
                }
            }
            s.input = v["usage"]["input_tokens"].as_u64().unwrap_or(0);
            s.output = v["usage"]["output_tokens"].as_u64().unwrap_or(0);
            finish = match v["status"].as_str().unwrap() {
                "incomplete" => format!(
                    "incomplete:{}",
                    v["incomplete_details"]["reason"].as_str().unwrap_or("")
                ),
                other => other.to_owned(),
            };
        }
        Protocol::Gemini => {
            let c = &v["candidates"][0];
            for part in arr(&c["content"]["parts"]) {
                if let Some(fc) = part.get("functionCall") {
                    s.tools.push((
                        fc["name"].as_str().unwrap().into(),
                        fc.get("args")
                            .cloned()
                            .unwrap_or(serde_json::json!({}))
                            .to_string(),
                    ));
                } else if let Some(t) = part["text"].as_str() {
                    if part["thought"] == true {
                        s.thinking.push_str(t)
                    } else {
                        s.text.push_str(t)
                    }
                }
            }
            let m = &v["usageMetadata"];
            s.input = m["promptTokenCount"].as_u64().unwrap_or(0);
            s.output = m["candidatesTokenCount"].as_u64().unwrap_or(0)
                + m["thoughtsTokenCount"].as_u64().unwrap_or(0);
            finish = c["finishReason"].as_str().unwrap_or("").to_owned();
        }
    }
    s.finish = norm_finish(p, &finish, !s.tools.is_empty());
    s
}
