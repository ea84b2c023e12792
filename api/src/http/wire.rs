//! GraphQL over HTTP as the spec (graphql.github.io/graphql-over-http) says: which media type
//! answers, which request bodies are accepted, what status a response gets.
//!
//! - The answer is `application/graphql-response+json` when the client prefers it, otherwise
//!   `application/json` (also for `*/*` or no `Accept`); neither acceptable: 406.
//! - A POST must be `application/json`. Anything else is 415, before the body is parsed; a missing
//!   type or one a web page may send cross-site without a CORS preflight (`text/plain`, the two
//!   form encodings) is `CSRF_PREVENTED`, so a page on another site can never run an operation.
//! - Parameters are checked as the spec types them (`query` a string, `variables` and
//!   `extensions` maps, `operationName` a string): otherwise 400.
//! - A request error (nothing executed: parse, validation, variable coercion, an unknown
//!   persisted query) has no `data` key; under `application/graphql-response+json` it is 4xx,
//!   under `application/json` 200 as legacy clients expect.

use super::apq::{PersistedQueries, PersistedQueryError};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The media type of a GraphQL answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMedia {
    /// `application/json`: 200 for every well-formed request, errors in the body.
    Json,
    /// `application/graphql-response+json`: the status says whether anything executed.
    GraphqlResponseJson,
}

impl ResponseMedia {
    /// From `Accept`; `Err` is the 406 answer.
    pub fn negotiate(headers: &HeaderMap) -> Result<Self, Refused> {
        let accept: Vec<&str> = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let accept = accept.join(",");
        if accept.trim().is_empty() {
            return Ok(ResponseMedia::Json);
        }
        // (q, specificity) of each type: an exact match outranks `application/*`, which outranks `*/*`.
        let mut best = [(0.0f32, 0u8); 2];
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, v)| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0)
                .clamp(0.0, 1.0);
            for (i, candidate) in [JSON, GRAPHQL_RESPONSE_JSON].iter().enumerate() {
                let specificity = if media == *candidate {
                    3
                } else if media == "application/*" {
                    2
                } else if media == "*/*" {
                    1
                } else {
                    continue;
                };
                // The most specific range that matches decides the type's quality (RFC 9110 §12.5.1).
                if specificity > best[i].1 {
                    best[i] = (q, specificity);
                }
            }
        }
        let [(json_q, json_s), (gr_q, gr_s)] = best;
        if json_q <= 0.0 && gr_q <= 0.0 {
            let message = format!("none of the accepted media types ({accept}) can carry a GraphQL response; accept {GRAPHQL_RESPONSE_JSON} or {JSON}");
            return Err(Refused {
                status: StatusCode::NOT_ACCEPTABLE,
                media: ResponseMedia::Json,
                code: "NOT_ACCEPTABLE",
                message,
            });
        }
        // On a tie the legacy type wins: `*/*` or `application/*` alone means application/json.
        Ok(if (gr_q, gr_s) > (json_q, json_s) {
            ResponseMedia::GraphqlResponseJson
        } else {
            ResponseMedia::Json
        })
    }

    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            ResponseMedia::Json => "application/json; charset=utf-8",
            ResponseMedia::GraphqlResponseJson => {
                "application/graphql-response+json; charset=utf-8"
            }
        })
    }
}

fn json_response(status: StatusCode, media: ResponseMedia, body: &Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    res
}

fn error_body(code: &str, message: &str) -> Value {
    serde_json::json!({ "errors": [ { "message": message, "extensions": { "code": code } } ] })
}

/// An answer given before anything executes: an HTTP status and one coded error.
#[derive(Debug)]
pub struct Refused {
    status: StatusCode,
    media: ResponseMedia,
    code: &'static str,
    message: String,
}

impl Refused {
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        json_response(
            self.status,
            self.media,
            &error_body(self.code, &self.message),
        )
    }
}

/// A request that is not a GraphQL-over-HTTP request at all (bad body, bad parameters): 400.
pub fn bad_request(media: ResponseMedia, message: String) -> Refused {
    Refused {
        status: StatusCode::BAD_REQUEST,
        media,
        code: "BAD_REQUEST",
        message,
    }
}

