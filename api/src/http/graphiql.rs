//! GraphiQL, served from the binary: the page at `GET /graphql` and its assets (pinned GraphiQL
//! and React builds, see api/assets/graphiql/README.md) under `/graphiql/<digest>/<file>`. No
//! request goes to another host, so it works offline, and the page's Content-Security-Policy
//! allows nothing but this server.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: [Asset; 6] = [
    Asset {
        name: "react.production.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/graphiql/react.production.min.js"),
    },
    Asset {
        name: "react-dom.production.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    },
    Asset {
        name: "graphiql.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/graphiql/graphiql.min.js"),
    },
    Asset {
        name: "graphiql.min.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/graphiql/graphiql.min.css"),
    },
    Asset {
        name: "almanac.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/graphiql/almanac.js"),
    },
    Asset {
        name: "almanac.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/graphiql/almanac.css"),
    },
];

/// Each asset's path holds a digest of its bytes, so it can be cached for good: a new build
/// with other bytes has other paths.
static DIGESTS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            Sha256::digest(a.bytes)
                .iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .collect()
});

/// Relative to the page (`/graphql` → `/graphiql/…`), so a path prefix in front of the server works.
fn href(name: &str) -> String {
    let at = ASSETS
        .iter()
        .position(|a| a.name == name)
        .unwrap_or_default();
    format!("graphiql/{}/{}", DIGESTS[at], ASSETS[at].name)
}

/// Scripts and styles from this server only, no inline script, no other host for anything.
/// Inline styles stay allowed: GraphiQL's dialogs inject `<style>` elements (scroll locking).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn page() -> Response {
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="robots" content="noindex">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Almanac · GraphiQL</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="{css}">
    <link rel="stylesheet" href="{page_css}">
  </head>
  <body>
    <div id="graphiql" data-endpoint="graphql" data-subscription-endpoint="graphql/ws">Loading…</div>
    <script src="{react}"></script>
    <script src="{react_dom}"></script>
    <script src="{graphiql}"></script>
    <script src="{start}"></script>
  </body>
</html>
"#,
        css = href("graphiql.min.css"),
        page_css = href("almanac.css"),
        react = href("react.production.min.js"),
        react_dom = href("react-dom.production.min.js"),
        graphiql = href("graphiql.min.js"),
        start = href("almanac.js"),
    );
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            // The page names the current assets' digests: revalidate it, cache them.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        html,
    )
        .into_response()
}

pub async fn asset(Path((digest, file)): Path<(String, String)>) -> Response {
    let found = ASSETS
        .iter()
        .zip(DIGESTS.iter())
        .find(|(a, d)| a.name == file && **d == digest);
    let Some((asset, _)) = found else {
        return (StatusCode::NOT_FOUND, "no such GraphiQL asset").into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        asset.bytes,
    )
        .into_response()
}
