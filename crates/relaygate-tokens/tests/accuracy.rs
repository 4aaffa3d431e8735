#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]
//! Accuracy of the local estimators, measured on recorded answers whose true token counts are
//! known from the usage the upstream reported with them.
//!
//! Labelled set: every recorded response (stream or body) with usage and an answer. The true
//! count is the reported output minus reasoning (Gemini reports thoughts apart; Claude and
//! OpenAI samples with hidden or summarised reasoning are left out), the text is the visible
//! answer plus tool-call names and arguments as they came over the wire.

mod common;

use common::{
    Answer, all_files, answer_of_json, answer_of_stream, ape, events, fixtures_dir, is_stream,
    json, protocol_of,
};
use relaygate_tokens::{
    Protocol, StreamUsage, count_model_text, estimate_tokens_from_bytes, tool_call_overhead,
    usage_from_json,
};

struct Sample {
    file: String,
    family: &'static str,
    model: &'static str,
    tools: bool,
    truth: u64,
    answer: Answer,
}

fn samples() -> Option<Vec<Sample>> {
    let dir = fixtures_dir()?;
    let mut out = Vec::new();
    for rel in all_files(&dir) {
        if rel.ends_with(".md") || rel.contains("error") {
            continue;
        }
        let p = protocol_of(&rel);
        let (usage, answer) = if is_stream(&rel) {
            let evs = events(&dir, &rel);
            // Back-to-back Responses turns: not a single answer.
            if evs
                .iter()
                .filter(|e| e.event.as_deref() == Some("response.created"))
                .count()
                > 1
            {
                continue;
            }
            let mut s = StreamUsage::new(p);
            evs.iter().for_each(|e| s.push(e));
            (s.usage(), answer_of_stream(p, &evs))
        } else {
            let v = json(&dir, &rel);
            let body = v
                .get("attempts")
                .map(|a| a[0]["rawResponseBody"].clone())
                .unwrap_or(v);
            (
                usage_from_json(p, body.to_string().as_bytes()),
                answer_of_json(p, &body),
            )
        };
        let Some(u) = usage else { continue };
        if answer.text.is_empty() && answer.tool_json.is_empty() {
            continue;
        }
        let (family, model) = if rel.contains("deepseek") {
            continue; // DeepSeek's own tokenizer: neither family.
        } else if p == Protocol::Anthropic {
            ("claude", "claude-sonnet-4-5")
        } else if p == Protocol::Gemini {
            ("gemini", "gemini-2.5-flash")
        } else {
            ("openai", "gpt-4o")
        };
        // Thinking billed but not (or only summarised) in the text: the truth is unknown.
        if family != "gemini" && u.reasoning > 0 {
            continue;
        }
        if rel.contains("thinking") && family == "claude" || rel.contains("reasoning-summarized") {
            continue;
        }
        if rel.contains("empty-parts") {
            continue; // image output
        }
        out.push(Sample {
            file: rel.clone(),
            family,
            model,
            tools: answer.tool_calls > 0,
            truth: u.output - u.reasoning,
            answer,
        });
    }
    Some(out)
}

#[test]
fn estimator_accuracy() {
    let Some(samples) = samples() else { return };
    let mut rows: Vec<(&str, bool, f64, f64, f64)> = Vec::new();
    let mut mapes = Vec::new();
    eprintln!("| file | family | tools | true | estimate | o200k | bytes/4 |");
    eprintln!("| --- | --- | --- | ---: | ---: | ---: | ---: |");
    for s in &samples {
        let text = format!("{}{}", s.answer.text, s.answer.tool_json);
        let est = count_model_text(s.model, &text).unwrap().tokens
            + s.answer.tool_calls * tool_call_overhead(s.model);
        let raw = count_model_text("gpt-4o", &text).unwrap().tokens;
        let by_bytes = estimate_tokens_from_bytes(text.len() as u64);
        eprintln!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            s.file, s.family, s.tools, s.truth, est, raw, by_bytes
        );
        rows.push((
            s.family,
            s.tools,
            ape(est, s.truth),
            ape(by_bytes, s.truth),
            ape(raw, s.truth),
        ));
    }
    eprintln!();
    eprintln!("| family | answers | n | MAPE estimator | MAPE o200k raw | MAPE bytes/4 |");
    eprintln!("| --- | --- | ---: | ---: | ---: | ---: |");
    for fam in ["claude", "gemini", "openai"] {
        for tools in [false, true] {
            let sel: Vec<_> = rows.iter().filter(|r| r.0 == fam && r.1 == tools).collect();
            if sel.is_empty() {
                continue;
            }
            let n = sel.len() as f64;
            let mean =
                |f: fn(&&(&str, bool, f64, f64, f64)) -> f64| sel.iter().map(f).sum::<f64>() / n;
            mapes.push((fam, tools, mean(|r| r.2)));
            eprintln!(
                "| {fam} | {} | {} | {:.1}% | {:.1}% | {:.1}% |",
                if tools {
                    "with tool calls"
                } else {
                    "text only"
                },
                sel.len(),
                mean(|r| r.2),
                mean(|r| r.4),
                mean(|r| r.3),
            );
        }
    }
    assert!(
        samples.len() >= 15,
        "labelled set too small: {}",
        samples.len()
    );
    // Regression bounds, a little above what docs/tokens.md reports.
    for (fam, tools, mape) in mapes {
        let bound = match (fam, tools) {
            ("openai", false) => 5.0,
            ("gemini", false) => 10.0,
            ("claude", false) => 15.0,
            _ => 30.0,
        };
        assert!(
            mape <= bound,
            "{fam} tools={tools}: MAPE {mape:.1}% > {bound}%"
        );
    }
}
