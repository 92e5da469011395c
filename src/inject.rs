//! Adding one member to a JSON object that is passing through, without re-serializing it.

use memchr::{memchr, memmem};

/// Insert `"key":value` as the first member of the first object in `json` (the top level when
/// `json` is an object). `value` must be serialized JSON.
pub fn first_member(json: &[u8], key: &str, value: &[u8]) -> Option<Vec<u8>> {
    let brace = memchr(b'{', json)?;
    Some(splice_after(json, brace, key, value))
}

/// What `first_member_exact` adds to any body: `"key":value,`.
pub fn member_len(key: &str, value: &[u8]) -> usize {
    key.len() + value.len() + 4
}

/// `first_member`, but always exactly `member_len` bytes longer than `json`, so that a
/// `Content-Length` announced before the body arrived stays true (and the answer needs no
/// chunked framing): an empty object gets a space where the comma would be, and a body with no
/// object at all is passed on with the difference as trailing whitespace.
pub fn first_member_exact(json: &[u8], key: &str, value: &[u8]) -> Vec<u8> {
    let want = json.len() + member_len(key, value);
    let mut out = match memchr(b'{', json) {
        Some(brace) => splice_after(json, brace, key, value),
        None => json.to_vec(),
    };
    out.resize(want, b' ');
    out
}

fn splice_after(json: &[u8], brace: usize, key: &str, value: &[u8]) -> Vec<u8> {
    let empty = json[brace + 1..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
    let mut out = Vec::with_capacity(json.len() + key.len() + value.len() + 4);
    out.extend_from_slice(&json[..=brace]);
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    out.extend_from_slice(value);
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(&json[brace + 1..]);
    out
}

/// Into the `"message"` object of an Anthropic `message_start` event (or JSON).
pub fn into_message(json: &[u8], key: &str, value: &[u8]) -> Option<Vec<u8>> {
    let at = memmem::find(json, b"\"message\"")?;
    let brace = at + memchr(b'{', &json[at..])?;
    Some(splice_after(json, brace, key, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn inserts_first_member() {
        let out = first_member(
            br#"data: {"id":"x","choices":[]}"#,
            "routing_metadata",
            br#"{"a":1}"#,
        )
        .unwrap();
        assert_eq!(
            out,
            br#"data: {"routing_metadata":{"a":1},"id":"x","choices":[]}"#
        );
        let out = first_member(b"{ }", "k", b"1").unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&out).unwrap(),
            serde_json::json!({"k": 1})
        );
    }

    #[test]
    fn exact_insertion_adds_exactly_the_member() {
        let v = br#"{"selected_model":"m"}"#;
        let add = member_len("routing_metadata", v);
        for body in [
            &br#"{"id":"x","choices":[]}"#[..],
            b"{}",
            b"  { \n }  ",
            b"not json",
            b"",
        ] {
            let out = first_member_exact(body, "routing_metadata", v);
            assert_eq!(
                out.len(),
                body.len() + add,
                "{:?}",
                String::from_utf8_lossy(body)
            );
            if body.contains(&b'{') {
                let parsed: Value = serde_json::from_slice(&out).unwrap();
                assert_eq!(parsed["routing_metadata"]["selected_model"], "m");
            } else {
                assert!(out.starts_with(body) && out[body.len()..].iter().all(|b| *b == b' '));
            }
        }
        let out = first_member_exact(br#"{"id":"x"}"#, "routing_metadata", v);
        assert_eq!(
            out,
            br#"{"routing_metadata":{"selected_model":"m"},"id":"x"}"#
        );
    }

    #[test]
    fn inserts_into_the_message() {
        let ev = br#"{"type":"message_start","message":{"id":"m","content":[]}}"#;
        let out = into_message(ev, "routing_metadata", b"{}").unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["message"]["routing_metadata"], serde_json::json!({}));
        assert_eq!(v["message"]["id"], "m");
    }
}
