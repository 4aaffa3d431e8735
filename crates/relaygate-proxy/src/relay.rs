//! The response body: either a small body the gateway wrote itself, or the upstream body
//! relayed frame by frame.
//!
//! Relaying copies nothing it doesn't have to. For SSE it feeds each frame to the sans-IO
//! decoder only to learn where events end: a frame that ends on an event boundary (the usual
//! case) is forwarded as the same `Bytes`; a partial event at the end of a frame is held until
//! its end arrives. So the client only ever holds whole events, and when the upstream breaks
//! or goes silent the relay can end the stream with a well-formed error event in the client's
//! protocol. A non-SSE body is forwarded untouched, and a break aborts the connection so the
//! client sees a truncated body rather than a complete-looking one.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use relaygate_detect::{ProbeState, StreamProbe, Verdict};
use relaygate_protocol::Protocol;
use relaygate_protocol::errors::{ErrorKind, stream_error_event};
use relaygate_protocol::sse::{SseDecoder, SseEvent};
use relaygate_protocol::stream::is_terminal;
use relaygate_tokens::{JsonUsageScan, StreamUsage, Usage};
use relaygate_transform::StreamConverter;
use tokio::time::{Instant, Sleep};

use crate::pipeline::RequestGuard;

/// Follows an SSE body: where its events end, whether it ended normally, and (through the
/// soft-error probe) whether an event says the upstream failed.
#[derive(Debug)]
pub(crate) struct SseAlign {
    decoder: SseDecoder,
    events: Vec<SseEvent>,
    held: BytesMut,
    seen: u64,
    terminal: bool,
    probe: StreamProbe,
    protocol: Protocol,
    usage: StreamUsage,
    convert: Option<Convert>,
    /// Take the usage-only chunk of a Chat stream out of what the client receives (the gateway
    /// asked for it; the client did not).
    pub strip_usage_chunk: bool,
}

/// Whether `ev` is the usage-only chunk of a Chat stream (`"choices": []` with a usage
/// object). Only events whose `usage` is an object are parsed, so the many chunks with
/// `"usage": null` cost one substring search.
fn is_usage_only_chunk(ev: &SseEvent) -> bool {
    let data = ev.data.as_bytes();
    let Some(at) = memchr::memmem::find(data, b"\"usage\"") else {
        return false;
    };
    let rest = &data[at + 7..];
    let value = rest
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b':'))
        .map(|i| rest[i]);
    if value != Some(b'{') {
        return false;
    }
    match serde_json::from_str::<serde_json::Value>(&ev.data) {
        Ok(v) => {
            v.get("usage").is_some_and(serde_json::Value::is_object)
                && v.get("choices")
                    .and_then(serde_json::Value::as_array)
                    .is_some_and(Vec::is_empty)
        }
        Err(_) => false,
    }
}

/// Translation of an upstream stream into the client's protocol.
pub(crate) struct Convert {
    converter: Box<dyn StreamConverter>,
    client: Protocol,
    /// A Gemini client that asked without `alt=sse` gets one JSON array instead of SSE.
    json_array: bool,
    pending: Vec<SseEvent>,
    emitted: u64,
}

impl std::fmt::Debug for Convert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Convert")
            .field("client", &self.client)
            .field("emitted", &self.emitted)
            .finish()
    }
}

impl Convert {
    pub fn new(converter: Box<dyn StreamConverter>, client: Protocol, json_array: bool) -> Self {
        Convert {
            converter,
            client,
            json_array,
            pending: Vec::new(),
            emitted: 0,
        }
    }

    /// Encodes the converted events waiting in `pending` (less the usage-only chunk when the
    /// client did not ask for it).
    fn drain_into(&mut self, out: &mut BytesMut, strip_usage_chunk: bool) {
        for ev in self.pending.drain(..) {
            if strip_usage_chunk && is_usage_only_chunk(&ev) {
                continue;
            }
            if self.json_array {
                out.extend_from_slice(if self.emitted == 0 { b"[" } else { b",\r\n" });
                out.extend_from_slice(ev.data.as_bytes());
            } else {
                let mut buf = Vec::with_capacity(ev.data.len() + 32);
                ev.encode_into(&mut buf);
                out.extend_from_slice(&buf);
            }
            self.emitted += 1;
        }
    }

    fn close(&mut self, out: &mut BytesMut) {
        if self.json_array {
            if self.emitted == 0 {
                out.extend_from_slice(b"[");
            }
            out.extend_from_slice(b"]");
        }
    }
}

