//! The learned part of the routing signals: a linear model over hashed character n-grams, hashed
//! word unigrams/bigrams and structural features, with 12 outputs (the code logit, three
//! complexity logits, eight domain logits). Trained offline by `benches/train_router.py`, shipped
//! as `model.bin` inside the binary; inference is deterministic, allocation-light and needs no
//! network. The feature extraction here mirrors the Python script line for line, and
//! `testdata/parity.json` (written by that script) pins the two together.

use once_cell::sync::Lazy;
use serde::Deserialize;

/// Output layout of the model.
pub const OUTPUTS: usize = 12;
pub const CODE: usize = 0;
pub const COMPLEXITY: usize = 1;
pub const DOMAIN: usize = 4;

/// Names of the structural features, in the order the model stores their weights; the header of
/// `model.bin` must list the same names, so a reordering on one side cannot go unnoticed.
pub const DENSE_NAMES: [&str; 32] = [
    "log_chars",
    "len<60",
    "len<150",
    "len<400",
    "len<1000",
    "len<2500",
    "len>=2500",
    "log_words",
    "log_lines",
    "indented_lines",
    "code_line_ends",
    "symbol_density",
    "log_brackets",
    "digit_ratio",
    "log_question_marks",
    "ends_with_question",
    "log_list_items",
    "fence",
    "stack_trace",
    "log_sentences",
    "log_commas",
    "log_latex_commands",
    "log_identifiers",
    "log_calls",
    "log_equals",
    "key_value_lines",
    "separated_value_lines",
    "upper_ratio",
    "log_operators",
    "log_backticks",
    "log_long_lines",
    "bias_like_empty",
];
pub const DENSE: usize = DENSE_NAMES.len();
pub const FENCE: usize = 17;
pub const STACK_TRACE: usize = 18;

const TRACE_MARKS: [&str; 8] = [
    "Traceback (most recent call last)",
    "panicked at ",
    "Exception in thread",
    "goroutine ",
    "Uncaught ",
    "error[E",
    "npm ERR!",
    "Caused by: ",
];
const OPERATORS: [&str; 11] = [
    "->", "=>", "::", "&&", "||", "!=", "==", ":=", "+=", "</", "/>",
];

#[derive(Deserialize)]
struct Header {
    format: u32,
    buckets_log2: u32,
    char_n: Vec<usize>,
    outputs: usize,
    dense: Vec<String>,
    domains: Vec<String>,
    complexity: Vec<String>,
    train_rows: u64,
    train_sha256_16: String,
}

pub struct Model {
    scale: [f64; OUTPUTS],
    bias: [f64; OUTPUTS],
    dense: [[f64; OUTPUTS]; DENSE],
    /// One row per hash bucket, padded to 16 lanes so the accumulation vectorises.
    table: Vec<[i8; 16]>,
    mask: u32,
    char_lo: usize,
    char_hi: usize,
    /// Bit n set: character n-grams of length n are features.
    char_n: u32,
    /// Provenance, printed by `explain`.
    pub train_rows: u64,
    pub train_sha: String,
}

static SHIPPED: Lazy<Model> = Lazy::new(|| {
    Model::parse(include_bytes!("model.bin")).expect("the shipped router model is well formed")
});

/// The model compiled into the binary.
pub fn shipped() -> &'static Model {
    &SHIPPED
}

fn f32s(bytes: &[u8], n: usize) -> Option<(Vec<f64>, &[u8])> {
    if bytes.len() < 4 * n {
        return None;
    }
    let (head, rest) = bytes.split_at(4 * n);
    let v = head
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
        .collect();
    Some((v, rest))
}

