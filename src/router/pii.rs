//! Sensitive-data detection without NER: patterns, validated by their check digits where the
//! format has them, and by a nearby context word where a bare number would be too common.
//!
//! Only entity *kinds* leave this module; the matched text never does.

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use once_cell::sync::Lazy;
use regex::Regex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Entity {
    Email,
    Phone,
    Iban,
    Card,
    NationalId,
    Secret,
    Health,
    Address,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Email => "email",
            Entity::Phone => "phone",
            Entity::Iban => "iban",
            Entity::Card => "card",
            Entity::NationalId => "national_id",
            Entity::Secret => "secret",
            Entity::Health => "health",
            Entity::Address => "address",
        }
    }
}

fn digits(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

pub fn luhn(d: &[u32]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 {
                    y - 9
                } else {
                    y
                }
            } else {
                x
            }
        })
        .sum();
    !d.is_empty() && sum.is_multiple_of(10)
}

/// ISO 13616: move the first four characters to the end, letters to numbers, mod 97 == 1.
pub fn iban_valid(s: &str) -> bool {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&s.len()) {
        return false;
    }
    let (head, tail) = s.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Luhn plus the issuer's prefix and length (Visa, Mastercard, Amex, Diners, Discover, JCB,
/// Maestro), so a Luhn-valid digit run of the wrong shape is not a card.
fn card_valid(s: &str) -> bool {
    let d = digits(s);
    let n = d.len();
    let p2 = d
        .first()
        .map_or(0, |a| a * 10 + d.get(1).copied().unwrap_or(0));
    let p4 = d.iter().take(4).fold(0, |acc, x| acc * 10 + x);
    let shape = match d.first() {
        Some(4) => matches!(n, 13 | 16 | 19),
        Some(5) => {
            (51..=55).contains(&p2) && n == 16
                || matches!(p2, 50 | 56..=58) && (12..=19).contains(&n)
        }
        Some(2) => (2221..=2720).contains(&p4) && n == 16,
        Some(3) => {
            matches!(p2, 34 | 37) && n == 15
                || matches!(p2, 30 | 36 | 38) && n == 14
                || p2 == 35 && (16..=19).contains(&n)
        }
        Some(6) => (16..=19).contains(&n),
        _ => false,
    };
    shape && luhn(&d)
}

/// Dutch BSN: the "11-proof" with weights 9..2 and -1.
pub fn bsn_valid(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 9 {
        return false;
    }
    let sum: i64 = d
        .iter()
        .take(8)
        .enumerate()
        .map(|(i, &x)| (9 - i as i64) * x as i64)
        .sum::<i64>()
        - d[8] as i64;
    sum % 11 == 0 && sum != 0
}

