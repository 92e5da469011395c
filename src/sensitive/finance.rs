//! IBANs (ISO 13616: the country's length and mod 97) and payment cards (Luhn plus the issuer's
//! prefix and length), however they are grouped: spaces, double spaces, tabs, dots, dashes,
//! lower case, or split over two text blocks.

use super::ids::luhn;
use super::numbers::{candidates, iban_shaped, Cand, Group};
use super::Doc;

/// IBAN length per country (SWIFT IBAN registry).
const IBAN_LEN: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

fn iban_len(cc: &[u8]) -> Option<usize> {
    IBAN_LEN
        .iter()
        .find(|(c, _)| c.as_slice() == cc)
        .map(|&(_, n)| n)
}

/// ISO 13616 check on upper-case alphanumerics: country length, then mod 97 == 1.
pub fn iban_valid(s: &[u8]) -> bool {
    if s.len() < 4 || iban_len(&s[..2]) != Some(s.len()) || !s[2..4].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in s[4..].iter().chain(&s[..4]) {
        rem = match c {
            b'0'..=b'9' => (rem * 10 + (c - b'0') as u32) % 97,
            b'A'..=b'Z' => (rem * 100 + (c - b'A') as u32 + 10) % 97,
            _ => return false,
        };
    }
    rem == 1
}

/// Luhn plus the issuer's prefix and length (Visa, Mastercard, Amex, Diners, Discover, JCB,
/// Maestro, UnionPay), so a Luhn-valid digit run of the wrong shape is not a card.
pub fn card_valid(d: &[u32]) -> bool {
    let n = d.len();
    if n < 12 {
        return false;
    }
    let p2 = d[0] * 10 + d[1];
    let p4 = d[..4].iter().fold(0, |a, &x| a * 10 + x);
    let shape = match d[0] {
        4 => matches!(n, 13 | 16 | 19),
        5 => {
            (51..=55).contains(&p2) && n == 16
                || matches!(p2, 50 | 56..=58) && (12..=19).contains(&n)
        }
        2 => (2221..=2720).contains(&p4) && n == 16,
        3 => {
            matches!(p2, 34 | 37) && n == 15
                || matches!(p2, 30 | 36 | 38) && n == 14
                || p2 == 35 && (16..=19).contains(&n)
        }
        6 => (16..=19).contains(&n) || (12..=19).contains(&n) && matches!(p2, 63 | 67),
        _ => false,
    };
    shape && luhn(d)
}

fn iban_start(g: &Group) -> bool {
    g.len() >= 4 && g.digits >= 2 && {
        // Two letters then two digits (case-folded: `de89`, `DE89`).
        true
    }
}

fn card_start(g: &Group) -> bool {
    g.all_digits() && g.len() >= 4
}

/// The shortest IBAN (Norway's).
const IBAN_MIN: usize = 15;

pub fn detect_iban(doc: &Doc) -> bool {
    let b = doc.text.as_bytes();
    doc.clusters.iter().any(|groups| {
        let start = |g: &Group| {
            iban_start(g)
                && b[g.start].is_ascii_alphabetic()
                && b[g.start + 1].is_ascii_alphabetic()
                && b[g.start + 2].is_ascii_digit()
                && b[g.start + 3].is_ascii_digit()
        };
        candidates(doc.text, groups, 12, IBAN_MIN..=34, start, |c: &Cand| {
            iban_valid(c.chars())
        })
    })
}

pub fn detect_card(doc: &Doc) -> bool {
    doc.clusters.iter().any(|groups| {
        !iban_shaped(doc.text, groups)
            && !super::ids::business_reference(doc, groups[0].start, groups[0].end)
            && candidates(doc.text, groups, 6, 12..=19, card_start, |c: &Cand| {
                c.n >= 12 && c.all_digits() && card_valid(c.digits())
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iban_checks() {
        assert!(iban_valid(b"DE89370400440532013000"));
        assert!(iban_valid(b"NL91ABNA0417164300"));
        assert!(iban_valid(b"DK2239825979190748"));
        assert!(!iban_valid(b"DE89370400440532013001"));
        // Right check, wrong length for the country.
        assert!(!iban_valid(b"DE8937040044053201300"));
        assert!(!iban_valid(b"XX89370400440532013000"));
    }

    #[test]
    fn card_checks() {
        let d = |s: &str| s.chars().filter_map(|c| c.to_digit(10)).collect::<Vec<_>>();
        assert!(card_valid(&d("4111 1111 1111 1111")));
        assert!(card_valid(&d("5281729019619645")));
        assert!(card_valid(&d("372200332245386")));
        assert!(!card_valid(&d("4111 1111 1111 1112")));
        // Luhn-valid but no issuer has this shape.
        assert!(!card_valid(&d("1111 1111 1111 1117")));
        assert!(!card_valid(&d("4111 1111 1111 111")));
    }
}
