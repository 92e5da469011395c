//! The key file: ids, teams and SHA-256 digests, never secrets.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub team: String,
    /// Lowers the team's sovereignty cap for this key.
    pub max_tier: Option<crate::tier::Tier>,
    digest: [u8; 32],
}

#[derive(Debug, Default)]
pub struct KeyRing {
    keys: Vec<ApiKey>,
    by_digest: HashMap<[u8; 32], usize>,
}

#[derive(Debug, PartialEq)]
pub struct KeyRingError {
    pub field: String,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    keys: Vec<RawKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    id: String,
    sha256: String,
    team: String,
    #[serde(default)]
    max_tier: Option<String>,
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

impl KeyRing {
    pub fn from_toml(text: &str) -> Result<Self, KeyRingError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| KeyRingError {
            field: "keys".into(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let mut ring = KeyRing::default();
        for (i, k) in raw.keys.into_iter().enumerate() {
            let err = |f: &str, m: String| KeyRingError {
                field: format!("keys[{i}].{f}"),
                message: m,
            };
            if k.id.is_empty() {
                return Err(err("id", "must not be empty".into()));
            }
            if ring.keys.iter().any(|o| o.id == k.id) {
                return Err(err("id", format!("duplicate key id {:?}", k.id)));
            }
            if k.team.is_empty() {
                return Err(err("team", "must not be empty".into()));
            }
            let mut digest = [0u8; 32];
            hex::decode_to_slice(k.sha256.trim(), &mut digest).map_err(|_| {
                err(
                    "sha256",
                    "must be 64 hex characters (SHA-256 of the whole key)".into(),
                )
            })?;
            if ring.by_digest.contains_key(&digest) {
                return Err(err("sha256", "the same key digest appears twice".into()));
            }
            let max_tier = k
                .max_tier
                .map(|t| t.parse().map_err(|e| err("max_tier", e)))
                .transpose()?;
            ring.by_digest.insert(digest, ring.keys.len());
            ring.keys.push(ApiKey {
                id: k.id,
                team: k.team,
                max_tier,
                digest,
            });
        }
        Ok(ring)
    }

    pub fn verify(&self, presented: &[u8]) -> Option<&ApiKey> {
        let digest = sha256(presented);
        let key = &self.keys[*self.by_digest.get(&digest)?];
        // The map lookup only narrows the candidate; equality is confirmed without early exit.
        bool::from(key.digest.ct_eq(&digest)).then_some(key)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_by_digest() {
        let d = hex::encode(sha256(b"sk-secret"));
        let ring = KeyRing::from_toml(&format!(
            "[[keys]]\nid = \"a\"\nsha256 = \"{d}\"\nteam = \"t\"\n"
        ))
        .unwrap();
        assert_eq!(ring.verify(b"sk-secret").unwrap().team, "t");
        assert!(ring.verify(b"sk-secreT").is_none());
        assert!(ring.verify(b"").is_none());
    }

    #[test]
    fn rejects_bad_digest_and_duplicates() {
        let e = KeyRing::from_toml("[[keys]]\nid = \"a\"\nsha256 = \"xyz\"\nteam = \"t\"\n")
            .unwrap_err();
        assert_eq!(e.field, "keys[0].sha256");
        let d = hex::encode(sha256(b"k"));
        let two = format!(
            "[[keys]]\nid = \"a\"\nsha256 = \"{d}\"\nteam = \"t\"\n[[keys]]\nid = \"a\"\nsha256 = \"{d}\"\nteam = \"t\"\n"
        );
        assert_eq!(KeyRing::from_toml(&two).unwrap_err().field, "keys[1].id");
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let d = hex::encode(sha256(b"sk-very-secret"));
        let ring = KeyRing::from_toml(&format!(
            "[[keys]]\nid = \"a\"\nsha256 = \"{d}\"\nteam = \"t\"\n"
        ))
        .unwrap();
        assert!(!format!("{ring:?}").contains("sk-very-secret"));
    }
}
