//! The operator's contract: TOML types, loading and validation in one place.
//!
//! Raw serde types mirror the file; `Config::load` turns them into the validated, immutable runtime
//! model (catalogue, key ring, providers). Every error names the field that is wrong.

use crate::catalogue::{Catalogue, ModelEntry, ModelKind};
use crate::keys::KeyIndex;
use crate::router::RouterPolicy;
use crate::tier::Tier;
use ipnet::IpNet;
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, PartialEq)]
pub struct ConfigError {
    /// Dotted path of the offending field, e.g. `models[2].provider`, or the file for I/O errors.
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ConfigError {}

// ---------------------------------------------------------------------------------------------
// Raw file shape
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    demo: Option<RawDemo>,
    #[serde(default)]
    providers: Vec<RawProvider>,
    #[serde(default)]
    models: Vec<RawModel>,
    #[serde(default)]
    teams: Vec<RawTeam>,
    #[serde(default)]
    responses: RawResponses,
    #[serde(default)]
    telemetry: RawTelemetry,
    /// The request ledger; off when the section is absent.
    #[serde(default)]
    ledger: Option<RawLedger>,
}

/// OpenTelemetry traces (`[telemetry]`): off unless `otlp_endpoint` is set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTelemetry {
    /// OTLP over HTTP (protobuf), e.g. `http://collector:4318`; `/v1/traces` is appended.
    otlp_endpoint: Option<String>,
    service_name: String,
    sample_ratio: f64,
    /// Sent with every export, e.g. the collector's auth header.
    headers: std::collections::BTreeMap<String, String>,
    /// Join the client's W3C trace (`traceparent`) instead of starting a new one.
    trust_client_trace: bool,
}

impl Default for RawTelemetry {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "stav-gateway".into(),
            sample_ratio: 1.0,
            headers: Default::default(),
            trust_client_trace: false,
        }
    }
}

/// `[ledger]`: the journal every request is recorded in, and where it is shipped.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLedger {
    /// The journal's directory, relative to this file.
    dir: String,
    /// Records are synced to disk in batches at least this often.
    fsync_ms: u64,
    /// Segment files are rotated past this size.
    segment_bytes: u64,
    /// Closed segments older than this many days are removed (once shipped).
    retention_days: u64,
    /// Ship records to PostgreSQL, e.g. `postgres://stav@10.0.0.7/stav`.
    postgres_url: Option<String>,
}

impl Default for RawLedger {
    fn default() -> Self {
        Self {
            dir: "ledger".into(),
            fsync_ms: 100,
            segment_bytes: 64 << 20,
            // Thirteen months: a year's invoices and the month before can still be re-derived.
            retention_days: 400,
            postgres_url: None,
        }
    }
}

fn validate_ledger(
    raw: RawLedger,
    base_dir: &Path,
) -> Result<crate::ledger::LedgerSettings, ConfigError> {
    if raw.dir.trim().is_empty() {
        return Err(ConfigError::new("ledger.dir", "must not be empty"));
    }
    if raw.fsync_ms == 0 || raw.fsync_ms > 60_000 {
        return Err(ConfigError::new(
            "ledger.fsync_ms",
            "must be between 1 and 60000",
        ));
    }
    if raw.segment_bytes < 4096 {
        return Err(ConfigError::new(
            "ledger.segment_bytes",
            "must be at least 4096",
        ));
    }
    if raw.retention_days == 0 {
        return Err(ConfigError::new(
            "ledger.retention_days",
            "must be at least 1",
        ));
    }
    if let Some(url) = &raw.postgres_url {
        url.parse::<tokio_postgres::Config>().map_err(|e| {
            ConfigError::new(
                "ledger.postgres_url",
                format!("not a PostgreSQL connection string: {e}"),
            )
        })?;
    }
    Ok(crate::ledger::LedgerSettings {
        dir: base_dir.join(raw.dir),
        fsync: Duration::from_millis(raw.fsync_ms),
        segment_bytes: raw.segment_bytes,
        retention: Duration::from_secs(raw.retention_days * 86_400),
        postgres_url: raw.postgres_url,
    })
}

/// The Responses API's stored answers (`store`, `previous_response_id`, `GET /v1/responses/{id}`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawResponses {
    /// `false`: keep nothing (`previous_response_id` is then a 400).
    store: bool,
    /// How long a stored response can be retrieved or continued, e.g. "24h".
    ttl: String,
    /// One node (`[store] kind = "file"`): responses kept in memory, oldest dropped beyond this.
    max_memory_bytes: usize,
}

