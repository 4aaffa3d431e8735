//! A sans-IO Server-Sent Events codec.
//!
//! [`SseDecoder`] follows the WHATWG event-stream parsing rules: lines end with CRLF, LF or a
//! lone CR; lines starting with `:` are comments; `data` lines of one event are joined with
//! `\n`; one leading space after the colon is dropped; a blank line dispatches the event.
//! Feeding the same bytes in any chunking gives the same events, because a line is only
//! interpreted once its terminator has been seen (a trailing CR waits for a possible LF).
//!
//! The decoder also reports *boundaries*: the offset just after each blank line in the chunk it
//! was fed. The proxy uses them to forward upstream bytes unchanged but aligned to whole events,
//! so that an error event it injects after an upstream failure never lands inside a half event.
//!
//! Memory is bounded: a line or an event larger than the limit is an error, not a growing buffer.

use crate::Error;

/// The default bound on one event (all its lines together): 16 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// One dispatched Server-Sent Event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if the event had one.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` field, if the event had one.
    pub id: Option<String>,
    /// The `retry:` field, if the event had a valid one.
    pub retry: Option<u64>,
}

impl SseEvent {
    /// An event with only a `data` field.
    pub fn data(data: impl Into<String>) -> Self {
        SseEvent {
            data: data.into(),
            ..SseEvent::default()
        }
    }

    /// An event with an `event` name and a `data` field.
    pub fn named(event: impl Into<String>, data: impl Into<String>) -> Self {
        SseEvent {
            event: Some(event.into()),
            data: data.into(),
            ..SseEvent::default()
        }
    }

    /// The event name as the browser API would report it (`message` when absent).
    pub fn name(&self) -> &str {
        self.event.as_deref().unwrap_or("message")
    }

    /// Appends this event in wire form to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        if let Some(event) = &self.event {
            push_field(out, b"event", event);
        }
        if let Some(id) = &self.id {
            push_field(out, b"id", id);
        }
        if let Some(retry) = self.retry {
            push_field(out, b"retry", &retry.to_string());
        }
        // A data field can't hold a line break: each line becomes its own `data:` line.
        for line in split_lines(&self.data) {
            push_field(out, b"data", line);
        }
        out.push(b'\n');
    }

    /// This event in wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 32);
        self.encode_into(&mut out);
        out
    }
}

fn push_field(out: &mut Vec<u8>, name: &[u8], value: &str) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    // Field values can't contain line breaks; replace them so the frame stays well formed.
    if value.contains(['\r', '\n']) {
        out.extend(
            value
                .bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.extend_from_slice(value.as_bytes());
    }
    out.push(b'\n');
}

fn split_lines(data: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let s = rest?;
        match s.find(['\r', '\n']) {
            Some(i) => {
                let skip = if s[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&s[i + skip..]);
                Some(&s[..i])
            }
            None => {
                rest = None;
                Some(s)
            }
        }
    })
}

/// What one call to [`SseDecoder::feed`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fed {
    /// How many events were dispatched into the output vector.
    pub events: usize,
    /// The offset in the fed chunk just after the last blank line (event boundary), if any.
    pub last_boundary: Option<usize>,
}

/// An incremental SSE parser: feed it chunks as they arrive, collect events.
#[derive(Debug)]
pub struct SseDecoder {
    line: Vec<u8>,
    pending_cr: bool,
    last_line_was_blank: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    id: Option<String>,
    retry: Option<u64>,
    event_bytes: usize,
    max_event_bytes: usize,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SseDecoder {
    /// A decoder bounded by [`DEFAULT_MAX_EVENT_BYTES`].
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A decoder that fails once one event exceeds `max_event_bytes`.
    pub fn with_limit(max_event_bytes: usize) -> Self {
        SseDecoder {
            line: Vec::new(),
            pending_cr: false,
            last_line_was_blank: false,
            event: None,
            data: String::new(),
            has_data: false,
            id: None,
            retry: None,
            event_bytes: 0,
            max_event_bytes,
        }
    }

    /// Whether the decoder holds part of an event (bytes after the last boundary).
    pub fn is_mid_event(&self) -> bool {
        !self.line.is_empty() || self.event_bytes > 0
    }

    /// Parses `chunk`, appending every completed event to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<Fed, Error> {
        let mut fed = Fed::default();
        let mut pos = 0;
        if chunk.is_empty() {
            return Ok(fed);
        }
        if self.pending_cr {
            self.pending_cr = false;
            if chunk.first() == Some(&b'\n') {
                pos = 1;
                // The CRLF that ended the previous line may have been the blank line itself.
                if self.last_line_was_blank {
                    fed.last_boundary = Some(1);
                }
            }
        }
        self.last_line_was_blank = false;
        while pos < chunk.len() {
            let rest = &chunk[pos..];
            match memchr::memchr2(b'\n', b'\r', rest) {
                None => {
                    self.grow(rest.len())?;
                    self.line.extend_from_slice(rest);
                    break;
                }
                Some(i) => {
                    self.grow(i)?;
                    self.line.extend_from_slice(&rest[..i]);
                    let mut end = pos + i + 1;
                    if rest[i] == b'\r' {
                        match rest.get(i + 1) {
                            Some(b'\n') => end += 1,
                            Some(_) => {}
                            None => self.pending_cr = true,
                        }
                    }
                    let blank = self.line.is_empty();
                    if self.take_line(out) {
                        fed.events += 1;
                    }
                    if blank {
                        fed.last_boundary = Some(end);
                        self.last_line_was_blank = self.pending_cr;
                    }
                    pos = end;
                }
            }
        }
        Ok(fed)
    }

