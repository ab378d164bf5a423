//! Guard scripts run off the async workers, a bounded number at a time, each stopped at a
//! wall-clock deadline as well as by the sandbox's operation limit.
//!
//! The engine never reads a clock: the script engine of every snapshot asks [`past_deadline`]
//! every few operations, and the deadline lives in a thread-local set by [`GuardPool::run`]
//! around the engine call. A guard that runs into either limit is refused with its own code
//! (`guard_limit_exceeded`, see `error.rs`); the server keeps answering meanwhile, because the
//! thread running the guard has handed its other tasks to the runtime first.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gradflow_engine::script::{Limits, ScriptEngine};
use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};

thread_local! {
    /// When the guard running on this thread must stop.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Whether the guard running on this thread passed its deadline (asked by the script engine).
fn past_deadline() -> bool {
    DEADLINE.with(|d| d.get().is_some_and(|t| Instant::now() >= t))
}

/// The script engine every snapshot of the server uses: the default sandbox limits plus the
/// wall-clock deadline of [`GuardPool::run`].
pub fn script_engine() -> Arc<ScriptEngine> {
    Arc::new(ScriptEngine::with_interrupt(
        Limits::default(),
        Some(Arc::new(past_deadline)),
    ))
}

/// Clears the deadline however the guarded call ends (a panic included).
struct Armed;

impl Drop for Armed {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(None));
    }
}

/// Runs engine computations that evaluate guard scripts.
pub struct GuardPool {
    permits: Semaphore,
    timeout: Duration,
}

impl GuardPool {
    /// At most `concurrency` guards at once, each for at most `timeout`.
    pub fn new(concurrency: usize, timeout: Duration) -> GuardPool {
        GuardPool {
            permits: Semaphore::new(concurrency.max(1)),
            timeout,
        }
    }

    /// Runs `f` (which evaluates guards) on this thread as a blocking section, so the
    /// runtime moves its other tasks elsewhere, with the deadline armed.
    pub async fn run<T>(&self, f: impl FnOnce() -> T) -> ApiResult<T> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        let deadline = Instant::now() + self.timeout;
        let guarded = move || {
            let _armed = Armed;
            DEADLINE.with(|d| d.set(Some(deadline)));
            f()
        };
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        Ok(if multi_thread {
            tokio::task::block_in_place(guarded)
        } else {
            guarded()
        })
    }
}
