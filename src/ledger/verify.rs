//! `stav-gateway ledger verify`: walk the whole journal, oldest segment first, and name the first
//! record that was changed, removed or reordered.

use super::chain::{self, Broken};
use super::journal;
use super::LedgerError;
use std::fmt;
use std::path::{Path, PathBuf};

/// The first place the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tampered {
    pub segment: PathBuf,
    /// Line number in the segment, from 1.
    pub line: usize,
    /// The seq the chain expected at this line.
    pub expected_seq: u64,
    pub what: Broken,
}

impl fmt::Display for Tampered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = format!("{} line {}", self.segment.display(), self.line);
        match &self.what {
            Broken::Unreadable(why) => write!(
                f,
                "record {} ({at}) was changed: it is not a sealed record ({why})",
                self.expected_seq
            ),
            Broken::Changed => write!(
                f,
                "record {} ({at}) was changed: its content does not match its seal",
                self.expected_seq
            ),
            Broken::Unlinked {
                expected_seq,
                found_seq,
            } if found_seq > expected_seq => write!(
                f,
                "record {expected_seq} was removed: {at} holds record {found_seq}, and the chain misses {}",
                if found_seq - expected_seq == 1 {
                    format!("record {expected_seq}")
                } else {
                    format!("records {expected_seq}..{}", found_seq - 1)
                }
            ),
            Broken::Unlinked {
                expected_seq,
                found_seq,
            }
            | Broken::Reordered {
                expected_seq,
                found_seq,
            } => write!(
                f,
                "records were reordered or replaced: {at} holds record {found_seq} where record {expected_seq} belongs"
            ),
        }
    }
}

/// What a clean walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub records: u64,
    pub segments: usize,
    /// The first and last seq checked.
    pub first_seq: u64,
    pub last_seq: u64,
}

#[derive(Debug)]
pub enum VerifyError {
    Tampered(Tampered),
    Ledger(LedgerError),
}

impl From<LedgerError> for VerifyError {
    fn from(e: LedgerError) -> Self {
        VerifyError::Ledger(e)
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Tampered(t) => t.fmt(f),
            VerifyError::Ledger(e) => e.fmt(f),
        }
    }
}

/// Check every record's seal and link, from the anchor (or genesis) to the end. A segment must
/// also start where the chain stands (its name is its first seq), so a whole segment removed
/// from the middle is found too.
pub fn verify(dir: &Path) -> Result<Verified, VerifyError> {
    let mut head = journal::anchor(dir)?;
    let first_seq = head.seq + 1;
    let mut records = 0;
    let segments = journal::segments(dir)?;
    for (first, path) in &segments {
        // One segment at a time, whole: a broken link is told apart as a removal or a
        // reordering by looking at the lines after it.
        let (lines, _) = journal::read_lines(path, 0, usize::MAX)?;
        let tampered = |line: usize, expected_seq: u64, what: Broken| {
            VerifyError::Tampered(Tampered {
                segment: path.clone(),
                line,
                expected_seq,
                what,
            })
        };
        if !lines.is_empty() && *first != head.seq + 1 {
            let found = chain::parse(&lines[0]).map_or(*first, |r| r.seq);
            let what = Broken::Unlinked {
                expected_seq: head.seq + 1,
                found_seq: found,
            };
            return Err(tampered(1, head.seq + 1, what));
        }
        for (i, line) in lines.iter().enumerate() {
            let expected_seq = head.seq + 1;
            match chain::check(line, &mut head) {
                Ok(_) => records += 1,
                Err(Broken::Unlinked { found_seq, .. })
                    if found_seq > expected_seq
                        && lines[i + 1..]
                            .iter()
                            .any(|l| chain::parse(l).is_ok_and(|r| r.seq == expected_seq)) =>
                {
                    // The missing record is further down: moved, not removed.
                    let what = Broken::Reordered {
                        expected_seq,
                        found_seq,
                    };
                    return Err(tampered(i + 1, expected_seq, what));
                }
                Err(what) => return Err(tampered(i + 1, expected_seq, what)),
            }
        }
    }
    Ok(Verified {
        records,
        segments: segments.len(),
        first_seq,
        last_seq: head.seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::chain::seal;
    use crate::ledger::journal::Appender;
    use crate::ledger::record::sample;

    fn journal(tag: &str, n: usize, segment_bytes: u64) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("stav-verify-{tag}-{}", rand::random::<u64>()));
        let mut a = Appender::open(&dir, segment_bytes).unwrap();
        for i in 0..n {
            a.rotate_if_full().unwrap();
            let mut buf = Vec::new();
            seal(
                &crate::ledger::line::body(&sample(&format!("req_{i}"))),
                &mut a.head,
                &mut buf,
            );
            a.write(&buf).unwrap();
        }
        dir
    }

    fn rewrite(path: &Path, f: impl FnOnce(&mut Vec<Vec<u8>>)) {
        let text = std::fs::read(path).unwrap();
        let mut lines: Vec<Vec<u8>> = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        f(&mut lines);
        let mut out = lines.join(&b'\n');
        out.push(b'\n');
        std::fs::write(path, out).unwrap();
    }

    fn tampered(dir: &Path) -> Tampered {
        match verify(dir) {
            Err(VerifyError::Tampered(t)) => t,
            other => panic!("expected tampering, got {other:?}"),
        }
    }

    #[test]
    fn a_clean_journal_verifies_across_segments() {
        let dir = journal("clean", 30, 2000);
        let v = verify(&dir).unwrap();
        assert_eq!((v.records, v.first_seq, v.last_seq), (30, 1, 30));
        assert!(v.segments > 1);
    }

    #[test]
    fn a_flipped_byte_names_its_record() {
        let dir = journal("flip", 30, 2000);
        let (_, seg) = journal::segments(&dir).unwrap()[1].clone();
        rewrite(&seg, |lines| {
            let at = lines[2].len() / 2;
            lines[2][at] ^= 0x20;
        });
        let t = tampered(&dir);
        assert_eq!((t.segment.clone(), t.line), (seg, 3));
        assert!(t.to_string().contains("was changed"), "{t}");
    }

    #[test]
    fn a_deleted_line_and_a_deleted_segment_are_found() {
        let dir = journal("del", 30, 2000);
        let segs = journal::segments(&dir).unwrap();
        rewrite(&segs[1].1, |lines| {
            lines.remove(1);
        });
        let t = tampered(&dir);
        assert_eq!(t.line, 2);
        let removed = segs[1].0 + 1;
        assert!(
            t.to_string()
                .contains(&format!("record {removed} was removed")),
            "{t}"
        );

        let dir = journal("delseg", 30, 2000);
        let segs = journal::segments(&dir).unwrap();
        std::fs::remove_file(&segs[1].1).unwrap();
        let t = tampered(&dir);
        assert_eq!(t.segment, segs[2].1);
        assert!(t.to_string().contains("was removed"), "{t}");
    }

    #[test]
    fn reordered_lines_are_found() {
        let dir = journal("swap", 10, 1 << 20);
        let (_, seg) = journal::segments(&dir).unwrap()[0].clone();
        rewrite(&seg, |lines| lines.swap(4, 5));
        let t = tampered(&dir);
        assert_eq!(t.line, 5);
        assert!(t.to_string().contains("reordered"), "{t}");
    }
}
