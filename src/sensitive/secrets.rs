//! Secrets: vendor tokens by their documented prefixes (a maintained table, as gitleaks and
//! trufflehog keep one), private keys, JWTs, bearer and basic credentials, credentials inside
//! URLs and DSNs (`postgres://user:pass@host`), secret-named assignments in config and code
//! (`DB_PASSWORD=…`, `"client_secret": "…"`), and passwords stated in prose in the 12 languages
//! ("mein Passwort lautet …", "moje hasło to …").
//!
//! Placeholders are not secrets: `sk-your-key-here`, `ghp_xxxx…`, `AKIAIOSFODNN7EXAMPLE`,
//! `${DB_PASSWORD}`, `<password>`, `os.environ["TOKEN"]`.

use super::lexicon::{word_at, word_before, Cat};
use super::Doc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `[A-Za-z0-9]`
    Alnum,
    /// `[A-Za-z0-9_-]`
    Word,
    /// `[A-Za-z0-9_-.]` (dotted tokens: SendGrid, Vault)
    Dotted,
    /// `[0-9a-f]`
    Hex,
    /// `[A-Z2-7]` (AWS key ids)
    Base32Upper,
}

impl Body {
    fn allows(self, c: u8) -> bool {
        match self {
            Body::Alnum => c.is_ascii_alphanumeric(),
            Body::Word => c.is_ascii_alphanumeric() || c == b'_' || c == b'-',
            Body::Dotted => c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'),
            Body::Hex => c.is_ascii_hexdigit(),
            Body::Base32Upper => c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c),
        }
    }
}

/// A vendor token: its prefix (matched case-sensitively as written here), the characters and
/// length of what follows.
pub struct Token {
    pub prefix: &'static str,
    pub body: Body,
    pub min: usize,
    pub max: usize,
}

const fn t(prefix: &'static str, body: Body, min: usize, max: usize) -> Token {
    Token {
        prefix,
        body,
        min,
        max,
    }
}

/// The maintained table of token prefixes (vendor documentation; cross-checked against the
/// public gitleaks and trufflehog rule sets). Longer prefixes of the same vendor come first.
pub static TOKENS: &[Token] = &[
    // GitHub
    t("github_pat_", Body::Word, 50, 255),
    t("ghp_", Body::Alnum, 30, 255),
    t("gho_", Body::Alnum, 30, 255),
    t("ghu_", Body::Alnum, 30, 255),
    t("ghs_", Body::Alnum, 30, 255),
    t("ghr_", Body::Alnum, 30, 255),
    // GitLab
    t("glpat-", Body::Word, 20, 255),
    t("glptt-", Body::Word, 20, 255),
    t("gldt-", Body::Word, 20, 255),
    t("glrt-", Body::Word, 20, 255),
    t("glcbt-", Body::Word, 20, 255),
    t("glsoat-", Body::Word, 20, 255),
    t("glft-", Body::Word, 20, 255),
    // Slack
    t("xoxb-", Body::Word, 20, 255),
    t("xoxp-", Body::Word, 20, 255),
    t("xoxa-", Body::Word, 20, 255),
    t("xoxr-", Body::Word, 20, 255),
    t("xoxs-", Body::Word, 20, 255),
    t("xoxe-", Body::Word, 20, 255),
    t("xoxe.xoxp-", Body::Word, 20, 255),
    t("xapp-", Body::Word, 20, 255),
    // Anthropic, OpenAI and other model APIs
    t("sk-ant-", Body::Word, 32, 255),
    t("sk-proj-", Body::Word, 32, 255),
    t("sk-svcacct-", Body::Word, 32, 255),
    t("sk-admin-", Body::Word, 32, 255),
    t("sk-or-v1-", Body::Hex, 48, 255),
    t("sk-", Body::Alnum, 20, 255),
    t("gsk_", Body::Alnum, 40, 255),
    t("pplx-", Body::Alnum, 40, 255),
    t("xai-", Body::Alnum, 40, 255),
    t("r8_", Body::Alnum, 30, 255),
    t("hf_", Body::Alnum, 30, 255),
    t("api_org_", Body::Alnum, 30, 255),
    t("fw_", Body::Alnum, 20, 255),
    // Stripe
    t("sk_live_", Body::Alnum, 20, 255),
    t("sk_test_", Body::Alnum, 20, 255),
    t("rk_live_", Body::Alnum, 20, 255),
    t("rk_test_", Body::Alnum, 20, 255),
    t("whsec_", Body::Alnum, 24, 255),
    // Cloud
    t("AKIA", Body::Base32Upper, 16, 16),
    t("ASIA", Body::Base32Upper, 16, 16),
    t("ABIA", Body::Base32Upper, 16, 16),
    t("ACCA", Body::Base32Upper, 16, 16),
    t("AIza", Body::Word, 35, 35),
    t("ya29.", Body::Word, 30, 255),
    t("GOCSPX-", Body::Word, 20, 255),
    t("dop_v1_", Body::Hex, 64, 64),
    t("doo_v1_", Body::Hex, 64, 64),
    t("dor_v1_", Body::Hex, 64, 64),
    t("hvs.", Body::Word, 24, 255),
    t("hvb.", Body::Word, 24, 255),
    t("dp.pt.", Body::Alnum, 40, 255),
    t("dp.st.", Body::Word, 40, 255),
    t("HRKU-", Body::Word, 30, 255),
    t("pul-", Body::Hex, 40, 40),
    t("dapi", Body::Hex, 32, 32),
    t("AGE-SECRET-KEY-1", Body::Alnum, 50, 70),
    // Package registries, CI and SaaS
    t("npm_", Body::Alnum, 36, 36),
    t("pypi-AgEIcHlwaS5vcmc", Body::Word, 50, 255),
    t("rubygems_", Body::Hex, 48, 48),
    t("shpat_", Body::Hex, 32, 32),
    t("shpca_", Body::Hex, 32, 32),
    t("shppa_", Body::Hex, 32, 32),
    t("shpss_", Body::Hex, 32, 32),
    t("SG.", Body::Dotted, 60, 80),
    t("lin_api_", Body::Alnum, 40, 40),
    t("ntn_", Body::Alnum, 40, 255),
    t("PMAK-", Body::Word, 50, 70),
    t("glc_", Body::Word, 32, 255),
    t("glsa_", Body::Word, 32, 255),
    t("sntrys_", Body::Dotted, 40, 255),
    t("sntryu_", Body::Hex, 64, 64),
    t("figd_", Body::Word, 40, 255),
    t("ATATT3", Body::Word, 100, 255),
    t("EAAC", Body::Alnum, 100, 255),
    t("key-", Body::Hex, 32, 32),
    // Stav's own API keys
    t("hm_live_", Body::Word, 20, 255),
    t("hm_test_", Body::Word, 20, 255),
];

