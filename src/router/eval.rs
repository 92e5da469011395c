//! Evaluating the signals on a labelled JSONL file (`prompt`, `complexity`, `code`, `sensitive`,
//! `domain`): per-signal accuracy, precision and recall.

use super::{classify, Conversation, Signals};
use serde::Deserialize;
use std::fmt::Write;

#[derive(Deserialize)]
struct Row {
    prompt: String,
    complexity: Option<String>,
    code: Option<bool>,
    sensitive: Option<bool>,
    domain: Option<String>,
    #[serde(default)]
    entities: Vec<String>,
}

/// Entity kinds the detectors claim (checksums and patterns); person names need NER.
const DETECTABLE: &[&str] = &[
    "email",
    "phone",
    "iban",
    "card",
    "national_id",
    "secret",
    "health",
];

#[derive(Default, Debug, Clone, Copy)]
pub struct Binary {
    pub tp: u32,
    pub fp: u32,
    pub tn: u32,
    pub fn_: u32,
}

impl Binary {
    fn add(&mut self, truth: bool, predicted: bool) {
        match (truth, predicted) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (false, false) => self.tn += 1,
            (true, false) => self.fn_ += 1,
        }
    }
    fn ratio(a: u32, b: u32) -> f64 {
        if b == 0 {
            1.0
        } else {
            a as f64 / b as f64
        }
    }
    pub fn precision(&self) -> f64 {
        Self::ratio(self.tp, self.tp + self.fp)
    }
    pub fn recall(&self) -> f64 {
        Self::ratio(self.tp, self.tp + self.fn_)
    }
    pub fn accuracy(&self) -> f64 {
        Self::ratio(self.tp + self.tn, self.tp + self.tn + self.fp + self.fn_)
    }
}

#[derive(Default, Debug)]
pub struct Report {
    pub rows: u32,
    pub code: Binary,
    pub sensitive: Binary,
    /// Recall on prompts carrying a detectable (checksum or pattern) entity kind.
    pub sensitive_detectable: Binary,
    /// Low vs high only (medium rows excluded), "high" as the positive class.
    pub complexity_low_high: Binary,
    pub complexity_exact: (u32, u32),
    pub domain: (u32, u32),
    /// Prompts labelled sensitive whose detected signals would not force `sovereign`.
    pub missed_sensitive: Vec<String>,
    /// Prompts labelled not sensitive that were flagged, with the entity kinds found.
    pub false_sensitive: Vec<String>,
    pub code_mismatches: Vec<String>,
}

pub fn evaluate(jsonl: &str) -> Result<Report, String> {
    let mut r = Report::default();
    for (n, line) in jsonl
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let row: Row = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        let conv = Conversation {
            last_user: row.prompt.clone(),
            forwarded: row.prompt.clone(),
        };
        let s: Signals = classify(&conv, &crate::sensitive::scan_text(&row.prompt));
        r.rows += 1;
        if let Some(c) = row.code {
            r.code.add(c, s.code);
            if c != s.code {
                r.code_mismatches.push(format!(
                    "{}: {}",
                    if c { "missed" } else { "false" },
                    row.prompt.chars().take(60).collect::<String>()
                ));
            }
        }
        if row
            .entities
            .iter()
            .any(|e| DETECTABLE.contains(&e.as_str()))
        {
            r.sensitive_detectable.add(true, s.sensitive);
        }
        if let Some(t) = row.sensitive {
            r.sensitive.add(t, s.sensitive);
            if t && !s.sensitive {
                r.missed_sensitive
                    .push(row.prompt.chars().take(70).collect());
            }
            if !t && s.sensitive {
                r.false_sensitive.push(format!(
                    "{:?}: {}",
                    s.entities,
                    row.prompt.chars().take(60).collect::<String>()
                ));
            }
        }
        if let Some(c) = row.complexity.as_deref() {
            r.complexity_exact.1 += 1;
            if c == s.complexity.as_str() {
                r.complexity_exact.0 += 1;
            }
            if c != "medium" {
                // Two classes, one threshold: the midpoint between the low and high bands.
                let (_, score) = super::signals::complexity(&row.prompt, s.code);
                r.complexity_low_high
                    .add(c == "high", score >= super::signals::LOW_HIGH_SPLIT);
            }
        }
        if let Some(d) = row.domain.as_deref() {
            r.domain.1 += 1;
            if d == s.domain {
                r.domain.0 += 1;
            }
        }
    }
    Ok(r)
}

