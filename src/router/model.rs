//! The learned part of the routing signals: a linear model over hashed character n-grams, hashed
//! word unigrams/bigrams and structural features, with 12 outputs (the code logit, three
//! complexity logits, eight domain logits). Trained offline by `benches/train_router.py`, shipped
//! as `model.bin` inside the binary; inference is deterministic, allocation-light and needs no
//! network. The feature extraction computes exactly what the Python script defines, and
//! `testdata/parity.json` (written by that script) pins the two together. It is written for speed
//! (byte tables for ASCII, hashes advanced for all n-gram starts at once, one pass for most
//! structural counts); `model/reference.rs` keeps the line-for-line transcription of the script,
//! and a randomised test holds the two equal bit for bit.

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

mod dense;
#[cfg(test)]
mod reference;

pub use dense::dense_features;

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
        self.char_grams(norm, |bucket, start, end| {
            visit(false, bucket, &norm[start..end])
        });
        self.word_grams(norm, |bucket, start, end| {
            visit(true, bucket, &norm[start..end])
        });
    }

    /// Character n-grams of normalised text, by start and then length, as
    /// `visit(bucket, start, end)` (byte offsets): one FNV pass per start, extended to the
    /// longest length. Characters are 1-4 bytes, their length read off the lead byte; starts
    /// too close to the end for the shortest n-gram visit nothing.
    fn char_grams(&self, norm: &str, mut visit: impl FnMut(u32, usize, usize)) {
        let b = norm.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let (mut h, mut end) = (fnv(FNV_OFFSET, b"c"), i);
            for n in 1..=self.char_hi {
                if end == b.len() {
                    break;
                }
                let next = end + utf8_width(b[end]);
                h = fnv(h, &b[end..next]);
                end = next;
                if self.char_n & (1 << n) != 0 {
                    visit(h & self.mask, i, end);
                }
            }
            i += utf8_width(b[i]);
        }
    }

    /// The buckets of every character n-gram of normalised text, in no particular order (all a
    /// sum needs): the FNV steps of `char_grams`, taken one character at a time for all starts
    /// at once, in loops that vectorise. ASCII text hashes its bytes; other text first packs
    /// each character's UTF-8 bytes into a `u32`.
    fn char_buckets(&self, norm: &str, out: &mut Vec<u32>) {
        if norm.is_ascii() {
            self.char_buckets_of(norm.as_bytes(), fnv_byte, out);
        } else {
            let packed: Vec<u32> = norm.chars().map(pack_utf8).collect();
            self.char_buckets_of(&packed, fnv_packed, out);
        }
    }

    fn char_buckets_of<C: Copy>(&self, chars: &[C], step: fn(u32, C) -> u32, out: &mut Vec<u32>) {
        // hashes[i] is the hash of the n-gram starting at character i after step n; only starts
        // with room for the shortest n-gram are kept.
        let starts = (chars.len() + 1).saturating_sub(self.char_lo);
        let mut hashes = vec![fnv(FNV_OFFSET, b"c"); starts];
        for n in 1..=self.char_hi {
            // The starts with n characters left.
            let live = (chars.len() + 1).saturating_sub(n).min(starts);
            if live == 0 {
                break;
            }
            for (h, &c) in hashes[..live].iter_mut().zip(&chars[n - 1..]) {
                *h = step(*h, c);
            }
            if self.char_n & (1 << n) != 0 {
                out.extend(hashes[..live].iter().map(|h| h & self.mask));
            }
        }
    }

    /// Word unigrams and bigrams of normalised text, in text order, as
    /// `visit(bucket, start, end)`; a bigram spans both words.
    fn word_grams(&self, norm: &str, mut visit: impl FnMut(u32, usize, usize)) {
        let b = norm.as_bytes();
        let (unigram, bigram) = (fnv(FNV_OFFSET, b"w"), fnv(FNV_OFFSET, b"b"));
        // The previous word's start, and the hash of "b" + that word + " ", which its bigram
        // with the next word continues.
        let mut prev: Option<(usize, u32)> = None;
        for (start, end) in word_spans(norm) {
            // One pass over the word for its three hashes: its unigram, its bigram with the
            // previous word, and the start of its bigram with the next one.
            let after_prev = prev.map_or(bigram, |(_, h)| h);
            let (uni, bi, next) = b[start..end]
                .iter()
                .fold((unigram, after_prev, bigram), |(u, p, n), &c| {
                    (fnv_byte(u, c), fnv_byte(p, c), fnv_byte(n, c))
                });
            visit(uni & self.mask, start, end);
            if let Some((prev_start, _)) = prev {
                visit(bi & self.mask, prev_start, end);
            }
            prev = Some((start, fnv_byte(next, b' ')));
        }
    }

    /// The 12 logits for already capped text.
    pub fn logits(&self, text: &str) -> Logits {
        let norm = normalise(text);
        // Bucket indices first, rows after: the hashing does not wait on the table's cache
        // misses, and the summing loop has nothing else to do but load and add.
        let mut buckets = Vec::with_capacity(2 * norm.len());
        self.char_buckets(&norm, &mut buckets);
        let (sc, nc) = (self.sum_rows(&buckets), buckets.len() as u32);
        buckets.clear();
        self.word_grams(&norm, |bucket, _, _| buckets.push(bucket));
        let (sw, nw) = (self.sum_rows(&buckets), buckets.len() as u32);
        // Each word has a unigram and each after the first a bigram: nw = 2 * words - 1.
        let n_words = nw.div_ceil(2) as usize;
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

    /// The sum of the rows of `buckets`, exact in integers: blocks of up to 256 rows in 16-bit
    /// lanes (twice as many per vector as 32-bit ones; 256 * ±128 still fits), widened into
    /// the 32-bit total between blocks.
    fn sum_rows(&self, buckets: &[u32]) -> [i32; 16] {
        let mut total = [0i32; 16];
        for block in buckets.chunks(256) {
            for (t, a) in total.iter_mut().zip(self.sum_block(block)) {
                *t += a as i32;
            }
        }
        total
    }

    /// Kept out of line: inlined next to the widening, the loop is vectorised in 4-byte pieces
    /// instead of 8-byte ones.
    #[inline(never)]
    fn sum_block(&self, block: &[u32]) -> [i16; 16] {
        // A table of exactly mask + 1 rows: masked indices need no bounds checks.
        let table = &self.table[..=self.mask as usize];
        let mut acc = [0i16; 16];
        for &bucket in block {
            for (a, &w) in acc.iter_mut().zip(&table[(bucket & self.mask) as usize]) {
                *a += w as i16;
            }
        }
        acc
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

fn fnv_byte(h: u32, b: u8) -> u32 {
    (h ^ b as u32).wrapping_mul(0x0100_0193)
}

fn fnv(h: u32, bytes: &[u8]) -> u32 {
    bytes.iter().fold(h, |h, &b| fnv_byte(h, b))
}

/// A character's UTF-8 bytes, first byte lowest.
fn pack_utf8(c: char) -> u32 {
    let mut b = [0u8; 4];
    c.encode_utf8(&mut b);
    u32::from_le_bytes(b)
}

/// `fnv` over the bytes of a character packed by `pack_utf8`. Continuation bytes are never 0,
/// so the bytes left over once the rest is 0 are padding.
fn fnv_packed(h: u32, packed: u32) -> u32 {
    let mut h = fnv_byte(h, packed as u8);
    let mut rest = packed >> 8;
    while rest != 0 {
        h = fnv_byte(h, rest as u8);
        rest >>= 8;
    }
    h
}

/// Length of a UTF-8 sequence from its lead byte (the text is a `str`, so it is well formed).
fn utf8_width(lead: u8) -> usize {
    match lead {
        0..=0x7f => 1,
        0x80..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// Whitespace as the training script defines it (Python's `isspace` and Rust's
/// `is_whitespace` disagree on a few control characters, so neither is used).
pub(crate) const fn is_ws(c: char) -> bool {
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
    match TWO_BYTE.word.get(c as usize) {
        Some(&word) => word,
        None => c.is_alphanumeric() || c == '_',
    }
}

/// The characters below U+0800 (ASCII, and of two UTF-8 bytes: Latin with accents, Greek,
/// Cyrillic, Armenian, Hebrew, Arabic), with what `is_word` and `normalise` make of them,
/// computed once from the std functions they stand for: those search Unicode tables, which
/// was most of the cost of a Greek prompt.
struct TwoByte {
    word: [bool; 0x800],
    /// What `normalise` writes for the character when that is one character; '\0' when it is
    /// whitespace, nothing, or more than one character (the general path decides).
    fold: [char; 0x800],
}

static TWO_BYTE: Lazy<Box<TwoByte>> = Lazy::new(|| {
    let mut t = Box::new(TwoByte {
        word: [false; 0x800],
        fold: ['\0'; 0x800],
    });
    for c in (0..0x800).filter_map(char::from_u32) {
        t.word[c as usize] = c.is_alphanumeric() || c == '_';
        let mut lower = c.to_lowercase();
        if let (Some(l), None, false) = (lower.next(), lower.next(), is_ws(c)) {
            if !('\u{300}'..='\u{36f}').contains(&l) {
                t.fold[c as usize] = if l == 'ς' { 'σ' } else { l };
            }
        }
    }
    t
});

/// A table over the bytes, built at compile time from an expression in `$b` for the ASCII
/// ones (0 for the others), so that byte loops agree with the character definitions by
/// construction. 256 entries: indexing by any byte needs no bounds check.
macro_rules! ascii_table {
    (|$b:ident| $e:expr) => {{
        let mut t = [0u8; 256];
        let mut i = 0;
        while i < 128 {
            let $b = i as u8;
            t[i] = $e;
            i += 1;
        }
        t
    }};
}

/// What `normalise` writes for an ASCII byte: whitespace as ' ', a digit as '0', a letter in
/// lower case, anything else as itself.
const ASCII_FOLD: [u8; 256] = ascii_table!(|b| {
    if is_ws(b as char) {
        b' '
    } else if b.is_ascii_digit() {
        b'0'
    } else {
        b.to_ascii_lowercase()
    }
});

/// 1 for the ASCII whitespace bytes (`is_ws`).
const ASCII_WS: [u8; 256] = ascii_table!(|b| is_ws(b as char) as u8);

/// Per byte, for word tokens: an ASCII word character (`is_word`: letter, digit, '_'), other
/// ASCII, or a byte of a longer character, which has to be decoded to tell.
const WORD: u8 = 1;
const NOT_WORD: u8 = 0;
const DECODE: u8 = 2;
const WORD_BYTES: [u8; 256] = {
    let mut t = ascii_table!(|b| if b.is_ascii_alphanumeric() || b == b'_' {
        WORD
    } else {
        NOT_WORD
    });
    let mut i = 128;
    while i < 256 {
        t[i] = DECODE;
        i += 1;
    }
    t
};

/// The character starting at byte `i` of `s` (a character boundary).
fn char_at(s: &str, i: usize) -> char {
    s[i..].chars().next().unwrap_or(' ')
}

/// Whether the character starting at byte `i` of `s` is whitespace; the end of `s` counts too.
pub(crate) fn ws_or_end_at(s: &str, i: usize) -> bool {
    match s.as_bytes().get(i) {
        None => true,
        Some(&b) if b < 0x80 => ASCII_WS[b as usize] != 0,
        Some(_) => is_ws(char_at(s, i)),
    }
}

/// Lower case, ASCII digits to '0', combining accents dropped, final sigma to sigma, whitespace
/// runs to one space, padded with one space on each side.
pub(crate) fn normalise(text: &str) -> String {
    if text.is_ascii() {
        return normalise_ascii(text.as_bytes());
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    let mut last_space = true;
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // ASCII by table, everything else by character.
        if b[i] < 0x80 {
            let c = ASCII_FOLD[b[i] as usize];
            if c != b' ' {
                out.push(c as char);
            } else if !last_space {
                out.push(' ');
            }
            last_space = c == b' ';
            i += 1;
            continue;
        }
        let c = char_at(text, i);
        i += c.len_utf8();
        if let Some(&f) = TWO_BYTE.fold.get(c as usize).filter(|&&f| f != '\0') {
            out.push(f);
            last_space = false;
            continue;
        }
        if is_ws(c) {
            if !last_space {
                out.push(' ');
                last_space = true;
            }
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

/// `normalise` for ASCII text, without branches: every byte's folded form is written, and the
/// write position only advances past a space if the previous byte written was not one.
fn normalise_ascii(text: &[u8]) -> String {
    let mut out = vec![b' '; text.len() + 2];
    let (mut n, mut last_space) = (1, true);
    for &b in text {
        let c = ASCII_FOLD[b as usize];
        let space = c == b' ';
        out[n] = c;
        n += (!space || !last_space) as usize;
        last_space = space;
    }
    if !last_space {
        n += 1;
    }
    out.truncate(n);
    String::from_utf8(out).expect("ASCII in, ASCII out")
}

/// Byte spans of the word tokens (maximal runs of alphanumerics and '_') of a string. ASCII
/// bytes are classified by table; only the characters of other scripts are decoded.
pub(crate) fn word_spans(s: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    WordSpans { s, at: 0 }
}

struct WordSpans<'a> {
    s: &'a str,
    at: usize,
}

impl Iterator for WordSpans<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let (s, b) = (self.s, self.s.as_bytes());
        // A local position: the loops stay in registers.
        let mut i = self.at;
        let start = loop {
            i += run_of(&b[i..], NOT_WORD);
            match b.get(i).map(|&x| WORD_BYTES[x as usize]) {
                None => {
                    self.at = i;
                    return None;
                }
                Some(WORD) => break i,
                _ => {}
            }
            let c = char_at(s, i);
            if is_word(c) {
                break i;
            }
            i += c.len_utf8();
        };
        loop {
            i += run_of(&b[i..], WORD);
            if b.get(i).is_none_or(|&x| WORD_BYTES[x as usize] == NOT_WORD) {
                break;
            }
            let c = char_at(s, i);
            if !is_word(c) {
                break;
            }
            i += c.len_utf8();
        }
        self.at = i;
        Some((start, i))
    }
}

/// How many bytes at the start of `b` are of `class` (in `WORD_BYTES`).
fn run_of(b: &[u8], class: u8) -> usize {
    b.iter()
        .position(|&x| WORD_BYTES[x as usize] != class)
        .unwrap_or(b.len())
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
