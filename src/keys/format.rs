//! The key format `hm_<env>_<kid>_<secret><crc>`.
//!
//! The kid (12 base62) is not secret: it is the lookup handle and what logs show. The secret is 32
//! base62 characters from the OS CSPRNG (≈190 bits), so a single SHA-256 is enough to store it.
//! The trailing 6 base62 characters are the CRC32 of everything before them: not a security
//! control, but it lets the gateway turn away mistyped or made-up keys before any lookup and
//! lets leak scanners find real keys with few false positives.

use rand::rngs::OsRng;
use rand::Rng;
use std::fmt;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const KID_LEN: usize = 12;
pub const SECRET_LEN: usize = 32;
pub const CRC_LEN: usize = 6;
const PREFIX_LEN: usize = "hm_live_".len();
/// `hm_live_` + kid + `_` + secret + crc.
pub const KEY_LEN: usize = PREFIX_LEN + KID_LEN + 1 + SECRET_LEN + CRC_LEN;

/// Live keys serve production traffic; test keys are labelled so that a leaked one is recognised
/// as harmless and so that logs and listings tell them apart. Both authenticate the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Env {
    Live,
    Test,
}

impl Env {
    pub fn as_str(self) -> &'static str {
        match self {
            Env::Live => "live",
            Env::Test => "test",
        }
    }
}

impl fmt::Display for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A presented key that has the right shape and checksum. Borrowed: nothing is copied on the
/// request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    pub env: Env,
    pub kid: &'a str,
}

/// Check shape and checksum; `None` for anything that cannot be one of our keys.
pub fn parse(key: &[u8]) -> Option<ParsedKey<'_>> {
    if key.len() != KEY_LEN {
        return None;
    }
    let env = match &key[..PREFIX_LEN] {
        b"hm_live_" => Env::Live,
        b"hm_test_" => Env::Test,
        _ => return None,
    };
    let kid = &key[PREFIX_LEN..PREFIX_LEN + KID_LEN];
    let sep = key[PREFIX_LEN + KID_LEN];
    let secret = &key[PREFIX_LEN + KID_LEN + 1..KEY_LEN - CRC_LEN];
    let crc = &key[KEY_LEN - CRC_LEN..];
    if sep != b'_' || !all_base62(kid) || !all_base62(secret) || !all_base62(crc) {
        return None;
    }
    if crc != checksum(&key[..KEY_LEN - CRC_LEN]) {
        return None;
    }
    // Every byte checked is ASCII base62.
    let kid = std::str::from_utf8(kid).ok()?;
    Some(ParsedKey { env, kid })
}

/// A fresh key id (not secret, but random so ids do not leak how many keys exist).
pub fn new_kid() -> String {
    random_base62(KID_LEN)
}

/// A whole new key for `kid`.
pub fn new_key(env: Env, kid: &str) -> String {
    assembled(env, kid, &random_base62(SECRET_LEN))
}

/// `hm_<env>_<kid>_<secret>` plus its checksum.
pub fn assembled(env: Env, kid: &str, secret: &str) -> String {
    let mut key = format!("hm_{}_{kid}_{secret}", env.as_str());
    let crc = checksum(key.as_bytes());
    key.push_str(std::str::from_utf8(&crc).expect("base62 is ASCII"));
    key
}

/// What listings show of a key: enough to recognise it, never enough to use it.
pub fn hint(key: &str) -> String {
    let head = &key[..(PREFIX_LEN + KID_LEN + 4).min(key.len())];
    let tail = &key[key.len().saturating_sub(4)..];
    format!("{head}…{tail}")
}

pub fn is_kid(s: &str) -> bool {
    s.len() == KID_LEN && all_base62(s.as_bytes())
}

fn all_base62(b: &[u8]) -> bool {
    b.iter().all(u8::is_ascii_alphanumeric)
}

