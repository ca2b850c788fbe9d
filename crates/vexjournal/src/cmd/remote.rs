//! `vexjournal follow --server`: the event server's Server-Sent Events stream, resumed
//! by cursor across disconnects.
//!
//! The HTTP exchange is hyper's client on a TCP or Unix-socket connection. The SSE
//! lines are parsed here: our own server's stream needs `id:`, `data:`, `event:` and
//! `retry:` only, a few lines no crate would make shorter.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use vexfs_journal::StoredEvent;

/// Where the server listens.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// `http://HOST:PORT`.
    Tcp(String),
    /// A Unix socket.
    Unix(PathBuf),
}

impl Endpoint {
    /// `http://host:port`, `unix:/path` or the path of a socket.
    pub fn parse(text: &str) -> Result<Endpoint> {
        if let Some(rest) = text.strip_prefix("http://") {
            let authority = rest.trim_end_matches('/');
            if authority.is_empty() || authority.contains('/') {
                bail!("--server {text:?}: give http://HOST:PORT (no path)");
            }
            return Ok(Endpoint::Tcp(authority.to_string()));
        }
        if text.starts_with("https://") {
            bail!(
                "--server {text:?}: https is not supported; put the server behind a local \
                 socket or an SSH tunnel"
            );
        }
        let path = PathBuf::from(text.strip_prefix("unix:").unwrap_or(text));
        use std::os::unix::fs::FileTypeExt;
        match std::fs::metadata(&path) {
            Ok(m) if m.file_type().is_socket() => Ok(Endpoint::Unix(path)),
            Ok(_) => bail!("--server {}: not a socket", path.display()),
            Err(e) => bail!(
                "--server {text:?}: neither http://HOST:PORT nor a socket ({}: {e})",
                path.display()
            ),
        }
    }

    fn host(&self) -> &str {
        match self {
            Endpoint::Tcp(a) => a,
            Endpoint::Unix(_) => "localhost",
        }
    }
}

/// One server event: its cursor and the event.
pub struct Received {
    pub cursor: String,
    pub event: StoredEvent,
}

/// The stream's state between reconnections.
pub struct RemoteFollow {
    endpoint: Endpoint,
    /// Path and query of the request (without the resume position).
    target: String,
    token: Option<String>,
    /// The last cursor received: a reconnection resumes after it.
    pub cursor: Option<String>,
    retry: Duration,
}

/// A failure worth retrying (the connection) or not (the server refused).
enum Failure {
    Transient(anyhow::Error),
    Fatal(anyhow::Error),
}

/// The event a server line carries: the JSON fields of `cat -o ndjson`.
fn stored_from_json(v: &Value) -> Result<StoredEvent> {
    let mut event = vexfs_journal::json::from_json(v)?;
    let num = |k: &str| v.get(k).and_then(Value::as_u64);
    let seq = num("seq").ok_or_else(|| anyhow!("the server sent an event without seq"))?;
    event.event_id = num("id").unwrap_or(seq);
    event.global_sequence = num("global_seq").unwrap_or(event.event_id);
    event.local_sequence = num("local_seq").unwrap_or(event.global_sequence);
    if v.get("root_cause").is_none() && event.root_cause_event_id == 0 {
        event.root_cause_event_id = event.event_id;
    }
    Ok(StoredEvent {
        seq,
        event,
        ext: Default::default(),
    })
}

impl RemoteFollow {
    pub fn new(endpoint: Endpoint, target: String, token: Option<String>) -> RemoteFollow {
        RemoteFollow {
            endpoint,
            target,
            token,
            cursor: None,
            retry: Duration::from_secs(1),
        }
    }

    /// Streams events to `sink` forever, reconnecting after failures of the
    /// connection; returns on a refusal by the server or an error of `sink`.
    pub async fn run(&mut self, sink: &mut dyn FnMut(Received) -> Result<()>) -> Result<()> {
        let mut failures = 0u32;
        loop {
            match self.once(sink, &mut failures).await {
                Ok(()) => {
                    eprintln!("vexjournal: the server closed the stream; reconnecting");
                }
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Transient(e)) => {
                    failures += 1;
                    eprintln!(
                        "vexjournal: {e:#}; reconnecting in {:?} (attempt {failures})",
                        self.backoff(failures)
                    );
                }
            }
            tokio::time::sleep(self.backoff(failures)).await;
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        // The server's retry, doubling per failure up to 30 s.
        self.retry
            .saturating_mul(1 << failures.min(5))
            .min(Duration::from_secs(30))
    }

