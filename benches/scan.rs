//! Sensitivity scan costs (issue 14). Goals: scan ≤ 3 ns/byte on ordinary text, the worst input
//! found ≤ 30 ns/byte, classify 2 KB (scan included) ≤ 30 µs.
//!
//! Before the criterion groups, a seeded search (release build) over repeated units of detector
//! anchors (`stav_gateway::sensitive::adversarial`) prints the slowest units per byte; the worst
//! one is then benchmarked next to ordinary text and the historical worst case
//! (`"straße 1 "` repeated, 3.7–5.6 s per MB before this scan).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use stav_gateway::router::{classify, Conversation};
use stav_gateway::sensitive::{adversarial, scan_body, scan_text, ScanOptions};
use std::time::Instant;

const SIZE: usize = 64 * 1024;

fn per_byte(text: &str) -> f64 {
    let n = 5;
    let start = Instant::now();
    for _ in 0..n {
        black_box(scan_text(text));
    }
    start.elapsed().as_nanos() as f64 / n as f64 / text.len() as f64
}

/// The slowest unit among `seeds` (ns/byte at 64 KiB), with the ordinary baseline.
fn search(seeds: u64) -> String {
    let base = per_byte(&adversarial::ordinary(SIZE));
    let mut all: Vec<(f64, String)> = (0..seeds)
        .map(|s| {
            let u = adversarial::unit(s);
            (per_byte(&adversarial::repeated(&u, SIZE)), u)
        })
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    eprintln!("ordinary text: {base:.2} ns/byte");
    for (ns, u) in all.iter().take(5) {
        eprintln!(
            "worst-case search: {ns:.2} ns/byte ({:.1}x) for {u:?}",
            ns / base
        );
    }
    all.remove(0).1
}

fn body(text: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "You are a helpful assistant."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]
    }))
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let seeds = std::env::var("STAV_SCAN_SEARCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let worst = search(seeds);
    let mut g = c.benchmark_group("scan");
    let ordinary = adversarial::ordinary(SIZE);
    let cases = [
        ("ordinary_text_64kb", ordinary.clone()),
        ("strasse_1_64kb", adversarial::repeated("straße 1 ", SIZE)),
        ("worst_found_64kb", adversarial::repeated(&worst, SIZE)),
    ];
    for (name, text) in &cases {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(*name, |b| b.iter(|| black_box(scan_text(text))));
    }
    let raw = body(&ordinary);
    g.throughput(Throughput::Bytes(raw.len() as u64));
    g.bench_function("ordinary_body_64kb", |b| {
        b.iter(|| black_box(scan_body(&raw, &ScanOptions::default()).unwrap()))
    });
    let two_kb = adversarial::ordinary(2048);
    let conv = Conversation {
        last_user: two_kb.clone(),
        forwarded: two_kb.clone(),
    };
    g.throughput(Throughput::Bytes(2048));
    g.bench_function("classify_2kb_with_scan", |b| {
        b.iter(|| black_box(classify(&conv, &scan_text(&conv.forwarded))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
