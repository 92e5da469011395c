//! A finished request as spans: one SERVER span named per the GenAI conventions, and one CLIENT
//! child span per upstream attempt. Built once, in the logging phase, from what the request
//! phases recorded (indices into the configuration the request was served under, ids, times,
//! counts): the phases before it pay for none of the strings.
//!
//! Nothing here reads a request or answer body: attributes come from the configuration, the
//! plan, the usage the taps counted, and bounded kinds. No prompt or answer text can reach a span.

use super::RequestTrace;
use crate::config::{Config, ProviderApi};
use crate::config_cache;
use crate::contract::routes::{ClientApi, Handler, PathSpec, RouteSpec};
use crate::contract::ErrorKind;
use crate::keys::KeyRecord;
use crate::policy::CauseKind;
use crate::tier::Tier;
use crate::usage::Usage;
use opentelemetry::trace::{SpanId, SpanKind};
use opentelemetry::InstrumentationScope;
use std::borrow::Cow;
use std::cell::RefCell;
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

pub static SCOPE: LazyLock<InstrumentationScope> = LazyLock::new(|| {
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

/// An attribute value, borrowed from the finished request.
#[derive(Debug, Clone, Copy)]
pub enum Attr<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
    Double(f64),
    Strs(&'a [Cow<'a, str>]),
}

/// An owned attribute value, for attributes written once per configuration.
#[derive(Debug, Clone)]
pub enum Value {
    Str(String),
    Int(i64),
}

impl Value {
    fn as_attr(&self) -> Attr<'_> {
        match self {
            Value::Str(s) => Attr::Str(s),
            Value::Int(n) => Attr::Int(*n),
        }
    }
}

/// Attributes many spans repeat (a provider's, a route's, a tier), with their OTLP bytes: encoded
/// once instead of once per span.
#[derive(Debug)]
pub struct Block {
    pairs: Vec<(&'static str, Value)>,
    /// The pairs as `Span.attributes` entries.
    pub otlp: Vec<u8>,
}

impl Block {
    pub fn new(pairs: Vec<(&'static str, Value)>) -> Self {
        let mut otlp = Vec::new();
        for (key, value) in &pairs {
            super::otlp::attribute(&mut otlp, key, value.as_attr());
        }
        Self { pairs, otlp }
    }

    /// `gen_ai.provider.name`, `stav.provider.api`, `server.address` and `server.port`.
    fn provider(p: &crate::config::Provider) -> Self {
        Self::new(vec![
            (attr::PROVIDER, Value::Str(p.name.clone())),
            (attr::PROVIDER_API, Value::Str(api_label(p.api).to_string())),
            (attr::SERVER_ADDRESS, Value::Str(p.base.host.clone())),
            (attr::SERVER_PORT, Value::Int(i64::from(p.base.port))),
        ])
    }
}

/// `stav.sovereignty.tier` and `stav.max_tier` per tier (`Tier::ALL` order): the same few
/// strings on every request.
static TIERS: LazyLock<[(Block, Block); 3]> = LazyLock::new(|| {
    Tier::ALL.map(|t| {
        let v = || Value::Str(t.as_str().to_string());
        (
            Block::new(vec![(attr::TIER, v())]),
            Block::new(vec![(attr::MAX_TIER, v())]),
        )
    })
});

/// `http.request.method`, `http.route` and `gen_ai.operation.name` of each route in the table
/// (`routes::ROUTES` order), for requests whose method is the route's.
static ROUTE_BLOCKS: LazyLock<Vec<Block>> = LazyLock::new(|| {
    crate::contract::routes::ROUTES
        .iter()
        .map(|r| {
            let mut pairs = vec![
                (attr::METHOD, Value::Str(r.method.as_str().to_string())),
                (attr::ROUTE, Value::Str(route_template(r).into_owned())),
            ];
            if let Some(op) = operation(Some(r)) {
                pairs.push((attr::OPERATION, Value::Str(op.to_string())));
            }
            Block::new(pairs)
        })
        .collect()
});

fn tier_blocks(t: Tier) -> &'static (Block, Block) {
    let i = Tier::ALL
        .iter()
        .position(|x| *x == t)
        .expect("every tier is in ALL");
    &TIERS[i]
}

/// The route's block, when `method` is the route's own.
fn route_block(route: &RouteSpec, method: &http::Method) -> Option<&'static Block> {
    if route.method != *method {
        return None;
    }
    let i = crate::contract::routes::ROUTES
        .iter()
        .position(|r| std::ptr::eq(r, route))?;
    ROUTE_BLOCKS.get(i)
}

thread_local! {
    /// The provider blocks of the configuration this thread last wrote spans under.
    static PROVIDERS: config_cache::Slot<Vec<Block>> = const { RefCell::new(None) };
}

/// One span's frame: everything but its attributes, status and events.
#[derive(Debug)]
pub struct Head<'a> {
    pub span_id: SpanId,
    /// `SpanId::INVALID` for a root span.
    pub parent: SpanId,
    pub parent_is_remote: bool,
    pub kind: SpanKind,
    pub name: &'a str,
    pub start: SystemTime,
    pub end: SystemTime,
}

