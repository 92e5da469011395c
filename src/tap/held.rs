//! Taps for whole (non-streaming) answers: passed through with their usage read, translated at
//! their end, or — for upstream errors — held, scrubbed and put in the client's contract.

use super::{BodyTap, TapEnv};
use crate::contract::{ErrorKind, GatewayError};
use crate::headers::{self, ClientHead};
use crate::usage::{JsonTap, Usage};
use bytes::Bytes;
use pingora_core::protocols::http::v1::common::header_value_content_length;

const ROUTING_KEY: &str = "routing_metadata";

/// A whole JSON answer passing through, its usage read at the end. With `routing`, it is held to
/// its end to get `routing_metadata`; its length is then known in advance when the upstream's is,
/// which keeps the answer in one write instead of chunks (and the header is not flushed alone).
pub struct JsonPass {
    tap: JsonTap,
    usage_of: fn(&[u8]) -> Option<Usage>,
    routing: Option<Vec<u8>>,
    usage: Option<Usage>,
}

impl JsonPass {
    pub fn new(
        usage_of: fn(&[u8]) -> Option<Usage>,
        routing: Option<Vec<u8>>,
        head: &mut ClientHead,
    ) -> pingora_error::Result<Self> {
        let tap = match &routing {
            None => JsonTap::default(),
            Some(r) => {
                // Read as Pingora reads it for the body it will pass on.
                match header_value_content_length(head.get(&headers::CONTENT_LENGTH)) {
                    Some(n) => {
                        let len = n + crate::inject::member_len(ROUTING_KEY, r);
                        head.insert(headers::CONTENT_LENGTH, len.into());
                    }
                    None => head.rechunk(),
                }
                JsonTap::holding()
            }
        };
        Ok(Self {
            tap,
            usage_of,
            routing,
            usage: None,
        })
    }
}

