//! Scalars for wall-clock values. Instants use async-graphql's RFC 3339 `DateTime`.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{NaiveDate, NaiveDateTime};

/// A wall-clock date-time without offset, `YYYY-MM-DDTHH:MM:SS` (seconds optional), read in the
/// series' time zone. A bare date `YYYY-MM-DD` means its midnight (used for all-day series).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalDateTime(pub NaiveDateTime);

#[Scalar(name = "LocalDateTime")]
impl ScalarType for LocalDateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(s) = &value else {
            return Err(InputValueError::expected_type(value));
        };
        parse_local(s).map(LocalDateTime).ok_or_else(|| {
            InputValueError::custom(format!(
                "{s:?} is not a local date-time: use YYYY-MM-DDTHH:MM:SS with no offset (the series' time zone applies), or YYYY-MM-DD"
            ))
        })
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%dT%H:%M:%S").to_string())
    }
}

pub fn parse_local(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .ok()
        .or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalDate(pub NaiveDate);

#[Scalar(name = "LocalDate")]
impl ScalarType for LocalDate {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(s) = &value else {
            return Err(InputValueError::expected_type(value));
        };
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map(LocalDate).map_err(|_| InputValueError::custom(format!("{s:?} is not a date (YYYY-MM-DD)")))
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}
