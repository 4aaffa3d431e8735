//! The upstream side: one pooled HTTP client (HTTP/1.1 and HTTP/2 over rustls/ring with the
//! webpki roots, TCP_NODELAY) and URL joining. What headers cross is `crate::boundary`'s job.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

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
}
