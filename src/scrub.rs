//! Provider credentials never reach a client, in any form: every upstream response header and
//! every byte of every upstream body (streams included) is checked for the gateway's upstream
//! keys — raw, JSON-escaped (`sk\u002dant…`, `s3cr3t\/Key`), percent-encoded, and base64 (standard
//! and URL-safe, at any alignment, so `Basic base64(user:key)` is caught too).
//!
//! Escapes are handled by matching in a *decoded view* of the bytes (JSON string escapes and
//! `%XX` undone, each decoded byte remembering the original bytes it came from), so any mix of
//! escaped and plain characters is found and the original span is replaced. Bytes without `\` or
//! `%` are their own decoded view, and are searched in place.
//!
//! Streams are scrubbed as they pass: only a tail that could be the beginning of a credential (a
//! prefix of one of its forms, or an unfinished escape) waits for the next read; everything else
//! goes out at once, so token pacing is unchanged. A replacement is as long as what it replaces,
//! so an answer's announced `Content-Length` stays true.

use aho_corasick::AhoCorasick;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use std::borrow::Cow;
use std::sync::Arc;

/// What replaces a credential (then `*` up to the credential's length).
pub const REDACTED: &[u8] = b"[redacted]";

/// Credentials shorter than this are not looked for: too many false hits, and no provider issues
/// keys that short.
const MIN_SECRET: usize = 8;

/// The forms of a set of credentials, compiled once per configuration.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    matcher: Option<AhoCorasick>,
    /// Shared with every stream's scrubber: a stream clones `Secrets` per response.
    patterns: Arc<[Vec<u8>]>,
    /// The bytes a pattern can start with: the end of a read is checked only from those.
    first_bytes: Arc<[bool]>,
    longest: usize,
    /// No text shorter than this holds a credential (in its decoded view either: decoding only
    /// shortens), so short header values are not searched at all.
    shortest: usize,
    /// The bytes the patterns are made of. A text holds a pattern only where it has a run of
    /// at least `shortest` such bytes: answers of prose and JSON rarely do (spaces, quotes and
    /// punctuation break the runs), so most are known safe after one cheap pass and the
    /// automaton never runs over them.
    alphabet: Arc<[bool]>,
}

/// The base64 characters that encode `secret` whatever bytes surround it, for each of the three
/// alignments a secret can have inside a longer encoded string.
fn base64_cores(secret: &[u8], engine: &base64::engine::GeneralPurpose) -> Vec<Vec<u8>> {
    let n = secret.len();
    (0..3)
        .filter_map(|o| {
            let mut padded = vec![0u8; o];
            padded.extend_from_slice(secret);
            let enc = engine.encode(&padded);
            // Groups of 3 input bytes lying wholly inside the secret: their 4 characters are the
            // secret's alone.
            let first = o.div_ceil(3);
            let last_end = (o + n) / 3; // groups [first, last_end)
            (last_end > first).then(|| enc.as_bytes()[4 * first..4 * last_end].to_vec())
        })
        .filter(|core| core.len() >= MIN_SECRET)
        .collect()
}

