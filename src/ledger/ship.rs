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
use tokio_postgres::{Client, NoTls, Statement};

/// Bytes of journal per INSERT (whole lines, some 3,000 records): one statement, one round trip.
pub const BATCH_BYTES: usize = 2 << 20;

/// How long the shipper waits when it has shipped everything written.
const IDLE_POLL: Duration = Duration::from_millis(100);

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

/// One batch read off the journal: how many records, and the position just past them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    pub records: usize,
    pub next: Position,
}

/// Read the next whole lines from `pos` into `array` as one JSON array (`[line,line,…]`: the
/// journal's own lines, each newline turned into a comma), ready to go to PostgreSQL as they
/// are. Moves on to the next segment when the current one is finished (a newer one exists only
/// once this one is closed). `records` is 0 when there is nothing new; `next` may still have
/// moved to the start of a newer segment.
pub fn next_batch(dir: &Path, pos: &Position, array: &mut Vec<u8>) -> Result<Batch, LedgerError> {
    let segs = journal::segments(dir)?;
    let mut pos = *pos;
    let nothing = |next| Batch { records: 0, next };
    let mut at = match segs.iter().position(|(first, _)| *first >= pos.segment) {
        Some(i) => i,
        None => return Ok(nothing(pos)),
    };
    if segs[at].0 != pos.segment {
        // The position's segment is gone (never past the shipper, but be safe): start the next.
        pos.segment = segs[at].0;
        pos.offset = 0;
    }
    loop {
        let path = &segs[at].1;
        array.clear();
        array.push(b'[');
        let n = journal::read_whole_lines(path, pos.offset, BATCH_BYTES, array)?;
        if n > 0 {
            let (records, last) = into_array(array);
            let seq = seq_of(&array[last..]).ok_or_else(|| {
                LedgerError::corrupt(path, "a journal line does not start with its seq")
            })?;
            return Ok(Batch {
                records,
                next: Position {
                    segment: pos.segment,
                    offset: pos.offset + n as u64,
                    seq,
                },
            });
        }
        if at + 1 >= segs.len() {
            return Ok(nothing(pos));
        }
        at += 1;
        pos.segment = segs[at].0;
        pos.offset = 0;
    }
}

/// `[` followed by whole lines, made a JSON array in place: every newline but the last becomes a
/// comma, the last one the closing `]`. Returns the number of lines and where the last begins.
fn into_array(buf: &mut [u8]) -> (usize, usize) {
    let mut records = 0;
    // Where the line being looked at begins, and where the last whole one began.
    let (mut line, mut last) = (1, 1);
    while let Some(i) = memchr::memchr(b'\n', &buf[line..]) {
        buf[line + i] = b',';
        records += 1;
        last = line;
        line += i + 1;
    }
    if records > 0 {
        buf[line - 1] = b']';
    }
    (records, last)
}

/// The `seq` a sealed line opens with (`{"seq":N,`, as `line::head` writes it).
fn seq_of(line: &[u8]) -> Option<u64> {
    let digits = line.strip_prefix(b"{\"seq\":")?;
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&digits[..n]).ok()?.parse().ok()
}

