//! Per-phase cost of the sensitivity scan (ns per byte) on ordinary text, known worst cases and
//! any units given as arguments: `cargo run --release --example scanprof -- "unit" ...`.

use stav_gateway::sensitive::{adversarial, profile};
fn main() {
    let units: Vec<String> = std::env::args().skip(1).collect();
    let mut cases = vec![
        ("ordinary".to_string(), adversarial::ordinary(65536)),
        (
            "strasse".to_string(),
            adversarial::repeated("straße 1 ", 65536),
        ),
        (
            "impressum".to_string(),
            adversarial::repeated("Impressum Passwort: ", 65536),
        ),
        (
            "anna".to_string(),
            adversarial::repeated("Passwort: Anna Zau:p@", 65536),
        ),
    ];
    for u in units {
        cases.push((u.clone(), adversarial::repeated(&u, 65536)));
    }
    for (name, t) in cases {
        let mut best: Vec<(&str, f64)> = profile(&t, 10);
        for _ in 0..4 {
            for (b, p) in best.iter_mut().zip(profile(&t, 10)) {
                b.1 = b.1.min(p.1);
            }
        }
        let total: f64 = best.iter().map(|x| x.1).sum();
        println!(
            "{name:?}: total {total:.1} ns/byte: {}",
            best.iter()
                .map(|(n, v)| format!("{n} {v:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}
