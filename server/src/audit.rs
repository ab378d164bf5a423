//! The audit log of administrative acts: settings, permissions, accounts, roster changes and
//! warning employers. Written in the same transaction as the change it records.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::Value;

use gradflow_engine::apply::Actor;

use crate::auth::Caller;
use crate::entity::audit_log;
use crate::error::ApiResult;

/// Records that `caller` did `action` on `target_kind`/`target_id`.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    caller: &Caller,
    now: DateTime<Utc>,
    action: &str,
    target: (&str, String),
    detail: Value,
) -> ApiResult<()> {
    record_as(conn, &caller.actor, now, action, target, detail).await
}

/// Records that `actor` did `action` (a transition marked `audit: true` records its actor).
pub async fn record_as<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    now: DateTime<Utc>,
    action: &str,
    target: (&str, String),
    detail: Value,
) -> ApiResult<()> {
    entry(actor, now, action, target, detail)
        .insert(conn)
        .await?;
    Ok(())
}

/// The audit log row of an act (for a caller that builds its statements itself).
pub fn entry(
    actor: &Actor,
    now: DateTime<Utc>,
    action: &str,
    target: (&str, String),
    detail: Value,
) -> audit_log::ActiveModel {
    audit_log::ActiveModel {
        at: Set(now),
        account_id: Set(actor.account_id),
        province_code: Set(actor.province.clone()),
        school_id: Set(actor.school_id),
        action: Set(action.to_string()),
        target_kind: Set(target.0.to_string()),
        target_id: Set(target.1),
        detail: Set(detail.to_string()),
        ..Default::default()
    }
}

/// Records the act in its transaction, then commits it: the change and its record land together.
pub async fn commit(
    txn: crate::db::WriteTx,
    caller: &Caller,
    now: DateTime<Utc>,
    action: &str,
    target: (&str, String),
    detail: Value,
) -> ApiResult<()> {
    record(&txn, caller, now, action, target, detail).await?;
    txn.commit().await?;
    Ok(())
}
