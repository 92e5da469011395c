//! Postal addresses: a street and a house number, in the orders European countries write them.
//!
//! - A compound street name with its number after it: `Hauptstraße 5`, `Hauptstr 5`,
//!   `Haupt-Straße 5`, `HAUPTSTRASSE 5`, `Kerkstraat 12`, `Nørregade 7`, `Storgatan 14`,
//!   `Mannerheimintie 12`.
//! - A street word of its own after the name: `Berliner Straße 5`, or with the number first,
//!   `14 Mulberry Gardens`, `221b Baker Street`.
//! - A street word before the name: `Via Garibaldi 23`, `Calle de Toledo 44`, `ul. Marszałkowska
//!   84/92`, `Rua Augusta 112`, or with the number first, `27 rue des Tanneurs`.
//! - Any `Name number, postcode City` (`Vodičkova 36, 110 00 Praha 1`) with a country postcode
//!   shape: 5 digits, `NNN NN`, `NN-NNN`, `NNNN-NNN`, `NNNN AB`.
//!
//! A business's public address is not personal data: an imprint or contact-page word
//! ("Impressum", "registered office", "Sede legale", ...) or a company suffix (GmbH, B.V., S.r.l.,
//! ApS, ...) close to it.

use super::lexicon::{Cat, Hit};
use super::numbers::Group;
use super::Doc;

/// Words after a number that make it a quantity, not a house number.
const UNITS: &[&str] = &[
    "m",
    "meter",
    "meters",
    "metre",
    "metres",
    "km",
    "cm",
    "mm",
    "kg",
    "g",
    "mg",
    "ml",
    "l",
    "liter",
    "litre",
    "liters",
    "jahr",
    "jahre",
    "jahren",
    "jaar",
    "jaren",
    "year",
    "years",
    "ans",
    "anni",
    "años",
    "anos",
    "lat",
    "år",
    "vuotta",
    "let",
    "roky",
    "minute",
    "minuten",
    "minutes",
    "min",
    "minuti",
    "minutos",
    "stunde",
    "stunden",
    "uur",
    "hour",
    "hours",
    "h",
    "ore",
    "horas",
    "euro",
    "eur",
    "€",
    "$",
    "%",
    "prozent",
    "procent",
    "percent",
    "stück",
    "stuks",
    "x",
    "mal",
    "times",
    "keer",
    "gånger",
    "gange",
    "kertaa",
    "krát",
    "razy",
    "veces",
    "volte",
    "fois",
    "tage",
    "days",
    "dagen",
    "jours",
    "giorni",
    "días",
    "dni",
    "dagar",
    "dage",
    "päivää",
    "dní",
    "uhr",
    "pm",
    "am",
    "o'clock",
    "punkte",
    "points",
    "seiten",
    "pages",
];

/// Street suffixes that are also endings of ordinary words (`simpelweg`, `Arbeitsplatz`): only
/// in a capitalised name.
const WEAK_SUFFIX: &[&str] = &[
    "weg", "tie", "kade", "dijk", "plein", "vej", "torv", "kuja", "polku", "rinne", "kaari",
    "tori", "platz", "damm", "ufer", "steig", "pfad", "steeg", "dreef", "plads", "backen",
    "stigen", "torget", "väylä", "raitti", "gata", "gaten", "vejen", "veien", "vegen", "gaden",
    "stien",
];

