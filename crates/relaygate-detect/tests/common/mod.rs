//! Loading of the recorded third-party fixtures in `../shared/fixtures/recorded` (read in
//! place, never copied into the repository).
#![allow(dead_code, clippy::print_stderr)]

use std::path::PathBuf;

use relaygate_protocol::sse::{SseDecoder, SseEvent};

/// The recorded fixtures directory, or `None` (with a note) when it is absent.
/// With `RELAYGATE_REQUIRE_FIXTURES=1` an absent directory fails the test.
pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/recorded");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("RELAYGATE_REQUIRE_FIXTURES").as_deref() == Ok("1") {
        panic!("recorded fixtures missing at {}", dir.display());
    }
    eprintln!("skipping: recorded fixtures not found at {}", dir.display());
    None
}

/// The bytes of one fixture file.
pub fn read(dir: &std::path::Path, rel: &str) -> Vec<u8> {
    std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("reading fixture {rel}: {e}"))
}

/// The SSE events of a recorded stream: `*.sse` decoded as they are, `*.chunks.txt` framed
/// again (`event: <type>` for Anthropic and Responses, then `data: <line>`).
pub fn events(dir: &std::path::Path, rel: &str) -> Vec<SseEvent> {
    let bytes = read(dir, rel);
    let wire = if rel.ends_with(".chunks.txt") {
        let named = rel.contains("anthropic") || rel.contains("responses");
        let mut out = Vec::new();
        for line in String::from_utf8_lossy(&bytes).lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if named {
                let v: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{rel}: bad chunk line: {e}"));
                let t = v.get("type").and_then(|t| t.as_str()).unwrap_or("message");
                out.extend_from_slice(format!("event: {t}\n").as_bytes());
            }
            out.extend_from_slice(format!("data: {line}\n\n").as_bytes());
        }
        out
    } else {
        bytes
    };
    let mut dec = SseDecoder::new();
    let mut evs = Vec::new();
    dec.feed(&wire, &mut evs).expect("decode");
    dec.finish(&mut evs);
    evs
}
