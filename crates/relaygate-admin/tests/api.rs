//! The admin API end to end: a real gateway server with the admin side handler, on a temporary
//! SQLite file, in front of the mock upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use relaygate_admin::{AdminConfig, PasswordSetup, api::ROUTES, ensure_password};
use relaygate_proxy::{Gateway, ProxyConfig, Server};
use relaygate_store::{AdminStore as _, SqliteStore, Store, TokenLimits, TokenSpec};
use relaygate_testkit::MockUpstream;
use serde_json::{Value, json};

const PASSWORD: &str = "admin-password-1";
const CLIENT_TOKEN: &str = "rg-client-token-0001";

struct Env {
    _mock: MockUpstream,
    mock_url: String,
    store: Arc<dyn Store>,
    server: Option<Server>,
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How a request authenticates.
#[derive(Clone)]
enum Auth {
    None,
    Bearer(String),
    /// Cookie session, with an optional CSRF header.
    Cookie(String, Option<String>),
}

impl Env {
    async fn start() -> Env {
        Self::start_with(AdminConfig::default()).await
    }

    async fn start_with(admin: AdminConfig) -> Env {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "relaygate-admin-it-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.join("db.sqlite")).unwrap());
        store
            .upsert_token(TokenSpec {
                name: "client".to_owned(),
                token_hash: relaygate_proxy::auth::hash_token(CLIENT_TOKEN),
                hint: "x".to_owned(),
                enabled: true,
                expires_at_ms: None,
                limits: TokenLimits::default(),
            })
            .await
            .unwrap();
        assert_eq!(
            ensure_password(&*store, Some(PASSWORD)).await.unwrap(),
            PasswordSetup::FromConfig
        );
        let mock = MockUpstream::start().await.unwrap();
        let gateway = Gateway::new(ProxyConfig::default(), Arc::clone(&store))
            .await
            .unwrap();
        gateway.set_side_handler(relaygate_admin::side_handler(gateway.clone(), admin));
        let server = Server::start("127.0.0.1:0".parse().unwrap(), gateway)
            .await
            .unwrap();
        let base = format!("http://{}", server.local_addr());
        Env {
            mock_url: mock.url(),
            _mock: mock,
            store,
            server: Some(server),
            base,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn call(&self, method: Method, path: &str, auth: &Auth, body: Option<Value>) -> Reply {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        match auth {
            Auth::None => {}
            Auth::Bearer(t) => b = b.header("authorization", format!("Bearer {t}")),
            Auth::Cookie(t, csrf) => {
                b = b.header("cookie", format!("relaygate_session={t}"));
                if let Some(c) = csrf {
                    b = b.header("x-relaygate-csrf", c);
                }
            }
        }
        let body = match body {
            Some(v) => {
                b = b.header("content-type", "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let resp = self
            .client
            .request(b.body(Full::new(body)).unwrap())
            .await
            .unwrap();
        let (parts, mut body) = resp.into_parts();
        // A live stream never ends by itself: take its first frame only.
        let body = if parts
            .headers
            .get("content-type")
            .is_some_and(|v| v == "text/event-stream")
        {
            match body.frame().await {
                Some(Ok(f)) => f.into_data().unwrap_or_default(),
                _ => Bytes::new(),
            }
        } else {
            body.collect().await.unwrap().to_bytes()
        };
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    async fn raw(&self, method: Method, path: &str, auth: &Auth, body: &str) -> Reply {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        if let Auth::Bearer(t) = auth {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let resp = self
            .client
            .request(b.body(Full::new(Bytes::from(body.to_owned()))).unwrap())
            .await
            .unwrap();
        let (parts, body) = resp.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    /// Logs in; returns (session token, csrf token).
    async fn login(&self) -> (String, String) {
        let r = self
            .call(
                Method::POST,
                "/admin/api/login",
                &Auth::None,
                Some(json!({"password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let cookies: Vec<String> = r
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert!(
            cookies.iter().any(|c| c.starts_with("relaygate_session=")
                && c.contains("HttpOnly")
                && c.contains("SameSite=Strict")),
            "{cookies:?}"
        );
        let v = r.json();
        (
            v["token"].as_str().unwrap().to_owned(),
            v["csrf_token"].as_str().unwrap().to_owned(),
        )
    }

    async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.unwrap();
        }
    }
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{index}", "0")
        .replace("{key}", "dashboard.title")
        .replace("{request_id}", "nope")
}

fn method(m: &str) -> Method {
    Method::from_bytes(m.as_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_refuses_without_a_session() {
    let env = Env::start().await;
    let (token, _csrf) = env.login().await;
    let stored_hash = relaygate_admin::auth::sha256_hex(&token);
    let refusals = [
        Auth::None,
        Auth::Bearer(CLIENT_TOKEN.to_owned()),
        Auth::Bearer(relaygate_proxy::auth::hash_token(CLIENT_TOKEN)),
        Auth::Bearer(stored_hash.clone()),
        Auth::Bearer("0".repeat(64)),
        Auth::Cookie(stored_hash, None),
    ];
    let mut checked = 0;
    for (m, path) in ROUTES.iter().skip(1) {
        for auth in &refusals {
            let r = env
                .call(method(m), &concrete(path), auth, Some(json!({})))
                .await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{m} {path}: {}",
                r.text()
            );
            checked += 1;
        }
        // A cookie session without the CSRF header may read but not change anything.
        let r = env
            .call(
                method(m),
                &concrete(path),
                &Auth::Cookie(token.clone(), None),
                Some(json!({})),
            )
            .await;
        if *m == "GET" {
            assert_ne!(r.status, StatusCode::UNAUTHORIZED, "{m} {path}");
            assert_ne!(r.status, StatusCode::FORBIDDEN, "{m} {path}");
        } else {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{m} {path}: {}", r.text());
        }
        // Every listed route exists (a session gets past the middleware to a handler).
        if *path == "/admin/api/logout" {
            continue;
        }
        let r = env
            .call(
                method(m),
                &concrete(path),
                &Auth::Bearer(token.clone()),
                None,
            )
            .await;
        assert_ne!(r.status, StatusCode::UNAUTHORIZED, "{m} {path}");
        assert!(
            r.status != StatusCode::METHOD_NOT_ALLOWED,
            "{m} {path} is not routed"
        );
    }
    assert_eq!(checked, (ROUTES.len() - 1) * refusals.len());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_exactly_the_routes() {
    let doc = relaygate_admin::openapi::document();
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (m, op) in ops.as_object().unwrap() {
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()));
            documented.insert((m.to_ascii_uppercase(), path.clone()));
        }
    }
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, routed);
    // And it is served.
    let env = Env::start().await;
    let (token, _) = env.login().await;
    let r = env
        .call(
            Method::GET,
            "/admin/api/openapi.json",
            &Auth::Bearer(token),
            None,
        )
        .await;
    assert_eq!(r.json()["openapi"], "3.0.3");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_failures_lock_out_and_logout_ends_the_session() {
    let env = Env::start().await;
    let (token, csrf) = env.login().await;
    let bearer = Auth::Bearer(token.clone());
    assert_eq!(
        env.call(Method::GET, "/admin/api/session", &bearer, None)
            .await
            .status,
        StatusCode::OK
    );
    // Cookie session with the CSRF token may change things.
    let cookie = Auth::Cookie(token.clone(), Some(csrf.clone()));
    let r = env
        .call(
            Method::PUT,
            "/admin/api/settings/dashboard.title",
            &cookie,
            Some(json!({"value": "lab"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let wrong_csrf = Auth::Cookie(token.clone(), Some("f".repeat(32)));
    let r = env
        .call(Method::POST, "/admin/api/logout", &wrong_csrf, None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Missing, wrong-typed and unknown fields name the field.
    let r = env
        .raw(Method::POST, "/admin/api/login", &Auth::None, "{}")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["field"], "password");
    let r = env
        .raw(
            Method::POST,
            "/admin/api/login",
            &Auth::None,
            r#"{"password": 5}"#,
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "password");
    // Malformed bodies counted as attempts too; a success starts the count over.
    env.login().await;
    // Five wrong passwords lock out, even the right one.
    for i in 0..5 {
        let r = env
            .call(
                Method::POST,
                "/admin/api/login",
                &Auth::None,
                Some(json!({"password": format!("wrong-{i}")})),
            )
            .await;
        let expected = if i < 4 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(r.status, expected, "attempt {i}: {}", r.text());
    }
    let r = env
        .call(
            Method::POST,
            "/admin/api/login",
            &Auth::None,
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.get("retry-after").is_some());
    // Logout ends the session.
    let r = env
        .call(Method::POST, "/admin/api/logout", &bearer, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        env.call(Method::GET, "/admin/api/session", &bearer, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_password_is_stored_once() {
    let dir = std::env::temp_dir().join(format!("relaygate-admin-pw-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = SqliteStore::open(dir.join("db.sqlite")).unwrap();
    let PasswordSetup::Generated(pw) = ensure_password(&store, None).await.unwrap() else {
        panic!("expected a generated password");
    };
    assert!(pw.len() >= 16);
    assert_eq!(
        ensure_password(&store, None).await.unwrap(),
        PasswordSetup::Kept
    );
    let hash = store
        .get_setting(relaygate_admin::auth::PASSWORD_SETTING.to_owned())
        .await
        .unwrap()
        .unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains(&pw));
    assert!(relaygate_admin::auth::verify_password(&pw, &hash));
    assert!(ensure_password(&store, Some("short")).await.is_err());
    store.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_tokens_logs_and_stats_work_without_a_restart() {
    let env = Env::start().await;
    let (token, _) = env.login().await;
    let a = Auth::Bearer(token);
    let channel = json!({
        "name": "mock", "protocol": "anthropic", "base_urls": [env.mock_url],
        "keys": ["sk-mock-key-000001", {"secret": "sk-mock-key-000002", "enabled": false}],
        "models": ["claude-test", {"name": "alias", "upstream": "claude-test"}],
        "priority": 3, "weight": 2, "rpm_limit": 100, "max_concurrency": 5,
        "key_strategy": "round_robin", "available_hours": "00:00-23:59"
    });
    // Bad input: each answer names the field.
    for (patch, field) in [
        (json!({"base_urls": ["ftp://x"]}), "base_urls[0]"),
        (json!({"base_urls": ["http://"]}), "base_urls[0]"),
        (json!({"weight": "heavy"}), "weight"),
        (json!({"name": "n".repeat(300)}), "name"),
        (json!({"protocol": "grpc"}), "protocol"),
        (json!({"models": []}), "models"),
        (json!({"keys": [""]}), "keys[0]"),
        (json!({"available_hours": "25:00-26:00"}), "available_hours"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let mut bad = channel.clone();
        for (k, v) in patch.as_object().unwrap() {
            bad[k] = v.clone();
        }
        let r = env
            .call(Method::POST, "/admin/api/channels", &a, Some(bad))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}: {}", r.text());
        assert_eq!(r.json()["error"]["field"], field, "{}", r.text());
    }
    let mut missing = channel.clone();
    missing.as_object_mut().unwrap().remove("name");
    let r = env
        .call(Method::POST, "/admin/api/channels", &a, Some(missing))
        .await;
    assert_eq!(r.json()["error"]["field"], "name");

    let r = env
        .call(
            Method::POST,
            "/admin/api/channels",
            &a,
            Some(channel.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let c = r.json();
    let id = c["id"].as_i64().unwrap();
    assert_eq!(c["keys"][0]["masked"], "…0001");
    assert!(c["keys"][0].get("secret").is_none());
    assert_eq!(c["keys"][1]["enabled"], false);
    assert_eq!(c["models"][1]["upstream"], "claude-test");
    let dup = env
        .call(
            Method::POST,
            "/admin/api/channels",
            &a,
            Some(channel.clone()),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let r = env
        .call(
            Method::POST,
            &format!("/admin/api/channels/{id}/keys/reveal"),
            &a,
            None,
        )
        .await;
    assert_eq!(r.json()["keys"][1]["secret"], "sk-mock-key-000002");

    // A client token made here works at once; its plaintext is shown only at creation.
    let r = env
        .call(
            Method::POST,
            "/admin/api/tokens",
            &a,
            Some(json!({"name": "ui", "allowed_models": ["claude-test"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let plain = r.json()["token"].as_str().unwrap().to_owned();
    let token_id = r.json()["id"].as_i64().unwrap();
    let listed = env
        .call(Method::GET, "/admin/api/tokens", &a, None)
        .await
        .text();
    assert!(!listed.contains(&plain));
    // The new token never opens admin routes.
    let r = env
        .call(
            Method::GET,
            "/admin/api/channels",
            &Auth::Bearer(plain.clone()),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // A proxied request through the channel.
    let r = env
        .call(
            Method::POST,
            "/v1/messages",
            &Auth::Bearer(plain.clone()),
            Some(json!({"model": "claude-test", "max_tokens": 5,
                        "messages": [{"role": "user", "content": "hi"}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let request_id = r.headers["x-relaygate-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    env.store.flush().await.unwrap();

    let logs = env
        .call(
            Method::GET,
            &format!("/admin/api/logs?channel_id={id}&status=ok&q=claude&token_id={token_id}"),
            &a,
            None,
        )
        .await
        .json();
    assert_eq!(logs["rows"].as_array().unwrap().len(), 1, "{logs}");
    assert_eq!(logs["rows"][0]["request_id"], request_id.as_str());
    let detail = env
        .call(
            Method::GET,
            &format!("/admin/api/logs/{request_id}"),
            &a,
            None,
        )
        .await
        .json();
    assert_eq!(detail["attempt_log"][0]["outcome"], "ok");
    let r = env
        .call(Method::GET, "/admin/api/logs?limit=0", &a, None)
        .await;
    assert_eq!(r.json()["error"]["field"], "limit");
    let r = env
        .call(Method::GET, "/admin/api/logs?from=yesterday", &a, None)
        .await;
    assert_eq!(r.json()["error"]["field"], "from");

    let stats = env
        .call(
            Method::GET,
            "/admin/api/stats?group_by=channel&bucket=hour",
            &a,
            None,
        )
        .await
        .json();
    assert_eq!(stats["rows"][0]["key"], "mock", "{stats}");
    assert_eq!(stats["rows"][0]["requests"], 1);
    assert!(stats["rows"][0]["p50_ms"].as_u64().is_some());
    let r = env
        .call(Method::GET, "/admin/api/stats?bucket=week", &a, None)
        .await;
    assert_eq!(r.json()["error"]["field"], "bucket");
    let metrics = env
        .call(Method::GET, "/metrics", &Auth::None, None)
        .await
        .text();
    assert!(
        metrics.contains("relaygate_requests_total{channel=\"mock\",model=\"claude-test\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("relaygate_request_duration_seconds_bucket"));

    // Disabling the channel applies to the next request without a restart.
    let r = env
        .call(
            Method::POST,
            &format!("/admin/api/channels/{id}/disable"),
            &a,
            None,
        )
        .await;
    assert_eq!(r.json()["enabled"], false);
    let r = env
        .call(
            Method::POST,
            "/v1/messages",
            &Auth::Bearer(plain.clone()),
            Some(json!({"model": "claude-test", "max_tokens": 5,
                        "messages": [{"role": "user", "content": "hi"}]})),
        )
        .await;
    assert_ne!(r.status, StatusCode::OK);
    env.call(
        Method::POST,
        &format!("/admin/api/channels/{id}/enable"),
        &a,
        None,
    )
    .await;
    // Update keeping keys by index, and a rename.
    let mut upd = channel.clone();
    upd["name"] = json!("mock-2");
    upd["keys"] = json!([{"keep": 1, "enabled": true}, "sk-new-key-000003"]);
    let r = env
        .call(
            Method::PUT,
            &format!("/admin/api/channels/{id}"),
            &a,
            Some(upd),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let id2 = r.json()["id"].as_i64().unwrap();
    let revealed = env
        .call(
            Method::POST,
            &format!("/admin/api/channels/{id2}/keys/reveal"),
            &a,
            None,
        )
        .await
        .json();
    assert_eq!(revealed["keys"][0]["secret"], "sk-mock-key-000002");
    assert_eq!(revealed["keys"][1]["secret"], "sk-new-key-000003");

    // Export, delete, import: every field round-trips.
    let export = env
        .call(Method::POST, "/admin/api/channels/export", &a, None)
        .await
        .json();
    let r = env
        .call(
            Method::DELETE,
            &format!("/admin/api/channels/{id2}"),
            &a,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = env
        .call(
            Method::POST,
            "/admin/api/channels/import",
            &a,
            Some(export.clone()),
        )
        .await;
    assert_eq!(r.json()["created"], 1, "{}", r.text());
    let again = env
        .call(Method::POST, "/admin/api/channels/export", &a, None)
        .await
        .json();
    assert_eq!(export, again);
    let mut bad = export.clone();
    bad["channels"][0]["base_urls"][0] = json!("nope");
    let r = env
        .call(Method::POST, "/admin/api/channels/import", &a, Some(bad))
        .await;
    assert_eq!(r.json()["error"]["field"], "channels[0].base_urls[0]");

    // Token update and delete.
    let r = env
        .call(
            Method::PUT,
            &format!("/admin/api/tokens/{token_id}"),
            &a,
            Some(json!({"enabled": false, "max_concurrency": 2})),
        )
        .await;
    assert_eq!(r.json()["enabled"], false);
    let r = env
        .call(
            Method::DELETE,
            &format!("/admin/api/tokens/{token_id}"),
            &a,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // Settings: known keys only, values checked.
    let r = env
        .call(
            Method::PUT,
            "/admin/api/settings/dashboard.refresh_secs",
            &a,
            Some(json!({"value": "0"})),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "value");
    let r = env
        .call(
            Method::PUT,
            "/admin/api/settings/admin.password_hash",
            &a,
            Some(json!({"value": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let settings = env
        .call(Method::GET, "/admin/api/settings", &a, None)
        .await
        .text();
    assert!(!settings.contains("argon2"));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_dashboard_and_404() {
    let env = Env::start().await;
    for (path, status) in [
        ("/healthz", StatusCode::OK),
        ("/readyz", StatusCode::OK),
        ("/metrics", StatusCode::OK),
        ("/", StatusCode::OK),
        ("/dashboard/app.js", StatusCode::OK),
        ("/dashboard/nope.js", StatusCode::NOT_FOUND),
        ("/no/such/thing", StatusCode::NOT_FOUND),
        ("/admin/api/nothing", StatusCode::NOT_FOUND),
    ] {
        let r = env.call(Method::GET, path, &Auth::None, None).await;
        assert_eq!(r.status, status, "{path}: {}", r.text());
        if status == StatusCode::NOT_FOUND {
            assert!(r.json()["error"]["message"].is_string());
        }
    }
    let html = env.call(Method::GET, "/", &Auth::None, None).await;
    assert!(
        html.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_test_upstream_models_url_switches_and_csv() {
    let env = Env::start().await;
    let (token, _) = env.login().await;
    let a = Auth::Bearer(token);
    env._mock.on_key(
        "sk-mock-bad-000002",
        relaygate_testkit::Behavior::status(
            401,
            r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
        ),
    );
    let channel = json!({
        "name": "mock, \"main\"", "protocol": "anthropic",
        "base_urls": [env.mock_url, "http://127.0.0.1:9/v1"],
        "keys": ["sk-mock-good-000001", {"secret": "sk-mock-bad-000002", "enabled": false}],
        "models": ["claude-test", {"name": "alias", "upstream": "claude-test"}],
        "priority": -2, "weight": 3, "rpm_limit": 100, "max_concurrency": 5, "enabled": true,
        "key_strategy": "round_robin", "available_hours": "00:00-23:59"
    });
    let r = env
        .call(Method::POST, "/admin/api/channels", &a, Some(channel))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["id"].as_i64().unwrap();
    let test = format!("/admin/api/channels/{id}/test");

    // Test: no body means the first enabled key and the first model.
    let r = env.call(Method::POST, &test, &a, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let t = r.json();
    assert_eq!(t["ok"], true, "{t}");
    assert_eq!(t["status"], 200);
    assert_eq!(t["answer_text"], "Hello from the mock upstream.");
    assert!(t["latency_ms"].as_u64().is_some() && t["first_byte_ms"].as_u64().is_some());
    assert!(t["error"].is_null());
    // A failing key: reported, nothing cools.
    let r = env
        .call(
            Method::POST,
            &test,
            &a,
            Some(json!({"key_index": 1, "model": "alias"})),
        )
        .await;
    let t = r.json();
    assert_eq!(t["ok"], false, "{t}");
    assert_eq!(t["status"], 401);
    assert!(t["error"].as_str().unwrap().contains("invalid x-api-key"));
    let cooling = env
        .call(Method::GET, "/admin/api/cooldowns", &a, None)
        .await;
    assert_eq!(cooling.json()["cooldowns"], json!([]));
    for (body, field) in [
        (json!({"key_index": 9}), "key_index"),
        (json!({"key_index": "x"}), "key_index"),
        (json!({"model": ""}), "model"),
        (json!({"colour": 1}), "colour"),
    ] {
        let r = env.call(Method::POST, &test, &a, Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
        assert_eq!(r.json()["error"]["field"], field, "{}", r.text());
    }
    let r = env
        .call(Method::POST, "/admin/api/channels/999/test", &a, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The upstream's model list.
    let r = env
        .call(
            Method::GET,
            &format!("/admin/api/channels/{id}/upstream-models"),
            &a,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json()["models"],
        json!(["mock-claude-1", "mock-claude-2"])
    );
    let dead = env
        .call(
            Method::POST,
            "/admin/api/channels",
            &a,
            Some(
                json!({"name": "dead", "protocol": "gemini", "base_urls": ["http://127.0.0.1:9"],
                        "keys": ["k"], "models": ["g"]}),
            ),
        )
        .await;
    let dead_id = dead.json()["id"].as_i64().unwrap();
    let r = env
        .call(
            Method::GET,
            &format!("/admin/api/channels/{dead_id}/upstream-models"),
            &a,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text());
    assert!(r.json()["error"]["message"].as_str().is_some());

    // URL switches.
    let r = env
        .call(
            Method::POST,
            &format!("/admin/api/channels/{id}/urls/1/disable"),
            &a,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["disabled_urls"], json!([1]));
    let cooling = env
        .call(Method::GET, "/admin/api/cooldowns", &a, None)
        .await
        .json();
    let list = cooling["cooldowns"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{cooling}");
    assert_eq!(list[0]["target"], format!("url:{id}:1"));
    assert_eq!(list[0]["reason"], "manual_disable");
    for (path, status, field) in [
        (
            format!("/admin/api/channels/{id}/urls/5/disable"),
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            format!("/admin/api/channels/{id}/urls/x/disable"),
            StatusCode::BAD_REQUEST,
            Some("index"),
        ),
        (
            "/admin/api/channels/999/urls/0/enable".to_owned(),
            StatusCode::NOT_FOUND,
            None,
        ),
    ] {
        let r = env.call(Method::POST, &path, &a, None).await;
        assert_eq!(r.status, status, "{path}: {}", r.text());
        if let Some(f) = field {
            assert_eq!(r.json()["error"]["field"], f);
        }
    }
    let r = env
        .call(
            Method::POST,
            &format!("/admin/api/channels/{id}/urls/1/enable"),
            &a,
            None,
        )
        .await;
    assert_eq!(r.json()["disabled_urls"], json!([]));
    // A switch-off follows a rename (a new id) and goes with its URL position.
    env.call(
        Method::POST,
        &format!("/admin/api/channels/{id}/urls/1/disable"),
        &a,
        None,
    )
    .await;
    let mut edit = json!({
        "name": "mock, \"main\" renamed", "protocol": "anthropic",
        "base_urls": [env.mock_url, "http://127.0.0.1:9/v1"],
        "models": ["claude-test", {"name": "alias", "upstream": "claude-test"}],
        "priority": -2, "weight": 3, "rpm_limit": 100, "max_concurrency": 5, "enabled": true,
        "key_strategy": "round_robin", "available_hours": "00:00-23:59"
    });
    let r = env
        .call(
            Method::PUT,
            &format!("/admin/api/channels/{id}"),
            &a,
            Some(edit.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let new_id = r.json()["id"].as_i64().unwrap();
    assert_ne!(new_id, id);
    assert_eq!(r.json()["disabled_urls"], json!([1]));
    let targets: Vec<Value> = env
        .call(Method::GET, "/admin/api/cooldowns", &a, None)
        .await
        .json()["cooldowns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["target"].clone())
        .collect();
    assert_eq!(targets, [json!(format!("url:{new_id}:1"))]);
    edit["base_urls"] = json!([env.mock_url]);
    let r = env
        .call(
            Method::PUT,
            &format!("/admin/api/channels/{new_id}"),
            &a,
            Some(edit),
        )
        .await;
    assert_eq!(r.json()["disabled_urls"], json!([]));
    let cooling = env
        .call(Method::GET, "/admin/api/cooldowns", &a, None)
        .await;
    assert_eq!(cooling.json()["cooldowns"], json!([]));

    // CSV: export, import into a fresh gateway, export again: identical (JSON export too).
    let r = env
        .call(Method::POST, "/admin/api/channels/export.csv", &a, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text();
    assert!(csv.contains("sk-mock-bad-000002") && csv.contains("alias=>claude-test"));
    let json_export = env
        .call(Method::POST, "/admin/api/channels/export", &a, None)
        .await
        .json();
    let other = Env::start().await;
    let (token2, _) = other.login().await;
    let b = Auth::Bearer(token2);
    let r = other
        .raw(Method::POST, "/admin/api/channels/import.csv", &b, &csv)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), json!({"created": 2, "updated": 0}));
    let again = other
        .call(Method::POST, "/admin/api/channels/export.csv", &b, None)
        .await
        .text();
    assert_eq!(again, csv);
    let json_again = other
        .call(Method::POST, "/admin/api/channels/export", &b, None)
        .await
        .json();
    assert_eq!(json_again, json_export);
    // Importing again updates by name.
    let r = other
        .raw(Method::POST, "/admin/api/channels/import.csv", &b, &csv)
        .await;
    assert_eq!(r.json(), json!({"created": 0, "updated": 2}));
    // Bad CSV names the cell.
    for (text, field) in [
        ("", "csv"),
        (
            "name,protocol,base_urls,keys,models,weight\nx,openai,https://x.example,k,m,heavy\n",
            "rows[0].weight",
        ),
        (
            "name,protocol,base_urls,keys,models\nx,openai,ftp://x,k,m\n",
            "rows[0].base_urls[0]",
        ),
        ("name,colour\n", "columns[1]"),
    ] {
        let r = other
            .raw(Method::POST, "/admin/api/channels/import.csv", &b, text)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{text}: {}", r.text());
        assert_eq!(r.json()["error"]["field"], field, "{}", r.text());
    }
    other.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_in_flight_are_pushed_live() {
    let env = Env::start().await;
    let (token, _) = env.login().await;
    let req = Request::builder()
        .method(Method::GET)
        .uri(format!("{}/admin/api/active/stream", env.base))
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = env.client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    // Two pushes arrive without asking again.
    let mut text = String::new();
    while text.matches("event: active").count() < 2 {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
            .await
            .expect("a push every half second")
            .unwrap()
            .unwrap();
        text.push_str(std::str::from_utf8(&frame.into_data().unwrap()).unwrap());
    }
    let first = text.split("\n\n").next().unwrap();
    let data = first
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap();
    let v: Value = serde_json::from_str(data).unwrap();
    assert!(v["active"].is_array());
    drop(body);
    env.stop().await;
}

/// A login as a hostile client would send it: any headers, any body.
async fn login_raw(env: &Env, headers: &[(&str, &str)], body: String) -> Reply {
    let mut b = Request::builder()
        .method(Method::POST)
        .uri(format!("{}/admin/api/login", env.base))
        .header("content-type", "application/json");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = env
        .client
        .request(b.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

fn cookies_of(r: &Reply) -> Vec<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_cannot_be_turned_into_a_weapon() {
    let env = Env::start_with(AdminConfig {
        max_failures: 1000,
        max_concurrent_logins: 1,
        login_timeout: std::time::Duration::from_millis(300),
        ..AdminConfig::default()
    })
    .await;
    let good = json!({"password": PASSWORD}).to_string();
    // A flood of concurrent wrong logins: one argon2 at a time, the rest 429 at once.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (client, base) = (env.client.clone(), env.base.clone());
        tasks.push(tokio::spawn(async move {
            let req = Request::builder()
                .method(Method::POST)
                .uri(format!("{base}/admin/api/login"))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(format!(
                    r#"{{"password":"wrong-{i}"}}"#
                ))))
                .unwrap();
            let resp = client.request(req).await.unwrap();
            (resp.status(), resp.headers().get("retry-after").cloned())
        }));
    }
    let mut busy = 0;
    for t in tasks {
        let (status, retry) = t.await.unwrap();
        match status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                busy += 1;
                assert_eq!(retry.unwrap(), "1");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "no login was turned away while argon2 was busy");
    // Bodies over 4 KiB are refused before any hashing.
    let big = json!({"password": "x".repeat(5000)}).to_string();
    let r = login_raw(&env, &[], big).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    // A body that never arrives: 408 after the login timeout.
    let addr = env.base.trim_start_matches("http://").to_owned();
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut sock,
        b"POST /admin/api/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"pass",
    )
    .await
    .unwrap();
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        tokio::io::AsyncReadExt::read(&mut sock, &mut answer),
    )
    .await
    .expect("a stalled login body was kept open")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // No Secure cookie on plain HTTP, and an untrusted peer cannot claim HTTPS.
    let r = login_raw(&env, &[("x-forwarded-proto", "https")], good.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(cookies_of(&r).iter().all(|c| !c.contains("Secure")));
    env.stop().await;

    let env = Env::start_with(AdminConfig {
        secure_cookies: true,
        ..AdminConfig::default()
    })
    .await;
    let r = login_raw(&env, &[], good.clone()).await;
    assert!(
        cookies_of(&r).iter().all(|c| c.contains("; Secure")),
        "{:?}",
        cookies_of(&r)
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    let good = json!({"password": PASSWORD}).to_string();
    let bad = json!({"password": "wrong-password"}).to_string();
    // Untrusted: x-forwarded-for is ignored, so rotating it does not escape the lockout.
    let env = Env::start_with(AdminConfig {
        max_failures: 2,
        ..AdminConfig::default()
    })
    .await;
    for ip in ["1.1.1.1", "2.2.2.2"] {
        let r = login_raw(&env, &[("x-forwarded-for", ip)], bad.clone()).await;
        assert_ne!(r.status, StatusCode::OK);
    }
    let r = login_raw(&env, &[("x-forwarded-for", "3.3.3.3")], good.clone()).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    env.stop().await;
    // Trusted: each forwarded client has its own count, and the proxy's https counts.
    let env = Env::start_with(AdminConfig {
        max_failures: 2,
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        ..AdminConfig::default()
    })
    .await;
    for _ in 0..2 {
        let r = login_raw(&env, &[("x-forwarded-for", "1.1.1.1")], bad.clone()).await;
        assert_ne!(r.status, StatusCode::OK);
    }
    let r = login_raw(&env, &[("x-forwarded-for", "1.1.1.1")], good.clone()).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = login_raw(
        &env,
        &[
            ("x-forwarded-for", "9.9.9.9, 2.2.2.2"),
            ("x-forwarded-proto", "https"),
        ],
        good.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(cookies_of(&r).iter().all(|c| c.contains("; Secure")));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporting_keys_takes_a_post_with_csrf() {
    let env = Env::start().await;
    let (token, csrf) = env.login().await;
    let bearer = Auth::Bearer(token.clone());
    let channel = json!({
        "name": "c1", "protocol": "anthropic", "base_urls": [env.mock_url],
        "keys": ["sk-export-secret-0001"], "models": ["claude-test"]
    });
    let r = env
        .call(Method::POST, "/admin/api/channels", &bearer, Some(channel))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    for path in [
        "/admin/api/channels/export",
        "/admin/api/channels/export.csv",
    ] {
        // A link (GET) can be followed by any page the admin visits: it must not export.
        let r = env.call(Method::GET, path, &bearer, None).await;
        assert_ne!(r.status, StatusCode::OK, "{path}");
        assert!(!r.text().contains("sk-export-secret-0001"));
        // A cookie session without the CSRF header: refused.
        let r = env
            .call(Method::POST, path, &Auth::Cookie(token.clone(), None), None)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        let r = env
            .call(
                Method::POST,
                path,
                &Auth::Cookie(token.clone(), Some(csrf.clone())),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(r.text().contains("sk-export-secret-0001"));
    }
    // Everywhere else a key shows at most its last 4 characters.
    let list = env
        .call(Method::GET, "/admin/api/channels", &bearer, None)
        .await
        .text();
    assert!(!list.contains("sk-export-secret"), "{list}");
    assert!(list.contains("…0001"), "{list}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_flood_leaves_metrics_flat() {
    let env = Env::start().await;
    let lines = |text: &str| text.lines().filter(|l| !l.starts_with('#')).count();
    let before = env
        .call(Method::GET, "/metrics", &Auth::None, None)
        .await
        .text();
    for i in 0..2000 {
        let token = if i % 2 == 0 { "wrong-token-0001" } else { "" };
        let body = json!({"model": format!("invented-{i}"), "max_tokens": 1,
            "messages": [{"role": "user", "content": "x"}]})
        .to_string();
        let mut b = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/v1/messages", env.base))
            .header("content-type", "application/json");
        if !token.is_empty() {
            b = b.header("x-api-key", token);
        }
        let resp = env
            .client
            .request(b.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let _ = resp.into_body().collect().await.unwrap();
    }
    let after = env
        .call(Method::GET, "/metrics", &Auth::None, None)
        .await
        .text();
    assert_eq!(lines(&after), lines(&before), "{after}");
    assert!(!after.contains("invented-"));
    let refused: u64 = after
        .lines()
        .filter(|l| l.starts_with("relaygate_refused_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(refused, 2000);
    env.stop().await;
}

/// Adds an Anthropic channel to the mock serving `model`.
async fn add_channel(env: &Env, a: &Auth, name: &str, model: &str) {
    let r = env
        .call(
            Method::POST,
            "/admin/api/channels",
            a,
            Some(
                json!({"name": name, "protocol": "anthropic", "base_urls": [env.mock_url],
                        "keys": [format!("sk-{name}-key-0001")], "models": [model]}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

/// One small Anthropic request for `model` with client token `bearer`, answered 200, its row
/// flushed.
async fn ask(env: &Env, bearer: &str, model: &str) {
    let r = env
        .call(
            Method::POST,
            "/v1/messages",
            &Auth::Bearer(bearer.to_owned()),
            Some(json!({"model": model, "max_tokens": 5,
                        "messages": [{"role": "user", "content": "hi"}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    env.store.flush().await.unwrap();
}

#[tokio::test]
async fn prices_are_edited_live_and_unpriced_models_are_listed() {
    let env = Env::start().await;
    let (token, _) = env.login().await;
    let a = Auth::Bearer(token);
    add_channel(&env, &a, "house", "house-model").await;
    // A second instance on the same store, already running when the table is saved.
    let other = Gateway::new(ProxyConfig::default(), Arc::clone(&env.store))
        .await
        .unwrap();
    assert!(!other.prices().is_priced("house-model"));
    ask(&env, CLIENT_TOKEN, "house-model").await;

    let p = env
        .call(Method::GET, "/admin/api/prices", &a, None)
        .await
        .json();
    assert!(
        p["builtin_source"]
            .as_str()
            .unwrap()
            .contains("snapshot of"),
        "{}",
        p["builtin_source"]
    );
    assert!(p["stored"].is_null());
    let models = p["models"].as_array().unwrap();
    assert!(models.len() > 300);
    let gpt5 = models.iter().find(|m| m["model"] == "gpt-5").unwrap();
    assert_eq!(
        (gpt5["input"].as_str(), gpt5["output"].as_str()),
        (Some("1.25"), Some("10"))
    );
    assert_eq!(
        p["unpriced"],
        json!([{"model": "house-model", "requests": 1, "priced_now": false}])
    );

    // Hostile and broken tables are refused, naming the field, and change nothing.
    for bad in [
        json!({"table": "[models.x]\ninput = -1\noutput = 1"}),
        json!({"table": "[models.x]\ninput = 1"}),
        json!({"table": "not toml ["}),
        json!({"table": "[service_tiers]\npriority = 2"}),
        json!({"table": "# only a comment"}),
        json!({"table": "x".repeat(relaygate_store::MAX_PRICE_TABLE + 1)}),
    ] {
        let r = env
            .call(Method::PUT, "/admin/api/prices", &a, Some(bad))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
        assert_eq!(r.json()["error"]["field"], "table", "{}", r.text());
    }
    let r = env
        .call(
            Method::PUT,
            "/admin/api/prices",
            &a,
            Some(json!({"tabel": ""})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // A valid table is in force for the next request, without a restart.
    let table = "[models.\"house-model\"]\ninput = 1\noutput = 2\n";
    let r = env
        .call(
            Method::PUT,
            "/admin/api/prices",
            &a,
            Some(json!({"table": table})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["stored_models"], 1);
    ask(&env, CLIENT_TOKEN, "house-model").await;
    let logs = env
        .call(Method::GET, "/admin/api/logs?q=house", &a, None)
        .await
        .json();
    let rows = logs["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{logs}");
    // Newest first: the mock's 12 input and 7 output tokens at $1 and $2 per million.
    assert_eq!(rows[0]["cost_micro_usd"], 12 + 14, "{}", rows[0]);
    assert_eq!(rows[0]["unpriced"], false);
    assert_eq!(rows[1]["unpriced"], true);
    let p = env
        .call(Method::GET, "/admin/api/prices", &a, None)
        .await
        .json();
    assert_eq!(p["stored"], table);
    let house = p["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "house-model")
        .unwrap()
        .clone();
    assert_eq!(house["stored"], true);
    assert_eq!(p["unpriced"][0]["priced_now"], true);

    // The other instance follows the store within seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !other.prices().is_priced("house-model") {
        assert!(
            std::time::Instant::now() < deadline,
            "the other instance never followed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // An empty table removes it, here and there.
    let r = env
        .call(
            Method::PUT,
            "/admin/api/prices",
            &a,
            Some(json!({"table": ""})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let p = env
        .call(Method::GET, "/admin/api/prices", &a, None)
        .await
        .json();
    assert!(p["stored"].is_null());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while other.prices().is_priced("house-model") {
        assert!(
            std::time::Instant::now() < deadline,
            "the other instance kept the old table"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    env.stop().await;
}

#[tokio::test]
async fn usage_csv_is_per_token_per_day_and_safe_in_a_spreadsheet() {
    let env = Env::start().await;
    let (token, _) = env.login().await;
    let a = Auth::Bearer(token);
    add_channel(&env, &a, "csv", "claude-sonnet-4-5").await;
    // A token name that a spreadsheet would run as a formula.
    let hostile = "=HYPERLINK(\"http://evil.example/\",\"x\")";
    let r = env
        .call(
            Method::POST,
            "/admin/api/tokens",
            &a,
            Some(json!({"name": hostile})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let plain = r.json()["token"].as_str().unwrap().to_owned();
    let hostile_id = r.json()["id"].as_i64().unwrap();
    for bearer in [plain.as_str(), CLIENT_TOKEN, CLIENT_TOKEN] {
        ask(&env, bearer, "claude-sonnet-4-5").await;
    }

    let r = env
        .call(Method::GET, "/admin/api/usage.csv", &a, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers["content-type"], "text/csv; charset=utf-8");
    let text = r.text();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "date,token_id,token,requests,errors,input_tokens,output_tokens,cache_read_tokens,\
         cache_write_tokens,cost_usd,reported_cost_usd,estimated_requests,estimated_cost_usd,\
         unpriced_requests"
    );
    assert_eq!(lines.len(), 3, "{text}");
    // The mock's 12 input and 7 output tokens at claude-sonnet-4-5's $3 and $15 per million.
    let one = 12 * 3 + 7 * 15;
    let today = {
        let out = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let client_row = lines
        .iter()
        .find(|l| l.split(',').nth(2) == Some("client"))
        .unwrap_or_else(|| panic!("{text}"));
    let cells: Vec<&str> = client_row.split(',').collect();
    assert_eq!(cells[0], today);
    assert_eq!(&cells[3..7], ["2", "0", "24", "14"], "{client_row}");
    let cost = format!("0.{:06}", 2 * one);
    assert_eq!((cells[9], cells[10]), (cost.as_str(), cost.as_str()));
    assert_eq!((cells[11], cells[12], cells[13]), ("0", "0.000000", "0"));
    // The hostile name is quoted text that starts with ', never a formula.
    let hostile_row = lines
        .iter()
        .find(|l| l.starts_with(&format!("{today},{hostile_id},")))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        hostile_row.contains(",\"'=HYPERLINK(\"\"http://evil.example/\"\",\"\"x\"\")\","),
        "{hostile_row}"
    );
    assert!(!text.contains(",=HYPERLINK"));

    // The same split in /admin/api/stats.
    let s = env
        .call(Method::GET, "/admin/api/stats?group_by=token", &a, None)
        .await
        .json();
    let row = s["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["requests"] == 2)
        .unwrap()
        .clone();
    assert_eq!(row["reported"]["cost_micro_usd"], 2 * one);
    assert_eq!(row["estimated"]["requests"], 0);
    // Bad windows are refused in the API's own error shape.
    let r = env
        .call(Method::GET, "/admin/api/usage.csv?from=10&to=5", &a, None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["field"], "from");
    env.stop().await;
}
