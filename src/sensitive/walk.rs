//! One walker over the raw JSON bytes of a request body, shared by the validation every route runs
//! (`validate_body`) and by the sensitivity scan (`scan_body`).
//!
//! It reads the bytes itself rather than a `serde_json::Value`, because a `Value` keeps only the
//! last of two equal keys while the gateway forwards the bytes as sent: a scan of the `Value`
//! would not see what the upstream reads. So the walker rejects duplicate keys (compared after
//! unescaping, as every JSON reader compares them), invalid UTF-8 and lone surrogate escapes, and
//! nesting beyond a limit, and hands every string value, every object key and every number (as
//! written) to a [`Sink`]. Linear in the body: each byte is looked at a bounded number of times.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// Why a body is refused; every variant names the JSON path (`$.messages[0].content`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Not JSON at all, or not where `path` is.
    Syntax { path: String, offset: usize },
    /// The same key twice in one object: readers disagree on which one counts.
    DuplicateKey { path: String },
    /// Invalid UTF-8, a control character in a string, or a lone surrogate escape.
    InvalidUtf8 { path: String },
    /// Nested deeper than `limit` arrays and objects.
    TooDeep { path: String, limit: usize },
}

impl BodyError {
    /// The JSON path the error is about (for `param` in the error body).
    pub fn path(&self) -> &str {
        match self {
            BodyError::Syntax { path, .. }
            | BodyError::DuplicateKey { path }
            | BodyError::InvalidUtf8 { path }
            | BodyError::TooDeep { path, .. } => path,
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Syntax { path, offset } => {
                write!(f, "the request body is not valid JSON at {path} (byte {offset})")
            }
            BodyError::DuplicateKey { path } => write!(
                f,
                "the request body has a duplicate key at {path}; send each key once"
            ),
            BodyError::InvalidUtf8 { path } => write!(
                f,
                "the request body has invalid UTF-8, a control character or a lone surrogate at {path}"
            ),
            BodyError::TooDeep { path, limit } => write!(
                f,
                "the request body nests deeper than {limit} levels at {path}"
            ),
        }
    }
}

impl std::error::Error for BodyError {}

/// What the walker reports. `key` is the member name a string value belongs to (`None` in arrays
/// and at the root); it is a hint for payload decoding, never a reason to skip a value.
pub(crate) trait Sink {
    fn key(&mut self, key: &str);
    fn string(&mut self, key: Option<&str>, value: &str);
    fn number(&mut self, raw: &str);
}

/// A sink that keeps nothing: `validate_body`.
pub(crate) struct Discard;

impl Sink for Discard {
    fn key(&mut self, _: &str) {}
    fn string(&mut self, _: Option<&str>, _: &str) {}
    fn number(&mut self, _: &str) {}
}

enum Seg {
    /// Raw (still escaped) key bytes in the body.
    Key(usize, usize),
    Index(usize),
}

/// Objects with more keys than this switch from a linear search to a hash map.
const LINEAR_KEYS: usize = 16;

/// Keys already seen in one object: borrowed from the body unless they had escapes.
#[derive(Default)]
struct Seen<'a> {
    small: Vec<Cow<'a, str>>,
    map: HashMap<Cow<'a, str>, ()>,
}

impl<'a> Seen<'a> {
    /// Empty, keeping the room of `small` (an object's list is reused by the next object).
    fn reuse(mut small: Vec<Cow<'a, str>>) -> Self {
        small.clear();
        Seen {
            small,
            map: HashMap::new(),
        }
    }

    /// `false` if `k` was already there.
    fn insert(&mut self, k: Cow<'a, str>) -> bool {
        if self.map.is_empty() {
            if self.small.contains(&k) {
                return false;
            }
            self.small.push(k);
            if self.small.len() > LINEAR_KEYS {
                self.map = self.small.drain(..).map(|s| (s, ())).collect();
            }
            true
        } else {
            self.map.insert(k, ()).is_none()
        }
    }
}

pub(crate) struct Walker<'a, S: Sink> {
    b: &'a [u8],
    i: usize,
    max_depth: usize,
    path: Vec<Seg>,
    /// Unescaped string scratch, reused.
    scratch: String,
    key_scratch: String,
    /// Key lists of finished objects, for the next ones (no allocation per object).
    spare: Vec<Vec<Cow<'a, str>>>,
    pub(crate) sink: S,
}