/// Polish PESEL: weights 1,3,7,9 and a plausible birth date.
pub fn pesel_valid(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 11 {
        return false;
    }
    let w = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];
    let sum: u32 = d.iter().zip(w).map(|(&x, w)| x * w).sum();
    let month = (d[2] * 10 + d[3]) % 20;
    let day = d[4] * 10 + d[5];
    (10 - sum % 10) % 10 == d[10] && (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// German tax id (Steuer-IdNr): ISO 7064 MOD 11,10.
pub fn de_tax_id_valid(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 11 || d[0] == 0 {
        return false;
    }
    let mut product = 10;
    for &x in &d[..10] {
        let mut sum = (x + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    (11 - product) % 10 == d[10]
}

/// Spanish DNI (8 digits + letter) and NIE (X/Y/Z + 7 digits + letter).
pub fn es_id_valid(s: &str) -> bool {
    const LETTERS: &[u8] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let s = s.to_ascii_uppercase();
    let (num, letter) = s.split_at(s.len() - 1);
    let num = match num.as_bytes().first() {
        Some(b'X') => format!("0{}", &num[1..]),
        Some(b'Y') => format!("1{}", &num[1..]),
        Some(b'Z') => format!("2{}", &num[1..]),
        _ => num.to_string(),
    };
    num.parse::<u32>()
        .is_ok_and(|n| LETTERS[(n % 23) as usize] == letter.as_bytes()[0])
}

/// Italian codice fiscale: check character from odd/even position tables.
pub fn it_fiscal_code_valid(s: &str) -> bool {
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    let s = s.to_ascii_uppercase();
    let b = s.as_bytes();
    if b.len() != 16 {
        return false;
    }
    let mut sum = 0;
    for (i, &c) in b[..15].iter().enumerate() {
        let v = if c.is_ascii_digit() {
            (c - b'0') as usize
        } else {
            (c - b'A') as usize
        };
        sum += if i % 2 == 0 { ODD[v] } else { v as u32 };
    }
    b[15] == b'A' + (sum % 26) as u8
}

/// French NIR: 13 digits and a key of 97 − (number mod 97).
pub fn fr_nir_valid(s: &str) -> bool {
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    if d.len() != 15 {
        return false;
    }
    let (num, key) = d.split_at(13);
    match (num.parse::<u64>(), key.parse::<u64>()) {
        (Ok(n), Ok(k)) => 97 - n % 97 == k,
        _ => false,
    }
}

/// Belgian national number: 97 − (first 9 digits mod 97), with the 2000s variant.
pub fn be_nn_valid(s: &str) -> bool {
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    if d.len() != 11 {
        return false;
    }
    let (num, key) = d.split_at(9);
    let (Ok(n), Ok(k)) = (num.parse::<u64>(), key.parse::<u64>()) else {
        return false;
    };
    97 - n % 97 == k || 97 - (2_000_000_000 + n) % 97 == k
}

/// Swedish personnummer: Luhn over the last ten digits.
pub fn se_pnr_valid(s: &str) -> bool {
    let d = digits(s);
    let d = if d.len() == 12 { &d[2..] } else { &d[..] };
    d.len() == 10 && luhn(d)
}

/// Finnish HETU: mod 31 check character.
pub fn fi_hetu_valid(s: &str) -> bool {
    const CHECK: &[u8] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";
    let s = s.to_ascii_uppercase();
    if s.len() != 11 {
        return false;
    }
    let n: String = format!("{}{}", &s[..6], &s[7..10]);
    n.parse::<u64>()
        .is_ok_and(|n| CHECK[(n % 31) as usize] == s.as_bytes()[10])
}

/// Portuguese NIF: mod 11 on eight weighted digits.
pub fn pt_nif_valid(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 9 || !matches!(d[0], 1..=3 | 5 | 6 | 8 | 9) {
        return false;
    }
    let sum: u32 = d
        .iter()
        .take(8)
        .enumerate()
        .map(|(i, &x)| x * (9 - i as u32))
        .sum();
    let check = match 11 - sum % 11 {
        10 | 11 => 0,
        c => c,
    };
    check == d[8]
}

type Validator = fn(&str) -> bool;

/// A quoted literal that looks like a generated password: lower, upper, digit and symbol.
fn password_like(quoted: &str) -> bool {
    let s = quoted.trim_matches(|c| c == '\'' || c == '"');
    s.chars().any(|c| c.is_ascii_lowercase())
        && s.chars().any(|c| c.is_ascii_uppercase())
        && s.chars().any(|c| c.is_ascii_digit())
        && s.chars().any(|c| c.is_ascii_punctuation())
}

/// What must be near a match, so a pattern runs only on small windows of the text instead of
/// all of it (a whole-text regex pass per pattern costs far more than the budget).
#[derive(Clone, Copy)]
enum Trigger {
    /// A region around a numeric cluster (digits joined by single separators) of at least this
    /// many digits.
    Digits(usize),
    /// A region where an uppercase ASCII letter touches a digit (`RSSGLI88…`, `OX4 1HZ`).
    LetterDigit,
    /// An `@`.
    At,
    /// One of these literals, ASCII case-insensitive.
    Literal(&'static [&'static str]),
}

/// A pattern, its kind, its validator, and context words required within 48 bytes before.
struct Detector {
    pattern: &'static str,
    kind: Entity,
    validate: Option<Validator>,
    context: &'static [&'static str],
    trigger: Trigger,
}

const ID_CONTEXT_BSN: &[&str] = &["bsn", "burgerservice", "sofi"];
const ID_CONTEXT_DE: &[&str] = &["steuer", "idnr", "identifikationsnummer", "tax id", "tin"];
const ID_CONTEXT_PT: &[&str] = &["nif", "contribuinte", "fiscal"];
const ID_CONTEXT_US: &[&str] = &["ssn", "social security"];
const PHONE_CONTEXT: &[&str] = &[
    "call",
    "phone",
    "tel",
    "mobile",
    "cell",
    "ring",
    "whatsapp",
    "text me",
    "reach me",
    "contact",
    "number",
    "telefon",
    "handy",
    "rufnummer",
    "teléfono",
    "telefono",
    "móvil",
    "cellulare",
    "téléphone",
    "portable",
    "numer",
    "komórk",
    "nummer",
    "número",
    "telemóvel",
    "mobiel",
    "ring mig",
    "appelez",
    "chiamami",
];
const SECRET_WORDS: &[&str] = &[
    "api_key",
    "api-key",
    "apikey",
    "secret",
    "token",
    "passw",
    "contraseña",
    "mot de passe",
    "senha",
    "hasło",
    "lösenord",
    "wachtwoord",
];
/// Street words after a house number. Abbreviations carry their following character so that
/// "Please" or "still" do not wake the address pattern.
const ENGLISH_STREET_WORDS: &[&str] = &[
    " road",
    " street",
    " avenue",
    " close",
    " lane",
    " drive",
    " court",
    " place",
    " square",
    " crescent",
    " terrace",
    " gardens",
    " way ",
    " way,",
    " way.",
    " st ",
    " st,",
    " st.",
    " rd ",
    " rd,",
    " rd.",
    " ave ",
    " ave,",
    " ave.",
    " ln ",
    " ln,",
    " ln.",
    " dr ",
    " dr,",
    " dr.",
    " ct ",
    " ct,",
    " ct.",
    " pl ",
    " pl,",
    " pl.",
    " sq ",
    " sq,",
    " sq.",
];
const STREET_WORDS: &[&str] = &[
    "straße",
    "strasse",
    "str. ",
    "weg ",
    "gasse",
    "platz",
    "allee",
    "laan ",
    "straat",
    "gatan",
    "vägen",
    "rue ",
    "avenue",
    "boulevard",
    "chemin",
    "allée",
    "impasse",
    "calle ",
    "avenida",
    "plaza ",
    "via ",
    "viale ",
    "piazza",
    "corso ",
    "rua ",
    "ulica",
    "ul. ",
];

static DETECTORS: Lazy<Vec<Detector>> = Lazy::new(|| {
    use Entity::*;
    use Trigger::*;
    let d =
        |pattern, kind, validate: Option<Validator>, context: &'static [&'static str], trigger| {
            Detector {
                pattern,
                kind,
                validate,
                context,
                trigger,
            }
        };
    vec![
        d(
            r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
            Email,
            None,
            &[],
            At,
        ),
        d(
            r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
            Iban,
            Some(iban_valid),
            &[],
            Digits(10),
        ),
        d(
            r"\b\d(?:[ -]?\d){12,18}\b",
            Card,
            Some(card_valid),
            &[],
            Digits(13),
        ),
        d(
            r"\+\d{1,3}[ .-]?(?:\(0?\d{1,4}\)[ .-]?)?\d(?:[ .-]?\d){6,12}\b",
            Phone,
            None,
            &[],
            Digits(7),
        ),
        d(
            r"\b0\d{2,4}[ /.-]?\d{2,4}[ .-]?\d{2,4}(?:[ .-]?\d{2})?\b",
            Phone,
            None,
            PHONE_CONTEXT,
            Digits(7),
        ),
        d(
            r"\(\d{3}\) ?\d{3}-\d{4}\b",
            Phone,
            None,
            PHONE_CONTEXT,
            Digits(7),
        ),
        d(
            r"\b\d{9}\b",
            NationalId,
            Some(bsn_valid),
            ID_CONTEXT_BSN,
            Digits(9),
        ),
        d(
            r"\b\d{2} ?\d{3} ?\d{3} ?\d{3}\b",
            NationalId,
            Some(de_tax_id_valid),
            ID_CONTEXT_DE,
            Digits(11),
        ),
        d(
            r"\b\d{9}\b",
            NationalId,
            Some(pt_nif_valid),
            ID_CONTEXT_PT,
            Digits(9),
        ),
        d(
            r"\b\d{11}\b",
            NationalId,
            Some(pesel_valid),
            &[],
            Digits(11),
        ),
        d(
            r"(?i)\b(?:\d{8}|[XYZ]\d{7})-?[A-Z]\b",
            NationalId,
            Some(es_id_valid),
            &[],
            Digits(7),
        ),
        d(
            r"(?i)\b[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z]\b",
            NationalId,
            Some(it_fiscal_code_valid),
            &[],
            LetterDigit,
        ),
        d(
            r"\b[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}\b",
            NationalId,
            Some(fr_nir_valid),
            &[],
            Digits(13),
        ),
        d(
            r"\b\d{2}\.?\d{2}\.?\d{2}-\d{3}\.?\d{2}\b",
            NationalId,
            Some(be_nn_valid),
            &[],
            Digits(11),
        ),
        d(
            r"\b(?:\d{2})?\d{6}[-+]\d{4}\b",
            NationalId,
            Some(se_pnr_valid),
            &[],
            Digits(10),
        ),
        d(
            r"(?i)\b\d{6}[-+A]\d{3}[0-9A-Y]\b",
            NationalId,
            Some(fi_hetu_valid),
            &[],
            Digits(9),
        ),
        d(
            r"\b\d{3}-\d{2}-\d{4}\b",
            NationalId,
            None,
            ID_CONTEXT_US,
            Digits(9),
        ),
        d(
            r"\b\d{1,4}[A-Za-z]?,? (?:[A-Z][\w'-]+ ){1,3}(?:Road|Rd|Street|St|Avenue|Ave|Close|Lane|Ln|Way|Drive|Dr|Court|Ct|Place|Pl|Square|Sq|Crescent|Terrace|Gardens)\b",
            Address,
            None,
            &[],
            Literal(ENGLISH_STREET_WORDS),
        ),
        d(
            r"(?i)\b(?:\d{1,4}(?:bis|ter)?,? (?:rue|avenue|boulevard|bd|chemin|allée|impasse|place)|(?:calle|avenida|avda\.|plaza|via|viale|piazza|corso|rua|ulica|ul\.)) [\w', -]{2,40}?\d{1,5}",
            Address,
            None,
            &[],
            Literal(STREET_WORDS),
        ),
        d(
            r"\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|gasse|platz|allee|laan|straat|gatan|vägen) \d{1,4}[a-z]?\b",
            Address,
            None,
            &[],
            Literal(STREET_WORDS),
        ),
        d(
            r"\b[A-Z]{1,2}\d[A-Z\d]? \d[ABD-HJLNP-UW-Z]{2}\b",
            Address,
            None,
            &[],
            LetterDigit,
        ),
        d(
            r#"['"][^'"\s]{8,64}['"]"#,
            Secret,
            Some(password_like),
            &[],
            Literal(&[
                "pdo(",
                "connect(",
                "create_engine(",
                "login(",
                "auth(",
                "credentials(",
            ]),
        ),
        d(
            r"(?i)\b(?:broke|broken|fractured|sprained|injured|tore)\s+(?:his|her|my|their)\s+(?:leg|arm|wrist|ankle|hip|back|neck|knee|shoulder|collarbone|foot|hand|ribs?)\b",
            Health,
            None,
            &[],
            Literal(&["broke", "fractured", "sprained", "injured", "tore "]),
        ),
        d(
            r"\bAKIA[0-9A-Z]{16}\b",
            Secret,
            None,
            &[],
            Literal(&["akia"]),
        ),
        d(
            r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}|\bwhsec_[A-Za-z0-9]{20,}",
            Secret,
            None,
            &[],
            Literal(&["k_live_", "k_test_", "whsec_"]),
        ),
        d(
            r"\b\d{8,10}:AA[A-Za-z0-9_-]{30,}",
            Secret,
            None,
            &[],
            Literal(&[":aa"]),
        ),
        d(
            r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----",
            Secret,
            None,
            &[],
            Literal(&["-----begin"]),
        ),
        d(
            r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
            Secret,
            None,
            &[],
            Literal(&["eyj"]),
        ),
        d(
            r"\b(?:sk|rk|pk)-(?:[a-z]+-)?[A-Za-z0-9_-]{20,}",
            Secret,
            None,
            &[],
            Literal(&["sk-", "rk-", "pk-"]),
        ),
        d(
            r"\b(?:ghp|gho|ghs|github_pat|glpat|xox[abprs]|AIza|hm_live|hm_test)[-_][A-Za-z0-9_-]{16,}",
            Secret,
            None,
            &[],
            Literal(&[
                "ghp_",
                "gho_",
                "ghs_",
                "github_pat",
                "glpat",
                "xoxa",
                "xoxb",
                "xoxp",
                "xoxr",
                "xoxs",
                "aiza",
                "hm_live",
                "hm_test",
            ]),
        ),
        d(
            r"(?i)\bbearer [A-Za-z0-9._~+/-]{20,}",
            Secret,
            None,
            &[],
            Literal(&["bearer "]),
        ),
        d(
            r#"(?i)\b(?:api[_-]?key|secret|token|passw(?:or)?d|passwort|contraseña|mot de passe|senha|hasło|lösenord|wachtwoord)["']?\s*(?:[:=]|is|ist|es|est|é|jest|är|to)\s*["']?[^\s"',;]{6,}"#,
            Secret,
            None,
            &[],
            Literal(SECRET_WORDS),
        ),
    ]
});

