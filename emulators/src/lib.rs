//! Faithful provider emulators: real HTTP servers speaking the Google Calendar v3 and Microsoft
//! Graph v1.0 wire formats, so the adapters, the sync engine and the client tests can run offline
//! against something that behaves like the real service (`almanac emulate google|outlook`).
//!
//! Kept out of `almanac-providers` so the production adapters never compile emulator code, and
//! deliberately independent of the adapters' own wire types, so that each checks the other.
//!
//! The crate is one control surface with two providers behind it. Shared: [`Emulator`] (start on
//! port 0, shutdown, the request log, fault plans, the clock, notification records) and the
//! server, fault, OAuth and helper machinery in `control`, `server`, `oauth` and `util`. `google`
//! and `outlook` hold only what is the provider's own: wire formats, recurrence rules, sync and
//! delta tokens, OAuth dialects, error bodies, webhooks.

mod control;
mod oauth;
mod server;
mod util;

pub mod google;
pub mod outlook;

pub use control::{
    serve, Emulator, EmulatorConfig, Fault, FaultEffect, FaultMatch, FaultPlan, RequestRecord,
    Served,
};
