//! Every keyword the detectors need, from the data files beside this module and the token table,
//! in one Aho-Corasick DFA run once over the lower-case text. A hit is only an anchor: the
//! detectors validate around it in a bounded window, so the scan stays linear.
//!
//! Data file syntax: `[section]` lines name the category; terms are comma-separated and lower
//! case. A term matches at the start of a word; `*` in front lets it start inside a word
//! (compounds), `$` at the end makes it end at a word boundary.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use once_cell::sync::Lazy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Cat {
    Condition,
    Care,
    FirstPerson,
    Relation,
    Framing,
    PhoneContext,
    IdContext,
    PasswordWord,
    SecretName,
    ConnectCall,
    NotPersonalNumber,
    StreetSuffix,
    StreetAfter,
    StreetBefore,
    Imprint,
    Company,
    /// A vendor token prefix; `aux` is its row in `secrets::TOKENS`.
    TokenPrefix,
}

pub const CATS: usize = Cat::TokenPrefix as usize + 1;

fn section(name: &str) -> Cat {
    match name {
        "condition" => Cat::Condition,
        "care" => Cat::Care,
        "first_person" => Cat::FirstPerson,
        "relation" => Cat::Relation,
        "framing" => Cat::Framing,
        "phone_context" => Cat::PhoneContext,
        "id_context" => Cat::IdContext,
        "password_word" => Cat::PasswordWord,
        "secret_name" => Cat::SecretName,
        "connect_call" => Cat::ConnectCall,
        "not_personal_number" => Cat::NotPersonalNumber,
        "street_suffix" => Cat::StreetSuffix,
        "street_after" => Cat::StreetAfter,
        "street_before" => Cat::StreetBefore,
        "imprint" => Cat::Imprint,
        "company" => Cat::Company,
        other => panic!("unknown lexicon section [{other}]"),
    }
}

const FILES: &[&str] = &[
    include_str!("data/health.txt"),
    include_str!("data/context.txt"),
    include_str!("data/address.txt"),
];

#[derive(Clone)]
struct Entry {
    cat: Cat,
    aux: u16,
    /// May start inside a word.
    inner: bool,
    /// Must end at a word boundary.
    end: bool,
}

/// Terms that start a word are found by walking a byte trie from each word start (a word's first
/// bytes rarely lead far into it, so this costs a few table lookups per word); the few terms
/// that may start inside a word (compounds, ~200) go through one small DFA (`Inner`). One
/// automaton over all the terms (~1,500 when measured, ~5,000 now) was cache-bound at several ns
/// per byte.
///
/// The trie is a double array: the child of node `n` on byte `c` is slot `base[n] + c` if that
/// slot's `check` names `n`, so a step is two loads and no search (a trie of child lists cost
/// ~3 ns per byte of ordinary text, searching children).
pub struct Lexicon {
    trie: DoubleArray,
    /// Term entries of the trie nodes.
    entries: Vec<Entry>,
    inner: Inner,
    inner_entries: Vec<Vec<Entry>>,
}

#[derive(Default, Clone)]
struct Node {
    /// (byte, node) sorted by byte.
    children: Vec<(u8, u32)>,
    /// Range in `entries`.
    entries: (u32, u32),
}

/// Base positions tried per node before its children are placed past the end.
const FIRST_FIT_TRIES: usize = 32;

/// A byte trie in double-array form. Slot 0 is the root; a free slot has `check == 0`.
struct DoubleArray {
    /// Per slot: `base` (where the children's slots start, minus their byte) and `check` (the
    /// parent's slot + 1).
    slots: Vec<(u32, u32)>,
    /// Per slot: its range in `Lexicon::entries` (empty for most).
    entries: Vec<(u32, u32)>,
}

