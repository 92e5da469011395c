//! Encoded payloads inside string values: `data:` URLs (base64 or percent-encoded) and bare
//! base64 (Anthropic `{"type":"base64","media_type":...,"data":...}`, OpenAI `file_data`, audio
//! `data`). What a payload *is* is decided by its decoded content, never by the media type the
//! client claims: text is scanned, anything else is binary (images, PDFs, audio), which the scan
//! cannot read and reports as `unscannable`.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use std::borrow::Cow;

/// What to do with one string value.
#[derive(Debug, PartialEq)]
pub enum Payload<'a> {
    /// Scan this text (the value itself, or what it decodes to).
    Text(Cow<'a, str>),
    /// Decoded to binary: not readable by the scan.
    Binary,
}

/// A bare base64 string counts as a payload from this length on when no key hints at one; shorter
/// base64-looking strings are ids, hashes and tokens, scanned as the text they are.
const BARE_MIN: usize = 256;
/// Under a key that holds payloads (`data`, `file_data`, ...), from this length on.
const HINTED_MIN: usize = 12;
/// How much of a payload decides whether it is text, before all of it is decoded.
const SNIFF: usize = 4096;

fn engine(url_safe: bool) -> GeneralPurpose {
    let cfg = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    if url_safe {
        GeneralPurpose::new(&alphabet::URL_SAFE, cfg)
    } else {
        GeneralPurpose::new(&alphabet::STANDARD, cfg)
    }
}

/// Keys under which APIs put encoded payloads.
fn payload_key(key: Option<&str>) -> bool {
    matches!(
        key,
        Some("data" | "file_data" | "bytes" | "b64_json" | "base64" | "image" | "audio" | "blob")
    )
}

/// Text is valid UTF-8 with almost no control characters (binary formats fail one or the other).
fn as_text(bytes: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(bytes).ok()?;
    let controls = s
        .bytes()
        .filter(|&c| c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r' | 0x0c))
        .count();
    (controls * 100 <= s.len()).then_some(s)
}

/// The alphabet of `s` if it is base64 (standard or URL-safe, padding optional, MIME line breaks
/// allowed); `None` otherwise.
fn base64_alphabet(s: &str) -> Option<bool> {
    let body = s.trim_end_matches('=');
    let (mut std_only, mut url_only) = (false, false);
    for c in body.bytes() {
        match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'\n' | b'\r' => {}
            b'+' | b'/' => std_only = true,
            b'-' | b'_' => url_only = true,
            _ => return None,
        }
    }
    if std_only && url_only {
        return None;
    }
    Some(url_only)
}

fn decode_b64(s: &str, url_safe: bool, limit: Option<usize>) -> Option<Vec<u8>> {
    let compact: Cow<str> = if s.contains(['\n', '\r']) {
        s.chars().filter(|c| !matches!(c, '\n' | '\r')).collect()
    } else {
        s.into()
    };
    let compact = compact.trim_end_matches('=');
    let part = match limit {
        // A prefix of whole 4-character quanta decodes on its own.
        Some(n) if compact.len() > n => &compact[..n / 4 * 4],
        _ => compact,
    };
    engine(url_safe).decode(part).ok()
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Base64 `data` decoded: text or binary, looking at a prefix first so a large image is not
/// decoded whole.
fn decoded(data: &str, url_safe: bool) -> Option<Payload<'static>> {
    let head = decode_b64(data, url_safe, Some(SNIFF))?;
    // The prefix may end inside a multi-byte character: allow for it.
    let cut = head.len().saturating_sub(3);
    if as_text(&head).is_none() && as_text(&head[..cut]).is_none() {
        return Some(Payload::Binary);
    }
    let all = decode_b64(data, url_safe, None)?;
    Some(match as_text(&all) {
        Some(t) => Payload::Text(Cow::Owned(t.to_string())),
        None => Payload::Binary,
    })
}

