//! Admin-side calls to one channel's upstream, outside the request path: a small test request,
//! the upstream's model list, and switching one base URL off by hand.
//!
//! The test request and the model list go through the gateway's pooled upstream client with
//! the channel's own credential; neither touches cooldowns, health scores or URL latencies.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use relaygate_health::CooldownState;
use relaygate_protocol::Protocol;
use relaygate_store::Channel;
use serde_json::{Value, json};

use crate::boundary::upstream_headers;
use crate::gateway::{Gateway, Target};
use crate::upstream::join_url;

/// The `until` of a URL switched off by hand (9999-12-31): far enough to mean "until enabled".
pub(crate) const MANUAL_DISABLE_UNTIL_MS: u64 = 253_402_300_799_000;

/// The cooldown reason recorded for a URL switched off by hand.
const MANUAL_DISABLE_REASON: &str = "manual_disable";

/// Most bytes read from an upstream answer here (a test answer or a model list).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Characters of the answer text (or of an error body) kept in a [`ChannelTest`].
const MAX_TEXT_CHARS: usize = 500;

/// What the test prompt asks.
const PROMPT: &str = "Say hi";

/// Most tokens the test answer may use.
const MAX_TOKENS: u32 = 16;

/// The result of [`Gateway::test_channel`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelTest {
    /// The upstream answered 2xx with a well-formed, non-error body.
    pub ok: bool,
    /// The upstream's HTTP status, if it answered at all.
    pub status: Option<u16>,
    /// From sending the request to the end of the answer.
    pub latency_ms: u64,
    /// From sending the request to the answer's head.
    pub first_byte_ms: Option<u64>,
    /// The answer's text, first 500 characters.
    pub answer_text: Option<String>,
    /// What went wrong (transport failure, upstream error message), secrets masked.
    pub error: Option<String>,
    /// The upstream model asked.
    pub model: String,
    /// The key used.
    pub key_index: u32,
    /// The URL called.
    pub url: String,
}

