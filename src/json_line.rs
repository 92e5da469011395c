//! JSON lines written by hand, for the two records the gateway writes per request (the access
//! log's line and the ledger's): member names are pre-escaped literals (`b",\"status\":"`), only
//! values are looked at, and a string that needs no escape (nearly all: ids, labels, hashes) is
//! copied whole. Escapes are serde_json's, so a line reads back with serde and the output is
//! byte for byte what `serde_json::to_writer` would write (tests in the two users hold that).

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
