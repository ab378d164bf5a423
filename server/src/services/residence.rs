//! Direct registration by bulk import (档案/户口信息批量导入, SPEC.md 4.8; seed 002 7): a school or
//! department user uploads the flow's template filled in — candidate number, name, ID number
//! and the start form's data — and each row registers the graduate directly (the flow's start
//! by that role, no further review) or, when the graduate is already registered, edits the
//! registered data (the registered state's action of that role with the start's form).
//! Reading stops at the first empty row; each row is its own transition, so a refused row
//! refuses only itself. The answer and a downloadable XLSX report name every refused row.

use gradflow_engine::definition::{Definition, Role};
use gradflow_engine::form::{Field, FieldKind};
use gradflow_engine::registry::Snapshot;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Map, Value};

use crate::audit;
use crate::auth::{AccountRole, Caller};
use crate::entity::{graduate, instance};
use crate::error::{ApiError, ApiResult};
use crate::roster::{Layout, RawRow, RowError};
use crate::roster_template::ImportColumn;
use crate::scope;
use crate::service::{self, AppState};

/// At most this many data rows in one import file.
pub const MAX_IMPORT_ROWS: usize = 5_000;

/// The identity columns every registration import starts with: they find the graduate.
const IDENTITY: [(&str, &str); 3] = [
    ("candidate_no", "考生号"),
    ("name", "姓名"),
    ("id_number", "身份证号"),
];

/// Every field of the flow's start form (none without one).
fn start_fields(def: &Definition) -> Vec<&Field> {
    def.start
        .form
        .as_ref()
        .and_then(|f| def.forms.get(f))
        .map(|f| f.all_fields())
        .unwrap_or_default()
}

fn is_file(f: &Field) -> bool {
    matches!(f.kind, FieldKind::File { .. })
}

/// The fields of the flow's start form an import fills (files are not imported).
fn data_fields(def: &Definition) -> ApiResult<Vec<&Field>> {
    if def.start.form.is_none() {
        return Err(not_importable(def));
    }
    Ok(start_fields(def)
        .into_iter()
        .filter(|f| !is_file(f))
        .collect())
}

fn not_importable(def: &Definition) -> ApiError {
    ApiError::unprocessable(
        "not_importable",
        format!("{}不支持学校（院系）批量导入", def.title),
    )
}

/// The flow `key` in force for the caller, when it takes direct registration by the caller's
/// role (its start gives that role a first state of its own).
pub fn importable<'s>(snap: &'s Snapshot, c: &Caller, key: &str) -> ApiResult<&'s Definition> {
    let role = match c.role {
        AccountRole::School => Role::School,
        AccountRole::Department => Role::Department,
        _ => {
            return Err(ApiError::forbidden(
                "只有学校和院系用户可以批量导入档案/户口信息",
            ))
        }
    };
    let def = &snap
        .active(key, c.actor.province.as_deref())
        .ok_or_else(|| ApiError::not_found(format!("流程 {key} 不存在")))?
        .def;
    if !def.start.target_by_role.contains_key(&role) {
        return Err(not_importable(def));
    }
    c.require_write(def.module)?;
    Ok(def)
}

/// The template's columns: the identity columns, then the start form's data fields (with the
/// codes of code fields).
pub fn template_columns(snap: &Snapshot, def: &Definition) -> ApiResult<Vec<ImportColumn>> {
    let mut out: Vec<ImportColumn> = IDENTITY
        .iter()
        .map(|(_, h)| ImportColumn {
            header: h.to_string(),
            required: true,
            codes: Vec::new(),
        })
        .collect();
    for f in data_fields(def)? {
        let codes = match &f.kind {
            FieldKind::Code { table } => snap
                .codes
                .tables
                .get(table)
                .map(|t| t.iter().map(|(c, n)| (c.clone(), n.clone())).collect())
                .unwrap_or_default(),
            FieldKind::Choice { options } => {
                options.iter().map(|o| (o.clone(), o.clone())).collect()
            }
            _ => Vec::new(),
        };
        out.push(ImportColumn {
            header: f.label.clone(),
            required: f.required,
            codes,
        });
    }
    Ok(out)
}

fn layout(def: &Definition) -> ApiResult<Layout> {
    let mut columns: Vec<(String, String, bool)> = IDENTITY
        .iter()
        .map(|(k, h)| (h.to_string(), k.to_string(), true))
        .collect();
    for f in data_fields(def)? {
        columns.push((f.label.clone(), f.name.clone(), f.required));
    }
    Ok(Layout {
        columns,
        stop_at_blank: true,
    })
}

