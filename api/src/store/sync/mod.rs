//! Storage for provider sync, one capability per trait: OAuth states, provider connections and
//! their tokens, calendar links (and their watch channels), the outbox, and the remote copies of
//! series. Rows are parsed into typed records when read: a stored value that no longer parses is
//! `StoreError::Corrupt`, never a default.

mod connections;
mod links;
mod oauth;
mod outbox;
mod remote;

pub use connections::Connections;
pub use links::{CalendarLinks, WatchChannels};
pub use oauth::OAuthStates;
pub(super) use outbox::enqueue_pushes;
pub use outbox::Outbox;
pub use remote::RemoteCopies;

use super::StoreError;
use almanac_domain::ids::{ConnectionId, LinkId};
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
pub use almanac_providers::sync::engine::Direction;

/// The calendar providers Almanac syncs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Google,
    Outlook,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Outlook => "outlook",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "google" => Some(Provider::Google),
            "outlook" => Some(Provider::Outlook),
            _ => None,
        }
    }
}

/// Whether a connection's grant still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// The grant works; its links sync.
    Active,
    /// The provider refused the grant (`invalid_grant`): its links pause until the account is
    /// connected again. Nothing local is deleted.
    NeedsReauth,
}

impl ConnectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Active => "ACTIVE",
            ConnectionState::NeedsReauth => "NEEDS_REAUTH",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(ConnectionState::Active),
            "NEEDS_REAUTH" => Some(ConnectionState::NeedsReauth),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConnectionRecord {
    pub id: ConnectionId,
    pub organization_id: OrganizationId,
    pub user_id: Option<String>,
    pub provider: Provider,
    pub account: String,
    pub state: ConnectionState,
    /// Sealed (see `crate::secrets`), never plaintext.
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub access_expires_at: Option<i64>,
    pub token_version: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct OAuthStateRecord {
    pub state_sha256: String,
    pub organization_id: OrganizationId,
    pub user_id: Option<String>,
    pub provider: Provider,
    /// Sealed.
    pub pkce_verifier: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct LinkRecord {
    pub id: LinkId,
    pub organization_id: OrganizationId,
    pub calendar_id: CalendarId,
    pub connection_id: ConnectionId,
    pub remote_calendar_id: String,
    pub direction: Direction,
    pub sync_cursor: Option<String>,
    pub last_synced_at: Option<i64>,
    pub last_error: Option<String>,
    /// The provider's watch channel (Google) or subscription (Microsoft) id: chosen by the
    /// provider for Microsoft, so it is kept as the provider's opaque text.
    pub channel_id: Option<String>,
    pub channel_resource_id: Option<String>,
    pub channel_token_sha256: Option<String>,
    pub channel_expires_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct RemoteSeriesRecord {
    pub link_id: LinkId,
    pub series_id: SeriesId,
    /// None: the provider holds nothing for the series (its push was rejected).
    pub remote_id: Option<String>,
    pub etag: Option<String>,
    /// JSON: original start → { remote_id, etag, fingerprint }.
    pub exceptions: String,
    pub fingerprint: Option<String>,
    pub fidelity: Option<String>,
    pub fidelity_detail: Option<String>,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct OutboxRecord {
    pub id: i64,
    pub series_id: SeriesId,
    pub attempts: i32,
}

fn corrupt(what: &str, value: &str) -> StoreError {
    super::rows::corrupt(what, format!("{value:?}"))
}

use super::rows::parse_id;

fn parse_provider(s: &str) -> Result<Provider, StoreError> {
    Provider::parse(s).ok_or_else(|| corrupt("provider", s))
}

/// The rows as stored, all text; converted to the records above as they are read.
mod rows {
    #[derive(sqlx::FromRow)]
    pub(super) struct ConnectionRow {
        pub id: String,
        pub organization_id: String,
        pub user_id: Option<String>,
        pub provider: String,
        pub account: String,
        pub state: String,
        pub access_token: Option<String>,
        pub refresh_token: Option<String>,
        pub access_expires_at: Option<i64>,
        pub token_version: i64,
        pub last_error: Option<String>,
        pub created_at: i64,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct OAuthStateRow {
        pub state_sha256: String,
        pub organization_id: String,
        pub user_id: Option<String>,
        pub provider: String,
        pub pkce_verifier: String,
        pub expires_at: i64,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct LinkRow {
        pub id: String,
        pub organization_id: String,
        pub calendar_id: String,
        pub connection_id: String,
        pub remote_calendar_id: String,
        pub direction: String,
        pub sync_cursor: Option<String>,
        pub last_synced_at: Option<i64>,
        pub last_error: Option<String>,
        pub channel_id: Option<String>,
        pub channel_resource_id: Option<String>,
        pub channel_token_sha256: Option<String>,
        pub channel_expires_at: Option<i64>,
        pub created_at: i64,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct RemoteSeriesRow {
        pub link_id: String,
        pub series_id: String,
        pub remote_id: Option<String>,
        pub etag: Option<String>,
        pub exceptions: String,
        pub fingerprint: Option<String>,
        pub fidelity: Option<String>,
        pub fidelity_detail: Option<String>,
        pub updated_at: i64,
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct OutboxRow {
        pub id: i64,
        pub series_id: String,
        pub attempts: i32,
    }
}

impl TryFrom<rows::ConnectionRow> for ConnectionRecord {
    type Error = StoreError;
    fn try_from(r: rows::ConnectionRow) -> Result<Self, StoreError> {
        Ok(ConnectionRecord {
            id: parse_id("connection id", &r.id)?,
            organization_id: parse_id("organization id", &r.organization_id)?,
            user_id: r.user_id,
            provider: parse_provider(&r.provider)?,
            account: r.account,
            state: ConnectionState::parse(&r.state)
                .ok_or_else(|| corrupt("connection state", &r.state))?,
            access_token: r.access_token,
            refresh_token: r.refresh_token,
            access_expires_at: r.access_expires_at,
            token_version: r.token_version,
            last_error: r.last_error,
            created_at: r.created_at,
        })
    }
}

impl TryFrom<rows::OAuthStateRow> for OAuthStateRecord {
    type Error = StoreError;
    fn try_from(r: rows::OAuthStateRow) -> Result<Self, StoreError> {
        Ok(OAuthStateRecord {
            state_sha256: r.state_sha256,
            organization_id: parse_id("organization id", &r.organization_id)?,
            user_id: r.user_id,
            provider: parse_provider(&r.provider)?,
            pkce_verifier: r.pkce_verifier,
            expires_at: r.expires_at,
        })
    }
}

impl TryFrom<rows::LinkRow> for LinkRecord {
    type Error = StoreError;
    fn try_from(r: rows::LinkRow) -> Result<Self, StoreError> {
        Ok(LinkRecord {
            id: parse_id("link id", &r.id)?,
            organization_id: parse_id("organization id", &r.organization_id)?,
            calendar_id: parse_id("calendar id", &r.calendar_id)?,
            connection_id: parse_id("connection id", &r.connection_id)?,
            remote_calendar_id: r.remote_calendar_id,
            direction: Direction::parse(&r.direction)
                .ok_or_else(|| corrupt("link direction", &r.direction))?,
            sync_cursor: r.sync_cursor,
            last_synced_at: r.last_synced_at,
            last_error: r.last_error,
            channel_id: r.channel_id,
            channel_resource_id: r.channel_resource_id,
            channel_token_sha256: r.channel_token_sha256,
            channel_expires_at: r.channel_expires_at,
            created_at: r.created_at,
        })
    }
}

impl TryFrom<rows::RemoteSeriesRow> for RemoteSeriesRecord {
    type Error = StoreError;
    fn try_from(r: rows::RemoteSeriesRow) -> Result<Self, StoreError> {
        Ok(RemoteSeriesRecord {
            link_id: parse_id("link id", &r.link_id)?,
            series_id: parse_id("series id", &r.series_id)?,
            remote_id: r.remote_id,
            etag: r.etag,
            exceptions: r.exceptions,
            fingerprint: r.fingerprint,
            fidelity: r.fidelity,
            fidelity_detail: r.fidelity_detail,
            updated_at: r.updated_at,
        })
    }
}

impl TryFrom<rows::OutboxRow> for OutboxRecord {
    type Error = StoreError;
    fn try_from(r: rows::OutboxRow) -> Result<Self, StoreError> {
        Ok(OutboxRecord {
            id: r.id,
            series_id: parse_id("outbox series id", &r.series_id)?,
            attempts: r.attempts,
        })
    }
}

/// Parses every row read, failing on the first corrupt one.
fn parsed<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}