/// CRC32-IEEE in 6 base62 digits, most significant first, left-padded with `0` (62^6 > 2^32).
fn checksum(data: &[u8]) -> [u8; CRC_LEN] {
    let mut n = crc32fast::hash(data);
    let mut out = [b'0'; CRC_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out
}

fn random_base62(len: usize) -> String {
    // Rejection-free: 62 divides 248 exactly four times, so bytes below 248 map uniformly.
    let mut rng = OsRng;
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let b: u8 = rng.gen();
        if b < 248 {
            out.push(ALPHABET[(b % 62) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_parse_back_with_their_env_and_kid() {
        for env in [Env::Live, Env::Test] {
            let kid = new_kid();
            let key = new_key(env, &kid);
            assert_eq!(key.len(), KEY_LEN);
            assert!(key.starts_with(&format!("hm_{env}_{kid}_")));
            assert_eq!(parse(key.as_bytes()), Some(ParsedKey { env, kid: &kid }));
        }
    }

    #[test]
    fn any_single_character_change_is_rejected() {
        let key = new_key(Env::Live, &new_kid());
        let bytes = key.as_bytes();
        for i in 0..bytes.len() {
            for replacement in [b'a', b'Z', b'0', b'_', b'-'] {
                if bytes[i] == replacement {
                    continue;
                }
                let mut typo = bytes.to_vec();
                typo[i] = replacement;
                assert_eq!(parse(&typo), None, "accepted a change at {i}: {typo:?}");
            }
        }
    }

    #[test]
    fn swapped_neighbours_and_wrong_lengths_are_rejected() {
        let key = new_key(Env::Test, &new_kid());
        let b = key.as_bytes();
        for i in 0..b.len() - 1 {
            if b[i] == b[i + 1] {
                continue;
            }
            let mut t = b.to_vec();
            t.swap(i, i + 1);
            assert_eq!(parse(&t), None, "accepted a swap at {i}");
        }
        assert_eq!(parse(&b[..b.len() - 1]), None);
        assert_eq!(parse(format!("{key}x").as_bytes()), None);
        assert_eq!(parse(b""), None);
        assert_eq!(parse(key.replace("hm_test_", "hm_prod_").as_bytes()), None);
    }

    #[test]
    fn checksum_is_pinned() {
        // A fixed vector, so the format cannot drift from what leak scanners are told.
        let key = assembled(
            Env::Test,
            "localdemo001",
            "OnlyForTheBuiltInDemoUpstream123",
        );
        assert_eq!(key.len(), KEY_LEN);
        let crc = crc32fast::hash(&key.as_bytes()[..KEY_LEN - CRC_LEN]);
        let tail = &key[KEY_LEN - CRC_LEN..];
        let decoded = tail.bytes().fold(0u64, |n, c| {
            n * 62 + ALPHABET.iter().position(|&a| a == c).unwrap() as u64
        });
        assert_eq!(decoded, u64::from(crc));
        assert!(parse(key.as_bytes()).is_some());
    }

    #[test]
    fn hints_do_not_reveal_the_secret() {
        let key = new_key(Env::Live, "abcdefghijkl");
        let h = hint(&key);
        let secret = &key[PREFIX_LEN + KID_LEN + 1..KEY_LEN - CRC_LEN];
        assert!(h.starts_with("hm_live_abcdefghijkl_"));
        assert!(!h.contains(&secret[4..20]));
    }

    #[test]
    fn arbitrary_input_never_panics_and_almost_never_passes() {
        let mut rng = crate::test_support::XorShift(0x5eed_cafe);
        let valid = new_key(Env::Live, &new_kid());
        let mut accepted = 0;
        for i in 0..200_000 {
            // Half random bytes of random length, half a valid key with random damage.
            let candidate: Vec<u8> = if i % 2 == 0 {
                let len = rng.below(80) as usize;
                (0..len).map(|_| rng.next() as u8).collect()
            } else {
                let mut k = valid.clone().into_bytes();
                for _ in 0..=rng.below(3) {
                    let at = rng.below(k.len() as u64) as usize;
                    k[at] = ALPHABET[rng.below(62) as usize];
                }
                k
            };
            if parse(&candidate).is_some() && candidate != valid.as_bytes() {
                accepted += 1;
            }
        }
        // A damaged key passes only when the CRC collides (about 1 in 2^32).
        assert_eq!(accepted, 0);
    }
}
