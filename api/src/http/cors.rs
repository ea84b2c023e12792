//! Browser access from other origins: CORS for every route (`--cors-origins`), and the same list
//! applied to WebSocket upgrades, which browsers send cross-origin without any CORS check.

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Request headers a browser app may send cross-origin: credentials, JSON bodies, Apollo's CSRF
/// and client-awareness headers, and trace propagation.
const ALLOWED_HEADERS: [&str; 15] = [
    "accept",
    "authorization",
    "content-type",
    "x-api-key",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "x-apollo-operation-id",
    "apollographql-client-name",
    "apollographql-client-version",
    "graphql-client-name",
    "graphql-client-version",
    "x-request-id",
    "traceparent",
    "tracestate",
    "baggage",
];

/// How long a browser may reuse a preflight answer (browsers cap it: Chromium at 2 hours).
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The origins of `--cors-origins`, serialized as browsers send them in `Origin`
/// (`https://app.example.com`, `http://localhost:5173`).
#[derive(Clone, Debug, Default)]
pub struct AllowedOrigins(Arc<[HeaderValue]>);

impl AllowedOrigins {
    /// Each entry must be an origin: `http(s)://host[:port]`, no path, no wildcard (a wildcard
    /// cannot be combined with credentials, and would let any web page call the API).
    pub fn parse(list: &[String]) -> anyhow::Result<Self> {
        let mut origins = Vec::new();
        for raw in list.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let origin = normalize_origin(raw).ok_or_else(|| {
                anyhow::anyhow!("--cors-origins: {raw:?} is not an origin; list each one as scheme://host[:port], e.g. https://app.example.com (no path, no wildcard)")
            })?;
            let value = HeaderValue::from_str(&origin).map_err(|_| {
                anyhow::anyhow!("--cors-origins: {raw:?} is not a valid header value")
            })?;
            if !origins.contains(&value) {
                origins.push(value);
            }
        }
        Ok(AllowedOrigins(origins.into()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        normalize_origin(origin)
            .is_some_and(|o| self.0.iter().any(|a| a.as_bytes() == o.as_bytes()))
    }

    /// The CORS layer, or none when no origin is allowed (then browsers on other origins are
    /// refused by their own same-origin policy, and a preflight gets 405).
    pub fn layer(&self) -> Option<CorsLayer> {
        if self.is_empty() {
            return None;
        }
        Some(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(self.0.iter().cloned()))
                .allow_credentials(true)
                .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
                .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
                .expose_headers([header::RETRY_AFTER])
                .max_age(PREFLIGHT_MAX_AGE),
        )
    }
}

/// Drops the CORS headers tower-http adds to answers for origins that are not allowed (or
/// requests with no origin), so only an allowed origin ever sees an `Access-Control-Allow-*`.
pub async fn only_for_allowed_origins(mut res: Response) -> Response {
    if !res
        .headers()
        .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    {
        for name in [
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            header::ACCESS_CONTROL_ALLOW_METHODS,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            header::ACCESS_CONTROL_MAX_AGE,
        ] {
            res.headers_mut().remove(name);
        }
    }
    res
}

/// `scheme://host[:port]` lowercased, with the scheme's default port dropped (as the `Origin`
/// header is serialized); `None` for anything that is not an http(s) origin.
fn normalize_origin(raw: &str) -> Option<String> {
    let (scheme, rest) = raw.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return None,
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', '*', ' ']) {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    // A port follows the last colon, unless that colon is inside an IPv6 literal.
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (authority.as_str(), None),
    };
    if host.is_empty() || (host.starts_with('[') != host.ends_with(']')) {
        return None;
    }
    match port {
        None => Some(format!("{scheme}://{host}")),
        Some(p) if p.parse::<u16>().is_err() => None,
        Some(p) if p == default_port => Some(format!("{scheme}://{host}")),
        Some(p) => Some(format!("{scheme}://{host}:{p}")),
    }
}

/// Refuses a WebSocket upgrade that a browser sent from a page on another origin, unless that
/// origin is allowed. Browsers apply no CORS to WebSockets, so without this any web page could
/// open `/graphql/ws` on a dev-mode server (which needs no credential) and read its events.
/// Clients outside browsers send no `Origin` and are not affected.
pub async fn guard_websocket_origin(
    State(allowed): State<AllowedOrigins>,
    req: Request,
    next: Next,
) -> Response {
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(origin) = req.headers().get(header::ORIGIN).filter(|_| upgrade) else {
        return next.run(req).await;
    };
    if same_origin(origin, req.headers()) || allowed.allows(origin) {
        return next.run(req).await;
    }
    let body = serde_json::json!({ "errors": [ { "message": format!("WebSocket connections from {} are not allowed; add the origin to --cors-origins (ALMANAC_CORS_ORIGINS)", origin.to_str().unwrap_or("this origin")), "extensions": { "code": "ORIGIN_NOT_ALLOWED" } } ] });
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}

/// Whether `Origin` names the host the request was sent to (GraphiQL served by this server).
/// A browser cannot set `Host` or `X-Forwarded-Host` on a WebSocket handshake, so a proxy's
/// forwarded host is as trustworthy here as `Host`.
fn same_origin(origin: &HeaderValue, headers: &axum::http::HeaderMap) -> bool {
    let Some(origin) = origin.to_str().ok().and_then(normalize_origin) else {
        return false;
    };
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let forwarded = headers
        .get("x-forwarded-host")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next());
    [
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
        forwarded,
    ]
    .into_iter()
    .flatten()
    .any(|host| {
        let host = host.trim();
        normalize_origin(&format!("{scheme}://{host}"))
            .is_some_and(|h| h.split_once("://").is_some_and(|(_, a)| a == authority))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized_as_browsers_send_them() {
        assert_eq!(
            normalize_origin("HTTPS://App.Example.com:443/").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            normalize_origin("http://localhost:5173").as_deref(),
            Some("http://localhost:5173")
        );
        assert_eq!(
            normalize_origin("http://[::1]:8080").as_deref(),
            Some("http://[::1]:8080")
        );
        assert_eq!(
            normalize_origin("http://[::1]").as_deref(),
            Some("http://[::1]")
        );
        for bad in [
            "*",
            "https://*.example.com",
            "app.example.com",
            "ftp://x",
            "https://x/app",
            "https://x:99999",
            "https://u@x",
            "https://",
        ] {
            assert_eq!(normalize_origin(bad), None, "{bad}");
        }
        assert!(AllowedOrigins::parse(&["*".into()]).is_err());
        let list = AllowedOrigins::parse(&[
            " https://a.example ".into(),
            "".into(),
            "https://a.example:443".into(),
        ])
        .expect("valid");
        assert_eq!(list.0.len(), 1);
        assert!(list.allows(&HeaderValue::from_static("https://a.example")));
        assert!(!list.allows(&HeaderValue::from_static("https://a.example.evil")));
    }

    #[test]
    fn same_origin_compares_the_host_the_request_was_sent_to() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(
            &HeaderValue::from_static("http://127.0.0.1:8080"),
            &h
        ));
        assert!(!same_origin(
            &HeaderValue::from_static("http://127.0.0.1:9090"),
            &h
        ));
        assert!(!same_origin(
            &HeaderValue::from_static("https://evil.example"),
            &h
        ));
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("calendar.example.com"),
        );
        assert!(same_origin(
            &HeaderValue::from_static("https://calendar.example.com"),
            &h
        ));
    }
}
