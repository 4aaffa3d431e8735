//! Throughput of protocol translation, without a benchmark framework.
//!
//! Streams: for each of the 12 (upstream, client) directions, the upstream SSE bytes of every
//! recorded stream of that upstream protocol (`../shared/fixtures/recorded`, or a synthetic
//! stream when the fixtures are absent) are converted again and again; the result is MB/s of
//! upstream bytes. Two columns: "end to end" parses the SSE bytes, converts every event and
//! serializes the client events to bytes (what the proxy does per frame); "convert only" feeds
//! already parsed events and keeps the client events as values.
//!
//! Requests: for each of the 12 (client, upstream) directions, the client body of
//! `fixtures/requests/*.<protocol>.json` is converted; the result is the median µs per call.
//!
//! Every figure is the median of several timed runs. `RG_BENCH_RUNS` (default 7) and
//! `RG_BENCH_MS` (minimum milliseconds per stream run, default 200) tune the effort.
//! Output is a Markdown table on stdout.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use relaygate_protocol::sse::{SseDecoder, SseEvent};
use relaygate_transform::{
    Protocol, RequestOptions, ResponseOptions, convert_request, stream_converter,
};
use serde_json::Value;

/// One upstream stream: its wire bytes and the same bytes parsed into events.
struct Stream {
    bytes: Vec<u8>,
    events: Vec<SseEvent>,
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn parse_sse(bytes: &[u8]) -> Vec<SseEvent> {
    let mut dec = SseDecoder::new();
    let mut events = Vec::new();
    dec.feed(bytes, &mut events).unwrap();
    dec.finish(&mut events);
    events
}

fn stream_of(bytes: Vec<u8>) -> Stream {
    let events = parse_sse(&bytes);
    Stream { bytes, events }
}

// ---------------------------------------------------------------------------------------------
// Recorded fixtures
// ---------------------------------------------------------------------------------------------

fn protocol_of(rel: &str) -> Option<Protocol> {
    Some(
        if rel.starts_with("anthropic-sdk-python/") || rel.starts_with("vercel-ai/anthropic/") {
            Protocol::Anthropic
        } else if rel.starts_with("openai-python/") || rel.contains("openai-compatible-chat/") {
            Protocol::OpenAiChat
        } else if rel.starts_with("vercel-ai/openai-responses/") {
            Protocol::OpenAiResponses
        } else if rel.starts_with("vercel-ai/gemini/")
            || rel.starts_with("firebase-vertexai-sdk-test-data/")
        {
            Protocol::Gemini
        } else {
            return None;
        },
    )
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Frames a `*.chunks.txt` file (one JSON payload a line) as the SSE the API sent.
fn frame_chunks(text: &str, proto: Protocol) -> Vec<u8> {
    let mut s = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if matches!(proto, Protocol::Anthropic | Protocol::OpenAiResponses) {
            let v: Value = serde_json::from_str(line).unwrap();
            s.push_str("event: ");
            s.push_str(v["type"].as_str().unwrap_or("message"));
            s.push('\n');
        }
        s.push_str("data: ");
        s.push_str(line);
        s.push_str("\n\n");
    }
    if proto == Protocol::OpenAiChat {
        s.push_str("data: [DONE]\n\n");
    }
    s.into_bytes()
}

/// Splits a Responses recording that holds several responses back to back.
fn split_responses(bytes: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut cur = String::new();
    for block in text.split_inclusive("\n\n") {
        if block.starts_with("event: response.created") && !cur.is_empty() {
            out.push(std::mem::take(&mut cur).into_bytes());
        }
        cur.push_str(block);
    }
    if !cur.is_empty() {
        out.push(cur.into_bytes());
    }
    out
}

/// Successful recorded streams of `proto` (error and blocked streams are left out: they end
/// early and would flatter the numbers).
fn recorded_streams(root: &Path, proto: Protocol) -> Vec<Stream> {
    let mut files = Vec::new();
    walk(root, &mut files);
    let mut out = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if protocol_of(&rel) != Some(proto) || rel.contains("error") || rel.contains("failure") {
            continue;
        }
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        let framed = if rel.ends_with(".sse") {
            bytes
        } else if rel.ends_with(".chunks.txt") {
            frame_chunks(&String::from_utf8_lossy(&bytes), proto)
        } else {
            continue;
        };
        if proto == Protocol::OpenAiResponses {
            out.extend(split_responses(&framed).into_iter().map(stream_of));
        } else {
            out.push(stream_of(framed));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Synthetic streams (used when the recorded fixtures are not there)
// ---------------------------------------------------------------------------------------------

const WORDS: &str = "The quick brown fox jumps over the lazy dog near the river bank. ";
const TEXT_DELTAS: usize = 120;
const ARG_DELTAS: usize = 24;

fn sse(out: &mut String, event: Option<&str>, data: &Value) {
    if let Some(e) = event {
        out.push_str("event: ");
        out.push_str(e);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(&data.to_string());
    out.push_str("\n\n");
}

/// Argument fragments of one tool call whose concatenation is a JSON object.
fn arg_fragments() -> Vec<String> {
    let mut frags = vec![r#"{"query":""#.to_owned()];
    frags.extend((0..ARG_DELTAS).map(|i| format!("part{i} ")));
    frags.push(r#"","limit":10}"#.to_owned());
    frags
}

/// A text answer followed by one tool call, with usage and a finish, in `proto`'s wire shape.
fn synthetic_stream(proto: Protocol) -> Vec<u8> {
    use serde_json::json;
    let mut s = String::new();
    let frags = arg_fragments();
    let args: String = frags.concat();
    match proto {
        Protocol::Anthropic => {
            sse(
                &mut s,
                Some("message_start"),
                &json!({"type": "message_start", "message": {"id": "msg_1",
                "type": "message", "role": "assistant", "model": "m", "content": [], "stop_reason": null,
                "usage": {"input_tokens": 120, "output_tokens": 1}}}),
            );
            sse(
                &mut s,
                Some("content_block_start"),
                &json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
            );
            for _ in 0..TEXT_DELTAS {
                sse(
                    &mut s,
                    Some("content_block_delta"),
                    &json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": WORDS}}),
                );
            }
            sse(
                &mut s,
                Some("content_block_stop"),
                &json!({"type": "content_block_stop", "index": 0}),
            );
            sse(
                &mut s,
                Some("content_block_start"),
                &json!({"type": "content_block_start", "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {}}}),
            );
            for f in &frags {
                sse(
                    &mut s,
                    Some("content_block_delta"),
                    &json!({"type": "content_block_delta", "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": f}}),
                );
            }
            sse(
                &mut s,
                Some("content_block_stop"),
                &json!({"type": "content_block_stop", "index": 1}),
            );
            sse(
                &mut s,
                Some("message_delta"),
                &json!({"type": "message_delta",
                "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 900}}),
            );
            sse(
                &mut s,
                Some("message_stop"),
                &json!({"type": "message_stop"}),
            );
        }
        Protocol::OpenAiChat => {
            let chunk = |delta: Value, finish: Value| {
                json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            };
            sse(
                &mut s,
                None,
                &chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            );
            for _ in 0..TEXT_DELTAS {
                sse(&mut s, None, &chunk(json!({"content": WORDS}), Value::Null));
            }
            sse(
                &mut s,
                None,
                &chunk(
                    json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "search", "arguments": ""}}]}),
                    Value::Null,
                ),
            );
            for f in &frags {
                sse(
                    &mut s,
                    None,
                    &chunk(
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}),
                        Value::Null,
                    ),
                );
            }
            sse(&mut s, None, &chunk(json!({}), json!("tool_calls")));
            sse(
                &mut s,
                None,
                &json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                "model": "m", "choices": [],
                "usage": {"prompt_tokens": 120, "completion_tokens": 900, "total_tokens": 1020}}),
            );
            s.push_str("data: [DONE]\n\n");
        }
        Protocol::OpenAiResponses => {
            let mut seq = 0u64;
            let mut ev = |s: &mut String, ty: &str, mut v: Value| {
                v["type"] = json!(ty);
                v["sequence_number"] = json!(seq);
                seq += 1;
                sse(s, Some(ty), &v);
            };
            let resp = |status: &str| {
                json!({"id": "resp_1", "object": "response", "created_at": 1,
                "status": status, "model": "m", "output": []})
            };
            ev(
                &mut s,
                "response.created",
                json!({"response": resp("in_progress")}),
            );
            ev(
                &mut s,
                "response.output_item.added",
                json!({"output_index": 0, "item": {"id": "msg_1",
                "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
            );
            for _ in 0..TEXT_DELTAS {
                ev(
                    &mut s,
                    "response.output_text.delta",
                    json!({"item_id": "msg_1", "output_index": 0,
                    "content_index": 0, "delta": WORDS}),
                );
            }
            ev(
                &mut s,
                "response.output_item.done",
                json!({"output_index": 0, "item": {"id": "msg_1",
                "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": WORDS.repeat(TEXT_DELTAS)}]}}),
            );
            ev(
                &mut s,
                "response.output_item.added",
                json!({"output_index": 1, "item": {"id": "fc_1",
                "type": "function_call", "call_id": "call_1", "name": "search", "arguments": ""}}),
            );
            for f in &frags {
                ev(
                    &mut s,
                    "response.function_call_arguments.delta",
                    json!({"item_id": "fc_1",
                    "output_index": 1, "delta": f}),
                );
            }
            ev(
                &mut s,
                "response.output_item.done",
                json!({"output_index": 1, "item": {"id": "fc_1",
                "type": "function_call", "call_id": "call_1", "name": "search", "arguments": args}}),
            );
            let mut done = resp("completed");
            done["usage"] =
                json!({"input_tokens": 120, "output_tokens": 900, "total_tokens": 1020});
            ev(&mut s, "response.completed", json!({"response": done}));
        }
        Protocol::Gemini => {
            for _ in 0..TEXT_DELTAS {
                sse(
                    &mut s,
                    None,
                    &json!({"candidates": [{"content": {"role": "model",
                    "parts": [{"text": WORDS}]}, "index": 0}], "modelVersion": "m", "responseId": "r1"}),
                );
            }
            let parsed: Value = serde_json::from_str(&args).unwrap();
            sse(
                &mut s,
                None,
                &json!({"candidates": [{"content": {"role": "model",
                "parts": [{"functionCall": {"name": "search", "args": parsed}}]}, "finishReason": "STOP",
                "index": 0}], "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 900,
                "totalTokenCount": 1020}, "modelVersion": "m", "responseId": "r1"}),
            );
        }
    }
    s.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------------------------

fn opts() -> ResponseOptions {
    ResponseOptions {
        client_model: "client-model".into(),
        id_seed: "bench-request-id".into(),
    }
}

/// One pass over every stream, from bytes to client bytes; returns the upstream bytes read.
fn pass_end_to_end(
    up: Protocol,
    client: Protocol,
    streams: &[Stream],
    o: &ResponseOptions,
    buf: &mut Vec<SseEvent>,
    wire: &mut Vec<u8>,
) -> usize {
    let mut n = 0;
    for st in streams {
        let mut dec = SseDecoder::new();
        let mut conv = stream_converter(up, client, o);
        let mut events = Vec::new();
        dec.feed(black_box(&st.bytes), &mut events).unwrap();
        dec.finish(&mut events);
        for e in &events {
            buf.clear();
            conv.push(e, buf).unwrap();
            wire.clear();
            for out in buf.iter() {
                out.encode_into(wire);
            }
            black_box(&wire);
        }
        buf.clear();
        conv.finish(buf).unwrap();
        wire.clear();
        for out in buf.iter() {
            out.encode_into(wire);
        }
        black_box(&wire);
        n += st.bytes.len();
    }
    n
}

/// One pass over every stream's parsed events; returns the upstream bytes they came from.
fn pass_convert_only(
    up: Protocol,
    client: Protocol,
    streams: &[Stream],
    o: &ResponseOptions,
    buf: &mut Vec<SseEvent>,
) -> usize {
    let mut n = 0;
    for st in streams {
        let mut conv = stream_converter(up, client, o);
        buf.clear();
        for e in &st.events {
            conv.push(black_box(e), buf).unwrap();
        }
        conv.finish(buf).unwrap();
        black_box(&buf);
        n += st.bytes.len();
    }
    n
}

/// Median MB/s over `runs` runs of at least `min` each.
fn throughput(runs: u64, min: Duration, mut pass: impl FnMut() -> usize) -> f64 {
    for _ in 0..3 {
        pass();
    }
    let mut rates = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let mut bytes = 0usize;
        while start.elapsed() < min {
            bytes += pass();
        }
        let secs = start.elapsed().as_secs_f64();
        rates.push(bytes as f64 / secs / 1e6);
    }
    median(rates)
}

