//! OpenAI contract → OpenAI-compatible upstream (chat completions, embeddings): the client's
//! bytes with only `model` spliced. Streams always report usage upstream, so tokens are metered;
//! the client sees the usage chunk only when it asked for it.

use super::{add_request_id, not_success, Answer, Bridge, Crossing, PResult, Prepared, Target};
use crate::config::ProviderApi;
use crate::contract::routes::ClientApi;
use crate::contract::GatewayError;
use crate::headers::ClientHead;
use crate::request::{rewrite_openai_body, ClientRequest};
use crate::tap::{BodyTap, JsonPass, MAX_EVENT};
use crate::usage::{openai_usage, OpenAiStreamTap};

#[derive(Debug)]
struct OpenAiPass {
    stream: bool,
    /// The gateway forced `include_usage`: the extra chunk is hidden again.
    strip_usage: bool,
}

pub fn prepare(req: &ClientRequest, t: &Target) -> Result<Crossing, GatewayError> {
    let chat = req.api == ClientApi::ChatCompletions;
    let stream = chat && req.view.stream;
    Ok(Crossing::Proxy(Prepared {
        bridge: Box::new(OpenAiPass {
            stream,
            strip_usage: stream && !req.view.include_usage,
        }),
        path: if chat {
            "/chat/completions"
        } else {
            "/embeddings"
        }
        .into(),
        body: rewrite_openai_body(req.body, &req.view, t.upstream_model, stream),
        stream,
    }))
}

impl Bridge for OpenAiPass {
    fn provider_api(&self) -> ProviderApi {
        ProviderApi::OpenAi
    }

    fn answer(&self, a: &Answer, head: &mut ClientHead) -> PResult<Box<dyn BodyTap>> {
        add_request_id(head, a.request_id)?;
        if a.status == 200 && a.sse && self.stream {
            let mut tap = OpenAiStreamTap::new(self.strip_usage, MAX_EVENT);
            if let Some(r) = a.routing {
                tap = tap.with_routing(r.to_vec());
            }
            // Stripped usage, metadata and a closing error event change the length.
            head.rechunk();
            return Ok(Box::new(tap));
        }
        if a.status == 200 {
            let routing = a.routing.map(<[u8]>::to_vec);
            return Ok(Box::new(JsonPass::new(openai_usage, routing, head)?));
        }
        not_success(a, head, None)
    }
}