impl Report {
    pub fn render(&self) -> String {
        let mut o = String::new();
        // Signals with no labelled rows print n/a rather than a perfect score.
        let num = |v: f64, n: u32| {
            if n == 0 {
                "n/a".to_string()
            } else {
                format!("{v:.3}")
            }
        };
        let _ = writeln!(o, "rows: {}", self.rows);
        let _ = writeln!(
            o,
            "{:<28} {:>9} {:>9} {:>9}",
            "signal", "accuracy", "precision", "recall"
        );
        for (name, b) in [
            ("code", self.code),
            ("sensitive", self.sensitive),
            ("complexity low-vs-high", self.complexity_low_high),
        ] {
            let n = b.tp + b.fp + b.tn + b.fn_;
            let _ = writeln!(
                o,
                "{name:<28} {:>9} {:>9} {:>9}",
                num(b.accuracy(), n),
                num(b.precision(), b.tp + b.fp),
                num(b.recall(), b.tp + b.fn_)
            );
        }
        let d = self.sensitive_detectable;
        let _ = writeln!(
            o,
            "{:<28} {:>9} {:>9} {:>9}",
            "sensitive, detectable kinds",
            "",
            "",
            num(d.recall(), d.tp + d.fn_)
        );
        let (c, n) = self.complexity_exact;
        let _ = writeln!(
            o,
            "{:<28} {:>9}",
            "complexity (3 bands)",
            num(c as f64 / n.max(1) as f64, n)
        );
        let (c, n) = self.domain;
        let _ = writeln!(
            o,
            "{:<28} {:>9}",
            "domain",
            num(c as f64 / n.max(1) as f64, n)
        );
        if !self.code_mismatches.is_empty() {
            let _ = writeln!(
                o,
                "code signal mismatches ({}):",
                self.code_mismatches.len()
            );
            for p in &self.code_mismatches {
                let _ = writeln!(o, "  - {p}");
            }
        }
        if !self.false_sensitive.is_empty() {
            let _ = writeln!(
                o,
                "flagged but labelled not sensitive ({}):",
                self.false_sensitive.len()
            );
            for p in &self.false_sensitive {
                let _ = writeln!(o, "  - {p}");
            }
        }
        if !self.missed_sensitive.is_empty() {
            let _ = writeln!(
                o,
                "sensitive prompts not detected ({}):",
                self.missed_sensitive.len()
            );
            for p in &self.missed_sensitive {
                let _ = writeln!(o, "  - {p}");
            }
        }
        o
    }
}

#[cfg(test)]
mod gates {
    //! Quality gates on the shipped data sets (not timed): they fail if a detector regresses.
    use super::*;

    fn report(file: &str) -> Report {
        let path = format!("{}/benches/data/{file}", env!("CARGO_MANIFEST_DIR"));
        evaluate(&std::fs::read_to_string(path).expect("data set is in the repository")).unwrap()
    }

    #[test]
    fn dev_set() {
        let r = report("router-dev.jsonl");
        assert_eq!(r.rows, 160);
        assert!(r.code.precision() >= 0.97, "{}", r.render());
        assert!(r.code.recall() >= 0.95, "{}", r.render());
        assert!(r.complexity_low_high.accuracy() >= 0.85, "{}", r.render());
        assert!(r.sensitive.precision() >= 0.95, "{}", r.render());
        assert!(r.sensitive.recall() >= 0.99, "{}", r.render());
        assert!(r.sensitive_detectable.recall() >= 0.99, "{}", r.render());
    }

    #[test]
    fn generated_set_of_checksum_valid_ids_and_near_misses() {
        let r = report("router-heldout.jsonl");
        assert!(r.rows >= 3000);
        assert!(r.sensitive.recall() >= 0.99, "{}", r.render());
        assert!(r.sensitive.precision() >= 0.95, "{}", r.render());
        assert!(
            r.code.precision() >= 0.97 && r.code.recall() >= 0.95,
            "{}",
            r.render()
        );
    }
}
