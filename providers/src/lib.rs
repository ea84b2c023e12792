//! Provider adapters (Google Calendar v3, Microsoft Graph), OAuth, and the sync engine.
//!
//! Depends on `almanac-domain` only. Everything the sync engine needs from the application (sync
//! state, token storage) is a trait defined here and implemented by `almanac-api`.

#[macro_use]
mod macros;

pub mod google;
pub mod oauth;
pub mod outlook;
pub mod retry;
pub mod sync;
