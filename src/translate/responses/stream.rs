//! Responses API event streams, from chat completion chunks or from Anthropic events.
//!
//! Both translators drive one `Emitter`, which writes the typed event sequence the SDKs expect
//! (each event with its `sequence_number`): `response.created`, `response.in_progress`, then per
//! output item `output_item.added`, its content part, deltas, the `.done` events and
//! `output_item.done`, and finally `response.completed` (or `response.incomplete`). A stream the
//! upstream breaks ends with `response.failed`, never a silent stop. The emitter also keeps the
//! finished response object, for the response store.

use super::object::{
    message_item, output_text, reasoning_item, response_object, Counts, Incomplete, ResponsesMeta,
};
use super::request::{new_id, seal_redacted, seal_thinking};
use crate::json_at::At;
use crate::sse::{event_data, event_name, EventTooLarge, SseFramer};
use crate::translate::ids;
use crate::translate::response::parse_arguments;
use crate::translate::stream::Chunk;
use bytes::{Bytes, BytesMut};
use serde_json::{json, Value};

#[derive(Debug)]
enum Open {
    /// An assistant message; the last of `parts` is the one being written.
    Message { id: String, parts: Vec<String> },
    Reasoning {
        id: String,
        text: String,
        encrypted: Option<String>,
    },
    Call {
        id: String,
        call_id: String,
        name: String,
        args: String,
        custom: bool,
    },
}

/// Writes the Responses event sequence.
#[derive(Debug)]
pub struct Emitter {
    meta: ResponsesMeta,
    seq: u64,
    out: BytesMut,
    started: bool,
    /// Finished output items, in output order.
    items: Vec<Value>,
    open: Option<Open>,
    /// A terminal event (`response.completed`, `.incomplete` or `.failed`) was written.
    pub terminated: bool,
    finished: Option<Value>,
}

impl Emitter {
    pub fn new(meta: ResponsesMeta) -> Self {
        Self {
            meta,
            seq: 0,
            out: BytesMut::with_capacity(1024),
            started: false,
            items: Vec::new(),
            open: None,
            terminated: false,
            finished: None,
        }
    }

    fn event(&mut self, ty: &str, mut data: Value) {
        data["type"] = json!(ty);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        self.out.extend_from_slice(b"event: ");
        self.out.extend_from_slice(ty.as_bytes());
        self.out.extend_from_slice(b"\ndata: ");
        self.out
            .extend_from_slice(&serde_json::to_vec(&data).expect("json serializes"));
        self.out.extend_from_slice(b"\n\n");
    }

