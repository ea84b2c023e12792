//! Google Calendar v3 wire types: the subset of the discovery document (`calendar:v3`, revision
//! 20230217, saved in `shared/provider-specs/`) that the sync adapter reads or writes.
//!
//! Conventions:
//! - every field is optional and omitted from the JSON when `None`, so a partially filled
//!   [`Event`] is a valid `events.patch` body (absent = unchanged) and read-only fields we never set
//!   are never sent back;
//! - unknown fields are dropped on input (no catch-all map). Consequence: a `PUT` (`events.update`)
//!   built from a fetched [`Event`] resets fields not modelled here (attendees, conference data,
//!   attachments…); prefer `PATCH` on events that users may have enriched in Google;
//! - timestamps keep the exact text Google sent ([`Rfc3339Timestamp`]) so values round-trip byte
//!   for byte (Google mixes `…00Z`, `…00.000Z` and `…00-07:00`), while still being parsed and typed;
//! - string enums keep unknown values (`Other(..)`), so a new Google value neither fails decoding
//!   nor gets rewritten.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

// ---------------------------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------------------------

/// An RFC 3339 timestamp as Google wrote it, with its parsed value.
///
/// Equality compares the instant *and* the offset (not the text), so `…T10:00:00Z` equals
/// `…T10:00:00.000Z` but not `…T12:00:00+02:00`.
#[derive(Clone)]
pub struct Rfc3339Timestamp {
    raw: String,
    value: DateTime<FixedOffset>,
}

impl Rfc3339Timestamp {
    pub fn parse(text: &str) -> Result<Self, chrono::ParseError> {
        let value = DateTime::parse_from_rfc3339(text)?;
        Ok(Self {
            raw: text.to_owned(),
            value,
        })
    }

    /// The exact text received (or generated, for values built from a `DateTime`).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The value with the offset it was written with (the event's local offset for `start`/`end`).
    pub fn as_fixed(&self) -> DateTime<FixedOffset> {
        self.value
    }

    pub fn to_utc(&self) -> DateTime<Utc> {
        self.value.with_timezone(&Utc)
    }
}

impl<Tz: TimeZone> From<DateTime<Tz>> for Rfc3339Timestamp {
    /// Formats with the smallest exact fraction and `Z` for UTC: the form Google accepts everywhere.
    fn from(value: DateTime<Tz>) -> Self {
        let value = value.fixed_offset();
        Self {
            raw: value.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            value,
        }
    }
}

impl PartialEq for Rfc3339Timestamp {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value && self.value.offset() == other.value.offset()
    }
}

impl Eq for Rfc3339Timestamp {}

impl fmt::Debug for Rfc3339Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.raw, f)
    }
}

impl fmt::Display for Rfc3339Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Serialize for Rfc3339Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for Rfc3339Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw)
            .map_err(|e| serde::de::Error::custom(format_args!("invalid RFC 3339 timestamp: {e}")))
    }
}

open_string_enum! {
    /// `Event.status`. A `Cancelled` event is either a cancelled occurrence of a live series (it has
    /// `recurringEventId` + `originalStartTime`; keep it while the parent lives) or a deleted event.
    EventStatus {
        Confirmed => "confirmed",
        Tentative => "tentative",
        Cancelled => "cancelled",
    }
}

open_string_enum! {
    /// `Event.transparency`: whether the event blocks time (`opaque`, the default) or not.
    Transparency {
        Opaque => "opaque",
        Transparent => "transparent",
    }
}

// ---------------------------------------------------------------------------------------------
// Event
// ---------------------------------------------------------------------------------------------

/// `EventDateTime`: `{date}` for all-day values, `{dateTime, timeZone?}` for timed ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDateTime {
    /// All-day date (`yyyy-mm-dd`). For `end`, exclusive: the day after the last day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_time: Option<Rfc3339Timestamp>,
    /// IANA zone. Required on `start`/`end` of recurring events: the recurrence expands in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl EventDateTime {
    pub fn all_day(date: NaiveDate) -> Self {
        Self {
            date: Some(date),
            ..Self::default()
        }
    }

    pub fn timed<Tz: TimeZone>(at: DateTime<Tz>, time_zone: Option<&str>) -> Self {
        Self {
            date: None,
            date_time: Some(at.into()),
            time_zone: time_zone.map(str::to_owned),
        }
    }

    pub fn is_all_day(&self) -> bool {
        self.date.is_some() && self.date_time.is_none()
    }

    /// The value as Google's `originalStart` query parameter expects it: the RFC 3339 text for
    /// timed values, `yyyy-mm-dd` for all-day ones.
    pub fn as_query_value(&self) -> Option<String> {
        match (&self.date_time, &self.date) {
            (Some(at), _) => Some(at.as_str().to_owned()),
            (None, Some(date)) => Some(date.format("%Y-%m-%d").to_string()),
            (None, None) => None,
        }
    }
}

