//! What the server tests share: events, a server on a temporary journal, and a bare
//! HTTP/1.0 client that reads SSE blocks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vexfs_journal::{Event, FsOp, Journal, JournalReader};
use vexfs_journal_server::{Options, serve_reader};

pub fn ev(i: u64) -> Event {
    let op = if i.is_multiple_of(2) {
        FsOp::Write
    } else {
        FsOp::Read
    };
    Event::filesystem(op).path(format!("/f/{}", i % 4)).inode(i)
}

/// Emits events `range` durably; returns their sequence numbers.
pub fn emit(j: &Journal, range: std::ops::Range<u64>) -> Vec<u64> {
    let seqs = range.map(|i| j.emit(ev(i)).unwrap()).collect();
    j.sync().unwrap();
    seqs
}

/// Starts a server on the journal in `dir`; returns its address.
pub async fn start(dir: &std::path::Path) -> SocketAddr {
    let reader = JournalReader::open(dir).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = Options {
        keep_alive: Duration::from_millis(200),
        retry: Duration::from_millis(500),
        ..Options::default()
    };
    tokio::spawn(async move { serve_reader(reader, options, listener).await });
    addr
}

/// An HTTP/1.0 exchange: the server closes the connection after the body, so no
/// chunked decoding is needed.
pub struct Conn {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
    pub status: u16,
}

impl Conn {
    pub async fn get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Conn {
        Conn::request(addr, "GET", target, headers, b"").await
    }

    /// Sends a request with a body (a `Content-Length` is added when it is not empty).
    pub async fn request(
        addr: SocketAddr,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Conn {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut req = format!("{method} {target} HTTP/1.0\r\nHost: test\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        // A server may answer before reading a body it refuses.
        let _ = stream.write_all(body).await;
        let mut conn = Conn {
            stream,
            buf: Vec::new(),
            status: 0,
        };
        // Read up to the end of the head.
        loop {
            if let Some(end) = find(&conn.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&conn.buf[..end]).into_owned();
                conn.status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap();
                conn.buf.drain(..end + 4);
                return conn;
            }
            assert!(conn.read_more().await, "connection closed in the head");
        }
    }

    /// Reads more bytes; false at the end of the body.
    pub async fn read_more(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
            .await
            .expect("server silent for 10 s")
            .unwrap();
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    pub async fn body(mut self) -> String {
        while self.read_more().await {}
        String::from_utf8(self.buf).unwrap()
    }

    /// The next SSE block (the lines up to a blank line).
    pub async fn sse_block(&mut self) -> Vec<String> {
        loop {
            if let Some(end) = find(&self.buf, b"\n\n") {
                let block = String::from_utf8(self.buf[..end].to_vec()).unwrap();
                self.buf.drain(..end + 2);
                return block.lines().map(str::to_owned).collect();
            }
            assert!(self.read_more().await, "stream ended");
        }
    }

    /// The next `n` SSE events with data, as (id, JSON); also returns whether a
    /// `retry:` field was seen.
    pub async fn sse_events(&mut self, n: usize) -> (Vec<(String, serde_json::Value)>, bool) {
        let (mut out, mut retry) = (Vec::new(), false);
        while out.len() < n {
            let block = self.sse_block().await;
            let mut id = None;
            let mut data = None;
            for line in &block {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(v).unwrap());
                } else if line.starts_with("retry:") {
                    retry = true;
                }
            }
            if let Some(data) = data {
                out.push((id.expect("an event without id"), data));
            }
        }
        (out, retry)
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn seqs(events: &[(String, serde_json::Value)]) -> Vec<u64> {
    events
        .iter()
        .map(|(_, v)| v["seq"].as_u64().unwrap())
        .collect()
}

/// The `seq` of each line of an NDJSON body.
pub fn ndjson_seqs(body: &str) -> Vec<u64> {
    body.lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}
