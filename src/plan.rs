//! The request phase's decision, as a pure function of the configuration and the request:
//! which catalogue model, which provider, which tier, and — through the bridge for the client's
//! contract and the provider's API — what path and which exact bytes go upstream and how the
//! answer comes back.

use crate::bridge::{self, Bridge, Crossing};
use crate::catalogue::{ModelEntry, ModelKind};
use crate::config::{Config, ProviderApi, Team, Unscannable};
use crate::contract::{ErrorKind, GatewayError};
use crate::policy::{cap_tier, effective_cap, Cap, CapInputs, CauseKind};
use crate::request::{rewrite_openai_body, ClientRequest, RequestView};
use crate::router::{self, Signals};
use crate::sensitive::{self, BodyError, Entity, Findings, ScanOptions};
use crate::tier::Tier;
use bytes::Bytes;

/// One deployment a request can be sent to, with its exact upstream bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
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
}

#[derive(Debug)]
pub struct Plan {
    /// The deployment the upstream phases send to now.
    pub active: Attempt,
    pub stream: bool,
    /// The (client contract × provider API) pair: header edits and the answer's tap.
    pub bridge: Box<dyn Bridge>,
    /// The effective sovereignty cap (`X-Stav-Max-Tier`).
    pub cap: Tier,
    /// What set the cap, as kinds (for traces).
    pub cap_causes: Vec<CauseKind>,
    /// The model name the client's answers carry (the chosen one for `auto`; the concrete name
    /// for a family entry such as `claude-*`).
    pub model_name: String,
    /// Set when `model: "auto"` chose the model.
    pub routing: Option<Routing>,
    /// The client's output budget, for token rate limits.
    pub max_output: Option<u64>,
    /// When the model has other deployments within the cap: all of them, the active one first; a
    /// failover before the first byte moves to the next (`activate`). Empty otherwise (the common
    /// case costs nothing).
    pub attempts: Vec<Attempt>,
}

impl Plan {
    /// Make attempt `i` the one the upstream phases send.
    pub fn activate(&mut self, i: usize) {
        self.active = self.attempts[i].clone();
    }

    /// Fill `attempts`: this plan's deployment first, then every other deployment of the model
    /// within the cap. Only the `model` field of the upstream body differs between them (the
    /// bridge, translation included, is the same: deployments share a wire API), so the body is
    /// spliced, not rebuilt.
    fn with_deployments(mut self, cfg: &Config) -> Result<Self, GatewayError> {
        let others: Vec<usize> = cfg.catalogue.deployments(self.active.model)[1..]
            .iter()
            .copied()
            .filter(|&d| cfg.catalogue.get(d).tier <= self.cap)
            .collect();
        if others.is_empty() {
            return Ok(self);
        }
        self.attempts = vec![self.active.clone()];
        let base = &cfg.provider(self.active.provider).base.path;
        let suffix = self.active.path[base.len()..].to_string();
        let view = RequestView::parse(&self.active.body)?;
        for d in others {
            let entry = cfg.catalogue.get(d);
            let provider = cfg.provider(entry.provider);
            let upstream_model = entry.upstream_model_for(&self.model_name);
            let body = if upstream_model == view.model {
                self.active.body.clone()
            } else {
                rewrite_openai_body(&self.active.body, &view, upstream_model, false)
            };
            self.attempts.push(Attempt {
                model: d,
                provider: entry.provider,
                api: provider.api,
                tier: entry.tier,
                path: [provider.base.path.as_str(), suffix.as_str()].concat(),
                body,
            });
        }
        Ok(self)
    }
}

/// What the Smart Router decided, as the client sees it.
#[derive(Debug, Clone)]
pub struct Routing {
    pub selected_model: String,
    pub reason: String,
    /// The team rule that matched; `None` for the default.
    pub rule: Option<usize>,
    /// The `routing_metadata` object, serialized.
    pub metadata: Box<serde_json::value::RawValue>,
}

impl PartialEq for Routing {
    fn eq(&self, other: &Self) -> bool {
        self.selected_model == other.selected_model
            && self.reason == other.reason
            && self.rule == other.rule
            && self.metadata.get() == other.metadata.get()
    }
}

