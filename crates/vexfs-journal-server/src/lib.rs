//! Serves a VexFS journal over HTTP.
//!
//! [`serve`] answers on any listener axum accepts (TCP or a Unix socket):
//!
//! - `GET /health`: the journal's id and visible end.
//! - `GET /events?type=&category=&path_prefix=&agent=&tx=&since=&until=&limit=&after=&follow=1`:
//!   the matching events as NDJSON (one `cat -o ndjson` object a line), or as
//!   Server-Sent Events when the request accepts `text/event-stream`. Each SSE event's
//!   `id:` is its cursor; a reconnect sending `Last-Event-ID` resumes right after it,
//!   with no gap and no duplicate. gatewayd's `Range: entries=<cursor>[:skip[:n]]`
//!   header is accepted too (a non-negative skip only).
//! - `GET /events/{seq}`: one event as JSON, 404 when there is none.
//! - `GET /stats`: size and extent, from the block tables.
//! - `GET /`: a live web view of the journal (its files under `/assets/`, compiled in).
//!
//! A bad parameter is answered 400 with a message naming it and its value. Every
//! stream reads the journal from disk a page at a time through a facade
//! [`Subscription`](vexfs_journal::Subscription): a slow client costs one page of
//! memory, never an unbounded buffer. Followers share one refresher of the journal's
//! visible end, and page reads run on tokio's blocking pool.

mod error;
mod params;
mod web;

use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query as UrlQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::watch;
use vexfs_journal::{Cursor, JournalReader, StartAt, StoredEvent, Subscription};

pub use error::ServerError;
pub use params::{EntriesRange, EventsParams};

/// Tunables of a server.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long an idle SSE stream waits before sending a keep-alive comment.
    pub keep_alive: Duration,
    /// The reconnection delay advertised to SSE clients (`retry:`).
    pub retry: Duration,
    /// How often followed journals are looked at for new events (once for all
    /// followers).
    pub poll: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            keep_alive: Duration::from_secs(15),
            retry: Duration::from_secs(1),
            poll: Duration::from_millis(50),
        }
    }
}

#[derive(Clone, Debug)]
struct AppState {
    reader: JournalReader,
    options: Options,
    feed: Arc<OnceLock<watch::Receiver<FeedState>>>,
}

/// Opens the journal in `journal_dir` read-only and serves it on `listener` until the
/// listener fails.
pub async fn serve<L>(journal_dir: impl AsRef<Path>, listener: L) -> Result<(), ServerError>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let reader = JournalReader::open(journal_dir)?;
    serve_reader(reader, Options::default(), listener).await
}

/// [`serve`] for a reader already open, with explicit [`Options`].
pub async fn serve_reader<L>(
    reader: JournalReader,
    options: Options,
    listener: L,
) -> Result<(), ServerError>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    axum::serve(listener, router(reader, options))
        .await
        .map_err(ServerError::Io)
}

/// The routes, for embedding in a larger axum application.
pub fn router(reader: JournalReader, options: Options) -> Router {
    Router::new()
        .route("/", get(web::index))
        .route("/assets/{name}", get(web::asset_file))
        .route("/health", get(health))
        .route("/stats", get(stats))
        .route("/events", get(events))
        .route("/events/{seq}", get(event_by_seq))
        .with_state(AppState {
            reader,
            options,
            feed: Arc::default(),
        })
}

/// Runs a disk read on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> vexfs_journal::Result<T> + Send + 'static,
) -> Result<T, ServerError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => Ok(r?),
        Err(e) => Err(ServerError::Task(e.to_string())),
    }
}

/// Picks up what the writer appended, off the async workers.
async fn refresh(reader: &JournalReader) -> Result<(), ServerError> {
    let r = reader.clone();
    blocking(move || r.refresh().map(|_| ())).await
}

async fn health(State(state): State<AppState>) -> Result<Response, ServerError> {
    refresh(&state.reader).await?;
    let body = serde_json::json!({
        "status": "ok",
        "journal": state.reader.meta().id.to_string(),
        "next_seq": state.reader.visible_end(),
        "generation": state.reader.generation(),
    });
    Ok(json_response(StatusCode::OK, &body))
}

