//! Catalogues changed at run time (`/api/v1/admin/catalogues`): an integrator replaces a
//! catalogue or adds one entry (a destination type) without a restart. Each change is
//! validated with everything that uses it (the flows' forms and guards, the pinned definition
//! versions), swapped in atomically, then stored — it replaces the file of the same name and
//! outlives a restart. A broken change is refused with every problem and the old catalogue
//! keeps serving; an entry that items still carry cannot be removed.

use gradflow_engine::catalogue::{Catalogue, Entry};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::definitions::{diagnostics_error, load_sources, load_sources_except, put_catalogue};
use crate::entity::{catalogue, instance};
use crate::error::{ApiError, ApiResult};
use crate::service::AppState;

/// Where the catalogue in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Its file in `workflows/catalogues/`.
    File,
    /// Stored through the admin API (it replaces the file).
    Stored,
}

/// A catalogue in force, briefly.
#[derive(Debug, Clone)]
pub struct Summary {
    pub name: String,
    pub title: String,
    pub entries: usize,
    pub origin: Origin,
}

/// What a change did: the catalogue now in force and the snapshot's fingerprint.
#[derive(Debug, Clone)]
pub struct Changed {
    pub catalogue: Summary,
    pub fingerprint: String,
}

fn summary(c: &Catalogue, origin: Origin) -> Summary {
    Summary {
        name: c.catalogue.clone(),
        title: c.title.clone(),
        entries: c.entries.len(),
        origin,
    }
}

async fn stored_names(state: &AppState) -> ApiResult<Vec<String>> {
    Ok(catalogue::Entity::find()
        .all(&state.db.conn)
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect())
}

fn origin_of(stored: &[String], name: &str) -> Origin {
    if stored.iter().any(|s| s == name) {
        Origin::Stored
    } else {
        Origin::File
    }
}

/// Every catalogue in force with its title, entry count and origin.
pub async fn list(state: &AppState) -> ApiResult<Vec<Summary>> {
    let snap = state.registry.snapshot();
    let stored = stored_names(state).await?;
    Ok(snap
        .catalogues()
        .map(|c| summary(c, origin_of(&stored, &c.catalogue)))
        .collect())
}

/// The catalogue in force, whole, with its origin.
pub async fn get(state: &AppState, name: &str) -> ApiResult<(Origin, Catalogue)> {
    let snap = state.registry.snapshot();
    let c = snap
        .catalogue(name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("目录 {name} 不存在")))?;
    Ok((origin_of(&stored_names(state).await?, name), c))
}

/// Replaces catalogue `name` by `text` (YAML or JSON, as a catalogue file is written).
pub async fn replace(
    state: &AppState,
    caller: &Caller,
    name: &str,
    text: String,
) -> ApiResult<Changed> {
    let _swap = crate::definitions::SWAP.lock().await;
    let new: Catalogue = serde_norway::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!("第 {} 行：", l.line()))
            .unwrap_or_default();
        ApiError::unprocessable("catalogue_invalid", format!("目录格式错误：{at}{e}"))
    })?;
    install(state, caller, name, new, text, "catalogue.replace").await
}

/// Adds one entry (a destination type) to catalogue `name`.
pub async fn add_entry(
    state: &AppState,
    caller: &Caller,
    name: &str,
    entry: Value,
) -> ApiResult<Changed> {
    let _swap = crate::definitions::SWAP.lock().await;
    let entry: Entry = serde_json::from_value(entry)
        .map_err(|e| ApiError::unprocessable("entry_invalid", format!("条目格式错误：{e}")))?;
    let snap = state.registry.snapshot();
    let mut c = snap
        .catalogue(name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("目录 {name} 不存在")))?;
    if c.entry(&entry.code).is_some() {
        return Err(ApiError::conflict(
            "entry_exists",
            format!(
                "目录 {name} 已有代码为 {} 的条目；修改已有条目请整体替换目录",
                entry.code
            ),
        ));
    }
    c.entries.push(entry);
    let text = serde_json::to_string_pretty(&c).map_err(ApiError::internal)?;
    install(state, caller, name, c, text, "catalogue.add_entry").await
}

