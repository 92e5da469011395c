//! The response phases: headers every answer carries, and how the body is watched or translated
//! on its way out (chosen once, from the plan's mode and the upstream's status).

use super::ctx::{Ctx, Tap};
use super::respond::{add_request_id, PResult};
use super::Gateway;
use crate::contract::{Contract, ErrorKind, GatewayError};
use crate::metrics;
use crate::plan::Mode;
use crate::translate::response::{chat_to_message_json, error_to_anthropic, map_error_status};
use crate::translate::reverse::response::{error_to_openai, message_to_chat};
use crate::translate::reverse::stream::ReverseStreamTranslator;
use crate::translate::stream::StreamTranslator;
use crate::usage::{anthropic_usage, AnthropicStreamTap, JsonTap, OpenAiStreamTap};
use bytes::{Bytes, BytesMut};
use pingora_core::protocols::http::v1::common::header_value_content_length;
use pingora_error::{Error, ErrorType};
use pingora_http::ResponseHeader;
use std::time::Instant;

/// Largest single SSE event the taps hold while framing.
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

fn is_sse(resp: &ResponseHeader) -> bool {
    resp.headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}

/// The body will change length: chunk it.
fn rechunk(resp: &mut ResponseHeader) -> PResult<()> {
    resp.remove_header("content-length");
    resp.insert_header("transfer-encoding", "chunked")?;
    Ok(())
}

/// A whole JSON answer passing through. With `routing`, it is held to its end to get
/// `routing_metadata`; its length is then known in advance when the upstream's is, which keeps
/// the answer in one write instead of chunks (and the header is not flushed on its own).
fn json_tap(resp: &mut ResponseHeader, anthropic: bool, routing: Option<Vec<u8>>) -> PResult<Tap> {
    let Some(r) = routing else {
        return Ok(Tap::Json {
            tap: JsonTap::default(),
            anthropic,
            routing: None,
        });
    };
    // Read as Pingora reads it for the body it will pass on.
    match header_value_content_length(resp.headers.get(http::header::CONTENT_LENGTH)) {
        Some(n) => {
            let len = n + crate::inject::member_len(ROUTING_KEY, &r);
            resp.insert_header(http::header::CONTENT_LENGTH, len.to_string())?;
        }
        None => rechunk(resp)?,
    }
    Ok(Tap::Json {
        tap: JsonTap::holding(),
        anthropic,
        routing: Some(r),
    })
}

const ROUTING_KEY: &str = "routing_metadata";

