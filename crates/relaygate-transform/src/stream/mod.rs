//! Stream conversion: upstream events -> [`Delta`]s -> a sequential block order -> client events.

pub(crate) mod decode;
pub(crate) mod encode;

use relaygate_protocol::sse::SseEvent;

use crate::ir::{Delta, Finish, OutPart, Response, Sig, ToolCall};
use crate::util::clean_seed;
use crate::{Error, Loss, Protocol, ResponseOptions, StreamConverter};

/// Decodes one protocol's upstream events.
pub(crate) trait Decoder: Send {
    fn decode(&mut self, event: &SseEvent, out: &mut Vec<Delta>) -> Result<(), Error>;
}

/// Encodes sequential deltas into one protocol's client events.
pub(crate) trait Encoder: Send {
    fn delta(&mut self, d: Delta, out: &mut Vec<SseEvent>);
    /// Emits the terminator if none went out yet.
    fn finish(&mut self, out: &mut Vec<SseEvent>);
    fn losses(&self) -> Vec<Loss>;
}

pub(crate) fn decoder(upstream: Protocol) -> Box<dyn Decoder> {
    match upstream {
        Protocol::Anthropic => Box::<decode::anthropic::AnthropicDecoder>::default(),
        Protocol::OpenAiChat => Box::<decode::chat::ChatDecoder>::default(),
        Protocol::OpenAiResponses => Box::<decode::responses::ResponsesDecoder>::default(),
        Protocol::Gemini => Box::<decode::gemini::GeminiDecoder>::default(),
    }
}

fn encoder(client: Protocol, opts: &ResponseOptions) -> Box<dyn Encoder> {
    let ctx = Ctx {
        model: opts.client_model.clone(),
        seed: clean_seed(&opts.id_seed),
    };
    match client {
        Protocol::Anthropic => Box::new(encode::anthropic::AnthropicEncoder::new(ctx)),
        Protocol::OpenAiChat => Box::new(encode::chat::ChatEncoder::new(ctx)),
        Protocol::OpenAiResponses => Box::new(encode::responses::ResponsesEncoder::new(ctx)),
        Protocol::Gemini => Box::new(encode::gemini::GeminiEncoder::new(ctx)),
    }
}

/// What every encoder needs to know.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub model: String,
    pub seed: String,
}

/// Passes events through.
#[derive(Debug)]
pub(crate) struct Identity;

impl StreamConverter for Identity {
    fn push(&mut self, event: &SseEvent, out: &mut Vec<SseEvent>) -> Result<(), Error> {
        out.push(event.clone());
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<SseEvent>) -> Result<(), Error> {
        Ok(())
    }
}

pub(crate) fn converter(
    upstream: Protocol,
    client: Protocol,
    opts: &ResponseOptions,
    tool_names: &[(String, String)],
) -> Box<dyn StreamConverter> {
    Box::new(Converter {
        decoder: decoder(upstream),
        normalizer: Normalizer::new(clean_seed(&opts.id_seed)),
        encoder: encoder(client, opts),
        tool_names: tool_names.to_vec(),
        ended: false,
        deltas: Vec::new(),
        ordered: Vec::new(),
    })
}

struct Converter {
    decoder: Box<dyn Decoder>,
    normalizer: Normalizer,
    encoder: Box<dyn Encoder>,
    /// `(upstream name, client name)` pairs of renamed tools.
    tool_names: Vec<(String, String)>,
    ended: bool,
    deltas: Vec<Delta>,
    ordered: Vec<Delta>,
}

