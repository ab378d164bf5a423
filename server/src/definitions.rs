//! Definition versions: loading them from the tree and the database into a snapshot, storing
//! every loaded version, and what an administrator sees and does with them — which version is
//! active, which could not be loaded and why, retiring one.

use std::path::Path;

use chrono::Utc;
use gradflow_engine::definition::DefId;
use gradflow_engine::registry::{
    read_tree, Diagnostic, LoadedDefinition, Snapshot, SourceFile, Sources, STORED_PREFIX,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::db::Db;
use crate::entity::{catalogue, definition, instance};
use crate::error::{ApiError, ApiResult};
use crate::service::AppState;

/// Every problem of a refused change as a 422 `definitions_invalid` naming file and line; the
/// old set keeps serving.
pub fn diagnostics_error(diags: Vec<gradflow_engine::registry::Diagnostic>) -> ApiError {
    let mut e = ApiError::unprocessable(
        "definitions_invalid",
        format!("定义有 {} 处问题，未生效（原定义继续使用）", diags.len()),
    );
    e.body.errors = diags
        .into_iter()
        .map(|d| gradflow_engine::form::FieldError {
            field: match d.line {
                Some(l) => format!("{}:{}", d.file, l),
                None => d.file.clone(),
            },
            label: d.file,
            code: "definition_problem".into(),
            message: d.message,
        })
        .collect();
    e
}

/// Reads the definition tree and every definition stored in the database (uploaded versions,
/// overlays and every version an instance may still be pinned to). Stored ones come first so
/// that a file which changed without a new version is reported against them.
pub async fn load_sources(db: &Db, root: &Path) -> anyhow::Result<Sources> {
    load_sources_except(db, root, None).await
}

/// [`load_sources`], but with the file of catalogue `file_catalogue` instead of its stored
/// version (what reverting a stored catalogue would serve).
pub async fn load_sources_except(
    db: &Db,
    root: &Path,
    file_catalogue: Option<&str>,
) -> anyhow::Result<Sources> {
    let mut sources = read_tree(root)?;
    let stored = definition::Entity::find().all(&db.conn).await?;
    sources.retired = stored
        .iter()
        .filter(|d| d.retired_at.is_some())
        .filter_map(|d| DefId::parse(&d.id))
        .collect();
    let mut defs: Vec<SourceFile> = stored
        .into_iter()
        .map(|d| SourceFile {
            path: format!("{STORED_PREFIX}{}", d.id),
            text: d.source,
        })
        .collect();
    defs.append(&mut sources.definitions);
    sources.definitions = defs;
    for c in catalogue::Entity::find().all(&db.conn).await? {
        if file_catalogue != Some(c.name.as_str()) {
            put_catalogue(&mut sources, &c.name, c.source);
        }
    }
    Ok(sources)
}

/// Where a catalogue stored in the database appears in diagnostics.
pub const STORED_CATALOGUE_PREFIX: &str = "db:catalogues/";

/// Puts catalogue `name` (its text) into `sources`, replacing the file or stored catalogue of
/// that name: a catalogue stored through the admin API replaces `workflows/catalogues/NAME.yaml`.
pub fn put_catalogue(sources: &mut Sources, name: &str, text: String) {
    sources
        .catalogues
        .retain(|f| catalogue_name_of_path(&f.path) != Some(name));
    sources.catalogues.push(SourceFile {
        path: format!("{STORED_CATALOGUE_PREFIX}{name}"),
        text,
    });
}

/// The catalogue name a source path stands for: the file's stem, or the stored name.
pub fn catalogue_name_of_path(path: &str) -> Option<&str> {
    if let Some(n) = path.strip_prefix(STORED_CATALOGUE_PREFIX) {
        return Some(n);
    }
    let file = path.rsplit('/').next()?;
    file.strip_suffix(".yaml")
        .or_else(|| file.strip_suffix(".yml"))
}

/// Held while the definitions or catalogues in force are validated, stored and swapped: two
/// administrators' changes never interleave.
pub static SWAP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Stores every loaded definition that the database does not know yet, so it stays
/// available for the instances pinned to it even after its file changes.
pub async fn remember_definitions(db: &Db, snap: &Snapshot) -> Result<(), sea_orm::DbErr> {
    let known: std::collections::HashSet<String> = definition::Entity::find()
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|d| d.id)
        .collect();
    for d in snap.definitions() {
        let id = d.def.id();
        if known.contains(&id.to_string()) {
            continue;
        }
        definition::ActiveModel {
            id: Set(id.to_string()),
            key: Set(id.key.clone()),
            version: Set(id.version as i32),
            province: Set(id.province.clone()),
            source: Set(d.source.clone()),
            hash: Set(d.hash.clone()),
            origin: Set(d.origin.clone()),
            created_at: Set(chrono::Utc::now()),
            retired_at: Set(None),
        }
        .insert(&db.writer().await)
        .await?;
    }
    Ok(())
}

