//! CPU-bound work (building a schedule, which walks a COUNT rule to its end; planning an edit or
//! an ICS import) and the budget it runs under.
//!
//! Almost every rule is cheap: its COUNT walk takes tens of steps. Such work runs inline, on the
//! executor thread that took the request, under a small step budget; it never waits behind anyone.
//! Work that runs out of that budget starts again on the blocking pool under the request's full
//! budget ([`MAX_RULE_STEPS`]), where at most one computation per core but one runs at once (one
//! core always stays with the executor, so heavy rules cannot starve light requests of CPU). More
//! wait their turn here, holding no executor thread and no database lock: stores are written only
//! after the computation.

use super::ServiceError;
use almanac_domain::recurrence::{step_budget, MAX_RULE_STEPS};
use std::sync::LazyLock;
use tokio::sync::Semaphore;

/// Rule steps a computation may take inline before it moves to the pool: about a quarter of a
/// millisecond, far more than any everyday rule needs.
pub const INLINE_STEPS: u64 = 50_000;

static SLOTS: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Semaphore::new(cores.saturating_sub(1).max(1))
});

/// Runs `work` inline if it fits in [`INLINE_STEPS`], otherwise on the pool under the full budget.
pub(crate) async fn run<T: Send + 'static>(
    work: impl Fn() -> T + Send + 'static,
) -> Result<T, ServiceError> {
    let (out, spent) = step_budget::within(INLINE_STEPS, &work);
    if !spent.ran_out {
        return Ok(out);
    }
    run_pooled(work).await
}

/// Runs `work` on the blocking pool once a slot is free, under one budget for all of it (an ICS
/// import: ten sparse rules share one budget instead of spending ten).
pub(crate) async fn run_pooled<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ServiceError> {
    let _slot = SLOTS
        .acquire()
        .await
        .map_err(|e| ServiceError::internal(format_args!("compute slots closed: {e}")))?;
    tokio::task::spawn_blocking(move || step_budget::within(MAX_RULE_STEPS, work).0)
        .await
        .map_err(|e| ServiceError::internal(format_args!("computation failed: {e}")))
}
