//! A finished request as spans: one SERVER span named per the GenAI conventions, and one CLIENT
//! child span per upstream attempt. Built on the exporter thread from what the request phases
//! recorded (indices into the configuration the request was served under, ids, times, counts),
//! so the request path pays for none of the strings.
//!
//! Nothing here reads a request or answer body: attributes come from the configuration, the
//! plan, the usage the taps counted, and bounded kinds. No prompt or answer text can reach a span.

use super::RequestTrace;
use crate::config::{Config, ProviderApi};
use crate::contract::routes::{ClientApi, Handler, PathSpec, RouteSpec};
use crate::contract::ErrorKind;
use crate::keys::KeyRecord;
use crate::policy::CauseKind;
use crate::tier::Tier;
use crate::usage::Usage;
use opentelemetry::trace::{Event, SpanContext, SpanId, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use std::borrow::Cow;
use std::sync::{Arc, LazyLock};
use std::time::SystemTime;

/// Attribute names: the GenAI and HTTP semantic conventions', then the gateway's own.
pub mod attr {
    pub const OPERATION: &str = "gen_ai.operation.name";
    pub const PROVIDER: &str = "gen_ai.provider.name";
    pub const REQUEST_MODEL: &str = "gen_ai.request.model";
    pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
    pub const MAX_TOKENS: &str = "gen_ai.request.max_tokens";
    pub const INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
    pub const OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
    pub const TTFT: &str = "gen_ai.server.time_to_first_token";
    pub const SERVER_ADDRESS: &str = "server.address";
    pub const SERVER_PORT: &str = "server.port";
    pub const METHOD: &str = "http.request.method";
    pub const ROUTE: &str = "http.route";
    pub const STATUS: &str = "http.response.status_code";
    pub const ERROR_TYPE: &str = "error.type";
    pub const TIER: &str = "stav.sovereignty.tier";
    pub const MAX_TIER: &str = "stav.max_tier";
    pub const CAP_CAUSES: &str = "stav.cap_causes";
    pub const ROUTING_REASON: &str = "stav.routing.reason";
    pub const KEY_ID: &str = "stav.key_id";
    pub const TEAM: &str = "stav.team";
    pub const REQUEST_ID: &str = "stav.request_id";
    pub const PROVIDER_API: &str = "stav.provider.api";
    pub const STREAM: &str = "stav.stream";
    pub const ATTEMPTS: &str = "stav.attempts";
    pub const ATTEMPT: &str = "stav.attempt";
    pub const OUTCOME: &str = "stav.attempt.outcome";
    pub const DEPLOYMENT: &str = "stav.deployment";
}

/// The first-token event's name.
pub const FIRST_TOKEN_EVENT: &str = "gen_ai.first_token";

static SCOPE: LazyLock<InstrumentationScope> = LazyLock::new(|| {
    InstrumentationScope::builder("stav-gateway")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
});

/// What the plan decided, copied at the end of the request.
#[derive(Debug, Clone)]
pub struct Served {
    /// The catalogue entry of the deployment that answered (or was tried last).
    pub model: usize,
    pub tier: Tier,
    /// The name the client's answer carries (the chosen one for `auto`).
    pub model_name: String,
    /// `model: "auto"`: the router chose.
    pub auto: bool,
    pub routing_reason: Option<String>,
    pub max_tokens: Option<u64>,
    pub stream: bool,
    /// Whether an upstream was asked (false for answers the gateway made itself).
    pub proxied: bool,
}

/// A request as the exporter thread turns it into spans.
#[derive(Debug)]
pub struct Finished {
    pub trace: Box<RequestTrace>,
    /// The configuration the request was served under (names are resolved from it).
    pub cfg: Arc<Config>,
    pub end: SystemTime,
    pub request_id: String,
    pub method: http::Method,
    pub route: Option<&'static RouteSpec>,
    /// What the client got; 0 when nothing was written (the client left).
    pub status: u16,
    pub served: Option<Served>,
    pub cap: Option<Tier>,
    pub cap_causes: Vec<CauseKind>,
    pub key: Option<Arc<KeyRecord>>,
    pub usage: Option<Usage>,
    /// When the first streamed event went to the client.
    pub first_token: Option<SystemTime>,
    pub error: Option<Cow<'static, str>>,
}

impl Finished {
    /// Spans this request becomes.
    pub fn span_count(&self) -> usize {
        1 + self.trace.attempts.len()
    }
}

/// `gen_ai.operation.name` of a proxied route (`None` for the gateway's own endpoints).
pub fn operation(route: Option<&RouteSpec>) -> Option<&'static str> {
    match route?.handler {
        Handler::Proxy(ClientApi::ChatCompletions | ClientApi::Messages | ClientApi::Responses) => {
            Some("chat")
        }
        Handler::Proxy(ClientApi::Embeddings) => Some("embeddings"),
        Handler::Proxy(ClientApi::CountTokens) => Some("count_tokens"),
        Handler::Local(_) => None,
    }
}