    async fn once(
        &mut self,
        sink: &mut dyn FnMut(Received) -> Result<()>,
        failures: &mut u32,
    ) -> std::result::Result<(), Failure> {
        let transient = |e: anyhow::Error| Failure::Transient(e);
        let mut request = hyper::Request::get(self.target.as_str())
            .header(hyper::header::HOST, self.endpoint.host())
            .header(hyper::header::ACCEPT, "text/event-stream");
        if let Some(c) = &self.cursor {
            request = request.header("Last-Event-ID", c.as_str());
        }
        if let Some(t) = &self.token {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| Failure::Fatal(anyhow!("building the request: {e}")))?;
        let mut response = match &self.endpoint {
            Endpoint::Tcp(addr) => {
                let stream = tokio::net::TcpStream::connect(addr.as_str())
                    .await
                    .with_context(|| format!("connecting to {addr}"))
                    .map_err(transient)?;
                send(TokioIo::new(stream), request).await?
            }
            Endpoint::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path)
                    .await
                    .with_context(|| format!("connecting to {}", path.display()))
                    .map_err(transient)?;
                send(TokioIo::new(stream), request).await?
            }
        };
        let status = response.status();
        if !status.is_success() {
            let body = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&body);
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| text.trim().to_string());
            let e = anyhow!("the server answered {status}: {message}");
            return Err(if status.is_server_error() {
                Failure::Transient(e)
            } else {
                Failure::Fatal(e)
            });
        }
        *failures = 0;
        let mut parser = SseParser::default();
        while let Some(frame) = response.body_mut().frame().await {
            let frame =
                frame.map_err(|e| Failure::Transient(anyhow!("reading the stream: {e}")))?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            for block in parser.push(data) {
                if let Some(ms) = block.retry {
                    self.retry = Duration::from_millis(ms);
                }
                let Some(data) = block.data else { continue };
                if block.event.as_deref() == Some("error") {
                    return Err(Failure::Transient(anyhow!("the server reported: {data}")));
                }
                let v: Value = serde_json::from_str(&data)
                    .map_err(|e| Failure::Fatal(anyhow!("the server sent bad JSON: {e}")))?;
                let event = stored_from_json(&v).map_err(Failure::Fatal)?;
                let cursor = block.id.ok_or_else(|| {
                    Failure::Fatal(anyhow!("the server sent an event without id"))
                })?;
                self.cursor = Some(cursor.clone());
                sink(Received { cursor, event }).map_err(Failure::Fatal)?;
            }
        }
        Ok(())
    }
}

async fn send<T>(
    io: T,
    request: hyper::Request<Empty<Bytes>>,
) -> std::result::Result<hyper::Response<hyper::body::Incoming>, Failure>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| Failure::Transient(anyhow!("HTTP handshake: {e}")))?;
    tokio::spawn(async move {
        // Ends with the connection; its errors surface through the body.
        let _ = conn.await;
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| Failure::Transient(anyhow!("sending the request: {e}")))
}

/// One SSE event block.
#[derive(Default, Debug, PartialEq, Eq)]
struct Block {
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
    retry: Option<u64>,
}

/// Splits an SSE byte stream into event blocks (a blank line ends a block).
#[derive(Default)]
struct SseParser {
    pending: Vec<u8>,
    block: Block,
}

impl SseParser {
    fn push(&mut self, bytes: &[u8]) -> Vec<Block> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(nl) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                let block = std::mem::take(&mut self.block);
                if block != Block::default() {
                    out.push(block);
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value).to_string();
            match field {
                "id" => self.block.id = Some(value),
                "event" => self.block.event = Some(value),
                "data" => match &mut self.block.data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(&value);
                    }
                    None => self.block.data = Some(value),
                },
                "retry" => self.block.retry = value.parse().ok(),
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_blocks_split_across_reads() {
        let mut p = SseParser::default();
        let mut got = p.push(b"retry: 500\n\n: keep-alive\n\nid: c1\nda");
        got.extend(p.push(b"ta: {\"a\":1}\n\nevent: error\ndata: x\ndata: y\r\n\r\n"));
        assert_eq!(
            got,
            vec![
                Block {
                    retry: Some(500),
                    ..Block::default()
                },
                Block {
                    id: Some("c1".into()),
                    data: Some("{\"a\":1}".into()),
                    ..Block::default()
                },
                Block {
                    event: Some("error".into()),
                    data: Some("x\ny".into()),
                    ..Block::default()
                },
            ]
        );
    }

    #[test]
    fn endpoints() {
        assert!(matches!(
            Endpoint::parse("http://127.0.0.1:8080/"),
            Ok(Endpoint::Tcp(a)) if a == "127.0.0.1:8080"
        ));
        for bad in ["http://h:1/events", "https://h", "/nonexistent/sock", "/"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
