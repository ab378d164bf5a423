//! The graduate roster (SPEC.md 3): import by the employment management system (JSON batches
//! and CSV/XLSX files, upserting by candidate number; an ID number another graduate holds is
//! refused; every row validated, bad rows reported without rejecting good ones), the import
//! template, deletion to the invalid list (in-flight
//! instances invalidated through `graduate.removed`), restore after re-upload (immediately
//! here, or by the hourly worker), scoped lists, and the graduate's first-login check.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::{json, Value};

use super::{caller, Problem, Tag, Token};
use crate::auth::AccountRole;
use crate::entity::graduate;
use crate::error::{ApiError, ApiResult};
use crate::removal;
use crate::roster;
use crate::service::State;
use crate::services::roster::{self as roster_service, RosterFilter, RosterScope};
use crate::{org, scope};

/// Largest roster file accepted (bytes) and most data rows in one file or batch.
pub const MAX_FILE_BYTES: usize = 20 << 20;
pub const MAX_ROWS: usize = 200_000;

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
        // Shown to the school on the graduate's record, not only in the import's answer.
        "warnings": roster::gender_conflict(&g.id_number, g.gender.as_deref())
            .into_iter()
            .collect::<Vec<_>>(),
    })
}

/// Where correcting basic info happens (SPEC.md 3).
const HOW_TO_CORRECT: &str = "基本信息来自就业管理系统上传的学生名单。如有错误，请联系学校就业部门在就业管理系统中更正；手机号码和电子邮箱请在学信网账号信息中修改，会自动同步。";

/// The answers of `GET /roster/template`.
#[derive(ApiResponse)]
pub enum TemplateResponse {
    /// The template workbook (学生名单导入模板.xlsx).
    #[oai(
        status = 200,
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )]
    Ok(
        Binary<Vec<u8>>,
        /// `attachment` with the Chinese file name in `filename*` (RFC 6266).
        #[oai(header = "content-disposition")]
        String,
    ),
    /// No or an unknown token (`unauthorized`).
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    /// Graduates, employers, identity keys and accounts without the employment module get
    /// nothing (`forbidden`).
    #[oai(status = 403)]
    Forbidden(Json<Problem>),
}

/// The answers of `GET /roster/imports/{id}/errors`.
#[derive(ApiResponse)]
pub enum ErrorReportResponse {
    /// The import's rejected rows as a workbook (导入错误报告.xlsx).
    #[oai(
        status = 200,
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )]
    Ok(
        Binary<Vec<u8>>,
        /// `attachment` with the Chinese file name in `filename*` (RFC 6266).
        #[oai(header = "content-disposition")]
        String,
    ),
    /// No or an unknown token (`unauthorized`).
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    /// No such import of the caller's (`not_found`): reports are the importer's own.
    #[oai(status = 404)]
    NotFound(Json<Problem>),
}

