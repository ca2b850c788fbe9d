//! Serves a VexFS journal over HTTP.
//!
//! [`serve`] answers on any listener axum accepts (TCP or a Unix socket):
//!
//! - `GET /health`: the journal's id and visible end.
//! - `GET /events?type=&category=&path_prefix=&agent=&tx=&since=&until=&limit=&after=&tail=&follow=1`:
//!   the matching events as NDJSON (one `cat -o ndjson` object a line), or as
//!   Server-Sent Events when the request accepts `text/event-stream`. Each SSE event's
//!   `id:` is its cursor; a reconnect sending `Last-Event-ID` resumes right after it,
//!   with no gap and no duplicate. gatewayd's `Range: entries=<cursor>[:skip[:n]]`
//!   header is accepted too (a non-negative skip only).
//! - `GET /events/{seq}`: one event as JSON, 404 when there is none.
//! - `GET /events/{seq}/causality?ancestors=&descendants=&max=`: the event's causes up
//!   to the root cause and what followed from it, as nodes (events) and edges.
//! - `POST /events[?durable=1]` (a writing server): NDJSON events, one atomic batch.
//! - `GET /stats`: size and extent, from the block tables.
//! - `GET /metrics`: Prometheus text exposition of the journal's and the server's
//!   counters (see docs/server.md).
//! - `GET /`: a live web view of the journal (its files under `/assets/`, compiled in).
//!
//! A bad parameter is answered 400 with a message naming it and its value. Every
//! stream reads the journal from disk a page at a time through a facade
//! [`Subscription`](vexfs_journal::Subscription): a slow client costs one page of
//! memory, never an unbounded buffer. Followers share one refresher of the journal's
//! visible end, and page reads run on tokio's blocking pool.

mod auth;
mod causality;
mod error;
mod ingest;
mod live;
mod metrics;
mod params;
mod rate;
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
use vexfs_journal::{
    Cursor, Follow, Journal, JournalReader, Query, StartAt, StoredEvent, Subscription,
};

pub use auth::{Principal, Principals};
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
    /// followers); a writing server is woken by its own progress instead.
    pub poll: Duration,
    /// The largest request body `POST /events` accepts, in bytes.
    pub max_body: usize,
    /// Bytes of encoded recent events kept for followers at the live edge (shared by
    /// all of them); a follower further behind reads from disk.
    pub live_bytes: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            keep_alive: Duration::from_secs(15),
            retry: Duration::from_secs(1),
            poll: Duration::from_millis(50),
            max_body: 16 << 20,
            live_bytes: 32 << 20,
        }
    }
}

#[derive(Clone, Debug)]
struct AppState<F: Follow> {
    /// What every read goes through.
    reader: F,
    /// The journal `POST /events` appends to; `None` on a read-only server.
    writer: Option<Journal>,
    /// Who may do what; `None` when the server does not authenticate.
    principals: Option<Arc<Principals>>,
    options: Options,
    feed: Arc<OnceLock<watch::Receiver<FeedState>>>,
    /// The encoded live feed followers share, started by the first follower.
    live: Arc<std::sync::Mutex<Option<Arc<live::Live>>>>,
    /// The server's request, stream and delivery counters.
    metrics: Arc<metrics::ServerCounters>,
}

/// A server under construction: what it reads, whether it accepts events, who may use
/// it.
#[derive(Clone, Debug)]
pub struct Server<F: Follow> {
    state: AppState<F>,
}

impl Server<JournalReader> {
    /// A read-only server of a journal another process may be writing.
    pub fn reader(reader: JournalReader) -> Server<JournalReader> {
        Server::new(reader, None)
    }
}

impl Server<Journal> {
    /// A server that also appends: `POST /events` writes to `journal`, and readers
    /// see events as soon as they are durable.
    pub fn writer(journal: Journal) -> Server<Journal> {
        Server::new(journal.clone(), Some(journal))
    }
}

impl<F: Follow> Server<F> {
    fn new(reader: F, writer: Option<Journal>) -> Server<F> {
        Server {
            state: AppState {
                reader,
                writer,
                principals: None,
                options: Options::default(),
                feed: Arc::default(),
                live: Arc::default(),
                metrics: Arc::default(),
            },
        }
    }

    /// The served journal's id.
    pub fn journal_id(&self) -> vexfs_journal::Uuid {
        self.state.reader.journal_id()
    }

    /// Replaces the tunables.
    pub fn options(mut self, options: Options) -> Server<F> {
        self.state.options = options;
        self
    }

    /// Requires a bearer token of `principals` on every request but the web view's
    /// page and assets, and shows each principal only the events its mask allows.
    pub fn principals(mut self, principals: Principals) -> Server<F> {
        self.state.principals = Some(Arc::new(principals));
        self
    }

    /// The routes, for embedding in a larger axum application.
    pub fn router(self) -> Router {
        routes(self.state)
    }

