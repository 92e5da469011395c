//! Reading the ledger back: usage totals grouped by key, team, model or day (from the local
//! journal, or from PostgreSQL when records are shipped there), and the export of records.

use super::chain;
use super::journal;
use super::record::LedgerRecord;
use super::LedgerError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// What to group usage by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Key,
    Team,
    Model,
    Day,
}

impl By {
    pub fn as_str(self) -> &'static str {
        match self {
            By::Key => "key",
            By::Team => "team",
            By::Model => "model",
            By::Day => "day",
        }
    }

    /// The group of a record.
    pub fn group_of(self, r: &LedgerRecord) -> String {
        let s = match self {
            By::Key => r.key_id.as_deref(),
            By::Team => r.team.as_deref(),
            By::Model => r.model.as_deref(),
            By::Day => Some(&r.ts[..10.min(r.ts.len())]),
        };
        s.unwrap_or("-").to_string()
    }

    /// The same grouping in SQL.
    pub fn sql(self) -> &'static str {
        match self {
            By::Key => "COALESCE(key_id, '-')",
            By::Team => "COALESCE(team, '-')",
            By::Model => "COALESCE(model, '-')",
            By::Day => "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        }
    }
}

/// A time range over `ts` (RFC 3339, UTC, fixed width: compared as text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Range {
    pub since: Option<String>,
    pub until: Option<String>,
}

impl Range {
    pub fn contains(&self, ts: &str) -> bool {
        self.since.as_deref().is_none_or(|s| ts >= s)
            && self.until.as_deref().is_none_or(|u| ts < u)
    }
}

/// `2026-05-01` or an RFC 3339 time, as the ledger's own `ts` format (UTC, milliseconds).
pub fn parse_time(flag: &'static str, s: &str) -> Result<String, LedgerError> {
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    let t = humantime::parse_rfc3339_weak(&full).map_err(|e| LedgerError::Argument {
        flag,
        message: format!("{s:?}: {e} (e.g. 2026-05-01 or 2026-05-01T12:00:00Z)"),
    })?;
    Ok(humantime::format_rfc3339_millis(t).to_string())
}

/// Totals of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub requests: u64,
    pub served: u64,
    pub refused: u64,
    pub failed: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    /// Records whose counts are estimates (streams the client left).
    pub estimated: u64,
}

impl Totals {
    pub fn add(&mut self, r: &LedgerRecord) {
        self.requests += 1;
        match r.decision {
            super::Decision::Served => self.served += 1,
            super::Decision::Refused => self.refused += 1,
            super::Decision::Failed => self.failed += 1,
        }
        self.input_tokens += r.input_tokens;
        self.output_tokens += r.output_tokens;
        self.cached_tokens += r.cached_tokens;
        self.reasoning_tokens += r.reasoning_tokens;
        self.estimated += u64::from(r.usage_estimated);
    }
}

/// Every journal record in `range`, oldest first. Segments last written before the range starts
/// are skipped unread.
pub fn scan(
    dir: &Path,
    range: &Range,
    mut visit: impl FnMut(&[u8], LedgerRecord),
) -> Result<(), LedgerError> {
    let since = range
        .since
        .as_deref()
        .and_then(|s| humantime::parse_rfc3339_weak(s).ok());
    for (_, path) in journal::segments(dir)? {
        if let Some(since) = since {
            let modified = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .map_err(|e| LedgerError::io(&path, e))?;
            if modified < since {
                continue;
            }
        }
        let (lines, _) = journal::read_lines(&path, 0, usize::MAX)?;
        for line in lines {
            let r = chain::parse(&line).map_err(|e| LedgerError::corrupt(&path, e))?;
            if range.contains(&r.ts) {
                visit(&line, r);
            }
        }
    }
    Ok(())
}

/// Usage per group from the journal.
pub fn from_journal(
    dir: &Path,
    range: &Range,
    by: By,
) -> Result<BTreeMap<String, Totals>, LedgerError> {
    let mut out: BTreeMap<String, Totals> = BTreeMap::new();
    scan(dir, range, |_, r| {
        out.entry(by.group_of(&r)).or_default().add(&r)
    })?;
    Ok(out)
}

/// Usage per group from PostgreSQL (every node's records).
pub async fn from_postgres(
    client: &tokio_postgres::Client,
    range: &Range,
    by: By,
) -> Result<BTreeMap<String, Totals>, LedgerError> {
    let sql = format!(
        "SELECT {g} AS g, count(*)::bigint,
            count(*) FILTER (WHERE decision = 'served')::bigint,
            count(*) FILTER (WHERE decision = 'refused')::bigint,
            count(*) FILTER (WHERE decision = 'failed')::bigint,
            COALESCE(sum(input_tokens), 0)::bigint, COALESCE(sum(output_tokens), 0)::bigint,
            COALESCE(sum(cached_tokens), 0)::bigint, COALESCE(sum(reasoning_tokens), 0)::bigint,
            count(*) FILTER (WHERE usage_estimated)::bigint
         FROM stav_ledger
         WHERE ($1::text IS NULL OR ts >= $1::text::timestamptz)
           AND ($2::text IS NULL OR ts < $2::text::timestamptz)
         GROUP BY 1 ORDER BY 1",
        g = by.sql()
    );
    let rows = client.query(&sql, &[&range.since, &range.until]).await?;
    let n = |row: &tokio_postgres::Row, i: usize| row.get::<_, i64>(i).max(0) as u64;
    Ok(rows
        .iter()
        .map(|row| {
            (
                row.get::<_, String>(0),
                Totals {
                    requests: n(row, 1),
                    served: n(row, 2),
                    refused: n(row, 3),
                    failed: n(row, 4),
                    input_tokens: n(row, 5),
                    output_tokens: n(row, 6),
                    cached_tokens: n(row, 7),
                    reasoning_tokens: n(row, 8),
                    estimated: n(row, 9),
                },
            )
        })
        .collect())
}

