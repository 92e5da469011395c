//! Shipping the journal to PostgreSQL, so many nodes are counted in one place. A background
//! service reads the journal from a persisted position (`shipped.pos` next to the segments),
//! inserts batches idempotently by `request_id` and only then moves the position on: a restart or
//! a replay never counts a request twice, and an outage of any length only makes the journal the
//! buffer — requests never wait for PostgreSQL.

use super::journal::{self, Position};
use super::LedgerError;
use crate::metrics;
use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::{Client, NoTls};

/// Records per INSERT: one statement, one round trip.
pub const BATCH: usize = 2000;

/// The table, created when missing. One row per request; `node` tells which gateway's journal
/// it came from (`seq`, `prev` and `hash` are that journal's chain).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS stav_ledger (
    request_id         text PRIMARY KEY,
    ts                 timestamptz NOT NULL,
    node               text NOT NULL,
    seq                bigint NOT NULL,
    prev               text NOT NULL,
    hash               text NOT NULL,
    key_id             text,
    team               text,
    route              text NOT NULL,
    contract           text NOT NULL,
    requested_model    text,
    model              text,
    provider           text,
    tier               text,
    max_tier           text,
    cap_causes         jsonb NOT NULL DEFAULT '[]',
    decision           text NOT NULL,
    reason             text,
    status             integer NOT NULL,
    error              text,
    input_tokens       bigint NOT NULL,
    output_tokens      bigint NOT NULL,
    cached_tokens      bigint NOT NULL,
    cache_write_tokens bigint NOT NULL DEFAULT 0,
    reasoning_tokens   bigint NOT NULL,
    usage_estimated    boolean NOT NULL,
    duration_ms        bigint NOT NULL,
    ttft_ms            bigint,
    attempts           integer NOT NULL,
    stream             boolean NOT NULL,
    client_cancelled   boolean NOT NULL,
    shipped_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS stav_ledger_ts ON stav_ledger (ts);
CREATE INDEX IF NOT EXISTS stav_ledger_key_ts ON stav_ledger (key_id, ts);
CREATE INDEX IF NOT EXISTS stav_ledger_team_ts ON stav_ledger (team, ts);
";

/// The batch goes over as one JSON array of the journal's own lines, expanded by PostgreSQL.
const INSERT: &str = "
INSERT INTO stav_ledger (request_id, ts, node, seq, prev, hash, key_id, team, route, contract,
    requested_model, model, provider, tier, max_tier, cap_causes, decision, reason, status, error,
    input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,
    usage_estimated, duration_ms, ttft_ms, attempts, stream, client_cancelled)
SELECT request_id, ts, $2, seq, prev, hash, key_id, team, route, contract,
    requested_model, model, provider, tier, max_tier, COALESCE(cap_causes, '[]'), decision, reason,
    status, error, input_tokens, output_tokens, cached_tokens, COALESCE(cache_write_tokens, 0),
    reasoning_tokens, usage_estimated, duration_ms, ttft_ms, attempts, stream, client_cancelled
FROM jsonb_to_recordset($1::text::jsonb) AS r(request_id text, ts timestamptz, seq bigint,
    prev text, hash text, key_id text, team text, route text, contract text,
    requested_model text, model text, provider text, tier text, max_tier text, cap_causes jsonb,
    decision text, reason text, status integer, error text, input_tokens bigint,
    output_tokens bigint, cached_tokens bigint, cache_write_tokens bigint,
    reasoning_tokens bigint, usage_estimated boolean, duration_ms bigint, ttft_ms bigint,
    attempts integer, stream boolean, client_cancelled boolean)
ON CONFLICT (request_id) DO NOTHING
";

/// This node's name in the table: the host and the journal's directory.
pub fn node_name(dir: &Path) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    format!("{host}:{}", dir.display())
}

pub async fn connect(url: &str) -> Result<Client, LedgerError> {
    let (client, conn) =
        tokio::time::timeout(Duration::from_secs(5), tokio_postgres::connect(url, NoTls))
            .await
            .map_err(|_| LedgerError::Argument {
                flag: "ledger.postgres_url",
                message: "PostgreSQL did not answer within 5 s".into(),
            })??;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            log::debug!("ledger: postgres connection closed: {e}");
        }
    });
    Ok(client)
}

/// The next lines to ship from `pos`, and the position after them. Moves on to the next segment
/// when the current one is finished (a newer one exists only once this one is closed).
pub fn next_batch(dir: &Path, pos: &Position) -> Result<(Vec<Vec<u8>>, Position), LedgerError> {
    let segs = journal::segments(dir)?;
    let mut pos = *pos;
    let mut at = match segs.iter().position(|(first, _)| *first >= pos.segment) {
        Some(i) => i,
        None => return Ok((Vec::new(), pos)),
    };
    if segs[at].0 != pos.segment {
        // The position's segment is gone (never past the shipper, but be safe): start the next.
        pos.segment = segs[at].0;
        pos.offset = 0;
    }
    loop {
        let (lines, end) = journal::read_lines(&segs[at].1, pos.offset, BATCH)?;
        if !lines.is_empty() {
            let last = super::chain::parse(lines.last().expect("not empty"))
                .map_err(|e| LedgerError::corrupt(&segs[at].1, e))?;
            return Ok((
                lines,
                Position {
                    segment: pos.segment,
                    offset: end,
                    seq: last.seq,
                },
            ));
        }
        if at + 1 >= segs.len() {
            return Ok((Vec::new(), pos));
        }
        at += 1;
        pos.segment = segs[at].0;
        pos.offset = 0;
    }
}

