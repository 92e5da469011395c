//! OpenTelemetry traces with the GenAI semantic conventions, and the GenAI Prometheus histograms.
//!
//! The request phases call a few hooks (`begin`, `attempt_started`, `upstream_headers`, `attempt_ended`,
//! `note_error`, `finish`); each records ids, indices and times in the request's
//! `RequestTrace` and nothing more. At the end (`finish`) the request's spans (`span`) are
//! written as OTLP protobuf bytes on the same thread, while what they are made of is in its
//! cache, and handed to the exporter thread (`export`), which batches and posts them.
//! With `[telemetry] otlp_endpoint` unset every hook is one check of an empty global.

pub mod export;
pub mod metrics;
pub mod otlp;
pub mod propagate;
pub mod span;

use crate::config::TelemetrySettings;
use crate::contract::{ErrorKind, GatewayError};
use crate::policy::CauseKind;
use crate::proxy::ctx::Ctx;
use crate::proxy::Gateway;
use crate::tier::Tier;
use export::Queue;
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, Sampler, SamplingDecision, ShouldSample,
};
use opentelemetry_sdk::Resource;
use span::{Finished, Served};
use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// How long one export may take before it counts as failed (and its spans as dropped).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The process's tracer, set once at start-up when `[telemetry] otlp_endpoint` is configured.
static TRACER: OnceLock<Tracer> = OnceLock::new();

#[derive(Debug)]
pub struct Tracer {
    sampler: Sampler,
    trust_client_trace: bool,
    ids: RandomIdGenerator,
    queue: Queue,
}

#[derive(Debug)]
pub enum TelemetryError {
    Exporter(reqwest::Error),
    Thread(std::io::Error),
    AlreadyStarted,
}

impl fmt::Display for TelemetryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TelemetryError::Exporter(e) => write!(f, "the OTLP exporter: {e}"),
            TelemetryError::Thread(e) => write!(f, "the exporter thread: {e}"),
            TelemetryError::AlreadyStarted => f.write_str("tracing was already started"),
        }
    }
}

impl std::error::Error for TelemetryError {}

impl Tracer {
    /// A tracer handing finished requests to `queue`.
    pub fn new(settings: &TelemetrySettings, queue: Queue) -> Self {
        Self {
            // A trusted client's decision is followed; a new trace is kept at the ratio.
            sampler: Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                settings.sample_ratio,
            ))),
            trust_client_trace: settings.trust_client_trace,
            ids: RandomIdGenerator::default(),
            queue,
        }
    }

    /// The trace of a request arriving with `headers`.
    pub fn begin(&self, headers: &http::HeaderMap) -> RequestTrace {
        let parent = if self.trust_client_trace {
            propagate::extract(headers)
        } else {
            None
        };
        let trace_id = parent
            .as_ref()
            .map_or_else(|| self.ids.new_trace_id(), |p| p.trace_id());
        let parent_cx = parent
            .as_ref()
            .map(|p| Context::new().with_remote_span_context(p.clone()));
        let decision = self.sampler.should_sample(
            parent_cx.as_ref(),
            trace_id,
            "",
            &SpanKind::Server,
            &[],
            &[],
        );
        let flags = match decision.decision {
            SamplingDecision::RecordAndSample => TraceFlags::SAMPLED,
            _ => TraceFlags::default(),
        };
        RequestTrace {
            span: SpanContext::new(
                trace_id,
                self.ids.new_span_id(),
                flags,
                false,
                decision.trace_state,
            ),
            parent: parent.map(|p| p.span_id()),
            start: SystemTime::now(),
            started: Instant::now(),
            attempts: Vec::new(),
            cap_causes: Vec::new(),
            error: OnceLock::new(),
        }
    }
}

