//! E-mail addresses and phone numbers.
//!
//! E-mail: around each `@`, a local part and a domain (internationalised letters allowed, as
//! after NFKC). Role and machine addresses are not personal data: a role local part (`noreply@`,
//! `support@`, `info@`, ...), a no-reply domain, the reserved example domains (RFC 2606/6761), and
//! `name@2x.png`-style file names.
//!
//! Phones: `+` or `00` with a country code and a national number of that country's length count
//! alone, as do national mobile numbers with their trunk prefix (`07700 900123`, `0176 …`,
//! `06-12345678`, `06 12 34 56 78`), mobile ranges of the plans without one in their written
//! grouping (`612 345 678`, `333 123 4567`, `20 12 34 56`), and trunk-prefixed numbers in the
//! French/Swiss/Belgian pair groupings (`01 23 45 67 89`, `022 665 42 78`); any other number of
//! phone length needs a phone word ("tel", "ring mig", "chiamami", ... before it, or in a
//! parenthesis after it), an area code in parentheses (`(030) 1234567`) or a first name just
//! before it. A business-reference or id word closer than the phone word ("Bestellnummer",
//! "PESEL") makes it not a phone; so do amounts, dates and times.

use super::lexicon::Cat;
use super::numbers::Group;
use super::Doc;

/// Local parts of role and machine addresses (compared without `+tag`, `.` and `-`).
const ROLE_LOCAL: &[&str] = &[
    "noreply",
    "donotreply",
    "notreply",
    "mailerdaemon",
    "postmaster",
    "hostmaster",
    "webmaster",
    "abuse",
    "support",
    "info",
    "information",
    "sales",
    "privacy",
    "security",
    "contact",
    "contacts",
    "hello",
    "hi",
    "help",
    "helpdesk",
    "admin",
    "administrator",
    "office",
    "team",
    "press",
    "media",
    "jobs",
    "careers",
    "career",
    "recruiting",
    "hr",
    "billing",
    "accounts",
    "accounting",
    "invoice",
    "invoices",
    "orders",
    "order",
    "service",
    "customerservice",
    "customercare",
    "newsletter",
    "marketing",
    "notifications",
    "notification",
    "notify",
    "alerts",
    "bounce",
    "bounces",
    "feedback",
    "enquiries",
    "inquiries",
    "legal",
    "dpo",
    "gdpr",
    "datenschutz",
    "kontakt",
    "mail",
    "post",
    "empfang",
    "reception",
    "kundenservice",
    "serviceclient",
    "servicio",
    "atencion",
    "assistenza",
    "klantenservice",
    "kundeservice",
    "kundtjanst",
    "kundservice",
    "asiakaspalvelu",
    "podpora",
    "biuro",
    "sekretariat",
    "secretariat",
    "git",
    "root",
    "devnull",
    "nobody",
    "bot",
    "github",
    "dependabot",
    "renovate",
    "ci",
    "build",
    "deploy",
    "reply",
    "replies",
    "community",
    "partners",
    "partner",
    "vertrieb",
    "verkauf",
    "ventas",
    "vendite",
    "ventes",
    "kontor",
    "kancelaria",
    "redaktion",
    "redaction",
    "redazione",
    "redaccion",
    "editor",
    "editors",
];

/// Domains of machine mailboxes. (The reserved example domains are kept: people paste real
/// data with a fake domain, and test fixtures were labelled personal in our data sets.)
fn machine_domain(domain: &str) -> bool {
    let d = domain.to_ascii_lowercase();
    d.starts_with("noreply.")
        || d.starts_with("no-reply.")
        || d.ends_with(".noreply.github.com")
        || d == "users.noreply.github.com"
}

/// Top-level "domains" that are file extensions (`logo@2x.png`, `module@1.2.js`).
const FILE_EXT: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "tif", "tiff", "js", "mjs", "cjs",
    "ts", "tsx", "jsx", "css", "scss", "json", "yaml", "yml", "toml", "xml", "html", "htm", "md",
    "txt", "py", "rs", "go", "java", "kt", "rb", "php", "sh", "lock", "log", "pdf", "zip", "gz",
    "tar", "mp3", "mp4", "wav", "woff", "woff2", "ttf", "map", "vue", "swift", "scala",
];

fn local_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-' | '\'')
}

fn domain_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '.')
}

