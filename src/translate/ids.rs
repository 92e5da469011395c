//! Tool-call ids, kept consistent in both directions.
//!
//! Anthropic requires `^[a-zA-Z0-9_-]+$`; OpenAI-compatible upstreams mint ids like
//! `functions.Bash:0`. Valid ids pass unchanged; others are encoded reversibly as
//! `toolu_x<hex of the bytes>` so a `tool_result` sent back later names the upstream's own id.

const ENCODED: &str = "toolu_x";

fn is_valid(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Upstream (OpenAI) id → the id the Anthropic client sees. `None`: the upstream gave no id.
pub fn to_anthropic(id: Option<&str>) -> String {
    match id {
        Some(id) if is_valid(id) && !id.starts_with(ENCODED) => id.to_string(),
        Some(id) if !id.is_empty() => format!("{ENCODED}{}", hex::encode(id)),
        _ => format!("toolu_{:024x}", rand::random::<u128>() >> 32),
    }
}

/// Anthropic client id → the upstream's id.
pub fn to_openai(id: &str) -> String {
    id.strip_prefix(ENCODED)
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| id.to_string())
}

/// An OpenAI `chatcmpl-…` id → an Anthropic `msg_…` id.
pub fn message_id(upstream: Option<&str>) -> String {
    match upstream {
        Some(id) if !id.is_empty() => {
            let mut out = String::with_capacity(4 + id.len());
            out.push_str("msg_");
            out.extend(
                id.chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
            );
            out
        }
        _ => format!("msg_{:024x}", rand::random::<u128>() >> 32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids_pass_unchanged() {
        assert_eq!(to_anthropic(Some("call_abc-1")), "call_abc-1");
        assert_eq!(to_openai("call_abc-1"), "call_abc-1");
        assert_eq!(to_openai("toolu_01ABC"), "toolu_01ABC");
    }

    #[test]
    fn odd_ids_round_trip() {
        for id in ["functions.Bash:0", "call_1\nfc_2", "x y", "toolu_xdeadbeef"] {
            let a = to_anthropic(Some(id));
            assert!(is_valid(&a), "{a}");
            assert_eq!(to_openai(&a), id);
        }
    }

    #[test]
    fn missing_ids_are_minted() {
        let a = to_anthropic(None);
        assert!(a.starts_with("toolu_") && is_valid(&a));
        assert_ne!(a, to_anthropic(Some("")));
        assert!(message_id(Some("chatcmpl-1.2")).starts_with("msg_chatcmpl_1_2"));
    }
}