/// What feeding one frame found.
pub(crate) struct Aligned {
    /// Bytes that complete whole events, ready to forward.
    pub out: Bytes,
    /// The first real content arrived in this frame.
    pub content: bool,
    /// An event said the upstream failed.
    pub failed: Option<Verdict>,
}

impl SseAlign {
    pub fn new(protocol: Protocol, probe: StreamProbe, convert: Option<Convert>) -> Self {
        SseAlign {
            decoder: SseDecoder::new(),
            events: Vec::new(),
            held: BytesMut::new(),
            seen: 0,
            terminal: false,
            probe,
            protocol,
            usage: StreamUsage::new(protocol),
            convert,
            strip_usage_chunk: false,
        }
    }

    /// Usage seen so far, and answer bytes seen (for estimating a cut stream).
    pub fn usage(&self) -> (Option<Usage>, u64) {
        (self.usage.usage(), self.usage.output_text_bytes())
    }

    /// Whether the client receives SSE (rather than a JSON array).
    fn client_sse(&self) -> bool {
        self.convert.as_ref().is_none_or(|c| !c.json_array)
    }

    /// Events already sent to the client (for the next Responses sequence number).
    fn client_events(&self) -> u64 {
        self.convert.as_ref().map_or(self.seen, |c| c.emitted)
    }

    /// Bytes held after the last whole event.
    pub fn pending(&self) -> usize {
        self.held.len()
    }

    pub fn probe(&self) -> &StreamProbe {
        &self.probe
    }

    /// Feeds one frame.
    pub fn feed(&mut self, data: Bytes, now_ms: u64) -> Result<Aligned, String> {
        let fed = self
            .decoder
            .feed(&data, &mut self.events)
            .map_err(|e| e.to_string())?;
        let was_content = self.probe.saw_content();
        let mut failed = None;
        let events = std::mem::take(&mut self.events);
        let strip_converted = self.strip_usage_chunk;
        let strip = self.strip_usage_chunk
            && self.convert.is_none()
            && events.iter().any(is_usage_only_chunk);
        for ev in &events {
            self.seen += 1;
            if is_terminal(self.protocol, ev) {
                self.terminal = true;
            }
            self.usage.push(ev);
            if let ProbeState::Failed(v) = self.probe.event(ev, now_ms)
                && failed.is_none()
            {
                failed = Some(v);
            }
            if let Some(c) = self.convert.as_mut() {
                c.converter
                    .push(ev, &mut c.pending)
                    .map_err(|e| e.to_string())?;
            }
        }
        let content = !was_content && self.probe.saw_content();
        if let Some(c) = self.convert.as_mut() {
            let mut out = BytesMut::new();
            c.drain_into(&mut out, strip_converted);
            return Ok(Aligned {
                out: out.freeze(),
                content,
                failed,
            });
        }
        let out = match fed.last_boundary {
            None => {
                self.held.extend_from_slice(&data);
                Bytes::new()
            }
            Some(b) if self.held.is_empty() => {
                if b < data.len() {
                    self.held.extend_from_slice(&data[b..]);
                }
                data.slice(..b)
            }
            Some(b) => {
                self.held.extend_from_slice(&data[..b]);
                let out = self.held.split().freeze();
                self.held.extend_from_slice(&data[b..]);
                out
            }
        };
        // Once per stream at most: the events of this frame, written again without the
        // usage chunk.
        let out = if strip {
            let mut buf = Vec::with_capacity(out.len());
            for ev in events.iter().filter(|e| !is_usage_only_chunk(e)) {
                ev.encode_into(&mut buf);
            }
            Bytes::from(buf)
        } else {
            out
        };
        self.events = events;
        self.events.clear();
        Ok(Aligned {
            out,
            content,
            failed,
        })
    }

    /// At the end of the body: the rest of a final event without its blank line.
    pub fn finish(&mut self, now_ms: u64) -> (Bytes, Option<Verdict>) {
        let mut failed = None;
        self.decoder.finish(&mut self.events);
        for ev in self.events.drain(..) {
            self.seen += 1;
            self.usage.push(&ev);
            if let ProbeState::Failed(v) = self.probe.event(&ev, now_ms) {
                failed.get_or_insert(v);
            }
            if let Some(c) = self.convert.as_mut()
                && let Err(e) = c.converter.push(&ev, &mut c.pending)
            {
                tracing::warn!(error = %e, "stream translation failed on the last event");
            }
        }
        let strip = self.strip_usage_chunk;
        if let Some(c) = self.convert.as_mut() {
            // The converter completes the client's event sequence if the upstream did not.
            if let Err(e) = c.converter.finish(&mut c.pending) {
                tracing::warn!(error = %e, "stream translation could not finish");
            }
            let mut out = BytesMut::new();
            c.drain_into(&mut out, strip);
            c.close(&mut out);
            return (out.freeze(), failed);
        }
        (self.held.split().freeze(), failed)
    }
}

