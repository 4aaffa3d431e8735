//! relaygate's admin side: the JSON admin API under `/admin/api`, the web dashboard (static
//! files embedded in the binary), Prometheus `/metrics`, and the `/healthz` and `/readyz` checks.
//!
//! It plugs into the proxy as its side handler ([`side_handler`]): the proxy sends it every
//! request that is not an API call of one of the four client protocols. Admin routes need an
//! admin session (see [`auth`]); client API tokens never open them.
//!
//! What this crate is not: it routes no client traffic and keeps no state of its own beyond
//! the login lockout counters; everything it changes goes to the store and then into the
//! gateway with [`relaygate_proxy::Gateway::reload`], so changes apply without a restart.

pub mod api;
mod assets;
pub mod auth;
mod body;
mod csv;
pub mod metrics;
pub mod openapi;
mod prices;
mod usage;

use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http_body_util::BodyExt as _;
use relaygate_proxy::{Gateway, SideBody, SideHandler};
use tower::ServiceExt as _;

pub use auth::{PasswordSetup, ensure_password};

/// Errors of the admin API; each becomes a JSON answer `{"error": {"message", "field"?}}`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is malformed; `field` names the offending field when there is one.
    #[error("{message}")]
    BadRequest {
        /// The field at fault, as a JSON path (`base_urls[1]`).
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// No valid admin session.
    #[error("admin login required")]
    Unauthorized,
    /// A cookie session sent an unsafe request without the CSRF header.
    #[error("missing or wrong x-relaygate-csrf header")]
    Csrf,
    /// Wrong password.
    #[error("wrong password")]
    WrongPassword,
    /// Every password-hashing slot is busy.
    #[error("too many logins at once; try again in a second")]
    Busy,
    /// The request body did not arrive in time.
    #[error("the request body did not arrive in time")]
    Timeout,
    /// Too many failed logins.
    #[error("too many failed logins; try again in {retry_after_secs} s")]
    LockedOut {
        /// Seconds until the lockout ends.
        retry_after_secs: u64,
    },
    /// Nothing with that id or name.
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with what is stored.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] relaygate_store::Error),
    /// The gateway could not reload its routing table.
    #[error("gateway: {0}")]
    Gateway(#[from] relaygate_proxy::Error),
    /// The upstream could not be reached or answered with an error.
    #[error("upstream: {0}")]
    Upstream(String),
    /// Password hashing failed.
    #[error("password hashing: {0}")]
    Hash(String),
    /// No system randomness.
    #[error("no system randomness")]
    Random,
}

impl Error {
    /// A 400 naming `field`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::BadRequest {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::Unauthorized | Error::WrongPassword => StatusCode::UNAUTHORIZED,
            Error::Csrf => StatusCode::FORBIDDEN,
            Error::LockedOut { .. } | Error::Busy => StatusCode::TOO_MANY_REQUESTS,
            Error::Timeout => StatusCode::REQUEST_TIMEOUT,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Upstream(_) => StatusCode::BAD_GATEWAY,
            Error::Store(relaygate_store::Error::Invalid { .. }) => StatusCode::BAD_REQUEST,
            Error::Store(_) | Error::Gateway(_) | Error::Hash(_) | Error::Random => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "admin API error");
        }
        let mut err = serde_json::json!({ "message": self.to_string() });
        if let Error::BadRequest { field: Some(f), .. } = &self {
            err["field"] = serde_json::Value::String(f.clone());
        }
        let mut resp = (status, axum::Json(serde_json::json!({ "error": err }))).into_response();
        let retry_after = match self {
            Error::LockedOut { retry_after_secs } => Some(retry_after_secs),
            Error::Busy => Some(1),
            _ => None,
        };
        if let Some(secs) = retry_after
            && let Ok(v) = http::HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
        resp
    }
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Settings of the admin side.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Serve the admin API and dashboard at all (`/metrics` and health checks stay on).
    pub enabled: bool,
    /// How long a login session lasts.
    pub session_ttl: std::time::Duration,
    /// Failed logins allowed before a lockout.
    pub max_failures: u32,
    /// How long a lockout lasts.
    pub lockout: std::time::Duration,
    /// Password checks (argon2, ~19 MiB each) running at once; more logins get 429.
    pub max_concurrent_logins: usize,
    /// How long a login body may take to arrive.
    pub login_timeout: std::time::Duration,
    /// Proxies whose `x-forwarded-for` and `x-forwarded-proto` are believed.
    pub trusted_proxies: Vec<auth::Cidr>,
    /// Mark session cookies `Secure` (set it when users reach relaygate over HTTPS).
    pub secure_cookies: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            session_ttl: std::time::Duration::from_secs(24 * 3600),
            max_failures: 5,
            lockout: std::time::Duration::from_secs(15 * 60),
            max_concurrent_logins: 2,
            login_timeout: std::time::Duration::from_secs(5),
            trusted_proxies: Vec::new(),
            secure_cookies: false,
        }
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The gateway being administered.
    pub gateway: Gateway,
    /// Settings.
    pub config: Arc<AdminConfig>,
    /// Failed-login counters.
    pub lockout: Arc<auth::Lockout>,
    /// Slots for password checks.
    pub login_slots: Arc<tokio::sync::Semaphore>,
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The whole router: admin API, dashboard, metrics, health checks and a JSON 404.
pub fn router(gateway: Gateway, config: AdminConfig) -> Router {
    let state = AppState {
        gateway,
        lockout: Arc::new(auth::Lockout::new(config.max_failures, config.lockout)),
        login_slots: Arc::new(tokio::sync::Semaphore::new(
            config.max_concurrent_logins.max(1),
        )),
        config: Arc::new(config),
    };
    let mut app = Router::new()
        .route("/healthz", axum::routing::get(metrics::healthz))
        .route("/readyz", axum::routing::get(metrics::readyz))
        .route("/metrics", axum::routing::get(metrics::metrics));
    if state.config.enabled {
        app = app
            .merge(api::router(state.clone()))
            .route("/", axum::routing::get(assets::index))
            .route("/dashboard", axum::routing::get(assets::index))
            .route("/dashboard/", axum::routing::get(assets::index))
            .route("/dashboard/{*path}", axum::routing::get(assets::file));
    }
    app.fallback(not_found).with_state(state)
}

async fn not_found(uri: http::Uri) -> Error {
    Error::NotFound(format!("route {}", uri.path()))
}

/// The side handler to install with [`Gateway::set_side_handler`].
pub fn side_handler(gateway: Gateway, config: AdminConfig) -> SideHandler {
    let app = router(gateway, config);
    Arc::new(move |req: http::Request<hyper::body::Incoming>| {
        let app = app.clone();
        Box::pin(async move {
            let req = req.map(axum::body::Body::new);
            let resp = match app.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let (parts, body) = resp.into_parts();
            let body: SideBody = body.map_err(std::io::Error::other).boxed_unsync();
            http::Response::from_parts(parts, body)
        })
    })
}