/// `Ok` for a JSON body; otherwise the 415 answer (see the module doc for CSRF).
pub fn check_post_content_type(headers: &HeaderMap) -> Result<(), Refused> {
    let raw = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("(not text)").to_string());
    let mut parts = raw.as_deref().unwrap_or_default().split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let charset = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, v)| v.trim().trim_matches('"').to_ascii_lowercase());
    if essence == JSON
        && charset
            .as_deref()
            .is_none_or(|c| c == "utf-8" || c == "utf8")
    {
        return Ok(());
    }
    let (code, message) = match essence.as_str() {
        "" | "text/plain" | "application/x-www-form-urlencoded" | "multipart/form-data" => (
            "CSRF_PREVENTED",
            format!(
                "refused as a possible cross-site request forgery: a POST to /graphql must be sent with `Content-Type: application/json`, which no web page can send to another site without the browser asking the server first (got {})",
                raw.as_deref().map_or("no Content-Type".to_string(), |c| format!("`{c}`"))
            ),
        ),
        _ => ("UNSUPPORTED_MEDIA_TYPE", format!("a POST to /graphql must be `application/json` (UTF-8); got `{}`", raw.unwrap_or_default())),
    };
    Err(Refused {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        media: ResponseMedia::Json,
        code,
        message,
    })
}

/// One operation's parameters as sent, typed as the spec says, before persisted queries are
/// resolved.
#[derive(Debug, Default)]
pub struct Params {
    pub query: Option<String>,
    pub operation_name: Option<String>,
    pub variables: Option<Map<String, Value>>,
    pub extensions: Option<Map<String, Value>>,
}

pub enum PostBody {
    Single(Params),
    /// A JSON array of operations (Apollo's batching), each answered in its place.
    Batch(Vec<Params>),
}

/// The parameters of a JSON POST body; `Err` is the 400 answer.
pub fn parse_post_body(bytes: &[u8], media: ResponseMedia) -> Result<PostBody, Refused> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(bad_request(
            media,
            "the request body is empty; send {\"query\": …} as JSON".into(),
        ));
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| bad_request(media, format!("the body is not JSON: {e}")))?;
    match value {
        Value::Object(o) => Ok(PostBody::Single(
            params_from_object(o).map_err(|m| bad_request(media, m))?,
        )),
        Value::Array(items) if items.is_empty() => Err(bad_request(
            media,
            "an empty batch holds no operation".into(),
        )),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(o) => {
                    params_from_object(o).map_err(|m| format!("operation {i} of the batch: {m}"))
                }
                other => Err(format!(
                    "operation {i} of the batch is {}, not an object",
                    kind(&other)
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(PostBody::Batch)
            .map_err(|m| bad_request(media, m)),
        other => Err(bad_request(
            media,
            format!(
                "the body is {}; send an object {{\"query\": …}} (or an array of them)",
                kind(&other)
            ),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn params_from_object(mut o: Map<String, Value>) -> Result<Params, String> {
    let query = match o.remove("query") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => return Err(format!("`query` must be a string, not {}", kind(&other))),
    };
    let operation_name = match o.remove("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            return Err(format!(
                "`operationName` must be a string, not {}",
                kind(&other)
            ))
        }
    };
    let map = |name: &str, v: Option<Value>| match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(format!(
            "`{name}` must be an object (a map), not {}",
            kind(&other)
        )),
    };
    let variables = map("variables", o.remove("variables"))?;
    let extensions = map("extensions", o.remove("extensions"))?;
    Ok(Params {
        query,
        operation_name,
        variables,
        extensions,
    })
}

/// The parameters of a GET (`variables` and `extensions` as JSON text); `Err` is the 400 answer.
pub fn parse_get_params(
    params: &std::collections::HashMap<String, String>,
    media: ResponseMedia,
) -> Result<Params, Refused> {
    let mut o = Map::new();
    for key in ["query", "operationName"] {
        if let Some(v) = params.get(key) {
            o.insert(key.into(), Value::String(v.clone()));
        }
    }
    for key in ["variables", "extensions"] {
        if let Some(text) = params.get(key).filter(|t| !t.trim().is_empty()) {
            let v = serde_json::from_str(text)
                .map_err(|e| bad_request(media, format!("`{key}` is not JSON: {e}")))?;
            o.insert(key.into(), v);
        }
    }
    params_from_object(o).map_err(|m| bad_request(media, m))
}

