//! 去向登记确认 (SPEC.md 4.9; seeds 003 4, 004 7): what a graduate confirms — the destination
//! in force, the archive transfer and the hukou migration registered — with when and through
//! which system the destination was reported, the confirmation's status (未上报 / 未确认 /
//! 确认无误 / 确认有误) and every answer and reset (登记确认记录). The answers themselves are the
//! `registration_confirmation` flow's actions, taken like any other.

use gradflow_engine::apply::{role_label, STAGED};
use gradflow_engine::definition::{Definition, Module, RegistrationStatus, Role};
use gradflow_engine::form::{Field, FieldKind};
use gradflow_engine::registry::Snapshot;
use poem_openapi::Object;
use serde_json::{Map, Value};

use crate::auth::{Caller, Level};
use crate::definitions::pinned;
use crate::entity::{graduate, instance};
use crate::error::{ApiError, ApiResult};
use crate::service::{self, AppState};
use crate::services::lists;

/// The flow whose instance holds a graduate's confirmation.
pub const FLOW: &str = "registration_confirmation";
/// Its slot (one confirmation per graduate).
pub const SLOT: &str = "confirmation";

/// A field of registered data with its value and the text a reader reads.
#[derive(Object, Debug, Clone)]
pub struct DataField {
    /// The field's name.
    pub name: String,
    /// The field as users see it.
    pub label: String,
    /// The stored value.
    pub value: Value,
    /// The value as read: a code's or region's name, 是/否, else the value.
    pub text: Value,
}

/// The text of `value` of field `f`: a code's or region's name, 是/否 for a yes/no field, else
/// the value itself.
pub fn shown(snap: &Snapshot, f: &Field, value: &Value) -> Value {
    let text = match (&f.kind, value) {
        (FieldKind::Code { table }, Value::String(c)) => snap.code_lookup().label(table, c),
        (FieldKind::Region, Value::String(c)) => snap.region_label(c),
        (FieldKind::Bool, Value::Bool(b)) => Some(if *b { "是" } else { "否" }.to_string()),
        _ => None,
    };
    text.map(Value::from).unwrap_or_else(|| value.clone())
}

/// What one flow holds for the graduate: its data by field.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct HeldData {
    /// The instance holding it.
    pub instance_id: i64,
    /// The flow (`offline_signing`, `destination_registration`, `archive_registration` …).
    pub flow: String,
    /// The flow's title (线下签约, 去向登记 …).
    pub title: String,
    /// Its status (签约审核通过, 档案信息已登记 …).
    pub label: String,
    /// The destination type (去向登记: its code's name), where the flow has types.
    pub type_label: Option<String>,
    /// When it was reported (the destination approved, the data registered).
    pub reported_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Through which system: 登记系统, 就业管理系统上传 or 就业管理系统接口.
    pub data_source: String,
    /// The data, field by field (files left out).
    pub fields: Vec<DataField>,
}

/// One entry of 登记确认记录.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct ConfirmationRecord {
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The step (`confirm`, `report_error`, `intake:agreement.signed`, `on:archive.changed` …).
    pub action: String,
    /// What happened, as users read it (信息无误，确认登记去向; 信息已更新，需重新确认 …).
    pub label: String,
    /// Who: 毕业生 or 系统.
    pub by: String,
    /// The status afterwards.
    pub status: String,
    /// What the graduate said was wrong (信息有误), field by field.
    pub details: Vec<DataField>,
}

/// The graduate's confirmation.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct ConfirmationView {
    /// The graduate's id.
    pub graduate_id: i64,
    /// 未上报 / 未确认 / 确认无误 / 确认有误.
    pub status: String,
    /// The same as a code: `unreported`, `unconfirmed`, `correct`, `incorrect`.
    pub status_code: String,
    /// The confirmation instance (its actions are taken with `POST /instances/{id}/actions/…`).
    pub instance_id: Option<i64>,
    /// The version to send as `expected_version` when answering.
    pub row_version: Option<i32>,
    /// The destination in force (absent: none reported).
    pub destination: Option<HeldData>,
    /// The archive transfer registered (absent: none registered, or the caller may not see the
    /// archive module).
    pub archive: Option<HeldData>,
    /// The hukou migration registered (likewise).
    pub hukou: Option<HeldData>,
    /// 登记确认记录: every answer and reset, oldest first.
    pub records: Vec<ConfirmationRecord>,
}