impl DoubleArray {
    /// Lay out a child-list trie (node 0 the root), first fit, breadth first.
    fn build(nodes: &[Node]) -> DoubleArray {
        let mut slots: Vec<(u32, u32)> = vec![(0, 0)];
        let mut entries = vec![nodes[0].entries];
        let mut used = vec![true];
        let mut queue = std::collections::VecDeque::from([(0usize, 0usize)]);
        // Lowest slot that may still be free, to keep the first-fit search short.
        let mut low = 1usize;
        while let Some((node, slot)) = queue.pop_front() {
            let kids = &nodes[node].children;
            if kids.is_empty() {
                continue;
            }
            while used.get(low).copied().unwrap_or(false) {
                low += 1;
            }
            let first = kids[0].0 as usize;
            let free = |base: usize| {
                kids.iter()
                    .all(|&(c, _)| !used.get(base + c as usize).copied().unwrap_or(false))
            };
            // First fit from the lowest free slot, but only for a few tries: the region above it
            // is densely packed, and an unbounded search made building the ~5,000-term trie take
            // seconds (11 s in a debug build). After that the children go past the end.
            let mut base = low.saturating_sub(first).max(1);
            let mut tries = 0;
            while !free(base) {
                tries += 1;
                base = if tries < FIRST_FIT_TRIES {
                    base + 1
                } else {
                    slots.len().saturating_sub(first).max(1)
                };
            }
            let top = base + kids.last().map_or(0, |k| k.0 as usize) + 1;
            if top > slots.len() {
                slots.resize(top, (0, 0));
                entries.resize(top, (0, 0));
                used.resize(top, false);
            }
            slots[slot].0 = base as u32;
            for &(c, child) in kids {
                let t = base + c as usize;
                used[t] = true;
                slots[t].1 = slot as u32 + 1;
                entries[t] = nodes[child as usize].entries;
                queue.push_back((child as usize, t));
            }
        }
        DoubleArray { slots, entries }
    }

    /// The child of `slot` on byte `c`.
    #[inline]
    fn step(&self, slot: usize, c: u8) -> Option<usize> {
        let t = self.slots[slot].0 as usize + c as usize;
        match self.slots.get(t) {
            Some(&(_, check)) if check as usize == slot + 1 => Some(t),
            _ => None,
        }
    }
}

/// Parse the data files (plus extra `(term, cat, aux)` rows) into (term, entry) pairs.
fn terms(extra: &[(String, Cat, u16)]) -> Vec<(String, Entry)> {
    let mut out = Vec::new();
    for file in FILES {
        let mut cat = None;
        for line in file.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                cat = Some(section(name));
                continue;
            }
            let cat = cat.expect("terms come after a [section]");
            for t in line.split(',') {
                let t = t.trim();
                if t.is_empty() {
                    continue;
                }
                let inner = t.starts_with('*');
                let end = t.ends_with('$');
                let t = t
                    .trim_start_matches('*')
                    .trim_end_matches('$')
                    .to_lowercase();
                out.push((
                    t.clone(),
                    Entry {
                        cat,
                        aux: 0,
                        inner,
                        end,
                    },
                ));
            }
        }
    }
    for (t, cat, aux) in extra {
        out.push((
            t.clone(),
            Entry {
                cat: *cat,
                aux: *aux,
                inner: false,
                end: false,
            },
        ));
    }
    out
}

/// The vendor token prefixes, as extra `(term, cat, aux)` rows.
fn token_prefixes() -> Vec<(String, Cat, u16)> {
    super::secrets::TOKENS
        .iter()
        .enumerate()
        .map(|(i, t)| (t.prefix.to_lowercase(), Cat::TokenPrefix, i as u16))
        .collect()
}

impl Lexicon {
    fn build() -> Lexicon {
        let extra = token_prefixes();
        // Trie of word-start terms (entries grouped per node afterwards).
        let mut nodes: Vec<Node> = vec![Node::default()];
        let mut per_node: Vec<Vec<Entry>> = vec![Vec::new()];
        let mut inner_patterns: Vec<String> = Vec::new();
        let mut inner_entries: Vec<Vec<Entry>> = Vec::new();
        for (t, e) in terms(&extra) {
            if e.inner {
                match inner_patterns.iter().position(|p| *p == t) {
                    Some(i) => inner_entries[i].push(e),
                    None => {
                        inner_patterns.push(t);
                        inner_entries.push(vec![e]);
                    }
                }
                continue;
            }
            let mut n = 0usize;
            for &byte in t.as_bytes() {
                n = match nodes[n].children.iter().find(|(c, _)| *c == byte) {
                    Some(&(_, next)) => next as usize,
                    None => {
                        nodes.push(Node::default());
                        per_node.push(Vec::new());
                        let next = nodes.len() - 1;
                        nodes[n].children.push((byte, next as u32));
                        next
                    }
                };
            }
            per_node[n].push(e);
        }
        let mut entries = Vec::new();
        for (node, es) in nodes.iter_mut().zip(per_node) {
            node.children.sort_unstable_by_key(|c| c.0);
            let start = entries.len() as u32;
            entries.extend(es);
            node.entries = (start, entries.len() as u32);
        }
        let trie = DoubleArray::build(&nodes);
        let inner = Inner::build(&inner_patterns);
        Lexicon {
            trie,
            entries,
            inner,
            inner_entries,
        }
    }
}

