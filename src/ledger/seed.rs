//! Budgets survive restarts: at start, the month-to-date token totals per key and per team (from
//! PostgreSQL when nodes share Redis and ship there, else from this node's journal) are put into
//! the monthly budget buckets.

use super::report::{self, Range};
use super::{LedgerError, LedgerSettings};
use crate::limits::{budget_name, month, now_ms, Owner};
use crate::store::Store;
use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use std::collections::HashMap;
use std::sync::Arc;

pub struct BudgetSeed {
    pub settings: LedgerSettings,
    pub store: Arc<Store>,
    /// Only records before this node started count: later ones are in the buckets already.
    pub before_seq: u64,
    /// Nodes share Redis: buckets are raised to the total, never added to.
    pub redis: bool,
}

/// Month-to-date tokens per (owner, id) in the journal, among records up to `before_seq`.
pub fn from_journal(
    dir: &std::path::Path,
    month: u64,
    before_seq: u64,
) -> Result<HashMap<(Owner, String), u64>, LedgerError> {
    let since = humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(month::start_ms(month)),
    )
    .to_string();
    let range = Range {
        since: Some(since),
        until: None,
    };
    let mut out: HashMap<(Owner, String), u64> = HashMap::new();
    report::scan(dir, &range, |_, r| {
        if r.seq > before_seq || r.tokens() == 0 {
            return;
        }
        if let Some(k) = &r.key_id {
            *out.entry((Owner::Key, k.to_string())).or_default() += r.tokens();
        }
        if let Some(t) = &r.team {
            *out.entry((Owner::Team, t.to_string())).or_default() += r.tokens();
        }
    })?;
    Ok(out)
}

async fn from_postgres(
    url: &str,
    month: u64,
) -> Result<HashMap<(Owner, String), u64>, LedgerError> {
    let client = super::ship::connect(url).await?;
    let since = humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(month::start_ms(month)),
    )
    .to_string();
    let rows = client
        .query(
            "SELECT 'key', key_id, sum(input_tokens + output_tokens)::bigint FROM stav_ledger
               WHERE ts >= $1::text::timestamptz AND key_id IS NOT NULL GROUP BY key_id
             UNION ALL
             SELECT 'team', team, sum(input_tokens + output_tokens)::bigint FROM stav_ledger
               WHERE ts >= $1::text::timestamptz AND team IS NOT NULL GROUP BY team",
            &[&since],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let owner = if row.get::<_, &str>(0) == "key" {
                Owner::Key
            } else {
                Owner::Team
            };
            (
                (owner, row.get::<_, String>(1)),
                row.get::<_, i64>(2).max(0) as u64,
            )
        })
        .collect())
}

#[async_trait]
impl BackgroundService for BudgetSeed {
    async fn start(&self, _shutdown: ShutdownWatch) {
        let month = month::index(now_ms());
        let shared = match (&self.settings.postgres_url, self.redis) {
            (Some(url), true) => match from_postgres(url, month).await {
                Ok(t) => Some(t),
                Err(e) => {
                    log::warn!(
                        "ledger: budgets not seeded from PostgreSQL ({e}); using the journal"
                    );
                    None
                }
            },
            _ => None,
        };
        let source = if shared.is_some() {
            "PostgreSQL"
        } else {
            "the journal"
        };
        let totals = match shared {
            Some(t) => t,
            None => {
                let (dir, before) = (self.settings.dir.clone(), self.before_seq);
                match tokio::task::spawn_blocking(move || from_journal(&dir, month, before)).await {
                    Ok(Ok(t)) => t,
                    Ok(Err(e)) => {
                        log::error!("ledger: budgets not seeded: {e}");
                        return;
                    }
                    Err(e) => {
                        log::error!("ledger: budgets not seeded: {e}");
                        return;
                    }
                }
            }
        };
        for ((owner, id), tokens) in &totals {
            self.store
                .limiter
                .seed(&budget_name(*owner, id), month, *tokens)
                .await;
        }
        log::info!(
            "ledger: budgets seeded from {source}: {} keys and teams, month {}",
            totals.len(),
            month::label(month)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::chain::seal;
    use crate::ledger::journal::Appender;
    use crate::ledger::record::sample;

    #[test]
    fn month_to_date_counts_only_this_month_and_before_the_start() {
        let dir = std::env::temp_dir().join(format!("stav-seed-{}", rand::random::<u64>()));
        let mut a = Appender::open(&dir, 1 << 20).unwrap();
        let mut buf = Vec::new();
        let now = month::index(now_ms());
        let this = month::label(now);
        let last = month::label(now - 1);
        for (i, ts) in [
            format!("{last}-28T10:00:00.000Z"),
            format!("{this}-01T00:00:00.000Z"),
            format!("{this}-01T00:00:01.000Z"),
            format!("{this}-01T00:00:02.000Z"),
        ]
        .iter()
        .enumerate()
        {
            let mut r = sample(&format!("r{i}"));
            r.ts = ts.clone().into();
            seal(&crate::ledger::line::body(&r), &mut a.head, &mut buf);
        }
        a.write(&buf).unwrap();
        // Records 2 and 3 of this month were written before the start (seq <= 3).
        let t = from_journal(&dir, now, 3).unwrap();
        assert_eq!(t[&(Owner::Key, "abcdefghijkl".to_string())], 2 * 18);
        assert_eq!(t[&(Owner::Team, "team-a".to_string())], 2 * 18);
    }
}