async fn stats(State(state): State<AppState>) -> Result<Response, ServerError> {
    let reader = state.reader.clone();
    let stats = blocking(move || {
        reader.refresh()?;
        Ok(reader.stats())
    })
    .await?;
    let body = serde_json::to_value(&stats).map_err(|e| ServerError::Encode(e.to_string()))?;
    Ok(json_response(StatusCode::OK, &body))
}

async fn event_by_seq(
    State(state): State<AppState>,
    UrlPath(seq): UrlPath<String>,
) -> Result<Response, ServerError> {
    let seq: u64 = seq.parse().map_err(|_| ServerError::BadParam {
        name: "seq".into(),
        value: seq.clone(),
        reason: "not a sequence number".into(),
    })?;
    let reader = state.reader.clone();
    match blocking(move || {
        reader.refresh()?;
        reader.get(seq)
    })
    .await?
    {
        Some(ev) => Ok(json_response(
            StatusCode::OK,
            &vexfs_journal::json::to_json(&ev),
        )),
        None => Err(ServerError::NotFound(seq)),
    }
}

async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    UrlQuery(pairs): UrlQuery<Vec<(String, String)>>,
) -> Result<Response, ServerError> {
    let params = EventsParams::parse(&pairs)?;
    let reader = state.reader.clone();
    refresh(&reader).await?;
    let range = match headers.get(header::RANGE) {
        Some(v) => Some(EntriesRange::parse(&header_text("Range", v)?)?),
        None => None,
    };
    // A reconnecting EventSource's position wins over a Range header, and that over
    // the URL's `after`.
    let resume = match (headers.get("last-event-id"), &range) {
        (Some(v), _) => Some(("Last-Event-ID", header_text("Last-Event-ID", v)?)),
        (None, Some(r)) => r.cursor.clone().map(|c| ("Range", c)),
        (None, None) => params.after.as_deref().map(|a| ("after", a.to_owned())),
    };
    let start = match resume {
        Some((name, text)) => {
            let cursor = reader
                .parse_cursor(&text)
                .map_err(|e| ServerError::BadParam {
                    name: name.into(),
                    value: text.clone(),
                    reason: e.to_string(),
                })?;
            if cursor.reverse {
                return Err(ServerError::BadParam {
                    name: name.into(),
                    value: text,
                    reason: "a cursor of a reverse query".into(),
                });
            }
            StartAt::After(cursor)
        }
        None => StartAt::Beginning,
    };
    let mut query = params.query.clone();
    if !params.follow {
        // A one-shot answer stops at what is on disk now.
        match reader.visible_end().checked_sub(1) {
            Some(last) => query.to_seq = Some(query.to_seq.map_or(last, |t| t.min(last))),
            None => return Ok(empty_answer(&headers, &state.options)),
        }
    }
    let sub = reader.subscribe(query, start)?;
    let feed = params.follow.then(|| live_feed(&state));
    let skip = range.as_ref().map_or(0, |r| r.skip);
    let limit = match (params.limit, range.as_ref().and_then(|r| r.n)) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(usize::MAX),
    };
    let events = cursor_stream(sub, feed).skip(skip).take(limit);
    if wants_sse(&headers) {
        Ok(sse_response(events, &state.options))
    } else {
        Ok(ndjson_response(events))
    }
}

/// What every follower waits on: the journal's visible end, refreshed once per poll
/// for all of them (not once per follower), or the error refreshing hit.
type FeedState = Result<u64, String>;

/// Starts the shared refresher on first use; it runs as long as the router.
fn live_feed(state: &AppState) -> watch::Receiver<FeedState> {
    state
        .feed
        .get_or_init(|| {
            let (tx, rx) = watch::channel(Ok(state.reader.visible_end()));
            let reader = state.reader.clone();
            let poll = state.options.poll;
            tokio::spawn(async move {
                while !tx.is_closed() {
                    tokio::time::sleep(poll).await;
                    let r = reader.clone();
                    let now = match tokio::task::spawn_blocking(move || {
                        r.refresh().map(|_| r.visible_end())
                    })
                    .await
                    {
                        Ok(Ok(end)) => Ok(end),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(e) => Err(format!("refresh task: {e}")),
                    };
                    tx.send_if_modified(|v| {
                        let changed = *v != now;
                        *v = now;
                        changed
                    });
                }
            });
            rx
        })
        .clone()
}

