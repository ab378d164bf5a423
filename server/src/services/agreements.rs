//! The reads and writes around the signing and termination flows: rendered documents, an
//! instance's uploaded files, the records of the reviewer's detail view (the employer, what
//! was sent to the employment management system, the documents), the graduate an instance is
//! about, "get latest student info" and the employer's single-use upload links.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait};
use serde_json::{json, Map, Value};

use gradflow_engine::apply::Actor;

use crate::entity::{action_link, document, employer, graduate, instance, outbox, school, upload};
use crate::error::{ApiError, ApiResult};
use crate::service::AppState;
use crate::store;

/// An upload's row and the bytes of its file in the data directory.
pub async fn read_upload(state: &AppState, id: &str) -> ApiResult<(upload::Model, Vec<u8>)> {
    let u = upload::Entity::find_by_id(id.to_string())
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| ApiError::not_found("文件不存在"))?;
    let bytes = tokio::fs::read(state.config.data_dir.join(&u.path))
        .await
        .map_err(ApiError::internal)?;
    Ok((u, bytes))
}

/// The graduate an instance is about.
pub async fn graduate_of(state: &AppState, row: &instance::Model) -> ApiResult<graduate::Model> {
    graduate::Entity::find_by_id(row.graduate_id)
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| ApiError::internal("graduate of instance missing"))
}

/// A link token's row, refused when used, expired or no longer applicable.
pub async fn live_link(
    state: &AppState,
    token: &str,
) -> ApiResult<(action_link::Model, instance::Model)> {
    let gone = || {
        ApiError::new(
            poem::http::StatusCode::GONE,
            "link_gone",
            "链接已使用、已过期或该申请已发生变化，请联系毕业生重新发送",
        )
    };
    let link = action_link::Entity::find_by_id(store::token_hash(token))
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| ApiError::not_found("链接不存在"))?;
    if link.used_at.is_some() || link.expires_at <= state.clock.now() {
        return Err(gone());
    }
    let row = instance::Entity::find_by_id(link.instance_id)
        .one(&state.db.conn)
        .await?
        .filter(|r| r.state == link.state)
        .ok_or_else(gone)?;
    Ok((link, row))
}

/// A rendered document of an instance.
pub async fn rendered_document(
    state: &AppState,
    id: i64,
    name: &str,
) -> ApiResult<document::Model> {
    document::Entity::find_by_id((id, name.to_string()))
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| ApiError::not_found("该事项还没有生成这份文件"))
}

/// The registered employer of an instance, if it has one (and it still exists).
pub async fn employer_of(
    state: &AppState,
    row: &instance::Model,
) -> ApiResult<Option<employer::Model>> {
    Ok(match row.employer_id {
        Some(e) => employer::Entity::find_by_id(e).one(&state.db.conn).await?,
        None => None,
    })
}

/// What the management system already received for a graduate: the delivered syncs of any
/// of their instances, newest first, at most 20.
pub async fn delivered_syncs_of_graduate(
    state: &AppState,
    graduate_id: i64,
) -> ApiResult<Vec<outbox::Model>> {
    let theirs = instance::Entity::find()
        .select_only()
        .column(instance::Column::Id)
        .filter(instance::Column::GraduateId.eq(graduate_id))
        .into_query();
    Ok(outbox::Entity::find()
        .filter(outbox::Column::Kind.eq("sync"))
        .filter(outbox::Column::InstanceId.in_subquery(theirs))
        .filter(outbox::Column::DeliveredAt.is_not_null())
        .order_by_desc(outbox::Column::Id)
        .limit(20)
        .all(&state.db.conn)
        .await?)
}

/// The names of the documents rendered for an instance.
pub async fn document_names(state: &AppState, instance_id: i64) -> ApiResult<Vec<String>> {
    Ok(document::Entity::find()
        .filter(document::Column::InstanceId.eq(instance_id))
        .all(&state.db.conn)
        .await?
        .into_iter()
        .map(|d| d.name)
        .collect())
}

/// Stores the roster's latest data as the instance's pending student info (`vars`, with its
/// history row `refresh_student` naming the fields that `changed`), under the row-version
/// check; returns the updated row.
pub async fn save_refreshed_student(
    state: &AppState,
    row: &instance::Model,
    actor: &Actor,
    vars: Map<String, Value>,
    changed: &[&str],
) -> ApiResult<instance::Model> {
    store::update_vars(
        &state.db,
        row,
        actor,
        "refresh_student",
        vars,
        json!({ "changed": changed }),
        state.clock.now(),
    )
    .await
}

/// The graduate and the school of an instance, each if it still exists.
pub async fn graduate_and_school_of(
    state: &AppState,
    row: &instance::Model,
) -> ApiResult<(Option<graduate::Model>, Option<school::Model>)> {
    let g = graduate::Entity::find_by_id(row.graduate_id)
        .one(&state.db.conn)
        .await?;
    let s = school::Entity::find_by_id(row.school_id)
        .one(&state.db.conn)
        .await?;
    Ok((g, s))
}

/// Marks a link used. Single use: only the first request marks it (a concurrent second one
/// already lost the transition on the row version).
pub async fn mark_link_used(state: &AppState, link: &action_link::Model) -> ApiResult<()> {
    action_link::Entity::update_many()
        .col_expr(
            action_link::Column::UsedAt,
            Expr::value(Some(state.clock.now())),
        )
        .filter(action_link::Column::TokenHash.eq(link.token_hash.clone()))
        .filter(action_link::Column::UsedAt.is_null())
        .exec(&state.db.writer().await)
        .await?;
    Ok(())
}
