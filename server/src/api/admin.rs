//! Administration: reload definitions, upload, list and retire definition versions, province
//! params and overlays, the test clock. (Bootstrap of organisations is in `bootstrap.rs`.)

use chrono::{DateTime, Utc};
use gradflow_engine::registry::SourceFile;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde_json::{json, Map, Value};

use super::{caller, Tag, Token};
use crate::auth::{AccountRole, Caller};
use crate::error::ApiError;
use crate::service::State;
use crate::services::accounts::{swap_in_definitions, upsert_province_params};

/// Province users manage their own province; the system administrator any.
fn require_province(c: &Caller, code: &str) -> Result<(), ApiError> {
    match c.role {
        AccountRole::Admin => Ok(()),
        AccountRole::Province if c.actor.province.as_deref() == Some(code) => {
            c.require_write(gradflow_engine::definition::Module::Employment)
        }
        _ => Err(ApiError::forbidden(
            "只有本省省级用户或系统管理员可以调整本省流程",
        )),
    }
}

#[derive(Object)]
pub struct ClockRequest {
    /// Set the clock to this instant (RFC 3339).
    pub set: Option<DateTime<Utc>>,
    /// Or move it forward by this many seconds.
    pub advance_seconds: Option<i64>,
}

#[derive(Object)]
pub struct WriterHoldRequest {
    /// Hold the SQLite writer's turn (true) or release it (false).
    pub hold: bool,
}

#[derive(Object)]
pub struct WriterHold {
    /// Whether the turn is now held.
    pub held: bool,
}

#[derive(ApiResponse)]
pub enum WriterHoldResponse {
    /// The writer's turn is held or released.
    #[oai(status = 200)]
    Ok(Json<WriterHold>),
}

/// Where a catalogue in force comes from.
#[derive(Enum, Debug, Clone, Copy)]
#[oai(rename_all = "snake_case")]
pub enum CatalogueOrigin {
    /// Its file in `workflows/catalogues/`.
    File,
    /// Stored through the admin API; it replaces the file of the same name.
    Stored,
}

impl From<crate::catalogues::Origin> for CatalogueOrigin {
    fn from(o: crate::catalogues::Origin) -> Self {
        match o {
            crate::catalogues::Origin::File => CatalogueOrigin::File,
            crate::catalogues::Origin::Stored => CatalogueOrigin::Stored,
        }
    }
}

/// A catalogue in force, briefly.
#[derive(Object)]
pub struct CatalogueSummary {
    /// Its name (`destination_type`).
    pub name: String,
    /// Its Chinese title.
    pub title: String,
    /// How many entries it has.
    pub entries: u32,
    pub origin: CatalogueOrigin,
}

impl From<crate::catalogues::Summary> for CatalogueSummary {
    fn from(s: crate::catalogues::Summary) -> Self {
        CatalogueSummary {
            name: s.name,
            title: s.title,
            entries: s.entries as u32,
            origin: s.origin.into(),
        }
    }
}

#[derive(Object)]
pub struct CatalogueList {
    pub items: Vec<CatalogueSummary>,
}

/// A catalogue in force, whole.
#[derive(Object)]
pub struct CatalogueView {
    pub origin: CatalogueOrigin,
    /// The catalogue as its file is written (`catalogue`, `title`, `attributes`, `entries`;
    /// see docs/flows.md, "Catalogue keys").
    pub catalogue: Value,
}

/// A change swapped in and stored.
#[derive(Object)]
pub struct CatalogueChanged {
    /// The catalogue now in force.
    pub catalogue: CatalogueSummary,
    /// The fingerprint of the definitions, catalogues, scripts and templates now in force.
    pub fingerprint: String,
}

impl From<crate::catalogues::Changed> for CatalogueChanged {
    fn from(c: crate::catalogues::Changed) -> Self {
        CatalogueChanged {
            catalogue: c.catalogue.into(),
            fingerprint: c.fingerprint,
        }
    }
}

/// The set now in force.
#[derive(Object)]
pub struct Swapped {
    /// The fingerprint of the definitions, catalogues, scripts and templates now in force.
    pub fingerprint: String,
}

