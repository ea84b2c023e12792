//! Microsoft Graph v1.0 calendar wire types: the subset of the CSDL (`graph-v1.0-calendar-subset`,
//! saved in `shared/provider-specs/`) that the Outlook adapter reads or writes.
//!
//! Conventions (the same as [`crate::google::wire`]):
//! - every field is optional and omitted from the JSON when `None`, so a partially filled
//!   [`Event`] is a valid `PATCH` body (absent = unchanged) and read-only fields are never sent back.
//!   Graph writes explicit `null`s in responses (`"recurrence": null`, `"transactionId": null`);
//!   they decode as `None` and are omitted on output. To send a `null` in a patch (e.g. to drop a
//!   recurrence), patch with a `serde_json::Value`;
//! - unknown fields are dropped on input (no catch-all map), except on open types whose extra members
//!   carry meaning ([`ResourceData`], [`InnerError`]). Always update events with `PATCH`: Graph has
//!   no full-replacement `PUT` for events, so unmodelled fields (attendees, locations…) are never lost;
//! - `Edm.DateTimeOffset` values keep the exact text Graph sent ([`DateTimeOffset`]; Graph writes
//!   seven fractional digits, `2026-03-02T09:00:01.1234567Z`) so values round-trip byte for byte;
//! - `dateTimeTimeZone.dateTime` is a *local* date-time without offset (`2026-03-02T14:00:00.0000000`)
//!   interpreted in `timeZone`; it stays a string (see [`DateTimeTimeZone::naive`]);
//! - string enums keep unknown values (`Other(..)`), so a new Graph value neither fails decoding nor
//!   gets rewritten.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An `Edm.DateTimeOffset` as Graph wrote it, with its parsed value (RFC 3339; equality compares
/// the instant and the offset, not the text).
pub use crate::google::wire::Rfc3339Timestamp as DateTimeOffset;

// ---------------------------------------------------------------------------------------------
// Open string enums
// ---------------------------------------------------------------------------------------------

open_string_enum! {
    /// `event.type` (`eventType`). Read-only.
    EventType {
        /// A one-off event.
        SingleInstance => "singleInstance",
        /// An unmodified occurrence of a series (skeletal in delta responses).
        Occurrence => "occurrence",
        /// A modified occurrence of a series.
        Exception => "exception",
        /// The series itself: carries `recurrence`; absent from calendarView and its delta.
        SeriesMaster => "seriesMaster",
    }
}

open_string_enum! {
    /// `event.showAs` (`freeBusyStatus`).
    FreeBusyStatus {
        Unknown => "unknown",
        Free => "free",
        Tentative => "tentative",
        Busy => "busy",
        Oof => "oof",
        WorkingElsewhere => "workingElsewhere",
    }
}

open_string_enum! {
    /// `itemBody.contentType` (`bodyType`).
    BodyType {
        Text => "text",
        Html => "html",
    }
}

open_string_enum! {
    /// `changeNotification.changeType` (`changeType`). A subscription's `changeType` is a
    /// comma-separated list of these (`"created,updated,deleted"`) and stays a string.
    ChangeType {
        Created => "created",
        Updated => "updated",
        Deleted => "deleted",
    }
}

open_string_enum! {
    /// `changeNotification.lifecycleEvent` (`lifecycleEventType`).
    LifecycleEventType {
        /// Notifications were dropped: resync (delta) and keep the subscription.
        Missed => "missed",
        /// The subscription is gone: recreate it and resync.
        SubscriptionRemoved => "subscriptionRemoved",
        /// Reauthorize (`POST /subscriptions/{id}/reauthorize`) or renew it before it is removed.
        ReauthorizationRequired => "reauthorizationRequired",
    }
}

// ---------------------------------------------------------------------------------------------
// Complex types
// ---------------------------------------------------------------------------------------------

