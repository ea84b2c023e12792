//! Errors the domain reports. Each variant is a decision the caller makes (reject the input, tell the
//! user what to fix); every `Display` is written for the person who sent the input.

use thiserror::Error;

/// A recurrence (RRULE, RDATE, EXDATE) that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecurrenceError {
    #[error("RRULE syntax: {0}")]
    Syntax(String),
    #[error("RRULE: {0}")]
    Unsupported(String),
    #[error("RRULE: {0}")]
    Invalid(String),
    #[error("this recurrence never produces an occurrence: {0}")]
    NeverOccurs(String),
    #[error("RRULE: COUNT may be at most {max}, got {got}")]
    CountTooLarge { max: u32, got: u64 },
    #[error("RRULE: {0}")]
    TooCostly(String),
}

/// Input that does not describe a valid series or window.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidInput {
    #[error("{field}: {message}")]
    Field {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Recurrence(#[from] RecurrenceError),
    #[error("{0}")]
    RangeTooLarge(String),
}

impl InvalidInput {
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self::Field {
            field,
            message: message.into(),
        }
    }
}
