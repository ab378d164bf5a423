//! Administration: reload definitions, upload, list and retire definition versions, province
//! params and overlays, the test clock. (Bootstrap of organisations is in `bootstrap.rs`.)

use chrono::{DateTime, Utc};
use gradflow_engine::registry::SourceFile;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{Enum, Object, OpenApi};
use serde_json::{json, Map, Value};

use super::{answers, caller, Tag, Token};
use crate::auth::{AccountRole, Caller};
use crate::definitions::{DefinitionList, Reloaded, Retired};
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

/// How to set the test clock.
#[derive(Object)]
#[oai(example)]
pub struct ClockRequest {
    /// Set the clock to this instant (RFC 3339).
    pub set: Option<DateTime<Utc>>,
    /// Or move it forward by this many seconds.
    pub advance_seconds: Option<i64>,
}

/// Whether to hold the writer's turn.
#[derive(Object)]
#[oai(example)]
pub struct WriterHoldRequest {
    /// Hold the SQLite writer's turn (true) or release it (false).
    pub hold: bool,
}

/// The writer's turn.
#[derive(Object)]
pub struct WriterHold {
    /// Whether the turn is now held.
    pub held: bool,
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
    /// Where it comes from.
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

/// The catalogues in force.
#[derive(Object)]
pub struct CatalogueList {
    /// One per catalogue.
    pub items: Vec<CatalogueSummary>,
}

/// A catalogue in force, whole.
#[derive(Object)]
pub struct CatalogueView {
    /// Where it comes from.
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
#[oai(example)]
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

/// A province's parameters for a flow, as now in force.
#[derive(Object)]
pub struct ParamsView {
    /// The province's code.
    pub province: String,
    /// The flow's key.
    pub flow: String,
    /// Every parameter of the flow with the province's overrides applied.
    pub params: Value,
}

/// The test clock.
#[derive(Object)]
pub struct ClockView {
    /// The clock's time now.
    pub now: DateTime<Utc>,
}

impl poem_openapi::types::Example for ClockRequest {
    fn example() -> Self {
        ClockRequest {
            set: None,
            advance_seconds: Some(7 * 24 * 3600),
        }
    }
}

impl poem_openapi::types::Example for WriterHoldRequest {
    fn example() -> Self {
        WriterHoldRequest { hold: true }
    }
}

impl poem_openapi::types::Example for CatalogueEntryInput {
    fn example() -> Self {
        CatalogueEntryInput {
            code: "461".into(),
            label: "基层服务项目（省级）".into(),
            attributes: [
                ("category".to_string(), json!("其他就业")),
                ("national_code".to_string(), json!("46")),
                ("invented".to_string(), json!(false)),
                ("employed".to_string(), json!(true)),
            ]
            .into_iter()
            .collect(),
            form: None,
        }
    }
}

answers! {
    /// The answers of `POST /admin/reload`.
    pub enum ReloadAnswer {
        /// The reloaded set is in force.
        200 Ok(Json<Reloaded>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Only the system administrator (`forbidden`).
        403 Forbidden,
        /// The set is broken; every problem is listed and the old set keeps serving
        /// (`definitions_invalid`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `POST /admin/definitions` and `PUT /admin/provinces/{code}/overlays/{key}`.
    pub enum UploadAnswer {
        /// The set with the new definition is in force.
        200 Ok(Json<Reloaded>),
        errors:
        /// A path parameter or the body does not parse (`invalid_path_parameter`,
        /// `invalid_body`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Only the system administrator, or (overlays) the province's own users (`forbidden`).
        403 Forbidden,
        /// Not plain text (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// The YAML or the set is broken (every problem listed; the old set keeps serving), or
        /// an overlay names another key or province (`definitions_invalid`, `overlay_key`,
        /// `overlay_province`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `GET /admin/definitions`.
    pub enum DefinitionsAnswer {
        /// Every stored version.
        200 Ok(Json<DefinitionList>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Only the system administrator (`forbidden`).
        403 Forbidden,
    }
}

answers! {
    /// The answers of `POST /admin/definitions/{id}/retire`.
    pub enum RetireAnswer {
        /// The version is retired.
        200 Ok(Json<Retired>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Only the system administrator (`forbidden`).
        403 Forbidden,
        /// No such stored version (`not_found`).
        404 NotFound,
        /// The set without it is broken (`definitions_invalid`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `PUT /admin/provinces/{code}/params/{key}`.
    pub enum ParamsAnswer {
        /// The parameters now in force for new instances.
        200 Ok(Json<ParamsView>),
        errors:
        /// The body is not JSON (`invalid_body`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not the province's own user (read-write) or the administrator (`forbidden`).
        403 Forbidden,
        /// No such flow for the province (`not_found`).
        404 NotFound,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// Not an object, or a parameter the flow does not have or of the wrong kind
        /// (`invalid_params`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `GET /admin/catalogues`.
    pub enum CatalogueListAnswer {
        /// The catalogues in force.
        200 Ok(Json<CatalogueList>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Only the system administrator (`forbidden`).
        403 Forbidden,
    }
}

answers! {
    /// The answers of `GET /admin/catalogues/{name}`.
    pub enum CatalogueAnswer {
        /// The catalogue.
        200 Ok(Json<CatalogueView>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Only the system administrator (`forbidden`).
        403 Forbidden,
        /// No such catalogue (`not_found`).
        404 NotFound,
    }
}

answers! {
    /// The answers of the catalogue changes (replace, add an entry).
    pub enum CatalogueChangeAnswer {
        /// Validated, swapped in and stored.
        200 Ok(Json<CatalogueChanged>),
        errors:
        /// The body does not parse (`invalid_body`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Only the system administrator (`forbidden`).
        403 Forbidden,
        /// No such catalogue (`not_found`).
        404 NotFound,
        /// The entry exists, or an entry items carry would go (`entry_exists`, `entry_in_use`).
        409 Conflict,
        /// Not the media type the operation takes (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// The text or the entry is broken, names another catalogue, or the set with it is
        /// broken (`catalogue_invalid`, `catalogue_name`, `entry_invalid`, `definitions_invalid`,
        /// `invalid_input`, `invalid_type`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `DELETE /admin/catalogues/{name}/stored`.
    pub enum CatalogueRevertAnswer {
        /// The file serves again.
        200 Ok(Json<Swapped>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Only the system administrator (`forbidden`).
        403 Forbidden,
        /// No stored version of that catalogue (`not_found`).
        404 NotFound,
        /// The file lacks an entry items carry (`entry_in_use`).
        409 Conflict,
        /// The set with the file is broken (`definitions_invalid`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `POST /admin/clock`.
    pub enum ClockAnswer {
        /// The clock now.
        200 Ok(Json<ClockView>),
        errors:
        /// The body does not parse (`invalid_body`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Only the system administrator (`forbidden`).
        403 Forbidden,
        /// The server was not started with `--test-clock` (`clock_not_manual`).
        409 Conflict,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// Outside 2000–2200 (`invalid_clock`, `invalid_type`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `POST /admin/writer-hold`.
    pub enum WriterHoldAnswer {
        /// The writer's turn is held or released.
        200 Ok(Json<WriterHold>),
        errors:
        /// The body does not parse (`invalid_body`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Only the system administrator (`forbidden`).
        403 Forbidden,
        /// Not started with `--test-clock`, or holding on PostgreSQL (`clock_not_manual`,
        /// `no_writer_turn`).
        409 Conflict,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// `hold` is not a boolean (`invalid_type`).
        422 Invalid,
    }
}

pub struct AdminApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "Tag::Admin")]
impl AdminApi {
    /// Reload workflows/, scripts/ and templates from disk.
    ///
    /// A broken set is refused with every problem listed, and the old set keeps serving.
    #[oai(path = "/reload", method = "post", operation_id = "admin_reload")]
    async fn reload(&self, state: Data<&State>, auth: Token) -> poem::Result<ReloadAnswer> {
        caller(&state, &auth).await?.require_admin()?;
        Ok(ReloadAnswer::Ok(Json(
            swap_in_definitions(&state, Vec::new()).await?,
        )))
    }

    /// Upload a new definition version (YAML).
    ///
    /// Validated with everything else first; an existing (key, version) cannot be changed.
    #[oai(path = "/definitions", method = "post", operation_id = "admin_upload")]
    async fn upload(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The definition's YAML.
        body: PlainText<String>,
    ) -> poem::Result<UploadAnswer> {
        caller(&state, &auth).await?.require_admin()?;
        let file = SourceFile {
            path: "upload".into(),
            text: body.0,
        };
        Ok(UploadAnswer::Ok(Json(
            swap_in_definitions(&state, vec![file]).await?,
        )))
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
    async fn definitions(
        &self,
        state: Data<&State>,
        auth: Token,
    ) -> poem::Result<DefinitionsAnswer> {
        caller(&state, &auth).await?.require_admin()?;
        Ok(DefinitionsAnswer::Ok(Json(
            crate::definitions::list(&state).await?,
        )))
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
        /// The version (`key@version` or `key@version+province`).
        id: Path<String>,
    ) -> poem::Result<RetireAnswer> {
        caller(&state, &auth).await?.require_admin()?;
        Ok(RetireAnswer::Ok(Json(
            crate::definitions::retire(&state, &id).await?,
        )))
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
        /// The province's code (2 digits).
        code: Path<String>,
        /// The flow's key.
        key: Path<String>,
        /// The parameters to override, by name (e.g. `{"response_days": 10}`); the others keep
        /// the definition's defaults.
        body: Json<Value>,
    ) -> poem::Result<ParamsAnswer> {
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
        Ok(ParamsAnswer::Ok(Json(ParamsView {
            province: code.0,
            flow: key.0,
            params: json!(resolved),
        })))
    }

    /// Install a province overlay: a whole definition of `key` used for this province only.
    ///
    /// The province's own read-write users or the administrator; validated with everything
    /// else, it replaces the flow for the province's new instances.
    #[oai(
        path = "/provinces/:code/overlays/:key",
        method = "put",
        operation_id = "admin_overlay"
    )]
    async fn overlay(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The province's code (2 digits).
        code: Path<String>,
        /// The flow's key; the YAML's `key` must be the same.
        key: Path<String>,
        /// The whole definition's YAML.
        body: PlainText<String>,
    ) -> poem::Result<UploadAnswer> {
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
        Ok(UploadAnswer::Ok(Json(
            swap_in_definitions(&state, vec![file]).await?,
        )))
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
    ) -> poem::Result<CatalogueListAnswer> {
        caller(&state, &auth).await?.require_admin()?;
        let items = crate::catalogues::list(&state).await?;
        Ok(CatalogueListAnswer::Ok(Json(CatalogueList {
            items: items.into_iter().map(CatalogueSummary::from).collect(),
        })))
    }

    /// A catalogue in force, whole, with its origin.
    ///
    /// As its file is written, for the system administrator.
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
    ) -> poem::Result<CatalogueAnswer> {
        caller(&state, &auth).await?.require_admin()?;
        let (origin, c) = crate::catalogues::get(&state, &name).await?;
        Ok(CatalogueAnswer::Ok(Json(CatalogueView {
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
        /// The catalogue, written as its file (YAML or JSON).
        body: PlainText<String>,
    ) -> poem::Result<CatalogueChangeAnswer> {
        let c = caller(&state, &auth).await?;
        c.require_admin()?;
        let done = crate::catalogues::replace(&state, &c, &name, body.0).await?;
        Ok(CatalogueChangeAnswer::Ok(Json(done.into())))
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
    ) -> poem::Result<CatalogueChangeAnswer> {
        let c = caller(&state, &auth).await?;
        c.require_admin()?;
        let done = crate::catalogues::add_entry(&state, &c, &name, body.0.into_value()).await?;
        Ok(CatalogueChangeAnswer::Ok(Json(done.into())))
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
    ) -> poem::Result<CatalogueRevertAnswer> {
        let c = caller(&state, &auth).await?;
        c.require_admin()?;
        let fingerprint = crate::catalogues::revert(&state, &c, &name).await?;
        Ok(CatalogueRevertAnswer::Ok(Json(Swapped { fingerprint })))
    }

    /// Set or move the test clock (only with `--test-clock`).
    ///
    /// For tests and demonstrations: timers (deadlines, expiries) fire as the clock passes
    /// them. The system administrator only.
    #[oai(path = "/clock", method = "post", operation_id = "admin_clock")]
    async fn clock(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<ClockRequest>,
    ) -> poem::Result<ClockAnswer> {
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
        Ok(ClockAnswer::Ok(Json(ClockView { now })))
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
    ) -> poem::Result<WriterHoldAnswer> {
        caller(&state, &auth).await?.require_admin()?;
        crate::services::testing::hold_writer(&state, body.hold).await?;
        Ok(WriterHoldAnswer::Ok(Json(WriterHold { held: body.hold })))
    }
}
