//! Small valid responses of each protocol, JSON and streamed.

use bytes::Bytes;
use serde_json::json;

/// What a canned answer says.
#[derive(Debug, Clone)]
pub struct CannedOptions {
    /// The model echoed in the answer.
    pub model: String,
    /// The answer is this text split into `deltas` pieces.
    pub text: String,
    /// Number of text delta events in a stream.
    pub deltas: usize,
}

impl Default for CannedOptions {
    fn default() -> Self {
        CannedOptions {
            model: "mock-model".to_owned(),
            text: "Hello from the mock upstream.".to_owned(),
            deltas: 3,
        }
    }
}

/// Which protocol a request path belongs to (`anthropic`, `openai`, `responses`, `gemini`).
pub fn protocol_of_path(path: &str) -> &'static str {
    if path.starts_with("/v1/messages") {
        "anthropic"
    } else if path.starts_with("/v1/chat/completions") {
        "openai"
    } else if path.starts_with("/v1/responses") {
        "responses"
    } else {
        "gemini"
    }
}

fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let n = n.max(1).min(chars.len().max(1));
    let size = chars.len().div_ceil(n);
    chars
        .chunks(size.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

/// A non-streamed answer for the protocol of `path`.
pub fn canned_json(path: &str, o: &CannedOptions) -> Bytes {
    let v = match protocol_of_path(path) {
        "anthropic" => json!({
            "id": "msg_mock_1", "type": "message", "role": "assistant", "model": o.model,
            "content": [{"type": "text", "text": o.text}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 12, "output_tokens": 7}
        }),
        "openai" => json!({
            "id": "chatcmpl-mock1", "object": "chat.completion", "created": 1_700_000_000, "model": o.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": o.text, "refusal": null},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}
        }),
        "responses" => responses_object(o, "completed"),
        _ => json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": o.text}]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 7, "totalTokenCount": 19},
            "modelVersion": o.model, "responseId": "mock-resp-1"
        }),
    };
    Bytes::from(v.to_string())
}

