#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Request conversion: the realistic client bodies in `fixtures/requests/` to every other
//! upstream protocol, checking the fields that matter.

use std::path::Path;

use relaygate_transform::{Protocol, RequestOptions, convert_request};
use serde_json::{Value, json};

fn load(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/requests")
        .join(name);
    std::fs::read(p).unwrap()
}

/// What an upstream request says, protocol-neutral.
#[derive(Debug, Default)]
struct Sum {
    model: Option<String>,
    system: String,
    texts: Vec<String>,
    calls: Vec<(String, String, Value)>,
    results: Vec<(String, String)>,
    tools: Vec<String>,
    images: usize,
    thinking: bool,
    stream: Option<bool>,
    body: String,
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn summarize(p: Protocol, v: &Value) -> Sum {
    let mut s = Sum {
        body: v.to_string(),
        model: v["model"].as_str().map(str::to_owned),
        stream: v["stream"].as_bool(),
        ..Sum::default()
    };
    let arr = |x: &Value| x.as_array().cloned().unwrap_or_default();
    match p {
        Protocol::Anthropic => {
            s.system = text_of(&v["system"]);
            for m in arr(&v["messages"]) {
                for b in arr(&m["content"]) {
                    match b["type"].as_str().unwrap() {
                        "text" => s.texts.push(b["text"].as_str().unwrap().into()),
                        "image" => s.images += 1,
                        "tool_use" => s.calls.push((
                            b["id"].as_str().unwrap().into(),
                            b["name"].as_str().unwrap().into(),
                            b["input"].clone(),
                        )),
                        "tool_result" => s.results.push((
                            b["tool_use_id"].as_str().unwrap().into(),
                            text_of(&b["content"]),
                        )),
                        _ => {}
                    }
                }
                if let Some(t) = m["content"].as_str() {
                    s.texts.push(t.into());
                }
            }
            s.tools = arr(&v["tools"])
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect();
            s.thinking = v.get("thinking").is_some();
        }
        Protocol::OpenAiChat => {
            for m in arr(&v["messages"]) {
                match m["role"].as_str().unwrap() {
                    "system" | "developer" => s.system.push_str(&text_of(&m["content"])),
                    "tool" => s.results.push((
                        m["tool_call_id"].as_str().unwrap().into(),
                        text_of(&m["content"]),
                    )),
                    _ => {
                        if let Some(t) = m["content"].as_str().filter(|t| !t.is_empty()) {
                            s.texts.push(t.into());
                        }
                        for c in arr(&m["content"]) {
                            if c["type"] == "text" {
                                s.texts.push(c["text"].as_str().unwrap().into());
                            }
                            if c["type"] == "image_url" {
                                s.images += 1;
                            }
                        }
                        for tc in arr(&m["tool_calls"]) {
                            s.calls.push((
                                tc["id"].as_str().unwrap().into(),
                                tc["function"]["name"].as_str().unwrap().into(),
                                serde_json::from_str(tc["function"]["arguments"].as_str().unwrap())
                                    .unwrap(),
                            ));
                        }
                    }
                }
            }
            s.tools = arr(&v["tools"])
                .iter()
                .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
                .collect();
            s.thinking = v.get("reasoning_effort").is_some();
        }
        Protocol::OpenAiResponses => {
            s.system = v["instructions"].as_str().unwrap_or("").into();
            for it in arr(&v["input"]) {
                match it["type"].as_str().unwrap() {
                    "message" => {
                        for c in arr(&it["content"]) {
                            match c["type"].as_str().unwrap() {
                                "input_text" | "output_text" => {
                                    if it["role"] == "developer" {
                                        s.system.push_str(c["text"].as_str().unwrap())
                                    } else {
                                        s.texts.push(c["text"].as_str().unwrap().into())
                                    }
                                }
                                "input_image" => s.images += 1,
                                _ => {}
                            }
                        }
                    }
                    "function_call" => s.calls.push((
                        it["call_id"].as_str().unwrap().into(),
                        it["name"].as_str().unwrap().into(),
                        serde_json::from_str(it["arguments"].as_str().unwrap()).unwrap(),
                    )),
                    "function_call_output" => s.results.push((
                        it["call_id"].as_str().unwrap().into(),
                        it["output"].as_str().unwrap().into(),
                    )),
                    _ => {}
                }
            }
            s.tools = arr(&v["tools"])
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect();
            s.thinking = v.get("reasoning").is_some();
        }
        Protocol::Gemini => {
            s.system = text_of(&v["systemInstruction"]["parts"]);
            for c in arr(&v["contents"]) {
                for p in arr(&c["parts"]) {
                    if let Some(fc) = p.get("functionCall") {
                        s.calls.push((
                            String::new(),
                            fc["name"].as_str().unwrap().into(),
                            fc["args"].clone(),
                        ));
                    } else if let Some(fr) = p.get("functionResponse") {
                        s.results.push((
                            fr["name"].as_str().unwrap().into(),
                            fr["response"]["output"].as_str().unwrap_or("").into(),
                        ));
                    } else if p.get("inlineData").is_some() || p.get("fileData").is_some() {
                        s.images += 1;
                    } else if let Some(t) = p["text"].as_str().filter(|t| !t.is_empty()) {
                        s.texts.push(t.into());
                    }
                }
            }
            s.tools = arr(&v["tools"])
                .iter()
                .flat_map(|t| arr(&t["functionDeclarations"]))
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect();
            s.thinking = v["generationConfig"].get("thinkingConfig").is_some();
        }
    }
    s
}

fn convert(
    client: Protocol,
    up: Protocol,
    body: &[u8],
    stream: bool,
) -> (Value, Vec<relaygate_transform::Loss>) {
    let out = convert_request(
        client,
        up,
        body,
        &RequestOptions {
            upstream_model: "up-model".into(),
            stream,
        },
    )
    .unwrap();
    (serde_json::from_slice(&out.value).unwrap(), out.losses)
}

fn others(p: Protocol) -> impl Iterator<Item = Protocol> {
    Protocol::ALL.into_iter().filter(move |x| *x != p)
}

/// Every call has exactly one result with the same id (or, for Gemini, the same name).
fn pairs(up: Protocol, s: &Sum) {
    assert_eq!(s.calls.len(), s.results.len(), "{up}: {s:?}");
    for (call, res) in s.calls.iter().zip(&s.results) {
        let key = if up == Protocol::Gemini {
            &call.1
        } else {
            &call.0
        };
        assert_eq!(key, &res.0, "{up}: call/result pairing");
    }
}

fn common(up: Protocol, v: &Value, s: &Sum, stream: bool) {
    if up == Protocol::Gemini {
        assert!(
            v.get("model").is_none() && v.get("stream").is_none(),
            "Gemini bodies carry neither model nor stream"
        );
    } else {
        assert_eq!(s.model.as_deref(), Some("up-model"));
        assert_eq!(s.stream, Some(stream), "{up}: stream flag");
    }
    if up == Protocol::OpenAiChat && stream {
        assert_eq!(v["stream_options"]["include_usage"], true);
    }
    if up == Protocol::Anthropic {
        assert!(v["max_tokens"].as_u64().unwrap() > 0);
    }
    pairs(up, s);
}

#[test]
fn claude_code_request_to_every_upstream() {
    let body = load("claude-code.anthropic.json");
    for up in others(Protocol::Anthropic) {
        let (v, losses) = convert(Protocol::Anthropic, up, &body, true);
        let s = summarize(up, &v);
        common(up, &v, &s, true);
        assert!(
            s.system.contains("coding agent") && s.system.contains("reviewable"),
            "{up}"
        );
        assert_eq!(s.tools, vec!["read_file", "run_tests"], "{up}");
        assert_eq!(s.calls[0].1, "read_file");
        assert_eq!(s.calls[0].2, json!({"path": "src/parser.rs"}));
        assert!(s.results[0].1.contains("fn parse"), "{up}");
        assert!(s.texts.iter().any(|t| t == "Also check the tests."), "{up}");
        assert!(s.thinking, "{up}: thinking config");
        // The Anthropic signature never reaches another vendor, and the loss says so.
        assert!(!s.body.contains("anthropicsig"), "{up}");
        assert!(
            losses.iter().any(|l| l.field == "reasoning.signature"),
            "{up}: {losses:?}"
        );
        assert!(
            losses.iter().any(|l| l.field == "cache_control"),
            "{up}: {losses:?}"
        );
        if up == Protocol::Gemini {
            let params = &v["tools"][0]["functionDeclarations"][0]["parameters"];
            assert!(
                params.get("$schema").is_none() && params.get("additionalProperties").is_none()
            );
            assert_eq!(
                params["properties"]["range"]["properties"]["end"],
                json!({"type": "integer", "nullable": true})
            );
            assert_eq!(
                v["generationConfig"]["thinkingConfig"]["thinkingBudget"],
                4096
            );
            // The tool result and the user's text share one user content.
            assert_eq!(v["contents"].as_array().unwrap().len(), 3);
            assert_eq!(
                v["contents"][1]["parts"][1]["functionCall"]["name"],
                "read_file"
            );
            assert_eq!(
                v["contents"][1]["parts"][1]["thoughtSignature"],
                "skip_thought_signature_validator"
            );
        }
        if up == Protocol::OpenAiChat {
            // The tool message follows the assistant tool_calls directly.
            let roles: Vec<&str> = v["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["role"].as_str().unwrap())
                .collect();
            assert_eq!(roles, vec!["system", "user", "assistant", "tool", "user"]);
            assert_eq!(v["max_completion_tokens"], 32000);
            assert_eq!(
                v["messages"][2]["reasoning_content"],
                "I should read the parser first."
            );
        }
        if up == Protocol::OpenAiResponses {
            assert_eq!(v["reasoning"]["effort"], "medium");
            assert_eq!(v["include"][0], "reasoning.encrypted_content");
        }
    }
}

#[test]
fn codex_request_to_every_upstream() {
    let body = load("codex.responses.json");
    for up in others(Protocol::OpenAiResponses) {
        let (v, losses) = convert(Protocol::OpenAiResponses, up, &body, true);
        let s = summarize(up, &v);
        common(up, &v, &s, true);
        assert!(
            s.system.contains("Codex") && s.system.contains("Sandbox"),
            "{up}: {}",
            s.system
        );
        assert_eq!(s.calls[0].1, "shell");
        assert_eq!(s.calls[0].2, json!({"command": ["ls", "src"]}));
        assert_eq!(s.results[0].1, "lib.rs\nmain.rs");
        assert!(s.tools.contains(&"shell".to_owned()), "{up}");
        assert!(
            losses.iter().any(|l| l.field == "tools[namespace]"),
            "{up}: {losses:?}"
        );
        assert!(losses.iter().any(|l| l.field == "prompt_cache_key"), "{up}");
        assert!(
            !s.body.contains("openaiencrypted"),
            "{up}: encrypted reasoning leaked"
        );
        assert!(s.thinking, "{up}");
        match up {
            Protocol::Anthropic => assert!(
                v["tools"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t["type"] == "web_search_20250305")
            ),
            Protocol::Gemini => assert!(
                v["tools"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t.get("googleSearch").is_some())
            ),
            _ => assert!(losses.iter().any(|l| l.field == "tools[web_search]")),
        }
    }
}

#[test]
fn gemini_cli_request_to_every_upstream() {
    let body = load("gemini-cli.gemini.json");
    for up in others(Protocol::Gemini) {
        let (v, losses) = convert(Protocol::Gemini, up, &body, true);
        let s = summarize(up, &v);
        common(up, &v, &s, true);
        assert!(s.system.contains("Gemini CLI"));
        assert_eq!(s.tools, vec!["get_time"]);
        assert_eq!(s.calls[0].1, "get_time");
        assert_eq!(s.calls[0].2, json!({"tz": "Asia/Tokyo"}));
        assert!(s.results[0].1.contains("09:00"));
        assert!(s.thinking, "{up}");
        assert!(!s.body.contains("geminisignature"), "{up}");
        assert!(
            losses.iter().any(|l| l.field == "reasoning.signature"),
            "{up}: {losses:?}"
        );
        if up == Protocol::Anthropic {
            assert_eq!(v["thinking"]["budget_tokens"], 8192);
            assert!(v["max_tokens"].as_u64().unwrap() > 8192);
            assert!(
                v.get("temperature").is_none(),
                "temperature dropped with thinking"
            );
            let ids: Vec<&str> = vec![&s.calls[0].0, &s.results[0].0]
                .into_iter()
                .map(String::as_str)
                .collect();
            assert_eq!(ids[0], ids[1]);
        }
        if up == Protocol::OpenAiChat {
            assert_eq!(v["reasoning_effort"], "medium");
            assert_eq!(v["max_completion_tokens"], 2048);
        }
    }
}

#[test]
fn gemini_signature_survives_a_round_trip_through_an_anthropic_client() {
    // Gemini answered with a signed call; the Anthropic client got it tagged, and sends it back.
    let body = br#"{"model":"m","max_tokens":100,"messages":[
        {"role":"user","content":"time?"},
        {"role":"assistant","content":[
            {"type":"thinking","thinking":"","signature":"rg.gemini.CiQBsig"},
            {"type":"tool_use","id":"call_x","name":"get_time","input":{}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"call_x","content":"9am"}]}]}"#;
    let (v, _) = convert(Protocol::Anthropic, Protocol::Gemini, body, false);
    assert_eq!(v["contents"][1]["parts"][0]["thoughtSignature"], "CiQBsig");
    assert_eq!(
        v["contents"][2]["parts"][0]["functionResponse"]["name"],
        "get_time"
    );
}

