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

#[derive(Clone, Copy)]
struct Entry {
    cat: Cat,
    aux: u16,
    /// May start inside a word.
    inner: bool,
    /// Must end at a word boundary.
    end: bool,
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
                    t,
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
        let mut patterns: Vec<String> = Vec::new();
        let mut entries: Vec<Vec<Entry>> = Vec::new();
        let mut index = std::collections::HashMap::new();
        for (t, e) in terms(&extra) {
            let i = *index.entry(t.clone()).or_insert_with(|| {
                patterns.push(t);
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
        for m in lex.ac.find_overlapping_iter(low) {
            let (s, e) = (m.start(), m.end());
            let starts_word = !word_before(low, s);
            let ends_word = !word_at(low, e);
            for en in &lex.entries[m.pattern().as_usize()] {
                if (en.inner || starts_word) && (!en.end || ends_word) {
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
