//! Smart Router costs: classification of 2 KB and 16 KB prompts, and the sensitivity scan per byte.
//! Goals (issue 4): classify 2 KB ≤ 30 µs median, 16 KB ≤ 100 µs; scan ≤ 3 ns per byte.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use stav_gateway::router::{classify, pii, Conversation};

/// Prose with code and a few numbers, repeated to size; no sensitive data (the scan's worst case:
/// nothing makes it stop early).
fn prompt(bytes: usize) -> String {
    let unit = "We are migrating the billing service to a new queue. Please review the following Python \
        snippet and explain the trade-offs of retrying inside the consumer versus in a dead-letter queue:\n\
        def handle(msg):\n    order = parse(msg.body)\n    if order.total > 1000:\n        notify(order.id)\n\
        The service handles about 4000 orders per minute, version 2.14 of the client, ticket 88213. ";
    unit.repeat(bytes / unit.len() + 1)[..bytes].to_string()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("router");
    for size in [2 * 1024, 16 * 1024] {
        let text = prompt(size);
        let conv = Conversation {
            last_user: text.clone(),
            forwarded: text.clone(),
        };
        g.bench_function(format!("classify_{}kb", size / 1024), |b| {
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
