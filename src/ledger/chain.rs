//! The tamper-evident chain. Each journal line is a JSON object whose last member is its own
//! seal: `"hash"`, the SHA-256 of the line's bytes before that member (closed with `}`), and
//! those bytes include `prev`, the previous line's seal. Changing a byte breaks that line's seal;
//! removing or reordering lines breaks the next line's `prev` and the run of `seq`. The chain
//! head (last seq and seal) is carried from one segment file into the next.
//!
//! The seal proves the journal is the one the gateway wrote, not that nobody could rewrite all of
//! it from a point on: for that, the copy shipped to Postgres (which keeps `seq`, `prev` and
//! `hash`) is the independent witness.

use super::record::LedgerRecord;
use sha2::{Digest, Sha256};

/// `prev` of the first record a journal ever holds.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const SEAL_OPEN: &[u8] = b",\"hash\":\"";
/// `,"hash":"` + 64 hex digits + `"}`.
const SEAL_LEN: usize = SEAL_OPEN.len() + 64 + 2;

/// The head of a chain: the last record's position and seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

impl Head {
    pub fn genesis() -> Self {
        Head {
            seq: 0,
            hash: GENESIS.to_string(),
        }
    }
}

/// Append the record whose `body` (see `line::write_body`) the logging phase wrote after
/// `head`, as one sealed line (with its newline), to `out`; the head moves on.
pub fn seal(body: &[u8], head: &mut Head, out: &mut Vec<u8>) {
    let start = out.len();
    super::line::head(head.seq + 1, &head.hash, out);
    out.extend_from_slice(body);
    let mut hash = [0u8; 64];
    hex::encode_to_slice(Sha256::digest(&out[start..]), &mut hash).expect("64 hex digits");
    // Reopen the object to add the seal as its last member.
    out.pop();
    out.extend_from_slice(SEAL_OPEN);
    out.extend_from_slice(&hash);
    out.extend_from_slice(b"\"}\n");
    head.seq += 1;
    head.hash.clear();
    head.hash
        .push_str(std::str::from_utf8(&hash).expect("hex digits are ASCII"));
}

/// Why one line does not belong to the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broken {
    /// Not a sealed record (a torn or edited line).
    Unreadable(String),
    /// The line's bytes do not match its own seal: it was changed.
    Changed,
    /// Its `prev` is not the seal of the line before it, or `seq` does not follow: the record(s)
    /// before it were removed, or lines were reordered.
    Unlinked { expected_seq: u64, found_seq: u64 },
    /// (Found by `verify`, which looks ahead) the expected record comes later: lines were moved.
    Reordered { expected_seq: u64, found_seq: u64 },
}

/// Check one line (without its newline) against the head; on success return the parsed record
/// (its `hash` filled in) and move the head on.
pub fn check(line: &[u8], head: &mut Head) -> Result<LedgerRecord<'static>, Broken> {
    if line.len() <= SEAL_LEN || !line.ends_with(b"\"}") {
        return Err(Broken::Unreadable("no seal at the end of the line".into()));
    }
    let body_end = line.len() - SEAL_LEN;
    if &line[body_end..body_end + SEAL_OPEN.len()] != SEAL_OPEN {
        return Err(Broken::Unreadable("no seal at the end of the line".into()));
    }
    let stored = &line[body_end + SEAL_OPEN.len()..line.len() - 2];
    let record: LedgerRecord<'static> =
        serde_json::from_slice(line).map_err(|e| Broken::Unreadable(e.to_string()))?;
    let mut h = Sha256::new();
    h.update(&line[..body_end]);
    h.update(b"}");
    if hex::encode(h.finalize()).as_bytes() != stored {
        return Err(Broken::Changed);
    }
    if record.seq != head.seq + 1 || record.prev != head.hash {
        return Err(Broken::Unlinked {
            expected_seq: head.seq + 1,
            found_seq: record.seq,
        });
    }
    head.seq = record.seq;
    head.hash = String::from_utf8_lossy(stored).into_owned();
    Ok(LedgerRecord {
        hash: head.hash.clone(),
        ..record
    })
}

/// Read a sealed line without checking its link (for reports and shipping, which trust the
/// journal; `verify` is what checks it).
pub fn parse(line: &[u8]) -> Result<LedgerRecord<'static>, serde_json::Error> {
    let mut r: LedgerRecord<'static> = serde_json::from_slice(line)?;
    if line.len() > SEAL_LEN {
        r.hash = String::from_utf8_lossy(&line[line.len() - 66..line.len() - 2]).into_owned();
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::line::body;
    use crate::ledger::record::sample;

    fn journal(n: usize) -> Vec<Vec<u8>> {
        let mut head = Head::genesis();
        (0..n)
            .map(|i| {
                let mut out = Vec::new();
                seal(&body(&sample(&format!("req_{i}"))), &mut head, &mut out);
                assert_eq!(out.pop(), Some(b'\n'));
                out
            })
            .collect()
    }

    fn walk(lines: &[Vec<u8>]) -> Result<Vec<LedgerRecord<'static>>, (usize, Broken)> {
        let mut head = Head::genesis();
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| check(l, &mut head).map_err(|b| (i, b)))
            .collect()
    }

    #[test]
    fn a_sealed_journal_checks_and_reads_back() {
        let lines = journal(5);
        let recs = walk(&lines).unwrap();
        assert_eq!(recs.len(), 5);
        assert_eq!(recs[0].prev, GENESIS);
        assert_eq!(recs[4].seq, 5);
        assert_eq!(recs[1].prev, recs[0].hash);
        let v: serde_json::Value = serde_json::from_slice(&lines[2]).unwrap();
        assert_eq!(
            v["hash"],
            recs[2].hash.as_str(),
            "the seal is a plain JSON member"
        );
        assert_eq!(parse(&lines[2]).unwrap(), recs[2]);
    }

    #[test]
    fn every_flipped_byte_is_found_on_its_own_line() {
        let lines = journal(3);
        for at in 0..lines[1].len() {
            let mut bad = lines.clone();
            bad[1][at] ^= 0x01;
            let (i, _) = walk(&bad).unwrap_err();
            assert_eq!(i, 1, "byte {at}");
        }
    }

    #[test]
    fn removed_and_reordered_records_break_the_link() {
        let lines = journal(4);
        let mut removed = lines.clone();
        removed.remove(2);
        assert_eq!(
            walk(&removed).unwrap_err(),
            (
                2,
                Broken::Unlinked {
                    expected_seq: 3,
                    found_seq: 4
                }
            )
        );
        let mut swapped = lines.clone();
        swapped.swap(1, 2);
        assert_eq!(walk(&swapped).unwrap_err().0, 1);
        let mut resealed = lines;
        // A line rewritten with a fresh, valid seal still breaks the next line's link.
        let mut r = parse(&resealed[1]).unwrap();
        r.output_tokens = 1;
        let mut head = Head {
            seq: 1,
            hash: parse(&resealed[0]).unwrap().hash,
        };
        let mut out = Vec::new();
        seal(&body(&r), &mut head, &mut out);
        out.pop();
        resealed[1] = out;
        assert_eq!(walk(&resealed).unwrap_err().0, 2);
    }
}
