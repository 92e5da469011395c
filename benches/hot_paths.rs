//! Criterion benches for the gateway's per-request and per-chunk hot paths.
//! Compare ratios within one run; the machine is shared.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use stav_gateway::request::{rewrite_openai_body, RequestView};
use stav_gateway::sse::SseFramer;
use stav_gateway::usage::OpenAiStreamTap;

fn openai_stream(events: usize) -> Bytes {
    let mut s = String::new();
    for i in 0..events {
        s.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token{i} \"}},\"finish_reason\":null}}],\"usage\":null}}\n\n"
        ));
    }
    s.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":500}}\n\ndata: [DONE]\n\n");
    Bytes::from(s)
}

fn typical_request() -> Bytes {
    let history: Vec<String> = (0..8)
        .map(|i| {
            format!(
                "{{\"role\":\"{}\",\"content\":\"{}\"}}",
                if i % 2 == 0 { "user" } else { "assistant" },
                "lorem ipsum dolor sit amet ".repeat(20)
            )
        })
        .collect();
    Bytes::from(format!(
        "{{\"model\":\"qwen3-32b\",\"stream\":true,\"temperature\":0.2,\"messages\":[{}]}}",
        history.join(",")
    ))
}

fn sse(c: &mut Criterion) {
    let stream = openai_stream(500);
    let reads: Vec<Bytes> = stream.chunks(1460).map(Bytes::copy_from_slice).collect();
    let mut g = c.benchmark_group("sse");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("frame_tcp_sized_reads", |b| {
        b.iter(|| {
            let mut f = SseFramer::new(1 << 20);
            let mut n = 0;
            for r in &reads {
                f.push(r, |_| n += 1).unwrap();
            }
            black_box(n)
        })
    });
    g.bench_function("usage_tap_pass_through", |b| {
        b.iter(|| {
            let mut t = OpenAiStreamTap::new(false, 1 << 20);
            for r in &reads {
                black_box(t.process(r));
            }
            black_box(t.usage)
        })
    });
    g.bench_function("usage_tap_strip_forced_usage", |b| {
        b.iter(|| {
            let mut t = OpenAiStreamTap::new(true, 1 << 20);
            for r in &reads {
                black_box(t.process(r));
            }
            black_box(t.usage)
        })
    });
    g.finish();
}

fn request(c: &mut Criterion) {
    let body = typical_request();
    let mut g = c.benchmark_group("request");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("parse_view", |b| {
        b.iter(|| black_box(RequestView::parse(&body).unwrap()))
    });
    g.bench_function("parse_and_splice_model_and_usage", |b| {
        b.iter(|| {
            let v = RequestView::parse(&body).unwrap();
            black_box(rewrite_openai_body(&body, &v, "Qwen/Qwen3-32B", true))
        })
    });
    g.finish();
}

fn translation(c: &mut Criterion) {
    use stav_gateway::translate::request::{messages_to_chat, MessagesMeta};
    use stav_gateway::translate::stream::StreamTranslator;
    let chunks: Vec<Bytes> = (0..500)
        .map(|i| Bytes::from(format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token{i} \"}},\"finish_reason\":null}}],\"usage\":null}}\n\n"
        )))
        .collect();
    let meta = MessagesMeta {
        client_model: "m".into(),
        stream: true,
        ..MessagesMeta::default()
    };
    let mut g = c.benchmark_group("translate");
    g.throughput(Throughput::Elements(chunks.len() as u64));
    g.bench_function("openai_chunks_to_anthropic_events", |b| {
        b.iter(|| {
            let mut t = StreamTranslator::new(meta.clone(), "req".into(), 1 << 20);
            for ch in &chunks {
                black_box(t.process(ch));
            }
            black_box(t.finish())
        })
    });
    g.finish();
    // A typical request: system prompt, six turns, two tools.
    let req: serde_json::Value = serde_json::json!({
        "model": "m", "max_tokens": 1024, "system": "You are a helpful assistant for an EU public agency.",
        "tools": [{"name": "search", "description": "Search documents", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}},
                  {"name": "fetch", "description": "Fetch a page", "input_schema": {"type": "object", "properties": {"url": {"type": "string"}}}}],
        "messages": (0..6).map(|i| serde_json::json!({"role": if i % 2 == 0 { "user" } else { "assistant" },
            "content": "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(8)})).collect::<Vec<_>>(),
    });
    let body = serde_json::to_vec(&req).unwrap();
    c.bench_function("translate/anthropic_request_to_openai", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            black_box(serde_json::to_vec(&messages_to_chat(&v, "up").unwrap().body).unwrap())
        })
    });
    // A whole OpenAI answer (text and one tool call) → the Anthropic message the client gets.
    let answer = serde_json::to_vec(&serde_json::json!({
        "id": "chatcmpl-abc123", "object": "chat.completion", "created": 1, "model": "up",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant",
            "content": "Let me look that up. ".repeat(10),
            "tool_calls": [{"id": "call_1", "type": "function",
                            "function": {"name": "search", "arguments": "{\"q\":\"EU AI Act\"}"}}]}}],
        "usage": {"prompt_tokens": 812, "completion_tokens": 64, "total_tokens": 876},
    }))
    .unwrap();
    let whole = MessagesMeta {
        client_model: "m".into(),
        ..MessagesMeta::default()
    };
    c.bench_function("translate/openai_answer_to_anthropic_message", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(&answer).unwrap();
            black_box(stav_gateway::translate::response::chat_to_message_json(
                &v, &whole,
            ))
        })
    });
    c.bench_function("usage/whole_openai_answer", |b| {
        b.iter(|| black_box(stav_gateway::usage::openai_usage(&answer)))
    });
}