impl BodyTap for JsonPass {
    fn on_body(&mut self, chunk: Option<Bytes>, end: bool, _env: &TapEnv) -> Option<Bytes> {
        let mut out = chunk;
        if let Some(b) = &out {
            self.tap.push(b);
            if self.routing.is_some() {
                // Held until the end, where the metadata goes in.
                out = None;
            }
        }
        if end {
            let whole = self.tap.body();
            self.usage = whole.as_deref().and_then(self.usage_of);
            if let (Some(r), Some(b)) = (&self.routing, whole) {
                out = Some(Bytes::from(crate::inject::first_member_exact(
                    &b,
                    ROUTING_KEY,
                    r,
                )));
            }
        }
        out
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

/// What a translating bridge makes of a whole answer: the client's body and the usage, or
/// `None` when the upstream's answer cannot be read.
pub type Convert = Box<dyn Fn(&[u8]) -> Option<(Vec<u8>, Option<Usage>)> + Send + Sync>;

/// A whole answer, collected and converted into the client's contract at its end.
pub struct JsonAnswer {
    tap: JsonTap,
    convert: Convert,
    usage: Option<Usage>,
    response: Option<serde_json::Value>,
    keep_response: bool,
}

impl JsonAnswer {
    pub fn new(convert: Convert) -> Self {
        Self {
            tap: JsonTap::holding(),
            convert,
            usage: None,
            response: None,
            keep_response: false,
        }
    }

    /// Keep the converted answer for `completed_response` (the Responses API stores it).
    pub fn keeping_response(mut self) -> Self {
        self.keep_response = true;
        self
    }
}

impl BodyTap for JsonAnswer {
    fn on_body(&mut self, chunk: Option<Bytes>, end: bool, env: &TapEnv) -> Option<Bytes> {
        if let Some(b) = chunk {
            self.tap.push(&b);
        }
        if !end {
            return None;
        }
        let upstream = self.tap.body().unwrap_or_default();
        Some(Bytes::from(match (self.convert)(&upstream) {
            Some((out, usage)) => {
                self.usage = usage;
                if self.keep_response {
                    self.response = serde_json::from_slice(&out).ok();
                }
                out
            }
            // The 200 header is already out; say what happened in the body.
            None => GatewayError::new(
                ErrorKind::UpstreamUnavailable,
                "The model's upstream sent an unreadable answer.",
            )
            .body(env.contract, env.request_id),
        }))
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn completed_response(&mut self) -> Option<serde_json::Value> {
        self.response.take()
    }
}

/// Rewrites an upstream error body into the client's contract.
pub type ErrorConvert = Box<dyn Fn(&[u8], &TapEnv) -> Vec<u8> + Send + Sync>;

/// An upstream error body, held to its end (the scrubber then sees it whole) and, for
/// translating bridges, put in the client's contract.
pub struct ErrorTap {
    tap: JsonTap,
    convert: Option<ErrorConvert>,
}

impl ErrorTap {
    pub fn new(convert: Option<ErrorConvert>) -> Self {
        Self {
            tap: JsonTap::holding(),
            convert,
        }
    }
}

impl BodyTap for ErrorTap {
    fn on_body(&mut self, chunk: Option<Bytes>, end: bool, env: &TapEnv) -> Option<Bytes> {
        if let Some(b) = chunk {
            self.tap.push(&b);
        }
        if !end {
            return None;
        }
        let whole = self.tap.body().unwrap_or_default();
        Some(match &self.convert {
            Some(convert) => Bytes::from(convert(&whole, env)),
            None => whole,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Contract;
    use crate::tap::run;

    const ENV: TapEnv = TapEnv {
        contract: Contract::OpenAi,
        request_id: "req_t",
    };

    fn header(len: Option<usize>) -> ClientHead {
        let mut resp = pingora_http::ResponseHeader::build(200, None).unwrap();
        if let Some(n) = len {
            resp.insert_header("content-length", n.to_string()).unwrap();
        }
        ClientHead::take(&mut resp).unwrap()
    }

    #[test]
    fn json_pass_forwards_every_read_and_reads_usage_at_the_end() {
        let body = br#"{"id":"c","usage":{"prompt_tokens":3,"completion_tokens":4}}"#;
        let mut h = header(Some(body.len()));
        let mut tap = JsonPass::new(crate::usage::openai_usage, None, &mut h).unwrap();
        let first = tap.on_body(Some(Bytes::from_static(&body[..10])), false, &ENV);
        assert_eq!(first.as_deref(), Some(&body[..10]), "not held");
        let rest = tap.on_body(Some(Bytes::from_static(&body[10..])), true, &ENV);
        assert_eq!(rest.as_deref(), Some(&body[10..]));
        assert_eq!(tap.usage().unwrap().output_tokens, 4);
        assert_eq!(
            h.get(&headers::CONTENT_LENGTH).unwrap(),
            &body.len().to_string()
        );
    }

    #[test]
    fn json_pass_with_routing_announces_the_exact_new_length() {
        let body = br#"{"id":"c","usage":{"prompt_tokens":3,"completion_tokens":4}}"#;
        let routing = br#"{"selected_model":"m"}"#.to_vec();
        let mut h = header(Some(body.len()));
        let mut tap = JsonPass::new(crate::usage::openai_usage, Some(routing), &mut h).unwrap();
        let out = run(&mut tap, &[&body[..5], &body[5..]], &ENV);
        let announced: usize = h
            .get(&headers::CONTENT_LENGTH)
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(out.len(), announced);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["routing_metadata"]["selected_model"], "m");
        assert_eq!(v["id"], "c");

        // No upstream length: the answer is chunked instead.
        let mut h = header(None);
        JsonPass::new(crate::usage::openai_usage, Some(b"{}".to_vec()), &mut h).unwrap();
        assert_eq!(h.get(&headers::TRANSFER_ENCODING).unwrap(), "chunked");
    }

    #[test]
    fn json_answer_converts_at_the_end_or_says_it_could_not() {
        let mut tap = JsonAnswer::new(Box::new(|b: &[u8]| {
            let v: serde_json::Value = serde_json::from_slice(b).ok()?;
            Some((v["x"].to_string().into_bytes(), None))
        }));
        assert_eq!(
            tap.on_body(Some(Bytes::from_static(b"{\"x\":")), false, &ENV),
            None
        );
        let out = tap.on_body(Some(Bytes::from_static(b"42}")), true, &ENV);
        assert_eq!(out.as_deref(), Some(&b"42"[..]));

        let mut broken = JsonAnswer::new(Box::new(|_: &[u8]| None));
        let out = run(&mut broken, &[b"<html>"], &ENV);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["error"]["code"], "upstream_unavailable");
    }

    #[test]
    fn error_tap_holds_the_body_and_converts_it_whole() {
        let mut tap = ErrorTap::new(None);
        let first = tap.on_body(Some(Bytes::from_static(b"{\"error\":")), false, &ENV);
        assert_eq!(first, None);
        let out = tap.on_body(Some(Bytes::from_static(b"1}")), true, &ENV);
        assert_eq!(out.as_deref(), Some(&b"{\"error\":1}"[..]));

        let mut tap = ErrorTap::new(Some(Box::new(|b: &[u8], env: &TapEnv| {
            format!("{}:{}", env.request_id, String::from_utf8_lossy(b)).into_bytes()
        })));
        let out = run(&mut tap, &[b"key=", b"x"], &ENV);
        assert_eq!(out, b"req_t:key=x");
    }
}