/// What the request phase does with a request.
#[derive(Debug)]
pub enum Decision {
    Proxy(Box<Plan>),
    /// Answered by the gateway itself, e.g. `count_tokens` for a model without an upstream count.
    Answer {
        /// The catalogue entry it answers for.
        model: usize,
        tier: Tier,
        cap: Tier,
        /// What set the cap, as kinds (for traces).
        cap_causes: Vec<CauseKind>,
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

/// What policy makes of a request before a model is committed to: the explicit model (none for
/// `auto`), the effective cap and why, what the scan found, and the router's signals (`auto`).
#[derive(Debug)]
pub struct Assessment<'c> {
    explicit: Option<(usize, &'c ModelEntry)>,
    pub cap: Cap,
    pub entities: Vec<Entity>,
    pub signals: Option<Signals>,
}

/// The model a request will be served by, and why.
#[derive(Debug)]
pub struct Selection<'c> {
    pub idx: usize,
    pub entry: &'c ModelEntry,
    /// The name used for the upstream model and in answers (the chosen one for `auto`).
    pub name: String,
    pub cap: Tier,
    /// What set the cap, as kinds.
    pub cap_causes: Vec<CauseKind>,
    pub routing: Option<Routing>,
    /// Router candidates passed over (above the cap, not allowed for the key, ...).
    pub skipped: Vec<String>,
}

/// Apply the sovereignty policy and, for `auto`, classify the conversation. The body is parsed
/// lazily: an explicit `sovereign` model needs no scan at all.
pub fn assess<'c>(
    cfg: &'c Config,
    caller: &Caller,
    req: &ClientRequest,
) -> Result<Assessment<'c>, GatewayError> {
    let requested = req.view.model.as_str();
    let auto = requested == "auto";
    let explicit = if auto {
        None
    } else {
        let (idx, entry) = find(cfg, requested)?;
        require_kind(entry, requested, req.api.model_kind())?;
        if !caller.may_use(requested) {
            return Err(GatewayError::new(
                ErrorKind::PermissionDenied,
                crate::auth::access::model_denied(requested).message,
            )
            .with_param("model"));
        }
        Some((idx, entry))
    };
    let conversation = req.history.as_ref().map(|h| h.cap);
    let base = cap_tier(&CapInputs {
        team: Some(caller.team.max_tier),
        key: caller.key_max_tier,
        header: caller.header_max_tier,
        conversation,
        ..CapInputs::default()
    });
    // The scan matters only if something above `sovereign` could still be chosen.
    let needs_scan = base > Tier::Sovereign
        && !caller.team.sensitive_opt_out
        && explicit.is_none_or(|(i, _)| cfg.catalogue.max_tier(i) > Tier::Sovereign);
    // One walk over the raw bytes on every route: duplicate keys, invalid UTF-8 and deep nesting
    // are a 400; when the cap could still be above `sovereign` the same walk scans everything
    // that is forwarded (every value, key and number, decoded payloads, the query string, and the
    // stored turns of a continued conversation).
    let findings = if needs_scan {
        scan_forwarded(req)?
    } else {
        sensitive::validate_body(req.body).map_err(body_error)?;
        Findings::default()
    };
    let entities = findings.entities;
    // Only `auto` reads the routing signals; an explicit model needs just the scan.
    let signals = if auto {
        let conv = router::conversation(req.json()?);
        Some(router::classify(&conv, &entities))
    } else {
        None
    };
    let mut cap = effective_cap(&CapInputs {
        team: Some(caller.team.max_tier),
        key: caller.key_max_tier,
        header: caller.header_max_tier,
        sensitive: Some(&entities),
        sensitive_opt_out: caller.team.sensitive_opt_out,
        conversation,
    });
    // Text beyond the scan budget was not read: it counts as sensitive, never as clean. Binary
    // media no text detector can read follow the team's policy.
    let unread = if findings.budget_exceeded {
        Some((
            "request too large for the sensitivity scan",
            CauseKind::ScanBudget,
        ))
    } else if findings.unscannable && caller.team.unscannable == Unscannable::Sovereign {
        Some((
            "binary media the sensitivity scan cannot read (team policy)",
            CauseKind::Unscannable,
        ))
    } else {
        None
    };
    if let Some((cause, kind)) = unread {
        if cap.tier > Tier::Sovereign {
            cap.causes.clear();
            cap.kinds.clear();
            cap.tier = Tier::Sovereign;
        }
        cap.causes.push(cause.to_string());
        cap.kinds.push(kind);
    }
    Ok(Assessment {
        explicit,
        cap,
        entities,
        signals,
    })
}