/// `Event.extendedProperties`. Almanac marks what it wrote in `private` (echo suppression).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendedProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared: Option<BTreeMap<String, String>>,
}

/// `Event.organizer` / `Event.creator`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventPerson {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Whether this is the calendar owner (`self` in JSON).
    #[serde(rename = "self", skip_serializing_if = "Option::is_none")]
    pub is_self: Option<bool>,
}

/// `EventReminder`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventReminder {
    pub method: String,
    pub minutes: i32,
}

/// `Event.reminders`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventReminders {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_default: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overrides: Option<Vec<EventReminder>>,
}

/// `Event`: a single event, a recurring parent, an instance, or an exception.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Opaque. May be chosen on insert (base32hex, 5–1024 chars; see [`event_id_from_uuid`]).
    /// Instance ids are the server's business: never build one, look it up via `instances`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<EventStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html_link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<Rfc3339Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<Rfc3339Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator: Option<EventPerson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organizer: Option<EventPerson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<EventDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<EventDateTime>,
    /// RFC 5545 `RRULE`/`EXRULE`/`RDATE`/`EXDATE` lines (never `DTSTART`). `Some(vec![])` is kept
    /// distinct from `None`: in a patch, the former clears the recurrence, the latter leaves it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<Vec<String>>,
    /// On instances and exceptions: the parent's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurring_event_id: Option<String>,
    /// On instances and exceptions: where the rule placed it. The occurrence's identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_start_time: Option<EventDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transparency: Option<Transparency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
    /// Shared by every instance of a series.
    #[serde(rename = "iCalUID", skip_serializing_if = "Option::is_none")]
    pub ical_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extended_properties: Option<ExtendedProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reminders: Option<EventReminders>,
    /// `default`, `outOfOffice`, `focusTime`, `workingLocation`, … (read-only in this revision).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
}

impl Event {
    pub fn is_cancelled(&self) -> bool {
        self.status == Some(EventStatus::Cancelled)
    }

    /// An instance or exception of a recurring event (as opposed to a parent or single event).
    pub fn is_instance(&self) -> bool {
        self.recurring_event_id.is_some()
    }

    /// A recurring parent.
    pub fn is_recurring_parent(&self) -> bool {
        self.recurrence
            .as_ref()
            .is_some_and(|lines| !lines.is_empty())
    }

    /// The recurrence lines, empty when there are none.
    pub fn recurrence_lines(&self) -> &[String] {
        self.recurrence.as_deref().unwrap_or_default()
    }

    /// A private extended property (Almanac's own markers live there).
    pub fn private_property(&self, name: &str) -> Option<&str> {
        self.extended_properties
            .as_ref()?
            .private
            .as_ref()?
            .get(name)
            .map(String::as_str)
    }
}

/// `Events`: one page of `events.list` / `events.instances`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Events {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<Rfc3339Timestamp>,
    /// The calendar's zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_reminders: Option<Vec<EventReminder>>,
    /// Present on every page but the last. A page may be empty and still have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// Present on the last page only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_sync_token: Option<String>,
    #[serde(default)]
    pub items: Vec<Event>,
}

// ---------------------------------------------------------------------------------------------
// Channel (push notifications)
// ---------------------------------------------------------------------------------------------

/// `Channel`: the body of `events.watch` and `channels.stop`, and the watch response.
///
/// `Debug` redacts `token`: it authenticates incoming notifications.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Caller-chosen unique id (a UUID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Opaque id of the watched resource, needed to stop the channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_uri: Option<String>,
    /// Echoed in `X-Goog-Channel-Token` on every notification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Unix time in **milliseconds**, sent by Google as a JSON string (`format: int64`).
    #[serde(
        default,
        with = "int64_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration: Option<i64>,
    /// `web_hook` (or `webhook`).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub channel_type: Option<String>,
    /// HTTPS receiver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// E.g. `{"ttl": "604800"}` (seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<bool>,
}

impl Channel {
    /// A `web_hook` channel request delivering to `address`.
    pub fn web_hook(
        id: impl Into<String>,
        address: impl Into<String>,
        token: Option<String>,
    ) -> Self {
        Self {
            id: Some(id.into()),
            channel_type: Some("web_hook".into()),
            address: Some(address.into()),
            token,
            ..Self::default()
        }
    }

    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expiration.and_then(DateTime::from_timestamp_millis)
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("kind", &self.kind)
            .field("id", &self.id)
            .field("resource_id", &self.resource_id)
            .field("resource_uri", &self.resource_uri)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("expiration", &self.expiration)
            .field("channel_type", &self.channel_type)
            .field("address", &self.address)
            .field("params", &self.params)
            .field("payload", &self.payload)
            .finish()
    }
}