fn role_local(local: &str) -> bool {
    let base = local.split('+').next().unwrap_or(local);
    let folded: String = base
        .chars()
        .filter(|c| !matches!(c, '.' | '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect();
    ROLE_LOCAL.contains(&folded.as_str())
}

/// The address around the `@` at `at`, if it is one: (local, domain).
fn email_at(text: &str, at: usize) -> Option<(&str, &str)> {
    // Local part: back at most 64 bytes.
    let mut s = at;
    for (i, c) in text[..at].char_indices().rev() {
        if at - i > 64 || !local_char(c) {
            break;
        }
        s = i;
    }
    let local = text[s..at].trim_start_matches(['.', '\'', '-']);
    if local.is_empty() || local.ends_with('.') {
        return None;
    }
    // `scheme://user:password@host`: URL credentials (the secret detector's), not a mailbox.
    let mut from = s.saturating_sub(80);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let before = &text[from..s];
    if let Some(p) = before.rfind("://") {
        if !before[p..].contains(char::is_whitespace) {
            return None;
        }
    }
    // Domain: forward at most 253 bytes.
    let rest = &text[at + 1..];
    let mut e = 0;
    for (i, c) in rest.char_indices() {
        if i > 253 || !domain_char(c) {
            break;
        }
        e = i + c.len_utf8();
    }
    let domain = rest[..e].trim_end_matches(['.', '-']);
    let (_, tld) = domain.rsplit_once('.')?;
    let labels_ok = domain
        .split('.')
        .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    let tld_ok = tld.chars().count() >= 2
        && (tld.chars().all(char::is_alphabetic) || tld.starts_with("xn--"));
    (labels_ok && tld_ok).then_some((local, domain))
}

pub fn detect_email(doc: &Doc) -> bool {
    memchr::memchr_iter(b'@', doc.text.as_bytes()).any(|at| {
        let Some((local, domain)) = email_at(doc.text, at) else {
            return false;
        };
        let tld = domain.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
        !role_local(local) && !machine_domain(domain) && !FILE_EXT.contains(&tld.as_str())
    })
}

/// Calling code → national significant number length (min, max), EU/EEA, UK, CH and a few
/// others; codes not listed accept 7 to 12 digits.
const CALLING: &[(u32, u8, u8)] = &[
    (1, 10, 10),
    (7, 10, 10),
    (30, 10, 10),
    (31, 9, 9),
    (32, 8, 9),
    (33, 9, 9),
    (34, 9, 9),
    (36, 8, 9),
    (39, 6, 11),
    (40, 9, 9),
    (41, 9, 9),
    (43, 4, 13),
    (44, 9, 10),
    (45, 8, 8),
    (46, 7, 13),
    (47, 8, 8),
    (48, 9, 9),
    (49, 6, 13),
    (351, 9, 9),
    (352, 4, 11),
    (353, 7, 9),
    (354, 7, 9),
    (356, 8, 8),
    (357, 8, 8),
    (358, 5, 12),
    (359, 7, 9),
    (370, 8, 8),
    (371, 8, 8),
    (372, 7, 8),
    (385, 8, 9),
    (386, 8, 8),
    (420, 9, 9),
    (421, 9, 9),
    (423, 7, 9),
    (90, 10, 10),
    (380, 9, 9),
    (381, 8, 9),
    (382, 8, 8),
    (383, 8, 8),
    (387, 8, 8),
    (389, 8, 8),
    (355, 8, 9),
    (373, 8, 8),
    (375, 9, 9),
    (376, 6, 9),
    (377, 8, 9),
    (378, 6, 10),
    (61, 9, 9),
    (64, 8, 10),
    (81, 9, 10),
    (86, 11, 11),
    (91, 10, 10),
    (27, 9, 9),
    (55, 10, 11),
    (52, 10, 10),
    (971, 8, 9),
    (972, 8, 9),
];

/// Does `digits` (after the `+`) split into a known calling code and a national number of the
/// right length? `zero_trunk`: a `(0)` was written and dropped.
fn international(digits: &[u32]) -> bool {
    for cc_len in 1..=3 {
        if digits.len() <= cc_len {
            break;
        }
        let cc = digits[..cc_len].iter().fold(0, |a, &x| a * 10 + x);
        let nsn = digits.len() - cc_len;
        if let Some(&(_, lo, hi)) = CALLING.iter().find(|(c, _, _)| *c == cc) {
            return (lo as usize..=hi as usize).contains(&nsn) && digits[cc_len] != 0;
        }
    }
    (9..=15).contains(&digits.len())
}

/// A `+` number at `i`: digits with single separators, `(0)` dropped.
fn plus_number(text: &str, i: usize) -> Option<Vec<u32>> {
    let b = text.as_bytes();
    if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'+') {
        return None;
    }
    let mut j = i + 1;
    if b.get(j) == Some(&b' ') {
        j += 1;
    }
    let mut digits = Vec::new();
    let mut gap = 0;
    while j < b.len() && digits.len() <= 15 {
        let c = b[j];
        if c.is_ascii_digit() {
            digits.push((c - b'0') as u32);
            gap = 0;
        } else if b[j..].starts_with(b"(0)") {
            j += 3;
            gap = 0;
            continue;
        } else if matches!(c, b' ' | b'-' | b'.' | b'/' | b'(' | b')') && gap < 2 {
            gap += 1;
        } else {
            break;
        }
        j += 1;
    }
    // The number must not run on into letters or more digits.
    (digits.len() >= 7 && !b.get(j).is_some_and(u8::is_ascii_alphanumeric)).then_some(digits)
}

/// National mobile numbers with a trunk prefix: distinctive enough alone.
pub fn trunk_mobile(d: &[u32]) -> bool {
    let n = d.len();
    if d.first() != Some(&0) || n < 10 {
        return false;
    }
    let (a, b) = (d[1], d[2]);
    match (a, n) {
        (7, 11) => b != 0,                         // UK 07xxx xxxxxx
        (1, 10..=12) => matches!(b, 5..=7),        // DE 015x/016x/017x
        (6, 10) => true,                           // NL 06, FR 06, AT/…
        (7, 10) => matches!(b, 0 | 2 | 3 | 5..=9), // FR 07, SE 07x, CH 07x
        (4, 9..=10) => true,                       // BE 04xx, FI 04x
        (5, 10) => b == 0,                         // FI 050
        (8, 10) => matches!(b, 3..=9),             // IE 08x
        (6, 11..=13) => matches!(b, 5..=9),        // AT 06xx
        (9, 10) => matches!(b, 0 | 1 | 4),         // SK 090x/091x/094x
        _ => false,
    }
}

/// Mobile ranges of the plans without a trunk prefix, as the digits start (9 digits: ES, PL, CZ,
/// PT; 10 digits starting 3: IT; 8 digits: DK, NO).
fn plain_mobile(d: &[u32]) -> bool {
    let (a, b) = (d[0], d.get(1).copied().unwrap_or(0));
    match d.len() {
        9 => matches!(
            (a, b),
            // ES 6xx, 7[1-4]x; PL 5[0137], 6[069], 7[2389], 88; CZ 60x, 7[0-9]; PT 9[1236]
            (6, _) | (7, _) | (5, 0 | 1 | 3 | 7) | (8, 8) | (9, 1 | 2 | 3 | 6)
        ),
        10 => a == 3 && b != 0, // IT 3xx xxxxxxx
        8 => matches!(a, 2..=9),
        _ => false,
    }
}

/// How a national number (no country code) is written: lengths of its digit groups and the
/// separators between them.
struct Written<'a> {
    d: &'a [u32],
    lens: &'a [u8],
    seps: &'a [u8],
    /// The first group was in parentheses: `(030) 1234567`.
    paren: bool,
}

