//! The request phase's decision, as a pure function of the configuration and the request:
//! which catalogue model, which provider, which tier, what path and which exact bytes go upstream,
//! and how the answer comes back.

use crate::catalogue::{ModelEntry, ModelKind};
use crate::config::{Config, ProviderApi, Team};
use crate::contract::{ErrorKind, GatewayError, Route};
use crate::policy::{effective_cap, CapInputs};
use crate::request::{rewrite_openai_body, RequestView};
use crate::router;
use crate::sensitive::{self, BodyError, Findings, ScanOptions};
use crate::tier::Tier;
use crate::translate::request::{messages_to_chat, MessagesMeta};
use crate::translate::reverse::{chat_to_messages, ChatMeta};
use bytes::Bytes;
use serde_json::json;

/// How the request and its answer cross the gateway.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// OpenAI contract to an OpenAI upstream: the body as sent, `model` spliced. `strip_usage`: the
    /// gateway forced `include_usage` on a stream and hides the extra chunk.
    OpenAiPassThrough { strip_usage: bool },
    /// Anthropic contract to an Anthropic upstream: bytes verbatim (model spliced only when the
    /// catalogue pins another name), answer unchanged.
    AnthropicPassThrough,
    /// Anthropic contract to an OpenAI upstream: translated both ways.
    AnthropicToOpenAi(MessagesMeta),
    /// OpenAI contract to an Anthropic upstream (Claude): translated both ways.
    ChatToAnthropic(ChatMeta),
}

#[derive(Debug)]
pub struct Plan {
    /// Index into the catalogue's entries.
    pub model: usize,
    /// Index into the providers (and the resolved upstreams).
    pub provider: usize,
    pub api: ProviderApi,
    pub tier: Tier,
    /// Upstream request path and query, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The body exactly as it will be sent upstream.
    pub body: Bytes,
    pub stream: bool,
    pub mode: Mode,
    /// The effective sovereignty cap (`X-Stav-Max-Tier`).
    pub cap: Tier,
    /// Set when `model: "auto"` chose the model.
    pub routing: Option<Routing>,
    /// The client's output budget, for token rate limits.
    pub max_output: Option<u64>,
    /// When the model has other deployments within the cap: all of them, the one above first; a
    /// failover before the first byte moves to the next (`activate`). Empty otherwise (the common
    /// case costs nothing).
    pub attempts: Vec<Attempt>,
}

/// One deployment a request can be sent to, with its exact upstream bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub model: usize,
    pub provider: usize,
    pub api: ProviderApi,
    pub tier: Tier,
    pub path: String,
    pub body: Bytes,
}

impl Plan {
    /// Make attempt `i` the one the upstream phases send.
    pub fn activate(&mut self, i: usize) {
        let a = &self.attempts[i];
        self.model = a.model;
        self.provider = a.provider;
        self.api = a.api;
        self.tier = a.tier;
        self.path = a.path.clone();
        self.body = a.body.clone();
    }

    /// Fill `attempts`: this plan's deployment first, then every other deployment of the model
    /// within the cap. Only the `model` field of the upstream body differs between them (the
    /// mode, translation included, is the same), so the body is spliced, not rebuilt.
    fn with_deployments(mut self, cfg: &Config, requested: &str) -> Result<Self, GatewayError> {
        let others: Vec<usize> = cfg.catalogue.deployments(self.model)[1..]
            .iter()
            .copied()
            .filter(|&d| cfg.catalogue.get(d).tier <= self.cap)
            .collect();
        if others.is_empty() {
            return Ok(self);
        }
        self.attempts = vec![Attempt {
            model: self.model,
            provider: self.provider,
            api: self.api,
            tier: self.tier,
            path: self.path.clone(),
            body: self.body.clone(),
        }];
        let base = &cfg.provider(self.provider).base.path;
        let suffix = self.path[base.len()..].to_string();
        let view = RequestView::parse(&self.body)?;
        for d in others {
            let entry = cfg.catalogue.get(d);
            let provider = cfg.provider(entry.provider);
            let upstream_model = entry.upstream_model_for(requested);
            let body = if upstream_model == view.model {
                self.body.clone()
            } else {
                rewrite_openai_body(&self.body, &view, upstream_model, false)
            };
            self.attempts.push(Attempt {
                model: d,
                provider: entry.provider,
                api: provider.api,
                tier: entry.tier,
                path: format!("{}{suffix}", provider.base.path),
                body,
            });
        }
        Ok(self)
    }
}