/// Why one operation was answered without executing.
#[derive(Debug)]
pub enum Refusal {
    PersistedQuery(PersistedQueryError),
    NoQuery,
}

impl Params {
    /// The executable request, with a persisted query resolved to its text.
    pub fn into_request(
        mut self,
        persisted: &PersistedQueries,
    ) -> Result<async_graphql::Request, Refusal> {
        let pq = self
            .extensions
            .as_ref()
            .and_then(|e| e.get("persistedQuery"));
        let query = persisted
            .resolve(self.query.take(), pq)
            .map_err(Refusal::PersistedQuery)?
            .ok_or(Refusal::NoQuery)?;
        let mut request = async_graphql::Request::new(query);
        if let Some(name) = self.operation_name {
            request = request.operation_name(name);
        }
        if let Some(vars) = self.variables {
            request = request.variables(async_graphql::Variables::from_json(Value::Object(vars)));
        }
        if let Some(ext) = self.extensions {
            for (k, v) in ext.into_iter().filter(|(k, _)| k != "persistedQuery") {
                if let Ok(v) = async_graphql::Value::from_json(v) {
                    request.extensions.insert(k, v);
                }
            }
        }
        Ok(request)
    }
}

impl Refusal {
    fn code_and_message(&self) -> (&'static str, String) {
        match self {
            Refusal::PersistedQuery(e) => (e.code(), e.message()),
            Refusal::NoQuery => (
                "BAD_REQUEST",
                "the request has no `query` (and no `extensions.persistedQuery`)".into(),
            ),
        }
    }

    /// The error object answering this operation in its place (in a batch).
    pub fn error_value(&self) -> Value {
        let (code, message) = self.code_and_message();
        serde_json::json!({ "message": message, "extensions": { "code": code } })
    }

    /// The answer to a single operation refused before executing.
    pub fn into_response(self, media: ResponseMedia) -> Response {
        let (code, message) = self.code_and_message();
        let status = match &self {
            // A well-formed request whose query is unknown: a GraphQL request error.
            Refusal::PersistedQuery(PersistedQueryError::NotFound) => {
                request_error_status(media, code)
            }
            _ => StatusCode::BAD_REQUEST,
        };
        json_response(status, media, &error_body(code, &message))
    }
}

/// The status of a response in which nothing executed.
fn request_error_status(media: ResponseMedia, code: &str) -> StatusCode {
    match (media, code) {
        (ResponseMedia::Json, _) => StatusCode::OK,
        (_, "UNAUTHENTICATED") => StatusCode::UNAUTHORIZED,
        (_, "FORBIDDEN") => StatusCode::FORBIDDEN,
        (_, "RATE_LIMITED") => StatusCode::TOO_MANY_REQUESTS,
        (_, "INTERNAL") => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Nothing executed: errors, no data, and no error points into a result.
fn is_request_error(r: &async_graphql::Response) -> bool {
    !r.errors.is_empty()
        && r.data == async_graphql::Value::Null
        && r.errors.iter().all(|e| e.path.is_empty())
}

fn response_value(r: &async_graphql::Response) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or_else(|e| {
        error_body(
            "INTERNAL",
            &format!("the response could not be serialized: {e}"),
        )
    });
    if is_request_error(r) {
        if let Value::Object(o) = &mut v {
            o.remove("data");
        }
    }
    v
}

/// The HTTP answer to executed operations.
pub fn respond(batch: async_graphql::BatchResponse, media: ResponseMedia) -> Response {
    let (body, status) = match &batch {
        async_graphql::BatchResponse::Single(r) => {
            let status = if is_request_error(r) {
                let code = r
                    .errors
                    .first()
                    .and_then(|e| e.extensions.as_ref())
                    .and_then(|x| x.get("code"))
                    .map(|c| c.to_string().trim_matches('"').to_string())
                    .unwrap_or_default();
                request_error_status(media, &code)
            } else {
                StatusCode::OK
            };
            (response_value(r), status)
        }
        // Each operation of a batch carries its own errors; the batch as a whole was served.
        async_graphql::BatchResponse::Batch(rs) => (
            Value::Array(rs.iter().map(response_value).collect()),
            StatusCode::OK,
        ),
    };
    let mut res = json_response(status, media, &body);
    if batch.is_ok() {
        if let Some(value) = batch
            .cache_control()
            .value()
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            res.headers_mut().insert(header::CACHE_CONTROL, value);
        }
    }
    res.headers_mut().extend(batch.http_headers());
    res
}

