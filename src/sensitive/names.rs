//! First names from a compact multi-country lexicon (Faker's person providers for every EU/EEA
//! locale, the UK, Ireland and Switzerland; `benches/data/gen_first_names.py`), shipped as an
//! `fst` set. A name never makes text sensitive alone: it counts only next to contact, health or
//! id data (a phone number without a phone word, a diagnosis without "my").

use once_cell::sync::Lazy;

static NAMES: Lazy<fst::Set<&'static [u8]>> = Lazy::new(|| {
    fst::Set::new(&include_bytes!("data/first_names.fst")[..]).expect("the shipped fst is valid")
});

/// Is `word` (any case) a first name in the lexicon?
#[cfg(test)]
pub fn is_first_name(word: &str) -> bool {
    let low = word.to_lowercase();
    NAMES.contains(low.as_bytes())
}

#[cfg(test)]
fn floor(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Start offsets of every capitalised first name in `text`, in one pass (one lexicon lookup per
/// capitalised word).
pub fn positions(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut low = String::new();
    let mut start = None;
    let mut check = |s: usize, e: usize, low: &mut String| {
        let w = &text[s..e];
        let mut cs = w.chars();
        if cs.next().is_some_and(char::is_uppercase)
            && e - s >= 3
            && e - s <= 40
            && cs.all(char::is_lowercase)
        {
            low.clear();
            low.extend(w.chars().flat_map(char::to_lowercase));
            if NAMES.contains(low.as_bytes()) {
                out.push(s);
            }
        }
    };
    for (i, c) in text.char_indices() {
        match (c.is_alphabetic(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                check(s, i, &mut low);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        check(s, text.len(), &mut low);
    }
    out
}

/// A capitalised first name (`Anna`, `Søren`, not `anna`) in `text[from..to]`.
#[cfg(test)]
pub fn name_in(text: &str, from: usize, to: usize) -> bool {
    let (from, to) = (floor(text, from), floor(text, to));
    text[from..to].split(|c: char| !c.is_alphabetic()).any(|w| {
        let mut cs = w.chars();
        cs.next().is_some_and(char::is_uppercase)
            && w.chars().count() >= 3
            && cs.all(char::is_lowercase)
            && is_first_name(w)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_many_countries() {
        for n in [
            "Anna", "Søren", "Giulia", "Jiří", "Mette", "Oliver", "Łukasz",
        ] {
            assert!(is_first_name(n), "{n}");
        }
        for w in ["the", "Will", "may", "Straße", "diabetes", "remedios"] {
            assert!(!is_first_name(w), "{w}");
        }
        assert!(name_in("call Hannah on", 0, 14));
        assert_eq!(positions("call Hannah or Søren, not hannah"), [5, 15]);
        assert!(!name_in("call hannah on", 0, 14));
    }

    /// The shipped fst is the text list, built: regenerate with
    /// `STAV_WRITE_NAMES_FST=1 cargo test --lib sensitive::names`.
    #[test]
    fn shipped_fst_matches_the_list() {
        let list = include_str!("data/first_names.txt");
        let built = fst::Set::from_iter(list.lines().filter(|l| !l.is_empty()))
            .expect("the list is sorted and unique");
        let bytes = built.as_fst().as_bytes();
        if std::env::var_os("STAV_WRITE_NAMES_FST").is_some() {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/sensitive/data/first_names.fst"
            );
            std::fs::write(path, bytes).unwrap();
        }
        assert!(
            bytes == include_bytes!("data/first_names.fst"),
            "first_names.fst is stale: regenerate it (see above)"
        );
    }
}