/// Insert one batch, the JSON array `next_batch` made; records PostgreSQL already has are
/// skipped. Returns the rows inserted. `array` keeps its bytes (and its allocation) for reuse.
pub async fn ship(
    client: &Client,
    insert: &Statement,
    node: &str,
    array: &mut Vec<u8>,
) -> Result<u64, LedgerError> {
    // The journal is written by this gateway as UTF-8; checking it costs a pass over the bytes,
    // and a journal edited by hand into invalid UTF-8 is refused here rather than sent.
    let text = String::from_utf8(std::mem::take(array)).map_err(|e| LedgerError::Corrupt {
        path: PathBuf::from("journal"),
        message: e.utf8_error().to_string(),
    })?;
    let inserted = client.execute(insert, &[&text, &node]).await;
    *array = text.into_bytes();
    Ok(inserted?)
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
        // Prepared once per connection: each batch is then one round trip.
        let insert = client.prepare(INSERT).await?;
        if let Some(t) = down_since.take() {
            log::info!(
                "ledger: shipping to PostgreSQL again after {:.1} s",
                t.elapsed().as_secs_f64()
            );
        }
        // The journal is read on this service's own thread: a read of a byte range the writer
        // has just written (in the page cache), and nothing else waits on this runtime.
        let mut pos = journal::read_position(&self.dir)?.unwrap_or_default();
        let mut array = Vec::with_capacity(BATCH_BYTES + 4096);
        loop {
            let batch = next_batch(&self.dir, &pos, &mut array)?;
            self.shipped.store(pos.seq, Ordering::Release);
            self.publish_lag();
            if batch.records == 0 {
                pos = batch.next;
                tokio::select! {
                    _ = shutdown.changed() => return Ok(()),
                    _ = tokio::time::sleep(IDLE_POLL) => continue,
                }
            }
            ship(&client, &insert, node, &mut array).await?;
            metrics::LEDGER_SHIPPED.inc_by(batch.records as u64);
            // Only after PostgreSQL has the batch: a crash before this line replays it, and
            // the primary key makes the replay a no-op.
            journal::write_position(&self.dir, &batch.next)?;
            pos = batch.next;
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
    use crate::ledger::line::body;
    use crate::ledger::record::sample;

    fn journal(segment_bytes: u64, n: usize) -> (PathBuf, Appender) {
        let dir = std::env::temp_dir().join(format!("stav-ship-{}", rand::random::<u64>()));
        let mut a = Appender::open(&dir, segment_bytes).unwrap();
        for i in 0..n {
            append(&mut a, &format!("req_{i}"));
        }
        (dir, a)
    }

    fn append(a: &mut Appender, id: &str) {
        a.rotate_if_full().unwrap();
        let mut buf = Vec::new();
        seal(&body(&sample(id)), &mut a.head, &mut buf);
        a.write(&buf).unwrap();
    }

    /// Ship everything from `pos` as the shipper does (position saved and read back after each
    /// batch); the seqs of the records each array held, checked against the journal's lines.
    fn ship_all(dir: &Path, mut pos: Position) -> (Vec<u64>, Position) {
        let mut seen = Vec::new();
        let mut array = Vec::new();
        loop {
            let batch = next_batch(dir, &pos, &mut array).unwrap();
            if batch.records == 0 {
                return (seen, batch.next);
            }
            assert!(
                array.len() <= BATCH_BYTES + 2,
                "one batch is at most BATCH_BYTES"
            );
            let rows: Vec<serde_json::Value> = serde_json::from_slice(&array).unwrap();
            assert_eq!(rows.len(), batch.records);
            for row in &rows {
                let line = serde_json::to_vec(row).unwrap();
                seen.push(crate::ledger::chain::parse(&line).unwrap().seq);
            }
            assert_eq!(batch.next.seq, *seen.last().unwrap());
            journal::write_position(dir, &batch.next).unwrap();
            pos = journal::read_position(dir).unwrap().unwrap();
        }
    }

    #[test]
    fn batches_follow_the_journal_across_segments_and_resume_from_a_position() {
        let (dir, mut a) = journal(200_000, 2050);
        let (seen, pos) = ship_all(&dir, Position::default());
        let want: Vec<u64> = (1..=2050).collect();
        assert_eq!(seen, want, "every record once, in order");
        // Written later, shipped next, from the saved position.
        append(&mut a, "late");
        let mut array = Vec::new();
        let batch = next_batch(&dir, &pos, &mut array).unwrap();
        assert_eq!(batch.records, 1);
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&array).unwrap();
        assert_eq!(rows[0]["request_id"], "late");
        assert_eq!(rows[0]["seq"], 2051);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_long_segment_goes_in_batches_of_at_most_batch_bytes() {
        let n = BATCH_BYTES / 400 + 10;
        let (dir, _a) = journal(u64::MAX, n);
        assert_eq!(journal::segments(&dir).unwrap().len(), 1);
        let (seen, _) = ship_all(&dir, Position::default());
        assert_eq!(seen, (1..=n as u64).collect::<Vec<_>>());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_line_still_being_written_waits_for_its_newline() {
        let (dir, a) = journal(u64::MAX, 3);
        let mut torn = Vec::new();
        seal(&body(&sample("torn")), &mut a.head.clone(), &mut torn);
        torn.pop();
        std::fs::OpenOptions::new()
            .append(true)
            .open(a.path())
            .and_then(|mut f| std::io::Write::write_all(&mut f, &torn[..torn.len() / 2]))
            .unwrap();
        let (seen, _) = ship_all(&dir, Position::default());
        assert_eq!(seen, vec![1, 2, 3]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_array_is_the_lines_with_commas_and_a_closing_bracket() {
        let mut buf = b"[{\"seq\":7,\"a\":1}\n{\"seq\":8}\n".to_vec();
        let (n, last) = into_array(&mut buf);
        assert_eq!(buf, b"[{\"seq\":7,\"a\":1},{\"seq\":8}]");
        assert_eq!((n, seq_of(&buf[last..])), (2, Some(8)));
        let mut one = b"[{\"seq\":12}\n".to_vec();
        let (n, last) = into_array(&mut one);
        assert_eq!((n, seq_of(&one[last..])), (1, Some(12)));
        assert_eq!(seq_of(b"{\"request_id\":\"x\"}"), None);
    }
}
