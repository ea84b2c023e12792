//! Google Calendar API v3: wire types ([`wire`]) and the HTTP client ([`client`]).

pub mod adapter;
pub mod client;
pub mod wire;

pub use crate::oauth::{AccessTokenSource, SecretString, StaticAccessToken, TokenSourceError};
pub use client::{
    GoneReason, GoogleCalendarClient, GoogleClientConfig, GoogleError, InstancesQuery, ListQuery,
    DEFAULT_BASE_URL,
};
