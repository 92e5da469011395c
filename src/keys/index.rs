//! The snapshot the request path reads: key records by id, validated, immutable. Reloads build a
//! new index and swap it in whole, so a request never sees half a reload and never writes back.

use super::format;
use super::record::{KeyRecord, StoredKey, Unusable};
use crate::keys::sha256;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct KeyIndex {
    by_id: HashMap<String, Arc<KeyRecord>>,
}

/// Why a presented key was refused. The client sees one 401 for all of these; the label is for
/// metrics only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Wrong shape or checksum: turned away before any lookup.
    Malformed,
    /// No such key id, or the secret does not match.
    Unknown,
    Revoked,
    Expired,
}

impl Rejection {
    pub fn as_label(self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed",
            Rejection::Unknown => "unknown",
            Rejection::Revoked => "revoked",
            Rejection::Expired => "expired",
        }
    }
}

/// A stored record that did not validate; `field` is the full path, e.g. `keys[3].scopes[0]`.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexError {
    pub field: String,
    pub message: String,
}

/// Every stored record validated, in the stored order; ids must be unique. Field names in errors
/// are prefixed with `origin` (`keys[3].scopes[0]`).
pub fn validate_all(stored: &[StoredKey], origin: &str) -> Result<Vec<KeyRecord>, IndexError> {
    let mut records = Vec::with_capacity(stored.len());
    let mut seen = HashMap::new();
    for (i, s) in stored.iter().enumerate() {
        let r = s.validate().map_err(|e| IndexError {
            field: format!("{origin}[{i}].{}", e.field),
            message: e.message,
        })?;
        if let Some(first) = seen.insert(r.id.clone(), i) {
            return Err(IndexError {
                field: format!("{origin}[{i}].id"),
                message: format!("key id {:?} is also used by {origin}[{first}]", r.id),
            });
        }
        records.push(r);
    }
    Ok(records)
}

impl KeyIndex {
    pub fn new(records: Vec<KeyRecord>) -> Self {
        Self {
            by_id: records
                .into_iter()
                .map(|r| (r.id.clone(), Arc::new(r)))
                .collect(),
        }
    }

    /// Validate every stored record (a bad one fails the whole load: the caller keeps the old
    /// snapshot); `origin` prefixes field names.
    pub fn from_stored(stored: &[StoredKey], origin: &str) -> Result<Self, IndexError> {
        validate_all(stored, origin).map(Self::new)
    }

    pub fn verify(&self, presented: &[u8], now: u64) -> Result<&Arc<KeyRecord>, Rejection> {
        let parsed = format::parse(presented).ok_or(Rejection::Malformed)?;
        let record = self.by_id.get(parsed.kid).ok_or(Rejection::Unknown)?;
        // The digest covers the env prefix too, so a test key cannot pass for a live one.
        if record.env != parsed.env || !record.secret_matches(&sha256(presented), now) {
            return Err(Rejection::Unknown);
        }
        record.usable(now).map_err(|u| match u {
            Unusable::Revoked => Rejection::Revoked,
            Unusable::Expired => Rejection::Expired,
        })?;
        Ok(record)
    }

    pub fn get(&self, id: &str) -> Option<&Arc<KeyRecord>> {
        self.by_id.get(id)
    }

    pub fn records(&self) -> impl Iterator<Item = &Arc<KeyRecord>> {
        self.by_id.values()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::admin::{create, revoke, rotate, NewKey};
    use crate::keys::format::Env;
    use crate::keys::record::Scope;

    fn new_key(now: u64) -> (KeyRecord, String) {
        create(
            &NewKey {
                team: "t".into(),
                env: Env::Live,
                scopes: vec![Scope::Chat],
                ..NewKey::default()
            },
            now,
        )
    }

    #[test]
    fn a_created_key_verifies_and_nothing_else_does() {
        let (rec, key) = new_key(1000);
        let idx = KeyIndex::new(vec![rec.clone()]);
        assert_eq!(idx.verify(key.as_bytes(), 1000).unwrap().id, rec.id);
        // A well-formed key of another id, and a well-formed key of this id with another secret.
        let (_, other) = new_key(1000);
        assert_eq!(idx.verify(other.as_bytes(), 1000), Err(Rejection::Unknown));
        let forged = format::new_key(Env::Live, &rec.id);
        assert_eq!(idx.verify(forged.as_bytes(), 1000), Err(Rejection::Unknown));
        let test_twin = format::new_key(Env::Test, &rec.id);
        assert_eq!(
            idx.verify(test_twin.as_bytes(), 1000),
            Err(Rejection::Unknown)
        );
        assert_eq!(idx.verify(b"sk-not-ours", 1000), Err(Rejection::Malformed));
    }

    #[test]
    fn rotation_keeps_the_old_secret_for_the_grace_only() {
        let (mut rec, old) = new_key(1000);
        let new = rotate(&mut rec, 3600, 2000);
        let idx = KeyIndex::new(vec![rec]);
        assert!(idx.verify(old.as_bytes(), 5599).is_ok());
        assert!(idx.verify(new.as_bytes(), 5599).is_ok());
        assert_eq!(idx.verify(old.as_bytes(), 5600), Err(Rejection::Unknown));
        assert!(idx.verify(new.as_bytes(), 5600).is_ok());
    }

    #[test]
    fn revoked_and_expired_keys_are_refused() {
        let (mut rec, key) = new_key(1000);
        rec.expires_at = Some(2000);
        let idx = KeyIndex::new(vec![rec.clone()]);
        assert!(idx.verify(key.as_bytes(), 1999).is_ok());
        assert_eq!(idx.verify(key.as_bytes(), 2000), Err(Rejection::Expired));
        revoke(&mut rec, 1500);
        let idx = KeyIndex::new(vec![rec]);
        assert_eq!(idx.verify(key.as_bytes(), 1600), Err(Rejection::Revoked));
    }

    #[test]
    fn duplicate_ids_name_both_entries() {
        let (rec, _) = new_key(1000);
        let s = rec.to_stored();
        let e = KeyIndex::from_stored(&[s.clone(), s], "keys").unwrap_err();
        assert_eq!(e.field, "keys[1].id");
        assert!(e.message.contains("keys[0]"));
    }
}
