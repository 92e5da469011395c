//! E-mail addresses and phone numbers.
//!
//! E-mail: around each `@`, a local part and a domain (internationalised letters allowed, as
//! after NFKC). Role and machine addresses are not personal data: a role local part (`noreply@`,
//! `support@`, `info@`, ...), a no-reply domain, the reserved example domains (RFC 2606/6761), and
//! `name@2x.png`-style file names.
//!
//! Phones: `+` or `00` with a country code and a national number of that country's length count
//! alone, as do national mobile numbers with their trunk prefix (`07700 900123`, `0176 …`,
//! `06-12345678`, `06 12 34 56 78`); any other number of phone length needs a phone word
//! ("tel", "ring mig", "chiamami", ...) or a first name just before it.

use super::lexicon::Cat;
use super::numbers::{candidates, Cand, Group};
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
    let (a, b, c) = (d[1], d[2], d.get(3).copied().unwrap_or(0));
    match (a, n) {
        (7, 11) => b != 0,                         // UK 07xxx xxxxxx
        (1, 10..=12) => matches!(b, 5..=7),        // DE 015x/016x/017x
        (6, 10) => true,                           // NL 06, FR 06, AT/…
        (7, 10) => matches!(b, 0 | 2 | 3 | 5..=9), // FR 07, SE 07x, CH 07x
        (4, 9..=10) => true,                       // BE 04xx, FI 04x
        (5, 10) => b == 0,                         // FI 050
        (8, 10) => matches!(b, 3..=9),             // IE 08x
        (6, 11..=13) => matches!(b, 5..=9),        // AT 06xx
        _ => {
            let _ = c;
            false
        }
    }
}

/// Dates and times look like numbers of phone length: `03.12.2026`, `2026-12-03`.
fn date_like(c: &Cand) -> bool {
    let lens = c.lens();
    let seps = c.seps();
    (lens == [2, 2, 4] || lens == [1, 2, 4] || lens == [2, 1, 4] || lens == [1, 1, 4])
        && seps.iter().all(|&s| matches!(s, b'.' | b'/' | b'-'))
        || lens == [4, 2, 2] && seps.iter().all(|&s| matches!(s, b'-' | b'.' | b'/'))
}

const PHONE_CONTEXT_BEFORE: usize = 48;

pub fn detect_phone(doc: &Doc) -> bool {
    let text = doc.text;
    for i in memchr::memchr_iter(b'+', text.as_bytes()) {
        if plus_number(text, i).is_some_and(|d| international(&d)) {
            return true;
        }
    }
    doc.clusters.iter().any(|groups: &[Group]| {
        // The whole cluster is the candidate: a phone number is not part of a longer number.
        let first = groups[0].start;
        let start = |g: &Group| g.start == first && g.all_digits() && g.len() <= 5;
        candidates(text, groups, 6, 7..=15, start, |c| {
            if !c.all_digits() || c.n < 7 || date_like(c) {
                return false;
            }
            let d = c.digits();
            // The whole run must be the number: not a part of a longer one.
            if groups.last().is_some_and(|g| g.end != c.end) {
                return false;
            }
            if d[0] == 0 && d.get(1) == Some(&0) && international(&d[2..]) && d.len() >= 11 {
                return true;
            }
            if trunk_mobile(d) {
                return true;
            }
            if c.n > 13 {
                return false;
            }
            let from = c.start.saturating_sub(PHONE_CONTEXT_BEFORE);
            doc.hits.any_in(Cat::PhoneContext, from, c.start)
                || doc.name_in(c.start.saturating_sub(40), c.start)
        })
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
