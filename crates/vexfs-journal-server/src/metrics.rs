//! `GET /metrics`: Prometheus text exposition (format 0.0.4).
//!
//! Nothing is counted twice: a [`Collector`] reads the journal's own counters and
//! histograms at scrape time, and the server's few counters (requests, streams,
//! events delivered and ingested, authentication failures) live in [`ServerCounters`],
//! shared by the routes. Labels are a route template and a status code, never a raw
//! URI, a path of the journal, an agent or a token.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::stream::{Stream, StreamExt};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use vexfs_journal::{Follow, HistogramSnapshot, Journal};

use crate::error::ServerError;
use crate::{AppState, blocking};

/// The content type of the classic Prometheus text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the latency histograms, seconds (as nanoseconds).
const LATENCY_BOUNDS_NS: [u64; 22] = [
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Upper bounds of the events-per-group-commit histogram.
const BATCH_BOUNDS: [u64; 15] = [
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384,
];

/// The server's own counters, shared by every route.
#[derive(Debug, Default)]
pub(crate) struct ServerCounters {
    /// Answered requests by route template and status code.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// Follow streams open now.
    streams: AtomicI64,
    /// Events sent by `GET /events` answers and streams.
    delivered: AtomicU64,
    /// Events appended by `POST /events`.
    ingested: AtomicU64,
    /// Requests refused 401.
    auth_failures: AtomicU64,
}

impl ServerCounters {
    /// Counts `n` events appended by a `POST /events`.
    pub(crate) fn ingested(&self, n: u64) {
        self.ingested.fetch_add(n, Relaxed);
    }

    fn request(&self, route: &str, status: StatusCode) {
        let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((route.to_owned(), status.as_u16())).or_default() += 1;
    }
}

/// Decrements the open-streams gauge when a follow stream is dropped.
#[derive(Debug)]
struct OpenStream(std::sync::Arc<ServerCounters>);

impl OpenStream {
    fn new(counters: std::sync::Arc<ServerCounters>) -> OpenStream {
        counters.streams.fetch_add(1, Relaxed);
        OpenStream(counters)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Relaxed);
    }
}

/// `events`, counting each event sent; a follow stream also counts as open until it
/// is dropped (the client went away or the stream ended).
pub(crate) fn counted<S, T>(
    counters: &std::sync::Arc<ServerCounters>,
    events: S,
    follow: bool,
) -> impl Stream<Item = Result<T, ServerError>> + Send + 'static
where
    S: Stream<Item = Result<T, ServerError>> + Send + 'static,
{
    let open = follow.then(|| OpenStream::new(counters.clone()));
    let counters = counters.clone();
    events.map(move |item| {
        let _open = &open;
        if item.is_ok() {
            counters.delivered.fetch_add(1, Relaxed);
        }
        item
    })
}

/// Encoded follow chunks (with their event counts) as bytes, counting the events
/// sent; the stream counts as open until it is dropped.
pub(crate) fn counted_frames<S>(
    counters: &std::sync::Arc<ServerCounters>,
    frames: S,
) -> impl Stream<Item = axum::body::Bytes> + Send + 'static
where
    S: Stream<Item = (axum::body::Bytes, u64)> + Send + 'static,
{
    let open = OpenStream::new(counters.clone());
    let counters = counters.clone();
    frames.map(move |(bytes, n)| {
        let _open = &open;
        counters.delivered.fetch_add(n, Relaxed);
        bytes
    })
}

/// Middleware: counts every answer of a route by its template and status code, and
/// 401s as authentication failures. Sits outside the authentication layer.
pub(crate) async fn track(
    State(counters): State<std::sync::Arc<ServerCounters>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED {
        counters.auth_failures.fetch_add(1, Relaxed);
    }
    counters.request(&route, status);
    response
}

/// `GET /metrics`.
pub(crate) async fn metrics<F: Follow>(
    State(state): State<AppState<F>>,
) -> Result<Response, ServerError> {
    let collector = JournalCollector {
        reader: state.reader.clone(),
        writer: state.writer.clone(),
        server: state.metrics.clone(),
    };
    let text = blocking(move || {
        collector.reader.update_view()?;
        Ok(render(collector))
    })
    .await??;
    let mut response = (StatusCode::OK, text).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

fn render<F: Follow>(collector: JournalCollector<F>) -> Result<String, ServerError> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
        .map_err(|e| ServerError::Encode(format!("metrics: {e}")))?;
    Ok(text)
}