static REGEXES: Lazy<Vec<Regex>> = Lazy::new(|| {
    DETECTORS
        .iter()
        .map(|d| Regex::new(d.pattern).expect("patterns compile"))
        .collect()
});

/// What a literal hit wakes: detectors, or the health check.
enum Wake {
    Detectors(Vec<usize>),
    Health,
}

/// Every literal trigger and health stem in one automaton (one pass over the text), and what
/// each wakes. Built as a DFA: the case-insensitive NFA cost several ns per byte.
static LITERALS: Lazy<(AhoCorasick, Vec<Wake>)> = Lazy::new(|| {
    let mut words: Vec<&str> = Vec::new();
    let mut wakes: Vec<Wake> = Vec::new();
    for (i, d) in DETECTORS.iter().enumerate() {
        if let Trigger::Literal(ws) = d.trigger {
            for w in ws {
                match words.iter().position(|x| x == w) {
                    Some(j) => match &mut wakes[j] {
                        Wake::Detectors(v) => v.push(i),
                        Wake::Health => unreachable!("health stems are added last"),
                    },
                    None => {
                        words.push(w);
                        wakes.push(Wake::Detectors(vec![i]));
                    }
                }
            }
        }
    }
    for stem in HEALTH_STEMS {
        words.push(stem);
        wakes.push(Wake::Health);
    }
    let ac = AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .kind(Some(AhoCorasickKind::DFA))
        .build(&words)
        .expect("literal triggers build");
    (ac, wakes)
});

