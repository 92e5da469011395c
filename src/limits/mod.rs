//! Rate limits per key and per team: requests/min and tokens/min, and monthly token budgets.
//!
//! Tokens are reserved at admission (an estimate of the input plus the requested output budget)
//! and reconciled from the real usage at the end. With Redis the buckets are shared by every node
//! (one atomic script per request); without it, or while Redis is unreachable, each node enforces
//! `limit / nodes` on its own. A budget is a bucket whose window is a calendar month (UTC): it
//! admits while anything is left and counts what was really used; at start the ledger's
//! month-to-date totals seed it (`seed`).

pub mod month;
pub mod window;

use crate::metrics;
use crate::store::redis::RedisLink;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use window::{judge, Ask, Verdict, WINDOW_MS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Requests,
    Tokens,
    /// Tokens per calendar month.
    Budget,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Requests => "requests",
            Kind::Tokens => "tokens",
            Kind::Budget => "budget",
        }
    }

    pub fn counts_tokens(self) -> bool {
        matches!(self, Kind::Tokens | Kind::Budget)
    }
}

/// The window a bucket counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// The sliding minute (`window`): the window index is the minute, taken from the deciding
    /// clock (Redis's, when shared).
    Minute,
    /// A calendar month (UTC), by index (`month::index`), taken from the node's clock.
    Month(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    Key,
    Team,
}

impl Owner {
    pub fn as_str(self) -> &'static str {
        match self {
            Owner::Key => "key",
            Owner::Team => "team",
        }
    }
}

/// One limit that applies to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Stable store name, e.g. `key:<kid>:requests`.
    pub name: String,
    pub owner: Owner,
    pub kind: Kind,
    pub ask: Ask,
    pub period: Period,
}

impl Bucket {
    /// The window index this bucket counts in now (minute buckets: `minute`).
    pub fn window(&self, minute: u64) -> u64 {
        match self.period {
            Period::Minute => minute,
            Period::Month(m) => m,
        }
    }

    /// A budget is spent when nothing is left: the request that takes it over the edge is
    /// admitted and counted at what it really used. A minute limit must fit the request.
    pub fn judge(&self, prev: u64, curr: u64, now_ms: u64) -> Verdict {
        match self.period {
            Period::Minute => judge(self.ask, prev, curr, now_ms),
            Period::Month(m) => {
                let reset_ms = month::start_ms(m + 1).saturating_sub(now_ms);
                let allowed = curr < self.ask.limit;
                Verdict {
                    allowed,
                    remaining: self
                        .ask
                        .limit
                        .saturating_sub(curr + u64::from(allowed) * self.ask.cost),
                    retry_after_ms: if allowed { 0 } else { reset_ms },
                    reset_ms,
                }
            }
        }
    }

    /// What the request counts in this bucket: a minute limit never takes more than its whole
    /// limit (or a large `max_tokens` could never pass); a budget counts the estimate in full
    /// until it is reconciled.
    pub fn cost(&self) -> u64 {
        match self.period {
            Period::Minute => window::effective_cost(self.ask),
            Period::Month(_) => self.ask.cost,
        }
    }
}

/// The limits of a key and its team for one request of `tokens` estimated tokens.
pub fn buckets(
    key_id: &str,
    key: (Option<u64>, Option<u64>),
    team_name: &str,
    team: (Option<u64>, Option<u64>),
    tokens: u64,
) -> Vec<Bucket> {
    let mut out = Vec::new();
    let mut add = |owner: Owner, id: &str, kind: Kind, limit: Option<u64>, cost: u64| {
        if let Some(limit) = limit {
            out.push(Bucket {
                name: format!("{}:{id}:{}", owner.as_str(), kind.as_str()),
                owner,
                kind,
                ask: Ask { limit, cost },
                period: Period::Minute,
            });
        }
    };
    add(Owner::Key, key_id, Kind::Requests, key.0, 1);
    add(Owner::Key, key_id, Kind::Tokens, key.1, tokens);
    add(Owner::Team, team_name, Kind::Requests, team.0, 1);
    add(Owner::Team, team_name, Kind::Tokens, team.1, tokens);
    out
}

/// The name of an owner's monthly budget bucket (the ledger's seeding uses it too).
pub fn budget_name(owner: Owner, id: &str) -> String {
    format!("{}:{id}:{}", owner.as_str(), Kind::Budget.as_str())
}

