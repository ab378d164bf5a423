//! The graduate roster (SPEC.md 3): import by the employment management system (JSON batches
//! and CSV/XLSX files, upserting by candidate number, then ID number; every row validated, bad
//! rows reported without rejecting good ones), deletion to the invalid list (in-flight
//! instances invalidated through `graduate.removed`), restore after re-upload (immediately
//! here, or by the hourly worker), scoped lists, and the graduate's first-login check.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{Object, OpenApi};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::{json, Value};

use super::{caller, Tag, Token};
use crate::auth::{AccountRole, Caller};
use crate::entity::{graduate, school};
use crate::error::{ApiError, ApiResult};
use crate::removal;
use crate::roster::{self, RosterRow, RowError};
use crate::service::{AppState, State};
use crate::{audit, org, scope};

/// Largest roster file accepted (bytes) and most data rows in one file or batch.
pub const MAX_FILE_BYTES: usize = 20 << 20;
pub const MAX_ROWS: usize = 200_000;
/// At most this many row errors are listed in an answer (all are counted).
const MAX_LISTED_ERRORS: usize = 1000;
const CHUNK: usize = 500;

#[derive(Object)]
pub struct RosterBatch {
    /// The school of rows without 院校代码 (school_code).
    pub school_code: Option<String>,
    /// Roster rows with the English column keys (see the roster column table in README).
    pub rows: Vec<Value>,
}

#[derive(Object)]
pub struct DisputeRequest {
    /// What is wrong (≤ 200 characters); the school sees it in the roster list.
    pub note: String,
}

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

/// Upserts validated rows (rows that failed validation come in `errors`); returns the import
/// report.
pub async fn import(
    state: &AppState,
    c: &Caller,
    default_school: Option<String>,
    checked: roster::Checked,
    blank_rows: usize,
    source: &str,
) -> ApiResult<Value> {
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
        placed.push((r, si));
    }

    let now = state.clock.now();
    let (mut created, mut updated, mut restore_pending) = (0usize, 0usize, 0usize);
    for chunk in placed.chunks(CHUNK) {
        let cands: Vec<String> = chunk.iter().map(|(r, _)| r.candidate_no.clone()).collect();
        let by_cand: HashMap<String, graduate::Model> = graduate::Entity::find()
            .filter(graduate::Column::CandidateNo.is_in(cands))
            .all(&state.db.conn)
            .await?
            .into_iter()
            .map(|g| (g.candidate_no.clone(), g))
            .collect();
        let ids: Vec<String> = chunk
            .iter()
            .filter(|(r, _)| !by_cand.contains_key(&r.candidate_no))
            .map(|(r, _)| r.id_number.clone())
            .collect();
        let by_id: HashMap<(i64, String), graduate::Model> = if ids.is_empty() {
            HashMap::new()
        } else {
            graduate::Entity::find()
                .filter(graduate::Column::IdNumber.is_in(ids))
                .all(&state.db.conn)
                .await?
                .into_iter()
                .map(|g| ((g.school_id, g.id_number.clone()), g))
                .collect()
        };
        let mut upserts = Vec::new();
        let mut by_id_updates = Vec::new();
        let mut reuploaded: Vec<i64> = Vec::new();
        for (r, si) in chunk {
            let s = &school_list[*si];
            let existing = by_cand
                .get(&r.candidate_no)
                .or_else(|| by_id.get(&(s.id, r.id_number.clone())));
            match existing {
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
                    if g.candidate_no != r.candidate_no {
                        let mut am = active_model(r, s, now);
                        am.id = Set(g.id);
                        by_id_updates.push(am);
                        continue;
                    }
                }
                None => created += 1,
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
        for am in by_id_updates {
            am.update(&txn).await?;
        }
        if !reuploaded.is_empty() {
            graduate::Entity::update_many()
                .col_expr(graduate::Column::RestorePending, Expr::value(true))
                .col_expr(graduate::Column::ReuploadedAt, Expr::value(Some(now)))
                .filter(graduate::Column::Id.is_in(reuploaded))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
    }
    errors.sort_by_key(|e| e.row);
    let error_rows: HashSet<usize> = errors.iter().map(|e| e.row).collect();
    let report = json!({
        "source": source,
        "received": received,
        "created": created,
        "updated": updated,
        "restore_pending": restore_pending,
        "blank_rows": blank_rows,
        "rejected_rows": error_rows.len(),
        "error_count": errors.len(),
        "errors": errors.iter().take(MAX_LISTED_ERRORS).collect::<Vec<_>>(),
    });
    audit::record(
        &*state.db.writer().await,
        c,
        now,
        "roster.import",
        ("roster", source.to_string()),
        json!({"received": received, "created": created, "updated": updated, "rejected_rows": error_rows.len()}),
    )
    .await?;
    Ok(report)
}

/// The graduate with this candidate number, if the caller's key covers their school.
async fn covered_graduate(
    state: &AppState,
    c: &Caller,
    candidate_no: &str,
) -> ApiResult<graduate::Model> {
    scope::require_integrator(c)?;
    let g = graduate::Entity::find()
        .filter(graduate::Column::CandidateNo.eq(candidate_no))
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| ApiError::not_found("学生名单中没有该考生号"))?;
    let s = school::Entity::find_by_id(g.school_id)
        .one(&state.db.conn)
        .await?
        .filter(|s| scope::covers_roster(c, s))
        .ok_or_else(|| ApiError::not_found("学生名单中没有该考生号"))?;
    let _ = s;
    Ok(g)
}

