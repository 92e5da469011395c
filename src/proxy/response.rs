//! The response phases: headers every answer carries, and the taps on the body.

use super::ctx::{Ctx, Tap};
use super::respond::{add_request_id, PResult};
use super::Gateway;
use crate::contract::{ErrorKind, GatewayError};
use crate::metrics;
use crate::usage::{JsonTap, OpenAiStreamTap};
use bytes::{Bytes, BytesMut};
use pingora_error::{Error, ErrorType};
use pingora_http::ResponseHeader;
use std::time::Instant;

/// Largest single SSE event the stream tap will hold while framing; larger ones pass unexamined.
const MAX_EVENT: usize = 1 << 20;

/// The upstream's own header, before the client sees anything.
pub fn on_upstream_header(gw: &Gateway, resp: &ResponseHeader, ctx: &mut Ctx) -> PResult<()> {
    let status = resp.status.as_u16();
    ctx.upstream_status = Some(status);
    let provider = ctx
        .plan
        .as_ref()
        .map_or("unknown", |p| gw.cfg.provider(p.provider).name.as_str());
    let kind = match status {
        401 | 403 => "upstream_auth",
        429 => "http_429",
        500..=599 => "http_5xx",
        _ => return Ok(()),
    };
    metrics::UPSTREAM_ERRORS
        .with_label_values(&[provider, kind])
        .inc();
    if matches!(status, 401 | 403) {
        // Our credential was refused: the upstream's body may quote it, and the client's key is
        // fine. Answer 502 in the client's contract instead.
        ctx.failure = Some(GatewayError::new(
            ErrorKind::UpstreamUnavailable,
            "The model's upstream refused the gateway's credentials. This is a gateway configuration problem, not a problem with your API key.",
        ));
        return Error::e_explain(
            ErrorType::HTTPStatus(502),
            "upstream refused our credential",
        );
    }
    Ok(())
}

/// The header the client sees: tier and request ids on every proxied answer; pick the body tap.
pub fn on_client_header(_gw: &Gateway, resp: &mut ResponseHeader, ctx: &mut Ctx) -> PResult<()> {
    let plan = ctx.plan.as_ref().expect("proxied responses have a plan");
    resp.insert_header("x-stav-sovereignty-tier", plan.tier.as_str())?;
    if let Some(up) = resp.headers.get("x-request-id").cloned() {
        resp.insert_header("x-upstream-request-id", up)?;
    }
    add_request_id(resp, &ctx.request_id)?;
    if resp.status.as_u16() != 200 {
        return Ok(());
    }
    let is_sse = resp
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if is_sse && plan.stream {
        ctx.tap = Tap::Stream(Box::new(OpenAiStreamTap::new(plan.strip_usage, MAX_EVENT)));
        ctx.stream_open = true;
        metrics::ACTIVE_STREAMS
            .with_label_values(&[ctx.route.as_label()])
            .inc();
        // The body may change length (stripped usage, a closing error event): chunk it.
        resp.remove_header("content-length");
        resp.insert_header("transfer-encoding", "chunked")?;
    } else if !is_sse {
        ctx.tap = Tap::Json(JsonTap::default());
    }
    Ok(())
}

pub fn on_body(body: &mut Option<Bytes>, end_of_stream: bool, ctx: &mut Ctx) {
    if ctx.first_byte.is_none() && body.as_ref().is_some_and(|b| !b.is_empty()) {
        ctx.first_byte = Some(Instant::now());
    }
    match &mut ctx.tap {
        Tap::None => {}
        Tap::Json(tap) => {
            if let Some(b) = body.as_ref() {
                tap.push(b);
            }
            if end_of_stream {
                ctx.usage = tap.usage();
            }
        }
        Tap::Stream(tap) => {
            if let Some(b) = body.take() {
                let out = tap.process(&b);
                *body = (!out.is_empty()).then_some(out);
            }
            if end_of_stream {
                let tail = tap.finish();
                let mut out = BytesMut::new();
                if let Some(b) = body.take() {
                    out.extend_from_slice(&b);
                }
                out.extend_from_slice(&tail);
                if !tap.saw_done {
                    // The upstream ended without `[DONE]`: tell the client instead of letting the
                    // stream look complete.
                    let err = GatewayError::new(
                        ErrorKind::UpstreamUnavailable,
                        "The model's upstream ended the stream early.",
                    );
                    out.extend_from_slice(&err.sse_event(ctx.contract, &ctx.request_id));
                }
                *body = (!out.is_empty()).then(|| out.freeze());
            }
            ctx.usage = tap.usage.or(ctx.usage);
        }
    }
}