fn channel_error(name: &str, reason: impl Into<String>) -> crate::Error {
    crate::Error::Channel {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn first_chars(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

/// Replaces `secret`, and anything shaped like an API key, in `text` with masks.
fn scrub(text: &str, secret: &str) -> String {
    crate::boundary::scrub_str(text, &[secret]).into_owned()
}

/// The path and body of the smallest generate request of `protocol`.
fn test_request(protocol: Protocol, model: &str) -> (String, Value) {
    let user = json!([{"role": "user", "content": PROMPT}]);
    match protocol {
        Protocol::Anthropic => (
            "/v1/messages".to_owned(),
            json!({"model": model, "max_tokens": MAX_TOKENS, "messages": user}),
        ),
        Protocol::OpenAiChat => (
            "/v1/chat/completions".to_owned(),
            json!({"model": model, "max_tokens": MAX_TOKENS, "messages": user, "stream": false}),
        ),
        Protocol::OpenAiResponses => (
            "/v1/responses".to_owned(),
            json!({"model": model, "input": PROMPT, "max_output_tokens": MAX_TOKENS, "stream": false}),
        ),
        Protocol::Gemini => (
            format!("/v1beta/models/{model}:generateContent"),
            json!({
                "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
                "generationConfig": {"maxOutputTokens": MAX_TOKENS}
            }),
        ),
    }
}

fn texts<'a>(items: Option<&'a Value>, kind: Option<&'a str>) -> impl Iterator<Item = &'a str> {
    items
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |p| kind.is_none_or(|k| p.get("type").and_then(Value::as_str) == Some(k)))
        .filter(|p| p.get("thought").and_then(Value::as_bool) != Some(true))
        .filter_map(|p| p.get("text").and_then(Value::as_str))
}

/// The answer text of a non-streamed generate response of `protocol`.
pub(crate) fn answer_text(protocol: Protocol, body: &Value) -> Option<String> {
    let text: String = match protocol {
        Protocol::Anthropic => texts(body.get("content"), Some("text")).collect(),
        Protocol::OpenAiChat => body
            .get("choices")?
            .get(0)?
            .get("message")?
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        Protocol::OpenAiResponses => {
            if let Some(t) = body.get("output_text").and_then(Value::as_str) {
                t.to_owned()
            } else {
                body.get("output")?
                    .as_array()?
                    .iter()
                    .filter(|o| o.get("type").and_then(Value::as_str) == Some("message"))
                    .flat_map(|o| texts(o.get("content"), Some("output_text")))
                    .collect()
            }
        }
        Protocol::Gemini => texts(
            body.get("candidates")?.get(0)?.get("content")?.get("parts"),
            None,
        )
        .collect(),
    };
    Some(text)
}

/// The upstream's error message in a JSON error body (`{"error": {"message"}}` in all four
/// protocols), if there is one.
fn error_message(body: &Value) -> Option<String> {
    let e = body.get("error")?;
    Some(match e.get("message").and_then(Value::as_str) {
        Some(m) => m.to_owned(),
        None => e.to_string(),
    })
}

/// Model ids in a model-list answer: `data[].id` (Anthropic, OpenAI) or `models[].name`
/// without its `models/` prefix (Gemini).
pub(crate) fn model_ids(body: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(data) = body.get("data").and_then(Value::as_array) {
        out.extend(
            data.iter()
                .filter_map(|m| m.get("id").and_then(Value::as_str))
                .map(str::to_owned),
        );
    }
    if let Some(models) = body.get("models").and_then(Value::as_array) {
        out.extend(
            models
                .iter()
                .filter_map(|m| m.get("name").and_then(Value::as_str))
                .map(|n| n.strip_prefix("models/").unwrap_or(n).to_owned()),
        );
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|m| !m.is_empty() && seen.insert(m.clone()));
    out
}

/// What one upstream call returned.
struct Answer {
    status: StatusCode,
    head_ms: u64,
    total_ms: u64,
    body: Bytes,
}

impl Gateway {
    /// The stored channel with this id (enabled or not).
    async fn stored_channel(&self, channel_id: i64) -> Result<Channel, crate::Error> {
        self.inner
            .store
            .list_channels()
            .await?
            .into_iter()
            .find(|c| c.id == channel_id)
            .ok_or_else(|| channel_error(&channel_id.to_string(), "no such channel"))
    }

    /// Sends one request through the pooled client and reads the whole (bounded) answer.
    async fn call_upstream(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Answer, String> {
        let mut builder = Request::builder().method(method).uri(url);
        if let Some(h) = builder.headers_mut() {
            *h = headers;
        }
        let req = builder
            .body(Full::new(body))
            .map_err(|e| format!("invalid upstream request: {e}"))?;
        let timeouts = &self.inner.config.timeouts;
        let t0 = Instant::now();
        let resp = tokio::time::timeout(
            timeouts.connect.saturating_add(timeouts.first_byte),
            self.inner.client.request(req),
        )
        .await
        .map_err(|_| "no answer before the first-byte timeout".to_owned())?
        .map_err(|e| {
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                source = s.source();
            }
            format!("upstream unreachable: {msg}")
        })?;
        let head_ms = ms(t0.elapsed());
        let status = resp.status();
        let mut body = resp.into_body();
        let mut buf = BytesMut::new();
        loop {
            let frame = tokio::time::timeout(timeouts.idle, body.frame())
                .await
                .map_err(|_| "the answer stalled past the idle timeout".to_owned())?;
            match frame {
                None => break,
                Some(Err(e)) => return Err(format!("the answer broke off: {e}")),
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        if buf.len() + data.len() > MAX_ANSWER_BYTES {
                            return Err(format!(
                                "the answer is larger than {MAX_ANSWER_BYTES} bytes"
                            ));
                        }
                        buf.extend_from_slice(&data);
                    }
                }
            }
        }
        Ok(Answer {
            status,
            head_ms,
            total_ms: ms(t0.elapsed()),
            body: buf.freeze(),
        })
    }

    /// Sends one small real request ("Say hi", at most 16 tokens, not streamed) in the
    /// channel's own protocol to its first base URL with one of its keys (`key_index`, or the
    /// first enabled key), asking `model` (a client name is mapped to its upstream name) or the
    /// channel's first model. Cooldowns and health are left alone.
    ///
    /// `Err` only when the channel, key or model can't be used at all; an upstream failure is
    /// an `Ok` with `ok: false`.
    pub async fn test_channel(
        &self,
        channel_id: i64,
        model: Option<String>,
        key_index: Option<u32>,
    ) -> Result<ChannelTest, crate::Error> {
        let c = self.stored_channel(channel_id).await?;
        let key = match key_index {
            Some(i) => c
                .keys
                .iter()
                .find(|k| k.index == i)
                .ok_or_else(|| channel_error(&c.name, format!("no key with index {i}")))?,
            None => c
                .keys
                .iter()
                .find(|k| k.enabled)
                .or_else(|| c.keys.first())
                .ok_or_else(|| channel_error(&c.name, "no key"))?,
        };
        let model = match model.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()) {
            Some(m) => c
                .models
                .iter()
                .find(|e| e.name == m)
                .map_or(m.clone(), |e| e.upstream_name().to_owned()),
            None => c
                .models
                .first()
                .map(|e| e.upstream_name().to_owned())
                .ok_or_else(|| channel_error(&c.name, "serves no model"))?,
        };
        if model.contains(['/', '?', '#', ' ']) && c.protocol == Protocol::Gemini {
            return Err(channel_error(
                &c.name,
                format!("model {model:?} can't go in a Gemini path"),
            ));
        }
        let base = c
            .base_urls
            .first()
            .ok_or_else(|| channel_error(&c.name, "no base URL"))?;
        let (path, body) = test_request(c.protocol, &model);
        let url = join_url(base, &path, None);
        let headers = upstream_headers(&HeaderMap::new(), c.protocol, c.protocol, &key.secret);
        let mut out = ChannelTest {
            ok: false,
            status: None,
            latency_ms: 0,
            first_byte_ms: None,
            answer_text: None,
            error: None,
            model,
            key_index: key.index,
            url: url.clone(),
        };
        let t0 = Instant::now();
        let answer = match self
            .call_upstream(Method::POST, &url, headers, Bytes::from(body.to_string()))
            .await
        {
            Ok(a) => a,
            Err(e) => {
                out.latency_ms = ms(t0.elapsed());
                out.error = Some(scrub(&e, &key.secret));
                return Ok(out);
            }
        };
        out.status = Some(answer.status.as_u16());
        out.first_byte_ms = Some(answer.head_ms);
        out.latency_ms = answer.total_ms;
        let parsed: Option<Value> = serde_json::from_slice(&answer.body).ok();
        let raw = || first_chars(&String::from_utf8_lossy(&answer.body), MAX_TEXT_CHARS);
        match parsed {
            Some(v) => {
                if let Some(msg) = error_message(&v) {
                    out.error = Some(scrub(&first_chars(&msg, MAX_TEXT_CHARS), &key.secret));
                } else if !answer.status.is_success() {
                    out.error = Some(scrub(&raw(), &key.secret));
                } else {
                    match answer_text(c.protocol, &v) {
                        Some(t) => {
                            out.answer_text = Some(first_chars(&t, MAX_TEXT_CHARS));
                            out.ok = true;
                        }
                        None => {
                            out.error = Some(format!(
                                "the answer is not a {} response",
                                c.protocol.as_str()
                            ));
                        }
                    }
                }
            }
            None => {
                out.error = Some(if answer.status.is_success() {
                    "the answer is not JSON".to_owned()
                } else {
                    scrub(&raw(), &key.secret)
                });
            }
        }
        if out.error.is_none() && !answer.status.is_success() {
            out.error = Some(format!("HTTP {}", answer.status.as_u16()));
        }
        Ok(out)
    }

    /// The model ids the channel's upstream lists (`GET /v1/models`, or `/v1beta/models` for
    /// Gemini) on its first base URL with its first enabled key. Cooldowns and health are left
    /// alone.
    pub async fn upstream_models(&self, channel_id: i64) -> Result<Vec<String>, crate::Error> {
        let c = self.stored_channel(channel_id).await?;
        let key = c
            .keys
            .iter()
            .find(|k| k.enabled)
            .or_else(|| c.keys.first())
            .ok_or_else(|| channel_error(&c.name, "no key"))?;
        let base = c
            .base_urls
            .first()
            .ok_or_else(|| channel_error(&c.name, "no base URL"))?;
        let (path, query) = match c.protocol {
            Protocol::Gemini => ("/v1beta/models", Some("pageSize=1000")),
            Protocol::Anthropic => ("/v1/models", Some("limit=1000")),
            Protocol::OpenAiChat | Protocol::OpenAiResponses => ("/v1/models", None),
        };
        let url = join_url(base, path, query);
        let mut headers = upstream_headers(&HeaderMap::new(), c.protocol, c.protocol, &key.secret);
        headers.remove(http::header::CONTENT_TYPE);
        let answer = self
            .call_upstream(Method::GET, &url, headers, Bytes::new())
            .await
            .map_err(|e| channel_error(&c.name, scrub(&e, &key.secret)))?;
        let parsed: Option<Value> = serde_json::from_slice(&answer.body).ok();
        if !answer.status.is_success() {
            let msg = parsed
                .as_ref()
                .and_then(error_message)
                .unwrap_or_else(|| String::from_utf8_lossy(&answer.body).into_owned());
            return Err(channel_error(
                &c.name,
                format!(
                    "model list: HTTP {}: {}",
                    answer.status.as_u16(),
                    scrub(&first_chars(&msg, MAX_TEXT_CHARS), &key.secret)
                ),
            ));
        }
        let v =
            parsed.ok_or_else(|| channel_error(&c.name, "model list: the answer is not JSON"))?;
        if v.get("data").is_none() && v.get("models").is_none() {
            return Err(channel_error(
                &c.name,
                "model list: neither data[] nor models[] in the answer",
            ));
        }
        Ok(model_ids(&v))
    }

    /// Switches base URL `index` of a channel off (`disabled`) or back on. A URL switched off
    /// is a cooldown on `url:ID:INDEX` until far in the future with reason `manual_disable`:
    /// written through to the store like any cooldown, shown with the others, and skipped by
    /// routing unless it is the channel's only URL. Switching on clears that cooldown (and any
    /// other on the URL). Returns whether anything changed.
    pub async fn disable_url(
        &self,
        channel_id: i64,
        index: usize,
        disabled: bool,
    ) -> Result<bool, crate::Error> {
        let c = self.stored_channel(channel_id).await?;
        if index >= c.base_urls.len() {
            return Err(channel_error(
                &c.name,
                format!("no base URL with index {index}"),
            ));
        }
        let target = Target::Url(channel_id, index);
        let now = self.inner.clock.now_ms();
        if disabled {
            let state = CooldownState {
                until_ms: MANUAL_DISABLE_UNTIL_MS,
                interval_ms: 0,
                failures: 0,
            };
            let changed = self.inner.with_health(|h| {
                let before = h.cooldowns.state(&target);
                h.cooldowns.restore(target.clone(), state);
                h.local_changes.insert(target.clone(), now);
                before != Some(state)
            });
            self.inner
                .persist_cooldown(&target, state, MANUAL_DISABLE_REASON);
            Ok(changed)
        } else {
            let existed = self.inner.with_health(|h| {
                h.local_changes.insert(target.clone(), now);
                h.cooldowns.succeed(&target)
            });
            self.inner.store.clear_cooldown(target.encode());
            Ok(existed)
        }
    }
}