impl Model {
    /// Layout: `STAVRTR1`, u32 header length, JSON header, f32 scale[12], f32 bias[12],
    /// f32 dense[DENSE][12], i8 table[2^buckets_log2][12] (all little-endian).
    pub fn parse(bytes: &[u8]) -> Result<Model, String> {
        let rest = bytes
            .strip_prefix(b"STAVRTR1")
            .ok_or("bad magic in model.bin")?;
        if rest.len() < 4 {
            return Err("truncated header".into());
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let rest = &rest[4..];
        if rest.len() < len {
            return Err("truncated header".into());
        }
        let h: Header = serde_json::from_slice(&rest[..len]).map_err(|e| e.to_string())?;
        let rest = &rest[len..];
        if h.format != 1 || h.outputs != OUTPUTS || !(8..=24).contains(&h.buckets_log2) {
            return Err("unsupported model format".into());
        }
        if h.dense != DENSE_NAMES {
            return Err("structural features differ from this build's".into());
        }
        if h.domains != super::signals::DOMAINS || h.complexity != ["low", "medium", "high"] {
            return Err("class labels differ from this build's".into());
        }
        if h.char_n.is_empty() || h.char_n.iter().any(|&n| !(1..=8).contains(&n)) {
            return Err("unsupported character n-gram lengths".into());
        }
        let (scale, rest) = f32s(rest, OUTPUTS).ok_or("truncated scales")?;
        let (bias, rest) = f32s(rest, OUTPUTS).ok_or("truncated biases")?;
        let (dense, rest) = f32s(rest, OUTPUTS * DENSE).ok_or("truncated dense weights")?;
        let buckets = 1usize << h.buckets_log2;
        if rest.len() != buckets * OUTPUTS {
            return Err("n-gram table has the wrong size".into());
        }
        let table = rest
            .chunks_exact(OUTPUTS)
            .map(|row| {
                let mut r = [0i8; 16];
                for (d, s) in r.iter_mut().zip(row) {
                    *d = *s as i8;
                }
                r
            })
            .collect();
        let mut m = Model {
            scale: [0.0; OUTPUTS],
            bias: [0.0; OUTPUTS],
            dense: [[0.0; OUTPUTS]; DENSE],
            table,
            mask: (buckets - 1) as u32,
            char_lo: *h.char_n.iter().min().unwrap_or(&3),
            char_hi: *h.char_n.iter().max().unwrap_or(&3),
            char_n: h.char_n.iter().fold(0, |m, &n| m | (1 << n)),
            train_rows: h.train_rows,
            train_sha: h.train_sha256_16,
        };
        m.scale.copy_from_slice(&scale);
        m.bias.copy_from_slice(&bias);
        for (j, row) in m.dense.iter_mut().enumerate() {
            row.copy_from_slice(&dense[j * OUTPUTS..(j + 1) * OUTPUTS]);
        }
        Ok(m)
    }

    /// The int8 weights of one bucket (first `OUTPUTS` lanes meaningful).
    fn row(&self, bucket: u32) -> &[i8; 16] {
        &self.table[bucket as usize]
    }

    pub fn scale(&self, k: usize) -> f64 {
        self.scale[k]
    }

    pub fn dense_weight(&self, j: usize, k: usize) -> f64 {
        self.dense[j][k]
    }

    /// Walks every n-gram feature of normalised text: `visit(is_word_group, bucket, text)`.
    /// `text` is only for explanations (a bigram is shown as the slice spanning both words).
    pub(crate) fn for_each_gram(&self, norm: &str, mut visit: impl FnMut(bool, u32, &str)) {
        // Character n-grams: one FNV pass per start, extended to the longest length.
        let offsets: Vec<usize> = norm
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(norm.len()))
            .collect();
        let chars = offsets.len() - 1;
        let bytes = norm.as_bytes();
        if chars >= self.char_lo {
            for i in 0..=chars - self.char_lo {
                let mut h = fnv(FNV_OFFSET, b"c");
                for n in 1..=self.char_hi {
                    if i + n > chars {
                        break;
                    }
                    h = fnv(h, &bytes[offsets[i + n - 1]..offsets[i + n]]);
                    if self.char_n & (1 << n) != 0 {
                        visit(false, h & self.mask, &norm[offsets[i]..offsets[i + n]]);
                    }
                }
            }
        }
        // Words: maximal runs of alphanumerics and '_'; unigrams and bigrams.
        let mut prev: Option<(usize, usize)> = None;
        for (start, end) in word_spans(norm) {
            let w = &bytes[start..end];
            visit(
                true,
                fnv(fnv(FNV_OFFSET, b"w"), w) & self.mask,
                &norm[start..end],
            );
            if let Some((ps, pe)) = prev {
                let h = fnv(fnv(fnv(fnv(FNV_OFFSET, b"b"), &bytes[ps..pe]), b" "), w);
                visit(true, h & self.mask, &norm[ps..end]);
            }
            prev = Some((start, end));
        }
    }

