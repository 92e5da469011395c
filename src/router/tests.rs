//! Rules, conversation extraction, and the property that the served tier never exceeds the cap.

use super::*;
use crate::catalogue::{Catalogue, ModelEntry, ModelKind};
use crate::policy::{effective_cap, CapInputs};
use crate::test_support::XorShift;
use serde_json::json;

fn entry(name: &str, tier: Tier) -> ModelEntry {
    ModelEntry {
        name: name.into(),
        provider: 0,
        provider_name: "p".into(),
        upstream_model: None,
        tier,
        kind: ModelKind::Chat,
        created: None,
        weight: 1,
        priority: 0,
    }
}

fn catalogue() -> Catalogue {
    Catalogue::new(vec![
        entry("small:fast", Tier::Sovereign),
        entry("llama-4-maverick:precision", Tier::Sovereign),
        entry("mistral-large", Tier::RoutedCommercial),
        entry("claude-*", Tier::GlobalCommercial),
    ])
}

fn signals(complexity: Complexity, code: bool, sensitive: bool) -> Signals {
    Signals {
        complexity,
        code,
        domain: if code { "code" } else { "general" },
        sensitive,
        entities: vec![],
    }
}

fn policy() -> RouterPolicy {
    RouterPolicy {
        default: "small:fast".into(),
        rules: vec![
            Rule {
                when: When {
                    complexity: Some(Complexity::High),
                    code: Some(true),
                    ..When::default()
                },
                model: "claude-sonnet-4-5".into(),
            },
            Rule {
                when: When {
                    complexity: Some(Complexity::High),
                    code: Some(true),
                    ..When::default()
                },
                model: "llama-4-maverick:precision".into(),
            },
            Rule {
                when: When {
                    domain: Some("legal".into()),
                    ..When::default()
                },
                model: "mistral-large".into(),
            },
        ],
    }
}

#[test]
fn first_match_wins_within_the_cap() {
    let s = signals(Complexity::High, true, false);
    let d = route(&policy(), &s, Tier::GlobalCommercial, &catalogue(), &|_| {
        true
    })
    .unwrap();
    assert_eq!(
        (d.model_name.as_str(), d.rule),
        ("claude-sonnet-4-5", Some(0))
    );
    assert_eq!(d.reason, "complexity=high, code=true, sensitive=false, rule=0: complexity=high, code=true → claude-sonnet-4-5");
    // Capped: the claude rule is skipped, the next matching rule serves.
    let d = route(&policy(), &s, Tier::Sovereign, &catalogue(), &|_| true).unwrap();
    assert_eq!(
        (d.model_name.as_str(), d.rule),
        ("llama-4-maverick:precision", Some(1))
    );
    assert_eq!(
        d.skipped,
        ["claude-sonnet-4-5 (tier global-commercial above cap sovereign)"]
    );
}

#[test]
fn default_when_nothing_matches_and_error_when_nothing_fits() {
    let s = signals(Complexity::Low, false, false);
    let d = route(&policy(), &s, Tier::Sovereign, &catalogue(), &|_| true).unwrap();
    assert_eq!((d.model_name.as_str(), d.rule), ("small:fast", None));
    let only_commercial = RouterPolicy {
        default: "mistral-large".into(),
        rules: vec![],
    };
    let err = route(&only_commercial, &s, Tier::Sovereign, &catalogue(), &|_| {
        true
    })
    .unwrap_err();
    assert_eq!(
        err,
        ["mistral-large (tier routed-commercial above cap sovereign)"]
    );
}

#[test]
fn models_the_key_may_not_use_are_skipped() {
    let s = signals(Complexity::Medium, false, true);
    let d = route(&policy(), &s, Tier::GlobalCommercial, &catalogue(), &|m| {
        m != "small:fast"
    });
    let err = d.unwrap_err();
    assert_eq!(err, ["small:fast (not allowed for this API key)"]);
}

#[test]
fn metadata_shape() {
    let s = signals(Complexity::Medium, false, true);
    let d = route(&policy(), &s, Tier::Sovereign, &catalogue(), &|_| true).unwrap();
    let raw = d.metadata(&s, Tier::Sovereign);
    let m: serde_json::Value = serde_json::from_str(raw.get()).unwrap();
    // Written in this order, as the object both contracts have carried.
    assert!(
        raw.get()
            .starts_with(r#"{"selected_model":"small:fast","reason":"#),
        "{}",
        raw.get()
    );
    let with_rule = RouteDecision {
        rule: Some(3),
        ..d.clone()
    };
    let r: serde_json::Value =
        serde_json::from_str(with_rule.metadata(&s, Tier::Sovereign).get()).unwrap();
    assert_eq!(r["rule"], 3);
    // Byte for byte what building it as a value and serializing that wrote.
    let quoted = RouteDecision {
        reason: "code → \"big\" model".into(),
        ..with_rule.clone()
    };
    let s = Signals {
        entities: vec!["iban", "email"],
        ..s
    };
    for (d, cap) in [
        (&d, Tier::Sovereign),
        (&with_rule, Tier::GlobalCommercial),
        (&quoted, Tier::RoutedCommercial),
    ] {
        let as_value = json!({
            "selected_model": d.model_name,
            "reason": d.reason,
            "signals": &s,
            "rule": d.rule.map_or(json!("default"), |i| json!(i)),
            "max_tier": cap.as_str(),
        });
        assert_eq!(
            d.metadata(&s, cap).get(),
            serde_json::to_string(&as_value).unwrap()
        );
    }
    assert_eq!(m["selected_model"], "small:fast");
    assert_eq!(m["rule"], "default");
    assert_eq!(m["max_tier"], "sovereign");
    assert_eq!(
        m["signals"],
        json!({"complexity": "medium", "code": false, "domain": "general", "sensitive": true, "entities": []})
    );
}

#[test]
fn conversation_reads_both_contracts_and_skips_binary() {
    let openai = json!({"model": "auto", "messages": [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}}]},
        {"role": "assistant", "content": "ok", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"iban\":\"x\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "tool says DE89 3704 0044 0532 0130 00"},
        {"role": "user", "content": "last question"}]});
    let c = conversation(&openai);
    assert_eq!(c.last_user, "last question");
    for part in ["sys", "first", "ok", "tool says DE89", "last question"] {
        assert!(c.forwarded.contains(part), "{part}");
    }
    assert!(!c.forwarded.contains("QUJD") && !c.forwarded.contains("auto"));
    let anthropic = json!({"model": "auto", "system": [{"type": "text", "text": "be brief"}], "messages": [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "secret result"}, {"type": "text", "text": "and now?"}]},
        {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "QUJD"}}, {"type": "text", "text": "look"}]}]});
    let c = conversation(&anthropic);
    assert_eq!(c.last_user, "look");
    assert!(c.forwarded.contains("be brief") && c.forwarded.contains("secret result"));
    assert!(!c.forwarded.contains("QUJD"));
}

