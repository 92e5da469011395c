//! Reading one member of a JSON object that passes through without being parsed: the gateway
//! needs `usage` from every whole answer, and a full serde pass over the answer (which the client
//! parses anyway) cost more than the rest of the response phase.

/// The raw value of `key` in the top-level object of `json`, found by a single scan that only
/// tracks strings and nesting, so a `"usage"` inside a string or a nested object is never taken
/// for the top-level one. `None` when there is no such member or the bytes are not an object.
pub fn top_level<'a>(json: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut i = skip_ws(json, 0);
    if json.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let mut depth = 1usize;
    let mut expect_key = true;
    while i < json.len() {
        match json[i] {
            b'"' => {
                let end = string_end(json, i)?;
                if depth == 1 && expect_key {
                    expect_key = false;
                    let name = &json[i + 1..end - 1];
                    let colon = skip_ws(json, end);
                    if json.get(colon) != Some(&b':') {
                        return None;
                    }
                    if name == key {
                        let start = skip_ws(json, colon + 1);
                        return Some(&json[start..value_end(json, start)?]);
                    }
                    i = colon + 1;
                    continue;
                }
                i = end;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return None;
                }
            }
            b',' if depth == 1 => expect_key = true,
            _ => {}
        }
        i += 1;
    }
    None
}

fn skip_ws(json: &[u8], mut i: usize) -> usize {
    while json
        .get(i)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

/// Index just past the string that opens at `start`.
fn string_end(json: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        i += memchr::memchr2(b'"', b'\\', &json[i..])?;
        if json[i] == b'\\' {
            i += 2;
            if i > json.len() {
                return None;
            }
        } else {
            return Some(i + 1);
        }
    }
}

/// Index just past the value that starts at `start`.
fn value_end(json: &[u8], start: usize) -> Option<usize> {
    match json.get(start)? {
        b'"' => string_end(json, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            while i < json.len() {
                match json[i] {
                    b'"' => {
                        i = string_end(json, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let len = json[start..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(json.len() - start);
            (len > 0).then_some(start + len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn member(json: &str, key: &str) -> Option<String> {
        top_level(json.as_bytes(), key.as_bytes()).map(|b| String::from_utf8(b.to_vec()).unwrap())
    }

    #[test]
    fn finds_only_the_top_level_member() {
        let body = r#" {"id":"x","note":"a \"usage\": {} here","choices":[{"usage":{"prompt_tokens":1}}],
                       "nested":{"usage":2},"usage" : {"prompt_tokens":7,"completion_tokens":3} }"#;
        assert_eq!(
            member(body, "usage").as_deref(),
            Some(r#"{"prompt_tokens":7,"completion_tokens":3}"#)
        );
        assert_eq!(member(body, "id").as_deref(), Some(r#""x""#));
        assert_eq!(
            member(r#"{"usage":null}"#, "usage").as_deref(),
            Some("null")
        );
        assert_eq!(
            member(r#"{"a":1,"usage":12}"#, "usage").as_deref(),
            Some("12")
        );
        assert_eq!(member(r#"{"choices":[{"usage":{}}]}"#, "usage"), None);
        assert_eq!(member(r#"{"x":"usage"}"#, "usage"), None);
        assert_eq!(member(r#"["usage"]"#, "usage"), None);
        assert_eq!(
            member(r#"{"a\"b":1,"usage":{"k":"}"}}"#, "usage").as_deref(),
            Some(r#"{"k":"}"}"#)
        );
        assert_eq!(member(r#"{"usage":{"unclosed":1"#, "usage"), None);
        assert_eq!(member("", "usage"), None);
    }

    /// Agrees with a full parse on random JSON documents.
    #[test]
    fn agrees_with_serde_on_random_documents() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        fn value(next: &mut dyn FnMut() -> u64, depth: u32) -> Value {
            let keys = ["usage", "id", "u\"sage", "choices", "x y"];
            match next() % if depth > 3 { 4 } else { 6 } {
                0 => Value::Null,
                1 => json!(next() % 1000),
                2 => json!(["usage", "a\\\"b", "{", "}"][(next() % 4) as usize]),
                3 => json!(next().is_multiple_of(2)),
                4 => Value::Array((0..next() % 4).map(|_| value(next, depth + 1)).collect()),
                _ => Value::Object(
                    (0..next() % 5)
                        .map(|_| {
                            let k = keys[(next() % keys.len() as u64) as usize].to_string();
                            (k, value(next, depth + 1))
                        })
                        .collect(),
                ),
            }
        }
        for _ in 0..5000 {
            let doc = value(&mut next, 0);
            let pretty = next().is_multiple_of(2);
            let text = if pretty {
                serde_json::to_string_pretty(&doc).unwrap()
            } else {
                serde_json::to_string(&doc).unwrap()
            };
            let found = top_level(text.as_bytes(), b"usage")
                .map(|raw| serde_json::from_slice::<Value>(raw).unwrap());
            assert_eq!(found.as_ref(), doc.get("usage"), "{text}");
        }
    }
}