/// Reads the journal's counters and the server's at scrape time.
#[derive(Debug)]
struct JournalCollector<F: Follow> {
    reader: F,
    writer: Option<Journal>,
    server: std::sync::Arc<ServerCounters>,
}

/// Writes one family at a time.
struct Out<'a>(DescriptorEncoder<'a>);

impl Out<'_> {
    fn counter(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        v: u64,
    ) -> Result<(), std::fmt::Error> {
        let m = self
            .0
            .encode_descriptor(name, help, unit.as_ref(), MetricType::Counter)?;
        ConstCounter::new(v).encode(m)
    }

    fn gauge<N: prometheus_client::encoding::EncodeGaugeValue>(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        v: N,
    ) -> Result<(), std::fmt::Error> {
        let m = self
            .0
            .encode_descriptor(name, help, unit.as_ref(), MetricType::Gauge)?;
        ConstGauge::new(v).encode(m)
    }

    /// A histogram of `h` with `bounds`; values and bounds are divided by `scale`
    /// (1e9 turns nanoseconds into seconds).
    fn histogram(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        h: &HistogramSnapshot,
        bounds: &[u64],
        scale: f64,
    ) -> Result<(), std::fmt::Error> {
        let cumulative = h.cumulative(bounds);
        // The encoder wants each bucket's own count; it sums them again.
        let mut buckets = Vec::with_capacity(cumulative.len());
        let mut previous = 0;
        for (i, &c) in cumulative.iter().enumerate() {
            let le = bounds.get(i).map_or(f64::INFINITY, |b| *b as f64 / scale);
            buckets.push((le, c.saturating_sub(previous)));
            previous = c;
        }
        // `_count` equals the `+Inf` bucket even while writers race the snapshot.
        let count = cumulative.last().copied().unwrap_or(0);
        let mut m = self
            .0
            .encode_descriptor(name, help, unit.as_ref(), MetricType::Histogram)?;
        m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            h.sum as f64 / scale,
            count,
            &buckets,
            None,
        )
    }
}

impl<F: Follow> Collector for JournalCollector<F> {
    fn encode(&self, encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let mut out = Out(encoder);
        if let Some(journal) = &self.writer {
            encode_writer(&mut out, journal)?;
        }

        let stats = self.reader.stats();
        out.gauge(
            "vexfs_journal_visible_end",
            "Sequence number after the last event readers can follow now (grows by one per durable event)",
            None,
            self.reader.followable_end(),
        )?;
        out.gauge(
            "vexfs_journal_segments",
            "Segment files of the journal",
            None,
            stats.segments as u64,
        )?;
        out.gauge(
            "vexfs_journal_disk",
            "Bytes of segment files on disk",
            Some(Unit::Bytes),
            stats.disk_bytes,
        )?;
        out.gauge(
            "vexfs_journal_stored_events",
            "Events in the journal's segments",
            None,
            stats.events,
        )?;

        let s = &self.server;
        let requests: Vec<((String, u16), u64)> = s
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        {
            let mut m = out.0.encode_descriptor(
                "vexfs_journal_http_requests",
                "HTTP requests answered, by route template and status code",
                None,
                MetricType::Counter,
            )?;
            for ((route, code), n) in &requests {
                let mut code_text = String::new();
                write!(code_text, "{code}")?;
                let labels = [("route", route.as_str()), ("code", code_text.as_str())];
                ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
            }
        }
        out.gauge(
            "vexfs_journal_sse_streams",
            "Follow streams (SSE or NDJSON) open now",
            None,
            s.streams.load(Relaxed).max(0),
        )?;
        out.counter(
            "vexfs_journal_events_delivered",
            "Events sent by GET /events answers and follow streams",
            None,
            s.delivered.load(Relaxed),
        )?;
        out.counter(
            "vexfs_journal_events_ingested",
            "Events appended through POST /events",
            None,
            s.ingested.load(Relaxed),
        )?;
        out.counter(
            "vexfs_journal_auth_failures",
            "Requests refused 401 (no or unknown bearer token)",
            None,
            s.auth_failures.load(Relaxed),
        )?;
        Ok(())
    }
}

