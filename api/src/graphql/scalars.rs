//! The schema's time scalars: instants (`DateTime`) and wall-clock values (`LocalDateTime`,
//! `LocalDate`, `LocalTime`).

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{
    DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Timelike, Utc,
};
use chrono_tz::Tz;

/// An instant, as the `DateTime` scalar. Our own rather than async-graphql's chrono one, which
/// writes UTC as `+00:00` and accepts more than RFC 3339.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant(pub DateTime<FixedOffset>);

impl Instant {
    /// The same instant written with a zone's offset, for fields with a `timeZone` argument.
    pub fn in_zone(t: DateTime<Utc>, zone: Tz) -> Self {
        Instant(t.with_timezone(&zone).fixed_offset())
    }

    /// An instant stored as seconds since the epoch.
    pub fn at(seconds: i64) -> Self {
        almanac_domain::time::instant(seconds).into()
    }

    pub fn utc(self) -> DateTime<Utc> {
        self.0.with_timezone(&Utc)
    }
}

impl From<DateTime<Utc>> for Instant {
    fn from(t: DateTime<Utc>) -> Self {
        Instant(t.fixed_offset())
    }
}

/// An instant in time, written as an RFC 3339 date-time with an offset. Output is in UTC with `Z`
/// (`2026-03-06T14:00:00Z`); a field with a `timeZone` argument writes that zone's offset instead
/// (`2026-03-06T19:30:00+05:30`). Input must carry an offset (`Z` or `±HH:MM`) and seconds;
/// fractions of a second are allowed.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://scalars.graphql.org/andimarek/date-time"
)]
impl ScalarType for Instant {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(s) = &value else {
            return Err(InputValueError::expected_type(value));
        };
        let bad = || {
            InputValueError::custom(format!("{s:?} is not an RFC 3339 date-time: use YYYY-MM-DDTHH:MM:SS with an offset, e.g. 2026-03-06T14:00:00Z or 2026-03-06T15:00:00+01:00"))
        };
        // chrono's RFC 3339 reader also takes a space for `T`; the shape check keeps input to
        // exactly what RFC 3339 writes.
        let offset = s.get(19..).ok_or_else(bad)?;
        let fraction = offset
            .strip_prefix('.')
            .map(|f| f.trim_start_matches(|c: char| c.is_ascii_digit()));
        let zone = match fraction {
            Some(rest) if rest.len() + 1 == offset.len() => return Err(bad()),
            Some(rest) => rest,
            None => offset,
        };
        let zone_ok = zone == "Z"
            || zone == "z"
            || (zone.len() == 6 && matches!(&zone[..1], "+" | "-") && shaped(&zone[1..], "dd:dd"));
        // RFC 3339 allows a lower-case `t` (and `z`).
        if !shaped(&s[..19].replacen('t', "T", 1), "dddd-dd-ddTdd:dd:dd") || !zone_ok {
            return Err(bad());
        }
        no_leap_second(s, &s[17..19])?;
        DateTime::parse_from_rfc3339(s)
            .map(Instant)
            .map_err(|_| bad())
    }

    fn to_value(&self) -> Value {
        // `use_z` writes `Z` exactly when the offset is zero.
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

/// A wall-clock date-time without offset, `YYYY-MM-DDTHH:MM:SS` (seconds optional), read in the
/// series' time zone. A bare date `YYYY-MM-DD` means its midnight (used for all-day series).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalDateTime(pub NaiveDateTime);

/// A wall-clock date and time with no offset, `YYYY-MM-DDTHH:MM:SS` (ISO 8601 / RFC 3339's
/// `date-time` without its offset). It means that time on the clocks of a zone the field names
/// (usually the series' `timeZone`), so it stays put when the zone's offset changes. On input,
/// seconds may be left out and a bare date `YYYY-MM-DD` means its midnight (all-day series).
#[Scalar(
    name = "LocalDateTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339#section-5.6"
)]
impl ScalarType for LocalDateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(s) = &value else {
            return Err(InputValueError::expected_type(value));
        };
        if shaped(s, "dddd-dd-ddTdd:dd:dd") {
            no_leap_second(s, &s[17..19])?;
        }
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

/// Reads `YYYY-MM-DDTHH:MM:SS`, `YYYY-MM-DDTHH:MM` or `YYYY-MM-DD`, every field at its full width
/// (chrono alone takes `2026-1-1T9:0:0`), and no leap second.
pub fn parse_local(s: &str) -> Option<NaiveDateTime> {
    if shaped(s, "dddd-dd-ddTdd:dd:dd") {
        (&s[17..19] != "60")
            .then(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok())
            .flatten()
    } else if shaped(s, "dddd-dd-ddTdd:dd") {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").ok()
    } else if shaped(s, "dddd-dd-dd") {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    } else {
        None
    }
}

/// Whether `s` has exactly the shape of `pattern`, where `d` stands for one ASCII digit and any
/// other character for itself.
fn shaped(s: &str, pattern: &str) -> bool {
    s.len() == pattern.len()
        && s.bytes().zip(pattern.bytes()).all(|(c, p)| {
            if p == b'd' {
                c.is_ascii_digit()
            } else {
                c == p
            }
        })
}