    pub fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        let r = response_object(&self.meta, "in_progress", Vec::new(), None, None, None);
        self.event("response.created", json!({"response": r}));
        self.event("response.in_progress", json!({"response": r}));
    }

    fn index(&self) -> usize {
        self.items.len()
    }

    fn add_item(&mut self, item: Value) {
        let i = self.index();
        self.event(
            "response.output_item.added",
            json!({"output_index": i, "item": item}),
        );
    }

    fn open_message(&mut self) {
        if matches!(self.open, Some(Open::Message { .. })) {
            return;
        }
        self.close();
        let id = new_id("msg");
        self.add_item(message_item(&id, "in_progress", &[], None));
        self.open = Some(Open::Message {
            id,
            parts: Vec::new(),
        });
        self.new_part();
    }

    /// Another text part in the open message (Claude's next text block).
    fn new_part(&mut self) {
        let i = self.index();
        let Some(Open::Message { id, parts }) = &mut self.open else {
            return;
        };
        parts.push(String::new());
        let (id, n) = (id.clone(), parts.len() - 1);
        self.event(
            "response.content_part.added",
            json!({"item_id": id, "output_index": i, "content_index": n, "part": output_text("")}),
        );
    }

    /// The open message's current part is finished (Claude starts another text block).
    fn close_part(&mut self) {
        let Some(Open::Message { id, parts }) = &self.open else {
            return;
        };
        let (id, n, text) = (id.clone(), parts.len() - 1, parts[parts.len() - 1].clone());
        self.part_done(&id, n, &text);
    }

    fn part_done(&mut self, id: &str, n: usize, text: &str) {
        let i = self.index();
        self.event(
            "response.output_text.done",
            json!({"item_id": id, "output_index": i, "content_index": n, "text": text, "logprobs": []}),
        );
        self.event(
            "response.content_part.done",
            json!({"item_id": id, "output_index": i, "content_index": n, "part": output_text(text)}),
        );
    }

    pub fn text(&mut self, delta: &str) {
        if delta.is_empty() {
            return;
        }
        self.open_message();
        let i = self.index();
        let Some(Open::Message { id, parts }) = &mut self.open else {
            return;
        };
        parts
            .last_mut()
            .expect("a message has a part")
            .push_str(delta);
        let (id, n) = (id.clone(), parts.len() - 1);
        self.event(
            "response.output_text.delta",
            json!({"item_id": id, "output_index": i, "content_index": n, "delta": delta, "logprobs": []}),
        );
    }

    fn open_reasoning(&mut self) {
        if matches!(self.open, Some(Open::Reasoning { .. })) {
            return;
        }
        self.close();
        let id = new_id("rs");
        self.add_item(reasoning_item(&id, "in_progress", "", None));
        let i = self.index();
        self.event(
            "response.content_part.added",
            json!({"item_id": id, "output_index": i, "content_index": 0,
                   "part": {"type": "reasoning_text", "text": ""}}),
        );
        self.open = Some(Open::Reasoning {
            id,
            text: String::new(),
            encrypted: None,
        });
    }

    pub fn reasoning(&mut self, delta: &str) {
        if delta.is_empty() {
            return;
        }
        self.open_reasoning();
        let i = self.index();
        let Some(Open::Reasoning { id, text, .. }) = &mut self.open else {
            return;
        };
        text.push_str(delta);
        let id = id.clone();
        self.event(
            "response.reasoning_text.delta",
            json!({"item_id": id, "output_index": i, "content_index": 0, "delta": delta}),
        );
    }

    /// What the client must send back to continue this reasoning (`encrypted_content`).
    pub fn seal_reasoning(&mut self, sealed: String) {
        if !self.meta.encrypted_reasoning {
            return;
        }
        self.open_reasoning();
        if let Some(Open::Reasoning { encrypted, .. }) = &mut self.open {
            *encrypted = Some(sealed);
        }
    }

    pub fn call_start(&mut self, call_id: &str, name: &str) {
        self.close();
        let custom = self.meta.is_custom(name);
        let id = new_id(if custom { "ctc" } else { "fc" });
        self.add_item(self.meta.call_item(&id, "in_progress", call_id, name, ""));
        self.open = Some(Open::Call {
            id,
            call_id: call_id.to_string(),
            name: name.to_string(),
            args: String::new(),
            custom,
        });
    }

    pub fn call_args(&mut self, delta: &str) {
        let i = self.index();
        let Some(Open::Call {
            id, args, custom, ..
        }) = &mut self.open
        else {
            return;
        };
        args.push_str(delta);
        // A free-form tool's input is inside the arguments' JSON: it goes out whole at the end.
        if *custom || delta.is_empty() {
            return;
        }
        let id = id.clone();
        self.event(
            "response.function_call_arguments.delta",
            json!({"item_id": id, "output_index": i, "delta": delta}),
        );
    }

    /// The arguments of the open call so far.
    pub fn open_call_args(&self) -> Option<&str> {
        match &self.open {
            Some(Open::Call { args, .. }) => Some(args),
            _ => None,
        }
    }

    /// Finish the open item: its `.done` events and `output_item.done`.
    pub fn close(&mut self) {
        let i = self.index();
        let Some(open) = self.open.take() else {
            return;
        };
        let item = match open {
            Open::Message { id, parts } => {
                let last = parts.len() - 1;
                self.part_done(&id, last, &parts[last]);
                message_item(&id, "completed", &parts, None)
            }
            Open::Reasoning {
                id,
                text,
                encrypted,
            } => {
                self.event(
                    "response.reasoning_text.done",
                    json!({"item_id": id, "output_index": i, "content_index": 0, "text": text}),
                );
                self.event(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": i, "content_index": 0,
                           "part": {"type": "reasoning_text", "text": text}}),
                );
                reasoning_item(&id, "completed", &text, encrypted.as_deref())
            }
            Open::Call {
                id,
                call_id,
                name,
                args,
                custom,
            } => {
                let item = self
                    .meta
                    .call_item(&id, "completed", &call_id, &name, &args);
                if custom {
                    let input = item["input"].clone();
                    self.event(
                        "response.custom_tool_call_input.delta",
                        json!({"item_id": id, "output_index": i, "delta": input}),
                    );
                    self.event(
                        "response.custom_tool_call_input.done",
                        json!({"item_id": id, "output_index": i, "input": input}),
                    );
                } else {
                    self.event(
                        "response.function_call_arguments.done",
                        json!({"item_id": id, "output_index": i, "name": item["name"], "arguments": args}),
                    );
                }
                item
            }
        };
        self.event(
            "response.output_item.done",
            json!({"output_index": i, "item": item}),
        );
        self.items.push(item);
    }

    /// The answer is complete (or stopped at a limit): the final response object.
    pub fn complete(&mut self, counts: Option<Counts>, incomplete: Option<Incomplete>) {
        if self.terminated {
            return;
        }
        self.start();
        self.close();
        let status = if incomplete.is_some() {
            "incomplete"
        } else {
            "completed"
        };
        let r = response_object(
            &self.meta,
            status,
            self.items.clone(),
            counts.map(|c| c.json()),
            incomplete,
            None,
        );
        let ty = if incomplete.is_some() {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.event(ty, json!({"response": r}));
        self.finished = Some(r);
        self.terminated = true;
    }

    /// The answer failed after the stream began: `response.failed`.
    pub fn fail(&mut self, code: &str, message: &str) {
        if self.terminated {
            return;
        }
        self.start();
        self.open = None;
        let r = response_object(
            &self.meta,
            "failed",
            self.items.clone(),
            None,
            None,
            Some(json!({"code": code, "message": message})),
        );
        self.event("response.failed", json!({"response": r}));
        self.terminated = true;
    }

    pub fn take(&mut self) -> Bytes {
        self.out.split().freeze()
    }

    /// The finished response object, once (for the response store).
    pub fn finished(&mut self) -> Option<Value> {
        self.finished.take()
    }
}

