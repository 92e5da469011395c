//! Prometheus metrics with bounded labels: configured model names (or `unknown`), tiers, routes,
//! status classes and fixed reason sets. Never keys, client strings or request ids.

use once_cell::sync::Lazy;
use prometheus::{
    register_histogram_vec, register_int_counter, register_int_counter_vec, register_int_gauge,
    register_int_gauge_vec, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
};

const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96,
    81.92, 163.84, 327.68,
];
const TTFB_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
    5.0, 10.0, 20.0, 40.0, 80.0,
];

pub static REQUESTS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "stav_http_requests_total",
        "Requests answered, by route, model, tier and status class",
        &["route", "model", "tier", "status_class"]
    )
    .expect("metric registers")
});

pub static REQUEST_DURATION: Lazy<HistogramVec> = Lazy::new(|| {
    register_histogram_vec!(
        "stav_http_request_duration_seconds",
        "Time from request start to the last byte, by route and model",
        &["route", "model", "streaming"],
        DURATION_BUCKETS.to_vec()
    )
    .expect("metric registers")
});

pub static TIME_TO_FIRST_BYTE: Lazy<HistogramVec> = Lazy::new(|| {
    register_histogram_vec!(
        "stav_time_to_first_byte_seconds",
        "Time from request start to the first response body byte (first token on streams)",
        &["route", "model", "streaming"],
        TTFB_BUCKETS.to_vec()
    )
    .expect("metric registers")
});

pub static TOKENS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "stav_tokens_total",
        "Tokens reported by upstream usage, streaming included",
        &["route", "model", "tier", "type"]
    )
    .expect("metric registers")
});

pub static UPSTREAM_ERRORS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "stav_upstream_errors_total",
        "Upstream failures by provider and kind",
        &["provider", "kind"]
    )
    .expect("metric registers")
});

pub static AUTH_FAILURES: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "stav_auth_failures_total",
        "Requests refused before routing, by reason",
        &["reason"]
    )
    .expect("metric registers")
});

pub static REJECTED: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "stav_rejected_requests_total",
        "Requests refused for their shape, by reason",
        &["reason"]
    )
    .expect("metric registers")
});

pub static ACTIVE_STREAMS: Lazy<IntGaugeVec> = Lazy::new(|| {
    register_int_gauge_vec!(
        "stav_active_streams",
        "Event streams currently open to clients",
        &["route"]
    )
    .expect("metric registers")
});

pub static ACCESS_DENIED: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "stav_access_denied_total",
        "Authenticated requests refused by the key's restrictions (scope, model, ip)",
        &["reason"]
    )
    .expect("metric registers")
});

pub static RATE_LIMITED: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "stav_rate_limited_total",
        "Requests refused with 429, by whose limit (key, team) and which (requests, tokens)",
        &["scope", "limit"]
    )
    .expect("metric registers")
});

pub static KEYSTORE_RELOADS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "stav_keystore_reloads_total",
        "Key snapshot reloads; on error the previous snapshot stays in use",
        &["result"]
    )
    .expect("metric registers")
});

pub static KEYSTORE_KEYS: Lazy<IntGaugeVec> = Lazy::new(|| {
    register_int_gauge_vec!(
        "stav_keystore_keys",
        "Keys in the current snapshot by state (active, expiring, expired, revoked)",
        &["state"]
    )
    .expect("metric registers")
});

pub static KEYSTORE_SNAPSHOT_AGE: Lazy<IntGauge> = Lazy::new(|| {
    register_int_gauge!(
        "stav_keystore_snapshot_age_seconds",
        "Seconds since the key snapshot was last confirmed current with its store"
    )
    .expect("metric registers")
});

pub static STORE_UP: Lazy<IntGauge> = Lazy::new(|| {
    register_int_gauge!(
        "stav_store_up",
        "1 while the shared store (Redis) answers, 0 while it does not; always 1 for the file store"
    )
    .expect("metric registers")
});

pub static RATELIMIT_FALLBACK: Lazy<IntGauge> = Lazy::new(|| {
    register_int_gauge!(
        "stav_ratelimit_fallback_active",
        "1 while rate limits are enforced locally at limit/nodes because Redis is unreachable"
    )
    .expect("metric registers")
});

pub static STORE_ERRORS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "stav_store_errors_total",
        "Failed calls to the shared store, by operation",
        &["op"]
    )
    .expect("metric registers")
});

pub static DEPLOYMENT_UP: Lazy<IntGaugeVec> = Lazy::new(|| {
    register_int_gauge_vec!(
        "stav_deployment_up",
        "0 while a deployment is ejected by passive health checks, else 1",
        &["model", "provider"]
    )
    .expect("metric registers")
});

