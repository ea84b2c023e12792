//! `GET /ics/{token}.ics`: a calendar's iCalendar feed. The token in the URL is the credential,
//! so no Authorization header is needed (in `--auth required` mode too); an unknown, malformed or
//! revoked token is a bare 404 that says nothing about which.

use super::{request_error, HttpState};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub async fn feed(State(state): State<HttpState>, Path(file): Path<String>) -> Response {
    let Some(token) = file
        .strip_suffix(".ics")
        .filter(|t| crate::services::ics::is_token_shaped(t))
    else {
        return not_found();
    };
    // Limited per feed, like a credential (a guessed token costs no more than any other).
    let who = format!("ics:{}", &crate::services::ics::token_sha256(token)[..16]);
    if let Err(wait) = state.rate_limiter.take(&who, 1) {
        let mut r = request_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            format!("too many requests; retry in {wait} s"),
        );
        if let Ok(v) = wait.to_string().parse() {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    match crate::services::ics::feed_document(&state.app, token).await {
        Ok(Some(body)) => {
            let mut r = body.into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/calendar; charset=utf-8"),
            );
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-cache"),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("inline; filename=\"calendar.ics\""),
            );
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            r
        }
        Ok(None) => not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "could not serve a calendar feed");
            (StatusCode::SERVICE_UNAVAILABLE, "internal error").into_response()
        }
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "not found",
    )
        .into_response()
}
