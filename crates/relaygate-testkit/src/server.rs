use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::canned::{CannedOptions, canned_json, canned_stream};

/// How the mock answers a request.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// A valid canned answer of the route's protocol (streamed if the request asks).
    Ok,
    /// An error response with this status and body (JSON content type).
    Status {
        /// HTTP status.
        status: u16,
        /// Response body.
        body: String,
        /// Extra response headers.
        headers: Vec<(String, String)>,
    },
    /// Waits before doing `then` (no response head until then).
    Delay(Duration, Box<Behavior>),
    /// Streams the canned answer but aborts the connection after `events` events.
    CutAfter(usize),
    /// Sends these bytes with status 200 and the given content type, one element per write.
    Replay {
        /// Content type of the response.
        content_type: String,
        /// Body pieces, written one by one with `gap` between them.
        chunks: Vec<Bytes>,
    },
    /// Like `Replay`, then aborts the connection instead of ending the body.
    ReplayThenCut {
        /// Content type of the response.
        content_type: String,
        /// Body pieces, written one by one.
        chunks: Vec<Bytes>,
    },
    /// Answers the streamed/JSON canned response with a pause of this length between events.
    Slow(Duration),
}

impl Behavior {
    /// A JSON error response.
    pub fn status(status: u16, body: impl Into<String>) -> Self {
        Behavior::Status {
            status,
            body: body.into(),
            headers: Vec::new(),
        }
    }
}

/// A request as the mock received it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// All request headers.
    pub headers: HeaderMap,
    /// The request body.
    pub body: Bytes,
    /// The credential found (x-api-key, bearer, x-goog-api-key or ?key=).
    pub key: Option<String>,
    /// The HTTP version used.
    pub version: http::Version,
}

#[derive(Debug, Default)]
struct State {
    by_key: HashMap<String, Behavior>,
    default: Option<Behavior>,
    seen: Vec<SeenRequest>,
    options: CannedOptions,
    gap: Duration,
}

/// A mock upstream listening on `127.0.0.1`.
#[derive(Debug, Clone)]
pub struct MockUpstream {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

fn credential(req: &Request<Incoming>) -> Option<String> {
    let h = req.headers();
    if let Some(v) = h.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.to_owned());
    }
    if let Some(v) = h
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(v.to_owned());
    }
    if let Some(v) = h.get("x-goog-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.to_owned());
    }
    req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("key=").map(str::to_owned))
    })
}

impl MockUpstream {
    /// Starts a mock on an ephemeral port.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_on("127.0.0.1:0".parse()?).await
    }

    /// Starts a mock on `addr`.
    pub async fn start_on(addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let st = Arc::clone(&state);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let st = Arc::clone(&st);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(Arc::clone(&st), req));
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(MockUpstream { addr, state })
    }

    /// The base URL, e.g. `http://127.0.0.1:40000`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        match self.state.lock() {
            Ok(mut s) => f(&mut s),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Answers requests carrying upstream key `key` with `behavior` from now on.
    pub fn on_key(&self, key: &str, behavior: Behavior) {
        self.with(|s| s.by_key.insert(key.to_owned(), behavior));
    }

    /// Answers requests whose key has no rule with `behavior`.
    pub fn on_any(&self, behavior: Behavior) {
        self.with(|s| s.default = Some(behavior));
    }

    /// Sets the pause between streamed events (default none).
    pub fn set_event_gap(&self, gap: Duration) {
        self.with(|s| s.gap = gap);
    }

    /// Sets what canned answers say.
    pub fn set_canned(&self, options: CannedOptions) {
        self.with(|s| s.options = options);
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.with(|s| s.seen.clone())
    }

    /// Forgets seen requests and rules.
    pub fn reset(&self) {
        self.with(|s| {
            s.seen.clear();
            s.by_key.clear();
            s.default = None;
        });
    }
}

/// A body fed by a task through a channel; an `Err` aborts the connection.
struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

type MockBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn full(b: impl Into<Bytes>) -> MockBody {
    http_body_util::Full::new(b.into())
        .map_err(|never| match never {})
        .boxed()
}

