//! One key's record: who it belongs to and what it may do. Stored (file or Redis) in a readable
//! form, validated into typed values once when a snapshot is built.

use super::format::{self, Env};
use crate::tier::Tier;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq;

/// What a key may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `POST /v1/chat/completions`, `/v1/messages`, `/v1/responses` (and its stored responses).
    Chat,
    /// `POST /v1/embeddings`.
    Embeddings,
    /// `GET /v1/models` and `GET /v1/models/{id}`.
    ModelsRead,
    /// `POST /v1/messages/count_tokens`.
    CountTokens,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::Chat,
        Scope::Embeddings,
        Scope::ModelsRead,
        Scope::CountTokens,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Chat => "chat",
            Scope::Embeddings => "embeddings",
            Scope::ModelsRead => "models:read",
            Scope::CountTokens => "count_tokens",
        }
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                format!("unknown scope {s:?}; known: chat, embeddings, models:read, count_tokens")
            })
    }
}

/// One accepted secret of a key: the current one has no end; a rotated one works until `not_after`.
#[derive(Debug, Clone, PartialEq)]
pub struct Secret {
    pub digest: [u8; 32],
    pub not_after: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyRecord {
    pub id: String,
    pub env: Env,
    pub team: String,
    pub name: Option<String>,
    pub scopes: Vec<Scope>,
    /// Model-name globs (`*`, `?`); empty = every model the team may use.
    pub models: Vec<String>,
    pub max_tier: Option<Tier>,
    /// Empty = any address.
    pub allow_ips: Vec<IpNet>,
    pub created_at: u64,
    pub expires_at: Option<u64>,
    pub revoked_at: Option<u64>,
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute (input + output).
    pub tpm: Option<u64>,
    /// Tokens per calendar month (UTC), counted by the request ledger.
    pub budget_tokens_month: Option<u64>,
    /// What listings show of the newest secret.
    pub hint: String,
    pub secrets: Vec<Secret>,
}

/// Why a record cannot be used right now (the key itself matched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    Revoked,
    Expired,
}

impl KeyRecord {
    /// Constant-time check of `digest` against every live secret; no early exit on a match.
    pub fn secret_matches(&self, digest: &[u8; 32], now: u64) -> bool {
        let mut matched = subtle::Choice::from(0);
        for s in &self.secrets {
            let live = s.not_after.is_none_or(|t| now < t);
            matched |= s.digest.ct_eq(digest) & subtle::Choice::from(u8::from(live));
        }
        matched.into()
    }

    pub fn usable(&self, now: u64) -> Result<(), Unusable> {
        if self.revoked_at.is_some() {
            return Err(Unusable::Revoked);
        }
        if self.expires_at.is_some_and(|t| now >= t) {
            return Err(Unusable::Expired);
        }
        Ok(())
    }

    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    pub fn allows_model(&self, model: &str) -> bool {
        models_allow(&self.models, model)
    }

    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.allow_ips.is_empty() || self.allow_ips.iter().any(|n| n.contains(&ip))
    }

    /// `active`, `expiring` (an old secret still in its grace), `expired` or `revoked`.
    pub fn state(&self, now: u64) -> &'static str {
        match self.usable(now) {
            Err(Unusable::Revoked) => "revoked",
            Err(Unusable::Expired) => "expired",
            Ok(())
                if self
                    .secrets
                    .iter()
                    .any(|s| s.not_after.is_some_and(|t| now < t)) =>
            {
                "expiring"
            }
            Ok(()) => "active",
        }
    }
}

/// IPv4 clients of a dual-stack listener appear as `::ffff:a.b.c.d`; match them as IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A model allowlist: empty allows every model, else one glob must match.
pub fn models_allow(globs: &[String], model: &str) -> bool {
    globs.is_empty() || globs.iter().any(|g| glob_match(g, model))
}

/// `*` matches any run of characters, `?` exactly one.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn rfc3339(t: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t)).to_string()
}

fn parse_time(s: &str) -> Result<u64, String> {
    humantime::parse_rfc3339_weak(s)
        .map_err(|e| format!("{e} (expected e.g. 2027-01-31T00:00:00Z)"))?
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| "before 1970".to_string())
}

/// The stored form, shared by the keys file (TOML) and Redis (JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredKey {
    pub id: String,
    #[serde(default = "default_env")]
    pub env: Env,
    pub team: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tier: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_tokens_month: Option<u64>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    #[serde(default)]
    pub hint: String,
    pub secrets: Vec<StoredSecret>,
}

fn default_env() -> Env {
    Env::Live
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredSecret {
    /// SHA-256 of the whole key, hex.
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
}

/// A record that failed validation; `field` is relative to the record (`scopes[1]`).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordError {
    pub field: String,
    pub message: String,
}

