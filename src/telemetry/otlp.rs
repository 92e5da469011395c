//! Spans written straight into an OTLP `ExportTraceServiceRequest` (protobuf), batch by batch.
//!
//! Why not the SDK's path (`SpanData` → `opentelemetry-proto` structs → prost): at one server
//! span and one client span per request it cost ~78,000 instructions per request on the
//! exporter thread (the struct conversion with a `String` per key and value, prost's nested
//! length computations, then freeing it all), +45% of a pass-through request. Here each span is
//! written once into a reused buffer, lengths computed from the borrowed values, nothing
//! allocated per attribute. The wire format is checked against the SDK's own encoding of the
//! same spans (`SpanData` through `opentelemetry-proto`'s transform, decoded and compared) in
//! the tests below, and against a receiver decoding the official protobuf in the integration
//! tests.
//!
//! Field numbers are those of `opentelemetry/proto/{collector/trace,trace,common,resource}/v1`.

use super::span::{Attr, Block, Head, SpanOut, FIRST_TOKEN_EVENT, SCOPE};
use super::RequestTrace;
use opentelemetry::trace::{SpanId, SpanKind};
use opentelemetry::{Array, Value};
use opentelemetry_sdk::Resource;
use prost::encoding::{encoded_len_varint, key_len, WireType};
use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

/// `SpanFlags`: the flags field says whether the parent is remote.
const CONTEXT_HAS_IS_REMOTE: u32 = 0x100;
const CONTEXT_IS_REMOTE: u32 = 0x200;

/// Bytes a request's spans usually take (a server span and one client span).
pub const REQUEST_SPAN_BYTES: usize = 1536;

/// Spans written as `ScopeSpans.spans` entries (field 2, each with its key and length), ready
/// to be appended to a batch. A request's spans are written on the thread that served it, while
/// the values they are made of (ids, names from the configuration, the key) are still in that
/// core's cache; the exporter thread then copies bytes instead of chasing a dozen pointers into
/// memory another core wrote, which cost it more than the writing itself.
#[derive(Debug, Default)]
pub struct Spans {
    bytes: Vec<u8>,
    /// Where the span being written begins.
    open_at: usize,
    count: usize,
}

impl Spans {
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            ..Self::default()
        }
    }

    /// Spans written.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// A batch of spans being written, and the parts every request repeats.
#[derive(Debug)]
pub struct Encoder {
    /// `ResourceSpans.resource` (field 1), tagged.
    resource: Vec<u8>,
    /// `ScopeSpans.scope` (field 1), tagged.
    scope: Vec<u8>,
    /// `ScopeSpans.spans` (field 2), each tagged, after a gap of `gap` bytes where `take`
    /// writes the request's head: the batch goes out as a slice of this buffer, never copied.
    spans: Spans,
    gap: usize,
    /// The largest batch taken so far: the next one is given that much room, so a full batch
    /// is written without the buffer growing (a copy of everything written so far) on the way.
    peak: usize,
}

impl Encoder {
    pub fn new(resource: &Resource) -> Self {
        let mut attrs = Vec::new();
        for (k, v) in resource.iter() {
            let strings: Vec<Cow<'_, str>>;
            let value = match v {
                Value::String(s) => Attr::Str(s.as_str()),
                Value::I64(n) => Attr::Int(*n),
                Value::Bool(b) => Attr::Bool(*b),
                Value::F64(x) => Attr::Double(*x),
                Value::Array(Array::String(a)) => {
                    strings = a.iter().map(|s| Cow::Borrowed(s.as_str())).collect();
                    Attr::Strs(&strings)
                }
                // The gateway's resource is its name and version; nothing else is written.
                _ => continue,
            };
            key_value(&mut attrs, 1, k.as_str(), value);
        }
        let mut resource = Vec::new();
        message(&mut resource, 1, &attrs);
        let mut scope_body = Vec::new();
        string(&mut scope_body, 1, SCOPE.name());
        string(&mut scope_body, 2, SCOPE.version().unwrap_or_default());
        let mut scope = Vec::new();
        message(&mut scope, 1, &scope_body);
        // Two field heads (a one-byte key and a length of at most 5 bytes each) and the parts.
        let gap = 2 * 6 + resource.len() + scope.len();
        Self {
            resource,
            scope,
            spans: fresh(gap, FIRST_BATCH_BYTES),
            gap,
            peak: FIRST_BATCH_BYTES,
        }
    }

    /// Spans written or appended since the last `take`.
    pub fn len(&self) -> usize {
        self.spans.count
    }

    pub fn is_empty(&self) -> bool {
        self.spans.count == 0
    }

    /// Add a request's spans to the batch.
    pub fn append(&mut self, s: &Spans) {
        self.spans.bytes.extend_from_slice(&s.bytes);
        self.spans.count += s.count;
    }