impl Default for RawResponses {
    fn default() -> Self {
        Self {
            store: true,
            ttl: "24h".into(),
            max_memory_bytes: 64 << 20,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeam {
    name: String,
    #[serde(default)]
    max_tier: Option<String>,
    /// Sensitive prompts may leave `sovereign` (an explicit, audited choice).
    #[serde(default)]
    sensitive_opt_out: bool,
    /// What binary media (images, PDFs, audio) the scan cannot read mean for the cap.
    #[serde(default)]
    unscannable: Unscannable,
    #[serde(default)]
    router: Option<RouterPolicy>,
    /// Requests per minute for the whole team, across its keys (and nodes, with Redis).
    #[serde(default)]
    rpm: Option<u64>,
    /// Tokens per minute for the whole team.
    #[serde(default)]
    tpm: Option<u64>,
    /// Tokens per calendar month (UTC) for the whole team.
    #[serde(default)]
    budget_tokens_month: Option<u64>,
}

/// None: Pingora reads request headers 4 KiB and bodies up to 64 KiB at a time straight into
/// its own buffers, so a read buffer in front saves no system calls for API traffic, and
/// its default (64 KiB, zeroed) is the largest part of what each idle open stream costs.
const DEFAULT_READ_BUFFER_BYTES: usize = 0;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    listen: String,
    admin_listen: String,
    max_body_bytes: usize,
    threads: usize,
    grace_period_seconds: u64,
    graceful_shutdown_timeout_seconds: u64,
    upgrade_sock: Option<String>,
    pid_file: Option<String>,
    trusted_proxies: Vec<String>,
    max_upstream_attempts: usize,
    max_header_bytes: usize,
    read_buffer_bytes: usize,
    body_read_timeout_ms: u64,
    header_read_timeout_ms: u64,
    max_pending_headers: usize,
    /// `stderr` (default), `off`, or a file path (relative to the configuration file).
    access_log: String,
    tls_cert: Option<String>,
    tls_key: Option<String>,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            admin_listen: "127.0.0.1:9090".into(),
            max_body_bytes: 32 * 1024 * 1024,
            threads: 2,
            // Pingora's default is 300 s even when idle; long enough for an SSE answer to finish.
            grace_period_seconds: 30,
            graceful_shutdown_timeout_seconds: 5,
            upgrade_sock: None,
            pid_file: None,
            trusted_proxies: Vec::new(),
            max_upstream_attempts: 3,
            max_header_bytes: 32 * 1024,
            read_buffer_bytes: DEFAULT_READ_BUFFER_BYTES,
            body_read_timeout_ms: 30_000,
            header_read_timeout_ms: 10_000,
            max_pending_headers: 2048,
            access_log: "stderr".into(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStore {
    kind: String,
    /// `file`: the keys file, relative to the configuration file.
    path: Option<String>,
    /// `redis`: e.g. `redis://127.0.0.1:6379/0`.
    url: Option<String>,
    prefix: String,
    nodes: u64,
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            kind: "file".into(),
            path: None,
            url: None,
            prefix: "stav".into(),
            nodes: 1,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDemo {
    listen: String,
    #[serde(default)]
    token_delay_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    name: String,
    api: String,
    base_url: String,
    #[serde(default)]
    api_key_env: Option<String>,
    #[serde(default)]
    connect_timeout_ms: Option<u64>,
    #[serde(default)]
    first_byte_timeout_ms: Option<u64>,
    #[serde(default)]
    idle_timeout_ms: Option<u64>,
    #[serde(default)]
    total_timeout_ms: Option<u64>,
    /// Client request headers this provider also receives, beyond what its API needs (exact
    /// names, or a prefix ending in `*`). Everything else stays at the gateway.
    #[serde(default)]
    forward_headers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    name: String,
    provider: String,
    #[serde(default)]
    upstream_model: Option<String>,
    tier: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    created: Option<u64>,
    /// Among deployments of the same priority, the share of first attempts.
    #[serde(default)]
    weight: Option<u32>,
    /// Deployments sharing a name are tried in ascending priority (0 first).
    #[serde(default)]
    priority: Option<u32>,
}

// ---------------------------------------------------------------------------------------------
// Validated runtime model
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: String,
    pub admin_listen: String,
    pub max_body_bytes: usize,
    pub threads: usize,
    pub grace_period_seconds: u64,
    pub graceful_shutdown_timeout_seconds: u64,
    pub upgrade_sock: Option<String>,
    pub pid_file: Option<String>,
    /// Peers whose `X-Forwarded-For` is believed (read right to left); empty at the edge.
    pub trusted_proxies: Vec<IpNet>,
    /// Deployments one request may try (the first included) before its failure is final.
    pub max_upstream_attempts: usize,
    /// Request line and headers together; larger requests get 431.
    pub max_header_bytes: usize,
    /// Read buffer in front of each client connection (0: none, the default).
    pub read_buffer_bytes: usize,
    /// Longest pause while the client sends its body; then 408.
    pub body_read_timeout: Duration,
    /// A request's header must be complete this long after its first byte.
    pub header_read_timeout: Duration,
    /// Connections waiting for a header at once; more are closed on arrival.
    pub max_pending_headers: usize,
    /// Where the access log goes.
    pub access_log: crate::access_log::Sink,
    /// PEM certificate chain and key for TLS on the public listener (HTTP/2 and HTTP/1.1).
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// Where keys, revocations and rate-limit counters live.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreKind {
    /// One node: a keys file, reloaded on change and on SIGHUP; limits counted in process.
    File { path: PathBuf },
    /// Many nodes: Redis holds keys and counters; each node keeps a snapshot fed by pub/sub.
    Redis { url: String, prefix: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreSettings {
    pub kind: StoreKind,
    /// Nodes sharing the limits: while Redis is unreachable each enforces `limit / nodes`.
    pub nodes: u64,
}

#[derive(Debug, Clone)]
pub struct DemoSettings {
    pub listen: SocketAddr,
    /// Pause between streamed tokens, so streaming is visible by eye in the demo.
    pub token_delay: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderApi {
    /// Speaks OpenAI Chat Completions / Embeddings.
    OpenAi,
    /// Speaks Anthropic Messages.
    Anthropic,
}

#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub api: ProviderApi,
    pub base: BaseUrl,
    /// Environment variable holding the upstream credential; read at start-up, never logged.
    pub api_key_env: Option<String>,
    pub timeouts: Timeouts,
    /// Extra client headers forwarded to this provider (lower-case; a trailing `*` is a prefix).
    pub forward_headers: Vec<String>,
}

/// How long the gateway waits on a provider. Pingora bounds each read with one timeout, so the
/// wait for the response header uses `first_byte` for whole answers and `idle` for streams (whose
/// header comes at once and whose gaps are what can stall); `total` is checked as data arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub idle: Duration,
    pub total: Duration,
}

/// `scheme://host[:port]/prefix`, split once so the hot path only concatenates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path prefix without a trailing slash, e.g. `/v1` or empty.
    pub path: String,
}

impl BaseUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("{s:?} must start with http:// or https://"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("{s:?} has no host"));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6
                .find(']')
                .ok_or_else(|| format!("{s:?}: unclosed IPv6 bracket"))?;
            let host = &v6[..end];
            let port = match &v6[end + 1..] {
                "" => default_port,
                p => parse_port(p.strip_prefix(':').unwrap_or(p), s)?,
            };
            (host.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), parse_port(p, s)?),
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return Err(format!("{s:?} has no host"));
        }
        Ok(Self {
            tls,
            host,
            port,
            path: path.trim_end_matches('/').to_string(),
        })
    }