/// The monthly token budgets of a key and its team for one request of `tokens` estimated
/// tokens, in the month of `now_ms`.
pub fn budget_buckets(
    key_id: &str,
    key_budget: Option<u64>,
    team_name: &str,
    team_budget: Option<u64>,
    tokens: u64,
    now_ms: u64,
) -> Vec<Bucket> {
    let m = month::index(now_ms);
    [
        (Owner::Key, key_id, key_budget),
        (Owner::Team, team_name, team_budget),
    ]
    .into_iter()
    .filter_map(|(owner, id, budget)| {
        // The name is made only for a budget that is set: most keys have none.
        let limit = budget?;
        Some(Bucket {
            name: budget_name(owner, id),
            owner,
            kind: Kind::Budget,
            ask: Ask {
                limit,
                cost: tokens,
            },
            period: Period::Month(m),
        })
    })
    .collect()
}

/// Where a reservation was made, so that its correction goes to the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Local,
    Redis,
}

/// Tokens held for an admitted request, to be corrected with its real usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub backend: Backend,
    /// Token buckets and what was reserved in each.
    pub tokens: Vec<Held>,
}

/// What one token bucket holds for a request, and the window it counts in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub name: String,
    pub period: Period,
    pub window: u64,
    pub reserved: u64,
}

/// `x-ratelimit-*` headers: the tightest bucket of each kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateHeaders(pub Vec<(&'static str, String)>);

impl RateHeaders {
    fn from_verdicts(buckets: &[Bucket], verdicts: &[Verdict]) -> Self {
        let mut out = Vec::new();
        for kind in [Kind::Requests, Kind::Tokens] {
            let tightest = buckets
                .iter()
                .zip(verdicts)
                .filter(|(b, _)| b.kind == kind)
                .min_by_key(|(_, v)| v.remaining);
            if let Some((b, v)) = tightest {
                let (limit, remaining, reset) = match kind {
                    Kind::Requests => (
                        "x-ratelimit-limit-requests",
                        "x-ratelimit-remaining-requests",
                        "x-ratelimit-reset-requests",
                    ),
                    Kind::Tokens => (
                        "x-ratelimit-limit-tokens",
                        "x-ratelimit-remaining-tokens",
                        "x-ratelimit-reset-tokens",
                    ),
                    // Budgets have no headers of their own (the loop never asks).
                    Kind::Budget => continue,
                };
                out.push((limit, b.ask.limit.to_string()));
                out.push((remaining, v.remaining.to_string()));
                out.push((reset, format!("{}s", v.reset_ms.div_ceil(1000))));
            }
        }
        RateHeaders(out)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub reservation: Option<Reservation>,
    pub headers: RateHeaders,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    pub owner: Owner,
    pub kind: Kind,
    pub limit: u64,
    pub retry_after_ms: u64,
    pub headers: RateHeaders,
}

impl Limited {
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after_ms.div_ceil(1000).max(1)
    }
}

/// Judge every bucket; admit only if all admit; the first refusing bucket (by longest wait)
/// names the refusal.
pub fn decide(
    buckets: &[Bucket],
    verdicts: &[Verdict],
    backend: Backend,
    window: u64,
) -> Result<Admitted, Limited> {
    let headers = RateHeaders::from_verdicts(buckets, verdicts);
    let worst = buckets
        .iter()
        .zip(verdicts)
        .filter(|(_, v)| !v.allowed)
        .max_by_key(|(_, v)| v.retry_after_ms);
    if let Some((b, v)) = worst {
        return Err(Limited {
            owner: b.owner,
            kind: b.kind,
            limit: b.ask.limit,
            retry_after_ms: v.retry_after_ms,
            headers,
        });
    }
    let tokens: Vec<Held> = buckets
        .iter()
        .filter(|b| b.kind.counts_tokens())
        .map(|b| Held {
            name: b.name.clone(),
            period: b.period,
            window: b.window(window),
            reserved: b.cost(),
        })
        .collect();
    Ok(Admitted {
        reservation: (!tokens.is_empty()).then_some(Reservation { backend, tokens }),
        headers,
    })
}

/// Per-node buckets: the whole store without Redis, the fallback share with it.
#[derive(Debug, Default)]
pub struct LocalLimiter {
    /// name → (window index, previous window's count, this window's count)
    buckets: Mutex<HashMap<String, (u64, u64, u64)>>,
}

