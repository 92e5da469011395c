//! The request phase's decision, as a pure function of the configuration and the request:
//! which catalogue model, which provider, which tier, what path and which exact bytes go upstream.

use crate::catalogue::ModelKind;
use crate::config::{Config, ProviderApi};
use crate::contract::{ErrorKind, GatewayError, Route};
use crate::request::{rewrite_openai_body, RequestView};
use crate::tier::Tier;
use bytes::Bytes;

#[derive(Debug)]
pub struct Plan {
    /// Index into the catalogue's entries.
    pub model: usize,
    /// Index into the providers (and the resolved upstreams).
    pub provider: usize,
    pub tier: Tier,
    /// Upstream request path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The body exactly as it will be sent upstream.
    pub body: Bytes,
    pub stream: bool,
    /// The gateway forced `include_usage`; hide the extra chunk from the client.
    pub strip_usage: bool,
}

/// Decide where an OpenAI-contract request (chat completions, embeddings) goes.
pub fn plan_openai(cfg: &Config, route: Route, body: &Bytes) -> Result<Plan, GatewayError> {
    let view = RequestView::parse(body)?;
    let (idx, entry) = cfg
        .catalogue
        .find(&view.model)
        .ok_or_else(|| model_not_found(&view.model))?;
    let (wanted, endpoint) = match route {
        Route::ChatCompletions => (ModelKind::Chat, "/chat/completions"),
        Route::Embeddings => (ModelKind::Embeddings, "/embeddings"),
        _ => unreachable!("plan_openai is only called for OpenAI routes"),
    };
    if entry.kind != wanted {
        let what = match entry.kind {
            ModelKind::Chat => "a chat model; use /v1/chat/completions",
            ModelKind::Embeddings => "an embedding model; use /v1/embeddings",
        };
        return Err(GatewayError::new(
            ErrorKind::WrongModelKind,
            format!("The model `{}` is {what}.", view.model),
        )
        .with_param("model"));
    }
    let provider = cfg.provider(entry.provider);
    if provider.api != ProviderApi::OpenAi {
        return Err(GatewayError::new(
            ErrorKind::WrongModelKind,
            format!(
                "The model `{}` is served through the Anthropic Messages API; call /v1/messages.",
                view.model
            ),
        )
        .with_param("model"));
    }
    // Streams always report usage upstream so tokens are metered; the client only sees the usage
    // chunk when it asked for it.
    let force_usage = route == Route::ChatCompletions && view.stream;
    let upstream_body = rewrite_openai_body(
        body,
        &view,
        entry.upstream_model_for(&view.model),
        force_usage,
    );
    Ok(Plan {
        model: idx,
        provider: entry.provider,
        tier: entry.tier,
        path: format!("{}{endpoint}", provider.base.path),
        body: upstream_body,
        stream: view.stream && route == Route::ChatCompletions,
        strip_usage: force_usage && !view.include_usage,
    })
}

pub fn model_not_found(model: &str) -> GatewayError {
    GatewayError::new(
        ErrorKind::ModelNotFound,
        format!("The model `{model}` does not exist or you do not have access to it."),
    )
    .with_param("model")
}