/// What the Smart Router decided, as the client sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    pub selected_model: String,
    pub reason: String,
    /// The `routing_metadata` object, serialized once.
    pub metadata: serde_json::Value,
}

/// What the request phase does with a request.
#[derive(Debug)]
pub enum Decision {
    Proxy(Box<Plan>),
    /// Answered by the gateway itself, e.g. `count_tokens` for a model without an upstream count.
    Answer {
        tier: Tier,
        cap: Tier,
        body: Vec<u8>,
    },
}

/// Who is asking, as far as policy is concerned.
#[derive(Debug, Clone)]
pub struct Caller<'a> {
    pub team: &'a Team,
    pub key_max_tier: Option<Tier>,
    /// `X-Stav-Max-Tier`, already parsed.
    pub header_max_tier: Option<Tier>,
    /// The key's model allowlist (globs); empty allows every model.
    pub models: &'a [String],
}

impl Caller<'_> {
    pub fn may_use(&self, model: &str) -> bool {
        crate::keys::record::models_allow(self.models, model)
    }
}

/// The model a request will be served by, and why.
struct Selection<'c> {
    idx: usize,
    entry: &'c ModelEntry,
    /// The name used for the upstream model and in answers (the chosen one for `auto`).
    name: String,
    cap: Tier,
    routing: Option<Routing>,
}

/// Apply the sovereignty policy and, for `auto`, the Smart Router. `body` is parsed lazily: an
/// explicit `sovereign` model needs no scan at all.
fn select<'c>(
    cfg: &'c Config,
    caller: &Caller,
    requested: &str,
    body: &[u8],
    query: Option<&str>,
    wanted: ModelKind,
) -> Result<Selection<'c>, GatewayError> {
    let auto = requested == "auto";
    let explicit = if auto {
        None
    } else {
        let (idx, entry) = find(cfg, requested)?;
        require_kind(entry, requested, wanted)?;
        if !caller.may_use(requested) {
            return Err(GatewayError::new(
                ErrorKind::PermissionDenied,
                crate::auth::access::model_denied(requested).message,
            )
            .with_param("model"));
        }
        Some((idx, entry))
    };
    let base = effective_cap(&CapInputs {
        team: Some(caller.team.max_tier),
        key: caller.key_max_tier,
        header: caller.header_max_tier,
        ..CapInputs::default()
    });
    // The scan matters only if something above `sovereign` could still be chosen.
    let needs_scan = base.tier > Tier::Sovereign
        && !caller.team.sensitive_opt_out
        && explicit.is_none_or(|(i, _)| cfg.catalogue.max_tier(i) > Tier::Sovereign);
    // One walk over the raw bytes on every route: duplicate keys, invalid UTF-8 and deep nesting
    // are a 400; when the cap could still be above `sovereign` the same walk scans everything
    // (every value, key and number, decoded payloads, and the query string that is forwarded).
    let findings = if needs_scan {
        let mut f = sensitive::scan_body(body, &ScanOptions::default()).map_err(body_error)?;
        if let Some(q) = query {
            f.entities.extend(sensitive::scan_text(&percent_decoded(q)));
            f.entities.sort();
            f.entities.dedup();
        }
        f
    } else {
        sensitive::validate_body(body).map_err(body_error)?;
        Findings::default()
    };
    let entities = findings.entities;
    let parsed: Option<serde_json::Value> = if auto {
        Some(serde_json::from_slice(body).map_err(|e| {
            GatewayError::new(ErrorKind::InvalidRequest, format!("invalid JSON: {e}"))
        })?)
    } else {
        None
    };
    let conv = parsed
        .as_ref()
        .map(router::conversation)
        .unwrap_or_default();
    // Only `auto` reads the routing signals; an explicit model needs just the scan.
    let signals = auto.then(|| router::classify(&conv, &entities));
    let mut cap = effective_cap(&CapInputs {
        team: Some(caller.team.max_tier),
        key: caller.key_max_tier,
        header: caller.header_max_tier,
        sensitive: Some(&entities),
        sensitive_opt_out: caller.team.sensitive_opt_out,
    });
    // Text beyond the scan budget was not read: it counts as sensitive, never as clean.
    if findings.budget_exceeded && !caller.team.sensitive_opt_out {
        if cap.tier > Tier::Sovereign {
            cap.causes.clear();
        }
        cap.tier = Tier::Sovereign;
        cap.causes
            .push("request too large for the sensitivity scan".to_string());
    }
    if let Some((idx, _)) = explicit {
        let Some((idx, entry)) = first_within(cfg, idx, cap.tier) else {
            return Err(GatewayError::new(
                ErrorKind::SovereigntyViolation,
                format!(
                    "The model `{requested}` is served at tier {}, above this request's sovereignty cap {} (set by: {}). Nothing was sent upstream.",
                    cfg.catalogue.min_tier(idx),
                    cap.tier,
                    cap.causes.join("; ")
                ),
            )
            .with_param("model")
            .with_cap(cap.tier));
        };
        return Ok(Selection {
            idx,
            entry,
            name: requested.to_string(),
            cap: cap.tier,
            routing: None,
        });
    }
    let Some(policy) = caller.team.router.as_ref() else {
        return Err(GatewayError::new(
            ErrorKind::NoEligibleModel,
            format!(
                "Team `{}` has no router policy, so `auto` cannot choose a model.",
                caller.team.name
            ),
        )
        .with_param("model"));
    };
    let signals = signals.expect("classified for auto");
    match router::route(policy, &signals, cap.tier, &cfg.catalogue, &|m| {
        caller.may_use(m)
    }) {
        Ok(d) => {
            let (idx, entry) = first_within(cfg, d.model, cap.tier)
                .expect("the router only picks models within the cap");
            let metadata = d.metadata(&signals, cap.tier);
            Ok(Selection {
                idx,
                entry,
                name: d.model_name.clone(),
                cap: cap.tier,
                routing: Some(Routing {
                    selected_model: d.model_name,
                    reason: d.reason,
                    metadata,
                }),
            })
        }
        Err(skipped) => Err(GatewayError::new(
            ErrorKind::NoEligibleModel,
            format!(
                "No model fits this request's sovereignty cap {} (set by: {}); skipped: {}.",
                cap.tier,
                cap.causes.join("; "),
                skipped.join(", ")
            ),
        )
        .with_param("model")
        .with_cap(cap.tier)),
    }
}

