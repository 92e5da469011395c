//! The writer: one thread that takes records off the queue, seals them into the chain and
//! appends them to the journal in batches, syncs at least every `fsync`, rotates segments and
//! applies retention. Started as a Pingora background service (after the daemon fork), it runs
//! on the service runtime's blocking pool, so a graceful shutdown waits for its last sync.

use super::chain::seal;
use super::journal::{self, Appender};
use super::LedgerSettings;
use crate::metrics;
use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How often the queue is drained into the journal (at most; never less often than twice per
/// `fsync`). This bounds what a crash of the process (`kill -9`) can lose: only records handed
/// over in the last tick, still in memory, so it stays well inside the `fsync_ms` window the
/// ledger promises. The thread sleeps in between rather than waiting on the queue, so a request
/// never pays for waking it; and each wake-up costs the thread some 20 µs on a VM (measured on an
/// idle gateway), so it does not wake more often than that promise needs.
pub const TICK: Duration = Duration::from_millis(25);

/// Write out and keep draining once a batch reaches this size.
const BATCH_BYTES: usize = 4 << 20;

const RETENTION_EVERY: Duration = Duration::from_secs(3600);

pub struct WriterService {
    parts: Mutex<Option<(Receiver<Vec<u8>>, Appender)>>,
    fsync: Duration,
    retention: Duration,
    dir: PathBuf,
    shipping: bool,
    written: Arc<AtomicU64>,
}

impl WriterService {
    pub fn new(
        rx: Receiver<Vec<u8>>,
        appender: Appender,
        s: &LedgerSettings,
        written: Arc<AtomicU64>,
    ) -> Self {
        Self {
            parts: Mutex::new(Some((rx, appender))),
            fsync: s.fsync,
            retention: s.retention,
            dir: s.dir.clone(),
            shipping: s.postgres_url.is_some(),
            written,
        }
    }
}

#[async_trait]
impl BackgroundService for WriterService {
    async fn start(&self, _shutdown: ShutdownWatch) {
        let Some((rx, appender)) = self.parts.lock().unwrap_or_else(|p| p.into_inner()).take()
        else {
            return;
        };
        let mut w = Writer {
            rx,
            appender,
            fsync: self.fsync,
            retention: self.retention,
            dir: self.dir.clone(),
            shipping: self.shipping,
            written: self.written.clone(),
        };
        // Runs until every sender is gone (the proxy's runtime has shut down), then syncs.
        if let Err(e) = tokio::task::spawn_blocking(move || w.run()).await {
            log::error!("ledger writer stopped: {e}");
        }
    }
}

pub struct Writer {
    /// Records' bodies (`line::write_body`), in the order the requests ended.
    pub rx: Receiver<Vec<u8>>,
    pub appender: Appender,
    pub fsync: Duration,
    pub retention: Duration,
    pub dir: PathBuf,
    pub shipping: bool,
    pub written: Arc<AtomicU64>,
}

impl Writer {
    pub fn run(&mut self) {
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
        let mut unsynced = false;
        let mut last_sync = Instant::now();
        let mut last_retention: Option<Instant> = None;
        let mut failing = false;
        loop {
            let open = self.drain(&mut buf, &mut failing);
            if !buf.is_empty() {
                if !open {
                    log::error!("ledger: shutting down with records that could not be written");
                    return;
                }
                // A write that failed (disk full) is retried whole on the next tick.
                std::thread::sleep(TICK);
                continue;
            }
            let head = self.appender.head.seq;
            if head != self.written.load(Ordering::Relaxed) {
                unsynced = true;
                self.written.store(head, Ordering::Release);
            }
            if unsynced && (last_sync.elapsed() >= self.fsync || !open) {
                match self.appender.sync() {
                    Ok(()) => {
                        unsynced = false;
                        last_sync = Instant::now();
                    }
                    Err(e) => log::error!("ledger: sync failed: {e}"),
                }
            }
            if !open {
                return;
            }
            if last_retention.is_none_or(|t| t.elapsed() >= RETENTION_EVERY) {
                last_retention = Some(Instant::now());
                if let Err(e) = retain(&self.dir, self.retention, self.shipping) {
                    log::warn!("ledger retention: {e}");
                }
            }
            std::thread::sleep(TICK.min(self.fsync / 2));
        }
    }

    /// Seal and write everything queued, a batch at a time; `false` once every sender is gone.
    /// On a failed write `buf` keeps the batch for the next tick.
    fn drain(&mut self, buf: &mut Vec<u8>, failing: &mut bool) -> bool {
        loop {
            let (open, full) = self.batch(buf, failing);
            if !open || !full || !buf.is_empty() {
                return open;
            }
        }
    }

    /// One batch: (senders still there, the batch was full so more may be queued).
    fn batch(&mut self, buf: &mut Vec<u8>, failing: &mut bool) -> (bool, bool) {
        let mut open = true;
        let mut full = false;
        if buf.is_empty() {
            loop {
                match self.rx.try_recv() {
                    Ok(body) => {
                        if buf.is_empty() {
                            if let Err(e) = self.appender.rotate_if_full() {
                                log::error!("ledger: cannot start a new segment: {e}");
                            }
                        }
                        seal(&body, &mut self.appender.head, buf);
                        metrics::LEDGER_RECORDS.inc();
                        if buf.len() >= BATCH_BYTES {
                            full = true;
                            break;
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
        }
        if buf.is_empty() {
            return (open, false);
        }
        match self.appender.write(buf) {
            Ok(()) => {
                buf.clear();
                *failing = false;
                if buf.capacity() > 8 << 20 {
                    buf.shrink_to(1 << 20);
                }
            }
            Err(e) => {
                if !*failing {
                    log::error!("ledger: cannot write the journal (retrying): {e}");
                }
                *failing = true;
                metrics::LEDGER_WRITE_ERRORS.inc();
            }
        }
        (open, full)
    }
}

/// Remove closed segments older than `retention`, oldest first; with shipping, only those the
/// shipper is past. The chain head before the oldest kept segment goes to the anchor file first,
/// so `verify` still checks the first kept record's link.
pub fn retain(
    dir: &std::path::Path,
    retention: Duration,
    shipping: bool,
) -> Result<usize, super::LedgerError> {
    let segs = journal::segments(dir)?;
    let shipped = if shipping {
        journal::read_position(dir)?.map_or(0, |p| p.segment)
    } else {
        u64::MAX
    };
    let now = SystemTime::now();
    let mut removed = 0;
    // Never the newest segment: it is the one being written.
    for w in segs.windows(2) {
        let (first, path) = &w[0];
        let next_first = w[1].0;
        let modified = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map_err(|e| super::LedgerError::io(path, e))?;
        let old = now.duration_since(modified).unwrap_or_default() >= retention;
        if !old || next_first > shipped || *first >= shipped {
            break;
        }
        if let Some(head) = journal::last_head(path)? {
            journal::write_anchor(dir, &head)?;
        }
        std::fs::remove_file(path).map_err(|e| super::LedgerError::io(path, e))?;
        removed += 1;
        log::info!("ledger: removed {} (older than retention)", path.display());
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::record::sample;
    use std::sync::mpsc::sync_channel;

    fn dir(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!("stav-writer-{tag}-{}", rand::random::<u64>()))
    }

    #[test]
    fn the_writer_seals_everything_queued_and_syncs_when_the_senders_go() {
        let d = dir("run");
        let (tx, rx) = sync_channel(100_000);
        let mut w = Writer {
            rx,
            appender: Appender::open(&d, 1 << 16).unwrap(),
            fsync: Duration::from_millis(100),
            retention: Duration::from_secs(86_400),
            dir: d.clone(),
            shipping: false,
            written: Arc::new(AtomicU64::new(0)),
        };
        let written = w.written.clone();
        let t = std::thread::spawn(move || w.run());
        for i in 0..20_000 {
            tx.send(crate::ledger::line::body(&sample(&format!("req_{i}"))))
                .unwrap();
        }
        drop(tx);
        t.join().unwrap();
        assert_eq!(written.load(Ordering::Acquire), 20_000);
        let v = crate::ledger::verify::verify(&d).unwrap();
        assert_eq!((v.records, v.last_seq), (20_000, 20_000));
        // Rotation happens between batches (up to 4 MiB each).
        assert!(v.segments > 1, "rotated by size: {}", v.segments);
    }

    #[test]
    fn retention_removes_old_shipped_segments_and_keeps_the_chain_verifiable() {
        let d = dir("retain");
        let mut a = Appender::open(&d, 2000).unwrap();
        for i in 0..40 {
            a.rotate_if_full().unwrap();
            let mut buf = Vec::new();
            seal(
                &crate::ledger::line::body(&sample(&format!("req_{i}"))),
                &mut a.head,
                &mut buf,
            );
            a.write(&buf).unwrap();
        }
        let segs = journal::segments(&d).unwrap();
        let old = SystemTime::now() - Duration::from_secs(10 * 86_400);
        for (_, p) in &segs[..3] {
            std::fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        // Shipping, but only the first segment shipped: only it may go.
        let shipped = journal::Position {
            segment: segs[1].0,
            offset: 0,
            seq: segs[1].0 - 1,
        };
        journal::write_position(&d, &shipped).unwrap();
        assert_eq!(retain(&d, Duration::from_secs(86_400), true).unwrap(), 1);
        // Not shipping: every old closed segment goes; the newest never does.
        assert_eq!(retain(&d, Duration::from_secs(86_400), false).unwrap(), 2);
        let left = journal::segments(&d).unwrap();
        assert_eq!(left[0].0, segs[3].0);
        let v = crate::ledger::verify::verify(&d).unwrap();
        assert_eq!(
            (v.first_seq, v.last_seq),
            (segs[3].0, 40),
            "checked from the anchor"
        );
        // The anchor still catches a removed first record of what is kept.
        let text = std::fs::read_to_string(&left[0].1).unwrap();
        let rest: Vec<&str> = text.lines().skip(1).collect();
        std::fs::write(&left[0].1, rest.join("\n") + "\n").unwrap();
        assert!(crate::ledger::verify::verify(&d).is_err());
    }
}
