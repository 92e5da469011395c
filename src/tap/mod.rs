//! What the client gets of an upstream answer. Every answer body goes through one `BodyTap`,
//! chosen by the plan's bridge when the upstream's header arrives: pass-through taps forward the
//! same bytes and read the usage on the way; translating taps rewrite the body into the client's
//! contract; held taps keep an answer whole (to add `routing_metadata`, or to scrub an error).
//!
//! Taps are pure: bytes in, bytes out, no socket. The response phases only ask the tap.

mod held;
mod stream;
#[cfg(test)]
mod totals;

pub use held::{Convert, ErrorConvert, ErrorTap, JsonAnswer, JsonPass};

use crate::contract::{Contract, GatewayError};
use crate::usage::Usage;
use bytes::Bytes;

/// Largest single SSE event a tap holds while framing.
pub const MAX_EVENT: usize = 1 << 20;

/// What a tap may need to know about the request it answers.
#[derive(Debug, Clone, Copy)]
pub struct TapEnv<'a> {
    pub contract: Contract,
    pub request_id: &'a str,
}

pub trait BodyTap: Send + Sync {
    /// One upstream read in (`None` when there is no data this time), `end` at the body's end.
    /// Returns what the client gets now (`None`: nothing yet).
    fn on_body(&mut self, chunk: Option<Bytes>, end: bool, env: &TapEnv) -> Option<Bytes>;

    /// Usage the upstream has reported so far, in totals.
    fn usage(&self) -> Option<Usage> {
        None
    }

    /// Whether the client is being sent an event stream: a failure after the header then ends
    /// the stream with an error event instead of a status.
    fn streaming(&self) -> bool {
        false
    }

    /// The stream's terminal event has gone to the client: it has the whole answer and may close
    /// its connection, while what is left of the upstream body (its chunked terminator) is still
    /// read, so the upstream connection can be reused.
    fn finished(&self) -> bool {
        false
    }

    /// The stream failed after its header went out (a stall, the total timeout): the event that
    /// ends it, in the client's contract.
    fn fail(&mut self, err: &GatewayError, env: &TapEnv) -> Bytes {
        Bytes::from(err.sse_event(env.contract, env.request_id))
    }

    /// A Responses API answer, complete and as the client saw it, for the response store.
    fn completed_response(&mut self) -> Option<serde_json::Value> {
        None
    }
}

/// The body goes out as it came (answers the gateway has no reason to read).
#[derive(Debug, Default)]
pub struct Pass;

impl BodyTap for Pass {
    fn on_body(&mut self, chunk: Option<Bytes>, _end: bool, _env: &TapEnv) -> Option<Bytes> {
        chunk
    }
}

/// Drive a tap over a whole body split into `reads`, as the response phase would; what the
/// client received, concatenated. For tests and fuzzing.
#[cfg(test)]
pub fn run(tap: &mut dyn BodyTap, reads: &[&[u8]], env: &TapEnv) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, r) in reads.iter().enumerate() {
        let end = i + 1 == reads.len();
        if let Some(b) = tap.on_body(Some(Bytes::copy_from_slice(r)), end, env) {
            out.extend_from_slice(&b);
        }
    }
    if reads.is_empty() {
        if let Some(b) = tap.on_body(None, true, env) {
            out.extend_from_slice(&b);
        }
    }
    out
}
