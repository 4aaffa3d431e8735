#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Former known gaps on the upstream side: Gemini 3 `thinkingLevel`, cleaned Gemini response
//! schemas and the separator between Chat text parts.

use relaygate_transform::schema::clean_gemini_schema;
use relaygate_transform::{Protocol, RequestOptions, convert_request};
use serde_json::{Value, json};

fn req_to(client: Protocol, upstream: Protocol, model: &str, body: &Value) -> Value {
    let opts = RequestOptions {
        upstream_model: model.into(),
        stream: false,
    };
    let out = convert_request(client, upstream, body.to_string().as_bytes(), &opts).unwrap();
    serde_json::from_slice(&out.value).unwrap()
}

fn thinking_config(client: Protocol, model: &str, body: &Value) -> Value {
    let v = req_to(client, Protocol::Gemini, model, body);
    v["generationConfig"]["thinkingConfig"].clone()
}

fn chat_effort(effort: &str) -> Value {
    json!({"model": "gpt", "reasoning_effort": effort,
        "messages": [{"role": "user", "content": "hi"}]})
}

fn anthropic_thinking(thinking: Value) -> Value {
    json!({"model": "claude", "max_tokens": 32000, "thinking": thinking,
        "messages": [{"role": "user", "content": "hi"}]})
}

#[test]
fn gemini_3_gets_a_thinking_level_instead_of_a_budget() {
    let g3 = "gemini-3-pro-preview";
    for (effort, level) in [
        ("minimal", "low"),
        ("low", "low"),
        ("medium", "high"),
        ("high", "high"),
        ("xhigh", "high"),
    ] {
        let tc = thinking_config(Protocol::OpenAiChat, g3, &chat_effort(effort));
        assert_eq!(
            tc,
            json!({"includeThoughts": true, "thinkingLevel": level}),
            "{effort}"
        );
    }
    for (budget, level) in [
        (1024, "low"),
        (2048, "low"),
        (4096, "high"),
        (24576, "high"),
    ] {
        let body = anthropic_thinking(json!({"type": "enabled", "budget_tokens": budget}));
        let tc = thinking_config(Protocol::Anthropic, g3, &body);
        assert_eq!(
            tc,
            json!({"includeThoughts": true, "thinkingLevel": level}),
            "{budget}"
        );
    }
    // A `models/` prefix and upper case still name a Gemini 3 model.
    let tc = thinking_config(
        Protocol::OpenAiChat,
        "models/Gemini-3-Flash",
        &chat_effort("low"),
    );
    assert_eq!(tc["thinkingLevel"], "low", "{tc}");
    // Dynamic thinking is Gemini 3's default; it cannot turn thinking off, so `none` is `low`.
    let tc = thinking_config(
        Protocol::Anthropic,
        g3,
        &anthropic_thinking(json!({"type": "adaptive"})),
    );
    assert_eq!(tc, json!({"includeThoughts": true}));
    let tc = thinking_config(Protocol::OpenAiChat, g3, &chat_effort("none"));
    assert_eq!(tc, json!({"thinkingLevel": "low"}));
}

#[test]
fn gemini_2_keeps_thinking_budgets() {
    let g2 = "gemini-2.5-pro";
    let tc = thinking_config(Protocol::OpenAiChat, g2, &chat_effort("high"));
    assert_eq!(
        tc,
        json!({"includeThoughts": true, "thinkingBudget": 16384})
    );
    let body = anthropic_thinking(json!({"type": "enabled", "budget_tokens": 2048}));
    let tc = thinking_config(Protocol::Anthropic, g2, &body);
    assert_eq!(tc, json!({"includeThoughts": true, "thinkingBudget": 2048}));
    let body = anthropic_thinking(json!({"type": "adaptive"}));
    let tc = thinking_config(Protocol::Anthropic, g2, &body);
    assert_eq!(tc, json!({"includeThoughts": true, "thinkingBudget": -1}));
    let tc = thinking_config(Protocol::OpenAiChat, g2, &chat_effort("none"));
    assert_eq!(tc, json!({"thinkingBudget": 0}));
    assert!(tc.get("thinkingLevel").is_none());
}

fn raw_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": false,
        "$defs": {"Step": {"type": "object", "additionalProperties": false,
            "properties": {"text": {"type": "string"}, "n": {"type": ["integer", "null"]}},
            "required": ["text", "n"]}},
        "properties": {
            "steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}},
            "kind": {"const": "plan"}
        },
        "required": ["steps", "kind", "missing"]
    })
}