    /// The 12 logits for already capped text.
    pub fn logits(&self, text: &str) -> Logits {
        let norm = normalise(text);
        let mut sc = [0i32; 16];
        let mut sw = [0i32; 16];
        let (mut nc, mut nw) = (0u32, 0u32);
        self.for_each_gram(&norm, |word, bucket, _| {
            let row = self.row(bucket);
            let (acc, n) = if word {
                (&mut sw, &mut nw)
            } else {
                (&mut sc, &mut nc)
            };
            for (a, w) in acc.iter_mut().zip(row) {
                *a += *w as i32;
            }
            *n += 1;
        });
        let n_words = word_spans(&norm).count();
        let dense = dense_features(text, n_words);
        let mut z = [0.0f64; OUTPUTS];
        let (ic, iw) = (inv_sqrt(nc), inv_sqrt(nw));
        for (k, zk) in z.iter_mut().enumerate() {
            let mut v = self.bias[k] + self.scale[k] * (sc[k] as f64 * ic + sw[k] as f64 * iw);
            for (j, d) in dense.iter().enumerate() {
                v += d * self.dense[j][k];
            }
            *zk = v;
        }
        Logits {
            z,
            dense,
            n_char: nc,
            n_word: nw,
        }
    }

    /// Every distinct n-gram of already capped text with its occurrence count and int8 row,
    /// plus the group sizes (characters, words): what an explanation needs to attribute a logit.
    pub(crate) fn grams(&self, text: &str) -> (Vec<Gram>, u32, u32) {
        let norm = normalise(text);
        let mut index: std::collections::HashMap<(bool, u32), usize> = Default::default();
        let mut out: Vec<Gram> = Vec::new();
        let (mut nc, mut nw) = (0u32, 0u32);
        self.for_each_gram(&norm, |word, bucket, s| {
            *(if word { &mut nw } else { &mut nc }) += 1;
            let i = *index.entry((word, bucket)).or_insert_with(|| {
                out.push(Gram {
                    text: s.to_string(),
                    word,
                    count: 0,
                    row: *self.row(bucket),
                });
                out.len() - 1
            });
            out[i].count += 1;
        });
        (out, nc, nw)
    }
}

/// One distinct n-gram feature of a prompt.
pub(crate) struct Gram {
    pub text: String,
    pub word: bool,
    pub count: u32,
    pub row: [i8; 16],
}

/// Raw model outputs plus the structural features that fed them.
#[derive(Debug, Clone)]
pub struct Logits {
    pub z: [f64; OUTPUTS],
    pub dense: [f64; DENSE],
    pub n_char: u32,
    pub n_word: u32,
}

fn inv_sqrt(n: u32) -> f64 {
    if n == 0 {
        0.0
    } else {
        1.0 / (n as f64).sqrt()
    }
}

const FNV_OFFSET: u32 = 0x811C_9DC5;

fn fnv(mut h: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    h
}

