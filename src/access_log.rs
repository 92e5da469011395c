//! The access log: one JSON line per request — time, request id, key id, team, route, model, tier,
//! status, duration, tokens; never a secret or any content. Requests hand their entry to a
//! bounded queue and go on; a thread of its own formats and writes the lines in batches. A full
//! queue drops the entry and counts it (`stav_access_log_dropped_total`): a slow disk never slows
//! a request.

use crate::json_line::{field_opt, field_opt_uint, field_str, field_uint};
use crate::metrics;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, SystemTime};

/// Where the lines go (`[server] access_log`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    Stderr,
    File(PathBuf),
    Off,
}

/// Entries waiting to be written before new ones are dropped (the queue is allocated whole:
/// a few hundred bytes each). At 10,000 requests/s it holds ten writer periods.
const QUEUE: usize = 8192;

/// How often the writer wakes to write what has queued. The writer polls rather than waits, so
/// a request's hand-over never has to wake a sleeping thread (a futex call and a context switch
/// per request, which cost more than the formatting).
const PERIOD: Duration = Duration::from_millis(10);

/// One request, as the log line shows it. Strings are the gateway's own (configured names,
/// ids) or bounded (the path, cut at 256 bytes).
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    #[serde(serialize_with = "rfc3339")]
    pub time: SystemTime,
    pub request_id: String,
    pub method: String,
    pub path: String,
    pub route: &'static str,
    pub status: u16,
    pub key: Option<String>,
    pub team: Option<String>,
    pub model: Option<String>,
    pub tier: &'static str,
    pub upstream_status: Option<u16>,
    pub duration_ms: u64,
    pub ttfb_ms: Option<u64>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

/// A request path for the log: at most 256 bytes (unknown URLs are the client's to choose).
pub fn bounded_path(path: &str) -> String {
    let mut end = path.len().min(256);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    path[..end].to_string()
}

static GLOBAL: once_cell::sync::OnceCell<AccessLog> = once_cell::sync::OnceCell::new();

/// Start the process's access log (once; a reload keeps the one the process started with).
pub fn init(sink: Sink) -> std::io::Result<()> {
    if GLOBAL.get().is_none() {
        let _ = GLOBAL.set(AccessLog::start(sink)?);
    }
    Ok(())
}

/// The process's access log; off until `init`.
pub fn global() -> &'static AccessLog {
    static OFF: AccessLog = AccessLog { tx: None };
    GLOBAL.get().unwrap_or(&OFF)
}

/// The running access log.
#[derive(Debug)]
pub struct AccessLog {
    tx: Option<SyncSender<Entry>>,
}

impl AccessLog {
    /// Start the writer thread (none for `Off`).
    pub fn start(sink: Sink) -> std::io::Result<Self> {
        let out: Box<dyn Write + Send> = match sink {
            Sink::Off => return Ok(Self { tx: None }),
            Sink::Stderr => Box::new(StderrLines),
            Sink::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        };
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("stav-access-log".into())
            .spawn(move || writer(rx, out))?;
        Ok(Self { tx: Some(tx) })
    }

    /// Hand an entry over; never blocks.
    pub fn record(&self, entry: Entry) {
        let Some(tx) = &self.tx else {
            return;
        };
        match tx.try_send(entry) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                metrics::ACCESS_LOG_DROPPED.inc()
            }
        }
    }
}

/// Standard error, written a batch at a time under its lock, so lines never interleave with
/// the other log output.
struct StderrLines;

impl Write for StderrLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stderr().lock().write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn writer(rx: Receiver<Entry>, mut out: Box<dyn Write + Send>) {
    let mut batch = Vec::with_capacity(64 << 10);
    loop {
        std::thread::sleep(PERIOD);
        let mut gone = false;
        loop {
            match rx.try_recv() {
                Ok(e) => line(&mut batch, &e),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    gone = true;
                    break;
                }
            }
            if batch.len() >= 64 << 10 {
                write(&mut out, &mut batch);
            }
        }
        write(&mut out, &mut batch);
        if gone {
            return;
        }
    }
}