/// The label of a confirmation status code.
pub fn status_label(code: &str) -> &'static str {
    match code {
        "unconfirmed" => "未确认",
        "correct" => "确认无误",
        "incorrect" => "确认有误",
        _ => "未上报",
    }
}

/// The confirmation status code of the instance in `state` (a lapsed one counts as 未上报).
fn status_code(state: Option<&str>) -> &'static str {
    match state {
        Some("unconfirmed") => "unconfirmed",
        Some("correct") => "correct",
        Some("incorrect") => "incorrect",
        _ => "unreported",
    }
}

/// The data source of a reported destination: what the management system delivered records
/// `vars.source.channel` (`upload` 就业管理系统上传, `interface` 就业管理系统接口); anything else was
/// reported in this system (登记系统).
pub fn data_source(vars: &Map<String, Value>) -> &'static str {
    let channel = vars
        .get(gradflow_engine::apply::SOURCE)
        .and_then(|s| s.get("channel"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    DATA_SOURCES
        .iter()
        .find(|(c, _)| *c == channel)
        .map_or(DATA_SOURCES[0].1, |(_, s)| s)
}

/// The data sources of a destination: the management system's channel (the confirmation's
/// `data_source`, code table `data_source`) and its name; the first, no channel.
const DATA_SOURCES: [(&str, &str); 3] = [
    ("", "登记系统"),
    ("upload", "就业管理系统上传"),
    ("interface", "就业管理系统接口"),
];

/// The fields of `def` an instance's data holds: for a typed flow its type's form, else every
/// field of its forms, each once, files left out, only those with a value.
fn data_of(
    snap: &Snapshot,
    def: &Definition,
    row: &instance::Model,
    vars: &Map<String, Value>,
) -> Vec<DataField> {
    let typed = match (row.type_code.as_deref(), def.list_type.as_deref()) {
        (Some(code), Some(_)) => def
            .start
            .form
            .as_ref()
            .and_then(|f| def.forms.get(f))
            .map(|f| f.for_value(Some(code)).fields),
        _ => None,
    };
    let fields: Vec<Field> = match typed {
        Some(f) => f,
        None => def
            .forms
            .values()
            .flat_map(|f| f.all_fields().into_iter().cloned())
            .collect(),
    };
    let mut seen = std::collections::BTreeSet::new();
    fields
        .iter()
        .filter(|f| !matches!(f.kind, FieldKind::File { .. }))
        .filter(|f| seen.insert(f.name.clone()))
        .filter_map(|f| {
            let value = vars.get(&f.name)?;
            if value.is_null() || value.as_str() == Some("") {
                return None;
            }
            Some(DataField {
                name: f.name.clone(),
                label: f.label.clone(),
                text: shown(snap, f, value),
                value: value.clone(),
            })
        })
        .collect()
}

/// When `row` entered its current state (the last step that moved it there).
async fn entered_at(
    state: &AppState,
    row: &instance::Model,
) -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
    let steps = lists::instance_history(state, row.id).await?;
    Ok(steps
        .iter()
        .rev()
        .find(|h| h.to_state == row.state && h.from_state.as_deref() != Some(&row.state))
        .or(steps.last())
        .map(|h| h.at))
}

/// What `row` (the holder of one of the graduate's slots) holds, `registered_only`: only when
/// its state registers the data (an archive application still under review is not data in
/// force). The registered data, not a change waiting for review.
async fn held(
    state: &AppState,
    snap: &Snapshot,
    row: instance::Model,
    registered_only: bool,
) -> ApiResult<Option<HeldData>> {
    let def = &pinned(snap, &row)?.def;
    if registered_only
        && def.state(&row.state).and_then(|s| s.registration)
            != Some(RegistrationStatus::Registered)
    {
        return Ok(None);
    }
    let mut vars: Map<String, Value> =
        serde_json::from_str(&row.vars).map_err(ApiError::internal)?;
    vars.remove(STAGED);
    let type_label = match (row.type_code.as_deref(), def.list_type_table()) {
        (Some(code), Some(table)) => snap
            .catalogue(table)
            .and_then(|c| c.entry(code))
            .map(|e| e.label.clone())
            .or_else(|| snap.code_lookup().label(table, code)),
        _ => None,
    };
    Ok(Some(HeldData {
        instance_id: row.id,
        flow: row.def_key.clone(),
        title: def.title.clone(),
        label: row.label.clone(),
        type_label,
        reported_at: entered_at(state, &row).await?,
        data_source: data_source(&vars).to_string(),
        fields: data_of(snap, def, &row, &vars),
    }))
}

