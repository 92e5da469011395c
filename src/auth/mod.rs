//! Who is calling: the API key from the request headers, checked against the key ring.
//!
//! Only SHA-256 digests of keys are ever held; the presented key is hashed once and the digest is
//! looked up, then confirmed with a constant-time comparison.

mod keyring;

pub use keyring::{ApiKey, KeyRing, KeyRingError};

use http::HeaderMap;

/// Why a request was not authenticated; the label of `stav_auth_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Unknown,
}

impl AuthFailure {
    pub fn as_label(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Unknown => "unknown",
        }
    }
}

/// The key as presented: `Authorization: Bearer <key>` first, then `x-api-key` (Anthropic SDKs).
pub fn presented_key(headers: &HeaderMap) -> Option<&[u8]> {
    if let Some(v) = headers.get(http::header::AUTHORIZATION) {
        let v = v.as_bytes();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer ") {
            let key = v[7..].trim_ascii();
            if !key.is_empty() {
                return Some(key);
            }
        }
    }
    headers
        .get("x-api-key")
        .map(|v| v.as_bytes().trim_ascii())
        .filter(|k| !k.is_empty())
}

/// Authenticate a request's headers against the ring.
pub fn authenticate<'r>(ring: &'r KeyRing, headers: &HeaderMap) -> Result<&'r ApiKey, AuthFailure> {
    let key = presented_key(headers).ok_or(AuthFailure::Missing)?;
    ring.verify(key).ok_or(AuthFailure::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ring() -> KeyRing {
        // sha256("test")
        KeyRing::from_toml(
            r#"
[[keys]]
id = "k1"
sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
team = "team-a"
"#,
        )
        .unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_and_x_api_key_both_work() {
        let r = ring();
        assert_eq!(
            authenticate(&r, &headers(&[("authorization", "Bearer test")]))
                .unwrap()
                .id,
            "k1"
        );
        assert_eq!(
            authenticate(&r, &headers(&[("authorization", "bearer  test ")]))
                .unwrap()
                .id,
            "k1"
        );
        assert_eq!(
            authenticate(&r, &headers(&[("x-api-key", "test")]))
                .unwrap()
                .id,
            "k1"
        );
    }

    #[test]
    fn missing_and_unknown_are_told_apart_for_metrics() {
        let r = ring();
        assert_eq!(
            authenticate(&r, &headers(&[])).unwrap_err(),
            AuthFailure::Missing
        );
        assert_eq!(
            authenticate(&r, &headers(&[("authorization", "Bearer ")])).unwrap_err(),
            AuthFailure::Missing
        );
        assert_eq!(
            authenticate(&r, &headers(&[("authorization", "Basic dGVzdA==")])).unwrap_err(),
            AuthFailure::Missing
        );
        assert_eq!(
            authenticate(&r, &headers(&[("x-api-key", "tesT")])).unwrap_err(),
            AuthFailure::Unknown
        );
    }

    #[test]
    fn a_wrong_bearer_does_not_fall_back_to_x_api_key() {
        // A request carrying two credentials is judged by the first one SDKs send.
        let r = ring();
        let h = headers(&[("authorization", "Bearer wrong"), ("x-api-key", "test")]);
        assert_eq!(authenticate(&r, &h).unwrap_err(), AuthFailure::Unknown);
    }
}