/// A number written the way its plan groups mobile numbers (or a trunk-prefixed number in the
/// French/Swiss/Belgian pair groupings): counts alone.
fn grouped_alone(w: &Written) -> bool {
    let (d, lens) = (w.d, w.lens);
    let n = d.len();
    if trunk_mobile(d) {
        return true;
    }
    let sep_ok = w.seps.iter().all(|&s| matches!(s, b' ' | b'-' | b'.'))
        && w.seps.windows(2).all(|x| x[0] == x[1]);
    // `01 23 45 67 89`, `022 665 42 78`, `02 751 49 48`: 0 + area, ending in pairs.
    if d[0] == 0
        && d[1] != 0
        && (9..=11).contains(&n)
        && lens.len() >= 4
        && lens[lens.len() - 2..] == [2, 2]
        && lens[0] <= 3
        && w.seps.iter().all(|&s| matches!(s, b' ' | b'.' | b'/'))
    {
        return true;
    }
    if !plain_mobile(d) || !sep_ok {
        return false;
    }
    match n {
        9 => lens == [3, 3, 3] || lens == [3, 2, 2, 2],
        10 => lens == [3, 3, 4] || lens == [3, 7] || lens == [3, 4, 3],
        8 => lens == [2, 2, 2, 2] || lens == [3, 2, 3],
        _ => false,
    }
}