/// A house number at `i`: 1-4 digits, an optional letter or `/n`, `-n`; returns its end.
fn house_number_at(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut j = i;
    while j < b.len() && b[j].is_ascii_digit() && j - i < 5 {
        j += 1;
    }
    if j == i || j - i > 4 || b.get(j).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    // 12a, 12 a? no: only a directly attached letter; 84/92, 10-12.
    if b.get(j).is_some_and(u8::is_ascii_alphabetic) {
        if b.get(j + 1).is_some_and(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        j += 1;
    } else if matches!(b.get(j), Some(b'/' | b'-')) && b.get(j + 1).is_some_and(u8::is_ascii_digit)
    {
        j += 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
    }
    // Not a quantity: "1 meter", "5 km", "3 Jahre".
    if let Some(w) = text[j..].strip_prefix(' ') {
        let unit: String = w
            .chars()
            .take_while(|c| c.is_alphabetic() || *c == '%' || *c == '€' || *c == '$')
            .flat_map(char::to_lowercase)
            .collect();
        // `12 m. 5`: the Polish flat (mieszkanie), not metres.
        let flat = unit == "m"
            && w[1..].starts_with(". ")
            && w[3..].starts_with(|c: char| c.is_ascii_digit());
        if UNITS.contains(&unit.as_str()) && !flat {
            return None;
        }
    }
    // Not a decimal, a time or a percentage.
    match b.get(j) {
        Some(b'.') if b.get(j + 1).is_some_and(u8::is_ascii_digit) => None,
        Some(b':' | b'%' | b'\'') => None,
        Some(b',') if b.get(j + 1).is_some_and(u8::is_ascii_digit) => None,
        _ => Some(j),
    }
}

/// A house number ending right before `i` (after skipping `, ` and spaces); returns its start.
fn house_number_before(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut j = i;
    while j > 0 && matches!(b[j - 1], b' ' | b',') && i - j < 3 {
        j -= 1;
    }
    // The number stands apart from the name (`14 Mulberry Row`), never glued to it (`50M-row`).
    if j == i {
        return None;
    }
    let e = j;
    // An attached letter (221b).
    if j > 0 && b[j - 1].is_ascii_alphabetic() && j > 1 && b[j - 2].is_ascii_digit() {
        j -= 1;
    }
    while j > 0 && b[j - 1].is_ascii_digit() && e - j < 6 {
        j -= 1;
    }
    if j == e || (j > 0 && b[j - 1].is_ascii_alphanumeric()) {
        return None;
    }
    // `1234/56`: the Czech and Slovak conscription number before the orientation number; a
    // range, `2-4`.
    if j > 1 && matches!(b[j - 1], b'/' | b'-') && b[j - 2].is_ascii_digit() {
        let mut k = j - 1;
        while k > 0 && b[k - 1].is_ascii_digit() && j - 1 - k < 4 {
            k -= 1;
        }
        if !(k > 0 && b[k - 1].is_ascii_alphanumeric()) {
            return house_number_at(text, k).map(|_| k);
        }
    }
    house_number_at(text, j).map(|_| j)
}

/// Skip up to two spaces (and one comma) from `i`.
fn skip_space(text: &str, i: usize) -> usize {
    let b = text.as_bytes();
    let mut j = i;
    while j < b.len() && matches!(b[j], b' ' | b'\t' | b',') && j - i < 3 {
        j += 1;
    }
    j
}

/// The word ending before `i` (after at most one space): (start, end).
fn word_before(text: &str, i: usize) -> Option<(usize, usize)> {
    let mut e = i;
    let b = text.as_bytes();
    if e > 0 && b[e - 1] == b' ' {
        e -= 1;
    }
    let mut s = e;
    for (k, c) in text[..e].char_indices().rev() {
        if !(c.is_alphabetic() || c == '-' || c == '\'' || c == '.') || e - k > 40 {
            break;
        }
        s = k;
    }
    (s < e).then_some((s, e))
}

/// The word starting at `i`: end.
fn word_after(text: &str, i: usize) -> Option<usize> {
    let mut e = i;
    for (k, c) in text[i..].char_indices() {
        if !(c.is_alphabetic() || c == '-' || c == '\'') || k > 40 {
            break;
        }
        e = i + k + c.len_utf8();
    }
    (e > i).then_some(e)
}

fn capitalised(text: &str, s: usize) -> bool {
    text[s..].chars().next().is_some_and(char::is_uppercase)
}

/// Little words inside street names.
fn particle(w: &str) -> bool {
    matches!(
        w.to_lowercase().as_str(),
        "de" | "del"
            | "della"
            | "delle"
            | "dei"
            | "di"
            | "da"
            | "do"
            | "dos"
            | "das"
            | "des"
            | "du"
            | "la"
            | "le"
            | "les"
            | "el"
            | "los"
            | "las"
            | "van"
            | "von"
            | "der"
            | "den"
            | "dello"
            | "degli"
            | "d'"
            | "l'"
            | "st."
            | "san"
            | "santa"
            | "sankt"
            | "saint"
            | "sainte"
    )
}

/// `Hauptstraße 5`: the suffix ends a word of at least 3 letters before it.
fn compound(doc: &Doc, h: &Hit) -> Option<usize> {
    let text = doc.text;
    let low = doc.low;
    let mut end = h.end;
    // `str.` / `str`: the abbreviation.
    if low[h.start..h.end] == *"str" {
        if text.as_bytes().get(end) == Some(&b'.') {
            end += 1;
        } else if text.as_bytes().get(end) != Some(&b' ') {
            return None;
        }
    } else if low[end..].chars().next().is_some_and(char::is_alphabetic) {
        return None;
    }
    let (ws, _) = word_before(text, h.start).or(Some((h.start, h.start)))?;
    if WEAK_SUFFIX.contains(&&low[h.start..h.end]) && !capitalised(text, ws) {
        return None;
    }
    // The name part before the suffix: "Haupt" in "Hauptstraße", "Haupt-" in "Haupt-Straße".
    if text[ws..h.start]
        .chars()
        .filter(|c| c.is_alphabetic())
        .count()
        < 3
    {
        return None;
    }
    let n = skip_space(text, end);
    if n == end && !text[end..].starts_with(' ') && n < text.len() {
        // `Hauptstraße5`: no space, still an address.
    }
    house_number_at(text, n).map(|_| ws)
}

/// `Berliner Straße 5` / `14 Mulberry Gardens`: a street word of its own.
fn separate_after(doc: &Doc, h: &Hit) -> Option<usize> {
    let text = doc.text;
    // Capitalised words before it (1-3).
    let mut first = None;
    let mut at = h.start;
    for _ in 0..3 {
        match word_before(text, at) {
            // A single capital is an initial or a unit (`50M-row`), not a street name.
            Some((s, e))
                if (capitalised(text, s)
                    && text[s..e].chars().filter(|c| c.is_alphabetic()).count() >= 2
                    || particle(&text[s..e]))
                    && e + 1 >= at =>
            {
                first = Some(s);
                at = s;
            }
            _ => break,
        }
    }
    let first = first?;
    if !capitalised(text, first) {
        return None;
    }
    // Norwegian `Karl Johans gate 22`, `Thereses gate 5`: lower case after a genitive (not an
    // airport's `Gate 12`).
    if matches!(&doc.low[h.start..h.end], "gate" | "gata" | "vei")
        && (capitalised(text, h.start) || !text[..h.start].trim_end().ends_with('s'))
    {
        return None;
    }
    // Number after (German order) or before (English order).
    let mut end = h.end;
    if text.as_bytes().get(end) == Some(&b'.') {
        end += 1;
    }
    let abbrev = h.end - h.start <= 3;
    if !abbrev && house_number_at(text, skip_space(text, end)).is_some() {
        return Some(first);
    }
    house_number_before(text, first)
}

/// `nº 5`, `n.º 16`, `nr 5`, `núm. 5` (`º` is `o` after NFKC) before a house number: skipped.
fn skip_number_marker(text: &str, i: usize) -> usize {
    let rest = &text.as_bytes()[i..];
    for m in [
        "n.o ", "no ", "nº ", "n.º ", "nr. ", "nr ", "núm. ", "num. ", "n. ",
    ] {
        let m = m.as_bytes();
        if rest.len() > m.len()
            && rest[..m.len()].eq_ignore_ascii_case(m)
            && rest[m.len()].is_ascii_digit()
        {
            return i + m.len();
        }
    }
    i
}

/// `Via Roma 12`, `27 rue des Tanneurs`: a street word before the name.
fn separate_before(doc: &Doc, h: &Hit) -> Option<usize> {
    let text = doc.text;
    let mut i = skip_space(text, h.end);
    let mut names = 0;
    let mut caps = 0;
    while names < 5 {
        if i >= text.len() {
            break;
        }
        if text[i..].starts_with(|c: char| c.is_ascii_digit()) {
            break;
        }
        let Some(e) = word_after(text, i) else { break };
        let w = &text[i..e];
        if capitalised(text, i) {
            caps += 1;
        } else if !particle(w) {
            break;
        }
        names += 1;
        i = skip_space(text, e);
    }
    if caps == 0 {
        return None;
    }
    i = skip_number_marker(text, i);
    if house_number_at(text, i).is_some() && i > h.end {
        return Some(h.start);
    }
    // French order: the number before the street word, `12 bis rue ...` too.
    house_number_before(text, h.start).or_else(|| {
        let (s, e) = word_before(text, h.start)?;
        matches!(&doc.low[s..e], "bis" | "ter" | "quater")
            .then(|| house_number_before(text, s))
            .flatten()
    })
}

/// `Name 36, 110 00 Praha`: a postcode shape between a house number and a city.
fn postcode_city(doc: &Doc, g: &[Group]) -> Option<usize> {
    let text = doc.text;
    let b = text.as_bytes();
    if g.len() > 2 {
        return None;
    }
    let mut lens_buf = [0usize; 2];
    for (l, x) in lens_buf.iter_mut().zip(g) {
        *l = x.len();
    }
    let lens = &lens_buf[..g.len()];
    let sep = |k: usize| b[g[k].end];
    let nl_letters = |e: usize| {
        b.get(e + 1).is_some_and(u8::is_ascii_uppercase)
            && b.get(e + 2).is_some_and(u8::is_ascii_uppercase)
            && b.get(e + 3) == Some(&b' ')
    };
    // `1000 Bruxelles`, `8001 Zürich`, `0159 Oslo`: four digits alone are many things, so the
    // city must end the address line.
    let four = lens == [4] && !nl_letters(g[0].end);
    let shape = match lens {
        [5] => true,
        [3, 2] => sep(0) == b' ',
        [2, 3] => sep(0) == b'-',
        [4, 3] => sep(0) == b'-',
        [4] => true,
        _ => false,
    };
    if !shape || !g.iter().all(Group::all_digits) {
        return None;
    }
    let end = g.last()?.end;
    // City: a capitalised word after (NL letters skipped).
    let mut c = skip_space(text, end);
    if lens == [4] && !four {
        c = skip_space(text, c + 2);
    }
    let city_end = word_after(text, c)?;
    if c >= text.len() || !capitalised(text, c) || city_end - c < 3 {
        return None;
    }
    if four {
        let rest = text[city_end..].trim_start_matches(' ');
        let ends = rest.is_empty()
            || rest.starts_with(['.', ',', ';', ')', '\n'])
            || rest.starts_with(|c: char| c.is_ascii_digit() || c.is_uppercase());
        if !ends {
            return None;
        }
    }
    // A country prefix: `A-1060`, `CH-8004`, `B-1000`.
    let mut start = g[0].start;
    let pre = &b[start.saturating_sub(4)..start];
    let mut prefixed = false;
    if pre.ends_with(b"-") {
        let k = pre.len() - 1;
        let letters = pre[..k]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_uppercase())
            .count();
        if (1..=2).contains(&letters) {
            start -= letters + 1;
            prefixed = true;
        }
    }
    // Four digits that read as a recent year (`Windows 11, 2022 Update`) need the prefix.
    if four && !prefixed {
        let y: u32 = text[g[0].start..g[0].end].parse().unwrap_or(0);
        if (1950..=2039).contains(&y) {
            return None;
        }
    }
    // Before: `, ` or a line break and a house number after a capitalised street name.
    let before = text[..start].trim_end_matches([' ', ',', '\n']);
    let gap = &text[before.len()..start];
    if gap.len() > 4 || !gap.contains([',', '\n']) {
        return None;
    }
    // A flat or box after the house number: `Meir 37 bus 15`, `Storgatan 5, lgh 1102`.
    let hn = house_number_before(text, before.len() + 1)
        .and_then(|hn| {
            let w = word_before(text, hn).map(|(s, e)| doc.low[s..e].trim_end_matches('.'));
            match w {
                Some("bus" | "bte" | "boîte" | "box" | "lgh" | "m" | "apt" | "int" | "as") => {
                    let (ws, _) = word_before(text, hn)?;
                    house_number_before(text, ws)
                }
                _ => Some(hn),
            }
        })
        .or_else(|| house_number_before(text, start))?;
    let (ws, _) = word_before(text, hn)?;
    (capitalised(text, ws) && hn - ws >= 5).then_some(ws)
}