/// `dateTimeTimeZone`: a local date-time (`2026-03-02T14:00:00.0000000`, no offset) and the zone
/// it is in (a Windows name, one of Graph's accepted IANA names, or `UTC`).
///
/// `dateTime` is non-nullable in the CSDL, hence a plain `String`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DateTimeTimeZone {
    pub date_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl DateTimeTimeZone {
    /// `value` in UTC, written the way Graph writes it (`…T14:00:00.0000000`, `"timeZone": "UTC"`).
    pub fn utc(value: DateTime<Utc>) -> Self {
        Self::local(value.naive_utc(), "UTC")
    }

    /// A wall-clock time in `time_zone` (a Windows or supported IANA name). All-day events use
    /// midnight values.
    pub fn local(value: NaiveDateTime, time_zone: impl Into<String>) -> Self {
        // Graph's own format: seven fractional digits (100 ns ticks).
        let ticks = value.nanosecond() % 1_000_000_000 / 100;
        Self {
            date_time: format!("{}.{ticks:07}", value.format("%Y-%m-%dT%H:%M:%S")),
            time_zone: Some(time_zone.into()),
        }
    }

    /// The local date-time, whatever the number of fractional digits (0–9). `None` when malformed.
    pub fn naive(&self) -> Option<NaiveDateTime> {
        NaiveDateTime::parse_from_str(self.date_time.trim(), "%Y-%m-%dT%H:%M:%S%.f").ok()
    }

    /// Whether the zone is UTC (what the client asks for with `Prefer: outlook.timezone="UTC"`).
    /// A missing zone counts as UTC, Graph's default.
    pub fn is_utc(&self) -> bool {
        self.time_zone
            .as_deref()
            .is_none_or(|z| matches!(z, "UTC" | "Etc/UTC" | "Etc/GMT" | "GMT"))
    }

    /// The instant, when the value is in UTC (see [`Self::is_utc`]); zone conversion of other
    /// values is the adapter's business (`outlook::zones`).
    pub fn to_utc(&self) -> Option<DateTime<Utc>> {
        if self.is_utc() {
            self.naive().map(|n| n.and_utc())
        } else {
            None
        }
    }
}

/// `itemBody`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<BodyType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// `emailAddress`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailAddress {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// `recipient` (`event.organizer`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_address: Option<EmailAddress>,
}

/// `singleValueLegacyExtendedProperty`: `id` looks like `String {GUID} Name almanac.series`.
/// Only returned when asked for with `$expand` (see [`crate::outlook::client::GraphClient::get_event`]),
/// never in delta.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SingleValueExtendedProperty {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `@removed` on a delta item: the event left the view (deleted, or moved/changed outside the
/// window: the adapter must verify with a GET before deleting).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// `deleted` (or `changed` on some resources).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Event
// ---------------------------------------------------------------------------------------------

/// `event`: a single instance, a series master, an occurrence or an exception; or, in delta
/// responses, a skeletal occurrence or an `@removed` marker.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// `#microsoft.graph.event` in delta items.
    #[serde(rename = "@odata.type", skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    /// `W/"<changeKey>"`: send it back as `If-Match`.
    #[serde(rename = "@odata.etag", skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Present (and the only other field besides `id`) on removed delta items.
    #[serde(rename = "@removed", skip_serializing_if = "Option::is_none")]
    pub removed: Option<Removed>,
    /// Opaque, case-sensitive. Immutable across moves because the client always sends
    /// `Prefer: IdType="ImmutableId"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Version stamp; changes on every change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<DateTimeOffset>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_date_time: Option<DateTimeOffset>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// Client-supplied idempotency key for creation (Graph deduplicates retried POSTs carrying the
    /// same value); returned on reads, including delta. Also Almanac's echo-suppression marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// Zone the event was created in (Windows name, `tzone://Microsoft/Custom`, or `UTC`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_start_time_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_end_time_zone: Option<String>,
    /// Differs per occurrence (unlike Google's `iCalUID`): never use it to correlate occurrences.
    #[serde(rename = "iCalUId", skip_serializing_if = "Option::is_none")]
    pub ical_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_preview: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<ItemBody>,
    /// `low`, `normal`, `high`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub importance: Option<String>,
    /// `normal`, `personal`, `private`, `confidential`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_all_day: Option<bool>,
    /// Meeting cancelled by its organizer (attendee copies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_cancelled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_organizer: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_reminder_on: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reminder_minutes_before_start: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_as: Option<FreeBusyStatus>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub event_type: Option<EventType>,
    /// On occurrences and exceptions: the master's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series_master_id: Option<String>,
    /// On occurrences and exceptions: where the pattern placed it, as an instant. The occurrence's
    /// identity (`start` moves, this does not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_start: Option<DateTimeOffset>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTimeTimeZone>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTimeTimeZone>,
    /// `patternedRecurrence {pattern, range}`, on series masters only. Kept as raw JSON here; the
    /// typed form and the RRULE translation live in [`crate::outlook::pattern`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organizer: Option<Recipient>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_link: Option<String>,
    /// On series masters (2026 v1.0 metadata): opaque markers of deleted occurrences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_occurrences: Option<Vec<String>>,
    /// Only with `$expand=singleValueExtendedProperties(...)`; may be sent on create/patch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub single_value_extended_properties: Option<Vec<SingleValueExtendedProperty>>,
}

impl Event {
    /// A delta item saying the event left the view.
    pub fn is_removed(&self) -> bool {
        self.removed.is_some()
    }

