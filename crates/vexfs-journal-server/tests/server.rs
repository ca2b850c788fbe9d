//! The server over real sockets: NDJSON queries, SSE with cursors as ids, exact
//! resume by `Last-Event-ID`, and 400s that name the bad parameter.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Conn, emit, ndjson_seqs, seqs, start};
use vexfs_journal::{Config, Journal};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_query_returns_the_emitted_events() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), Config::default()).unwrap();
    let all = emit(&j, 0..40);
    let addr = start(dir.path()).await;

    let conn = Conn::get(addr, "/events", &[]).await;
    assert_eq!(conn.status, 200);
    let body = conn.body().await;
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<u64> = lines.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    assert_eq!(got, all);

    let conn = Conn::get(
        addr,
        "/events?type=filesystem.write&path_prefix=/f/2&limit=5",
        &[],
    )
    .await;
    let body = conn.body().await;
    let got = ndjson_seqs(&body);
    let want: Vec<u64> = (0..40)
        .filter(|i| i % 4 == 2)
        .take(5)
        .map(|i| all[i])
        .collect();
    assert_eq!(got, want);

    // One event by sequence, and 404 past the end.
    let conn = Conn::get(addr, &format!("/events/{}", all[7]), &[]).await;
    assert_eq!(conn.status, 200);
    let v: serde_json::Value = serde_json::from_str(&conn.body().await).unwrap();
    assert_eq!(v["seq"].as_u64(), Some(all[7]));
    let past = format!("/events/{}", all[39] + 1);
    assert_eq!(Conn::get(addr, &past, &[]).await.status, 404);
    assert_eq!(Conn::get(addr, "/health", &[]).await.status, 200);
    let conn = Conn::get(addr, "/stats", &[]).await;
    assert_eq!(conn.status, 200);
    let stats: serde_json::Value = serde_json::from_str(&conn.body().await).unwrap();
    assert!(stats.is_object(), "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_resumes_by_last_event_id_without_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), Config::default()).unwrap();
    let mut all = emit(&j, 0..10);
    let addr = start(dir.path()).await;
    let sse = [("Accept", "text/event-stream")];

    let mut conn = Conn::get(addr, "/events?follow=1", &sse).await;
    assert_eq!(conn.status, 200);
    let (first, retry) = conn.sse_events(6).await;
    assert!(retry, "no retry: field");
    assert_eq!(seqs(&first), all[0..6]);
    // Live: events emitted while the stream is open arrive on it.
    all.extend(emit(&j, 10..12));
    let (live, _) = conn.sse_events(6).await;
    assert_eq!(seqs(&live), all[6..12]);
    drop(conn);

    // Disconnected after event 5 was seen (say): more events arrive meanwhile.
    all.extend(emit(&j, 12..30));
    let last_id = first[5].0.clone();
    let mut conn = Conn::get(
        addr,
        "/events?follow=1",
        &[sse[0], ("Last-Event-ID", &last_id)],
    )
    .await;
    assert_eq!(conn.status, 200);
    let (resumed, _) = conn.sse_events(24).await;
    assert_eq!(seqs(&resumed), all[6..30]);
    // Ids are cursors: each resumes after its own event.
    let ids: Vec<&String> = resumed.iter().map(|(id, _)| id).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
    // Nothing more is pending: the next block is a keep-alive comment.
    let block = conn.sse_block().await;
    assert!(block.iter().all(|l| l.starts_with(':')), "{block:?}");

    // A one-shot SSE answer resumes the same way and ends.
    let conn = Conn::get(
        addr,
        "/events",
        &[sse[0], ("Last-Event-ID", &resumed[20].0)],
    )
    .await;
    let body = conn.body().await;
    let tail: Vec<u64> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| {
            serde_json::from_str::<serde_json::Value>(d).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(tail, all[27..30]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_400_naming_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), Config::default()).unwrap();
    emit(&j, 0..3);
    let addr = start(dir.path()).await;
    for (target, headers, name, value) in [
        ("/events?category=nope", vec![], "category", "nope"),
        (
            "/events?type=filesystem.zzz",
            vec![],
            "type",
            "filesystem.zzz",
        ),
        ("/events?limit=-1", vec![], "limit", "-1"),
        ("/events?since=not-a-time", vec![], "since", "not-a-time"),
        ("/events?colour=red", vec![], "colour", "red"),
        ("/events?after=garbage", vec![], "after", "garbage"),
        (
            "/events",
            vec![
                ("Accept", "text/event-stream"),
                ("Last-Event-ID", "garbage"),
            ],
            "Last-Event-ID",
            "garbage",
        ),
        ("/events/abc", vec![], "seq", "abc"),
    ] {
        let conn = Conn::get(addr, target, &headers).await;
        assert_eq!(conn.status, 400, "{target}");
        let body = conn.body().await;
        assert!(
            body.contains(name) && body.contains(value),
            "{target}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_followers_each_receive_every_event_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), Config::default()).unwrap();
    let mut all = emit(&j, 0..5);
    let addr = start(dir.path()).await;
    let mut conns = Vec::new();
    for _ in 0..50 {
        let conn = Conn::get(addr, "/events?follow=1", &[("Accept", "text/event-stream")]).await;
        assert_eq!(conn.status, 200);
        conns.push(conn);
    }
    for round in 0..5 {
        all.extend(emit(&j, 5 + round * 50..5 + (round + 1) * 50));
    }
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| tokio::spawn(async move { seqs(&c.sse_events(255).await.0) }))
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), all);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_resume_survives_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), Config::default()).unwrap();
    let mut all = emit(&j, 0..8);
    let sse = ("Accept", "text/event-stream");
    let first = start(dir.path()).await;
    let mut conn = Conn::get(first, "/events?follow=1", &[sse]).await;
    let (seen, _) = conn.sse_events(3).await;
    drop(conn);

    // Another server process, say, on the same journal; more events meanwhile.
    all.extend(emit(&j, 8..12));
    let second = start(dir.path()).await;
    let mut conn = Conn::get(
        second,
        "/events?follow=1",
        &[sse, ("Last-Event-ID", &seen[2].0)],
    )
    .await;
    assert_eq!(conn.status, 200);
    let (rest, _) = conn.sse_events(9).await;
    assert_eq!(seqs(&rest), all[3..12]);

    // gatewayd's Range header: after the cursor, skip one, send two (as NDJSON).
    let range = format!("entries={}:1:2", seen[0].0);
    let body = Conn::get(second, "/events", &[("Range", &range)])
        .await
        .body()
        .await;
    let got = ndjson_seqs(&body);
    assert_eq!(got, all[2..4]);

    // A cursor of another journal is refused, naming the header.
    let other = tempfile::tempdir().unwrap();
    let oj = Journal::create(other.path(), Config::default()).unwrap();
    emit(&oj, 0..2);
    let third = start(other.path()).await;
    let conn = Conn::get(third, "/events", &[sse, ("Last-Event-ID", &seen[0].0)]).await;
    assert_eq!(conn.status, 400);
    assert!(conn.body().await.contains("Last-Event-ID"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_behind_a_small_live_ring_read_from_disk_and_miss_nothing() {
    use vexfs_journal_server::{Options, Server};
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), Config::default()).unwrap();
    let mut all = emit(&j, 0..5);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = vexfs_journal::JournalReader::open(dir.path()).unwrap();
    // A ring of 8 KiB holds a few dozen events: most followers fall out of it.
    let options = Options {
        live_bytes: 8 << 10,
        poll: std::time::Duration::from_millis(5),
        ..Options::default()
    };
    tokio::spawn(Server::reader(reader).options(options).serve(listener));
    let mut conns = Vec::new();
    for i in 0..10 {
        let target = if i % 2 == 0 {
            "/events?follow=1"
        } else {
            "/events?follow=1&type=filesystem.write"
        };
        let accept = if i % 3 == 0 {
            "application/x-ndjson"
        } else {
            "text/event-stream"
        };
        conns.push((i, Conn::get(addr, target, &[("Accept", accept)]).await));
    }
    for round in 0..20 {
        all.extend(emit(&j, 5 + round * 100..5 + (round + 1) * 100));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let writes: Vec<u64> = all.iter().copied().filter(|s| s % 2 == 1).collect();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|(i, mut c)| {
            tokio::spawn(async move {
                let n = if i % 2 == 0 { 2005 } else { 1003 };
                if i % 3 == 0 {
                    // NDJSON: one object a line.
                    let mut got = Vec::new();
                    while got.len() < n {
                        if let Some(nl) = c.buf.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = c.buf.drain(..=nl).collect();
                            let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
                            got.push(v["seq"].as_u64().unwrap());
                        } else {
                            assert!(c.read_more().await, "stream ended");
                        }
                    }
                    (i, got)
                } else {
                    (i, seqs(&c.sse_events(n).await.0))
                }
            })
        })
        .collect();
    for t in tasks {
        let (i, got) = t.await.unwrap();
        if i % 2 == 0 {
            assert_eq!(got, all, "follower {i}");
        } else {
            // ev(i) writes for even i; sequences start at 1, so writes have odd seqs.
            assert_eq!(got, writes, "follower {i}");
        }
    }
}