fn streamed(chunks: Vec<Bytes>, gap: Duration, cut_after: Option<usize>) -> MockBody {
    let (tx, rx) = mpsc::channel(4);
    let total = chunks.len();
    tokio::spawn(async move {
        for (i, c) in chunks.into_iter().enumerate() {
            if cut_after == Some(i) {
                // Let what was written reach the peer before the connection is torn down.
                tokio::time::sleep(Duration::from_millis(30)).await;
                let _ = tx
                    .send(Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "mock cut",
                    )))
                    .await;
                return;
            }
            if i > 0 && !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            if tx.send(Ok(c)).await.is_err() {
                return;
            }
        }
        if cut_after.is_some_and(|n| n >= total) {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let _ = tx
                .send(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "mock cut",
                )))
                .await;
        }
    });
    ChannelBody { rx }.boxed()
}

fn wants_stream(path: &str, query: Option<&str>, body: &[u8]) -> (bool, bool) {
    if path.contains(":streamGenerateContent") {
        let sse = query.is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"));
        return (true, sse);
    }
    let stream = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("stream").and_then(serde_json::Value::as_bool))
        .unwrap_or(false);
    (stream, stream)
}

/// Whether a Chat request asks for the usage chunk (`stream_options.include_usage`).
fn asks_usage(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/stream_options/include_usage")
                .and_then(serde_json::Value::as_bool)
        })
        .unwrap_or(false)
}

async fn handle(
    st: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<MockBody>, Infallible> {
    let key = credential(&req);
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);

    if path == "/_mock/requests" {
        let seen: Vec<serde_json::Value> = lock(&st)
            .seen
            .iter()
            .map(|r| serde_json::json!({"method": r.method, "path": r.path, "query": r.query, "key": r.key}))
            .collect();
        return Ok(json_response(
            StatusCode::OK,
            serde_json::Value::Array(seen).to_string(),
        ));
    }

    let (behavior, options, gap) = {
        let mut s = lock(&st);
        // Bound memory under benchmark load: keep the most recent requests only.
        if s.seen.len() >= 10_000 {
            s.seen.drain(..5_000);
        }
        s.seen.push(SeenRequest {
            method: parts.method.to_string(),
            path: path.clone(),
            query: query.clone(),
            headers: parts.headers.clone(),
            body: body.clone(),
            key: key.clone(),
            version: parts.version,
        });
        let b = key
            .as_ref()
            .and_then(|k| s.by_key.get(k).cloned())
            .or_else(|| s.default.clone())
            .unwrap_or(Behavior::Ok);
        (b, s.options.clone(), s.gap)
    };
    if parts.method == http::Method::GET
        && matches!(behavior, Behavior::Ok)
        && let Some(list) = model_list(&path, &parts.headers)
    {
        return Ok(json_response(StatusCode::OK, list));
    }
    let mut options = options;
    if let Some(m) = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("model").and_then(|m| m.as_str()).map(str::to_owned))
    {
        options.model = m;
    }
    Ok(respond(behavior, &path, query.as_deref(), &body, &options, gap).await)
}

/// The answer to a model-list request (`GET /v1/models`: Anthropic's shape when the request
/// carries `anthropic-version`, OpenAI's otherwise; `GET /v1beta/models`: Gemini's), or `None`
/// for any other path.
fn model_list(path: &str, headers: &HeaderMap) -> Option<String> {
    let v = match path {
        "/v1/models" if headers.contains_key("anthropic-version") => serde_json::json!({
            "data": [
                {"type": "model", "id": "mock-claude-1", "display_name": "Mock Claude 1", "created_at": "2025-01-01T00:00:00Z"},
                {"type": "model", "id": "mock-claude-2", "display_name": "Mock Claude 2", "created_at": "2025-01-01T00:00:00Z"}
            ],
            "has_more": false, "first_id": "mock-claude-1", "last_id": "mock-claude-2"
        }),
        "/v1/models" => serde_json::json!({
            "object": "list",
            "data": [
                {"id": "mock-gpt-1", "object": "model", "created": 1_700_000_000, "owned_by": "mock"},
                {"id": "mock-gpt-2", "object": "model", "created": 1_700_000_000, "owned_by": "mock"}
            ]
        }),
        "/v1beta/models" => serde_json::json!({
            "models": [
                {"name": "models/mock-gemini-1", "displayName": "Mock Gemini 1",
                 "supportedGenerationMethods": ["generateContent", "countTokens"]},
                {"name": "models/mock-gemini-2", "displayName": "Mock Gemini 2",
                 "supportedGenerationMethods": ["generateContent", "countTokens"]}
            ]
        }),
        _ => return None,
    };
    Some(v.to_string())
}

