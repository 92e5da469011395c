//! OpenAI Chat Completions → Anthropic upstream (Claude): translated both ways
//! (`translate::reverse`), streams included.

use super::{add_request_id, not_success, Answer, Bridge, Crossing, PResult, Prepared, Target};
use crate::config::ProviderApi;
use crate::contract::GatewayError;
use crate::headers::{self, ClientHead};
use crate::request::ClientRequest;
use crate::tap::{BodyTap, JsonAnswer, TapEnv, MAX_EVENT};
use crate::translate::reverse::response::{error_to_openai, message_to_chat};
use crate::translate::reverse::stream::ReverseStreamTranslator;
use crate::translate::reverse::{chat_to_messages, ChatMeta};
use bytes::Bytes;

#[derive(Debug)]
struct ChatToMessages {
    meta: ChatMeta,
}

pub fn prepare(req: &ClientRequest, t: &Target) -> Result<Crossing, GatewayError> {
    let (translated, mut meta) = chat_to_messages(req.json()?, t.upstream_model)?;
    meta.client_model = t.client_model.to_string();
    meta.routing = t.routing_value();
    Ok(Crossing::Proxy(Prepared {
        path: "/v1/messages".into(),
        body: Bytes::from(serde_json::to_vec(&translated).expect("json serializes")),
        stream: meta.stream,
        bridge: Box::new(ChatToMessages { meta }),
    }))
}

impl Bridge for ChatToMessages {
    fn provider_api(&self) -> ProviderApi {
        ProviderApi::Anthropic
    }

    fn answer(&self, a: &Answer, head: &mut ClientHead) -> PResult<Box<dyn BodyTap>> {
        add_request_id(head, a.request_id)?;
        if !self.meta.dropped.is_empty() {
            head.insert_str(headers::X_STAV_DROPPED_FIELDS, &self.meta.dropped.join(","))?;
        }
        head.rechunk();
        if a.status == 200 && a.sse && self.meta.stream {
            let tr = ReverseStreamTranslator::new(self.meta.clone(), MAX_EVENT);
            return Ok(Box::new(tr));
        }
        head.insert(headers::CONTENT_TYPE, headers::JSON);
        if a.status == 200 {
            let meta = self.meta.clone();
            return Ok(Box::new(JsonAnswer::new(Box::new(move |b: &[u8]| {
                let v: serde_json::Value = serde_json::from_slice(b).ok()?;
                let usage = crate::usage::anthropic_usage_of(&v);
                let chat = message_to_chat(&v, &meta);
                Some((serde_json::to_vec(&chat).expect("json serializes"), usage))
            }))));
        }
        not_success(
            a,
            head,
            Some(Box::new(|b: &[u8], _env: &TapEnv| error_to_openai(b))),
        )
    }
}