/// The header the client sees: tier and request ids on every proxied answer; pick the body tap.
pub fn on_client_header(gw: &Gateway, resp: &mut ResponseHeader, ctx: &mut Ctx) -> PResult<()> {
    let plan = ctx.plan.as_ref().expect("proxied responses have a plan");
    resp.insert_header("x-stav-sovereignty-tier", plan.tier.as_str())?;
    resp.insert_header("x-stav-max-tier", plan.cap.as_str())?;
    super::respond::add_rate_headers(resp, ctx)?;
    if let Some(r) = &plan.routing {
        resp.insert_header("x-stav-selected-model", r.selected_model.as_str())?;
        // Header values are ASCII.
        resp.insert_header("x-stav-routing-reason", r.reason.replace('→', "->"))?;
    }
    let routing = plan
        .routing
        .as_ref()
        .map(|r| serde_json::to_vec(&r.metadata).expect("json serializes"));
    if let Some(up) = resp.headers.get("x-request-id").cloned() {
        resp.insert_header("x-upstream-request-id", up)?;
    }
    let status = resp.status.as_u16();
    let sse = is_sse(resp);
    match &plan.mode {
        Mode::OpenAiPassThrough { strip_usage } => {
            add_request_id(resp, &ctx.request_id)?;
            if status == 200 && sse && plan.stream {
                let mut tap = OpenAiStreamTap::new(*strip_usage, MAX_EVENT);
                if let Some(r) = routing {
                    tap = tap.with_routing(r);
                }
                ctx.tap = Tap::OpenAiStream(Box::new(tap));
                ctx.stream_open = true;
                // Stripped usage, metadata and a closing error event change the length.
                rechunk(resp)?;
            } else if status == 200 {
                ctx.tap = json_tap(resp, false, routing)?;
            }
        }
        Mode::AnthropicPassThrough => {
            // Anthropic's own `request-id` comes back unchanged; ours is `x-request-id`.
            resp.insert_header("x-request-id", ctx.request_id.as_str())?;
            if status == 200 && sse {
                let mut tap = AnthropicStreamTap::new(MAX_EVENT);
                if let Some(r) = routing {
                    tap = tap.with_routing(r);
                    rechunk(resp)?;
                }
                ctx.tap = Tap::AnthropicStream(Box::new(tap));
                ctx.stream_open = true;
            } else if status == 200 {
                ctx.tap = json_tap(resp, true, routing)?;
            }
        }
        Mode::AnthropicToOpenAi(meta) => {
            add_request_id(resp, &ctx.request_id)?;
            if !meta.dropped.is_empty() {
                resp.insert_header("x-stav-dropped-fields", meta.dropped.join(","))?;
            }
            if status == 200 && sse && plan.stream {
                ctx.tap = Tap::TranslateStream(Box::new(StreamTranslator::new(
                    meta.clone(),
                    ctx.request_id.clone(),
                    MAX_EVENT,
                )));
                ctx.stream_open = true;
                resp.insert_header("cache-control", "no-cache")?;
            } else if status == 200 {
                ctx.tap = Tap::TranslateJson(JsonTap::default());
                resp.insert_header("content-type", "application/json")?;
            } else {
                let (mapped, error_type) = map_error_status(status);
                resp.set_status(mapped)?;
                resp.insert_header("content-type", "application/json")?;
                ctx.tap = Tap::TranslateError {
                    tap: JsonTap::default(),
                    error_type,
                };
            }
            rechunk(resp)?;
        }
        Mode::ChatToAnthropic(meta) => {
            add_request_id(resp, &ctx.request_id)?;
            if !meta.dropped.is_empty() {
                resp.insert_header("x-stav-dropped-fields", meta.dropped.join(","))?;
            }
            if status == 200 && sse && plan.stream {
                ctx.tap = Tap::TranslateStream(Box::new(ReverseStreamTranslator::new(
                    meta.clone(),
                    MAX_EVENT,
                )));
                ctx.stream_open = true;
            } else if status == 200 {
                ctx.tap = Tap::TranslateJson(JsonTap::default());
                resp.insert_header("content-type", "application/json")?;
            } else {
                resp.insert_header("content-type", "application/json")?;
                ctx.tap = Tap::TranslateError {
                    tap: JsonTap::default(),
                    error_type: "api_error",
                };
            }
            rechunk(resp)?;
        }
    }
    if status >= 400 {
        // An upstream may quote the credential it was given (OpenAI's 401 text does): every error
        // body is held and scrubbed, whatever shape it keeps.
        ctx.redact = gw.upstreams[plan.provider]
            .credential
            .as_ref()
            .map(|c| Bytes::copy_from_slice(secret_of(c.as_bytes())));
        if matches!(ctx.tap, Tap::None) {
            ctx.tap = Tap::Scrub(JsonTap::default());
            rechunk(resp)?;
        }
    }
    if ctx.stream_open {
        metrics::ACTIVE_STREAMS
            .with_label_values(&[ctx.route.as_label()])
            .inc();
    }
    Ok(())
}

/// The key inside a credential header value (`Bearer <key>` or the bare key).
fn secret_of(value: &[u8]) -> &[u8] {
    if value.len() > 7 && value[..7].eq_ignore_ascii_case(b"bearer ") {
        &value[7..]
    } else {
        value
    }
}

/// `body` with every occurrence of `secret` replaced.
pub fn redacted(body: &[u8], secret: &[u8]) -> Vec<u8> {
    if secret.len() < 4 {
        return body.to_vec();
    }
    let finder = memchr::memmem::Finder::new(secret);
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    for hit in finder.find_iter(body) {
        out.extend_from_slice(&body[at..hit]);
        out.extend_from_slice(b"[redacted]");
        at = hit + secret.len();
    }
    out.extend_from_slice(&body[at..]);
    out
}

const ENDED_EARLY: &str = "The model's upstream ended the stream early.";

/// Append a terminal error event (in the client's contract) to what goes out now.
fn end_with_error(body: &mut Option<Bytes>, contract: Contract, request_id: &str, msg: &str) {
    let err = GatewayError::new(ErrorKind::UpstreamUnavailable, msg);
    let mut out = BytesMut::new();
    if let Some(b) = body.take() {
        out.extend_from_slice(&b);
    }
    out.extend_from_slice(&err.sse_event(contract, request_id));
    *body = Some(out.freeze());
}

fn set_body(body: &mut Option<Bytes>, out: Bytes) {
    *body = (!out.is_empty()).then_some(out);
}