/// Bodies that are obviously not real: documentation placeholders and masks.
pub fn placeholder(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    const WORDS: &[&str] = &[
        "xxxx",
        "****",
        "....",
        "example",
        "your",
        "placeholder",
        "redacted",
        "dummy",
        "fake",
        "sample",
        "changeme",
        "change_me",
        "insert",
        "here",
        "replace",
        "secret_key",
        "my_key",
        "mykey",
        "token_here",
        "<",
        ">",
        "${",
        "{{",
        "%s",
        "0000000",
        "1234567",
        "abcdef",
    ];
    if WORDS.iter().any(|w| l.contains(w)) {
        return true;
    }
    // A run of one character, or very few distinct characters: a mask, not a random token.
    let b = s.as_bytes();
    let mut distinct = [false; 256];
    let mut n = 0;
    let mut run = 1;
    for i in 0..b.len() {
        if !distinct[b[i] as usize] {
            distinct[b[i] as usize] = true;
            n += 1;
        }
        if i > 0 && b[i] == b[i - 1] {
            run += 1;
            if run >= 6 {
                return true;
            }
        } else {
            run = 1;
        }
    }
    b.len() >= 16 && n < 7
}

fn body_end(b: &[u8], from: usize, body: Body, max: usize) -> usize {
    let mut j = from;
    while j < b.len() && j - from <= max && body.allows(b[j]) {
        j += 1;
    }
    j
}

/// A vendor token at the prefix hit `start..end` (found case-insensitively in the lower-case
/// text; checked here as written).
fn token_at(doc: &Doc, start: usize, row: usize) -> bool {
    let tok = &TOKENS[row];
    let b = doc.text.as_bytes();
    let end = start + tok.prefix.len();
    if b.get(start..end) != Some(tok.prefix.as_bytes()) {
        return false;
    }
    if start > 0 && (b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_') {
        return false;
    }
    let e = body_end(b, end, tok.body, tok.max);
    let len = e - end;
    // A token ends where its alphabet ends (not inside a longer word).
    let clean_end = !b.get(e).is_some_and(|c| c.is_ascii_alphanumeric());
    (tok.min..=tok.max).contains(&len)
        && clean_end
        && has_digit_and_letter(&b[end..e])
        && !placeholder(&doc.text[end..e])
}