/// Start exporting spans as `settings` say; `Ok(false)` when tracing is off. Once per process.
pub fn init(settings: &TelemetrySettings) -> Result<bool, TelemetryError> {
    let Some(otlp) = &settings.otlp else {
        return Ok(false);
    };
    let http = export::Http::new(&otlp.traces_url, &otlp.headers, EXPORT_TIMEOUT)
        .map_err(TelemetryError::Exporter)?;
    let encoder = otlp::Encoder::new(&resource(&settings.service_name));
    let queue =
        export::start(http, encoder, export::QUEUE_REQUESTS).map_err(TelemetryError::Thread)?;
    TRACER
        .set(Tracer::new(settings, queue))
        .map_err(|_| TelemetryError::AlreadyStarted)?;
    Ok(true)
}

pub fn resource(service_name: &str) -> Resource {
    Resource::builder_empty()
        .with_service_name(service_name.to_string())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build()
}

/// What one request's phases record for its spans.
#[derive(Debug)]
pub struct RequestTrace {
    /// The gateway's server span: trace id (the client's when trusted), span id, sampled flag,
    /// and the trace state passed on.
    pub span: SpanContext,
    /// The client's span, when its `traceparent` was trusted.
    pub parent: Option<SpanId>,
    pub start: SystemTime,
    started: Instant,
    pub attempts: Vec<AttemptTrace>,
    /// What set the cap of a request the gateway answered itself (a proxied one's are in its
    /// plan).
    cap_causes: Vec<CauseKind>,
    /// The error the gateway answered with, if it did (set through `&Ctx`, hence a cell).
    error: OnceLock<Noted>,
}

#[derive(Debug)]
struct Noted {
    kind: ErrorKind,
    causes: Vec<CauseKind>,
}

/// One upstream attempt: a CLIENT span.
#[derive(Debug, Clone)]
pub struct AttemptTrace {
    pub span_id: SpanId,
    /// The deployment: catalogue entry and provider.
    pub model: usize,
    pub provider: usize,
    pub tier: Tier,
    pub start: SystemTime,
    pub end: Option<SystemTime>,
    pub status: Option<u16>,
    /// `ok`, a failover reason (`connect`, `timeout`, `closed`, `status_5xx`, `status_429`,
    /// `status_529`), `closed_reused`, `status_4xx`, `error` or `cancelled`.
    pub outcome: &'static str,
}

impl RequestTrace {
    /// A time measured on the monotonic clock, on the span's wall clock.
    fn wall(&self, at: Instant) -> SystemTime {
        self.start + at.saturating_duration_since(self.started)
    }
}

/// Request phase: the request's trace (`None` when tracing is off).
pub fn begin(headers: &http::HeaderMap) -> Option<Box<RequestTrace>> {
    TRACER.get().map(|t| Box::new(t.begin(headers)))
}

/// `upstream_peer`: an attempt on the plan's active deployment starts.
pub fn attempt_started(ctx: &mut Ctx) {
    let (Some(trace), Some(plan), Some(tracer)) =
        (ctx.trace.as_deref_mut(), ctx.plan.as_deref(), TRACER.get())
    else {
        return;
    };
    trace.attempts.push(AttemptTrace {
        span_id: tracer.ids.new_span_id(),
        model: plan.active.model,
        provider: plan.active.provider,
        tier: plan.active.tier,
        start: SystemTime::now(),
        end: None,
        status: None,
        outcome: "ok",
    });
}

/// `upstream_request_filter`: the trace context the upstream joins, under the attempt's span
/// (`None` with tracing off). The client's own trace headers never go up as they came (the
/// upstream head is built without them); this is what goes up in their place.
pub fn upstream_headers(ctx: &Ctx) -> Option<propagate::TraceHeaders> {
    let trace = ctx.trace.as_deref()?;
    let parent = trace
        .attempts
        .last()
        .map_or(trace.span.span_id(), |a| a.span_id);
    let sc = SpanContext::new(
        trace.span.trace_id(),
        parent,
        trace.span.trace_flags(),
        false,
        trace.span.trace_state().clone(),
    );
    Some(propagate::headers_for(&sc))
}

