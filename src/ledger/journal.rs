//! The journal on disk: a directory of append-only segment files, `<first seq>.jsonl`, one sealed
//! record per line. The newest segment is the one being written; a segment is closed (synced)
//! when it reaches `segment_bytes` and the next one starts at the following seq. `anchor.json`
//! holds the chain head before the oldest segment once retention has removed older ones.

use super::chain::{self, Head};
use super::LedgerError;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const SUFFIX: &str = ".jsonl";
const ANCHOR: &str = "anchor.json";

pub fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SUFFIX}")
}

/// Every segment of the journal, oldest first: (first seq, path).
pub fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, LedgerError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(LedgerError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| LedgerError::io(dir, e))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(SUFFIX)) else {
            continue;
        };
        if let Ok(first) = stem.parse::<u64>() {
            out.push((first, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The chain head before the oldest retained segment (genesis when nothing was ever removed).
pub fn anchor(dir: &Path) -> Result<Head, LedgerError> {
    let path = dir.join(ANCHOR);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let a: StoredHead =
                serde_json::from_slice(&bytes).map_err(|e| LedgerError::corrupt(&path, e))?;
            Ok(Head {
                seq: a.seq,
                hash: a.hash,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Head::genesis()),
        Err(e) => Err(LedgerError::io(&path, e)),
    }
}

#[derive(Serialize, Deserialize)]
struct StoredHead {
    seq: u64,
    hash: String,
}

pub fn write_anchor(dir: &Path, head: &Head) -> Result<(), LedgerError> {
    let body = serde_json::to_vec(&StoredHead {
        seq: head.seq,
        hash: head.hash.clone(),
    })
    .expect("json serializes");
    replace_file(&dir.join(ANCHOR), &body)
}

/// Write `bytes` to `path` atomically: a synced temporary file renamed over it.
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), LedgerError> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| LedgerError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| LedgerError::io(&tmp, e))?;
    f.sync_data().map_err(|e| LedgerError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| LedgerError::io(path, e))
}

/// The complete lines of a segment from `offset` on (without their newlines), and the offset
/// just past the last complete one. A line still being written (no newline yet) is left for
/// the next read.
pub fn read_lines(
    path: &Path,
    offset: u64,
    max_lines: usize,
) -> Result<(Vec<Vec<u8>>, u64), LedgerError> {
    let mut f = File::open(path).map_err(|e| LedgerError::io(path, e))?;
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| LedgerError::io(path, e))?;
    let mut r = BufReader::with_capacity(256 << 10, f);
    let mut lines = Vec::new();
    let mut at = offset;
    while lines.len() < max_lines {
        let mut line = Vec::new();
        let n = r
            .read_until(b'\n', &mut line)
            .map_err(|e| LedgerError::io(path, e))?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        at += n as u64;
        line.pop();
        lines.push(line);
    }
    Ok((lines, at))
}

/// Append to `out` the whole lines of a segment from `offset` on, about `max_bytes` of them (at
/// least one line, however long, when there is one), newlines included; returns how many bytes
/// were appended. A line still being written (no newline yet) is left for the next read. One
/// read of a byte range, no copy per line: this is how the shipper reads.
pub fn read_whole_lines(
    path: &Path,
    offset: u64,
    max_bytes: usize,
    out: &mut Vec<u8>,
) -> Result<usize, LedgerError> {
    use std::os::unix::fs::FileExt;
    let f = File::open(path).map_err(|e| LedgerError::io(path, e))?;
    // What the segment holds now bounds the read: the buffer is not zero-filled to `max_bytes`
    // on every poll of a journal that grew by a few records.
    let size = f.metadata().map_err(|e| LedgerError::io(path, e))?.len();
    let start = out.len();
    let mut want = max_bytes.max(1);
    loop {
        let from = out.len();
        let left = size.saturating_sub(offset + (from - start) as u64);
        let ask = want.min(usize::try_from(left).unwrap_or(usize::MAX));
        out.resize(from + ask, 0);
        let mut got = 0;
        while got < ask {
            let at = offset + (from - start + got) as u64;
            match f.read_at(&mut out[from + got..], at) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(LedgerError::io(path, e)),
            }
        }
        out.truncate(from + got);
        // Within the budget: up to the last newline. Past it (one long line): up to the first.
        let end = if from == start {
            memchr::memrchr(b'\n', &out[from..])
        } else {
            memchr::memchr(b'\n', &out[from..])
        };
        if let Some(i) = end {
            out.truncate(from + i + 1);
            return Ok(out.len() - start);
        }
        if got < want {
            // The end of the segment (as it was at open), with no whole line in what was read.
            out.truncate(start);
            return Ok(0);
        }
        // One line longer than `max_bytes`: read on until its end.
        want = max_bytes.max(4096);
    }
}

