//! The one error type resolvers return, and its mapping to GraphQL `extensions.code`.
//!
//! Every `Display` here is shown to clients, so it is written for them; internal causes are logged
//! once (here) and never shown.

use crate::services::ServiceError;
use crate::store::StoreError;
use almanac_domain::availability::BusyBlock;
use almanac_domain::edit::EditError;
use almanac_domain::occurrence::RecurrenceId;
use almanac_domain::{InvalidInput, RecurrenceError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Invalid(#[from] InvalidInput),
    /// One entry of a list inside the `input` argument is wrong; `path` leads to it from `input`
    /// (`availability.workingHours[2].end`), so forms can show the error beside that entry.
    #[error("{message}")]
    InvalidEntry {
        path: Vec<async_graphql::PathSegment>,
        message: String,
    },
    #[error("{what} was changed by someone else: you sent expectedVersion {expected}, the current version is {current}. Re-read it and apply your change again.")]
    Conflict {
        what: &'static str,
        expected: i64,
        current: i64,
    },
    #[error("the series has no occurrence whose recurrence id is {}", .0.instant().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))]
    NoSuchOccurrence(RecurrenceId),
    #[error("the occurrence at {} is locked; unlock it first (setOccurrenceStatus with locked: false)", .0.instant().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))]
    Locked(RecurrenceId),
    #[error("the time is not free: {} occurrence(s) are in the way (see extensions.conflicts)", .0.len())]
    Busy(Vec<BusyBlock>),
    /// A write that read no version from the client lost a race with another writer.
    #[error("{0} changed while this request ran; nothing was written. Send it again.")]
    Concurrent(&'static str),
    /// The server was not set up for what was asked (a provider without its OAuth client).
    #[error("{0}")]
    NotConfigured(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<EditError> for ApiError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::NoSuchOccurrence(r) => ApiError::NoSuchOccurrence(r),
            EditError::Locked(r) => ApiError::Locked(r),
            EditError::Invalid(i) => ApiError::Invalid(i),
        }
    }
}

/// The edge between use cases and GraphQL: each decision a service made becomes the error (code,
/// message, extensions) clients have always been sent for it.
impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(i) => ApiError::Invalid(i),
            ServiceError::NotFound(what) => ApiError::NotFound(what),
            ServiceError::NoSuchOccurrence(r) => ApiError::NoSuchOccurrence(r),
            ServiceError::VersionConflict {
                what,
                expected,
                current,
            } => ApiError::Conflict {
                what,
                expected,
                current,
            },
            ServiceError::Locked(r) => ApiError::Locked(r),
            ServiceError::Busy(blocks) => ApiError::Busy(blocks),
            ServiceError::Concurrent(what) => ApiError::Concurrent(what),
            ServiceError::NotConfigured(m) => ApiError::NotConfigured(m),
            ServiceError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(anyhow::Error::new(e))
    }
}

impl From<RecurrenceError> for ApiError {
    fn from(e: RecurrenceError) -> Self {
        ApiError::Invalid(InvalidInput::Recurrence(e))
    }
}

impl ApiError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ApiError::Invalid(InvalidInput::field(field, message))
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) | ApiError::NoSuchOccurrence(_) => "NOT_FOUND",
            ApiError::Locked(_) => "LOCKED",
            ApiError::Invalid(InvalidInput::Recurrence(_)) => "RECURRENCE_INVALID",
            ApiError::Invalid(InvalidInput::RangeTooLarge(_)) => "RANGE_TOO_LARGE",
            ApiError::Invalid(_) | ApiError::InvalidEntry { .. } => "BAD_USER_INPUT",
            ApiError::Conflict { .. } | ApiError::Busy(_) | ApiError::Concurrent(_) => "CONFLICT",
            ApiError::NotConfigured(_) => "NOT_CONFIGURED",
            ApiError::Internal(_) => "INTERNAL",
        }
    }
}