/// Insert one batch; records PostgreSQL already has are skipped. Returns the rows inserted.
pub async fn ship(client: &Client, node: &str, lines: &[Vec<u8>]) -> Result<u64, LedgerError> {
    let mut array = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum::<usize>() + 2);
    array.push(b'[');
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            array.push(b',');
        }
        array.extend_from_slice(l);
    }
    array.push(b']');
    let text = String::from_utf8(array).map_err(|e| LedgerError::Corrupt {
        path: PathBuf::from("journal"),
        message: e.to_string(),
    })?;
    Ok(client.execute(INSERT, &[&text, &node]).await?)
}

pub struct Shipper {
    pub dir: PathBuf,
    pub url: String,
    pub written: Arc<AtomicU64>,
    /// The last seq PostgreSQL has (as the position file says), for the lag during an outage.
    pub shipped: AtomicU64,
}

impl Shipper {
    pub fn new(dir: PathBuf, url: String, written: Arc<AtomicU64>) -> Self {
        let shipped = journal::read_position(&dir)
            .ok()
            .flatten()
            .map_or(0, |p| p.seq);
        Self {
            dir,
            url,
            written,
            shipped: AtomicU64::new(shipped),
        }
    }

    fn publish_lag(&self) {
        let lag = self
            .written
            .load(Ordering::Acquire)
            .saturating_sub(self.shipped.load(Ordering::Acquire));
        metrics::LEDGER_LAG.set(lag as i64);
    }
}

#[async_trait]
impl BackgroundService for Shipper {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let node = node_name(&self.dir);
        let mut down_since: Option<std::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.run(&node, &mut shutdown, &mut down_since).await {
                Ok(()) => return,
                Err(e) => {
                    metrics::LEDGER_SHIP_ERRORS.inc();
                    if down_since.is_none() {
                        log::warn!("ledger: cannot ship to PostgreSQL ({e}); the journal keeps everything, retrying");
                        down_since = Some(std::time::Instant::now());
                    }
                }
            }
            // The journal keeps growing meanwhile: the lag shows it.
            for _ in 0..5 {
                self.publish_lag();
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        }
    }
}

impl Shipper {
    /// Connect and ship until shutdown (`Ok`) or an error (`Err`: reconnect and resume from the
    /// persisted position).
    async fn run(
        &self,
        node: &str,
        shutdown: &mut ShutdownWatch,
        down_since: &mut Option<std::time::Instant>,
    ) -> Result<(), LedgerError> {
        let client = connect(&self.url).await?;
        client.batch_execute(SCHEMA).await?;
        if let Some(t) = down_since.take() {
            log::info!(
                "ledger: shipping to PostgreSQL again after {:.1} s",
                t.elapsed().as_secs_f64()
            );
        }
        let dir = self.dir.clone();
        let mut pos = tokio::task::spawn_blocking(move || journal::read_position(&dir))
            .await
            .expect("reading the position does not panic")?
            .unwrap_or_default();
        loop {
            let (dir, from) = (self.dir.clone(), pos);
            let (lines, next) = tokio::task::spawn_blocking(move || next_batch(&dir, &from))
                .await
                .expect("reading the journal does not panic")?;
            self.shipped.store(pos.seq, Ordering::Release);
            self.publish_lag();
            if lines.is_empty() {
                if next != pos {
                    pos = next;
                }
                tokio::select! {
                    _ = shutdown.changed() => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
                }
            }
            ship(&client, node, &lines).await?;
            metrics::LEDGER_SHIPPED.inc_by(lines.len() as u64);
            // Only after PostgreSQL has the batch: a crash before this line replays it, and
            // the primary key makes the replay a no-op.
            let dir = self.dir.clone();
            tokio::task::spawn_blocking(move || journal::write_position(&dir, &next))
                .await
                .expect("writing the position does not panic")?;
            pos = next;
            self.shipped.store(pos.seq, Ordering::Release);
            self.publish_lag();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::chain::seal;
    use crate::ledger::journal::Appender;
    use crate::ledger::record::sample;

    #[test]
    fn batches_follow_the_journal_across_segments_and_resume_from_a_position() {
        let dir = std::env::temp_dir().join(format!("stav-ship-{}", rand::random::<u64>()));
        let mut a = Appender::open(&dir, 200_000).unwrap();
        for i in 0..(BATCH + 50) {
            a.rotate_if_full().unwrap();
            let mut buf = Vec::new();
            seal(&mut sample(&format!("req_{i}")), &mut a.head, &mut buf);
            a.write(&buf).unwrap();
        }
        let mut pos = Position::default();
        let mut seen = Vec::new();
        loop {
            let (lines, next) = next_batch(&dir, &pos).unwrap();
            if lines.is_empty() {
                break;
            }
            assert!(lines.len() <= BATCH);
            for l in &lines {
                seen.push(crate::ledger::chain::parse(l).unwrap().seq);
            }
            assert_eq!(next.seq, *seen.last().unwrap());
            journal::write_position(&dir, &next).unwrap();
            pos = journal::read_position(&dir).unwrap().unwrap();
        }
        let want: Vec<u64> = (1..=(BATCH as u64 + 50)).collect();
        assert_eq!(seen, want, "every record once, in order");
        // Written later, shipped next, from the saved position.
        let mut buf = Vec::new();
        a.rotate_if_full().unwrap();
        seal(&mut sample("late"), &mut a.head, &mut buf);
        a.write(&buf).unwrap();
        let (lines, _) = next_batch(&dir, &pos).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(
            crate::ledger::chain::parse(&lines[0]).unwrap().request_id,
            "late"
        );
    }
}
