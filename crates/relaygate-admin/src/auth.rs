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
//! - Login attempts are counted per client address before the password is checked, atomically
//!   with the lockout check; after `max_failures` the address is locked out. The address is
//!   the TCP peer (which the proxy server puts in the request's extensions), or the
//!   `x-forwarded-for` client when the peer is one of `trusted_proxies`. Without an address
//!   (an embedder that passes none) one global counter is used.
//! - argon2 runs on the blocking pool behind `max_concurrent_logins` slots; a login finding
//!   them all busy gets 429 at once. Login bodies are capped at 4 KiB and must arrive within
//!   `login_timeout`.
//! - Cookies are `Secure` when `secure_cookies` is set or a trusted proxy says `https`.
//! - Client API tokens live in another table and are never looked up here; a presented value is
//!   always hashed before the lookup, so a stored hash never works as a session token.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
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

    /// Counts an attempt before the password is checked, atomically with the lockout check:
    /// of any number of concurrent attempts, at most `max_failures` get past it in a window.
    /// `Err` holds the seconds left of the lockout. A success then calls [`Lockout::clear`].
    pub fn begin(&self, who: &str, now: i64) -> std::result::Result<(), u64> {
        let (max, dur) = (self.max_failures, self.duration_ms);
        self.with(|m| {
            if m.len() >= MAX_TRACKED && !m.contains_key(who) {
                m.retain(|_, (_, until)| *until > now);
            }
            let key = if m.len() >= MAX_TRACKED && !m.contains_key(who) {
                "overflow"
            } else {
                who
            };
            let e = m.entry(key.to_owned()).or_insert((0, now + dur));
            if e.1 <= now {
                *e = (0, now + dur);
            }
            if e.0 >= max {
                return Err(u64::try_from((e.1 - now + 999) / 1000).unwrap_or(1));
            }
            e.0 += 1;
            if e.0 >= max {
                e.1 = now + dur;
            }
            Ok(())
        })
    }

    /// Forgets the failures of `who` (after a successful login).
    pub fn clear(&self, who: &str) {
        self.with(|m| m.remove(who));
    }
}

/// An address range in CIDR notation (`10.0.0.0/8`, `::1/128`; a bare address is one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let t = text.trim();
        let (addr, prefix) = t.split_once('/').unwrap_or((t, ""));
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{t:?} is not an address or CIDR range"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            max
        } else {
            prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{t:?}: the prefix must be 0..={max}"))?
        };
        Ok(Cidr { network, prefix })
    }
}

impl Cidr {
    /// Whether `ip` is inside the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The client a request comes from. The socket peer, unless the peer is a trusted proxy: then
/// the right-most `x-forwarded-for` entry that is not itself a trusted proxy (entries further
/// left are whatever the client wrote and prove nothing). The flag says whether the request
/// came over HTTPS according to a trusted proxy's `x-forwarded-proto`.
pub fn client_of(
    req_ext: &http::Extensions,
    headers: &HeaderMap,
    trusted: &[Cidr],
) -> (Option<IpAddr>, bool) {
    let Some(peer) = req_ext.get::<SocketAddr>().map(SocketAddr::ip) else {
        return (None, false);
    };
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return (Some(peer), false);
    }
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    // Right to left: each trusted proxy appended the address it saw. The first entry that is
    // not a trusted proxy is the client; an entry that can't be read stops the walk (what is
    // further left was written by someone we can't vouch for), and the request is then keyed
    // to the proxy itself rather than to an address an attacker could choose.
    let mut client = peer;
    for entry in headers
        .get_all("x-forwarded-for")
        .iter()
        .rev()
        .flat_map(|v| v.to_str().unwrap_or("").rsplit(','))
    {
        let Some(ip) = forwarded_ip(entry.trim()) else {
            client = peer;
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    (Some(client), https)
}

/// One `x-forwarded-for` entry: an address, with or without a port or IPv6 brackets.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .and_then(|e| e.parse().ok())
        })
}

/// The lockout key of a client address: IPv6 by its /64 (one host usually holds a whole /64,
/// so rotating within it must not reset the count), or one global key when the embedder
/// passes none.
fn client_key(client: Option<IpAddr>) -> String {
    match client {
        None => "global".to_owned(),
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map_or_else(String::new, |v4| v4.to_string()),
        Some(ip) => ip.to_string(),
    }
}

/// Addresses the lockout tracks at most; past it, new addresses share one counter (so a flood
/// of addresses costs bounded memory and locks out only itself and other newcomers).
const MAX_TRACKED: usize = 10_000;

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

/// Largest login body accepted (a password and its JSON framing).
pub const MAX_LOGIN_BODY: usize = 4 * 1024;

