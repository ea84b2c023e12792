//! CPU-bound work (building a schedule, which walks a COUNT rule to its end; planning an ICS
//! import) runs here, off the async executor threads, so a heavy rule never delays the requests
//! those threads serve. At most one computation per core runs at once; more wait their turn here,
//! holding no executor thread and no database lock.

use super::ServiceError;
use std::sync::LazyLock;
use tokio::sync::Semaphore;

static SLOTS: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));

/// Runs `work` on the blocking pool once a slot is free.
pub(crate) async fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ServiceError> {
    let _slot = SLOTS
        .acquire()
        .await
        .map_err(|e| ServiceError::internal(format_args!("compute slots closed: {e}")))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ServiceError::internal(format_args!("computation failed: {e}")))
}
