//! Sovereignty tiers, ordered from most to least protected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// `Ord` follows protection: `Sovereign < RoutedCommercial < GlobalCommercial`, so a cap is an upper
/// bound and "allowed" is `tier <= cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    Sovereign,
    RoutedCommercial,
    GlobalCommercial,
}

impl Tier {
    pub const ALL: [Tier; 3] = [
        Tier::Sovereign,
        Tier::RoutedCommercial,
        Tier::GlobalCommercial,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Sovereign => "sovereign",
            Tier::RoutedCommercial => "routed-commercial",
            Tier::GlobalCommercial => "global-commercial",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tier::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!("unknown tier {s:?} (expected sovereign, routed-commercial or global-commercial)")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_protection() {
        assert!(Tier::Sovereign < Tier::RoutedCommercial);
        assert!(Tier::RoutedCommercial < Tier::GlobalCommercial);
    }

    #[test]
    fn parses_its_own_names_only() {
        for t in Tier::ALL {
            assert_eq!(t.as_str().parse::<Tier>().unwrap(), t);
        }
        assert!("eu".parse::<Tier>().is_err());
        assert!("Sovereign".parse::<Tier>().is_err());
    }
}