impl Secrets {
    /// Every credential the gateway sends upstream (the key inside `Bearer …` included).
    pub fn new<'a>(credentials: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        for c in credentials {
            let c = strip_bearer(c);
            if c.len() < MIN_SECRET {
                continue;
            }
            patterns.push(c.to_vec());
            patterns.extend(base64_cores(c, &base64::engine::general_purpose::STANDARD));
            patterns.extend(base64_cores(c, &base64::engine::general_purpose::URL_SAFE));
        }
        patterns.sort();
        patterns.dedup();
        let longest = patterns.iter().map(Vec::len).max().unwrap_or(0);
        let shortest = patterns.iter().map(Vec::len).min().unwrap_or(0);
        let mut first_bytes = vec![false; 256];
        let mut alphabet = vec![false; 256];
        for p in &patterns {
            first_bytes[usize::from(p[0])] = true;
            for &c in p {
                alphabet[usize::from(c)] = true;
            }
        }
        let matcher = (!patterns.is_empty())
            .then(|| AhoCorasick::new(&patterns).expect("credential patterns compile"));
        Self {
            matcher,
            patterns: patterns.into(),
            first_bytes: first_bytes.into(),
            longest,
            shortest,
            alphabet: alphabet.into(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// Whether `d` has a run of pattern bytes long enough to hold a pattern (if not, it holds
    /// none). Reads a window of `shortest` bytes from its end backwards: the first byte outside
    /// the alphabet rules out every window holding it, so the next window starts after it. Each
    /// byte is read at most twice, most not at all (prose has a separator every few bytes).
    fn may_hold(&self, d: &[u8]) -> bool {
        let l = self.shortest.max(1);
        let mut end = l - 1;
        while end < d.len() {
            match (end + 1 - l..=end)
                .rev()
                .find(|&i| !self.alphabet[usize::from(d[i])])
            {
                None => return true,
                Some(bad) => end = bad + l,
            }
        }
        false
    }

    /// Whether `bytes` holds a credential in any form (for header values).
    pub fn found_in(&self, bytes: &[u8]) -> bool {
        let Some(m) = &self.matcher else {
            return false;
        };
        if bytes.len() < self.shortest {
            return false;
        }
        let view = Decoded::of(bytes);
        self.may_hold(view.bytes()) && m.is_match(view.bytes())
    }

    /// Where the credentials in `view` are, in original bytes (none where the run filter rules
    /// them out).
    fn spans_in(&self, m: &AhoCorasick, view: &Decoded) -> Vec<(usize, usize)> {
        if !self.may_hold(view.bytes()) {
            return Vec::new();
        }
        m.find_iter(view.bytes())
            .map(|hit| view.original(hit.start(), hit.end()))
            .collect()
    }

    /// `body` with every credential replaced (a whole body).
    pub fn scrub<'b>(&self, body: &'b [u8]) -> Cow<'b, [u8]> {
        let Some(m) = &self.matcher else {
            return Cow::Borrowed(body);
        };
        let spans = self.spans_in(m, &Decoded::of(body));
        if spans.is_empty() {
            return Cow::Borrowed(body);
        }
        Cow::Owned(replace(body, &spans))
    }

    /// A scrubber for one response body that arrives in pieces.
    pub fn stream(&self) -> StreamScrubber {
        StreamScrubber {
            secrets: self.clone(),
            held: BytesMut::new(),
        }
    }

    /// Where the tail of `view` that could still become a credential begins, in original bytes.
    fn undecided_from(&self, view: &Decoded, original_len: usize) -> usize {
        let mut from = view.unfinished_escape.unwrap_or(original_len);
        let d = view.bytes();
        let window = self.longest.saturating_sub(1).min(d.len());
        for start in d.len() - window..d.len() {
            if !self.first_bytes[usize::from(d[start])] {
                continue;
            }
            let tail = &d[start..];
            if self.patterns.iter().any(|p| p.starts_with(tail)) {
                from = from.min(view.original(start, start + 1).0);
                break;
            }
        }
        from
    }
}

fn strip_bearer(value: &[u8]) -> &[u8] {
    if value.len() > 7 && value[..7].eq_ignore_ascii_case(b"bearer ") {
        &value[7..]
    } else {
        value
    }
}

/// `body` with the (sorted, possibly overlapping) spans masked, length for length.
fn replace(body: &[u8], spans: &[(usize, usize)]) -> Vec<u8> {
    let mut out = body.to_vec();
    for &(s, e) in spans {
        let span = &mut out[s..e];
        span.fill(b'*');
        if span.len() >= REDACTED.len() {
            out[s..s + REDACTED.len()].copy_from_slice(REDACTED);
        }
    }
    out
}

/// Decoded bytes, and for each the original span `[start, end)` it came from.
type DecodedBytes = (Vec<u8>, Vec<(u32, u32)>);

/// Bytes with JSON string escapes and `%XX` undone, each decoded byte mapped to the original
/// bytes it came from.
struct Decoded<'a> {
    original: &'a [u8],
    /// `None`: nothing to decode, the view is `original` itself.
    decoded: Option<DecodedBytes>,
    /// The original offset of an escape cut off by the end of the bytes.
    unfinished_escape: Option<usize>,
}

fn hex(b: u8) -> Option<u32> {
    (b as char).to_digit(16)
}