    /// Serves on `listener` until it fails.
    pub async fn serve<L>(self, listener: L) -> Result<(), ServerError>
    where
        L: axum::serve::Listener,
        L::Addr: std::fmt::Debug,
    {
        axum::serve(listener, self.router())
            .await
            .map_err(ServerError::Io)
    }
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
    Server::reader(reader)
        .options(options)
        .serve(listener)
        .await
}

/// The read-only routes of `reader`, for embedding in a larger axum application.
pub fn router(reader: JournalReader, options: Options) -> Router {
    Server::reader(reader).options(options).router()
}

fn routes<F: Follow>(state: AppState<F>) -> Router {
    let guarded = Router::new()
        .route("/health", get(health::<F>))
        .route("/stats", get(stats::<F>))
        .route("/events", get(events::<F>).post(ingest::post_events::<F>))
        .route("/events/{seq}", get(event_by_seq::<F>))
        .route("/events/{seq}/causality", get(causality::causality::<F>))
        .route("/stats/rate", get(rate::rate::<F>))
        .route("/metrics", get(metrics::metrics::<F>))
        .layer(axum::extract::DefaultBodyLimit::max(state.options.max_body))
        .route_layer(axum::middleware::from_fn_with_state(
            state.principals.clone(),
            auth::require,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ));
    // The page and its files hold no journal data: they load without a token, and
    // the page asks for one when the API answers 401.
    guarded
        .route("/", get(web::index))
        .route("/assets/{name}", get(web::asset_file))
        .with_state(state)
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
async fn refresh<F: Follow>(reader: &F) -> Result<(), ServerError> {
    let r = reader.clone();
    blocking(move || r.update_view()).await
}

async fn health<F: Follow>(State(state): State<AppState<F>>) -> Result<Response, ServerError> {
    refresh(&state.reader).await?;
    let body = serde_json::json!({
        "status": "ok",
        "journal": state.reader.journal_id().to_string(),
        "next_seq": state.reader.followable_end(),
        "generation": state.reader.generation(),
        "accepts_events": state.writer.is_some(),
    });
    Ok(json_response(StatusCode::OK, &body))
}

async fn stats<F: Follow>(State(state): State<AppState<F>>) -> Result<Response, ServerError> {
    let reader = state.reader.clone();
    let stats = blocking(move || {
        reader.update_view()?;
        Ok(reader.stats())
    })
    .await?;
    let body = serde_json::to_value(&stats).map_err(|e| ServerError::Encode(e.to_string()))?;
    Ok(json_response(StatusCode::OK, &body))
}

async fn event_by_seq<F: Follow>(
    State(state): State<AppState<F>>,
    principal: Option<axum::Extension<Principal>>,
    UrlPath(seq): UrlPath<String>,
) -> Result<Response, ServerError> {
    let mask = principal.and_then(|p| p.0.mask);
    let seq: u64 = seq.parse().map_err(|_| ServerError::BadParam {
        name: "seq".into(),
        value: seq.clone(),
        reason: "not a sequence number".into(),
    })?;
    let reader = state.reader.clone();
    match blocking(move || {
        reader.update_view()?;
        reader.get(seq)
    })
    .await?
    {
        // Hidden from this principal: as if there were none.
        Some(ev) if mask.is_some_and(|m| ev.event.agent_visibility_mask & m == 0) => {
            Err(ServerError::NotFound(seq))
        }
        Some(ev) => Ok(json_response(
            StatusCode::OK,
            &vexfs_journal::json::to_json(&ev),
        )),
        None => Err(ServerError::NotFound(seq)),
    }
}

async fn events<F: Follow>(
    State(state): State<AppState<F>>,
    principal: Option<axum::Extension<Principal>>,
    headers: HeaderMap,
    UrlQuery(pairs): UrlQuery<Vec<(String, String)>>,
) -> Result<Response, ServerError> {
    let mut params = EventsParams::parse(&pairs)?;
    if let Some(mask) = principal.and_then(|p| p.0.mask) {
        params.query.visibility = Some(mask);
    }
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
        None => match params.tail {
            Some(n) => tail_start(&reader, &params.query, n).await?,
            None => StartAt::Beginning,
        },
    };
    let mut query = params.query.clone();
    if !params.follow {
        // A one-shot answer stops at what is on disk now.
        match reader.followable_end().checked_sub(1) {
            Some(last) => query.to_seq = Some(query.to_seq.map_or(last, |t| t.min(last))),
            None => return Ok(empty_answer(&headers, &state.options)),
        }
    }
    let skip = range.as_ref().map_or(0, |r| r.skip);
    let limit = match (params.limit, range.as_ref().and_then(|r| r.n)) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(usize::MAX),
    };
    if params.follow && skip == 0 && limit == usize::MAX && live::can_serve(&query) {
        // The common case, a plain follow: shared, pre-encoded frames.
        let live = shared_live(&state)?;
        let sse = wants_sse(&headers);
        let frames = live::follow(reader, live, query, start, sse, state.options.keep_alive)?;
        let frames = metrics::counted_frames(&state.metrics, frames);
        return Ok(frames_response(frames, sse, &state.options));
    }
    let sub = reader.subscribe(query, start)?;
    let feed = params.follow.then(|| live_feed(&state));
    let events = cursor_stream(sub, feed).skip(skip).take(limit);
    let events = metrics::counted(&state.metrics, events, params.follow);
    if wants_sse(&headers) {
        Ok(sse_response(events, &state.options))
    } else {
        Ok(ndjson_response(events))
    }
}

