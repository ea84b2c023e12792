//! What can go wrong in a sync use case, as decisions for the caller: each variant says what to
//! do next (configure the server, fix the input, reconnect the account, retry later). The GraphQL
//! and HTTP edges map them to what their callers see; nothing here knows about either.

use super::Provider;
use crate::store::StoreError;
use almanac_providers::google::client::GoogleError;
use almanac_providers::outlook::client::GraphError;
use almanac_providers::sync::engine::SyncError as RoundError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The server has no OAuth client for the provider: an operator must configure one.
    #[error("{} sync is not configured on this server (set {})", .0.as_str(), .0.client_id_variable())]
    NotConfigured(Provider),
    /// The calendar, account or link is not the organization's (or no longer exists).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller's input cannot be used as it is.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// An OAuth callback whose state this server did not issue, already used, expired, or issued
    /// for another provider: the user must start connecting again.
    #[error("this authorization link is unknown, expired or already used; start connecting again")]
    UnknownAuthorization,
    /// The provider answered, and the answer was no (an OAuth exchange, listing calendars).
    #[error("the provider refused to {action}: {reason}")]
    ProviderRefused {
        action: &'static str,
        reason: String,
    },
    /// The provider refuses the connection's grant for good: the user must connect again.
    #[error("the connection needs to be authorized again: {0}")]
    NeedsReauthorization(String),
    /// A provider call (a watch channel, a subscription) failed, classified by the engine's
    /// terms: retry later, give up, or reconnect.
    #[error(transparent)]
    Provider(#[from] RoundError),
    /// The configured Google endpoint cannot be used (an operator's mistake, not the user's).
    #[error("the Google Calendar client could not be set up: {0}")]
    GoogleSetup(#[source] GoogleError),
    /// The configured Graph endpoint cannot be used.
    #[error("the Microsoft Graph client could not be set up: {0}")]
    GraphSetup(#[source] GraphError),
    /// A sealed secret this server cannot open (its token keys changed since it was sealed).
    #[error("a sealed {0} cannot be opened with this server's token keys")]
    Unsealable(&'static str),
    /// A stored row names something that does not parse (written by a newer or broken release).
    #[error("the stored {0} is corrupt")]
    Corrupt(&'static str),
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}

impl SyncError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        SyncError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// The same failure as the engine sees it, for a round's report and the link's last error.
    pub(crate) fn into_round_error(self) -> RoundError {
        match self {
            SyncError::Provider(e) => e,
            SyncError::NeedsReauthorization(why) => RoundError::NeedsReauth(why),
            other => RoundError::Local(other.to_string()),
        }
    }
}
