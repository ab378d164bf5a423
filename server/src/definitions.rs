//! Definition versions as an administrator manages them: what is stored, which version is
//! active, which could not be loaded and why, and retiring a version.

use chrono::Utc;
use gradflow_engine::definition::DefId;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};

use crate::entity::definition;
use crate::error::{ApiError, ApiResult};
use crate::service::{load_sources, AppState};

/// Every stored definition version with its status: `active` (new instances use it),
/// `available` (loaded, for the instances pinned to it), `retired`, or `unusable` (with the
/// problems that keep it from loading).
pub async fn list(state: &AppState) -> ApiResult<Value> {
    let snap = state.registry.snapshot();
    let rows = definition::Entity::find()
        .order_by_asc(definition::Column::Key)
        .order_by_asc(definition::Column::Province)
        .order_by_asc(definition::Column::Version)
        .all(&state.db.conn)
        .await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|d| {
            let id = DefId::parse(&d.id);
            let problems = id.as_ref().and_then(|id| snap.unusable(id));
            let active = id.as_ref().is_some_and(|id| {
                snap.active(&id.key, id.province.as_deref())
                    .is_some_and(|a| a.def.id() == *id)
            });
            let status = match (problems, d.retired_at, active) {
                (Some(_), _, _) => "unusable",
                (None, Some(_), _) => "retired",
                (None, None, true) => "active",
                (None, None, false) => "available",
            };
            json!({
                "id": d.id,
                "key": d.key,
                "version": d.version,
                "province": d.province,
                "origin": d.origin,
                "created_at": d.created_at.to_rfc3339(),
                "retired_at": d.retired_at.map(|t| t.to_rfc3339()),
                "status": status,
                "problems": problems.unwrap_or_default(),
            })
        })
        .collect();
    Ok(json!({"items": items}))
}

/// Retires a stored version: new instances never use it again (the next lower version of the
/// key becomes active), the instances pinned to it go on. Idempotent.
pub async fn retire(state: &AppState, id: &str) -> ApiResult<Value> {
    let row = definition::Entity::find_by_id(id.to_string())
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("流程定义 {id} 不存在")))?;
    if row.retired_at.is_none() {
        let _write = state.db.write_guard().await;
        definition::Entity::update_many()
            .col_expr(definition::Column::RetiredAt, Expr::value(Some(Utc::now())))
            .filter(definition::Column::Id.eq(id))
            .filter(definition::Column::RetiredAt.is_null())
            .exec(&state.db.conn)
            .await?;
    }
    let sources = load_sources(&state.db, &state.config.root)
        .await
        .map_err(ApiError::internal)?;
    let snap = state
        .registry
        .reload(&sources)
        .map_err(crate::api::admin::diagnostics_error)?;
    let active = DefId::parse(id).and_then(|d| {
        snap.active(&d.key, d.province.as_deref())
            .map(|a| a.def.id().to_string())
    });
    Ok(json!({"id": id, "retired": true, "active": active}))
}