impl async_graphql::ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        if let ApiError::Internal(e) = self {
            tracing::error!(error.cause_chain = ?e, "request failed");
        }
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| {
            ext.set("code", self.code());
            match self {
                ApiError::Invalid(InvalidInput::Field { field, .. }) => ext.set("field", *field),
                ApiError::InvalidEntry { path, .. } => {
                    // `field` as for every other input error (dotted, indices as numbers), and
                    // `inputPath` as a GraphQL path from the argument: ["input", "availability", "workingHours", 2, "end"].
                    let dotted: Vec<String> = path.iter().map(segment_text).collect();
                    ext.set("field", dotted.join("."));
                    let mut full = vec![async_graphql::Value::from("input")];
                    full.extend(path.iter().map(|s| match s {
                        async_graphql::PathSegment::Field(f) => {
                            async_graphql::Value::from(f.as_str())
                        }
                        async_graphql::PathSegment::Index(i) => {
                            async_graphql::Value::from(*i as i32)
                        }
                    }));
                    ext.set("inputPath", async_graphql::Value::List(full));
                }
                ApiError::Conflict { current, .. } => ext.set("currentVersion", *current),
                ApiError::NoSuchOccurrence(r) | ApiError::Locked(r) => ext.set(
                    "recurrenceId",
                    r.instant()
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
                ApiError::Busy(blocks) => {
                    let list: Vec<async_graphql::Value> = blocks
                        .iter()
                        .map(|b| {
                            let mut m = async_graphql::indexmap::IndexMap::new();
                            m.insert(
                                async_graphql::Name::new("occurrenceId"),
                                async_graphql::Value::from(b.occurrence.to_string()),
                            );
                            m.insert(
                                async_graphql::Name::new("seriesId"),
                                async_graphql::Value::from(b.series.to_string()),
                            );
                            m.insert(
                                async_graphql::Name::new("calendarId"),
                                async_graphql::Value::from(b.calendar.to_string()),
                            );
                            m.insert(
                                async_graphql::Name::new("start"),
                                async_graphql::Value::from(
                                    almanac_domain::time::instant(b.interval.start)
                                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                                ),
                            );
                            m.insert(
                                async_graphql::Name::new("end"),
                                async_graphql::Value::from(
                                    almanac_domain::time::instant(b.interval.end)
                                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                                ),
                            );
                            async_graphql::Value::Object(m)
                        })
                        .collect();
                    ext.set("conflicts", async_graphql::Value::List(list));
                }
                _ => {}
            }
        })
    }
}

fn segment_text(s: &async_graphql::PathSegment) -> String {
    match s {
        async_graphql::PathSegment::Field(f) => f.clone(),
        async_graphql::PathSegment::Index(i) => i.to_string(),
    }
}

/// `?` in resolvers: every service error leaves with its code.
pub trait ResultExt<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T, E: Into<ApiError>> ResultExt<T> for Result<T, E> {
    fn gql(self) -> async_graphql::Result<T> {
        use async_graphql::ErrorExtensions;
        self.map_err(|e| e.into().extend())
    }
}

/// A reason a mutation was refused that the caller can act on, for forms: `field` is the path of
/// the input field at fault (`["input", "recurrence"]`), null when no single field is.
#[derive(async_graphql::SimpleObject, Clone, Debug)]
pub struct UserError {
    /// Path from the mutation's arguments to the input field at fault, list indexes as text
    /// (`["input", "availability", "workingHours", "2", "end"]`); null when no single field is.
    pub field: Option<Vec<String>>,
    /// What kind of refusal; the same code as the top-level error's `extensions.code`.
    pub code: UserErrorCode,
    /// What is wrong and how to fix it, in English, for people; not stable, do not match on it.
    pub message: String,
}

