//! The roster's storage: importing checked rows (schools resolved in one query, rows upserted
//! by candidate number, then ID number within the school, in chunks of one transaction each;
//! re-uploaded removed graduates marked for restore; the import audited), the graduate a
//! roster key covers, restoring a re-uploaded graduate now, the scoped roster list and the
//! graduate's own basic-info check. (The roster file format is `crate::roster`.)

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Set,
};
use serde_json::json;

use crate::auth::{AccountRole, Caller};
use crate::entity::{graduate, instance, school};
use crate::error::{ApiError, ApiResult};
use crate::paging::{paged, Paged, Paging, Sort};
use crate::roster::{self, RosterRow, RowError};
use crate::service::AppState;
use crate::{audit, removal, scope};
use gradflow_engine::definition::{Module, RegistrationStatus};
use gradflow_engine::form::FieldError;

/// At most this many row errors are listed in an answer (all are counted).
const MAX_LISTED_ERRORS: usize = 1000;
const CHUNK: usize = 500;

fn row_error(r: &RosterRow, field: &str, label: &str, code: &str, problem: String) -> RowError {
    RowError {
        row: r.row,
        candidate_no: Some(r.candidate_no.clone()),
        field: field.into(),
        label: label.into(),
        code: code.into(),
        message: format!("第{}行 {label}：{problem}", r.row),
    }
}

fn active_model(r: &RosterRow, s: &school::Model, now: DateTime<Utc>) -> graduate::ActiveModel {
    graduate::ActiveModel {
        province_code: Set(s.province_code.clone()),
        school_id: Set(s.id),
        candidate_no: Set(r.candidate_no.clone()),
        id_number: Set(r.id_number.clone()),
        name: Set(r.name.clone()),
        gender: Set(r.gender.clone()),
        ethnicity: Set(r.ethnicity.clone()),
        political_status: Set(r.political_status.clone()),
        education_level: Set(r.education_level.clone()),
        training_mode: Set(r.training_mode.clone()),
        origin_region: Set(r.origin_region.clone()),
        enrolment_date: Set(r.enrolment_date.clone()),
        graduation_date: Set(r.graduation_date.clone()),
        cohort: Set(r.cohort),
        student_no: Set(r.student_no.clone()),
        department: Set(r.department.clone()),
        major: Set(r.major.clone()),
        schooling_length: Set(r.schooling_length.clone()),
        archive_in_school: Set(r.archive_in_school),
        hukou_in_school: Set(r.hukou_in_school),
        email: Set(r.email.clone()),
        mobile: Set(r.mobile.clone()),
        directed_employer: Set(r.directed_employer.clone()),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// The roster columns an upsert overwrites (never the removal, restore or first-login state).
const UPSERT_COLUMNS: [graduate::Column; 22] = [
    graduate::Column::ProvinceCode,
    graduate::Column::SchoolId,
    graduate::Column::IdNumber,
    graduate::Column::Name,
    graduate::Column::Gender,
    graduate::Column::Ethnicity,
    graduate::Column::PoliticalStatus,
    graduate::Column::EducationLevel,
    graduate::Column::TrainingMode,
    graduate::Column::OriginRegion,
    graduate::Column::EnrolmentDate,
    graduate::Column::GraduationDate,
    graduate::Column::Cohort,
    graduate::Column::StudentNo,
    graduate::Column::Department,
    graduate::Column::Major,
    graduate::Column::SchoolingLength,
    graduate::Column::ArchiveInSchool,
    graduate::Column::HukouInSchool,
    graduate::Column::Email,
    graduate::Column::Mobile,
    graduate::Column::DirectedEmployer,
];

/// A correction of who a graduate is, made in the management system (SPEC.md 3): each
/// changed value before and after.
#[derive(Debug, Clone, serde::Serialize, poem_openapi::Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CorrectionChanges {
    /// The ID number before and after (`[before, after]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_number: Option<Vec<String>>,
    /// The name before and after (`[before, after]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Vec<String>>,
}

/// A roster row that corrected an existing graduate's ID number or name.
#[derive(Debug, Clone, serde::Serialize, poem_openapi::Object)]
pub struct Correction {
    /// The row's number.
    pub row: usize,
    /// The graduate's candidate number (考生号).
    pub candidate_no: String,
    /// What changed.
    pub changes: CorrectionChanges,
}

/// The answer to a roster import: what was received, created, updated and rejected, with
/// the rejected rows (and a link to all of them), corrections and warnings.
#[derive(Debug, Clone, poem_openapi::Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ImportReport {
    /// The error report (导入错误报告) of every rejected row, when rows were rejected: the
    /// path of `GET /roster/imports/{id}/errors`.
    pub error_report: Option<String>,
    /// What was imported: `json` (a batch), `csv` or `xlsx` (a file).
    pub source: String,
    /// Data rows received.
    pub received: usize,
    /// Graduates added to the roster.
    pub created: usize,
    /// Graduates updated (by candidate number).
    pub updated: usize,
    /// Removed graduates re-uploaded, now waiting to be restored (恢复网签数据).
    pub restore_pending: usize,
    /// Blank rows skipped (files).
    pub blank_rows: usize,
    /// Rows not imported.
    pub rejected_rows: usize,
    /// Problems of the rejected rows (a row may have several).
    pub error_count: usize,
    /// The first 1000 problems, by row.
    pub errors: Vec<RowError>,
    /// The first 1000 corrections of a graduate's ID number or name.
    pub corrections: Vec<Correction>,
    /// The first 1000 warnings about imported rows (`gender_mismatch`).
    pub warnings: Vec<RowError>,
    /// Columns of the file the importer does not read (files only).
    pub ignored_columns: Option<Vec<String>>,
}