/// Dates and times look like numbers of phone length: `03.12.2026`, `2026-12-03`.
fn date_like(lens: &[u8], seps: &[u8]) -> bool {
    (lens == [2, 2, 4] || lens == [1, 2, 4] || lens == [2, 1, 4] || lens == [1, 1, 4])
        && seps.iter().all(|&s| matches!(s, b'.' | b'/' | b'-'))
        || lens == [4, 2, 2] && seps.iter().all(|&s| matches!(s, b'-' | b'.' | b'/'))
}

/// A date (with a year of this or the last century, one separator) at the start of a longer
/// cluster: `07.08.2016 18:41`.
fn starts_with_date(lens: &[u8], seps: &[u8], d: &[u32]) -> bool {
    if lens.len() < 4 || seps[0] != seps[1] || !date_like(&lens[..3], &seps[..2]) {
        return false;
    }
    let year_at = if lens[0] == 4 {
        0
    } else {
        (lens[0] + lens[1]) as usize
    };
    matches!((d[year_at], d[year_at + 1]), (1, 9) | (2, 0))
}

const PHONE_CONTEXT_BEFORE: usize = 48;

/// A phone word that only says "number" (`Nummer`, `numéro`, `číslo`, `nr.`): it also stands
/// before ids and order numbers.
fn generic_number_word(low: &str) -> bool {
    ["num", "núm", "nr", "čísl"]
        .iter()
        .any(|p| low.starts_with(p))
}

/// The phone word nearest before `start` is closer than any business-reference word ("order",
/// "Rechnung", ...) or id word ("PESEL", "CPR", ...): `Some(true)`; such a word is closer, or
/// the only phone word is a generic "number": `Some(false)`; no word: `None`.
fn phone_word_before(doc: &Doc, start: usize) -> Option<bool> {
    let from = start.saturating_sub(PHONE_CONTEXT_BEFORE);
    let blocker = [Cat::NotPersonalNumber, Cat::IdContext]
        .iter()
        .filter_map(|&c| doc.hits.last_in(c, from, start))
        .map(|h| h.start)
        .max();
    let v = doc.hits.of(Cat::PhoneContext);
    let i = v.partition_point(|h| h.start < from);
    let mut generic = false;
    let mut specific = None;
    for h in v[i..].iter().take_while(|h| h.start < start) {
        if generic_number_word(&doc.low[h.start..h.end]) {
            generic = true;
        } else {
            specific = Some(h.start);
        }
    }
    match (specific, blocker) {
        (Some(p), Some(b)) => Some(p > b),
        (Some(_), None) => Some(true),
        (None, Some(_)) => Some(false),
        (None, None) => generic.then_some(true),
    }
}

/// A phone word in a parenthesis right after the number: `0351 7205104 (Festnetz)`.
fn phone_word_after(doc: &Doc, end: usize) -> bool {
    let rest = &doc.text.as_bytes()[end..];
    let open = rest.iter().take(2).position(|&c| c == b'(');
    open.is_some_and(|o| doc.hits.any_in(Cat::PhoneContext, end + o, end + o + 16))
}

/// Money or a unit right after (or a currency right before) the number.
fn amount_around(text: &str, start: usize, end: usize) -> bool {
    const UNIT: &[&str] = &[
        "€", "$", "£", "%", "eur", "euro", "euros", "usd", "gbp", "chf", "zł", "zl", "pln", "kč",
        "czk", "kr", "sek", "dkk", "nok", "km", "kg", "m", "ft", "mb", "gb", "kb",
    ];
    let after = text[end..].trim_start_matches(' ');
    let w: String = after
        .chars()
        .take_while(|c| c.is_alphabetic() || matches!(c, '€' | '$' | '£' | '%'))
        .take(6)
        .flat_map(char::to_lowercase)
        .collect();
    let before = text[..start].trim_end_matches(' ');
    UNIT.contains(&w.as_str()) || before.ends_with(['€', '$', '£'])
}

/// The digits of a cluster of digit groups, and how they were grouped; `None` for a cluster
/// that is not a run of digit groups of phone size.
fn written(text: &str, groups: &[Group], buf: &mut Vec<u32>) -> Option<(Vec<u8>, Vec<u8>)> {
    if groups.len() > 8 || !groups.iter().all(Group::all_digits) {
        return None;
    }
    let b = text.as_bytes();
    let n: usize = groups.iter().map(Group::len).sum();
    if !(7..=15).contains(&n) {
        return None;
    }
    buf.clear();
    let mut lens = Vec::with_capacity(groups.len());
    let mut seps = Vec::with_capacity(groups.len());
    for (k, g) in groups.iter().enumerate() {
        if k > 0 {
            seps.push(b[groups[k - 1].end]);
        }
        lens.push(g.len() as u8);
        buf.extend(b[g.start..g.end].iter().map(|&c| (c - b'0') as u32));
    }
    Some((lens, seps))
}

