//! Shared setup: a mock upstream, a gateway on a temp SQLite file, and a plain HTTP client.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use relaygate_protocol::Protocol;
use relaygate_proxy::{Gateway, ProxyConfig, Server};
use relaygate_store::{
    ChannelLimits, ChannelSpec, ModelEntry, SqliteStore, Store, TokenLimits, TokenSpec,
};
pub use relaygate_testkit::{Behavior, MockUpstream};

pub const TOKEN: &str = "rg-test-token-0001";

pub fn temp_db() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "relaygate-proxy-it-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("db.sqlite")
}

pub fn channel(
    name: &str,
    protocol: Protocol,
    url: &str,
    keys: &[&str],
    models: &[&str],
) -> ChannelSpec {
    ChannelSpec {
        name: name.to_owned(),
        protocol,
        base_urls: vec![url.to_owned()],
        keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        models: models
            .iter()
            .map(|m| match m.split_once("=>") {
                Some((from, to)) => ModelEntry {
                    name: from.to_owned(),
                    upstream: Some(to.to_owned()),
                },
                None => ModelEntry {
                    name: (*m).to_owned(),
                    upstream: None,
                },
            })
            .collect(),
        priority: 0,
        weight: 1,
        enabled: true,
        limits: ChannelLimits::default(),
    }
}

pub struct Env {
    pub store: Arc<dyn Store>,
    #[allow(dead_code)]
    pub gateway: Gateway,
    pub server: Option<Server>,
    pub base: String,
    pub client: Client<HttpConnector, Full<Bytes>>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Whether the body ended with a transport error (connection aborted).
    pub aborted: bool,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

pub fn fast_config() -> ProxyConfig {
    let mut c = ProxyConfig::default();
    c.timeouts.first_byte = Duration::from_secs(5);
    c.timeouts.idle = Duration::from_secs(5);
    c.shutdown_grace = Duration::from_secs(5);
    c
}

/// Stores `channels` and the client token `test` (plaintext [`TOKEN`]).
pub async fn seed(store: &Arc<dyn Store>, channels: Vec<ChannelSpec>) {
    for c in channels {
        store.upsert_channel(c).await.unwrap();
    }
    store
        .upsert_token(TokenSpec {
            name: "test".to_owned(),
            token_hash: relaygate_proxy::auth::hash_token(TOKEN),
            hint: relaygate_proxy::auth::mask(TOKEN),
            enabled: true,
            expires_at_ms: None,
            limits: TokenLimits::default(),
        })
        .await
        .unwrap();
}

impl Env {
    pub async fn start(channels: Vec<ChannelSpec>) -> Env {
        Self::start_with(channels, fast_config()).await
    }

    pub async fn start_with(channels: Vec<ChannelSpec>, config: ProxyConfig) -> Env {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(temp_db()).unwrap());
        seed(&store, channels).await;
        let gateway = Gateway::new(config, Arc::clone(&store)).await.unwrap();
        let server = Server::start("127.0.0.1:0".parse().unwrap(), gateway.clone())
            .await
            .unwrap();
        let base = format!("http://{}", server.local_addr());
        Env {
            store,
            gateway,
            server: Some(server),
            base,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// POSTs `body` to `path` with the test token in the protocol's usual header.
    pub async fn post(&self, protocol: Protocol, path: &str, body: &str) -> Reply {
        let (name, value) = auth_header(protocol, TOKEN);
        self.request("POST", path, &[(name, &value)], body).await
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        send(
            &self.client,
            method,
            &format!("{}{}", self.base, path),
            headers,
            body.to_owned(),
        )
        .await
    }

    /// Flushes logs and returns them, newest first.
    pub async fn logs(&self) -> Vec<relaygate_store::RequestLog> {
        self.store.flush().await.unwrap();
        self.store
            .query_logs(relaygate_store::LogQuery {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
    }

    pub async fn shutdown(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.unwrap();
        }
    }
}

pub fn auth_header(protocol: Protocol, token: &str) -> (&'static str, String) {
    match protocol {
        Protocol::Anthropic => ("x-api-key", token.to_owned()),
        Protocol::Gemini => ("x-goog-api-key", token.to_owned()),
        Protocol::OpenAiChat | Protocol::OpenAiResponses => {
            ("authorization", format!("Bearer {token}"))
        }
    }
}

pub async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: String,
) -> Reply {
    let mut b = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        b = b.header("content-type", "application/json");
    }
    let resp = client
        .request(b.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let (parts, mut incoming) = resp.into_parts();
    let mut body = Vec::new();
    let mut aborted = false;
    while let Some(frame) = incoming.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(d) = f.into_data() {
                    body.extend_from_slice(&d);
                }
            }
            Err(_) => {
                aborted = true;
                break;
            }
        }
    }
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: Bytes::from(body),
        aborted,
    }
}

/// The same request straight to the mock, for byte-for-byte comparisons.
pub async fn direct(
    mock: &MockUpstream,
    path: &str,
    key: &str,
    protocol: Protocol,
    body: &str,
) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let (name, value) = auth_header(protocol, key);
    send(
        &client,
        "POST",
        &format!("{}{}", mock.url(), path),
        &[(name, &value)],
        body.to_owned(),
    )
    .await
}

/// The path and body of a minimal request of each protocol.
pub fn request_for(protocol: Protocol, model: &str, stream: bool) -> (String, String) {
    match protocol {
        Protocol::Anthropic => (
            "/v1/messages".to_owned(),
            format!(
                r#"{{"model":"{model}","max_tokens":32,"stream":{stream},"messages":[{{"role":"user","content":"hi \"there\"\n"}}]}}"#
            ),
        ),
        Protocol::OpenAiChat => (
            "/v1/chat/completions".to_owned(),
            format!(
                r#"{{"model":"{model}","stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
            ),
        ),
        Protocol::OpenAiResponses => (
            "/v1/responses".to_owned(),
            format!(r#"{{"model":"{model}","stream":{stream},"input":"hi"}}"#),
        ),
        Protocol::Gemini => (
            if stream {
                format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
            } else {
                format!("/v1beta/models/{model}:generateContent")
            },
            r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#.to_owned(),
        ),
    }
}

/// Two mocks behind two channels serving `model`: `a` (priority 5, tried first) and `b`.
pub async fn primary_and_backup(
    protocol: Protocol,
    model: &str,
) -> (MockUpstream, MockUpstream, Env) {
    let a = MockUpstream::start().await.unwrap();
    let b = MockUpstream::start().await.unwrap();
    let mut first = channel("a", protocol, &a.url(), &["k"], &[model]);
    first.priority = 5;
    let env = Env::start(vec![
        first,
        channel("b", protocol, &b.url(), &["k"], &[model]),
    ])
    .await;
    (a, b, env)
}
