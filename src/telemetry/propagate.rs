//! W3C Trace Context in and out, through the SDK's `TraceContextPropagator`: the client's
//! `traceparent`/`tracestate` read only when the operator trusts its clients, and the gateway's
//! own span context written on every upstream attempt.

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags};
use opentelemetry_sdk::propagation::TraceContextPropagator;

pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        // A header sent twice is ambiguous: W3C asks for the trace to restart then.
        let mut values = self.0.get_all(key).iter();
        let first = values.next()?;
        if values.next().is_some() {
            return None;
        }
        first.to_str().ok()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The client's span context, if its `traceparent` is valid.
pub fn extract(headers: &http::HeaderMap) -> Option<SpanContext> {
    if !headers.contains_key(TRACEPARENT) {
        return None;
    }
    let cx = TraceContextPropagator::new().extract(&Headers(headers));
    let sc = cx.span().span_context().clone();
    sc.is_valid().then_some(sc)
}

/// `traceparent` for `span`: version `00`, trace id, span id and the sampled flag in lower-case
/// hex, as the SDK's `TraceContextPropagator` writes it (checked in the tests) without its
/// `Context`, `format!` and `String`: this runs on every upstream attempt.
pub fn traceparent(span: &SpanContext) -> [u8; 55] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 55];
    let mut put = |at: usize, bytes: &[u8]| {
        for (i, b) in bytes.iter().enumerate() {
            out[at + 2 * i] = HEX[usize::from(b >> 4)];
            out[at + 2 * i + 1] = HEX[usize::from(b & 15)];
        }
    };
    put(0, &[0]);
    put(3, &span.trace_id().to_bytes());
    put(36, &span.span_id().to_bytes());
    put(
        53,
        &[span.trace_flags().to_u8() & TraceFlags::SAMPLED.to_u8()],
    );
    out
}

/// `traceparent` (and `tracestate`, when not empty) as (name, value) pairs: what every upstream
/// attempt carries.
pub type TraceHeaders = std::iter::Chain<
    std::iter::Once<(http::HeaderName, http::HeaderValue)>,
    std::option::IntoIter<(http::HeaderName, http::HeaderValue)>,
>;

/// The trace headers for `span`.
pub fn headers_for(span: &SpanContext) -> TraceHeaders {
    // Hex digits and dashes: always a valid header value.
    let tp = http::HeaderValue::from_bytes(&traceparent(span)).expect("a traceparent is ASCII");
    let state = span.trace_state().header();
    // W3C list members are printable ASCII; a state that is not is left out, never sent broken.
    let state = (!state.is_empty())
        .then(|| http::HeaderValue::from_str(&state).ok())
        .flatten();
    std::iter::once((http::HeaderName::from_static(TRACEPARENT), tp))
        .chain(state.map(|v| (http::HeaderName::from_static(TRACESTATE), v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};
    use std::str::FromStr;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_is_read_with_its_state() {
        let mut h = http::HeaderMap::new();
        h.insert(TRACEPARENT, PARENT.parse().unwrap());
        h.insert(TRACESTATE, "vendor=abc".parse().unwrap());
        let sc = extract(&h).unwrap();
        assert_eq!(
            sc.trace_id(),
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
        );
        assert_eq!(sc.span_id(), SpanId::from_hex("00f067aa0ba902b7").unwrap());
        assert!(sc.is_sampled() && sc.is_remote());
        assert_eq!(sc.trace_state().get("vendor"), Some("abc"));
    }

    #[test]
    fn broken_or_repeated_traceparents_start_a_new_trace() {
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "not a trace",
        ] {
            let mut h = http::HeaderMap::new();
            h.insert(TRACEPARENT, bad.parse().unwrap());
            assert!(extract(&h).is_none(), "{bad:?}");
        }
        let mut h = http::HeaderMap::new();
        h.append(TRACEPARENT, PARENT.parse().unwrap());
        h.append(TRACEPARENT, PARENT.parse().unwrap());
        assert!(extract(&h).is_none(), "sent twice");
        assert!(extract(&http::HeaderMap::new()).is_none());
    }

    /// What the SDK's propagator writes for `span`.
    fn sdk_headers(span: &SpanContext) -> Vec<(String, String)> {
        use opentelemetry::propagation::Injector;
        use opentelemetry::Context;
        struct Pairs(Vec<(String, String)>);
        impl Injector for Pairs {
            fn set(&mut self, key: &str, value: String) {
                if !value.is_empty() {
                    self.0.push((key.to_string(), value));
                }
            }
        }
        let mut out = Pairs(Vec::new());
        let cx = Context::new().with_remote_span_context(span.clone());
        TraceContextPropagator::new().inject_context(&cx, &mut out);
        out.0
    }

    #[test]
    fn traceparent_is_written_as_the_sdk_writes_it() {
        use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
        let ids = RandomIdGenerator::default();
        for (i, state) in ["", "vendor=abc", "a=1,b=2"]
            .iter()
            .cycle()
            .take(300)
            .enumerate()
        {
            let sc = SpanContext::new(
                ids.new_trace_id(),
                ids.new_span_id(),
                TraceFlags::new(i as u8),
                false,
                TraceState::from_str(state).unwrap(),
            );
            let ours: Vec<(String, String)> = headers_for(&sc)
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
                .collect();
            assert_eq!(ours, sdk_headers(&sc), "{sc:?}");
        }
    }

    #[test]
    fn our_span_goes_out_as_traceparent_with_its_state() {
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("1111111111111111").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::from_str("vendor=abc").unwrap(),
        );
        let text = |sc: &SpanContext| -> Vec<(String, String)> {
            headers_for(sc)
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
                .collect()
        };
        let h = text(&sc);
        assert_eq!(
            h,
            [
                (
                    TRACEPARENT.to_string(),
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01".to_string()
                ),
                (TRACESTATE.to_string(), "vendor=abc".to_string())
            ]
        );
        let unsampled = SpanContext::new(
            sc.trace_id(),
            sc.span_id(),
            TraceFlags::default(),
            false,
            TraceState::default(),
        );
        assert_eq!(
            text(&unsampled),
            [(
                TRACEPARENT.to_string(),
                "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-00".to_string()
            )]
        );
    }
}