/// Stems of health terms (several EU languages); a hit is confirmed by `HEALTH` in a window.
const HEALTH_STEMS: &[&str] = &[
    "diagnos",
    "prescri",
    "medicat",
    "medikament",
    "chemo",
    "hiv",
    "cancer",
    "krebs",
    "tumo",
    "diabet",
    "depressi",
    "anxiety",
    "psychiatr",
    "therap",
    "pregnan",
    "schwanger",
    "disease",
    "illness",
    "symptom",
    "surgery",
    "operation am",
    "discharge letter",
    "arztbrief",
    "patient",
    "sick leave",
    "sjukskriv",
    "zwolnieni",
    "krankschreib",
    "endocrinolog",
    "thyro",
    "hashimoto",
    "levothyrox",
    "insulin",
    "epilep",
    "adhd",
    "autis",
    "dementia",
    "alzheimer",
    "hospital",
    "krankenhaus",
    "ospedale",
    "hôpital",
    "szpital",
    "ziekenhuis",
    "malattia",
    "enfermedad",
    "maladie",
    "choroba",
    "utmattningssyndrom",
    "burnout",
    "burn-out",
    "blood pressure",
    "cholesterol",
    "allerg",
    "antidepress",
    "ssri",
    "asthma",
    "migraine",
    "mri",
    "biopsy",
];
/// Confirms a stem is a word of its own (not "therapsid" inside a longer token, say).
static HEALTH: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"(?i)\b(?:diagnos(?:is|ed|e|es|ing)|prescri\w*|medicat\w*|medikament\w*|chemo\w*|hiv|cancer|krebs|tumou?r|diabet\w*|depressi\w*|anxiety|psychiatr\w*|therap\w*|pregnan\w*|schwanger\w*|disease|illness|symptom\w*|surgery|operation am|discharge letter|arztbrief|patient\w*|sick leave|sjukskriv\w*|zwolnieni\w* lekarsk\w*|krankschreib\w*|endocrinolog\w*|thyro\w*|hashimoto|levothyrox|insulin|epilep\w*|adhd|autis\w*|dementia|alzheimer|hospital\w*|krankenhaus|ospedale|hôpital|szpital|ziekenhuis|malattia|enfermedad|maladie|choroba|utmattningssyndrom|burn-?out|blood pressure|cholesterol|allerg\w*|antidepress\w*|ssri|asthma|migraine|mri|biopsy)\b")
        .expect("health pattern compiles")
});
static PERSONAL: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"(?i)\b(?:i|my|i'm|i am|i have|i've|me|mine|our|mein\w*|ich|mi|mio|mia|mon|ma|mes|je|j'ai|mój|moja|moje|mam|jag|mitt|min|meu|minha|eu|ik|mijn|patient(?:'s)?|daughter|mother|father|aunt|uncle|wife|husband)\b")
        .expect("personal pattern compiles")
});

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// `text[start-before .. end+after]` on char boundaries, with its offset.
fn window(text: &str, start: usize, end: usize, before: usize, after: usize) -> (usize, &str) {
    let from = floor_boundary(text, start.saturating_sub(before));
    let to = ceil_boundary(text, end + after);
    (from, &text[from..to])
}