const ENDED_EARLY: &str = "The model's upstream ended the stream prematurely.";
const MALFORMED: &str = "The model's upstream sent a malformed stream event.";

fn too_large(limit: usize) -> String {
    format!("The model's upstream sent a stream event larger than {limit} bytes.")
}

/// A tool call from a chat stream, by its OpenAI index.
#[derive(Debug, Default)]
struct ChatCall {
    id: Option<String>,
    name: String,
    args: String,
    /// Streamed live (its item is open or done).
    live: bool,
}

/// Chat completion chunks in, Responses events out.
#[derive(Debug)]
pub struct FromChatStream {
    pub em: Emitter,
    framer: SseFramer,
    calls: Vec<(u64, ChatCall)>,
    /// Slot in `calls` of the call streaming live.
    live: Option<usize>,
    finish: Option<String>,
    counts: Option<Counts>,
}

impl FromChatStream {
    pub fn new(meta: ResponsesMeta, max_event: usize) -> Self {
        Self {
            em: Emitter::new(meta),
            framer: SseFramer::new(max_event),
            calls: Vec::new(),
            live: None,
            finish: None,
            counts: None,
        }
    }

    fn on_chunk(&mut self, chunk: &Chunk) {
        if let Some(err) = &chunk.error {
            let msg = err
                .message
                .as_deref()
                .unwrap_or("upstream error")
                .to_string();
            self.em.fail("server_error", &msg);
            return;
        }
        self.em.start();
        if let Some(u) = chunk.usage.filter(|u| u.get().starts_with('{')) {
            if let Ok(v) = serde_json::from_str::<Value>(u.get()) {
                self.counts = Some(Counts::from_chat(&v));
            }
        }
        let Some(choice) = chunk.choices.as_ref().and_then(|c| c.first()) else {
            return;
        };
        if let Some(d) = &choice.delta {
            if let Some(r) = d.reasoning_content.as_deref().or(d.reasoning.as_deref()) {
                self.em.reasoning(r);
            }
            if let Some(t) = d.content.as_deref() {
                self.em.text(t);
            }
            if let Some(r) = d.refusal.as_deref() {
                self.em.text(r);
            }
            for (pos, tc) in d.tool_calls.iter().flatten().enumerate() {
                let k = tc.index.unwrap_or(pos as u64);
                let slot = match self.calls.iter().position(|(i, _)| *i == k) {
                    Some(s) => s,
                    None => {
                        self.calls.push((k, ChatCall::default()));
                        self.calls.len() - 1
                    }
                };
                let call = &mut self.calls[slot].1;
                if call.id.is_none() {
                    call.id = tc
                        .id
                        .as_deref()
                        .filter(|s| !s.is_empty())
                        .map(str::to_string);
                }
                let function = tc.function.as_ref();
                if call.name.is_empty() {
                    if let Some(n) = function.and_then(|f| f.name.as_deref()) {
                        call.name = n.to_string();
                    }
                }
                let fragment = function.and_then(|f| f.arguments.as_deref()).unwrap_or("");
                call.args.push_str(fragment);
                self.on_fragment(slot, fragment);
            }
        }
        if let Some(f) = choice.finish_reason.as_deref() {
            self.finish = Some(f.to_string());
        }
    }

