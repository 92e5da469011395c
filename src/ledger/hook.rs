//! The per-request hook: the ledger record of a finished request, read off its context. Pure (the
//! logging phase sends what this returns); everything it needs the earlier phases left in `Ctx`.

use super::record::{Decision, Label, LedgerRecord, Text};
use crate::contract::{Contract, ErrorKind};
use crate::proxy::ctx::Ctx;
use crate::proxy::Gateway;
use crate::usage::Usage;
use pingora_error::{Error, ErrorSource, ErrorType};
use std::time::SystemTime;

/// Longest client-sent model name kept in a record.
const MAX_MODEL_CHARS: usize = 128;

/// How the request ended, as the logging phase sees it.
#[derive(Debug)]
pub struct Outcome<'a> {
    /// The status the client got (0: nothing was written).
    pub status: u16,
    /// What Pingora reports went wrong, if anything.
    pub error: Option<&'a Error>,
    pub now: SystemTime,
}

/// A client string, cut to a bounded length (on a character boundary).
pub fn bounded(s: &str) -> String {
    match s.char_indices().nth(MAX_MODEL_CHARS) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// Bounded label of a gateway error, and whether it is a refusal (nothing went upstream because
/// the gateway said no) rather than a failure.
pub fn reason_of(kind: ErrorKind) -> (&'static str, Decision) {
    use Decision::{Failed, Refused};
    match kind {
        ErrorKind::InvalidApiKey => ("invalid_api_key", Refused),
        ErrorKind::InvalidRequest => ("invalid_request", Refused),
        ErrorKind::ModelNotFound => ("model_not_found", Refused),
        ErrorKind::WrongModelKind => ("wrong_model_kind", Refused),
        ErrorKind::RouteNotFound => ("unknown_route", Refused),
        ErrorKind::BodyTooLarge => ("body_too_large", Refused),
        ErrorKind::LengthRequired => ("length_required", Refused),
        ErrorKind::SovereigntyViolation => ("sovereignty_policy_violation", Refused),
        ErrorKind::NoEligibleModel => ("no_eligible_model", Refused),
        ErrorKind::PermissionDenied => ("permission_denied", Refused),
        ErrorKind::RateLimited => ("rate_limited", Refused),
        ErrorKind::BudgetExceeded => ("budget_exceeded", Refused),
        ErrorKind::HeadersTooLarge => ("headers_too_large", Refused),
        ErrorKind::RequestTimeout => ("body_timeout", Refused),
        ErrorKind::ResponseNotFound => ("response_not_found", Refused),
        ErrorKind::UpstreamUnavailable => ("upstream_unavailable", Failed),
        ErrorKind::UpstreamTimeout => ("upstream_timeout", Failed),
        ErrorKind::Internal => ("internal", Failed),
        ErrorKind::StoreUnavailable => ("store_unavailable", Failed),
    }
}

/// Label of a Pingora error the gateway did not answer itself (a stream cut after its header).
fn proxy_error_reason(e: &Error) -> &'static str {
    match (e.etype(), e.esource()) {
        (_, ErrorSource::Downstream) => "client_gone",
        (ErrorType::ReadTimedout | ErrorType::ConnectTimedout, _) => "upstream_timeout",
        _ => "upstream_unavailable",
    }
}

