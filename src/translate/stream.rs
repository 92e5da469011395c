//! The stream state machine: OpenAI chat completion chunks in, Anthropic Messages events out.
//!
//! One event is handled at a time; output goes into one reused buffer. Text, thinking and tool-call
//! arguments stream live. Parallel tool calls are kept apart: a call becomes the live block only
//! when the previous call's arguments form complete JSON (OpenAI and vLLM send calls one after
//! another). Calls that a compat server interleaves with the live one cannot get a block of their
//! own yet (one block is open at a time), so they are collected and emitted whole (start, one
//! `input_json_delta`, stop) at the end, after validation: truncated arguments there would crash
//! both Anthropic SDKs.

use super::ids;
use super::request::MessagesMeta;
use super::response::{anthropic_usage, parse_arguments, stop_reason, usage_totals};
use crate::sse::{event_data, EventTooLarge, SseFramer};
use crate::usage::Usage;
use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Text(usize),
    Thinking(usize),
    /// A tool_use block streaming live: (block index, slot in `tools`).
    Tool(usize, usize),
}

/// One OpenAI chunk, borrowed from the event where no unescaping is needed (also read by the
/// Responses stream translator).
#[derive(Deserialize)]
pub(crate) struct Chunk<'a> {
    #[serde(borrow, default)]
    pub(crate) id: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(crate) error: Option<ChunkError>,
    #[serde(borrow, default)]
    pub(crate) usage: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) choices: Option<Vec<ChunkChoice<'a>>>,
}

#[derive(Deserialize)]
pub(crate) struct ChunkError {
    #[serde(default)]
    pub(crate) message: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct ChunkChoice<'a> {
    #[serde(borrow, default)]
    pub(crate) delta: Option<Delta<'a>>,
    #[serde(borrow, default)]
    pub(crate) finish_reason: Option<Cow<'a, str>>,
    /// vLLM: the matched stop string (or a token id).
    #[serde(borrow, default)]
    pub(crate) stop_reason: Option<&'a RawValue>,
}

#[derive(Deserialize)]
pub(crate) struct Delta<'a> {
    #[serde(borrow, default)]
    pub(crate) content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) reasoning: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) refusal: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) tool_calls: Option<Vec<ToolCallDelta<'a>>>,
}

#[derive(Deserialize)]
pub(crate) struct ToolCallDelta<'a> {
    #[serde(default)]
    pub(crate) index: Option<u64>,
    #[serde(borrow, default)]
    pub(crate) id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) function: Option<FunctionDelta<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct FunctionDelta<'a> {
    #[serde(borrow, default)]
    pub(crate) name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) arguments: Option<Cow<'a, str>>,
}

#[derive(Debug, Default)]
struct ToolCall {
    id: Option<String>,
    name: String,
    args: String,
    /// Its block was streamed live (and is closed or open), so it is not flushed at the end.
    live: bool,
}

#[derive(Debug)]
pub struct StreamTranslator {
    meta: MessagesMeta,
    request_id: String,
    framer: SseFramer,
    out: BytesMut,
    started: bool,
    next_index: usize,
    open: Open,
    /// By OpenAI tool index, in first-seen order.
    tools: Vec<(u64, ToolCall)>,
    refused: bool,
    finish: Option<String>,
    matched_stop: Option<String>,
    usage: Option<Value>,
    done: bool,
    /// A terminal event (message_stop or error) was written.
    pub terminated: bool,
}

impl StreamTranslator {
    pub fn new(meta: MessagesMeta, request_id: String, max_event: usize) -> Self {
        Self {
            meta,
            request_id,
            framer: SseFramer::new(max_event),
            out: BytesMut::with_capacity(1024),
            started: false,
            next_index: 0,
            open: Open::None,
            tools: Vec::new(),
            refused: false,
            finish: None,
            matched_stop: None,
            usage: None,
            done: false,
            terminated: false,
        }
    }

    fn emit(&mut self, name: &str, data: &Value) {
        self.out.extend_from_slice(b"event: ");
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\ndata: ");
        serde_json::to_writer(BytesMutWriter(&mut self.out), data).expect("json serializes");
        self.out.extend_from_slice(b"\n\n");
    }

