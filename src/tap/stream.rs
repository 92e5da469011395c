//! Event-stream taps: the pass-through usage taps of both contracts and the stream translators,
//! each ending a stream the upstream cut short with an error event rather than a silent stop.

use super::{BodyTap, TapEnv};
use crate::contract::{Contract, ErrorKind, GatewayError};
use crate::translate::responses::stream::{FromChatStream, FromMessagesStream};
use crate::translate::reverse::stream::ReverseStreamTranslator;
use crate::translate::stream::StreamTranslator;
use crate::usage::{AnthropicStreamTap, OpenAiStreamTap, Usage};
use bytes::{Bytes, BytesMut};

const ENDED_EARLY: &str = "The model's upstream ended the stream early.";
const NOT_JSON: &str = "The model's upstream sent an event that is not valid JSON.";

/// `out` followed by a terminal error event in the client's contract.
fn with_error(out: Option<Bytes>, env: &TapEnv, msg: &str) -> Option<Bytes> {
    let err = GatewayError::new(ErrorKind::UpstreamUnavailable, msg);
    let mut buf = BytesMut::new();
    if let Some(b) = out {
        buf.extend_from_slice(&b);
    }
    buf.extend_from_slice(&err.sse_event(env.contract, env.request_id));
    Some(buf.freeze())
}

fn non_empty(b: Bytes) -> Option<Bytes> {
    (!b.is_empty()).then_some(b)
}

impl BodyTap for OpenAiStreamTap {
    fn on_body(&mut self, chunk: Option<Bytes>, end: bool, env: &TapEnv) -> Option<Bytes> {
        let mut out = chunk.and_then(|b| non_empty(self.process(&b)));
        if self.malformed && !self.saw_done {
            // Broken JSON from the upstream ends the stream here, with an error the SDK can
            // read, rather than a parse failure in the client.
            self.saw_done = true;
            out = with_error(out, env, NOT_JSON);
        }
        if end {
            let tail = self.finish();
            if !tail.is_empty() {
                let mut buf = BytesMut::new();
                if let Some(b) = out {
                    buf.extend_from_slice(&b);
                }
                buf.extend_from_slice(&tail);
                out = Some(buf.freeze());
            }
            if !self.saw_done {
                // The upstream ended without `[DONE]`: tell the client instead of letting the
                // stream look complete.
                out = with_error(out, env, ENDED_EARLY);
            }
        }
        out
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn streaming(&self) -> bool {
        true
    }

    fn finished(&self) -> bool {
        self.saw_done
    }
}

impl BodyTap for AnthropicStreamTap {
    fn on_body(&mut self, chunk: Option<Bytes>, end: bool, env: &TapEnv) -> Option<Bytes> {
        let mut out = chunk.and_then(|b| non_empty(self.process(&b)));
        if end {
            self.finish();
            if !self.terminated {
                out = with_error(out, env, ENDED_EARLY);
            }
        }
        out
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn streaming(&self) -> bool {
        true
    }

    fn finished(&self) -> bool {
        self.terminated
    }
}

/// Translators write their events into one buffer: a read and the end of the body go out
/// together.
fn translated(process: Option<Bytes>, finish: Option<Bytes>) -> Option<Bytes> {
    match (process, finish) {
        (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => {
            let mut buf = BytesMut::with_capacity(a.len() + b.len());
            buf.extend_from_slice(&a);
            buf.extend_from_slice(&b);
            Some(buf.freeze())
        }
        (a, b) => a.filter(|a| !a.is_empty()).or(b).and_then(non_empty),
    }
}

impl BodyTap for StreamTranslator {
    fn on_body(&mut self, chunk: Option<Bytes>, end: bool, _env: &TapEnv) -> Option<Bytes> {
        let processed = chunk.map(|b| self.process(&b));
        let finished = end.then(|| self.finish());
        translated(processed, finished)
    }

    fn usage(&self) -> Option<Usage> {
        StreamTranslator::usage(self)
    }

    fn streaming(&self) -> bool {
        true
    }

    fn finished(&self) -> bool {
        self.terminated
    }

    fn fail(&mut self, err: &GatewayError, _env: &TapEnv) -> Bytes {
        self.fail_with(err.anthropic_type(), &err.message)
    }
}

impl BodyTap for ReverseStreamTranslator {
    fn on_body(&mut self, chunk: Option<Bytes>, end: bool, _env: &TapEnv) -> Option<Bytes> {
        let processed = chunk.map(|b| self.process(&b));
        let finished = end.then(|| self.finish());
        translated(processed, finished)
    }

    fn usage(&self) -> Option<Usage> {
        ReverseStreamTranslator::usage(self)
    }

    fn streaming(&self) -> bool {
        true
    }

    fn finished(&self) -> bool {
        self.terminated
    }

    fn fail(&mut self, err: &GatewayError, env: &TapEnv) -> Bytes {
        debug_assert_eq!(env.contract, Contract::OpenAi);
        self.fail_with(err.openai_type(), &err.message)
    }
}

/// The Responses event sequence ends with `response.failed`; its error code follows OpenAI's.
fn responses_code(err: &GatewayError) -> &'static str {
    match err.kind {
        ErrorKind::UpstreamTimeout => "timeout",
        _ => "server_error",
    }
}

impl BodyTap for FromChatStream {
    fn on_body(&mut self, chunk: Option<Bytes>, end: bool, _env: &TapEnv) -> Option<Bytes> {
        let processed = chunk.map(|b| self.process(&b));
        let finished = end.then(|| self.finish());
        translated(processed, finished)
    }

