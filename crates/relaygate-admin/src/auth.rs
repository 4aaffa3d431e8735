//! Admin authentication.
//!
//! - The admin password is stored only as an argon2id PHC hash in the store's settings
//!   (`admin.password_hash`). [`ensure_password`] sets it at start from the configuration, or
//!   generates a random one on first start and hands it back once so the binary can print it.
//! - `POST /admin/api/login {"password"}` creates a session: a random 32-byte token (hex),
//!   stored only as its SHA-256 with an expiry. The browser gets it as an `HttpOnly;
//!   SameSite=Strict` cookie, scripts use it as `Authorization: Bearer`.
//! - A cookie session must send `x-relaygate-csrf` (returned at login and kept in the readable
//!   `relaygate_csrf` cookie) on every unsafe method; bearer sessions are exempt.
//! - Failed logins are counted per client address (the TCP peer, which the proxy server puts in
//!   the request's extensions); after `max_failures` the address is locked out. Without an
//!   address (an embedder that passes none) one global counter is used.
//! - Client API tokens live in another table and are never looked up here; a presented value is
//!   always hashed before the lookup, so a stored hash never works as a session token.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, header};
use relaygate_store::{AdminSession, Store};
use serde::Deserialize;

use crate::body::JsonBody;
use crate::{AppState, Error, Result, now_ms};

/// The setting holding the argon2 PHC hash of the admin password.
pub const PASSWORD_SETTING: &str = "admin.password_hash";
/// The session cookie.
pub const SESSION_COOKIE: &str = "relaygate_session";
/// The readable cookie holding the CSRF token of a cookie session.
pub const CSRF_COOKIE: &str = "relaygate_csrf";
/// The header a cookie session must send on unsafe methods.
pub const CSRF_HEADER: &str = "x-relaygate-csrf";
/// Shortest admin password accepted when setting one.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Random bytes from the system generator.
pub(crate) fn random_hex(n: usize) -> Result<String> {
    let mut bytes = vec![0u8; n];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| Error::Random)?;
    Ok(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(text: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref())
}

/// Compares two strings in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Hashes a password to an argon2id PHC string with a random salt.
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| Error::Random)?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `phc`.
pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// What [`ensure_password`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSetup {
    /// The configured password was stored (its hash).
    FromConfig,
    /// A password was already stored and none is configured: kept.
    Kept,
    /// None was stored or configured: this one was generated and stored. Show it once.
    Generated(String),
}

/// Makes sure an admin password hash is stored: the configured one (re-hashed only when it
/// changed), else the stored one, else a generated one that is returned to be shown once.
pub async fn ensure_password(store: &dyn Store, configured: Option<&str>) -> Result<PasswordSetup> {
    let stored = store.get_setting(PASSWORD_SETTING.to_owned()).await?;
    if let Some(pw) = configured.filter(|p| !p.is_empty()) {
        if pw.len() < MIN_PASSWORD_LEN {
            return Err(Error::field(
                "admin.password",
                format!("the admin password must be at least {MIN_PASSWORD_LEN} characters"),
            ));
        }
        if stored.as_deref().is_some_and(|h| verify_password(pw, h)) {
            return Ok(PasswordSetup::FromConfig);
        }
        store
            .set_setting(PASSWORD_SETTING.to_owned(), hash_password(pw)?)
            .await?;
        return Ok(PasswordSetup::FromConfig);
    }
    if stored.is_some() {
        return Ok(PasswordSetup::Kept);
    }
    let generated = random_hex(12)?;
    let created = store
        .set_setting_if_absent(PASSWORD_SETTING.to_owned(), hash_password(&generated)?)
        .await?;
    // Another instance may have won the race; its password stands.
    Ok(if created {
        PasswordSetup::Generated(generated)
    } else {
        PasswordSetup::Kept
    })
}