/// The table `usage` prints.
pub fn render(by: By, groups: &BTreeMap<String, Totals>) -> String {
    let mut out = format!(
        "{:<24} {:>9} {:>8} {:>8} {:>8} {:>14} {:>14} {:>12} {:>12} {:>9}\n",
        by.as_str().to_uppercase(),
        "REQUESTS",
        "SERVED",
        "REFUSED",
        "FAILED",
        "INPUT",
        "OUTPUT",
        "CACHED",
        "REASONING",
        "ESTIMATED"
    );
    for (g, t) in groups {
        out.push_str(&format!(
            "{:<24} {:>9} {:>8} {:>8} {:>8} {:>14} {:>14} {:>12} {:>12} {:>9}\n",
            g,
            t.requests,
            t.served,
            t.refused,
            t.failed,
            t.input_tokens,
            t.output_tokens,
            t.cached_tokens,
            t.reasoning_tokens,
            t.estimated
        ));
    }
    out
}

/// The CSV columns of `ledger export --format csv`: every record field, chain included.
pub const CSV_COLUMNS: [&str; 32] = [
    "seq",
    "prev",
    "hash",
    "request_id",
    "ts",
    "key_id",
    "team",
    "route",
    "contract",
    "requested_model",
    "model",
    "provider",
    "tier",
    "max_tier",
    "cap_causes",
    "decision",
    "reason",
    "status",
    "error",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "usage_estimated",
    "duration_ms",
    "ttft_ms",
    "attempts",
    "stream",
    "client_cancelled",
    "total_tokens",
    "node",
];

pub fn csv_row(r: &LedgerRecord, node: &str) -> Vec<String> {
    let opt = |v: Option<&str>| v.unwrap_or_default().to_string();
    vec![
        r.seq.to_string(),
        r.prev.clone(),
        r.hash.clone(),
        r.request_id.to_string(),
        r.ts.to_string(),
        opt(r.key_id.as_deref()),
        opt(r.team.as_deref()),
        r.route.to_string(),
        r.contract.to_string(),
        opt(r.requested_model.as_deref()),
        opt(r.model.as_deref()),
        opt(r.provider.as_deref()),
        opt(r.tier.as_deref()),
        opt(r.max_tier.as_deref()),
        r.cap_causes.join("; "),
        r.decision.as_str().to_string(),
        opt(r.reason.as_deref()),
        r.status.to_string(),
        opt(r.error.as_deref()),
        r.input_tokens.to_string(),
        r.output_tokens.to_string(),
        r.cached_tokens.to_string(),
        r.cache_write_tokens.to_string(),
        r.reasoning_tokens.to_string(),
        r.usage_estimated.to_string(),
        r.duration_ms.to_string(),
        r.ttft_ms.map(|t| t.to_string()).unwrap_or_default(),
        r.attempts.to_string(),
        r.stream.to_string(),
        r.client_cancelled.to_string(),
        r.tokens().to_string(),
        node.to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::chain::seal;
    use crate::ledger::journal::Appender;
    use crate::ledger::record::sample;

    #[test]
    fn totals_group_and_filter_by_time() {
        let dir = std::env::temp_dir().join(format!("stav-report-{}", rand::random::<u64>()));
        let mut a = Appender::open(&dir, 1 << 20).unwrap();
        let mut buf = Vec::new();
        for (i, (day, key, tokens)) in [
            ("2026-04-30", "k1", 5),
            ("2026-05-01", "k1", 10),
            ("2026-05-02", "k2", 20),
            ("2026-05-02", "k1", 30),
        ]
        .into_iter()
        .enumerate()
        {
            let mut r = sample(&format!("req_{i}"));
            r.ts = format!("{day}T08:00:00.000Z").into();
            r.key_id = Some(key.into());
            r.input_tokens = tokens;
            r.output_tokens = 1;
            seal(&crate::ledger::line::body(&r), &mut a.head, &mut buf);
        }
        a.write(&buf).unwrap();
        let may = Range {
            since: Some(parse_time("--since", "2026-05-01").unwrap()),
            until: None,
        };
        let by_key = from_journal(&dir, &may, By::Key).unwrap();
        assert_eq!(by_key["k1"].input_tokens, 40);
        assert_eq!(by_key["k1"].requests, 2);
        assert_eq!(by_key["k2"].output_tokens, 1);
        let by_day = from_journal(&dir, &Range::default(), By::Day).unwrap();
        assert_eq!(
            by_day.keys().collect::<Vec<_>>(),
            ["2026-04-30", "2026-05-01", "2026-05-02"]
        );
        assert_eq!(by_day["2026-05-02"].input_tokens, 50);
        let until = Range {
            since: None,
            until: Some(parse_time("--until", "2026-05-02").unwrap()),
        };
        assert_eq!(
            from_journal(&dir, &until, By::Team).unwrap()["team-a"].requests,
            2
        );
        assert!(render(By::Key, &by_key).contains("k2"));
        assert!(parse_time("--since", "May 1st").is_err());
    }
}