/// The model for an assessed request: the explicit one if it fits the cap (403 otherwise), or the
/// team's router's choice within the cap (503 when nothing fits).
pub fn decide<'c>(
    cfg: &'c Config,
    caller: &Caller,
    requested: &str,
    a: Assessment<'c>,
) -> Result<Selection<'c>, GatewayError> {
    let cap = a.cap;
    if let Some((idx, _)) = a.explicit {
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
            .with_cap(&cap));
        };
        return Ok(Selection {
            idx,
            entry,
            name: requested.to_string(),
            cap: cap.tier,
            cap_causes: cap.kinds.clone(),
            routing: None,
            skipped: Vec::new(),
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
    let signals = a.signals.expect("assess classifies every auto request");
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
                cap_causes: cap.kinds.clone(),
                routing: Some(Routing {
                    selected_model: d.model_name,
                    reason: d.reason,
                    rule: d.rule,
                    metadata,
                }),
                skipped: d.skipped,
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
        .with_cap(&cap)),
    }
}

/// `assess`, then `decide`: what serves the request.
pub fn select<'c>(
    cfg: &'c Config,
    caller: &Caller,
    req: &ClientRequest,
) -> Result<Selection<'c>, GatewayError> {
    let a = assess(cfg, caller, req)?;
    decide(cfg, caller, &req.view.model, a)
}

/// Decide where a request goes: the model, then the bridge for the client's contract and the
/// provider's API, which prepares the exact upstream request.
pub fn plan(cfg: &Config, caller: &Caller, req: &ClientRequest) -> Result<Decision, GatewayError> {
    let sel = select(cfg, caller, req)?;
    let entry = sel.entry;
    let provider = cfg.provider(entry.provider);
    let target = bridge::Target {
        client_model: &sel.name,
        upstream_model: entry.upstream_model_for(&sel.name),
        routing: sel.routing.as_ref().map(|r| &*r.metadata),
    };
    match bridge::prepare(req, provider.api, &target)? {
        Crossing::Answer(body) => Ok(Decision::Answer {
            model: sel.idx,
            tier: entry.tier,
            cap: sel.cap,
            cap_causes: sel.cap_causes,
            body,
        }),
        Crossing::Proxy(p) => {
            let plan = Plan {
                active: Attempt {
                    model: sel.idx,
                    provider: entry.provider,
                    api: provider.api,
                    tier: entry.tier,
                    path: [provider.base.path.as_str(), p.path.as_str()].concat(),
                    body: p.body,
                },
                stream: p.stream,
                bridge: p.bridge,
                cap: sel.cap,
                cap_causes: sel.cap_causes,
                model_name: sel.name,
                routing: sel.routing,
                max_output: req.view.max_output,
                attempts: Vec::new(),
            };
            Ok(Decision::Proxy(Box::new(plan.with_deployments(cfg)?)))
        }
    }
}