pub struct RosterApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Roster")]
impl RosterApi {
    /// Upload roster rows as JSON (integrator keys of the employment management system).
    ///
    /// Upserts by candidate number (an ID number another graduate of the school holds is refused);
    /// every row is validated and the bad ones are reported by row without rejecting the good ones;
    /// corrections of a graduate's ID number or name are listed with before and after, a gender
    /// that contradicts the ID number is warned.
    #[oai(
        path = "/roster/graduates",
        method = "post",
        operation_id = "roster_upload_rows"
    )]
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
            roster_service::import_roster(&state, &c, body.school_code.clone(), checked, 0, "json")
                .await?,
        ))
    }

    /// Upload a roster file.
    ///
    /// Upload a roster file (CSV in UTF-8 or GBK, or XLSX; detected by content, at most 20 MB) as
    /// the request body.
    ///
    /// `school_code` applies to rows without 院校代码.
    #[oai(
        path = "/roster/files",
        method = "post",
        operation_id = "roster_upload_file"
    )]
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
        let mut report = roster_service::import_roster(
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

    /// Delete a graduate from the roster.
    ///
    /// Delete a graduate from the roster: they move to the invalid list (失效信息), every in-flight
    /// signing or registration of theirs becomes invalid (pending archive and hukou applications
    /// become 审核不通过, as their flows declare).
    #[oai(
        path = "/roster/graduates/:candidate_no",
        method = "delete",
        operation_id = "roster_delete"
    )]
    async fn delete(
        &self,
        state: Data<&State>,
        auth: Token,
        candidate_no: Path<String>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        scope::require_integrator(&c)?;
        let g = roster_service::covered_graduate(&state, &c, &candidate_no).await?;
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
    #[oai(
        path = "/roster/graduates/:candidate_no/restore",
        method = "post",
        operation_id = "roster_restore_now"
    )]
    async fn restore_now(
        &self,
        state: Data<&State>,
        auth: Token,
        candidate_no: Path<String>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        scope::require_integrator(&c)?;
        let g = roster_service::covered_graduate(&state, &c, &candidate_no).await?;
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
        let restored = roster_service::restore_graduate_now(&state, &c, &g).await?;
        Ok(Json(
            json!({"candidate_no": g.candidate_no, "removed": false, "restored": restored}),
        ))
    }

    /// Download the roster import template.
    ///
    /// Download the roster import template (学生名单导入模板): the header row the importer reads (required
    /// columns marked *, text columns formatted as text so ID numbers keep their digits) and, on a
    /// second sheet, every code table the columns take.
    #[oai(
        path = "/roster/template",
        method = "get",
        operation_id = "roster_template"
    )]
    async fn template(&self, state: Data<&State>, auth: Token) -> poem::Result<TemplateResponse> {
        let c = caller(&state, &auth).await?;
        // For those who prepare rosters: reviewers and the management system's roster key.
        let identity_key =
            c.role == AccountRole::Integrator && c.key_kind != Some(crate::auth::KeyKind::Roster);
        if matches!(c.role, AccountRole::Graduate | AccountRole::Employer) || identity_key {
            return Err(ApiError::forbidden("学生名单由学校或就业管理系统导入").into());
        }
        if !matches!(c.role, AccountRole::Admin | AccountRole::Integrator) {
            // Reviewers see the template where they see the roster.
            c.require_view(gradflow_engine::definition::Module::Employment)?;
        }
        let snap = state.registry.snapshot();
        let bytes =
            crate::roster_template::template_xlsx(&snap.codes).map_err(ApiError::internal)?;
        Ok(TemplateResponse::Ok(
            Binary(bytes),
            crate::export::attachment("学生名单导入模板.xlsx", "roster-template.xlsx"),
        ))
    }

    /// Download an import's error report.
    ///
    /// Download an import's error report (导入错误报告) as XLSX: every rejected row with its row number,
    /// candidate number, column and reason.
    ///
    /// The import's answer links it (`error_report`); only the account that imported (or the
    /// administrator) gets it.
    #[oai(
        path = "/roster/imports/:id/errors",
        method = "get",
        operation_id = "roster_import_errors"
    )]
    async fn import_errors(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The import's id (from `error_report` in the import's answer).
        id: Path<i64>,
    ) -> poem::Result<ErrorReportResponse> {
        let c = caller(&state, &auth).await?;
        let errors = roster_service::import_errors(&state, &c, id.0).await?;
        let bytes = crate::roster_template::errors_xlsx(&errors).map_err(ApiError::internal)?;
        Ok(ErrorReportResponse::Ok(
            Binary(bytes),
            crate::export::attachment(&format!("导入错误报告-{}.xlsx", id.0), "import-errors.xlsx"),
        ))
    }

    /// The roster (学生名单管理) in the caller's scope.
    ///
    /// `module` (employment, archive, hukou) checks the caller's level; the hukou list shows only
    /// graduates whose hukou moved into the school. `invalid=true` lists the invalid info (失效信息管理)
    /// instead.
    #[oai(
        path = "/roster/graduates",
        method = "get",
        operation_id = "roster_list"
    )]
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
        page_size: Query<Option<u64>>,
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
        let scope = match c.role {
            AccountRole::Admin => RosterScope::All,
            AccountRole::Province => RosterScope::Province(a.province.clone()),
            AccountRole::School => RosterScope::School(a.school_id),
            AccountRole::Department => RosterScope::Department(a.school_id, a.department.clone()),
            _ => {
                return Err(ApiError::forbidden("只有省级、学校和院系用户可以查看学生名单").into())
            }
        };
        let filter = RosterFilter {
            invalid: invalid.0.unwrap_or(false),
            hukou_only: m == gradflow_engine::definition::Module::Hukou,
            school_id: school_id.0,
            department: department.0,
            major: major.0,
            education_level: education_level.0,
            cohort: cohort.0,
            q: q.0,
        };
        let p = roster_service::roster_page(
            &state,
            scope,
            filter,
            page.0,
            page_size.0,
            &super::PAGE_SIZE,
        )
        .await?;
        let (page, page_size, total, rows) = (p.page, p.size, p.total, p.rows);
        Ok(Json(json!({
            "total": total, "page": page, "page_size": page_size,
            "items": rows.iter().map(graduate_view).collect::<Vec<_>>(),
        })))
    }

    /// The graduate's own basic info, for the first-login check, and how to correct it.
    #[oai(
        path = "/me/basic-info",
        method = "get",
        operation_id = "roster_basic_info"
    )]
    async fn basic_info(&self, state: Data<&State>, auth: Token) -> poem::Result<Json<Value>> {
        let g = own_graduate(&state, &auth).await?;
        let mut v = graduate_view(&g);
        v["how_to_correct"] = json!(HOW_TO_CORRECT);
        v["needs_check"] = json!(!g.basic_info_confirmed && !g.basic_info_disputed);
        Ok(Json(v))
    }

    /// The graduate confirms their basic info is correct.
    #[oai(
        path = "/me/basic-info/confirm",
        method = "post",
        operation_id = "roster_confirm"
    )]
    async fn confirm(&self, state: Data<&State>, auth: Token) -> poem::Result<Json<Value>> {
        let g = own_graduate(&state, &auth).await?;
        let g = roster_service::confirm_basic_info(&state, g).await?;
        Ok(Json(graduate_view(&g)))
    }

    /// The graduate reports that their basic info is wrong.
    ///
    /// The graduate reports that their basic info is wrong; the school sees the note and corrects
    /// it in the employment management system.
    #[oai(
        path = "/me/basic-info/dispute",
        method = "post",
        operation_id = "roster_dispute"
    )]
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
        let g = roster_service::dispute_basic_info(&state, g, note).await?;
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
    roster_service::own_graduate(state, id).await
}