/// The newest segment, opened for appending, with the chain head at its end.
pub struct Appender {
    dir: PathBuf,
    file: File,
    path: PathBuf,
    len: u64,
    segment_bytes: u64,
    pub head: Head,
}

impl Appender {
    /// Open the journal in `dir` (created if missing) where it ends. A last line left half
    /// written by a crash is cut off: it was never acknowledged as written, and the chain
    /// continues from the last whole record.
    pub fn open(dir: &Path, segment_bytes: u64) -> Result<Self, LedgerError> {
        std::fs::create_dir_all(dir).map_err(|e| LedgerError::io(dir, e))?;
        let segs = segments(dir)?;
        let mut head = anchor(dir)?;
        // The head is the last whole line of the newest segment that has one.
        for (_, path) in segs.iter().rev() {
            if let Some(h) = last_head(path)? {
                head = h;
                break;
            }
        }
        let path = match segs.last() {
            Some((_, p)) => p.clone(),
            None => dir.join(segment_name(head.seq + 1)),
        };
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| LedgerError::io(&path, e))?;
        let len = whole_length(&path)?;
        let actual = file
            .metadata()
            .map_err(|e| LedgerError::io(&path, e))?
            .len();
        if actual != len {
            log::warn!(
                "ledger {}: {} bytes of a record torn by a crash cut off",
                path.display(),
                actual - len
            );
            file.set_len(len).map_err(|e| LedgerError::io(&path, e))?;
        }
        sync_dir(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            file,
            path,
            len,
            segment_bytes,
            head,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Start a new segment if this one is full (the old one is synced first, so a closed
    /// segment is always whole on disk).
    pub fn rotate_if_full(&mut self) -> Result<(), LedgerError> {
        if self.len < self.segment_bytes {
            return Ok(());
        }
        self.sync()?;
        let path = self.dir.join(segment_name(self.head.seq + 1));
        self.file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| LedgerError::io(&path, e))?;
        sync_dir(&self.dir)?;
        self.path = path;
        self.len = 0;
        Ok(())
    }

    /// Hand sealed lines to the kernel (one write): from here a crash of the process loses
    /// nothing; a crash of the machine may, until `sync`.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), LedgerError> {
        if let Err(e) = self.file.write_all(bytes) {
            // Whatever part of the batch went in is taken out again: the batch is retried
            // whole, and a torn line must never sit in front of it.
            let _ = self.file.set_len(self.len);
            return Err(LedgerError::io(&self.path, e));
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    pub fn sync(&mut self) -> Result<(), LedgerError> {
        self.file
            .sync_data()
            .map_err(|e| LedgerError::io(&self.path, e))
    }
}

/// Length of the file up to and including its last newline.
fn whole_length(path: &Path) -> Result<u64, LedgerError> {
    let mut f = File::open(path).map_err(|e| LedgerError::io(path, e))?;
    let len = f.metadata().map_err(|e| LedgerError::io(path, e))?.len();
    let mut end = len;
    let mut buf = vec![0u8; 64 << 10];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))
            .map_err(|e| LedgerError::io(path, e))?;
        f.read_exact(&mut buf[..n])
            .map_err(|e| LedgerError::io(path, e))?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// The head at the end of a segment: its last whole line's seq and seal.
pub fn last_head(path: &Path) -> Result<Option<Head>, LedgerError> {
    let end = whole_length(path)?;
    if end == 0 {
        return Ok(None);
    }
    let mut f = File::open(path).map_err(|e| LedgerError::io(path, e))?;
    let start = end.saturating_sub(64 << 10);
    f.seek(SeekFrom::Start(start))
        .map_err(|e| LedgerError::io(path, e))?;
    let mut buf = vec![0u8; (end - start) as usize];
    f.read_exact(&mut buf)
        .map_err(|e| LedgerError::io(path, e))?;
    buf.pop();
    let line = match buf.iter().rposition(|&b| b == b'\n') {
        Some(i) => &buf[i + 1..],
        None if start == 0 => &buf[..],
        None => return Err(LedgerError::corrupt(path, "a record longer than 64 KiB")),
    };
    let r = chain::parse(line).map_err(|e| LedgerError::corrupt(path, e))?;
    Ok(Some(Head {
        seq: r.seq,
        hash: r.hash,
    }))
}

fn sync_dir(dir: &Path) -> Result<(), LedgerError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LedgerError::io(dir, e))
}

/// Where the shipper is: the segment (by first seq) and the byte offset of the next line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
    /// The last record shipped (for the lag metric).
    pub seq: u64,
}

pub const POSITION_FILE: &str = "shipped.pos";