impl LocalLimiter {
    pub fn acquire(
        &self,
        buckets: &[Bucket],
        share: u64,
        now_ms: u64,
    ) -> Result<Admitted, Limited> {
        let win = now_ms / WINDOW_MS;
        let shared: Vec<Bucket> = buckets
            .iter()
            .map(|b| Bucket {
                ask: Ask {
                    limit: b.ask.limit.div_ceil(share.max(1)),
                    cost: b.ask.cost,
                },
                ..b.clone()
            })
            .collect();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 4096 {
            // Forget minute buckets idle for two windows: they count as zero anyway. Budgets
            // (month windows are far smaller numbers than minutes) are kept for their month.
            let month = month::index(now_ms);
            map.retain(|_, (w, _, _)| *w + 1 >= win || *w == month);
        }
        let verdicts: Vec<Verdict> = shared
            .iter()
            .map(|b| {
                let (prev, curr) = counts(map.get(&b.name), b.window(win));
                b.judge(prev, curr, now_ms)
            })
            .collect();
        let decision = decide(&shared, &verdicts, Backend::Local, win);
        if decision.is_ok() {
            for b in &shared {
                let w = b.window(win);
                let (prev, curr) = counts(map.get(&b.name), w);
                map.insert(b.name.clone(), (w, prev, curr + b.cost()));
            }
        }
        decision
    }

    /// Add `tokens` already used this `month` (from the ledger) to a budget bucket.
    pub fn seed(&self, name: &str, month: u64, tokens: u64) {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (_, curr) = counts(map.get(name), month);
        map.insert(name.to_string(), (month, 0, curr + tokens));
    }

    /// What a bucket counts in `window` (for tests and the seeding's report).
    pub fn count(&self, name: &str, window: u64) -> u64 {
        let map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        counts(map.get(name), window).1
    }

    pub fn adjust(&self, name: &str, window: u64, delta: i64) {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((w, prev, curr)) = map.get_mut(name) {
            let slot = if *w == window {
                curr
            } else if *w == window + 1 {
                prev
            } else {
                return;
            };
            *slot = slot.saturating_add_signed(delta);
        }
    }
}

fn counts(entry: Option<&(u64, u64, u64)>, win: u64) -> (u64, u64) {
    match entry {
        Some(&(w, _, curr)) if w + 1 == win => (curr, 0),
        Some(&(w, prev, curr)) if w == win => (prev, curr),
        _ => (0, 0),
    }
}

/// The limiter the request path calls.
pub struct Limiter {
    local: LocalLimiter,
    redis: Option<Arc<RedisLink>>,
    /// How many nodes share the limits: each enforces `limit / nodes` when it must decide alone.
    nodes: u64,
}

impl Limiter {
    pub fn new(redis: Option<Arc<RedisLink>>, nodes: u64) -> Self {
        Self {
            local: LocalLimiter::default(),
            redis,
            nodes: nodes.max(1),
        }
    }

    pub async fn acquire(&self, buckets: &[Bucket]) -> Result<Admitted, Limited> {
        if buckets.is_empty() {
            return Ok(Admitted {
                reservation: None,
                headers: RateHeaders::default(),
            });
        }
        let result = match &self.redis {
            None => self.local.acquire(buckets, 1, now_ms()),
            Some(link) => match link.acquire(buckets).await {
                Some((verdicts, win)) => decide(buckets, &verdicts, Backend::Redis, win),
                None => self.local.acquire(buckets, self.nodes, now_ms()),
            },
        };
        if let Err(l) = &result {
            metrics::RATE_LIMITED
                .with_label_values(&[l.owner.as_str(), l.kind.as_str()])
                .inc();
        }
        result
    }

    /// Correct a reservation with what was really used (`None`: the request failed before any
    /// answer, so nothing was used).
    pub async fn reconcile(&self, r: &Reservation, actual: Option<u64>) {
        for h in &r.tokens {
            let delta = actual.unwrap_or(0) as i64 - h.reserved as i64;
            if delta == 0 {
                continue;
            }
            match (r.backend, &self.redis) {
                (Backend::Redis, Some(link)) => link.adjust(h, delta).await,
                _ => self.local.adjust(&h.name, h.window, delta),
            }
        }
    }

    /// Bring a budget bucket up to what the ledger says was used this month before this node
    /// started. Locally the count is added (this node's journal holds everything it counted);
    /// in Redis, shared by nodes that may have counted it already, the bucket is only raised to
    /// it, never lowered.
    pub async fn seed(&self, name: &str, month: u64, tokens: u64) {
        match &self.redis {
            Some(link) if link.is_up() => link.seed(name, month, tokens).await,
            _ => self.local.seed(name, month, tokens),
        }
    }