/// Whitespace as the training script defines it (Python's `isspace` and Rust's
/// `is_whitespace` disagree on a few control characters, so neither is used).
pub(crate) fn is_ws(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t'
            | '\n'
            | '\r'
            | '\u{0b}'
            | '\u{0c}'
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Lower case, ASCII digits to '0', combining accents dropped, final sigma to sigma, whitespace
/// runs to one space, padded with one space on each side.
pub(crate) fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    let mut last_space = true;
    for c in text.chars() {
        if is_ws(c) {
            if !last_space {
                out.push(' ');
                last_space = true;
            }
            continue;
        }
        if c.is_ascii_digit() {
            out.push('0');
            last_space = false;
            continue;
        }
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            last_space = false;
            continue;
        }
        for l in c.to_lowercase() {
            if ('\u{300}'..='\u{36f}').contains(&l) {
                continue;
            }
            out.push(if l == 'ς' { 'σ' } else { l });
            last_space = false;
        }
    }
    if !last_space {
        out.push(' ');
    }
    out
}

/// Byte spans of the word tokens of a string.
fn word_spans(s: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut it = s.char_indices().peekable();
    std::iter::from_fn(move || {
        while let Some(&(_, c)) = it.peek() {
            if is_word(c) {
                break;
            }
            it.next();
        }
        let (start, _) = *it.peek()?;
        let mut end = start;
        while let Some(&(i, c)) = it.peek() {
            if !is_word(c) {
                break;
            }
            end = i + c.len_utf8();
            it.next();
        }
        Some((start, end))
    })
}

fn trim_ws(s: &str) -> &str {
    s.trim_matches(is_ws)
}

fn log1(x: usize, d: f64) -> f64 {
    (1.0 + x as f64).ln() / d
}