/// Decide what one string value is. `key` is the member it belongs to (a hint only).
pub fn classify<'a>(key: Option<&str>, s: &'a str) -> Payload<'a> {
    if s.len() > 5 && s.as_bytes()[..5].eq_ignore_ascii_case(b"data:") {
        return data_url(s);
    }
    let min = if payload_key(key) {
        HINTED_MIN
    } else {
        BARE_MIN
    };
    if s.len() < min {
        return Payload::Text(s.into());
    }
    let Some(url_safe) = base64_alphabet(s) else {
        return Payload::Text(s.into());
    };
    match decoded(s, url_safe) {
        Some(Payload::Text(t)) => Payload::Text(t),
        // A long base64-looking string under an ordinary key may still be a token or a hash
        // run together: binary, but scanned as written too (the caller does both).
        Some(Payload::Binary) => Payload::Binary,
        None => Payload::Text(s.into()),
    }
}

/// `data:[<media type>][;base64],<data>`: the header is scanned too (its parameters are text).
fn data_url(s: &str) -> Payload<'_> {
    let Some(comma) = s.find(',') else {
        return Payload::Text(s.into());
    };
    let header = &s[5..comma];
    let data = &s[comma + 1..];
    let is_b64 = header
        .rsplit(';')
        .next()
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("base64"));
    let body = if is_b64 {
        let url_safe = base64_alphabet(data.trim()).unwrap_or(false);
        match decoded(data.trim(), url_safe) {
            Some(Payload::Text(t)) => t.into_owned(),
            Some(Payload::Binary) => return Payload::Binary,
            // Not decodable: read it as written.
            None => return Payload::Text(s.into()),
        }
    } else {
        let bytes = percent_decode(data);
        match as_text(&bytes) {
            Some(t) => t.to_string(),
            None => return Payload::Binary,
        }
    };
    Payload::Text(Cow::Owned(format!("{header}\n{body}")))
}

/// Whether a string under an ordinary key was long base64: the caller scans it as written too.
pub fn bare_base64(key: Option<&str>, s: &str) -> bool {
    !payload_key(key) && !s.starts_with("data:") && s.len() >= BARE_MIN
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn text_payloads_are_decoded_whatever_they_claim_to_be() {
        let doc = b64(b"IBAN DE89 3704 0044 0532 0130 00");
        assert_eq!(
            classify(Some("data"), &doc),
            Payload::Text("IBAN DE89 3704 0044 0532 0130 00".into())
        );
        // Media type says image, content is text: scanned.
        let url = format!("data:image/png;base64,{doc}");
        assert!(matches!(classify(None, &url), Payload::Text(t) if t.contains("DE89 3704")));
        let pct = "data:text/plain,my%20card%204111%201111%201111%201111";
        assert!(
            matches!(classify(Some("url"), pct), Payload::Text(t) if t.contains("card 4111 1111"))
        );
        // MIME line breaks and URL-safe alphabet.
        let wrapped = format!("{}\n{}", &doc[..20], &doc[20..]);
        assert!(matches!(classify(Some("data"), &wrapped), Payload::Text(_)));
    }

    #[test]
    fn binary_payloads_are_binary() {
        let png: Vec<u8> = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]
            .into_iter()
            .chain((0..5000u32).map(|i| (i * 7919 % 251) as u8))
            .collect();
        let data = b64(&png);
        assert_eq!(classify(Some("data"), &data), Payload::Binary);
        assert_eq!(
            classify(None, &format!("data:image/png;base64,{data}")),
            Payload::Binary
        );
        assert_eq!(classify(None, &data), Payload::Binary);
    }

    #[test]
    fn ordinary_strings_stay_text() {
        for s in ["hello", "toolu_01A09q90qw90lq917835lq9", "data", "a b c"] {
            assert_eq!(classify(None, s), Payload::Text(s.into()));
        }
        assert_eq!(
            classify(Some("data"), "plain text, with spaces"),
            Payload::Text("plain text, with spaces".into())
        );
    }
}
