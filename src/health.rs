//! Passive health of each deployment, learned from real traffic: a deployment that fails
//! `EJECT_AFTER` times in a row is ejected (tried only after every healthy one) for a backoff
//! that doubles with each further failure; its next success restores it. Also the order in which
//! a request's deployments are tried.

use crate::catalogue::Catalogue;
use crate::metrics;
use crate::plan::Attempt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const EJECT_AFTER: u32 = 3;
/// The `reason` labels of `stav_failovers_total` (see `proxy::failover`).
pub const FAILOVER_REASONS: [&str; 6] = [
    "connect",
    "status_5xx",
    "status_429",
    "status_529",
    "timeout",
    "closed",
];
const BASE_EJECT_MS: u64 = 5_000;
const MAX_EJECT_MS: u64 = 120_000;

#[derive(Default)]
struct State {
    failures: AtomicU32,
    ejected_until_ms: AtomicU64,
}

pub struct Health {
    states: Vec<State>,
    /// `(model, provider)` names per deployment, for metric labels.
    labels: Vec<(String, String)>,
}

impl Health {
    pub fn new(catalogue: &Catalogue) -> Self {
        let labels: Vec<(String, String)> = catalogue
            .entries()
            .iter()
            .map(|e| (e.name.clone(), e.provider_name.clone()))
            .collect();
        for (m, p) in &labels {
            metrics::DEPLOYMENT_UP.with_label_values(&[m, p]).set(1);
            metrics::DEPLOYMENT_EJECTIONS.with_label_values(&[m, p]);
            for reason in FAILOVER_REASONS {
                metrics::FAILOVERS.with_label_values(&[m, p, reason]);
            }
        }
        Self {
            states: labels.iter().map(|_| State::default()).collect(),
            labels,
        }
    }

    pub fn available(&self, idx: usize, now_ms: u64) -> bool {
        self.states[idx].ejected_until_ms.load(Ordering::Relaxed) <= now_ms
    }

    pub fn success(&self, idx: usize) {
        let s = &self.states[idx];
        if s.failures.swap(0, Ordering::Relaxed) >= EJECT_AFTER {
            let (m, p) = &self.labels[idx];
            log::info!("deployment {m} on {p} answers again");
            metrics::DEPLOYMENT_UP.with_label_values(&[m, p]).set(1);
        }
        s.ejected_until_ms.store(0, Ordering::Relaxed);
    }

    /// Count a failure; `true` when it (re-)ejects the deployment.
    pub fn failure(&self, idx: usize, now_ms: u64) -> bool {
        let s = &self.states[idx];
        let n = s.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n < EJECT_AFTER {
            return false;
        }
        let backoff = (BASE_EJECT_MS << (n - EJECT_AFTER).min(10)).min(MAX_EJECT_MS);
        s.ejected_until_ms
            .store(now_ms + backoff, Ordering::Relaxed);
        let (m, p) = &self.labels[idx];
        log::warn!("deployment {m} on {p} ejected for {backoff} ms after {n} failures in a row");
        metrics::DEPLOYMENT_UP.with_label_values(&[m, p]).set(0);
        metrics::DEPLOYMENT_EJECTIONS
            .with_label_values(&[m, p])
            .inc();
        true
    }

    pub fn labels(&self, idx: usize) -> (&str, &str) {
        let (m, p) = &self.labels[idx];
        (m, p)
    }

    /// Available deployments before ejected ones; then lower priority first; within a priority,
    /// a weighted random order (each deployment's share of first attempts is its weight's).
    pub fn order(&self, catalogue: &Catalogue, attempts: &mut [Attempt], now_ms: u64) {
        if attempts.len() < 2 {
            return;
        }
        let mut keyed: Vec<((bool, u32, f64), Attempt)> = attempts
            .iter()
            .map(|a| {
                let e = catalogue.get(a.model);
                // Efraimidis–Spirakis: sorting by -ln(u)/w draws a weighted order.
                let u: f64 = rand::random::<f64>().max(f64::MIN_POSITIVE);
                let key = -u.ln() / f64::from(e.weight);
                (
                    (!self.available(a.model, now_ms), e.priority, key),
                    a.clone(),
                )
            })
            .collect();
        keyed.sort_by(|(a, _), (b, _)| a.partial_cmp(b).expect("keys are finite"));
        for (slot, (_, a)) in attempts.iter_mut().zip(keyed) {
            *slot = a;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{ModelEntry, ModelKind};
    use crate::config::ProviderApi;
    use crate::tier::Tier;
    use bytes::Bytes;

    fn catalogue(specs: &[(u32, u32)]) -> Catalogue {
        Catalogue::new(
            specs
                .iter()
                .enumerate()
                .map(|(i, &(priority, weight))| ModelEntry {
                    name: "m".into(),
                    provider: i,
                    provider_name: format!("p{i}"),
                    upstream_model: None,
                    tier: Tier::Sovereign,
                    kind: ModelKind::Chat,
                    created: None,
                    weight,
                    priority,
                })
                .collect(),
        )
    }

    fn attempts(n: usize) -> Vec<Attempt> {
        (0..n)
            .map(|i| Attempt {
                model: i,
                provider: i,
                api: ProviderApi::OpenAi,
                tier: Tier::Sovereign,
                path: String::new(),
                body: Bytes::new(),
            })
            .collect()
    }

    fn first_choices(c: &Catalogue, h: &Health, n: usize, runs: usize) -> Vec<usize> {
        let mut counts = vec![0; n];
        for _ in 0..runs {
            let mut a = attempts(n);
            h.order(c, &mut a, 0);
            counts[a[0].model] += 1;
        }
        counts
    }

    #[test]
    fn priority_first_then_weights() {
        let c = catalogue(&[(1, 1), (0, 3), (0, 1)]);
        let h = Health::new(&c);
        let counts = first_choices(&c, &h, 3, 4000);
        assert_eq!(
            counts[0], 0,
            "a lower priority is never first while others are up"
        );
        // Weights 3:1 → about 75 % of first attempts.
        assert!((2700..3300).contains(&counts[1]), "{counts:?}");
        let mut a = attempts(3);
        h.order(&c, &mut a, 0);
        assert_eq!(a[2].model, 0, "the lower priority is last");
    }

    #[test]
    fn ejected_deployments_go_last_until_their_backoff_ends_or_they_succeed() {
        let c = catalogue(&[(0, 1), (1, 1)]);
        let h = Health::new(&c);
        assert!(!h.failure(0, 1000));
        assert!(!h.failure(0, 1000));
        assert!(h.failure(0, 1000), "the third failure in a row ejects");
        assert!(!h.available(0, 1000 + BASE_EJECT_MS - 1));
        assert_eq!(first_choices(&c, &h, 2, 10)[1], 10);
        assert!(h.available(0, 1000 + BASE_EJECT_MS));
        // The probe after the backoff fails: ejected again, for twice as long.
        assert!(h.failure(0, 10_000));
        assert!(!h.available(0, 10_000 + 2 * BASE_EJECT_MS - 1));
        h.success(0);
        assert!(h.available(0, 10_001));
        assert!(!h.failure(0, 10_001), "a success resets the count");
    }
}
