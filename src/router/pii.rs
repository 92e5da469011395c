//! Moved to `crate::sensitive`; kept as a re-export for callers of the old path.

pub use crate::sensitive::scan_text as scan;
pub use crate::sensitive::Entity;
