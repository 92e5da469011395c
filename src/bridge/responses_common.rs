//! What both Responses API bridges share on the client's side: parsing the request with its
//! stored history, the answer's fixed settings, headers, and what the store keeps.

use super::{add_request_id, Answer, Kept, PResult, Target};
use crate::contract::GatewayError;
use crate::headers::{self, ClientHead};
use crate::request::ClientRequest;
use crate::translate::responses::object::{echo_of, unix_now, ResponsesMeta};
use crate::translate::responses::request::{self, items_of, new_id, Parsed};

/// The request, typed, with the stored conversation before its own items; and what its answer
/// will carry.
pub fn parse(req: &ClientRequest, t: &Target) -> Result<(Parsed, ResponsesMeta), GatewayError> {
    let body = req.json()?;
    let parsed = request::parse(body)?;
    let context = req
        .history
        .as_ref()
        .map(|h| h.items.clone())
        .unwrap_or_default();
    let store = parsed.store && req.keep_responses;
    let meta = ResponsesMeta {
        id: new_id("resp"),
        created_at: unix_now(),
        client_model: t.client_model.to_string(),
        stream: parsed.stream,
        custom_tools: parsed.custom_tools.clone(),
        namespaced: parsed.namespaced.clone(),
        encrypted_reasoning: parsed.encrypted_reasoning,
        dropped: parsed.dropped.clone(),
        routing: t.routing_value(),
        echo: echo_of(body, store),
        input_items: parsed.input_items.clone(),
        context,
        store,
    };
    let history = req
        .history
        .as_ref()
        .map(|h| items_of(&h.items))
        .unwrap_or_default();
    Ok((parsed.with_history(history), meta))
}

pub fn headers(meta: &ResponsesMeta, a: &Answer, head: &mut ClientHead) -> PResult<()> {
    add_request_id(head, a.request_id)?;
    if !meta.dropped.is_empty() {
        head.insert_str(headers::X_STAV_DROPPED_FIELDS, &meta.dropped.join(","))?;
    }
    head.rechunk();
    if a.status == 200 && a.sse && meta.stream {
        head.insert(headers::CACHE_CONTROL, headers::NO_CACHE);
    }
    Ok(())
}

pub fn keep(meta: &ResponsesMeta, response: serde_json::Value) -> Option<Kept> {
    meta.store.then(|| Kept {
        id: meta.id.clone(),
        response,
        input: meta.input_items.clone(),
        context: meta.context.clone(),
    })
}
