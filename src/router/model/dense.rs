//! The structural features of a prompt (`DENSE_NAMES`), from the capped raw text. Each one
//! mirrors `dense()` in `benches/train_router.py`; `reference.rs` keeps the line-by-line
//! transcription, and a randomised test holds this code equal to it.
//!
//! Nearly every feature is about ASCII characters, and in UTF-8 an ASCII byte is always a whole
//! character (every byte of a longer character is >= 0x80), so the text is mostly read as bytes:
//! counting the bytes of an ASCII character counts the character.

use super::{is_ws, word_spans, ws_or_end_at, DENSE};
use memchr::memmem;
use once_cell::sync::Lazy;

pub(super) const TRACE_MARKS: [&str; 8] = [
    "Traceback (most recent call last)",
    "panicked at ",
    "Exception in thread",
    "goroutine ",
    "Uncaught ",
    "error[E",
    "npm ERR!",
    "Caused by: ",
];
pub(super) const OPERATORS: [&str; 11] = [
    "->", "=>", "::", "&&", "||", "!=", "==", ":=", "+=", "</", "/>",
];

/// Structural features of the capped raw text (see `DENSE_NAMES`); all roughly in [0, 1].
pub fn dense_features(text: &str, n_words: usize) -> [f64; DENSE] {
    let c = CharCounts::of(text);
    let l = LineCounts::of(text);
    let n = c.chars;
    let mut f = [0.0f64; DENSE];
    f[0] = log1(n, 8.0);
    match [60, 150, 400, 1000, 2500].iter().position(|&lim| n < lim) {
        Some(i) => f[1 + i] = 1.0,
        None => f[6] = 1.0,
    }
    f[7] = log1(n_words, 6.0);
    f[8] = log1(l.lines, 4.0);
    if l.lines > 0 {
        let nl = l.lines as f64;
        f[9] = l.indented as f64 / nl;
        f[10] = l.code_ends as f64 / nl;
        f[25] = l.key_values as f64 / nl;
        f[26] = c.separated_lines as f64 / nl;
    }
    f[11] = (5.0 * c.symbols as f64 / n.max(1) as f64).min(1.0);
    f[12] = log1(c.brackets, 5.0);
    f[13] = (3.0 * c.digits as f64 / n.max(1) as f64).min(1.0);
    f[14] = log1(c.questions, 2.0);
    // Stripping both ends, as the script does, leaves the same last character as the end alone.
    f[15] = flag(text.trim_end_matches(is_ws).ends_with('?'));
    f[16] = log1(l.lists, 2.0);
    f[17] = flag(FENCE.find(text.as_bytes()).is_some());
    f[18] = flag(l.trace_line || TRACE.iter().any(|m| m.find(text.as_bytes()).is_some()));
    f[19] = log1(c.sentences, 3.0);
    f[20] = log1(c.commas, 4.0);
    f[21] = log1(c.latex, 3.0);
    // An identifier needs an '_' or an ASCII lower-case letter before an upper-case one; most
    // prompts have neither, and their words need not be looked at.
    let idents = if c.underscores > 0 || c.camel_pairs > 0 {
        identifiers(text)
    } else {
        0
    };
    f[22] = log1(idents, 3.0);
    f[23] = log1(c.calls, 3.0);
    f[24] = log1(c.equals, 3.0);
    f[27] = if c.letters > 0 {
        c.upper as f64 / c.letters as f64
    } else {
        0.0
    };
    f[28] = log1(c.operators, 3.0);
    f[29] = log1(c.backticks, 3.0);
    f[30] = log1(l.long, 2.0);
    f[31] = flag(n == 0);
    f
}

// memchr's substring search, built once: several times faster than `str::contains` here.
static FENCE: Lazy<memmem::Finder<'static>> = Lazy::new(|| memmem::Finder::new("```"));
static TRACE: Lazy<Vec<memmem::Finder<'static>>> =
    Lazy::new(|| TRACE_MARKS.iter().map(memmem::Finder::new).collect());