/// The record of a finished request. Its strings are borrowed from `gw` and `ctx`: the logging
/// phase writes the line's body from it at once (`Ledger::record`), so nothing is copied twice.
pub fn record_of<'a>(gw: &'a Gateway, ctx: &'a Ctx, o: &Outcome) -> LedgerRecord<'a> {
    let elapsed = ctx.started.elapsed();
    let started = o.now.checked_sub(elapsed).unwrap_or(o.now);
    let plan = ctx.plan.as_deref();
    let cfg = &gw.cfg;
    let served = plan
        .map(|p| (p.active.model, p.active.tier))
        .or(ctx.answered);
    let model = served.map(|(m, _)| {
        let entry = cfg.catalogue.get(m);
        match plan.and_then(|p| p.routing.as_ref()) {
            Some(r) => Text::from(r.selected_model.as_str()),
            // A family entry (`claude-*`) served the concrete name the client asked for.
            None if entry.name.ends_with('*') => {
                Text::from(ctx.requested_model.as_deref().unwrap_or(&entry.name))
            }
            None => Text::from(entry.name.as_str()),
        }
    });
    let streaming = ctx.tap.as_ref().is_some_and(|t| t.streaming());
    let upstream_ok = ctx.upstream_status.is_some_and(|s| (200..300).contains(&s));
    let client_left = o
        .error
        .is_some_and(|e| e.esource() == &ErrorSource::Downstream)
        || (o.status == 0 && ctx.sent_error.is_none());
    let complete =
        !streaming || ctx.client_has_all || ctx.tap.as_ref().is_some_and(|t| t.finished());
    let client_cancelled = upstream_ok && client_left && !ctx.client_has_all;

    let (decision, reason, error) = if let Some(err) = &ctx.sent_error {
        let (label, d) = reason_of(err.kind);
        (d, Some(label), Some(Text::from(err.message.as_str())))
    } else if ctx.upstream_status.is_some() && !upstream_ok {
        let s = ctx.upstream_status.unwrap_or_default();
        (
            Decision::Failed,
            Some("upstream_status"),
            Some(format!("the upstream answered {s}").into()),
        )
    } else if upstream_ok && (complete || client_cancelled) {
        (Decision::Served, None, None)
    } else if let Some(e) = o.error {
        let reason = proxy_error_reason(e);
        let what = format!("{}: {}", reason, e.etype().as_str());
        (Decision::Failed, Some(reason), Some(what.into()))
    } else if upstream_ok {
        (
            Decision::Failed,
            Some("stream_incomplete"),
            Some("the upstream's stream ended before its end".into()),
        )
    } else if o.status == 0 {
        (Decision::Failed, Some("client_gone"), None)
    } else {
        // Answered by the gateway itself: model lists, count_tokens, stored responses.
        (Decision::Served, None, None)
    };

    let (usage, usage_estimated) = tokens(ctx, upstream_ok, complete && !client_cancelled);
    LedgerRecord {
        seq: 0,
        prev: String::new(),
        request_id: Text::from(ctx.request_id.as_str()),
        ts: {
            let mut ts = Vec::with_capacity(24);
            crate::json_line::rfc3339_millis(&mut ts, started);
            String::from_utf8(ts).expect("digits and separators").into()
        },
        key_id: ctx.key.as_ref().map(|k| Text::from(k.id.as_str())),
        team: ctx.key.as_ref().map(|k| Text::from(k.team.as_str())),
        route: ctx.route_label().into(),
        contract: match ctx.contract {
            Contract::OpenAi => "openai",
            Contract::Anthropic => "anthropic",
        }
        .into(),
        requested_model: ctx.requested_model.as_deref().map(Text::from),
        model,
        provider: plan.map(|p| Text::from(cfg.provider(p.active.provider).name.as_str())),
        tier: served.map(|(_, t)| t.as_str().into()),
        max_tier: plan.map(|p| p.cap).or(ctx.cap).map(|t| t.as_str().into()),
        cap_causes: match (plan, &ctx.sent_error) {
            (Some(p), _) => labels(&p.cap_causes),
            (None, Some(err)) => labels(&err.cap_causes),
            (None, None) => Vec::new(),
        },
        decision,
        reason: reason.map(Label::from),
        status: o.status,
        error,
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        cached_tokens: usage.cached_tokens,
        cache_write_tokens: usage.cache_write_tokens,
        reasoning_tokens: usage.reasoning_tokens,
        usage_estimated,
        duration_ms: elapsed.as_millis() as u64,
        ttft_ms: ctx
            .first_byte
            .map(|t| t.duration_since(ctx.started).as_millis() as u64),
        attempts: if plan.is_some() {
            ctx.attempt as u32 + 1
        } else {
            0
        },
        stream: plan.is_some_and(|p| p.stream),
        client_cancelled,
        hash: String::new(),
    }
}

/// What set the cap, as bounded kinds (`team`, `sensitive:iban`): never the text that was found.
fn labels(kinds: &[crate::policy::CauseKind]) -> Vec<Text<'static>> {
    kinds.iter().map(|k| k.label()).collect()
}

