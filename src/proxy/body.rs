//! Reading the request body in the request phase, bounded, in a way Pingora 0.9.1 still forwards.
//!
//! Pingora only calls `request_body_filter` (where the prepared body is emitted) when its retry
//! buffer holds the body's tail. So retry buffering is armed once at most 64 KiB remain: the
//! buffer is only the trigger, the filter swaps in the prepared body.

use super::respond::PResult;
use bytes::{Bytes, BytesMut};
use pingora_core::protocols::http::v1::common::header_value_content_length;
use pingora_proxy::Session;

/// Pingora's retry buffer size (`BODY_BUF_LIMIT`).
const RETRY_BUF_LIMIT: usize = 64 * 1024;

pub enum BodyRead {
    Complete(Bytes),
    TooLarge,
    /// The client stopped sending before the body was complete.
    TimedOut,
    /// A chunked body above 64 KiB cannot be replayed upstream by stock Pingora.
    LengthRequired,
}

pub async fn read_request_body(session: &mut Session, max: usize) -> PResult<BodyRead> {
    let declared = header_value_content_length(
        session
            .req_header()
            .headers
            .get(http::header::CONTENT_LENGTH),
    );
    if declared.is_some_and(|n| n > max) {
        return Ok(BodyRead::TooLarge);
    }
    let expects_continue = session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects_continue {
        // We read the body ourselves, so we owe the interim answer.
        session.write_continue_response().await?;
    }
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(4096).min(max));
    let mut armed = false;
    loop {
        if !armed {
            let remaining = declared.map_or(0, |n| n.saturating_sub(buf.len()));
            if declared.is_none() || remaining <= RETRY_BUF_LIMIT {
                session.enable_retry_buffering();
                armed = true;
            }
        }
        let read = match session.read_request_body().await {
            Ok(r) => r,
            Err(e) if e.etype() == &pingora_error::ErrorType::ReadTimedout => {
                return Ok(BodyRead::TimedOut)
            }
            Err(e) => return Err(e),
        };
        match read {
            Some(chunk) => {
                if buf.len() + chunk.len() > max {
                    return Ok(BodyRead::TooLarge);
                }
                buf.extend_from_slice(&chunk);
            }
            None => break,
        }
    }
    if !buf.is_empty() && session.get_retry_buffer().is_none() {
        return Ok(BodyRead::LengthRequired);
    }
    Ok(BodyRead::Complete(buf.freeze()))
}
