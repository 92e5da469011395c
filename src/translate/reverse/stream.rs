//! Anthropic Messages events in, OpenAI chat completion chunks out.

use super::request::ChatMeta;
use super::response::{chat_id, finish_reason, openai_usage, unix_now};
use crate::json_at::At;
use crate::sse::{event_data, EventTooLarge, SseFramer};
use crate::usage::Usage;
use bytes::{Bytes, BytesMut};
use serde_json::{json, Value};

#[derive(Debug)]
pub struct ReverseStreamTranslator {
    meta: ChatMeta,
    framer: SseFramer,
    out: BytesMut,
    id: String,
    created: u64,
    /// Anthropic block index → OpenAI tool-call index, for tool_use blocks.
    tool_index: Vec<(u64, u64)>,
    usage: Value,
    finish: Option<&'static str>,
    pub terminated: bool,
}

impl ReverseStreamTranslator {
    pub fn new(meta: ChatMeta, max_event: usize) -> Self {
        Self {
            meta,
            framer: SseFramer::new(max_event),
            out: BytesMut::with_capacity(1024),
            id: chat_id(None),
            created: unix_now(),
            tool_index: Vec::new(),
            usage: json!({}),
            finish: None,
            terminated: false,
        }
    }

    fn chunk(&mut self, delta: Value, finish: Option<&str>) {
        let c = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                       "model": self.meta.client_model,
                       "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        self.data(&c);
    }

    fn data(&mut self, v: &Value) {
        self.out.extend_from_slice(b"data: ");
        self.out
            .extend_from_slice(&serde_json::to_vec(v).expect("json serializes"));
        self.out.extend_from_slice(b"\n\n");
    }

    fn merge_usage(&mut self, u: &Value) {
        if let (Some(dst), Some(src)) = (self.usage.as_object_mut(), u.as_object()) {
            for (k, v) in src {
                if !v.is_null() {
                    dst.insert(k.clone(), v.clone());
                }
            }
        }
    }

    /// End the stream now with an error event (a failure the gateway saw): what goes out.
    pub fn fail_with(&mut self, ty: &str, message: &str) -> Bytes {
        self.fail(ty, message);
        self.out.split().freeze()
    }

    pub fn fail(&mut self, ty: &str, message: &str) {
        if self.terminated {
            return;
        }
        self.data(&json!({"error": {"message": message, "type": ty, "param": null, "code": null}}));
        self.terminated = true;
    }