/// What an import did.
#[derive(Debug, poem_openapi::Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RegistrationImportReport {
    /// The flow imported into.
    pub flow: String,
    /// `xlsx` or `csv` (by content).
    pub format: String,
    /// Data rows read (up to the first empty row).
    pub read: u64,
    /// Graduates registered by the import (no registration before).
    pub registered: u64,
    /// Graduates whose registered data the import changed.
    pub updated: u64,
    /// Rows refused (each in `errors`, at least once).
    pub refused: u64,
    /// The line of the empty row reading stopped at: rows below it were not read.
    pub stopped_at: Option<u64>,
    /// Columns of the file the import does not read.
    pub ignored_columns: Vec<String>,
    /// Every problem of a refused row: row, candidate number, column, code, Chinese message.
    pub errors: Vec<RowError>,
    /// The downloadable XLSX report of the refused rows (`GET` it with the same token), when
    /// any row was refused.
    pub error_report: Option<String>,
}

fn row_error(raw: &RawRow, field: &str, label: &str, code: &str, problem: &str) -> RowError {
    let where_ = if label.is_empty() {
        format!("第{}行", raw.row)
    } else {
        format!("第{}行 {label}", raw.row)
    };
    RowError {
        row: raw.row,
        candidate_no: raw.cells.get("candidate_no").cloned(),
        field: field.to_string(),
        label: label.to_string(),
        code: code.to_string(),
        message: format!("{where_}：{problem}"),
    }
}

/// The graduate a row names, in the caller's scope, with the name and ID number the roster
/// holds.
async fn graduate_of_row(state: &AppState, c: &Caller, raw: &RawRow) -> Result<i64, RowError> {
    let cell = |k: &str| raw.cells.get(k).map(String::as_str).unwrap_or("");
    for (k, h) in IDENTITY {
        if cell(k).is_empty() {
            return Err(row_error(raw, k, h, "required", "不能为空"));
        }
    }
    let found = graduate::Entity::find()
        .filter(graduate::Column::CandidateNo.eq(cell("candidate_no")))
        .one(&state.db.conn)
        .await
        .map_err(|e| row_error(raw, "", "", "internal", &ApiError::from(e).body.message))?
        .filter(|g| scope::sees_graduate(c, g));
    let Some(g) = found else {
        return Err(row_error(
            raw,
            "candidate_no",
            "考生号",
            "not_on_roster",
            "学生名单中没有该考生号的毕业生（或不在你的管理范围内）",
        ));
    };
    if g.removed {
        return Err(row_error(
            raw,
            "candidate_no",
            "考生号",
            "graduate_removed",
            "该毕业生已从学生名单中删除（失效信息），不能登记",
        ));
    }
    if g.name != cell("name") {
        return Err(row_error(
            raw,
            "name",
            "姓名",
            "name_mismatch",
            "与学生名单中该考生号的姓名不一致",
        ));
    }
    if !g.id_number.eq_ignore_ascii_case(cell("id_number")) {
        return Err(row_error(
            raw,
            "id_number",
            "身份证号",
            "id_number_mismatch",
            "与学生名单中该考生号的身份证号不一致",
        ));
    }
    Ok(g.id)
}

/// What a row does: register (no instance holds the flow's slot) or edit the registered one.
enum RowAction {
    Register,
    Edit(Box<instance::Model>, String),
}

async fn row_action(
    state: &AppState,
    c: &Caller,
    def: &Definition,
    graduate_id: i64,
    raw: &RawRow,
) -> Result<RowAction, RowError> {
    let holder = service::held_slot(state, def, graduate_id)
        .await
        .map_err(|e| row_error(raw, "", "", "internal", &e.body.message))?;
    let Some(h) = holder else {
        return Ok(RowAction::Register);
    };
    let role = c.actor.role;
    let st = def.state(&h.state);
    let pending = st.is_some_and(|s| s.review.is_some());
    let edit = st.filter(|_| !pending).and_then(|s| {
        s.actions
            .iter()
            .find(|(_, a)| a.roles.contains(&role) && a.form == def.start.form)
            .map(|(n, _)| n.clone())
    });
    match edit {
        Some(action) if h.def_key == def.key => Ok(RowAction::Edit(Box::new(h), action)),
        _ if pending => Err(row_error(
            raw,
            "candidate_no",
            "考生号",
            "pending_application",
            &format!(
                "该毕业生有待审核的{}申请，请在申请记录中审核后再导入",
                def.title
            ),
        )),
        _ => Err(row_error(
            raw,
            "candidate_no",
            "考生号",
            "not_editable",
            &format!("该毕业生的{}当前不能直接修改", def.title),
        )),
    }
}

