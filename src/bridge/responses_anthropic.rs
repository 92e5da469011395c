//! OpenAI Responses API → Anthropic upstream (Claude): the request becomes a Messages request
//! (`translate::responses::request::to_messages`), the answer a response object or the
//! Responses event sequence. Claude's thinking comes back as reasoning items whose
//! `encrypted_content` carries the signed block, so a tool loop that sends them back (Codex with
//! `store: false`) continues Claude's reasoning as Claude requires.

use super::{not_success, Answer, Bridge, Crossing, Kept, PResult, Prepared, Target};
use crate::config::ProviderApi;
use crate::contract::GatewayError;
use crate::headers::{self, ClientHead};
use crate::request::ClientRequest;
use crate::tap::{BodyTap, JsonAnswer, TapEnv, MAX_EVENT};
use crate::translate::responses::object::ResponsesMeta;
use crate::translate::responses::request::to_messages;
use crate::translate::responses::{answer, stream::FromMessagesStream};
use crate::translate::reverse::response::error_to_openai;
use bytes::Bytes;

#[derive(Debug)]
struct ResponsesToMessages {
    meta: ResponsesMeta,
}

pub fn prepare(req: &ClientRequest, t: &Target) -> Result<Crossing, GatewayError> {
    let (parsed, mut meta) = super::responses_common::parse(req, t)?;
    let (body, dropped) = to_messages(&parsed, t.upstream_model);
    meta.dropped.extend(dropped);
    Ok(Crossing::Proxy(Prepared {
        path: "/v1/messages".into(),
        body: Bytes::from(serde_json::to_vec(&body).expect("json serializes")),
        stream: meta.stream,
        bridge: Box::new(ResponsesToMessages { meta }),
    }))
}

impl Bridge for ResponsesToMessages {
    fn provider_api(&self) -> ProviderApi {
        ProviderApi::Anthropic
    }

    fn answer(&self, a: &Answer, head: &mut ClientHead) -> PResult<Box<dyn BodyTap>> {
        super::responses_common::headers(&self.meta, a, head)?;
        if a.status == 200 && a.sse && self.meta.stream {
            return Ok(Box::new(FromMessagesStream::new(
                self.meta.clone(),
                MAX_EVENT,
            )));
        }
        head.insert(headers::CONTENT_TYPE, headers::JSON);
        if a.status == 200 {
            let meta = self.meta.clone();
            return Ok(Box::new(
                JsonAnswer::new(Box::new(move |b: &[u8]| {
                    let v: serde_json::Value = serde_json::from_slice(b).ok()?;
                    let (object, counts) = answer::from_message(&v, &meta);
                    let out = serde_json::to_vec(&object).expect("json serializes");
                    Some((out, Some(counts.usage())))
                }))
                .keeping_response(),
            ));
        }
        not_success(
            a,
            head,
            Some(Box::new(|b: &[u8], _env: &TapEnv| error_to_openai(b))),
        )
    }

    fn keep(&self, response: serde_json::Value) -> Option<Kept> {
        super::responses_common::keep(&self.meta, response)
    }
}