/// The in-word search: one leftmost-longest DFA over every in-word pattern, a single pass whose
/// cost does not grow with the number of patterns. Teddy (`aho_corasick::packed`) was faster with
/// under a hundred patterns (0.86 ns/byte of ordinary text) but takes at most 128, and the health
/// lexicon's compounds took the set past that: two Teddy passes cost 3.2 ns/byte, the DFA 1.7.
struct Inner(AhoCorasick);

impl Inner {
    fn build(patterns: &[String]) -> Inner {
        Inner(
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .kind(Some(AhoCorasickKind::DFA))
                .build(patterns)
                .expect("lexicon builds"),
        )
    }

    /// Every match: `found(pattern, start, end)`.
    fn each(&self, hay: &str, mut found: impl FnMut(usize, usize, usize)) {
        for m in self.0.find_iter(hay) {
            found(m.pattern().as_usize(), m.start(), m.end());
        }
    }
}

pub static LEXICON: Lazy<Lexicon> = Lazy::new(Lexicon::build);

#[derive(Debug, Clone, Copy)]
pub struct Hit {
    pub start: usize,
    pub end: usize,
    pub aux: u16,
}

/// Keyword hits by category, each sorted by start.
pub struct Hits {
    by_cat: Vec<Vec<Hit>>,
}

/// Is the character before `i` (in `s`) part of a word?
pub fn word_before(s: &str, i: usize) -> bool {
    s[..i]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric())
}

/// Is the character at `i` part of a word?
pub fn word_at(s: &str, i: usize) -> bool {
    s[i..].chars().next().is_some_and(|c| c.is_alphanumeric())
}

/// Word-start terms: walks the trie from each word start (a letter or digit after a non-word
/// character; decoded only when the byte is not ASCII), calling `push(entry, start, end)`.
fn word_start_terms(low: &str, push: &mut impl FnMut(&Entry, usize, usize)) {
    let lex = &*LEXICON;
    let b = low.as_bytes();
    let mut prev_word = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let is_word = if c < 0x80 {
            c.is_ascii_alphanumeric()
        } else if c >= 0xC0 {
            low[i..].chars().next().is_some_and(char::is_alphanumeric)
        } else {
            // A continuation byte: same as the character it belongs to.
            prev_word
        };
        if is_word && !prev_word {
            let trie = &lex.trie;
            let mut at = trie.step(0, c);
            let mut j = i + 1;
            while let Some(slot) = at {
                let (e0, e1) = trie.entries[slot];
                for e in &lex.entries[e0 as usize..e1 as usize] {
                    push(e, i, j);
                }
                at = b.get(j).and_then(|&next| trie.step(slot, next));
                j += 1;
            }
        }
        prev_word = is_word;
        i += 1;
    }
}

impl Hits {
    /// All keyword hits in `low` (the lower-case text).
    pub fn find(low: &str) -> Hits {
        let lex = &*LEXICON;
        let mut by_cat: Vec<Vec<Hit>> = vec![Vec::new(); CATS];
        let mut push = |e: &Entry, s: usize, end: usize| {
            if !e.end || !word_at(low, end) {
                by_cat[e.cat as usize].push(Hit {
                    start: s,
                    end,
                    aux: e.aux,
                });
            }
        };
        word_start_terms(low, &mut push);
        lex.inner.each(low, |pattern, start, end| {
            for e in &lex.inner_entries[pattern] {
                push(e, start, end);
            }
        });
        for v in &mut by_cat {
            v.sort_by_key(|h| h.start);
        }
        Hits { by_cat }
    }

    pub fn of(&self, cat: Cat) -> &[Hit] {
        &self.by_cat[cat as usize]
    }

    /// A hit of `cat` starting within `[from, to)`.
    pub fn first_in(&self, cat: Cat, from: usize, to: usize) -> Option<Hit> {
        let v = self.of(cat);
        let i = v.partition_point(|h| h.start < from);
        v.get(i).filter(|h| h.start < to).copied()
    }

