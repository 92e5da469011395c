//! Deterministic prompt signals: code, complexity, domain. Lexical, in-process, no network and no
//! weights; every input gives the same answer.

use once_cell::sync::Lazy;
use regex::Regex;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Complexity {
    Low,
    Medium,
    High,
}

impl Complexity {
    pub fn as_str(self) -> &'static str {
        match self {
            Complexity::Low => "low",
            Complexity::Medium => "medium",
            Complexity::High => "high",
        }
    }
}

/// The documented domain set.
pub const DOMAINS: &[&str] = &[
    "general", "code", "math", "science", "legal", "medical", "finance", "creative",
];

/// Strong evidence of code or of a programming task.
static CODE_STRONG: Lazy<Regex> = Lazy::new(|| {
    Regex::new(concat!(
        r"(?m)```|\b[A-Z][A-Z0-9]*_[A-Z0-9_]+=\S|Traceback \(most recent call last\)|panicked at|Exception in thread|\bat [\w.$]+\(\w+\.java:\d+\)",
        r"|^\s*(?:def|class|fn|func|impl|import|from \S+ import|#include|package|using|public|private|const|let|var|SELECT|INSERT|UPDATE|CREATE TABLE)\b.*[:;{(=]",
        r"|\b(?:console\.log|System\.out|println!?|printf|std::|=>|->\s*\w+\s*[:{]|\w+\(\)\s*\{|\bnpm (?:install|run)|\bpip install|\bcargo (?:build|run|test)|\bgit (?:rebase|commit|merge|push|pull|reset|checkout|cherry-pick|stash|log)\b|\bkubectl\b|\bdocker(?:file| run| compose)?\b)",
    ))
    .expect("code pattern compiles")
});
/// Languages, tools and libraries: a software topic.
static CODE_NAMES: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"(?i)\b(?:python|(?-i:Rust)|javascript|typescript|golang|kotlin|haskell|java|swift|c\+\+|c#|php|(?-i:Ruby)|scala|elixir|bash|zsh|shell script|powershell|sql|postgres(?:ql)?|mysql|sqlite|regex|regular expression|html|css|react|vue|angular|svelte|django|flask|fastapi|spring boot|node\.?js|tokio|pandas|numpy|kubernetes|terraform|ansible|nginx|graphql|grpc|webpack|vite|pytest|junit|ssh-add|ssh-keygen|openssl|git|npm|pip|cargo|docker|kubectl|linux|unix|insert into|select \*|create table|curl|wget|json|yaml|toml|div|flexbox|api gateway|rate limiter|webhook)\b")
        .expect("names compile")
});
/// A task or a question asking for work, in several EU languages.
static CODE_TASK: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"(?i)\b(?:write|fix|debug|implement|refactor|convert|parse|evaluate|compile|center|how (?:do|can|should) i|how to|why does|what does|error|fails?|failing|returns?|one-liner|snippet|function|script|query|fixture|loop|expression|escrib\w*|scriv\w*|écri\w*|schreib\w*|napisz|escrev\w*|schrijf|funci\w*|funzion\w*|fonction|funktion|funkcj\w*|função|ciclo|come posso|cómo|comment|wie kann|jak|como faço|leggere|file)\b")
        .expect("tasks compile")
});
/// Generic programming words: code only with code-like symbols around.
static CODE_WORDS: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"(?i)\b(?:function|method|class|script|program|query|endpoint|api|unit tests?|test suite|refactor\w*|debug\w*|compil\w*|stack trace|segfault|null pointer|race condition|deadlock|memory leak|algorithm|data structure|linked list|hash ?map|binary search|recursion|codebase|repository|pull request|merge conflict|commit|lint\w*|type error|syntax error|runtime error|exception|variable|array|backend|frontend|microservice|container|deployment|cli|library|package\.json|cargo\.toml|env var\w*|\.env|localhost|http request|rest api|websocket|oauth|jwt|webhook)\b")
        .expect("words compile")
});
static CODE_SYMBOLS: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"`[^`\n]{2,}`|\w+\([^)]*\)|[{};]\s*$|\b\w+\.\w+\(|\b[a-z]+_[a-z_]+\b|\$\w+|\w+=\w+")
        .expect("symbol pattern compiles")
});

