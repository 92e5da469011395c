//! Token usage as upstreams report it, read off the response on the way through.

use crate::json_at::At;
use crate::sse::{event_data, EventTooLarge, SseFramer};
use bytes::{Bytes, BytesMut};
use memchr::memmem;
use serde::Deserialize;

/// Tokens of one answer, in totals that equal what the upstream billed: `input_tokens` counts
/// every prompt token, cache reads and writes included (OpenAI's `prompt_tokens`; Anthropic's
/// `input_tokens + cache_read_input_tokens + cache_creation_input_tokens`), and `output_tokens`
/// every generated one, reasoning included. The other counts say how much of those totals were
/// served from (or written to) the prompt cache, and how much was reasoning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Input tokens read from the prompt cache (part of `input_tokens`).
    pub cached_tokens: u64,
    /// Input tokens written to the prompt cache (part of `input_tokens`; Anthropic's
    /// `cache_creation_input_tokens`).
    pub cache_write_tokens: u64,
    /// Output tokens spent reasoning (part of `output_tokens`).
    pub reasoning_tokens: u64,
}

impl Usage {
    /// Each count the larger of the two: streams repeat counts, cumulatively, in later events.
    pub fn max(self, o: Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens.max(o.input_tokens),
            output_tokens: self.output_tokens.max(o.output_tokens),
            cached_tokens: self.cached_tokens.max(o.cached_tokens),
            cache_write_tokens: self.cache_write_tokens.max(o.cache_write_tokens),
            reasoning_tokens: self.reasoning_tokens.max(o.reasoning_tokens),
        }
    }
}

#[derive(Deserialize)]
struct OpenAiUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Deserialize, Default)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
    /// Some compatible servers report cache writes here (translated to Anthropic's
    /// `cache_creation_input_tokens` on the way back).
    #[serde(default)]
    cache_write_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct WithUsage<'a> {
    #[serde(default)]
    usage: Option<OpenAiUsage>,
    #[serde(borrow, default)]
    choices: Option<&'a serde_json::value::RawValue>,
}

/// Usage of an OpenAI-shaped JSON object (a whole response or one stream chunk): only the
/// top-level `usage` member is parsed.
pub fn openai_usage(json: &[u8]) -> Option<Usage> {
    let raw = crate::json_member::top_level(json, b"usage")?;
    let u: Option<OpenAiUsage> = serde_json::from_slice(raw).ok()?;
    u.map(Usage::from)
}

/// Usage of an OpenAI answer already parsed (the translator holds one): the same rule.
pub fn openai_usage_of(v: &serde_json::Value) -> Option<Usage> {
    Option::<OpenAiUsage>::deserialize(v.get("usage")?)
        .ok()?
        .map(Usage::from)
}

impl From<OpenAiUsage> for Usage {
    fn from(u: OpenAiUsage) -> Self {
        let p = u.prompt_tokens_details.unwrap_or_default();
        let c = u.completion_tokens_details.unwrap_or_default();
        Usage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
            cached_tokens: p.cached_tokens.unwrap_or(0),
            cache_write_tokens: p.cache_write_tokens.unwrap_or(0),
            reasoning_tokens: c.reasoning_tokens.unwrap_or(0),
        }
    }
}

/// Taps an OpenAI Chat Completions event stream on its way to the client.
///
/// Pass-through (the client asked for usage, or nothing was forced): the bytes go out unchanged
/// and only events that mention usage are parsed. Strip mode (the gateway forced
/// `include_usage` for metering): the extra usage chunk and the `"usage":null` members it caused
/// are removed, so the client sees what it asked for.
#[derive(Debug)]
pub struct OpenAiStreamTap {
    framer: SseFramer,
    strip_usage: bool,
    pub usage: Option<Usage>,
    pub saw_done: bool,
    /// An event outgrew the framer: from then on bytes pass unexamined.
    blind: bool,
    /// Output under construction when events are rewritten.
    out: BytesMut,
    /// `routing_metadata` still to be added to the first chunk.
    inject: Option<Vec<u8>>,
    /// An event was not JSON: nothing more is forwarded.
    pub malformed: bool,
}

static USAGE_KEY: once_cell::sync::Lazy<memmem::Finder<'static>> =
    once_cell::sync::Lazy::new(|| memmem::Finder::new(b"\"usage\""));

