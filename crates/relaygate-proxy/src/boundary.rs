//! What may cross the gateway, in both directions: the header allow-lists and the scrubbing of
//! secrets from upstream texts. `docs/security.md` documents both lists; they live here and
//! nowhere else.
//!
//! Allow-lists, never deny-lists: a header goes upstream only if it is named below (or the
//! channel's own credential and defaults), and comes back only if named below. A header a client
//! invents tomorrow (or a proxy, a browser, an attacker adds) stays on its side.

use std::borrow::Cow;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use relaygate_protocol::Protocol;

/// The vendor behind a protocol: Chat and Responses are both OpenAI's, so a Chat client's
/// OpenAI headers still mean the same thing to a Responses channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vendor {
    Anthropic,
    OpenAi,
    Gemini,
}

fn vendor(p: Protocol) -> Vendor {
    match p {
        Protocol::Anthropic => Vendor::Anthropic,
        Protocol::OpenAiChat | Protocol::OpenAiResponses => Vendor::OpenAi,
        Protocol::Gemini => Vendor::Gemini,
    }
}

/// Request headers every upstream may see: content negotiation, the client's name, idempotency.
const REQUEST_COMMON: &[&str] = &["content-type", "accept", "user-agent", "idempotency-key"];
/// Request header prefixes every upstream may see: the Stainless SDKs' metadata
/// (`x-stainless-lang`, `x-stainless-retry-count`, ...), sent by the Anthropic and OpenAI SDKs.
const REQUEST_COMMON_PREFIXES: &[&str] = &["x-stainless-"];
/// Anthropic's version and beta headers and Claude Code's client metadata; only to Anthropic.
const REQUEST_ANTHROPIC: &[&str] = &[
    "anthropic-version",
    "anthropic-beta",
    "x-app",
    "x-claude-code-session-id",
];
/// OpenAI's beta header and the Codex CLI's session metadata; only to OpenAI channels. Not
/// `openai-organization` / `openai-project`: they would bill (or fail) another account.
const REQUEST_OPENAI: &[&str] = &[
    "openai-beta",
    "x-client-request-id",
    "originator",
    "session-id",
    "session_id",
    "thread-id",
    "conversation_id",
];
/// Codex CLI's `x-codex-*` metadata; only to OpenAI channels.
const REQUEST_OPENAI_PREFIXES: &[&str] = &["x-codex-"];
/// The Google SDKs' client metadata; only to Gemini. Not `x-goog-user-project`: it names a
/// project to bill.
const REQUEST_GEMINI: &[&str] = &["x-goog-api-client"];

/// Response headers every client may see.
const RESPONSE_COMMON: &[&str] = &[
    "content-type",
    "content-encoding",
    "cache-control",
    "retry-after",
    "retry-after-ms",
    // Request ids let a user quote a failing call to the vendor.
    "request-id",
    "x-request-id",
];
/// Rate-limit headers, passed back only for channels whose operator enabled it: they describe
/// the channel's account, which is the operator's business.
const RESPONSE_RATE_LIMIT_PREFIXES: &[&str] = &["anthropic-ratelimit-", "x-ratelimit-"];

fn listed(name: &str, exact: &[&str], prefixes: &[&str]) -> bool {
    exact.contains(&name) || prefixes.iter().any(|p| name.starts_with(p))
}

/// Whether a client request header may go to a channel of protocol `channel` when the client
/// speaks `client`.
pub fn request_header_allowed(name: &str, client: Protocol, channel: Protocol) -> bool {
    if listed(name, REQUEST_COMMON, REQUEST_COMMON_PREFIXES) {
        return true;
    }
    if vendor(client) != vendor(channel) {
        return false;
    }
    match vendor(channel) {
        Vendor::Anthropic => REQUEST_ANTHROPIC.contains(&name),
        Vendor::OpenAi => listed(name, REQUEST_OPENAI, REQUEST_OPENAI_PREFIXES),
        Vendor::Gemini => REQUEST_GEMINI.contains(&name),
    }
}