fn graduate_view(g: &graduate::Model) -> Value {
    json!({
        "id": g.id,
        "candidate_no": g.candidate_no,
        "name": g.name,
        "id_number": g.id_number,
        "school_id": g.school_id,
        "education_level": g.education_level,
        "gender": g.gender,
        "ethnicity": g.ethnicity,
        "political_status": g.political_status,
        "training_mode": g.training_mode,
        "origin_region": g.origin_region,
        "enrolment_date": g.enrolment_date,
        "graduation_date": g.graduation_date,
        "cohort": g.cohort,
        "student_no": g.student_no,
        "department": g.department,
        "major": g.major,
        "schooling_length": g.schooling_length,
        "archive_in_school": g.archive_in_school,
        "hukou_in_school": g.hukou_in_school,
        "email": g.email,
        "mobile": g.mobile,
        "directed_employer": g.directed_employer,
        "removed": g.removed,
        "removed_at": g.removed_at.map(|t| t.to_rfc3339()),
        "restore_pending": g.restore_pending,
        "basic_info_confirmed": g.basic_info_confirmed,
        "basic_info_disputed": g.basic_info_disputed,
        "basic_info_note": g.basic_info_note,
    })
}

/// Where correcting basic info happens (SPEC.md 3).
const HOW_TO_CORRECT: &str = "基本信息来自就业管理系统上传的学生名单。如有错误，请联系学校就业部门在就业管理系统中更正；手机号码和电子邮箱请在学信网账号信息中修改，会自动同步。";

pub struct RosterApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Roster")]
impl RosterApi {
    /// Upload roster rows as JSON (integrator keys of the employment management system).
    /// Upserts by candidate number, then by ID number within the school; every row is
    /// validated and the bad ones are reported by row without rejecting the good ones.
    #[oai(path = "/roster/graduates", method = "post")]
    async fn upload_rows(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<RosterBatch>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        scope::require_integrator(&c)?;
        if body.rows.len() > MAX_ROWS {
            return Err(ApiError::unprocessable(
                "too_many_rows",
                format!("rows：一次最多上传 {MAX_ROWS} 行"),
            )
            .into());
        }
        let snap = state.registry.snapshot();
        let checked = roster::check_all(
            body.rows
                .iter()
                .enumerate()
                .map(|(i, v)| roster::raw_from_json(i, v)),
            snap.code_lookup(),
        );
        Ok(Json(
            import(&state, &c, body.school_code.clone(), checked, 0, "json").await?,
        ))
    }

