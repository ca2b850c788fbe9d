//! `GET /metrics`: the exposition follows Prometheus' rules, and the values follow what
//! the server did.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::{Conn, emit, start};
use tokio::net::TcpListener;
use vexfs_journal::{Config, Journal};
use vexfs_journal_server::{Options, Principals, Server};

const OPS: &str = "0123456789abcdef-ops";

/// The route templates a `route` label may hold.
const ROUTES: [&str; 6] = [
    "/health",
    "/stats",
    "/events",
    "/events/{seq}",
    "/events/{seq}/causality",
    "/metrics",
];

/// Families only a writing server has.
const WRITER_ONLY: [&str; 6] = [
    "vexfs_journal_events_emitted_total",
    "vexfs_journal_events_persisted_total",
    "vexfs_journal_emit_latency_seconds",
    "vexfs_journal_sync_latency_seconds",
    "vexfs_journal_batch_events",
    "vexfs_journal_checkpoints_total",
];

/// One sample: its name, labels and value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed exposition: families by name (type, help) and their samples.
#[derive(Debug, Default)]
struct Exposition {
    types: BTreeMap<String, String>,
    helps: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    /// The value of the sample `name` with `labels` (every one of them).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }

    fn get(&self, name: &str) -> f64 {
        self.value(name, &[])
            .unwrap_or_else(|| panic!("no sample {name}"))
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `name{a="x",b="y"} value` (no escapes in this server's label values).
fn parse_sample(line: &str) -> Sample {
    let (head, value) = line.rsplit_once(' ').unwrap();
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap_or_else(|e| panic!("{e}: {line}")),
    };
    let (name, labels) = match head.split_once('{') {
        None => (head.to_owned(), BTreeMap::new()),
        Some((name, rest)) => {
            let body = rest.strip_suffix('}').unwrap();
            let labels = body
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap();
                    assert!(valid_name(k), "label name {k}");
                    let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
                    (k.to_owned(), v.unwrap().to_owned())
                })
                .collect();
            (name.to_owned(), labels)
        }
    };
    Sample {
        name,
        labels,
        value,
    }
}

/// Parses `text` and checks what `promtool check metrics` checks: HELP and TYPE for
/// every family, valid names, counters named `_total`, cumulative histograms ending
/// at `+Inf` equal to `_count`, a `_sum`; and this server's rule of low-cardinality
/// labels (no journal path, no token).
fn check(text: &str) -> Exposition {
    let mut x = Exposition::default();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap();
            assert!(!help.trim().is_empty(), "empty help of {name}");
            assert!(
                x.helps.insert(name.into(), help.into()).is_none(),
                "two HELP for {name}"
            );
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "{name}: {kind}"
            );
            assert!(
                x.types.insert(name.into(), kind.into()).is_none(),
                "two TYPE for {name}"
            );
        } else {
            assert!(!line.starts_with('#'), "unexpected comment {line}");
            x.samples.push(parse_sample(line));
        }
    }
    for (name, kind) in &x.types {
        assert!(valid_name(name), "bad name {name}");
        assert!(name.starts_with("vexfs_journal_"), "{name}");
        assert!(x.helps.contains_key(name), "no HELP for {name}");
        assert_eq!(
            kind == "counter",
            name.ends_with("_total"),
            "{name} is a {kind}: counters and only counters end in _total"
        );
    }
    assert_eq!(
        x.helps.keys().collect::<Vec<_>>(),
        x.types.keys().collect::<Vec<_>>()
    );
    for s in &x.samples {
        assert!(valid_name(&s.name), "bad sample name {}", s.name);
        let family = if x.types.contains_key(&s.name) {
            s.name.clone()
        } else {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| s.name.strip_suffix(suffix))
                .unwrap_or_else(|| panic!("sample {} of no family", s.name));
            assert_eq!(
                x.types.get(base).map(String::as_str),
                Some("histogram"),
                "{}",
                s.name
            );
            base.to_owned()
        };
        if x.types[&family] == "counter" {
            assert!(s.value >= 0.0, "{} < 0", s.name);
        }
        for (k, v) in &s.labels {
            assert!(!v.contains(OPS), "a token in {k}={v}");
            match k.as_str() {
                "route" => assert!(ROUTES.contains(&v.as_str()), "route {v}"),
                "le" => {}
                "code" => assert!(v.parse::<u16>().is_ok(), "code {v}"),
                other => panic!("unexpected label {other}={v}"),
            }
        }
    }
    // Histograms: cumulative buckets ending at +Inf == _count, and a _sum.
    for (name, _) in x.types.iter().filter(|(_, k)| *k == "histogram") {
        let bucket = format!("{name}_bucket");
        let buckets: Vec<&Sample> = x.samples.iter().filter(|s| s.name == bucket).collect();
        assert!(!buckets.is_empty(), "{name} has no buckets");
        let mut last = (f64::NEG_INFINITY, 0.0);
        for b in &buckets {
            let le = b
                .labels
                .get("le")
                .unwrap_or_else(|| panic!("{name}: no le"));
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            assert!(le > last.0, "{name}: bounds not increasing at {le}");
            assert!(b.value >= last.1, "{name}: buckets not cumulative at {le}");
            last = (le, b.value);
        }
        assert_eq!(last.0, f64::INFINITY, "{name}: last bucket is not +Inf");
        assert_eq!(
            last.1,
            x.get(&format!("{name}_count")),
            "{name}: +Inf vs count"
        );
        assert!(
            x.value(&format!("{name}_sum"), &[]).is_some(),
            "{name}: no sum"
        );
    }
    x
}