pub fn on_body(body: &mut Option<Bytes>, end_of_stream: bool, ctx: &mut Ctx) {
    if ctx.first_byte.is_none() && body.as_ref().is_some_and(|b| !b.is_empty()) {
        ctx.first_byte = Some(Instant::now());
    }
    match &mut ctx.tap {
        Tap::None => {}
        Tap::Json {
            tap,
            anthropic,
            routing,
        } => {
            if let Some(b) = body.as_ref() {
                tap.push(b);
                if routing.is_some() {
                    // Held until the end, where the metadata goes in.
                    *body = None;
                }
            }
            if end_of_stream {
                let whole = tap.body();
                ctx.usage = match (&whole, *anthropic) {
                    (Some(b), true) => anthropic_usage(b),
                    (Some(b), false) => crate::usage::openai_usage(b),
                    (None, _) => None,
                };
                if let (Some(r), Some(b)) = (routing.as_ref(), whole) {
                    let out = crate::inject::first_member_exact(&b, ROUTING_KEY, r);
                    *body = Some(Bytes::from(out));
                }
            }
        }
        Tap::AnthropicStream(tap) => {
            if let Some(b) = body.take() {
                set_body(body, tap.process(&b));
            }
            if end_of_stream {
                tap.finish();
                if !tap.terminated {
                    end_with_error(body, ctx.contract, &ctx.request_id, ENDED_EARLY);
                }
            }
            ctx.usage = tap.usage.or(ctx.usage);
        }
        Tap::OpenAiStream(tap) => {
            if let Some(b) = body.take() {
                set_body(body, tap.process(&b));
            }
            if tap.malformed && !tap.saw_done {
                // Broken JSON from the upstream ends the stream here, with an error the SDK can
                // read, rather than a parse failure in the client.
                tap.saw_done = true;
                let msg = "The model's upstream sent an event that is not valid JSON.";
                end_with_error(body, ctx.contract, &ctx.request_id, msg);
            }
            if end_of_stream {
                let tail = tap.finish();
                let mut out = BytesMut::new();
                if let Some(b) = body.take() {
                    out.extend_from_slice(&b);
                }
                out.extend_from_slice(&tail);
                *body = Some(out.freeze());
                if !tap.saw_done {
                    // The upstream ended without `[DONE]`: tell the client instead of letting the
                    // stream look complete.
                    end_with_error(body, ctx.contract, &ctx.request_id, ENDED_EARLY);
                }
                if body.as_ref().is_some_and(Bytes::is_empty) {
                    *body = None;
                }
            }
            ctx.usage = tap.usage.or(ctx.usage);
        }
        Tap::TranslateStream(tr) => {
            let mut out = BytesMut::new();
            if let Some(b) = body.take() {
                out.extend_from_slice(&tr.process(&b));
            }
            if end_of_stream {
                out.extend_from_slice(&tr.finish());
            }
            set_body(body, out.freeze());
            ctx.usage = tr.usage().or(ctx.usage);
        }
        Tap::TranslateJson(tap) => {
            if let Some(b) = body.take() {
                tap.push(&b);
            }
            if end_of_stream {
                let upstream = tap.body().unwrap_or_default();
                let parsed = serde_json::from_slice::<serde_json::Value>(&upstream).ok();
                let translated = match (ctx.plan.as_ref().map(|p| &p.mode), parsed) {
                    (Some(Mode::AnthropicToOpenAi(meta)), Some(v)) => {
                        ctx.usage = crate::usage::openai_usage_of(&v);
                        chat_to_message_json(&v, meta)
                    }
                    (Some(Mode::ChatToAnthropic(meta)), Some(v)) => {
                        ctx.usage = crate::usage::anthropic_usage_of(&v);
                        serde_json::to_vec(&message_to_chat(&v, meta)).expect("json serializes")
                    }
                    // The 200 header is already out; say what happened in the body.
                    _ => GatewayError::new(
                        ErrorKind::UpstreamUnavailable,
                        "The model's upstream sent an unreadable answer.",
                    )
                    .body(ctx.contract, &ctx.request_id),
                };
                *body = Some(Bytes::from(translated));
            }
        }
        Tap::TranslateError { tap, error_type } => {
            if let Some(b) = body.take() {
                tap.push(&b);
            }
            if end_of_stream {
                let upstream = tap.body().unwrap_or_default();
                let upstream = match &ctx.redact {
                    Some(secret) => Bytes::from(redacted(&upstream, secret)),
                    None => upstream,
                };
                let translated = match ctx.contract {
                    Contract::Anthropic => {
                        error_to_anthropic(&upstream, error_type, &ctx.request_id)
                    }
                    Contract::OpenAi => error_to_openai(&upstream),
                };
                *body = Some(Bytes::from(translated));
            }
        }
        Tap::Scrub(tap) => {
            if let Some(b) = body.take() {
                tap.push(&b);
            }
            if end_of_stream {
                let whole = tap.body().unwrap_or_default();
                *body = Some(match &ctx.redact {
                    Some(secret) => Bytes::from(redacted(&whole, secret)),
                    None => whole,
                });
            }
        }
    }
}