/// Upserts validated rows (rows that failed validation come in `errors`); returns the import
/// report.
pub async fn import_roster(
    state: &AppState,
    c: &Caller,
    default_school: Option<String>,
    checked: roster::Checked,
    blank_rows: usize,
    source: &str,
) -> ApiResult<ImportReport> {
    let roster::Checked {
        received,
        valid,
        mut errors,
    } = checked;
    // Schools: the key's own, or by code (one query).
    let key_school = match (c.role, c.actor.school_id) {
        (AccountRole::Integrator, Some(id)) => {
            school::Entity::find_by_id(id).one(&state.db.conn).await?
        }
        _ => None,
    };
    let mut codes: Vec<String> = valid
        .iter()
        .filter_map(|r| r.school_code.clone())
        .chain(default_school.clone())
        .collect();
    codes.sort();
    codes.dedup();
    let mut school_list: Vec<school::Model> = school::Entity::find()
        .filter(school::Column::Code.is_in(codes))
        .all(&state.db.conn)
        .await?;
    let key_index = key_school.map(|k| {
        school_list.push(k);
        school_list.len() - 1
    });
    let schools: HashMap<&str, usize> = school_list
        .iter()
        .enumerate()
        .map(|(i, s)| (s.code.as_str(), i))
        .collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut seen_ids: HashMap<(usize, String), usize> = HashMap::new();
    // Each row with the index of its school in `school_list`.
    let mut placed: Vec<(RosterRow, usize)> = Vec::new();
    for r in valid {
        let code = r.school_code.clone().or_else(|| default_school.clone());
        let key = key_index.map(|i| (i, &school_list[i]));
        let si = match (key, code) {
            (Some((_, k)), Some(code)) if code != k.code => {
                errors.push(row_error(
                    &r,
                    "school_code",
                    "院校代码",
                    "out_of_scope",
                    format!("{code} 不是本接口密钥所属的学校（{}）", k.code),
                ));
                continue;
            }
            (Some((i, _)), _) => i,
            (None, None) => {
                errors.push(row_error(
                    &r,
                    "school_code",
                    "院校代码",
                    "required",
                    "不能为空（请在每行填写院校代码，或在请求中指定 school_code）".into(),
                ));
                continue;
            }
            (None, Some(code)) => match schools.get(code.as_str()) {
                Some(i) => *i,
                None => {
                    errors.push(row_error(
                        &r,
                        "school_code",
                        "院校代码",
                        "unknown_school",
                        format!("{code} 不存在"),
                    ));
                    continue;
                }
            },
        };
        let s = &school_list[si];
        if !scope::covers_roster(c, s) {
            errors.push(row_error(
                &r,
                "school_code",
                "院校代码",
                "out_of_scope",
                format!("{} 不在本接口密钥的范围内", s.code),
            ));
            continue;
        }
        if let Some(first) = seen.insert(r.candidate_no.clone(), r.row) {
            errors.push(row_error(
                &r,
                "candidate_no",
                "考生号",
                "duplicate",
                format!("与第{first}行重复"),
            ));
            continue;
        }
        // One person, one candidate number: the same ID number under two candidate numbers
        // of one school is refused (the later row).
        match seen_ids.entry((si, r.id_number.clone())) {
            std::collections::hash_map::Entry::Occupied(first) => {
                errors.push(row_error(
                    &r,
                    "id_number",
                    "身份证号",
                    "duplicate",
                    format!("与第{}行的身份证号相同，但考生号不同", first.get()),
                ));
                continue;
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(r.row);
            }
        }
        placed.push((r, si));
    }

    let now = state.clock.now();
    let (mut created, mut updated, mut restore_pending) = (0usize, 0usize, 0usize);
    let mut corrections: Vec<Correction> = Vec::new();
    let mut warnings: Vec<RowError> = Vec::new();
    for (k, chunk) in placed.chunks(CHUNK).enumerate() {
        if state.shutdown.is_requested() {
            // The server is stopping: the batches committed so far stay, the rest is not
            // started, and the answer says how far the import got.
            let saved = k * CHUNK;
            return Err(interrupted(state, c, now, source, received, &placed, saved, errors).await);
        }
        let cands: Vec<String> = chunk.iter().map(|(r, _)| r.candidate_no.clone()).collect();
        let by_cand: HashMap<String, graduate::Model> = graduate::Entity::find()
            .filter(graduate::Column::CandidateNo.is_in(cands))
            .all(&state.db.conn)
            .await?
            .into_iter()
            .map(|g| (g.candidate_no.clone(), g))
            .collect();
        // Who holds each row's ID number in its school (one query for the chunk).
        let ids: Vec<String> = chunk.iter().map(|(r, _)| r.id_number.clone()).collect();
        let by_id: HashMap<(i64, String), graduate::Model> = graduate::Entity::find()
            .filter(graduate::Column::IdNumber.is_in(ids))
            .all(&state.db.conn)
            .await?
            .into_iter()
            .map(|g| ((g.school_id, g.id_number.clone()), g))
            .collect();
        let mut upserts = Vec::new();
        let mut reuploaded: Vec<i64> = Vec::new();
        for (r, si) in chunk {
            let s = &school_list[*si];
            // An ID number another graduate holds is never taken over: that would rename
            // them (and whatever they signed) silently.
            if let Some(holder) = by_id
                .get(&(s.id, r.id_number.clone()))
                .filter(|h| h.candidate_no != r.candidate_no)
            {
                errors.push(row_error(
                    r,
                    "id_number",
                    "身份证号",
                    "id_number_taken",
                    format!(
                        "已属于本校考生号为 {} 的学生，与本行考生号不符：未导入此行。\
                         如考生号有误，请在就业管理系统中更正该学生后重新上传",
                        holder.candidate_no
                    ),
                ));
                continue;
            }
            match by_cand.get(&r.candidate_no) {
                Some(g) if g.school_id != s.id => {
                    errors.push(row_error(
                        r,
                        "candidate_no",
                        "考生号",
                        "other_school",
                        "已在其他学校的学生名单中".into(),
                    ));
                    continue;
                }
                Some(g) => {
                    updated += 1;
                    if g.removed && !g.restore_pending {
                        reuploaded.push(g.id);
                    }
                    // Corrections of who the graduate is, made in the management system
                    // (SPEC.md 3): applied, and reported and audited with before and after.
                    let changes = CorrectionChanges {
                        id_number: (g.id_number != r.id_number)
                            .then(|| vec![g.id_number.clone(), r.id_number.clone()]),
                        name: (g.name != r.name).then(|| vec![g.name.clone(), r.name.clone()]),
                    };
                    if changes.id_number.is_some() || changes.name.is_some() {
                        corrections.push(Correction {
                            row: r.row,
                            candidate_no: r.candidate_no.clone(),
                            changes,
                        });
                    }
                }
                None => created += 1,
            }
            if let Some(w) = gender_warning(r) {
                warnings.push(w);
            }
            upserts.push(active_model(r, s, now));
        }
        restore_pending += reuploaded.len();
        let txn = state.db.begin_write().await?;
        if !upserts.is_empty() {
            graduate::Entity::insert_many(upserts)
                .on_conflict(
                    OnConflict::column(graduate::Column::CandidateNo)
                        .update_columns(UPSERT_COLUMNS)
                        .update_column(graduate::Column::UpdatedAt)
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        if !reuploaded.is_empty() {
            graduate::Entity::update_many()
                .col_expr(graduate::Column::RestorePending, Expr::value(true))
                .col_expr(graduate::Column::ReuploadedAt, Expr::value(Some(now)))
                .filter(graduate::Column::Id.is_in(reuploaded))
                .exec(&txn)
                .await?;
        }
        // The roster's statistics, recounted for the schools of this batch in its transaction.
        let mut schools: Vec<i64> = chunk.iter().map(|(_, si)| school_list[*si].id).collect();
        schools.sort_unstable();
        schools.dedup();
        for school in schools {
            crate::store::counters::recount_roster(&txn, school).await?;
        }
        txn.commit().await?;
    }
    errors.sort_by_key(|e| e.row);
    let error_rows: HashSet<usize> = errors.iter().map(|e| e.row).collect();
    // Every rejected row is kept for the downloadable error report (the answer lists the
    // first MAX_LISTED_ERRORS).
    // It and the audit record are written together.
    let txn = state.db.begin_write().await?;
    let error_report = store_report(&txn, c, now, source, &errors).await?;
    audit::record(
        &txn,
        c,
        now,
        "roster.import",
        ("roster", source.to_string()),
        json!({"received": received, "created": created, "updated": updated,
               "rejected_rows": error_rows.len(), "corrections": corrections}),
    )
    .await?;
    txn.commit().await?;
    let error_count = errors.len();
    errors.truncate(MAX_LISTED_ERRORS);
    corrections.truncate(MAX_LISTED_ERRORS);
    warnings.truncate(MAX_LISTED_ERRORS);
    Ok(ImportReport {
        error_report,
        source: source.to_string(),
        received,
        created,
        updated,
        restore_pending,
        blank_rows,
        rejected_rows: error_rows.len(),
        error_count,
        errors,
        corrections,
        warnings,
        ignored_columns: None,
    })
}

/// A warning when the row's gender contradicts its ID number (the 17th digit: odd 男, even
/// 女); the row is imported as the management system sent it.
fn gender_warning(r: &RosterRow) -> Option<RowError> {
    let message = roster::gender_conflict(&r.id_number, r.gender.as_deref())?;
    Some(row_error(r, "gender", "性别", "gender_mismatch", message))
}

/// Stores an import's rejected rows for the downloadable error report
/// (`GET /roster/imports/{id}/errors`) and returns its path; none when nothing was rejected.
pub(crate) async fn store_report(
    txn: &crate::db::WriteTx,
    c: &Caller,
    now: DateTime<Utc>,
    source: &str,
    errors: &[RowError],
) -> ApiResult<Option<String>> {
    if errors.is_empty() {
        return Ok(None);
    }
    let stored = crate::entity::roster_import::ActiveModel {
        account_id: Set(c.actor.account_id),
        source: Set(source.to_string()),
        errors: Set(serde_json::to_string(errors).map_err(ApiError::internal)?),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(Some(format!("/api/v1/roster/imports/{}/errors", stored.id)))
}

/// The answer to an import stopped by the server's shutdown after `saved` of the placed rows
/// (each committed batch is whole): 503 naming how far it got. Its error report holds the
/// rows rejected so far and, as a last row, where the unsaved part begins; it and the audit
/// record are written together, as for a whole import.
#[allow(clippy::too_many_arguments)]
async fn interrupted(
    state: &AppState,
    c: &Caller,
    now: DateTime<Utc>,
    source: &str,
    received: usize,
    placed: &[(RosterRow, usize)],
    saved: usize,
    mut errors: Vec<RowError>,
) -> ApiError {
    let first = placed.get(saved).map(|(r, _)| r);
    let first_unsaved = first.map(|r| r.row).unwrap_or_default();
    let left = placed.len() - saved;
    errors.sort_by_key(|e| e.row);
    if let Some(r) = first {
        errors.push(row_error(
            r,
            "rows",
            "行",
            "not_saved",
            format!("服务停止，自本行起的 {left} 行未保存，请重新上传此文件"),
        ));
    }
    let written = async {
        let txn = state.db.begin_write().await?;
        let report = store_report(&txn, c, now, source, &errors).await?;
        audit::record(
            &txn,
            c,
            now,
            "roster.import",
            ("roster", source.to_string()),
            json!({"received": received, "saved": saved, "not_saved": left, "interrupted": true}),
        )
        .await?;
        txn.commit().await?;
        Ok::<_, ApiError>(report)
    }
    .await;
    let report = written.unwrap_or_else(|e| {
        tracing::warn!(error = %e.body.message, "error report of an interrupted import");
        None
    });
    let mut e = ApiError::new(
        poem::http::StatusCode::SERVICE_UNAVAILABLE,
        "import_interrupted",
        format!(
            "服务正在停止，导入已中断：已保存 {saved} 行，自第 {first_unsaved} 行起的 {left} 行未保存。\
             服务恢复后请重新上传此文件（已保存的行按考生号更新，不会重复）"
        ),
    );
    e.body.errors.push(FieldError {
        field: "rows".into(),
        label: "行".into(),
        code: "not_saved".into(),
        message: format!("第 {first_unsaved} 行起未保存（共 {left} 行）"),
    });
    if let Some(path) = report {
        e.body.errors.push(FieldError {
            field: "error_report".into(),
            label: "错误报告".into(),
            code: "error_report".into(),
            message: path,
        });
    }
    e
}

/// The rejected rows of import `id`, for the account that ran it (or the administrator); any
/// other caller learns nothing, not even that it exists.
pub async fn import_errors(state: &AppState, c: &Caller, id: i64) -> ApiResult<Vec<RowError>> {
    let found = crate::entity::roster_import::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .filter(|r| c.role == AccountRole::Admin || r.account_id == c.actor.account_id)
        .ok_or_else(|| ApiError::not_found("没有这次导入的错误报告"))?;
    serde_json::from_str(&found.errors).map_err(ApiError::internal)
}

/// The graduate with this candidate number, if the caller's key covers their school.
pub async fn covered_graduate(
    state: &AppState,
    c: &Caller,
    candidate_no: &str,
) -> ApiResult<graduate::Model> {
    graduate_covered_by(state, c, candidate_no, scope::covers_roster).await
}

/// The graduate with `candidate_no` on the roster of a school `covers` lets `c` reach (a
/// roster key: [`scope::covers_roster`]; the identity provider: [`scope::covers_school`]).
pub async fn graduate_covered_by(
    state: &AppState,
    c: &Caller,
    candidate_no: &str,
    covers: fn(&Caller, &school::Model) -> bool,
) -> ApiResult<graduate::Model> {
    let g = graduate::Entity::find()
        .filter(graduate::Column::CandidateNo.eq(candidate_no))
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| ApiError::not_found("学生名单中没有该考生号"))?;
    let s = school::Entity::find_by_id(g.school_id)
        .one(&state.db.conn)
        .await?
        .filter(|s| covers(c, s))
        .ok_or_else(|| ApiError::not_found("学生名单中没有该考生号"))?;
    let _ = s;
    Ok(g)
}

/// Restores a re-uploaded graduate now (恢复网签数据) and audits it as `roster.restore`;
/// returns how many instances were restored (0 when the hourly worker restored them while
/// this request waited: done either way).
pub async fn restore_graduate_now(
    state: &AppState,
    c: &Caller,
    g: &graduate::Model,
) -> ApiResult<usize> {
    let (restored, _) = removal::restore(state, g).await?.unwrap_or((0, true));
    audit::record(
        &state.db.writer().await,
        c,
        state.clock.now(),
        "roster.restore",
        ("graduate", g.id.to_string()),
        json!({"instances": restored}),
    )
    .await?;
    Ok(restored)
}

/// Whose roster a caller sees.
pub enum RosterScope {
    /// Every graduate (the administrator).
    All,
    /// A province's.
    Province(Option<String>),
    /// A school's.
    School(Option<i64>),
    /// A department's of a school.
    Department(Option<i64>, Option<String>),
}

/// The filters of the roster list.
pub struct RosterFilter {
    /// The invalid list (失效信息) instead of the roster.
    pub invalid: bool,
    /// Only graduates whose hukou moved into the school (the hukou module's list).
    pub hukou_only: bool,
    pub school_id: Option<i64>,
    pub department: Option<String>,
    pub major: Option<String>,
    pub education_level: Option<String>,
    pub cohort: Option<i32>,
    /// A name, candidate number or ID number (exact).
    pub q: Option<String>,
    /// The module's registration status (档案/户口信息): `None` for any; `Some(None)` for 未登记.
    pub registration: Option<Option<RegistrationStatus>>,
    /// The states of the module's flows that give a status, from [`registration_states`].
    pub states: Vec<(String, String, RegistrationStatus)>,
}

/// The (flow, state, status) of every state of `module`'s active flows that gives the graduate
/// a registration status (the states' `registration` key).
pub fn registration_states(
    state: &AppState,
    module: Module,
    province: Option<&str>,
) -> Vec<(String, String, RegistrationStatus)> {
    let snap = state.registry.snapshot();
    let mut out = Vec::new();
    for key in snap.keys() {
        let Some(d) = snap.active(&key, province) else {
            continue;
        };
        if d.def.module != module {
            continue;
        }
        for (name, st) in &d.def.states {
            if let Some(r) = st.registration {
                out.push((d.def.key.clone(), name.clone(), r));
            }
        }
    }
    out
}

/// An instance in one of `states` (false for none).
fn in_states<'a>(
    states: impl Iterator<Item = &'a (String, String, RegistrationStatus)>,
) -> Condition {
    states.fold(
        Condition::any().add(Expr::value(false)),
        |any, (flow, st, _)| {
            any.add(
                Condition::all()
                    .add(instance::Column::DefKey.eq(flow.clone()))
                    .add(instance::Column::State.eq(st.clone())),
            )
        },
    )
}

/// The ids of graduates with an instance in one of `states` whose status is `status`.
fn with_status(
    states: &[(String, String, RegistrationStatus)],
    status: RegistrationStatus,
) -> sea_orm::sea_query::SelectStatement {
    instance::Entity::find()
        .select_only()
        .column(instance::Column::GraduateId)
        .filter(in_states(states.iter().filter(|(_, _, r)| *r == status)))
        .into_query()
}

/// The registration status of each of `graduates` (those without one are 未登记).
pub async fn registration_of(
    state: &AppState,
    states: &[(String, String, RegistrationStatus)],
    graduates: &[i64],
) -> ApiResult<HashMap<i64, RegistrationStatus>> {
    if states.is_empty() || graduates.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, String, String)> = instance::Entity::find()
        .select_only()
        .column(instance::Column::GraduateId)
        .column(instance::Column::DefKey)
        .column(instance::Column::State)
        .filter(instance::Column::GraduateId.is_in(graduates.to_vec()))
        .filter(in_states(states.iter()))
        .into_tuple()
        .all(&state.db.conn)
        .await?;
    let mut out: HashMap<i64, RegistrationStatus> = HashMap::new();
    for (graduate_id, flow, st) in rows {
        let Some((_, _, r)) = states.iter().find(|(f, s, _)| *f == flow && *s == st) else {
            continue;
        };
        // 已登记 wins over 审核中 (a graduate has one registration per module).
        let e = out.entry(graduate_id).or_insert(*r);
        if *r == RegistrationStatus::Registered {
            *e = *r;
        }
    }
    Ok(out)
}

