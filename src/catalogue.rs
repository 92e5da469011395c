//! Which models the gateway serves, and where each one goes.

use crate::tier::Tier;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    Chat,
    Embeddings,
}

#[derive(Debug, Clone)]
pub struct ModelEntry {
    /// What clients send; a trailing `*` makes it a family (`claude-*`).
    pub name: String,
    /// Index into `Config::providers`.
    pub provider: usize,
    pub provider_name: String,
    pub upstream_model: Option<String>,
    pub tier: Tier,
    pub kind: ModelKind,
    pub created: Option<u64>,
    pub weight: u32,
    pub priority: u32,
}

impl ModelEntry {
    pub fn is_family(&self) -> bool {
        self.name.ends_with('*')
    }

    /// The model name sent upstream: the configured one, else what the client asked for (a family
    /// entry forwards the concrete name, e.g. `claude-sonnet-4-5`).
    pub fn upstream_model_for<'a>(&'a self, requested: &'a str) -> &'a str {
        self.upstream_model.as_deref().unwrap_or(requested)
    }
}

#[derive(Debug, Clone)]
pub struct Catalogue {
    entries: Vec<ModelEntry>,
    /// Indices of family entries, longest prefix first, so the most specific family wins.
    families: Vec<usize>,
    /// For each entry, every entry of the same name (its deployments), itself first.
    deployments: Vec<Vec<usize>>,
}

impl Catalogue {
    pub fn new(entries: Vec<ModelEntry>) -> Self {
        let mut families: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].is_family())
            .collect();
        families.sort_by_key(|&i| std::cmp::Reverse(entries[i].name.len()));
        families.dedup_by_key(|i| entries[*i].name.clone());
        let deployments = (0..entries.len())
            .map(|i| {
                std::iter::once(i)
                    .chain(
                        (0..entries.len())
                            .filter(|&j| j != i && entries[j].name == entries[i].name),
                    )
                    .collect()
            })
            .collect();
        Self {
            entries,
            families,
            deployments,
        }
    }

    /// Every deployment of the entry's model, the entry itself first.
    pub fn deployments(&self, idx: usize) -> &[usize] {
        &self.deployments[idx]
    }

    /// The lowest tier any deployment of the entry's model runs at.
    pub fn min_tier(&self, idx: usize) -> Tier {
        self.deployments[idx]
            .iter()
            .map(|&i| self.entries[i].tier)
            .min()
            .expect("an entry is its own deployment")
    }

    /// The highest tier any deployment of the entry's model runs at.
    pub fn max_tier(&self, idx: usize) -> Tier {
        self.deployments[idx]
            .iter()
            .map(|&i| self.entries[i].tier)
            .max()
            .expect("an entry is its own deployment")
    }

    /// Exact name first, then the longest matching family.
    pub fn lookup(&self, model: &str) -> Option<&ModelEntry> {
        self.find(model).map(|(_, e)| e)
    }

    /// Like `lookup`, with the entry's index (what a request plan keeps).
    pub fn find(&self, model: &str) -> Option<(usize, &ModelEntry)> {
        if model.is_empty() {
            return None;
        }
        let exact = self
            .entries
            .iter()
            .position(|e| !e.is_family() && e.name == model);
        let idx = exact.or_else(|| {
            self.families.iter().copied().find(|&i| {
                let family = &self.entries[i].name;
                model.starts_with(&family[..family.len() - 1])
            })
        })?;
        Some((idx, &self.entries[idx]))
    }

    pub fn get(&self, idx: usize) -> &ModelEntry {
        &self.entries[idx]
    }

    /// Concrete (non-family) models, each once (its first deployment), in configuration order:
    /// what `/v1/models` can list.
    pub fn listable(&self) -> impl Iterator<Item = &ModelEntry> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(i, e)| !e.is_family() && self.first_of_name(*i))
            .map(|(_, e)| e)
    }

    fn first_of_name(&self, idx: usize) -> bool {
        self.deployments[idx].iter().all(|&j| j >= idx)
    }

    pub fn entries(&self) -> &[ModelEntry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, upstream: Option<&str>) -> ModelEntry {
        ModelEntry {
            name: name.into(),
            provider: 0,
            provider_name: "p".into(),
            upstream_model: upstream.map(Into::into),
            tier: Tier::Sovereign,
            kind: ModelKind::Chat,
            created: None,
            weight: 1,
            priority: 0,
        }
    }

    fn cat() -> Catalogue {
        Catalogue::new(vec![
            entry("claude-*", None),
            entry("claude-opus-*", Some("claude-opus-4-1")),
            entry("qwen3-32b", Some("Qwen/Qwen3-32B")),
            entry("llama-4-maverick:precision", None),
            entry("claude-special", None),
        ])
    }

    #[test]
    fn exact_match_wins_over_family() {
        let c = cat();
        assert_eq!(c.lookup("claude-special").unwrap().name, "claude-special");
        assert_eq!(c.lookup("qwen3-32b").unwrap().name, "qwen3-32b");
    }

    #[test]
    fn longest_family_wins_regardless_of_order() {
        let c = cat();
        assert_eq!(c.lookup("claude-opus-4").unwrap().name, "claude-opus-*");
        assert_eq!(c.lookup("claude-sonnet-4-5").unwrap().name, "claude-*");
    }

    #[test]
    fn family_forwards_the_requested_name_unless_pinned() {
        let c = cat();
        let e = c.lookup("claude-sonnet-4-5").unwrap();
        assert_eq!(
            e.upstream_model_for("claude-sonnet-4-5"),
            "claude-sonnet-4-5"
        );
        let e = c.lookup("claude-opus-9").unwrap();
        assert_eq!(e.upstream_model_for("claude-opus-9"), "claude-opus-4-1");
    }

    #[test]
    fn variants_are_their_own_entries_and_misses_are_none() {
        let c = cat();
        assert!(c.lookup("llama-4-maverick:precision").is_some());
        assert!(c.lookup("llama-4-maverick").is_none());
        assert!(c.lookup("qwen3").is_none());
        assert!(c.lookup("").is_none());
        assert!(c.lookup("QWEN3-32B").is_none());
    }

    #[test]
    fn families_are_not_listed() {
        let names: Vec<_> = cat().listable().map(|e| e.name.clone()).collect();
        assert_eq!(
            names,
            ["qwen3-32b", "llama-4-maverick:precision", "claude-special"]
        );
    }
}