    /// Stream a call's fragment live when it is (or may become) the open item; a call that a
    /// compat server interleaves with the live one is held and sent whole at the end.
    fn on_fragment(&mut self, slot: usize, fragment: &str) {
        if let Some(live) = self.live {
            if live == slot {
                self.em.call_args(fragment);
                return;
            }
            let args = &self.calls[live].1.args;
            if args.trim().is_empty() || parse_arguments(args).is_none() {
                return;
            }
        }
        let call = &self.calls[slot].1;
        if call.live || call.name.is_empty() || !call.args.is_empty() && call.args != fragment {
            return;
        }
        let call_id = call.id.clone().unwrap_or_else(|| new_id("call"));
        let name = call.name.clone();
        self.calls[slot].1.id = Some(call_id.clone());
        self.calls[slot].1.live = true;
        self.live = Some(slot);
        self.em.call_start(&call_id, &name);
        self.em.call_args(fragment);
    }

    fn complete(&mut self) {
        if self.em.terminated {
            return;
        }
        self.em.close();
        self.live = None;
        for (_, call) in std::mem::take(&mut self.calls)
            .into_iter()
            .filter(|(_, c)| !c.live && !c.name.is_empty())
        {
            let call_id = call.id.unwrap_or_else(|| new_id("call"));
            self.em.call_start(&call_id, &call.name);
            self.em.call_args(&call.args);
            self.em.close();
        }
        let incomplete = match self.finish.as_deref() {
            Some("length") => Some(Incomplete::MaxOutputTokens),
            Some("content_filter") => Some(Incomplete::ContentFilter),
            _ => None,
        };
        self.em.complete(self.counts, incomplete);
    }

    fn on_event(&mut self, event: &[u8]) {
        if self.em.terminated {
            return;
        }
        let Some(data) = event_data(event) else {
            return;
        };
        if &data[..] == b"[DONE]" {
            self.complete();
            return;
        }
        match serde_json::from_slice::<Chunk>(&data) {
            Ok(chunk) => self.on_chunk(&chunk),
            Err(_) => self.em.fail("server_error", MALFORMED),
        }
    }

    pub fn process(&mut self, chunk: &Bytes) -> Bytes {
        let (events, framed) = self.framer.push_collect(chunk);
        for e in events {
            self.on_event(&e);
        }
        if let Err(EventTooLarge { limit, .. }) = framed {
            self.em.fail("server_error", &too_large(limit));
        }
        self.em.take()
    }

    /// The upstream body ended: a stream that finished completes; one cut short fails.
    pub fn finish(&mut self) -> Bytes {
        if let Some(tail) = self.framer.finish() {
            self.on_event(&tail);
        }
        if !self.em.terminated {
            if self.finish.is_some() {
                self.complete();
            } else {
                self.em.fail("server_error", ENDED_EARLY);
            }
        }
        self.em.take()
    }

    pub fn counts(&self) -> Option<Counts> {
        self.counts
    }
}

/// What an Anthropic content block became.
#[derive(Debug, Clone, PartialEq)]
enum Block {
    Text,
    Thinking {
        text: String,
        signature: String,
    },
    /// Redacted thinking, or anything the client does not get.
    Skipped,
    Tool,
}

/// Anthropic Messages events in, Responses events out.
#[derive(Debug)]
pub struct FromMessagesStream {
    pub em: Emitter,
    framer: SseFramer,
    block: Option<Block>,
    /// The last block written was text: the next text block is another part of its message.
    after_text: bool,
    counts: Counts,
    saw_usage: bool,
    stop: Option<String>,
}

impl FromMessagesStream {
    pub fn new(meta: ResponsesMeta, max_event: usize) -> Self {
        Self {
            em: Emitter::new(meta),
            framer: SseFramer::new(max_event),
            block: None,
            after_text: false,
            counts: Counts::default(),
            saw_usage: false,
            stop: None,
        }
    }

    fn usage(&mut self, u: &Value) {
        let c = Counts::from_anthropic(u);
        // message_delta repeats input counts only sometimes: keep the larger ones.
        self.counts.input = self.counts.input.max(c.input);
        self.counts.cached = self.counts.cached.max(c.cached);
        self.counts.cache_write = self.counts.cache_write.max(c.cache_write);
        self.counts.output = self.counts.output.max(c.output);
        self.saw_usage = true;
    }

