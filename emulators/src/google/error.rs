//! The Calendar API error envelope:
//! `{"error":{"errors":[{"domain","reason","message","locationType","location"}],"code","message"}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub code: u16,
    pub domain: &'static str,
    pub reason: &'static str,
    pub message: String,
    pub location: Option<(&'static str, String)>,
}

impl ApiError {
    pub(crate) fn new(
        code: u16,
        domain: &'static str,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            code,
            domain,
            reason,
            message: message.into(),
            location: None,
        }
    }

    pub(crate) fn at(mut self, location_type: &'static str, location: impl Into<String>) -> Self {
        self.location = Some((location_type, location.into()));
        self
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "global", "badRequest", message)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "global", "invalid", message)
    }

    pub(crate) fn invalid_param(name: &str) -> Self {
        Self::new(
            400,
            "global",
            "invalidParameter",
            format!("Invalid value for: {name}"),
        )
        .at("parameter", name)
    }

    pub(crate) fn required(message: impl Into<String>) -> Self {
        Self::new(400, "global", "required", message)
    }

    /// The exact reason/message pair Google uses for every malformed `recurrence` line.
    pub(crate) fn invalid_recurrence() -> Self {
        Self::invalid("Invalid recurrence rule.")
    }

    pub(crate) fn time_range_empty() -> Self {
        Self::new(
            400,
            "calendar",
            "timeRangeEmpty",
            "The specified time range is empty.",
        )
    }

    pub(crate) fn parse_error() -> Self {
        Self::new(400, "global", "parseError", "Parse Error")
    }

    pub(crate) fn not_found() -> Self {
        Self::new(404, "global", "notFound", "Not Found")
    }

    pub(crate) fn duplicate() -> Self {
        Self::new(
            409,
            "global",
            "duplicate",
            "The requested identifier already exists.",
        )
    }

    pub(crate) fn deleted() -> Self {
        Self::new(410, "global", "deleted", "Resource has been deleted")
    }

    pub(crate) fn full_sync_required() -> Self {
        Self::new(
            410,
            "calendar",
            "fullSyncRequired",
            "Sync token is no longer valid, a full sync is required.",
        )
        .at("parameter", "syncToken")
    }

    pub(crate) fn condition_not_met() -> Self {
        Self::new(412, "global", "conditionNotMet", "Precondition Failed").at("header", "If-Match")
    }

    pub(crate) fn login_required() -> Self {
        Self::new(401, "global", "required", "Login Required.").at("header", "Authorization")
    }

    pub(crate) fn auth_error() -> Self {
        Self::new(401, "global", "authError", "Invalid Credentials").at("header", "Authorization")
    }

    pub(crate) fn insufficient_scopes() -> Self {
        Self::new(
            403,
            "global",
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        )
    }

    pub(crate) fn backend_error() -> Self {
        Self::new(500, "global", "backendError", "Backend Error")
    }

    pub(crate) fn body(&self) -> Value {
        let mut item = Map::new();
        item.insert("domain".into(), json!(self.domain));
        item.insert("reason".into(), json!(self.reason));
        item.insert("message".into(), json!(self.message));
        if let Some((t, l)) = &self.location {
            item.insert("locationType".into(), json!(t));
            item.insert("location".into(), json!(l));
        }
        json!({"error": {"errors": [Value::Object(item)], "code": self.code, "message": self.message}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(self.body())).into_response();
        if self.code == 401 {
            // Google sends a Bearer challenge with 401s; some clients key their refresh on it.
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
                ),
            );
        }
        resp
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;
