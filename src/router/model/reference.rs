//! The first, straightforward feature extraction (a line-by-line transcription of
//! `benches/train_router.py`), kept as the reference the optimised code in `model.rs` and
//! `dense.rs` is checked against: the parity fixture pins a dozen prompts to the Python script,
//! and the randomised test below pins thousands of generated strings to this code.

use super::dense::{OPERATORS, TRACE_MARKS};
use super::{fnv, inv_sqrt, is_ws, Model, DENSE, FNV_OFFSET, OUTPUTS};

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

pub(super) fn normalise(text: &str) -> String {
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

pub(super) fn word_spans(s: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
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

pub(super) fn for_each_gram(m: &Model, norm: &str, mut visit: impl FnMut(bool, u32, &str)) {
    let offsets: Vec<usize> = norm
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(norm.len()))
        .collect();
    let chars = offsets.len() - 1;
    let bytes = norm.as_bytes();
    if chars >= m.char_lo {
        for i in 0..=chars - m.char_lo {
            let mut h = fnv(FNV_OFFSET, b"c");
            for n in 1..=m.char_hi {
                if i + n > chars {
                    break;
                }
                h = fnv(h, &bytes[offsets[i + n - 1]..offsets[i + n]]);
                if m.char_n & (1 << n) != 0 {
                    visit(false, h & m.mask, &norm[offsets[i]..offsets[i + n]]);
                }
            }
        }
    }
    let mut prev: Option<(usize, usize)> = None;
    for (start, end) in word_spans(norm) {
        let w = &bytes[start..end];
        visit(
            true,
            fnv(fnv(FNV_OFFSET, b"w"), w) & m.mask,
            &norm[start..end],
        );
        if let Some((ps, pe)) = prev {
            let h = fnv(fnv(fnv(fnv(FNV_OFFSET, b"b"), &bytes[ps..pe]), b" "), w);
            visit(true, h & m.mask, &norm[ps..end]);
        }
        prev = Some((start, end));
    }
}

/// `(z, dense, n_char, n_word)` as `Model::logits` computed them.
pub(super) fn logits(m: &Model, text: &str) -> ([f64; OUTPUTS], [f64; DENSE], u32, u32) {
    let norm = normalise(text);
    let mut sc = [0i32; 16];
    let mut sw = [0i32; 16];
    let (mut nc, mut nw) = (0u32, 0u32);
    for_each_gram(m, &norm, |word, bucket, _| {
        let row = m.row(bucket);
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
        let mut v = m.bias[k] + m.scale[k] * (sc[k] as f64 * ic + sw[k] as f64 * iw);
        for (j, d) in dense.iter().enumerate() {
            v += d * m.dense[j][k];
        }
        *zk = v;
    }
    (z, dense, nc, nw)
}

fn trim_ws(s: &str) -> &str {
    s.trim_matches(is_ws)
}

fn log1(x: usize, d: f64) -> f64 {
    (1.0 + x as f64).ln() / d
}

pub(super) fn dense_features(text: &str, n_words: usize) -> [f64; DENSE] {
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
    use super::super::{shipped, word_spans as fast_word_spans};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Pieces the generated strings are made of: code, prose, several scripts, accents both
    /// composed and combining, every whitespace of `is_ws` and some near misses, digits of other
    /// scripts, and the characters each structural feature looks for.
    const PIECES: &[&str] = &[
        // Code and its punctuation.
        "def f(x):",
        "    return x_1 + 2",
        "for (i = 0; i < n; i++) {",
        "}",
        "{",
        ";",
        "x;",
        "a = b;",
        "foo(bar)",
        "_init(",
        "(",
        ")",
        "[",
        "]",
        "<",
        ">",
        "</div>",
        "<br/>",
        "->",
        "=>",
        "::",
        ":::",
        "::::",
        "&&",
        "&&&",
        "||",
        "|||",
        "!=",
        "==",
        "===",
        "====",
        ":=",
        "+=",
        "=",
        "-",
        "--",
        "->>",
        "$x",
        "#",
        "@",
        "\\",
        "\\frac",
        "\\a",
        "^",
        "~",
        "*",
        "/",
        "`",
        "``",
        "```",
        "`code`",
        "snake_case",
        "__dunder__",
        "_lead",
        "trail_",
        "camelCase",
        "HTTPServer",
        "aB",
        "x2Y",
        "__",
        "_",
        "SELECT * FROM t WHERE a = 1;",
        "Traceback (most recent call last)",
        "panicked at ",
        "error[E0382]",
        "npm ERR!",
        "Caused by: ",
        "goroutine ",
        "at com.x.Y.run(Y.java:12)",
        "at x)",
        "at a:b)",
        // Line shapes: lists, key/value, separated values.
        "- ",
        "* ",
        "• ",
        "1. ",
        "12) ",
        "3.",
        "7)",
        "name: Anna",
        "key = value",
        "k.e-y :x",
        "a,b,c",
        "1;2;3",
        "|x|y|",
        "a\tb\tc",
        ", ",
        ",\t",
        "x|\u{a0}",
        ";\u{2003}",
        // Prose and sentence ends.
        "the",
        "quick",
        "brown fox",
        "Hello",
        "WORLD",
        "Is it?",
        "Yes!",
        "No.",
        "e.g.",
        "...",
        "?",
        "!",
        ".",
        ",",
        "'",
        "\"",
        // Other scripts, accents, case mappings that change length, final sigma.
        "café",
        "naïve",
        "Crème",
        "e\u{301}",
        "A\u{300}",
        "\u{301}",
        "\u{345}",
        "\u{36f}",
        "Ελληνικά",
        "ΟΔΟΣ",
        "όδος",
        "ς",
        "Σ",
        "İstanbul",
        "ß",
        "ẞ",
        "Ǆ",
        "ǅ",
        "\u{212a}",
        "\u{2126}",
        "Привет",
        "мир",
        "日本語",
        "中文",
        "한국어",
        "עברית",
        "العربية",
        "🙂",
        "🚀x",
        "ﬁ",
        "Ａ",
        "\u{10400}",
        "ⅷ",
        // Digits: ASCII and others (numeric but not ASCII digits).
        "0",
        "42",
        "2024",
        "3.14",
        "٣",
        "²",
        "½",
        "١٢٣",
        // Whitespace of `is_ws`, and characters it leaves out.
        " ",
        "  ",
        "\t",
        "\n",
        "\n\n",
        "\r\n",
        "\u{0b}",
        "\u{0c}",
        "\u{85}",
        "\u{a0}",
        "\u{1680}",
        "\u{2000}",
        "\u{2005}",
        "\u{200a}",
        "\u{2028}",
        "\u{2029}",
        "\u{202f}",
        "\u{205f}",
        "\u{3000}",
        "\u{200b}",
        "\u{1c}",
        "\u{1f}",
        "\u{feff}",
        "\0",
    ];

    fn random_char(rng: &mut impl Rng) -> char {
        let ranges = [
            (0x20, 0x7e),
            (0x80, 0x24f),
            (0x300, 0x36f),
            (0x370, 0x3ff),
            (0x400, 0x4ff),
            (0x2000, 0x206f),
            (0x3000, 0x30ff),
            (0x1f300, 0x1f64f),
        ];
        let (lo, hi) = ranges[rng.gen_range(0..ranges.len())];
        char::from_u32(rng.gen_range(lo..=hi)).unwrap_or('?')
    }

    fn random_text(rng: &mut impl Rng) -> String {
        // A third ASCII only, where the fast paths for ASCII text apply.
        let ascii = rng.gen_bool(0.3);
        let mut s = String::new();
        // Mostly short prompts, some a few KB (lines over 160 characters, every length bucket).
        let pieces = match rng.gen_range(0..10) {
            0 => 0,
            1..=6 => rng.gen_range(1..40),
            7 | 8 => rng.gen_range(40..400),
            _ => rng.gen_range(400..700),
        };
        while s.len() < 8 * pieces {
            let piece = if rng.gen_bool(0.15) {
                random_char(rng).to_string()
            } else {
                PIECES[rng.gen_range(0..PIECES.len())].to_string()
            };
            if ascii && !piece.is_ascii() {
                continue;
            }
            s.push_str(&piece);
            if rng.gen_bool(0.4) {
                s.push(' ');
            }
        }
        s
    }

    fn spans(it: impl Iterator<Item = (usize, usize)>) -> Vec<(usize, usize)> {
        it.collect()
    }

    /// The optimised features, grams and logits equal the reference's, bit for bit, on
    /// thousands of generated strings.
    #[test]
    fn optimised_features_equal_the_reference() {
        let m = shipped();
        let mut rng = StdRng::seed_from_u64(1207);
        // Unoptimised builds take 20x longer: there, a first thousand (a few seconds); the
        // release suite (`cargo test --release`) runs five thousand.
        let cases = if cfg!(debug_assertions) { 1_000 } else { 5_000 };
        for case in 0..cases {
            let text = random_text(&mut rng);
            let ctx = format!("case {case}: {text:?}");
            let norm = super::normalise(&text);
            assert_eq!(super::super::normalise(&text), norm, "{ctx}");
            assert_eq!(
                spans(fast_word_spans(&norm)),
                spans(super::word_spans(&norm)),
                "{ctx}"
            );
            assert_eq!(
                spans(fast_word_spans(&text)),
                spans(super::word_spans(&text)),
                "{ctx}"
            );
            // Each gram as (word?, bucket, byte span in `norm`).
            let gram = |w: bool, b: u32, s: &str| {
                let start = s.as_ptr() as usize - norm.as_ptr() as usize;
                (w, b, start, start + s.len())
            };
            let mut fast = Vec::new();
            m.for_each_gram(&norm, |w, b, s| fast.push(gram(w, b, s)));
            let mut slow = Vec::new();
            super::for_each_gram(m, &norm, |w, b, s| slow.push(gram(w, b, s)));
            assert_eq!(fast, slow, "{ctx}");
            // The buckets `logits` sums, hashed for all starts at once, are the same multiset.
            let mut summed = Vec::new();
            m.char_buckets(&norm, &mut summed);
            let mut expected: Vec<u32> = slow.iter().filter(|g| !g.0).map(|g| g.1).collect();
            summed.sort_unstable();
            expected.sort_unstable();
            assert_eq!(summed, expected, "{ctx}");
            let (z, dense, nc, nw) = super::logits(m, &text);
            let l = m.logits(&text);
            assert_eq!((l.n_char, l.n_word), (nc, nw), "{ctx}");
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&l.dense), bits(&dense), "{ctx}");
            assert_eq!(bits(&l.z), bits(&z), "{ctx}");
            let words = super::word_spans(&norm).count();
            assert_eq!(
                bits(&super::super::dense_features(&text, words)),
                bits(&dense),
                "{ctx}"
            );
        }
    }

    /// Every character below U+0800 (where `normalise` and `is_word` read a table built at
    /// first use), alone and between letters.
    #[test]
    fn two_byte_characters_equal_the_reference() {
        for c in (0..0x800).filter_map(char::from_u32) {
            for text in [c.to_string(), format!("a{c}b"), format!("Ab {c}{c} 1")] {
                let norm = super::normalise(&text);
                assert_eq!(super::super::normalise(&text), norm, "{c:?}");
                assert_eq!(
                    spans(fast_word_spans(&text)),
                    spans(super::word_spans(&text)),
                    "{c:?}"
                );
            }
        }
    }
}
