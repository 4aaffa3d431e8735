//! Usage of a JSON answer of any size, found in one pass without holding the body.
//!
//! [`JsonUsageScan`] is fed the body in whatever pieces it arrives. It follows the JSON
//! structure byte by byte (strings are skipped with `memchr`), and keeps only the values of the
//! few top-level keys that carry billing facts (`usage`, `usageMetadata`, `service_tier`), each
//! bounded in size. For a Gemini answer that is an array of chunks, the keys of each element
//! are watched and the last element with usage wins. At the end, the kept values are read as a
//! small JSON object by [`usage_from_json`](crate::usage_from_json), so the mapping is the one of
//! the non-stream path. Memory: the kept values (at most [`MAX_KEPT_VALUE`] bytes each) and a
//! nesting stack of at most [`MAX_TRACKED_DEPTH`] levels.

use relaygate_protocol::Protocol;

use crate::usage::{Usage, usage_from_json};

/// A watched value longer than this is dropped (a real usage object is a few hundred bytes).
pub const MAX_KEPT_VALUE: usize = 16 * 1024;
/// Containers nested deeper than this are still skipped correctly, but not tracked.
pub const MAX_TRACKED_DEPTH: usize = 128;

/// Top-level keys whose values are kept.
const WATCHED: &[&[u8]] = &[b"usage", b"usageMetadata", b"service_tier"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Before a key (or the end of an object).
    Key,
    /// Before a value (or the end of an array).
    Value,
    /// After a key or a value.
    Other,
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct JsonUsageScan {
    protocol: Protocol,
    /// `true` for an object, `false` for an array, per open container.
    stack: Vec<bool>,
    /// Depth beyond the tracked stack.
    untracked: usize,
    expect: Expect,
    in_string: bool,
    escape: bool,
    /// Inside a number, `true`, `false` or `null`.
    in_scalar: bool,
    /// The string being read is a key (of any object).
    string_is_key: bool,
    /// The string being read is a key of a watched object.
    reading_key: bool,
    key: Vec<u8>,
    /// The index in `WATCHED` of the value being kept, and the depth it started at.
    keeping: Option<(usize, usize)>,
    value: Vec<u8>,
    overflow: bool,
    /// Kept values of the watched object now open.
    kept: [Option<Vec<u8>>; 3],
    /// The kept values of the last watched object that closed with usage (the last Gemini
    /// chunk with usage; the root object otherwise).
    best: [Option<Vec<u8>>; 3],
    text_bytes: u64,
    broken: bool,
}

impl JsonUsageScan {
    /// A scanner for a non-stream answer of `protocol`.
    pub fn new(protocol: Protocol) -> Self {
        JsonUsageScan {
            protocol,
            stack: Vec::new(),
            untracked: 0,
            expect: Expect::Value,
            in_string: false,
            escape: false,
            in_scalar: false,
            string_is_key: false,
            reading_key: false,
            key: Vec::new(),
            keeping: None,
            value: Vec::new(),
            overflow: false,
            kept: [None, None, None],
            best: [None, None, None],
            text_bytes: 0,
            broken: false,
        }
    }

    fn depth(&self) -> usize {
        self.stack.len() + self.untracked
    }

    /// Whether the innermost open container is an object whose keys are watched: the root
    /// object, or an object element of a root array.
    fn watched_object(&self) -> bool {
        self.untracked == 0 && matches!(self.stack.as_slice(), [true] | [false, true])
    }

    /// Bytes of string values seen (answer text, ids and the like; keys left out): the basis
    /// of a local output estimate when an answer reports no usage.
    pub fn text_bytes(&self) -> u64 {
        self.text_bytes
    }

    /// Feeds the next piece of the body.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.broken {
            if self.in_string {
                let n = self.string_run(data);
                data = &data[n..];
            } else {
                let b = data[0];
                data = &data[1..];
                self.byte(b);
            }
        }
    }

    /// Consumes string bytes up to and including the closing quote; returns how many.
    fn string_run(&mut self, data: &[u8]) -> usize {
        let mut i = 0;
        while i < data.len() {
            if self.escape {
                self.escape = false;
                i += 1;
                continue;
            }
            match memchr::memchr2(b'"', b'\\', &data[i..]) {
                None => i = data.len(),
                Some(j) if data[i + j] == b'\\' => {
                    self.escape = true;
                    i += j + 1;
                }
                Some(j) => {
                    let end = i + j;
                    self.string_bytes(&data[..end]);
                    self.record(b"\"");
                    self.in_string = false;
                    self.string_ended();
                    return end + 1;
                }
            }
        }
        self.string_bytes(data);
        data.len()
    }

    fn string_bytes(&mut self, bytes: &[u8]) {
        if self.reading_key {
            if self.key.len() + bytes.len() <= 64 {
                self.key.extend_from_slice(bytes);
            } else {
                // No watched key is this long.
                self.key.clear();
                self.key.push(0);
            }
        } else if !self.string_is_key {
            self.text_bytes = self.text_bytes.saturating_add(bytes.len() as u64);
        }
        self.record(bytes);
    }

    fn string_ended(&mut self) {
        if self.string_is_key {
            self.reading_key = false;
            self.string_is_key = false;
            self.expect = Expect::Other;
        } else {
            self.value_ended();
        }
    }

    fn record(&mut self, bytes: &[u8]) {
        if self.keeping.is_none() || self.overflow {
            return;
        }
        if self.value.len() + bytes.len() > MAX_KEPT_VALUE {
            self.overflow = true;
        } else {
            self.value.extend_from_slice(bytes);
        }
    }

    fn byte(&mut self, b: u8) {
        let delimiter = matches!(b, b',' | b'}' | b']' | b':' | b' ' | b'\t' | b'\n' | b'\r');
        if self.in_scalar {
            if !delimiter {
                self.record(&[b]);
                return;
            }
            self.in_scalar = false;
            self.value_ended();
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => self.record(&[b]),
            b'"' => {
                self.string_is_key = self.expect == Expect::Key;
                self.reading_key = self.string_is_key && self.watched_object();
                if self.reading_key {
                    self.key.clear();
                }
                if self.expect == Expect::Value {
                    self.begin_value();
                }
                self.record(&[b]);
                self.in_string = true;
            }
            b'{' | b'[' => {
                if self.expect == Expect::Value {
                    self.begin_value();
                }
                self.record(&[b]);
                if self.untracked == 0 && self.stack.len() < MAX_TRACKED_DEPTH {
                    self.stack.push(b == b'{');
                } else {
                    self.untracked += 1;
                }
                if b == b'{' && self.watched_object() {
                    self.kept = [None, None, None];
                }
                self.expect = if b == b'{' {
                    Expect::Key
                } else {
                    Expect::Value
                };
            }
            b'}' | b']' => {
                self.record(&[b]);
                let closing_watched = b == b'}' && self.watched_object();
                if self.untracked > 0 {
                    self.untracked -= 1;
                } else if self.stack.pop().is_none() {
                    self.broken = true;
                    return;
                }
                if closing_watched {
                    self.watched_object_ended();
                }
                self.value_ended();
            }
            b':' => {
                self.record(&[b]);
                self.expect = Expect::Value;
            }
            b',' => {
                self.record(&[b]);
                self.expect = match self.stack.last() {
                    Some(true) if self.untracked == 0 => Expect::Key,
                    _ => Expect::Value,
                };
            }
            _ => {
                if self.expect == Expect::Value {
                    self.begin_value();
                }
                self.record(&[b]);
                self.in_scalar = true;
            }
        }
    }

    /// A value starts: keep it when it is the value of a watched key.
    fn begin_value(&mut self) {
        self.expect = Expect::Other;
        if self.keeping.is_none()
            && self.watched_object()
            && let Some(i) = WATCHED.iter().position(|k| *k == self.key.as_slice())
        {
            self.keeping = Some((i, self.depth()));
            self.value.clear();
            self.overflow = false;
        }
    }

    /// A value ended (a string or scalar, or a container closed): the kept one is complete
    /// when it ended at the depth it started at.
    fn value_ended(&mut self) {
        self.expect = Expect::Other;
        if let Some((i, depth)) = self.keeping
            && self.depth() == depth
        {
            self.keeping = None;
            if !self.overflow {
                self.kept[i] = Some(std::mem::take(&mut self.value));
            }
            self.value.clear();
        }
    }

    fn watched_object_ended(&mut self) {
        if self.kept[0].is_some() || self.kept[1].is_some() {
            self.best = std::mem::take(&mut self.kept);
        } else if let Some(t) = self.kept[2].take() {
            self.best[2].get_or_insert(t);
        }
    }

    /// The usage found, read with the mapping of [`usage_from_json`](crate::usage_from_json);
    /// `None` when the body had none (or was not JSON). A body cut short gives what its open
    /// object held so far.
    pub fn finish(&self) -> Option<Usage> {
        let facts = if self.best[0].is_some() || self.best[1].is_some() {
            &self.best
        } else {
            &self.kept
        };
        let mut obj = Vec::with_capacity(256);
        obj.push(b'{');
        for (i, key) in WATCHED.iter().enumerate() {
            let Some(v) = facts[i].as_ref().or(self.best[i].as_ref()) else {
                continue;
            };
            if obj.len() > 1 {
                obj.push(b',');
            }
            obj.push(b'"');
            obj.extend_from_slice(key);
            obj.extend_from_slice(b"\":");
            obj.extend_from_slice(v);
        }
        obj.push(b'}');
        usage_from_json(self.protocol, &obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_in_pieces(protocol: Protocol, body: &[u8], piece: usize) -> Option<Usage> {
        let mut s = JsonUsageScan::new(protocol);
        for c in body.chunks(piece.max(1)) {
            s.feed(c);
        }
        s.finish()
    }

    #[test]
    fn finds_usage_wherever_it_is_and_however_the_body_is_cut() {
        let bodies: &[(Protocol, &str)] = &[
            (
                Protocol::OpenAiChat,
                r#"{"id":"x","choices":[{"message":{"content":"a \"usage\": {\"prompt_tokens\": 99} b","usage":{"prompt_tokens":7}}}],"service_tier":"priority","usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":4}}}"#,
            ),
            (
                Protocol::OpenAiChat,
                "{ \"usage\" : { \"prompt_tokens\" : 10 , \"completion_tokens\" : 5, \"prompt_tokens_details\": {\"cached_tokens\": 4} } ,\n \"service_tier\" : \"priority\" , \"choices\": [] }",
            ),
            (
                Protocol::Anthropic,
                r#"{"content":[{"type":"text","text":"}}]]\\"}],"usage":{"input_tokens":6,"output_tokens":5,"cache_read_input_tokens":4,"service_tier":"priority"}}"#,
            ),
        ];
        for (protocol, body) in bodies {
            let whole = usage_from_json(*protocol, body.as_bytes()).unwrap();
            for piece in [1, 2, 3, 7, 64, body.len()] {
                assert_eq!(
                    scan_in_pieces(*protocol, body.as_bytes(), piece),
                    Some(whole),
                    "{body} in pieces of {piece}"
                );
            }
        }
        let u = scan_in_pieces(Protocol::OpenAiChat, bodies[0].1.as_bytes(), 5).unwrap();
        assert_eq!((u.input, u.cache_read, u.output), (6, 4, 5));
        assert_eq!(u.service_tier, Some(crate::ServiceTier::Priority));
    }

    #[test]
    fn gemini_arrays_take_the_last_chunk_with_usage() {
        let body = r#"[{"candidates":[{"content":{"parts":[{"text":"hi"}]}}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1}},
            {"candidates":[{"content":{"parts":[{"text":" there"}]}}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"totalTokenCount":5}},
            {"candidates":[]}]"#;
        let whole = usage_from_json(Protocol::Gemini, body.as_bytes()).unwrap();
        assert_eq!(whole.output, 2);
        for piece in [1, 5, 1000] {
            assert_eq!(
                scan_in_pieces(Protocol::Gemini, body.as_bytes(), piece),
                Some(whole)
            );
        }
    }

    #[test]
    fn bounded_and_never_confused() {
        // No usage at all, deep nesting, a huge watched value, not JSON.
        assert_eq!(
            scan_in_pieces(Protocol::OpenAiChat, br#"{"choices":[]}"#, 3),
            None
        );
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            scan_in_pieces(Protocol::OpenAiChat, deep.as_bytes(), 100),
            None
        );
        let huge = format!(
            r#"{{"usage":{{"prompt_tokens":1,"pad":"{}"}}}}"#,
            "x".repeat(MAX_KEPT_VALUE)
        );
        assert_eq!(
            scan_in_pieces(Protocol::OpenAiChat, huge.as_bytes(), 999),
            None
        );
        assert_eq!(
            scan_in_pieces(Protocol::OpenAiChat, b"}}}]]not json", 2),
            None
        );
        let mut s = JsonUsageScan::new(Protocol::OpenAiChat);
        s.feed(br#"{"choices":[{"message":{"content":"hello"}}]}"#);
        assert_eq!(s.text_bytes(), 5);
    }
}