    /// The `Host` header value.
    pub fn authority(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

fn parse_port(p: &str, whole: &str) -> Result<u16, String> {
    p.parse::<u16>()
        .map_err(|_| format!("{whole:?}: bad port {p:?}"))
}

/// A team's sovereignty and routing policy.
#[derive(Debug, Clone)]
pub struct Team {
    pub name: String,
    pub max_tier: Tier,
    pub sensitive_opt_out: bool,
    pub unscannable: Unscannable,
    pub router: Option<RouterPolicy>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    /// Tokens per calendar month (UTC), all keys together; 429 `insufficient_quota` past it.
    pub budget_tokens_month: Option<u64>,
}

/// A team's reading of binary media no text detector can read: images, PDFs and audio are
/// forwarded as they are (`allow`, the default) or keep the request `sovereign`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unscannable {
    #[default]
    Allow,
    Sovereign,
}

impl Team {
    /// Teams not listed in the configuration: no cap of their own, no router.
    pub fn unlisted(name: &str) -> Self {
        Self {
            name: name.to_string(),
            max_tier: Tier::GlobalCommercial,
            sensitive_opt_out: false,
            unscannable: Unscannable::Allow,
            router: None,
            rpm: None,
            tpm: None,
            budget_tokens_month: None,
        }
    }
}

/// Where and how long Responses API answers are kept: in memory on one node, in Redis (with a
/// TTL) when `[store] kind = "redis"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsesSettings {
    pub store: bool,
    pub ttl: Duration,
    pub max_memory_bytes: usize,
}

fn validate_responses(raw: RawResponses) -> Result<ResponsesSettings, ConfigError> {
    let ttl = humantime::parse_duration(&raw.ttl).map_err(|e| {
        ConfigError::new(
            "responses.ttl",
            format!("{:?} is not a duration: {e}", raw.ttl),
        )
    })?;
    if ttl.as_secs() == 0 {
        return Err(ConfigError::new("responses.ttl", "must be at least 1s"));
    }
    if raw.max_memory_bytes < 1 << 20 {
        return Err(ConfigError::new(
            "responses.max_memory_bytes",
            "must be at least 1048576",
        ));
    }
    Ok(ResponsesSettings {
        store: raw.store,
        ttl,
        max_memory_bytes: raw.max_memory_bytes,
    })
}

/// Validated `[telemetry]`. Changes only with a restart or an upgrade: the exporter thread and
/// its client are built once, at start.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetrySettings {
    /// `None`: tracing is off (no spans, no `traceparent` sent upstream).
    pub otlp: Option<OtlpSettings>,
    pub service_name: String,
    /// In [0, 1]: the share of new traces recorded (a trusted client's decision is followed).
    pub sample_ratio: f64,
    pub trust_client_trace: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpSettings {
    /// The traces URL, `…/v1/traces`.
    pub traces_url: String,
    pub headers: Vec<(String, String)>,
}

fn validate_telemetry(raw: RawTelemetry) -> Result<TelemetrySettings, ConfigError> {
    if raw.service_name.trim().is_empty() {
        return Err(ConfigError::new(
            "telemetry.service_name",
            "must not be empty",
        ));
    }
    if !(0.0..=1.0).contains(&raw.sample_ratio) {
        return Err(ConfigError::new(
            "telemetry.sample_ratio",
            "must be between 0.0 and 1.0",
        ));
    }
    for (name, value) in &raw.headers {
        let field = || format!("telemetry.headers.{name}");
        http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ConfigError::new(field(), "is not a header name"))?;
        http::HeaderValue::from_str(value)
            .map_err(|_| ConfigError::new(field(), "is not a valid header value"))?;
    }
    let otlp = match raw.otlp_endpoint {
        None => {
            if !raw.headers.is_empty() {
                return Err(ConfigError::new(
                    "telemetry.headers",
                    "only with telemetry.otlp_endpoint",
                ));
            }
            None
        }
        Some(url) => Some(OtlpSettings {
            traces_url: otlp_traces_url(&url)
                .map_err(|m| ConfigError::new("telemetry.otlp_endpoint", m))?,
            headers: raw.headers.into_iter().collect(),
        }),
    };
    Ok(TelemetrySettings {
        otlp,
        service_name: raw.service_name,
        sample_ratio: raw.sample_ratio,
        trust_client_trace: raw.trust_client_trace,
    })
}

/// The collector's base URL with OTLP/HTTP's traces path, as `OTEL_EXPORTER_OTLP_ENDPOINT` is
/// read: `http://collector:4318` → `http://collector:4318/v1/traces` (a URL already ending in
/// `/v1/traces` is kept). Plain HTTP only: the exporter is built without TLS, so spans go to a
/// collector agent on the host or in the pod, which forwards them on.
fn otlp_traces_url(url: &str) -> Result<String, String> {
    let base = BaseUrl::parse(url)?;
    if base.tls {
        return Err(format!(
            "{url:?}: https is not supported; send to a local collector over http:// (it forwards over TLS)"
        ));
    }
    if url.contains(['?', '#']) {
        return Err(format!("{url:?} must not have a query or fragment"));
    }
    let host = if base.host.contains(':') {
        format!("[{}]", base.host)
    } else {
        base.host.clone()
    };
    let path = if base.path.ends_with("/v1/traces") {
        base.path.clone()
    } else {
        format!("{}/v1/traces", base.path)
    };
    Ok(format!("http://{host}:{}{path}", base.port))
}

