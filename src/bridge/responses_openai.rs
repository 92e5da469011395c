//! OpenAI Responses API → OpenAI-compatible upstream: the request becomes a chat completion
//! (`translate::responses::request::to_chat`), the answer a response object or the Responses
//! event sequence.

use super::{not_success, Answer, Bridge, Crossing, Kept, PResult, Prepared, Target};
use crate::config::ProviderApi;
use crate::contract::GatewayError;
use crate::headers::{self, ClientHead};
use crate::request::ClientRequest;
use crate::tap::{BodyTap, JsonAnswer, MAX_EVENT};
use crate::translate::responses::object::ResponsesMeta;
use crate::translate::responses::request::to_chat;
use crate::translate::responses::{answer, stream::FromChatStream};
use bytes::Bytes;

#[derive(Debug)]
struct ResponsesToChat {
    meta: ResponsesMeta,
}

pub fn prepare(req: &ClientRequest, t: &Target) -> Result<Crossing, GatewayError> {
    let (parsed, meta) = super::responses_common::parse(req, t)?;
    let body = to_chat(&parsed, t.upstream_model);
    Ok(Crossing::Proxy(Prepared {
        path: "/chat/completions".into(),
        body: Bytes::from(serde_json::to_vec(&body).expect("json serializes")),
        stream: meta.stream,
        bridge: Box::new(ResponsesToChat { meta }),
    }))
}

impl Bridge for ResponsesToChat {
    fn provider_api(&self) -> ProviderApi {
        ProviderApi::OpenAi
    }

    fn answer(&self, a: &Answer, head: &mut ClientHead) -> PResult<Box<dyn BodyTap>> {
        super::responses_common::headers(&self.meta, a, head)?;
        if a.status == 200 && a.sse && self.meta.stream {
            return Ok(Box::new(FromChatStream::new(self.meta.clone(), MAX_EVENT)));
        }
        head.insert(headers::CONTENT_TYPE, headers::JSON);
        if a.status == 200 {
            let meta = self.meta.clone();
            return Ok(Box::new(
                JsonAnswer::new(Box::new(move |b: &[u8]| {
                    let v: serde_json::Value = serde_json::from_slice(b).ok()?;
                    let (object, counts) = answer::from_chat(&v, &meta);
                    let out = serde_json::to_vec(&object).expect("json serializes");
                    Some((out, Some(counts.usage())))
                }))
                .keeping_response(),
            ));
        }
        // The upstream's error is already in OpenAI's shape.
        not_success(a, head, None)
    }

    fn keep(&self, response: serde_json::Value) -> Option<Kept> {
        super::responses_common::keep(&self.meta, response)
    }
}
