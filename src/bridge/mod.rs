//! One bridge per (client contract × provider API) pair. A bridge is chosen once, when the request
//! is planned, and owns everything that differs between pairs: the upstream path, the exact
//! upstream body, the head sent up, and the client's header and body tap on the way
//! back. Pairs are translated directly, not through a common internal format: a pass-through pair
//! forwards the client's bytes, and each translating pair keeps what only its two ends share.
//!
//! Adding a client contract or a provider API is adding files here and arms to `prepare`'s
//! match, which is exhaustive on purpose.

mod anthropic_anthropic;
mod chat_anthropic;
mod messages_openai;
mod openai_openai;
pub mod provider;
mod responses_anthropic;
mod responses_common;
mod responses_openai;

use crate::config::ProviderApi;
use crate::contract::routes::ClientApi;
use crate::contract::{ErrorKind, GatewayError};
use crate::headers::{self, ClientHead};
use crate::request::ClientRequest;
use crate::tap::{BodyTap, ErrorConvert, ErrorTap, Pass};
use bytes::Bytes;
use pingora_http::RequestHeader;
use std::fmt;

pub type PResult<T> = pingora_error::Result<T>;

/// The upstream's answer as the bridge sees it when its header arrives.
#[derive(Debug)]
pub struct Answer<'a> {
    pub status: u16,
    /// The upstream sent `text/event-stream`.
    pub sse: bool,
    pub request_id: &'a str,
    /// `routing_metadata`, serialized, when `model: "auto"` chose the model.
    pub routing: Option<&'a [u8]>,
}

pub trait Bridge: Send + Sync + fmt::Debug {
    /// The provider API this bridge speaks upstream.
    fn provider_api(&self) -> ProviderApi;

    /// The client's header for an upstream answer, and the tap its body goes through.
    fn answer(&self, a: &Answer, head: &mut ClientHead) -> PResult<Box<dyn BodyTap>>;

    /// A Responses API answer to keep (`store`), given the response object the client got.
    fn keep(&self, _response: serde_json::Value) -> Option<Kept> {
        None
    }

    /// The client gets the upstream's answer as it came (Claude's verbatim path): the headers its
    /// SDKs read pass too.
    fn verbatim(&self) -> bool {
        false
    }

    /// The head sent upstream: by default, what the provider's API takes.
    fn upstream_head(
        &self,
        client: &RequestHeader,
        path: &str,
        own: &provider::Own<'_>,
        trace: Option<TraceHeaders>,
    ) -> PResult<RequestHeader> {
        provider::upstream_head(
            self.provider_api(),
            client,
            path,
            own,
            trace.into_iter().flatten(),
        )
    }
}

/// The gateway's trace context for the upstream (`traceparent`, and `tracestate` when set).
pub use crate::telemetry::propagate::TraceHeaders;

/// A Responses API answer to store: with the team and cap the request was served under, what
/// `GET /v1/responses/{id}` returns and `previous_response_id` continues.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    pub id: String,
    pub response: serde_json::Value,
    pub input: Vec<serde_json::Value>,
    pub context: Vec<serde_json::Value>,
}

/// The deployment chosen for a request, as a bridge needs it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The name the client's answers carry (the chosen model for `auto`).
    pub client_model: &'a str,
    /// The name sent upstream.
    pub upstream_model: &'a str,
    /// `routing_metadata`, for translating bridges that write it into their own events.
    pub routing: Option<&'a serde_json::value::RawValue>,
}

impl Target<'_> {
    /// `routing_metadata` as a value, for bridges that build their answers as values.
    pub fn routing_value(&self) -> Option<serde_json::Value> {
        self.routing
            .map(|r| serde_json::from_str(r.get()).expect("routing metadata is JSON"))
    }
}

/// What a bridge makes of a request.
pub enum Crossing {
    Proxy(Prepared),
    /// Answered by the gateway itself, never sent anywhere (e.g. `count_tokens` for a model whose
    /// API has no such endpoint).
    Answer(Vec<u8>),
}

pub struct Prepared {
    pub bridge: Box<dyn Bridge>,
    /// Path (and query) under the provider's base URL.
    pub path: String,
    /// The body exactly as it will be sent upstream.
    pub body: Bytes,
    /// The exchange streams (the upstream is asked for events).
    pub stream: bool,
}

/// The bridge for the request's contract and the provider's API: the one table of pairs.
pub fn prepare(
    req: &ClientRequest,
    api: ProviderApi,
    target: &Target,
) -> Result<Crossing, GatewayError> {
    use ClientApi::*;
    match (req.api, api) {
        (ChatCompletions | Embeddings, ProviderApi::OpenAi) => openai_openai::prepare(req, target),
        (ChatCompletions, ProviderApi::Anthropic) => chat_anthropic::prepare(req, target),
        (Messages | CountTokens, ProviderApi::Anthropic) => {
            anthropic_anthropic::prepare(req, target)
        }
        (Messages | CountTokens, ProviderApi::OpenAi) => messages_openai::prepare(req, target),
        (Responses, ProviderApi::OpenAi) => responses_openai::prepare(req, target),
        (Responses, ProviderApi::Anthropic) => responses_anthropic::prepare(req, target),
        // Configuration validation keeps embedding models off Anthropic providers.
        (Embeddings, ProviderApi::Anthropic) => Err(GatewayError::new(
            ErrorKind::Internal,
            "Anthropic providers serve no embeddings.",
        )),
    }
}

/// Both SDK families read their own request-id header; set both.
pub fn add_request_id(head: &mut ClientHead, request_id: &str) -> PResult<()> {
    let v = http::HeaderValue::from_str(request_id)
        .map_err(|_| pingora_error::Error::new(pingora_error::ErrorType::InternalError))?;
    head.insert(headers::X_REQUEST_ID, v.clone());
    head.insert(headers::REQUEST_ID, v);
    Ok(())
}

/// An answer that is not a success: an error body is held whole (and converted into the
/// client's contract, for translating bridges); anything else passes.
pub fn not_success(
    a: &Answer,
    head: &mut ClientHead,
    convert: Option<ErrorConvert>,
) -> PResult<Box<dyn BodyTap>> {
    if a.status >= 400 || convert.is_some() {
        head.rechunk();
        return Ok(Box::new(ErrorTap::new(convert)));
    }
    Ok(Box::new(Pass))
}