impl StoredKey {
    pub fn validate(&self) -> Result<KeyRecord, RecordError> {
        let err = |field: &str, message: String| RecordError {
            field: field.to_string(),
            message,
        };
        if !format::is_kid(&self.id) {
            return Err(err(
                "id",
                format!("{:?} is not a key id (12 letters or digits)", self.id),
            ));
        }
        if self.team.trim().is_empty() {
            return Err(err("team", "must not be empty".into()));
        }
        if self.scopes.is_empty() {
            return Err(err("scopes", "at least one scope is required".into()));
        }
        let mut scopes = Vec::new();
        for (i, s) in self.scopes.iter().enumerate() {
            let scope: Scope = s.parse().map_err(|e| err(&format!("scopes[{i}]"), e))?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        for (i, g) in self.models.iter().enumerate() {
            let ok = !g.is_empty()
                && g.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"._:-/*?@".contains(&c));
            if !ok {
                return Err(err(
                    &format!("models[{i}]"),
                    format!("{g:?} is not a model name pattern (letters, digits, . _ : - / @, and * ? as wildcards)"),
                ));
            }
        }
        let max_tier = self
            .max_tier
            .as_deref()
            .map(|t| t.parse::<Tier>().map_err(|e| err("max_tier", e)))
            .transpose()?;
        let mut allow_ips = Vec::new();
        for (i, s) in self.allow_ips.iter().enumerate() {
            allow_ips.push(parse_cidr(s).map_err(|e| err(&format!("allow_ips[{i}]"), e))?);
        }
        if self.rpm == Some(0) {
            return Err(err(
                "rpm",
                "must be at least 1 (leave it out for no limit)".into(),
            ));
        }
        if self.tpm == Some(0) {
            return Err(err(
                "tpm",
                "must be at least 1 (leave it out for no limit)".into(),
            ));
        }
        if self.budget_tokens_month == Some(0) {
            return Err(err(
                "budget_tokens_month",
                "must be at least 1 (leave it out for no budget)".into(),
            ));
        }
        let time = |field: &str, v: &Option<String>| {
            v.as_deref()
                .map(|s| parse_time(s).map_err(|e| err(field, e)))
                .transpose()
        };
        let created_at = parse_time(&self.created_at).map_err(|e| err("created_at", e))?;
        let expires_at = time("expires_at", &self.expires_at)?;
        let revoked_at = time("revoked_at", &self.revoked_at)?;
        if self.secrets.is_empty() {
            return Err(err(
                "secrets",
                "at least one secret digest is required".into(),
            ));
        }
        let mut secrets = Vec::new();
        for (i, s) in self.secrets.iter().enumerate() {
            let mut digest = [0u8; 32];
            hex::decode_to_slice(s.sha256.trim(), &mut digest).map_err(|_| {
                err(
                    &format!("secrets[{i}].sha256"),
                    "must be 64 hex characters (SHA-256 of the whole key)".into(),
                )
            })?;
            let not_after = time(&format!("secrets[{i}].not_after"), &s.not_after)?;
            secrets.push(Secret { digest, not_after });
        }
        Ok(KeyRecord {
            id: self.id.clone(),
            env: self.env,
            team: self.team.clone(),
            name: self.name.clone(),
            scopes,
            models: self.models.clone(),
            max_tier,
            allow_ips,
            created_at,
            expires_at,
            revoked_at,
            rpm: self.rpm,
            tpm: self.tpm,
            budget_tokens_month: self.budget_tokens_month,
            hint: self.hint.clone(),
            secrets,
        })
    }
}

impl KeyRecord {
    pub fn to_stored(&self) -> StoredKey {
        StoredKey {
            id: self.id.clone(),
            env: self.env,
            team: self.team.clone(),
            name: self.name.clone(),
            scopes: self.scopes.iter().map(|s| s.as_str().to_string()).collect(),
            models: self.models.clone(),
            max_tier: self.max_tier.map(|t| t.as_str().to_string()),
            allow_ips: self.allow_ips.iter().map(IpNet::to_string).collect(),
            rpm: self.rpm,
            tpm: self.tpm,
            budget_tokens_month: self.budget_tokens_month,
            created_at: rfc3339(self.created_at),
            expires_at: self.expires_at.map(rfc3339),
            revoked_at: self.revoked_at.map(rfc3339),
            hint: self.hint.clone(),
            secrets: self
                .secrets
                .iter()
                .map(|s| StoredSecret {
                    sha256: hex::encode(s.digest),
                    not_after: s.not_after.map(rfc3339),
                })
                .collect(),
        }
    }
}

