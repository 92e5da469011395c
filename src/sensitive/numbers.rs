//! Number-shaped candidates: clusters of ASCII alphanumeric groups joined by short separators, as
//! people write IBANs, cards, ids and phone numbers (`DE89 3704 0044`, `4111-1111`,
//! `770105/8585`, `06.12.34.56.78`, an IBAN split over two text blocks). One pass over the text;
//! every detector then looks at bounded runs of groups, so a long run of numbers costs linear time.

/// One alphanumeric group.
#[derive(Debug, Clone, Copy)]
pub struct Group {
    pub start: usize,
    pub end: usize,
    pub digits: u32,
}

impl Group {
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    pub fn all_digits(&self) -> bool {
        self.digits as usize == self.len()
    }
}

/// A group longer than this is a hash or a blob, not part of anything a detector looks for.
const MAX_GROUP: usize = 40;

/// Separators that join groups, and how many of them may stand in a row (tabs, double spaces,
/// ` - `, the newline that joins two text blocks).
fn is_sep(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'-' | b'.' | b'/' | b'\n' | b'\r')
}
const MAX_GAP: usize = 3;

fn alnum_end(b: &[u8], mut i: usize) -> (usize, u32) {
    let mut d = 0;
    while i < b.len() && b[i].is_ascii_alphanumeric() {
        d += b[i].is_ascii_digit() as u32;
        i += 1;
    }
    (i, d)
}

/// The start of the next group after a separator gap at `i`, if the gap is short enough.
fn next_group(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    while j < b.len() && j - i < MAX_GAP && is_sep(b[j]) {
        j += 1;
    }
    (j > i && j < b.len() && b[j].is_ascii_alphanumeric()).then_some(j)
}

/// The first ASCII digit at or after `i`, eight bytes at a time (most text has few digits).
fn next_digit(b: &[u8], mut i: usize) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    while i + 8 <= b.len() {
        let x = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        // Digits become 0..=9 under XOR 0x30; "has a byte below 10" (may also fire on bytes
        // whose high bit is set, which the byte loop below sorts out).
        let v = x ^ (0x30 * LO);
        if (v.wrapping_sub(10 * LO) & !v & HI) != 0 {
            break;
        }
        i += 8;
    }
    b[i..].iter().position(u8::is_ascii_digit).map(|p| i + p)
}

/// Calls `f` with each cluster: consecutive groups, at least one with a digit, joined by short
/// separator gaps. Letter-only groups are kept inside a cluster only when short and followed by a
/// group with digits (`NL14 WOXW 3191 ...`).
pub fn clusters(text: &str, mut f: impl FnMut(&[Group])) {
    let b = text.as_bytes();
    let mut groups: Vec<Group> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        // Next digit.
        match next_digit(b, i) {
            None => break,
            Some(p) => i = p,
        }
        // Back to the start of its group (letters before the digit belong to it).
        let mut s = i;
        while s > 0 && b[s - 1].is_ascii_alphanumeric() && i - s < MAX_GROUP {
            s -= 1;
        }
        if s > 0 && b[s - 1].is_ascii_alphanumeric() {
            // Inside a long token: skip it.
            let (e, _) = alnum_end(b, i);
            i = e;
            continue;
        }
        groups.clear();
        let mut start = s;
        loop {
            let (e, d) = alnum_end(b, start);
            if e - start > MAX_GROUP {
                break;
            }
            groups.push(Group {
                start,
                end: e,
                digits: d,
            });
            let Some(n) = next_group(b, e) else { break };
            let (ne, nd) = alnum_end(b, n);
            if nd == 0 {
                // A letter group joins only if short and followed by digits.
                let follows =
                    ne - n <= 4 && next_group(b, ne).is_some_and(|m| alnum_end(b, m).1 > 0);
                if !follows {
                    break;
                }
            }
            start = n;
        }
        let end = groups.last().map_or(i + 1, |g| g.end).max(i + 1);
        if !groups.is_empty() {
            f(&groups);
        }
        i = end;
    }
}

/// Every cluster of a text, found once and shared by the detectors.
pub struct Clusters {
    groups: Vec<Group>,
    spans: Vec<(usize, usize)>,
}

impl Clusters {
    pub fn find(text: &str) -> Clusters {
        let mut groups = Vec::new();
        let mut spans = Vec::new();
        clusters(text, |gs| {
            spans.push((groups.len(), groups.len() + gs.len()));
            groups.extend_from_slice(gs);
        });
        Clusters { groups, spans }
    }

