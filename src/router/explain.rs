//! Why the signals came out as they did: per signal, the class scores, any rule that fired, and
//! the features that pushed the decision hardest (n-grams with their summed weights, structural
//! features with their values). Printed by `stav-gateway explain`.

use super::model::{self, COMPLEXITY, DENSE_NAMES, DOMAIN};
use super::signals::{self, Analysis, DOMAINS};
use std::fmt;

/// How many features to show per signal, for and against.
const TOP_FOR: usize = 6;
const TOP_AGAINST: usize = 3;

/// One feature's share of a decision's logit margin.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// `c:"…"` character n-gram, `w:"…"` word or bigram, `[structure] name=value`.
    pub feature: String,
    pub weight: f64,
}

#[derive(Debug, Clone)]
pub struct SignalEvidence {
    pub name: &'static str,
    pub value: String,
    /// Class (or "p(code)") and probability, in output order.
    pub scores: Vec<(&'static str, f64)>,
    pub rule: Option<&'static str>,
    /// What the evidence is measured against, e.g. "high vs. the mean of the other classes".
    pub margin_of: String,
    pub for_: Vec<Evidence>,
    pub against: Vec<Evidence>,
}

/// The explanation of one prompt's signals; `Display` renders it for operators.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub classified_bytes: usize,
    pub total_bytes: usize,
    pub train_rows: u64,
    pub train_sha: String,
    pub signals: Vec<SignalEvidence>,
}

/// Contribution of every feature to `Σ_k coef[k] · z_k` (a logit, or a logit minus the mean of
/// its head), sorted into the strongest for and against.
fn attribute(text: &str, a: &Analysis, coef: &[(usize, f64)]) -> (Vec<Evidence>, Vec<Evidence>) {
    let m = model::shipped();
    let (grams, nc, nw) = m.grams(text);
    let mut all: Vec<Evidence> = Vec::with_capacity(grams.len() + DENSE_NAMES.len());
    for g in grams {
        let n = if g.word { nw } else { nc };
        let per = g.count as f64 / (n.max(1) as f64).sqrt();
        let w: f64 = coef
            .iter()
            .map(|&(k, c)| c * m.scale(k) * g.row[k] as f64 * per)
            .sum();
        if w != 0.0 {
            let kind = if g.word { "w" } else { "c" };
            all.push(Evidence {
                feature: format!("{kind}:{:?}", g.text),
                weight: w,
            });
        }
    }
    for (j, name) in DENSE_NAMES.iter().enumerate() {
        let v = a.logits.dense[j];
        let w: f64 = coef
            .iter()
            .map(|&(k, c)| c * v * m.dense_weight(j, k))
            .sum();
        if w != 0.0 {
            all.push(Evidence {
                feature: format!("[structure] {name}={v:.2}"),
                weight: w,
            });
        }
    }
    // Sort by weight, then by name, so equal weights always print in the same order.
    all.sort_by(|x, y| {
        y.weight
            .total_cmp(&x.weight)
            .then_with(|| x.feature.cmp(&y.feature))
    });
    let for_ = all
        .iter()
        .filter(|e| e.weight > 0.0)
        .take(TOP_FOR)
        .cloned()
        .collect();
    let against = all
        .iter()
        .rev()
        .filter(|e| e.weight < 0.0)
        .take(TOP_AGAINST)
        .cloned()
        .collect();
    (for_, against)
}

/// Coefficients for "class `win` of a softmax head vs. the mean of the head's other classes".
fn versus_rest(base: usize, len: usize, win: usize) -> Vec<(usize, f64)> {
    (0..len)
        .map(|i| {
            let c = if i == win {
                1.0
            } else {
                -1.0 / (len - 1) as f64
            };
            (base + i, c)
        })
        .collect()
}