enum Str {
    /// No escapes: the value is `b[start..end]`.
    Raw(usize, usize),
    /// Unescaped into the given scratch buffer.
    Owned,
}

impl<'a, S: Sink> Walker<'a, S> {
    pub(crate) fn new(b: &'a [u8], max_depth: usize, sink: S) -> Self {
        Walker {
            b,
            i: 0,
            max_depth,
            path: Vec::new(),
            scratch: String::new(),
            key_scratch: String::new(),
            spare: Vec::new(),
            sink,
        }
    }

    /// The whole body: one JSON value, whitespace around it.
    pub(crate) fn run(&mut self) -> Result<(), BodyError> {
        self.ws();
        self.value(None)?;
        self.ws();
        if self.i != self.b.len() {
            return Err(self.syntax());
        }
        Ok(())
    }

    fn path_string(&self) -> String {
        let mut p = String::from("$");
        for s in &self.path {
            match *s {
                Seg::Index(n) => p.push_str(&format!("[{n}]")),
                Seg::Key(a, e) => {
                    let mut k = String::new();
                    // The key was already unescaped once successfully, so this cannot fail.
                    let _ = unescape(&self.b[a..e], &mut k);
                    if !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        p.push('.');
                        p.push_str(&k);
                    } else {
                        p.push_str(&format!("[{}]", serde_json::Value::String(k)));
                    }
                }
            }
        }
        p
    }

    fn syntax(&self) -> BodyError {
        BodyError::Syntax {
            path: self.path_string(),
            offset: self.i,
        }
    }

    fn utf8(&self) -> BodyError {
        BodyError::InvalidUtf8 {
            path: self.path_string(),
        }
    }

    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.i += 1;
        }
    }

    fn value(&mut self, key: Option<&str>) -> Result<(), BodyError> {
        match self.b.get(self.i) {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => {
                let s = self.string(false)?;
                match s {
                    Str::Raw(a, e) => {
                        // Validated in `string`.
                        let v = std::str::from_utf8(&self.b[a..e]).expect("checked");
                        self.sink.string(key, v);
                    }
                    Str::Owned => {
                        let v = std::mem::take(&mut self.scratch);
                        self.sink.string(key, &v);
                        self.scratch = v;
                    }
                }
                Ok(())
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.syntax()),
        }
    }

    fn literal(&mut self, lit: &[u8]) -> Result<(), BodyError> {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    fn number(&mut self) -> Result<(), BodyError> {
        let start = self.i;
        let b = self.b;
        let digits = |i: &mut usize| {
            let s = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > s
        };
        let mut i = self.i;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        if b.get(i) == Some(&b'0') {
            i += 1;
        } else if !digits(&mut i) {
            self.i = i;
            return Err(self.syntax());
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                self.i = i;
                return Err(self.syntax());
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digits(&mut i) {
                self.i = i;
                return Err(self.syntax());
            }
        }
        self.i = i;
        let raw = std::str::from_utf8(&b[start..i]).expect("ASCII");
        self.sink.number(raw);
        Ok(())
    }

    fn enter(&mut self) -> Result<(), BodyError> {
        // `path` holds one segment per open container (pushed by the caller after this check).
        if self.path.len() >= self.max_depth {
            return Err(BodyError::TooDeep {
                path: self.path_string(),
                limit: self.max_depth,
            });
        }
        Ok(())
    }

    fn array(&mut self) -> Result<(), BodyError> {
        self.enter()?;
        self.i += 1;
        self.path.push(Seg::Index(0));
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            self.path.pop();
            return Ok(());
        }
        let mut n = 0;
        loop {
            if let Some(Seg::Index(x)) = self.path.last_mut() {
                *x = n;
            }
            self.ws();
            self.value(None)?;
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => {
                    self.i += 1;
                    n += 1;
                }
                Some(b']') => {
                    self.i += 1;
                    self.path.pop();
                    return Ok(());
                }
                _ => return Err(self.syntax()),
            }
        }
    }

    fn object(&mut self) -> Result<(), BodyError> {
        self.enter()?;
        self.i += 1;
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(());
        }
        let mut seen = Seen::reuse(self.spare.pop().unwrap_or_default());
        let done = self.members(&mut seen);
        self.spare.push(seen.small);
        done
    }

    /// An object's members, after its `{`, through its `}`.
    fn members(&mut self, seen: &mut Seen<'a>) -> Result<(), BodyError> {
        let b: &'a [u8] = self.b;
        loop {
            self.ws();
            if self.b.get(self.i) != Some(&b'"') {
                return Err(self.syntax());
            }
            let raw_start = self.i + 1;
            let k = self.string(true)?;
            let raw_end = self.i - 1;
            self.path.push(Seg::Key(raw_start, raw_end));
            // A key without escapes is the body's own bytes: no copy.
            let key: Cow<'a, str> = match k {
                Str::Raw(a, e) => Cow::Borrowed(std::str::from_utf8(&b[a..e]).expect("checked")),
                Str::Owned => Cow::Owned(self.key_scratch.clone()),
            };
            if !seen.insert(key.clone()) {
                return Err(BodyError::DuplicateKey {
                    path: self.path_string(),
                });
            }
            self.sink.key(&key);
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return Err(self.syntax());
            }
            self.i += 1;
            self.ws();
            self.value(Some(&key))?;
            self.path.pop();
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.syntax()),
            }
        }
    }

    /// A string at `self.i` (the opening quote). Raw when it has no escapes; otherwise unescaped
    /// into `scratch` (`key_scratch` for keys).
    fn string(&mut self, is_key: bool) -> Result<Str, BodyError> {
        let start = self.i + 1;
        let b = self.b;
        let Some(rel) = memchr::memchr2(b'"', b'\\', &b[start..]) else {
            self.i = b.len();
            return Err(self.syntax());
        };
        let stop = start + rel;
        if b[stop] == b'"' {
            self.check_text(&b[start..stop])?;
            self.i = stop + 1;
            return Ok(Str::Raw(start, stop));
        }
        // Escapes: find the real end (a quote not escaped), then unescape.
        let mut j = stop;
        loop {
            match memchr::memchr2(b'"', b'\\', &b[j..]) {
                None => {
                    self.i = b.len();
                    return Err(self.syntax());
                }
                Some(r) => {
                    j += r;
                    if b[j] == b'\\' {
                        j += 2;
                        if j > b.len() {
                            self.i = b.len();
                            return Err(self.syntax());
                        }
                    } else {
                        break;
                    }
                }
            }
        }
        let raw = &b[start..j];
        self.check_text(raw)?;
        let out = if is_key {
            &mut self.key_scratch
        } else {
            &mut self.scratch
        };
        out.clear();
        match unescape(raw, out) {
            Ok(()) => {}
            Err(Unescape::Syntax) => {
                self.i = start;
                return Err(self.syntax());
            }
            Err(Unescape::Surrogate) => return Err(self.utf8()),
        }
        self.i = j + 1;
        Ok(Str::Owned)
    }

    /// Raw string bytes must be UTF-8 without control characters (RFC 8259 §7).
    fn check_text(&self, raw: &[u8]) -> Result<(), BodyError> {
        if std::str::from_utf8(raw).is_err() || raw.iter().any(|&c| c < 0x20) {
            return Err(self.utf8());
        }
        Ok(())
    }
}