    fn on_event(&mut self, event: &[u8]) {
        if self.terminated {
            return;
        }
        let Some(data) = event_data(event) else {
            return;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&data) else {
            self.fail(
                "api_error",
                "The model's upstream sent a malformed stream event.",
            );
            return;
        };
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "message_start" => {
                self.id = chat_id(v.at("/message/id").and_then(Value::as_str));
                if let Some(u) = v.at("/message/usage") {
                    self.merge_usage(u);
                }
                let mut first = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                    "model": self.meta.client_model,
                    "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]});
                if let Some(r) = &self.meta.routing {
                    first["routing_metadata"] = r.clone();
                }
                self.data(&first);
            }
            "content_block_start" => {
                let block = v.get("content_block").unwrap_or(&Value::Null);
                if block.get("type").and_then(Value::as_str) == Some("tool_use") {
                    let k = self.tool_index.len() as u64;
                    let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                    self.tool_index.push((index, k));
                    self.chunk(json!({"tool_calls": [{"index": k, "id": block.get("id"), "type": "function",
                        "function": {"name": block.get("name"), "arguments": ""}}]}), None);
                }
            }
            "content_block_delta" => {
                let d = v.get("delta").unwrap_or(&Value::Null);
                match d.get("type").and_then(Value::as_str).unwrap_or("") {
                    "text_delta" => self.chunk(json!({"content": d.get("text")}), None),
                    "thinking_delta" => {
                        self.chunk(json!({"reasoning_content": d.get("thinking")}), None)
                    }
                    "input_json_delta" => {
                        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                        let fragment = d.get("partial_json").and_then(Value::as_str).unwrap_or("");
                        if let Some(&(_, k)) = self.tool_index.iter().find(|(i, _)| *i == index) {
                            if !fragment.is_empty() {
                                self.chunk(json!({"tool_calls": [{"index": k, "function": {"arguments": fragment}}]}), None);
                            }
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(u) = v.get("usage") {
                    self.merge_usage(u);
                }
                self.finish = Some(finish_reason(
                    v.at("/delta/stop_reason").and_then(Value::as_str),
                ));
            }
            "message_stop" => {
                let finish = self.finish.unwrap_or("stop");
                self.chunk(json!({}), Some(finish));
                if self.meta.include_usage {
                    let usage = openai_usage(&self.usage);
                    let c = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                                   "model": self.meta.client_model, "choices": [], "usage": usage});
                    self.data(&c);
                }
                self.out.extend_from_slice(b"data: [DONE]\n\n");
                self.terminated = true;
            }
            "error" => {
                let message = v
                    .at("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("upstream error")
                    .to_string();
                let ty = v
                    .at("/error/type")
                    .and_then(Value::as_str)
                    .unwrap_or("api_error")
                    .to_string();
                self.fail(&ty, &message);
            }
            _ => {}
        }
    }

    pub fn process(&mut self, chunk: &Bytes) -> Bytes {
        let (events, framed) = self.framer.push_collect(chunk);
        for e in events {
            self.on_event(&e);
        }
        if let Err(EventTooLarge { limit, .. }) = framed {
            self.fail(
                "api_error",
                &format!("The model's upstream sent a stream event larger than {limit} bytes."),
            );
        }
        self.out.split().freeze()
    }

    pub fn finish(&mut self) -> Bytes {
        if let Some(tail) = self.framer.finish() {
            self.on_event(&tail);
        }
        if !self.terminated {
            self.fail(
                "api_error",
                "The model's upstream ended the stream prematurely.",
            );
        }
        self.out.split().freeze()
    }

    /// The upstream's own counts (Anthropic usage, merged across its events).
    pub fn usage(&self) -> Option<Usage> {
        (self.usage.as_object().is_some_and(|o| !o.is_empty()))
            .then(|| crate::usage::anthropic_counts(&self.usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: &str, data: Value) -> String {
        format!("event: {name}\ndata: {data}\n\n")
    }

    fn stream() -> String {
        [
            ev("message_start", json!({"type": "message_start", "message": {"id": "msg_7", "usage": {"input_tokens": 10, "cache_read_input_tokens": 2, "output_tokens": 1}}})),
            ev("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})),
            ev("ping", json!({"type": "ping"})),
            ev("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Héllo"}})),
            ev("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
            ev("content_block_start", json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}}})),
            ev("content_block_delta", json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":"}})),
            ev("content_block_delta", json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"Oslo\"}"}})),
            ev("content_block_stop", json!({"type": "content_block_stop", "index": 1})),
            ev("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 12}})),
            ev("message_stop", json!({"type": "message_stop"})),
        ]
        .concat()
    }

    fn run(s: &str, split: usize, include_usage: bool) -> Vec<Value> {
        let meta = ChatMeta {
            client_model: "claude-x".into(),
            stream: true,
            include_usage,
            dropped: vec![],
            routing: None,
        };
        let mut t = ReverseStreamTranslator::new(meta, 1 << 20);
        let mut out = Vec::new();
        out.extend_from_slice(&t.process(&Bytes::copy_from_slice(&s.as_bytes()[..split])));
        out.extend_from_slice(&t.process(&Bytes::copy_from_slice(&s.as_bytes()[split..])));
        out.extend_from_slice(&t.finish());
        String::from_utf8(out)
            .unwrap()
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let d = e.strip_prefix("data: ").unwrap();
                if d == "[DONE]" {
                    json!("[DONE]")
                } else {
                    serde_json::from_str(d).unwrap()
                }
            })
            .collect()
    }

    #[test]
    fn text_then_tool_call_at_every_split() {
        let s = stream();
        for split in 0..=s.len() {
            let c = run(&s, split, true);
            assert_eq!(
                c[0]["choices"][0]["delta"],
                json!({"role": "assistant", "content": ""}),
                "split {split}"
            );
            assert_eq!(c[1]["choices"][0]["delta"]["content"], "Héllo");
            assert_eq!(
                c[2]["choices"][0]["delta"]["tool_calls"][0],
                json!({"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "w", "arguments": ""}})
            );
            let args: String = c
                .iter()
                .filter_map(|x| {
                    x.pointer("/choices/0/delta/tool_calls/0/function/arguments")
                        .and_then(Value::as_str)
                })
                .collect();
            assert_eq!(args, "{\"city\":\"Oslo\"}");
            let n = c.len();
            assert_eq!(c[n - 3]["choices"][0]["finish_reason"], "tool_calls");
            assert_eq!(c[n - 2]["choices"], json!([]));
            assert_eq!(c[n - 2]["usage"]["prompt_tokens"], 12);
            assert_eq!(c[n - 2]["usage"]["completion_tokens"], 12);
            assert_eq!(c[n - 1], "[DONE]");
            assert!(c[..n - 1]
                .iter()
                .all(|x| x["id"] == "chatcmpl-msg_7" && x["model"] == "claude-x"));
        }
    }

    #[test]
    fn no_usage_chunk_unless_asked() {
        let c = run(&stream(), 0, false);
        assert!(c.iter().all(|x| x.get("usage").is_none()));
    }

    #[test]
    fn cut_stream_ends_with_an_error_and_no_done() {
        let s = stream();
        let cut = &s[..s.find("message_delta").unwrap()];
        let c = run(cut, 0, false);
        assert!(c.last().unwrap().get("error").is_some());
        assert!(!c.contains(&json!("[DONE]")));
    }

    #[test]
    fn upstream_error_event() {
        let s = [ev("message_start", json!({"type": "message_start", "message": {"id": "m"}})),
                 ev("error", json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))].concat();
        let c = run(&s, 5, false);
        assert_eq!(c.last().unwrap()["error"]["type"], "overloaded_error");
    }
}