impl StreamConverter for Converter {
    fn push(&mut self, event: &SseEvent, out: &mut Vec<SseEvent>) -> Result<(), Error> {
        if self.ended {
            return Ok(());
        }
        self.deltas.clear();
        self.decoder.decode(event, &mut self.deltas)?;
        for mut d in self.deltas.drain(..) {
            if self.ended {
                break;
            }
            if let Delta::ToolStart { name, .. } = &mut d {
                crate::util::restore_tool_name(&self.tool_names, name);
            }
            let end = matches!(d, Delta::Done | Delta::Error(_));
            self.normalizer.push(d, &mut self.ordered);
            for o in self.ordered.drain(..) {
                self.encoder.delta(o, out);
            }
            self.ended = end;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), Error> {
        if !self.ended {
            self.normalizer.close_all(&mut self.ordered);
            for o in self.ordered.drain(..) {
                self.encoder.delta(o, out);
            }
            self.ended = true;
        }
        self.encoder.finish(out);
        Ok(())
    }

    fn losses(&self) -> Vec<Loss> {
        self.encoder.losses()
    }
}

#[derive(Debug)]
struct PendingTool {
    key: usize,
    id: String,
    name: String,
    signature: Option<Sig>,
    args: String,
    ended: bool,
}

/// Makes tool calls strictly sequential (one open at a time), fills in missing ids and
/// guarantees every started call ends before any finish, error or terminator.
#[derive(Debug)]
pub(crate) struct Normalizer {
    seed: String,
    counter: usize,
    live: Option<usize>,
    closed: Vec<usize>,
    pending: Vec<PendingTool>,
}

impl Normalizer {
    pub(crate) fn new(seed: String) -> Self {
        Normalizer {
            seed,
            counter: 0,
            live: None,
            closed: Vec::new(),
            pending: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, d: Delta, out: &mut Vec<Delta>) {
        match d {
            Delta::ToolStart {
                key,
                id,
                name,
                signature,
            } => {
                self.counter += 1;
                let id = id
                    .filter(|i| !i.is_empty())
                    .unwrap_or_else(|| format!("call_{}_{}", self.seed, self.counter));
                if self.live.is_none() && self.pending.is_empty() {
                    self.live = Some(key);
                    out.push(Delta::ToolStart {
                        key,
                        id: Some(id),
                        name,
                        signature,
                    });
                } else {
                    self.pending.push(PendingTool {
                        key,
                        id,
                        name,
                        signature,
                        args: String::new(),
                        ended: false,
                    });
                }
            }
            Delta::ToolArgs { key, fragment } => {
                if self.live == Some(key) {
                    out.push(Delta::ToolArgs { key, fragment });
                } else if let Some(p) = self.pending.iter_mut().find(|p| p.key == key) {
                    p.args.push_str(&fragment);
                }
            }
            Delta::ToolEnd { key } => {
                if self.live == Some(key) {
                    self.live = None;
                    self.closed.push(key);
                    out.push(Delta::ToolEnd { key });
                    self.flush(false, out);
                } else if let Some(p) = self.pending.iter_mut().find(|p| p.key == key) {
                    p.ended = true;
                }
            }
            Delta::Finish(_) | Delta::Done | Delta::Error(_) => {
                self.close_all(out);
                out.push(d);
            }
            Delta::Meta { .. } | Delta::Usage(_) => out.push(d),
            other => {
                // Content of another kind: whatever tool is open is over.
                self.close_all(out);
                out.push(other);
            }
        }
    }

    /// Ends the open call and emits every buffered call whole.
    pub(crate) fn close_all(&mut self, out: &mut Vec<Delta>) {
        if let Some(key) = self.live.take() {
            self.closed.push(key);
            out.push(Delta::ToolEnd { key });
        }
        self.flush(true, out);
    }

    fn flush(&mut self, force: bool, out: &mut Vec<Delta>) {
        while !self.pending.is_empty() {
            let p = self.pending.remove(0);
            out.push(Delta::ToolStart {
                key: p.key,
                id: Some(p.id),
                name: p.name,
                signature: p.signature,
            });
            if !p.args.is_empty() {
                out.push(Delta::ToolArgs {
                    key: p.key,
                    fragment: p.args,
                });
            }
            if p.ended || force {
                self.closed.push(p.key);
                out.push(Delta::ToolEnd { key: p.key });
            } else {
                self.live = Some(p.key);
                return;
            }
        }
    }
}

/// Folds sequential deltas into a whole response.
#[derive(Debug, Default)]
pub(crate) struct Aggregator {
    pub response: Response,
    open_tool: Option<ToolCall>,
    pub error: Option<crate::ir::StreamError>,
    pub done: bool,
}

impl Aggregator {
    pub(crate) fn push(&mut self, d: Delta) {
        let parts = &mut self.response.parts;
        match d {
            Delta::Meta { id, model, created } => {
                self.response.id = self.response.id.take().or(id);
                self.response.model = self.response.model.take().or(model);
                self.response.created = self.response.created.or(created);
            }
            Delta::Text(t) => match parts.last_mut() {
                Some(OutPart::Text(s)) => s.push_str(&t),
                _ => parts.push(OutPart::Text(t)),
            },
            Delta::Reasoning(t) => match parts.last_mut() {
                Some(OutPart::Reasoning {
                    text,
                    signature: None,
                    redacted: false,
                }) => text.push_str(&t),
                _ => parts.push(OutPart::Reasoning {
                    text: t,
                    signature: None,
                    redacted: false,
                }),
            },
            Delta::ReasoningSignature(sig) => match parts.last_mut() {
                Some(OutPart::Reasoning {
                    signature: s @ None,
                    redacted: false,
                    ..
                }) => *s = Some(sig),
                _ => parts.push(OutPart::Reasoning {
                    text: String::new(),
                    signature: Some(sig),
                    redacted: false,
                }),
            },
            Delta::RedactedReasoning(sig) => parts.push(OutPart::Reasoning {
                text: String::new(),
                signature: Some(sig),
                redacted: true,
            }),
            Delta::ToolStart {
                id,
                name,
                signature,
                ..
            } => {
                if let Some(t) = self.open_tool.take() {
                    parts.push(OutPart::ToolCall(t));
                }
                self.open_tool = Some(ToolCall {
                    id: id.unwrap_or_default(),
                    name,
                    arguments: String::new(),
                    signature,
                });
            }
            Delta::ToolArgs { fragment, .. } => {
                if let Some(t) = &mut self.open_tool {
                    t.arguments.push_str(&fragment);
                }
            }
            Delta::ToolEnd { .. } => {
                if let Some(mut t) = self.open_tool.take() {
                    if t.arguments.trim().is_empty() {
                        t.arguments = "{}".into();
                    }
                    parts.push(OutPart::ToolCall(t));
                }
            }
            Delta::Image { mime, data } => parts.push(OutPart::Image { mime, data }),
            Delta::Usage(u) => self.response.usage = u,
            Delta::Finish(f) => self.response.finish = Some(f),
            Delta::Error(e) => self.error = Some(e),
            Delta::Done => self.done = true,
        }
    }
}

/// Aggregates a whole upstream SSE body into a response (for upstreams that stream when asked
/// not to, and for tests).
pub(crate) fn aggregate_sse(upstream: Protocol, body: &[u8]) -> Result<Aggregator, Error> {
    let mut dec = relaygate_protocol::sse::SseDecoder::new();
    let mut events = Vec::new();
    dec.feed(body, &mut events)
        .map_err(|e| Error::InvalidJson(e.to_string()))?;
    dec.finish(&mut events);
    aggregate_events(upstream, &events)
}

pub(crate) fn aggregate_events(
    upstream: Protocol,
    events: &[SseEvent],
) -> Result<Aggregator, Error> {
    let mut d = decoder(upstream);
    let mut norm = Normalizer::new("agg".into());
    let mut agg = Aggregator::default();
    let mut deltas = Vec::new();
    let mut ordered = Vec::new();
    for ev in events {
        d.decode(ev, &mut deltas)?;
        for x in deltas.drain(..) {
            norm.push(x, &mut ordered);
        }
    }
    norm.close_all(&mut ordered);
    for o in ordered {
        agg.push(o);
    }
    if agg.response.finish.is_none() && agg.error.is_none() {
        agg.response.finish = Some(Finish::Stop);
    }
    Ok(agg)
}
