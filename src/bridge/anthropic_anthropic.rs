//! Anthropic contract → Anthropic upstream (Claude): verbatim. The client's body byte for byte
//! (`model` spliced only when the catalogue pins another name), its query string (Claude Code
//! sends `?beta=true`), every `anthropic-*` header; the answer and its events come back unchanged.

use super::{not_success, Answer, Bridge, Crossing, PResult, Prepared, Target};
use crate::config::ProviderApi;
use crate::contract::routes::ClientApi;
use crate::contract::GatewayError;
use crate::headers::{self, ClientHead};
use crate::request::{rewrite_openai_body, ClientRequest};
use crate::tap::{BodyTap, JsonPass, MAX_EVENT};
use crate::usage::{anthropic_usage, AnthropicStreamTap};

#[derive(Debug)]
struct AnthropicPass;

pub fn prepare(req: &ClientRequest, t: &Target) -> Result<Crossing, GatewayError> {
    let endpoint = match req.api {
        ClientApi::CountTokens => "/v1/messages/count_tokens",
        _ => "/v1/messages",
    };
    let query = req.query.map_or(String::new(), |q| format!("?{q}"));
    Ok(Crossing::Proxy(Prepared {
        bridge: Box::new(AnthropicPass),
        path: format!("{endpoint}{query}"),
        body: rewrite_openai_body(req.body, &req.view, t.upstream_model, false),
        stream: req.view.stream,
    }))
}

impl Bridge for AnthropicPass {
    fn provider_api(&self) -> ProviderApi {
        ProviderApi::Anthropic
    }

    fn verbatim(&self) -> bool {
        true
    }

    fn answer(&self, a: &Answer, head: &mut ClientHead) -> PResult<Box<dyn BodyTap>> {
        // Anthropic's own `request-id` comes back unchanged; ours is `x-request-id`.
        head.insert_str(headers::X_REQUEST_ID, a.request_id)?;
        if a.status == 200 && a.sse {
            let mut tap = AnthropicStreamTap::new(MAX_EVENT);
            if let Some(r) = a.routing {
                tap = tap.with_routing(r.to_vec());
                head.rechunk();
            }
            return Ok(Box::new(tap));
        }
        if a.status == 200 {
            let routing = a.routing.map(<[u8]>::to_vec);
            return Ok(Box::new(JsonPass::new(anthropic_usage, routing, head)?));
        }
        not_success(a, head, None)
    }
}
