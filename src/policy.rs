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
    let sensitive = sensitive_entities(inputs);
    let tier = cap_tier(inputs);
    // Only the winning inputs become causes, so nothing is allocated for the others.
    let mut causes = Vec::new();
    let mut kinds = Vec::new();
    for (t, cause, kind) in stated(inputs) {
        if t == Some(tier) {
            causes.push(cause.to_string());
            kinds.push(kind);
        }
    }
    if let Some(entities) = sensitive.filter(|_| tier == Tier::Sovereign) {
        let names: Vec<&str> = entities.iter().map(|e| e.as_str()).collect();
        causes.push(format!("sensitive data detected ({})", names.join(", ")));
        kinds.extend(entities.iter().map(|&e| CauseKind::Sensitive(e)));
    }
    Cap {
        tier,
        causes,
        kinds,
    }
}

/// The tier `effective_cap` settles on, without its causes.
pub fn cap_tier(inputs: &CapInputs) -> Tier {
    stated(inputs)
        .into_iter()
        .map(|(t, _, _)| t)
        .chain([sensitive_entities(inputs).map(|_| Tier::Sovereign)])
        .flatten()
        .min()
        .unwrap_or(Tier::GlobalCommercial)
}

/// The inputs that state a tier themselves, each with its cause.
fn stated(inputs: &CapInputs) -> [(Option<Tier>, &'static str, CauseKind); 4] {
    [
        (inputs.team, "team policy", CauseKind::Team),
        (inputs.key, "API key policy", CauseKind::Key),
        (inputs.header, "X-Stav-Max-Tier header", CauseKind::Header),
        (
            inputs.conversation,
            "the continued conversation's cap",
            CauseKind::Conversation,
        ),
    ]
}

/// The detected entities that bound the cap (none when the team opted out).
fn sensitive_entities<'a>(inputs: &CapInputs<'a>) -> Option<&'a [Entity]> {
    inputs
        .sensitive
        .filter(|e| !e.is_empty() && !inputs.sensitive_opt_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cap as first written: every input a candidate with its cause, the lowest tier wins.
    fn reference(inputs: &CapInputs) -> Cap {
        let mut candidates: Vec<(Tier, String, Vec<CauseKind>)> = Vec::new();
        for (t, cause, kind) in stated(inputs) {
            if let Some(t) = t {
                candidates.push((t, cause.into(), vec![kind]));
            }
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
            .map(|c| c.0)
            .min()
            .unwrap_or(Tier::GlobalCommercial);
        let (mut causes, mut kinds) = (Vec::new(), Vec::new());
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

    #[test]
    fn the_cap_is_the_reference_cap_for_every_combination_of_inputs() {
        let tiers = [
            None,
            Some(Tier::Sovereign),
            Some(Tier::RoutedCommercial),
            Some(Tier::GlobalCommercial),
        ];
        let found = [Entity::Iban, Entity::Email];
        let scans: [Option<&[Entity]>; 3] = [None, Some(&[]), Some(&found)];
        let mut n = 0;
        for team in tiers {
            for key in tiers {
                for header in tiers {
                    for conversation in tiers {
                        for sensitive in scans {
                            for sensitive_opt_out in [false, true] {
                                let inputs = CapInputs {
                                    team,
                                    key,
                                    header,
                                    sensitive,
                                    sensitive_opt_out,
                                    conversation,
                                };
                                let cap = effective_cap(&inputs);
                                assert_eq!(cap, reference(&inputs), "{inputs:?}");
                                assert_eq!(cap_tier(&inputs), cap.tier, "{inputs:?}");
                                n += 1;
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(n, 4 * 4 * 4 * 4 * 3 * 2);
    }

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
