//! Client authentication with gateway tokens.
//!
//! Clients present a token the way their SDK sends an API key: `Authorization: Bearer`,
//! `x-api-key`, `x-goog-api-key` or the `key` query parameter. Only the SHA-256 of a token is
//! stored; the presented value is always hashed before lookup, so a leaked hash is not a
//! working token. None of these credentials is ever forwarded upstream.

use http::HeaderMap;

/// Where the client put its credential, in the order they are looked at.
pub const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "x-api-key", "x-goog-api-key"];

/// The credential a client presented, if any.
pub fn presented_token<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<&'a str> {
    if let Some(v) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        let token = match v.get(..6) {
            Some(scheme) if scheme.eq_ignore_ascii_case("bearer") => v[6..].trim(),
            _ => v,
        };
        if !token.is_empty() {
            return Some(token);
        }
    }
    for name in ["x-api-key", "x-goog-api-key"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            let v = v.trim();
            if !v.is_empty() {
                return Some(v);
            }
        }
    }
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("key="))
        .filter(|v| !v.is_empty())
}

/// Lowercase hex SHA-256 of a token.
pub fn hash_token(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest.as_ref() {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    out
}

/// A display form of a secret: its last four characters only (`…7890`), or `****` for a
/// secret of eight characters or fewer, so no mask gives away more than four characters.
pub fn mask(secret: &str) -> String {
    let count = secret.chars().count();
    if count <= 8 {
        return "****".to_owned();
    }
    let tail: String = secret.chars().skip(count - 4).collect();
    format!("…{tail}")
}

/// Removes the `key` parameter from a query string.
pub fn strip_key_param(query: &str) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("key=") && *kv != "key")
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn credential_sources_in_order() {
        assert_eq!(
            presented_token(&headers(&[("authorization", "Bearer abc")]), None),
            Some("abc")
        );
        assert_eq!(
            presented_token(
                &headers(&[("x-api-key", "k1"), ("x-goog-api-key", "k2")]),
                None
            ),
            Some("k1")
        );
        assert_eq!(
            presented_token(&headers(&[("x-goog-api-key", "k2")]), None),
            Some("k2")
        );
        assert_eq!(
            presented_token(&headers(&[]), Some("alt=sse&key=q1")),
            Some("q1")
        );
        assert_eq!(
            presented_token(&headers(&[("authorization", "Bearer ")]), Some("key=")),
            None
        );
    }

    #[test]
    fn hashing_and_masking() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(mask("sk-ant-1234567890"), "…7890");
        assert_eq!(mask("short"), "****");
    }

    #[test]
    fn key_param_is_removed() {
        assert_eq!(
            strip_key_param("alt=sse&key=secret").as_deref(),
            Some("alt=sse")
        );
        assert_eq!(strip_key_param("key=secret"), None);
        assert_eq!(
            strip_key_param("monkey=1&key=x").as_deref(),
            Some("monkey=1")
        );
    }
}