impl OpenAiStreamTap {
    pub fn new(strip_usage: bool, max_event: usize) -> Self {
        Self {
            framer: SseFramer::new(max_event),
            strip_usage,
            usage: None,
            saw_done: false,
            blind: false,
            out: BytesMut::new(),
            inject: None,
            malformed: false,
        }
    }

    /// Add `"routing_metadata": value` to the first chunk.
    pub fn with_routing(mut self, value: Vec<u8>) -> Self {
        self.inject = Some(value);
        self
    }

    fn inspect(&mut self, event: &Bytes) -> EventFate {
        let Some(data) = event_data(event) else {
            return EventFate::Keep;
        };
        if &data[..] == b"[DONE]" {
            self.saw_done = true;
            return EventFate::Keep;
        }
        // Every event is checked to be JSON (a validating skim, no allocation): a broken one must
        // not reach an SDK that would fail parsing it.
        if serde_json::from_slice::<serde::de::IgnoredAny>(&data).is_err() {
            return EventFate::Malformed;
        }
        let Some(at) = USAGE_KEY.find(&data) else {
            return EventFate::Keep;
        };
        // Most chunks carry `"usage":null`: decided by a peek, not a parse.
        let value = data[at + USAGE_KEY.needle().len()..]
            .iter()
            .find(|b| !matches!(b, b' ' | b':' | b'\t' | b'\n' | b'\r'));
        if value == Some(&b'n') {
            return EventFate::HasNullUsage;
        }
        let Ok(w) = serde_json::from_slice::<WithUsage>(&data) else {
            return EventFate::Keep;
        };
        let usage_chunk = w.usage.is_some()
            && w.choices
                .is_some_and(|c| c.get().bytes().all(|b| matches!(b, b'[' | b']' | b' ')));
        let has_usage = w.usage.is_some();
        if let Some(u) = w.usage {
            self.usage = Some(Usage::from(u));
        }
        if usage_chunk {
            EventFate::Drop
        } else if !has_usage {
            EventFate::HasNullUsage
        } else {
            EventFate::Keep
        }
    }

    /// One upstream read in, what the client gets out.
    pub fn process(&mut self, chunk: &Bytes) -> Bytes {
        if self.blind {
            return chunk.clone();
        }
        if self.malformed {
            return Bytes::new();
        }
        let (events, framed) = self.framer.push_collect(chunk);
        if !self.strip_usage && self.inject.is_none() {
            for e in &events {
                if self.inspect(e) == EventFate::Malformed {
                    // This read is withheld: the error event takes its place.
                    self.malformed = true;
                    return Bytes::new();
                }
            }
            if framed.is_err() {
                self.blind = true;
            }
            return chunk.clone();
        }
        for e in events {
            let fate = self.inspect(&e);
            let e = match self.inject.take() {
                Some(v) if event_data(&e).is_some_and(|d| d.first() == Some(&b'{')) => Bytes::from(
                    crate::inject::first_member(&e, "routing_metadata", &v)
                        .unwrap_or_else(|| e.to_vec()),
                ),
                other => {
                    self.inject = other;
                    e
                }
            };
            match fate {
                EventFate::Malformed => {
                    self.malformed = true;
                    break;
                }
                EventFate::Keep => self.out.extend_from_slice(&e),
                EventFate::Drop if self.strip_usage => {}
                EventFate::Drop => self.out.extend_from_slice(&e),
                EventFate::HasNullUsage if self.strip_usage => {
                    self.out.extend_from_slice(&remove_null_usage(&e))
                }
                EventFate::HasNullUsage => self.out.extend_from_slice(&e),
            }
        }
        if let Err(EventTooLarge { discarded, .. }) = framed {
            self.blind = true;
            self.out.extend_from_slice(&discarded);
        } else if !self.strip_usage && self.inject.is_none() {
            // Leaving rewrite mode: the unfinished event's start goes out now; later reads pass
            // raw (the framer keeps the bytes only to read usage).
            self.out.extend_from_slice(self.framer.pending());
        }
        self.out.split().freeze()
    }