enum Kind {
    Plain,
    Cut,
}

fn lock(st: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    match st.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn json_response(status: StatusCode, body: String) -> Response<MockBody> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn respond<'a>(
    behavior: Behavior,
    path: &'a str,
    query: Option<&'a str>,
    body: &'a [u8],
    options: &'a CannedOptions,
    gap: Duration,
) -> Pin<Box<dyn std::future::Future<Output = Response<MockBody>> + Send + 'a>> {
    Box::pin(async move {
        let (stream, sse) = wants_stream(path, query, body);
        let behavior_kind = if matches!(behavior, Behavior::ReplayThenCut { .. }) {
            Kind::Cut
        } else {
            Kind::Plain
        };
        match behavior {
            Behavior::Delay(d, then) => {
                tokio::time::sleep(d).await;
                respond(*then, path, query, body, options, gap).await
            }
            Behavior::Status {
                status,
                body,
                headers,
            } => {
                let mut r = json_response(
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    body,
                );
                for (k, v) in headers {
                    if let (Ok(k), Ok(v)) = (
                        http::HeaderName::from_bytes(k.as_bytes()),
                        http::HeaderValue::from_str(&v),
                    ) {
                        r.headers_mut().insert(k, v);
                    }
                }
                r
            }
            Behavior::Replay {
                content_type,
                chunks,
            }
            | Behavior::ReplayThenCut {
                content_type,
                chunks,
            } => {
                let cut = matches!(behavior_kind, Kind::Cut).then_some(chunks.len());
                let mut r = Response::new(streamed(chunks, gap, cut));
                if let Ok(v) = http::HeaderValue::from_str(&content_type) {
                    r.headers_mut().insert(http::header::CONTENT_TYPE, v);
                }
                r
            }
            Behavior::Ok | Behavior::Slow(_) | Behavior::CutAfter(_) => {
                let gap = match behavior {
                    Behavior::Slow(g) => g,
                    _ => gap,
                };
                let cut = match behavior {
                    Behavior::CutAfter(n) => Some(n),
                    _ => None,
                };
                if stream && sse {
                    let mut events = canned_stream(path, options);
                    if path.ends_with("/chat/completions") && !asks_usage(body) {
                        // As OpenAI does: the usage chunk comes only when asked for.
                        let needle: &[u8] = b"\"choices\":[]";
                        events.retain(|e| !e.windows(needle.len()).any(|w| w == needle));
                    }
                    let mut r = Response::new(streamed(events, gap, cut));
                    r.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/event-stream"),
                    );
                    r.headers_mut().insert(
                        http::header::CACHE_CONTROL,
                        http::HeaderValue::from_static("no-cache"),
                    );
                    r
                } else if stream {
                    // Gemini without alt=sse streams one JSON array, element by element.
                    let events = canned_stream(path, options);
                    let n = events.len();
                    let mut chunks = Vec::with_capacity(n);
                    for (i, e) in events.iter().enumerate() {
                        let text = String::from_utf8_lossy(e);
                        let json = text.trim().strip_prefix("data: ").unwrap_or(&text);
                        let mut piece = String::from(if i == 0 { "[" } else { ",\r\n" });
                        piece.push_str(json);
                        if i + 1 == n {
                            piece.push(']');
                        }
                        chunks.push(Bytes::from(piece));
                    }
                    let mut r = Response::new(streamed(chunks, gap, cut));
                    r.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    r
                } else {
                    json_response(
                        StatusCode::OK,
                        String::from_utf8_lossy(&canned_json(path, options)).into_owned(),
                    )
                }
            }
        }
    })
}
