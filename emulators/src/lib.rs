//! Faithful provider emulators: real HTTP servers speaking the Google Calendar v3 and Microsoft
//! Graph v1.0 wire formats, so the adapters, the sync engine and the client tests can run offline
//! against something that behaves like the real service (`almanac emulate google|outlook`).
//!
//! Kept out of `almanac-providers` so the production adapters never compile emulator code, and
//! deliberately independent of the adapters' own wire types, so that each checks the other.

pub mod common;
pub mod google;
pub mod outlook;
