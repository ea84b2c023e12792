//! The adapters' tests, one module per area, built as one test binary (one per file linked the
//! crate and its dependencies again for each). The emulator conformance tests are not here: they
//! test the emulators, not the adapters.

mod google_client;
mod google_inbound;
// Against the Graph emulator (almanac-emulators, a dev-dependency).
mod outlook_adapter;
mod outlook_client;
mod outlook_pattern;