/// One page of the roster in `scope`, filtered, in `sort`'s order (keys `department`,
/// `candidate_no`, `name`, `updated_at`), ties broken by id.
pub async fn roster_page(
    state: &AppState,
    scope: RosterScope,
    f: RosterFilter,
    sort: Sort,
    page: Option<u64>,
    page_size: Option<u64>,
    paging: &Paging,
) -> ApiResult<Paged<graduate::Model>> {
    let mut cond = Condition::all().add(graduate::Column::Removed.eq(f.invalid));
    cond = match scope {
        RosterScope::All => cond,
        RosterScope::Province(p) => cond.add(graduate::Column::ProvinceCode.eq(p)),
        RosterScope::School(s) => cond.add(graduate::Column::SchoolId.eq(s)),
        RosterScope::Department(s, d) => cond
            .add(graduate::Column::SchoolId.eq(s))
            .add(graduate::Column::Department.eq(d)),
    };
    if f.hukou_only {
        cond = cond.add(graduate::Column::HukouInSchool.eq(true));
    }
    if let Some(s) = f.school_id {
        cond = cond.add(graduate::Column::SchoolId.eq(s));
    }
    if let Some(d) = f.department {
        cond = cond.add(graduate::Column::Department.eq(d));
    }
    if let Some(v) = f.major {
        cond = cond.add(graduate::Column::Major.eq(v));
    }
    if let Some(v) = f.education_level {
        cond = cond.add(graduate::Column::EducationLevel.eq(v));
    }
    if let Some(v) = f.cohort {
        cond = cond.add(graduate::Column::Cohort.eq(v));
    }
    if let Some(v) = f.q.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
        cond = cond.add(
            Condition::any()
                .add(graduate::Column::Name.eq(v.clone()))
                .add(graduate::Column::CandidateNo.eq(v.clone()))
                .add(graduate::Column::IdNumber.eq(v.to_uppercase())),
        );
    }
    if let Some(wanted) = f.registration {
        let registered = || with_status(&f.states, RegistrationStatus::Registered);
        let reviewing = || with_status(&f.states, RegistrationStatus::Reviewing);
        cond = match wanted {
            Some(RegistrationStatus::Registered) => {
                cond.add(graduate::Column::Id.in_subquery(registered()))
            }
            Some(RegistrationStatus::Reviewing) => cond
                .add(graduate::Column::Id.in_subquery(reviewing()))
                .add(graduate::Column::Id.not_in_subquery(registered())),
            None => cond
                .add(graduate::Column::Id.not_in_subquery(registered()))
                .add(graduate::Column::Id.not_in_subquery(reviewing())),
        };
    }
    let order = sort.order();
    let key = match sort.key {
        "candidate_no" => graduate::Column::CandidateNo,
        "name" => graduate::Column::Name,
        "updated_at" => graduate::Column::UpdatedAt,
        _ => graduate::Column::Department,
    };
    paged(
        &state.db.conn,
        graduate::Entity::find()
            .filter(cond)
            .order_by(key, order.clone())
            .order_by(graduate::Column::Id, order),
        page,
        page_size,
        paging,
    )
    .await
}