/// The events of a subscription, each with the cursor that resumes after it. With `feed`, it follows the journal (waking when the shared feed
/// moves); without, it ends at the first moment nothing more is visible. Disk reads
/// (one page at a time) run off the async workers.
fn cursor_stream(
    sub: Subscription<JournalReader>,
    feed: Option<watch::Receiver<FeedState>>,
) -> impl Stream<Item = Result<(StoredEvent, Cursor), ServerError>> + Send + 'static {
    stream::unfold(Some((sub, feed)), |state| async move {
        let (mut sub, mut feed) = state?;
        loop {
            if let Some(f) = feed.as_mut() {
                // Seen: a refresh after this point wakes the wait below.
                f.borrow_and_update();
            }
            let next = if sub.buffered() > 0 {
                sub.try_next()
            } else {
                match tokio::task::spawn_blocking(move || {
                    let next = sub.try_next();
                    (sub, next)
                })
                .await
                {
                    Ok((back, next)) => {
                        sub = back;
                        next
                    }
                    Err(e) => return Some((Err(ServerError::Task(e.to_string())), None)),
                }
            };
            match next {
                Ok(Some(ev)) => {
                    return match sub.cursor() {
                        Some(cursor) => Some((Ok((ev, cursor)), Some((sub, feed)))),
                        None => Some((Err(ServerError::NoCursor(ev.seq)), None)),
                    };
                }
                // An error ends the stream after it is reported.
                Err(e) => return Some((Err(ServerError::Journal(e)), None)),
                Ok(None) => {}
            }
            let f = feed.as_mut()?;
            if f.changed().await.is_err() {
                return None;
            }
            if let Err(e) = &*f.borrow() {
                return Some((Err(ServerError::Refresh(e.clone())), None));
            }
        }
    })
}

fn ndjson_response(
    events: impl Stream<Item = Result<(StoredEvent, Cursor), ServerError>> + Send + 'static,
) -> Response {
    let lines = events.map(|item| {
        let line = match item {
            Ok((ev, _)) => vexfs_journal::json::to_json(&ev),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        };
        let mut text = line.to_string();
        text.push('\n');
        Ok::<_, Infallible>(text)
    });
    let mut response = Body::from_stream(lines).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

fn sse_response(
    events: impl Stream<Item = Result<(StoredEvent, Cursor), ServerError>> + Send + 'static,
    options: &Options,
) -> Response {
    let retry = stream::once(std::future::ready(Ok::<_, Infallible>(
        SseEvent::default().retry(options.retry),
    )));
    let events = events.map(|item| {
        Ok::<_, Infallible>(match item {
            Ok((ev, cursor)) => SseEvent::default()
                .id(cursor.encode())
                .data(vexfs_journal::json::to_json(&ev).to_string()),
            Err(e) => SseEvent::default()
                .event("error")
                .data(serde_json::json!({ "error": e.to_string() }).to_string()),
        })
    });
    Sse::new(retry.chain(events))
        .keep_alive(
            KeepAlive::new()
                .interval(options.keep_alive)
                .text("keep-alive"),
        )
        .into_response()
}

/// The answer to a one-shot request on an empty journal.
fn empty_answer(headers: &HeaderMap, options: &Options) -> Response {
    let none = stream::empty();
    if wants_sse(headers) {
        sse_response(none, options)
    } else {
        ndjson_response(none)
    }
}

fn wants_sse(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

fn header_text(name: &str, value: &HeaderValue) -> Result<String, ServerError> {
    value
        .to_str()
        .map(|s| s.trim().to_owned())
        .map_err(|_| ServerError::BadParam {
            name: name.into(),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
            reason: "not ASCII text".into(),
        })
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let status = match &self {
            ServerError::BadParam { .. } => StatusCode::BAD_REQUEST,
            ServerError::NotFound(_) => StatusCode::NOT_FOUND,
            ServerError::Journal(_)
            | ServerError::Io(_)
            | ServerError::NoCursor(_)
            | ServerError::Refresh(_)
            | ServerError::Task(_)
            | ServerError::Encode(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        json_response(status, &serde_json::json!({ "error": self.to_string() }))
    }
}