/// The shipper's persisted position; `None` when there is none yet or it cannot be read (a
/// crash of the machine may leave it empty, see `write_position`): shipping then starts over from
/// the oldest segment, which PostgreSQL's primary key makes harmless.
pub fn read_position(dir: &Path) -> Result<Option<Position>, LedgerError> {
    let path = dir.join(POSITION_FILE);
    match std::fs::read(&path) {
        Ok(b) => match serde_json::from_slice(&b) {
            Ok(p) => Ok(Some(p)),
            Err(e) => {
                log::warn!(
                    "ledger {}: unreadable ({e}); shipping starts over from the oldest segment",
                    path.display()
                );
                Ok(None)
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LedgerError::io(&path, e)),
    }
}

/// Save the shipper's position: a temporary file renamed over the old one, not synced. It is
/// written after every batch, and a position lost or left behind by a crash of the machine only
/// replays records PostgreSQL already has (the primary key skips them), so a sync per batch would
/// buy nothing but disk flushes.
pub fn write_position(dir: &Path, p: &Position) -> Result<(), LedgerError> {
    let path = dir.join(POSITION_FILE);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(p).expect("json serializes"))
        .map_err(|e| LedgerError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| LedgerError::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::chain::seal;
    use crate::ledger::record::sample;

    pub fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("stav-journal-{tag}-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn append(a: &mut Appender, ids: &[&str]) {
        a.rotate_if_full().unwrap();
        let mut buf = Vec::new();
        for id in ids {
            seal(
                &crate::ledger::line::body(&sample(id)),
                &mut a.head,
                &mut buf,
            );
        }
        a.write(&buf).unwrap();
    }

    #[test]
    fn segments_rotate_and_the_chain_continues_across_them_and_restarts() {
        let dir = tmp("rotate");
        let mut a = Appender::open(&dir, 1000).unwrap();
        for i in 0..10 {
            append(&mut a, &[&format!("r{i}a"), &format!("r{i}b")]);
        }
        let segs = segments(&dir).unwrap();
        assert!(segs.len() > 2, "{segs:?}");
        assert_eq!(segs[0].0, 1);
        let head = a.head.clone();
        drop(a);
        let mut a = Appender::open(&dir, 1000).unwrap();
        assert_eq!(
            a.head, head,
            "the head is recovered from the newest segment"
        );
        append(&mut a, &["after"]);
        let mut h = Head::genesis();
        let mut ids = Vec::new();
        for (_, path) in segments(&dir).unwrap() {
            for line in read_lines(&path, 0, usize::MAX).unwrap().0 {
                ids.push(chain::check(&line, &mut h).unwrap().request_id);
            }
        }
        assert_eq!(ids.len(), 21);
        assert_eq!(ids.last().unwrap(), "after");
    }

    #[test]
    fn whole_lines_are_read_by_the_byte_range_and_a_long_line_whole() {
        let dir = tmp("range");
        let mut a = Appender::open(&dir, u64::MAX).unwrap();
        append(&mut a, &["a", "b", "c"]);
        a.write(b"{\"torn").unwrap();
        let path = a.path().to_path_buf();
        let lines = read_lines(&path, 0, usize::MAX).unwrap().0;
        let first = lines[0].len() + 1;
        // A budget smaller than one line still reads that line, and only it.
        let mut out = b"[".to_vec();
        assert_eq!(read_whole_lines(&path, 0, 10, &mut out).unwrap(), first);
        assert_eq!(&out[1..first], &lines[0][..]);
        // A generous budget reads every whole line and leaves the torn one.
        let mut out = Vec::new();
        let n = read_whole_lines(&path, first as u64, 1 << 20, &mut out).unwrap();
        assert_eq!(out.len(), n);
        assert_eq!(out, [&lines[1][..], b"\n", &lines[2][..], b"\n"].concat());
        let mut out = Vec::new();
        let end = (first + n) as u64;
        assert_eq!(read_whole_lines(&path, end, 1 << 20, &mut out).unwrap(), 0);
        assert!(out.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_last_line_is_cut_off_at_open() {
        let dir = tmp("torn");
        let mut a = Appender::open(&dir, 1 << 20).unwrap();
        append(&mut a, &["one", "two"]);
        let path = a.path().to_path_buf();
        a.write(b"{\"seq\":3,\"prev\":\"abc").unwrap();
        drop(a);
        let (lines, end) = read_lines(&path, 0, 100).unwrap();
        assert_eq!(lines.len(), 2, "a partial line is never read");
        let mut a = Appender::open(&dir, 1 << 20).unwrap();
        assert_eq!(a.head.seq, 2);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), end);
        append(&mut a, &["three"]);
        let (lines, _) = read_lines(&path, end, 100).unwrap();
        assert_eq!(chain::parse(&lines[0]).unwrap().seq, 3);
    }
}