#[derive(Debug)]
pub struct Config {
    pub path: PathBuf,
    pub server: ServerSettings,
    pub store: StoreSettings,
    /// The keys as loaded at start (file store; empty for Redis until the first sync).
    pub keys: KeyIndex,
    pub demo: Option<DemoSettings>,
    pub providers: Vec<Provider>,
    pub catalogue: Catalogue,
    pub teams: Vec<Team>,
    pub responses: ResponsesSettings,
    pub telemetry: TelemetrySettings,
    /// The request ledger (`[ledger]`); `None` when the section is absent.
    pub ledger: Option<crate::ledger::LedgerSettings>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path.display().to_string(), e.to_string()))?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&text, base_dir, path)
    }

    /// `base_dir` resolves relative paths (the keys file) against the config file's folder.
    pub fn from_toml(text: &str, base_dir: &Path, path: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            ConfigError::new(
                path.display().to_string(),
                e.to_string().trim_end().to_string(),
            )
        })?;
        let server = validate_server(raw.server, base_dir)?;
        let demo = raw.demo.map(validate_demo).transpose()?;
        let providers = validate_providers(raw.providers)?;
        let catalogue = validate_models(raw.models, &providers)?;
        let teams = validate_teams(raw.teams, &catalogue)?;
        let responses = validate_responses(raw.responses)?;
        let telemetry = validate_telemetry(raw.telemetry)?;
        let ledger = raw
            .ledger
            .map(|l| validate_ledger(l, base_dir))
            .transpose()?;

        let store = validate_store(raw.store, base_dir)?;
        let keys = match &store.kind {
            StoreKind::File { path } => load_keys_file(path)?,
            StoreKind::Redis { .. } => KeyIndex::default(),
        };

        Ok(Self {
            path: path.to_path_buf(),
            server,
            store,
            keys,
            demo,
            providers,
            catalogue,
            teams,
            responses,
            telemetry,
            ledger,
        })
    }

    /// The policy of a key's team (defaults for teams the configuration does not list).
    pub fn team(&self, name: &str) -> std::borrow::Cow<'_, Team> {
        match self.teams.iter().find(|t| t.name == name) {
            Some(t) => std::borrow::Cow::Borrowed(t),
            None => std::borrow::Cow::Owned(Team::unlisted(name)),
        }
    }

    pub fn provider(&self, idx: usize) -> &Provider {
        &self.providers[idx]
    }
}

fn validate_server(raw: RawServer, base_dir: &Path) -> Result<ServerSettings, ConfigError> {
    for (field, v) in [
        ("server.listen", &raw.listen),
        ("server.admin_listen", &raw.admin_listen),
    ] {
        v.parse::<SocketAddr>().map_err(|_| {
            ConfigError::new(
                field,
                format!("{v:?} is not an address like 127.0.0.1:8080"),
            )
        })?;
    }
    if raw.listen == raw.admin_listen {
        return Err(ConfigError::new(
            "server.admin_listen",
            "must differ from server.listen (metrics stay on a private listener)",
        ));
    }
    if raw.max_body_bytes == 0 {
        return Err(ConfigError::new("server.max_body_bytes", "must be > 0"));
    }
    if raw.threads == 0 {
        return Err(ConfigError::new("server.threads", "must be > 0"));
    }
    if raw.max_header_bytes < 1024 {
        return Err(ConfigError::new(
            "server.max_header_bytes",
            "must be at least 1024",
        ));
    }
    if raw.read_buffer_bytes > 1 << 20 {
        return Err(ConfigError::new(
            "server.read_buffer_bytes",
            "must be at most 1048576 (0 reads straight from the socket)",
        ));
    }
    if raw.max_upstream_attempts == 0 {
        return Err(ConfigError::new(
            "server.max_upstream_attempts",
            "must be at least 1",
        ));
    }
    let trusted_proxies = raw
        .trusted_proxies
        .iter()
        .enumerate()
        .map(|(i, s)| {
            crate::keys::record::parse_cidr(s)
                .map_err(|e| ConfigError::new(format!("server.trusted_proxies[{i}]"), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ServerSettings {
        listen: raw.listen,
        admin_listen: raw.admin_listen,
        max_body_bytes: raw.max_body_bytes,
        threads: raw.threads,
        grace_period_seconds: raw.grace_period_seconds,
        graceful_shutdown_timeout_seconds: raw.graceful_shutdown_timeout_seconds,
        upgrade_sock: raw.upgrade_sock,
        pid_file: raw.pid_file,
        trusted_proxies,
        max_upstream_attempts: raw.max_upstream_attempts,
        max_header_bytes: raw.max_header_bytes,
        read_buffer_bytes: raw.read_buffer_bytes,
        tls: match (raw.tls_cert, raw.tls_key) {
            (None, None) => None,
            (Some(c), Some(k)) => {
                let (c, k) = (base_dir.join(c), base_dir.join(k));
                crate::tls::CertStore::load(c.clone(), k.clone())
                    .map_err(|e| ConfigError::new("server.tls_cert", e))?;
                Some((c, k))
            }
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "server.tls_key",
                    "required with server.tls_cert",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "server.tls_cert",
                    "required with server.tls_key",
                ))
            }
        },
        body_read_timeout: Duration::from_millis(positive(
            Some(raw.body_read_timeout_ms),
            30_000,
            "server.body_read_timeout_ms",
        )?),
        header_read_timeout: Duration::from_millis(positive(
            Some(raw.header_read_timeout_ms),
            10_000,
            "server.header_read_timeout_ms",
        )?),
        access_log: match raw.access_log.as_str() {
            "stderr" => crate::access_log::Sink::Stderr,
            "off" => crate::access_log::Sink::Off,
            "" => {
                return Err(ConfigError::new(
                    "server.access_log",
                    "must be stderr, off, or a file path",
                ))
            }
            path => crate::access_log::Sink::File(base_dir.join(path)),
        },
        max_pending_headers: if raw.max_pending_headers == 0 {
            return Err(ConfigError::new(
                "server.max_pending_headers",
                "must be at least 1",
            ));
        } else {
            raw.max_pending_headers
        },
    })
}

