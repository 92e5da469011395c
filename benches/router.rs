//! Smart Router costs: classification of 2 KB and 16 KB prompts, and the sensitivity scan per byte.
//! Goals (issue 19): classify 2 KB ≤ 30 µs median, 16 KB ≤ 100 µs; scan ≤ 3 ns per byte.
//! `classify_*` is the signals alone (the scan's entities are computed once, outside the loop, as
//! the gateway does); `classify_and_scan_*` adds the scan of the same text.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use stav_gateway::router::{classify, pii, signals, Conversation};

/// Prose with code and a few numbers, repeated to size; no sensitive data (the scan's worst case:
/// nothing makes it stop early).
fn prompt(bytes: usize) -> String {
    let unit = "We are migrating the billing service to a new queue. Please review the following Python \
        snippet and explain the trade-offs of retrying inside the consumer versus in a dead-letter queue:\n\
        def handle(msg):\n    order = parse(msg.body)\n    if order.total > 1000:\n        notify(order.id)\n\
        The service handles about 4000 orders per minute, version 2.14 of the client, ticket 88213. ";
    sized(unit, bytes)
}

/// Non-ASCII prose without code (Greek): the rules find nothing and read the whole text.
fn greek(bytes: usize) -> String {
    let unit = "Σκέφτομαι να ανοίξω ένα μικρό ξενοδοχείο οκτώ δωματίων σε νησί των Κυκλάδων. \
        Φτιάξε ένα πλάνο με άδειες, κόστος ανακαίνισης, προσωπικό για τη σεζόν και τιμολόγηση.\n";
    sized(unit, bytes)
}

fn sized(unit: &str, bytes: usize) -> String {
    let mut s = unit.repeat(bytes / unit.len() + 1);
    let mut end = bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}

fn conv(text: &str) -> Conversation {
    Conversation {
        last_user: text.to_string(),
        forwarded: text.to_string(),
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("router");
    for size in [2 * 1024, 16 * 1024] {
        for (name, text) in [("", prompt(size)), ("greek_", greek(size))] {
            let conv = conv(&text);
            let entities = pii::scan(&conv.forwarded);
            g.bench_function(format!("classify_{name}{}kb", size / 1024), |b| {
                b.iter(|| black_box(classify(black_box(&conv), &entities)))
            });
        }
        let text = prompt(size);
        let capped = text[..text.len().min(4096)].to_string();
        g.bench_function(format!("code_rules_{}kb", size / 1024), |b| {
            b.iter(|| black_box(signals::code_rule(black_box(&capped))))
        });
        let conv = conv(&text);
        g.bench_function(format!("classify_and_scan_{}kb", size / 1024), |b| {
            b.iter(|| black_box(classify(&conv, &pii::scan(&conv.forwarded))))
        });
    }
    let text = prompt(64 * 1024);
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("sensitivity_scan_64kb", |b| {
        b.iter(|| black_box(pii::scan(&text)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