    fn usage(&self) -> Option<Usage> {
        self.counts().map(|c| c.usage())
    }

    fn streaming(&self) -> bool {
        true
    }

    fn finished(&self) -> bool {
        self.em.terminated
    }

    fn fail(&mut self, err: &GatewayError, _env: &TapEnv) -> Bytes {
        self.em.fail(responses_code(err), &err.message);
        self.em.take()
    }

    fn completed_response(&mut self) -> Option<serde_json::Value> {
        self.em.finished()
    }
}

impl BodyTap for FromMessagesStream {
    fn on_body(&mut self, chunk: Option<Bytes>, end: bool, _env: &TapEnv) -> Option<Bytes> {
        let processed = chunk.map(|b| self.process(&b));
        let finished = end.then(|| self.finish());
        translated(processed, finished)
    }

    fn usage(&self) -> Option<Usage> {
        self.counts().map(|c| c.usage())
    }

    fn streaming(&self) -> bool {
        true
    }

    fn finished(&self) -> bool {
        self.em.terminated
    }

    fn fail(&mut self, err: &GatewayError, _env: &TapEnv) -> Bytes {
        self.em.fail(responses_code(err), &err.message);
        self.em.take()
    }

    fn completed_response(&mut self) -> Option<serde_json::Value> {
        self.em.finished()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tap::run;

    const OPENAI: TapEnv = TapEnv {
        contract: Contract::OpenAi,
        request_id: "req_s",
    };
    const ANTHROPIC: TapEnv = TapEnv {
        contract: Contract::Anthropic,
        request_id: "req_s",
    };

    const CHUNKS: &str = concat!(
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    );

    #[test]
    fn an_openai_stream_without_done_ends_with_an_error_event() {
        let mut tap = OpenAiStreamTap::new(false, 1 << 20);
        let out = run(&mut tap, &[CHUNKS.as_bytes()], &OPENAI);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(CHUNKS), "{text}");
        assert!(text.ends_with("}\n\n"));
        assert!(
            text[CHUNKS.len()..].starts_with("data: {\"error\""),
            "{text}"
        );

        let mut tap = OpenAiStreamTap::new(false, 1 << 20);
        let whole = format!("{CHUNKS}data: [DONE]\n\n");
        let out = run(&mut tap, &[whole.as_bytes()], &OPENAI);
        assert_eq!(out, whole.as_bytes(), "a complete stream passes unchanged");
        assert!(tap.streaming());
    }

    #[test]
    fn a_malformed_openai_event_ends_the_stream_at_once() {
        let mut tap = OpenAiStreamTap::new(false, 1 << 20);
        let out = run(
            &mut tap,
            &[
                b"data: {\"id\":\"c1\",\"choices\":[]}\n\n",
                b"data: {broken\n\n",
            ],
            &OPENAI,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("broken"));
        assert_eq!(text.matches("\"error\"").count(), 1, "{text}");
    }

    #[test]
    fn an_anthropic_stream_cut_short_ends_with_an_error_event() {
        let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n";
        let mut tap = AnthropicStreamTap::new(1 << 20);
        let out = run(&mut tap, &[start.as_bytes()], &ANTHROPIC);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(start));
        assert!(text[start.len()..].starts_with("event: error\ndata: {\"type\":\"error\""));
        assert_eq!(tap.usage().unwrap().input_tokens, 5);

        let stop = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        let mut tap = AnthropicStreamTap::new(1 << 20);
        let out = run(&mut tap, &[start.as_bytes(), stop.as_bytes()], &ANTHROPIC);
        assert_eq!(out, format!("{start}{stop}").as_bytes());
    }

    #[test]
    fn translators_end_a_failed_stream_in_the_clients_contract() {
        let meta = crate::translate::request::MessagesMeta {
            client_model: "qwen3-32b".into(),
            stream: true,
            ..Default::default()
        };
        let mut tr = StreamTranslator::new(meta, "req_s".into(), 1 << 20);
        let first = tr.on_body(
            Some(Bytes::from_static(
                b"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
            )),
            false,
            &ANTHROPIC,
        );
        assert!(first.is_some());
        let err = GatewayError::new(ErrorKind::UpstreamTimeout, "took too long");
        let end = String::from_utf8(BodyTap::fail(&mut tr, &err, &ANTHROPIC).to_vec()).unwrap();
        assert!(end.contains("event: error"), "{end}");
        assert!(end.contains("\"timeout_error\""), "{end}");
        assert!(
            end.contains("content_block_stop"),
            "the open block is closed first"
        );

        let meta = crate::translate::reverse::ChatMeta {
            client_model: "claude-x".into(),
            stream: true,
            ..Default::default()
        };
        let mut tr = ReverseStreamTranslator::new(meta, 1 << 20);
        let end = String::from_utf8(BodyTap::fail(&mut tr, &err, &OPENAI).to_vec()).unwrap();
        assert!(end.starts_with("data: {\"error\""), "{end}");
        assert!(end.contains("took too long"));
    }
}