    /// Ends the stream: a final unterminated line is interpreted and a pending event is
    /// dispatched. (The WHATWG rules discard such an event; upstreams that forget the final
    /// blank line are common enough that relaygate keeps it.)
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> usize {
        let mut n = 0;
        if !self.line.is_empty() && self.take_line(out) {
            n += 1;
        }
        if self.has_data && self.dispatch(out) {
            n += 1;
        }
        self.pending_cr = false;
        n
    }

    fn grow(&mut self, n: usize) -> Result<(), Error> {
        self.event_bytes += n;
        if self.event_bytes > self.max_event_bytes {
            return Err(Error::SseEventTooLarge {
                limit: self.max_event_bytes,
            });
        }
        Ok(())
    }

    /// Interprets the buffered line; returns whether an event was dispatched.
    fn take_line(&mut self, out: &mut Vec<SseEvent>) -> bool {
        if self.line.is_empty() {
            return self.dispatch(out);
        }
        let line = std::mem::take(&mut self.line);
        self.event_bytes += 1;
        if line[0] != b':' {
            let (name, value) = match memchr::memchr(b':', &line) {
                Some(i) => {
                    let v = &line[i + 1..];
                    (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
                }
                None => (&line[..], &b""[..]),
            };
            let value = String::from_utf8_lossy(value);
            match name {
                b"data" => {
                    if self.has_data {
                        self.data.push('\n');
                    }
                    self.data.push_str(&value);
                    self.has_data = true;
                }
                b"event" => self.event = Some(value.into_owned()),
                b"id" if !value.contains('\0') => self.id = Some(value.into_owned()),
                b"retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                    self.retry = value.parse().ok();
                }
                _ => {}
            }
        }
        // Reuse the line's allocation for the next one.
        self.line = line;
        self.line.clear();
        false
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) -> bool {
        self.event_bytes = 0;
        let event = self.event.take();
        let id = self.id.take();
        let retry = self.retry.take();
        if !self.has_data {
            self.data.clear();
            return false;
        }
        self.has_data = false;
        out.push(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
            id,
            retry,
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c, &mut out).unwrap();
        }
        d.finish(&mut out);
        out
    }

    #[test]
    fn lf_crlf_and_cr_give_the_same_events() {
        let lf = decode(&[b"event: a\ndata: 1\ndata: 2\n\ndata: x\n\n"]);
        let crlf = decode(&[b"event: a\r\ndata: 1\r\ndata: 2\r\n\r\ndata: x\r\n\r\n"]);
        let cr = decode(&[b"event: a\rdata: 1\rdata: 2\r\rdata: x\r\r"]);
        assert_eq!(lf.len(), 2);
        assert_eq!(lf[0], SseEvent::named("a", "1\n2"));
        assert_eq!(lf, crlf);
        assert_eq!(lf, cr);
    }

    #[test]
    fn comments_fields_and_spaces() {
        let ev = decode(&[b": keep-alive\nid: 7\nretry: 10\ndata:no-space\ndata:  two\nweird\n\n"]);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].data, "no-space\n two");
        assert_eq!(ev[0].id.as_deref(), Some("7"));
        assert_eq!(ev[0].retry, Some(10));
        assert_eq!(ev[0].event, None);
    }

    #[test]
    fn event_without_data_is_not_dispatched() {
        assert!(decode(&[b"event: ping\n\n"]).is_empty());
    }

    #[test]
    fn crlf_split_across_chunks_is_one_terminator() {
        let ev = decode(&[b"data: a\r", b"\n\r", b"\ndata: b\n\n"]);
        assert_eq!(ev, vec![SseEvent::data("a"), SseEvent::data("b")]);
    }

    #[test]
    fn boundaries_point_after_blank_lines() {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        let chunk = b"data: a\n\ndata: b";
        let fed = d.feed(chunk, &mut out).unwrap();
        assert_eq!(fed.events, 1);
        assert_eq!(fed.last_boundary, Some(9));
        assert!(d.is_mid_event());
        let fed = d.feed(b"\n\n", &mut out).unwrap();
        assert_eq!(fed.last_boundary, Some(2));
        assert!(!d.is_mid_event());
        // A CRLF blank line whose LF arrives in the next chunk ends at offset 1 of that chunk.
        let fed = d.feed(b"data: c\r\n\r", &mut out).unwrap();
        assert_eq!(fed.events, 1);
        assert_eq!(fed.last_boundary, Some(10));
        let fed = d.feed(b"\ndata: d", &mut out).unwrap();
        assert_eq!(fed.last_boundary, Some(1));
    }

    #[test]
    fn unterminated_final_event_is_kept_at_finish() {
        assert_eq!(decode(&[b"data: [DONE]"]), vec![SseEvent::data("[DONE]")]);
    }

    #[test]
    fn oversized_event_is_an_error() {
        let mut d = SseDecoder::with_limit(16);
        let mut out = Vec::new();
        let err = d.feed(b"data: 0123456789abcdef\n\n", &mut out).unwrap_err();
        assert_eq!(err, Error::SseEventTooLarge { limit: 16 });
        let mut d = SseDecoder::with_limit(16);
        d.feed(b"data: 01234\n", &mut out).unwrap();
        assert!(d.feed(b"data: 56789\n", &mut out).is_err());
    }

    #[test]
    fn encoder_splits_multiline_data() {
        let ev = SseEvent::named("message_start", "a\nb\r\nc");
        assert_eq!(
            ev.encode(),
            b"event: message_start\ndata: a\ndata: b\ndata: c\n\n"
        );
        assert_eq!(decode(&[&ev.encode()])[0].data, "a\nb\nc");
    }
}