/// A random token mixes at least two of lower case, upper case and digits (Hugging Face tokens
/// are letters only, in both cases).
fn has_digit_and_letter(s: &[u8]) -> bool {
    let lower = s.iter().any(u8::is_ascii_lowercase);
    let upper = s.iter().any(u8::is_ascii_uppercase);
    let digit = s.iter().any(u8::is_ascii_digit);
    (lower as u8 + upper as u8 + digit as u8) >= 2
}

/// `-----BEGIN … PRIVATE KEY-----` (PEM, OpenSSH, PGP).
fn private_key(doc: &Doc) -> bool {
    memchr::memmem::find_iter(doc.low.as_bytes(), b"-----begin ").any(|i| {
        let head = &doc.low[i..(i + 80).min(doc.low.len())];
        (head.contains("private key") || head.contains("pgp private"))
            && !doc.low[i..(i + 200).min(doc.low.len())].contains("...")
    })
}

fn is_b64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

/// A JWT: three base64url segments, the first two starting `eyJ` (a JSON object).
fn jwt(doc: &Doc) -> bool {
    let b = doc.text.as_bytes();
    memchr::memmem::find_iter(b, b"eyJ").any(|i| {
        if i > 0 && is_b64url(b[i - 1]) {
            return false;
        }
        let mut j = i;
        for seg in 0..3 {
            let s = j;
            while j < b.len() && is_b64url(b[j]) && j - s < 4096 {
                j += 1;
            }
            if j - s < 10 {
                return false;
            }
            if seg < 2 {
                if b.get(j) != Some(&b'.') {
                    return false;
                }
                j += 1;
                if seg == 0 && !b[j..].starts_with(b"eyJ") {
                    return false;
                }
            }
        }
        true
    })
}

/// `Bearer <token>`, `Basic <base64>` (HTTP credentials written out).
fn http_credentials(doc: &Doc) -> bool {
    let low = doc.low.as_bytes();
    for (word, min) in [(&b"bearer "[..], 20), (&b"basic "[..], 8)] {
        for i in memchr::memmem::find_iter(low, word) {
            if i > 0 && low[i - 1].is_ascii_alphanumeric() {
                continue;
            }
            let s = i + word.len();
            let e = body_end(doc.text.as_bytes(), s, Body::Dotted, 4096);
            let e = {
                // Base64 padding and the characters a bearer token may carry.
                let b = doc.text.as_bytes();
                let mut e = e;
                while e < b.len() && matches!(b[e], b'=' | b'+' | b'/' | b'~') && e - s < 4096 {
                    e = body_end(b, e + 1, Body::Dotted, 4096);
                }
                e
            };
            let tok = &doc.text[s..e];
            if tok.len() >= min
                && has_digit_and_letter(tok.as_bytes())
                && !placeholder(tok)
                && !tok.contains("...")
            {
                return true;
            }
        }
    }
    false
}

/// Credentials in a URL's userinfo: `scheme://user:password@host`.
fn url_credentials(doc: &Doc) -> bool {
    let b = doc.text.as_bytes();
    memchr::memmem::find_iter(b, b"://").any(|i| {
        let s = i + 3;
        let mut j = s;
        let mut colon = None;
        while j < b.len() && j - s < 256 {
            match b[j] {
                b'@' => break,
                b':' if colon.is_none() => colon = Some(j),
                b'/' | b' ' | b'\n' | b'\t' | b'"' | b'\'' | b'<' | b'>' | b'`' | b'?' | b'#' => {
                    return false
                }
                _ => {}
            }
            j += 1;
        }
        let (Some(c), true) = (colon, b.get(j) == Some(&b'@')) else {
            return false;
        };
        let user = &doc.text[s..c];
        let pass = &doc.text[c + 1..j];
        !pass.is_empty() && !weak_placeholder(pass) && pass != user
    })
}

