//! Answers the gateway writes itself: local endpoints and errors.

use super::ctx::Ctx;
use crate::contract::GatewayError;
use crate::headers::{self, ClientHead};
use crate::tier::Tier;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

pub type PResult<T> = pingora_error::Result<T>;

fn add_rate_headers(head: &mut ClientHead, ctx: &Ctx) -> PResult<()> {
    for (name, value) in &ctx.rate_headers {
        head.insert_str(HeaderName::from_static(name), value)?;
    }
    Ok(())
}

pub async fn send_json(
    session: &mut Session,
    ctx: &Ctx,
    status: u16,
    body: Vec<u8>,
) -> PResult<()> {
    send_json_with_tier(
        session,
        ctx,
        status,
        body,
        ctx.plan.as_ref().map(|p| p.active.tier),
    )
    .await
}

/// Once a model is chosen, even the gateway's own answers say which tier was involved.
pub async fn send_json_with_tier(
    session: &mut Session,
    ctx: &Ctx,
    status: u16,
    body: Vec<u8>,
    tier: Option<Tier>,
) -> PResult<()> {
    let mut head = ClientHead {
        parts: ResponseHeader::build_no_case(status, Some(8))?.into(),
    };
    head.insert(headers::CONTENT_TYPE, headers::JSON);
    head.insert(headers::CONTENT_LENGTH, body.len().into());
    crate::bridge::add_request_id(&mut head, &ctx.request_id)?;
    let cap = ctx.plan.as_ref().map(|p| p.cap).or(ctx.cap);
    let tier_value = |t: Tier| HeaderValue::from_static(t.as_str());
    match (tier, cap) {
        (Some(tier), _) => head.insert(headers::X_STAV_SOVEREIGNTY_TIER, tier_value(tier)),
        // Refused by policy: nothing served it.
        (None, Some(_)) => head.insert(
            headers::X_STAV_SOVEREIGNTY_TIER,
            HeaderValue::from_static("none"),
        ),
        (None, None) => {}
    }
    if let Some(cap) = cap {
        head.insert(headers::X_STAV_MAX_TIER, tier_value(cap));
    }
    add_rate_headers(&mut head, ctx)?;
    let resp = ResponseHeader::from(head.parts);
    session.write_response_header(Box::new(resp), false).await?;
    session
        .write_response_body(Some(Bytes::from(body)), true)
        .await?;
    Ok(())
}

/// An error answered before anything went upstream. The connection is not kept: the request
/// body may be unread, and draining it would let a client hold the connection.
pub async fn send_error(session: &mut Session, ctx: &mut Ctx, err: &GatewayError) -> PResult<()> {
    session.set_keepalive(None);
    crate::telemetry::note_error(ctx, err);
    ctx.sent_error = Some(err.clone());
    let body = err.body(ctx.contract, &ctx.request_id);
    send_json(session, ctx, err.status(), body).await
}