impl<'a> Decoded<'a> {
    fn of(original: &'a [u8]) -> Self {
        if memchr::memchr2(b'\\', b'%', original).is_none() {
            return Self {
                original,
                decoded: None,
                unfinished_escape: None,
            };
        }
        let mut out = Vec::with_capacity(original.len());
        let mut spans = Vec::with_capacity(original.len());
        let mut unfinished = None;
        let mut i = 0;
        let mut push = |out: &mut Vec<u8>, bytes: &[u8], s: usize, e: usize| {
            for &b in bytes {
                out.push(b);
                spans.push((s as u32, e as u32));
            }
        };
        while i < original.len() {
            let b = original[i];
            let (bytes, len): (Cow<[u8]>, usize) = match b {
                b'\\' => match original.get(i + 1) {
                    None => {
                        unfinished = Some(i);
                        break;
                    }
                    Some(b'u') => {
                        if original.len() < i + 6 {
                            unfinished = Some(i);
                            break;
                        }
                        match original[i + 2..i + 6]
                            .iter()
                            .try_fold(0u32, |acc, &h| Some(acc * 16 + hex(h)?))
                        {
                            Some(cp) => {
                                let c = char::from_u32(cp).unwrap_or('\u{fffd}');
                                let mut buf = [0u8; 4];
                                (Cow::Owned(c.encode_utf8(&mut buf).as_bytes().to_vec()), 6)
                            }
                            None => (Cow::Borrowed(&original[i..i + 1]), 1),
                        }
                    }
                    Some(&c) => {
                        let out_byte = match c {
                            b'n' => b'\n',
                            b't' => b'\t',
                            b'r' => b'\r',
                            b'b' => 8,
                            b'f' => 12,
                            other => other,
                        };
                        (Cow::Owned(vec![out_byte]), 2)
                    }
                },
                b'%' => match (original.get(i + 1), original.get(i + 2)) {
                    (Some(&h), Some(&l)) => match (hex(h), hex(l)) {
                        (Some(h), Some(l)) => (Cow::Owned(vec![(h * 16 + l) as u8]), 3),
                        _ => (Cow::Borrowed(&original[i..i + 1]), 1),
                    },
                    _ => {
                        unfinished = Some(i);
                        break;
                    }
                },
                _ => (Cow::Borrowed(&original[i..i + 1]), 1),
            };
            push(&mut out, &bytes, i, i + len);
            i += len;
        }
        Self {
            original,
            decoded: Some((out, spans)),
            unfinished_escape: unfinished,
        }
    }

    fn bytes(&self) -> &[u8] {
        match &self.decoded {
            Some((d, _)) => d,
            None => self.original,
        }
    }

    /// The original span of decoded bytes `[start, end)`.
    fn original(&self, start: usize, end: usize) -> (usize, usize) {
        match &self.decoded {
            None => (start, end),
            Some((_, spans)) => (spans[start].0 as usize, spans[end - 1].1 as usize),
        }
    }
}

/// Scrubs one body arriving in reads; holds back only what could still be a credential's start.
#[derive(Debug)]
pub struct StreamScrubber {
    secrets: Secrets,
    held: BytesMut,
}