/// The same codes `extensions.code` carries, as an enum typed clients can switch on.
#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum UserErrorCode {
    /// A value is malformed or out of its limits (bad id, unknown zone, bad duration, empty
    /// title, overlapping working hours, …); `field` says which.
    BadUserInput,
    /// The RRULE (or its RDATE/EXDATE lists) is not valid RFC 5545, or is not supported.
    RecurrenceInvalid,
    /// A window, page size, list or file is larger than allowed; the message gives the limit.
    RangeTooLarge,
    /// An id names nothing in your organization (another organization's ids look the same as
    /// ids that never existed), or the occurrence no longer shows.
    NotFound,
    /// `expectedVersion` is stale (re-read and retry), a concurrent write won, or with
    /// `conflictPolicy: REJECT` the time is busy (`extensions.conflicts` lists what is in the way).
    Conflict,
    /// The change would alter a locked occurrence; unlock it first (`setOccurrenceStatus`).
    Locked,
    /// The server is not set up for this (an operator must configure it).
    NotConfigured,
}

impl UserError {
    /// None for errors the caller cannot fix (internal ones): those stay top-level only.
    fn of(e: &ApiError) -> Option<UserError> {
        let path = |p: &[&str]| Some(p.iter().map(|s| (*s).to_string()).collect::<Vec<_>>());
        let (code, field) = match e {
            ApiError::Internal(_) => return None,
            ApiError::NotFound(_) | ApiError::NoSuchOccurrence(_) => {
                (UserErrorCode::NotFound, None)
            }
            ApiError::Locked(_) => (UserErrorCode::Locked, None),
            ApiError::Invalid(InvalidInput::Recurrence(_)) => (
                UserErrorCode::RecurrenceInvalid,
                path(&["input", "recurrence"]),
            ),
            ApiError::Invalid(InvalidInput::RangeTooLarge(_)) => {
                (UserErrorCode::RangeTooLarge, None)
            }
            ApiError::Invalid(InvalidInput::Field { field, .. }) => (
                UserErrorCode::BadUserInput,
                Some(
                    std::iter::once("input")
                        .chain(field.split('.'))
                        .map(str::to_string)
                        .collect(),
                ),
            ),
            ApiError::InvalidEntry { path, .. } => (
                UserErrorCode::BadUserInput,
                Some(
                    std::iter::once("input".to_string())
                        .chain(path.iter().map(segment_text))
                        .collect(),
                ),
            ),
            ApiError::Conflict { .. } => {
                (UserErrorCode::Conflict, path(&["input", "expectedVersion"]))
            }
            ApiError::Busy(_) | ApiError::Concurrent(_) => (UserErrorCode::Conflict, None),
            ApiError::NotConfigured(_) => (UserErrorCode::NotConfigured, None),
        };
        Some(UserError {
            field,
            code,
            message: e.to_string(),
        })
    }
}

/// A mutation payload that can say why nothing was changed.
pub trait Payload: Default {
    fn refused(user_errors: Vec<UserError>) -> Self;
}

/// Turns a mutation's outcome into its payload. A refusal the caller can act on is answered twice,
/// by design: as `userErrors` in the payload (Relay-style form handling) and as a top-level error
/// with `extensions.code` (clients that only look at `errors`). Internal failures stay top-level.
pub fn respond<P: Payload>(
    ctx: &async_graphql::Context<'_>,
    outcome: Result<P, ApiError>,
) -> async_graphql::Result<P> {
    use async_graphql::ErrorExtensions;
    match outcome {
        Ok(payload) => Ok(payload),
        Err(e) => match UserError::of(&e) {
            None => Err(e.extend()),
            Some(user_error) => {
                ctx.add_error(ctx.set_error_path(e.extend().into_server_error(ctx.item.pos)));
                Ok(P::refused(vec![user_error]))
            }
        },
    }
}

/// Declares mutation payloads: every listed field is nullable (null when refused) and each
/// payload gets `userErrors`.
#[macro_export]
macro_rules! payloads {
    ($($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? })*) => {$(
        #[derive(async_graphql::SimpleObject, Default)]
        $(#[$meta])*
        pub struct $name {
            $($(#[$fmeta])* pub $field: Option<$ty>,)*
            /// Why nothing was changed; empty on success.
            pub user_errors: Vec<$crate::graphql::error::UserError>,
        }
        impl $crate::graphql::error::Payload for $name {
            fn refused(user_errors: Vec<$crate::graphql::error::UserError>) -> Self {
                Self { user_errors, ..Default::default() }
            }
        }
    )*};
}
