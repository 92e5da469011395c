//! Sensitive-data detection: personal data and secrets, wherever they stand in a request.
//!
//! `scan_body` walks the raw JSON bytes (every string at every depth, object keys, numbers as
//! written; `data:` URLs and base64 text payloads decoded; no key or prefix skipped), normalises
//! the text (NFKC, invisible characters, space and dash variants), joins the values with a newline
//! so a number split over two text blocks is still one number, and runs the detectors once over the
//! whole. Duplicate keys, invalid UTF-8 and excessive nesting are refused (`BodyError`) by the same
//! walker that `validate_body` uses on every route.
//!
//! Design for linear time: one keyword automaton pass (`lexicon`), one pass for number clusters
//! (`numbers`), `memchr` for `@` and `://`; every candidate is then checked in a bounded window.
//! Text beyond `ScanOptions::budget_bytes` is not read and the request counts as sensitive.
//!
//! Only entity *kinds* leave this module; the matched text never does.

mod address;
#[doc(hidden)]
pub mod adversarial;
mod contact;
mod finance;
mod health;
mod ids;
mod lexicon;
mod names;
mod normalize;
mod numbers;
mod payload;
mod secrets;
mod walk;

pub use walk::BodyError;

use lexicon::Hits;
use payload::Payload;

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
    pub const ALL: [Entity; 8] = [
        Entity::Email,
        Entity::Phone,
        Entity::Iban,
        Entity::Card,
        Entity::NationalId,
        Entity::Secret,
        Entity::Health,
        Entity::Address,
    ];

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

/// Limits of one scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanOptions {
    /// Text (after decoding) beyond this many bytes is not scanned; the request then counts as
    /// sensitive (`Findings::budget_exceeded`).
    pub budget_bytes: usize,
    /// Deeper nesting is refused (`BodyError::TooDeep`).
    pub max_depth: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            budget_bytes: 4 << 20,
            max_depth: 128,
        }
    }
}

/// What a scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Entity kinds found, sorted, each once.
    pub entities: Vec<Entity>,
    /// Binary media (images, PDFs, audio) the scan cannot read; a team policy decides.
    pub unscannable: bool,
    /// More text than the budget: not all of it was read, so it counts as sensitive.
    pub budget_exceeded: bool,
}

impl Findings {
    /// Whether the request must stay `sovereign` (binary media aside, which is policy).
    pub fn sensitive(&self) -> bool {
        !self.entities.is_empty() || self.budget_exceeded
    }
}

/// The normalised text and its keyword hits, as every detector reads it.
pub(crate) struct Doc<'a> {
    /// Normalised text.
    pub text: &'a str,
    /// `text` lower-cased, byte-aligned with it.
    pub low: &'a str,
    pub hits: Hits,
    pub clusters: numbers::Clusters,
    /// Capitalised first names (start offsets), found on first use.
    names: once_cell::unsync::OnceCell<Vec<usize>>,
}

impl Doc<'_> {
    /// A capitalised first name starting in `[from, to)`.
    pub fn name_in(&self, from: usize, to: usize) -> bool {
        let v = self.names.get_or_init(|| names::positions(self.text));
        let i = v.partition_point(|&p| p < from);
        v.get(i).is_some_and(|&p| p < to)
    }
}

/// Run every detector over normalised text.
fn detect(text: &str) -> Vec<Entity> {
    let low = normalize::lower_aligned(text);
    let doc = Doc {
        text,
        low: &low,
        hits: Hits::find(&low),
        clusters: numbers::Clusters::find(text),
        names: once_cell::unsync::OnceCell::new(),
    };
    let mut out = Vec::new();
    let mut mark = |hit: bool, e: Entity| {
        if hit {
            out.push(e);
        }
    };
    mark(contact::detect_email(&doc), Entity::Email);
    mark(contact::detect_phone(&doc), Entity::Phone);
    mark(finance::detect_iban(&doc), Entity::Iban);
    mark(finance::detect_card(&doc), Entity::Card);
    mark(ids::detect(&doc), Entity::NationalId);
    mark(secrets::detect(&doc), Entity::Secret);
    mark(health::detect(&doc), Entity::Health);
    mark(address::detect(&doc), Entity::Address);
    out.sort();
    out
}

/// The kinds of sensitive data in a piece of text (the query string, `explain`, evaluation).
pub fn scan_text(text: &str) -> Vec<Entity> {
    let mut norm = String::with_capacity(text.len());
    normalize::push_normalized(&mut norm, text);
    detect(&norm)
}

/// Short protocol values (`"role": "user"`, `"type": "text"`): scanned like everything else, but
/// kept out of the running text so that two content blocks stay adjacent.
const PROTOCOL_KEYS: &[&str] = &[
    "role",
    "type",
    "id",
    "model",
    "media_type",
    "tool_use_id",
    "tool_call_id",
    "name",
    "stop_reason",
    "signature",
    "encoding_format",
    "format",
    "detail",
    "object",
    "status",
];