/// A body no route accepts: 400 naming the JSON path.
fn body_error(e: BodyError) -> GatewayError {
    let path = e.path().to_string();
    GatewayError::new(ErrorKind::InvalidRequest, e.to_string()).with_param(path)
}

/// The query string as the upstream will read it (`%40` is `@`).
fn percent_decoded(q: &str) -> String {
    let b = q.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' => {
                match (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b'&' | b'=' => out.push(b'\n'),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first deployment of the entry's model at or below `cap`.
fn first_within(cfg: &Config, idx: usize, cap: Tier) -> Option<(usize, &ModelEntry)> {
    cfg.catalogue
        .deployments(idx)
        .iter()
        .map(|&d| (d, cfg.catalogue.get(d)))
        .find(|(_, e)| e.tier <= cap)
}

pub fn model_not_found(model: &str) -> GatewayError {
    GatewayError::new(
        ErrorKind::ModelNotFound,
        format!("The model `{model}` does not exist or you do not have access to it."),
    )
    .with_param("model")
}

fn find<'c>(cfg: &'c Config, model: &str) -> Result<(usize, &'c ModelEntry), GatewayError> {
    cfg.catalogue
        .find(model)
        .ok_or_else(|| model_not_found(model))
}

fn require_kind(
    entry: &ModelEntry,
    requested: &str,
    wanted: ModelKind,
) -> Result<(), GatewayError> {
    if entry.kind == wanted {
        return Ok(());
    }
    let what = match entry.kind {
        ModelKind::Chat => "a chat model; use /v1/chat/completions or /v1/messages",
        ModelKind::Embeddings => "an embedding model; use /v1/embeddings",
    };
    Err(GatewayError::new(
        ErrorKind::WrongModelKind,
        format!("The model `{requested}` is {what}."),
    )
    .with_param("model"))
}

/// Decide where an OpenAI-contract request (chat completions, embeddings) goes.
pub fn plan_openai(
    cfg: &Config,
    caller: &Caller,
    route: Route,
    body: &Bytes,
) -> Result<Plan, GatewayError> {
    let view = RequestView::parse(body)?;
    let (wanted, endpoint) = match route {
        Route::ChatCompletions => (ModelKind::Chat, "/chat/completions"),
        Route::Embeddings => (ModelKind::Embeddings, "/embeddings"),
        _ => unreachable!("plan_openai is only called for OpenAI routes"),
    };
    // The OpenAI routes do not forward the client's query string.
    let sel = select(cfg, caller, &view.model, body, None, wanted)?;
    let (idx, entry) = (sel.idx, sel.entry);
    let provider = cfg.provider(entry.provider);
    if provider.api == ProviderApi::Anthropic {
        // Only chat reaches here (embedding entries failed the kind check).
        let req: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
            GatewayError::new(ErrorKind::InvalidRequest, format!("invalid JSON: {e}"))
        })?;
        let (translated, mut meta) = chat_to_messages(&req, entry.upstream_model_for(&sel.name))?;
        meta.client_model = sel.name.clone();
        meta.routing = sel.routing.as_ref().map(|r| r.metadata.clone());
        return Plan {
            model: idx,
            provider: entry.provider,
            api: provider.api,
            tier: entry.tier,
            path: format!("{}/v1/messages", provider.base.path),
            body: Bytes::from(serde_json::to_vec(&translated).expect("json serializes")),
            stream: meta.stream,
            mode: Mode::ChatToAnthropic(meta),
            cap: sel.cap,
            routing: sel.routing,
            max_output: view.max_output,
            attempts: Vec::new(),
        }
        .with_deployments(cfg, &sel.name);
    }
    // Streams always report usage upstream so tokens are metered; the client only sees the usage
    // chunk when it asked for it.
    let force_usage = route == Route::ChatCompletions && view.stream;
    let upstream_body = rewrite_openai_body(
        body,
        &view,
        entry.upstream_model_for(&sel.name),
        force_usage,
    );
    Plan {
        model: idx,
        provider: entry.provider,
        api: provider.api,
        tier: entry.tier,
        path: format!("{}{endpoint}", provider.base.path),
        body: upstream_body,
        stream: view.stream && route == Route::ChatCompletions,
        mode: Mode::OpenAiPassThrough {
            strip_usage: force_usage && !view.include_usage,
        },
        cap: sel.cap,
        routing: sel.routing,
        max_output: view.max_output,
        attempts: Vec::new(),
    }
    .with_deployments(cfg, &sel.name)
}