/// The row's data as the start form's input (only the data columns, as text).
fn input_of(raw: &RawRow) -> Value {
    let mut m = Map::new();
    for (k, v) in &raw.cells {
        if !IDENTITY.iter().any(|(id, _)| id == k) {
            m.insert(k.clone(), Value::String(v.clone()));
        }
    }
    Value::Object(m)
}

/// A refusal of a row's transition as its row errors (one per field the engine named).
fn refusal(raw: &RawRow, labels: &[(String, String)], e: ApiError) -> Vec<RowError> {
    if e.body.errors.is_empty() {
        return vec![row_error(raw, "", "", &e.body.code, &e.body.message)];
    }
    e.body
        .errors
        .iter()
        .map(|f| {
            let label = labels
                .iter()
                .find(|(n, _)| *n == f.field)
                .map(|(_, l)| l.clone())
                .unwrap_or_else(|| f.label.clone());
            let message = f
                .message
                .strip_prefix(&format!("{label}："))
                .unwrap_or(&f.message);
            row_error(raw, &f.field, &label, &f.code, message)
        })
        .collect()
}

/// Imports file `bytes` into flow `key` as the caller (see the module's doc).
pub async fn import(
    state: &AppState,
    c: &Caller,
    key: &str,
    bytes: Vec<u8>,
) -> ApiResult<RegistrationImportReport> {
    let snap = state.registry.snapshot();
    let def = importable(&snap, c, key)?;
    let layout = layout(def)?;
    let labels: Vec<(String, String)> = layout
        .columns
        .iter()
        .map(|(h, k, _)| (k.clone(), h.clone()))
        .collect();
    let (raws, summary) = tokio::task::spawn_blocking(move || {
        let mut raws = Vec::new();
        crate::roster::read_table(&bytes, &layout, MAX_IMPORT_ROWS, &mut |r| raws.push(r))
            .map(|s| (raws, s))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::unprocessable(e.code, e.message))?;
    let mut report = RegistrationImportReport {
        flow: def.key.clone(),
        format: summary.format.to_string(),
        read: raws.len() as u64,
        registered: 0,
        updated: 0,
        refused: 0,
        stopped_at: summary.stopped_at.map(|l| l as u64),
        ignored_columns: summary.ignored_columns,
        errors: Vec::new(),
        error_report: None,
    };
    let mut seen = std::collections::HashSet::new();
    for raw in &raws {
        if state.shutdown.is_requested() {
            report.errors.push(row_error(
                raw,
                "rows",
                "行",
                "not_saved",
                "服务停止，自本行起未导入，请重新上传此文件（已导入的行再次导入只会按相同数据修改）",
            ));
            report.refused += 1;
            break;
        }
        let outcome = async {
            let graduate_id = graduate_of_row(state, c, raw).await.map_err(|e| vec![e])?;
            if !seen.insert(graduate_id) {
                return Err(vec![row_error(
                    raw,
                    "candidate_no",
                    "考生号",
                    "duplicate",
                    "文件中该考生号重复出现，只导入第一次出现的行",
                )]);
            }
            match row_action(state, c, def, graduate_id, raw)
                .await
                .map_err(|e| vec![e])?
            {
                RowAction::Register => {
                    service::start(state, c, key, Some(graduate_id), &input_of(raw))
                        .await
                        .map_err(|e| refusal(raw, &labels, e))?;
                    Ok(true)
                }
                RowAction::Edit(h, action) => {
                    service::act(state, c, h.id, &action, &input_of(raw), Some(h.row_version))
                        .await
                        .map_err(|e| refusal(raw, &labels, e))?;
                    Ok(false)
                }
            }
        }
        .await;
        match outcome {
            Ok(true) => report.registered += 1,
            Ok(false) => report.updated += 1,
            Err(mut errs) => {
                report.refused += 1;
                report.errors.append(&mut errs);
            }
        }
    }
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    report.error_report = crate::services::roster::store_report(
        &txn,
        c,
        now,
        &format!("{key} import"),
        &report.errors,
    )
    .await?;
    audit::record(
        &txn,
        c,
        now,
        "residence.import",
        ("flow", key.to_string()),
        json!({
            "read": report.read,
            "registered": report.registered,
            "updated": report.updated,
            "refused": report.refused,
            "stopped_at": report.stopped_at,
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(report)
}

/// What a reviewer of an archive or hukou item sees besides the item (SPEC.md 4.8, 2.3): the
/// application's type, the data in force and the data waiting for review, where data came
/// from, and the graduate's destination — only for callers who may enter the employment module.
pub struct RegistrationDetail {
    pub application_type: Option<&'static str>,
    pub status: &'static str,
    pub registered: Option<Value>,
    pub pending: Option<Value>,
    pub source: Option<Value>,
    pub destination: Option<Value>,
}

/// The registration detail of `row` (a flow whose states carry `registration`), or none.
pub async fn registration_detail(
    state: &AppState,
    c: &Caller,
    def: &Definition,
    row: &instance::Model,
) -> ApiResult<Option<RegistrationDetail>> {
    use gradflow_engine::definition::RegistrationStatus as R;
    if def.states.values().all(|s| s.registration.is_none()) {
        return Ok(None);
    }
    let vars: Map<String, Value> = serde_json::from_str(&row.vars).map_err(ApiError::internal)?;
    let fields = start_fields(def);
    let data = |from: &Map<String, Value>| -> Value {
        Value::Object(
            fields
                .iter()
                .filter_map(|f| Some((f.name.clone(), from.get(&f.name)?.clone())))
                .collect(),
        )
    };
    let st = def.state(&row.state);
    let registration = st.and_then(|s| s.registration);
    let staged = vars
        .get(gradflow_engine::apply::STAGED)
        .and_then(Value::as_object);
    let (application_type, registered, pending) = match (registration, staged) {
        (Some(R::Reviewing), _) => (Some("登记"), None, Some(data(&vars))),
        (Some(R::Registered), Some(s)) => (Some("修改"), Some(data(&vars)), Some(data(s))),
        (Some(R::Registered), None) => (None, Some(data(&vars)), None),
        (None, _) => (None, None, None),
    };
    let status = match registration {
        Some(r) => r.label(),
        None => "未登记",
    };
    let destination =
        if c.level(gradflow_engine::definition::Module::Employment) == crate::auth::Level::None {
            None
        } else {
            destination_of(state, row.graduate_id).await?
        };
    Ok(Some(RegistrationDetail {
        application_type,
        status,
        registered,
        pending,
        source: vars.get(gradflow_engine::apply::SOURCE).cloned(),
        destination,
    }))
}

/// The graduate's destination: the agreement or destination registration holding their
/// `agreement` slot (its flow, status, employer and number), if any.
async fn destination_of(state: &AppState, graduate_id: i64) -> ApiResult<Option<Value>> {
    let Some(h) = service::slot_holder(state, "agreement", graduate_id).await? else {
        return Ok(None);
    };
    let vars: Map<String, Value> = serde_json::from_str(&h.vars).map_err(ApiError::internal)?;
    let snap = state.registry.snapshot();
    let title = crate::service::pinned(&snap, &h)
        .map(|d| d.def.title.clone())
        .unwrap_or_else(|_| h.def_key.clone());
    let mut out = json!({"instance_id": h.id, "flow": h.def_key, "title": title, "label": h.label});
    for k in [
        "employer_name",
        "agreement_no",
        "destination_type",
        "position",
    ] {
        if let Some(v) = vars.get(k).filter(|v| !v.is_null()) {
            out[k] = v.clone();
        }
    }
    Ok(Some(out))
}

/// The event a flow declares (as an `intake`) to take registrations from the employment
/// management system (就业管理系统回流).
pub const FLOW_BACK_EVENT: &str = "management_system.registered";
/// The `system` action of a registered state the management system's changes take.
pub const FLOW_BACK_ACTION: &str = "sync_back";

/// What a flow-back did.
#[derive(Debug, poem_openapi::Object)]
pub struct FlowBackResult {
    /// The graduate's candidate number.
    pub candidate_no: String,
    /// The flow.
    pub flow: String,
    /// `registered` (the graduate had no registration) or `updated` (the registered data changed).
    pub outcome: String,
    /// The registration instance.
    pub instance_id: i64,
    /// Its state and label afterwards (`registered`, 档案信息已登记 …).
    pub state: String,
    pub label: String,
    pub row_version: i32,
}

/// 就业管理系统回流 (SPEC.md 4.8): the management system's registration or change of a
/// graduate's archive/hukou data, delivered by its roster key. The data is the flow's start
/// form (named as in the form; no files), checked as a graduate's registration is (form, guard,
/// module switched on, hukou in the school); a graduate without a registration is registered by
/// the flow's `intake` of [`FLOW_BACK_EVENT`], a registered one changed by its registered
/// state's [`FLOW_BACK_ACTION`]; both are audited under the key's account and record the source.
/// An application waiting for review is not overridden (409: the school reviews it first).
pub async fn flow_back(
    state: &AppState,
    c: &Caller,
    candidate_no: &str,
    key: &str,
    input: Map<String, Value>,
    channel: &str,
) -> ApiResult<FlowBackResult> {
    let g = crate::services::roster::covered_graduate(state, c, candidate_no).await?;
    if g.removed {
        return Err(ApiError::conflict(
            "graduate_removed",
            "该毕业生已从学生名单中删除（见失效信息管理），不能登记",
        ));
    }
    let snap = state.registry.snapshot();
    let def = snap
        .active(key, Some(&g.province_code))
        .ok_or_else(|| ApiError::not_found(format!("流程 {key} 不存在")))?;
    let Some(intake) = def.def.intake.iter().find(|i| i.event == FLOW_BACK_EVENT) else {
        return Err(ApiError::unprocessable(
            "no_flow_back",
            format!("{}不接收就业管理系统回流的数据", def.def.title),
        ));
    };
    // Uploads are this system's: a file field from elsewhere would name someone else's upload.
    let files = start_fields(&def.def).into_iter().filter(|f| is_file(f));
    if let Some(f) = files.map(|f| &f.name).find(|f| input.contains_key(*f)) {
        return Err(ApiError::unprocessable(
            "file_not_accepted",
            format!("input.{f}：就业管理系统回流的数据不能包含文件"),
        ));
    }
    // The system acts; the audit names the key that delivered the data and the graduate's
    // school (whose users read their audit log).
    let actor = gradflow_engine::apply::Actor {
        role: Role::System,
        account_id: c.actor.account_id,
        province: Some(g.province_code.clone()),
        school_id: Some(g.school_id),
        ..gradflow_engine::apply::Actor::system()
    };
    let source = json!({
        "system": "employment_management_system",
        "title": "就业管理系统",
        "channel": channel,
        "at": state.clock.now(),
    });
    let stored = match service::held_slot(state, &def.def, g.id).await? {
        None => {
            let parties = gradflow_engine::apply::Parties {
                province: g.province_code.clone(),
                school_id: g.school_id,
                department: g.department.clone(),
                graduate_id: g.id,
                employer_id: None,
                initiator: gradflow_engine::apply::Actor::system().party(),
            };
            let from = service::IntakeSource {
                vars: &input,
                source,
                actor,
            };
            let row = service::start_by_intake(state, &snap, def, intake, &parties, from)
                .await?
                .ok_or_else(|| ApiError::internal("the flow-back intake has a condition"))?;
            ("registered", row)
        }
        Some(h) => {
            let takes_it = def
                .def
                .state(&h.state)
                .and_then(|s| s.actions.get(FLOW_BACK_ACTION))
                .is_some_and(|a| a.roles.contains(&Role::System));
            if !takes_it || h.def_key != def.def.key {
                let pending = def.def.state(&h.state).is_some_and(|s| s.review.is_some());
                return Err(if pending {
                    ApiError::conflict(
                        "pending_application",
                        format!(
                            "该毕业生有待审核的{}申请，请学校在登记系统审核后再同步",
                            def.def.title
                        ),
                    )
                } else {
                    ApiError::conflict(
                        "not_editable",
                        format!("该毕业生的{}当前不能由就业管理系统修改", def.def.title),
                    )
                });
            }
            let row = service::system_act(
                state,
                &actor,
                &h,
                FLOW_BACK_ACTION,
                &Value::Object(input),
                source,
            )
            .await?;
            ("updated", row)
        }
    };
    let (outcome, row) = stored;
    Ok(FlowBackResult {
        candidate_no: g.candidate_no,
        flow: def.def.key.clone(),
        outcome: outcome.into(),
        instance_id: row.id,
        state: row.state,
        label: row.label,
        row_version: row.row_version,
    })
}