impl StreamScrubber {
    /// One read in (`end` at the body's end), what may go to the client now.
    pub fn process(&mut self, chunk: Option<Bytes>, end: bool) -> Option<Bytes> {
        if self.secrets.is_empty() {
            return chunk;
        }
        let whole: Bytes = match (self.held.is_empty(), chunk) {
            (true, Some(c)) => c,
            (true, None) => Bytes::new(),
            (false, c) => {
                if let Some(c) = c {
                    self.held.extend_from_slice(&c);
                }
                self.held.split().freeze()
            }
        };
        if whole.is_empty() {
            return None;
        }
        let m = self.secrets.matcher.as_ref().expect("not empty");
        let view = Decoded::of(&whole);
        let spans = self.secrets.spans_in(m, &view);
        let cut = if end {
            whole.len()
        } else {
            self.secrets.undecided_from(&view, whole.len())
        };
        // A credential found before the cut is replaced; one that straddles it waits whole.
        let (spans, cut) = spans
            .iter()
            .fold((Vec::new(), cut), |(mut v, cut), &(s, e)| {
                if e <= cut {
                    v.push((s, e));
                    (v, cut)
                } else {
                    (v, cut.min(s))
                }
            });
        self.held.extend_from_slice(&whole[cut..]);
        let out = if spans.is_empty() {
            whole.slice(..cut)
        } else {
            Bytes::from(replace(&whole[..cut], &spans))
        };
        (!out.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::XorShift;

    const KEY: &str = "sk-ant-api03-S3cr3t/Key_0123456789abcdefXYZ";

    fn secrets() -> Secrets {
        Secrets::new([format!("Bearer {KEY}").as_bytes(), &b"x"[..]])
    }

    fn scrubbed(s: &str) -> String {
        String::from_utf8(secrets().scrub(s.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn every_form_is_replaced() {
        let json_escaped = serde_json::to_string(KEY).unwrap();
        let every_char_escaped: String = KEY
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        let slash_escaped = KEY.replace('/', "\\/");
        let mixed = KEY.replace('-', "\\u002d").replace('/', "\\/");
        let percent: String = KEY.bytes().map(|b| format!("%{b:02X}")).collect();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("user:{KEY}"));
        let url_b64 = base64::engine::general_purpose::URL_SAFE.encode(format!("ab{KEY}c"));
        for form in [
            KEY.to_string(),
            json_escaped,
            every_char_escaped,
            slash_escaped,
            mixed,
            percent,
            basic,
            url_b64,
        ] {
            let body = format!("{{\"error\":\"bad key {form} given\"}}");
            let out = scrubbed(&body);
            assert!(out.contains("[redacted]"), "{form}: {out}");
            assert_eq!(out.len(), body.len(), "length for length");
            for piece in ["S3cr3t", "0123456789abcdef", "UzNjcjN0"] {
                assert!(!out.contains(piece), "{form}: {out}");
            }
            assert!(
                out.starts_with("{\"error\":\"bad key ") && out.ends_with(" given\"}"),
                "{out}"
            );
            assert!(secrets().found_in(form.as_bytes()), "{form}");
        }
        assert_eq!(scrubbed("nothing here \\n 100%"), "nothing here \\n 100%");
        assert!(!secrets().found_in(b"Bearer sk-other"));
    }

    /// The run filter only skips texts the automaton would find nothing in, and it does skip
    /// ordinary answers.
    #[test]
    fn the_run_filter_never_hides_a_credential() {
        let s = secrets();
        let m = s.matcher.as_ref().unwrap();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("user:{KEY}"));
        let pieces = [
            KEY, &basic, " ", "\"", "-", "S3cr3t", "x", "\\u002d", "/", "%2F",
        ];
        let mut rng = XorShift(11);
        let (mut found, mut skipped) = (0, 0);
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..rng.below(12) {
                let p = pieces[rng.below(pieces.len() as u64) as usize];
                // Pieces cut anywhere, so that runs of every length occur.
                let from = rng.below(p.len() as u64) as usize;
                text.push_str(p.get(from..).unwrap_or(p));
            }
            let view = Decoded::of(text.as_bytes());
            if m.is_match(view.bytes()) {
                found += 1;
                assert!(s.may_hold(view.bytes()), "{text:?}");
            } else if !s.may_hold(view.bytes()) {
                skipped += 1;
            }
        }
        assert!(
            found > 1_000 && skipped > 1_000,
            "{found} found, {skipped} skipped"
        );
        let answer = br#"{"id":"chatcmpl-9f2c1a","object":"chat.completion","choices":[{"message":{"role":"assistant","content":"EU sovereignty for AI means the data stay under European law."}}],"usage":{"prompt_tokens":17}}"#;
        assert!(!s.may_hold(answer));
    }

    #[test]
    fn short_credentials_are_not_patterns() {
        assert!(Secrets::new([&b"Bearer abc"[..]]).is_empty());
    }

    /// The stream result is the whole-body result, wherever the reads are cut, and nothing is
    /// held back that could not be a credential's beginning.
    #[test]
    fn streams_are_scrubbed_across_reads() {
        let s = secrets();
        let key_escaped = KEY.replace('-', "\\u002d");
        let body = format!(
            "data: {{\"delta\":\"{KEY}\"}}\n\ndata: {{\"e\":\"{key_escaped}\"}}\n\ndata: [DONE]\n\n"
        );
        let want = s.scrub(body.as_bytes()).into_owned();
        let mut rng = XorShift(7);
        for _ in 0..500 {
            let mut cuts: Vec<usize> = (0..rng.below(8))
                .map(|_| rng.below(body.len() as u64) as usize)
                .collect();
            cuts.sort();
            cuts.dedup();
            let mut sc = s.stream();
            let mut out = Vec::new();
            let mut at = 0;
            for &c in cuts.iter().chain(std::iter::once(&body.len())) {
                let end = c == body.len();
                if let Some(b) =
                    sc.process(Some(Bytes::copy_from_slice(&body.as_bytes()[at..c])), end)
                {
                    out.extend_from_slice(&b);
                }
                at = c;
            }
            assert_eq!(out, want, "cuts {cuts:?}");
        }
        // Ordinary events are not held: each read goes out whole.
        let mut sc = s.stream();
        let ev = b"data: {\"delta\":\"Hello there\"}\n\n";
        assert_eq!(
            sc.process(Some(Bytes::from_static(ev)), false).as_deref(),
            Some(&ev[..])
        );
        // A read ending in what could start the key waits only for that tail.
        let out = sc
            .process(Some(Bytes::from_static(b"data: sk-an")), false)
            .unwrap();
        assert_eq!(&out[..], b"data: ");
        let out = sc
            .process(Some(Bytes::from_static(b"swer\n\n")), false)
            .unwrap();
        assert_eq!(&out[..], b"sk-answer\n\n");
    }

    #[test]
    fn no_credentials_cost_nothing() {
        let none = Secrets::new(std::iter::empty());
        let mut sc = none.stream();
        let chunk = Bytes::from_static(b"anything");
        let out = sc.process(Some(chunk.clone()), false).unwrap();
        assert_eq!(
            out.as_ptr(),
            chunk.as_ptr(),
            "passed through without a copy"
        );
    }
}