/// Collects the normalised text of a body, within the budget: content strings in reading order,
/// joined by a newline (detectors may span it: an IBAN split over two blocks); keys, numbers and
/// protocol values in a second section, each closed by `;` so that two numbers never join into
/// one (an array of token ids is not a card number).
struct Collector {
    text: String,
    side: String,
    budget: usize,
    budget_exceeded: bool,
    unscannable: bool,
}

impl Collector {
    fn room(&mut self, n: usize) -> bool {
        if self.budget_exceeded || self.text.len() + self.side.len() + n > self.budget {
            self.budget_exceeded = true;
            return false;
        }
        true
    }

    fn push(&mut self, s: &str) {
        if self.room(s.len()) {
            normalize::push_normalized(&mut self.text, s);
            self.text.push('\n');
        }
    }

    fn push_side(&mut self, s: &str) {
        if self.room(s.len()) {
            normalize::push_normalized(&mut self.side, s);
            self.side.push_str(" ;\n");
        }
    }

    fn finish(mut self) -> (String, bool, bool) {
        self.text.push_str("\n;\n");
        self.text.push_str(&self.side);
        (self.text, self.unscannable, self.budget_exceeded)
    }
}

impl walk::Sink for Collector {
    fn key(&mut self, key: &str) {
        self.push_side(key);
    }

    fn string(&mut self, key: Option<&str>, value: &str) {
        match payload::classify(key, value) {
            Payload::Text(t) if key.is_some_and(|k| PROTOCOL_KEYS.contains(&k)) => {
                self.push_side(&t)
            }
            Payload::Text(t) => self.push(&t),
            Payload::Binary => {
                self.unscannable = true;
                // A long base64-looking value under an ordinary key may be a token run together
                // with others: read as written too.
                if payload::bare_base64(key, value) {
                    self.push_side(value);
                }
            }
        }
    }

    fn number(&mut self, raw: &str) {
        self.push_side(raw);
    }
}

/// Refuse what no route accepts: duplicate keys, invalid UTF-8 or lone surrogates, nesting
/// deeper than `ScanOptions::default().max_depth` (the cheap path when no scan is needed).
pub fn validate_body(body: &[u8]) -> Result<(), BodyError> {
    walk::Walker::new(body, ScanOptions::default().max_depth, walk::Discard).run()
}

/// Validate a JSON body (as `validate_body`) and scan everything in it.
pub fn scan_body(body: &[u8], opts: &ScanOptions) -> Result<Findings, BodyError> {
    let sink = Collector {
        text: String::with_capacity(body.len().min(opts.budget_bytes)),
        side: String::new(),
        budget: opts.budget_bytes,
        budget_exceeded: false,
        unscannable: false,
    };
    let mut w = walk::Walker::new(body, opts.max_depth, sink);
    w.run()?;
    let (text, unscannable, budget_exceeded) = w.sink.finish();
    Ok(Findings {
        entities: detect(&text),
        unscannable,
        budget_exceeded,
    })
}

#[cfg(test)]
mod tests;

/// Time spent per phase on `text` (ns per byte), for tuning the scan. Not on the request path.
#[doc(hidden)]
pub fn profile(text: &str, rounds: u32) -> Vec<(&'static str, f64)> {
    use std::hint::black_box;
    use std::time::Instant;
    let _ = scan_text("warm up");
    let mut out = Vec::new();
    let per = |t: Instant| t.elapsed().as_nanos() as f64 / rounds as f64 / text.len().max(1) as f64;
    let t = Instant::now();
    for _ in 0..rounds {
        let mut n = String::new();
        normalize::push_normalized(&mut n, text);
        black_box(normalize::lower_aligned(&n));
    }
    out.push(("normalize+lower", per(t)));
    let low = normalize::lower_aligned(text);
    let t = Instant::now();
    for _ in 0..rounds {
        black_box(Hits::find(&low));
    }
    out.push(("lexicon", per(t)));
    let t = Instant::now();
    for _ in 0..rounds {
        black_box(lexicon::inner_matches(&low));
    }
    out.push(("(of which in-word)", per(t)));
    let t = Instant::now();
    for _ in 0..rounds {
        black_box(lexicon::word_start_matches(&low));
    }
    out.push(("(of which word starts)", per(t)));
    let t = Instant::now();
    for _ in 0..rounds {
        black_box(numbers::Clusters::find(text));
    }
    out.push(("clusters", per(t)));
    let doc = Doc {
        text,
        low: &low,
        hits: Hits::find(&low),
        clusters: numbers::Clusters::find(text),
        names: once_cell::unsync::OnceCell::new(),
    };
    type D = fn(&Doc) -> bool;
    let dets: [(&str, D); 8] = [
        ("email", contact::detect_email),
        ("phone", contact::detect_phone),
        ("iban", finance::detect_iban),
        ("card", finance::detect_card),
        ("ids", ids::detect),
        ("secrets", secrets::detect),
        ("health", health::detect),
        ("address", address::detect),
    ];
    for (name, f) in dets {
        let t = Instant::now();
        for _ in 0..rounds {
            black_box(f(&doc));
        }
        out.push((name, per(t)));
    }
    out
}
