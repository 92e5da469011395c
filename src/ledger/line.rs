//! A record's journal line, written by hand. serde's derived `Serialize` spent most of its time
//! escaping the 30 constant member names and walking the generic map machinery per field; the
//! names here are pre-escaped literals and only the values are looked at.
//!
//! The line is written in two parts. The logging phase writes the record's *body* (every member
//! after `prev`, closed with `}`) while the request's strings are still in its core's cache, and
//! hands over those bytes alone: the writer thread then reads one contiguous buffer instead of a
//! dozen strings allocated on another core, and frees one allocation instead of a dozen. The
//! writer puts the chain's `seq` and `prev` in front and seals the whole (`chain::seal`).
//!
//! The output is byte for byte what `serde_json::to_writer` writes for the same record (member
//! order, escapes, `null`s), so journals written before and after read and verify the same; a
//! randomised test holds the two equal.

use super::record::LedgerRecord;
use crate::json_line::{
    field_bool, field_opt, field_opt_uint, field_str, field_uint, string, uint,
};

/// Append `r` as one JSON object (no newline) to `out`, as serde's `Serialize` would.
pub fn write(r: &LedgerRecord, out: &mut Vec<u8>) {
    head(r.seq, &r.prev, out);
    write_body(r, out);
}

/// The chain's members, which open the line: `{"seq":N,"prev":"…",`.
pub fn head(seq: u64, prev: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"seq\":");
    uint(out, seq);
    field_str(out, b",\"prev\":", prev);
    out.push(b',');
}

/// Room for a body: a served request's takes some 560 bytes; one with an error message or long
/// names may take more (the buffer then grows once).
pub const BODY_BYTES: usize = 768;

/// `r`'s body as the logging phase hands it to the writer.
pub fn body(r: &LedgerRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(BODY_BYTES);
    write_body(r, &mut out);
    out
}

/// Every member after `prev`, and the closing `}`: what follows `head` in the line.
pub fn write_body(r: &LedgerRecord, out: &mut Vec<u8>) {
    out.reserve(BODY_BYTES);
    field_str(out, b"\"request_id\":", &r.request_id);
    field_str(out, b",\"ts\":", &r.ts);
    field_opt(out, b",\"key_id\":", r.key_id.as_deref());
    field_opt(out, b",\"team\":", r.team.as_deref());
    field_str(out, b",\"route\":", &r.route);
    field_str(out, b",\"contract\":", &r.contract);
    field_opt(out, b",\"requested_model\":", r.requested_model.as_deref());
    field_opt(out, b",\"model\":", r.model.as_deref());
    field_opt(out, b",\"provider\":", r.provider.as_deref());
    field_opt(out, b",\"tier\":", r.tier.as_deref());
    field_opt(out, b",\"max_tier\":", r.max_tier.as_deref());
    out.extend_from_slice(b",\"cap_causes\":[");
    for (i, c) in r.cap_causes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, c);
    }
    out.push(b']');
    field_str(out, b",\"decision\":", r.decision.as_str());
    field_opt(out, b",\"reason\":", r.reason.as_deref());
    out.extend_from_slice(b",\"status\":");
    uint(out, u64::from(r.status));
    field_opt(out, b",\"error\":", r.error.as_deref());
    field_uint(out, b",\"input_tokens\":", r.input_tokens);
    field_uint(out, b",\"output_tokens\":", r.output_tokens);
    field_uint(out, b",\"cached_tokens\":", r.cached_tokens);
    field_uint(out, b",\"cache_write_tokens\":", r.cache_write_tokens);
    field_uint(out, b",\"reasoning_tokens\":", r.reasoning_tokens);
    field_bool(out, b",\"usage_estimated\":", r.usage_estimated);
    field_uint(out, b",\"duration_ms\":", r.duration_ms);
    field_opt_uint(out, b",\"ttft_ms\":", r.ttft_ms);
    field_uint(out, b",\"attempts\":", u64::from(r.attempts));
    field_bool(out, b",\"stream\":", r.stream);
    field_bool(out, b",\"client_cancelled\":", r.client_cancelled);
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::record::{sample, Decision};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn serde_line(r: &LedgerRecord) -> Vec<u8> {
        serde_json::to_vec(r).unwrap()
    }

    fn by_hand(r: &LedgerRecord) -> Vec<u8> {
        let mut out = Vec::new();
        write(r, &mut out);
        out
    }

    #[test]
    fn the_sample_is_written_as_serde_writes_it() {
        let r = sample("req_1");
        assert_eq!(
            String::from_utf8(by_hand(&r)).unwrap(),
            String::from_utf8(serde_line(&r)).unwrap()
        );
    }

    #[test]
    fn every_escape_and_null_matches_serde() {
        let mut r = sample("req_\"quoted\"\\back");
        r.key_id = None;
        r.team = None;
        r.requested_model = Some("a\u{0}b\u{1f}c\u{7f}d\u{8}\u{c}\n\r\té€😀".into());
        r.model = None;
        r.provider = None;
        r.tier = None;
        r.max_tier = None;
        r.cap_causes = vec![];
        r.decision = Decision::Refused;
        r.reason = Some("rate_limited".into());
        r.error = Some("line one\nline \"two\"\u{2028}".into());
        r.ttft_ms = None;
        r.seq = u64::MAX;
        r.input_tokens = 0;
        r.status = 0;
        r.usage_estimated = true;
        r.client_cancelled = true;
        assert_eq!(
            String::from_utf8(by_hand(&r)).unwrap(),
            String::from_utf8(serde_line(&r)).unwrap()
        );
    }

    /// Random records, every string drawn from a mix of plain text, escapes and multi-byte
    /// characters: the hand-written line is serde's, byte for byte, and reads back equal.
    #[test]
    fn random_records_match_serde_and_read_back() {
        const PIECES: [&str; 12] = [
            "qwen3-32b",
            "\"",
            "\\",
            "\n",
            "\u{1}",
            "\u{1f}",
            "\u{7f}",
            "ü",
            "€",
            "😀",
            " ",
            "/",
        ];
        let mut rng = StdRng::seed_from_u64(1207);
        let mut text = |n: u64| -> String {
            (0..n)
                .map(|_| PIECES[rng.gen_range(0..PIECES.len())])
                .collect()
        };
        for i in 0..500u64 {
            let mut r = sample(&text(1 + i % 5));
            r.prev = text(3);
            r.key_id = (i % 3 != 0).then(|| text(2).into());
            r.model = (i % 4 != 0).then(|| text(4).into());
            r.cap_causes = (0..i % 3).map(|_| text(2).into()).collect();
            r.error = (i % 2 == 0).then(|| text(6).into());
            r.ttft_ms = (i % 5 != 0).then_some(i * 7);
            r.output_tokens = i * 1_000_003;
            r.attempts = (i % 4) as u32;
            r.stream = i % 2 == 1;
            let line = by_hand(&r);
            assert_eq!(line, serde_line(&r), "record {i}");
            let back: LedgerRecord = serde_json::from_slice(&line).unwrap();
            assert_eq!(back, r);
        }
    }
}