async fn scrape_text(addr: SocketAddr, token: Option<&str>) -> String {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    let conn = Conn::get(addr, "/metrics", &headers).await;
    assert_eq!(conn.status, 200);
    conn.body().await
}

async fn scrape(addr: SocketAddr, token: Option<&str>) -> Exposition {
    check(&scrape_text(addr, token).await)
}

/// Runs `promtool check metrics` on `text` when promtool is installed (it is not a
/// requirement of the tests): it must exit 0 and print no lint problem.
fn promtool(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("promtool not installed: skipped");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}"
    );
}

fn line(i: u64) -> String {
    serde_json::json!({ "type": "filesystem.create", "path": format!("/p/{i}") }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_server_exposes_journal_and_server_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), Config::default()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let principals = Principals::parse(&format!("ops {OPS} all write\n"), "test tokens").unwrap();
    let server = Server::writer(j.clone())
        .options(Options {
            keep_alive: Duration::from_millis(100),
            ..Options::default()
        })
        .principals(principals);
    tokio::spawn(server.serve(listener));
    let auth = format!("Bearer {OPS}");
    let auth = [("Authorization", auth.as_str())];

    // The metrics are behind the same authentication as the rest.
    assert_eq!(Conn::get(addr, "/metrics", &[]).await.status, 401);

    let body: String = (0..5).map(|i| line(i) + "\n").collect();
    let post = Conn::request(addr, "POST", "/events?durable=1", &auth, body.as_bytes()).await;
    assert_eq!(post.status, 200);
    post.body().await;
    j.create_checkpoint().unwrap();

    let mut follow = Conn::get(
        addr,
        "/events?follow=1",
        &[auth[0], ("Accept", "text/event-stream")],
    )
    .await;
    assert_eq!(follow.status, 200);
    let (streamed, _) = follow.sse_events(5).await;
    assert_eq!(streamed.len(), 5);

    let text = scrape_text(addr, Some(OPS)).await;
    promtool(&text);
    let x = check(&text);
    assert!(x.get("vexfs_journal_events_emitted_total") >= 5.0);
    assert!(x.get("vexfs_journal_events_persisted_total") >= 5.0);
    assert_eq!(x.get("vexfs_journal_events_ingested_total"), 5.0);
    assert!(x.get("vexfs_journal_events_delivered_total") >= 5.0);
    assert_eq!(x.get("vexfs_journal_sse_streams"), 1.0);
    assert_eq!(x.get("vexfs_journal_auth_failures_total"), 1.0);
    assert_eq!(x.get("vexfs_journal_checkpoints_total"), 1.0);
    assert_eq!(x.get("vexfs_journal_checkpoint_failures_total"), 0.0);
    assert_eq!(x.get("vexfs_journal_visible_end"), j.next_seq() as f64);
    assert!(x.get("vexfs_journal_segments") >= 1.0);
    assert!(x.get("vexfs_journal_disk_bytes") > 0.0);
    assert!(x.get("vexfs_journal_written_bytes_total") > 0.0);
    assert!(x.get("vexfs_journal_record_bytes_total") > 0.0);
    assert!(x.get("vexfs_journal_compression_ratio") > 0.0);
    // The durable POST waited for an fsync, which was timed.
    assert!(x.get("vexfs_journal_fsyncs_total") >= 1.0);
    assert!(x.get("vexfs_journal_sync_latency_seconds_count") >= 1.0);
    assert!(x.get("vexfs_journal_sync_latency_seconds_sum") > 0.0);
    // The five events went in one atomic batch: at least one group commit of them.
    let batches = x.get("vexfs_journal_batch_events_count");
    assert!(batches >= 1.0);
    assert_eq!(x.get("vexfs_journal_batch_events_sum"), 5.0);
    assert_eq!(
        x.value("vexfs_journal_batch_events_bucket", &[("le", "4")]),
        Some(0.0)
    );
    assert_eq!(
        x.value("vexfs_journal_batch_events_bucket", &[("le", "8")]),
        Some(batches)
    );
    assert_eq!(
        x.value(
            "vexfs_journal_http_requests_total",
            &[("route", "/metrics"), ("code", "401")]
        ),
        Some(1.0)
    );
    assert_eq!(
        x.value(
            "vexfs_journal_http_requests_total",
            &[("route", "/events"), ("code", "200")]
        ),
        Some(2.0)
    );
    for name in WRITER_ONLY {
        assert!(x.types.contains_key(name), "{name} missing");
    }

    // The stream closes: the gauge goes back to zero once the server notices.
    drop(follow);
    let mut open = 1.0;
    for _ in 0..100 {
        open = scrape(addr, Some(OPS))
            .await
            .get("vexfs_journal_sse_streams");
        if open == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(open, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_server_has_no_writer_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), Config::default()).unwrap();
    emit(&j, 0..3);
    let addr = start(dir.path()).await;

    let one_shot = Conn::get(addr, "/events", &[]).await;
    assert_eq!(one_shot.status, 200);
    let delivered = one_shot.body().await.lines().count();
    assert!(delivered >= 3);
    assert_eq!(Conn::get(addr, "/events/99", &[]).await.status, 404);

    let text = scrape_text(addr, None).await;
    promtool(&text);
    let x = check(&text);
    for name in WRITER_ONLY {
        assert!(!x.types.contains_key(name), "{name} on a read-only server");
    }
    // All of the journal is durable.
    assert_eq!(x.get("vexfs_journal_visible_end"), j.next_seq() as f64);
    assert!(x.get("vexfs_journal_segments") >= 1.0);
    assert_eq!(x.get("vexfs_journal_stored_events"), 3.0);
    assert_eq!(
        x.get("vexfs_journal_events_delivered_total"),
        delivered as f64
    );
    assert_eq!(x.get("vexfs_journal_events_ingested_total"), 0.0);
    assert_eq!(x.get("vexfs_journal_sse_streams"), 0.0);
    assert_eq!(x.get("vexfs_journal_auth_failures_total"), 0.0);
    assert_eq!(
        x.value(
            "vexfs_journal_http_requests_total",
            &[("route", "/events/{seq}"), ("code", "404")]
        ),
        Some(1.0)
    );
    assert_eq!(
        x.value(
            "vexfs_journal_http_requests_total",
            &[("route", "/events"), ("code", "200")]
        ),
        Some(1.0)
    );
}
