//! The Almanac server: configuration, startup, HTTP and GraphQL, services, the store.

pub mod auth;
pub mod changes;
pub mod config;
pub mod connections;
pub mod graphql;
pub mod http;
pub mod ics;
pub mod secrets;
pub mod services;
pub mod startup;
pub mod state;
pub mod store;
pub mod sync;
pub mod telemetry;
