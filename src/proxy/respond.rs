//! Answers the gateway writes itself: local endpoints and errors.

use super::ctx::Ctx;
use crate::contract::GatewayError;
use crate::tier::Tier;
use bytes::Bytes;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

pub type PResult<T> = pingora_error::Result<T>;

fn add_rate_headers(resp: &mut ResponseHeader, ctx: &Ctx) -> PResult<()> {
    for (name, value) in &ctx.rate_headers {
        resp.insert_header(*name, value.as_str())?;
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
    let mut resp = ResponseHeader::build(status, Some(4))?;
    resp.insert_header("content-type", "application/json")?;
    resp.insert_header("content-length", body.len().to_string())?;
    crate::bridge::add_request_id(&mut resp, &ctx.request_id)?;
    let cap = ctx.plan.as_ref().map(|p| p.cap).or(ctx.cap);
    match (tier, cap) {
        (Some(tier), _) => resp.insert_header("x-stav-sovereignty-tier", tier.as_str())?,
        // Refused by policy: nothing served it.
        (None, Some(_)) => resp.insert_header("x-stav-sovereignty-tier", "none")?,
        (None, None) => {}
    }
    if let Some(cap) = cap {
        resp.insert_header("x-stav-max-tier", cap.as_str())?;
    }
    add_rate_headers(&mut resp, ctx)?;
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
    ctx.sent_error = Some(err.clone());
    let body = err.body(ctx.contract, &ctx.request_id);
    send_json(session, ctx, err.status(), body).await
}
