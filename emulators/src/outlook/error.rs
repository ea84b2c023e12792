//! The Graph error envelope:
//! `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.
//!
//! Handlers return a [`GraphError`]; its response carries the error in an extension and the
//! outermost middleware (which knows the request id) writes the final body.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GraphError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub headers: Vec<(&'static str, String)>,
}

impl GraphError {
    pub(crate) fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code: code.into(),
            message: message.into(),
            headers: vec![],
        }
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// Exchange's answer for an id that names nothing (or something in another mailbox).
    pub(crate) fn item_not_found() -> Self {
        Self::new(
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    }

    pub(crate) fn id_malformed() -> Self {
        Self::new(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    }

    pub(crate) fn segment(seg: &str) -> Self {
        Self::new(
            400,
            "BadRequest",
            format!("Resource not found for the segment '{seg}'."),
        )
    }

    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            405,
            "ErrorInvalidRequest",
            "The OData request is not supported.",
        )
    }

    pub(crate) fn unable_to_deserialize() -> Self {
        Self::new(
            400,
            "UnableToDeserializePostBody",
            "were unable to deserialize ",
        )
    }

    pub(crate) fn time_zone(name: &str) -> Self {
        Self::new(
            400,
            "TimeZoneNotSupportedException",
            super::zones::unsupported_message(name),
        )
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, "ErrorInvalidRequest", message)
    }

    /// Semantic checks of a `patternedRecurrence` (the wire code is undocumented \[K\]).
    pub(crate) fn recurrence(message: impl Into<String>) -> Self {
        Self::new(400, "ErrorPropertyValidationFailure", message)
    }

    pub(crate) fn access_denied() -> Self {
        Self::new(
            403,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
    }

    pub(crate) fn unauthenticated(message: &str) -> Self {
        Self::new(401, "InvalidAuthenticationToken", message)
    }

    pub(crate) fn window_required() -> Self {
        Self::new(400, "ErrorInvalidParameter", "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.")
    }

    pub(crate) fn sync_state_not_found() -> Self {
        Self::new(410, "syncStateNotFound", "The sync state could not be found. It may have expired; start a new full synchronization.")
    }

    pub(crate) fn internal() -> Self {
        Self::new(
            500,
            "ErrorInternalServerError",
            "An internal server error occurred. The operation failed.",
        )
    }

    /// The body without `innerError` (the middleware completes it).
    pub(crate) fn body(&self, request_id: &str, client_request_id: &str, date: &str) -> Value {
        json!({"error": {"code": self.code, "message": self.message, "innerError": {"date": date, "request-id": request_id, "client-request-id": client_request_id}}})
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (
            status,
            axum::Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response();
        for (k, v) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                resp.headers_mut().insert(name, value);
            }
        }
        if self.status == 401 {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\""),
            );
        }
        resp.extensions_mut().insert(self);
        resp
    }
}

pub(crate) type GraphResult<T> = Result<T, GraphError>;