/// Structural features of the capped raw text (see `DENSE_NAMES`); all roughly in [0, 1].
pub fn dense_features(text: &str, n_words: usize) -> [f64; DENSE] {
    let mut f = [0.0f64; DENSE];
    let n = text.chars().count();
    f[0] = log1(n, 8.0);
    match [60, 150, 400, 1000, 2500].iter().position(|&lim| n < lim) {
        Some(i) => f[1 + i] = 1.0,
        None => f[6] = 1.0,
    }
    f[7] = log1(n_words, 6.0);
    let (mut nl, mut indented, mut code_ends, mut lists, mut kv, mut sep, mut long_lines) =
        (0usize, 0, 0, 0, 0, 0, 0);
    let mut trace_line = false;
    for l in text.split('\n') {
        let s = trim_ws(l);
        if s.is_empty() {
            continue;
        }
        nl += 1;
        if l.starts_with("  ") || l.starts_with('\t') {
            indented += 1;
        }
        let last = s.chars().next_back().unwrap_or(' ');
        if last == '{'
            || last == '}'
            || (last == ';' && s.contains(['=', '(', ')', '{', '}', '[', ']']))
        {
            code_ends += 1;
        }
        let b = s.as_bytes();
        if s.starts_with("- ") || s.starts_with("* ") || s.starts_with("• ") {
            lists += 1;
        } else {
            let j = b.iter().take_while(|c| c.is_ascii_digit()).count();
            if j > 0 && j + 1 < b.len() && (b[j] == b'.' || b[j] == b')') && b[j + 1] == b' ' {
                lists += 1;
            }
        }
        if b[0].is_ascii_alphabetic() || b[0] == b'_' {
            let j = b
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
                .count();
            let k = j + b[j..].iter().take_while(|&&c| c == b' ').count();
            if k + 1 < b.len() && (b[k] == b':' || b[k] == b'=') {
                kv += 1;
            }
        }
        let mut tight = 0;
        let mut chars = s.chars().peekable();
        while let Some(a) = chars.next() {
            if let Some(&nb) = chars.peek() {
                if matches!(a, ',' | ';' | '\t' | '|') && !is_ws(nb) {
                    tight += 1;
                }
            }
        }
        if tight >= 2 {
            sep += 1;
        }
        if s.chars().count() > 160 {
            long_lines += 1;
        }
        if s.starts_with("at ") && s.ends_with(')') && s.contains(':') {
            trace_line = true;
        }
    }
    f[8] = log1(nl, 4.0);
    if nl > 0 {
        let nl = nl as f64;
        f[9] = indented as f64 / nl;
        f[10] = code_ends as f64 / nl;
        f[25] = kv as f64 / nl;
        f[26] = sep as f64 / nl;
    }
    f[30] = log1(long_lines, 2.0);
    let (mut sym, mut brackets, mut digits, mut questions, mut sentences, mut commas) =
        (0usize, 0, 0, 0, 0, 0);
    let (mut latex, mut calls, mut equals, mut letters, mut upper, mut ticks) =
        (0usize, 0, 0, 0, 0, 0);
    let mut prev: Option<char> = None;
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        if "{}[]();=<>_$#@\\|/*&^~`".contains(c) {
            sym += 1;
        }
        if "{}[]()<>".contains(c) {
            brackets += 1;
        }
        match c {
            '0'..='9' => digits += 1,
            '?' => questions += 1,
            ',' => commas += 1,
            '=' => equals += 1,
            '`' => ticks += 1,
            _ => {}
        }
        if matches!(c, '.' | '?' | '!') && it.peek().is_none_or(|&nc| is_ws(nc)) {
            sentences += 1;
        }
        if c.is_ascii_alphabetic() {
            letters += 1;
            if c.is_ascii_uppercase() {
                upper += 1;
            }
        }
        if let Some(p) = prev {
            if p == '\\' && c.is_ascii_alphabetic() {
                latex += 1;
            }
            if c == '(' && (p.is_ascii_alphanumeric() || p == '_') {
                calls += 1;
            }
        }
        prev = Some(c);
    }
    f[11] = (5.0 * sym as f64 / n.max(1) as f64).min(1.0);
    f[12] = log1(brackets, 5.0);
    f[13] = (3.0 * digits as f64 / n.max(1) as f64).min(1.0);
    f[14] = log1(questions, 2.0);
    f[15] = if trim_ws(text).ends_with('?') {
        1.0
    } else {
        0.0
    };
    f[16] = log1(lists, 2.0);
    f[17] = if text.contains("```") { 1.0 } else { 0.0 };
    f[18] = if trace_line || TRACE_MARKS.iter().any(|m| text.contains(m)) {
        1.0
    } else {
        0.0
    };
    f[19] = log1(sentences, 3.0);
    f[20] = log1(commas, 4.0);
    f[21] = log1(latex, 3.0);
    let idents = word_spans(text)
        .map(|(s, e)| &text[s..e])
        .filter(|t| {
            let inner = t.trim_matches('_').contains('_');
            let camel = t
                .as_bytes()
                .windows(2)
                .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
            inner || camel
        })
        .count();
    f[22] = log1(idents, 3.0);
    f[23] = log1(calls, 3.0);
    f[24] = log1(equals, 3.0);
    f[27] = if letters > 0 {
        upper as f64 / letters as f64
    } else {
        0.0
    };
    f[28] = log1(
        OPERATORS.iter().map(|op| text.matches(op).count()).sum(),
        3.0,
    );
    f[29] = log1(ticks, 3.0);
    f[31] = if n == 0 { 1.0 } else { 0.0 };
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(normalise(""), " ");
        assert_eq!(normalise("  Hello\t\nWORLD 2024 "), " hello world 0000 ");
        // Final sigma folds into sigma; combining accents (decomposed input) are dropped.
        assert_eq!(normalise("ΟΔΟΣ"), " οδοσ ");
        assert_eq!(normalise("όδος"), " όδοσ ");
        assert_eq!(normalise("Cafe\u{301} İ"), " cafe i ");
        assert_eq!(normalise("a\u{a0}\u{2003}b"), " a b ");
    }

    #[test]
    fn word_tokens() {
        let s = " foo_bar, x2 (çà) ";
        let w: Vec<&str> = word_spans(s).map(|(a, b)| &s[a..b]).collect();
        assert_eq!(w, ["foo_bar", "x2", "çà"]);
    }

    #[test]
    fn grams_are_counted_per_group() {
        let m = shipped();
        let mut chars = 0;
        let mut words = Vec::new();
        m.for_each_gram(" ab cd ", |word, _, s| {
            if word {
                words.push(s.to_string());
            } else {
                chars += 1;
            }
        });
        // 7 characters: n-grams of each configured length that fit.
        let expected: usize = (1..=8)
            .filter(|n| m.char_n & (1 << n) != 0)
            .map(|n| 7usize.saturating_sub(n - 1))
            .sum();
        assert_eq!(chars, expected);
        assert_eq!(words, ["ab", "cd", "ab cd"]);
    }

    #[test]
    fn structural_features() {
        let code = "def f(x):\n    return x_1 + 2\n\nfor (i = 0; i < n; i++) {\n}\n";
        let f = dense_features(code, 10);
        assert!(f[9] > 0.0, "indented lines");
        assert!(f[10] > 0.0, "lines ending in braces");
        assert!(f[22] > 0.0, "snake_case identifier");
        assert!(f[23] > 0.0, "call syntax");
        assert_eq!(f[17], 0.0);
        let f = dense_features("```\nx\n```", 1);
        assert_eq!(f[FENCE], 1.0);
        let f = dense_features("boom\n    at com.x.Y.run(Y.java:12)", 6);
        assert_eq!(f[STACK_TRACE], 1.0);
        let f = dense_features("Plan:\n1. one\n2) two\n- three\n* four\nname: Anna", 8);
        assert!(
            (f[16] - (5.0f64).ln() / 2.0).abs() < 1e-12,
            "four list items"
        );
        assert_eq!(f[25], 1.0 / 6.0, "one key: value line");
        let f = dense_features("a,b,c\n1,2,3\nWell, yes, fine.", 9);
        assert!(
            (f[26] - 2.0 / 3.0).abs() < 1e-12,
            "two tightly separated lines"
        );
        let f = dense_features("", 0);
        assert_eq!(f[31], 1.0);
        assert_eq!(f[1], 1.0);
        // Greek questions end in ';' without brackets: not a code line ending.
        let f = dense_features("Τι είναι ο ΦΠΑ;", 4);
        assert_eq!(f[10], 0.0);
    }

    #[test]
    fn rejects_malformed_models() {
        assert!(Model::parse(b"").is_err());
        assert!(Model::parse(b"NOTAMODEL").is_err());
        let good = include_bytes!("model.bin");
        assert!(Model::parse(&good[..good.len() - 1]).is_err());
        assert!(Model::parse(&good[..100]).is_err());
        assert!(Model::parse(good).is_ok());
    }

    /// The Rust inference equals the training script's on fixed prompts (the script writes
    /// `testdata/parity.json` from the quantised weights it ships).
    #[test]
    fn parity_with_the_training_script() {
        #[derive(Deserialize)]
        struct Case {
            prompt: String,
            logits: Vec<f64>,
            dense: Vec<f64>,
            n_char: u32,
            n_word: u32,
        }
        let cases: Vec<Case> =
            serde_json::from_str(include_str!("testdata/parity.json")).expect("fixture parses");
        assert!(cases.len() >= 10);
        for c in cases {
            let l = shipped().logits(&crate::router::capped(&c.prompt));
            let p = c.prompt.chars().take(40).collect::<String>();
            assert_eq!((l.n_char, l.n_word), (c.n_char, c.n_word), "{p}");
            for (j, (a, b)) in l.dense.iter().zip(&c.dense).enumerate() {
                assert!((a - b).abs() < 1e-12, "{p}: dense {j} {a} vs {b}");
            }
            for (k, (a, b)) in l.z.iter().zip(&c.logits).enumerate() {
                assert!((a - b).abs() < 1e-9, "{p}: logit {k} {a} vs {b}");
            }
        }
    }
}