/// The route's template, e.g. `/v1/responses/{id}`.
fn route_template(route: &RouteSpec) -> Cow<'static, str> {
    match route.path {
        PathSpec::Exact(p) => Cow::Borrowed(p),
        PathSpec::Param { prefix, suffix } => {
            let param = if prefix.ends_with("models/") {
                "{model}"
            } else {
                "{id}"
            };
            Cow::Owned(format!("{prefix}{param}{suffix}"))
        }
    }
}

/// A bounded `error.type` for an error the gateway answered with.
pub fn error_label(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidApiKey => "invalid_api_key",
        ErrorKind::InvalidRequest => "invalid_request",
        ErrorKind::ModelNotFound => "model_not_found",
        ErrorKind::WrongModelKind => "model_not_supported",
        ErrorKind::RouteNotFound => "unknown_url",
        ErrorKind::BodyTooLarge => "request_too_large",
        ErrorKind::LengthRequired => "length_required",
        ErrorKind::UpstreamUnavailable => "upstream_unavailable",
        ErrorKind::UpstreamTimeout => "upstream_timeout",
        ErrorKind::Internal => "internal",
        ErrorKind::SovereigntyViolation => "sovereignty_policy_violation",
        ErrorKind::NoEligibleModel => "no_eligible_model",
        ErrorKind::PermissionDenied => "permission_denied",
        ErrorKind::RateLimited => "rate_limit_exceeded",
        ErrorKind::BudgetExceeded => "insufficient_quota",
        ErrorKind::HeadersTooLarge => "headers_too_large",
        ErrorKind::RequestTimeout => "request_timeout",
        ErrorKind::ResponseNotFound => "response_not_found",
        ErrorKind::StoreUnavailable => "store_unavailable",
    }
}

fn api_label(api: ProviderApi) -> &'static str {
    match api {
        ProviderApi::OpenAi => "openai",
        ProviderApi::Anthropic => "anthropic",
    }
}

fn strings(values: impl IntoIterator<Item = Cow<'static, str>>) -> Value {
    Value::Array(Array::String(
        values.into_iter().map(StringValue::from).collect(),
    ))
}

/// `ids`: the span's own id and its parent's.
fn span(
    trace: &RequestTrace,
    (span_id, parent): (SpanId, SpanId),
    kind: SpanKind,
    name: String,
    (start, end): (SystemTime, SystemTime),
    attributes: Vec<KeyValue>,
    status: Status,
) -> SpanData {
    SpanData {
        span_context: SpanContext::new(
            trace.span.trace_id(),
            span_id,
            trace.span.trace_flags(),
            false,
            trace.span.trace_state().clone(),
        ),
        parent_span_id: parent,
        parent_span_is_remote: kind == SpanKind::Server && trace.parent.is_some(),
        span_kind: kind,
        name: name.into(),
        start_time: start,
        end_time: end,
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: SCOPE.clone(),
    }
}

/// The request's spans: the server span first, then one client span per upstream attempt.
pub fn spans(f: &Finished) -> Vec<SpanData> {
    let mut out = Vec::with_capacity(f.span_count());
    out.push(server_span(f));
    let op = operation(f.route).unwrap_or("chat");
    for (i, a) in f.trace.attempts.iter().enumerate() {
        let entry = f.cfg.catalogue.get(a.model);
        let provider = f.cfg.provider(a.provider);
        let requested = f.served.as_ref().map_or("", |s| s.model_name.as_str());
        let upstream_model = entry.upstream_model_for(requested).to_string();
        let mut attrs = vec![
            KeyValue::new(attr::OPERATION, op),
            KeyValue::new(attr::PROVIDER, provider.name.clone()),
            KeyValue::new(attr::PROVIDER_API, api_label(provider.api)),
            KeyValue::new(attr::REQUEST_MODEL, upstream_model.clone()),
            KeyValue::new(attr::SERVER_ADDRESS, provider.base.host.clone()),
            KeyValue::new(attr::SERVER_PORT, i64::from(provider.base.port)),
            KeyValue::new(
                attr::DEPLOYMENT,
                format!("{}@{}", entry.name, provider.name),
            ),
            KeyValue::new(attr::TIER, a.tier.as_str()),
            KeyValue::new(attr::ATTEMPT, i as i64),
            KeyValue::new(attr::OUTCOME, a.outcome),
        ];
        if let Some(s) = a.status {
            attrs.push(KeyValue::new(attr::STATUS, i64::from(s)));
        }
        let failed = a.outcome != "ok";
        if failed {
            attrs.push(KeyValue::new(attr::ERROR_TYPE, a.outcome));
        }
        out.push(span(
            &f.trace,
            (a.span_id, f.trace.span.span_id()),
            SpanKind::Client,
            format!("{op} {upstream_model}"),
            (a.start, a.end.unwrap_or(f.end)),
            attrs,
            if failed {
                Status::error(a.outcome)
            } else {
                Status::Unset
            },
        ));
    }
    out
}