#[test]
fn sensitive_anywhere_in_the_conversation_is_found() {
    let body = json!({"messages": [{"role": "user", "content": "My IBAN is DE89 3704 0044 0532 0130 00"},
                                   {"role": "assistant", "content": "noted"},
                                   {"role": "user", "content": "thanks, what next?"}]});
    let conv = conversation(&body);
    let s = classify(&conv, &pii::scan(&conv.forwarded));
    assert!(s.sensitive);
    assert_eq!(s.entities, ["iban"]);
    let s = classify(&conv, &[]);
    assert!(
        !s.sensitive,
        "scan skipped when the cap is already sovereign"
    );
}

struct Rng(XorShift);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next()
    }
    fn tier(&mut self) -> Tier {
        Tier::ALL[self.0.below(3) as usize]
    }
    fn opt_tier(&mut self) -> Option<Tier> {
        (self.0.below(4) != 0).then(|| self.tier())
    }
}

/// Property: over random team caps, key caps, headers, sensitivity, candidate tiers and rules,
/// whatever `auto` serves is at or below the effective cap, and a sensitive prompt without an
/// opt-out is served only by `sovereign`.
#[test]
fn served_tier_never_exceeds_the_cap() {
    let mut r = Rng(XorShift(0xdead_beef_cafe_f00d));
    for case in 0..20_000 {
        let tiers: Vec<Tier> = (0..4).map(|_| r.tier()).collect();
        let cat = Catalogue::new(
            tiers
                .iter()
                .enumerate()
                .map(|(i, t)| entry(&format!("m{i}"), *t))
                .collect(),
        );
        let rules = (0..(r.next() % 4))
            .map(|_| Rule {
                when: When {
                    code: r
                        .next()
                        .is_multiple_of(2)
                        .then(|| r.next().is_multiple_of(2)),
                    sensitive: r
                        .next()
                        .is_multiple_of(3)
                        .then(|| r.next().is_multiple_of(2)),
                    ..When::default()
                },
                model: format!("m{}", r.next() % 4),
            })
            .collect();
        let pol = RouterPolicy {
            default: format!("m{}", r.next() % 4),
            rules,
        };
        let sensitive = r.next().is_multiple_of(2);
        let opt_out = r.next().is_multiple_of(5);
        let entities = [pii::Entity::Email];
        let inputs = CapInputs {
            team: Some(r.tier()),
            key: r.opt_tier(),
            header: r.opt_tier(),
            sensitive: Some(if sensitive { &entities[..] } else { &[] }),
            sensitive_opt_out: opt_out,
            conversation: r.opt_tier(),
        };
        let cap = effective_cap(&inputs);
        let s = signals(Complexity::Medium, r.next().is_multiple_of(2), sensitive);
        match route(&pol, &s, cap.tier, &cat, &|_| true) {
            Ok(d) => {
                let served = cat.get(d.model).tier;
                assert!(
                    served <= cap.tier,
                    "case {case}: served {served} above cap {}",
                    cap.tier
                );
                for t in [inputs.team, inputs.key, inputs.header]
                    .into_iter()
                    .flatten()
                {
                    assert!(served <= t, "case {case}");
                }
                if sensitive && !opt_out {
                    assert_eq!(served, Tier::Sovereign, "case {case}");
                }
            }
            Err(skipped) => {
                assert!(
                    !skipped.is_empty(),
                    "case {case}: an error always says what was skipped"
                );
            }
        }
    }
}

#[test]
fn classify_reads_the_capped_last_user_turn() {
    let body = json!({"messages": [
        {"role": "user", "content": "```python\nprint(1)\n```"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "Write a short poem about the sea at dawn."}]});
    let conv = conversation(&body);
    let s = classify(&conv, &[]);
    let a = signals::analyse(&conv.last_user);
    assert_eq!(
        (s.code, s.complexity, s.domain),
        (a.code, a.complexity, a.domain)
    );
    // The fenced code two turns back does not make the last turn code.
    assert!(!s.code);
    // Past the cap, the middle of a long turn is not read: a fence there sets nothing.
    let filler = "The weather was mild and the walk along the river was pleasant. ".repeat(80);
    let long = format!("{filler}\n```\nx = 1\n```\n{filler}");
    assert!(capped(&long).len() <= 3072 + 1024 + 1);
    assert!(!capped(&long).contains("```"));
    assert!(signals::analyse(&format!("{filler}\n```\nx = 1\n```")).code);
}