    pub fn is_series_master(&self) -> bool {
        self.event_type == Some(EventType::SeriesMaster)
    }

    /// An occurrence or an exception (it has a master).
    pub fn is_instance(&self) -> bool {
        matches!(
            self.event_type,
            Some(EventType::Occurrence | EventType::Exception)
        ) || (self.series_master_id.is_some() && !self.is_series_master())
    }

    pub fn is_cancelled(&self) -> bool {
        self.is_cancelled == Some(true)
    }

    /// The value of the single-value extended property `id` (compared case-insensitively, as
    /// Exchange does for property names and GUIDs), when it was expanded.
    pub fn extended_property(&self, id: &str) -> Option<&str> {
        self.single_value_extended_properties
            .as_ref()?
            .iter()
            .find(|p| {
                p.id.as_deref()
                    .is_some_and(|pid| pid.eq_ignore_ascii_case(id))
            })?
            .value
            .as_deref()
    }
}

/// A page of `calendarView/delta`: `@odata.nextLink` until the round is complete, then
/// `@odata.deltaLink` (store it verbatim for the next round).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeltaPage {
    #[serde(rename = "@odata.context", skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", skip_serializing_if = "Option::is_none")]
    pub delta_link: Option<String>,
    #[serde(default)]
    pub value: Vec<Event>,
}

/// A page of an OData collection (`/me/calendars`, `/me/events/{id}/instances`, …).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CollectionPage<T> {
    #[serde(rename = "@odata.context", skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
}

// ---------------------------------------------------------------------------------------------
// Calendar, user
// ---------------------------------------------------------------------------------------------

/// `calendar`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Calendar {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `auto`, `lightBlue`, … (`calendarColor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hex_color: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_default_calendar: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_share: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_view_private_items: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_edit: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_removable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<EmailAddress>,
}

impl Calendar {
    /// Whether events can be written to this calendar.
    pub fn is_writable(&self) -> bool {
        self.can_edit == Some(true)
    }
}

/// `user`, as `/me` returns it (the fields Almanac reads).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Subscriptions and change notifications
// ---------------------------------------------------------------------------------------------

/// `subscription`: the body of `POST /subscriptions` and its response.
///
/// `Debug` redacts `clientState`: it authenticates incoming notifications.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `me/events`, `users/{id}/events`, `me/calendars/{id}/events`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Comma-separated [`ChangeType`]s: `created,updated,deleted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_type: Option<String>,
    /// Echoed in every notification (≤ 128 characters); compare it on receipt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_state: Option<String>,
    /// HTTPS; must answer the `validationToken` handshake within 10 s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_url: Option<String>,
    /// Where lifecycle events go; can only be set at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle_notification_url: Option<String>,
    /// At most 10,080 minutes ahead for Outlook events without resource data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_date_time: Option<DateTimeOffset>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_resource_data: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_supported_tls_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_certificate_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_query_options: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_url_app_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator_id: Option<String>,
}

impl Subscription {
    /// A request for `created,updated,deleted` notifications on `resource`.
    pub fn events(
        resource: impl Into<String>,
        notification_url: impl Into<String>,
        lifecycle_notification_url: Option<String>,
        client_state: Option<String>,
        expiration: DateTime<Utc>,
    ) -> Self {
        Self {
            resource: Some(resource.into()),
            change_type: Some("created,updated,deleted".into()),
            notification_url: Some(notification_url.into()),
            lifecycle_notification_url,
            client_state,
            expiration_date_time: Some(expiration.into()),
            ..Self::default()
        }
    }
}

fn redacted(value: &Option<String>) -> Option<&'static str> {
    value.as_ref().map(|_| "[redacted]")
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("resource", &self.resource)
            .field("change_type", &self.change_type)
            .field("client_state", &redacted(&self.client_state))
            .field("notification_url", &self.notification_url)
            .field(
                "lifecycle_notification_url",
                &self.lifecycle_notification_url,
            )
            .field("expiration_date_time", &self.expiration_date_time)
            .field("include_resource_data", &self.include_resource_data)
            .field(
                "latest_supported_tls_version",
                &self.latest_supported_tls_version,
            )
            .field("encryption_certificate_id", &self.encryption_certificate_id)
            .field(
                "notification_query_options",
                &self.notification_query_options,
            )
            .field("application_id", &self.application_id)
            .field("creator_id", &self.creator_id)
            .finish_non_exhaustive()
    }
}