pub fn is_code(text: &str) -> bool {
    if CODE_STRONG.is_match(text) {
        return true;
    }
    let names = CODE_NAMES.is_match(text);
    let symbols = CODE_SYMBOLS.is_match(text);
    (names && (symbols || CODE_TASK.is_match(text)))
        || (symbols && CODE_WORDS.find_iter(text).take(2).count() >= 2)
}

static HIGH_MARKERS: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"(?i)\b(?:design|architect\w*|implement\w*|prove|proof|derive|optimi[sz]\w*|trade-?offs?|compare|analy[sz]\w*|strategy|step[- ]by[- ]step|edge cases?|production|scal(?:e|able|ability)|concurren\w*|distributed|migrat\w*|refactor\w*|benchmark\w*|threat model|evaluate|critique|comprehensive|in depth|detailed|rigorous|multi-?step|end-to-end|thread-safe|fault[- ]toleran\w*|consisten\w*|complexity|formal\w*|timeline|draft|plan)\b").expect("markers compile")
});
static LOW_MARKERS: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"(?i)^\s*(?:what(?: is|'s| does| are)|who (?:is|was)|when (?:is|was|did)|where is|define|translate|how do (?:i|you) say|is it|can you tell me|give me a synonym|spell|make this (?:sound|more)|fix (?:the )?typo|rephrase|convert \d)").expect("markers compile")
});
static LIST_ITEMS: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"(?m)(?:^\s*(?:\d+[.)]|[-*•])\s)|\(\d\)").expect("list pattern compiles")
});

const HIGH_FROM: f32 = 0.62;
const MEDIUM_FROM: f32 = 0.32;
/// For a two-way low/high decision: the midpoint between the bands.
pub const LOW_HIGH_SPLIT: f32 = (HIGH_FROM + MEDIUM_FROM) / 2.0;

/// Coarse complexity from length, requested structure and task words.
pub fn complexity(text: &str, code: bool) -> (Complexity, f32) {
    let words = text.split_whitespace().count() as f32;
    let mut score = (words.max(1.0).ln() - 2.5) / 3.0; // ~0 at 12 words, ~1 at 240 words
    score += 0.12 * HIGH_MARKERS.find_iter(text).take(5).count() as f32;
    score += 0.06 * LIST_ITEMS.find_iter(text).take(6).count() as f32;
    score += 0.05 * text.matches('?').count().min(4) as f32;
    if code {
        score += 0.1;
    }
    if LOW_MARKERS.is_match(text) {
        score -= 0.25;
    }
    let score = score.clamp(0.0, 1.0);
    let band = if score >= HIGH_FROM {
        Complexity::High
    } else if score >= MEDIUM_FROM {
        Complexity::Medium
    } else {
        Complexity::Low
    };
    (band, score)
}