    /// The batch as an `ExportTraceServiceRequest`; the encoder is empty again after. The
    /// head is written into the gap in front of the spans, so the batch is never copied.
    pub fn take(&mut self) -> bytes::Bytes {
        let spans = self.spans.bytes.len() - self.gap;
        let scope_spans = self.scope.len() + spans;
        let resource_spans =
            self.resource.len() + key_len(2) + encoded_len_varint(scope_spans as u64) + scope_spans;
        let mut head = Vec::with_capacity(self.gap);
        // ExportTraceServiceRequest.resource_spans (1)
        put_head(&mut head, 1, resource_spans);
        head.extend_from_slice(&self.resource);
        // ResourceSpans.scope_spans (2)
        put_head(&mut head, 2, scope_spans);
        head.extend_from_slice(&self.scope);
        let start = self.gap - head.len();
        self.peak = self.peak.max(self.spans.bytes.len());
        let mut batch = std::mem::replace(&mut self.spans, fresh(self.gap, self.peak)).bytes;
        batch[start..self.gap].copy_from_slice(&head);
        bytes::Bytes::from(batch).slice(start..)
    }
}

/// Room for the first batch: a few hundred spans.
const FIRST_BATCH_BYTES: usize = 256 * 1024;

/// An empty batch buffer: `gap` bytes reserved for the head, room for `room` bytes in all.
fn fresh(gap: usize, room: usize) -> Spans {
    let mut bytes = Vec::with_capacity(room.max(gap + 1024));
    bytes.resize(gap, 0);
    Spans {
        bytes,
        ..Spans::default()
    }
}

/// The batch's own spans are written like a request's (the tests write them so).
impl SpanOut for Encoder {
    fn open(&mut self, trace: &RequestTrace, head: &Head<'_>) {
        self.spans.open(trace, head);
    }

    fn attr(&mut self, key: &'static str, value: Attr<'_>) {
        self.spans.attr(key, value);
    }

    fn attrs(&mut self, block: &Block) {
        self.spans.attrs(block);
    }

    fn close(&mut self, error: Option<&str>, first_token: Option<(SystemTime, f64)>) {
        self.spans.close(error, first_token);
    }
}

impl SpanOut for Spans {
    fn open(&mut self, trace: &RequestTrace, head: &Head<'_>) {
        // The span's head goes in front of it in `close`, once its length is known.
        self.open_at = self.bytes.len();
        let b = &mut self.bytes;
        bytes(b, 1, &trace.span.trace_id().to_bytes());
        bytes(b, 2, &head.span_id.to_bytes());
        let state = trace.span.trace_state().header();
        if !state.is_empty() {
            string(b, 3, &state);
        }
        if head.parent != SpanId::INVALID {
            bytes(b, 4, &head.parent.to_bytes());
        }
        let mut flags = u32::from(trace.span.trace_flags().to_u8()) | CONTEXT_HAS_IS_REMOTE;
        if head.parent_is_remote {
            flags |= CONTEXT_IS_REMOTE;
        }
        put_key(b, 16, WireType::ThirtyTwoBit);
        b.extend_from_slice(&flags.to_le_bytes());
        string(b, 5, head.name);
        let kind = match head.kind {
            SpanKind::Internal => 1,
            SpanKind::Server => 2,
            SpanKind::Client => 3,
            SpanKind::Producer => 4,
            SpanKind::Consumer => 5,
        };
        varint(b, 6, kind);
        fixed64(b, 7, nanos(head.start));
        fixed64(b, 8, nanos(head.end));
    }

    fn attr(&mut self, key: &'static str, value: Attr<'_>) {
        key_value(&mut self.bytes, 9, key, value);
    }

    fn attrs(&mut self, block: &Block) {
        self.bytes.extend_from_slice(&block.otlp);
    }

    fn close(&mut self, error: Option<&str>, first_token: Option<(SystemTime, f64)>) {
        let b = &mut self.bytes;
        if let Some((at, ttft)) = first_token {
            let mut event = Vec::with_capacity(96);
            fixed64(&mut event, 1, nanos(at));
            string(&mut event, 2, FIRST_TOKEN_EVENT);
            key_value(&mut event, 3, super::span::attr::TTFT, Attr::Double(ttft));
            message(b, 11, &event);
        }
        // Status (15) is always present, as the SDK writes it: code ERROR (2) with a message,
        // or an empty message (code UNSET).
        match error {
            Some(e) => {
                let len = field_len(2, e.len()) + 2;
                put_head(b, 15, len);
                string(b, 2, e);
                varint(b, 3, 2);
            }
            None => {
                put_head(b, 15, 0);
            }
        }
        // The head (`ScopeSpans.spans`, field 2, and the length) is written after the span and
        // rotated in front of it: one move of the span, no scratch buffer.
        let len = self.bytes.len() - self.open_at;
        put_head(&mut self.bytes, 2, len);
        let head = self.bytes.len() - self.open_at - len;
        self.bytes[self.open_at..].rotate_right(head);
        self.count += 1;
    }
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
        .try_into()
        .unwrap_or(u64::MAX)
}