    pub fn iter(&self) -> impl Iterator<Item = &[Group]> {
        self.spans.iter().map(|&(a, b)| &self.groups[a..b])
    }
}

/// A cluster that starts like an IBAN (`DE89 3704 …`, at least 15 characters): its digit runs are
/// the IBAN detector's, not cards or ids (a mistyped IBAN is not a card number).
pub fn iban_shaped(text: &str, groups: &[Group]) -> bool {
    let b = text.as_bytes();
    let g = groups[0];
    g.len() >= 4
        && b[g.start].is_ascii_alphabetic()
        && b[g.start + 1].is_ascii_alphabetic()
        && b[g.start + 2].is_ascii_digit()
        && b[g.start + 3].is_ascii_digit()
        && groups.iter().map(Group::len).sum::<usize>() >= 15
}

/// A run of whole groups `groups[i..=j]` as one candidate: the alphanumerics, upper case, and
/// how they were grouped.
pub struct Cand {
    pub s: [u8; 40],
    pub n: usize,
    lens: [u8; 40],
    /// The first separator character before each group after the first.
    seps: [u8; 40],
    /// Groups in the candidate.
    pub ng: usize,
    /// Digit values, in order (no allocation per candidate).
    dg: [u32; 40],
    nd: usize,
    pub start: usize,
    pub end: usize,
}

impl Cand {
    pub fn chars(&self) -> &[u8] {
        &self.s[..self.n]
    }
    pub fn lens(&self) -> &[u8] {
        &self.lens[..self.ng]
    }
    pub fn seps(&self) -> &[u8] {
        &self.seps[..self.ng.saturating_sub(1)]
    }
    pub fn all_digits(&self) -> bool {
        self.chars().iter().all(u8::is_ascii_digit)
    }
    pub fn digits(&self) -> &[u32] {
        &self.dg[..self.nd]
    }
}

/// Every run of at most `max_groups` groups starting at each group, with a number of
/// alphanumerics in `len`, for which `keep_start` holds for the first group. Runs shorter than
/// any format are built but never checked: a long cluster of one-digit groups (`1 1 1 …`) would
/// otherwise cost a check per start and length.
pub fn candidates(
    text: &str,
    groups: &[Group],
    max_groups: usize,
    len: std::ops::RangeInclusive<usize>,
    keep_start: impl Fn(&Group) -> bool,
    mut f: impl FnMut(&Cand) -> bool,
) -> bool {
    let (min_len, max_len) = (*len.start(), *len.end());
    let b = text.as_bytes();
    for i in 0..groups.len() {
        if !keep_start(&groups[i]) {
            continue;
        }
        let mut c = Cand {
            s: [0; 40],
            n: 0,
            lens: [0; 40],
            seps: [0; 40],
            ng: 0,
            dg: [0; 40],
            nd: 0,
            start: groups[i].start,
            end: groups[i].end,
        };
        for (k, g) in groups[i..].iter().enumerate().take(max_groups) {
            if c.n + g.len() > max_len {
                break;
            }
            if k > 0 {
                c.seps[k - 1] = b[groups[i + k - 1].end];
            }
            for &ch in &b[g.start..g.end] {
                c.s[c.n] = ch.to_ascii_uppercase();
                c.n += 1;
                if ch.is_ascii_digit() {
                    c.dg[c.nd] = (ch - b'0') as u32;
                    c.nd += 1;
                }
            }
            c.lens[k] = g.len() as u8;
            c.ng = k + 1;
            c.end = g.end;
            if c.n >= min_len && f(&c) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        clusters(text, |gs| {
            out.push(
                gs.iter()
                    .map(|g| text[g.start..g.end].to_string())
                    .collect(),
            )
        });
        out
    }

    #[test]
    fn groups_join_over_short_gaps() {
        assert_eq!(
            all("IBAN: NL14 WOXW 3191 6751 71, thanks"),
            [vec!["NL14", "WOXW", "3191", "6751", "71"]]
        );
        assert_eq!(
            all("DE89\t3704  0044\n0532 - 0130 00"),
            [vec!["DE89", "3704", "0044", "0532", "0130", "00"]]
        );
        assert_eq!(all("at 10 am and 11"), [vec!["10"], vec!["11"]]);
        assert_eq!(all(&("x".repeat(50) + "1")), Vec::<Vec<String>>::new());
    }
}
