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
/// bytes rarely lead far into it, so this costs about one table lookup per word); the few terms
/// that may start inside a word (compounds) go through a small Aho-Corasick DFA. One automaton
/// over all the terms (~1,500 when measured, ~5,000 now) was cache-bound at several ns per byte.
pub struct Lexicon {
    /// Root: first byte → node (0: none).
    root: Vec<u32>,
    nodes: Vec<Node>,
    /// Term entries of the trie nodes.
    entries: Vec<Entry>,
    inner: AhoCorasick,
    inner_entries: Vec<Vec<Entry>>,
}

#[derive(Default, Clone)]
struct Node {
    /// (byte, node) sorted by byte.
    children: Vec<(u8, u32)>,
    /// Range in `entries`.
    entries: (u32, u32),
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

impl Lexicon {
    fn build() -> Lexicon {
        let extra: Vec<(String, Cat, u16)> = super::secrets::TOKENS
            .iter()
            .enumerate()
            .map(|(i, t)| (t.prefix.to_lowercase(), Cat::TokenPrefix, i as u16))
            .collect();
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
        let mut root = vec![0u32; 256];
        for &(c, n) in &nodes[0].children {
            root[c as usize] = n;
        }
        // In-word terms need no overlapping matches ("straße" over "str" at the same start), so
        // the leftmost-longest search can use its prefilter.
        let inner = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&inner_patterns)
            .expect("lexicon builds");
        Lexicon {
            root,
            nodes,
            entries,
            inner,
            inner_entries,
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

impl Hits {
    /// All keyword hits in `low` (the lower-case text).
    pub fn find(low: &str) -> Hits {
        let lex = &*LEXICON;
        let mut by_cat: Vec<Vec<Hit>> = vec![Vec::new(); CATS];
        let b = low.as_bytes();
        let mut push = |e: &Entry, s: usize, end: usize| {
            if !e.end || !word_at(low, end) {
                by_cat[e.cat as usize].push(Hit {
                    start: s,
                    end,
                    aux: e.aux,
                });
            }
        };
        // Word starts: a letter or digit after a non-word character (decoded only when the
        // character before is not ASCII).
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
                let mut n = lex.root[c as usize] as usize;
                let mut j = i + 1;
                while n != 0 {
                    let node = &lex.nodes[n];
                    for e in &lex.entries[node.entries.0 as usize..node.entries.1 as usize] {
                        push(e, i, j);
                    }
                    let Some(&next) = b.get(j) else { break };
                    n = match node.children.iter().find(|(k, _)| *k == next) {
                        Some(&(_, x)) => x as usize,
                        None => 0,
                    };
                    j += 1;
                }
            }
            prev_word = is_word;
            i += 1;
        }
        for m in lex.inner.find_iter(low) {
            for e in &lex.inner_entries[m.pattern().as_usize()] {
                push(e, m.start(), m.end());
            }
        }
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

    pub fn any_in(&self, cat: Cat, from: usize, to: usize) -> bool {
        self.first_in(cat, from, to).is_some()
    }
}

/// Matches of the in-word automaton alone (profiling).
#[doc(hidden)]
pub fn inner_matches(low: &str) -> usize {
    LEXICON.inner.find_iter(low).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_and_compounds() {
        let h = Hits::find("meine tochter hat lungenkrebs. the mrin is not an mri");
        assert!(h.of(Cat::Relation).iter().any(|x| x.start == 6));
        assert!(
            h.of(Cat::Condition).iter().any(|x| x.start == 24),
            "inner *krebs"
        );
        // `mri$` needs a word end: "mrin" does not count, "mri" does.
        let mri: Vec<_> = h
            .of(Cat::Condition)
            .iter()
            .filter(|x| x.end - x.start == 3)
            .collect();
        assert_eq!(mri.len(), 1);
        // `epilep` must start a word.
        assert!(Hits::find("xepilepsy").of(Cat::Condition).is_empty());
    }
}
