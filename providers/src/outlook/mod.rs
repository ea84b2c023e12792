//! Microsoft Graph (Outlook calendar): RRULE ↔ patternedRecurrence translation (`pattern`),
//! Windows ↔ IANA zones (`zones`), wire types (`wire`), the HTTP client (`client`).

pub mod adapter;
pub mod client;
pub mod pattern;
pub mod wire;
pub mod zones;