/// The signals of `text` (the last user turn, capped as `classify` caps it) with their evidence.
pub fn explain_signals(text: &str) -> Explanation {
    let capped = super::capped(text);
    let a = signals::analyse(&capped);
    let m = model::shipped();
    let mut out = Vec::new();

    let (for_, against) = attribute(&capped, &a, &[(model::CODE, 1.0)]);
    out.push(SignalEvidence {
        name: "code",
        value: a.code.to_string(),
        scores: vec![("p(code)", a.code_probability)],
        rule: a.code_rule,
        margin_of: format!(
            "the code logit (threshold p ≥ {:.2})",
            signals::CODE_THRESHOLD
        ),
        for_,
        against,
    });

    let win = a.complexity as usize;
    let (for_, against) = attribute(&capped, &a, &versus_rest(COMPLEXITY, 3, win));
    out.push(SignalEvidence {
        name: "complexity",
        value: a.complexity.as_str().to_string(),
        scores: signals::Complexity::ALL
            .iter()
            .map(|c| c.as_str())
            .zip(a.complexity_probabilities)
            .collect(),
        rule: None,
        margin_of: format!("{} vs. the mean of the other bands", a.complexity.as_str()),
        for_,
        against,
    });

    let top = signals::argmax(&a.domain_probabilities);
    let (for_, against) = attribute(&capped, &a, &versus_rest(DOMAIN, DOMAINS.len(), top));
    out.push(SignalEvidence {
        name: "domain",
        value: a.domain.to_string(),
        scores: DOMAINS
            .iter()
            .copied()
            .zip(a.domain_probabilities)
            .collect(),
        rule: a.domain_rule,
        margin_of: format!("{} vs. the mean of the other domains", DOMAINS[top]),
        for_,
        against,
    });

    Explanation {
        classified_bytes: capped.len(),
        total_bytes: text.len(),
        train_rows: m.train_rows,
        train_sha: m.train_sha.clone(),
        signals: out,
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "signal model: linear, hashed n-grams + structure; trained on {} rows (data sha256 {}…)",
            self.train_rows, self.train_sha
        )?;
        writeln!(
            f,
            "classified {} of {} bytes of the last user turn",
            self.classified_bytes, self.total_bytes
        )?;
        for s in &self.signals {
            let scores = s
                .scores
                .iter()
                .map(|(c, p)| format!("{c} {p:.3}"))
                .collect::<Vec<_>>()
                .join(", ");
            writeln!(f, "{} = {}   [{scores}]", s.name, s.value)?;
            if let Some(r) = s.rule {
                writeln!(f, "  rule: {r}")?;
            }
            writeln!(f, "  evidence for {}:", s.margin_of)?;
            for e in &s.for_ {
                writeln!(f, "    {:+.3}  {}", e.weight, e.feature)?;
            }
            for e in &s.against {
                writeln!(f, "    {:+.3}  {}", e.weight, e.feature)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explanation_shows_scores_rules_and_evidence() {
        let e = explain_signals(
            "```python\nimport os\nprint(os.listdir('.'))\n```\nWhy does this fail?",
        );
        let text = e.to_string();
        assert!(text.contains("code = true"), "{text}");
        assert!(text.contains("rule: ``` fence"), "{text}");
        assert!(text.contains("complexity = "), "{text}");
        assert!(text.contains("domain = "), "{text}");
        let code = &e.signals[0];
        assert!(!code.for_.is_empty(), "{text}");
        assert!(code.for_.iter().all(|x| x.weight > 0.0));
        assert!(code.against.iter().all(|x| x.weight < 0.0));
        // Strongest first.
        assert!(code.for_.windows(2).all(|w| w[0].weight >= w[1].weight));
    }

    #[test]
    fn evidence_adds_up_to_the_logit() {
        // For the code head the attribution is exact: bias + all contributions = logit.
        let text = "Wie zähle ich in der Shell die Dateien in einem Ordner? ls | wc -l";
        let a = signals::analyse(text);
        let m = model::shipped();
        let (grams, nc, nw) = m.grams(text);
        let mut z = 0.0;
        for g in &grams {
            let n = if g.word { nw } else { nc };
            z += m.scale(model::CODE) * g.row[model::CODE] as f64 * g.count as f64
                / (n as f64).sqrt();
        }
        for j in 0..DENSE_NAMES.len() {
            z += a.logits.dense[j] * m.dense_weight(j, model::CODE);
        }
        let bias = a.logits.z[model::CODE] - z;
        // What is left is the bias, the same for every prompt.
        let other = signals::analyse("Write a poem about the sea.");
        let (g2, nc2, nw2) = m.grams("Write a poem about the sea.");
        let mut z2 = 0.0;
        for g in &g2 {
            let n = if g.word { nw2 } else { nc2 };
            z2 += m.scale(model::CODE) * g.row[model::CODE] as f64 * g.count as f64
                / (n as f64).sqrt();
        }
        for j in 0..DENSE_NAMES.len() {
            z2 += other.logits.dense[j] * m.dense_weight(j, model::CODE);
        }
        assert!((bias - (other.logits.z[model::CODE] - z2)).abs() < 1e-9);
    }
}
