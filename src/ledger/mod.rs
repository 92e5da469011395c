//! The request ledger: one record per request (served, refused or failed), never content, in an
//! append-only, hash-chained local journal, shipped to PostgreSQL when several nodes must be
//! counted together.
//!
//! ```text
//! logging phase ── record_of(ctx), its body ──► bounded channel ──► writer thread ──► journal
//!   (hook.rs: pure; line.rs)           (never blocks: full    (writer.rs: seals    (journal.rs)
//!                                      = counted, dropped)    the chain, syncs)        │
//!                                                                                      ▼
//!                     reports, export, verify (report.rs, verify.rs)     shipper ──► PostgreSQL
//!                     budget seeding (seed.rs)                           (ship.rs, position file)
//! ```
//!
//! Nothing here runs on the request path but building the record (borrowing the request's
//! strings), writing its body and one `try_send`.

pub mod chain;
pub mod cli;
pub mod hook;
pub mod journal;
pub mod line;
pub mod record;
pub mod report;
pub mod seed;
pub mod service;
pub mod ship;
pub mod verify;
pub mod writer;

pub use hook::record_of;
pub use record::{Decision, LedgerRecord};

use crate::metrics;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// Records waiting for the writer. Generous: at 20,000 requests a second this is three seconds
/// of a stalled disk before anything is dropped; each slot is a pointer, so it costs 1 MiB.
pub const QUEUE: usize = 1 << 16;

/// `[ledger]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerSettings {
    /// The journal's directory (relative paths are resolved against the configuration file).
    pub dir: PathBuf,
    /// Records handed to the kernel are synced to disk at least this often.
    pub fsync: Duration,
    /// A segment file is closed and the next started past this size.
    pub segment_bytes: u64,
    /// Closed segments older than this are removed (once shipped, when shipping).
    pub retention: Duration,
    /// Ship records to this PostgreSQL database.
    pub postgres_url: Option<String>,
}

#[derive(Debug)]
pub enum LedgerError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A journal or position file that cannot be read as one.
    Corrupt {
        path: PathBuf,
        message: String,
    },
    Postgres(tokio_postgres::Error),
    /// A command-line argument that cannot be used.
    Argument {
        flag: &'static str,
        message: String,
    },
}

impl LedgerError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        LedgerError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn corrupt(path: &Path, message: impl fmt::Display) -> Self {
        LedgerError::Corrupt {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            LedgerError::Corrupt { path, message } => write!(f, "{}: {message}", path.display()),
            LedgerError::Postgres(e) => write!(f, "postgres: {e}"),
            LedgerError::Argument { flag, message } => write!(f, "{flag}: {message}"),
        }
    }
}

impl std::error::Error for LedgerError {}

impl From<tokio_postgres::Error> for LedgerError {
    fn from(e: tokio_postgres::Error) -> Self {
        LedgerError::Postgres(e)
    }
}

/// What the request path holds: the sending end of the writer's queue.
pub struct Ledger {
    tx: SyncSender<Vec<u8>>,
    pub settings: LedgerSettings,
    /// The seq of the last record handed to the kernel (for the shipper's lag).
    pub written: Arc<AtomicU64>,
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ledger")
            .field("dir", &self.settings.dir)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// Open the journal where it ends (so a directory that cannot be written fails the start,
    /// naming it) and make the queue; the writer runs once `writer::WriterService` starts.
    pub fn open(
        settings: LedgerSettings,
    ) -> Result<(Arc<Ledger>, writer::WriterService), LedgerError> {
        let appender = journal::Appender::open(&settings.dir, settings.segment_bytes)?;
        let written = Arc::new(AtomicU64::new(appender.head.seq));
        let (tx, rx) = sync_channel(QUEUE);
        let service = writer::WriterService::new(rx, appender, &settings, written.clone());
        let ledger = Arc::new(Ledger {
            tx,
            settings,
            written,
        });
        Ok((ledger, service))
    }

    /// Hand a record to the writer, as its line's body, without ever waiting; a full queue
    /// drops it and counts it.
    pub fn record(&self, r: &LedgerRecord) {
        match self.tx.try_send(line::body(r)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                metrics::LEDGER_DROPPED.inc();
            }
        }
    }

    pub fn written_seq(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }
}

/// A queue with no writer, for tests of what is handed over.
#[cfg(test)]
pub fn test_ledger(dir: &Path) -> (Arc<Ledger>, std::sync::mpsc::Receiver<Vec<u8>>) {
    let (tx, rx) = sync_channel(16);
    let ledger = Arc::new(Ledger {
        tx,
        settings: LedgerSettings {
            dir: dir.to_path_buf(),
            fsync: Duration::from_millis(100),
            segment_bytes: 1 << 20,
            retention: Duration::from_secs(86400),
            postgres_url: None,
        },
        written: Arc::new(AtomicU64::new(0)),
    });
    (ledger, rx)
}