/// What `row` holds (a destination in force: whatever its state).
pub async fn held_data(
    state: &AppState,
    snap: &Snapshot,
    row: instance::Model,
) -> ApiResult<Option<HeldData>> {
    held(state, snap, row, false).await
}

/// What `row` holds when its state registers it (an archive or hukou registration 已登记).
pub async fn registered_data(
    state: &AppState,
    snap: &Snapshot,
    row: instance::Model,
) -> ApiResult<Option<HeldData>> {
    held(state, snap, row, true).await
}

/// The graduate with `candidate_no` in `c`'s scope (404 otherwise).
pub async fn graduate_in_scope(
    state: &AppState,
    c: &Caller,
    candidate_no: &str,
) -> ApiResult<graduate::Model> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    graduate::Entity::find()
        .filter(graduate::Column::CandidateNo.eq(candidate_no.to_string()))
        .all(&state.db.conn)
        .await?
        .into_iter()
        .find(|g| crate::scope::sees_graduate(c, g))
        .ok_or_else(|| ApiError::not_found("未找到该毕业生"))
}

/// The graduate's confirmation as `c` may see it (the graduate, or a reviewer of their school
/// with the employment module; archive and hukou data only for callers who may see those
/// modules).
pub async fn view(
    state: &AppState,
    c: &Caller,
    g: &graduate::Model,
) -> ApiResult<ConfirmationView> {
    let snap = state.registry.snapshot();
    let conf = service::slot_holder(state, SLOT, g.id).await?;
    let destination = match service::slot_holder(state, "agreement", g.id).await? {
        // A destination in force: an approved agreement or registration (not one under review).
        Some(h) if h.is_final => held(state, &snap, h, false).await?,
        _ => None,
    };
    let mut residence = Vec::new();
    for (slot, module) in [("archive", Module::Archive), ("hukou", Module::Hukou)] {
        let data = match service::slot_holder(state, slot, g.id).await? {
            Some(h) if c.level(module) != Level::None => held(state, &snap, h, true).await?,
            _ => None,
        };
        residence.push(data);
    }
    let hukou = residence.pop().flatten();
    let archive = residence.pop().flatten();
    let records = match &conf {
        Some(row) => records(state, &snap, row).await?,
        None => Vec::new(),
    };
    let code = status_code(conf.as_ref().map(|r| r.state.as_str()));
    Ok(ConfirmationView {
        graduate_id: g.id,
        status: status_label(code).to_string(),
        status_code: code.to_string(),
        instance_id: conf.as_ref().map(|r| r.id),
        row_version: conf.as_ref().map(|r| r.row_version),
        destination,
        archive,
        hukou,
        records,
    })
}