/// Failed-login counters by client address (or one global counter).
#[derive(Debug)]
pub struct Lockout {
    max_failures: u32,
    duration_ms: i64,
    entries: Mutex<HashMap<String, (u32, i64)>>,
}

impl Lockout {
    /// `max_failures` failures lock an address for `duration`.
    pub fn new(max_failures: u32, duration: Duration) -> Self {
        Lockout {
            max_failures: max_failures.max(1),
            duration_ms: i64::try_from(duration.as_millis()).unwrap_or(i64::MAX),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, (u32, i64)>) -> T) -> T {
        match self.entries.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Seconds left if `who` is locked out now.
    pub fn locked(&self, who: &str, now: i64) -> Option<u64> {
        self.with(|m| {
            m.get(who).and_then(|&(n, until)| {
                (n >= self.max_failures && until > now)
                    .then(|| u64::try_from((until - now + 999) / 1000).unwrap_or(1))
            })
        })
    }

    /// Counts a failure; the counter starts over once a lockout (or the window) passed.
    pub fn fail(&self, who: &str, now: i64) {
        let (max, dur) = (self.max_failures, self.duration_ms);
        self.with(|m| {
            if m.len() > 10_000 {
                m.retain(|_, (_, until)| *until > now);
            }
            let e = m.entry(who.to_owned()).or_insert((0, now + dur));
            if e.1 <= now {
                *e = (0, now + dur);
            }
            e.0 += 1;
            if e.0 >= max {
                e.1 = now + dur;
            }
        });
    }

    /// Forgets the failures of `who` (after a successful login).
    pub fn clear(&self, who: &str) {
        self.with(|m| m.remove(who));
    }
}

/// The client address used for the lockout: the socket peer when the server put one in the
/// request's extensions, else one global key.
fn client_key(req_ext: &http::Extensions) -> String {
    match req_ext.get::<SocketAddr>() {
        Some(addr) => addr.ip().to_string(),
        None => "global".to_owned(),
    }
}

/// The body of `POST /admin/api/login`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The admin password.
    pub password: String,
}

fn cookie(name: &str, value: &str, max_age: i64, http_only: bool, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; Max-Age={max_age}; SameSite=Strict{}{}",
        if http_only { "; HttpOnly" } else { "" },
        if secure { "; Secure" } else { "" }
    )
}

fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// `POST /admin/api/login`.
pub async fn login(State(st): State<AppState>, req: Request) -> Result<Response> {
    let who = client_key(req.extensions());
    let secure = is_https(req.headers());
    let now = now_ms();
    if let Some(secs) = st.lockout.locked(&who, now) {
        return Err(Error::LockedOut {
            retry_after_secs: secs,
        });
    }
    let JsonBody(body) =
        <JsonBody<LoginRequest> as axum::extract::FromRequest<()>>::from_request(req, &()).await?;
    let store = st.gateway.store();
    let stored = store.get_setting(PASSWORD_SETTING.to_owned()).await?;
    let ok = match stored {
        Some(phc) => {
            let pw = body.password;
            tokio::task::spawn_blocking(move || verify_password(&pw, &phc))
                .await
                .unwrap_or(false)
        }
        None => false,
    };
    if !ok {
        st.lockout.fail(&who, now);
        tracing::warn!(client = %who, "admin login failed");
        if let Some(secs) = st.lockout.locked(&who, now) {
            return Err(Error::LockedOut {
                retry_after_secs: secs,
            });
        }
        return Err(Error::WrongPassword);
    }
    st.lockout.clear(&who);
    let _ = store.purge_sessions(now).await;
    let token = random_hex(32)?;
    let csrf = random_hex(16)?;
    let ttl = i64::try_from(st.config.session_ttl.as_millis()).unwrap_or(i64::MAX);
    let expires = now.saturating_add(ttl);
    store
        .create_session(AdminSession {
            token_hash: sha256_hex(&token),
            csrf_hash: sha256_hex(&csrf),
            created_at_ms: now,
            expires_at_ms: expires,
        })
        .await?;
    let max_age = ttl / 1000;
    let mut resp = axum::Json(serde_json::json!({
        "token": token,
        "csrf_token": csrf,
        "expires_at_ms": expires,
    }))
    .into_response();
    for c in [
        cookie(SESSION_COOKIE, &token, max_age, true, secure),
        cookie(CSRF_COOKIE, &csrf, max_age, false, secure),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

/// `POST /admin/api/logout`: ends the session and clears the cookies.
pub async fn logout(State(st): State<AppState>, headers: HeaderMap) -> Result<Response> {
    if let Some((token, _)) = presented(&headers) {
        st.gateway
            .store()
            .delete_session(sha256_hex(&token))
            .await?;
    }
    let mut resp = axum::Json(serde_json::json!({ "ok": true })).into_response();
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        if let Ok(v) = HeaderValue::from_str(&cookie(name, "", 0, name == SESSION_COOKIE, false)) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

/// The body of `POST /admin/api/password`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    pub current: String,
    /// The new password.
    pub new: String,
}

/// `POST /admin/api/password`: changes the password and ends every session.
pub async fn change_password(
    State(st): State<AppState>,
    JsonBody(body): JsonBody<PasswordChange>,
) -> Result<axum::Json<serde_json::Value>> {
    if body.new.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::field(
            "new",
            format!("the new password must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if body.new.len() > 1024 {
        return Err(Error::field(
            "new",
            "the new password is longer than 1024 bytes",
        ));
    }
    let store = st.gateway.store();
    let stored = store.get_setting(PASSWORD_SETTING.to_owned()).await?;
    if !stored.is_some_and(|h| verify_password(&body.current, &h)) {
        return Err(Error::field("current", "the current password is wrong"));
    }
    store
        .set_setting(PASSWORD_SETTING.to_owned(), hash_password(&body.new)?)
        .await?;
    let ended = store.delete_all_sessions().await?;
    Ok(axum::Json(
        serde_json::json!({ "ok": true, "sessions_ended": ended }),
    ))
}

/// The session token a request presents: bearer first, then the cookie. The flag says whether
/// it came from the cookie (and so needs the CSRF header on unsafe methods).
fn presented(headers: &HeaderMap) -> Option<(String, bool)> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return Some((t.trim().to_owned(), false));
    }
    cookie_value(headers, SESSION_COOKIE).map(|t| (t, true))
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// Middleware in front of every admin route but login: a valid session, and for cookie
/// sessions the CSRF header on unsafe methods.
pub async fn require_session(
    State(st): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response> {
    let Some((token, from_cookie)) = presented(req.headers()) else {
        return Err(Error::Unauthorized);
    };
    if token.len() != 64 {
        return Err(Error::Unauthorized);
    }
    let session = st
        .gateway
        .store()
        .find_session(sha256_hex(&token), now_ms())
        .await?
        .ok_or(Error::Unauthorized)?;
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if from_cookie && !safe {
        let sent = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if sent.is_empty() || !same(&sha256_hex(sent), &session.csrf_hash) {
            return Err(Error::Csrf);
        }
    }
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn lockout_after_failures_then_expires() {
        let l = Lockout::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            l.fail("a", 0);
        }
        assert_eq!(l.locked("a", 0), None);
        l.fail("a", 1);
        assert_eq!(l.locked("a", 1), Some(10));
        assert_eq!(l.locked("b", 1), None);
        assert_eq!(l.locked("a", 10_001), None);
        l.fail("a", 10_002);
        assert_eq!(l.locked("a", 10_002), None, "counter started over");
    }

    #[test]
    fn cookies_and_bearer_are_read() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; relaygate_session=abc"),
        );
        assert_eq!(presented(&h), Some(("abc".to_owned(), true)));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer xyz"),
        );
        assert_eq!(presented(&h), Some(("xyz".to_owned(), false)));
    }
}