static DOMAIN_LEXICON: Lazy<Vec<(&'static str, Regex)>> = Lazy::new(|| {
    let r = |s: &str| Regex::new(s).expect("lexicon compiles");
    vec![
        (
            "math",
            r(
                r"(?i)\b(?:solve|equation|integral|derivative|calculus|algebra|geometry|probabilit\w*|statistic\w*|theorem|proof|prove|matrix|matrices|eigen\w*|polynomial|prime|modulo|factorial|logarithm|fraction|percentage|triangle|vector space|combinatori\w*|expected value|variance)\b|\d\s*[+*/^=]\s*\d",
            ),
        ),
        (
            "science",
            r(
                r"(?i)\b(?:physics|chemistry|biology|quantum|molecule\w*|atom\w*|photosynthesis|enzyme|protein|dna|rna|gene\w*|evolution|climate|thermodynamic\w*|entropy|gravity|relativity|electron\w*|photon|reaction|ecosystem|planet\w*|astronom\w*|geolog\w*|cell biology|neuron\w*|experiment|hypothesis)\b",
            ),
        ),
        (
            "legal",
            r(
                r"(?i)\b(?:law|legal\w*|lawyer|court|judge|lawsuit|sue|contract|clause|gdpr|regulation|statute|liabil\w*|tenant|landlord|lease|eviction|fine|appeal|complaint|dispute|jurisdiction|copyright|trademark|patent|terms of service|notice period|termination|dismiss\w*|employment|k(?:ü|u)ndigung|vertrag|gericht|multa|ricorso|demanda|recurso|amende|tribunal|pozew|umowa|wypowiedzi\w*|coima|reclama\w*|hacienda|finanças|försäkringskassan|rights)\b",
            ),
        ),
        (
            "medical",
            r(
                r"(?i)\b(?:symptom\w*|diagnos\w*|doctor|physician|gp|medicat\w*|medicine|dose|dosage|treatment|therap\w*|patient\w*|disease|illness|infection|vaccin\w*|blood|pain|surgery|prescri\w*|clinic\w*|hospital|nurse|discharge|side effects?|allerg\w*|diabet\w*|cancer|thyroid\w*|endocrinolog\w*|sjukskriv\w*|lekarsk\w*|arzt|médecin|medico|médico)\b",
            ),
        ),
        (
            "finance",
            r(
                r"(?i)\b(?:tax\w*|invoice\w*|bank\w*|loan|mortgage|iban|budget\w*|invest\w*|portfolio|stock\w*|dividend\w*|pension|interest rate|inflation|vat|iva|tva|mwst|payment\w*|salary|payroll|accounting|bookkeeping|balance sheet|cash flow|revenue|profit|credit card|refund|insurance|crypto\w*|savings|expense\w*|steuer\w*|rechnung|fattura|factura|facture|faktura|podatek)\b|€|\$\d|\d\s?(?:eur|usd)\b",
            ),
        ),
        (
            "creative",
            r(
                r"(?i)\b(?:poem|poetry|story|stories|short story|novel|speech|toast|song|lyrics|haiku|limerick|slogan|tagline|screenplay|script for a|character\w*|plot|fiction|fairy tale|rhyme|write a (?:funny|warm|short)|best-man|wedding|birthday card|joke\w*)\b",
            ),
        ),
    ]
});

/// The best-matching domain; `code` when the code signal is set, `general` when nothing matches.
pub fn domain(text: &str, code: bool) -> &'static str {
    if code {
        return "code";
    }
    let mut best = ("general", 0usize);
    for (name, re) in DOMAIN_LEXICON.iter() {
        let hits = re.find_iter(text).take(8).count();
        if hits > best.1 {
            best = (name, hits);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_signal() {
        assert!(is_code("```python\nprint(1)\n```"));
        assert!(is_code("What does `git rebase -i HEAD~3` actually do?"));
        assert!(is_code(
            "Write a Python function that validates an IBAN, with unit tests."
        ));
        assert!(is_code(
            "Traceback (most recent call last):\n  File \"app.py\""
        ));
        assert!(!is_code("Write a poem about the sea at dawn."));
        assert!(!is_code(
            "Our python escaped from its terrarium, what should we do?"
        ));
        assert!(!is_code("How do I ask my landlord to return my deposit?"));
        assert!(!is_code(
            "How do I get rust off my bike chain without damaging it?"
        ));
        assert!(is_code(
            "Add type hints to this function:\n\ndef area(r):\n    return 3.14 * r * r"
        ));
    }

    #[test]
    fn complexity_bands() {
        assert_eq!(
            complexity("What is the capital of Estonia?", false).0,
            Complexity::Low
        );
        let long = "Design a multi-region, fault-tolerant event ingestion architecture for 2M events/s. \
            Compare Kafka and Pulsar, explain the trade-offs for exactly-once delivery, describe the \
            migration plan from our current RabbitMQ setup step by step, and list the edge cases \
            around consumer rebalancing, back-pressure and schema evolution. ".repeat(2);
        assert_eq!(complexity(&long, false).0, Complexity::High);
    }

    #[test]
    fn domains() {
        assert_eq!(domain("Solve the equation 3x + 5 = 20", false), "math");
        assert_eq!(
            domain(
                "Can my landlord keep the deposit under this lease clause?",
                false
            ),
            "legal"
        );
        assert_eq!(
            domain("Write a short poem for my grandmother's birthday", false),
            "creative"
        );
        assert_eq!(
            domain("What is the VAT on this invoice of 120 EUR?", false),
            "finance"
        );
        assert_eq!(
            domain("What are the side effects of this medication dose?", false),
            "medical"
        );
        assert_eq!(domain("anything", true), "code");
        assert_eq!(domain("Tell me about your day", false), "general");
    }
}