    /// The last hit of `cat` starting within `[from, to)`.
    pub fn last_in(&self, cat: Cat, from: usize, to: usize) -> Option<Hit> {
        let v = self.of(cat);
        let i = v.partition_point(|h| h.start < to);
        v[..i].last().filter(|h| h.start >= from).copied()
    }

    pub fn any_in(&self, cat: Cat, from: usize, to: usize) -> bool {
        self.first_in(cat, from, to).is_some()
    }
}

/// Word-start term matches alone (profiling).
#[doc(hidden)]
pub fn word_start_matches(low: &str) -> usize {
    let mut n = 0;
    word_start_terms(low, &mut |_, _, _| n += 1);
    n
}

/// Matches of the in-word automaton alone (profiling).
#[doc(hidden)]
pub fn inner_matches(low: &str) -> usize {
    let mut n = 0;
    LEXICON.inner.each(low, |_, _, _| n += 1);
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// Random lower-case text made of pieces of the lexicon's own terms, spaces, digits and
    /// punctuation: dense in prefixes, near misses and compounds.
    fn texts(seed: u64, n: usize) -> Vec<String> {
        let all: Vec<String> = terms(&[]).into_iter().map(|(t, _)| t).collect();
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let mut s = String::new();
                for _ in 0..rng.gen_range(1..40) {
                    match rng.gen_range(0..6) {
                        0 => s.push(' '),
                        1 => s.push_str(["-", ".", "_", "(", "1", "ß", "ü"][rng.gen_range(0..7)]),
                        _ => {
                            let t = &all[rng.gen_range(0..all.len())];
                            // A whole term or a prefix of it, cut at a character boundary.
                            let cut = t
                                .char_indices()
                                .map(|(i, _)| i)
                                .chain([t.len()])
                                .nth(rng.gen_range(1..=t.chars().count()))
                                .unwrap_or(t.len());
                            s.push_str(&t[..cut]);
                        }
                    }
                }
                s
            })
            .collect()
    }

    /// The double-array walk finds exactly the word-start terms a plain search finds: every
    /// term that the text continues with at a word start.
    #[test]
    fn word_start_walk_equals_a_plain_search() {
        let plain: Vec<(String, Cat)> = terms(&token_prefixes())
            .into_iter()
            .filter(|(_, e)| !e.inner)
            .map(|(t, e)| (t, e.cat))
            .collect();
        for text in texts(7, 3000) {
            let mut walked = Vec::new();
            word_start_terms(&text, &mut |e: &Entry, s, end| {
                walked.push((s, end, e.cat as u8))
            });
            let mut expected = Vec::new();
            for (i, c) in text.char_indices() {
                if !c.is_alphanumeric() || word_before(&text, i) {
                    continue;
                }
                for (t, cat) in &plain {
                    if text[i..].starts_with(t.as_str()) {
                        expected.push((i, i + t.len(), *cat as u8));
                    }
                }
            }
            walked.sort_unstable();
            expected.sort_unstable();
            assert_eq!(walked, expected, "{text:?}");
        }
    }

    /// The DFA's in-word matches are leftmost-longest as a plain search defines it: at each
    /// position the longest pattern that starts there, then on from its end.
    #[test]
    fn in_word_search_is_a_plain_leftmost_longest_search() {
        let patterns: Vec<String> = terms(&[])
            .into_iter()
            .filter(|(_, e)| e.inner)
            .map(|(t, _)| t)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert!(patterns.len() > 128, "more patterns than one Teddy takes");
        let inner = Inner::build(&patterns);
        let mut seen = 0;
        for text in texts(11, 3000) {
            let mut found = Vec::new();
            inner.each(&text, |p, s, e| found.push((p, s, e)));
            let mut expected = Vec::new();
            let mut i = 0;
            while i < text.len() {
                let longest = patterns
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| text.as_bytes()[i..].starts_with(p.as_bytes()))
                    .max_by_key(|(_, p)| p.len());
                match longest {
                    Some((k, p)) => {
                        expected.push((k, i, i + p.len()));
                        i += p.len();
                    }
                    None => i += 1,
                }
            }
            assert_eq!(found, expected, "{text:?}");
            seen += found.len();
        }
        assert!(seen > 1000, "the texts exercise the search: {seen} matches");
    }
}
