//! The emulators over real HTTP, one binary: fidelity against each provider's published schema,
//! then one focused test per checklist item of PROVIDERS.md §3.
#![allow(clippy::unwrap_used)]

mod google;
mod harness;
mod outlook;
mod shared;
