//! Anthropic Messages → OpenAI-compatible upstream: translated both ways (`translate::request`,
//! `response`, `stream`). `count_tokens` is answered by the gateway: no OpenAI-compatible API has
//! the endpoint, and sending the prompt elsewhere to count it would leak it beyond the model's tier.

use super::{add_request_id, not_success, Answer, Bridge, Crossing, PResult, Prepared, Target};
use crate::config::ProviderApi;
use crate::contract::routes::ClientApi;
use crate::contract::GatewayError;
use crate::headers::{self, ClientHead};
use crate::request::ClientRequest;
use crate::tap::{BodyTap, JsonAnswer, TapEnv, MAX_EVENT};
use crate::translate::request::{messages_to_chat, MessagesMeta};
use crate::translate::response::{chat_to_message_json, error_to_anthropic, map_error_status};
use crate::translate::stream::StreamTranslator;
use bytes::Bytes;
use serde_json::json;

#[derive(Debug)]
struct MessagesToChat {
    meta: MessagesMeta,
}

pub fn prepare(req: &ClientRequest, t: &Target) -> Result<Crossing, GatewayError> {
    let body = req.json()?;
    if req.api == ClientApi::CountTokens {
        let mut probe = body.clone();
        probe["max_tokens"] = json!(1);
        let counted = messages_to_chat(&probe, t.upstream_model)?;
        let answer = json!({"input_tokens": counted.meta.input_estimate});
        return Ok(Crossing::Answer(
            serde_json::to_vec(&answer).expect("json serializes"),
        ));
    }
    let mut translated = messages_to_chat(body, t.upstream_model)?;
    translated.meta.client_model = t.client_model.to_string();
    translated.meta.routing = t.routing_value();
    Ok(Crossing::Proxy(Prepared {
        path: "/chat/completions".into(),
        body: Bytes::from(serde_json::to_vec(&translated.body).expect("json serializes")),
        stream: translated.meta.stream,
        bridge: Box::new(MessagesToChat {
            meta: translated.meta,
        }),
    }))
}

impl Bridge for MessagesToChat {
    fn provider_api(&self) -> ProviderApi {
        ProviderApi::OpenAi
    }

    fn answer(&self, a: &Answer, head: &mut ClientHead) -> PResult<Box<dyn BodyTap>> {
        add_request_id(head, a.request_id)?;
        if !self.meta.dropped.is_empty() {
            head.insert_str(headers::X_STAV_DROPPED_FIELDS, &self.meta.dropped.join(","))?;
        }
        head.rechunk();
        if a.status == 200 && a.sse && self.meta.stream {
            head.insert(headers::CACHE_CONTROL, headers::NO_CACHE);
            let tr = StreamTranslator::new(self.meta.clone(), a.request_id.to_string(), MAX_EVENT);
            return Ok(Box::new(tr));
        }
        head.insert(headers::CONTENT_TYPE, headers::JSON);
        if a.status == 200 {
            let meta = self.meta.clone();
            return Ok(Box::new(JsonAnswer::new(Box::new(move |b: &[u8]| {
                let v: serde_json::Value = serde_json::from_slice(b).ok()?;
                let usage = crate::usage::openai_usage_of(&v);
                Some((chat_to_message_json(&v, &meta), usage))
            }))));
        }
        let (mapped, error_type) = map_error_status(a.status);
        head.set_status(mapped)?;
        not_success(
            a,
            head,
            Some(Box::new(move |b: &[u8], env: &TapEnv| {
                error_to_anthropic(b, error_type, env.request_id)
            })),
        )
    }
}