fn validate_store(raw: RawStore, base_dir: &Path) -> Result<StoreSettings, ConfigError> {
    if raw.nodes == 0 {
        return Err(ConfigError::new("store.nodes", "must be at least 1"));
    }
    let kind = match raw.kind.as_str() {
        "file" => {
            if raw.url.is_some() {
                return Err(ConfigError::new("store.url", "only for kind = \"redis\""));
            }
            StoreKind::File {
                path: base_dir.join(raw.path.as_deref().unwrap_or("keys.toml")),
            }
        }
        "redis" => {
            if raw.path.is_some() {
                return Err(ConfigError::new("store.path", "only for kind = \"file\""));
            }
            let url = raw
                .url
                .ok_or_else(|| ConfigError::new("store.url", "required for kind = \"redis\""))?;
            redis::Client::open(url.as_str()).map_err(|e| {
                ConfigError::new("store.url", format!("{url:?} is not a Redis URL: {e}"))
            })?;
            if raw.prefix.is_empty() || raw.prefix.contains(char::is_whitespace) {
                return Err(ConfigError::new("store.prefix", "must be a non-empty word"));
            }
            StoreKind::Redis {
                url,
                prefix: raw.prefix,
            }
        }
        other => {
            return Err(ConfigError::new(
                "store.kind",
                format!("{other:?} is not a store kind (file, redis)"),
            ))
        }
    };
    Ok(StoreSettings {
        kind,
        nodes: raw.nodes,
    })
}

/// Read and validate the keys file; a missing file is an error at start (a typo would otherwise
/// start a gateway that refuses everyone).
pub fn load_keys_file(path: &Path) -> Result<KeyIndex, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new("store.path", format!("cannot read {}: {e}", path.display()))
    })?;
    crate::keys::file::index(&text).map_err(|e| ConfigError {
        field: format!("{} → {}", path.display(), e.field),
        message: e.message,
    })
}

fn validate_demo(raw: RawDemo) -> Result<DemoSettings, ConfigError> {
    let listen: SocketAddr = raw.listen.parse().map_err(|_| {
        ConfigError::new("demo.listen", format!("{:?} is not an address", raw.listen))
    })?;
    if !listen.ip().is_loopback() {
        return Err(ConfigError::new(
            "demo.listen",
            "the demo upstream only listens on loopback",
        ));
    }
    Ok(DemoSettings {
        listen,
        token_delay: Duration::from_millis(raw.token_delay_ms),
    })
}

fn validate_providers(raw: Vec<RawProvider>) -> Result<Vec<Provider>, ConfigError> {
    let mut out: Vec<Provider> = Vec::with_capacity(raw.len());
    for (i, p) in raw.into_iter().enumerate() {
        let field = |f: &str| format!("providers[{i}].{f}");
        if p.name.is_empty() {
            return Err(ConfigError::new(field("name"), "must not be empty"));
        }
        if out.iter().any(|o| o.name == p.name) {
            return Err(ConfigError::new(
                field("name"),
                format!("duplicate provider {:?}", p.name),
            ));
        }
        let api = match p.api.as_str() {
            "openai" => ProviderApi::OpenAi,
            "anthropic" => ProviderApi::Anthropic,
            other => {
                return Err(ConfigError::new(
                    field("api"),
                    format!("unknown api {other:?} (expected openai or anthropic)"),
                ))
            }
        };
        let base =
            BaseUrl::parse(&p.base_url).map_err(|m| ConfigError::new(field("base_url"), m))?;
        if let Some(env) = &p.api_key_env {
            if env.is_empty() {
                return Err(ConfigError::new(field("api_key_env"), "must not be empty"));
            }
        }
        let mut forward_headers = Vec::with_capacity(p.forward_headers.len());
        for (j, h) in p.forward_headers.iter().enumerate() {
            let name = h.to_ascii_lowercase();
            let bare = name.strip_suffix('*').unwrap_or(&name);
            if bare.is_empty() || http::HeaderName::from_bytes(bare.as_bytes()).is_err() {
                return Err(ConfigError::new(
                    field(&format!("forward_headers[{j}]")),
                    format!("{h:?} is not a header name (or a prefix ending in *)"),
                ));
            }
            if crate::bridge::provider::NEVER_FORWARDED
                .iter()
                .any(|n| n.starts_with(bare) || bare.starts_with(n))
            {
                return Err(ConfigError::new(
                    field(&format!("forward_headers[{j}]")),
                    format!("{h:?} would forward credentials or hop-by-hop headers"),
                ));
            }
            forward_headers.push(name);
        }
        out.push(Provider {
            name: p.name,
            api,
            base,
            api_key_env: p.api_key_env,
            forward_headers,
            timeouts: Timeouts {
                connect: Duration::from_millis(positive(
                    p.connect_timeout_ms,
                    5_000,
                    &field("connect_timeout_ms"),
                )?),
                first_byte: Duration::from_millis(positive(
                    p.first_byte_timeout_ms,
                    300_000,
                    &field("first_byte_timeout_ms"),
                )?),
                idle: Duration::from_millis(positive(
                    p.idle_timeout_ms,
                    60_000,
                    &field("idle_timeout_ms"),
                )?),
                total: Duration::from_millis(positive(
                    p.total_timeout_ms,
                    900_000,
                    &field("total_timeout_ms"),
                )?),
            },
        });
    }
    Ok(out)
}