/// The length of a length-delimited field of `len` bytes, its key included.
fn field_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

/// A varint, byte by byte (the buffer's room is reserved per attribute by the caller).
#[inline(always)]
fn put_varint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push((v as u8) | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

/// A field's key: its number and wire type.
#[inline(always)]
fn put_key(b: &mut Vec<u8>, tag: u32, wire: WireType) {
    put_varint(b, u64::from(tag << 3 | wire as u32));
}

/// A field's key and a length: the head of every length-delimited field.
#[inline(always)]
fn put_head(b: &mut Vec<u8>, tag: u32, len: usize) {
    put_key(b, tag, WireType::LengthDelimited);
    put_varint(b, len as u64);
}

#[inline(always)]
fn bytes(b: &mut Vec<u8>, tag: u32, v: &[u8]) {
    put_head(b, tag, v.len());
    b.extend_from_slice(v);
}

#[inline(always)]
fn string(b: &mut Vec<u8>, tag: u32, s: &str) {
    bytes(b, tag, s.as_bytes());
}

fn message(b: &mut Vec<u8>, tag: u32, body: &[u8]) {
    bytes(b, tag, body);
}

fn varint(b: &mut Vec<u8>, tag: u32, v: u64) {
    put_key(b, tag, WireType::Varint);
    put_varint(b, v);
}

fn fixed64(b: &mut Vec<u8>, tag: u32, v: u64) {
    put_key(b, tag, WireType::SixtyFourBit);
    b.extend_from_slice(&v.to_le_bytes());
}

/// The length of an `AnyValue` message holding `v` (its oneof is always written, even when
/// it holds a default value).
fn any_len(v: &Attr<'_>) -> usize {
    match v {
        Attr::Str(s) => field_len(1, s.len()),
        Attr::Bool(_) => 2,
        Attr::Int(n) => 1 + encoded_len_varint(*n as u64),
        Attr::Double(_) => 9,
        Attr::Strs(items) => field_len(5, array_len(items)),
    }
}

/// The length of an `ArrayValue` of strings.
fn array_len(items: &[Cow<'_, str>]) -> usize {
    items
        .iter()
        .map(|s| field_len(1, field_len(1, s.len())))
        .sum()
}

#[inline(always)]
fn any_value(b: &mut Vec<u8>, v: &Attr<'_>) {
    match v {
        Attr::Str(s) => string(b, 1, s),
        Attr::Bool(x) => varint(b, 2, u64::from(*x)),
        Attr::Int(n) => varint(b, 3, *n as u64),
        Attr::Double(x) => fixed64(b, 4, x.to_bits()),
        Attr::Strs(items) => {
            put_head(b, 5, array_len(items));
            for s in items.iter() {
                put_head(b, 1, field_len(1, s.len()));
                string(b, 1, s);
            }
        }
    }
}

/// A `KeyValue` as an entry of `Span.attributes`.
pub fn attribute(b: &mut Vec<u8>, key: &str, v: Attr<'_>) {
    key_value(b, 9, key, v);
}

/// A `KeyValue` as field `tag` of its parent.
fn key_value(b: &mut Vec<u8>, tag: u32, key: &str, v: Attr<'_>) {
    let any = any_len(&v);
    let len = field_len(1, key.len()) + field_len(2, any);
    b.reserve(field_len(tag, len));
    if len < 0x80 && tag < 0x10 {
        // Nearly every attribute: each key and length is one byte, so the heads go out as two
        // fixed-size writes instead of a varint loop per field.
        b.extend_from_slice(&[(tag << 3 | 2) as u8, len as u8, 1 << 3 | 2, key.len() as u8]);
        b.extend_from_slice(key.as_bytes());
        b.extend_from_slice(&[2 << 3 | 2, any as u8]);
        match v {
            // The usual value: a short string, its head one fixed write too.
            Attr::Str(s) => {
                b.extend_from_slice(&[1 << 3 | 2, s.len() as u8]);
                b.extend_from_slice(s.as_bytes());
            }
            _ => any_value(b, &v),
        }
        return;
    }
    put_head(b, tag, len);
    string(b, 1, key);
    put_head(b, 2, any);
    any_value(b, &v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::span::sdk::spans;
    use crate::telemetry::span::write;
    use crate::telemetry::tests::{finished_cases, test_resource};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use prost::Message;

    /// The SDK's own OTLP request for the same spans, as its exporter would send them.
    fn reference(cases: &[crate::telemetry::span::Finished]) -> ExportTraceServiceRequest {
        let data = cases.iter().flat_map(spans).collect();
        let resource = ResourceAttributesWithSchema::from(&test_resource());
        ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(data, &resource),
        }
    }

    /// Resource attributes come from a hash map in the SDK: compare them in a fixed order.
    fn sorted(mut r: ExportTraceServiceRequest) -> ExportTraceServiceRequest {
        for rs in &mut r.resource_spans {
            if let Some(res) = rs.resource.as_mut() {
                res.attributes.sort_by(|a, b| a.key.cmp(&b.key));
            }
        }
        r
    }

    #[test]
    fn the_request_decodes_to_what_the_sdk_would_send() {
        let cases = finished_cases();
        assert!(cases.len() >= 4);
        let mut enc = Encoder::new(&test_resource());
        for f in &cases {
            write(f, &mut enc);
        }
        let spans_written = enc.len();
        let body = enc.take();
        let ours = ExportTraceServiceRequest::decode(body.as_ref()).expect("valid protobuf");
        let theirs = reference(&cases);
        assert_eq!(
            ours.resource_spans[0].scope_spans[0].spans.len(),
            spans_written
        );
        assert_eq!(sorted(ours), sorted(theirs));
        // The SDK's encoding of the same request has the same length: no field is written
        // twice or left out.
        assert_eq!(body.len(), reference(&cases).encoded_len());
        assert!(enc.is_empty(), "taken");
    }

    #[test]
    fn batches_are_independent() {
        let cases = finished_cases();
        let mut enc = Encoder::new(&test_resource());
        for f in &cases {
            write(f, &mut enc);
            let ours = ExportTraceServiceRequest::decode(enc.take()).unwrap();
            assert_eq!(sorted(ours), sorted(reference(std::slice::from_ref(f))));
        }
    }

    #[test]
    fn a_requests_spans_appended_are_the_spans_written_into_the_batch() {
        let cases = finished_cases();
        // One resource for both: its attributes' order is a hash map's.
        let resource = test_resource();
        let (mut direct, mut appended) = (Encoder::new(&resource), Encoder::new(&resource));
        for f in &cases {
            write(f, &mut direct);
            let mut one = Spans::default();
            write(f, &mut one);
            assert_eq!(one.len(), f.span_count());
            appended.append(&one);
        }
        assert_eq!(appended.len(), direct.len());
        assert_eq!(appended.take(), direct.take());
    }

    #[test]
    fn a_batch_after_a_large_one_has_its_room_from_the_start() {
        let cases = finished_cases();
        let mut enc = Encoder::new(&test_resource());
        let mut n = 0;
        while enc.spans.bytes.len() <= FIRST_BATCH_BYTES {
            write(&cases[n % cases.len()], &mut enc);
            n += 1;
        }
        let first = enc.take();
        let again = enc.spans.bytes.capacity();
        assert!(again >= first.len(), "{again} < {}", first.len());
        // And the batch written into it is the same request again.
        for f in cases.iter().cycle().take(n) {
            write(f, &mut enc);
        }
        assert_eq!(enc.spans.bytes.capacity(), again, "written without growing");
        let second = enc.take();
        let decoded = |b: bytes::Bytes| ExportTraceServiceRequest::decode(b).unwrap();
        assert_eq!(decoded(second), decoded(first));
    }

    #[test]
    fn varints_are_prosts() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            put_varint(&mut ours, v);
            prost::encoding::encode_varint(v, &mut theirs);
            assert_eq!(ours, theirs, "{v}");
            assert_eq!(ours.len(), encoded_len_varint(v));
        }
    }

    #[test]
    fn lengths_cover_every_value_shape() {
        // Values whose lengths cross a varint boundary (127/128 bytes), negative integers,
        // empty strings and arrays.
        let long = "x".repeat(128);
        let causes = [Cow::Borrowed(""), Cow::Owned("y".repeat(200))];
        let values = [
            Attr::Str(""),
            Attr::Str(&long[..127]),
            Attr::Str(&long),
            Attr::Int(-1),
            Attr::Int(i64::MAX),
            Attr::Bool(false),
            Attr::Double(-0.5),
            Attr::Strs(&[]),
            Attr::Strs(&causes),
        ];
        for v in values {
            // One KeyValue as field 1 is a KeyValueList of one: prost's encoding of what it
            // decodes to must be the same bytes.
            let mut b = Vec::new();
            key_value(&mut b, 1, "k", v);
            let list = opentelemetry_proto::tonic::common::v1::KeyValueList::decode(b.as_slice())
                .unwrap_or_else(|e| panic!("{v:?}: {e}"));
            assert_eq!(list.values.len(), 1, "{v:?}");
            assert_eq!(list.encode_to_vec(), b, "{v:?}");
        }
    }
}