    /// End of the upstream body: whatever unterminated event is left.
    pub fn finish(&mut self) -> Bytes {
        if self.blind {
            return Bytes::new();
        }
        let Some(tail) = self.framer.finish() else {
            return Bytes::new();
        };
        let fate = self.inspect(&tail);
        if self.strip_usage && matches!(fate, EventFate::Drop) {
            return Bytes::new();
        }
        if self.strip_usage {
            tail
        } else {
            // Pass-through already forwarded these bytes.
            Bytes::new()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventFate {
    Keep,
    Drop,
    HasNullUsage,
    /// The event's data is not JSON.
    Malformed,
}

/// Drop the `"usage":null` member from a compact chunk; anything unexpected is left as is (the
/// SDKs accept `usage: null`).
fn remove_null_usage(event: &[u8]) -> Vec<u8> {
    for pat in [&b",\"usage\":null"[..], b"\"usage\":null,"] {
        if let Some(i) = memmem::find(event, pat) {
            let mut v = Vec::with_capacity(event.len());
            v.extend_from_slice(&event[..i]);
            v.extend_from_slice(&event[i + pat.len()..]);
            return v;
        }
    }
    event.to_vec()
}

/// Usage of an Anthropic-shaped object: a whole message, or a `message_start` / `message_delta`
/// event (whose usage sits at `message.usage` or `usage`). Input counts include cache reads and
/// writes, so totals compare with OpenAI's `prompt_tokens`.
pub fn anthropic_usage(json: &[u8]) -> Option<Usage> {
    anthropic_usage_of(&serde_json::from_slice(json).ok()?)
}

/// `anthropic_usage` of an answer already parsed.
pub fn anthropic_usage_of(v: &serde_json::Value) -> Option<Usage> {
    let u = v.get("usage").or_else(|| v.at("/message/usage"))?;
    Some(anthropic_counts(u))
}

/// Totals of an Anthropic `usage` object itself. Anthropic reports no reasoning count of its own
/// (thinking is billed as output); `output_tokens_details.reasoning_tokens` is read when present
/// (the gateway writes it when translating an OpenAI answer).
pub fn anthropic_counts(u: &serde_json::Value) -> Usage {
    let get = |k: &str| u.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    let cached = get("cache_read_input_tokens");
    let written = get("cache_creation_input_tokens");
    Usage {
        input_tokens: get("input_tokens") + cached + written,
        output_tokens: get("output_tokens"),
        cached_tokens: cached,
        cache_write_tokens: written,
        reasoning_tokens: u
            .at("/output_tokens_details/reasoning_tokens")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0),
    }
}

/// Watches an Anthropic event stream passing through unchanged, for its usage:
/// `message_start` carries the input side, `message_delta` the cumulative output.
#[derive(Debug)]
pub struct AnthropicStreamTap {
    framer: SseFramer,
    blind: bool,
    /// `routing_metadata` still to be added to `message_start.message`.
    inject: Option<Vec<u8>>,
    pub usage: Option<Usage>,
    /// `message_stop` or `error` was seen.
    pub terminated: bool,
}

impl AnthropicStreamTap {
    pub fn new(max_event: usize) -> Self {
        Self {
            framer: SseFramer::new(max_event),
            blind: false,
            inject: None,
            usage: None,
            terminated: false,
        }
    }

    pub fn with_routing(mut self, value: Vec<u8>) -> Self {
        self.inject = Some(value);
        self
    }

    fn inspect(&mut self, event: &[u8]) {
        let name = crate::sse::event_name(event).unwrap_or_default();
        if name == b"message_stop" || name == b"error" {
            self.terminated = true;
        }
        if name != b"message_start" && name != b"message_delta" {
            return;
        }
        let Some(data) = event_data(event) else {
            return;
        };
        if let Some(u) = anthropic_usage(&data) {
            // message_delta repeats input counts only sometimes: keep the larger ones.
            self.usage = Some(self.usage.unwrap_or_default().max(u));
        }
    }

    /// One read in, what the client gets: the same bytes, except for the routing metadata.
    pub fn process(&mut self, chunk: &Bytes) -> Bytes {
        if self.blind {
            return chunk.clone();
        }
        let (events, framed) = self.framer.push_collect(chunk);
        for e in &events {
            self.inspect(e);
        }
        if self.inject.is_none() {
            if framed.is_err() {
                self.blind = true;
            }
            return chunk.clone();
        }
        // Rewrite mode until message_start carries the metadata: emit whole events only.
        let mut out = BytesMut::new();
        for e in events {
            match self.inject.take() {
                Some(v) if crate::sse::event_name(&e) == Some(b"message_start") => {
                    out.extend_from_slice(
                        &crate::inject::into_message(&e, "routing_metadata", &v)
                            .unwrap_or_else(|| e.to_vec()),
                    );
                }
                other => {
                    self.inject = other;
                    out.extend_from_slice(&e);
                }
            }
        }
        if let Err(EventTooLarge { discarded, .. }) = framed {
            self.blind = true;
            out.extend_from_slice(&discarded);
        }
        if self.inject.is_none() && !self.blind {
            // Back to raw pass-through: the unfinished event's start goes out now, the rest will
            // follow as raw bytes (the framer keeps it only to read usage).
            out.extend_from_slice(self.framer.pending());
        }
        out.freeze()
    }

    pub fn finish(&mut self) {
        if let Some(tail) = self.framer.finish() {
            self.inspect(&tail);
        }
    }
}

/// Keeps a non-streaming JSON answer's chunks (refcounted, not copied) to read its usage at the end.
#[derive(Debug)]
pub struct JsonTap {
    chunks: Vec<Bytes>,
    len: usize,
    overflow: bool,
    limit: usize,
}

impl Default for JsonTap {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
            overflow: false,
            limit: Self::LIMIT,
        }
    }
}