pub static DEPLOYMENT_EJECTIONS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "stav_deployment_ejections_total",
        "Times a deployment was ejected after failing repeatedly",
        &["model", "provider"]
    )
    .expect("metric registers")
});

pub static FAILOVERS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "stav_failovers_total",
        "Requests moved to another deployment before their first byte, by the failed deployment and why",
        &["model", "provider", "reason"]
    )
    .expect("metric registers")
});

pub static CONFIG_RELOADS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "stav_config_reloads_total",
        "Configuration reloads on SIGHUP; on error the running configuration stays",
        &["result"]
    )
    .expect("metric registers")
});

pub static UPSTREAM_CONNECTIONS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "stav_upstream_connections_total",
        "Upstream connections a request was sent on, by provider, new or reused from the pool",
        &["provider", "reused"]
    )
    .expect("metric registers")
});

pub static PENDING_HEADERS: Lazy<IntGauge> = Lazy::new(|| {
    register_int_gauge!(
        "stav_pending_header_connections",
        "Client connections waiting for a request header to complete"
    )
    .expect("metric registers")
});

pub static CONNECTIONS_REFUSED: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "stav_connections_refused_total",
        "Client connections closed before a request was read: too many pending headers, or a header past its deadline",
        &["reason"]
    )
    .expect("metric registers")
});

pub static ACCESS_LOG_DROPPED: Lazy<IntCounter> = Lazy::new(|| {
    register_int_counter!(
        "stav_access_log_dropped_total",
        "Access-log entries dropped because the writer fell behind or failed (requests never wait for it)"
    )
    .expect("metric registers")
});

pub static RESPONSES_STORED: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "stav_responses_stored_total",
        "Responses API answers kept for retrieval and continuation (stored), or lost because the shared store failed (failed)",
        &["result"]
    )
    .expect("metric registers")
});

pub static LEDGER_RECORDS: Lazy<IntCounter> = Lazy::new(|| {
    register_int_counter!(
        "stav_ledger_records_total",
        "Records written to the request ledger's journal"
    )
    .expect("metric registers")
});

pub static LEDGER_DROPPED: Lazy<IntCounter> = Lazy::new(|| {
    register_int_counter!(
        "stav_ledger_dropped_total",
        "Ledger records dropped because the writer's queue was full (0 in normal operation)"
    )
    .expect("metric registers")
});

pub static LEDGER_WRITE_ERRORS: Lazy<IntCounter> = Lazy::new(|| {
    register_int_counter!(
        "stav_ledger_write_errors_total",
        "Failed writes to the ledger's journal (retried)"
    )
    .expect("metric registers")
});

pub static LEDGER_LAG: Lazy<IntGauge> = Lazy::new(|| {
    register_int_gauge!(
        "stav_ledger_lag_records",
        "Records in the journal not yet shipped to PostgreSQL"
    )
    .expect("metric registers")
});

pub static LEDGER_SHIP_ERRORS: Lazy<IntCounter> = Lazy::new(|| {
    register_int_counter!(
        "stav_ledger_ship_errors_total",
        "Failed attempts to ship ledger records to PostgreSQL (retried from the same position)"
    )
    .expect("metric registers")
});

pub static LEDGER_SHIPPED: Lazy<IntCounter> = Lazy::new(|| {
    register_int_counter!(
        "stav_ledger_shipped_total",
        "Ledger records shipped to PostgreSQL (including ones it already had)"
    )
    .expect("metric registers")
});

pub static BUILD_INFO: Lazy<IntGaugeVec> = Lazy::new(|| {
    register_int_gauge_vec!(
        "stav_build_info",
        "Build information",
        &["version", "pingora"]
    )
    .expect("metric registers")
});

/// The labels of one request's series: the route, the model's name, the tier, the status class
/// and whether it streamed (bounded: `'static` labels and names from the configuration).
#[derive(Debug, Clone, Copy)]
pub struct RequestLabels<'a> {
    pub route: &'static str,
    pub model: &'a str,
    pub tier: &'static str,
    pub class: &'static str,
    pub streaming: &'static str,
}

/// One request's series, resolved from the vectors once (a resolved series stays registered, so
/// its handle can be kept): `with_label_values` hashes every label and takes the vector's lock
/// on each call, five times per request.
#[derive(Clone)]
pub struct RequestSeries {
    pub requests: IntCounter,
    pub duration: prometheus::Histogram,
    pub first_byte: prometheus::Histogram,
    pub input_tokens: IntCounter,
    pub output_tokens: IntCounter,
}