/// An imprint word or a company suffix close to an address at `start`.
fn business(doc: &Doc, start: usize) -> bool {
    if doc
        .hits
        .any_in(Cat::Imprint, start.saturating_sub(300), start + 120)
    {
        return true;
    }
    let from = start.saturating_sub(100);
    let to = start + 100;
    let v = doc.hits.of(Cat::Company);
    let i = v.partition_point(|h| h.start < from);
    v[i..].iter().take_while(|h| h.start < to).any(|h| {
        {
            // As written: `GmbH`, `AG`, `ApS`, `B.V.`; not the German preposition `ab`.
            let w = &doc.text[h.start..h.end];
            // `1017 AB Amsterdam`: Dutch postcode letters, not a Swedish company.
            let pre = doc.text.as_bytes()[..h.start]
                .rsplit(|&c| c == b' ' || c == b'\n')
                .nth(1);
            if w.len() == 2 && pre.is_some_and(|p| p.len() == 4 && p.iter().all(u8::is_ascii_digit))
            {
                return false;
            }
            let letters: Vec<char> = w.chars().filter(|c| c.is_alphabetic()).collect();
            letters.first().is_some_and(|c| c.is_uppercase())
                && (letters.len() > 3
                    || letters.iter().filter(|c| c.is_uppercase()).count() >= 2
                    || matches!(w, "Oy" | "Ltd" | "Inc" | "Lda" | "Ltda"))
        }
    })
}