/// `(0171) ` or `(22) ` right before `start`: the area code's digits and the start of the `(`.
fn paren_prefix(text: &str, start: usize) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let mut j = start;
    while j > 0 && matches!(b[j - 1], b' ' | b'-' | b'/') && start - j < 2 {
        j -= 1;
    }
    if j == 0 || b[j - 1] != b')' {
        return None;
    }
    let close = j - 1;
    let mut s = close;
    while s > 0 && b[s - 1].is_ascii_digit() && close - s < 6 {
        s -= 1;
    }
    let len = close - s;
    (s > 0 && b[s - 1] == b'(' && (2..=5).contains(&len)).then_some((s, s - 1))
}

pub fn detect_phone(doc: &Doc) -> bool {
    let text = doc.text;
    for i in memchr::memchr_iter(b'+', text.as_bytes()) {
        if plus_number(text, i).is_some_and(|d| international(&d)) {
            return true;
        }
    }
    let mut d = Vec::with_capacity(16);
    doc.clusters.iter().any(|groups: &[Group]| {
        let Some((mut lens, mut seps)) = written(text, groups, &mut d) else {
            return false;
        };
        let mut start = groups[0].start;
        let end = groups[groups.len() - 1].end;
        let mut paren = false;
        // The area code in parentheses, a cluster of its own: `(030) 1234 5678`.
        if let Some((s, open)) = paren_prefix(text, start) {
            let area: Vec<u32> = text.as_bytes()[s..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .map(|&c| (c - b'0') as u32)
                .collect();
            if area.len() + d.len() <= 15 {
                lens.insert(0, area.len() as u8);
                seps.insert(0, b' ');
                d.splice(0..0, area);
                start = open;
                paren = true;
            }
        }
        // A date, or a date and a time: `07.08.2016 18:41`.
        let time_after = text.as_bytes().get(end) == Some(&b':');
        if date_like(&lens, &seps) || starts_with_date(&lens, &seps, &d) || time_after {
            return false;
        }
        let context = phone_word_before(doc, start);
        // Introduced as an order number, invoice or parcel reference: not a phone.
        if context == Some(false) {
            return false;
        }
        if d[0] == 0 && d.get(1) == Some(&0) && d.len() >= 11 && international(&d[2..]) {
            return true;
        }
        let w = Written {
            d: &d,
            lens: &lens,
            seps: &seps,
            paren,
        };
        let long = d.len() > 13 || d.len() < 7;
        if !long && !amount_around(text, start, end) && grouped_alone(&w) {
            return true;
        }
        if long {
            return false;
        }
        // Any other number of phone length: a phone word before it (or in a parenthesis after
        // it), a first name just before it, or an area code in parentheses with a trunk 0.
        context == Some(true)
            || phone_word_after(doc, end)
            || (w.paren && d[0] == 0 && d.len() >= 9)
            || d.len() >= 8 && doc.name_in(start.saturating_sub(40), start)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_roles() {
        let t = "mail anna.nowak@example.pl or jürgen@müller.de, not noreply@anthropic.com";
        assert_eq!(
            email_at(t, t.find('@').unwrap()),
            Some(("anna.nowak", "example.pl"))
        );
        let at2 = t.find("@m").unwrap();
        assert_eq!(email_at(t, at2), Some(("jürgen", "müller.de")));
        assert!(role_local("noreply"));
        assert!(role_local("No-Reply+x"));
        assert!(role_local("support"));
        assert!(!role_local("anna.nowak"));
        assert!(machine_domain("users.noreply.github.com"));
        assert!(!machine_domain("example.com"));
        assert!(email_at("icon@2x", 4).is_none());
    }

    #[test]
    fn international_numbers() {
        let d = |s: &str| s.chars().filter_map(|c| c.to_digit(10)).collect::<Vec<_>>();
        assert!(international(&d("49 30 1234567")));
        assert!(international(&d("44 20 7946 0958")));
        assert!(!international(&d("33 1 23")));
        assert!(!international(&d("31 6 123")));
        assert_eq!(
            plus_number("tel +44 (0)20 7946 0958", 4).map(|v| v.len()),
            Some(12)
        );
        assert!(plus_number("2+3", 1).is_none());
        assert!(trunk_mobile(&d("07911123456")));
        assert!(trunk_mobile(&d("017623456789")));
        assert!(trunk_mobile(&d("0612345678")));
        assert!(!trunk_mobile(&d("0301234567")));
    }
}