/// The families only a writing server has: the engine's counters and histograms,
/// checkpoints and what recovery did at open.
fn encode_writer(out: &mut Out<'_>, journal: &Journal) -> Result<(), std::fmt::Error> {
    let m = journal.metrics();
    let h = journal.histograms();
    let checkpoints = journal.checkpoint_counts();
    let recovery = journal.recovery_report();
    let counters: [(&str, &str, Option<Unit>, u64); 17] = [
        (
            "vexfs_journal_events_emitted",
            "Events accepted by emit (sequence assigned) since open",
            None,
            m.events_emitted,
        ),
        (
            "vexfs_journal_events_persisted",
            "Events written to segment files since open",
            None,
            m.events_persisted,
        ),
        (
            "vexfs_journal_events_dropped",
            "Events discarded by the drop-oldest buffer policy",
            None,
            m.events_dropped,
        ),
        (
            "vexfs_journal_events_rejected",
            "Emits refused (invalid event, or a full buffer under the error policy)",
            None,
            m.events_rejected,
        ),
        (
            "vexfs_journal_events_recovered",
            "Events found on disk when this process opened the journal",
            None,
            m.events_recovered,
        ),
        (
            "vexfs_journal_batches",
            "Group commits (one write, one sync)",
            None,
            m.batches_processed,
        ),
        (
            "vexfs_journal_blocks_written",
            "Storage blocks written",
            None,
            m.blocks_written,
        ),
        (
            "vexfs_journal_written",
            "Block bytes written (headers and compressed data)",
            Some(Unit::Bytes),
            m.stored_bytes,
        ),
        (
            "vexfs_journal_record",
            "Uncompressed record bytes written",
            Some(Unit::Bytes),
            m.raw_bytes,
        ),
        (
            "vexfs_journal_fsyncs",
            "fsync calls on segment files",
            None,
            m.fsyncs,
        ),
        (
            "vexfs_journal_storage_errors",
            "Failed writes and syncs",
            None,
            m.storage_errors,
        ),
        (
            "vexfs_journal_segment_rotations",
            "Segment rotations",
            None,
            m.rotations,
        ),
        (
            "vexfs_journal_segments_deleted",
            "Segments deleted by retention",
            None,
            m.segments_deleted,
        ),
        (
            "vexfs_journal_checkpoints",
            "Checkpoints created by this process (periodic and explicit)",
            None,
            checkpoints.created,
        ),
        (
            "vexfs_journal_checkpoint_failures",
            "Checkpoints this process failed to create",
            None,
            checkpoints.failed,
        ),
        (
            "vexfs_journal_recovery_truncated",
            "Bytes cut from torn segment tails when the journal opened",
            Some(Unit::Bytes),
            recovery.bytes_cut,
        ),
        (
            "vexfs_journal_recovery_segments_repaired",
            "Segment headers or footers rebuilt when the journal opened",
            None,
            recovery.segments_repaired as u64,
        ),
    ];
    for (name, help, unit, v) in counters {
        out.counter(name, help, unit, v)?;
    }
    out.gauge(
        "vexfs_journal_recovery_duration",
        "Time recovery took when the journal opened",
        Some(Unit::Seconds),
        recovery.elapsed.as_secs_f64(),
    )?;
    out.gauge(
        "vexfs_journal_buffer_events",
        "Events waiting in the emission buffer",
        None,
        m.buffer_depth,
    )?;
    out.gauge(
        "vexfs_journal_compression_ratio",
        "Uncompressed record bytes per stored block byte since open (0 before any write)",
        None,
        m.compression_ratio,
    )?;
    out.histogram(
        "vexfs_journal_emit_latency",
        "Time an emit takes (one emit in eight per thread is timed)",
        Some(Unit::Seconds),
        &h.emit_latency_ns,
        &LATENCY_BOUNDS_NS,
        1e9,
    )?;
    out.histogram(
        "vexfs_journal_sync_latency",
        "Time an fsync of a segment file takes",
        Some(Unit::Seconds),
        &h.sync_latency_ns,
        &LATENCY_BOUNDS_NS,
        1e9,
    )?;
    out.histogram(
        "vexfs_journal_batch_events",
        "Events per group commit",
        None,
        &h.batch_events,
        &BATCH_BOUNDS,
        1.0,
    )?;
    Ok(())
}
