//! Median time of `count_request` for a ~10k-token request in each protocol.
//! Run with `cargo bench -p relaygate-tokens` (plain loop, no harness).
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::time::Instant;

use relaygate_tokens::{Protocol, count_request};
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
        let mut times: Vec<u128> = (0..ITERATIONS)
            .map(|_| {
                let t = Instant::now();
                let c = count_request(p, model, &body).expect("count");
                assert_eq!(c, first);
                t.elapsed().as_micros()
            })
            .collect();
        times.sort_unstable();
        println!(
            "{p:<10} {model:<18} body {:>6} B  {:>6} tokens  median {:>6} µs  p90 {:>6} µs  (first call incl. encoder load {} ms)",
            body.len(),
            first.tokens,
            times[ITERATIONS / 2],
            times[ITERATIONS * 9 / 10],
            load.as_millis()
        );
    }
}