fn write(out: &mut Box<dyn Write + Send>, batch: &mut Vec<u8>) {
    if batch.is_empty() {
        return;
    }
    if out.write_all(batch).and_then(|()| out.flush()).is_err() {
        metrics::ACCESS_LOG_DROPPED.inc();
    }
    batch.clear();
}

/// One entry as a JSON line, written by hand (`json_line`): the same bytes serde's derive writes
/// (a test holds them equal), at a fraction of its cost on the log's thread.
fn line(out: &mut Vec<u8>, e: &Entry) {
    out.extend_from_slice(b"{\"time\":\"");
    crate::json_line::rfc3339_millis(out, e.time);
    out.push(b'"');
    field_str(out, b",\"request_id\":", &e.request_id);
    field_str(out, b",\"method\":", &e.method);
    field_str(out, b",\"path\":", &e.path);
    field_str(out, b",\"route\":", e.route);
    field_uint(out, b",\"status\":", u64::from(e.status));
    field_opt(out, b",\"key\":", e.key.as_deref());
    field_opt(out, b",\"team\":", e.team.as_deref());
    field_opt(out, b",\"model\":", e.model.as_deref());
    field_str(out, b",\"tier\":", e.tier);
    field_opt_uint(
        out,
        b",\"upstream_status\":",
        e.upstream_status.map(u64::from),
    );
    field_uint(out, b",\"duration_ms\":", e.duration_ms);
    field_opt_uint(out, b",\"ttfb_ms\":", e.ttfb_ms);
    field_uint(out, b",\"tokens_in\":", e.tokens_in);
    field_uint(out, b",\"tokens_out\":", e.tokens_out);
    if let Some(error) = &e.error {
        field_str(out, b",\"error\":", error);
    }
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64) -> Entry {
        Entry {
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_000_000_123),
            request_id: format!("req_{i}"),
            method: "POST".into(),
            path: "/v1/chat/completions".into(),
            route: "chat_completions",
            status: 200,
            key: Some("itclient0001".into()),
            team: Some("it".into()),
            model: Some("chat-a".into()),
            tier: "sovereign",
            upstream_status: Some(200),
            duration_ms: 12,
            ttfb_ms: Some(3),
            tokens_in: 11,
            tokens_out: i,
            error: None,
        }
    }

    #[test]
    fn a_line_is_what_serde_writes_for_the_entry() {
        let mut odd = entry(7);
        odd.path = "/v1/x?q=\"a\\b\"\n\u{1}é😀".into();
        odd.key = None;
        odd.model = None;
        odd.upstream_status = None;
        odd.ttfb_ms = None;
        odd.error = Some("upstream said \"no\"\ttwice".into());
        for e in [entry(1), odd] {
            let mut by_hand = Vec::new();
            line(&mut by_hand, &e);
            let mut by_serde = serde_json::to_vec(&e).unwrap();
            by_serde.push(b'\n');
            assert_eq!(String::from_utf8(by_hand), String::from_utf8(by_serde));
        }
    }

    #[test]
    fn lines_are_json_in_order_in_the_file() {
        let path = std::env::temp_dir().join(format!("stav-access-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let log = AccessLog::start(Sink::File(path.clone())).unwrap();
        for i in 0..500 {
            log.record(entry(i));
        }
        drop(log);
        let mut text = String::new();
        for _ in 0..100 {
            text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.lines().count() == 500 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 500);
        assert_eq!(lines[0]["time"], "2026-11-30T00:53:20.123Z");
        assert_eq!(lines[499]["tokens_out"], 499);
        assert_eq!(lines[0]["key"], "itclient0001");
        assert!(lines[0].get("error").is_none());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn paths_are_bounded_on_a_char_boundary() {
        assert_eq!(bounded_path("/v1/x"), "/v1/x");
        let long = format!("/{}", "é".repeat(300));
        let b = bounded_path(&long);
        assert!(b.len() <= 256 && long.starts_with(&b));
    }
}