fn log1(x: usize, d: f64) -> f64 {
    (1.0 + x as f64).ln() / d
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Counts over the characters of the whole text, from one pass over its bytes.
#[derive(Default)]
struct CharCounts {
    chars: usize,
    symbols: usize,
    brackets: usize,
    digits: usize,
    letters: usize,
    upper: usize,
    questions: usize,
    commas: usize,
    equals: usize,
    backticks: usize,
    underscores: usize,
    /// '.', '?' or '!' before whitespace or the end.
    sentences: usize,
    /// '\' before an ASCII letter.
    latex: usize,
    /// '(' after an ASCII alphanumeric or '_'.
    calls: usize,
    /// An ASCII lower-case letter before an upper-case one.
    camel_pairs: usize,
    /// `OPERATORS`, each counted as `str::matches` counts it.
    operators: usize,
    /// Lines with two or more of ',', ';', tab and '|' followed by something other than
    /// whitespace (CSV, TSV, tables). A line feature, but it needs every separator, and this
    /// pass stops at each one anyway.
    separated_lines: usize,
}

/// Where the byte pass stops: a byte that starts or ends a feature of two characters
/// (`PAIR`), or starts one of `OPERATORS` (`OPERATOR`); non-ASCII bytes never do.
const PAIR: u8 = 1;
const OPERATOR: u8 = 2;
const STOPS: [u8; 256] = {
    let mut t = [0u8; 256];
    let pairs = b".?!\\(,;|\t\nABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut i = 0;
    while i < pairs.len() {
        t[pairs[i] as usize] = PAIR;
        i += 1;
    }
    let mut k = 0;
    while k < OPERATORS.len() {
        t[OPERATORS[k].as_bytes()[0] as usize] |= OPERATOR;
        k += 1;
    }
    t
};

/// State of the byte pass that outlives one byte.
struct Pass<'a> {
    text: &'a str,
    /// Per operator, where its next occurrence may start: `str::matches` counts "===" as one
    /// "==", never two overlapping ones.
    operator_free: [usize; OPERATORS.len()],
    line_start: usize,
    /// Separators of the current line followed by something other than whitespace.
    line_separators: usize,
}

impl CharCounts {
    fn of(text: &str) -> CharCounts {
        let b = text.as_bytes();
        let mut c = CharCounts::default();
        let mut pass = Pass {
            text,
            operator_free: [0; OPERATORS.len()],
            line_start: 0,
            line_separators: 0,
        };
        // Single characters go into a histogram of the bytes; the pass stops only at the few
        // bytes that can take part in a pair.
        let mut hist = [0u32; 256];
        for (i, &x) in b.iter().enumerate() {
            hist[x as usize] += 1;
            let stop = STOPS[x as usize];
            if stop & PAIR != 0 {
                c.pair_at(&mut pass, i);
            }
            if stop & OPERATOR != 0 {
                c.operators_at(&mut pass, i);
            }
        }
        c.end_line(&mut pass);
        let of_set = |set: &[u8]| {
            set.iter()
                .map(|&x| hist[x as usize] as usize)
                .sum::<usize>()
        };
        let of_range = |lo: u8, hi: u8| {
            let counts = &hist[lo as usize..=hi as usize];
            counts.iter().map(|&n| n as usize).sum::<usize>()
        };
        // Every character has exactly one byte that is not a continuation byte (10xxxxxx).
        c.chars = b.len() - of_range(0x80, 0xbf);
        c.symbols = of_set(b"{}[]();=<>_$#@\\|/*&^~`");
        c.brackets = of_set(b"{}[]()<>");
        c.digits = of_range(b'0', b'9');
        c.upper = of_range(b'A', b'Z');
        c.letters = c.upper + of_range(b'a', b'z');
        c.questions = of_set(b"?");
        c.commas = of_set(b",");
        c.equals = of_set(b"=");
        c.backticks = of_set(b"`");
        c.underscores = of_set(b"_");
        c
    }

    /// The pair features at the ASCII byte `i`.
    fn pair_at(&mut self, pass: &mut Pass, i: usize) {
        let b = pass.text.as_bytes();
        // A missing neighbour reads as 0x80, which, like every byte of a longer character,
        // passes none of the ASCII tests below.
        let prev = if i > 0 { b[i - 1] } else { 0x80 };
        let next = b.get(i + 1).copied().unwrap_or(0x80);
        match b[i] {
            b'.' | b'?' | b'!' => self.sentences += ws_or_end_at(pass.text, i + 1) as usize,
            b'\\' => self.latex += next.is_ascii_alphabetic() as usize,
            b'(' => self.calls += (prev.is_ascii_alphanumeric() || prev == b'_') as usize,
            b'A'..=b'Z' => self.camel_pairs += prev.is_ascii_lowercase() as usize,
            b'\n' => {
                self.end_line(pass);
                pass.line_start = i + 1;
            }
            sep @ (b',' | b';' | b'|' | b'\t') => {
                // Whatever follows a separator of the stripped line is in it too; a tab can
                // also be part of the leading whitespace, which the stripped line leaves out.
                let leading_tab = sep == b'\t'
                    && pass.text[pass.line_start..i]
                        .trim_start_matches(is_ws)
                        .is_empty();
                if !ws_or_end_at(pass.text, i + 1) && !leading_tab {
                    pass.line_separators += 1;
                }
            }
            _ => {}
        }
    }