/// The shared live feed, started on first use.
fn shared_live<F: Follow>(state: &AppState<F>) -> Result<Arc<live::Live>, ServerError> {
    let mut slot = state.live.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(l) = &*slot {
        return Ok(l.clone());
    }
    let l = live::Live::start(
        state.reader.clone(),
        state.options.poll,
        state.options.live_bytes,
    )?;
    *slot = Some(l.clone());
    Ok(l)
}

/// A follow stream of encoded frames, as SSE (after a `retry:`) or NDJSON.
fn frames_response(
    frames: impl Stream<Item = axum::body::Bytes> + Send + 'static,
    sse: bool,
    options: &Options,
) -> Response {
    let head =
        sse.then(|| axum::body::Bytes::from(format!("retry: {}\n\n", options.retry.as_millis())));
    let body = stream::iter(head).chain(frames).map(Ok::<_, Infallible>);
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    if sse {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    } else {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
    }
    response
}

/// Where a stream starts to deliver the last `n` events matching `query` first.
async fn tail_start<F: Follow>(
    reader: &F,
    query: &Query,
    n: usize,
) -> Result<StartAt, ServerError> {
    if n == 0 {
        return Ok(StartAt::Now);
    }
    let mut last = query.clone();
    last.reverse = true;
    last.limit = Some(n);
    let r = reader.clone();
    let page = blocking(move || r.query(&last)).await?;
    Ok(match page.events.last() {
        // Resume "after" the one before the oldest of the last n.
        Some(oldest) if oldest.seq > 0 => StartAt::After(Cursor {
            journal: reader.journal_id(),
            seq: oldest.seq - 1,
            reverse: false,
            generation: reader.generation(),
        }),
        Some(_) => StartAt::Beginning,
        None => StartAt::Now,
    })
}

/// What every follower waits on: the journal's visible end, refreshed once per poll
/// for all of them (not once per follower), or the error refreshing hit.
type FeedState = Result<u64, String>;

/// Starts the shared refresher on first use; it runs as long as the router.
fn live_feed<F: Follow>(state: &AppState<F>) -> watch::Receiver<FeedState> {
    state
        .feed
        .get_or_init(|| {
            let mut end = state.reader.followable_end();
            let (tx, rx) = watch::channel(Ok(end));
            let reader = state.reader.clone();
            let poll = state.options.poll;
            // One blocking thread for all followers: a writer wakes it on progress at
            // once, a reader's files are looked at once per poll.
            tokio::task::spawn_blocking(move || {
                while !tx.is_closed() {
                    let now = if reader.is_journal_closed() {
                        Err("the journal was closed".to_string())
                    } else {
                        reader.wait_followable(end, poll).map_err(|e| e.to_string())
                    };
                    let failed = now.is_err();
                    if let Ok(n) = now {
                        end = n;
                    }
                    tx.send_if_modified(|v| {
                        let changed = *v != now;
                        *v = now;
                        changed
                    });
                    if failed {
                        break;
                    }
                }
            });
            rx
        })
        .clone()
}

/// The events of a subscription, each with the cursor that resumes after it. With `feed`, it follows the journal (waking when the shared feed
/// moves); without, it ends at the first moment nothing more is visible. Disk reads
/// (one page at a time) run off the async workers.
fn cursor_stream<F: Follow>(
    sub: Subscription<F>,
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
            ServerError::BadBody { .. } => StatusCode::BAD_REQUEST,
            ServerError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServerError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServerError::ReadOnly => StatusCode::METHOD_NOT_ALLOWED,
            ServerError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServerError::Journal(_)
            | ServerError::Io(_)
            | ServerError::NoCursor(_)
            | ServerError::Refresh(_)
            | ServerError::Task(_)
            | ServerError::Encode(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut response = json_response(status, &serde_json::json!({ "error": self.to_string() }));
        match status {
            StatusCode::UNAUTHORIZED => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"vexjournal\""),
                );
            }
            StatusCode::METHOD_NOT_ALLOWED => {
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET"));
            }
            _ => {}
        }
        response
    }
}
