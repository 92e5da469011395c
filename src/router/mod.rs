//! The Smart Router: signals from the conversation, then the team's first-match rules within
//! the sovereignty cap.

pub mod eval;
pub mod explain;
pub mod model;
pub mod pii;
pub mod signals;

pub use explain::explain_signals;

use crate::catalogue::{Catalogue, ModelKind};
use crate::tier::Tier;
use pii::Entity;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use signals::Complexity;

/// Classified text is capped for cost: the head and tail of the last user turn. What a prompt
/// asks for is stated at its start or its end; the middle of a long prompt is mostly pasted
/// material, and past 4 KB more of it does not change the signals' evidence much while the cost
/// grows linearly (the training script caps the same way).
const CLASSIFY_HEAD: usize = 3072;
const CLASSIFY_TAIL: usize = 1024;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signals {
    pub complexity: Complexity,
    pub code: bool,
    pub domain: &'static str,
    pub sensitive: bool,
    pub entities: Vec<&'static str>,
}

/// The text of a request, as the router reads it.
#[derive(Debug, Default)]
pub struct Conversation {
    /// The last user turn (what the routing signals read).
    pub last_user: String,
    /// Every piece of text that would be forwarded (what the sensitivity scan reads).
    pub forwarded: String,
}

/// Keys whose string values are not content: protocol fields and inline binary data.
const NOT_CONTENT: &[&str] = &[
    "model",
    "role",
    "type",
    "id",
    "tool_use_id",
    "tool_call_id",
    "signature",
    "media_type",
    "data",
    "file_data",
    "encoding_format",
];

fn collect_text(v: &Value, out: &mut String) {
    match v {
        Value::String(s) if !s.starts_with("data:") => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(a) => a.iter().for_each(|x| collect_text(x, out)),
        Value::Object(o) => {
            for (k, x) in o {
                if !NOT_CONTENT.contains(&k.as_str()) {
                    collect_text(x, out);
                }
            }
        }
        _ => {}
    }
}

fn turn_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| {
                p.get("text")
                    .and_then(Value::as_str)
                    .or_else(|| p.get("content").and_then(Value::as_str))
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Works for every contract: OpenAI `messages`, Anthropic `system` + `messages`, and the
/// Responses API's `input` (a string or items).
pub fn conversation(body: &Value) -> Conversation {
    let mut forwarded = String::new();
    collect_text(body, &mut forwarded);
    let turns = body.get("messages").or_else(|| body.get("input"));
    let last_user = match turns {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .map(|m| turn_text(m.get("content").unwrap_or(&Value::Null)))
            .unwrap_or_default(),
        _ => String::new(),
    };
    Conversation {
        last_user,
        forwarded,
    }
}

pub(crate) fn capped(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= CLASSIFY_HEAD + CLASSIFY_TAIL {
        return text.into();
    }
    let mut head = CLASSIFY_HEAD;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - CLASSIFY_TAIL;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{}\n{}", &text[..head], &text[tail..]).into()
}

/// Signals from a conversation, given what the sensitivity scan (`pii::scan` over
/// `conv.forwarded`) found; callers scan once and reuse the entities for the cap. An empty slice
/// (no scan, the cap already `sovereign`) reports `sensitive: false`.
pub fn classify(conv: &Conversation, entities: &[Entity]) -> Signals {
    let text = capped(&conv.last_user);
    let a = signals::analyse(&text);
    Signals {
        complexity: a.complexity,
        code: a.code,
        domain: a.domain,
        sensitive: !entities.is_empty(),
        entities: entities.iter().map(|e| e.as_str()).collect(),
    }
}

/// One routing rule: all set conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    pub complexity: Option<Complexity>,
    pub code: Option<bool>,
    pub domain: Option<String>,
    pub sensitive: Option<bool>,
}