/// chrono reads second 60 as a leap second; the scheduling engine has no such second and would
/// quietly move the time to :59, so it is refused by name.
fn no_leap_second<T: async_graphql::InputType>(
    s: &str,
    seconds: &str,
) -> Result<(), InputValueError<T>> {
    if seconds == "60" {
        return Err(InputValueError::custom(format!(
            "{s:?} has a leap second (:60), which is not accepted; use :59 or the next minute"
        )));
    }
    Ok(())
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalDate(pub NaiveDate);

/// A calendar date with no time or zone, `YYYY-MM-DD` (RFC 3339 `full-date`).
#[Scalar(
    name = "LocalDate",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339#section-5.6"
)]
impl ScalarType for LocalDate {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(s) = &value else {
            return Err(InputValueError::expected_type(value));
        };
        let date = shaped(s, "dddd-dd-dd")
            .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .flatten();
        date.map(LocalDate)
            .ok_or_else(|| InputValueError::custom(format!("{s:?} is not a date (YYYY-MM-DD)")))
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// A time of day, in minutes: `HH:MM`, from 00:00 to 24:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// Seconds after midnight; 86 400 is `24:00`, the end of the day.
    pub seconds: u32,
}

/// A wall-clock time of day with no date or zone, `HH:MM` on a 24-hour clock (RFC 3339
/// `partial-time` to the minute). `24:00` is allowed and means the end of the day.
#[Scalar(
    name = "LocalTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339#section-5.6"
)]
impl ScalarType for LocalTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(s) = &value else {
            return Err(InputValueError::expected_type(value));
        };
        parse_time(s).ok_or_else(|| {
            InputValueError::custom(format!(
                "{s:?} is not a time of day: use HH:MM on a 24-hour clock, 00:00 to 24:00"
            ))
        })
    }

    fn to_value(&self) -> Value {
        Value::String(self.to_string())
    }
}

impl std::fmt::Display for LocalTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:02}:{:02}",
            self.seconds / 3600,
            self.seconds % 3600 / 60
        )
    }
}

fn parse_time(s: &str) -> Option<LocalTime> {
    if s == "24:00" {
        return Some(LocalTime { seconds: 86_400 });
    }
    // Exactly HH:MM: chrono alone would also take "9:00".
    if !shaped(s, "dd:dd") {
        return None;
    }
    NaiveTime::parse_from_str(s, "%H:%M")
        .ok()
        .map(|t| LocalTime {
            seconds: t.num_seconds_from_midnight(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Option<Instant> {
        <Instant as ScalarType>::parse(Value::String(s.into())).ok()
    }

    #[test]
    fn instants_are_written_in_utc_with_z_unless_a_zone_is_asked_for() {
        let t = parse("2026-03-06T15:00:00+01:00").expect("valid");
        assert_eq!(
            Instant::from(t.utc()).to_value(),
            Value::String("2026-03-06T14:00:00Z".into())
        );
        assert_eq!(
            Instant::in_zone(t.utc(), chrono_tz::Asia::Kolkata).to_value(),
            Value::String("2026-03-06T19:30:00+05:30".into())
        );
        assert_eq!(
            Instant::at(0).to_value(),
            Value::String("1970-01-01T00:00:00Z".into())
        );
    }

    #[test]
    fn instant_input_is_rfc_3339_with_an_offset() {
        assert!(parse("2026-03-06T14:00:00Z").is_some());
        assert!(parse("2026-03-06T14:00:00.5-05:00").is_some());
        assert!(parse("2026-03-06t14:00:00.123z").is_some());
        for bad in [
            "2026-03-06T14:00:00",
            "2026-03-06",
            "2026-03-06T14:00Z",
            "2026-03-06T14:00:00+0100",
            "now",
            "",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        for bad in [
            "2026-1-1T9:0:0Z",
            "2026-01-01T09:00:0Z",
            "2026-01-01 09:00:00Z",
            "2026-06-30T23:59:60Z",
            "2026-01-01T09:00:00.Z",
            "2026-01-01T09:00:00+1:00",
            " 2026-01-01T09:00:00Z",
            "2026-01-01T09:00:00Z ",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn local_values_have_every_field_at_full_width_and_no_leap_second() {
        let local = |s: &str| {
            <LocalDateTime as ScalarType>::parse(Value::String(s.into()))
                .ok()
                .map(|t| t.0)
        };
        assert_eq!(
            local("2026-01-01T09:00:00").map(|t| t.to_string()),
            Some("2026-01-01 09:00:00".into())
        );
        assert_eq!(
            local("2026-01-01T09:00").map(|t| t.to_string()),
            Some("2026-01-01 09:00:00".into())
        );
        assert_eq!(
            local("2026-01-01").map(|t| t.to_string()),
            Some("2026-01-01 00:00:00".into())
        );
        for bad in [
            "2026-1-1T9:0:0",
            "2026-01-01T9:00:00",
            "2026-01-01T09:00:60",
            "2026-06-30T23:59:60",
            " 2026-01-01",
            "2026-01-01 ",
            "2026-01-01T09:00:00.5",
        ] {
            assert_eq!(local(bad), None, "{bad}");
        }
        let date = |s: &str| <LocalDate as ScalarType>::parse(Value::String(s.into())).ok();
        assert!(date("2026-02-28").is_some());
        for bad in ["2026-2-28", "2026-02-28 ", "2026-02-30", "20260228"] {
            assert!(date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn local_times_are_hh_mm_up_to_24_00() {
        let t = |s: &str| {
            <LocalTime as ScalarType>::parse(Value::String(s.into()))
                .ok()
                .map(|t| t.seconds)
        };
        assert_eq!(t("09:30"), Some(34_200));
        assert_eq!(t("24:00"), Some(86_400));
        assert_eq!(t("00:00"), Some(0));
        for bad in ["9:30", "24:01", "25:00", "09:30:00", "0930", "noon"] {
            assert_eq!(t(bad), None, "{bad}");
        }
        assert_eq!(
            LocalTime { seconds: 86_400 }.to_value(),
            Value::String("24:00".into())
        );
    }
}