fn server_span(f: &Finished) -> SpanData {
    let op = operation(f.route);
    let mut attrs = Vec::with_capacity(24);
    attrs.push(KeyValue::new(attr::METHOD, f.method.as_str().to_string()));
    let route = f.route.map(route_template);
    if let Some(r) = &route {
        attrs.push(KeyValue::new(attr::ROUTE, r.clone()));
    }
    if f.status != 0 {
        attrs.push(KeyValue::new(attr::STATUS, i64::from(f.status)));
    }
    attrs.push(KeyValue::new(attr::REQUEST_ID, f.request_id.clone()));
    if let Some(op) = op {
        attrs.push(KeyValue::new(attr::OPERATION, op));
    }
    let mut name = match (op, &route) {
        (Some(op), _) => op.to_string(),
        (None, Some(r)) => format!("{} {r}", f.method),
        (None, None) => f.method.to_string(),
    };
    if let Some(s) = &f.served {
        let entry = f.cfg.catalogue.get(s.model);
        let provider = f.cfg.provider(entry.provider);
        let requested = if s.auto {
            "auto"
        } else {
            s.model_name.as_str()
        };
        if op.is_some() {
            name = format!("{name} {requested}");
        }
        attrs.push(KeyValue::new(attr::REQUEST_MODEL, requested.to_string()));
        attrs.push(KeyValue::new(attr::PROVIDER, provider.name.clone()));
        attrs.push(KeyValue::new(attr::PROVIDER_API, api_label(provider.api)));
        if s.proxied {
            attrs.push(KeyValue::new(
                attr::RESPONSE_MODEL,
                entry.upstream_model_for(&s.model_name).to_string(),
            ));
            attrs.push(KeyValue::new(
                attr::SERVER_ADDRESS,
                provider.base.host.clone(),
            ));
            attrs.push(KeyValue::new(
                attr::SERVER_PORT,
                i64::from(provider.base.port),
            ));
        }
        if let Some(n) = s.max_tokens {
            attrs.push(KeyValue::new(attr::MAX_TOKENS, n as i64));
        }
        attrs.push(KeyValue::new(attr::TIER, s.tier.as_str()));
        attrs.push(KeyValue::new(attr::STREAM, s.stream));
        if let Some(r) = &s.routing_reason {
            attrs.push(KeyValue::new(attr::ROUTING_REASON, r.clone()));
        }
    } else if f.cap.is_some() && op.is_some() {
        // Refused by policy: nothing served it.
        attrs.push(KeyValue::new(attr::TIER, "none"));
    }
    if let Some(cap) = f.cap {
        attrs.push(KeyValue::new(attr::MAX_TIER, cap.as_str()));
        attrs.push(KeyValue::new(
            attr::CAP_CAUSES,
            strings(f.cap_causes.iter().map(|c| c.label())),
        ));
    }
    if let Some(u) = f.usage {
        attrs.push(KeyValue::new(attr::INPUT_TOKENS, u.input_tokens as i64));
        attrs.push(KeyValue::new(attr::OUTPUT_TOKENS, u.output_tokens as i64));
    }
    if let Some(k) = &f.key {
        attrs.push(KeyValue::new(attr::KEY_ID, k.id.clone()));
        attrs.push(KeyValue::new(attr::TEAM, k.team.clone()));
    }
    if !f.trace.attempts.is_empty() {
        attrs.push(KeyValue::new(attr::ATTEMPTS, f.trace.attempts.len() as i64));
    }
    if let Some(e) = &f.error {
        attrs.push(KeyValue::new(attr::ERROR_TYPE, e.clone()));
    }
    // HTTP server conventions: only 5xx (or no answer at all) is the server's error.
    let status = match f.status {
        0 | 500..=599 => Status::error(f.error.clone().unwrap_or(Cow::Borrowed("no answer"))),
        _ => Status::Unset,
    };
    let mut data = span(
        &f.trace,
        (
            f.trace.span.span_id(),
            f.trace.parent.unwrap_or(SpanId::INVALID),
        ),
        SpanKind::Server,
        name,
        (f.trace.start, f.end),
        attrs,
        status,
    );
    if let Some(at) = f.first_token {
        let ttft = at
            .duration_since(f.trace.start)
            .unwrap_or_default()
            .as_secs_f64();
        data.events.events.push(Event::new(
            FIRST_TOKEN_EVENT,
            at,
            vec![KeyValue::new(attr::TTFT, ttft)],
            0,
        ));
    }
    data
}