    fn on_event(&mut self, event: &[u8]) {
        if self.em.terminated {
            return;
        }
        let Some(data) = event_data(event) else {
            return;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&data) else {
            self.em.fail("server_error", MALFORMED);
            return;
        };
        let ty = v
            .get("type")
            .and_then(Value::as_str)
            .or_else(|| event_name(event).and_then(|n| std::str::from_utf8(n).ok()))
            .unwrap_or("");
        let s = |p: &str| v.at(p).and_then(Value::as_str).unwrap_or("");
        match ty {
            "message_start" => {
                self.em.start();
                if let Some(u) = v.at("/message/usage") {
                    self.usage(u);
                }
            }
            "content_block_start" => {
                self.em.start();
                let block = match s("/content_block/type") {
                    "text" => {
                        if self.after_text {
                            self.em.close_part();
                            self.em.new_part();
                        } else {
                            self.em.open_message();
                        }
                        Block::Text
                    }
                    "thinking" => {
                        self.em.open_reasoning();
                        Block::Thinking {
                            text: String::new(),
                            signature: String::new(),
                        }
                    }
                    "redacted_thinking" => {
                        if self.em.meta.encrypted_reasoning {
                            self.em
                                .seal_reasoning(seal_redacted(s("/content_block/data")));
                            self.em.close();
                        }
                        Block::Skipped
                    }
                    "tool_use" => {
                        let call_id = ids::to_openai(s("/content_block/id"));
                        self.em.call_start(&call_id, s("/content_block/name"));
                        Block::Tool
                    }
                    _ => Block::Skipped,
                };
                self.after_text = block == Block::Text;
                self.block = Some(block);
            }
            "content_block_delta" => match (s("/delta/type"), self.block.as_mut()) {
                ("text_delta", Some(Block::Text)) => self.em.text(s("/delta/text")),
                ("thinking_delta", Some(Block::Thinking { text, .. })) => {
                    let d = s("/delta/thinking");
                    text.push_str(d);
                    self.em.reasoning(d);
                }
                ("signature_delta", Some(Block::Thinking { signature, .. })) => {
                    signature.push_str(s("/delta/signature"));
                }
                ("input_json_delta", Some(Block::Tool)) => {
                    self.em.call_args(s("/delta/partial_json"))
                }
                _ => {}
            },
            "content_block_stop" => match self.block.take() {
                Some(Block::Thinking { text, signature }) => {
                    self.em.seal_reasoning(seal_thinking(&text, &signature));
                    self.em.close();
                }
                Some(Block::Tool) => {
                    if self.em.open_call_args() == Some("") {
                        // A call without arguments still has a JSON object of them.
                        self.em.call_args("{}");
                    }
                    self.em.close();
                }
                // Text stays open: Claude's next text block is the same message's next part.
                _ => {}
            },
            "message_delta" => {
                if let Some(r) = v.at("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop = Some(r.to_string());
                }
                if let Some(u) = v.get("usage") {
                    self.usage(u);
                }
            }
            "message_stop" => self.complete(),
            "error" => {
                let message = v
                    .at("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("upstream error")
                    .to_string();
                let code = v
                    .at("/error/type")
                    .and_then(Value::as_str)
                    .unwrap_or("server_error")
                    .to_string();
                self.em.fail(&code, &message);
            }
            _ => {}
        }
    }

    fn complete(&mut self) {
        let incomplete = match self.stop.as_deref() {
            Some("max_tokens") | Some("model_context_window_exceeded") => {
                Some(Incomplete::MaxOutputTokens)
            }
            Some("refusal") => Some(Incomplete::ContentFilter),
            _ => None,
        };
        let counts = self.saw_usage.then_some(self.counts);
        self.em.complete(counts, incomplete);
    }

    pub fn process(&mut self, chunk: &Bytes) -> Bytes {
        let (events, framed) = self.framer.push_collect(chunk);
        for e in events {
            self.on_event(&e);
        }
        if let Err(EventTooLarge { limit, .. }) = framed {
            self.em.fail("server_error", &too_large(limit));
        }
        self.em.take()
    }

    pub fn finish(&mut self) -> Bytes {
        if let Some(tail) = self.framer.finish() {
            self.on_event(&tail);
        }
        if !self.em.terminated {
            self.em.fail("server_error", ENDED_EARLY);
        }
        self.em.take()
    }

    pub fn counts(&self) -> Option<Counts> {
        self.saw_usage.then_some(self.counts)
    }
}

#[cfg(test)]
mod tests;