/// A context word within 48 bytes before `start`, as a word of its own ("Ticketnummer" does not
/// count as "nummer").
fn has_context(text: &str, start: usize, words: &[&str]) -> bool {
    if words.is_empty() {
        return true;
    }
    let from = floor_boundary(text, start.saturating_sub(48));
    let window = text[from..start].to_lowercase();
    words.iter().any(|w| {
        window.match_indices(w).any(|(i, _)| {
            !window[..i]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric)
        })
    })
}

struct Region {
    start: usize,
    end: usize,
    /// Longest numeric cluster inside.
    cluster: usize,
    /// An uppercase ASCII letter directly before a digit run inside.
    letter_digit: bool,
}

/// Regions around digit runs, merged when close, each with its longest numeric cluster (digits
/// joined by single ` -./` separators, as IBANs, cards, phones and ids are written): where
/// number-shaped entities can be, and how long a number they can hold.
fn digit_regions(text: &str) -> Vec<Region> {
    const MARGIN: usize = 40;
    let b = text.as_bytes();
    let mut regions: Vec<Region> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        let letter_digit = start > 0 && b[start - 1].is_ascii_uppercase();
        let mut digits = 0;
        loop {
            while i < b.len() && b[i].is_ascii_digit() {
                digits += 1;
                i += 1;
            }
            let joined = i + 1 < b.len()
                && matches!(b[i], b' ' | b'-' | b'.' | b'/')
                && b[i + 1].is_ascii_digit();
            if !joined {
                break;
            }
            i += 1;
        }
        let (s, e) = (start.saturating_sub(MARGIN), (i + MARGIN).min(b.len()));
        match regions.last_mut() {
            Some(last) if s <= last.end => {
                last.end = e;
                last.cluster = last.cluster.max(digits);
                last.letter_digit |= letter_digit;
            }
            _ => regions.push(Region {
                start: s,
                end: e,
                cluster: digits,
                letter_digit,
            }),
        }
    }
    regions
}

