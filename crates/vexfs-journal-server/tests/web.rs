//! The live web view's files: served with their media types, revalidated by entity
//! tag, 404 for unknown names, and the page refers to nothing outside the server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vexfs_journal::{Config, Journal, JournalReader};
use vexfs_journal_server::{Principals, Server};

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP/1.0 GET: the server closes the connection after the body.
async fn get(addr: SocketAddr, target: &str, extra: &[(&str, &str)]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("GET {target} HTTP/1.0\r\nHost: test\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A server on an empty journal, requiring the tokens of `principals` if given.
async fn start(principals: Option<&str>) -> (tempfile::TempDir, SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    Journal::create(dir.path(), Config::default())
        .unwrap()
        .close()
        .unwrap();
    let reader = JournalReader::open(dir.path()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut server = Server::reader(reader);
    if let Some(text) = principals {
        server = server.principals(Principals::parse(text, "test").unwrap());
    }
    tokio::spawn(async move { server.serve(listener).await });
    (dir, addr)
}

/// The values of `attr="…"` in `html`.
fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!("{attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_and_its_assets_are_served_from_the_binary() {
    let (_dir, addr) = start(None).await;

    let page = get(addr, "/", &[]).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'self'")
    );
    assert!(page.body.contains("<script src=\"/assets/app.js\""));

    // Nothing from elsewhere: no absolute URL at all, every reference under /assets/.
    assert!(!page.body.contains("http://"), "{}", page.body);
    assert!(!page.body.contains("https://"), "{}", page.body);
    assert!(!page.body.contains("//cdn"), "{}", page.body);
    let refs: Vec<&str> = attribute_values(&page.body, "src")
        .into_iter()
        .chain(attribute_values(&page.body, "href"))
        .collect();
    assert!(refs.len() >= 3, "{refs:?}");
    for r in &refs {
        assert!(r.starts_with("/assets/"), "{r} is not a local asset");
        let asset = get(addr, r, &[]).await;
        assert_eq!(asset.status, 200, "{r}");
    }

    for (name, kind) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let a = get(addr, &format!("/assets/{name}"), &[]).await;
        assert_eq!(a.status, 200, "{name}");
        assert_eq!(a.header("content-type"), Some(kind), "{name}");
        assert_eq!(a.header("cache-control"), Some("no-cache"), "{name}");
        assert_eq!(
            a.header("x-content-type-options"),
            Some("nosniff"),
            "{name}"
        );
        assert!(!a.body.is_empty(), "{name}");
    }
    let js = get(addr, "/assets/app.js", &[]).await;
    assert!(js.body.contains("Last-Event-ID"));
    assert!(!js.body.contains("https://"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_assets_are_404_and_known_ones_revalidate() {
    let (_dir, addr) = start(None).await;
    for target in ["/assets/nope.js", "/assets/..%2Fsrc%2Flib.rs", "/assets/"] {
        let a = get(addr, target, &[]).await;
        assert_eq!(a.status, 404, "{target}");
    }
    let first = get(addr, "/assets/style.css", &[]).await;
    let etag = first.header("etag").unwrap().to_owned();
    let again = get(addr, "/assets/style.css", &[("If-None-Match", &etag)]).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let other = get(addr, "/assets/style.css", &[("If-None-Match", "\"0\"")]).await;
    assert_eq!(other.status, 200);
    assert_eq!(other.body, first.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_loads_without_a_token_the_api_does_not() {
    let token = "0123456789abcdef0123";
    let (_dir, addr) = start(Some(&format!("viewer {token} all\n"))).await;
    for target in ["/", "/assets/app.js", "/assets/style.css"] {
        assert_eq!(get(addr, target, &[]).await.status, 200, "{target}");
    }
    // What the page then asks for needs the token it prompts for.
    assert_eq!(get(addr, "/health", &[]).await.status, 401);
    let bearer = format!("Bearer {token}");
    let health = get(addr, "/health", &[("Authorization", &bearer)]).await;
    assert_eq!(health.status, 200);
}
