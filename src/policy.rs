//! Sovereignty policy: the effective tier cap of a request. Every source can only lower it.

use crate::sensitive::Entity;
use crate::tier::Tier;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cap {
    pub tier: Tier,
    /// What set the cap, for the 403 message and the logs (never the sensitive text).
    pub causes: Vec<String>,
    /// The same, as kinds (one per entity kind found), for traces.
    pub kinds: Vec<CauseKind>,
}

/// What can set a request's cap, as a bounded kind: never a value or the text it was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CauseKind {
    Team,
    Key,
    Header,
    Conversation,
    Sensitive(Entity),
    /// More text than the scan reads: counted as sensitive.
    ScanBudget,
    /// Binary media under a team policy of `unscannable = "sovereign"`.
    Unscannable,
}

impl CauseKind {
    /// `team`, `key`, `header`, `conversation`, or `sensitive:<entity kind>`.
    pub fn label(self) -> std::borrow::Cow<'static, str> {
        match self {
            CauseKind::Team => "team".into(),
            CauseKind::Key => "key".into(),
            CauseKind::Header => "header".into(),
            CauseKind::Conversation => "conversation".into(),
            CauseKind::Sensitive(e) => format!("sensitive:{}", e.as_str()).into(),
            CauseKind::ScanBudget => "scan_budget".into(),
            CauseKind::Unscannable => "unscannable".into(),
        }
    }
}

/// Inputs to the cap, each optional but the team's.
#[derive(Debug, Clone, Default)]
pub struct CapInputs<'a> {
    pub team: Option<Tier>,
    pub key: Option<Tier>,
    pub header: Option<Tier>,
    /// Entities found in everything that would be forwarded; `None` when not scanned.
    pub sensitive: Option<&'a [Entity]>,
    /// The team explicitly allows sensitive prompts above `sovereign`.
    pub sensitive_opt_out: bool,
    /// The cap of the stored conversation a Responses request continues.
    pub conversation: Option<Tier>,
}

pub fn effective_cap(inputs: &CapInputs) -> Cap {
    let mut candidates: Vec<(Tier, String, Vec<CauseKind>)> = Vec::new();
    if let Some(t) = inputs.team {
        candidates.push((t, "team policy".into(), vec![CauseKind::Team]));
    }
    if let Some(t) = inputs.key {
        candidates.push((t, "API key policy".into(), vec![CauseKind::Key]));
    }
    if let Some(t) = inputs.header {
        candidates.push((t, "X-Stav-Max-Tier header".into(), vec![CauseKind::Header]));
    }
    if let Some(t) = inputs.conversation {
        candidates.push((
            t,
            "the continued conversation's cap".into(),
            vec![CauseKind::Conversation],
        ));
    }
    if let Some(entities) = inputs.sensitive.filter(|e| !e.is_empty()) {
        if !inputs.sensitive_opt_out {
            let kinds: Vec<&str> = entities.iter().map(|e| e.as_str()).collect();
            candidates.push((
                Tier::Sovereign,
                format!("sensitive data detected ({})", kinds.join(", ")),
                entities.iter().map(|&e| CauseKind::Sensitive(e)).collect(),
            ));
        }
    }
    let tier = candidates
        .iter()
        .map(|(t, _, _)| *t)
        .min()
        .unwrap_or(Tier::GlobalCommercial);
    let mut causes = Vec::new();
    let mut kinds = Vec::new();
    for (t, cause, k) in candidates {
        if t == tier {
            causes.push(cause);
            kinds.extend(k);
        }
    }
    Cap {
        tier,
        causes,
        kinds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_wins_and_names_its_causes() {
        let c = effective_cap(&CapInputs {
            team: Some(Tier::GlobalCommercial),
            key: Some(Tier::RoutedCommercial),
            ..Default::default()
        });
        assert_eq!(c.tier, Tier::RoutedCommercial);
        assert_eq!(c.causes, ["API key policy"]);
        assert_eq!(c.kinds, [CauseKind::Key]);
        let e = [Entity::Iban];
        let c = effective_cap(&CapInputs {
            team: Some(Tier::GlobalCommercial),
            sensitive: Some(&e),
            ..Default::default()
        });
        assert_eq!(c.tier, Tier::Sovereign);
        assert_eq!(c.causes, ["sensitive data detected (iban)"]);
        assert_eq!(c.kinds, [CauseKind::Sensitive(Entity::Iban)]);
        assert_eq!(c.kinds[0].label(), "sensitive:iban");
    }

    #[test]
    fn a_header_cannot_raise_the_cap() {
        let c = effective_cap(&CapInputs {
            team: Some(Tier::Sovereign),
            header: Some(Tier::GlobalCommercial),
            ..Default::default()
        });
        assert_eq!(c.tier, Tier::Sovereign);
    }

    #[test]
    fn opt_out_lifts_only_the_sensitivity_cap() {
        let e = [Entity::Email];
        let c = effective_cap(&CapInputs {
            team: Some(Tier::RoutedCommercial),
            sensitive: Some(&e),
            sensitive_opt_out: true,
            ..Default::default()
        });
        assert_eq!(c.tier, Tier::RoutedCommercial);
    }

    /// Property: over every combination, the cap is the minimum of the sources and never above any.
    #[test]
    fn never_above_any_source() {
        let opts = [
            None,
            Some(Tier::Sovereign),
            Some(Tier::RoutedCommercial),
            Some(Tier::GlobalCommercial),
        ];
        let e = [Entity::Card];
        for team in opts {
            for key in opts {
                for (header, conversation) in opts.into_iter().zip(opts.into_iter().rev()) {
                    for sens in [None, Some(&e[..]), Some(&[][..])] {
                        for opt_out in [false, true] {
                            let c = effective_cap(&CapInputs {
                                team,
                                key,
                                header,
                                sensitive: sens,
                                sensitive_opt_out: opt_out,
                                conversation,
                            });
                            for s in [team, key, header, conversation].into_iter().flatten() {
                                assert!(c.tier <= s);
                            }
                            if sens.is_some_and(|s| !s.is_empty()) && !opt_out {
                                assert_eq!(c.tier, Tier::Sovereign);
                            }
                            assert!(
                                !c.causes.is_empty() || (team, key, header) == (None, None, None)
                            );
                        }
                    }
                }
            }
        }
    }
}
