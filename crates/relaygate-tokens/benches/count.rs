//! Median time of `count_request` for a ~10k-token request in each protocol.
//! Run with `cargo bench -p relaygate-tokens` (plain loop, no harness).
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::time::Instant;

use relaygate_tokens::{Encoding, Protocol, count_request, tokenizer};
use serde_json::json;

const ITERATIONS: usize = 200;

/// About 10k o200k tokens of varied prose and code split over 20 turns.
fn turns() -> Vec<String> {
    let prose = "The gateway forwards each request to the first healthy channel, keeps the \
        stream flowing byte for byte, and records usage when the answer ends. ";
    let code =
        "fn main() { let x: Vec<u64> = (0..10).map(|i| i * 2).collect(); println!(\"{x:?}\"); }\n";
    (0..20usize)
        .map(|i| {
            let mut s = String::new();
            while s.len() < 2_000 {
                s.push_str(if i.is_multiple_of(3) { code } else { prose });
            }
            s
        })
        .collect()
}

fn body(p: Protocol, turns: &[String]) -> Vec<u8> {
    let tool = json!({"name":"get_weather","description":"Get the weather for a city.",
        "parameters":{"type":"object","properties":{"city":{"type":"string","description":"City"},"unit":{"type":"string","enum":["c","f"]}}}});
    let role = |i: usize| {
        if i.is_multiple_of(2) {
            "user"
        } else {
            "assistant"
        }
    };
    let v = match p {
        Protocol::Anthropic => {
            json!({"model":"claude-sonnet-4-5","system":"You are a helpful assistant.",
            "messages": turns.iter().enumerate().map(|(i, t)| json!({"role": role(i), "content": t})).collect::<Vec<_>>(),
            "tools":[{"name":"get_weather","description":"Get the weather for a city.","input_schema":tool["parameters"]}]})
        }
        Protocol::OpenAiChat => json!({"model":"gpt-4o",
            "messages": std::iter::once(json!({"role":"system","content":"You are a helpful assistant."}))
                .chain(turns.iter().enumerate().map(|(i, t)| json!({"role": role(i), "content": t}))).collect::<Vec<_>>(),
            "tools":[{"type":"function","function":tool}]}),
        Protocol::OpenAiResponses => {
            json!({"model":"gpt-5","instructions":"You are a helpful assistant.",
            "input": turns.iter().enumerate().map(|(i, t)| json!({"role": role(i), "content": t})).collect::<Vec<_>>(),
            "tools":[{"type":"function","name":"get_weather","description":"Get the weather for a city.","parameters":tool["parameters"]}]})
        }
        Protocol::Gemini => {
            json!({"systemInstruction":{"parts":[{"text":"You are a helpful assistant."}]},
            "contents": turns.iter().enumerate().map(|(i, t)| json!({"role": if i.is_multiple_of(2) {"user"} else {"model"}, "parts":[{"text": t}]})).collect::<Vec<_>>(),
            "tools":[{"functionDeclarations":[tool]}]})
        }
    };
    v.to_string().into_bytes()
}

/// The times of `iterations` calls of `f` in µs, sorted.
fn sorted_us(iterations: usize, mut f: impl FnMut()) -> Vec<u128> {
    let mut times: Vec<u128> = (0..iterations)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_micros()
        })
        .collect();
    times.sort_unstable();
    times
}

fn median_us(iterations: usize, f: impl FnMut()) -> u128 {
    sorted_us(iterations, f)[iterations / 2]
}

fn main() {
    let turns = turns();
    for (p, model) in [
        (Protocol::OpenAiChat, "gpt-4o"),
        (Protocol::OpenAiResponses, "gpt-5"),
        (Protocol::Anthropic, "claude-sonnet-4-5"),
        (Protocol::Gemini, "gemini-2.5-pro"),
    ] {
        let body = body(p, &turns);
        // The first call loads the encoder (OnceLock); time it apart.
        let t0 = Instant::now();
        let first = count_request(p, model, &body).expect("count");
        let load = t0.elapsed();
        let times = sorted_us(ITERATIONS, || {
            let c = count_request(p, model, &body).expect("count");
            assert_eq!(c, first);
        });
        println!(
            "{p:<10} {model:<18} body {:>6} B  {:>6} tokens  median {:>6} µs  p90 {:>6} µs  (first call incl. encoder load {} ms)",
            body.len(),
            first.tokens,
            times[ITERATIONS / 2],
            times[ITERATIONS * 9 / 10],
            load.as_millis()
        );
    }
    // Where the time goes: the JSON parse every count starts with, and the BPE over the text.
    let body = body(Protocol::OpenAiChat, &turns);
    let parse = median_us(ITERATIONS, || {
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        std::hint::black_box(v);
    });
    let text = turns.concat();
    let bpe = tokenizer(Encoding::O200kBase).unwrap();
    let tokens = bpe.count(&text).tokens;
    let text_only = median_us(ITERATIONS, || {
        std::hint::black_box(bpe.count(std::hint::black_box(&text)));
    });
    // Pathological input: one 1 MB word (a single pre-token), and 1 MB of one repeated emoji.
    for (name, text) in [
        ("1 MB word", "a".repeat(1 << 20)),
        ("1 MB emoji", "🙂".repeat(1 << 18)),
    ] {
        let body = serde_json::json!({"messages":[{"role":"user","content":text}]}).to_string();
        let worst = median_us(21, || {
            std::hint::black_box(
                count_request(Protocol::OpenAiChat, "gpt-4o", body.as_bytes()).unwrap(),
            );
        });
        println!("pathological: {name} through count_request median {worst} µs");
    }
    let reference = tiktoken_rs::o200k_base().unwrap();
    assert_eq!(reference.count_ordinary(&text) as u64, tokens);
    let tiktoken = median_us(ITERATIONS, || {
        std::hint::black_box(reference.count_ordinary(std::hint::black_box(&text)));
    });
    println!(
        "parts: JSON parse of the chat body median {parse} µs; o200k over its {} B of text ({tokens} tokens) median {text_only} µs, tiktoken-rs count_ordinary on the same text median {tiktoken} µs ({:.1}x)",
        text.len(),
        tiktoken as f64 / text_only.max(1) as f64
    );
}