impl JsonTap {
    /// Answers larger than this are not inspected (embeddings of big batches); usage is then unknown.
    const LIMIT: usize = 8 << 20;

    /// For an answer the gateway holds back and sends on itself: every byte is kept.
    pub fn holding() -> Self {
        Self {
            limit: usize::MAX,
            ..Self::default()
        }
    }

    pub fn push(&mut self, chunk: &Bytes) {
        if self.overflow {
            return;
        }
        self.len += chunk.len();
        if self.len > self.limit {
            self.overflow = true;
            self.chunks.clear();
            return;
        }
        self.chunks.push(chunk.clone());
    }

    /// The whole body, if it stayed under the limit (one chunk: not copied).
    pub fn body(&self) -> Option<Bytes> {
        if self.overflow {
            return None;
        }
        Some(match self.chunks.as_slice() {
            [one] => one.clone(),
            many => Bytes::from(many.concat()),
        })
    }

    pub fn usage(&self) -> Option<Usage> {
        openai_usage(&self.body()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const UPSTREAM: &str = concat!(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":null}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}\n\n",
        "data: [DONE]\n\n",
    );

    fn run(strip: bool, chunks: &[&[u8]]) -> (Vec<u8>, OpenAiStreamTap) {
        let mut tap = OpenAiStreamTap::new(strip, 1 << 20);
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(&tap.process(&Bytes::copy_from_slice(c)));
        }
        out.extend_from_slice(&tap.finish());
        (out, tap)
    }

    #[test]
    fn pass_through_is_byte_identical_and_counts_usage() {
        let b = UPSTREAM.as_bytes();
        for i in 0..b.len() {
            let (out, tap) = run(false, &[&b[..i], &b[i..]]);
            assert_eq!(out, b, "split {i}");
            assert_eq!(
                tap.usage,
                Some(Usage {
                    input_tokens: 7,
                    output_tokens: 3,
                    ..Default::default()
                })
            );
            assert!(tap.saw_done);
        }
    }

    #[test]
    fn strip_mode_hides_forced_usage_at_every_split() {
        let b = UPSTREAM.as_bytes();
        for i in 0..b.len() {
            let (out, tap) = run(true, &[&b[..i], &b[i..]]);
            let text = String::from_utf8(out).unwrap();
            assert!(!text.contains("usage"), "split {i}: {text}");
            assert_eq!(
                tap.usage,
                Some(Usage {
                    input_tokens: 7,
                    output_tokens: 3,
                    ..Default::default()
                })
            );
            let datas: Vec<&str> = text
                .split("\n\n")
                .filter(|s| !s.is_empty())
                .map(|s| s.strip_prefix("data: ").unwrap())
                .collect();
            assert_eq!(datas.len(), 4);
            assert_eq!(datas[3], "[DONE]");
            for d in &datas[..3] {
                let v: Value = serde_json::from_str(d).unwrap();
                assert_eq!(v["object"], "chat.completion.chunk");
            }
        }
    }

    #[test]
    fn an_oversized_event_is_forwarded_not_lost() {
        let big = format!("data: {{\"x\":\"{}\"}}\n\n", "a".repeat(100));
        let stream = format!("{big}data: [DONE]\n\n");
        for strip in [false, true] {
            let mut tap = OpenAiStreamTap::new(strip, 32);
            let mut out = Vec::new();
            for c in stream.as_bytes().chunks(7) {
                out.extend_from_slice(&tap.process(&Bytes::copy_from_slice(c)));
            }
            out.extend_from_slice(&tap.finish());
            assert_eq!(out, stream.as_bytes(), "strip={strip}");
        }
    }

    #[test]
    fn routing_metadata_lands_on_the_first_chunk_at_every_split() {
        let b = UPSTREAM.as_bytes();
        for strip in [false, true] {
            for i in 0..b.len() {
                let mut tap = OpenAiStreamTap::new(strip, 1 << 20)
                    .with_routing(br#"{"selected_model":"m"}"#.to_vec());
                let mut out = Vec::new();
                for c in [&b[..i], &b[i..]] {
                    out.extend_from_slice(&tap.process(&Bytes::copy_from_slice(c)));
                }
                out.extend_from_slice(&tap.finish());
                let text = String::from_utf8(out).unwrap();
                let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
                assert!(
                    events[0]
                        .starts_with("data: {\"routing_metadata\":{\"selected_model\":\"m\"},"),
                    "{strip} {i}: {text}"
                );
                assert_eq!(text.matches("routing_metadata").count(), 1);
                assert_eq!(events.last().copied(), Some("data: [DONE]"));
                assert_eq!(events.len(), if strip { 4 } else { 5 }, "{strip} {i}");
                if !strip {
                    assert_eq!(
                        text.replace("\"routing_metadata\":{\"selected_model\":\"m\"},", ""),
                        UPSTREAM
                    );
                }
            }
        }
    }

    #[test]
    fn anthropic_message_start_carries_routing_metadata() {
        let stream = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":1}}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":2}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        for i in 0..stream.len() {
            let mut t = AnthropicStreamTap::new(1 << 20).with_routing(b"{}".to_vec());
            let mut out = Vec::new();
            out.extend_from_slice(&t.process(&Bytes::copy_from_slice(&stream.as_bytes()[..i])));
            out.extend_from_slice(&t.process(&Bytes::copy_from_slice(&stream.as_bytes()[i..])));
            t.finish();
            let text = String::from_utf8(out).unwrap();
            assert_eq!(
                text,
                stream.replace("\"message\":{", "\"message\":{\"routing_metadata\":{},"),
                "split {i}"
            );
            assert_eq!(
                t.usage,
                Some(Usage {
                    input_tokens: 1,
                    output_tokens: 2,
                    ..Default::default()
                })
            );
        }
    }

    #[test]
    fn json_tap_reads_usage_across_chunks() {
        let body = br#"{"id":"x","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#;
        let mut t = JsonTap::default();
        t.push(&Bytes::copy_from_slice(&body[..10]));
        t.push(&Bytes::copy_from_slice(&body[10..]));
        assert_eq!(
            t.usage(),
            Some(Usage {
                input_tokens: 5,
                output_tokens: 2,
                ..Default::default()
            })
        );
        let mut t = JsonTap::default();
        t.push(&Bytes::from_static(b"{\"error\":{}}"));
        assert_eq!(t.usage(), None);
    }

    #[test]
    fn a_holding_tap_keeps_what_an_inspecting_tap_gives_up_on() {
        // An answer held back for routing_metadata must come out whole, whatever its size.
        let chunk = Bytes::from(vec![b' '; 1 << 20]);
        let (mut inspecting, mut holding) = (JsonTap::default(), JsonTap::holding());
        for _ in 0..9 {
            inspecting.push(&chunk);
            holding.push(&chunk);
        }
        assert_eq!(inspecting.body(), None);
        assert_eq!(holding.body().map(|b| b.len()), Some(9 << 20));
    }

    #[test]
    fn anthropic_stream_usage_from_start_and_delta() {
        let stream = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"usage\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":42}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        for i in 0..stream.len() {
            let mut t = AnthropicStreamTap::new(1 << 20);
            t.process(&Bytes::copy_from_slice(&stream.as_bytes()[..i]));
            t.process(&Bytes::copy_from_slice(&stream.as_bytes()[i..]));
            t.finish();
            assert_eq!(
                t.usage,
                Some(Usage {
                    input_tokens: 15,
                    output_tokens: 42,
                    cached_tokens: 5,
                    ..Default::default()
                }),
                "split {i}"
            );
            assert!(t.terminated);
        }
    }

    #[test]
    fn embeddings_usage_has_no_completion_tokens() {
        let u = openai_usage(
            br#"{"object":"list","data":[],"usage":{"prompt_tokens":4,"total_tokens":4}}"#,
        );
        assert_eq!(
            u,
            Some(Usage {
                input_tokens: 4,
                output_tokens: 0,
                ..Default::default()
            })
        );
    }
}