impl RequestSeries {
    pub fn resolve(l: &RequestLabels) -> Self {
        let (route, model, tier) = (l.route, l.model, l.tier);
        RequestSeries {
            requests: REQUESTS.with_label_values(&[route, model, tier, l.class]),
            duration: REQUEST_DURATION.with_label_values(&[route, model, l.streaming]),
            first_byte: TIME_TO_FIRST_BYTE.with_label_values(&[route, model, l.streaming]),
            input_tokens: TOKENS.with_label_values(&[route, model, tier, "input"]),
            output_tokens: TOKENS.with_label_values(&[route, model, tier, "output"]),
        }
    }
}

/// `2xx`, `4xx`, ...; `0` (nothing written, e.g. the client left) is `none`.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "none",
    }
}

/// Register every metric so the first scrape shows them all.
pub fn init() {
    Lazy::force(&REQUESTS);
    Lazy::force(&REQUEST_DURATION);
    Lazy::force(&TIME_TO_FIRST_BYTE);
    Lazy::force(&TOKENS);
    Lazy::force(&UPSTREAM_ERRORS);
    Lazy::force(&AUTH_FAILURES);
    Lazy::force(&REJECTED);
    Lazy::force(&ACTIVE_STREAMS);
    Lazy::force(&ACCESS_DENIED);
    Lazy::force(&RATE_LIMITED);
    Lazy::force(&KEYSTORE_RELOADS);
    Lazy::force(&KEYSTORE_KEYS);
    Lazy::force(&KEYSTORE_SNAPSHOT_AGE);
    Lazy::force(&STORE_UP);
    Lazy::force(&RATELIMIT_FALLBACK);
    Lazy::force(&STORE_ERRORS);
    Lazy::force(&DEPLOYMENT_UP);
    Lazy::force(&DEPLOYMENT_EJECTIONS);
    Lazy::force(&FAILOVERS);
    Lazy::force(&CONFIG_RELOADS);
    Lazy::force(&RESPONSES_STORED);
    Lazy::force(&UPSTREAM_CONNECTIONS);
    Lazy::force(&LEDGER_RECORDS);
    Lazy::force(&LEDGER_DROPPED);
    Lazy::force(&LEDGER_WRITE_ERRORS);
    Lazy::force(&LEDGER_LAG);
    Lazy::force(&LEDGER_SHIP_ERRORS);
    Lazy::force(&LEDGER_SHIPPED);
    Lazy::force(&PENDING_HEADERS);
    Lazy::force(&ACCESS_LOG_DROPPED);
    crate::telemetry::metrics::init();
    for reason in ["pending_headers", "header_timeout"] {
        CONNECTIONS_REFUSED.with_label_values(&[reason]);
    }
    // Bounded label sets start at zero, so dashboards and alerts see the series before the
    // first event.
    for reason in ["scope", "model", "ip"] {
        ACCESS_DENIED.with_label_values(&[reason]);
    }
    for scope in ["key", "team"] {
        for limit in ["requests", "tokens", "budget"] {
            RATE_LIMITED.with_label_values(&[scope, limit]);
        }
    }
    for result in ["ok", "error"] {
        KEYSTORE_RELOADS.with_label_values(&[result]);
        CONFIG_RELOADS.with_label_values(&[result]);
    }
    for result in ["stored", "failed"] {
        RESPONSES_STORED.with_label_values(&[result]);
    }
    BUILD_INFO
        .with_label_values(&[env!("CARGO_PKG_VERSION"), "0.9.1"])
        .set(1);
}

/// The text exposition of the default registry.
pub fn render() -> (Vec<u8>, String) {
    use prometheus::Encoder;
    let enc = prometheus::TextEncoder::new();
    let mut buf = Vec::new();
    enc.encode(&prometheus::gather(), &mut buf)
        .expect("text encoding cannot fail on gathered families");
    (buf, enc.format_type().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(404), "4xx");
        assert_eq!(status_class(504), "5xx");
        assert_eq!(status_class(0), "none");
    }

    #[test]
    fn render_shows_registered_metrics() {
        init();
        REQUESTS
            .with_label_values(&["chat_completions", "m", "sovereign", "2xx"])
            .inc();
        let (text, ty) = render();
        let text = String::from_utf8(text).unwrap();
        assert!(ty.starts_with("text/plain"));
        assert!(text.contains("stav_http_requests_total{model=\"m\",route=\"chat_completions\",status_class=\"2xx\",tier=\"sovereign\"}"));
        assert!(text.contains("stav_build_info"));
    }
}
