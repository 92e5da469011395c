//! The GenAI histograms (OpenTelemetry's semantic-convention names, Prometheus-style) and the
//! exporter's own counters. Labels bounded as elsewhere: configured model names, tiers, fixed
//! operation and reason sets.

use once_cell::sync::Lazy;
use prometheus::{
    register_histogram_vec, register_int_counter, register_int_counter_vec, HistogramVec,
    IntCounter, IntCounterVec,
};

/// The semantic conventions' advice for `gen_ai.client.token.usage`: powers of four.
const TOKEN_BUCKETS: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];
/// The conventions' advice for `gen_ai.server.time_to_first_token`.
const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

pub static TOKEN_USAGE: Lazy<HistogramVec> = Lazy::new(|| {
    register_histogram_vec!(
        "gen_ai_client_token_usage",
        "Tokens per request as the upstream reported them, by operation, model, type (input/output) and tier",
        &["operation", "model", "type", "tier"],
        TOKEN_BUCKETS.to_vec()
    )
    .expect("metric registers")
});

pub static TIME_TO_FIRST_TOKEN: Lazy<HistogramVec> = Lazy::new(|| {
    register_histogram_vec!(
        "gen_ai_server_time_to_first_token",
        "Seconds from the request's arrival to the first streamed event sent to the client, by operation, model and tier",
        &["operation", "model", "tier"],
        TTFT_BUCKETS.to_vec()
    )
    .expect("metric registers")
});

pub static SPANS_DROPPED: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "stav_otel_spans_dropped_total",
        "Spans not delivered to the OTLP collector: the export queue was full (queue_full) or the collector did not take the batch (export_failed)",
        &["reason"]
    )
    .expect("metric registers")
});

pub static SPANS_EXPORTED: Lazy<IntCounter> = Lazy::new(|| {
    register_int_counter!(
        "stav_otel_spans_exported_total",
        "Spans the OTLP collector accepted"
    )
    .expect("metric registers")
});

pub fn init() {
    Lazy::force(&TOKEN_USAGE);
    Lazy::force(&TIME_TO_FIRST_TOKEN);
    for reason in ["queue_full", "export_failed"] {
        SPANS_DROPPED.with_label_values(&[reason]);
    }
    Lazy::force(&SPANS_EXPORTED);
}