/// Whether an upstream response header may go back to the client.
pub fn response_header_allowed(name: &str, rate_limit_headers: bool) -> bool {
    RESPONSE_COMMON.contains(&name)
        || (rate_limit_headers
            && RESPONSE_RATE_LIMIT_PREFIXES
                .iter()
                .any(|p| name.starts_with(p)))
}

/// Headers for the upstream request: the allow-listed client headers, then the channel's own
/// credential in its protocol's place (and the protocol's required defaults).
pub fn upstream_headers(
    client: &HeaderMap,
    client_protocol: Protocol,
    channel_protocol: Protocol,
    secret: &str,
) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(8);
    for (name, value) in client {
        if request_header_allowed(name.as_str(), client_protocol, channel_protocol) {
            out.append(name.clone(), value.clone());
        }
    }
    let Ok(mut value) = HeaderValue::from_str(secret) else {
        return out;
    };
    value.set_sensitive(true);
    match channel_protocol {
        Protocol::Anthropic => {
            out.insert(HeaderName::from_static("x-api-key"), value);
            if !out.contains_key("anthropic-version") {
                out.insert(
                    HeaderName::from_static("anthropic-version"),
                    HeaderValue::from_static("2023-06-01"),
                );
            }
        }
        Protocol::OpenAiChat | Protocol::OpenAiResponses => {
            if let Ok(mut bearer) = HeaderValue::from_str(&format!("Bearer {secret}")) {
                bearer.set_sensitive(true);
                out.insert(header::AUTHORIZATION, bearer);
            }
        }
        Protocol::Gemini => {
            out.insert(HeaderName::from_static("x-goog-api-key"), value);
        }
    }
    if !out.contains_key(header::CONTENT_TYPE) {
        out.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    out
}

/// The allow-listed upstream response headers for the client (with the length only when the
/// body is passed whole: a relayed stream may gain an error event).
pub fn client_headers(
    upstream: &HeaderMap,
    keep_length: bool,
    rate_limit_headers: bool,
) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(8);
    for (name, value) in upstream {
        if response_header_allowed(name.as_str(), rate_limit_headers)
            || (keep_length && name == header::CONTENT_LENGTH)
        {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Prefixes of API-key-shaped strings (OpenAI and Anthropic `sk-`, Google `AIza` and OAuth
/// `ya29.`, xAI, Groq, OpenRouter-style `sk-or-`, and the gateway's own `rg-` tokens), each with
/// the shortest run of key characters after it that counts as a key.
const KEY_SHAPES: &[(&[u8], usize)] = &[
    (b"sk-", 16),
    (b"sk_", 16),
    (b"AIza", 20),
    (b"ya29.", 20),
    (b"xai-", 16),
    (b"gsk_", 16),
    (b"rg-", 16),
];

fn key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

/// Replaces every channel key in `text`, and anything shaped like an API key, by its mask
/// ([`crate::auth::mask`]). Returns the input unchanged (borrowed) when there was nothing to
/// hide, which is the usual case.
pub fn scrub<'a>(text: &'a [u8], keys: &[&str]) -> Cow<'a, [u8]> {
    let mut out: Cow<'a, [u8]> = Cow::Borrowed(text);
    for key in keys.iter().filter(|k| k.len() >= 4) {
        if let Some(replaced) = replace_all(&out, key.as_bytes()) {
            out = Cow::Owned(replaced);
        }
    }
    if let Some(replaced) = replace_key_shapes(&out) {
        out = Cow::Owned(replaced);
    }
    out
}

/// [`scrub`] for text.
pub fn scrub_str<'a>(text: &'a str, keys: &[&str]) -> Cow<'a, str> {
    match scrub(text.as_bytes(), keys) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        // Masks are ASCII or '…' and replace whole ASCII runs, so the text stays UTF-8; the
        // lossy conversion never changes anything but keeps this free of a panic path.
        Cow::Owned(b) => Cow::Owned(String::from_utf8_lossy(&b).into_owned()),
    }
}