/// The usage to record: the upstream's when the answer completed with it; otherwise, for an
/// answer that started (2xx), an estimate marked as such — the upstream's counts where it gave
/// some (Anthropic reports the input at the start of a stream), the request's size / 4 for the
/// input, one token per event the client got (or its bytes / 4 for a whole answer) for the
/// output.
fn tokens(ctx: &Ctx, upstream_ok: bool, complete: bool) -> (Usage, bool) {
    let reported = ctx.usage;
    match reported {
        Some(u) if complete => (u, false),
        _ if !upstream_ok => (reported.unwrap_or_default(), false),
        _ => {
            let u = reported.unwrap_or_default();
            let streaming = ctx.tap.as_ref().is_some_and(|t| t.streaming());
            let output = if streaming {
                ctx.sent_events
            } else {
                ctx.sent_bytes / 4
            };
            let estimated = Usage {
                input_tokens: if u.input_tokens > 0 {
                    u.input_tokens
                } else {
                    ctx.input_estimate
                },
                output_tokens: u.output_tokens.max(output),
                ..u
            };
            (estimated, true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::contract::routes::ClientApi;
    use crate::contract::GatewayError;
    use crate::plan::{plan, Caller, Decision as PlanDecision};
    use crate::request::ClientRequest;
    use crate::store::Store;
    use bytes::Bytes;
    use std::sync::Arc;

    const CONFIG: &str = r#"
[[providers]]
name = "vllm"
api = "openai"
base_url = "http://127.0.0.1:1/v1"
[[providers]]
name = "anthropic"
api = "anthropic"
base_url = "http://127.0.0.1:2"
[[models]]
name = "qwen3-32b"
provider = "vllm"
tier = "sovereign"
[[models]]
name = "claude-*"
provider = "anthropic"
tier = "global-commercial"
[[teams]]
name = "t"
max_tier = "routed-commercial"
"#;

    const KEYS: &str = r#"
[[keys]]
id = "abcdefghijkl"
team = "t"
scopes = ["chat"]
created_at = "2026-01-01T00:00:00Z"
secrets = [{ sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" }]
"#;

    fn gateway() -> Arc<Gateway> {
        // A directory per call, as the other ledger tests do: tests run in parallel, and one
        // rewriting `keys.toml` while another read it made the reader see no keys now and then.
        let dir = std::env::temp_dir().join(format!("stav-hook-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("keys.toml"), KEYS).unwrap();
        let mut cfg = Config::from_toml(CONFIG, &dir, &dir.join("t.toml")).unwrap();
        let keys = std::mem::take(&mut cfg.keys);
        let store = Arc::new(Store::new(&cfg.store, &cfg.responses, keys).unwrap());
        let upstreams = crate::server::resolve_upstreams(&cfg).unwrap();
        Arc::new(Gateway::new(Arc::new(cfg), upstreams, store))
    }

    fn ctx_for(gw: &Arc<Gateway>, body: &str) -> Ctx {
        let mut ctx = Ctx::new(gw.clone());
        ctx.route = crate::contract::routes::lookup(&http::Method::POST, "/v1/chat/completions")
            .map(|m| m.spec);
        ctx.key = gw.store.keys().get("abcdefghijkl").cloned();
        let team = gw.cfg.team("t");
        let caller = Caller {
            team: &team,
            key_max_tier: None,
            header_max_tier: None,
            models: &[],
        };
        let body = Bytes::from(body.to_string());
        let req = ClientRequest::new(ClientApi::ChatCompletions, &body, None).unwrap();
        ctx.requested_model = Some(bounded(&req.view.model));
        ctx.input_estimate = body.len() as u64 / 4;
        match plan(&gw.cfg, &caller, &req) {
            Ok(PlanDecision::Proxy(p)) => ctx.plan = Some(p),
            Ok(PlanDecision::Answer { .. }) => unreachable!(),
            Err(e) => {
                ctx.cap = e.cap;
                ctx.sent_error = Some(e);
            }
        }
        ctx
    }

    fn done(status: u16) -> Outcome<'static> {
        Outcome {
            status,
            error: None,
            now: SystemTime::now(),
        }
    }

    fn served_usage() -> Usage {
        Usage {
            input_tokens: 120,
            output_tokens: 40,
            cached_tokens: 100,
            cache_write_tokens: 0,
            reasoning_tokens: 25,
        }
    }

    #[test]
    fn a_served_request_carries_who_where_why_and_exact_usage_but_no_content() {
        let gw = gateway();
        let prompt = "My secret prompt about the quarterly numbers";
        let body = format!(
            r#"{{"model":"qwen3-32b","messages":[{{"role":"user","content":"{prompt}"}}]}}"#
        );
        let mut ctx = ctx_for(&gw, &body);
        ctx.upstream_status = Some(200);
        ctx.usage = Some(served_usage());
        ctx.first_byte = Some(ctx.started);
        let r = record_of(&gw, &ctx, &done(200));
        assert_eq!(r.request_id, ctx.request_id);
        assert_eq!(r.key_id.as_deref(), Some("abcdefghijkl"));
        assert_eq!(r.team.as_deref(), Some("t"));
        assert_eq!(r.route, "chat_completions");
        assert_eq!(r.contract, "openai");
        assert_eq!(r.model.as_deref(), Some("qwen3-32b"));
        assert_eq!(r.provider.as_deref(), Some("vllm"));
        assert_eq!(r.tier.as_deref(), Some("sovereign"));
        assert_eq!(r.max_tier.as_deref(), Some("routed-commercial"));
        assert_eq!(r.cap_causes, ["team"]);
        assert_eq!(r.decision, Decision::Served);
        assert_eq!((r.input_tokens, r.output_tokens), (120, 40));
        assert_eq!((r.cached_tokens, r.reasoning_tokens), (100, 25));
        assert!(!r.usage_estimated && !r.client_cancelled);
        assert_eq!((r.attempts, r.ttft_ms), (1, Some(0)));
        assert!(r.ts.ends_with('Z') && r.ts.len() == 24, "{}", r.ts);
        let line = serde_json::to_string(&r).unwrap();
        assert!(!line.contains("quarterly"), "{line}");
    }

    #[test]
    fn a_policy_refusal_names_the_cap_and_its_causes_by_kind() {
        let gw = gateway();
        let ctx = ctx_for(
            &gw,
            r#"{"model":"claude-opus-4-1","messages":[{"role":"user","content":"My IBAN is DE89 3704 0044 0532 0130 00"}]}"#,
        );
        assert!(ctx.plan.is_none());
        assert_eq!(
            ctx.sent_error.as_ref().map(|e| e.kind),
            Some(ErrorKind::SovereigntyViolation)
        );
        let r = record_of(&gw, &ctx, &done(403));
        assert_eq!(r.decision, Decision::Refused);
        assert_eq!(r.reason.as_deref(), Some("sovereignty_policy_violation"));
        assert_eq!(r.requested_model.as_deref(), Some("claude-opus-4-1"));
        assert_eq!(r.max_tier.as_deref(), Some("sovereign"));
        assert_eq!(r.cap_causes, ["sensitive:iban"]);
        assert_eq!((&r.model, &r.tier, r.attempts), (&None, &None, 0));
        let line = serde_json::to_string(&r).unwrap();
        assert!(!line.contains("DE89"), "{line}");
    }

    #[test]
    fn a_budget_refusal_and_an_upstream_failure_are_told_apart() {
        let gw = gateway();
        let mut ctx = ctx_for(&gw, r#"{"model":"qwen3-32b","messages":[]}"#);
        ctx.sent_error = Some(GatewayError::new(ErrorKind::BudgetExceeded, "spent"));
        let r = record_of(&gw, &ctx, &done(429));
        assert_eq!(
            (r.decision, r.reason.as_deref(), r.status),
            (Decision::Refused, Some("budget_exceeded"), 429)
        );
        let mut ctx = ctx_for(&gw, r#"{"model":"qwen3-32b","messages":[]}"#);
        ctx.attempt = 2;
        ctx.sent_error = Some(GatewayError::new(ErrorKind::UpstreamUnavailable, "down"));
        let r = record_of(&gw, &ctx, &done(502));
        assert_eq!(
            (r.decision, r.reason.as_deref(), r.attempts),
            (Decision::Failed, Some("upstream_unavailable"), 3)
        );
        assert_eq!(r.provider.as_deref(), Some("vllm"));
        let mut ctx = ctx_for(&gw, r#"{"model":"qwen3-32b","messages":[]}"#);
        ctx.upstream_status = Some(400);
        let r = record_of(&gw, &ctx, &done(400));
        assert_eq!(
            (r.decision, r.reason.as_deref()),
            (Decision::Failed, Some("upstream_status"))
        );
    }

    #[test]
    fn a_stream_the_client_left_is_billed_with_a_marked_estimate() {
        let gw = gateway();
        let body = r#"{"model":"qwen3-32b","stream":true,"messages":[{"role":"user","content":"hello there, a prompt of some length"}]}"#;
        let mut ctx = ctx_for(&gw, body);
        ctx.upstream_status = Some(200);
        ctx.tap = Some(Box::new(crate::usage::OpenAiStreamTap::new(true, 1 << 20)));
        ctx.sent_events = 9;
        ctx.sent_bytes = 900;
        let gone = Error::new_down(ErrorType::WriteError);
        let o = Outcome {
            status: 200,
            error: Some(&gone),
            now: SystemTime::now(),
        };
        let r = record_of(&gw, &ctx, &o);
        assert_eq!(r.decision, Decision::Served);
        assert!(r.client_cancelled && r.usage_estimated && r.stream);
        assert_eq!(r.input_tokens, body.len() as u64 / 4);
        assert_eq!(r.output_tokens, 9);
        // Anthropic reports the input at the stream's start: that count is kept.
        ctx.usage = Some(Usage {
            input_tokens: 30,
            output_tokens: 1,
            cached_tokens: 12,
            ..Usage::default()
        });
        let r = record_of(&gw, &ctx, &o);
        assert_eq!(
            (r.input_tokens, r.output_tokens, r.cached_tokens),
            (30, 9, 12)
        );
        assert!(r.usage_estimated);
        // The same stream, finished: the upstream's usage, exactly.
        ctx.client_has_all = true;
        ctx.usage = Some(served_usage());
        let r = record_of(&gw, &ctx, &done(200));
        assert!(!r.client_cancelled && !r.usage_estimated);
        assert_eq!(r.input_tokens, 120);
    }

    #[test]
    fn client_model_names_are_bounded() {
        assert_eq!(bounded("qwen3-32b"), "qwen3-32b");
        assert_eq!(bounded(&"é".repeat(500)).chars().count(), MAX_MODEL_CHARS);
    }
}
