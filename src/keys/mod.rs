//! API keys: their format, their records, the snapshot the request path reads, and the stores
//! they live in (a file for one node, Redis for many).

pub mod admin;
pub mod cli;
pub mod file;
pub mod format;
pub mod index;
pub mod record;

pub use index::{KeyIndex, Rejection};
pub use record::{KeyRecord, Scope};

use sha2::{Digest, Sha256};

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}