/// Does detector `i` match (and validate) inside `text[from..]` = `win`?
fn detect_in(text: &str, i: usize, from: usize, win: &str) -> bool {
    let det = &DETECTORS[i];
    REGEXES[i].find_iter(win).any(|m| {
        det.validate.is_none_or(|v| v(m.as_str()))
            && has_context(text, from + m.start(), det.context)
    })
}

/// The kinds of sensitive data in `text`, sorted and deduplicated.
pub fn scan(text: &str) -> Vec<Entity> {
    let mut found: Vec<Entity> = Vec::new();
    let mark = |found: &mut Vec<Entity>, k: Entity| {
        if !found.contains(&k) {
            found.push(k);
        }
    };
    for r in digit_regions(text) {
        let (from, win) = window(text, r.start, r.end, 0, 0);
        for (i, det) in DETECTORS.iter().enumerate() {
            let wanted = match det.trigger {
                Trigger::Digits(min) => r.cluster >= min,
                Trigger::LetterDigit => r.letter_digit,
                Trigger::At | Trigger::Literal(_) => false,
            };
            if wanted && !found.contains(&det.kind) && detect_in(text, i, from, win) {
                mark(&mut found, det.kind);
            }
        }
    }
    let email = (0..DETECTORS.len()).find(|&i| matches!(DETECTORS[i].trigger, Trigger::At));
    if let Some(i) = email {
        for at in memchr::memchr_iter(b'@', text.as_bytes()) {
            if found.contains(&Entity::Email) {
                break;
            }
            let (from, win) = window(text, at, at + 1, 64, 255);
            if detect_in(text, i, from, win) {
                mark(&mut found, Entity::Email);
            }
        }
    }
    let (ac, wakes) = &*LITERALS;
    for hit in ac.find_iter(text) {
        match &wakes[hit.pattern().as_usize()] {
            Wake::Detectors(ds) => {
                for &i in ds {
                    if found.contains(&DETECTORS[i].kind) {
                        continue;
                    }
                    let (from, win) = window(text, hit.start(), hit.end(), 64, 255);
                    if detect_in(text, i, from, win) {
                        mark(&mut found, DETECTORS[i].kind);
                    }
                }
            }
            // Health data is about a person: a personal marker close to the health term.
            Wake::Health if !found.contains(&Entity::Health) => {
                let (_, win) = window(text, hit.start(), hit.end(), 80, 80);
                if HEALTH.is_match(win) && PERSONAL.is_match(win) {
                    mark(&mut found, Entity::Health);
                }
            }
            Wake::Health => {}
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(t: &str) -> Vec<&'static str> {
        scan(t).into_iter().map(Entity::as_str).collect()
    }

    #[test]
    fn checksums() {
        assert!(iban_valid("DE89 3704 0044 0532 0130 00"));
        assert!(iban_valid("NL91ABNA0417164300"));
        assert!(!iban_valid("DE89 3704 0044 0532 0130 01"));
        assert!(card_valid("4111 1111 1111 1111"));
        assert!(!card_valid("4111 1111 1111 1112"));
        assert!(bsn_valid("151790309"));
        assert!(!bsn_valid("151790308"));
        assert!(pesel_valid("92072513759"));
        assert!(!pesel_valid("92072513758"));
        assert!(es_id_valid("09538836T"));
        assert!(!es_id_valid("09538836A"));
        assert!(es_id_valid("X1234567L"));
        assert!(it_fiscal_code_valid("RSSGLI88C54F205V"));
        assert!(!it_fiscal_code_valid("RSSGLI88C54F205X"));
        assert!(fr_nir_valid("2 85 07 75 112 345 11") || fr_nir_valid("1 85 05 78 006 084 36"));
        assert!(se_pnr_valid("870914-2387") || se_pnr_valid("811218-9876"));
        assert!(fi_hetu_valid("131052-308T"));
        assert!(!fi_hetu_valid("131052-308U"));
        assert!(de_tax_id_valid("86095742719"));
        assert!(!de_tax_id_valid("86095742718"));
        assert!(pt_nif_valid("123456789"));
        assert!(!pt_nif_valid("123456788"));
    }

    #[test]
    fn finds_entities_by_kind() {
        assert_eq!(kinds("write to anna.nowak@example.pl please"), ["email"]);
        assert_eq!(
            kinds("Überweisung auf DE89 3704 0044 0532 0130 00 bitte"),
            ["iban"]
        );
        assert_eq!(kinds("my Visa 4925 4486 7878 2702 is saved"), ["card"]);
        assert_eq!(kinds("Mi DNI es 09538836T"), ["national_id"]);
        assert_eq!(
            kinds("use my BSN, 151790309, as the valid case"),
            ["national_id"]
        );
        assert_eq!(kinds("call me back on 07700 900218 asap"), ["phone"]);
        assert!(kinds("Ticketnummer 098554166 is gesloten").is_empty());
        assert_eq!(kinds("ring +49 30 1234567"), ["phone"]);
        assert_eq!(kinds("key AKIAIOSFODNN7EXAMPLE leaked"), ["secret"]);
        assert_eq!(
            kinds("OPENAI_API_KEY = sk-proj-RFP9QHabcdefghijklmnop"),
            ["secret"]
        );
        assert_eq!(
            kinds("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl"),
            ["secret"]
        );
        assert_eq!(kinds("My password is Tulip!Harbor42"), ["secret"]);
        assert_eq!(kinds("I was diagnosed with diabetes last year"), ["health"]);
        assert_eq!(kinds("Tom broke his leg skiing in Andorra"), ["health"]);
        assert!(kinds("which regression diagnostics should I check for my field data?").is_empty());
        assert!(kinds(
            "Explain how these drugs reduce hospitalization in patients without diabetes."
        )
        .is_empty());
        assert_eq!(
            kinds("$pdo = new PDO('mysql:host=db;dbname=shop', 'shop_admin', 'N7#vQ2m!xLr9$Tz4');"),
            ["secret"]
        );
        assert!(kinds(
            "$pdo = new PDO('mysql:host=db-prod.eu;dbname=shop', 'shop_admin', $password);"
        )
        .is_empty());
        assert_eq!(kinds("post it to 27 Hawthorn Close, Bristol"), ["address"]);
        assert_eq!(kinds("ship to 221 Baker St, London"), ["address"]);
        assert_eq!(kinds("au 12 rue des Lilas, 69003 Lyon"), ["address"]);
        assert_eq!(kinds("Absender: Lindenstraße 14, Köln"), ["address"]);
    }

    #[test]
    fn near_misses_are_not_sensitive() {
        // Checksum-invalid numbers, bare 9-digit references, code and prose about the topics.
        for t in [
            "order reference 4417902265513381",
            "IBAN format is two letters then check digits, e.g. XX00 followed by the BBAN",
            "ticket 151790309 was closed",
            "DE89 3704 0044 0532 0130 01 is a typo",
            "def luhn(number: str) -> bool: return sum(digits) % 10 == 0",
            "Explain how diabetes affects the kidneys.",
            "version 2.14.0 released on 2025-10-02 with 1234567 downloads",
            "the token count is 4096 and the password field must be hashed",
        ] {
            assert!(scan(t).is_empty(), "{t}: {:?}", kinds(t));
        }
    }
}