/// The codes of catalogue `name` in force that `new` no longer has (`None`: no catalogue of
/// that name at all); refused when items still carry one.
async fn check_removed(
    state: &AppState,
    name: &str,
    new: Option<&Catalogue>,
) -> ApiResult<Vec<String>> {
    let snap = state.registry.snapshot();
    let removed: Vec<String> = snap
        .catalogue(name)
        .map(|c| {
            c.entries
                .iter()
                .filter(|e| new.and_then(|n| n.entry(&e.code)).is_none())
                .map(|e| e.code.clone())
                .collect()
        })
        .unwrap_or_default();
    if !removed.is_empty() {
        let using = instance::Entity::find()
            .filter(instance::Column::TypeCode.is_in(removed.clone()))
            .count(&state.db.conn)
            .await?;
        if using > 0 {
            return Err(ApiError::conflict(
                "entry_in_use",
                format!(
                    "条目 {} 已有 {using} 个事项使用，不能删除（可修改其名称和表单，或另加新条目）",
                    removed.join("、")
                ),
            ));
        }
    }
    Ok(removed)
}

/// Validates, swaps in and stores `new` as catalogue `name`.
async fn install(
    state: &AppState,
    caller: &Caller,
    name: &str,
    new: Catalogue,
    text: String,
    action: &str,
) -> ApiResult<Changed> {
    if new.catalogue != name {
        return Err(ApiError::unprocessable(
            "catalogue_name",
            format!("catalogue：目录名应为 {name}，而不是 {}", new.catalogue),
        ));
    }
    let removed = check_removed(state, name, Some(&new)).await?;
    let mut sources = load_sources(&state.db, &state.config.root)
        .await
        .map_err(ApiError::internal)?;
    put_catalogue(&mut sources, name, text.clone());
    // Validated with everything that uses it and swapped in atomically; on problems the old
    // snapshot stays.
    let swapped = state.registry.reload(&sources).map_err(diagnostics_error)?;
    let now = state.clock.now();
    let stored = async {
        let txn = state.db.begin_write().await?;
        catalogue::Entity::insert(catalogue::ActiveModel {
            name: Set(name.to_string()),
            source: Set(text),
            updated_at: Set(now),
            updated_by: Set(Some(caller.actor.account_id)),
        })
        .on_conflict(
            OnConflict::column(catalogue::Column::Name)
                .update_columns([
                    catalogue::Column::Source,
                    catalogue::Column::UpdatedAt,
                    catalogue::Column::UpdatedBy,
                ])
                .to_owned(),
        )
        .exec(&txn)
        .await?;
        let detail = json!({"entries": new.entries.len(), "removed": removed});
        crate::audit::commit(
            txn,
            caller,
            now,
            action,
            ("catalogue", name.to_string()),
            detail,
        )
        .await
    }
    .await;
    if let Err(e) = stored {
        // Not stored: the catalogue in force goes back to what the database holds.
        if let Ok(sources) = load_sources(&state.db, &state.config.root).await {
            let _ = state.registry.reload(&sources);
        }
        return Err(e);
    }
    Ok(Changed {
        catalogue: summary(&new, Origin::Stored),
        fingerprint: swapped.fingerprint.clone(),
    })
}

/// Drops the stored catalogue `name`: the file of that name serves again.
pub async fn revert(state: &AppState, caller: &Caller, name: &str) -> ApiResult<String> {
    let _swap = crate::definitions::SWAP.lock().await;
    if catalogue::Entity::find_by_id(name.to_string())
        .one(&state.db.conn)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(format!(
            "目录 {name} 没有通过接口保存的版本"
        )));
    }
    let sources = load_sources_except(&state.db, &state.config.root, Some(name))
        .await
        .map_err(ApiError::internal)?;
    let file_catalogue: Option<Catalogue> = sources
        .catalogues
        .iter()
        .find(|f| crate::definitions::catalogue_name_of_path(&f.path) == Some(name))
        .and_then(|f| serde_norway::from_str(&f.text).ok());
    check_removed(state, name, file_catalogue.as_ref()).await?;
    let swapped = state.registry.reload(&sources).map_err(diagnostics_error)?;
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    catalogue::Entity::delete_by_id(name.to_string())
        .exec(&txn)
        .await?;
    crate::audit::commit(
        txn,
        caller,
        now,
        "catalogue.revert",
        ("catalogue", name.to_string()),
        json!({}),
    )
    .await?;
    Ok(swapped.fingerprint.clone())
}
