//! Anthropic Messages ⇄ OpenAI Chat Completions: requests, answers and streams.

pub mod ids;
pub mod request;
pub mod response;
pub mod reverse;
pub mod stream;
