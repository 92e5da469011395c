//! The OpenAI Responses API, translated for both provider APIs: requests become Chat Completions
//! (OpenAI-compatible upstreams) or Anthropic Messages (Claude); whole answers and event streams
//! of either come back as response objects and the Responses event sequence.
//!
//! `request` parses once into typed items and writes either upstream request; `object` builds
//! the response object and its items; `answer` converts whole answers; `stream` drives one
//! event emitter from either upstream's stream.

pub mod answer;
pub mod object;
pub mod request;
pub mod stream;
