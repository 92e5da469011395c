//! Anthropic Messages ⇄ OpenAI Chat Completions: requests, answers and streams.

use crate::usage::Usage;
use bytes::Bytes;

/// A stream being rewritten from one contract's events into the other's, one read at a time.
pub trait EventTranslator: Send + Sync + std::fmt::Debug {
    /// One upstream read in, the client's events out (possibly empty).
    fn process(&mut self, chunk: &Bytes) -> Bytes;
    /// The upstream body ended: whatever completes (or fails) the stream.
    fn finish(&mut self) -> Bytes;
    /// Usage reported so far, in totals.
    fn usage(&self) -> Option<Usage>;
}

pub mod ids;
pub mod request;
pub mod response;
pub mod reverse;
pub mod stream;