enum Unescape {
    Syntax,
    Surrogate,
}

fn hex4(b: &[u8]) -> Option<u32> {
    if b.len() < 4 {
        return None;
    }
    let mut v = 0u32;
    for &c in &b[..4] {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

/// JSON string unescape of `raw` (valid UTF-8, between the quotes) into `out`.
fn unescape(raw: &[u8], out: &mut String) -> Result<(), Unescape> {
    let mut i = 0;
    while i < raw.len() {
        let Some(r) = memchr::memchr(b'\\', &raw[i..]) else {
            out.push_str(std::str::from_utf8(&raw[i..]).map_err(|_| Unescape::Syntax)?);
            break;
        };
        out.push_str(std::str::from_utf8(&raw[i..i + r]).map_err(|_| Unescape::Syntax)?);
        i += r + 1;
        let c = *raw.get(i).ok_or(Unescape::Syntax)?;
        i += 1;
        match c {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let hi = hex4(&raw[i..]).ok_or(Unescape::Syntax)?;
                i += 4;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate must be followed by `\u` + a low surrogate.
                    if raw.get(i) != Some(&b'\\') || raw.get(i + 1) != Some(&b'u') {
                        return Err(Unescape::Surrogate);
                    }
                    let lo = hex4(&raw[i + 2..]).ok_or(Unescape::Syntax)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(Unescape::Surrogate);
                    }
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else if (0xDC00..0xE000).contains(&hi) {
                    return Err(Unescape::Surrogate);
                } else {
                    hi
                };
                out.push(char::from_u32(cp).ok_or(Unescape::Surrogate)?);
            }
            _ => return Err(Unescape::Syntax),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Record(Vec<String>);
    impl Sink for Record {
        fn key(&mut self, k: &str) {
            self.0.push(format!("k:{k}"));
        }
        fn string(&mut self, key: Option<&str>, v: &str) {
            self.0.push(format!("s:{}={v}", key.unwrap_or("")));
        }
        fn number(&mut self, raw: &str) {
            self.0.push(format!("n:{raw}"));
        }
    }

    fn walk(s: &str) -> Result<Vec<String>, BodyError> {
        let mut w = Walker::new(s.as_bytes(), 128, Record::default());
        w.run()?;
        Ok(w.sink.0)
    }

    #[test]
    fn sees_keys_strings_and_numbers_as_written() {
        let got =
            walk(r#"{"a":[1,-2.5e3,"x\u00e9\n"],"b":{"c":true,"d\"":null,"e":"\ud83d\ude00"}}"#)
                .unwrap();
        assert_eq!(
            got,
            ["k:a", "n:1", "n:-2.5e3", "s:=xé\n", "k:b", "k:c", "k:d\"", "k:e", "s:e=😀"]
        );
    }

    #[test]
    fn duplicate_keys_anywhere_are_refused_with_their_path() {
        let e = walk(r#"{"messages":[{"role":"user","content":"a","content":"b"}]}"#).unwrap_err();
        assert_eq!(
            e,
            BodyError::DuplicateKey {
                path: "$.messages[0].content".into()
            }
        );
        // Equal after unescaping is equal.
        let e = walk(r#"{"model":"x","mod\u0065l":"y"}"#).unwrap_err();
        assert!(matches!(e, BodyError::DuplicateKey { ref path } if path == "$.model"));
        // Many keys: the hash map path.
        let mut big = String::from("{");
        for i in 0..40 {
            big.push_str(&format!("\"k{i}\":{i},"));
        }
        big.push_str("\"k7\":0}");
        assert!(matches!(walk(&big), Err(BodyError::DuplicateKey { .. })));
        // Same key in sibling objects is fine.
        walk(r#"[{"a":1},{"a":2}]"#).unwrap();
    }

    #[test]
    fn invalid_text_and_depth() {
        assert!(matches!(
            walk(r#"{"a":"\ud800"}"#),
            Err(BodyError::InvalidUtf8 { ref path }) if path == "$.a"
        ));
        assert!(matches!(
            walk(r#"{"a":"\udc00\ud800"}"#),
            Err(BodyError::InvalidUtf8 { .. })
        ));
        let mut bad = b"{\"a\":\"".to_vec();
        bad.extend_from_slice(&[0xff, b'"', b'}']);
        let mut w = Walker::new(&bad, 128, Discard);
        assert!(matches!(w.run(), Err(BodyError::InvalidUtf8 { .. })));
        assert!(matches!(
            walk("{\"a\":\"tab\there\"}"),
            Err(BodyError::InvalidUtf8 { .. })
        ));
        let deep = "[".repeat(129) + &"]".repeat(129);
        assert!(matches!(
            walk(&deep),
            Err(BodyError::TooDeep { limit: 128, .. })
        ));
        let ok = "[".repeat(128) + &"]".repeat(128);
        walk(&ok).unwrap();
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "[1,]",
            "01",
            "1.",
            "-",
            "tru",
            "\"abc",
            "{} x",
            "{\"a\":1,}",
            "\"\\x\"",
            "\"\\u12\"",
        ] {
            assert!(
                matches!(walk(bad), Err(BodyError::Syntax { .. })),
                "{bad:?}: {:?}",
                walk(bad)
            );
        }
        let e = walk(r#"{"messages":[{"role":"user","content":[1,}]}"#).unwrap_err();
        assert_eq!(e.path(), "$.messages[0].content[1]");
        assert!(e.to_string().contains("$.messages[0].content[1]"));
    }
}