impl When {
    pub fn matches(&self, s: &Signals) -> bool {
        self.complexity.is_none_or(|c| c == s.complexity)
            && self.code.is_none_or(|c| c == s.code)
            && self.domain.as_deref().is_none_or(|d| d == s.domain)
            && self.sensitive.is_none_or(|x| x == s.sensitive)
    }

    fn describe(&self, s: &Signals) -> String {
        let mut parts = Vec::new();
        if self.complexity.is_some() {
            parts.push(format!("complexity={}", s.complexity.as_str()));
        }
        if self.code.is_some() {
            parts.push(format!("code={}", s.code));
        }
        if self.domain.is_some() {
            parts.push(format!("domain={}", s.domain));
        }
        if self.sensitive.is_some() {
            parts.push(format!("sensitive={}", s.sensitive));
        }
        parts.join(", ")
    }
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub when: When,
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterPolicy {
    pub default: String,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouteDecision {
    /// Catalogue index of the chosen model.
    pub model: usize,
    pub model_name: String,
    /// Index of the matching rule, `None` for the default.
    pub rule: Option<usize>,
    pub reason: String,
    /// Candidates skipped for being above the cap.
    pub skipped: Vec<String>,
}

impl RouteDecision {
    /// The `routing_metadata` object both contracts carry, serialized once: pass-through
    /// answers splice these bytes in, and only translating bridges read them back as a value.
    pub fn metadata(&self, s: &Signals, cap: Tier) -> Box<RawValue> {
        #[derive(Serialize)]
        #[serde(untagged)]
        enum Rule {
            Default(&'static str),
            Index(usize),
        }
        #[derive(Serialize)]
        struct Metadata<'a> {
            selected_model: &'a str,
            reason: &'a str,
            signals: &'a Signals,
            rule: Rule,
            max_tier: &'static str,
        }
        let m = Metadata {
            selected_model: &self.model_name,
            reason: &self.reason,
            signals: s,
            rule: self.rule.map_or(Rule::Default("default"), Rule::Index),
            max_tier: cap.as_str(),
        };
        serde_json::value::to_raw_value(&m).expect("json serializes")
    }
}

/// First matching rule whose model fits under the cap (and that the key may use), then the
/// default; `Err` lists what was skipped when nothing fits.
pub fn route(
    policy: &RouterPolicy,
    s: &Signals,
    cap: Tier,
    catalogue: &Catalogue,
    allowed: &dyn Fn(&str) -> bool,
) -> Result<RouteDecision, Vec<String>> {
    let mut skipped = Vec::new();
    let candidates = policy
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.when.matches(s))
        .map(|(i, r)| (Some(i), r.model.as_str(), r.when.describe(s)))
        .chain(std::iter::once((
            None,
            policy.default.as_str(),
            String::from("default"),
        )));
    for (rule, model, why) in candidates {
        let Some((idx, entry)) = catalogue.find(model) else {
            skipped.push(format!("{model} (not in the catalogue)"));
            continue;
        };
        if entry.kind != ModelKind::Chat {
            skipped.push(format!("{model} (not a chat model)"));
            continue;
        }
        if catalogue.min_tier(idx) > cap {
            skipped.push(format!(
                "{model} (tier {} above cap {})",
                catalogue.min_tier(idx),
                cap
            ));
            continue;
        }
        if !allowed(model) {
            skipped.push(format!("{model} (not allowed for this API key)"));
            continue;
        }
        let signals = format!(
            "complexity={}, code={}, sensitive={}",
            s.complexity.as_str(),
            s.code,
            s.sensitive
        );
        let matched = if why == "default" || why.is_empty() {
            format!("{signals}, rule=default")
        } else {
            format!("{signals}, rule={}: {why}", rule.unwrap_or(0))
        };
        return Ok(RouteDecision {
            model: idx,
            model_name: model.to_string(),
            rule,
            reason: format!("{matched} → {model}"),
            skipped,
        });
    }
    Err(skipped)
}

#[cfg(test)]
mod tests;