/// A graduate's own roster entry.
pub async fn own_graduate(state: &AppState, graduate_id: i64) -> ApiResult<graduate::Model> {
    graduate::Entity::find_by_id(graduate_id)
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| ApiError::not_found("学生名单中没有你的信息"))
}

/// Records that the graduate confirmed their basic info is correct.
pub async fn confirm_basic_info(
    state: &AppState,
    g: graduate::Model,
) -> ApiResult<graduate::Model> {
    let mut am: graduate::ActiveModel = g.into();
    am.basic_info_confirmed = Set(true);
    am.basic_info_disputed = Set(false);
    am.basic_info_note = Set(None);
    am.basic_info_checked_at = Set(Some(state.clock.now()));
    Ok(am.update(&state.db.writer().await).await?)
}

/// Records that the graduate reported their basic info wrong, with their note for the school.
pub async fn dispute_basic_info(
    state: &AppState,
    g: graduate::Model,
    note: String,
) -> ApiResult<graduate::Model> {
    let mut am: graduate::ActiveModel = g.into();
    am.basic_info_confirmed = Set(false);
    am.basic_info_disputed = Set(true);
    am.basic_info_note = Set(Some(note));
    am.basic_info_checked_at = Set(Some(state.clock.now()));
    Ok(am.update(&state.db.writer().await).await?)
}