/// Median µs per call of `f` over `samples` samples of `batch` calls.
fn per_call_us(samples: usize, batch: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..batch * 20 {
        f();
    }
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        for _ in 0..batch {
            f();
        }
        times.push(start.elapsed().as_secs_f64() * 1e6 / batch as f64);
    }
    median(times)
}

fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Anthropic => "anthropic",
        Protocol::OpenAiChat => "openai chat",
        Protocol::OpenAiResponses => "responses",
        Protocol::Gemini => "gemini",
    }
}

fn request_body(dir: &Path, p: Protocol) -> Option<(String, Vec<u8>)> {
    let suffix = match p {
        Protocol::Anthropic => ".anthropic.json",
        Protocol::OpenAiChat => ".openai.json",
        Protocol::OpenAiResponses => ".responses.json",
        Protocol::Gemini => ".gemini.json",
    };
    let mut files = Vec::new();
    walk(dir, &mut files);
    let f = files.into_iter().find(|f| {
        f.file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(suffix))
    })?;
    let name = f.file_name()?.to_string_lossy().into_owned();
    Some((name, std::fs::read(f).ok()?))
}

fn main() {
    let runs = env_num("RG_BENCH_RUNS", 7);
    let min = Duration::from_millis(env_num("RG_BENCH_MS", 200));
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let recorded = manifest.join("../../../shared/fixtures/recorded");
    let use_recorded = recorded.is_dir();

    println!("## Streams (upstream SSE bytes converted, MB/s, median of {runs} runs)");
    println!();
    if use_recorded {
        println!(
            "Source: the recorded streams in `../shared/fixtures/recorded` (error streams left out), repeated."
        );
    } else {
        println!(
            "Source: a synthetic stream per protocol ({TEXT_DELTAS} text deltas, one tool call), repeated; the recorded fixtures were not found."
        );
    }
    println!();
    println!(
        "| upstream -> client | streams | KiB per pass | end to end MB/s | convert only MB/s |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    let o = opts();
    for up in Protocol::ALL {
        let mut streams = if use_recorded {
            recorded_streams(&recorded, up)
        } else {
            Vec::new()
        };
        if streams.is_empty() {
            streams.push(stream_of(synthetic_stream(up)));
        }
        let kib = streams.iter().map(|s| s.bytes.len()).sum::<usize>() as f64 / 1024.0;
        for client in Protocol::ALL {
            if client == up {
                continue;
            }
            let mut buf = Vec::new();
            let mut wire = Vec::new();
            let e2e = throughput(runs, min, || {
                pass_end_to_end(up, client, &streams, &o, &mut buf, &mut wire)
            });
            let conv = throughput(runs, min, || {
                pass_convert_only(up, client, &streams, &o, &mut buf)
            });
            println!(
                "| {} -> {} | {} | {kib:.1} | {e2e:.1} | {conv:.1} |",
                proto_name(up),
                proto_name(client),
                streams.len()
            );
        }
    }

    println!();
    println!("## Requests (client body -> upstream body, median µs per call)");
    println!();
    println!("| client -> upstream | body | bytes | µs per call |");
    println!("| --- | --- | ---: | ---: |");
    let req_dir = manifest.join("../../fixtures/requests");
    let samples = (runs as usize * 300).max(500);
    for client in Protocol::ALL {
        let Some((name, body)) = request_body(&req_dir, client) else {
            println!("| {} -> * | missing | | |", proto_name(client));
            continue;
        };
        for up in Protocol::ALL {
            if up == client {
                continue;
            }
            let ro = RequestOptions {
                upstream_model: "upstream-model".into(),
                stream: true,
            };
            // Fail loudly rather than time an error path.
            convert_request(client, up, &body, &ro).unwrap();
            let us = per_call_us(samples, 10, || {
                black_box(convert_request(client, up, black_box(&body), &ro).unwrap());
            });
            println!(
                "| {} -> {} | {name} | {} | {us:.2} |",
                proto_name(client),
                proto_name(up),
                body.len()
            );
        }
    }
}