/// Where a request's spans are written: the OTLP encoder on the export path (`otlp`), the
/// SDK's `SpanData` in tests (the reference the encoder is checked against). Calls come as
/// `open`, any number of `attr`, then `close`, once per span.
pub trait SpanOut {
    fn open(&mut self, trace: &RequestTrace, head: &Head<'_>);
    fn attr(&mut self, key: &'static str, value: Attr<'_>);
    /// A block of attributes written before (the OTLP encoder copies its bytes).
    fn attrs(&mut self, block: &Block) {
        for (key, value) in &block.pairs {
            self.attr(key, value.as_attr());
        }
    }
    /// `error`: the status description of a failed span (`None`: status unset);
    /// `first_token`: the first-token event (its time, and seconds since the span's start).
    fn close(&mut self, error: Option<&str>, first_token: Option<(SystemTime, f64)>);
}

/// Write the request's spans: the server span first, then one client span per upstream attempt.
pub fn write(f: &Finished, out: &mut impl SpanOut) {
    config_cache::with(
        &PROVIDERS,
        &f.cfg,
        |cfg| cfg.providers.iter().map(Block::provider).collect(),
        |providers| write_with(f, providers, out),
    );
}

fn write_with(f: &Finished, providers: &[Block], out: &mut impl SpanOut) {
    // Span names and the deployment are joined in two buffers reused across the spans.
    let (mut name, mut deployment) = (String::new(), String::new());
    server_span(f, providers, out, &mut name);
    let op = operation(f.route).unwrap_or("chat");
    let requested = f.served.as_ref().map_or("", |s| s.model_name.as_str());
    for (i, a) in f.trace.attempts.iter().enumerate() {
        let entry = f.cfg.catalogue.get(a.model);
        let provider = f.cfg.provider(a.provider);
        let upstream_model = entry.upstream_model_for(requested);
        let name = joined(&mut name, &[op, " ", upstream_model]);
        out.open(
            &f.trace,
            &Head {
                span_id: a.span_id,
                parent: f.trace.span.span_id(),
                parent_is_remote: false,
                kind: SpanKind::Client,
                name,
                start: a.start,
                end: a.end.unwrap_or(f.end),
            },
        );
        out.attr(attr::OPERATION, Attr::Str(op));
        out.attrs(&providers[a.provider]);
        out.attr(attr::REQUEST_MODEL, Attr::Str(upstream_model));
        let deployment = joined(&mut deployment, &[&entry.name, "@", &provider.name]);
        out.attr(attr::DEPLOYMENT, Attr::Str(deployment));
        out.attrs(&tier_blocks(a.tier).0);
        out.attr(attr::ATTEMPT, Attr::Int(i as i64));
        out.attr(attr::OUTCOME, Attr::Str(a.outcome));
        if let Some(s) = a.status {
            out.attr(attr::STATUS, Attr::Int(i64::from(s)));
        }
        let failed = a.outcome != "ok";
        if failed {
            out.attr(attr::ERROR_TYPE, Attr::Str(a.outcome));
        }
        out.close(failed.then_some(a.outcome), None);
    }
}

/// `parts` joined in `buf` (cleared first).
fn joined<'a>(buf: &'a mut String, parts: &[&str]) -> &'a str {
    buf.clear();
    for p in parts {
        buf.push_str(p);
    }
    buf
}