impl Gateway {
    /// The base URLs of a channel switched off by hand (by position), ascending.
    pub fn disabled_urls(&self, channel_id: i64) -> Vec<usize> {
        let mut out: Vec<usize> = self.inner.with_health(|h| {
            h.cooldowns
                .cooling(0)
                .filter(|(_, s)| is_manual(s))
                .filter_map(|(t, _)| match t {
                    Target::Url(c, i) if *c == channel_id => Some(*i),
                    _ => None,
                })
                .collect()
        });
        out.sort_unstable();
        out
    }
}

/// Whether a cooldown state is a manual switch-off rather than a failure.
pub(crate) fn is_manual(state: &CooldownState) -> bool {
    state.until_ms >= MANUAL_DISABLE_UNTIL_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_text_of_each_protocol() {
        let a = json!({"content": [{"type": "thinking", "thinking": "x"}, {"type": "text", "text": "Hi"}]});
        assert_eq!(answer_text(Protocol::Anthropic, &a).as_deref(), Some("Hi"));
        let o = json!({"choices": [{"message": {"content": "Hi there"}}]});
        assert_eq!(
            answer_text(Protocol::OpenAiChat, &o).as_deref(),
            Some("Hi there")
        );
        let r = json!({"output": [{"type": "reasoning"}, {"type": "message", "content": [{"type": "output_text", "text": "Yo"}]}]});
        assert_eq!(
            answer_text(Protocol::OpenAiResponses, &r).as_deref(),
            Some("Yo")
        );
        let g = json!({"candidates": [{"content": {"parts": [{"text": "t", "thought": true}, {"text": "Hey"}]}}]});
        assert_eq!(answer_text(Protocol::Gemini, &g).as_deref(), Some("Hey"));
        assert_eq!(answer_text(Protocol::OpenAiChat, &json!({})), None);
    }

    #[test]
    fn model_ids_of_both_shapes() {
        let openai = json!({"object": "list", "data": [{"id": "a"}, {"id": "b"}, {"id": "a"}]});
        assert_eq!(model_ids(&openai), ["a", "b"]);
        let gemini = json!({"models": [{"name": "models/gemini-x"}, {"name": "y"}]});
        assert_eq!(model_ids(&gemini), ["gemini-x", "y"]);
    }

    #[test]
    fn secrets_are_scrubbed() {
        let s = scrub("bad key sk-abcdefghijklmnop", "sk-abcdefghijklmnop");
        assert!(!s.contains("sk-abcdefghijklmnop"), "{s}");
    }
}
