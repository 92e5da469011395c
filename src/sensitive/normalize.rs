//! Normalisation before detection, so that spellings which look the same to a reader look the
//! same to the detectors: Unicode NFKC (full-width digits and letters, ligatures, compatibility
//! spaces), invisible characters removed (zero-width spaces and joiners, soft hyphens, bidi
//! controls, variation selectors), every space variant to `' '`, every dash variant to `'-'`,
//! typographic quotes to ASCII. Plus a lower-case copy aligned byte for byte with the text, which
//! the keyword automaton reads (so it needs no case-insensitive mode).
//!
//! ASCII, the common case, is copied as is: normalisation costs only where there is something
//! to normalise.

use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// What a non-ASCII character becomes after NFKC: dropped, or replaced.
fn map(c: char) -> Option<char> {
    match c {
        // Invisible: zero-width space/non-joiner/joiner, direction marks, word joiner and
        // invisible operators, bidi embeddings and isolates, BOM, soft hyphen, Mongolian vowel
        // separator, combining grapheme joiner, variation selectors, tag characters.
        '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{FEFF}'
        | '\u{00AD}'
        | '\u{180E}'
        | '\u{034F}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{E0000}'..='\u{E007F}' => None,
        '\u{00A0}'
        | '\u{1680}'
        | '\u{2000}'..='\u{200A}'
        | '\u{202F}'
        | '\u{205F}'
        | '\u{3000}' => Some(' '),
        '\u{0085}' | '\u{2028}' | '\u{2029}' => Some('\n'),
        '\u{2010}'..='\u{2015}'
        | '\u{2212}'
        | '\u{2043}'
        | '\u{FE58}'
        | '\u{FE63}'
        | '\u{FF0D}' => Some('-'),
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{00B4}' => Some('\''),
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{00AB}' | '\u{00BB}' => Some('"'),
        _ => Some(c),
    }
}

/// Latin-1 and Latin Extended-A letters that NFKC leaves alone (all but the ligatures and
/// compatibility forms Ĳ ĳ Ŀ ŀ ŉ ſ) and that `map` keeps: the common non-ASCII of the 12
/// languages, copied without a normalisation check.
fn stable_letter(c: char) -> bool {
    matches!(c, '\u{C0}'..='\u{17F}')
        && !matches!(
            c,
            '\u{D7}'
                | '\u{F7}'
                | '\u{132}'
                | '\u{133}'
                | '\u{13F}'
                | '\u{140}'
                | '\u{149}'
                | '\u{17F}'
        )
}

/// Append `s`, normalised, to `out`.
pub fn push_normalized(out: &mut String, s: &str) {
    if s.is_ascii() {
        out.push_str(s);
        return;
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let ascii_end = b[i..]
            .iter()
            .position(|c| !c.is_ascii())
            .map_or(b.len(), |p| i + p);
        out.push_str(&s[i..ascii_end]);
        i = ascii_end;
        if i == b.len() {
            break;
        }
        let end = b[i..]
            .iter()
            .position(u8::is_ascii)
            .map_or(b.len(), |p| i + p);
        let run = &s[i..end];
        if run.chars().all(stable_letter) {
            // Latin letters with diacritics (ä, ß, ø, ł, č, …): already NFKC, nothing to map.
            out.push_str(run);
        } else if is_nfkc_quick(run.chars()) == IsNormalized::Yes {
            out.extend(run.chars().filter_map(map));
        } else {
            // A combining mark composes with the character before it, which may be the ASCII
            // letter just written: normalise the two together.
            let mut tmp = String::with_capacity(run.len() + 1);
            if let Some(prev) = out.chars().next_back().filter(char::is_ascii_alphabetic) {
                out.pop();
                tmp.push(prev);
            }
            tmp.push_str(run);
            out.extend(tmp.nfkc().filter_map(map));
        }
        i = end;
    }
}

/// A lower-case copy of `text` with the same byte offsets: ASCII and every character whose
/// lower case has the same UTF-8 length are lowered, the few others (e.g. `İ`) are kept.
pub fn lower_aligned(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c < 0x80 {
            out.push(c.to_ascii_lowercase());
            i += 1;
            continue;
        }
        let ch = text[i..].chars().next().expect("on a char boundary");
        let n = ch.len_utf8();
        let mut l = ch.to_lowercase();
        match (l.next(), l.next()) {
            (Some(x), None) if x.len_utf8() == n => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(x.encode_utf8(&mut buf).as_bytes());
            }
            _ => out.extend_from_slice(&b[i..i + n]),
        }
        i += n;
    }
    String::from_utf8(out).expect("characters were copied whole")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        let mut o = String::new();
        push_normalized(&mut o, s);
        o
    }

    #[test]
    fn look_alike_spellings_become_one() {
        assert_eq!(norm("ＤＥ８９ ３７０４"), "DE89 3704");
        assert_eq!(norm("DE89\u{200B}3704\u{FEFF}0044"), "DE8937040044");
        assert_eq!(
            norm("DE89\u{00A0}3704\u{202F}0044\u{2009}0532"),
            "DE89 3704 0044 0532"
        );
        assert_eq!(
            norm("4111\u{2013}1111\u{2014}1111\u{2212}1111"),
            "4111-1111-1111-1111"
        );
        assert_eq!(norm("Stra\u{00DF}e"), "Straße");
        assert_eq!(norm("Cafe\u{0301} I\u{2019}m"), "Café I'm");
        assert_eq!(norm("pass\u{00AD}word"), "password");
        assert_eq!(norm("ﬁle"), "file");
        assert_eq!(norm("plain ascii"), "plain ascii");
    }

    #[test]
    fn lower_copy_is_aligned() {
        let t = "HAUPTSTRASSE 5, ÆRØ, İstanbul, ŻÓŁW";
        let l = lower_aligned(t);
        assert_eq!(l.len(), t.len());
        assert!(l.starts_with("hauptstrasse 5, ærø, "));
        assert!(l.ends_with("żółw"));
    }
}