fn replace_all(text: &[u8], needle: &[u8]) -> Option<Vec<u8>> {
    let first = memchr::memmem::find(text, needle)?;
    let masked = crate::auth::mask(&String::from_utf8_lossy(needle));
    let mut out = Vec::with_capacity(text.len());
    out.extend_from_slice(&text[..first]);
    out.extend_from_slice(masked.as_bytes());
    let mut rest = &text[first + needle.len()..];
    while let Some(i) = memchr::memmem::find(rest, needle) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(masked.as_bytes());
        rest = &rest[i + needle.len()..];
    }
    out.extend_from_slice(rest);
    Some(out)
}

fn replace_key_shapes(text: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < text.len() {
        let at_boundary = i == 0 || !key_char(text[i - 1]);
        let hit = at_boundary
            .then(|| {
                KEY_SHAPES.iter().find_map(|(prefix, min)| {
                    if !text[i..].starts_with(prefix) {
                        return None;
                    }
                    let run = text[i + prefix.len()..]
                        .iter()
                        .take_while(|b| key_char(**b))
                        .count();
                    (run >= *min).then_some(prefix.len() + run)
                })
            })
            .flatten();
        match hit {
            Some(len) => {
                let buf = out.get_or_insert_with(|| Vec::with_capacity(text.len()));
                buf.extend_from_slice(&text[copied..i]);
                let key = String::from_utf8_lossy(&text[i..i + len]);
                buf.extend_from_slice(crate::auth::mask(&key).as_bytes());
                i += len;
                copied = i;
            }
            None => i += 1,
        }
    }
    let mut buf = out?;
    buf.extend_from_slice(&text[copied..]);
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_headers_all() -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("authorization", "Bearer client-token"),
            ("x-api-key", "client-token"),
            ("x-goog-api-key", "client-token"),
            ("cookie", "rg_session=abc; rg_csrf=def"),
            ("x-forwarded-for", "10.0.0.1"),
            ("forwarded", "for=10.0.0.1"),
            ("x-real-ip", "10.0.0.1"),
            ("proxy-authorization", "Basic abc"),
            ("x-relaygate-csrf", "def"),
            ("x-relaygate-anything", "1"),
            ("openai-organization", "org-evil"),
            ("openai-project", "proj-evil"),
            ("x-goog-user-project", "evil"),
            ("connection", "keep-alive, x-drop-me"),
            ("x-drop-me", "1"),
            ("host", "gw"),
            ("content-length", "12"),
            ("accept-encoding", "gzip"),
            ("anthropic-beta", "a,b"),
            ("anthropic-version", "2023-06-01"),
            ("openai-beta", "responses=experimental"),
            ("x-goog-api-client", "genai-py/1"),
            ("x-stainless-lang", "python"),
            ("user-agent", "sdk/1"),
            ("accept", "text/event-stream"),
            ("content-type", "application/json"),
            ("idempotency-key", "abc"),
            ("originator", "codex_cli_rs"),
        ] {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn hostile_request_headers_never_go_upstream() {
        let h = client_headers_all();
        for client in Protocol::ALL {
            for channel in Protocol::ALL {
                let out = upstream_headers(&h, client, channel, "sk-channel");
                for bad in [
                    "cookie",
                    "x-forwarded-for",
                    "forwarded",
                    "x-real-ip",
                    "proxy-authorization",
                    "x-relaygate-csrf",
                    "x-relaygate-anything",
                    "openai-organization",
                    "openai-project",
                    "x-goog-user-project",
                    "connection",
                    "x-drop-me",
                    "host",
                    "content-length",
                    "accept-encoding",
                ] {
                    assert!(!out.contains_key(bad), "{client}->{channel}: {bad} leaked");
                }
                assert!(
                    out.iter()
                        .all(|(_, v)| !v.to_str().unwrap_or("").contains("client-token")),
                    "{client}->{channel}: client credential leaked"
                );
                for good in [
                    "user-agent",
                    "accept",
                    "content-type",
                    "idempotency-key",
                    "x-stainless-lang",
                ] {
                    assert!(
                        out.contains_key(good),
                        "{client}->{channel}: {good} dropped"
                    );
                }
                let same_vendor = vendor(client) == vendor(channel);
                let vendor_header = match channel {
                    Protocol::Anthropic => "anthropic-beta",
                    Protocol::OpenAiChat | Protocol::OpenAiResponses => "openai-beta",
                    Protocol::Gemini => "x-goog-api-client",
                };
                assert_eq!(
                    out.contains_key(vendor_header),
                    same_vendor,
                    "{client}->{channel}"
                );
            }
        }
        let a = upstream_headers(&h, Protocol::Anthropic, Protocol::Anthropic, "sk-channel");
        assert_eq!(a["x-api-key"], "sk-channel");
        assert_eq!(a["anthropic-beta"], "a,b");
        let c = upstream_headers(&h, Protocol::Gemini, Protocol::Anthropic, "sk-channel");
        assert_eq!(c["anthropic-version"], "2023-06-01");
        assert_eq!(
            upstream_headers(&h, Protocol::OpenAiChat, Protocol::OpenAiResponses, "k")["authorization"],
            "Bearer k"
        );
        assert_eq!(
            upstream_headers(&h, Protocol::OpenAiChat, Protocol::Gemini, "k")["x-goog-api-key"],
            "k"
        );
    }

    #[test]
    fn hostile_response_headers_never_reach_the_client() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("set-cookie", "rg_session=stolen"),
            ("strict-transport-security", "max-age=1"),
            ("access-control-allow-origin", "*"),
            ("alt-svc", "h3=\":443\""),
            ("anthropic-organization-id", "org"),
            ("openai-organization", "org"),
            ("x-ratelimit-remaining-requests", "5"),
            ("anthropic-ratelimit-tokens-remaining", "5"),
            ("content-type", "text/event-stream"),
            ("content-length", "10"),
            ("request-id", "req_1"),
            ("x-request-id", "req_2"),
            ("retry-after", "3"),
            ("transfer-encoding", "chunked"),
        ] {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let out = client_headers(&h, false, false);
        let names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        assert_eq!(
            names.len(),
            4,
            "only content-type, two request ids and retry-after: {names:?}"
        );
        for n in ["content-type", "request-id", "x-request-id", "retry-after"] {
            assert!(out.contains_key(n), "{n}");
        }
        let with_limits = client_headers(&h, true, true);
        assert!(with_limits.contains_key("x-ratelimit-remaining-requests"));
        assert!(with_limits.contains_key("anthropic-ratelimit-tokens-remaining"));
        assert!(with_limits.contains_key("content-length"));
        assert!(!with_limits.contains_key("set-cookie"));
    }

    #[test]
    fn keys_and_key_shapes_are_scrubbed() {
        let key = "custom-channel-secret-0123456789";
        let text = format!(
            "Invalid request from key {key}; also sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv and \
             AIzaSyA1234567890abcdefghijklmnopqrstu, task-sk-notakey, sk-short"
        );
        let out = scrub_str(&text, &[key]);
        assert!(!out.contains(key), "{out}");
        assert!(!out.contains("AbCdEfGhIjKlMnOpQrStUv"), "{out}");
        assert!(!out.contains("AIzaSyA1234567890abcdef"), "{out}");
        assert!(out.contains("…6789"), "{out}");
        assert!(
            out.contains("sk-short"),
            "short strings are not keys: {out}"
        );
        assert!(out.contains("Invalid request from key"));
        let clean = "nothing secret here";
        assert!(matches!(scrub_str(clean, &[key]), Cow::Borrowed(_)));
        // JSON stays JSON.
        let body = format!(r#"{{"error":{{"message":"bad key {key}"}}}}"#);
        let scrubbed = scrub(body.as_bytes(), &[key]);
        let v: serde_json::Value = serde_json::from_slice(&scrubbed).unwrap();
        assert_eq!(v["error"]["message"], "bad key …6789");
    }
}