/// Placeholders and variable references where a password value would be.
fn weak_placeholder(v: &str) -> bool {
    let l = v.to_ascii_lowercase();
    placeholder(v)
        || matches!(
            l.as_str(),
            "password"
                | "passwd"
                | "pass"
                | "pwd"
                | "secret"
                | "token"
                | "***"
                | "xxx"
                | "user"
                | "username"
                | "test"
                | "admin"
                | "root"
                | "none"
                | "null"
                | "nil"
                | "true"
                | "false"
                | "str"
                | "string"
                | "int"
                | "bool"
                | "required"
                | "optional"
                | "undefined"
                | "empty"
                | "hidden"
                | "masked"
        )
        || v.starts_with('$')
        || v.starts_with('%')
        || v.starts_with('{')
        || v.starts_with('<')
        || v.starts_with('[')
        || v.starts_with("env")
        || v.contains("process.env")
        || v.contains("environ")
        || v.contains("getenv")
        || v.contains("secrets.")
        || v.contains("vault:")
}

/// Password-like: long enough and of at least two kinds of characters (not a plain word).
fn password_like(v: &str, min: usize) -> bool {
    let b = v.as_bytes();
    if v.chars().count() < min || v.contains("://") || v.contains('@') {
        return false;
    }
    let lower = v.chars().any(char::is_lowercase);
    let upper = v.chars().skip(1).any(char::is_uppercase);
    let digit = b.iter().any(u8::is_ascii_digit);
    let symbol = v
        .chars()
        .any(|c| !c.is_alphanumeric() && !matches!(c, '-' | '\'' | '.'));
    [lower, upper, digit, symbol].iter().filter(|&&x| x).count() >= 2 && (digit || symbol || upper)
}

/// Technical words that look password-like but name algorithms and encodings.
fn technical(v: &str) -> bool {
    let l = v.to_ascii_lowercase();
    [
        "sha-", "sha1", "sha2", "sha3", "sha256", "sha512", "md5", "aes-", "aes1", "aes2",
        "argon2", "pbkdf2", "bcrypt", "scrypt", "utf-8", "utf8", "base64", "iso-8859", "rsa-",
        "hmac", "wpa2", "wpa3", "2fa", "oauth2", "x509", "pkcs",
    ]
    .iter()
    .any(|t| l.starts_with(t))
}

/// Identifier characters of config keys and code.
fn ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

/// `<secret-named key> [quote] (=|:|:=|=>) value` with a value that looks real. `done` moves to
/// the end of the value read, so a key inside that value (`token=token=…`) is not read again.
fn assignment(doc: &Doc, hit_start: usize, hit_end: usize, done: &mut usize) -> bool {
    let b = doc.text.as_bytes();
    // The whole identifier the fragment is in (bounded).
    let mut e = hit_end;
    while e < b.len() && ident(b[e]) && e - hit_end < 48 {
        e += 1;
    }
    let _ = hit_start;
    let mut j = e;
    if matches!(b.get(j), Some(b'"' | b'\'' | b'`')) {
        j += 1;
    }
    while matches!(b.get(j), Some(b' ' | b'\t')) {
        j += 1;
    }
    let op = if b[j..].starts_with(b":=") || b[j..].starts_with(b"=>") {
        2
    } else if matches!(b.get(j), Some(b'=' | b':')) {
        1
    } else {
        return false;
    };
    j += op;
    while matches!(b.get(j), Some(b' ' | b'\t')) {
        j += 1;
    }
    let (v, quoted) = match b.get(j) {
        Some(&q @ (b'"' | b'\'' | b'`')) => {
            let s = j + 1;
            let Some(len) = b[s..(s + 128).min(b.len())].iter().position(|&c| c == q) else {
                return false;
            };
            *done = (*done).max(s + len);
            (&doc.text[s..s + len], true)
        }
        Some(_) => {
            let mut k = j;
            while k < b.len()
                && !matches!(
                    b[k],
                    b' ' | b'\t' | b'\n' | b'\r' | b',' | b';' | b'}' | b')' | b'"'
                )
                && k - j < 128
            {
                k += 1;
            }
            *done = (*done).max(k);
            if !doc.text.is_char_boundary(k) {
                return false;
            }
            (&doc.text[j..k], false)
        }
        None => return false,
    };
    if v.is_empty() || v.contains(' ') {
        return false;
    }
    // Shape first (cheap), the placeholder lists last (they cost a lower-casing and a scan).
    let shaped = if quoted {
        v.chars().count() >= 6 && (password_like(v, 6) || v.len() >= 12)
    } else {
        // Unquoted: code (`password = get_password()`, `token: self.token`) or a config value.
        let code = v.contains('(')
            || v.contains('[')
            || v.split('.').all(|p| {
                !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
            }) && v.contains('.');
        !code && password_like(v, 6)
    };
    shaped && !technical(v) && !weak_placeholder(v)
}

