//! `GET /stats/rate` over a real socket: counts per bucket equal to the events emitted,
//! empty buckets listed, defaults (the last hour by minute), and 400s naming the bad
//! parameter.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vexfs_journal::{AgentOp, Config, Event, FsOp, Journal, JournalReader, Timestamp, system_ns};
use vexfs_journal_server::{Options, serve_reader};

const MINUTE: i64 = 60_000_000_000;

/// Starts a server on the journal in `dir`; returns its address.
async fn start(dir: &std::path::Path) -> SocketAddr {
    let reader = JournalReader::open(dir).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { serve_reader(reader, Options::default(), listener).await });
    addr
}

/// An HTTP/1.0 GET: (status, body).
async fn get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {target} HTTP/1.0\r\nHost: test\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf))
        .await
        .expect("server silent for 10 s")
        .unwrap();
    let text = String::from_utf8(buf).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rates_per_bucket_with_empty_buckets_and_400s() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), Config::default()).unwrap();
    // 90 events, one every 20 s, from 40 minutes ago: minutes 0..30 of the window.
    let now = system_ns(SystemTime::now());
    let t0 = (now - 40 * MINUTE) / MINUTE * MINUTE;
    for i in 0..90i64 {
        let mut ev = if i % 3 == 0 {
            Event::agent(AgentOp::Decision).agent_id("planner")
        } else {
            Event::filesystem(FsOp::Write).path("/f")
        };
        ev.timestamp = Timestamp {
            ktime_ns: t0 + i * 20_000_000_000,
            ..ev.timestamp
        };
        j.emit(ev).unwrap();
    }
    j.sync().unwrap();
    let addr = start(dir.path()).await;

    // Ten minutes from t0 by 5 minutes: 15 events a bucket, 5 of them agent events.
    let target = format!(
        "/stats/rate?by=category&step=5m&since={t0}&until={}",
        t0 + 10 * MINUTE
    );
    let (status, body) = get(addr, &target).await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["by"], "category");
    assert_eq!(v["step_ns"], 5 * MINUTE);
    assert_eq!(v["since_ns"], t0);
    let buckets = v["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 2);
    for (k, b) in buckets.iter().enumerate() {
        assert_eq!(b["start_ns"], t0 + k as i64 * 5 * MINUTE);
        assert!(b["time"].as_str().unwrap().ends_with('Z'), "{b}");
        assert_eq!(b["counts"]["filesystem"], 10, "{b}");
        assert_eq!(b["counts"]["agent"], 5, "{b}");
    }
    let read = v["blocks_read"].as_u64().unwrap();
    let summarised = v["blocks_summarised"].as_u64().unwrap();
    assert!(read + summarised > 0, "{body}");

    // By agent and type, relative times; empty minutes after the last event are listed.
    let (status, body) = get(addr, "/stats/rate?by=agent&step=1m&since=-45m&until=0m").await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let buckets = v["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 45);
    let sum = |key: &str| -> u64 {
        buckets
            .iter()
            .map(|b| b["counts"][key].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!((sum("planner"), sum("")), (30, 60));
    assert!(buckets[44]["counts"].as_object().unwrap().is_empty());

    // The defaults: the last hour by minute, by category.
    let (status, body) = get(addr, "/stats/rate").await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["by"], "category");
    assert_eq!(v["step_ns"], MINUTE);
    assert_eq!(v["buckets"].as_array().unwrap().len(), 60);
    let total: u64 = v["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["counts"].as_object().unwrap().values())
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(total, 90);

    for (target, name) in [
        ("/stats/rate?by=weight", "by"),
        ("/stats/rate?step=0", "step"),
        ("/stats/rate?step=1s&since=-30d", "step"),
        ("/stats/rate?since=soon", "since"),
        ("/stats/rate?since=-5m&until=-10m", "until"),
        ("/stats/rate?colour=red", "colour"),
    ] {
        let (status, body) = get(addr, target).await;
        assert_eq!(status, 400, "{target}: {body}");
        assert!(body.contains(name), "{target}: {body}");
    }
    j.close().unwrap();
}