#[test]
fn chat_request_with_parallel_calls_and_image_to_every_upstream() {
    let body = load("chat-parallel.openai.json");
    for up in others(Protocol::OpenAiChat) {
        let (v, losses) = convert(Protocol::OpenAiChat, up, &body, true);
        let s = summarize(up, &v);
        common(up, &v, &s, true);
        assert_eq!(s.calls.len(), 2, "{up}");
        assert_eq!(s.calls[1].2, json!({"city": "Tokyo"}));
        assert_eq!(s.images, 1, "{up}");
        assert!(s.system.contains("weather assistant"));
        assert!(s.texts.iter().any(|t| t == "Which is warmer?"));
        match up {
            Protocol::Anthropic => {
                // Sanitized ids, the same on the call and its result.
                assert!(
                    s.calls[1]
                        .0
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                );
                assert_eq!(v["stop_sequences"], json!(["END"]));
                assert_eq!(v["max_tokens"], 1000);
                assert_eq!(v["messages"][0]["content"][1]["source"]["type"], "base64");
                assert_eq!(
                    v["messages"][0]["content"][1]["source"]["media_type"],
                    "image/png"
                );
                assert!(losses.iter().any(|l| l.field == "seed"));
                // Both results in one user turn, before the new text.
                let last_user = &v["messages"][2]["content"];
                assert_eq!(last_user[0]["type"], "tool_result");
                assert_eq!(last_user[1]["type"], "tool_result");
                assert_eq!(last_user[2]["type"], "text");
            }
            Protocol::Gemini => {
                assert_eq!(
                    v["contents"][0]["parts"][1]["inlineData"]["mimeType"],
                    "image/png"
                );
                assert_eq!(
                    v["contents"][2]["parts"].as_array().unwrap().len(),
                    3,
                    "results merged in one content"
                );
                assert_eq!(v["generationConfig"]["seed"], 7);
                assert!(losses.iter().any(|l| l.field == "parallel_tool_calls"));
            }
            _ => {
                assert_eq!(v["max_output_tokens"], 1000);
                assert!(losses.iter().any(|l| l.field == "stop"));
            }
        }
    }
}

#[test]
fn same_protocol_is_identity() {
    let body = load("codex.responses.json");
    for p in Protocol::ALL {
        let out = convert_request(p, p, &body, &RequestOptions::default()).unwrap();
        assert_eq!(out.value, body);
        assert!(out.losses.is_empty());
    }
}

#[test]
fn invalid_bodies_are_errors() {
    for client in Protocol::ALL {
        for up in others(client) {
            assert!(convert_request(client, up, b"not json", &RequestOptions::default()).is_err());
            assert!(convert_request(client, up, b"[]", &RequestOptions::default()).is_err());
            assert!(convert_request(client, up, b"{}", &RequestOptions::default()).is_err());
        }
    }
}