/// A new catalogue entry (for destination_type: a destination type).
#[derive(Object)]
pub struct CatalogueEntryInput {
    /// Its code, unique in the catalogue (destination types: the two-digit national category
    /// code, or it plus one digit).
    #[oai(validator(min_length = 1, max_length = 20))]
    pub code: String,
    /// Its label, exactly as the guides write it.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub label: String,
    /// Its attribute values, as the catalogue declares them (destination_type: `category`,
    /// `national_code`, `invented`, `employed`, optionally `group`, `training_modes`, `flow`).
    #[oai(default)]
    pub attributes: std::collections::BTreeMap<String, Value>,
    /// The fields of its form, written as form fields are (`name`, `label`, `type`,
    /// `required`...; see docs/flows.md, "Field types").
    pub form: Option<Vec<Value>>,
}

impl CatalogueEntryInput {
    fn into_value(self) -> Value {
        json!({
            "code": self.code,
            "label": self.label,
            "attributes": self.attributes,
            "form": self.form,
        })
    }
}

#[derive(ApiResponse)]
pub enum CatalogueListResponse {
    /// The catalogues in force.
    #[oai(status = 200)]
    Ok(Json<CatalogueList>),
}

#[derive(ApiResponse)]
pub enum CatalogueResponse {
    /// The catalogue.
    #[oai(status = 200)]
    Ok(Json<CatalogueView>),
}

#[derive(ApiResponse)]
pub enum CatalogueChangeResponse {
    /// Validated, swapped in and stored.
    #[oai(status = 200)]
    Ok(Json<CatalogueChanged>),
}

#[derive(ApiResponse)]
pub enum CatalogueRevertResponse {
    /// The file serves again.
    #[oai(status = 200)]
    Ok(Json<Swapped>),
}

pub struct AdminApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "Tag::Admin")]
impl AdminApi {
    /// Reload workflows/, scripts/ and templates from disk.
    ///
    /// A broken set is refused with every problem listed, and the old set keeps serving.
    #[oai(path = "/reload", method = "post", operation_id = "admin_reload")]
    async fn reload(&self, state: Data<&State>, auth: Token) -> poem::Result<Json<Value>> {
        caller(&state, &auth).await?.require_admin()?;
        Ok(Json(swap_in_definitions(&state, Vec::new()).await?))
    }

    /// Upload a new definition version (YAML).
    ///
    /// Validated with everything else first; an existing (key, version) cannot be changed.
    #[oai(path = "/definitions", method = "post", operation_id = "admin_upload")]
    async fn upload(
        &self,
        state: Data<&State>,
        auth: Token,
        body: PlainText<String>,
    ) -> poem::Result<Json<Value>> {
        caller(&state, &auth).await?.require_admin()?;
        let file = SourceFile {
            path: "upload".into(),
            text: body.0,
        };
        Ok(Json(swap_in_definitions(&state, vec![file]).await?))
    }