/// `upstream_response_filter`: the active attempt's upstream answered with `status`.
pub fn attempt_answered(ctx: &mut Ctx, status: u16) {
    if let Some(a) = ctx.trace.as_deref_mut().and_then(|t| t.attempts.last_mut()) {
        a.status = Some(status);
    }
}

/// The active attempt failed (`outcome`: why), before a failover decision.
pub fn attempt_ended(ctx: &mut Ctx, outcome: &'static str) {
    if let Some(a) = ctx
        .trace
        .as_deref_mut()
        .and_then(|t| t.attempts.last_mut())
        .filter(|a| a.end.is_none())
    {
        a.end = Some(SystemTime::now());
        a.outcome = outcome;
    }
}

/// The gateway answers a request itself (`count_tokens` for a translated model) under a cap
/// set by `causes`.
pub fn note_cap_causes(ctx: &mut Ctx, causes: Vec<CauseKind>) {
    if let Some(t) = ctx.trace.as_deref_mut() {
        t.cap_causes = causes;
    }
}

/// The gateway answers with `err` (a refusal, or an upstream failure in the client's contract).
pub fn note_error(ctx: &Ctx, err: &GatewayError) {
    if let Some(t) = ctx.trace.as_deref() {
        let _ = t.error.set(Noted {
            kind: err.kind,
            causes: err.cap_causes.clone(),
        });
    }
}

/// When the first token went out: the first byte of a streamed answer that succeeded.
pub fn first_token(ctx: &Ctx, status: u16) -> Option<Instant> {
    let stream = ctx.plan.as_ref().is_some_and(|p| p.stream);
    ctx.first_byte
        .filter(|_| stream && (200..300).contains(&status))
}

/// `logging`: the request's spans handed to the exporter (the GenAI histograms are recorded with
/// the other per-request metrics, in `proxy::logging`).
pub fn finish(
    gw: &Gateway,
    session: &pingora_proxy::Session,
    e: Option<&pingora_error::Error>,
    ctx: &mut Ctx,
) {
    let Some(mut trace) = ctx.trace.take() else {
        return;
    };
    let Some(tracer) = TRACER.get().filter(|_| trace.span.is_sampled()) else {
        return;
    };
    let status = session.response_written().map_or(0, |r| r.status.as_u16());
    let first_token = first_token(ctx, status);
    let end = SystemTime::now();
    if let Some(a) = trace.attempts.last_mut().filter(|a| a.end.is_none()) {
        a.end = Some(end);
        a.status = a.status.or(ctx.upstream_status);
        a.outcome = match (a.status, e) {
            (Some(400..=499), _) => "status_4xx",
            (Some(500..), _) => "status_5xx",
            (Some(_), None) => "ok",
            (Some(_), Some(_)) => "error",
            (None, _) if status == 0 => "cancelled",
            (None, _) => "error",
        };
    }
    let noted = trace.error.take();
    let error: Option<Cow<'static, str>> = match (&noted, status) {
        (Some(n), _) => Some(span::error_label(n.kind).into()),
        (None, 400..) => Some(status.to_string().into()),
        (None, _) => e.map(|e| Cow::Borrowed(e.etype().as_str())),
    };
    let cap_causes = match (noted, ctx.plan.as_ref()) {
        (Some(n), _) if !n.causes.is_empty() => n.causes,
        (_, Some(p)) => p.cap_causes.clone(),
        _ => std::mem::take(&mut trace.cap_causes),
    };
    let served = match (&ctx.plan, ctx.answered) {
        (Some(p), _) => Some(Served {
            model: p.active.model,
            tier: p.active.tier,
            model_name: p.model_name.clone(),
            auto: p.routing.is_some(),
            routing_reason: p.routing.as_ref().map(|r| r.reason.clone()),
            max_tokens: p.max_output,
            stream: p.stream,
            proxied: true,
        }),
        (None, Some((model, tier))) => Some(Served {
            model,
            tier,
            model_name: gw.cfg.catalogue.get(model).name.clone(),
            auto: false,
            routing_reason: None,
            max_tokens: None,
            stream: false,
            proxied: false,
        }),
        (None, None) => None,
    };
    let first_token = first_token.map(|t| trace.wall(t));
    tracer.queue.offer(&Finished {
        trace,
        cfg: gw.cfg.clone(),
        end,
        request_id: ctx.request_id.clone(),
        method: session.req_header().method.clone(),
        route: ctx.route,
        status,
        served,
        cap: ctx.plan.as_ref().map(|p| p.cap).or(ctx.cap),
        cap_causes,
        key: ctx.key.clone(),
        usage: ctx.usage,
        first_token,
        error,
    });
}