fn assert_clean_response_schema(v: &Value, what: &str) {
    let g = &v["generationConfig"];
    assert_eq!(g["responseMimeType"], "application/json", "{what}: {v}");
    let schema = g
        .get("responseSchema")
        .or_else(|| g.get("responseJsonSchema"))
        .unwrap_or_else(|| panic!("{what}: no response schema in {v}"));
    assert_eq!(schema, &clean_gemini_schema(&raw_schema()), "{what}");
    let s = schema.to_string();
    for bad in ["$ref", "$defs", "$schema", "additionalProperties", "const"] {
        assert!(!s.contains(bad), "{what}: {bad} left in {s}");
    }
    assert_eq!(
        schema["properties"]["steps"]["items"]["properties"]["n"],
        json!({"type": "integer", "nullable": true}),
        "{what}"
    );
    assert_eq!(schema["required"], json!(["steps", "kind"]), "{what}");
}

#[test]
fn gemini_response_schemas_are_cleaned_like_tool_schemas() {
    let chat = json!({"model": "gpt", "messages": [{"role": "user", "content": "plan"}],
        "response_format": {"type": "json_schema",
            "json_schema": {"name": "plan", "strict": true, "schema": raw_schema()}}});
    let v = req_to(
        Protocol::OpenAiChat,
        Protocol::Gemini,
        "gemini-2.5-pro",
        &chat,
    );
    assert_clean_response_schema(&v, "chat");

    let responses = json!({"model": "gpt", "input": "plan",
        "text": {"format": {"type": "json_schema", "name": "plan", "strict": true,
            "schema": raw_schema()}}});
    let v = req_to(
        Protocol::OpenAiResponses,
        Protocol::Gemini,
        "gemini-3-pro-preview",
        &responses,
    );
    assert_clean_response_schema(&v, "responses");
    // A plain JSON object mode gets no schema.
    let chat = json!({"model": "gpt", "messages": [{"role": "user", "content": "plan"}],
        "response_format": {"type": "json_object"}});
    let v = req_to(
        Protocol::OpenAiChat,
        Protocol::Gemini,
        "gemini-2.5-pro",
        &chat,
    );
    let g = &v["generationConfig"];
    assert_eq!(g["responseMimeType"], "application/json");
    assert!(g.get("responseSchema").is_none() && g.get("responseJsonSchema").is_none());
}

fn chat_user_content(client: Protocol, body: &Value) -> Value {
    let v = req_to(client, Protocol::OpenAiChat, "gpt", body);
    let user = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "user")
        .unwrap()
        .clone();
    user["content"].clone()
}

#[test]
fn chat_text_parts_are_joined_with_a_blank_line() {
    let body = json!({"model": "claude", "max_tokens": 100, "messages": [{"role": "user",
        "content": [{"type": "text", "text": "First."}, {"type": "text", "text": ""},
            {"type": "text", "text": "Second."}]}]});
    assert_eq!(
        chat_user_content(Protocol::Anthropic, &body),
        json!("First.\n\nSecond.")
    );

    // One non-empty part gets no separator.
    let body = json!({"model": "claude", "max_tokens": 100, "messages": [{"role": "user",
        "content": [{"type": "text", "text": ""}, {"type": "text", "text": "Only."}]}]});
    assert_eq!(
        chat_user_content(Protocol::Anthropic, &body),
        json!("Only.")
    );

    // A flattened text document is one of the parts.
    let body = json!({"model": "claude", "max_tokens": 100, "messages": [{"role": "user",
        "content": [{"type": "document", "title": "Notes",
            "source": {"type": "text", "media_type": "text/plain", "data": "Ship Friday."}},
            {"type": "text", "text": "Summarise."}]}]});
    let content = chat_user_content(Protocol::Anthropic, &body);
    let s = content.as_str().unwrap();
    assert!(s.ends_with("Ship Friday.\n\nSummarise."), "{s}");

    // Assistant text parts too.
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]},
        {"role": "model", "parts": [{"text": "One."}, {"text": "Two."}]},
        {"role": "user", "parts": [{"text": "more"}]}]});
    let v = req_to(Protocol::Gemini, Protocol::OpenAiChat, "gpt", &body);
    assert_eq!(v["messages"][1]["content"], "One.\n\nTwo.", "{v}");
}