fn responses_object(o: &CannedOptions, status: &str) -> serde_json::Value {
    let done = status == "completed";
    json!({
        "id": "resp_mock_1", "object": "response", "created_at": 1_700_000_000, "status": status,
        "model": o.model, "output": if done { json!([{
            "id": "msg_mock_1", "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": o.text, "annotations": []}]
        }]) } else { json!([]) },
        "parallel_tool_calls": true, "tool_choice": "auto", "tools": [],
        "usage": if done { json!({"input_tokens": 12, "output_tokens": 7, "total_tokens": 19,
            "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}) } else { json!(null) }
    })
}

fn sse(event: Option<&str>, data: &serde_json::Value) -> Bytes {
    let mut s = String::new();
    if let Some(e) = event {
        s.push_str("event: ");
        s.push_str(e);
        s.push('\n');
    }
    s.push_str("data: ");
    s.push_str(&data.to_string());
    s.push_str("\n\n");
    Bytes::from(s)
}

/// A streamed answer for the protocol of `path`: one SSE event per element.
pub fn canned_stream(path: &str, o: &CannedOptions) -> Vec<Bytes> {
    let parts = pieces(&o.text, o.deltas);
    let mut out = Vec::new();
    match protocol_of_path(path) {
        "anthropic" => {
            out.push(sse(Some("message_start"), &json!({"type": "message_start", "message": {
                "id": "msg_mock_1", "type": "message", "role": "assistant", "model": o.model, "content": [],
                "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 12, "output_tokens": 1}}})));
            out.push(sse(
                Some("content_block_start"),
                &json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
            ));
            out.push(sse(Some("ping"), &json!({"type": "ping"})));
            for p in &parts {
                out.push(sse(
                    Some("content_block_delta"),
                    &json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": p}}),
                ));
            }
            out.push(sse(
                Some("content_block_stop"),
                &json!({"type": "content_block_stop", "index": 0}),
            ));
            out.push(sse(Some("message_delta"), &json!({"type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 7}})));
            out.push(sse(Some("message_stop"), &json!({"type": "message_stop"})));
        }
        "openai" => {
            let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
                json!({
                "id": "chatcmpl-mock1", "object": "chat.completion.chunk", "created": 1_700_000_000,
                "model": o.model, "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
            };
            out.push(sse(
                None,
                &chunk(json!({"role": "assistant", "content": ""}), json!(null)),
            ));
            for p in &parts {
                out.push(sse(None, &chunk(json!({"content": p}), json!(null))));
            }
            out.push(sse(None, &chunk(json!({}), json!("stop"))));
            out.push(sse(
                None,
                &json!({"id": "chatcmpl-mock1", "object": "chat.completion.chunk",
                "created": 1_700_000_000, "model": o.model, "choices": [],
                "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}}),
            ));
            out.push(Bytes::from_static(b"data: [DONE]\n\n"));
        }
        "responses" => {
            let mut seq = 0u64;
            let mut ev = |name: &str, mut v: serde_json::Value| {
                v["type"] = json!(name);
                v["sequence_number"] = json!(seq);
                seq += 1;
                sse(Some(name), &v)
            };
            out.push(ev(
                "response.created",
                json!({"response": responses_object(o, "in_progress")}),
            ));
            out.push(ev(
                "response.in_progress",
                json!({"response": responses_object(o, "in_progress")}),
            ));
            out.push(ev("response.output_item.added", json!({"output_index": 0, "item": {
                "id": "msg_mock_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}})));
            out.push(ev("response.content_part.added", json!({"item_id": "msg_mock_1", "output_index": 0,
                "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}})));
            for p in &parts {
                out.push(ev(
                    "response.output_text.delta",
                    json!({"item_id": "msg_mock_1", "output_index": 0,
                    "content_index": 0, "delta": p, "logprobs": []}),
                ));
            }
            out.push(ev(
                "response.output_text.done",
                json!({"item_id": "msg_mock_1", "output_index": 0,
                "content_index": 0, "text": o.text, "logprobs": []}),
            ));
            out.push(ev("response.content_part.done", json!({"item_id": "msg_mock_1", "output_index": 0,
                "content_index": 0, "part": {"type": "output_text", "text": o.text, "annotations": []}})));
            out.push(ev(
                "response.output_item.done",
                json!({"output_index": 0, "item": {
                "id": "msg_mock_1", "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": o.text, "annotations": []}]}}),
            ));
            out.push(ev(
                "response.completed",
                json!({"response": responses_object(o, "completed")}),
            ));
        }
        _ => {
            let n = parts.len();
            for (i, p) in parts.iter().enumerate() {
                let mut c = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": p}]}, "index": 0}],
                    "modelVersion": o.model, "responseId": "mock-resp-1"});
                if i + 1 == n {
                    c["candidates"][0]["finishReason"] = json!("STOP");
                    c["usageMetadata"] = json!({"promptTokenCount": 12, "candidatesTokenCount": 7, "totalTokenCount": 19});
                }
                out.push(sse(None, &c));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_end_with_each_protocols_marker() {
        let o = CannedOptions::default();
        let last = |p: &str| canned_stream(p, &o).last().cloned().unwrap();
        assert!(last("/v1/messages").starts_with(b"event: message_stop"));
        assert_eq!(&last("/v1/chat/completions")[..], b"data: [DONE]\n\n");
        assert!(last("/v1/responses").starts_with(b"event: response.completed"));
        assert!(
            String::from_utf8_lossy(&last("/v1beta/models/m:streamGenerateContent"))
                .contains("finishReason")
        );
        for p in [
            "/v1/messages",
            "/v1/chat/completions",
            "/v1/responses",
            "/v1beta/models/m:generateContent",
        ] {
            let v: serde_json::Value = serde_json::from_slice(&canned_json(p, &o)).unwrap();
            assert!(v.is_object());
        }
    }
}