fn server_span(f: &Finished, providers: &[Block], out: &mut impl SpanOut, buf: &mut String) {
    let op = operation(f.route);
    let route = f.route.map(route_template);
    let served = f.served.as_ref().map(|s| {
        let entry = f.cfg.catalogue.get(s.model);
        let requested = if s.auto {
            "auto"
        } else {
            s.model_name.as_str()
        };
        (s, entry, &providers[entry.provider], requested)
    });
    let name = match (op, &route, &served) {
        (Some(op), _, Some((.., requested))) => joined(buf, &[op, " ", requested]),
        (Some(op), _, None) => op,
        (None, Some(r), _) => joined(buf, &[f.method.as_str(), " ", r]),
        (None, None, _) => f.method.as_str(),
    };
    out.open(
        &f.trace,
        &Head {
            span_id: f.trace.span.span_id(),
            parent: f.trace.parent.unwrap_or(SpanId::INVALID),
            parent_is_remote: f.trace.parent.is_some(),
            kind: SpanKind::Server,
            name,
            start: f.trace.start,
            end: f.end,
        },
    );
    match f.route.and_then(|r| route_block(r, &f.method)) {
        Some(block) => out.attrs(block),
        None => {
            out.attr(attr::METHOD, Attr::Str(f.method.as_str()));
            if let Some(r) = &route {
                out.attr(attr::ROUTE, Attr::Str(r));
            }
            if let Some(op) = op {
                out.attr(attr::OPERATION, Attr::Str(op));
            }
        }
    }
    if f.status != 0 {
        out.attr(attr::STATUS, Attr::Int(i64::from(f.status)));
    }
    out.attr(attr::REQUEST_ID, Attr::Str(&f.request_id));
    if let Some((s, entry, provider, requested)) = served {
        out.attr(attr::REQUEST_MODEL, Attr::Str(requested));
        if s.proxied {
            out.attr(
                attr::RESPONSE_MODEL,
                Attr::Str(entry.upstream_model_for(&s.model_name)),
            );
            out.attrs(provider);
        } else {
            // Answered by the gateway: no server was asked.
            let p = f.cfg.provider(entry.provider);
            out.attr(attr::PROVIDER, Attr::Str(&p.name));
            out.attr(attr::PROVIDER_API, Attr::Str(api_label(p.api)));
        }
        if let Some(n) = s.max_tokens {
            out.attr(attr::MAX_TOKENS, Attr::Int(n as i64));
        }
        out.attrs(&tier_blocks(s.tier).0);
        out.attr(attr::STREAM, Attr::Bool(s.stream));
        if let Some(r) = &s.routing_reason {
            out.attr(attr::ROUTING_REASON, Attr::Str(r));
        }
    } else if f.cap.is_some() && op.is_some() {
        // Refused by policy: nothing served it.
        out.attr(attr::TIER, Attr::Str("none"));
    }
    if let Some(cap) = f.cap {
        out.attrs(&tier_blocks(cap).1);
        let causes: Vec<Cow<'static, str>> = f.cap_causes.iter().map(|c| c.label()).collect();
        out.attr(attr::CAP_CAUSES, Attr::Strs(&causes));
    }
    if let Some(u) = f.usage {
        out.attr(attr::INPUT_TOKENS, Attr::Int(u.input_tokens as i64));
        out.attr(attr::OUTPUT_TOKENS, Attr::Int(u.output_tokens as i64));
    }
    if let Some(k) = &f.key {
        out.attr(attr::KEY_ID, Attr::Str(&k.id));
        out.attr(attr::TEAM, Attr::Str(&k.team));
    }
    if !f.trace.attempts.is_empty() {
        out.attr(attr::ATTEMPTS, Attr::Int(f.trace.attempts.len() as i64));
    }
    if let Some(e) = &f.error {
        out.attr(attr::ERROR_TYPE, Attr::Str(e));
    }
    // HTTP server conventions: only 5xx (or no answer at all) is the server's error.
    let error = match f.status {
        0 | 500..=599 => Some(f.error.as_deref().unwrap_or("no answer")),
        _ => None,
    };
    let first_token = f.first_token.map(|at| {
        let ttft = at.duration_since(f.trace.start).unwrap_or_default();
        (at, ttft.as_secs_f64())
    });
    out.close(error, first_token);
}

/// The spans as the OpenTelemetry SDK's `SpanData`: the reference the OTLP encoder is checked
/// against (through the SDK's own OTLP transform), and what the span tests read.
#[cfg(test)]
pub mod sdk {
    use super::*;
    use opentelemetry::trace::{Event, SpanContext, Status};
    use opentelemetry::{Array, KeyValue, StringValue, Value};
    use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

    #[derive(Default)]
    pub struct Sdk {
        pub spans: Vec<SpanData>,
    }

    impl SpanOut for Sdk {
        fn open(&mut self, trace: &RequestTrace, head: &Head<'_>) {
            self.spans.push(SpanData {
                span_context: SpanContext::new(
                    trace.span.trace_id(),
                    head.span_id,
                    trace.span.trace_flags(),
                    false,
                    trace.span.trace_state().clone(),
                ),
                parent_span_id: head.parent,
                parent_span_is_remote: head.parent_is_remote,
                span_kind: head.kind.clone(),
                name: head.name.to_string().into(),
                start_time: head.start,
                end_time: head.end,
                attributes: Vec::new(),
                dropped_attributes_count: 0,
                events: SpanEvents::default(),
                links: SpanLinks::default(),
                status: Status::Unset,
                instrumentation_scope: SCOPE.clone(),
            });
        }

        fn attr(&mut self, key: &'static str, value: Attr<'_>) {
            let value = match value {
                Attr::Str(s) => Value::from(s.to_string()),
                Attr::Int(n) => Value::I64(n),
                Attr::Bool(b) => Value::Bool(b),
                Attr::Double(x) => Value::F64(x),
                Attr::Strs(v) => Value::Array(Array::String(
                    v.iter().map(|s| StringValue::from(s.to_string())).collect(),
                )),
            };
            let span = self.spans.last_mut().expect("attr after open");
            span.attributes.push(KeyValue::new(key, value));
        }

        fn close(&mut self, error: Option<&str>, first_token: Option<(SystemTime, f64)>) {
            let span = self.spans.last_mut().expect("close after open");
            if let Some(e) = error {
                span.status = Status::error(e.to_string());
            }
            if let Some((at, ttft)) = first_token {
                span.events.events.push(Event::new(
                    FIRST_TOKEN_EVENT,
                    at,
                    vec![KeyValue::new(attr::TTFT, ttft)],
                    0,
                ));
            }
        }
    }

    /// The request's spans, as the SDK would hold them.
    pub fn spans(f: &Finished) -> Vec<SpanData> {
        let mut out = Sdk::default();
        write(f, &mut out);
        out.spans
    }
}
