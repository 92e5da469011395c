//! The end of every request: metrics and one access-log entry.

use super::ctx::Ctx;
use super::Gateway;
use crate::access_log::{bounded_path, Entry};
use crate::config::Config;
use crate::config_cache;
use crate::metrics;
use crate::store::responses::StoredResponse;
use pingora_error::Error;
use pingora_proxy::Session;
use prometheus::Histogram;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

pub fn upstream_error(gw: &Gateway, ctx: &Ctx, e: &Error) {
    let provider = ctx.plan.as_ref().map_or("unknown", |p| {
        gw.cfg.provider(p.active.provider).name.as_str()
    });
    metrics::UPSTREAM_ERRORS
        .with_label_values(&[provider, super::failure::upstream_error_label(e)])
        .inc();
}

/// A request's series by identity: the route, tier and class labels are `'static` strings (their
/// address and length name them: no two different texts share both) and the model is its
/// catalogue index, under the configuration the cache was filled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SeriesKey {
    route: (usize, usize),
    model: usize,
    tier: (usize, usize),
    class: (usize, usize),
    streaming: bool,
}

/// A `'static` label by identity.
fn id(label: &'static str) -> (usize, usize) {
    (label.as_ptr() as usize, label.len())
}

/// The GenAI histograms of a proxied route's request (`gen_ai.operation.name` is the route's).
struct GenAiSeries {
    input_tokens: Histogram,
    output_tokens: Histogram,
    first_token: Histogram,
}

/// Every per-request series of one label set.
struct Series {
    base: metrics::RequestSeries,
    gen_ai: Option<GenAiSeries>,
}

impl Series {
    fn resolve(l: &metrics::RequestLabels, op: Option<&str>) -> Self {
        use crate::telemetry::metrics::{TIME_TO_FIRST_TOKEN, TOKEN_USAGE};
        Series {
            base: metrics::RequestSeries::resolve(l),
            gen_ai: op.map(|op| GenAiSeries {
                input_tokens: TOKEN_USAGE.with_label_values(&[op, l.model, "input", l.tier]),
                output_tokens: TOKEN_USAGE.with_label_values(&[op, l.model, "output", l.tier]),
                first_token: TIME_TO_FIRST_TOKEN.with_label_values(&[op, l.model, l.tier]),
            }),
        }
    }
}

thread_local! {
    /// The series this worker thread has used, by label set, for the configuration it holds
    /// (emptied when the configuration changes).
    static SERIES: config_cache::Slot<HashMap<SeriesKey, Series>> = const { RefCell::new(None) };
}

/// `f` with the request's series, resolved on this thread's first request that has them.
fn with_series<R>(
    cfg: &Arc<Config>,
    key: SeriesKey,
    labels: &metrics::RequestLabels,
    op: Option<&str>,
    f: impl FnOnce(&Series) -> R,
) -> R {
    config_cache::with(
        &SERIES,
        cfg,
        |_| HashMap::new(),
        |series| {
            f(series
                .entry(key)
                .or_insert_with(|| Series::resolve(labels, op)))
        },
    )
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

    let class = metrics::status_class(status);
    let labels = metrics::RequestLabels {
        route,
        model,
        tier,
        class,
        streaming,
    };
    let key = SeriesKey {
        route: id(route),
        model: served.map_or(usize::MAX, |(m, _)| m),
        tier: id(tier),
        class: id(class),
        streaming: ctx.stream_open,
    };
    // The GenAI histograms: for proxied routes, once a model served (or was tried).
    let op = crate::telemetry::span::operation(ctx.route).filter(|_| served.is_some());
    let first_token = crate::telemetry::first_token(ctx, status);
    with_series(&gw.cfg, key, &labels, op, |s| {
        let b = &s.base;
        b.requests.inc();
        b.duration.observe(elapsed.as_secs_f64());
        if let Some(t) = ctx.first_byte {
            b.first_byte
                .observe(t.duration_since(ctx.started).as_secs_f64());
        }
        if let Some(u) = ctx.usage {
            b.input_tokens.inc_by(u.input_tokens);
            b.output_tokens.inc_by(u.output_tokens);
        }
        if let Some(g) = &s.gen_ai {
            if let Some(u) = ctx.usage {
                g.input_tokens.observe(u.input_tokens as f64);
                g.output_tokens.observe(u.output_tokens as f64);
            }
            if let Some(t) = first_token {
                g.first_token
                    .observe(t.saturating_duration_since(ctx.started).as_secs_f64());
            }
        }
    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(model: &str) -> Arc<Config> {
        let dir = std::env::temp_dir().join(format!("stav-logging-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("keys.toml"), "").unwrap();
        let text = format!(
            "[[providers]]\nname = \"p\"\napi = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
             [[models]]\nname = \"{model}\"\nprovider = \"p\"\ntier = \"sovereign\"\n"
        );
        Arc::new(Config::from_toml(&text, &dir, Path::new("t.toml")).unwrap())
    }

    fn count(model: &str) -> u64 {
        metrics::REQUESTS
            .with_label_values(&["test_route", model, "sovereign", "2xx"])
            .get()
    }

    /// One request's series through the cache, as the logging phase records it.
    fn record(cfg: &Arc<Config>, tokens: u64) {
        let model = cfg.catalogue.get(0).name.as_str();
        let labels = metrics::RequestLabels {
            route: "test_route",
            model,
            tier: "sovereign",
            class: "2xx",
            streaming: "false",
        };
        let key = SeriesKey {
            route: id(labels.route),
            model: 0,
            tier: id(labels.tier),
            class: id(labels.class),
            streaming: false,
        };
        with_series(cfg, key, &labels, Some("chat"), |s| {
            s.base.requests.inc();
            s.base.input_tokens.inc_by(tokens);
            if let Some(g) = &s.gen_ai {
                g.input_tokens.observe(tokens as f64);
            }
        });
    }

    #[test]
    fn cached_series_are_the_vectors_series_and_follow_a_reload() {
        let a = config("logging-model-a");
        let before = count("logging-model-a");
        record(&a, 3);
        record(&a, 4);
        assert_eq!(count("logging-model-a"), before + 2);
        let tokens = metrics::TOKENS
            .with_label_values(&["test_route", "logging-model-a", "sovereign", "input"])
            .get();
        assert!(tokens >= 7, "{tokens}");
        let usage = crate::telemetry::metrics::TOKEN_USAGE
            .with_label_values(&["chat", "logging-model-a", "input", "sovereign"])
            .get_sample_count();
        assert!(usage >= 2, "{usage}");
        // A reloaded configuration whose entry 0 has another name counts under that name.
        let b = config("logging-model-b");
        let before_b = count("logging-model-b");
        record(&b, 1);
        assert_eq!(count("logging-model-b"), before_b + 1);
        assert_eq!(count("logging-model-a"), before + 2);
    }
}
