//! Batch review (批量审核) and quick review (快速审核) of a management list's items (seed 002 7).
//! Each item is one ordinary review decision — its own transaction, history, tasks and effects
//! — so a conflict or refusal on one item answers for that item and leaves the others as
//! decided.

use std::collections::HashSet;
use std::sync::Arc;

use gradflow_engine::registry::Snapshot;

use gradflow_engine::definition::{APPROVE, REJECT, RETURN};
use sea_orm::{ConnectionTrait, Value as DbValue};
use serde_json::Value;

use crate::auth::Caller;
use crate::entity::instance;
use crate::error::{ApiError, ApiResult};
use crate::service::{self, AppState};

/// At most this many items in one batch review (a list page holds at most 200).
pub const MAX_BATCH: usize = 200;

/// One item's decision: the instance after it, or why it was not taken.
pub struct ItemOutcome {
    pub instance_id: i64,
    pub result: ApiResult<instance::Model>,
}

/// The decisions a list's batch review takes (seed 002 7: 审核通过 or 审核不通过).
pub const LIST_DECISIONS: [&str; 2] = [APPROVE, REJECT];
/// The decisions the inbox's bulk decision takes: also 退回修改 where the review offers it.
pub const INBOX_DECISIONS: [&str; 3] = [APPROVE, RETURN, REJECT];

/// Decides (`decision`, one of `allowed`) each of `items` (instance id, the `row_version` the
/// reviewer saw) with the same `input` (the one reason of a batch rejection or return). Only
/// items of `flows` are decided; the others answer `not_in_list`.
#[allow(clippy::too_many_arguments)]
pub async fn batch(
    state: &AppState,
    caller: &Caller,
    flows: &[String],
    allowed: &[&str],
    decision: &str,
    input: &Value,
    items: &[(i64, Option<i32>)],
) -> ApiResult<Vec<ItemOutcome>> {
    if !allowed.contains(&decision) {
        let labels: Vec<&str> = allowed
            .iter()
            .map(|d| match *d {
                APPROVE => "approve（审核通过）",
                RETURN => "return（退回修改）",
                _ => "reject（审核不通过）",
            })
            .collect();
        return Err(ApiError::unprocessable(
            "invalid_decision",
            format!("decision：批量审核的结果只能是 {}", labels.join("、")),
        ));
    }
    if items.is_empty() {
        return Err(ApiError::unprocessable(
            "no_items",
            "items：请勾选需要审核的数据条目",
        ));
    }
    if items.len() > MAX_BATCH {
        return Err(ApiError::unprocessable(
            "too_many_items",
            format!("items：一次批量审核最多 {MAX_BATCH} 条"),
        ));
    }
    let mut seen = HashSet::new();
    if let Some((id, _)) = items.iter().find(|(id, _)| !seen.insert(*id)) {
        return Err(ApiError::unprocessable(
            "duplicate_item",
            format!("items：事项 {id} 重复勾选"),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for &(id, expected) in items {
        let result = match in_list(state, caller, flows, id).await {
            Ok((row, snap)) => {
                service::act_on(state, caller, &snap, &row, decision, input, expected).await
            }
            Err(e) => Err(e),
        };
        out.push(ItemOutcome {
            instance_id: id,
            result,
        });
    }
    Ok(out)
}

/// The item `id` as the caller sees it; refused when it is not an item of the list (or not
/// the caller's to see).
async fn in_list(
    state: &AppState,
    caller: &Caller,
    flows: &[String],
    id: i64,
) -> ApiResult<(instance::Model, Arc<Snapshot>)> {
    let (row, snap) = service::visible_instance(state, caller, id).await?;
    if !flows.contains(&row.def_key) {
        return Err(ApiError::unprocessable(
            "not_in_list",
            "该事项不属于此列表，不能在此批量审核",
        ));
    }
    Ok((row, snap))
}

/// A pending item quick review looked at, with its graduate.
pub struct QuickItem {
    pub instance_id: i64,
    pub graduate_name: String,
    pub candidate_no: String,
    pub result: ApiResult<instance::Model>,
}

/// 快速审核: every item of the list waiting for the caller's review in a state whose review has a
/// quick script; each is approved when the script passes, else left with its refusal.
/// `(flow, state)` pairs name those states (none ⇒ `no_quick_review`).
pub async fn quick(
    state: &AppState,
    caller: &Caller,
    quick_states: &[(String, String)],
) -> ApiResult<Vec<QuickItem>> {
    if quick_states.is_empty() {
        return Err(ApiError::unprocessable(
            "no_quick_review",
            "该列表没有快速审核（快速审核仅用于档案信息登记的申请记录）",
        ));
    }
    let (mut sql_where, mut values) = crate::services::tasks::task_scope(state, caller)?;
    let pairs: Vec<&str> = quick_states
        .iter()
        .map(|_| "(t.def_key = ? AND t.state = ?)")
        .collect();
    sql_where.push_str(&format!(" AND ({})", pairs.join(" OR ")));
    for (flow, st) in quick_states {
        values.push(DbValue::from(flow.clone()));
        values.push(DbValue::from(st.clone()));
    }
    let db = &state.db;
    let rows = db
        .conn
        .query_all(db.stmt(
            &format!(
                "SELECT t.instance_id, g.name, g.candidate_no FROM tasks t \
                 JOIN graduates g ON g.id = t.graduate_id WHERE {sql_where} ORDER BY t.id"
            ),
            values,
        ))
        .await
        .map_err(ApiError::from)?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for r in rows {
        let id: i64 = r.try_get("", "instance_id").map_err(ApiError::from)?;
        if !seen.insert(id) {
            continue;
        }
        if state.shutdown.is_requested() {
            break;
        }
        out.push(QuickItem {
            instance_id: id,
            graduate_name: r.try_get("", "name").map_err(ApiError::from)?,
            candidate_no: r.try_get("", "candidate_no").map_err(ApiError::from)?,
            result: service::quick_approve(state, caller, id).await,
        });
    }
    Ok(out)
}