fn keys(c: &mut Criterion) {
    use stav_gateway::keys::admin::{create, NewKey};
    use stav_gateway::keys::{KeyIndex, Scope};
    let spec = NewKey {
        team: "t".into(),
        scopes: vec![Scope::Chat],
        ..NewKey::default()
    };
    let (records, keys): (Vec<_>, Vec<_>) = (0..10_000).map(|_| create(&spec, 1000)).unzip();
    let index = KeyIndex::new(records);
    let key = keys[4242].as_bytes();
    c.bench_function("auth/verify_key_among_10k", |b| {
        b.iter(|| black_box(index.verify(key, 2000).is_ok()))
    });
    let mut typo = key.to_vec();
    typo[30] ^= 1;
    c.bench_function("auth/reject_mistyped_key", |b| {
        b.iter(|| black_box(index.verify(&typo, 2000).is_err()))
    });
}

/// The credential scrubber on what every answer passes through (issue 15: ≤ 2% of a request):
/// a whole answer, and a stream read by read.
fn scrub(c: &mut Criterion) {
    use stav_gateway::scrub::Secrets;
    let secrets = Secrets::new([&b"Bearer sk-bench-upstream-credential-0123456789"[..]]);
    let answer = Bytes::from_static(
        br#"{"id":"chatcmpl-9f2c1a","object":"chat.completion","created":1700000000,"model":"qwen3-32b","choices":[{"index":0,"message":{"role":"assistant","content":"EU sovereignty for AI means that the data, the models and the infrastructure stay under European law and control, from training to inference, with no dependency on providers outside the EU's jurisdiction."},"finish_reason":"stop"}],"usage":{"prompt_tokens":17,"completion_tokens":41,"total_tokens":58}}"#,
    );
    let mut g = c.benchmark_group("scrub");
    g.throughput(Throughput::Bytes(answer.len() as u64));
    g.bench_function("whole_answer", |b| {
        b.iter(|| black_box(secrets.scrub(&answer).len()))
    });
    let stream = openai_stream(50);
    let reads: Vec<Bytes> = stream.chunks(1400).map(Bytes::copy_from_slice).collect();
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("stream_tcp_sized_reads", |b| {
        b.iter(|| {
            let mut sc = secrets.stream();
            let n = reads.len();
            let mut out = 0;
            for (i, r) in reads.iter().enumerate() {
                out += sc
                    .process(Some(r.clone()), i + 1 == n)
                    .map_or(0, |b| b.len());
            }
            black_box(out)
        })
    });
    g.bench_function("answer_header_value", |b| {
        b.iter(|| black_box(secrets.found_in(b"application/json")))
    });
    g.finish();
}

/// The ledger's work per request, natively (callgrind counts SHA-256 in software, as valgrind has
/// no SHA extensions): the logging phase writes the record's body, the writer thread seals it
/// into the chain.
fn ledger(c: &mut Criterion) {
    use stav_gateway::ledger::chain::{seal, Head};
    use stav_gateway::ledger::line::body;
    use stav_gateway::ledger::record::sample;
    let record = sample("req_0123456789abcdef");
    c.bench_function("ledger/record_body", |b| {
        b.iter(|| black_box(body(black_box(&record))))
    });
    let written = body(&record);
    let mut head = Head::genesis();
    let mut out = Vec::with_capacity(4096);
    c.bench_function("ledger/seal_one_record", |b| {
        b.iter(|| {
            out.clear();
            seal(black_box(&written), &mut head, &mut out);
            black_box(out.len())
        })
    });
}

criterion_group!(benches, sse, request, translation, keys, scrub, ledger);
criterion_main!(benches);