/// The upstream side of a relayed response.
pub struct RelayStream {
    first: Option<Bytes>,
    upstream: Option<Incoming>,
    sse: Option<SseAlign>,
    /// The usage scan of a large JSON body.
    scan: Option<JsonUsageScan>,
    protocol: Protocol,
    status: u16,
    idle: Duration,
    sleep: Pin<Box<Sleep>>,
    log: Option<RequestGuard>,
    /// The answering channel, whose keys are scrubbed from an upstream error event.
    channel: std::sync::Arc<crate::table::ChannelEntry>,
    done: bool,
    first_sent: bool,
}

impl std::fmt::Debug for RelayStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayStream")
            .field("protocol", &self.protocol)
            .field("status", &self.status)
            .field("done", &self.done)
            .finish()
    }
}

impl RelayStream {
    /// `first` holds whole events (or, without SSE, the body so far); `upstream` is `None`
    /// when the whole body was already read.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        first: Bytes,
        upstream: Option<Incoming>,
        sse: Option<SseAlign>,
        scan: Option<JsonUsageScan>,
        protocol: Protocol,
        status: u16,
        idle: Duration,
        log: RequestGuard,
        channel: std::sync::Arc<crate::table::ChannelEntry>,
    ) -> Self {
        RelayStream {
            first: Some(first),
            upstream,
            sse,
            scan,
            protocol,
            status,
            idle,
            sleep: Box::pin(tokio::time::sleep(idle)),
            log: Some(log),
            channel,
            done: false,
            first_sent: false,
        }
    }

    fn now_ms(&self) -> u64 {
        self.log.as_ref().map_or(0, |l| l.gw.clock.now_ms())
    }

    /// Returns the bytes of `data` that complete whole events; keeps the rest.
    fn align(&mut self, data: Bytes) -> Result<Bytes, String> {
        let now = self.now_ms();
        let Some(sse) = self.sse.as_mut() else {
            if let Some(scan) = self.scan.as_mut() {
                scan.feed(&data);
            }
            return Ok(data);
        };
        let a = sse.feed(data, now)?;
        let Some(v) = a.failed else {
            return Ok(a.out);
        };
        Ok(self.upstream_error_event(&v.reason, a.out))
    }

    /// An upstream error event after content: it reaches the client and the row scrubbed of
    /// secrets, and the request counts as failed. Rare, so the scan costs nothing on the usual
    /// path.
    fn upstream_error_event(&mut self, reason: &str, out: Bytes) -> Bytes {
        let keys: Vec<&str> = self
            .channel
            .keys
            .iter()
            .map(|k| k.secret.as_str())
            .collect();
        if let Some(log) = self.log.as_mut() {
            let reason = crate::boundary::scrub_str(reason, &keys);
            log.row
                .error
                .get_or_insert(format!("upstream error event after content: {reason}"));
        }
        match crate::boundary::scrub(&out, &keys) {
            std::borrow::Cow::Borrowed(_) => out,
            std::borrow::Cow::Owned(b) => Bytes::from(b),
        }
    }

    /// Writes the log row as soon as the upstream body is known to be complete: the server
    /// may stop polling once it has sent a body of known length.
    fn finish_if_complete(&mut self) {
        let ended = self
            .upstream
            .as_ref()
            .is_none_or(hyper::body::Body::is_end_stream);
        if ended && self.sse.as_ref().is_none_or(|s| s.pending() == 0) {
            self.done = true;
            if let Some(mut log) = self.take_log(false) {
                log.finish(self.status, None);
            }
        }
    }

    /// Takes the log row out, with the usage seen and whether the answer was cut (the guard
    /// estimates what is missing).
    fn take_log(&mut self, cut: bool) -> Option<RequestGuard> {
        let mut log = self.log.take()?;
        log.cut = cut;
        if let Some(sse) = &self.sse {
            let (usage, text_bytes) = sse.usage();
            log.usage = usage.or(log.usage);
            log.answer_text_bytes = text_bytes;
            log.reported_tier = sse.usage.service_tier();
        }
        if let Some(scan) = &self.scan {
            log.usage = scan.finish().or(log.usage);
            log.answer_text_bytes = scan.text_bytes();
        }
        Some(log)
    }

    fn mark_first(&mut self) {
        if !self.first_sent {
            self.first_sent = true;
            if let Some(log) = self.log.as_mut() {
                let ms = log.elapsed_ms();
                log.row.first_byte_ms = Some(ms);
                if let Some(a) = &log.active {
                    a.first_byte_ms
                        .store(ms.max(1), std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    }

    /// Counts bytes sent for the live view.
    fn count(&self, n: usize) {
        if let Some(a) = self.log.as_ref().and_then(|l| l.active.as_ref()) {
            a.bytes
                .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Ends the stream after an upstream failure.
    fn fail(
        &mut self,
        kind: ErrorKind,
        message: String,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.done = true;
        if let Some(mut log) = self.take_log(true) {
            log.finish(self.status, Some(message.clone()));
        }
        match self.sse.as_mut() {
            Some(sse) if !sse.terminal && sse.client_sse() => {
                // Drop any half event: the client only ever sees whole events.
                sse.held.clear();
                let bytes = stream_error_event(self.protocol, kind, &message, sse.client_events());
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(bytes)))))
            }
            Some(sse) if sse.client_sse() => Poll::Ready(None),
            _ => Poll::Ready(Some(Err(std::io::Error::other(message)))),
        }
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        // What the failover loop held back was already fed through the decoder and probe.
        if let Some(first) = self.first.take()
            && !first.is_empty()
        {
            self.mark_first();
            self.finish_if_complete();
            self.count(first.len());
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        loop {
            let Some(upstream) = self.upstream.as_mut() else {
                self.done = true;
                if let Some(mut log) = self.take_log(false) {
                    log.finish(self.status, None);
                }
                return Poll::Ready(None);
            };
            match Pin::new(upstream).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let deadline = Instant::now() + self.idle;
                    self.sleep.as_mut().reset(deadline);
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    match self.align(data) {
                        Ok(out) if !out.is_empty() => {
                            self.mark_first();
                            self.finish_if_complete();
                            self.count(out.len());
                            return Poll::Ready(Some(Ok(Frame::data(out))));
                        }
                        Ok(_) => continue,
                        Err(e) => return self.fail(ErrorKind::BadGateway, e),
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    return self.fail(ErrorKind::BadGateway, format!("upstream stream broke: {e}"));
                }
                Poll::Ready(None) => {
                    self.done = true;
                    let now = self.now_ms();
                    let (mut tail, failed) =
                        self.sse.as_mut().map(|s| s.finish(now)).unwrap_or_default();
                    if let Some(v) = failed {
                        tail = self.upstream_error_event(&v.reason, tail);
                    }
                    if let Some(mut log) = self.take_log(false) {
                        log.finish(self.status, None);
                    }
                    if tail.is_empty() {
                        return Poll::Ready(None);
                    }
                    self.mark_first();
                    self.count(tail.len());
                    return Poll::Ready(Some(Ok(Frame::data(tail))));
                }
                Poll::Pending => {
                    if self.sleep.as_mut().poll(cx).is_ready() {
                        let secs = self.idle.as_secs();
                        return self.fail(
                            ErrorKind::Timeout,
                            format!("upstream sent nothing for {secs}s"),
                        );
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for RelayStream {
    fn drop(&mut self) {
        if let Some(mut log) = self.take_log(true) {
            // The client went away before the upstream finished.
            let when = if self.first_sent {
                "during the response"
            } else {
                "before the first byte"
            };
            log.finish(
                crate::pipeline::CLIENT_CLOSED,
                Some(format!("client_closed: the client went away {when}")),
            );
        }
    }
}

/// The body type of responses from a [`crate::SideHandler`].
pub type SideBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// What the gateway sends back to a client.
pub enum ResponseBody {
    /// A body written by the gateway (errors, model lists).
    Full(Option<Bytes>),
    /// An upstream body relayed as it arrives.
    Relay(Box<RelayStream>),
    /// A body from the side handler (admin API, dashboard, metrics).
    Side(SideBody),
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResponseBody::Full(b) => f
                .debug_tuple("Full")
                .field(&b.as_ref().map(Bytes::len))
                .finish(),
            ResponseBody::Relay(_) => f.write_str("Relay"),
            ResponseBody::Side(_) => f.write_str("Side"),
        }
    }
}

impl ResponseBody {
    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        ResponseBody::Full(Some(bytes.into()))
    }

    /// No body.
    pub fn empty() -> Self {
        ResponseBody::Full(None)
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            ResponseBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Relay(r) => r.poll_next(cx),
            ResponseBody::Side(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(b) => b.is_none(),
            ResponseBody::Relay(r) => r.done,
            ResponseBody::Side(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            ResponseBody::Full(None) => SizeHint::with_exact(0),
            ResponseBody::Relay(_) => SizeHint::default(),
            ResponseBody::Side(b) => b.size_hint(),
        }
    }
}
