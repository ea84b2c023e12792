//! The end-to-end suite, one module per area, built as one test binary: every binary links the
//! whole app, and one per file cost minutes of linking and gigabytes of disk on each build.
//!
//! The modules share one process, so nothing here may rely on process-wide state it does not
//! own: servers listen on port 0 with a fresh database each, the log capture of `google_sync`
//! records only while a Google world is alive, and the once-per-process setups (the npm install,
//! the oracles' virtualenvs) are guarded by locks in `npm_clients` and `almanac_e2e`.

mod abuse;
mod auth;
mod availability;
mod bad_input;
mod concurrency;
mod conformance;
mod edits;
mod google_sync;
mod graphql_conventions;
mod ics;
mod n_plus_one;
mod npm_clients;
mod operations;
mod outlook_sync;
mod pagination;
mod recurrence;
mod schema_conventions;
mod series;
mod subscriptions;
mod sync_matrix;
