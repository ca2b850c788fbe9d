//! Load test of `vexjournal serve --ingest` (run by `cargo xtask bench-server`):
//! events POSTed at a fixed rate while SSE followers stream them, then the memory of
//! a server whose one follower reads nothing.
//!
//! `load VEXJOURNAL_BIN [--seconds S] [--rate EV_PER_S] [--followers F] [--batch B]
//! [--idle-seconds I]`. Latency is accepted → delivered: from the time the journal
//! stamped on the event (wall clock, same machine) to the moment a follower parsed it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vexfs_journal_telemetry::AtomicHistogram;

struct Args {
    bin: String,
    seconds: u64,
    rate: u64,
    followers: usize,
    batch: u64,
    idle_seconds: u64,
}

fn args() -> Args {
    let mut a = Args {
        bin: String::new(),
        seconds: 20,
        rate: 100_000,
        followers: 10,
        batch: 500,
        idle_seconds: 60,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut num = || {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .expect("a number")
        };
        match x.as_str() {
            "--seconds" => a.seconds = num(),
            "--rate" => a.rate = num(),
            "--followers" => a.followers = num() as usize,
            "--batch" => a.batch = num(),
            "--idle-seconds" => a.idle_seconds = num(),
            bin if a.bin.is_empty() => a.bin = bin.to_string(),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(!a.bin.is_empty(), "usage: load VEXJOURNAL_BIN [options]");
    a
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// A server on a fresh journal; returns it and its address.
fn start_server(bin: &str, dir: &std::path::Path) -> (Child, SocketAddr) {
    assert!(
        Command::new(bin)
            .arg("--dir")
            .arg(dir)
            .arg("init")
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    let mut child = Command::new(bin)
        .arg("--dir")
        .arg(dir)
        .args(["serve", "--ingest", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .rsplit("http://")
        .next()
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (child, addr)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// POSTs `batch` events per request at `rate` events per second until `stop`.
async fn ingest(
    addr: SocketAddr,
    rate: u64,
    batch: u64,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) {
    let mut body = String::new();
    for i in 0..batch {
        body.push_str(&format!(
            "{{\"type\":\"filesystem.write\",\"path\":\"/load/{}\",\"agent\":\"loader\"}}\n",
            i % 64
        ));
    }
    let request = format!(
        "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let interval = Duration::from_secs_f64(batch as f64 / rate as f64);
    let start = Instant::now();
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.set_nodelay(true).unwrap();
    let mut n = 0u32;
    let mut buf = vec![0u8; 4096];
    while !stop.load(Relaxed) {
        conn.write_all(request.as_bytes()).await.unwrap();
        // The answer is small: read its head and its Content-Length body.
        let mut got = Vec::new();
        loop {
            let k = conn.read(&mut buf).await.unwrap();
            assert!(k > 0, "server closed the ingest connection");
            got.extend_from_slice(&buf[..k]);
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
                assert!(head.starts_with("http/1.1 200"), "{head}");
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if got.len() >= end + 4 + len {
                    break;
                }
            }
        }
        sent.fetch_add(batch, Relaxed);
        n += 1;
        let due = start + interval * n;
        let now = Instant::now();
        if due > now {
            tokio::time::sleep(due - now).await;
        }
    }
}

/// Reads an SSE stream; counts events and records accepted → delivered latency.
async fn follow(
    addr: SocketAddr,
    got: Arc<AtomicU64>,
    latency: Arc<AtomicHistogram>,
    stop: Arc<AtomicBool>,
) {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /events?follow=1&tail=0 HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut pending: Vec<u8> = Vec::new();
    while !stop.load(Relaxed) {
        let k = match tokio::time::timeout(Duration::from_millis(200), conn.read(&mut buf)).await {
            Ok(Ok(0)) => return,
            Ok(Ok(k)) => k,
            Ok(Err(e)) => panic!("follower: {e}"),
            Err(_) => continue,
        };
        pending.extend_from_slice(&buf[..k]);
        let now = now_ns();
        let mut start = 0;
        while let Some(nl) = pending[start..].iter().position(|b| *b == b'\n') {
            let line = &pending[start..start + nl];
            start += nl + 1;
            let Some(data) = line.strip_prefix(b"data: ") else {
                continue;
            };
            // The time field only: "time":"…"
            let text = std::str::from_utf8(data).unwrap();
            let t = text
                .split("\"time\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap();
            let ns = vexfs_journal::json::parse_time("time", &serde_json::Value::from(t)).unwrap();
            latency.record(u64::try_from(now - ns).unwrap_or(0));
            got.fetch_add(1, Relaxed);
        }
        pending.drain(..start);
    }
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();

    // 1. Throughput and latency with followers.
    let (mut server, addr) = start_server(&a.bin, &tmp.path().join("load"));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let latency = Arc::new(AtomicHistogram::default());
    let counts: Vec<Arc<AtomicU64>> = (0..a.followers).map(|_| Arc::default()).collect();
    let followers: Vec<_> = counts
        .iter()
        .map(|c| rt.spawn(follow(addr, c.clone(), latency.clone(), stop.clone())))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let ingest_stop = Arc::new(AtomicBool::new(false));
    let writers = 2u64;
    let ingesters: Vec<_> = (0..writers)
        .map(|_| {
            rt.spawn(ingest(
                addr,
                a.rate / writers,
                a.batch,
                ingest_stop.clone(),
                sent.clone(),
            ))
        })
        .collect();
    let began = Instant::now();
    std::thread::sleep(Duration::from_secs(a.seconds));
    ingest_stop.store(true, Relaxed);
    for i in ingesters {
        rt.block_on(i).unwrap();
    }
    let elapsed = began.elapsed().as_secs_f64();
    let total = sent.load(Relaxed);
    // Give followers 5 s to drain what was accepted.
    let drain = Instant::now();
    while counts.iter().any(|c| c.load(Relaxed) < total) && drain.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let behind: Vec<u64> = counts
        .iter()
        .map(|c| total - c.load(Relaxed).min(total))
        .collect();
    stop.store(true, Relaxed);
    for f in followers {
        let _ = rt.block_on(f);
    }
    let rss_load = rss_kib(server.id());
    let _ = Command::new("kill").arg(server.id().to_string()).status();
    let _ = server.wait();
    println!(
        "ingest: {total} events in {elapsed:.1} s = {:.0} events/s accepted (target {})",
        total as f64 / elapsed,
        a.rate
    );
    for (i, c) in counts.iter().enumerate() {
        println!(
            "follower {i}: {} events, {:.0} events/s, {} behind at the end",
            c.load(Relaxed),
            c.load(Relaxed) as f64 / elapsed,
            behind[i]
        );
    }
    let s = latency.summary();
    println!(
        "accepted→delivered latency over {} deliveries: p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms",
        latency.count(),
        ms(latency.quantile(0.5)),
        ms(latency.quantile(0.99)),
        ms(latency.quantile(0.999)),
        ms(s.max_ns)
    );
    println!("server RSS after the load: {} MiB", rss_load / 1024);

    // 2. One follower that reads nothing while events keep coming.
    if a.idle_seconds == 0 {
        return;
    }
    let (mut server, addr) = start_server(&a.bin, &tmp.path().join("idle"));
    let idle = rt.block_on(async {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /events?follow=1&tail=0 HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n")
            .await
            .unwrap();
        c
    });
    let sent = Arc::new(AtomicU64::new(0));
    let ingest_stop = Arc::new(AtomicBool::new(false));
    let rate = (a.rate / 10).max(1_000);
    let warm = rt.spawn(ingest(
        addr,
        rate,
        a.batch,
        ingest_stop.clone(),
        sent.clone(),
    ));
    std::thread::sleep(Duration::from_secs(5));
    let before = rss_kib(server.id());
    std::thread::sleep(Duration::from_secs(a.idle_seconds));
    let after = rss_kib(server.id());
    ingest_stop.store(true, Relaxed);
    rt.block_on(warm).unwrap();
    drop(idle);
    let _ = Command::new("kill").arg(server.id().to_string()).status();
    let _ = server.wait();
    println!(
        "idle follower: {} events written at {rate}/s over {} s; server RSS {} → {} MiB ({:+.1} MiB)",
        sent.load(Relaxed),
        a.idle_seconds + 5,
        before / 1024,
        after / 1024,
        (after as f64 - before as f64) / 1024.0
    );
}