/// Decide where an Anthropic-contract request (`/v1/messages`, `count_tokens`) goes. `query` is
/// the client's query string (Claude Code sends `?beta=true`), forwarded to Anthropic upstreams.
pub fn plan_anthropic(
    cfg: &Config,
    caller: &Caller,
    route: Route,
    body: &Bytes,
    query: Option<&str>,
) -> Result<Decision, GatewayError> {
    let view = RequestView::parse(body)?;
    // The query string goes upstream on the verbatim path: it is scanned with the body.
    let sel = select(cfg, caller, &view.model, body, query, ModelKind::Chat)?;
    let (idx, entry) = (sel.idx, sel.entry);
    let provider = cfg.provider(entry.provider);
    let upstream_model = entry.upstream_model_for(&sel.name);
    match provider.api {
        ProviderApi::Anthropic => {
            let endpoint = match route {
                Route::CountTokens => "/v1/messages/count_tokens",
                _ => "/v1/messages",
            };
            let query = query.map_or(String::new(), |q| format!("?{q}"));
            Ok(Decision::Proxy(Box::new(
                Plan {
                    model: idx,
                    provider: entry.provider,
                    api: provider.api,
                    tier: entry.tier,
                    path: format!("{}{endpoint}{query}", provider.base.path),
                    body: rewrite_openai_body(body, &view, upstream_model, false),
                    stream: view.stream,
                    mode: Mode::AnthropicPassThrough,
                    cap: sel.cap,
                    routing: sel.routing,
                    max_output: view.max_output,
                    attempts: Vec::new(),
                }
                .with_deployments(cfg, &sel.name)?,
            )))
        }
        ProviderApi::OpenAi => {
            let req: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
                GatewayError::new(ErrorKind::InvalidRequest, format!("invalid JSON: {e}"))
            })?;
            if route == Route::CountTokens {
                // Counted here, never sent anywhere: no upstream has an equivalent endpoint, and
                // forwarding it elsewhere would leak the prompt beyond the model's tier.
                let mut probe = req;
                probe["max_tokens"] = json!(1);
                let t = messages_to_chat(&probe, upstream_model)?;
                let body = serde_json::to_vec(&json!({"input_tokens": t.meta.input_estimate}))
                    .expect("json serializes");
                return Ok(Decision::Answer {
                    tier: entry.tier,
                    cap: sel.cap,
                    body,
                });
            }
            let mut t = messages_to_chat(&req, upstream_model)?;
            t.meta.client_model = sel.name.clone();
            t.meta.routing = sel.routing.as_ref().map(|r| r.metadata.clone());
            Ok(Decision::Proxy(Box::new(
                Plan {
                    model: idx,
                    provider: entry.provider,
                    api: provider.api,
                    tier: entry.tier,
                    path: format!("{}/chat/completions", provider.base.path),
                    body: Bytes::from(serde_json::to_vec(&t.body).expect("json serializes")),
                    stream: t.meta.stream,
                    mode: Mode::AnthropicToOpenAi(t.meta),
                    cap: sel.cap,
                    routing: sel.routing,
                    max_output: view.max_output,
                    attempts: Vec::new(),
                }
                .with_deployments(cfg, &sel.name)?,
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A configuration from `text`, with an empty keys file beside it.
    fn config(text: &str, tag: &str) -> Config {
        let dir = std::env::temp_dir().join(format!("stav-plan-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("keys.toml"), "").unwrap();
        Config::from_toml(text, &dir, Path::new("t.toml")).unwrap()
    }

    fn cfg() -> Config {
        let text = r#"
[[providers]]
name = "vllm"
api = "openai"
base_url = "http://127.0.0.1:1/v1"
[[providers]]
name = "anthropic"
api = "anthropic"
base_url = "https://api.anthropic.com"
[[models]]
name = "qwen3-32b"
provider = "vllm"
upstream_model = "Qwen/Qwen3-32B"
tier = "sovereign"
[[models]]
name = "claude-*"
provider = "anthropic"
tier = "global-commercial"
[[models]]
name = "claude-pinned"
provider = "anthropic"
upstream_model = "claude-sonnet-4-5"
tier = "global-commercial"
[[models]]
name = "bge-m3"
provider = "vllm"
tier = "sovereign"
kind = "embeddings"
"#;
        config(text, "main")
    }

    fn team() -> Team {
        Team::unlisted("t")
    }

    fn caller(team: &Team) -> Caller<'_> {
        Caller {
            team,
            key_max_tier: None,
            header_max_tier: None,
            models: &[],
        }
    }

    fn proxy(d: Decision) -> Plan {
        match d {
            Decision::Proxy(p) => *p,
            Decision::Answer { .. } => panic!("expected a proxied plan"),
        }
    }

    #[test]
    fn claude_is_verbatim_with_query() {
        let body = Bytes::from_static(br#"{"model":"claude-sonnet-4-5","max_tokens":5,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"ephemeral","ttl":"1h"}}]}]}"#);
        let p = proxy(
            plan_anthropic(
                &cfg(),
                &caller(&team()),
                Route::Messages,
                &body,
                Some("beta=true"),
            )
            .unwrap(),
        );
        assert_eq!(p.body, body);
        assert_eq!(p.body.as_ptr(), body.as_ptr(), "not even copied");
        assert_eq!(p.path, "/v1/messages?beta=true");
        assert_eq!(p.mode, Mode::AnthropicPassThrough);
        assert_eq!(p.tier, Tier::GlobalCommercial);
    }

    #[test]
    fn pinned_claude_model_is_spliced_only() {
        let body = Bytes::from_static(br#"{"max_tokens":5,"model":"claude-pinned","messages":[]}"#);
        let p = proxy(
            plan_anthropic(&cfg(), &caller(&team()), Route::CountTokens, &body, None).unwrap(),
        );
        assert_eq!(
            &p.body[..],
            br#"{"max_tokens":5,"model":"claude-sonnet-4-5","messages":[]}"#
        );
        assert_eq!(p.path, "/v1/messages/count_tokens");
    }

    #[test]
    fn other_models_are_translated() {
        let body = Bytes::from_static(br#"{"model":"qwen3-32b","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#);
        let p = proxy(
            plan_anthropic(
                &cfg(),
                &caller(&team()),
                Route::Messages,
                &body,
                Some("beta=true"),
            )
            .unwrap(),
        );
        assert_eq!(p.path, "/v1/chat/completions");
        let sent: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(sent["model"], "Qwen/Qwen3-32B");
        assert_eq!(sent["stream_options"]["include_usage"], true);
        assert!(
            matches!(p.mode, Mode::AnthropicToOpenAi(ref m) if m.client_model == "qwen3-32b" && m.stream)
        );
    }

    #[test]
    fn count_tokens_for_other_models_is_answered_locally() {
        let body = Bytes::from_static(
            br#"{"model":"qwen3-32b","messages":[{"role":"user","content":"hello there"}]}"#,
        );
        match plan_anthropic(&cfg(), &caller(&team()), Route::CountTokens, &body, None).unwrap() {
            Decision::Answer { tier, body: b, .. } => {
                assert_eq!(tier, Tier::Sovereign);
                let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
                assert!(v["input_tokens"].as_u64().unwrap() > 0);
            }
            Decision::Proxy(_) => panic!("count_tokens must not leave the gateway"),
        }
    }

    #[test]
    fn openai_clients_reach_claude_through_translation() {
        let body = Bytes::from_static(br#"{"model":"claude-pinned","messages":[{"role":"user","content":"hi"}],"stream":true}"#);
        let p = plan_openai(&cfg(), &caller(&team()), Route::ChatCompletions, &body).unwrap();
        assert_eq!(p.path, "/v1/messages");
        let sent: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(sent["model"], "claude-sonnet-4-5");
        assert_eq!(sent["max_tokens"], 4096);
        assert!(
            matches!(p.mode, Mode::ChatToAnthropic(ref m) if m.client_model == "claude-pinned" && m.stream)
        );
        let e = plan_openai(
            &cfg(),
            &caller(&team()),
            Route::Embeddings,
            &Bytes::from_static(br#"{"model":"claude-x","input":"a"}"#),
        )
        .unwrap_err();
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn wrong_kinds_and_contracts() {
        let c = cfg();
        let e = plan_anthropic(
            &c,
            &caller(&team()),
            Route::Messages,
            &Bytes::from_static(br#"{"model":"bge-m3","max_tokens":1,"messages":[]}"#),
            None,
        )
        .unwrap_err();
        assert_eq!(e.status(), 400);
        let e = plan_openai(
            &c,
            &caller(&team()),
            Route::ChatCompletions,
            &Bytes::from_static(br#"{"model":"nope","messages":[]}"#),
        )
        .unwrap_err();
        assert_eq!(e.status(), 404);
    }

    #[test]
    fn the_key_model_allowlist_is_a_403_for_explicit_models() {
        let c = cfg();
        let t = team();
        let globs = vec!["qwen3-*".to_string()];
        let caller = Caller {
            models: &globs,
            ..caller(&t)
        };
        let ok = plan_openai(
            &c,
            &caller,
            Route::ChatCompletions,
            &Bytes::from_static(br#"{"model":"qwen3-32b","messages":[],"max_tokens":77}"#),
        )
        .unwrap();
        assert_eq!(ok.max_output, Some(77));
        let e = plan_openai(
            &c,
            &caller,
            Route::Embeddings,
            &Bytes::from_static(br#"{"model":"bge-m3","input":"x"}"#),
        )
        .unwrap_err();
        assert_eq!((e.status(), e.kind), (403, ErrorKind::PermissionDenied));
        assert_eq!(e.param.as_deref(), Some("model"));
    }

    #[test]
    fn deployments_within_the_cap_become_attempts_with_their_own_model_name() {
        let text = r#"
[[providers]]
name = "eu-partner"
api = "openai"
base_url = "http://127.0.0.1:1/partner/v1"
[[providers]]
name = "own"
api = "openai"
base_url = "http://127.0.0.1:2/v1"
[[models]]
name = "qwen3-32b"
provider = "eu-partner"
upstream_model = "qwen3-32b-instruct"
tier = "routed-commercial"
[[models]]
name = "qwen3-32b"
provider = "own"
upstream_model = "Qwen/Qwen3-32B"
tier = "sovereign"
"#;
        let c = config(text, "dep");
        let body = Bytes::from_static(
            br#"{"model":"qwen3-32b","messages":[{"role":"user","content":"hi"}]}"#,
        );
        let t = team();
        let open = plan_openai(&c, &caller(&t), Route::ChatCompletions, &body).unwrap();
        assert_eq!(open.attempts.len(), 2);
        assert_eq!(open.attempts[0].path, "/partner/v1/chat/completions");
        assert!(std::str::from_utf8(&open.attempts[0].body)
            .unwrap()
            .contains("qwen3-32b-instruct"));
        assert_eq!(open.attempts[1].path, "/v1/chat/completions");
        assert_eq!(open.attempts[1].tier, Tier::Sovereign);
        assert!(std::str::from_utf8(&open.attempts[1].body)
            .unwrap()
            .contains("Qwen/Qwen3-32B"));
        // Capped to sovereign: the commercial deployment is neither chosen nor a failover.
        let capped = Caller {
            key_max_tier: Some(Tier::Sovereign),
            ..caller(&t)
        };
        let p = plan_openai(&c, &capped, Route::ChatCompletions, &body).unwrap();
        assert!(
            p.attempts.is_empty(),
            "a single deployment needs no attempt list"
        );
        assert_eq!((p.tier, p.provider), (Tier::Sovereign, 1));
        let mut open = open;
        open.activate(1);
        assert_eq!((open.provider, open.tier), (1, Tier::Sovereign));
        assert_eq!(open.body, open.attempts[1].body);
    }
}

#[cfg(test)]
mod sensitive_tests {
    //! The scan wired into `select`: the raw body, the forwarded query string, and the 400 for a
    //! body no route accepts.
    use super::*;
    use std::path::Path;

    fn cfg() -> Config {
        let dir = std::env::temp_dir().join(format!("stav-plan-sens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("keys.toml"), "").unwrap();
        let text = r#"
[[providers]]
name = "vllm"
api = "openai"
base_url = "http://127.0.0.1:1/v1"
[[providers]]
name = "anthropic"
api = "anthropic"
base_url = "https://api.anthropic.com"
[[models]]
name = "qwen3-32b"
provider = "vllm"
tier = "sovereign"
[[models]]
name = "claude-*"
provider = "anthropic"
tier = "global-commercial"
"#;
        Config::from_toml(text, &dir, Path::new("t.toml")).unwrap()
    }

    fn messages(body: &str, query: Option<&str>) -> Result<Decision, GatewayError> {
        let team = Team::unlisted("t");
        let caller = Caller {
            team: &team,
            key_max_tier: None,
            header_max_tier: None,
            models: &[],
        };
        plan_anthropic(
            &cfg(),
            &caller,
            Route::Messages,
            &Bytes::from(body.to_string()),
            query,
        )
    }

    #[test]
    fn hidden_places_reach_the_cap() {
        for body in [
            r#"{"model":"claude-x","max_tokens":5,"metadata":{"user_id":"DE89 3704 0044 0532 0130 00"},"messages":[]}"#,
            r#"{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"data:my IBAN DE89 3704 0044 0532 0130 00"}]}"#,
            r#"{"model":"claude-x","max_tokens":5,"card_number":4111111111111111,"messages":[]}"#,
        ] {
            let e = messages(body, None).unwrap_err();
            assert_eq!(e.kind, ErrorKind::SovereigntyViolation, "{body}");
        }
        let e = messages(
            r#"{"model":"claude-x","max_tokens":5,"messages":[]}"#,
            Some("beta=true&email=anna.nowak%40gmail.com"),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::SovereigntyViolation);
        assert!(e.message.contains("email") && !e.message.contains("anna"));
    }

    #[test]
    fn duplicate_keys_are_a_400_naming_the_path() {
        let e = messages(
            r#"{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"DE89 3704 0044 0532 0130 00","content":"hi"}]}"#,
            None,
        )
        .unwrap_err();
        assert_eq!((e.status(), e.kind), (400, ErrorKind::InvalidRequest));
        assert_eq!(e.param.as_deref(), Some("$.messages[0].content"));
        // Also where no scan runs (a sovereign model): one validation on every route.
        let e = messages(
            r#"{"model":"qwen3-32b","max_tokens":5,"x":1,"x":2,"messages":[]}"#,
            None,
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("$.x"));
    }

    #[test]
    fn claude_code_noreply_trailer_is_served() {
        let body = serde_json::json!({"model": "claude-x", "max_tokens": 5,
            "system": "When committing, end with Co-Authored-By: Claude <noreply@anthropic.com>",
            "messages": [{"role": "user", "content": "commit the fix"}]});
        assert!(messages(&body.to_string(), Some("beta=true")).is_ok());
    }
}