fn positive(v: Option<u64>, default: u64, field: &str) -> Result<u64, ConfigError> {
    match v {
        Some(0) => Err(ConfigError::new(field, "must be > 0")),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

fn validate_teams(raw: Vec<RawTeam>, catalogue: &Catalogue) -> Result<Vec<Team>, ConfigError> {
    let mut out: Vec<Team> = Vec::with_capacity(raw.len());
    for (i, t) in raw.into_iter().enumerate() {
        let field = |f: &str| format!("teams[{i}].{f}");
        if t.name.is_empty() {
            return Err(ConfigError::new(field("name"), "must not be empty"));
        }
        if out.iter().any(|o| o.name == t.name) {
            return Err(ConfigError::new(
                field("name"),
                format!("duplicate team {:?}", t.name),
            ));
        }
        let max_tier = match t.max_tier {
            None => Tier::GlobalCommercial,
            Some(s) => s
                .parse()
                .map_err(|e| ConfigError::new(field("max_tier"), e))?,
        };
        if let Some(r) = &t.router {
            let check = |m: &str, f: String| -> Result<(), ConfigError> {
                match catalogue.lookup(m) {
                    Some(e) if e.kind == ModelKind::Chat => Ok(()),
                    Some(_) => Err(ConfigError::new(f, format!("{m:?} is not a chat model"))),
                    None => Err(ConfigError::new(f, format!("unknown model {m:?}"))),
                }
            };
            check(&r.default, field("router.default"))?;
            for (j, rule) in r.rules.iter().enumerate() {
                check(&rule.model, field(&format!("router.rules[{j}].model")))?;
                if let Some(d) = &rule.when.domain {
                    if !crate::router::signals::DOMAINS.contains(&d.as_str()) {
                        return Err(ConfigError::new(
                            field(&format!("router.rules[{j}].when.domain")),
                            format!(
                                "unknown domain {d:?} (one of {})",
                                crate::router::signals::DOMAINS.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        if t.budget_tokens_month == Some(0) {
            return Err(ConfigError::new(
                field("budget_tokens_month"),
                "must be at least 1 (leave it out for no budget)",
            ));
        }
        out.push(Team {
            name: t.name,
            max_tier,
            sensitive_opt_out: t.sensitive_opt_out,
            unscannable: t.unscannable,
            router: t.router,
            rpm: t.rpm,
            tpm: t.tpm,
            budget_tokens_month: t.budget_tokens_month,
        });
    }
    Ok(out)
}

fn validate_models(raw: Vec<RawModel>, providers: &[Provider]) -> Result<Catalogue, ConfigError> {
    let mut entries: Vec<ModelEntry> = Vec::with_capacity(raw.len());
    for (i, m) in raw.into_iter().enumerate() {
        let field = |f: &str| format!("models[{i}].{f}");
        if m.name.is_empty() || m.name == "*" {
            return Err(ConfigError::new(
                field("name"),
                "must name a model or a family like \"claude-*\"",
            ));
        }
        if m.name[..m.name.len() - 1].contains('*') {
            return Err(ConfigError::new(
                field("name"),
                "only a trailing * is supported",
            ));
        }
        let provider = providers
            .iter()
            .position(|p| p.name == m.provider)
            .ok_or_else(|| {
                ConfigError::new(
                    field("provider"),
                    format!("unknown provider {:?}", m.provider),
                )
            })?;
        let tier: Tier = m
            .tier
            .parse()
            .map_err(|e| ConfigError::new(field("tier"), e))?;
        let kind = match m.kind.as_deref().unwrap_or("chat") {
            "chat" => ModelKind::Chat,
            "embeddings" => ModelKind::Embeddings,
            other => {
                return Err(ConfigError::new(
                    field("kind"),
                    format!("unknown kind {other:?} (expected chat or embeddings)"),
                ))
            }
        };
        if kind == ModelKind::Embeddings && providers[provider].api == ProviderApi::Anthropic {
            return Err(ConfigError::new(
                field("kind"),
                "Anthropic providers serve chat models only",
            ));
        }
        if let Some(u) = &m.upstream_model {
            if u.is_empty() {
                return Err(ConfigError::new(
                    field("upstream_model"),
                    "must not be empty",
                ));
            }
        }
        if m.weight == Some(0) {
            return Err(ConfigError::new(field("weight"), "must be > 0"));
        }
        // Another entry of the same name is another deployment of that model: it must be
        // interchangeable with the first (same kind, same wire API), so a failover changes
        // where the request goes, never what it is.
        if let Some(first) = entries.iter().find(|e| e.name == m.name) {
            if first.provider == provider {
                return Err(ConfigError::new(
                    field("provider"),
                    format!(
                        "model {:?} already has a deployment on provider {:?}",
                        m.name, m.provider
                    ),
                ));
            }
            if first.kind != kind || providers[first.provider].api != providers[provider].api {
                return Err(ConfigError::new(
                    field("provider"),
                    format!(
                        "deployments of {:?} must share kind and provider api with its first entry",
                        m.name
                    ),
                ));
            }
        }
        entries.push(ModelEntry {
            name: m.name,
            provider,
            provider_name: providers[provider].name.clone(),
            upstream_model: m.upstream_model,
            tier,
            kind,
            created: m.created,
            weight: m.weight.unwrap_or(1),
            priority: m.priority.unwrap_or(0),
        });
    }
    Ok(Catalogue::new(entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const KEYS: &str = r#"
[[keys]]
id = "abcdefghijkl"
team = "team-a"
scopes = ["chat"]
created_at = "2026-01-01T00:00:00Z"
secrets = [{ sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" }]
"#;

    fn write_keys(dir: &Path) {
        let mut f = std::fs::File::create(dir.join("keys.toml")).unwrap();
        f.write_all(KEYS.as_bytes()).unwrap();
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("stav-cfg-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        write_keys(&d);
        d
    }

    const GOOD: &str = r#"
[server]
listen = "127.0.0.1:8080"
admin_listen = "127.0.0.1:9090"
max_body_bytes = 1000

[store]
kind = "file"
path = "keys.toml"

[[providers]]
name = "eu-vllm"
api = "openai"
base_url = "http://127.0.0.1:8000/v1"
api_key_env = "EU_VLLM_KEY"

[[models]]
name = "qwen3-32b"
provider = "eu-vllm"
upstream_model = "Qwen/Qwen3-32B"
tier = "sovereign"
kind = "chat"
"#;

    fn load(text: &str, tag: &str) -> Result<Config, ConfigError> {
        let d = tmpdir(tag);
        Config::from_toml(text, &d, &d.join("stav.toml"))
    }

    #[test]
    fn good_config_loads() {
        let c = load(GOOD, "good").unwrap();
        assert_eq!(c.server.max_body_bytes, 1000);
        assert_eq!(c.providers[0].base.path, "/v1");
        assert_eq!(c.providers[0].base.port, 8000);
        assert_eq!(c.keys.len(), 1);
        let m = c.catalogue.lookup("qwen3-32b").unwrap();
        assert_eq!(m.upstream_model_for("qwen3-32b"), "Qwen/Qwen3-32B");
        assert_eq!(m.tier, Tier::Sovereign);
    }

    #[test]
    fn client_read_buffer_defaults_to_none_and_is_bounded() {
        assert_eq!(load(GOOD, "rb0").unwrap().server.read_buffer_bytes, 0);
        let set = GOOD.replace(
            "max_body_bytes = 1000",
            "max_body_bytes = 1000\nread_buffer_bytes = 8192",
        );
        assert_eq!(load(&set, "rb1").unwrap().server.read_buffer_bytes, 8192);
        let huge = GOOD.replace(
            "max_body_bytes = 1000",
            "max_body_bytes = 1000\nread_buffer_bytes = 4000000",
        );
        assert_eq!(
            load(&huge, "rb2").unwrap_err().field,
            "server.read_buffer_bytes"
        );
    }

    #[test]
    fn unknown_provider_names_the_field() {
        let bad = GOOD.replace("provider = \"eu-vllm\"", "provider = \"nope\"");
        let e = load(&bad, "prov").unwrap_err();
        assert_eq!(e.field, "models[0].provider");
        assert!(e.message.contains("nope"));
    }

    #[test]
    fn unknown_tier_names_the_field() {
        let bad = GOOD.replace("tier = \"sovereign\"", "tier = \"eu-only\"");
        let e = load(&bad, "tier").unwrap_err();
        assert_eq!(e.field, "models[0].tier");
    }

    #[test]
    fn a_repeated_model_is_another_deployment_on_another_provider() {
        let bad = format!(
            "{GOOD}\n[[models]]\nname = \"qwen3-32b\"\nprovider = \"eu-vllm\"\ntier = \"sovereign\"\n"
        );
        let e = load(&bad, "dup").unwrap_err();
        assert_eq!(e.field, "models[1].provider");
        assert!(e.message.contains("already has a deployment"));
        let providers = "[[providers]]\nname = \"backup\"\napi = \"openai\"\nbase_url = \"http://127.0.0.1:8001/v1\"\n[[providers]]\nname = \"claude\"\napi = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\n";
        let good = format!(
            "{GOOD}\n{providers}[[models]]\nname = \"qwen3-32b\"\nprovider = \"backup\"\ntier = \"routed-commercial\"\npriority = 1\nweight = 2\n"
        );
        let c = load(&good, "dep").unwrap();
        assert_eq!(c.catalogue.deployments(0), [0, 1]);
        assert_eq!(c.catalogue.listable().count(), 1, "listed once");
        assert_eq!(c.catalogue.get(1).priority, 1);
        let e = load(
            &good.replace("provider = \"backup\"\ntier", "provider = \"claude\"\ntier"),
            "dep2",
        )
        .unwrap_err();
        assert_eq!(e.field, "models[1].provider");
        assert!(e.message.contains("share kind and provider api"));
        let e = load(&good.replace("weight = 2", "weight = 0"), "dep3").unwrap_err();
        assert_eq!(e.field, "models[1].weight");
    }

    #[test]
    fn unreadable_keys_file_names_the_field() {
        let bad = GOOD.replace("path = \"keys.toml\"", "path = \"missing.toml\"");
        let e = load(&bad, "keys").unwrap_err();
        assert_eq!(e.field, "store.path");
    }

    #[test]
    fn store_settings_are_validated() {
        let redis = GOOD.replace(
            "kind = \"file\"\npath = \"keys.toml\"",
            "kind = \"redis\"\nurl = \"redis://127.0.0.1:6379/0\"\nnodes = 3",
        );
        let c = load(&redis, "redis").unwrap();
        assert_eq!(c.store.nodes, 3);
        assert!(matches!(c.store.kind, StoreKind::Redis { ref prefix, .. } if prefix == "stav"));
        assert!(c.keys.is_empty());
        let e = load(&redis.replace("redis://127", "http://127"), "r2").unwrap_err();
        assert_eq!(e.field, "store.url");
        let e = load(&redis.replace("kind = \"redis\"", "kind = \"etcd\""), "r3").unwrap_err();
        assert_eq!(e.field, "store.kind");
        let e = load(
            &GOOD.replace(
                "max_body_bytes = 1000",
                "max_body_bytes = 1000\ntrusted_proxies = [\"10.0.0.0/40\"]",
            ),
            "tp",
        )
        .unwrap_err();
        assert_eq!(e.field, "server.trusted_proxies[0]");
    }

    #[test]
    fn unknown_field_is_rejected_with_its_name() {
        let bad = GOOD.replace("max_body_bytes = 1000", "max_body_byte = 1000");
        let e = load(&bad, "unk").unwrap_err();
        assert!(e.message.contains("max_body_byte"), "{e}");
    }

    #[test]
    fn telemetry_is_off_by_default_and_validated_by_field() {
        let cfg = load(GOOD, "tel-off").unwrap();
        assert_eq!(cfg.telemetry.otlp, None);
        assert_eq!(cfg.telemetry.service_name, "stav-gateway");
        assert_eq!(cfg.telemetry.sample_ratio, 1.0);
        assert!(!cfg.telemetry.trust_client_trace);

        let on = format!(
            "{GOOD}\n[telemetry]\notlp_endpoint = \"http://collector:4318\"\nsample_ratio = 0.25\n\
             trust_client_trace = true\nheaders = {{ authorization = \"Bearer t\" }}\n"
        );
        let cfg = load(&on, "tel-on").unwrap();
        let otlp = cfg.telemetry.otlp.unwrap();
        assert_eq!(otlp.traces_url, "http://collector:4318/v1/traces");
        assert_eq!(otlp.headers, [("authorization".into(), "Bearer t".into())]);
        assert_eq!(cfg.telemetry.sample_ratio, 0.25);
        assert!(cfg.telemetry.trust_client_trace);

        for (table, field) in [
            (
                "otlp_endpoint = \"https://collector:4318\"",
                "telemetry.otlp_endpoint",
            ),
            (
                "otlp_endpoint = \"collector:4318\"",
                "telemetry.otlp_endpoint",
            ),
            ("sample_ratio = 1.5", "telemetry.sample_ratio"),
            ("sample_ratio = -0.1", "telemetry.sample_ratio"),
            ("service_name = \" \"", "telemetry.service_name"),
            (
                "otlp_endpoint = \"http://c:4318\"\nheaders = { \"bad name\" = \"x\" }",
                "telemetry.headers.bad name",
            ),
            ("headers = { a = \"b\" }", "telemetry.headers"),
        ] {
            let text = format!("{GOOD}\n[telemetry]\n{table}\n");
            let e = load(&text, "tel-bad").unwrap_err();
            assert_eq!(e.field, field, "{table}: {e}");
        }
        let e = load(
            &format!("{GOOD}\n[telemetry]\nsample_rate = 1\n"),
            "tel-unk",
        )
        .unwrap_err();
        assert!(e.message.contains("sample_rate"), "{e}");
    }

    #[test]
    fn otlp_urls_get_the_traces_path_once() {
        assert_eq!(
            otlp_traces_url("http://127.0.0.1:4318/").unwrap(),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            otlp_traces_url("http://c/otlp/v1/traces").unwrap(),
            "http://c:80/otlp/v1/traces"
        );
        assert_eq!(
            otlp_traces_url("http://[::1]:4318").unwrap(),
            "http://[::1]:4318/v1/traces"
        );
        assert!(otlp_traces_url("http://c:4318/?x=1").is_err());
    }

    #[test]
    fn bad_api_and_kind_and_base_url() {
        let e = load(&GOOD.replace("api = \"openai\"", "api = \"grpc\""), "api").unwrap_err();
        assert_eq!(e.field, "providers[0].api");
        let e = load(&GOOD.replace("kind = \"chat\"", "kind = \"image\""), "kind").unwrap_err();
        assert_eq!(e.field, "models[0].kind");
        let e = load(&GOOD.replace("http://127.0.0.1:8000/v1", "ftp://x"), "url").unwrap_err();
        assert_eq!(e.field, "providers[0].base_url");
    }

    #[test]
    fn teams_and_routers_are_validated() {
        let with_team = |t: &str| format!("{GOOD}\n[[teams]]\nname = \"a\"\n{t}\n");
        let c = load(&with_team("max_tier = \"routed-commercial\"\nrouter = { default = \"qwen3-32b\", rules = [{ when = { code = true, complexity = \"high\" }, model = \"qwen3-32b\" }] }"), "team").unwrap();
        assert_eq!(c.team("a").max_tier, Tier::RoutedCommercial);
        assert_eq!(c.team("unlisted").max_tier, Tier::GlobalCommercial);
        let e = load(&with_team("router = { default = \"nope\" }"), "team2").unwrap_err();
        assert_eq!(e.field, "teams[0].router.default");
        let e = load(&with_team("router = { default = \"qwen3-32b\", rules = [{ when = { domain = \"cooking\" }, model = \"qwen3-32b\" }] }"), "team3").unwrap_err();
        assert_eq!(e.field, "teams[0].router.rules[0].when.domain");
        let e = load(&with_team("max_tier = \"eu\""), "team4").unwrap_err();
        assert_eq!(e.field, "teams[0].max_tier");
    }

    #[test]
    fn ledger_settings_are_validated_and_name_the_field() {
        assert!(
            load(GOOD, "l0").unwrap().ledger.is_none(),
            "off when absent"
        );
        let on = format!("{GOOD}\n[ledger]\n");
        let l = load(&on, "l1").unwrap().ledger.unwrap();
        assert_eq!(l.dir, tmpdir("l1").join("ledger"), "relative to the file");
        assert_eq!(l.fsync, Duration::from_millis(100));
        assert_eq!(l.retention, Duration::from_secs(400 * 86_400));
        assert_eq!(l.postgres_url, None);
        for (line, field) in [
            ("fsync_ms = 0", "ledger.fsync_ms"),
            ("segment_bytes = 10", "ledger.segment_bytes"),
            ("retention_days = 0", "ledger.retention_days"),
            ("postgres_url = \"postgres://a b:x\"", "ledger.postgres_url"),
        ] {
            let e = load(&format!("{on}{line}\n"), "l2").unwrap_err();
            assert_eq!(e.field, field, "{line}: {e}");
        }
        let e = load(&format!("{on}fsync = 5\n"), "l3").unwrap_err();
        assert!(
            e.message.contains("fsync"),
            "unknown fields are errors: {e}"
        );
        let pg = load(
            &format!("{on}postgres_url = \"postgres://stav@127.0.0.1:5432/stav\"\n"),
            "l4",
        )
        .unwrap();
        assert!(pg.ledger.unwrap().postgres_url.is_some());
        let e = load(
            &format!("{GOOD}\n[[teams]]\nname = \"a\"\nbudget_tokens_month = 0\n"),
            "l5",
        )
        .unwrap_err();
        assert_eq!(e.field, "teams[0].budget_tokens_month");
    }

    #[test]
    fn base_url_forms() {
        let b = BaseUrl::parse("https://api.anthropic.com").unwrap();
        assert!(b.tls);
        assert_eq!(
            (b.host.as_str(), b.port, b.path.as_str()),
            ("api.anthropic.com", 443, "")
        );
        assert_eq!(b.authority(), "api.anthropic.com");
        let b = BaseUrl::parse("http://[::1]:9000/v1/").unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.path.as_str()),
            ("::1", 9000, "/v1")
        );
        assert_eq!(b.authority(), "[::1]:9000");
        assert!(BaseUrl::parse("http://host:notaport/").is_err());
        assert!(BaseUrl::parse("http:///v1").is_err());
    }
}
