//! Deterministic prompt signals: code, complexity, domain. A small linear model (see `model.rs`,
//! trained by `benches/train_router.py`) carries them; two structural rules that are right
//! whatever the wording (a ``` fence, a stack trace) also set `code`. In-process, no network:
//! the same input always gives the same answer.

use super::model::{self, Logits, COMPLEXITY, DOMAIN};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Complexity {
    Low,
    Medium,
    High,
}

impl Complexity {
    pub const ALL: [Complexity; 3] = [Complexity::Low, Complexity::Medium, Complexity::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Complexity::Low => "low",
            Complexity::Medium => "medium",
            Complexity::High => "high",
        }
    }
}

/// The documented domain set, in the order of the model's domain outputs.
pub const DOMAINS: &[&str] = &[
    "general", "code", "math", "science", "legal", "medical", "finance", "creative",
];

/// `code` is set from this probability on. 0.5 is the decision the training loss optimises; it
/// was not tuned on any evaluation set.
pub const CODE_THRESHOLD: f64 = 0.5;

/// For a two-way low/high decision on `complexity_score` (= P(high) + P(medium)/2): at 0.5 the
/// score says P(high) ≥ P(low).
pub const LOW_HIGH_SPLIT: f32 = 0.5;

/// A structural rule that set `code` whatever the model said.
pub fn code_rule(l: &Logits) -> Option<&'static str> {
    if l.dense[model::FENCE] > 0.0 {
        Some("``` fence")
    } else if l.dense[model::STACK_TRACE] > 0.0 {
        Some("stack trace or compiler/runtime error")
    } else {
        None
    }
}

/// Everything the signals are derived from, for routing, evaluation and explanations.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub code: bool,
    pub code_probability: f64,
    pub code_rule: Option<&'static str>,
    pub complexity: Complexity,
    /// P(low), P(medium), P(high).
    pub complexity_probabilities: [f64; 3],
    /// P(high) + P(medium)/2, in [0, 1]: an ordinal score for thresholds.
    pub complexity_score: f32,
    pub domain: &'static str,
    /// In `DOMAINS` order.
    pub domain_probabilities: [f64; 8],
    /// Set when a rule, not the model's top class, decided the domain.
    pub domain_rule: Option<&'static str>,
    pub logits: Logits,
}

fn softmax<const N: usize>(z: &[f64]) -> [f64; N] {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut p = [0.0; N];
    for (pi, zi) in p.iter_mut().zip(z) {
        *pi = (zi - m).exp();
    }
    let s: f64 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= s);
    p
}

/// Index of the largest value; the first on ties, so the result is deterministic.
pub(crate) fn argmax(p: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in p.iter().enumerate() {
        if *v > p[best] {
            best = i;
        }
    }
    best
}

/// The signals of (already capped) text.
pub fn analyse(text: &str) -> Analysis {
    let logits = model::shipped().logits(text);
    let z = &logits.z;
    let code_probability = 1.0 / (1.0 + (-z[model::CODE]).exp());
    let code_rule = code_rule(&logits);
    let code = code_rule.is_some() || code_probability >= CODE_THRESHOLD;
    let cp: [f64; 3] = softmax(&z[COMPLEXITY..COMPLEXITY + 3]);
    let dp: [f64; 8] = softmax(&z[DOMAIN..DOMAIN + 8]);
    let mut domain = DOMAINS[argmax(&dp)];
    let mut domain_rule = None;
    // Code with no other subject is about code: "general" is the model's fallback class, and a
    // pasted snippet with a terse ask often has no topic words at all.
    if code && domain == "general" {
        domain = "code";
        domain_rule = Some("code with no other subject → code");
    }
    Analysis {
        code,
        code_probability,
        code_rule,
        complexity: Complexity::ALL[argmax(&cp)],
        complexity_probabilities: cp,
        complexity_score: (cp[2] + cp[1] / 2.0) as f32,
        domain,
        domain_probabilities: dp,
        domain_rule,
        logits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_set_code_whatever_the_model_says() {
        let a = analyse("```\nhello\n```");
        assert!(a.code);
        assert_eq!(a.code_rule, Some("``` fence"));
        let a = analyse("Traceback (most recent call last):\n  File \"app.py\", line 3");
        assert!(a.code && a.code_rule.is_some());
        assert_eq!(
            analyse("Write a poem about the sea at dawn.").code_rule,
            None
        );
    }

    #[test]
    fn probabilities_are_distributions_and_the_score_is_ordinal() {
        for text in [
            "",
            "hi",
            "Prove that there are infinitely many primes.",
            "SELECT 1;",
        ] {
            let a = analyse(text);
            let s: f64 = a.complexity_probabilities.iter().sum();
            assert!((s - 1.0).abs() < 1e-9, "{text}");
            let s: f64 = a.domain_probabilities.iter().sum();
            assert!((s - 1.0).abs() < 1e-9, "{text}");
            assert!((0.0..=1.0).contains(&a.complexity_score));
            assert!((0.0..=1.0).contains(&a.code_probability));
            // The low/high split agrees with comparing P(high) and P(low).
            let [pl, _, ph] = a.complexity_probabilities;
            assert_eq!(a.complexity_score >= LOW_HIGH_SPLIT, ph >= pl, "{text}");
        }
    }

    #[test]
    fn argmax_takes_the_first_of_equals() {
        assert_eq!(argmax(&[0.2, 0.4, 0.4]), 1);
        assert_eq!(argmax(&[0.5, 0.5]), 0);
    }

    #[test]
    fn code_without_another_subject_is_in_the_code_domain() {
        let a = analyse("```\nx = 1\n```");
        assert!(a.code);
        assert_ne!(a.domain, "general");
    }
}