    /// Every stored definition version with its status.
    ///
    /// Every stored definition version with its status (`active`, `available`, `retired`,
    /// `unusable` with its problems).
    #[oai(
        path = "/definitions",
        method = "get",
        operation_id = "admin_definitions"
    )]
    async fn definitions(&self, state: Data<&State>, auth: Token) -> poem::Result<Json<Value>> {
        caller(&state, &auth).await?.require_admin()?;
        Ok(Json(crate::definitions::list(&state).await?))
    }

    /// Retire a definition version.
    ///
    /// Retire a definition version (`key@version` or `key@version+province`): new instances stop
    /// using it and the next lower version becomes active; instances pinned to it go on.
    #[oai(
        path = "/definitions/:id/retire",
        method = "post",
        operation_id = "admin_retire"
    )]
    async fn retire(
        &self,
        state: Data<&State>,
        auth: Token,
        id: Path<String>,
    ) -> poem::Result<Json<Value>> {
        caller(&state, &auth).await?.require_admin()?;
        Ok(Json(crate::definitions::retire(&state, &id).await?))
    }

    /// Set a province's parameters for a flow (e.g. the response deadline).
    ///
    /// New instances use them; running instances keep the parameters they started with.
    #[oai(
        path = "/provinces/:code/params/:key",
        method = "put",
        operation_id = "admin_set_params"
    )]
    async fn set_params(
        &self,
        state: Data<&State>,
        auth: Token,
        code: Path<String>,
        key: Path<String>,
        body: Json<Value>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        require_province(&c, &code)?;
        let snap = state.registry.snapshot();
        let def = snap
            .active(&key, Some(&code))
            .ok_or_else(|| ApiError::not_found(format!("流程 {} 不存在", *key)))?;
        let overrides: Map<String, Value> = match body.0 {
            Value::Object(m) => m,
            _ => {
                return Err(
                    ApiError::unprocessable("invalid_params", "参数必须是 JSON 对象").into(),
                )
            }
        };
        let resolved = def
            .def
            .resolve_params(&overrides)
            .map_err(|errs| ApiError::unprocessable("invalid_params", errs.join("；")))?;
        upsert_province_params(&state, &code, &key, &overrides).await?;
        Ok(Json(
            json!({"province": code.0, "flow": key.0, "params": resolved}),
        ))
    }

    /// Install a province overlay: a whole definition of `key` used for this province only.
    #[oai(
        path = "/provinces/:code/overlays/:key",
        method = "put",
        operation_id = "admin_overlay"
    )]
    async fn overlay(
        &self,
        state: Data<&State>,
        auth: Token,
        code: Path<String>,
        key: Path<String>,
        body: PlainText<String>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        require_province(&c, &code)?;
        let parsed: Value = serde_norway::from_str(&body.0).map_err(|e| {
            ApiError::unprocessable("definitions_invalid", format!("YAML 错误：{e}"))
        })?;
        if parsed.get("key").and_then(Value::as_str) != Some(key.0.as_str()) {
            return Err(ApiError::unprocessable(
                "overlay_key",
                format!("覆盖定义的 key 必须是 {}", *key),
            )
            .into());
        }
        let text = match parsed.get("province") {
            None => format!("province: \"{}\"\n{}", *code, body.0),
            Some(p) if p.as_str() == Some(code.0.as_str()) => body.0,
            Some(_) => {
                return Err(ApiError::unprocessable(
                    "overlay_province",
                    format!("覆盖定义的 province 必须是 {}", *code),
                )
                .into())
            }
        };
        let file = SourceFile {
            path: format!("overlay:{}", *code),
            text,
        };
        Ok(Json(swap_in_definitions(&state, vec![file]).await?))
    }

    /// The catalogues in force.
    ///
    /// The catalogues in force (`destination_type`...) with their title, entry count and origin:
    /// `file` (workflows/catalogues/) or `stored` (changed through this API).
    #[oai(path = "/catalogues", method = "get", operation_id = "list_catalogues")]
    async fn catalogues(
        &self,
        state: Data<&State>,
        auth: Token,
    ) -> poem::Result<CatalogueListResponse> {
        caller(&state, &auth).await?.require_admin()?;
        let items = crate::catalogues::list(&state).await?;
        Ok(CatalogueListResponse::Ok(Json(CatalogueList {
            items: items.into_iter().map(CatalogueSummary::from).collect(),
        })))
    }

    /// A catalogue in force, whole, with its origin.
    #[oai(
        path = "/catalogues/:name",
        method = "get",
        operation_id = "get_catalogue"
    )]
    async fn catalogue(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The catalogue's name (`destination_type`).
        name: Path<String>,
    ) -> poem::Result<CatalogueResponse> {
        caller(&state, &auth).await?.require_admin()?;
        let (origin, c) = crate::catalogues::get(&state, &name).await?;
        Ok(CatalogueResponse::Ok(Json(CatalogueView {
            origin: origin.into(),
            catalogue: serde_json::to_value(c).map_err(ApiError::internal)?,
        })))
    }

    /// Replace a catalogue (YAML or JSON, written as a catalogue file).
    ///
    /// Validated with every flow, form and guard that uses it and swapped in without a restart; a
    /// text that does not parse is 422 `catalogue_invalid`, a broken catalogue 422
    /// `definitions_invalid` with every problem — the old one keeps serving. Stored, it replaces
    /// the file of the same name. Removing an entry that items carry is 409 `entry_in_use`.
    #[oai(
        path = "/catalogues/:name",
        method = "put",
        operation_id = "replace_catalogue"
    )]
    async fn replace_catalogue(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The catalogue's name; the text's `catalogue:` must be the same.
        name: Path<String>,
        body: PlainText<String>,
    ) -> poem::Result<CatalogueChangeResponse> {
        let c = caller(&state, &auth).await?;
        c.require_admin()?;
        let done = crate::catalogues::replace(&state, &c, &name, body.0).await?;
        Ok(CatalogueChangeResponse::Ok(Json(done.into())))
    }

    /// Add one entry to a catalogue.
    ///
    /// Add one entry to a catalogue — a destination type with its code, label, attributes and form
    /// — validated and swapped in like a replacement.
    ///
    /// An existing code is 409 `entry_exists`; a broken entry 422 (`entry_invalid`,
    /// `definitions_invalid`).
    #[oai(
        path = "/catalogues/:name/entries",
        method = "post",
        operation_id = "add_catalogue_entry"
    )]
    async fn add_catalogue_entry(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The catalogue's name.
        name: Path<String>,
        body: Json<CatalogueEntryInput>,
    ) -> poem::Result<CatalogueChangeResponse> {
        let c = caller(&state, &auth).await?;
        c.require_admin()?;
        let done = crate::catalogues::add_entry(&state, &c, &name, body.0.into_value()).await?;
        Ok(CatalogueChangeResponse::Ok(Json(done.into())))
    }

    /// Drop the stored version of a catalogue.
    ///
    /// Drop the stored version of a catalogue: its file serves again (validated the same way; 409
    /// `entry_in_use` when the file lacks an entry items carry).
    #[oai(
        path = "/catalogues/:name/stored",
        method = "delete",
        operation_id = "revert_catalogue"
    )]
    async fn revert_catalogue(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The catalogue's name.
        name: Path<String>,
    ) -> poem::Result<CatalogueRevertResponse> {
        let c = caller(&state, &auth).await?;
        c.require_admin()?;
        let fingerprint = crate::catalogues::revert(&state, &c, &name).await?;
        Ok(CatalogueRevertResponse::Ok(Json(Swapped { fingerprint })))
    }

    /// Set or move the test clock (only with `--test-clock`).
    #[oai(path = "/clock", method = "post", operation_id = "admin_clock")]
    async fn clock(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<ClockRequest>,
    ) -> poem::Result<Json<Value>> {
        caller(&state, &auth).await?.require_admin()?;
        if !state.clock.is_manual() {
            return Err(ApiError::conflict(
                "clock_not_manual",
                "服务未以 --test-clock 启动，不能调整时钟",
            )
            .into());
        }
        use chrono::Datelike;
        // Far enough for any test, and every `now + deadline` stays representable.
        let target = match (body.set, body.advance_seconds) {
            (Some(at), _) => Some(at),
            (None, Some(s)) => chrono::Duration::try_seconds(s)
                .and_then(|d| state.clock.now().checked_add_signed(d)),
            (None, None) => Some(state.clock.now()),
        };
        let Some(target) = target.filter(|t| (2000..=2200).contains(&t.year())) else {
            return Err(ApiError::unprocessable(
                "invalid_clock",
                "set / advance_seconds：时钟只能设在 2000 年至 2200 年之间",
            )
            .into());
        };
        let now = state.clock.set(target);
        Ok(Json(json!({"now": now.to_rfc3339()})))
    }

    /// Hold or release the SQLite writer's turn.
    ///
    /// Hold or release the SQLite writer's turn (only with `--test-clock`): transitions sent while
    /// it is held queue and then share one group commit (`GET /metrics` shows them waiting in
    /// `gradflow_sqlite_writers_waiting`).
    #[oai(path = "/writer-hold", method = "post", operation_id = "hold_writer")]
    async fn writer_hold(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<WriterHoldRequest>,
    ) -> poem::Result<WriterHoldResponse> {
        caller(&state, &auth).await?.require_admin()?;
        crate::services::testing::hold_writer(&state, body.hold).await?;
        Ok(WriterHoldResponse::Ok(Json(WriterHold { held: body.hold })))
    }
}
