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
    /// The term as written (the automaton sees punctuation as one separator byte).
    term: String,
}

/// The automaton reads the lower-case text with every non-word byte as `SEP`, and a term that
/// must start a word is searched as `SEP` + term: so "ho" or "st" only match at word starts
/// instead of inside every other word (which made the scan slow on ordinary text).
const SEP: u8 = 0x01;

fn map_byte(c: u8) -> u8 {
    if c.is_ascii() && !c.is_ascii_alphanumeric() {
        SEP
    } else {
        c
    }
}

fn pattern_for(term: &str, inner: bool) -> Vec<u8> {
    let mut p = Vec::with_capacity(term.len() + 1);
    if !inner {
        p.push(SEP);
    }
    p.extend(term.bytes().map(map_byte));
    p
}

/// `SEP` + `low` mapped: ASCII punctuation and space, and non-ASCII characters that are not
/// letters or digits, become `SEP`; offsets are `low`'s plus one.
fn automaton_text(low: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(low.len() + 1);
    out.push(SEP);
    if low.is_ascii() {
        out.extend(low.bytes().map(map_byte));
        return out;
    }
    for c in low.chars() {
        if c.is_ascii() {
            out.push(map_byte(c as u8));
        } else if c.is_alphanumeric() {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        } else {
            out.extend(std::iter::repeat_n(SEP, c.len_utf8()));
        }
    }
    out
}

pub struct Lexicon {
    ac: AhoCorasick,
    entries: Vec<Vec<Entry>>,
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
                        term: t,
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
                term: t.clone(),
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
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut entries: Vec<Vec<Entry>> = Vec::new();
        let mut index = std::collections::HashMap::new();
        for (t, e) in terms(&extra) {
            let p = pattern_for(&t, e.inner);
            let i = *index.entry(p.clone()).or_insert_with(|| {
                patterns.push(p);
                entries.push(Vec::new());
                patterns.len() - 1
            });
            entries[i].push(e);
        }
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&patterns)
            .expect("lexicon builds");
        Lexicon { ac, entries }
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
        let auto = automaton_text(low);
        let lb = low.as_bytes();
        for m in lex.ac.find_overlapping_iter(&auto) {
            // Automaton offsets are `low`'s plus one; the leading SEP is not part of a term.
            let e = m.end() - 1;
            for en in &lex.entries[m.pattern().as_usize()] {
                // Terms that map to the same automaton pattern ("_pass", "pass") differ in length.
                let Some(s) = e.checked_sub(en.term.len()) else {
                    continue;
                };
                if lb[s..e] == *en.term.as_bytes() && (!en.end || !word_at(low, e)) {
                    by_cat[en.cat as usize].push(Hit {
                        start: s,
                        end: e,
                        aux: en.aux,
                    });
                }
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
