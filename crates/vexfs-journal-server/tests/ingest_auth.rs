//! `POST /events` on a writing server, and principals: tokens, masks, rights.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Conn, ev};
use tokio::net::TcpListener;
use vexfs_journal::{Config, Journal, JournalReader};
use vexfs_journal_server::{Options, Principals, Server};

const OPS: &str = "0123456789abcdef-ops";
const AGENT1: &str = "0123456789abcdef-agent1";
const AGENT2: &str = "0123456789abcdef-agent2";

fn principals() -> Principals {
    Principals::parse(
        &format!("ops {OPS} all write\nagent1 {AGENT1} 0x1\nagent2 {AGENT2} 0x2 write\n"),
        "test tokens",
    )
    .unwrap()
}

fn quick() -> Options {
    Options {
        keep_alive: Duration::from_millis(200),
        ..Options::default()
    }
}

async fn start_writer(journal: Journal, principals: Option<Principals>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut server = Server::writer(journal).options(quick());
    if let Some(p) = principals {
        server = server.principals(p);
    }
    tokio::spawn(server.serve(listener));
    addr
}

/// A line a client sends: what `vexjournal emit` reads.
fn line(i: u64, mask: u64) -> String {
    serde_json::json!({
        "type": "filesystem.create",
        "path": format!("/p/{i}"),
        "visibility": mask,
    })
    .to_string()
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_appends_one_atomic_batch_and_durable_waits_for_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), Config::default()).unwrap();
    let addr = start_writer(j.clone(), None).await;
    let first = j.next_seq();

    let body = format!("{}\n\n{}\n{}\n", line(0, 1), line(1, 1), line(2, 1));
    let conn = Conn::request(addr, "POST", "/events?durable=1", &[], body.as_bytes()).await;
    assert_eq!(conn.status, 200);
    let v = json(&conn.body().await);
    assert_eq!(
        (
            v["first_seq"].as_u64(),
            v["last_seq"].as_u64(),
            v["count"].as_u64()
        ),
        (Some(first), Some(first + 2), Some(3)),
        "{v}"
    );
    assert!(j.durable_seq() >= first + 3, "answered before fsync");
    // What was posted reads back, from the server and from another process's view.
    let conn = Conn::get(addr, &format!("/events/{}", first + 1), &[]).await;
    assert_eq!(json(&conn.body().await)["path"], "/p/1");
    let reader = JournalReader::open(dir.path()).unwrap();
    assert_eq!(reader.followable_end(), first + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_posts_get_4xx_naming_the_line_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), Config::default()).unwrap();
    j.emit(ev(0)).unwrap();
    j.sync().unwrap();
    let before = j.next_seq();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let small = Options {
        max_body: 4096,
        ..quick()
    };
    tokio::spawn(Server::writer(j.clone()).options(small).serve(listener));

    let good = line(0, 1);
    let cases: Vec<(Vec<u8>, &str, u16, &str)> = vec![
        (
            format!("{good}\n{good}\n{{\"type\": \"filesystem.nope\"}}\n").into_bytes(),
            "",
            400,
            "line 3 of the body",
        ),
        (
            format!("{good}\nnot json\n").into_bytes(),
            "",
            400,
            "line 2 of the body",
        ),
        (
            [good.as_bytes(), b"\n\xff\xfe\n"].concat(),
            "",
            400,
            "line 2 of the body: not UTF-8",
        ),
        (b"\n\n".to_vec(), "", 400, "no event"),
        (
            format!("{good}\n").repeat(100).into_bytes(),
            "",
            413,
            "larger than 4096 bytes",
        ),
        (good.clone().into_bytes(), "?durable=maybe", 400, "durable"),
        (
            good.clone().into_bytes(),
            "?sync=1",
            400,
            "unknown parameter",
        ),
    ];
    for (body, query, status, needle) in cases {
        let conn = Conn::request(addr, "POST", &format!("/events{query}"), &[], &body).await;
        assert_eq!(conn.status, status, "{needle}");
        let text = conn.body().await;
        assert!(text.contains(needle), "{needle}: {text}");
        assert!(
            text.contains("nothing was written") || status == 400,
            "{text}"
        );
    }
    assert_eq!(j.next_seq(), before, "a refused body wrote something");

    // A read-only server refuses POST with 405 and says how to accept events.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ro = listener.local_addr().unwrap();
    let reader = JournalReader::open(dir.path()).unwrap();
    tokio::spawn(Server::reader(reader).serve(listener));
    let conn = Conn::request(ro, "POST", "/events", &[], good.as_bytes()).await;
    assert_eq!(conn.status, 405);
    assert!(conn.body().await.contains("--ingest"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_required_and_masks_hide_events_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), Config::default()).unwrap();
    // Masks 1, 2, 3 in turn: agent1 sees 1 and 3, agent2 sees 2 and 3.
    let mut by_mask = Vec::new();
    for i in 0..30u64 {
        let mask = i % 3 + 1;
        let seq = j.emit(ev(i).visibility(mask)).unwrap();
        by_mask.push((seq, mask));
    }
    j.sync().unwrap();
    let addr = start_writer(j.clone(), Some(principals())).await;

    // No token, an unknown one, a malformed header: 401 with a Bearer challenge.
    for headers in [
        vec![],
        vec![(
            "Authorization",
            "Bearer 0123456789abcdef-nobody".to_string(),
        )],
        vec![("Authorization", format!("Basic {OPS}"))],
    ] {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for target in ["/events", "/events/0", "/health", "/stats"] {
            let conn = Conn::get(addr, target, &h).await;
            assert_eq!(conn.status, 401, "{target} {headers:?}");
            assert!(conn.body().await.contains("unauthorized"));
        }
    }

    let visible = |mask: u64| -> Vec<u64> {
        by_mask
            .iter()
            .filter(|(_, m)| m & mask != 0)
            .map(|(s, _)| *s)
            .collect()
    };
    for (token, mask) in [(AGENT1, 1u64), (AGENT2, 2), (OPS, u64::MAX)] {
        let auth = bearer(token);
        let h = [("Authorization", auth.as_str())];
        // Query.
        let body = Conn::get(addr, "/events", &h).await.body().await;
        let got: Vec<u64> = body
            .lines()
            .map(|l| json(l)["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(got, visible(mask), "query of {token}");
        // Stream (SSE, following): the visible events, then nothing else.
        let mut conn = Conn::get(
            addr,
            "/events?follow=1",
            &[
                ("Authorization", auth.as_str()),
                ("Accept", "text/event-stream"),
            ],
        )
        .await;
        let (events, _) = conn.sse_events(visible(mask).len()).await;
        assert_eq!(common::seqs(&events), visible(mask), "stream of {token}");
        // Single events: the hidden ones are not found.
        for (seq, m) in &by_mask {
            let status = Conn::get(addr, &format!("/events/{seq}"), &h).await.status;
            let want = if m & mask != 0 { 200 } else { 404 };
            assert_eq!(status, want, "event {seq} (mask {m}) for {token}");
        }
    }

    // Rights: agent1 may not append; agent2 may; nothing from the refused one lands.
    let before = j.next_seq();
    let auth1 = bearer(AGENT1);
    let conn = Conn::request(
        addr,
        "POST",
        "/events",
        &[("Authorization", auth1.as_str())],
        line(0, 1).as_bytes(),
    )
    .await;
    assert_eq!(conn.status, 403);
    assert!(
        conn.body()
            .await
            .contains("principal agent1 may read but not append")
    );
    assert_eq!(j.next_seq(), before);
    let auth2 = bearer(AGENT2);
    let conn = Conn::request(
        addr,
        "POST",
        "/events",
        &[("Authorization", auth2.as_str())],
        line(0, 2).as_bytes(),
    )
    .await;
    assert_eq!(conn.status, 200);
    assert_eq!(j.next_seq(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn causality_answers_the_chain_and_hides_what_a_mask_hides() {
    use vexfs_journal::{AgentOp, Event};
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), Config::default()).unwrap();
    // root → a → b (parents); c is caused by b through a link c carries; a is hidden
    // from agent1.
    let root = j
        .emit(Event::agent(AgentOp::Decision).visibility(0b11))
        .unwrap();
    let mut a = Event::agent(AgentOp::Decision).visibility(0b10);
    a.parent_event_id = root;
    let a = j.emit(a).unwrap();
    let mut b = Event::agent(AgentOp::Decision).visibility(0b11);
    b.parent_event_id = a;
    b.root_cause_event_id = root;
    let b = j.emit(b).unwrap();
    let mut c = Event::agent(AgentOp::Decision).visibility(0b11);
    c.links.push(vexfs_journal::CausalityLink {
        cause_event_id: b,
        causality_type: 3,
        strength: 80,
        ..Default::default()
    });
    let c = j.emit(c).unwrap();
    j.sync().unwrap();
    let addr = start_writer(j.clone(), Some(principals())).await;

    let ops = bearer(OPS);
    let conn = Conn::get(
        addr,
        &format!("/events/{b}/causality"),
        &[("Authorization", ops.as_str())],
    )
    .await;
    assert_eq!(conn.status, 200);
    let v = json(&conn.body().await);
    let nodes: Vec<u64> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(nodes, vec![root, a, b, c], "{v}");
    assert_eq!(v["ancestors"], serde_json::json!([a, root]));
    assert_eq!(v["descendants"], serde_json::json!([c]));
    let edges: Vec<(u64, u64, String)> = v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["cause"].as_u64().unwrap(),
                e["effect"].as_u64().unwrap(),
                e["via"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(edges.contains(&(a, b, "parent".into())), "{edges:?}");
    assert!(edges.contains(&(root, a, "parent".into())), "{edges:?}");
    assert!(edges.contains(&(b, c, "link".into())), "{edges:?}");
    assert_eq!(v["nodes"][0]["category"], "agent");

    // agent1 (mask 1) never sees a: the chain stops there and the root joins through
    // the root-cause b names.
    let a1 = bearer(AGENT1);
    let conn = Conn::get(
        addr,
        &format!("/events/{b}/causality"),
        &[("Authorization", a1.as_str())],
    )
    .await;
    let text = conn.body().await;
    let v = json(&text);
    assert!(
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["seq"].as_u64() != Some(a)),
        "{text}"
    );
    assert!(text.contains("root_cause"), "{text}");
    let status = Conn::get(
        addr,
        &format!("/events/{a}/causality"),
        &[("Authorization", a1.as_str())],
    )
    .await
    .status;
    assert_eq!(status, 404);
    // Bad parameters name themselves.
    for (q, needle) in [
        ("max=0", "max"),
        ("descendants=2", "descendants"),
        ("x=1", "unknown"),
    ] {
        let conn = Conn::get(
            addr,
            &format!("/events/{b}/causality?{q}"),
            &[("Authorization", ops.as_str())],
        )
        .await;
        assert_eq!(conn.status, 400);
        assert!(conn.body().await.contains(needle));
    }
}