    /// Upload a roster file (CSV in UTF-8 or GBK, or XLSX; detected by content, at most
    /// 20 MB) as the request body. `school_code` applies to rows without 院校代码.
    #[oai(path = "/roster/files", method = "post")]
    async fn upload_file(
        &self,
        state: Data<&State>,
        auth: Token,
        school_code: Query<Option<String>>,
        body: Binary<Vec<u8>>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        scope::require_integrator(&c)?;
        if body.0.len() > MAX_FILE_BYTES {
            return Err(ApiError::new(
                poem::http::StatusCode::PAYLOAD_TOO_LARGE,
                "file_too_large",
                "文件不能超过 20 MB",
            )
            .into());
        }
        let bytes = body.0;
        let snap = state.registry.snapshot();
        // Parsing and validating are CPU work: off the async runtime, raw rows dropped as
        // they are validated.
        let (checked, summary) = tokio::task::spawn_blocking(move || {
            let mut checked = roster::Checked::default();
            let codes = snap.code_lookup();
            roster::read_file(&bytes, MAX_ROWS, &mut |raw| checked.push(Ok(raw), codes))
                .map(|summary| (checked, summary))
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::unprocessable(e.code, e.message))?;
        let mut report = import(
            &state,
            &c,
            school_code.0,
            checked,
            summary.blank_rows,
            summary.format,
        )
        .await?;
        report["ignored_columns"] = json!(summary.ignored_columns);
        Ok(Json(report))
    }

    /// Delete a graduate from the roster: they move to the invalid list (失效信息), every
    /// in-flight signing or registration of theirs becomes invalid (pending archive and hukou
    /// applications become 审核不通过, as their flows declare).
    #[oai(path = "/roster/graduates/:candidate_no", method = "delete")]
    async fn delete(
        &self,
        state: Data<&State>,
        auth: Token,
        candidate_no: Path<String>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        let g = covered_graduate(&state, &c, &candidate_no).await?;
        // Idempotent: a repeated delete re-delivers the event to anything still in flight.
        let (invalidated, complete) = removal::remove(&state, &c, &g).await?;
        Ok(Json(json!({
            "candidate_no": g.candidate_no,
            "removed": true,
            "invalidated": invalidated,
            // false: some instance could not react yet; the outbox goes on until all have.
            "complete": complete,
        })))
    }

    /// Restore a re-uploaded graduate now (恢复网签数据) instead of waiting for the hourly run.
    #[oai(path = "/roster/graduates/:candidate_no/restore", method = "post")]
    async fn restore_now(
        &self,
        state: Data<&State>,
        auth: Token,
        candidate_no: Path<String>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        let g = covered_graduate(&state, &c, &candidate_no).await?;
        if !g.removed {
            return Err(
                ApiError::conflict("not_removed", "该毕业生不在失效信息中，无需恢复").into(),
            );
        }
        if !g.restore_pending {
            return Err(ApiError::conflict(
                "not_reuploaded",
                "该毕业生尚未重新上传到学生名单，不能恢复",
            )
            .into());
        }
        // `None`: the hourly worker restored them while this request waited; done either way.
        let (restored, _) = removal::restore(&state, &g).await?.unwrap_or((0, true));
        audit::record(
            &*state.db.writer().await,
            &c,
            state.clock.now(),
            "roster.restore",
            ("graduate", g.id.to_string()),
            json!({"instances": restored}),
        )
        .await?;
        Ok(Json(
            json!({"candidate_no": g.candidate_no, "removed": false, "restored": restored}),
        ))
    }

    /// The roster (学生名单管理) in the caller's scope. `module` (employment, archive, hukou)
    /// checks the caller's level; the hukou list shows only graduates whose hukou moved into
    /// the school. `invalid=true` lists the invalid info (失效信息管理) instead.
    #[oai(path = "/roster/graduates", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&State>,
        auth: Token,
        module: Query<Option<String>>,
        invalid: Query<Option<bool>>,
        school_id: Query<Option<i64>>,
        department: Query<Option<String>>,
        major: Query<Option<String>>,
        education_level: Query<Option<String>>,
        cohort: Query<Option<i32>>,
        q: Query<Option<String>>,
        page: Query<Option<u64>>,
        per_page: Query<Option<u64>>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        let m = match module.0.as_deref() {
            None => gradflow_engine::definition::Module::Employment,
            Some(s) => org::parse_module(s).ok_or_else(|| {
                ApiError::unprocessable(
                    "invalid_module",
                    "module：只能是 employment、archive 或 hukou",
                )
            })?,
        };
        c.require_view(m)?;
        let a = &c.actor;
        let mut cond =
            Condition::all().add(graduate::Column::Removed.eq(invalid.0.unwrap_or(false)));
        cond = match c.role {
            AccountRole::Admin => cond,
            AccountRole::Province => {
                cond.add(graduate::Column::ProvinceCode.eq(a.province.clone()))
            }
            AccountRole::School => cond.add(graduate::Column::SchoolId.eq(a.school_id)),
            AccountRole::Department => cond
                .add(graduate::Column::SchoolId.eq(a.school_id))
                .add(graduate::Column::Department.eq(a.department.clone())),
            _ => {
                return Err(ApiError::forbidden("只有省级、学校和院系用户可以查看学生名单").into())
            }
        };
        if m == gradflow_engine::definition::Module::Hukou {
            cond = cond.add(graduate::Column::HukouInSchool.eq(true));
        }
        if let Some(s) = school_id.0 {
            cond = cond.add(graduate::Column::SchoolId.eq(s));
        }
        if let Some(d) = department.0 {
            cond = cond.add(graduate::Column::Department.eq(d));
        }
        if let Some(v) = major.0 {
            cond = cond.add(graduate::Column::Major.eq(v));
        }
        if let Some(v) = education_level.0 {
            cond = cond.add(graduate::Column::EducationLevel.eq(v));
        }
        if let Some(v) = cohort.0 {
            cond = cond.add(graduate::Column::Cohort.eq(v));
        }
        if let Some(v) = q.0.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
            cond = cond.add(
                Condition::any()
                    .add(graduate::Column::Name.eq(v.clone()))
                    .add(graduate::Column::CandidateNo.eq(v.clone()))
                    .add(graduate::Column::IdNumber.eq(v.to_uppercase())),
            );
        }
        let p = super::paged(
            &state.db.conn,
            graduate::Entity::find()
                .filter(cond)
                .order_by_asc(graduate::Column::Department)
                .order_by_asc(graduate::Column::Id),
            page.0,
            per_page.0,
            &super::PER_PAGE,
        )
        .await?;
        let (page, per_page, total, rows) = (p.page, p.size, p.total, p.rows);
        Ok(Json(json!({
            "total": total, "page": page, "per_page": per_page,
            "items": rows.iter().map(graduate_view).collect::<Vec<_>>(),
        })))
    }

    /// The graduate's own basic info, for the first-login check, and how to correct it.
    #[oai(path = "/me/basic-info", method = "get")]
    async fn basic_info(&self, state: Data<&State>, auth: Token) -> poem::Result<Json<Value>> {
        let g = own_graduate(&state, &auth).await?;
        let mut v = graduate_view(&g);
        v["how_to_correct"] = json!(HOW_TO_CORRECT);
        v["needs_check"] = json!(!g.basic_info_confirmed && !g.basic_info_disputed);
        Ok(Json(v))
    }

    /// The graduate confirms their basic info is correct.
    #[oai(path = "/me/basic-info/confirm", method = "post")]
    async fn confirm(&self, state: Data<&State>, auth: Token) -> poem::Result<Json<Value>> {
        let g = own_graduate(&state, &auth).await?;
        let mut am: graduate::ActiveModel = g.into();
        am.basic_info_confirmed = Set(true);
        am.basic_info_disputed = Set(false);
        am.basic_info_note = Set(None);
        am.basic_info_checked_at = Set(Some(state.clock.now()));
        let g = am
            .update(&*state.db.writer().await)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(graduate_view(&g)))
    }

    /// The graduate reports that their basic info is wrong; the school sees the note and
    /// corrects it in the employment management system.
    #[oai(path = "/me/basic-info/dispute", method = "post")]
    async fn dispute(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<DisputeRequest>,
    ) -> poem::Result<Json<Value>> {
        let g = own_graduate(&state, &auth).await?;
        let note = body.note.trim().to_string();
        if note.is_empty() || note.chars().count() > 200 {
            return Err(ApiError::unprocessable(
                "invalid_note",
                "note：请说明哪项信息有误（不超过 200 个字）",
            )
            .into());
        }
        let mut am: graduate::ActiveModel = g.into();
        am.basic_info_confirmed = Set(false);
        am.basic_info_disputed = Set(true);
        am.basic_info_note = Set(Some(note));
        am.basic_info_checked_at = Set(Some(state.clock.now()));
        let g = am
            .update(&*state.db.writer().await)
            .await
            .map_err(ApiError::from)?;
        let mut v = graduate_view(&g);
        v["how_to_correct"] = json!(HOW_TO_CORRECT);
        Ok(Json(v))
    }
}

async fn own_graduate(state: &State, auth: &Token) -> ApiResult<graduate::Model> {
    let c = caller(state, auth).await?;
    let id = match (c.role, c.actor.graduate_id) {
        (AccountRole::Graduate, Some(id)) => id,
        _ => return Err(ApiError::forbidden("只有毕业生本人可以核对基本信息")),
    };
    graduate::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| ApiError::not_found("学生名单中没有你的信息"))
}