    fn start_message(&mut self, upstream_id: Option<&str>) {
        if self.started {
            return;
        }
        self.started = true;
        let mut msg = json!({"type": "message_start", "message": {
            "id": ids::message_id(upstream_id), "type": "message", "role": "assistant",
            "model": self.meta.client_model, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": self.meta.input_estimate, "output_tokens": 0,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}});
        if let Some(r) = &self.meta.routing {
            msg["message"]["routing_metadata"] = r.clone();
        }
        self.emit("message_start", &msg);
        self.emit("ping", &json!({"type": "ping"}));
    }

    fn close_block(&mut self) {
        let index = match self.open {
            Open::None => return,
            Open::Text(i) | Open::Tool(i, _) => i,
            Open::Thinking(i) => {
                self.emit(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": i,
                    "delta": {"type": "signature_delta", "signature": ""}}),
                );
                i
            }
        };
        self.emit(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        );
        self.open = Open::None;
    }

    fn delta_text(&mut self, text: &str, thinking: bool) {
        let index = match (self.open, thinking) {
            (Open::Text(i), false) | (Open::Thinking(i), true) => i,
            _ => {
                self.close_block();
                let i = self.next_index;
                self.next_index += 1;
                let shell = if thinking {
                    json!({"type": "thinking", "thinking": "", "signature": ""})
                } else {
                    json!({"type": "text", "text": ""})
                };
                self.emit(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": i, "content_block": shell}),
                );
                self.open = if thinking {
                    Open::Thinking(i)
                } else {
                    Open::Text(i)
                };
                i
            }
        };
        // The hot path: written directly rather than through a `Value`.
        self.out.extend_from_slice(
            b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":",
        );
        self.out.extend_from_slice(index.to_string().as_bytes());
        self.out.extend_from_slice(if thinking {
            b",\"delta\":{\"type\":\"thinking_delta\",\"thinking\":"
        } else {
            b",\"delta\":{\"type\":\"text_delta\",\"text\":"
        });
        serde_json::to_writer(BytesMutWriter(&mut self.out), text).expect("strings serialize");
        self.out.extend_from_slice(b"}}\n\n");
    }

    fn on_chunk(&mut self, chunk: &Chunk) {
        if let Some(err) = &chunk.error {
            let message = err
                .message
                .as_deref()
                .unwrap_or("upstream error")
                .to_string();
            self.fail("api_error", &message);
            return;
        }
        self.start_message(chunk.id.as_deref());
        if let Some(u) = chunk.usage.filter(|u| u.get().starts_with('{')) {
            self.usage = serde_json::from_str(u.get()).ok();
        }
        let Some(choice) = chunk.choices.as_ref().and_then(|c| c.first()) else {
            return;
        };
        if let Some(d) = &choice.delta {
            if self.meta.thinking {
                if let Some(r) = d
                    .reasoning_content
                    .as_deref()
                    .or(d.reasoning.as_deref())
                    .filter(|r| !r.is_empty())
                {
                    self.delta_text(r, true);
                }
            }
            // The first chunk's `content: ""` must not open an empty block.
            if let Some(t) = d.content.as_deref().filter(|t| !t.is_empty()) {
                self.delta_text(t, false);
            }
            if let Some(r) = d.refusal.as_deref().filter(|r| !r.is_empty()) {
                self.refused = true;
                self.delta_text(r, false);
            }
            for (pos, tc) in d.tool_calls.iter().flatten().enumerate() {
                let k = tc.index.unwrap_or(pos as u64);
                let slot = match self.tools.iter().position(|(i, _)| *i == k) {
                    Some(s) => s,
                    None => {
                        self.tools.push((k, ToolCall::default()));
                        self.tools.len() - 1
                    }
                };
                let call = &mut self.tools[slot].1;
                if call.id.is_none() {
                    call.id = tc
                        .id
                        .as_deref()
                        .filter(|s| !s.is_empty())
                        .map(str::to_string);
                }
                let function = tc.function.as_ref();
                // Continuation fragments may repeat the name: never concatenate it.
                if call.name.is_empty() {
                    if let Some(n) = function.and_then(|f| f.name.as_deref()) {
                        call.name = n.to_string();
                    }
                }
                let fragment = function.and_then(|f| f.arguments.as_deref()).unwrap_or("");
                call.args.push_str(fragment);
                self.on_tool_fragment(slot, fragment);
            }
        }
        if let Some(f) = choice.finish_reason.as_deref() {
            self.finish = Some(f.to_string());
            if let Some(s) = choice.stop_reason.filter(|s| s.get().starts_with('"')) {
                self.matched_stop = serde_json::from_str(s.get()).ok();
            }
            self.close_block();
        }
    }

    /// Stream a fragment live when its call is (or may become) the open block.
    fn on_tool_fragment(&mut self, slot: usize, fragment: &str) {
        if let Open::Tool(i, live) = self.open {
            if live == slot {
                if !fragment.is_empty() {
                    self.emit_args(i, fragment);
                }
                return;
            }
            // Another call speaks while the live one is unfinished: interleaved, so it waits.
            let args = &self.tools[live].1.args;
            if args.trim().is_empty() || parse_arguments(args).is_none() {
                return;
            }
        }
        let call = &self.tools[slot].1;
        if call.live || call.name.is_empty() || !call.args.is_empty() && call.args != fragment {
            // Already streamed, nameless so far, or it has earlier fragments held back: no live block.
            return;
        }
        let block = json!({"type": "tool_use", "id": ids::to_anthropic(call.id.as_deref()),
            "name": call.name, "input": {}});
        self.close_block();
        let i = self.next_index;
        self.next_index += 1;
        let shell = json!({"type": "content_block_start", "index": i, "content_block": block});
        self.emit("content_block_start", &shell);
        self.tools[slot].1.live = true;
        self.open = Open::Tool(i, slot);
        if !fragment.is_empty() {
            self.emit_args(i, fragment);
        }
    }

    fn emit_args(&mut self, index: usize, fragment: &str) {
        self.emit(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index,
            "delta": {"type": "input_json_delta", "partial_json": fragment}}),
        );
    }

    /// Emit the held-back calls whole. Returns whether any tool call reached the client.
    fn flush_tools(&mut self) -> bool {
        let mut saw_tool = self.tools.iter().any(|(_, c)| c.live);
        let truncated = self.finish.as_deref() == Some("length");
        for (_, call) in std::mem::take(&mut self.tools)
            .into_iter()
            .filter(|(_, c)| !c.live)
        {
            let Some(input) = parse_arguments(&call.args) else {
                log::warn!(
                    "{}: dropped tool call {:?} with {} arguments",
                    self.request_id,
                    call.name,
                    if truncated {
                        "truncated"
                    } else {
                        "invalid JSON"
                    }
                );
                continue;
            };
            saw_tool = true;
            let i = self.next_index;
            self.next_index += 1;
            self.emit("content_block_start", &json!({"type": "content_block_start", "index": i,
                "content_block": {"type": "tool_use", "id": ids::to_anthropic(call.id.as_deref()), "name": call.name, "input": {}}}));
            self.emit(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": i,
                "delta": {"type": "input_json_delta", "partial_json": input.to_string()}}),
            );
            self.emit(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": i}),
            );
        }
        saw_tool
    }

    fn complete(&mut self) {
        if self.terminated {
            return;
        }
        self.start_message(None);
        self.close_block();
        // A live call cut by the token limit was a max_tokens stop, not a finished tool call.
        let live_truncated = self.finish.as_deref() == Some("length")
            && self
                .tools
                .iter()
                .any(|(_, c)| c.live && parse_arguments(&c.args).is_none());
        let saw_tool = self.flush_tools() && !live_truncated;
        let (stop, seq) = stop_reason(
            self.finish.as_deref(),
            saw_tool,
            self.refused,
            self.matched_stop.as_deref(),
            &self.meta,
        );
        let usage = anthropic_usage(self.usage.as_ref(), self.meta.input_estimate);
        self.emit("message_delta", &json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": seq}, "usage": usage}));
        self.emit("message_stop", &json!({"type": "message_stop"}));
        self.terminated = true;
    }

    /// End the stream now with an error event (a failure the gateway saw): what goes out.
    pub fn fail_with(&mut self, ty: &str, message: &str) -> Bytes {
        self.fail(ty, message);
        self.out.split().freeze()
    }

    /// End the stream with an error event, never a fake `end_turn`.
    pub fn fail(&mut self, ty: &str, message: &str) {
        if self.terminated {
            return;
        }
        self.start_message(None);
        self.close_block();
        self.emit("error", &json!({"type": "error", "error": {"type": ty, "message": message}, "request_id": self.request_id}));
        self.terminated = true;
    }

    fn on_event(&mut self, event: &[u8]) {
        if self.terminated {
            return;
        }
        let Some(data) = event_data(event) else {
            return;
        };
        if &data[..] == b"[DONE]" {
            self.done = true;
            self.complete();
            return;
        }
        match serde_json::from_slice::<Chunk>(&data) {
            Ok(chunk) => self.on_chunk(&chunk),
            Err(_) => self.fail(
                "api_error",
                "The model's upstream sent a malformed stream event.",
            ),
        }
    }

    /// One upstream read in, Anthropic events out.
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

    /// The upstream body ended. A stream that finished (`finish_reason` seen) completes; one cut
    /// short ends with an error event.
    pub fn finish(&mut self) -> Bytes {
        if let Some(tail) = self.framer.finish() {
            self.on_event(&tail);
        }
        if !self.terminated {
            if self.finish.is_some() {
                self.complete();
            } else {
                self.fail(
                    "api_error",
                    "The model's upstream ended the stream prematurely.",
                );
            }
        }
        self.out.split().freeze()
    }

    pub fn usage(&self) -> Option<Usage> {
        self.usage
            .as_ref()
            .map(|u| usage_totals(&anthropic_usage(Some(u), 0)))
    }
}

/// `io::Write` into a `BytesMut` without an intermediate `Vec`.
struct BytesMutWriter<'a>(&'a mut BytesMut);

impl std::io::Write for BytesMutWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
