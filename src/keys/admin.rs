//! What the `keys` commands do to records, without any store: create, rotate, revoke.

use super::format::{self, Env};
use super::record::{KeyRecord, Scope, Secret};
use crate::keys::sha256;
use crate::tier::Tier;
use ipnet::IpNet;

#[derive(Debug, Clone)]
pub struct NewKey {
    pub team: String,
    pub env: Env,
    pub name: Option<String>,
    pub scopes: Vec<Scope>,
    pub models: Vec<String>,
    pub max_tier: Option<Tier>,
    pub allow_ips: Vec<IpNet>,
    /// Seconds from now.
    pub expires_in: Option<u64>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub budget_tokens_month: Option<u64>,
}

impl Default for NewKey {
    fn default() -> Self {
        Self {
            team: String::new(),
            env: Env::Live,
            name: None,
            scopes: Vec::new(),
            models: Vec::new(),
            max_tier: None,
            allow_ips: Vec::new(),
            expires_in: None,
            rpm: None,
            tpm: None,
            budget_tokens_month: None,
        }
    }
}

/// A new record and its key. The key exists only in the return value: print it once.
pub fn create(spec: &NewKey, now: u64) -> (KeyRecord, String) {
    let id = format::new_kid();
    let key = format::new_key(spec.env, &id);
    let record = KeyRecord {
        id,
        env: spec.env,
        team: spec.team.clone(),
        name: spec.name.clone(),
        scopes: spec.scopes.clone(),
        models: spec.models.clone(),
        max_tier: spec.max_tier,
        allow_ips: spec.allow_ips.clone(),
        created_at: now,
        expires_at: spec.expires_in.map(|s| now + s),
        revoked_at: None,
        rpm: spec.rpm,
        tpm: spec.tpm,
        budget_tokens_month: spec.budget_tokens_month,
        hint: format::hint(&key),
        secrets: vec![Secret {
            digest: sha256(key.as_bytes()),
            not_after: None,
        }],
    };
    (record, key)
}

/// A new secret for the same key id; every older secret keeps working until `now + grace`
/// (or its own earlier end). Secrets whose grace is over are dropped.
pub fn rotate(record: &mut KeyRecord, grace_secs: u64, now: u64) -> String {
    let key = format::new_key(record.env, &record.id);
    let end = now + grace_secs;
    record
        .secrets
        .retain(|s| s.not_after.is_none_or(|t| t > now));
    for s in &mut record.secrets {
        s.not_after = Some(s.not_after.map_or(end, |t| t.min(end)));
    }
    record.secrets.push(Secret {
        digest: sha256(key.as_bytes()),
        not_after: None,
    });
    record.hint = format::hint(&key);
    key
}

/// Immediate and final for every secret of the key.
pub fn revoke(record: &mut KeyRecord, now: u64) {
    record.revoked_at.get_or_insert(now);
}
