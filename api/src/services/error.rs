//! Why a use case refused or failed, as decisions the caller can act on — not as any protocol's
//! error. `graphql::error` turns each into the code and message clients see; a CLI command or an
//! HTTP handler can turn them into something else without the services knowing.

use crate::store::StoreError;
use almanac_domain::availability::BusyBlock;
use almanac_domain::edit::EditError;
use almanac_domain::occurrence::RecurrenceId;
use almanac_domain::{InvalidInput, RecurrenceError};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A value the caller sent is malformed or out of its limits: a field (`InvalidInput::Field`
    /// names it), a recurrence rule, or a window, page or file larger than allowed.
    #[error("{0}")]
    Invalid(#[from] InvalidInput),
    /// Nothing of this kind with that id in the caller's organization.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The series exists but shows no occurrence at this recurrence id.
    #[error("the series has no occurrence whose recurrence id is {}", rfc3339(*.0))]
    NoSuchOccurrence(RecurrenceId),
    /// The caller's `expectedVersion` is stale.
    #[error("{what} was changed by someone else: you sent expectedVersion {expected}, the current version is {current}. Re-read it and apply your change again.")]
    VersionConflict {
        what: &'static str,
        expected: i64,
        current: i64,
    },
    /// The change would alter a locked occurrence.
    #[error("the occurrence at {} is locked; unlock it first (setOccurrenceStatus with locked: false)", rfc3339(*.0))]
    Locked(RecurrenceId),
    /// Booking with "reject conflicts": these busy blocks are in the way.
    #[error("the time is not free: {} occurrence(s) are in the way (see extensions.conflicts)", .0.len())]
    Busy(Vec<BusyBlock>),
    /// A write that read no version from the caller lost a race with another writer.
    #[error("{0} changed while this request ran; nothing was written. Send it again.")]
    Concurrent(&'static str),
    /// The server was not set up for what was asked.
    #[error("{0}")]
    NotConfigured(String),
    /// A failure the caller cannot fix (the database, a panicked computation); logged, never shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

fn rfc3339(r: RecurrenceId) -> String {
    r.instant()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl ServiceError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Invalid(InvalidInput::field(field, message))
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        ServiceError::Invalid(InvalidInput::RangeTooLarge(message.into()))
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        ServiceError::Internal(anyhow::anyhow!("{message}"))
    }
}

impl From<EditError> for ServiceError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::NoSuchOccurrence(r) => ServiceError::NoSuchOccurrence(r),
            EditError::Locked(r) => ServiceError::Locked(r),
            EditError::Invalid(i) => ServiceError::Invalid(i),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        ServiceError::Internal(anyhow::Error::new(e))
    }
}

impl From<RecurrenceError> for ServiceError {
    fn from(e: RecurrenceError) -> Self {
        ServiceError::Invalid(InvalidInput::Recurrence(e))
    }
}

impl From<anyhow::Error> for ServiceError {
    fn from(e: anyhow::Error) -> Self {
        ServiceError::Internal(e)
    }
}