/// 登记确认记录 of the confirmation instance `row`.
async fn records(
    state: &AppState,
    snap: &Snapshot,
    row: &instance::Model,
) -> ApiResult<Vec<ConfirmationRecord>> {
    let def = &pinned(snap, row)?.def;
    let steps = lists::instance_history(state, row.id).await?;
    Ok(steps
        .into_iter()
        .map(|h| {
            let to = def.state(&h.to_state);
            let action = h
                .from_state
                .as_deref()
                .and_then(|s| def.state(s))
                .and_then(|s| s.actions.get(&h.action));
            let label = match (action, h.action.as_str(), h.to_state.as_str()) {
                (Some(a), _, _) => a.label.clone(),
                (None, a, _) if a.starts_with("intake:") => "去向已上报，待确认".to_string(),
                (None, _, "unconfirmed") => "信息已更新，需重新确认".to_string(),
                (None, _, "unreported") => "去向已作废或解约，未上报".to_string(),
                (None, _, _) => to.map(|s| s.label.clone()).unwrap_or_default(),
            };
            let input: Map<String, Value> = serde_json::from_str(&h.input).unwrap_or_default();
            let details = action
                .and_then(|a| a.form.as_ref())
                .and_then(|f| def.forms.get(f))
                .map(|form| {
                    form.all_fields()
                        .into_iter()
                        .filter_map(|f| {
                            let v = input.get(&f.name).filter(|v| !v.is_null())?;
                            Some(DataField {
                                name: f.name.clone(),
                                label: f.label.clone(),
                                text: shown(snap, f, v),
                                value: v.clone(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            ConfirmationRecord {
                at: h.at,
                action: h.action,
                label,
                by: Role::parse(&h.actor_role)
                    .map(|r| role_label(r).to_string())
                    .unwrap_or(h.actor_role),
                status: to.map(|s| s.label.clone()).unwrap_or(h.to_state),
                details,
            }
        })
        .collect())
}

/// Counts of one data source.
#[derive(Object, Debug, Default)]
pub struct SourceCount {
    /// 登记系统, 就业管理系统上传 or 就业管理系统接口.
    pub data_source: String,
    /// Reported destinations from that source (each graduate's destination in force).
    pub reported: u64,
    pub unconfirmed: u64,
    pub correct: u64,
    pub incorrect: u64,
}

/// 登记确认 statistics in the caller's scope.
#[derive(Object, Debug)]
pub struct ConfirmationStats {
    /// Graduates on the roster (not removed).
    pub graduates: u64,
    /// 未上报: graduates without a reported destination to confirm.
    pub unreported: u64,
    /// 未确认.
    pub unconfirmed: u64,
    /// 确认无误.
    pub correct: u64,
    /// 确认有误.
    pub incorrect: u64,
    /// The same by the destination's data source (登记系统 / 就业管理系统上传 / 就业管理系统接口).
    pub by_source: Vec<SourceCount>,
}

/// 登记确认 statistics for school and department users (their school or department) and the
/// province (its schools) with the employment module: per status, and per data source of the
/// destination the graduate confirms — all read from the statistics' counters (every cohort),
/// which count each confirmation by the data source it took from its destination
/// (`count_by: data_source`; none: 登记系统).
pub async fn stats(state: &AppState, c: &Caller) -> ApiResult<ConfirmationStats> {
    use crate::auth::AccountRole;
    use crate::store::counters::ROSTER;
    use sea_orm::ConnectionTrait;
    // The handler admits reviewers only (`api::lists::reviewer`).
    c.require_view(Module::Employment)?;
    let a = &c.actor;
    // The scope on `stat_counts`: grain 0 per school, 1 for a department.
    let (counters, mut values): (&str, Vec<sea_orm::Value>) = match c.role {
        AccountRole::Admin => ("grain = 0", Vec::new()),
        AccountRole::Province => (
            "province_code = ? AND grain = 0",
            vec![a.province.clone().unwrap_or_default().into()],
        ),
        AccountRole::Department => (
            "school_id = ? AND grain = 1 AND department = ?",
            vec![
                a.school_id.unwrap_or(-1).into(),
                a.department.clone().unwrap_or_default().into(),
            ],
        ),
        _ => (
            "school_id = ? AND grain = 0",
            vec![a.school_id.unwrap_or(-1).into()],
        ),
    };
    values.push(FLOW.into());
    values.push(ROSTER.into());
    let db = &state.db;
    let rows = db
        .conn
        .query_all(db.stmt(
            &format!(
                "SELECT def_key, state, type_code, CAST(SUM(n) AS BIGINT) AS n FROM stat_counts \
                 WHERE {counters} AND def_key IN (?, ?) GROUP BY def_key, state, type_code"
            ),
            values,
        ))
        .await?;
    let mut by: Vec<SourceCount> = DATA_SOURCES
        .iter()
        .map(|(_, s)| SourceCount {
            data_source: s.to_string(),
            ..Default::default()
        })
        .collect();
    let mut graduates = 0u64;
    for r in rows {
        let def_key: String = r.try_get("", "def_key")?;
        let st: String = r.try_get("", "state")?;
        let code: String = r.try_get("", "type_code")?;
        let n = r.try_get::<i64>("", "n")?.max(0) as u64;
        if def_key == ROSTER {
            graduates += n;
            continue;
        }
        // A code the table does not have counts where no channel was given.
        let at = DATA_SOURCES
            .iter()
            .position(|(c, _)| *c == code)
            .unwrap_or(0);
        let row = &mut by[at];
        match st.as_str() {
            "unconfirmed" => row.unconfirmed += n,
            "correct" => row.correct += n,
            "incorrect" => row.incorrect += n,
            _ => continue,
        }
        row.reported += n;
    }
    let sum = |f: fn(&SourceCount) -> u64| by.iter().map(f).sum::<u64>();
    let reported = sum(|b| b.reported);
    Ok(ConfirmationStats {
        graduates,
        unreported: graduates.saturating_sub(reported),
        unconfirmed: sum(|b| b.unconfirmed),
        correct: sum(|b| b.correct),
        incorrect: sum(|b| b.incorrect),
        by_source: by,
    })
}