/// Connector words between "password" and the password itself, in the 12 languages.
const CONNECTORS: &[&str] = &[
    "is", "was", "be", "will", "now", "still", "new", "my", "the", "of", "for", "to", "set", "as",
    "ist", "lautet", "war", "wäre", "jetzt", "neues", "mein", "meines", "für", "das", "der", "die",
    "est", "c'est", "était", "de", "du", "mon", "pour", "le", "la", "nouveau", "es", "era", "mi",
    "del", "nueva", "nuevo", "è", "e", "il", "mio", "della", "per", "nuova", "ora", "al", "van",
    "mijn", "het", "nieuwe", "nu", "voor", "jest", "to", "moje", "do", "nowe", "teraz", "é", "o",
    "meu", "minha", "da", "nova", "agora", "para", "är", "var", "mitt", "min", "till", "nya", "nu",
    "er", "til", "nye", "on", "oli", "uusi", "nyt", "je", "bylo", "moje", "nové", "teď", "pro",
    "och", "og", "und", "and", "et", "y", "ed", "en", "i", "a", "na", "we", "w", ":", "=", "-",
    "–", "->", "→", "zu", "zum", "zur", "on:", "is:", "ist:",
];

static CONNECTOR_SET: once_cell::sync::Lazy<std::collections::HashSet<&'static str>> =
    once_cell::sync::Lazy::new(|| CONNECTORS.iter().copied().collect());

/// A password stated in prose after a password word (any of the 12 languages). `seen` is where
/// the previous hit's look stopped: text is read once however many password words it has (with a
/// connector only counted from where reading starts), so the cost stays linear.
fn prose_password(doc: &Doc, hit_end: usize, is_pin: bool, seen: &mut usize) -> bool {
    let text = doc.text;
    // Rest of the password word itself (inflections: "Passworts", "salasanani", "hasłem").
    let mut j = hit_end;
    while j < text.len() && word_at(text, j) {
        j += text[j..].chars().next().map_or(1, char::len_utf8);
    }
    let mut connector = false;
    if j < *seen {
        j = *seen;
    }
    let mut count = 0;
    // The rest of the line, at most 80 bytes: a password is stated where its word is.
    let window_end = {
        let mut e = (j + 80).min(text.len());
        while !text.is_char_boundary(e) {
            e -= 1;
        }
        if j >= e {
            return false;
        }
        text[j..e].find('\n').map_or(e, |n| j + n)
    };
    *seen = window_end;
    for raw in text[j..window_end].split_whitespace() {
        count += 1;
        if count > 8 {
            break;
        }
        // Quotes and sentence punctuation around the word are not part of it.
        let edge = |c: char| {
            matches!(
                c,
                '"' | '\'' | '«' | '»' | '`' | '(' | ')' | '.' | ',' | ';' | ':' | '!' | '?'
            )
        };
        let tok = raw.trim_matches(|c: char| matches!(c, '"' | '\'' | '«' | '»' | '`' | '(' | ')'));
        let bare = raw.trim_matches(edge);
        // Connectors are short words: only those are lower-cased and looked up.
        if bare.len() <= 12 {
            // Lower-cased on the stack (connectors are short).
            let mut buf = [0u8; 12];
            let low = if bare.is_ascii() {
                buf[..bare.len()].copy_from_slice(bare.as_bytes());
                buf[..bare.len()].make_ascii_lowercase();
                std::borrow::Cow::Borrowed(std::str::from_utf8(&buf[..bare.len()]).unwrap_or(""))
            } else {
                std::borrow::Cow::Owned(bare.to_lowercase())
            };
            if CONNECTOR_SET.contains(&*low) || CONNECTOR_SET.contains(tok) {
                connector = true;
                continue;
            }
        }
        if is_pin {
            if connector
                && (4..=8).contains(&bare.len())
                && bare.bytes().all(|c| c.is_ascii_digit())
            {
                return true;
            }
            continue;
        }
        let quoted = raw.starts_with(['"', '\'', '«', '`']) && bare.chars().count() >= 4;
        let candidate = bare;
        // Cheap shape test first; the placeholder and technical-word lists only for candidates.
        let shaped = quoted && connector || password_like(candidate, 6);
        // Paths, URLs and code (`min_length=8)`) are not passwords stated in prose.
        if !shaped
            || technical(candidate)
            || weak_placeholder(candidate)
            || candidate.contains(['/', '=', '(', ')'])
        {
            if raw.ends_with(['.', '?', '!', ';']) && !shaped {
                break;
            }
            continue;
        }
        if connector && (quoted || password_like(candidate, 6))
            || password_like(candidate, 8)
                && candidate.chars().filter(|c| !c.is_alphabetic()).count() >= 2
        {
            return true;
        }
        if raw.ends_with(['.', '?', '!', ';']) && !password_like(candidate, 6) {
            // The sentence ended without a password.
            break;
        }
    }
    false
}