/// Reads the login body: at most [`MAX_LOGIN_BODY`] bytes within `timeout`.
async fn login_body(req: Request, timeout: Duration) -> Result<LoginRequest> {
    let body = req.into_body();
    let bytes =
        match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_LOGIN_BODY)).await {
            Err(_) => return Err(Error::Timeout),
            Ok(Err(_)) => {
                return Err(Error::BadRequest {
                    field: None,
                    message: format!("the login body is larger than {MAX_LOGIN_BODY} bytes"),
                });
            }
            Ok(Ok(b)) => b,
        };
    serde_json::from_slice(&bytes).map_err(|e| Error::BadRequest {
        field: Some("password".to_owned()),
        message: format!("the body must be {{\"password\": \"...\"}}: {e}"),
    })
}

/// `POST /admin/api/login`.
///
/// In this order, so that no unauthenticated caller can make the server work hard: the
/// attempt is counted (atomically with the lockout check), a hashing slot is taken without
/// waiting (429 when all are busy), the body is read with a size cap and a deadline, and only
/// then argon2 runs on the blocking pool.
pub async fn login(State(st): State<AppState>, req: Request) -> Result<Response> {
    let (client, forwarded_https) =
        client_of(req.extensions(), req.headers(), &st.config.trusted_proxies);
    let who = client_key(client);
    let secure = st.config.secure_cookies || forwarded_https;
    let now = now_ms();
    if let Err(secs) = st.lockout.begin(&who, now) {
        tracing::warn!(client = %who, "admin login refused: locked out");
        return Err(Error::LockedOut {
            retry_after_secs: secs,
        });
    }
    let Ok(slot) = std::sync::Arc::clone(&st.login_slots).try_acquire_owned() else {
        return Err(Error::Busy);
    };
    let body = login_body(req, st.config.login_timeout).await?;
    let store = st.gateway.store();
    let stored = store.get_setting(PASSWORD_SETTING.to_owned()).await?;
    let ok = match stored {
        Some(phc) => {
            let pw = body.password;
            tokio::task::spawn_blocking(move || {
                let ok = verify_password(&pw, &phc);
                drop(slot);
                ok
            })
            .await
            .unwrap_or(false)
        }
        None => false,
    };
    if !ok {
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
    let Ok(slot) = std::sync::Arc::clone(&st.login_slots).try_acquire_owned() else {
        return Err(Error::Busy);
    };
    // argon2 twice: on the blocking pool, behind a login slot, never on a tokio worker.
    let (current, new) = (body.current, body.new);
    let hashed = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        if !stored.is_some_and(|h| verify_password(&current, &h)) {
            return Ok(None);
        }
        hash_password(&new).map(Some)
    })
    .await
    .map_err(|e| Error::Hash(e.to_string()))??;
    let Some(hashed) = hashed else {
        return Err(Error::field("current", "the current password is wrong"));
    };
    store
        .set_setting(PASSWORD_SETTING.to_owned(), hashed)
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
    fn lockout_counts_attempts_before_checking_then_expires() {
        let l = Lockout::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            assert_eq!(l.begin("a", 0), Ok(()));
        }
        assert_eq!(l.locked("a", 0), None);
        assert_eq!(l.begin("a", 1), Ok(()));
        assert_eq!(l.locked("a", 1), Some(10));
        assert_eq!(
            l.begin("a", 1),
            Err(10),
            "a fourth attempt never reaches argon2"
        );
        assert_eq!(l.locked("b", 1), None);
        assert_eq!(l.locked("a", 10_001), None);
        assert_eq!(l.begin("a", 10_002), Ok(()));
        assert_eq!(l.locked("a", 10_002), None, "counter started over");
        l.clear("a");
        assert_eq!(l.begin("a", 10_003), Ok(()));
    }

    #[test]
    fn concurrent_attempts_get_at_most_max_failures_through() {
        let l = std::sync::Arc::new(Lockout::new(5, Duration::from_secs(60)));
        let passed = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (l, passed) = (l.clone(), passed.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        if l.begin("attacker", 0).is_ok() {
                            passed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(passed.load(std::sync::atomic::Ordering::Relaxed), 5);
    }

    #[test]
    fn cidr_ranges_parse_and_match() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains("10.200.1.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(
            c.contains("::ffff:10.0.0.1".parse().unwrap()),
            "mapped IPv4"
        );
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nope", "::/129", "1.2.3.4/x", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let mut ext = http::Extensions::new();
        ext.insert("10.0.0.5:4000".parse::<SocketAddr>().unwrap());
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 203.0.113.9"),
        );
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        // Untrusted peer: its claims are ignored, whoever it says it forwards.
        assert_eq!(client_of(&ext, &h, &[]), (ip("10.0.0.5"), false));
        // Trusted proxy: the right-most untrusted entry (the spoofable left one is ignored).
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        assert_eq!(client_of(&ext, &h, &trusted), (ip("203.0.113.9"), true));
        assert_eq!(
            client_of(&http::Extensions::new(), &h, &trusted),
            (None, false)
        );
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
