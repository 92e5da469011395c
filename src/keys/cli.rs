//! `stav-gateway keys …`: manage keys in the configured store (the keys file, or Redis).
//! The secret is printed once, by `create` and `rotate`; only its digest is stored.

use super::admin::{self, NewKey};
use super::format::Env;
use super::record::{now_unix, parse_cidr, rfc3339, KeyRecord, Scope};
use crate::config::{Config, StoreKind};
use crate::store::redis::RedisLink;
use clap::Subcommand;
use serde_json::json;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a key; prints the key once.
    Create {
        #[arg(long)]
        team: String,
        /// chat, embeddings, models:read, count_tokens (repeat for several).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Model-name glob the key may use, e.g. `qwen3-*` (repeat; none = every model).
        #[arg(long = "model")]
        models: Vec<String>,
        #[arg(long)]
        max_tier: Option<String>,
        /// IPv4/IPv6 address or CIDR the key may be used from (repeat; none = anywhere).
        #[arg(long = "allow-ip")]
        allow_ips: Vec<String>,
        /// e.g. 90d, 12h, 30m.
        #[arg(long)]
        expires_in: Option<String>,
        /// Requests per minute.
        #[arg(long)]
        rpm: Option<u64>,
        /// Tokens per minute.
        #[arg(long)]
        tpm: Option<u64>,
        /// Tokens per calendar month (UTC); past it, 429 insufficient_quota.
        #[arg(long)]
        budget_tokens_month: Option<u64>,
        /// A label for listings.
        #[arg(long)]
        name: Option<String>,
        /// Make an `hm_test_` key.
        #[arg(long)]
        test: bool,
        #[arg(long)]
        json: bool,
    },
    /// List keys (never secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one key's record.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Issue a new secret for a key; the old one keeps working for the grace period.
    Rotate {
        id: String,
        /// e.g. 24h; 0s ends the old secret now.
        #[arg(long)]
        grace: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key, immediately and for good.
    Revoke { id: String },
}

/// The configured store, as the commands see it.
enum AdminStore {
    File(PathBuf),
    Redis(Box<RedisLink>, tokio::runtime::Runtime),
}

impl AdminStore {
    fn open(cfg: &Config) -> Result<Self, String> {
        match &cfg.store.kind {
            StoreKind::File { path } => Ok(AdminStore::File(path.clone())),
            StoreKind::Redis { url, prefix } => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                Ok(AdminStore::Redis(
                    Box::new(RedisLink::new(url, prefix)?),
                    rt,
                ))
            }
        }
    }

    fn list(&self) -> Result<Vec<KeyRecord>, String> {
        match self {
            AdminStore::File(path) => super::file::read_records(path),
            AdminStore::Redis(link, rt) => rt.block_on(async {
                let mut conn = link.connect().await.map_err(redis_err)?;
                let (_, stored, bad) = link.load_keys(&mut conn).await.map_err(redis_err)?;
                if !bad.is_empty() {
                    return Err(format!("records that do not parse: {}", bad.join("; ")));
                }
                super::index::validate_all(&stored, "redis keys")
                    .map_err(|e| format!("{}: {}", e.field, e.message))
            }),
        }
    }

    fn create(&self, record: &KeyRecord) -> Result<(), String> {
        let exists = || format!("key id {} exists", record.id);
        match self {
            AdminStore::File(path) => super::file::update(path, |all| {
                if all.iter().any(|r| r.id == record.id) {
                    return Err(exists());
                }
                all.push(record.clone());
                Ok(())
            }),
            AdminStore::Redis(link, rt) => rt.block_on(async {
                let mut conn = link.connect().await.map_err(redis_err)?;
                let stored = record.to_stored();
                match link.put_key(&mut conn, &stored, None).await {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(exists()),
                    Err(e) => Err(redis_err(e)),
                }
            }),
        }
    }

    /// Change one record atomically: under the file lock, or by compare-and-set in Redis
    /// (retried if another writer got there first).
    fn update<T>(
        &self,
        id: &str,
        change: impl Fn(&mut KeyRecord) -> Result<T, String>,
    ) -> Result<(KeyRecord, T), String> {
        let missing = || format!("no key with id {id:?}");
        match self {
            AdminStore::File(path) => super::file::update(path, |all| {
                let r = all.iter_mut().find(|r| r.id == id).ok_or_else(missing)?;
                let out = change(r)?;
                Ok((r.clone(), out))
            }),
            AdminStore::Redis(link, rt) => rt.block_on(async {
                let mut conn = link.connect().await.map_err(redis_err)?;
                for _ in 0..5 {
                    let raw = link
                        .get_key(&mut conn, id)
                        .await
                        .map_err(redis_err)?
                        .ok_or_else(missing)?;
                    let mut r = serde_json::from_str::<super::record::StoredKey>(&raw)
                        .map_err(|e| format!("key {id}: {e}"))?
                        .validate()
                        .map_err(|e| format!("key {id}: {}: {}", e.field, e.message))?;
                    let out = change(&mut r)?;
                    if link
                        .put_key(&mut conn, &r.to_stored(), Some(&raw))
                        .await
                        .map_err(redis_err)?
                    {
                        return Ok((r, out));
                    }
                }
                Err(format!("key {id} keeps changing under us; try again"))
            }),
        }
    }

    fn get(&self, id: &str) -> Result<KeyRecord, String> {
        self.list()?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| format!("no key with id {id:?}"))
    }
}