/// `format: int64` fields travel as JSON strings; accept numbers too, always write strings.
mod int64_string {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StringOrNumber {
        String(String),
        Number(i64),
    }

    pub fn serialize<S: Serializer>(value: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => serializer.serialize_str(&v.to_string()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i64>, D::Error> {
        match Option::<StringOrNumber>::deserialize(deserializer)? {
            None => Ok(None),
            Some(StringOrNumber::Number(n)) => Ok(Some(n)),
            Some(StringOrNumber::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| serde::de::Error::custom("expected an int64 string")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Calendar list
// ---------------------------------------------------------------------------------------------

/// `CalendarListEntry`: a calendar as it appears in the user's list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CalendarListEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary_override: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// `freeBusyReader`, `reader`, `writer`, `owner`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background_color: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub foreground_color: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_reminders: Option<Vec<EventReminder>>,
}

impl CalendarListEntry {
    /// Whether events can be written to this calendar.
    pub fn is_writable(&self) -> bool {
        matches!(self.access_role.as_deref(), Some("writer" | "owner"))
    }
}

/// `CalendarList`: one page of `calendarList.list`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CalendarList {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_sync_token: Option<String>,
    #[serde(default)]
    pub items: Vec<CalendarListEntry>,
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// The error envelope: `{"error": {"errors": [...], "code": N, "message": "..."}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ErrorItem>,
    /// Newer Google front ends add a gRPC-style status (`PERMISSION_DENIED`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl ErrorBody {
    /// The first item's `reason` (`rateLimitExceeded`, `fullSyncRequired`, …), which is what the
    /// classification keys on.
    pub fn reason(&self) -> Option<&str> {
        self.errors.iter().find_map(|e| e.reason.as_deref())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Client-chosen event ids
// ---------------------------------------------------------------------------------------------

const BASE32HEX_LOWER: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// A Google-valid event id derived from a UUID: 26 lower-case base32hex characters.
///
/// Choosing ids client-side is what makes inserts idempotent: a retried insert that already
/// landed fails with 409 `duplicate` instead of creating a second event.
pub fn event_id_from_uuid(id: uuid::Uuid) -> String {
    let value = id.as_u128();
    // 128 bits in 5-bit groups = 25 full groups + 3 bits; pad the last group with zeros.
    (0..26)
        .map(|i| {
            let shift = 128i32 - 5 * (i + 1);
            let group = if shift >= 0 {
                (value >> shift) & 0x1f
            } else {
                (value << -shift) & 0x1f
            };
            // `group` < 32 by construction.
            char::from(BASE32HEX_LOWER[usize::try_from(group).unwrap_or(0)])
        })
        .collect()
}

/// Whether Google would accept `id` as a client-chosen event id.
pub fn is_valid_event_id(id: &str) -> bool {
    (5..=1024).contains(&id.len()) && id.bytes().all(|b| BASE32HEX_LOWER.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_are_valid_unique_and_stable() {
        let a = uuid::Uuid::from_u128(0);
        let b = uuid::Uuid::from_u128(u128::MAX);
        assert_eq!(event_id_from_uuid(a), "0".repeat(26));
        assert_eq!(event_id_from_uuid(b), format!("{}s", "v".repeat(25)));
        let c = uuid::Uuid::now_v7();
        assert!(is_valid_event_id(&event_id_from_uuid(c)));
        assert_eq!(event_id_from_uuid(c), event_id_from_uuid(c));
        assert_ne!(
            event_id_from_uuid(c),
            event_id_from_uuid(uuid::Uuid::now_v7())
        );
        assert!(!is_valid_event_id("abcw1"));
        assert!(!is_valid_event_id("ab"));
        assert!(!is_valid_event_id("ABCDE"));
    }

    #[test]
    fn timestamps_compare_by_instant_and_offset() {
        let a = Rfc3339Timestamp::parse("2026-03-02T10:00:00Z").expect("valid");
        let b = Rfc3339Timestamp::parse("2026-03-02T10:00:00.000Z").expect("valid");
        let c = Rfc3339Timestamp::parse("2026-03-02T12:00:00+02:00").expect("valid");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_utc(), c.to_utc());
        assert!(Rfc3339Timestamp::parse("2026-03-02T10:00:00").is_err());
        let from_chrono: Rfc3339Timestamp = Utc
            .with_ymd_and_hms(2026, 3, 2, 10, 0, 0)
            .single()
            .expect("valid")
            .into();
        assert_eq!(from_chrono.as_str(), "2026-03-02T10:00:00Z");
    }
}
