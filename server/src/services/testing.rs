//! Hooks of a test run (`--test-clock`): what an end-to-end test needs to make timing
//! deterministic.

use crate::error::{ApiError, ApiResult};
use crate::State;

/// Holds (or releases) the SQLite writer's turn so that transitions queue behind it and then
/// share one group commit. Releasing is accepted on every backend; holding needs SQLite.
pub async fn hold_writer(state: &State, hold: bool) -> ApiResult<()> {
    if !state.clock.is_manual() {
        return Err(ApiError::conflict(
            "clock_not_manual",
            "服务未以 --test-clock 启动，不能暂停写入",
        ));
    }
    if !state.db.hold_writer(hold).await && hold {
        return Err(ApiError::conflict(
            "no_writer_turn",
            "PostgreSQL 后端没有单一写入者，不能暂停写入",
        ));
    }
    Ok(())
}
