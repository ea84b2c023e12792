//! Typed ids. Each kind of thing has its own type and its own text prefix, so an id of one kind can
//! never be used where another is expected, and a client can tell what an id names.
//!
//! New ids are minted by the caller (the API's services) and passed in: minting reads the clock
//! and an RNG, which this crate never does.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("this id names a different kind of object")]
    WrongKind,
    #[error("this id is malformed")]
    Malformed,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(uuid::Uuid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;
            pub fn from_uuid(u: uuid::Uuid) -> Self {
                Self(u)
            }
            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "_{}"), self.0.simple())
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                let raw = s.strip_prefix(concat!($prefix, "_")).ok_or(IdError::WrongKind)?;
                if raw.len() != 32 {
                    return Err(IdError::Malformed);
                }
                uuid::Uuid::try_parse(raw).map(Self).map_err(|_| IdError::Malformed)
            }
        }
    };
}

id_type!(
    /// The tenant. Every stored row belongs to exactly one organization.
    OrganizationId, "org"
);
id_type!(CalendarId, "cal");
id_type!(SeriesId, "ser");
id_type!(
    /// A calendar's iCalendar feed (its secret URL is not derived from the id).
    FeedId, "feed"
);

/// An occurrence's identity within its series: its original start (RFC 5545 RECURRENCE-ID), as an
/// instant in seconds. It does not change when the occurrence is moved or renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecurrenceId(pub i64);

impl RecurrenceId {
    pub fn instant(self) -> chrono::DateTime<chrono::Utc> {
        crate::time::instant(self.0)
    }
}

impl OrganizationId {
    /// The organization used until authentication names one (dev mode).
    pub const DEFAULT: OrganizationId = OrganizationId(uuid::Uuid::from_u128(
        0x0000_0000_0000_7000_8000_0000_0000_0001,
    ));
}