/// A CIDR, or a bare address as its /32 or /128; host bits are cleared, IPv4-mapped IPv6
/// becomes IPv4.
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    let net = match s.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => s.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
            format!("{s:?} is not an IP address or CIDR (e.g. 203.0.113.0/24, 2001:db8::/32)")
        })?,
    };
    if let IpNet::V6(v6) = net {
        if let Some(v4) = v6.addr().to_ipv4_mapped() {
            if v6.prefix_len() >= 96 {
                let v4net =
                    ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_err(|e| e.to_string())?;
                return Ok(IpNet::V4(v4net.trunc()));
            }
        }
    }
    Ok(net.trunc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("qwen3-*", "qwen3-32b"));
        assert!(glob_match("qwen3-*", "qwen3-"));
        assert!(!glob_match("qwen3-*", "qwen2-7b"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("claude-*-4*", "claude-sonnet-4-5"));
        assert!(!glob_match("claude-*-4*", "claude-sonnet-3"));
        assert!(glob_match("bge-m?", "bge-m3"));
        assert!(!glob_match("bge-m?", "bge-m33"));
        assert!(glob_match("mistral-large", "mistral-large"));
        assert!(!glob_match("mistral-large", "mistral-large-2"));
        assert!(glob_match("a*b*c", "aXbYbZc"));
    }

    #[test]
    fn cidrs_are_normalised() {
        assert_eq!(parse_cidr("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_cidr("192.0.2.7").unwrap().to_string(), "192.0.2.7/32");
        assert_eq!(
            parse_cidr("2001:db8::1/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(
            parse_cidr("::ffff:192.0.2.0/120").unwrap().to_string(),
            "192.0.2.0/24"
        );
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("example.com").is_err());
    }

    fn record(allow: &[&str]) -> KeyRecord {
        StoredKey {
            id: "abcdefghijkl".into(),
            env: Env::Live,
            team: "t".into(),
            name: None,
            scopes: vec!["chat".into()],
            models: vec![],
            max_tier: None,
            allow_ips: allow.iter().map(|s| s.to_string()).collect(),
            rpm: None,
            tpm: None,
            budget_tokens_month: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            expires_at: None,
            revoked_at: None,
            hint: String::new(),
            secrets: vec![StoredSecret {
                sha256: "00".repeat(32),
                not_after: None,
            }],
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn ipv4_mapped_clients_match_ipv4_allowlists() {
        let r = record(&["203.0.113.0/24"]);
        assert!(r.allows_ip("203.0.113.9".parse().unwrap()));
        assert!(r.allows_ip("::ffff:203.0.113.9".parse().unwrap()));
        assert!(!r.allows_ip("203.0.114.9".parse().unwrap()));
        assert!(!r.allows_ip("2001:db8::1".parse().unwrap()));
        let v6 = record(&["2001:db8::/32"]);
        assert!(v6.allows_ip("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.allows_ip("203.0.113.9".parse().unwrap()));
        assert!(record(&[]).allows_ip("198.51.100.1".parse().unwrap()));
    }

    #[test]
    fn validation_names_the_field() {
        let mut s = record(&[]).to_stored();
        s.scopes = vec!["chat".into(), "admin".into()];
        assert_eq!(s.validate().unwrap_err().field, "scopes[1]");
        let mut s = record(&[]).to_stored();
        s.allow_ips = vec!["nope".into()];
        assert_eq!(s.validate().unwrap_err().field, "allow_ips[0]");
        let mut s = record(&[]).to_stored();
        s.secrets[0].sha256 = "abc".into();
        assert_eq!(s.validate().unwrap_err().field, "secrets[0].sha256");
        let mut s = record(&[]).to_stored();
        s.expires_at = Some("tomorrow".into());
        assert_eq!(s.validate().unwrap_err().field, "expires_at");
        let mut s = record(&[]).to_stored();
        s.id = "short".into();
        assert_eq!(s.validate().unwrap_err().field, "id");
        let mut s = record(&[]).to_stored();
        s.rpm = Some(0);
        assert_eq!(s.validate().unwrap_err().field, "rpm");
        let mut s = record(&[]).to_stored();
        s.budget_tokens_month = Some(0);
        assert_eq!(s.validate().unwrap_err().field, "budget_tokens_month");
    }

    #[test]
    fn stored_form_round_trips() {
        let mut r = record(&["10.0.0.0/8"]);
        r.expires_at = Some(1_900_000_000);
        r.secrets.push(Secret {
            digest: [7; 32],
            not_after: Some(1_800_000_000),
        });
        r.max_tier = Some(Tier::Sovereign);
        r.models = vec!["qwen3-*".into()];
        r.budget_tokens_month = Some(5_000_000);
        assert_eq!(r.to_stored().validate().unwrap(), r);
    }

    #[test]
    fn rotated_secrets_stop_at_their_end_and_revocation_wins() {
        let mut r = record(&[]);
        r.secrets = vec![
            Secret {
                digest: [1; 32],
                not_after: Some(100),
            },
            Secret {
                digest: [2; 32],
                not_after: None,
            },
        ];
        assert!(r.secret_matches(&[1; 32], 99));
        assert!(!r.secret_matches(&[1; 32], 100));
        assert!(r.secret_matches(&[2; 32], 100));
        assert!(!r.secret_matches(&[3; 32], 0));
        assert_eq!(r.state(99), "expiring");
        assert_eq!(r.state(100), "active");
        r.expires_at = Some(500);
        assert_eq!(r.usable(500), Err(Unusable::Expired));
        r.revoked_at = Some(10);
        assert_eq!(r.usable(20), Err(Unusable::Revoked));
    }
}
