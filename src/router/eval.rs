//! Evaluating the signals on a labelled JSONL file (`prompt`, `complexity`, `code`, `sensitive`,
//! `domain`, optional `lang`): per-signal accuracy, precision and recall, confusion matrices for
//! complexity and domain, and the same figures per language.

use super::signals::{Complexity, DOMAINS, LOW_HIGH_SPLIT};
use super::{classify, Conversation, Signals};
use serde::Deserialize;
use std::collections::BTreeMap;
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
    #[serde(default)]
    lang: Option<String>,
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

/// The routing-signal figures of one slice of the rows (all of them, or one language).
#[derive(Default, Debug, Clone)]
pub struct SignalStats {
    pub rows: u32,
    pub code: Binary,
    /// Low vs high only (medium rows excluded), "high" as the positive class.
    pub complexity_low_high: Binary,
    pub complexity_exact: (u32, u32),
    pub domain: (u32, u32),
}

impl SignalStats {
    pub fn complexity_accuracy(&self) -> f64 {
        Binary::ratio(self.complexity_exact.0, self.complexity_exact.1)
    }
    pub fn domain_accuracy(&self) -> f64 {
        Binary::ratio(self.domain.0, self.domain.1)
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
    /// `[truth][predicted]` in low, medium, high order.
    pub complexity_confusion: [[u32; 3]; 3],
    /// `[truth][predicted]` in `DOMAINS` order.
    pub domain_confusion: [[u32; 8]; 8],
    /// Per `lang` field (rows without one are under "-").
    pub by_lang: BTreeMap<String, SignalStats>,
}

impl Report {
    pub fn complexity_accuracy(&self) -> f64 {
        self.overall().complexity_accuracy()
    }
    pub fn domain_accuracy(&self) -> f64 {
        self.overall().domain_accuracy()
    }