/// A password-like string literal among the arguments of a call that takes credentials:
/// `new PDO($dsn, 'admin', 'N7#vQ2m!xLr9$Tz4')`.
fn literal_in_call(doc: &Doc, from: usize) -> bool {
    let b = doc.text.as_bytes();
    let end = (from + 240).min(b.len());
    let mut i = from;
    while i < end {
        if matches!(b[i], b'\'' | b'"') {
            let q = b[i];
            let s = i + 1;
            let Some(len) = b[s..end].iter().position(|&c| c == q || c == b'\n') else {
                break;
            };
            if b[s + len] == q {
                let v = &doc.text[s..s + len];
                let classes = [
                    v.bytes().any(|c| c.is_ascii_lowercase()),
                    v.bytes().any(|c| c.is_ascii_uppercase()),
                    v.bytes().any(|c| c.is_ascii_digit()),
                    v.bytes().any(|c| c.is_ascii_punctuation()),
                ];
                if v.len() >= 8
                    && !v.contains(' ')
                    && classes.iter().filter(|&&x| x).count() >= 3
                    && !weak_placeholder(v)
                    && !v.contains(['=', ';', '/'])
                {
                    return true;
                }
            }
            i = s + len + 1;
        } else if b[i] == b')' {
            break;
        } else {
            i += 1;
        }
    }
    false
}

/// A Telegram bot token: `<bot id>:<35 characters>`.
fn telegram(doc: &Doc) -> bool {
    let b = doc.text.as_bytes();
    memchr::memchr_iter(b':', b).any(|i| {
        let mut s = i;
        while s > 0 && b[s - 1].is_ascii_digit() && i - s <= 10 {
            s -= 1;
        }
        let digits = i - s;
        if !(8..=10).contains(&digits) || (s > 0 && b[s - 1].is_ascii_alphanumeric()) {
            return false;
        }
        let e = body_end(b, i + 1, Body::Word, 40);
        e - i - 1 == 35
            && !b.get(e).is_some_and(u8::is_ascii_alphanumeric)
            && b[i + 1..].starts_with(b"AA")
    })
}

pub fn detect(doc: &Doc) -> bool {
    if telegram(doc) {
        return true;
    }
    // Each call's arguments are read once: a call inside the previous one's window is skipped.
    let mut until = 0;
    for h in doc.hits.of(Cat::ConnectCall) {
        if h.end < until {
            continue;
        }
        until = h.end + 240;
        if literal_in_call(doc, h.end) {
            return true;
        }
    }
    for h in doc.hits.of(Cat::TokenPrefix) {
        if token_at(doc, h.start, h.aux as usize) {
            return true;
        }
    }
    if private_key(doc) || jwt(doc) || http_credentials(doc) || url_credentials(doc) {
        return true;
    }
    // Each identifier is looked at once (`done`: the end of the last one looked at), so a run of
    // `token=token=…` costs linear time.
    let mut done = 0;
    for h in doc.hits.of(Cat::SecretName) {
        if h.start < done {
            continue;
        }
        done = h.end;
        if assignment(doc, h.start, h.end, &mut done) {
            return true;
        }
    }
    let mut seen = 0;
    let mut done = 0;
    for h in doc.hits.of(Cat::PasswordWord) {
        let is_pin = doc.low[h.start..h.end].starts_with("pin");
        if prose_password(doc, h.end, is_pin, &mut seen) {
            return true;
        }
        // "password" is a secret name too: looked at there already.
        if h.start >= done
            && !word_before(doc.low, h.start)
            && !doc.hits.any_in(Cat::SecretName, h.start, h.end)
        {
            done = h.end;
            if assignment(doc, h.start, h.end, &mut done) {
                return true;
            }
        }
    }
    false
}
