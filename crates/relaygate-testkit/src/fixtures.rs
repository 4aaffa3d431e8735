//! Finding and framing the recorded third-party traffic in `../shared/fixtures/recorded/`.
//!
//! The files are read where they are, never copied into the repository. When the folder is
//! missing, tests skip with a message, unless `RELAYGATE_REQUIRE_FIXTURES=1` (set by `.ci/run`)
//! makes its absence a failure.

use std::path::{Path, PathBuf};

/// The recorded fixtures folder: `$RELAYGATE_FIXTURES_DIR`, else `../shared/fixtures/recorded`
/// beside the checkout.
pub fn recorded_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("RELAYGATE_FIXTURES_DIR") {
        let p = PathBuf::from(dir);
        return p.is_dir().then_some(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/recorded");
    root.is_dir().then_some(root)
}

/// The fixtures folder, or `None` after printing why the calling test skips.
///
/// # Panics
/// When the folder is missing and `RELAYGATE_REQUIRE_FIXTURES=1`.
#[allow(clippy::panic, clippy::print_stderr)]
pub fn recorded_or_skip(test: &str) -> Option<PathBuf> {
    match recorded_dir() {
        Some(d) => Some(d),
        None if std::env::var("RELAYGATE_REQUIRE_FIXTURES").as_deref() == Ok("1") => {
            panic!(
                "{test}: recorded fixtures are required (RELAYGATE_REQUIRE_FIXTURES=1) but ../shared/fixtures/recorded is missing"
            )
        }
        None => {
            eprintln!(
                "SKIP {test}: ../shared/fixtures/recorded not found (set RELAYGATE_FIXTURES_DIR)"
            );
            None
        }
    }
}

/// One recorded stream, framed as the upstream sent it.
#[derive(Debug, Clone)]
pub struct RecordedStream {
    /// Path relative to the fixtures folder.
    pub name: String,
    /// `anthropic`, `openai`, `responses` or `gemini`.
    pub protocol: &'static str,
    /// The SSE bytes, one element per event (so a replay can pause between events).
    pub events: Vec<Vec<u8>>,
}

/// Splits raw SSE bytes into events, keeping every byte (including CRLF line endings).
pub fn split_sse_events(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let blank = if rest.starts_with(b"\r\n\r\n") {
            Some(4)
        } else if rest.starts_with(b"\n\n") {
            Some(2)
        } else {
            None
        };
        if let Some(n) = blank {
            out.push(bytes[start..i + n].to_vec());
            i += n;
            start = i;
        } else {
            i += 1;
        }
    }
    if start < bytes.len() {
        out.push(bytes[start..].to_vec());
    }
    out
}

fn protocol_of(rel: &str, first_line: &str) -> &'static str {
    if rel.contains("anthropic") {
        "anthropic"
    } else if rel.contains("responses") {
        "responses"
    } else if rel.contains("gemini")
        || rel.contains("firebase")
        || first_line.contains("candidates")
    {
        "gemini"
    } else {
        "openai"
    }
}

/// Every recorded stream (`*.sse` as is, `*.chunks.txt` re-framed as its README says).
pub fn recorded_streams(dir: &Path) -> std::io::Result<Vec<RecordedStream>> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(&path)?;
        if rel.ends_with(".sse") {
            let first = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            out.push(RecordedStream {
                protocol: protocol_of(&rel, &first),
                name: rel,
                events: split_sse_events(&bytes),
            });
        } else if rel.ends_with(".chunks.txt") {
            let text = String::from_utf8_lossy(&bytes);
            let first = text.lines().next().unwrap_or_default().to_owned();
            let protocol = protocol_of(&rel, &first);
            let named = matches!(protocol, "anthropic" | "responses");
            let mut events = Vec::new();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let mut ev = String::new();
                if named {
                    let ty = serde_json::from_str::<serde_json::Value>(line)
                        .ok()
                        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
                        .unwrap_or_else(|| "message".to_owned());
                    ev.push_str("event: ");
                    ev.push_str(&ty);
                    ev.push('\n');
                }
                ev.push_str("data: ");
                ev.push_str(line);
                ev.push_str("\n\n");
                events.push(ev.into_bytes());
            }
            out.push(RecordedStream {
                name: rel,
                protocol,
                events,
            });
        }
    }
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_every_byte() {
        let raw = b"data: a\r\n\r\ndata: b\n\ndata: tail";
        let ev = split_sse_events(raw);
        assert_eq!(ev.len(), 3);
        assert_eq!(ev.concat(), raw.to_vec());
    }
}