    /// The overall routing-signal figures, in the shape of a per-language entry.
    pub fn overall(&self) -> SignalStats {
        SignalStats {
            rows: self.rows,
            code: self.code,
            complexity_low_high: self.complexity_low_high,
            complexity_exact: self.complexity_exact,
            domain: self.domain,
        }
    }
}

fn band(c: &str) -> Option<usize> {
    Complexity::ALL.iter().position(|x| x.as_str() == c)
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
        // The continuous complexity score, from the same capped text `classify` reads.
        let analysis = super::signals::analyse(&super::capped(&row.prompt));
        let lang = r
            .by_lang
            .entry(row.lang.clone().unwrap_or_else(|| "-".into()))
            .or_default();
        lang.rows += 1;
        r.rows += 1;
        if let Some(c) = row.code {
            r.code.add(c, s.code);
            lang.code.add(c, s.code);
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
            let hit = (c == s.complexity.as_str()) as u32;
            r.complexity_exact.1 += 1;
            r.complexity_exact.0 += hit;
            lang.complexity_exact.1 += 1;
            lang.complexity_exact.0 += hit;
            if let Some(t) = band(c) {
                r.complexity_confusion[t][s.complexity as usize] += 1;
            }
            if c != "medium" {
                // Two classes, one threshold on the ordinal score: P(high) ≥ P(low).
                let high = analysis.complexity_score >= LOW_HIGH_SPLIT;
                r.complexity_low_high.add(c == "high", high);
                lang.complexity_low_high.add(c == "high", high);
            }
        }
        if let Some(d) = row.domain.as_deref() {
            let hit = (d == s.domain) as u32;
            r.domain.1 += 1;
            r.domain.0 += hit;
            lang.domain.1 += 1;
            lang.domain.0 += hit;
            let pos = |x: &str| DOMAINS.iter().position(|y| *y == x);
            if let (Some(t), Some(p)) = (pos(d), pos(s.domain)) {
                r.domain_confusion[t][p] += 1;
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
        self.render_confusion(&mut o);
        self.render_languages(&mut o);
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

impl Report {
    fn render_confusion(&self, o: &mut String) {
        if self.complexity_exact.1 > 0 {
            let _ = writeln!(o, "complexity confusion (rows: truth, columns: predicted):");
            let _ = writeln!(o, "{:>10} {:>7} {:>7} {:>7}", "", "low", "medium", "high");
            for (t, row) in self.complexity_confusion.iter().enumerate() {
                let _ = writeln!(
                    o,
                    "{:>10} {:>7} {:>7} {:>7}",
                    Complexity::ALL[t].as_str(),
                    row[0],
                    row[1],
                    row[2]
                );
            }
        }
        if self.domain.1 > 0 {
            let _ = writeln!(o, "domain confusion (rows: truth, columns: predicted):");
            let _ = write!(o, "{:>10}", "");
            for d in DOMAINS {
                let _ = write!(o, " {:>8}", d);
            }
            let _ = writeln!(o);
            for (t, row) in self.domain_confusion.iter().enumerate() {
                if row.iter().all(|&n| n == 0) {
                    continue;
                }
                let _ = write!(o, "{:>10}", DOMAINS[t]);
                for n in row {
                    let _ = write!(o, " {n:>8}");
                }
                let _ = writeln!(o);
            }
        }
    }

    fn render_languages(&self, o: &mut String) {
        if self.by_lang.len() < 2 {
            return;
        }
        let num = |v: f64, n: u32| {
            if n == 0 {
                "n/a".to_string()
            } else {
                format!("{v:.3}")
            }
        };
        let _ = writeln!(
            o,
            "per language: {:>5} {:>8} {:>8} {:>9} {:>9} {:>7}",
            "rows", "code P", "code R", "low/high", "3 bands", "domain"
        );
        let overall = self.overall();
        for (lang, s) in std::iter::once((&"all".to_string(), &overall)).chain(&self.by_lang) {
            let c = s.code;
            let lh = s.complexity_low_high;
            let _ = writeln!(
                o,
                "{:>13} {:>5} {:>8} {:>8} {:>9} {:>9} {:>7}",
                lang,
                s.rows,
                num(c.precision(), c.tp + c.fp),
                num(c.recall(), c.tp + c.fn_),
                num(lh.accuracy(), lh.tp + lh.fp + lh.tn + lh.fn_),
                num(s.complexity_accuracy(), s.complexity_exact.1),
                num(s.domain_accuracy(), s.domain.1)
            );
        }
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
        // 0.966 since the code threshold went from 0.9 to 0.6 (two list-processing asks read as
        // code), which took recall on the two natural sets from 0.79 / 0.83 to 0.95 / 0.95.
        assert!(r.code.precision() >= 0.95, "{}", r.render());
        assert!(r.code.recall() >= 0.95, "{}", r.render());
        assert!(r.complexity_low_high.accuracy() >= 0.85, "{}", r.render());
        // Below the targets (0.75, 0.80), which the dev set does not reach yet: these
        // catch a regression from where the shipped model stands (0.58, 0.54).
        assert!(r.complexity_accuracy() >= 0.55, "{}", r.render());
        assert!(r.domain_accuracy() >= 0.50, "{}", r.render());
        assert!(r.sensitive.precision() >= 0.95, "{}", r.render());
        assert!(r.sensitive.recall() >= 0.99, "{}", r.render());
        assert!(r.sensitive_detectable.recall() >= 0.99, "{}", r.render());
    }

    /// The sets written as held-out sets in earlier rounds; their misses have been read since, so
    /// they are development sets now (README) and these gates catch regressions.
    /// Code precision is held at 0.93: three of the natural set's four false positives are the
    /// rule for a language named with an ask (`O que é a programação orientada a objetos …?`),
    /// which the recall of every other set needs.
    #[test]
    fn natural_sets() {
        for (file, code_recall, bands, domain) in [
            ("router-holdout-natural.jsonl", 0.93, 0.85, 0.78),
            ("router-holdout-2.jsonl", 0.93, 0.85, 0.78),
            ("router-holdout-3.jsonl", 0.87, 0.75, 0.70),
            ("router-holdout-4.jsonl", 0.78, 0.72, 0.60),
        ] {
            let r = report(file);
            assert!(r.code.precision() >= 0.93, "{file}\n{}", r.render());
            assert!(r.code.recall() >= code_recall, "{file}\n{}", r.render());
            assert!(
                r.complexity_low_high.accuracy() >= 0.95,
                "{file}\n{}",
                r.render()
            );
            assert!(r.complexity_accuracy() >= bands, "{file}\n{}", r.render());
            assert!(r.domain_accuracy() >= domain, "{file}\n{}", r.render());
        }
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
