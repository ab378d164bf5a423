//! Guard scripts run off the async workers, a bounded number at a time, each evaluation
//! stopped after a wall-clock limit as well as by the sandbox's operation limit.
//!
//! The engine never reads a clock: the script engine of every snapshot tells the
//! [`WallClock`] of [`script_engine`] when an evaluation begins (noted in a thread-local, as
//! an evaluation runs on one thread) and asks it every few operations whether the limit has
//! passed. The same limit bounds the trial runs of guards when definitions load. A guard that
//! runs into either limit is refused with its own code (`guard_limit_exceeded`, see
//! `error.rs`); the server keeps answering meanwhile, because the thread running the guard
//! has handed its other tasks to the runtime first ([`GuardPool::run`]).

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gradflow_engine::script::{Interrupt, Limits, ScriptEngine};
use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};

thread_local! {
    /// When the evaluation running on this thread began.
    static BEGAN: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// At most `limit` of wall-clock time per evaluation.
struct WallClock {
    limit: Duration,
}

impl Interrupt for WallClock {
    fn begin(&self) {
        BEGAN.with(|b| b.set(Some(Instant::now())));
    }

    fn stop(&self) -> bool {
        BEGAN.with(|b| b.get().is_some_and(|t| t.elapsed() >= self.limit))
    }
}

/// The script engine every snapshot of the server uses: the default sandbox limits plus at
/// most `limit` of wall-clock time per evaluation.
pub fn script_engine(limit: Duration) -> Arc<ScriptEngine> {
    Arc::new(ScriptEngine::with_interrupt(
        Limits::default(),
        Some(Arc::new(WallClock { limit })),
    ))
}

/// Runs engine computations that evaluate guard scripts.
pub struct GuardPool {
    permits: Semaphore,
}

impl GuardPool {
    /// At most `concurrency` guards at once.
    pub fn new(concurrency: usize) -> GuardPool {
        GuardPool {
            permits: Semaphore::new(concurrency.max(1)),
        }
    }

    /// Runs `f` (which evaluates guards) on this thread as a blocking section, so the
    /// runtime moves its other tasks elsewhere.
    pub async fn run<T>(&self, f: impl FnOnce() -> T) -> ApiResult<T> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        Ok(if multi_thread {
            tokio::task::block_in_place(f)
        } else {
            f()
        })
    }
}