/// Builds a snapshot from the tree and the database; the problems when it cannot.
pub async fn build_snapshot(
    db: &Db,
    config: &crate::config::Config,
    extra: Vec<SourceFile>,
) -> Result<Snapshot, Vec<Diagnostic>> {
    let root = &config.root;
    let mut sources = load_sources(db, root).await.map_err(|e| {
        vec![Diagnostic {
            file: root.display().to_string(),
            line: None,
            message: format!("读取定义失败：{e}"),
        }]
    })?;
    sources.definitions.extend(extra);
    Snapshot::build_checked(
        &sources,
        crate::guards::script_engine(std::time::Duration::from_millis(
            config.guard_timeout_ms.max(1),
        )),
        std::sync::Arc::new(crate::contract::contract()),
    )
}

/// The definitions swapped in by a reload, an upload or an overlay.
#[derive(poem_openapi::Object, Debug)]
pub struct Reloaded {
    /// The fingerprint of the definitions, catalogues, scripts and templates now in force.
    pub fingerprint: String,
    /// The definitions now loaded (`key@version`, `key@version+province`).
    pub definitions: Vec<String>,
}

/// A stored definition version.
#[derive(poem_openapi::Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct DefinitionRow {
    /// `key@version` or `key@version+province`.
    pub id: String,
    /// The flow's key.
    pub key: String,
    /// The version.
    pub version: i32,
    /// The province of an overlay.
    pub province: Option<String>,
    /// Where it came from (`file`, `upload`, `overlay`).
    pub origin: String,
    /// When it was first stored.
    pub created_at: chrono::DateTime<Utc>,
    /// When it was retired.
    pub retired_at: Option<chrono::DateTime<Utc>>,
    /// `active` (new instances use it), `available` (for the instances pinned to it),
    /// `retired` or `unusable`.
    pub status: String,
    /// Why an unusable version does not load.
    pub problems: Vec<String>,
}

/// Every stored definition version.
#[derive(poem_openapi::Object, Debug)]
pub struct DefinitionList {
    /// Ordered by key, province and version.
    pub items: Vec<DefinitionRow>,
}

/// A retired definition version.
#[derive(poem_openapi::Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct Retired {
    /// The version retired.
    pub id: String,
    /// Always true.
    pub retired: bool,
    /// The version of the key now active, if any.
    pub active: Option<String>,
}

/// Every stored definition version with its status: `active` (new instances use it),
/// `available` (loaded, for the instances pinned to it), `retired`, or `unusable` (with the
/// problems that keep it from loading).
pub async fn list(state: &AppState) -> ApiResult<DefinitionList> {
    let snap = state.registry.snapshot();
    let rows = definition::Entity::find()
        .order_by_asc(definition::Column::Key)
        .order_by_asc(definition::Column::Province)
        .order_by_asc(definition::Column::Version)
        .all(&state.db.conn)
        .await?;
    let items = rows
        .into_iter()
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
            DefinitionRow {
                problems: problems.map(|p| p.to_vec()).unwrap_or_default(),
                status: status.to_string(),
                id: d.id,
                key: d.key,
                version: d.version,
                province: d.province,
                origin: d.origin,
                created_at: d.created_at,
                retired_at: d.retired_at,
            }
        })
        .collect();
    Ok(DefinitionList { items })
}

/// Retires a stored version: new instances never use it again (the next lower version of the
/// key becomes active), the instances pinned to it go on. Idempotent.
pub async fn retire(state: &AppState, id: &str) -> ApiResult<Retired> {
    let row = definition::Entity::find_by_id(id.to_string())
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("流程定义 {id} 不存在")))?;
    if row.retired_at.is_none() {
        let w = state.db.writer().await;
        definition::Entity::update_many()
            .col_expr(definition::Column::RetiredAt, Expr::value(Some(Utc::now())))
            .filter(definition::Column::Id.eq(id))
            .filter(definition::Column::RetiredAt.is_null())
            .exec(&w)
            .await?;
    }
    let sources = load_sources(&state.db, &state.config.root)
        .await
        .map_err(ApiError::internal)?;
    let snap = state.registry.reload(&sources).map_err(diagnostics_error)?;
    let active = DefId::parse(id).and_then(|d| {
        snap.active(&d.key, d.province.as_deref())
            .map(|a| a.def.id().to_string())
    });
    Ok(Retired {
        id: id.to_string(),
        retired: true,
        active,
    })
}

/// The definition version an instance is pinned to, from the snapshot in force.
pub fn pinned<'s>(snap: &'s Snapshot, row: &instance::Model) -> ApiResult<&'s LoadedDefinition> {
    let id = DefId::parse(&row.def_id)
        .ok_or_else(|| ApiError::internal(format!("bad def id {}", row.def_id)))?;
    if let Some(why) = snap.unusable(&id) {
        return Err(definition_unusable(&id, why));
    }
    snap.get(&id)
        .ok_or_else(|| ApiError::internal(format!("definition {} not loaded", row.def_id)))
}

/// A stored definition that no longer loads: nothing on it can run until an administrator
/// repairs what it names (or retires it, for new instances).
pub fn definition_unusable(id: &DefId, why: &[String]) -> ApiError {
    ApiError::new(
        poem::http::StatusCode::SERVICE_UNAVAILABLE,
        "definition_unusable",
        format!(
            "流程定义 {id} 当前不可用（{}），请联系系统管理员修复或停用该版本",
            why.join("；")
        ),
    )
}