/// `Nádražní 2087/8`, `Husova 806/11a`: Czech and Slovak streets have no street word; the
/// conscription/orientation pair after a street name in their spelling (a letter with a
/// diacritic, or the `-ova` adjective) is the address.
fn conscription(doc: &Doc, g: &[Group]) -> Option<usize> {
    let text = doc.text;
    let b = text.as_bytes();
    if g.len() != 2 || b[g[0].end] != b'/' || !g[0].all_digits() || !(3..=4).contains(&g[0].len()) {
        return None;
    }
    let o = &b[g[1].start..g[1].end];
    let digits = o.iter().take_while(|c| c.is_ascii_digit()).count();
    if !(1..=3).contains(&digits) || o.len() > digits + 1 {
        return None;
    }
    let (ws, we) = word_before(text, g[0].start)?;
    let w = &text[ws..we];
    let czech = w
        .chars()
        .flat_map(char::to_lowercase)
        .any(|c| "áéíóúůýčďěňřšťžľĺôä".contains(c))
        || w.ends_with("ova");
    (capitalised(text, ws) && w.chars().count() >= 4 && czech && we + 1 == g[0].start).then_some(ws)
}

pub fn detect(doc: &Doc) -> bool {
    let personal = |start: Option<usize>| start.is_some_and(|s| !business(doc, s));
    if doc
        .hits
        .of(Cat::StreetSuffix)
        .iter()
        .any(|h| personal(compound(doc, h)))
    {
        return true;
    }
    if doc
        .hits
        .of(Cat::StreetAfter)
        .iter()
        .any(|h| personal(separate_after(doc, h)))
    {
        return true;
    }
    if doc
        .hits
        .of(Cat::StreetBefore)
        .iter()
        .any(|h| personal(separate_before(doc, h)))
    {
        return true;
    }
    doc.clusters
        .iter()
        .any(|g| personal(postcode_city(doc, g)) || personal(conscription(doc, g)))
}
