//! Who is calling, from where, and may they call this: the key from the request headers checked
//! against the key snapshot, the client address, and the key's restrictions.

pub mod access;
pub mod client_ip;

use crate::keys::{KeyIndex, KeyRecord, Rejection};
use http::HeaderMap;
use std::sync::Arc;

/// Why a request was not authenticated. Every case is the same 401 to the client; the label of
/// `stav_auth_failures_total` tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    /// `Authorization` and `x-api-key` carry different keys.
    Conflicting,
    Rejected(Rejection),
}

impl AuthFailure {
    pub fn as_label(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Conflicting => "conflicting",
            AuthFailure::Rejected(r) => r.as_label(),
        }
    }
}

/// The key as presented: `Authorization: Bearer <key>` (OpenAI SDKs) or `x-api-key` (Anthropic
/// SDKs). Both present and different is refused rather than guessed.
pub fn presented_key(headers: &HeaderMap) -> Result<&[u8], AuthFailure> {
    let bearer = headers.get(http::header::AUTHORIZATION).and_then(|v| {
        let v = v.as_bytes();
        (v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer "))
            .then(|| v[7..].trim_ascii())
            .filter(|k| !k.is_empty())
    });
    let x_api_key = headers
        .get("x-api-key")
        .map(|v| v.as_bytes().trim_ascii())
        .filter(|k| !k.is_empty());
    match (bearer, x_api_key) {
        (Some(a), Some(b)) if a != b => Err(AuthFailure::Conflicting),
        (Some(k), _) | (None, Some(k)) => Ok(k),
        (None, None) => Err(AuthFailure::Missing),
    }
}

/// Authenticate a request's headers against the snapshot at `now` (unix seconds).
pub fn authenticate(
    index: &KeyIndex,
    headers: &HeaderMap,
    now: u64,
) -> Result<Arc<KeyRecord>, AuthFailure> {
    let key = presented_key(headers)?;
    index
        .verify(key, now)
        .cloned()
        .map_err(AuthFailure::Rejected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::admin::{create, NewKey};
    use crate::keys::Scope;
    use http::HeaderValue;

    fn index() -> (KeyIndex, String) {
        let (rec, key) = create(
            &NewKey {
                team: "team-a".into(),
                scopes: vec![Scope::Chat],
                ..NewKey::default()
            },
            1000,
        );
        (KeyIndex::new(vec![rec]), key)
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
        let (idx, key) = index();
        for h in [
            headers(&[("authorization", &format!("Bearer {key}"))]),
            headers(&[("authorization", &format!("bearer  {key} "))]),
            headers(&[("x-api-key", &key)]),
            headers(&[
                ("authorization", &format!("Bearer {key}")),
                ("x-api-key", &key),
            ]),
        ] {
            assert_eq!(authenticate(&idx, &h, 1000).unwrap().team, "team-a");
        }
    }

    #[test]
    fn every_failure_has_its_own_label() {
        let (idx, key) = index();
        let fail = |h: HeaderMap| authenticate(&idx, &h, 1000).unwrap_err().as_label();
        assert_eq!(fail(headers(&[])), "missing");
        assert_eq!(fail(headers(&[("authorization", "Bearer ")])), "missing");
        assert_eq!(
            fail(headers(&[("authorization", "Basic dGVzdA==")])),
            "missing"
        );
        assert_eq!(fail(headers(&[("x-api-key", "sk-test")])), "malformed");
        let mut typo = key.clone().into_bytes();
        typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        assert_eq!(fail(headers(&[("x-api-key", &typo)])), "malformed");
        let stranger = crate::keys::format::new_key(crate::keys::format::Env::Live, "abcdefghijkl");
        assert_eq!(fail(headers(&[("x-api-key", &stranger)])), "unknown");
        assert_eq!(
            fail(headers(&[
                ("authorization", &format!("Bearer {stranger}")),
                ("x-api-key", &key)
            ])),
            "conflicting"
        );
    }
}