    fn operators_at(&mut self, pass: &mut Pass, i: usize) {
        let rest = &pass.text.as_bytes()[i..];
        for (op, free) in OPERATORS.iter().zip(&mut pass.operator_free) {
            if i >= *free && rest.starts_with(op.as_bytes()) {
                self.operators += 1;
                *free = i + op.len();
            }
        }
    }

    fn end_line(&mut self, pass: &mut Pass) {
        // Two separators followed by something make the line not blank.
        self.separated_lines += (pass.line_separators >= 2) as usize;
        pass.line_separators = 0;
    }
}

/// Counts over the lines of the text that are not blank.
#[derive(Default)]
struct LineCounts {
    lines: usize,
    /// Starting with two spaces or a tab.
    indented: usize,
    code_ends: usize,
    lists: usize,
    key_values: usize,
    /// More than 160 characters.
    long: usize,
    /// A Java-style stack frame, "at ...(File.java:12)".
    trace_line: bool,
}

impl LineCounts {
    fn of(text: &str) -> LineCounts {
        let mut c = LineCounts::default();
        for l in text.split('\n') {
            let s = trim_ws(l);
            if s.is_empty() {
                continue;
            }
            c.lines += 1;
            c.indented += (l.starts_with("  ") || l.starts_with('\t')) as usize;
            c.code_ends += ends_like_code(s) as usize;
            c.lists += is_list_item(s) as usize;
            c.key_values += is_key_value(s) as usize;
            // A line has at least as many bytes as characters: count these only if it can pay.
            c.long += (s.len() > 160 && s.chars().count() > 160) as usize;
            c.trace_line |= s.starts_with("at ") && s.ends_with(')') && s.contains(':');
        }
        c
    }
}

fn trim_ws(s: &str) -> &str {
    s.trim_matches(is_ws)
}

/// A brace, or a ';' on a line with code punctuation (a Greek question ends in ';' too).
fn ends_like_code(s: &str) -> bool {
    let last = s.chars().next_back().unwrap_or(' ');
    last == '{' || last == '}' || (last == ';' && s.contains(['=', '(', ')', '{', '}', '[', ']']))
}

/// "- ", "* ", "• ", or digits followed by ". " or ") ".
fn is_list_item(s: &str) -> bool {
    if s.starts_with("- ") || s.starts_with("* ") || s.starts_with("• ") {
        return true;
    }
    let b = s.as_bytes();
    let j = b.iter().take_while(|c| c.is_ascii_digit()).count();
    j > 0 && j + 1 < b.len() && (b[j] == b'.' || b[j] == b')') && b[j + 1] == b' '
}

/// "key: value" or "key = value" (config files): an identifier, then ':' or '=' and more.
fn is_key_value(s: &str) -> bool {
    let b = s.as_bytes();
    if !(b[0].is_ascii_alphabetic() || b[0] == b'_') {
        return false;
    }
    let j = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
        .count();
    let k = j + b[j..].iter().take_while(|&&c| c == b' ').count();
    k + 1 < b.len() && (b[k] == b':' || b[k] == b'=')
}

/// Word tokens of the raw text that look like identifiers: snake_case (an '_' between other
/// characters) or camelCase (an ASCII lower-case letter before an upper-case one). Both are
/// about ASCII characters, so the tokens' bytes are enough.
fn identifiers(text: &str) -> usize {
    let b = text.as_bytes();
    word_spans(text)
        .filter(|&(start, end)| {
            let t = &b[start..end];
            let inner = match t.iter().position(|&c| c != b'_') {
                // From the first character that is not '_' to the last one (excluded).
                Some(first) => {
                    let last = t.iter().rposition(|&c| c != b'_').unwrap_or(first);
                    t[first..last].contains(&b'_')
                }
                None => false,
            };
            let camel = t
                .windows(2)
                .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
            inner || camel
        })
        .count()
}
