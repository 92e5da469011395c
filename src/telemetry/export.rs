//! Spans leave the request path through a bounded queue to an exporter thread of their own,
//! which turns finished requests into spans, batches them and posts them with a blocking HTTP
//! client. A request only ever tries to enqueue: when the queue is full (a slow or dead
//! collector) the spans are dropped and counted, never waited for.

use super::metrics::{SPANS_DROPPED, SPANS_EXPORTED};
use super::span::{spans, Finished};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

/// Requests whose spans may wait for the exporter (each is one server span plus one per
/// upstream attempt): a few seconds of traffic at a few thousand requests a second.
pub const QUEUE_REQUESTS: usize = 8192;
/// Spans per export request (the SDK's batch default).
pub const MAX_BATCH_SPANS: usize = 512;
/// How long a finished request may wait for its batch to fill.
pub const BATCH_DELAY: Duration = Duration::from_millis(500);

/// The request side of the queue.
#[derive(Debug, Clone)]
pub struct Queue {
    tx: SyncSender<Box<Finished>>,
}

impl Queue {
    /// Hand a finished request to the exporter; if the queue is full its spans are dropped
    /// and counted.
    pub fn offer(&self, f: Box<Finished>) {
        match self.tx.try_send(f) {
            Ok(()) => {}
            Err(TrySendError::Full(f)) | Err(TrySendError::Disconnected(f)) => {
                SPANS_DROPPED
                    .with_label_values(&["queue_full"])
                    .inc_by(f.span_count() as u64);
            }
        }
    }
}

/// A queue of `capacity` requests and its receiving end (for a custom exporter loop).
pub fn channel(capacity: usize) -> (Queue, Receiver<Box<Finished>>) {
    let (tx, rx) = sync_channel(capacity);
    (Queue { tx }, rx)
}

/// Start the exporter thread with `exporter` (built by the caller, so its errors surface at
/// start-up) and a queue of `capacity` requests.
pub fn start<E: SpanExporter + 'static>(exporter: E, capacity: usize) -> std::io::Result<Queue> {
    let (queue, rx) = channel(capacity);
    std::thread::Builder::new()
        .name("stav-otel-export".into())
        .spawn(move || run(exporter, rx, BATCH_DELAY))?;
    Ok(queue)
}

/// The exporter loop: a batch goes out when it is full or `delay` after its first request.
/// Ends when every sender is gone (after sending what it holds).
pub fn run<E: SpanExporter>(exporter: E, rx: Receiver<Box<Finished>>, delay: Duration) {
    let mut batch: Vec<SpanData> = Vec::with_capacity(MAX_BATCH_SPANS);
    let mut due: Option<Instant> = None;
    let mut failing = false;
    loop {
        let next = match due {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        match next {
            Ok(f) => {
                batch.extend(spans(&f));
                due.get_or_insert_with(|| Instant::now() + delay);
                if batch.len() >= MAX_BATCH_SPANS {
                    send(&exporter, &mut batch, &mut failing);
                    due = None;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                send(&exporter, &mut batch, &mut failing);
                due = None;
            }
            Err(RecvTimeoutError::Disconnected) => {
                send(&exporter, &mut batch, &mut failing);
                return;
            }
        }
    }
}

fn send<E: SpanExporter>(exporter: &E, batch: &mut Vec<SpanData>, failing: &mut bool) {
    if batch.is_empty() {
        return;
    }
    let n = batch.len() as u64;
    let spans = std::mem::replace(batch, Vec::with_capacity(MAX_BATCH_SPANS));
    // The OTLP exporter's future does its I/O with a blocking client: driving it here keeps
    // every byte of it on this thread.
    match futures_executor::block_on(exporter.export(spans)) {
        Ok(()) => {
            SPANS_EXPORTED.inc_by(n);
            if std::mem::take(failing) {
                log::info!("OTLP export works again");
            }
        }
        Err(e) => {
            SPANS_DROPPED
                .with_label_values(&["export_failed"])
                .inc_by(n);
            // Once per outage, not once per batch.
            if !std::mem::replace(failing, true) {
                log::warn!("OTLP export failed, spans are dropped until it works again: {e}");
            }
        }
    }
}