    pub fn local_count(&self, name: &str, window: u64) -> u64 {
        self.local.count(name, window)
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_buckets(rpm: u64, tpm: Option<u64>, tokens: u64) -> Vec<Bucket> {
        buckets("k", (Some(rpm), tpm), "t", (None, None), tokens)
    }

    #[test]
    fn local_limits_admit_exactly_the_limit_and_name_it() {
        let l = LocalLimiter::default();
        let b = key_buckets(3, None, 10);
        let now = 100 * WINDOW_MS + 5;
        let ok: Vec<_> = (0..5).map(|_| l.acquire(&b, 1, now)).collect();
        assert_eq!(ok.iter().filter(|r| r.is_ok()).count(), 3);
        let refused = ok[4].as_ref().unwrap_err();
        assert_eq!(
            (refused.owner, refused.kind, refused.limit),
            (Owner::Key, Kind::Requests, 3)
        );
        assert!(refused.retry_after_secs() >= 59);
        let h: HashMap<_, _> = refused.headers.0.iter().cloned().collect();
        assert_eq!(h["x-ratelimit-limit-requests"], "3");
        assert_eq!(h["x-ratelimit-remaining-requests"], "0");
    }

    #[test]
    fn the_fallback_share_divides_the_limit() {
        let l = LocalLimiter::default();
        let b = key_buckets(10, None, 0);
        let admitted = (0..10).filter(|_| l.acquire(&b, 2, 7).is_ok()).count();
        assert_eq!(admitted, 5);
    }

    #[test]
    fn team_limits_bind_across_keys() {
        let l = LocalLimiter::default();
        let a = buckets("a", (None, None), "t", (Some(2), None), 0);
        let b = buckets("b", (None, None), "t", (Some(2), None), 0);
        assert!(l.acquire(&a, 1, 0).is_ok());
        assert!(l.acquire(&b, 1, 0).is_ok());
        let refused = l.acquire(&a, 1, 0).unwrap_err();
        assert_eq!(refused.owner, Owner::Team);
    }

    #[test]
    fn reserved_tokens_are_given_back_after_reconciling() {
        let l = LocalLimiter::default();
        let b = key_buckets(100, Some(1000), 600);
        let first = l.acquire(&b, 1, 0).unwrap();
        // 600 of 1000 reserved: a second 600 does not fit...
        assert_eq!(l.acquire(&b, 1, 0).unwrap_err().kind, Kind::Tokens);
        // ...until the first turns out to have used 100.
        let r = first.reservation.unwrap();
        assert_eq!(
            (r.tokens[0].name.as_str(), r.tokens[0].reserved),
            ("key:k:tokens", 600)
        );
        l.adjust(&r.tokens[0].name, r.tokens[0].window, 100 - 600);
        assert!(l.acquire(&b, 1, 0).is_ok());
    }

    #[test]
    fn a_budget_admits_until_spent_counts_real_usage_and_renews_next_month() {
        let l = LocalLimiter::default();
        let may = month::start_ms(2026 * 12 + 4) + 1000;
        let b = |tokens, now| budget_buckets("k", Some(100), "t", None, tokens, now);
        // 60 reserved, 30 really used; then 50 reserved, 80 used: 110 of 100, spent.
        let first = l.acquire(&b(60, may), 1, may).unwrap().reservation.unwrap();
        assert_eq!(first.tokens[0].window, 2026 * 12 + 4);
        l.adjust(&first.tokens[0].name, first.tokens[0].window, 30 - 60);
        let second = l.acquire(&b(50, may), 1, may).unwrap().reservation.unwrap();
        l.adjust(&second.tokens[0].name, second.tokens[0].window, 80 - 50);
        let refused = l.acquire(&b(1, may), 1, may).unwrap_err();
        assert_eq!(
            (refused.kind, refused.owner, refused.limit),
            (Kind::Budget, Owner::Key, 100)
        );
        let june = month::start_ms(2026 * 12 + 5);
        assert_eq!(refused.retry_after_ms, june - may, "until the month renews");
        assert!(
            l.acquire(&b(1, june), 1, june).is_ok(),
            "a new month, a new budget"
        );
        // Seeded from the ledger: what was used before the start counts.
        let l = LocalLimiter::default();
        l.seed(&budget_name(Owner::Key, "k"), 2026 * 12 + 4, 100);
        assert_eq!(
            l.acquire(&b(1, may), 1, may).unwrap_err().kind,
            Kind::Budget
        );
    }

    #[test]
    fn a_refused_request_consumes_nothing() {
        let l = LocalLimiter::default();
        // Requests fit, tokens do not: neither bucket may count the refused request.
        let b = key_buckets(2, Some(100), 80);
        assert!(l.acquire(&b, 1, 0).is_ok());
        assert!(l.acquire(&b, 1, 0).is_err());
        let small = key_buckets(2, Some(100), 20);
        assert!(
            l.acquire(&small, 1, 0).is_ok(),
            "the refused request took a request slot"
        );
    }
}
