//! The live web view: one page (`GET /`) and its assets (`GET /assets/{name}`),
//! compiled into the binary. The page reads the same API as any client and loads
//! nothing from elsewhere (its Content-Security-Policy tells the browser so too).

use axum::extract::Path as UrlPath;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A file of the page: its name under `/assets/`, media type, bytes and entity tag.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
    hash: u64,
}

const fn asset(name: &'static str, content_type: &'static str, body: &'static str) -> Asset {
    Asset {
        name,
        content_type,
        body,
        hash: fnv1a(body.as_bytes()),
    }
}

/// FNV-1a, at compile time: the entity tag of a file.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The page itself.
const INDEX: Asset = asset(
    "index.html",
    "text/html; charset=utf-8",
    include_str!("../web/index.html"),
);

/// What `/assets/{name}` serves.
const ASSETS: &[Asset] = &[
    asset(
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/app.js"),
    ),
    asset(
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../web/style.css"),
    ),
    asset(
        "favicon.svg",
        "image/svg+xml",
        include_str!("../web/favicon.svg"),
    ),
];

/// Scripts, styles, images and connections from this origin only.
const CSP: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; \
                   frame-ancestors 'none'; form-action 'none'";

/// `GET /`: the page.
pub(crate) async fn index(headers: HeaderMap) -> Response {
    let mut response = answer(&INDEX, &headers);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

/// `GET /assets/{name}`: a file of the page, 404 for any other name.
pub(crate) async fn asset_file(UrlPath(name): UrlPath<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => answer(a, &headers),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no such asset\n",
        )
            .into_response(),
    }
}

/// The file, or 304 when the browser's copy (`If-None-Match`) is this one. Browsers
/// revalidate every time (`no-cache`), so a new binary's files are picked up at once.
fn answer(asset: &Asset, headers: &HeaderMap) -> Response {
    let etag = format!("\"{:016x}\"", asset.hash);
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == etag || t.trim() == "*");
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = asset.body.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        r
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    response
}
