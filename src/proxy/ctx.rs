//! Per-request state: the decision made in the request phase, read by every later phase.

use super::Gateway;
use crate::contract::routes::{RouteSpec, UNKNOWN_ROUTE_LABEL};
use crate::contract::{Contract, GatewayError};
use crate::limits::Reservation;
use crate::plan::Plan;
use crate::tap::{BodyTap, TapEnv};
use crate::usage::Usage;
use std::sync::Arc;
use std::time::Instant;

pub struct Ctx {
    /// The configuration this request is served under, fixed at its start: a reload (SIGHUP)
    /// swaps in a new one for later requests while this one finishes on its own.
    pub gw: Arc<Gateway>,
    pub request_id: String,
    pub started: Instant,
    /// The matched route; `None` for an unknown URL.
    pub route: Option<&'static RouteSpec>,
    pub contract: Contract,
    /// The authenticated key (its id goes to the access log).
    pub key: Option<Arc<crate::keys::KeyRecord>>,
    /// Boxed: the context lives inline in every request's future, which Pingora moves and keeps
    /// for each open stream.
    pub plan: Option<Box<Plan>>,
    /// A request the gateway answered itself for a catalogue model: (entry, tier).
    pub answered: Option<(usize, crate::tier::Tier)>,
    /// The effective sovereignty cap, once known (also set when a request is refused for it).
    pub cap: Option<crate::tier::Tier>,
    /// An error decided by the gateway, rendered by `fail_to_proxy`.
    pub failure: Option<GatewayError>,
    /// What the answer's body goes through, chosen by the plan's bridge.
    pub tap: Option<Box<dyn BodyTap>>,
    /// Then every byte passes this, so no provider credential reaches the client.
    pub scrub: Option<crate::scrub::StreamScrubber>,
    pub upstream_status: Option<u16>,
    pub first_byte: Option<Instant>,
    pub usage: Option<Usage>,
    pub stream_open: bool,
    /// The stream's terminal event went out; the rest of the upstream body is only drained.
    pub client_has_all: bool,
    /// Tokens held against rate limits, corrected with the real usage in `logging`.
    pub reservation: Option<Reservation>,
    /// `x-ratelimit-*` (and on 429 `retry-after`) for the answer's header.
    pub rate_headers: Vec<(&'static str, String)>,
    /// Index of the active attempt in the plan (0 until a failover).
    pub attempt: usize,
    /// Set when the response header phase decided to fail over, for `error_while_proxy`.
    pub failing_over: bool,
    /// A pooled connection that turned out closed was retried once on the same deployment.
    pub reuse_retried: bool,
    /// Span data for OpenTelemetry (`None` with tracing off).
    pub trace: Option<Box<crate::telemetry::RequestTrace>>,
    /// For the request ledger: the `model` the client sent, the error the gateway answered
    /// with, a rough input size (request bytes / 4) and what went out to the client, from which
    /// usage is estimated when the upstream's never comes.
    pub requested_model: Option<String>,
    pub sent_error: Option<GatewayError>,
    pub input_estimate: u64,
    pub sent_bytes: u64,
    pub sent_events: u64,
}

impl Ctx {
    pub fn new(gw: Arc<Gateway>) -> Self {
        Self {
            gw,
            request_id: new_request_id(),
            started: Instant::now(),
            route: None,
            contract: Contract::OpenAi,
            key: None,
            plan: None,
            answered: None,
            cap: None,
            failure: None,
            tap: None,
            scrub: None,
            upstream_status: None,
            first_byte: None,
            usage: None,
            stream_open: false,
            client_has_all: false,
            reservation: None,
            rate_headers: Vec::new(),
            attempt: 0,
            failing_over: false,
            reuse_retried: false,
            trace: None,
            requested_model: None,
            sent_error: None,
            input_estimate: 0,
            sent_bytes: 0,
            sent_events: 0,
        }
    }
}

impl Ctx {
    /// Bounded metric label of the route.
    pub fn route_label(&self) -> &'static str {
        self.route.map_or(UNKNOWN_ROUTE_LABEL, |r| r.label)
    }

    pub fn tap_env(&self) -> TapEnv<'_> {
        TapEnv {
            contract: self.contract,
            request_id: &self.request_id,
        }
    }
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("request_id", &self.request_id)
            .field("route", &self.route_label())
            .field("key", &self.key.as_ref().map(|k| k.id.as_str()))
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// `req_` + 24 hex digits of randomness: unique enough to join logs across nodes.
pub fn new_request_id() -> String {
    // Written into one buffer: `format!` cost more than the rest of making the context.
    let n: u128 = rand::random::<u128>() >> 32;
    let mut id = *b"req_000000000000000000000000";
    hex::encode_to_slice(&n.to_be_bytes()[4..], &mut id[4..]).expect("24 hex digits");
    String::from_utf8(id.to_vec()).expect("ASCII")
}

#[cfg(test)]
mod tests {
    use super::new_request_id;

    #[test]
    fn request_ids_are_req_and_24_hex_digits_and_differ() {
        let ids: Vec<String> = (0..200).map(|_| new_request_id()).collect();
        for id in &ids {
            let hex = id.strip_prefix("req_").expect(id);
            assert_eq!(hex.len(), 24, "{id}");
            assert!(hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
        // Every digit position takes more than one value: no digit is stuck.
        for pos in 4..28 {
            let seen: std::collections::HashSet<u8> =
                ids.iter().map(|i| i.as_bytes()[pos]).collect();
            assert!(seen.len() > 4, "position {pos}");
        }
    }
}
