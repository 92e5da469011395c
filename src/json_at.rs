//! `Value::pointer` without its allocations: serde_json unescapes every segment of the path into
//! a new `String` (`~1`, `~0`), which made reading five usage counters from an answer cost ~10,000
//! instructions. The paths here are literals with no escapes, so segments are compared in place.

use serde_json::Value;

pub trait At {
    /// The value at `path` (`/a/b/0`: object members by name, array items by index), as
    /// `Value::pointer` finds it for paths without `~` escapes.
    fn at(&self, path: &str) -> Option<&Value>;
}

impl At for Value {
    fn at(&self, path: &str) -> Option<&Value> {
        if path.is_empty() {
            return Some(self);
        }
        let rest = path.strip_prefix('/')?;
        debug_assert!(
            !path.contains('~'),
            "escaped paths go through Value::pointer"
        );
        rest.split('/').try_fold(self, |v, seg| match v {
            Value::Object(m) => m.get(seg),
            Value::Array(a) => index(seg).and_then(|i| a.get(i)),
            _ => None,
        })
    }
}

/// An array index as JSON Pointer writes it: digits, no sign, no leading zero (but `0`).
fn index(seg: &str) -> Option<usize> {
    if seg.is_empty() || (seg.len() > 1 && seg.starts_with('0')) {
        return None;
    }
    if !seg.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    seg.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::At;
    use serde_json::json;

    #[test]
    fn finds_what_pointer_finds() {
        let v = json!({
            "usage": {"prompt_tokens": 3, "details": {"cached": 1}},
            "choices": [{"delta": {"tool_calls": [{"function": {"arguments": "{}"}}]}}],
            "": {"empty key": true},
            "n": null,
            "01": "zero-led key"
        });
        for path in [
            "",
            "/usage",
            "/usage/prompt_tokens",
            "/usage/details/cached",
            "/usage/missing",
            "/choices/0/delta/tool_calls/0/function/arguments",
            "/choices/1",
            "/choices/00",
            "/choices/-1",
            "/choices/+0",
            "/choices/x",
            "/choices/0/",
            "/",
            "//empty key",
            "/n",
            "/n/x",
            "/01",
            "usage",
            "/usage/prompt_tokens/deeper",
        ] {
            assert_eq!(v.at(path), v.pointer(path), "{path:?}");
        }
    }
}
