//! JSON lines written by hand, for the two records the gateway writes per request (the access
//! log's line and the ledger's): member names are pre-escaped literals (`b",\"status\":"`), only
//! values are looked at, and a string that needs no escape (nearly all: ids, labels, hashes) is
//! copied whole. Escapes are serde_json's, so a line reads back with serde and the output is
//! byte for byte what `serde_json::to_writer` would write (tests in the two users hold that).

use std::time::{SystemTime, UNIX_EPOCH};

pub fn field_str(out: &mut Vec<u8>, name: &[u8], v: &str) {
    out.extend_from_slice(name);
    string(out, v);
}

pub fn field_opt(out: &mut Vec<u8>, name: &[u8], v: Option<&str>) {
    out.extend_from_slice(name);
    match v {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

pub fn field_uint(out: &mut Vec<u8>, name: &[u8], v: u64) {
    out.extend_from_slice(name);
    uint(out, v);
}

pub fn field_opt_uint(out: &mut Vec<u8>, name: &[u8], v: Option<u64>) {
    out.extend_from_slice(name);
    match v {
        Some(n) => uint(out, n),
        None => out.extend_from_slice(b"null"),
    }
}

pub fn field_bool(out: &mut Vec<u8>, name: &[u8], v: bool) {
    out.extend_from_slice(name);
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

/// `t` in RFC 3339, UTC, with milliseconds (`2026-12-07T10:00:00.123Z`): what humantime's
/// `format_rfc3339_millis` writes (a test holds them equal) without going through its `Display`
/// and the formatter, at a sixth of its cost; both records write one per request.
pub fn rfc3339_millis(out: &mut Vec<u8>, t: SystemTime) {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let (days, ms) = (ms / 86_400_000, ms % 86_400_000);
    let (y, m, d) = crate::limits::month::civil(i64::try_from(days).unwrap_or(i64::MAX));
    if !(0..=9999).contains(&y) {
        // Outside four-digit years humantime's own form applies.
        use std::io::Write;
        write!(out, "{}", humantime::format_rfc3339_millis(t)).expect("a Vec takes every write");
        return;
    }
    let two = |v: u64| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
    let y = y as u64;
    let (hh, mm, ss, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let [y0, y1] = two(y / 100);
    let [y2, y3] = two(y % 100);
    let [m0, m1] = two(u64::from(m));
    let [d0, d1] = two(u64::from(d));
    let [h0, h1] = two(hh);
    let [n0, n1] = two(mm);
    let [s0, s1] = two(ss);
    let [f0, f1, f2] = [
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ];
    out.extend_from_slice(&[
        y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b'T', h0, h1, b':', n0, n1, b':', s0, s1, b'.',
        f0, f1, f2, b'Z',
    ]);
}

pub fn uint(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// A JSON string with serde_json's escapes: `"` and `\` escaped, the five control characters
/// with short forms as `\b \t \n \f \r`, every other one below 0x20 as `\u00xx`; nothing else.
pub fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // Labels, ids, hashes and model names need no escape: find that eight bytes at a time and
    // copy the clean run whole.
    let clean = clean_prefix(bytes);
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate().skip(clean) {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            b'\t' => b't',
            b'\n' => b'n',
            0x0c => b'f',
            b'\r' => b'r',
            0..=0x1f => 0,
            _ => continue,
        };
        out.extend_from_slice(&bytes[from..i]);
        from = i + 1;
        if short == 0 {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.push(b'\\');
            out.push(short);
        }
    }
    out.extend_from_slice(&bytes[from..]);
    out.push(b'"');
}

/// How many leading bytes need no escape, in whole words of eight (the tail is left to the
/// byte loop). A word is clean when none of its bytes is below 0x20, `"` or `\\`: the classic
/// "has a zero byte" test on the word, on it XOR `"`, and on it XOR `\\`.
fn clean_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut n = 0;
    for chunk in bytes.chunks_exact(8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        // A byte below 0x20, or one that is zero after the XOR: its high bit survives. Bytes
        // >= 0x80 (UTF-8) are excluded by `!w`.
        let below = w.wrapping_sub(ONES * 0x20) & !w;
        let zero = |v: u64| v.wrapping_sub(ONES) & !v;
        if (below | zero(quote) | zero(backslash)) & HIGH != 0 {
            break;
        }
        n += 8;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};
    use std::time::Duration;

    #[test]
    fn timestamps_are_humantimes() {
        let mut rng = StdRng::seed_from_u64(1207);
        let mut times: Vec<u64> = vec![0, 999, 86_399_999, 951_782_400_000, 4_107_542_399_999];
        // Leap days, ends of months and years, and random instants up to the year 9999.
        times.extend((0..2000).map(|_| rng.gen_range(0..253_402_300_799_999u64)));
        for ms in times {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            let mut out = Vec::new();
            rfc3339_millis(&mut out, t);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                humantime::format_rfc3339_millis(t).to_string(),
                "{ms}"
            );
        }
    }

    #[test]
    fn the_clean_prefix_stops_at_the_word_of_the_first_byte_to_escape() {
        let plain = "abcdefghijklmnopqrstuvwxyzéü€0123456789-_:./";
        assert_eq!(clean_prefix(plain.as_bytes()), plain.len() / 8 * 8);
        for special in [b'"', b'\\', 0u8, 0x1f, b'\n'] {
            for at in 0..24 {
                let mut bytes = vec![b'a'; 24];
                bytes[at] = special;
                assert_eq!(clean_prefix(&bytes), at / 8 * 8, "{special:#x} at {at}");
            }
        }
        // Neighbours of the classes: not escaped, so not stopped at.
        let near = [0x20u8, b'!', b'#', b'[', b']', 0x7f, 0x80, 0xff];
        assert_eq!(clean_prefix(&near), 8);
    }
}
