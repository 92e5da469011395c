//! Pure translation between the client contracts and the provider APIs: requests, whole answers
//! and event streams. Anthropic Messages → Chat Completions here (`request`, `response`,
//! `stream`), Chat Completions → Messages in `reverse`, the Responses API in `responses`.

pub mod ids;
pub mod request;
pub mod response;
pub mod responses;
pub mod reverse;
pub mod stream;
