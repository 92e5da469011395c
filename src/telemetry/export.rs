//! Spans leave the request path through a bounded queue to an exporter thread of their own. A
//! finished request is written as OTLP spans (`otlp::Spans`) on the thread that served it, and
//! the exporter appends those bytes to its batch and posts batches with a blocking HTTP client.
//! A request only ever tries to enqueue: when the queue is full (a slow or dead collector) the
//! spans are dropped and counted, never waited for.

use super::metrics::{SPANS_DROPPED, SPANS_EXPORTED};
use super::otlp::{Encoder, Spans, REQUEST_SPAN_BYTES};
use super::span::{write, Finished};
use std::fmt;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, Instant};

/// Requests whose spans may wait for the exporter (each is one server span plus one per
/// upstream attempt): a few seconds of traffic at a few thousand requests a second.
pub const QUEUE_REQUESTS: usize = 8192;
/// Spans per export request (the SDK's batch default).
pub const MAX_BATCH_SPANS: usize = 512;
/// How long a finished request may wait for its batch to fill.
pub const BATCH_DELAY: Duration = Duration::from_millis(500);
/// How often the exporter wakes to encode what has queued. It polls rather than waits on the
/// queue, so that handing a request over never wakes a sleeping thread: a futex call on the
/// request path and a context switch per request, which callgrind does not count (user-space
/// instructions only) but the load benchmark's CPU time does. The access log and the ledger's
/// writer poll for the same reason.
pub const PERIOD: Duration = Duration::from_millis(20);

/// The request side of the queue.
#[derive(Debug, Clone)]
pub struct Queue {
    tx: SyncSender<Spans>,
}

impl Queue {
    /// Write a finished request's spans and hand them to the exporter; if the queue is full
    /// they are dropped and counted.
    pub fn offer(&self, f: &Finished) {
        let mut spans = Spans::with_capacity(REQUEST_SPAN_BYTES);
        write(f, &mut spans);
        match self.tx.try_send(spans) {
            Ok(()) => {}
            Err(TrySendError::Full(s)) | Err(TrySendError::Disconnected(s)) => {
                SPANS_DROPPED
                    .with_label_values(&["queue_full"])
                    .inc_by(s.len() as u64);
            }
        }
    }
}

/// A queue of `capacity` requests and its receiving end (for a custom exporter loop).
pub fn channel(capacity: usize) -> (Queue, Receiver<Spans>) {
    let (tx, rx) = sync_channel(capacity);
    (Queue { tx }, rx)
}

/// Why an export request failed.
#[derive(Debug)]
pub enum ExportError {
    Http(reqwest::Error),
    /// The collector answered with a status other than 2xx.
    Status(u16),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Http(e) => write!(f, "{e}"),
            ExportError::Status(s) => write!(f, "the collector answered {s}"),
        }
    }
}

impl std::error::Error for ExportError {}

/// Where an encoded `ExportTraceServiceRequest` goes.
pub trait Transport {
    fn post(&self, body: bytes::Bytes) -> Result<(), ExportError>;
}

/// OTLP/HTTP with protobuf bodies: `POST {endpoint}/v1/traces`.
#[derive(Debug)]
pub struct Http {
    client: reqwest::blocking::Client,
    url: String,
    headers: reqwest::header::HeaderMap,
}

impl Http {
    /// A client for `url` with the collector's `headers`. Builds the blocking client on a
    /// thread of its own: it runs a runtime inside, which may not be made on a runtime thread.
    pub fn new(
        url: &str,
        headers: &[(String, String)],
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let mut map = reqwest::header::HeaderMap::new();
        for (k, v) in headers {
            // Names and values were validated with the configuration.
            if let (Ok(k), Ok(v)) = (
                reqwest::header::HeaderName::from_bytes(k.as_bytes()),
                reqwest::header::HeaderValue::from_str(v),
            ) {
                map.insert(k, v);
            }
        }
        map.insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/x-protobuf"),
        );
        let client = std::thread::scope(|s| {
            s.spawn(|| {
                reqwest::blocking::Client::builder()
                    .timeout(timeout)
                    .build()
            })
            .join()
            .expect("building the HTTP client does not panic")
        })?;
        Ok(Self {
            client,
            url: url.to_string(),
            headers: map,
        })
    }
}

impl Transport for Http {
    fn post(&self, body: bytes::Bytes) -> Result<(), ExportError> {
        let answer = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .body(body)
            .send()
            .map_err(ExportError::Http)?;
        let status = answer.status();
        // Read the answer to its end, so that the connection is kept for the next batch.
        let _ = answer.bytes();
        if status.is_success() {
            Ok(())
        } else {
            Err(ExportError::Status(status.as_u16()))
        }
    }
}

/// Start the exporter thread posting through `transport` (built by the caller, so its errors
/// surface at start-up), with a queue of `capacity` requests.
pub fn start<T: Transport + Send + 'static>(
    transport: T,
    encoder: Encoder,
    capacity: usize,
) -> std::io::Result<Queue> {
    let (queue, rx) = channel(capacity);
    std::thread::Builder::new()
        .name("stav-otel-export".into())
        .spawn(move || run(&transport, encoder, rx, BATCH_DELAY))?;
    Ok(queue)
}

/// The exporter loop: every `PERIOD` (at most `delay`) it encodes what has queued; a batch goes
/// out when it is full or `delay` after its first request. Ends when every sender is gone (after
/// sending what it holds).
pub fn run<T: Transport>(transport: &T, mut batch: Encoder, rx: Receiver<Spans>, delay: Duration) {
    let mut due: Option<Instant> = None;
    let mut failing = false;
    loop {
        let gone = loop {
            match rx.try_recv() {
                Ok(spans) => {
                    batch.append(&spans);
                    due.get_or_insert_with(|| Instant::now() + delay);
                    if batch.len() >= MAX_BATCH_SPANS {
                        send(transport, &mut batch, &mut failing);
                        due = None;
                    }
                }
                Err(TryRecvError::Empty) => break false,
                Err(TryRecvError::Disconnected) => break true,
            }
        };
        if gone {
            send(transport, &mut batch, &mut failing);
            return;
        }
        if due.is_some_and(|at| Instant::now() >= at) {
            send(transport, &mut batch, &mut failing);
            due = None;
        }
        std::thread::sleep(PERIOD.min(delay));
    }
}

fn send<T: Transport>(transport: &T, batch: &mut Encoder, failing: &mut bool) {
    if batch.is_empty() {
        return;
    }
    let n = batch.len() as u64;
    match transport.post(batch.take()) {
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