fn redis_err(e: ::redis::RedisError) -> String {
    format!("redis: {e}")
}

fn duration_secs(s: &str, flag: &str) -> Result<u64, String> {
    humantime::parse_duration(s)
        .map(|d| d.as_secs())
        .map_err(|e| format!("{flag}: {e} (e.g. 90d, 24h, 30m)"))
}

fn describe(r: &KeyRecord, now: u64) -> serde_json::Value {
    let mut v = serde_json::to_value(r.to_stored()).expect("records serialise");
    v["state"] = json!(r.state(now));
    // Digests are not secrets, but nobody needs them in a listing.
    if let Some(o) = v.as_object_mut() {
        o.remove("secrets");
    }
    v["secrets"] = json!(r
        .secrets
        .iter()
        .map(|s| json!({"not_after": s.not_after.map(rfc3339)}))
        .collect::<Vec<_>>());
    v
}

pub fn run(cfg: &Config, cmd: KeysCommand) -> Result<(), String> {
    let store = AdminStore::open(cfg)?;
    let now = now_unix();
    match cmd {
        KeysCommand::Create {
            team,
            scopes,
            models,
            max_tier,
            allow_ips,
            expires_in,
            rpm,
            tpm,
            budget_tokens_month,
            name,
            test,
            json,
        } => {
            let spec = NewKey {
                team: team.clone(),
                env: if test { Env::Test } else { Env::Live },
                name,
                scopes: scopes
                    .iter()
                    .map(|s| s.parse::<Scope>().map_err(|e| format!("--scope: {e}")))
                    .collect::<Result<_, _>>()?,
                models,
                max_tier: max_tier
                    .map(|t| t.parse().map_err(|e| format!("--max-tier: {e}")))
                    .transpose()?,
                allow_ips: allow_ips
                    .iter()
                    .map(|s| parse_cidr(s).map_err(|e| format!("--allow-ip: {e}")))
                    .collect::<Result<_, _>>()?,
                expires_in: expires_in
                    .map(|s| duration_secs(&s, "--expires-in"))
                    .transpose()?,
                rpm,
                tpm,
                budget_tokens_month,
            };
            let (record, key) = admin::create(&spec, now);
            // The same validation a loading node applies: refuse what it would refuse.
            record
                .to_stored()
                .validate()
                .map_err(|e| format!("{}: {}", e.field, e.message))?;
            if !cfg.teams.iter().any(|t| t.name == team) {
                eprintln!("note: team {team:?} is not in the configuration: no team cap, no router, no team limits");
            }
            store.create(&record)?;
            if json {
                let mut v = describe(&record, now);
                v["key"] = json!(key);
                println!("{v}");
            } else {
                println!("created key {} for team {}", record.id, record.team);
                println!("key: {key}");
                println!("Store this key now: only its SHA-256 is kept; it cannot be shown again.");
            }
        }
        KeysCommand::List { json } => {
            let all = store.list()?;
            if json {
                let v: Vec<_> = all.iter().map(|r| describe(r, now)).collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                println!(
                    "{:<12}  {:<4}  {:<16}  {:<8}  {:<40}  HINT",
                    "ID", "ENV", "TEAM", "STATE", "SCOPES"
                );
                for r in &all {
                    let scopes: Vec<&str> = r.scopes.iter().map(|s| s.as_str()).collect();
                    println!(
                        "{:<12}  {:<4}  {:<16}  {:<8}  {:<40}  {}",
                        r.id,
                        r.env,
                        r.team,
                        r.state(now),
                        scopes.join(","),
                        r.hint
                    );
                }
            }
        }
        KeysCommand::Show { id, json } => {
            let r = store.get(&id)?;
            let v = describe(&r, now);
            if json {
                println!("{v}");
            } else {
                println!("{}", serde_json::to_string_pretty(&v).expect("json"));
            }
        }
        KeysCommand::Rotate { id, grace, json } => {
            let grace = duration_secs(&grace, "--grace")?;
            let (r, key) = store.update(&id, |r| {
                if r.usable(now).is_err() {
                    return Err(format!(
                        "key {id} is {}; create a new key instead",
                        r.state(now)
                    ));
                }
                Ok(admin::rotate(r, grace, now))
            })?;
            let until = rfc3339(now + grace);
            if json {
                let mut v = describe(&r, now);
                v["key"] = json!(key);
                v["previous_valid_until"] = json!(until);
                println!("{v}");
            } else {
                println!("rotated key {id}");
                println!("key: {key}");
                println!("The previous secret keeps working until {until}.");
            }
        }
        KeysCommand::Revoke { id } => {
            store.update(&id, |r| {
                admin::revoke(r, now);
                Ok(())
            })?;
            println!("revoked key {id}");
        }
    }
    Ok(())
}