/// Scan every byte the request will forward: the body, the query string, and the stored turns a
/// continued conversation sends again.
fn scan_forwarded(req: &ClientRequest) -> Result<Findings, GatewayError> {
    let opts = ScanOptions::default();
    let mut f = sensitive::scan_body(req.body, &opts).map_err(body_error)?;
    if let Some(q) = req.query {
        f.entities.extend(sensitive::scan_text(&percent_decoded(q)));
    }
    if let Some(h) = &req.history {
        // Stored turns were validated when they were kept; they are scanned as they go out.
        let stored = serde_json::to_vec(&h.items).unwrap_or_default();
        let g = sensitive::scan_body(&stored, &opts).map_err(body_error)?;
        f.entities.extend(g.entities);
        f.unscannable |= g.unscannable;
        f.budget_exceeded |= g.budget_exceeded;
    }
    f.entities.sort();
    f.entities.dedup();
    Ok(f)
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
        ModelKind::Chat => "a chat model; use /v1/chat/completions, /v1/responses or /v1/messages",
        ModelKind::Embeddings => "an embedding model; use /v1/embeddings",
    };
    Err(GatewayError::new(
        ErrorKind::WrongModelKind,
        format!("The model `{requested}` is {what}."),
    )
    .with_param("model"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::routes::ClientApi;
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

    /// Plan `body` for the client API as the request phase would.
    fn run(
        cfg: &Config,
        caller: &Caller,
        api: ClientApi,
        body: &Bytes,
        query: Option<&str>,
    ) -> Result<Decision, GatewayError> {
        plan(cfg, caller, &ClientRequest::new(api, body, query)?)
    }

    fn plan_openai(
        cfg: &Config,
        caller: &Caller,
        api: ClientApi,
        body: &Bytes,
    ) -> Result<Plan, GatewayError> {
        run(cfg, caller, api, body, None).map(proxy)
    }

    fn bridge_of(p: &Plan) -> String {
        format!("{:?}", p.bridge)
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
            run(
                &cfg(),
                &caller(&team()),
                ClientApi::Messages,
                &body,
                Some("beta=true"),
            )
            .unwrap(),
        );
        assert_eq!(p.active.body, body);
        assert_eq!(p.active.body.as_ptr(), body.as_ptr(), "not even copied");
        assert_eq!(p.active.path, "/v1/messages?beta=true");
        assert_eq!(bridge_of(&p), "AnthropicPass");
        assert_eq!(p.active.tier, Tier::GlobalCommercial);
    }

    #[test]
    fn pinned_claude_model_is_spliced_only() {
        let body = Bytes::from_static(br#"{"max_tokens":5,"model":"claude-pinned","messages":[]}"#);
        let p = proxy(
            run(
                &cfg(),
                &caller(&team()),
                ClientApi::CountTokens,
                &body,
                None,
            )
            .unwrap(),
        );
        assert_eq!(
            &p.active.body[..],
            br#"{"max_tokens":5,"model":"claude-sonnet-4-5","messages":[]}"#
        );
        assert_eq!(p.active.path, "/v1/messages/count_tokens");
    }

    #[test]
    fn other_models_are_translated() {
        let body = Bytes::from_static(br#"{"model":"qwen3-32b","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#);
        let p = proxy(
            run(
                &cfg(),
                &caller(&team()),
                ClientApi::Messages,
                &body,
                Some("beta=true"),
            )
            .unwrap(),
        );
        assert_eq!(p.active.path, "/v1/chat/completions");
        let sent: serde_json::Value = serde_json::from_slice(&p.active.body).unwrap();
        assert_eq!(sent["model"], "Qwen/Qwen3-32B");
        assert_eq!(sent["stream_options"]["include_usage"], true);
        assert!(
            bridge_of(&p).starts_with("MessagesToChat")
                && bridge_of(&p).contains("client_model: \"qwen3-32b\", stream: true")
        );
    }

    #[test]
    fn count_tokens_for_other_models_is_answered_locally() {
        let body = Bytes::from_static(
            br#"{"model":"qwen3-32b","messages":[{"role":"user","content":"hello there"}]}"#,
        );
        match run(
            &cfg(),
            &caller(&team()),
            ClientApi::CountTokens,
            &body,
            None,
        )
        .unwrap()
        {
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
        let p = plan_openai(&cfg(), &caller(&team()), ClientApi::ChatCompletions, &body).unwrap();
        assert_eq!(p.active.path, "/v1/messages");
        let sent: serde_json::Value = serde_json::from_slice(&p.active.body).unwrap();
        assert_eq!(sent["model"], "claude-sonnet-4-5");
        assert_eq!(sent["max_tokens"], 4096);
        assert!(
            bridge_of(&p).starts_with("ChatToMessages")
                && bridge_of(&p).contains("client_model: \"claude-pinned\", stream: true")
        );
        let e = plan_openai(
            &cfg(),
            &caller(&team()),
            ClientApi::Embeddings,
            &Bytes::from_static(br#"{"model":"claude-x","input":"a"}"#),
        )
        .unwrap_err();
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn wrong_kinds_and_contracts() {
        let c = cfg();
        let e = run(
            &c,
            &caller(&team()),
            ClientApi::Messages,
            &Bytes::from_static(br#"{"model":"bge-m3","max_tokens":1,"messages":[]}"#),
            None,
        )
        .unwrap_err();
        assert_eq!(e.status(), 400);
        let e = plan_openai(
            &c,
            &caller(&team()),
            ClientApi::ChatCompletions,
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
            ClientApi::ChatCompletions,
            &Bytes::from_static(br#"{"model":"qwen3-32b","messages":[],"max_tokens":77}"#),
        )
        .unwrap();
        assert_eq!(ok.max_output, Some(77));
        let e = plan_openai(
            &c,
            &caller,
            ClientApi::Embeddings,
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
        let open = plan_openai(&c, &caller(&t), ClientApi::ChatCompletions, &body).unwrap();
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
        let p = plan_openai(&c, &capped, ClientApi::ChatCompletions, &body).unwrap();
        assert!(
            p.attempts.is_empty(),
            "a single deployment needs no attempt list"
        );
        assert_eq!((p.active.tier, p.active.provider), (Tier::Sovereign, 1));
        let mut open = open;
        open.activate(1);
        assert_eq!(
            (open.active.provider, open.active.tier),
            (1, Tier::Sovereign)
        );
        assert_eq!(open.active.body, open.attempts[1].body);
    }

    // The scan wired into the plan: hidden places, the forwarded query string, the 400 for a body
    // no route accepts, and the team's reading of binary media.
    fn messages(body: &str, query: Option<&str>, team: &Team) -> Result<Decision, GatewayError> {
        run(
            &cfg(),
            &caller(team),
            ClientApi::Messages,
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
            let e = messages(body, None, &team()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::SovereigntyViolation, "{body}");
        }
        let e = messages(
            r#"{"model":"claude-x","max_tokens":5,"messages":[]}"#,
            Some("beta=true&email=anna.nowak%40gmail.com"),
            &team(),
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
            &team(),
        )
        .unwrap_err();
        assert_eq!((e.status(), e.kind), (400, ErrorKind::InvalidRequest));
        assert_eq!(e.param.as_deref(), Some("$.messages[0].content"));
        // Also where no scan runs (a sovereign model): one validation on every route.
        let e = messages(
            r#"{"model":"qwen3-32b","max_tokens":5,"x":1,"x":2,"messages":[]}"#,
            None,
            &team(),
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("$.x"));
    }

    #[test]
    fn claude_code_noreply_trailer_is_served() {
        let body = serde_json::json!({"model": "claude-x", "max_tokens": 5,
            "system": "When committing, end with Co-Authored-By: Claude <noreply@anthropic.com>",
            "messages": [{"role": "user", "content": "commit the fix"}]});
        assert!(messages(&body.to_string(), Some("beta=true"), &team()).is_ok());
    }

    #[test]
    fn binary_media_follow_the_team_policy() {
        let body = serde_json::json!({"model": "claude-x", "max_tokens": 5,
            "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                 "data": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"}},
                {"type": "text", "text": "what is this?"}]}]})
        .to_string();
        assert!(
            messages(&body, None, &team()).is_ok(),
            "allow is the default"
        );
        let strict = Team {
            unscannable: Unscannable::Sovereign,
            ..team()
        };
        let e = messages(&body, None, &strict).unwrap_err();
        assert_eq!(e.kind, ErrorKind::SovereigntyViolation);
        assert!(e.message.contains("binary media"), "{}", e.message);
    }
}
