//! Taking a graduate off the roster (to the invalid list, 失效信息) and back again.
//!
//! The flag and the event every instance of the graduate reacts to (`graduate.removed`,
//! `graduate.restored`) are written in one transaction, the event as an outbox row; then the
//! event is delivered at once. A delivery that races with a timer, a person or another
//! reaction is retried on the re-read row (`service::react_to_event`); whatever still could
//! not be delivered — the process died, a reaction kept failing — stays in the outbox, whose
//! worker delivers it again until every instance has reacted. The row's first attempt is due
//! only after [`INLINE_LEASE`], so the worker does not deliver alongside the request.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use crate::auth::Caller;
use crate::db::WriteTx;
use crate::entity::{graduate, outbox};
use crate::error::ApiResult;
use crate::service::{react_to_event, AppState};

pub const REMOVED: &str = "graduate.removed";
pub const RESTORED: &str = "graduate.restored";

/// How long the request delivering an event itself keeps the outbox worker off it.
pub const INLINE_LEASE: chrono::Duration = chrono::Duration::seconds(30);

/// Writes the event for the graduate's instances as an outbox row in `txn`; its id.
async fn enqueue(
    txn: &WriteTx,
    graduate_id: i64,
    event: &str,
    now: DateTime<Utc>,
) -> ApiResult<i64> {
    let row = outbox::ActiveModel {
        instance_id: Set(None),
        kind: Set("event".into()),
        channel: Set("internal".into()),
        idempotency_key: Set(format!("{event}:g{graduate_id}:{}", uuid::Uuid::new_v4())),
        payload: Set(
            json!({"kind": "event", "event": event, "graduate_id": graduate_id}).to_string(),
        ),
        attempts: Set(0),
        next_attempt_at: Set(Utc::now() + INLINE_LEASE),
        delivered_at: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(row.id)
}

/// Delivers the event now; when every instance reacted, the outbox row is done. How many
/// instances reacted, and whether delivery is complete (else the worker goes on with it).
async fn deliver(state: &AppState, outbox_id: i64, graduate_id: i64, event: &str) -> (usize, bool) {
    match react_to_event(state, graduate_id, event, None).await {
        Ok(n) => {
            let w = state.db.writer().await;
            let done = outbox::Entity::update_many()
                .col_expr(outbox::Column::DeliveredAt, Expr::value(Some(Utc::now())))
                .filter(outbox::Column::Id.eq(outbox_id))
                .filter(outbox::Column::DeliveredAt.is_null())
                .exec(&w)
                .await;
            if let Err(e) = done {
                tracing::warn!(outbox_id, error = %e, "event delivered, marking it failed");
            }
            (n, true)
        }
        Err(e) => {
            tracing::warn!(outbox_id, event, error = %e.body.message, "event left to the outbox worker");
            (0, false)
        }
    }
}

/// Deletes a graduate from the roster: the flag, the audit record and the event commit
/// together, then every in-flight signing or registration of theirs is invalidated. A
/// repeated delete delivers the event again to anything still in flight.
pub async fn remove(state: &AppState, c: &Caller, g: &graduate::Model) -> ApiResult<(usize, bool)> {
    let now = state.clock.now();
    let outbox_id = {
        let txn = state.db.begin_write().await?;
        if !g.removed {
            graduate::Entity::update_many()
                .col_expr(graduate::Column::Removed, Expr::value(true))
                .col_expr(graduate::Column::RemovedAt, Expr::value(Some(now)))
                .col_expr(graduate::Column::RestorePending, Expr::value(false))
                .filter(graduate::Column::Id.eq(g.id))
                .exec(&txn)
                .await?;
            crate::audit::record(
                &txn,
                c,
                now,
                "roster.delete",
                ("graduate", g.id.to_string()),
                json!({"candidate_no": g.candidate_no}),
            )
            .await?;
            crate::store::counters::recount_roster(&txn, g.school_id).await?;
        }
        let id = enqueue(&txn, g.id, REMOVED, now).await?;
        txn.commit().await?;
        id
    };
    Ok(deliver(state, outbox_id, g.id, REMOVED).await)
}

/// Serializes restores in this process: the hourly worker and the restore endpoint may reach
/// the same graduate at once; the second waits and then finds nothing left to do.
static RESTORE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Takes a re-uploaded graduate off the invalid list and restores their signing and
/// destination states (`graduate.restored`); archive and hukou are not restored. The claim is
/// one conditional update, committed with the event, so across processes too exactly one
/// restorer proceeds; `None` when another one already did.
pub async fn restore(state: &AppState, g: &graduate::Model) -> ApiResult<Option<(usize, bool)>> {
    let _one = RESTORE.lock().await;
    let outbox_id = {
        let txn = state.db.begin_write().await?;
        let claimed = graduate::Entity::update_many()
            .col_expr(graduate::Column::Removed, Expr::value(false))
            .col_expr(
                graduate::Column::RemovedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(graduate::Column::RestorePending, Expr::value(false))
            .filter(graduate::Column::Id.eq(g.id))
            .filter(graduate::Column::RestorePending.eq(true))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        if !claimed {
            return Ok(None);
        }
        crate::store::counters::recount_roster(&txn, g.school_id).await?;
        let id = enqueue(&txn, g.id, RESTORED, state.clock.now()).await?;
        txn.commit().await?;
        id
    };
    Ok(Some(deliver(state, outbox_id, g.id, RESTORED).await))
}

/// Restores every re-uploaded graduate (the hourly worker).
pub async fn restore_pending(state: &AppState) -> ApiResult<usize> {
    let rows = graduate::Entity::find()
        .filter(graduate::Column::RestorePending.eq(true))
        .all(&state.db.conn)
        .await?;
    let mut n = 0;
    for g in rows {
        n += usize::from(restore(state, &g).await?.is_some());
    }
    Ok(n)
}