#[cfg(test)]
mod tests {
    use super::export::{channel, run};
    use super::export::{ExportError, Transport};
    use super::span::sdk::spans;
    use super::span::{attr, FIRST_TOKEN_EVENT};
    use super::*;
    use crate::config::{Config, OtlpSettings};
    use crate::contract::routes;
    use crate::usage::Usage;
    use opentelemetry::trace::{Status, TraceId};
    use opentelemetry::Value;
    use opentelemetry_sdk::trace::SpanData;
    use pingora_http::RequestHeader;
    use prost::Message;
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn settings(ratio: f64, trust: bool) -> TelemetrySettings {
        TelemetrySettings {
            otlp: Some(OtlpSettings {
                traces_url: "http://127.0.0.1:1/v1/traces".into(),
                headers: Vec::new(),
            }),
            service_name: "stav-test".into(),
            sample_ratio: ratio,
            trust_client_trace: trust,
        }
    }

    pub(crate) fn tracer(ratio: f64, trust: bool) -> Tracer {
        Tracer::new(&settings(ratio, trust), channel(1).0)
    }

    pub(crate) fn with_parent() -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("traceparent", PARENT.parse().unwrap());
        h.insert("tracestate", "vendor=abc".parse().unwrap());
        h
    }

    #[test]
    fn a_clients_trace_is_joined_only_when_trusted() {
        let parent_trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        let own = tracer(1.0, false).begin(&with_parent());
        assert_ne!(own.span.trace_id(), parent_trace);
        assert_eq!(own.parent, None);
        assert!(own.span.trace_state().header().is_empty());
        assert!(own.span.is_sampled());

        let joined = tracer(1.0, true).begin(&with_parent());
        assert_eq!(joined.span.trace_id(), parent_trace);
        assert_eq!(
            joined.parent,
            Some(SpanId::from_hex("00f067aa0ba902b7").unwrap())
        );
        assert_eq!(joined.span.trace_state().get("vendor"), Some("abc"));
        assert_ne!(joined.span.span_id(), joined.parent.unwrap());
    }

    #[test]
    fn sampling_follows_the_ratio_and_a_trusted_clients_decision() {
        assert!(!tracer(0.0, false).begin(&with_parent()).span.is_sampled());
        // The client sampled this trace: a trusting gateway records it whatever its ratio.
        assert!(tracer(0.0, true).begin(&with_parent()).span.is_sampled());
        let mut unsampled = http::HeaderMap::new();
        unsampled.insert("traceparent", PARENT.replace("-01", "-00").parse().unwrap());
        assert!(!tracer(1.0, true).begin(&unsampled).span.is_sampled());
        let t = tracer(0.5, false);
        let kept = (0..2000)
            .filter(|_| t.begin(&http::HeaderMap::new()).span.is_sampled())
            .count();
        assert!((800..1200).contains(&kept), "{kept} of 2000 at 0.5");
    }

    fn config() -> Arc<Config> {
        config_named("eu-vllm")
    }

    /// The test configuration with its second provider named `second`.
    fn config_named(second: &str) -> Arc<Config> {
        let dir = std::env::temp_dir().join(format!("stav-telemetry-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("keys.toml"), "").unwrap();
        let text = r#"
[[providers]]
name = "down"
api = "openai"
base_url = "http://127.0.0.1:9/v1"
[[providers]]
name = "eu-vllm"
api = "openai"
base_url = "http://10.1.2.3:8000/v1"
[[models]]
name = "qwen3-32b"
provider = "down"
upstream_model = "Qwen/Qwen3-32B"
tier = "sovereign"
[[models]]
name = "qwen3-32b"
provider = "eu-vllm"
upstream_model = "qwen3"
tier = "sovereign"
priority = 1
"#;
        let text = text.replace("\"eu-vllm\"", &format!("{second:?}"));
        Arc::new(Config::from_toml(&text, &dir, Path::new("t.toml")).unwrap())
    }

    pub(crate) fn attempt(
        t: &Tracer,
        model: usize,
        provider: usize,
        outcome: &'static str,
    ) -> AttemptTrace {
        let now = SystemTime::now();
        AttemptTrace {
            span_id: t.ids.new_span_id(),
            model,
            provider,
            tier: Tier::Sovereign,
            start: now,
            end: Some(now),
            status: (outcome == "ok").then_some(200),
            outcome,
        }
    }

    /// A streamed chat completion that failed over from `down` to `eu-vllm`.
    pub(crate) fn finished(t: &Tracer) -> Finished {
        let mut trace = t.begin(&http::HeaderMap::new());
        trace.attempts.push(attempt(t, 0, 0, "connect"));
        trace.attempts.push(attempt(t, 1, 1, "ok"));
        let key = crate::keys::file::index(
            r#"
[[keys]]
id = "abcdefghijkl"
team = "team-a"
scopes = ["chat"]
created_at = "2026-01-01T00:00:00Z"
secrets = [{ sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" }]
"#,
        )
        .unwrap()
        .get("abcdefghijkl")
        .unwrap()
        .clone();
        let start = trace.start;
        Finished {
            trace: Box::new(trace),
            cfg: config(),
            end: start + Duration::from_millis(40),
            request_id: "req_1".into(),
            method: http::Method::POST,
            route: routes::lookup(&http::Method::POST, "/v1/chat/completions").map(|m| m.spec),
            status: 200,
            served: Some(Served {
                model: 1,
                tier: Tier::Sovereign,
                model_name: "qwen3-32b".into(),
                auto: true,
                routing_reason: Some("default → qwen3-32b".into()),
                max_tokens: Some(64),
                stream: true,
                proxied: true,
            }),
            cap: Some(Tier::Sovereign),
            cap_causes: vec![
                CauseKind::Header,
                CauseKind::Sensitive(crate::router::pii::Entity::Iban),
            ],
            key: Some(key),
            usage: Some(Usage {
                input_tokens: 12,
                output_tokens: 34,
                ..Usage::default()
            }),
            first_token: Some(start + Duration::from_millis(25)),
            error: None,
        }
    }

    pub(crate) fn test_resource() -> Resource {
        resource("stav-test")
    }

    /// A chat completion refused by policy (sensitive data above the cap): no attempt, no usage.
    fn refused(t: &Tracer) -> Finished {
        let mut f = finished(t);
        f.trace.attempts.clear();
        f.served = None;
        f.status = 403;
        f.usage = None;
        f.first_token = None;
        f.cap_causes = vec![CauseKind::Sensitive(crate::router::pii::Entity::Email)];
        f.error = Some("sovereignty_policy_violation".into());
        f
    }

    /// Requests of every shape a span takes: failover with a first token, a policy refusal,
    /// a failed local answer without a key, a trusted client's trace left before the answer.
    pub(crate) fn finished_cases() -> Vec<Finished> {
        let t = tracer(1.0, false);
        let mut out = vec![finished(&t)];
        out.push(refused(&t));
        let mut local = finished(&t);
        local.trace.attempts.clear();
        local.route = routes::lookup(&http::Method::GET, "/v1/responses/resp_1").map(|m| m.spec);
        local.method = http::Method::GET;
        local.status = 502;
        local.cap = None;
        local.key = None;
        local.served = None;
        local.usage = None;
        local.first_token = None;
        local.error = Some("store_unavailable".into());
        out.push(local);
        let trusted = tracer(1.0, true);
        let mut left = finished(&trusted);
        left.trace = Box::new(trusted.begin(&with_parent()));
        left.trace.attempts.push(attempt(&trusted, 1, 1, "ok"));
        left.status = 0;
        left.usage = None;
        left.first_token = None;
        if let Some(s) = left.served.as_mut() {
            s.auto = false;
            s.routing_reason = None;
            s.max_tokens = None;
            s.stream = false;
        }
        left.cap_causes.clear();
        out.push(left);
        out
    }

    fn get<'a>(s: &'a SpanData, key: &str) -> Option<&'a Value> {
        s.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    fn text(s: &SpanData, key: &str) -> String {
        get(s, key)
            .unwrap_or_else(|| panic!("{key} missing"))
            .as_str()
            .into_owned()
    }

    #[test]
    fn a_request_is_a_genai_server_span_with_the_sovereignty_decision() {
        let t = tracer(1.0, false);
        let f = finished(&t);
        let all = spans(&f);
        assert_eq!(all.len(), 3);
        let server = &all[0];
        assert_eq!(server.name, "chat auto");
        assert_eq!(server.span_kind, SpanKind::Server);
        assert_eq!(server.parent_span_id, SpanId::INVALID);
        assert_eq!(server.status, Status::Unset);
        for (key, want) in [
            (attr::OPERATION, "chat"),
            (attr::REQUEST_MODEL, "auto"),
            (attr::RESPONSE_MODEL, "qwen3"),
            (attr::PROVIDER, "eu-vllm"),
            (attr::PROVIDER_API, "openai"),
            (attr::SERVER_ADDRESS, "10.1.2.3"),
            (attr::TIER, "sovereign"),
            (attr::MAX_TIER, "sovereign"),
            (attr::ROUTING_REASON, "default → qwen3-32b"),
            (attr::KEY_ID, "abcdefghijkl"),
            (attr::TEAM, "team-a"),
            (attr::ROUTE, "/v1/chat/completions"),
            (attr::METHOD, "POST"),
            (attr::REQUEST_ID, "req_1"),
        ] {
            assert_eq!(text(server, key), want, "{key}");
        }
        for (key, want) in [
            (attr::SERVER_PORT, 8000),
            (attr::MAX_TOKENS, 64),
            (attr::INPUT_TOKENS, 12),
            (attr::OUTPUT_TOKENS, 34),
            (attr::STATUS, 200),
            (attr::ATTEMPTS, 2),
        ] {
            assert_eq!(get(server, key), Some(&Value::I64(want)), "{key}");
        }
        assert_eq!(
            text(server, attr::CAP_CAUSES),
            "[\"header\",\"sensitive:iban\"]"
        );
        assert!(get(server, attr::ERROR_TYPE).is_none());
        let ttft = &server.events.events;
        assert_eq!(ttft.len(), 1);
        assert_eq!(ttft[0].name, FIRST_TOKEN_EVENT);
        assert_eq!(ttft[0].attributes[0].value, Value::F64(0.025));
    }

    #[test]
    fn each_attempt_is_a_client_child_span() {
        let t = tracer(1.0, false);
        let f = finished(&t);
        let all = spans(&f);
        let (failed, ok) = (&all[1], &all[2]);
        for s in [failed, ok] {
            assert_eq!(s.span_kind, SpanKind::Client);
            assert_eq!(s.parent_span_id, all[0].span_context.span_id());
            assert_eq!(s.span_context.trace_id(), all[0].span_context.trace_id());
        }
        assert_eq!(failed.name, "chat Qwen/Qwen3-32B");
        assert_eq!(text(failed, attr::PROVIDER), "down");
        assert_eq!(text(failed, attr::OUTCOME), "connect");
        assert_eq!(text(failed, attr::ERROR_TYPE), "connect");
        assert_eq!(text(failed, attr::DEPLOYMENT), "qwen3-32b@down");
        assert_eq!(get(failed, attr::ATTEMPT), Some(&Value::I64(0)));
        assert!(matches!(failed.status, Status::Error { .. }));
        assert_eq!(ok.name, "chat qwen3");
        assert_eq!(text(ok, attr::OUTCOME), "ok");
        assert_eq!(get(ok, attr::STATUS), Some(&Value::I64(200)));
        assert_eq!(ok.status, Status::Unset);
    }

    #[test]
    fn refusals_and_local_answers_name_what_they_can() {
        let t = tracer(1.0, false);
        let mut f = refused(&t);
        let s = &spans(&f)[0];
        assert_eq!(s.name, "chat");
        assert_eq!(text(s, attr::TIER), "none");
        assert_eq!(text(s, attr::CAP_CAUSES), "[\"sensitive:email\"]");
        assert_eq!(text(s, attr::ERROR_TYPE), "sovereignty_policy_violation");
        assert_eq!(s.status, Status::Unset, "a 4xx is not the server's error");

        f.route = routes::lookup(&http::Method::GET, "/v1/responses/resp_1").map(|m| m.spec);
        f.method = http::Method::GET;
        f.status = 502;
        f.cap = None;
        assert_eq!(spans(&f)[0].name, "GET /v1/responses/{id}");
        assert!(matches!(spans(&f)[0].status, Status::Error { .. }));
        f.route = None;
        assert_eq!(spans(&f)[0].name, "GET");
    }

    #[derive(Debug, Clone, Default)]
    struct Fake {
        fail: bool,
        got: Arc<Mutex<Vec<usize>>>,
    }

    impl Transport for Fake {
        fn post(&self, body: bytes::Bytes) -> Result<(), ExportError> {
            use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
            let req = ExportTraceServiceRequest::decode(body).expect("a valid request");
            let n = req.resource_spans[0].scope_spans[0].spans.len();
            self.got.lock().unwrap().push(n);
            if self.fail {
                Err(ExportError::Status(503))
            } else {
                Ok(())
            }
        }
    }

    fn encoder() -> otlp::Encoder {
        otlp::Encoder::new(&resource("stav-test"))
    }

    fn dropped(reason: &str) -> u64 {
        metrics::SPANS_DROPPED.with_label_values(&[reason]).get()
    }

    #[test]
    fn exported_batches_are_counted_and_failed_ones_dropped() {
        let t = tracer(1.0, false);
        let ok = Fake::default();
        let (queue, rx) = channel(16);
        let before = metrics::SPANS_EXPORTED.get();
        for _ in 0..4 {
            queue.offer(&finished(&t));
        }
        drop(queue);
        run(&ok, encoder(), rx, Duration::from_secs(60));
        assert_eq!(
            *ok.got.lock().unwrap(),
            [12],
            "one batch, sent when the senders left"
        );
        assert!(metrics::SPANS_EXPORTED.get() >= before + 12);

        let down = Fake {
            fail: true,
            ..Fake::default()
        };
        let (queue, rx) = channel(16);
        let before = dropped("export_failed");
        queue.offer(&finished(&t));
        drop(queue);
        run(&down, encoder(), rx, Duration::ZERO);
        assert_eq!(*down.got.lock().unwrap(), [3]);
        assert!(dropped("export_failed") >= before + 3);
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let t = tracer(1.0, false);
        let (queue, rx) = channel(2);
        let before = dropped("queue_full");
        for _ in 0..5 {
            queue.offer(&finished(&t));
        }
        assert!(dropped("queue_full") >= before + 9, "3 requests of 3 spans");
        assert_eq!(rx.try_iter().count(), 2);
    }

    #[test]
    fn every_route_names_its_method_route_and_operation() {
        let t = tracer(1.0, false);
        for r in routes::ROUTES {
            let mut f = finished(&t);
            f.route = Some(r);
            for method in [r.method.clone(), http::Method::PATCH] {
                f.method = method.clone();
                let server = &spans(&f)[0];
                assert_eq!(text(server, attr::METHOD), method.as_str(), "{}", r.label);
                let template = text(server, attr::ROUTE);
                assert!(template.starts_with("/v1/"), "{template}");
                assert_eq!(
                    get(server, attr::OPERATION).map(|v| v.as_str().into_owned()),
                    span::operation(Some(r)).map(str::to_string),
                    "{}",
                    r.label
                );
                for key in [attr::METHOD, attr::ROUTE, attr::TIER, attr::MAX_TIER] {
                    let n = server
                        .attributes
                        .iter()
                        .filter(|kv| kv.key.as_str() == key)
                        .count();
                    assert_eq!(n, 1, "{key} once on {}", r.label);
                }
            }
        }
    }

    #[test]
    fn a_reloaded_configuration_writes_its_own_provider_attributes() {
        let t = tracer(1.0, false);
        let mut f = finished(&t);
        let providers = |f: &Finished| {
            let all = spans(f);
            (text(&all[0], attr::PROVIDER), text(&all[2], attr::PROVIDER))
        };
        assert_eq!(providers(&f), ("eu-vllm".into(), "eu-vllm".into()));
        f.cfg = config_named("eu-vllm-2");
        assert_eq!(providers(&f), ("eu-vllm-2".into(), "eu-vllm-2".into()));
        // And on the OTLP path, which copies the blocks' bytes.
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
        let mut enc = otlp::Encoder::new(&test_resource());
        span::write(&f, &mut enc);
        let got = ExportTraceServiceRequest::decode(enc.take()).unwrap();
        let spans = &got.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 3);
        for s in [&spans[0], &spans[2]] {
            let provider = s
                .attributes
                .iter()
                .find(|kv| kv.key == attr::PROVIDER)
                .and_then(|kv| kv.value.as_ref()?.value.as_ref());
            assert_eq!(provider, Some(&Any::StringValue("eu-vllm-2".into())));
        }
    }

    #[test]
    fn upstream_trace_headers_are_the_gateways_own() {
        use crate::bridge::provider::{upstream_head, Own};
        let t = tracer(1.0, false);
        let trace = t.begin(&with_parent());
        let mut client = RequestHeader::build("POST", b"/v1/chat/completions", None).unwrap();
        client.insert_header("traceparent", PARENT).unwrap();
        client.insert_header("tracestate", "vendor=abc").unwrap();
        let cfg = config();
        let store = crate::store::Store::new(&cfg.store, &cfg.responses, Default::default());
        let gw = Arc::new(Gateway::new(cfg, Vec::new(), Arc::new(store.unwrap())));
        let mut ctx = Ctx::new(gw);
        ctx.trace = Some(Box::new(trace));
        // Even a provider configured to forward them never gets the client's.
        let forward = ["traceparent".to_string(), "tracestate".to_string()];
        let host = http::HeaderValue::from_static("up.example");
        let own = Own {
            host: &host,
            credential: None,
            forward: &forward,
            content_length: 2,
            request_id: "req-1",
        };
        let head = |ctx: &Ctx| {
            upstream_head(
                crate::config::ProviderApi::OpenAi,
                &client,
                "/v1/chat/completions",
                &own,
                upstream_headers(ctx).into_iter().flatten(),
            )
            .unwrap()
        };
        let req = head(&ctx);
        let tp = req.headers["traceparent"].to_str().unwrap().to_string();
        let sent = &ctx.trace.as_ref().unwrap().span;
        assert_eq!(
            tp,
            format!("00-{}-{}-01", sent.trace_id(), sent.span_id()),
            "the client's traceparent is replaced"
        );
        assert_eq!(req.headers.get_all("traceparent").iter().count(), 1);
        assert!(req.headers.get("tracestate").is_none());

        // Tracing off: nothing of the client's trace context goes up.
        ctx.trace = None;
        let req = head(&ctx);
        assert!(req.headers.get("traceparent").is_none());
        assert!(req.headers.get("tracestate").is_none());
    }
}
