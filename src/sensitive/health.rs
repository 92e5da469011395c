//! Health data about a person (GDPR Art. 9): a condition, medication or treatment term near
//! something that makes it about someone real: a first-person statement ("I have", "mein",
//! "j'ai", "minulla on", ...), a relative or colleague ("my daughter", "Kollegin", "collega"), or a
//! person's first name. Generic care words ("hospital", "therapy", "sick") need the stronger
//! markers (a relative, a colleague, a name); a first person alone is not enough for them.
//!
//! Not about anyone real: hypothetical and textbook framing ("a hypothetical patient", "case
//! study", "Patient X", "cas clinique fictif") nearby suppresses the finding, as do questions
//! about a condition with no one attached ("how does metformin work?").

use super::lexicon::{Cat, Hit};
use super::Doc;

/// How far a relative, colleague or name may stand from the health term.
const STRONG_WINDOW: usize = 100;
/// How far before (and after) a first-person statement may stand.
const FIRST_BEFORE: usize = 60;
const FIRST_AFTER: usize = 40;
/// How far hypothetical framing reaches.
const FRAMING_WINDOW: usize = 300;

fn strong_marker(doc: &Doc, h: &Hit) -> bool {
    let from = h.start.saturating_sub(STRONG_WINDOW);
    let to = h.end + STRONG_WINDOW;
    doc.hits.any_in(Cat::Relation, from, to) || doc.name_in(from, to)
}

fn first_person(doc: &Doc, h: &Hit) -> bool {
    doc.hits.any_in(
        Cat::FirstPerson,
        h.start.saturating_sub(FIRST_BEFORE),
        h.end + FIRST_AFTER,
    )
}

fn framed(doc: &Doc, h: &Hit) -> bool {
    doc.hits.any_in(
        Cat::Framing,
        h.start.saturating_sub(FRAMING_WINDOW),
        h.end + FRAMING_WINDOW,
    )
}

pub fn detect(doc: &Doc) -> bool {
    let about_someone = |h: &Hit, strong_only: bool| {
        (strong_marker(doc, h) || !strong_only && first_person(doc, h)) && !framed(doc, h)
    };
    doc.hits
        .of(Cat::Condition)
        .iter()
        .any(|h| about_someone(h, false))
        || doc
            .hits
            .of(Cat::Care)
            .iter()
            .any(|h| about_someone(h, true))
}