/// `resourceData` (an open type): what changed, without its content.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceData {
    /// `#Microsoft.Graph.Event`.
    #[serde(rename = "@odata.type", skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    /// `Users/{userId}/Events/{eventId}`.
    #[serde(rename = "@odata.id", skip_serializing_if = "Option::is_none")]
    pub odata_id: Option<String>,
    #[serde(rename = "@odata.etag", skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The event id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Any other member of the open type, kept as sent.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `changeNotificationEncryptedContent` (only with `includeResourceData`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeNotificationEncryptedContent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_signature: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_certificate_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_certificate_thumbprint: Option<String>,
}

/// `changeNotification`: a change (`changeType` + `resourceData`) or a lifecycle event
/// (`lifecycleEvent`, no `changeType`).
///
/// `Debug` redacts `clientState`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeNotification {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_expiration_date_time: Option<DateTimeOffset>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_type: Option<ChangeType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle_event: Option<LifecycleEventType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_data: Option<ResourceData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted_content: Option<ChangeNotificationEncryptedContent>,
}

impl ChangeNotification {
    /// Whether this is a lifecycle notification rather than a resource change.
    pub fn is_lifecycle(&self) -> bool {
        self.lifecycle_event.is_some()
    }

    /// Constant-time comparison of `clientState` with the value stored for the subscription.
    pub fn client_state_matches(&self, expected: &str) -> bool {
        let Some(actual) = self.client_state.as_deref() else {
            return false;
        };
        actual.len() == expected.len()
            && actual
                .bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

impl fmt::Debug for ChangeNotification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeNotification")
            .field("id", &self.id)
            .field("subscription_id", &self.subscription_id)
            .field(
                "subscription_expiration_date_time",
                &self.subscription_expiration_date_time,
            )
            .field("change_type", &self.change_type)
            .field("lifecycle_event", &self.lifecycle_event)
            .field("resource", &self.resource)
            .field("resource_data", &self.resource_data)
            .field("client_state", &redacted(&self.client_state))
            .field("tenant_id", &self.tenant_id)
            .field(
                "encrypted_content",
                &self.encrypted_content.as_ref().map(|_| "[encrypted]"),
            )
            .finish()
    }
}

/// `changeNotificationCollection`: the body Graph POSTs to the notification URL. Several
/// notifications, even for different subscriptions, may share one POST.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeNotificationCollection {
    #[serde(default)]
    pub value: Vec<ChangeNotification>,
    /// Only with `includeResourceData`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_tokens: Option<Vec<String>>,
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// The error envelope: `{"error": {"code": "...", "message": "...", "innerError": {...}}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphErrorResponse {
    pub error: GraphErrorBody,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphErrorBody {
    /// `ErrorItemNotFound`, `syncStateNotFound`, `ErrorOccurrenceCrossingBoundary`,
    /// `TimeZoneNotSupportedException`, `ApplicationThrottled`, … The classification keys on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner_error: Option<InnerError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<Value>>,
}

/// `innerError`: diagnostics (request ids for a support ticket), sometimes a more specific `code`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InnerError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(rename = "request-id", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(rename = "client-request-id", skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
    /// Anything else, kept as sent.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    #[test]
    fn date_time_time_zone_formats_and_parses_graph_style() {
        let at = Utc
            .with_ymd_and_hms(2026, 3, 2, 14, 0, 0)
            .single()
            .expect("time");
        let value = DateTimeTimeZone::utc(at);
        assert_eq!(value.date_time, "2026-03-02T14:00:00.0000000");
        assert_eq!(value.time_zone.as_deref(), Some("UTC"));
        assert_eq!(value.to_utc(), Some(at));
        let local = DateTimeTimeZone {
            date_time: "2026-03-02T09:00:00".into(),
            time_zone: Some("Eastern Standard Time".into()),
        };
        assert_eq!(
            local.naive(),
            NaiveDate::from_ymd_opt(2026, 3, 2).and_then(|d| d.and_hms_opt(9, 0, 0))
        );
        assert_eq!(local.to_utc(), None);
        let fine = NaiveDate::from_ymd_opt(2026, 3, 2)
            .and_then(|d| d.and_hms_nano_opt(9, 0, 0, 123_456_789))
            .expect("t");
        assert_eq!(
            DateTimeTimeZone::local(fine, "UTC").date_time,
            "2026-03-02T09:00:00.1234567"
        );
    }

    #[test]
    fn client_state_comparison() {
        let n = ChangeNotification {
            client_state: Some("abc".into()),
            ..ChangeNotification::default()
        };
        assert!(n.client_state_matches("abc"));
        assert!(!n.client_state_matches("abd") && !n.client_state_matches("ab"));
        assert!(!ChangeNotification::default().client_state_matches(""));
    }
}