/// A batch answer with the refused operations put back in their places (`refused` sorted by
/// position). Answers that are not a served batch (401, 429, …) pass unchanged.
pub async fn splice_refusals(executed: Response, refused: Vec<(usize, Refusal)>) -> Response {
    if executed.status() != StatusCode::OK {
        return executed;
    }
    let (parts, body) = executed.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the batch answer could not be read",
        )
            .into_response();
    };
    let Ok(Value::Array(mut answers)) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    for (at, refusal) in refused {
        let mut error = serde_json::Map::new();
        error.insert("errors".into(), Value::Array(vec![refusal.error_value()]));
        answers.insert(at.min(answers.len()), Value::Object(error));
    }
    let mut res = Response::from_parts(
        parts,
        axum::body::Body::from(Value::Array(answers).to_string()),
    );
    res.headers_mut().remove(header::CONTENT_LENGTH);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiate(accept: &str) -> Result<ResponseMedia, StatusCode> {
        let mut h = HeaderMap::new();
        if !accept.is_empty() {
            h.insert(
                header::ACCEPT,
                HeaderValue::from_str(accept).expect("header"),
            );
        }
        ResponseMedia::negotiate(&h).map_err(|r| r.status())
    }

    #[test]
    fn accept_negotiation() {
        use ResponseMedia::*;
        assert_eq!(negotiate(""), Ok(Json));
        assert_eq!(negotiate("application/json"), Ok(Json));
        assert_eq!(negotiate("*/*"), Ok(Json));
        assert_eq!(negotiate("application/*"), Ok(Json));
        assert_eq!(
            negotiate("application/graphql-response+json"),
            Ok(GraphqlResponseJson)
        );
        assert_eq!(
            negotiate("application/graphql-response+json, application/json;q=0.9"),
            Ok(GraphqlResponseJson)
        );
        assert_eq!(
            negotiate("application/graphql-response+json;q=0.5, application/json"),
            Ok(Json)
        );
        assert_eq!(
            negotiate("application/json;q=0, */*"),
            Ok(GraphqlResponseJson)
        );
        assert_eq!(
            negotiate("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            Ok(Json)
        );
        assert_eq!(negotiate("text/html"), Err(StatusCode::NOT_ACCEPTABLE));
        assert_eq!(
            negotiate("application/json;q=0"),
            Err(StatusCode::NOT_ACCEPTABLE)
        );
    }

    #[test]
    fn post_content_types() {
        let check = |ct: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(ct) = ct {
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_str(ct).expect("header"),
                );
            }
            check_post_content_type(&h).map_err(|r| r.status())
        };
        assert_eq!(check(Some("application/json")), Ok(()));
        assert_eq!(check(Some("Application/JSON; charset=UTF-8")), Ok(()));
        for bad in [
            None,
            Some("text/plain"),
            Some("text/plain;charset=UTF-8"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/graphql"),
            Some("application/json; charset=latin1"),
        ] {
            assert_eq!(
                check(bad),
                Err(StatusCode::UNSUPPORTED_MEDIA_TYPE),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn parameters_are_typed() {
        let parse =
            |s: &str| parse_post_body(s.as_bytes(), ResponseMedia::Json).map_err(|r| r.status());
        assert!(matches!(
            parse(
                r#"{"query":"{ a }","variables":null,"operationName":null,"extensions":{"x":1}}"#
            ),
            Ok(PostBody::Single(_))
        ));
        assert!(
            matches!(parse(r#"[{"query":"{ a }"},{"query":"{ b }"}]"#), Ok(PostBody::Batch(v)) if v.len() == 2)
        );
        for bad in [
            "",
            "  ",
            "{",
            "[]",
            "[1]",
            "\"q\"",
            r#"{"query":{"obj":"ect"}}"#,
            r#"{"query":0}"#,
            r#"{"query":"{a}","operationName":false}"#,
            r#"{"query":"{a}","variables":"{}"}"#,
            r#"{"query":"{a}","extensions":["array"]}"#,
        ] {
            assert_eq!(parse(bad).err(), Some(StatusCode::BAD_REQUEST), "{bad}");
        }
    }
}
