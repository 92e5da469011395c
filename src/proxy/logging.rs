//! The end of every request: metrics and one access-log entry.

use super::ctx::Ctx;
use super::Gateway;
use crate::access_log::{bounded_path, Entry};
use crate::metrics;
use crate::store::responses::StoredResponse;
use pingora_error::Error;
use pingora_proxy::Session;

pub fn upstream_error(gw: &Gateway, ctx: &Ctx, e: &Error) {
    let provider = ctx.plan.as_ref().map_or("unknown", |p| {
        gw.cfg.provider(p.active.provider).name.as_str()
    });
    metrics::UPSTREAM_ERRORS
        .with_label_values(&[provider, super::failure::upstream_error_label(e)])
        .inc();
}

pub fn finish(gw: &Gateway, session: &Session, e: Option<&Error>, ctx: &mut Ctx) {
    let status = session.response_written().map_or(0, |r| r.status.as_u16());
    if let Some(ledger) = &gw.ledger {
        let outcome = crate::ledger::hook::Outcome {
            status,
            error: e,
            now: std::time::SystemTime::now(),
        };
        ledger.record(&crate::ledger::record_of(gw, ctx, &outcome));
    }
    let route = ctx.route_label();
    let served = ctx
        .plan
        .as_ref()
        .map(|p| (p.active.model, p.active.tier))
        .or(ctx.answered);
    let (model, tier) = served.map_or(("unknown", "none"), |(m, t)| {
        (gw.cfg.catalogue.get(m).name.as_str(), t.as_str())
    });
    let streaming = if ctx.stream_open { "true" } else { "false" };
    let elapsed = ctx.started.elapsed();

    metrics::REQUESTS
        .with_label_values(&[route, model, tier, metrics::status_class(status)])
        .inc();
    metrics::REQUEST_DURATION
        .with_label_values(&[route, model, streaming])
        .observe(elapsed.as_secs_f64());
    if let Some(t) = ctx.first_byte {
        metrics::TIME_TO_FIRST_BYTE
            .with_label_values(&[route, model, streaming])
            .observe(t.duration_since(ctx.started).as_secs_f64());
    }
    if let Some(u) = ctx.usage {
        metrics::TOKENS
            .with_label_values(&[route, model, tier, "input"])
            .inc_by(u.input_tokens);
        metrics::TOKENS
            .with_label_values(&[route, model, tier, "output"])
            .inc_by(u.output_tokens);
    }
    if ctx.stream_open {
        metrics::ACTIVE_STREAMS.with_label_values(&[route]).dec();
        ctx.stream_open = false;
    }

    let req = session.req_header();
    let usage = ctx.usage.unwrap_or_default();
    crate::access_log::global().record(Entry {
        time: std::time::SystemTime::now(),
        request_id: ctx.request_id.clone(),
        method: req.method.as_str().to_string(),
        path: bounded_path(req.uri.path()),
        route,
        status,
        key: ctx.key.as_ref().map(|k| k.id.clone()),
        team: ctx.key.as_ref().map(|k| k.team.clone()),
        model: served.map(|_| model.to_string()),
        tier,
        upstream_status: ctx.upstream_status,
        duration_ms: elapsed.as_millis() as u64,
        ttfb_ms: ctx
            .first_byte
            .map(|t| t.duration_since(ctx.started).as_millis() as u64),
        tokens_in: usage.input_tokens,
        tokens_out: usage.output_tokens,
        error: e.map(|e| e.to_string()),
    });
}

/// What to correct a token reservation to: the reported usage; nothing when the request failed
/// before an answer; `None` (keep the reservation) when an answer went out but its usage never
/// arrived, e.g. the client left mid-stream.
pub fn tokens_used(ctx: &Ctx) -> Option<Option<u64>> {
    match (ctx.usage, ctx.upstream_status) {
        (Some(u), _) => Some(Some(u.input_tokens + u.output_tokens)),
        (None, Some(s)) if (200..300).contains(&s) => None,
        (None, _) => Some(None),
    }
}

/// A Responses API answer that completed and asked to be kept: its id and the stored record
/// (the team's, under the cap it was served at).
pub fn kept_response(ctx: &mut Ctx) -> Option<(String, StoredResponse)> {
    let response = ctx.tap.as_mut()?.completed_response()?;
    let plan = ctx.plan.as_ref()?;
    let kept = plan.bridge.keep(response)?;
    let team = ctx.key.as_ref()?.team.clone();
    Some((
        kept.id,
        StoredResponse {
            team,
            cap: plan.cap,
            response: kept.response,
            input: kept.input,
            context: kept.context,
        },
    ))
}
