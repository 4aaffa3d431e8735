//! The upstream side: one pooled HTTP client (HTTP/1.1 and HTTP/2 over rustls/ring with the
//! webpki roots, TCP_NODELAY), URL joining and header hygiene in both directions.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use relaygate_protocol::Protocol;

use crate::config::Timeouts;

/// The pooled upstream client.
pub type UpstreamClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds the shared upstream client.
pub fn build_client(timeouts: &Timeouts) -> Result<UpstreamClient, crate::Error> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    http.set_connect_timeout(Some(timeouts.connect));
    http.set_keepalive(Some(Duration::from_secs(30)));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(provider)?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        // Shorter than the keep-alive of most upstream CDNs, so a pooled connection is not
        // reused just as the far side closes it.
        .pool_idle_timeout(Duration::from_secs(50))
        .pool_max_idle_per_host(256)
        .build(https))
}

/// Joins a channel base URL and a request path, without doubling a version segment when the
/// base URL already ends with it (`https://api.openai.com/v1` + `/v1/chat/completions`).
pub fn join_url(base: &str, path: &str, query: Option<&str>) -> String {
    let base = base.trim_end_matches('/');
    let mut path = path;
    for version in ["/v1beta", "/v1"] {
        if base.ends_with(version) {
            if let Some(rest) = path.strip_prefix(version)
                && rest.starts_with('/')
            {
                path = rest;
            }
            break;
        }
    }
    let mut url = String::with_capacity(base.len() + path.len() + query.map_or(0, |q| q.len() + 1));
    url.push_str(base);
    url.push_str(path);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// Connection-level headers that never cross a proxy (RFC 9110 §7.6.1).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// Headers for the upstream request: the client's headers minus hop-by-hop ones, its
/// credentials, `host`, `content-length` and `accept-encoding` (bodies are relayed and
/// inspected as plain bytes), plus the channel's own credential.
pub fn upstream_headers(
    client: &HeaderMap,
    protocol: Protocol,
    secret: &str,
    translated: bool,
) -> HeaderMap {
    let listed: Vec<String> = client
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(client.len() + 2);
    for (name, value) in client {
        if is_hop_by_hop(name)
            || listed.iter().any(|l| l == name.as_str())
            // Another vendor's protocol headers mean nothing (or something wrong) upstream.
            || (translated && (name.as_str().starts_with("anthropic-") || name.as_str().starts_with("x-goog-")))
            || matches!(
                name.as_str(),
                "host"
                    | "content-length"
                    | "accept-encoding"
                    | "authorization"
                    | "x-api-key"
                    | "x-goog-api-key"
            )
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    let Ok(value) = HeaderValue::from_str(secret) else {
        return out;
    };
    match protocol {
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
            if let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {secret}")) {
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

/// Copies upstream response headers for the client, minus hop-by-hop ones (and the length,
/// when the relay may append an error event to a stream).
pub fn client_headers(upstream: &HeaderMap, keep_length: bool) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(upstream.len() + 1);
    for (name, value) in upstream {
        if is_hop_by_hop(name) || (!keep_length && name == header::CONTENT_LENGTH) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_join_table() {
        let cases = [
            (
                "https://api.x.com",
                "/v1/messages",
                None,
                "https://api.x.com/v1/messages",
            ),
            (
                "https://api.x.com/",
                "/v1/messages",
                Some("beta=true"),
                "https://api.x.com/v1/messages?beta=true",
            ),
            (
                "https://api.openai.com/v1",
                "/v1/chat/completions",
                None,
                "https://api.openai.com/v1/chat/completions",
            ),
            (
                "https://g.com/v1beta",
                "/v1beta/models/m:generateContent",
                None,
                "https://g.com/v1beta/models/m:generateContent",
            ),
            (
                "https://openrouter.ai/api",
                "/v1/chat/completions",
                None,
                "https://openrouter.ai/api/v1/chat/completions",
            ),
            (
                "https://x.com/v1",
                "/v1beta/models/m:generateContent",
                None,
                "https://x.com/v1/v1beta/models/m:generateContent",
            ),
        ];
        for (base, path, q, want) in cases {
            assert_eq!(join_url(base, path, q), want);
        }
    }

    #[test]
    fn client_credentials_never_go_upstream() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer client-token".parse().unwrap());
        h.insert("x-api-key", "client-token".parse().unwrap());
        h.insert("x-goog-api-key", "client-token".parse().unwrap());
        h.insert("connection", "keep-alive, x-drop-me".parse().unwrap());
        h.insert("x-drop-me", "1".parse().unwrap());
        h.insert("anthropic-beta", "a,b".parse().unwrap());
        h.insert("host", "gw".parse().unwrap());
        for p in Protocol::ALL {
            let out = upstream_headers(&h, p, "sk-channel", false);
            let all: Vec<String> = out
                .iter()
                .map(|(_, v)| v.to_str().unwrap().to_owned())
                .collect();
            assert!(
                all.iter().all(|v| !v.contains("client-token")),
                "{p}: {all:?}"
            );
            assert!(all.iter().any(|v| v.contains("sk-channel")), "{p}");
            assert!(
                !out.contains_key("x-drop-me")
                    && !out.contains_key("host")
                    && !out.contains_key("connection")
            );
            assert_eq!(out["anthropic-beta"], "a,b");
        }
        let a = upstream_headers(&h, Protocol::Anthropic, "sk-channel", false);
        assert_eq!(a["x-api-key"], "sk-channel");
        assert_eq!(a["anthropic-version"], "2023-06-01");
        assert_eq!(
            upstream_headers(&h, Protocol::OpenAiChat, "k", false)["authorization"],
            "Bearer k"
        );
        assert_eq!(
            upstream_headers(&h, Protocol::Gemini, "k", false)["x-goog-api-key"],
            "k"
        );
    }
}
