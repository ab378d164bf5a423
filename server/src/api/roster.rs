//! The graduate roster (SPEC.md 3): import by the employment management system (JSON batches
//! and CSV/XLSX files, upserting by candidate number; an ID number another graduate holds is
//! refused; every row validated, bad rows reported without rejecting good ones), the import
//! template, deletion to the invalid list (in-flight
//! instances invalidated through `graduate.removed`), restore after re-upload (immediately
//! here, or by the hourly worker), scoped lists, and the graduate's first-login check.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::{json, Value};

use super::{answers, caller, page_of, Problem, Tag, Token};
use crate::auth::AccountRole;
use crate::entity::graduate;
use crate::error::{ApiError, ApiResult};
use crate::paging::Sort;
use crate::removal;
use crate::roster;
use crate::service::State;
use crate::services::roster::{self as roster_service, ImportReport, RosterFilter, RosterScope};
use crate::{org, scope};
use gradflow_engine::definition::RegistrationStatus;

/// Largest roster file accepted (bytes) and most data rows in one file or batch.
pub const MAX_FILE_BYTES: usize = 20 << 20;
pub const MAX_ROWS: usize = 200_000;

/// A batch of roster rows from the employment management system.
#[derive(Object)]
#[oai(example)]
pub struct RosterBatch {
    /// The school (院校代码) of rows without `school_code`.
    pub school_code: Option<String>,
    /// Roster rows (at most 200 000, `too_many_rows` beyond) with the English column keys
    /// (see the roster column table in README): `candidate_no`, `id_number`, `name`,
    /// `education_level`, `training_mode`, `department`, `major`, `cohort`, … Each row is
    /// checked on its own; a bad row is reported by row without rejecting the others.
    pub rows: Vec<Value>,
}

impl poem_openapi::types::Example for RosterBatch {
    fn example() -> Self {
        RosterBatch {
            school_code: Some("10284".into()),
            rows: vec![json!({
                "candidate_no": "26320102150010", "id_number": "320102200001011238",
                "name": "孙八", "gender": "男", "education_level": "本科", "training_mode": "10",
                "department": "计算机科学与技术系", "major": "软件工程", "cohort": 2027,
                "origin_region": "320102", "graduation_date": "2027-06-30",
                "archive_in_school": true, "hukou_in_school": true,
                "mobile": "13812345678", "email": "sunba@example.com"
            })],
        }
    }
}

/// What is wrong with the graduate's basic info.
#[derive(Object)]
#[oai(example)]
pub struct DisputeRequest {
    /// What is wrong, 1–200 characters (trimmed; `invalid_note` otherwise); the school sees it
    /// in the roster list.
    pub note: String,
}

impl poem_openapi::types::Example for DisputeRequest {
    fn example() -> Self {
        DisputeRequest {
            note: "专业应为“人工智能”，不是“软件工程”；入学时间应为 2023 年 9 月".into(),
        }
    }
}

/// A graduate on the roster (学生名单), as the school (and the graduate) sees them.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct GraduateView {
    /// The graduate's id.
    pub id: i64,
    /// 考生号 (the roster's key).
    pub candidate_no: String,
    /// 姓名.
    pub name: String,
    /// 身份证号.
    pub id_number: String,
    /// The school's id.
    pub school_id: i64,
    /// 学历 (`本科`, `硕士`, `博士`, …).
    pub education_level: String,
    /// 性别 (`男`, `女`).
    pub gender: Option<String>,
    /// 民族 (a code of the ethnicity table).
    pub ethnicity: Option<String>,
    /// 政治面貌 (a code of the political status table).
    pub political_status: Option<String>,
    /// 培养方式 (a code: `10` 非定向, `21`/`41` 定向 or 委培, …).
    pub training_mode: String,
    /// 生源所在地 (a region code).
    pub origin_region: Option<String>,
    /// 入学日期 (YYYY-MM-DD).
    pub enrolment_date: Option<String>,
    /// 毕业日期 (YYYY-MM-DD).
    pub graduation_date: Option<String>,
    /// 毕业年份 (届别).
    pub cohort: i32,
    /// 学号.
    pub student_no: Option<String>,
    /// 院系.
    pub department: String,
    /// 专业.
    pub major: String,
    /// 学制.
    pub schooling_length: Option<String>,
    /// Whether the archive (档案) was moved into the school.
    pub archive_in_school: bool,
    /// Whether the hukou (户口) was moved into the school.
    pub hukou_in_school: bool,
    /// 电子邮箱.
    pub email: Option<String>,
    /// 手机号码.
    pub mobile: Option<String>,
    /// 定向（委培）单位, for training modes 21 and 41.
    pub directed_employer: Option<String>,
    /// Whether the graduate is on the invalid list (失效信息).
    pub removed: bool,
    /// When they were removed, while removed.
    pub removed_at: Option<DateTime<Utc>>,
    /// Re-uploaded while removed: restored by the hourly run (or `…/restore`).
    pub restore_pending: bool,
    /// The graduate confirmed their basic info.
    pub basic_info_confirmed: bool,
    /// The graduate reported their basic info wrong.
    pub basic_info_disputed: bool,
    /// What the graduate said is wrong.
    pub basic_info_note: Option<String>,
    /// Warnings about the record (a gender that contradicts the ID number).
    pub warnings: Vec<String>,
    /// How to get the basic info corrected (the graduate's own basic-info answers only).
    pub how_to_correct: Option<String>,
    /// Whether the graduate still has to confirm or dispute it (`GET /me/basic-info` only).
    pub needs_check: Option<bool>,
    /// The archive or hukou list only (档案/户口信息): the registration status in the module,
    /// `unregistered` (未登记), `reviewing` (审核中) or `registered` (已登记).
    pub registration: Option<String>,
    /// That status as users see it.
    pub registration_label: Option<String>,
}

fn graduate_view(g: &graduate::Model) -> GraduateView {
    GraduateView {
        id: g.id,
        candidate_no: g.candidate_no.clone(),
        name: g.name.clone(),
        id_number: g.id_number.clone(),
        school_id: g.school_id,
        education_level: g.education_level.clone(),
        gender: g.gender.clone(),
        ethnicity: g.ethnicity.clone(),
        political_status: g.political_status.clone(),
        training_mode: g.training_mode.clone(),
        origin_region: g.origin_region.clone(),
        enrolment_date: g.enrolment_date.clone(),
        graduation_date: g.graduation_date.clone(),
        cohort: g.cohort,
        student_no: g.student_no.clone(),
        department: g.department.clone(),
        major: g.major.clone(),
        schooling_length: g.schooling_length.clone(),
        archive_in_school: g.archive_in_school,
        hukou_in_school: g.hukou_in_school,
        email: g.email.clone(),
        mobile: g.mobile.clone(),
        directed_employer: g.directed_employer.clone(),
        removed: g.removed,
        removed_at: g.removed_at,
        restore_pending: g.restore_pending,
        basic_info_confirmed: g.basic_info_confirmed,
        basic_info_disputed: g.basic_info_disputed,
        basic_info_note: g.basic_info_note.clone(),
        // Shown to the school on the graduate's record, not only in the import's answer.
        warnings: roster::gender_conflict(&g.id_number, g.gender.as_deref())
            .into_iter()
            .collect(),
        how_to_correct: None,
        needs_check: None,
        registration: None,
        registration_label: None,
    }
}

page_of! {
    /// A page of the roster.
    pub struct GraduatePage(GraduateView);
}

/// A graduate deleted from the roster.
#[derive(Object)]
pub struct RemovedGraduate {
    /// The graduate's candidate number.
    pub candidate_no: String,
    /// Always `true`: the graduate is on the invalid list.
    pub removed: bool,
    /// How many in-flight instances of theirs became invalid.
    pub invalidated: usize,
    /// `false` when some instance could not react yet: the outbox goes on until all have.
    pub complete: bool,
}

/// A graduate restored from the invalid list.
#[derive(Object)]
pub struct RestoredGraduate {
    /// The graduate's candidate number.
    pub candidate_no: String,
    /// Always `false`: the graduate is back on the roster.
    pub removed: bool,
    /// How many of their instances were restored (0 when the hourly run restored them while
    /// this request waited).
    pub restored: usize,
}

/// The keys `GET /roster/graduates` sorts by.
pub const ROSTER_SORT: [&str; 4] = ["department", "candidate_no", "name", "updated_at"];

answers! {
    /// The answers of `POST /roster/graduates`.
    pub enum UploadRowsAnswer {
        /// The import's report (bad rows are reported here, not refused).
        200 Ok(Json<ImportReport>),
        errors:
        /// The body is not the JSON the operation takes (`invalid_body`), or a query parameter
        /// was given (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not the employment management system's key or the administrator (`forbidden`).
        403 Forbidden,
        /// The body is over 16 MB (`body_too_large`).
        413 PayloadTooLarge,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// More than 200 000 rows (`too_many_rows`), `invalid_type`, `control_character`.
        422 Invalid,
        /// The server stopped mid-import (`import_interrupted`): the batches saved so far stay;
        /// upload again. `errors` names where the unsaved rows begin (`not_saved`) and, as
        /// `error_report`, the path of the error report (the rows rejected so far and that
        /// point).
        503 Unavailable,
    }
}

answers! {
    /// The answers of `POST /roster/files`.
    pub enum UploadFileAnswer {
        /// The import's report (bad rows are reported here, not refused).
        200 Ok(Json<ImportReport>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`), checked before the file is read.
        401 Unauthorized,
        /// Not the employment management system's key or the administrator (`forbidden`).
        403 Forbidden,
        /// The file is over 20 MB (`file_too_large`, `body_too_large`).
        413 PayloadTooLarge,
        /// No `Content-Type` (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// The file cannot be imported as a whole (`empty_file`, `unsupported_file`,
        /// `invalid_csv`, `file_too_complex`, `missing_columns`, `too_many_rows`), or
        /// `control_character`.
        422 Invalid,
        /// The server stopped mid-import (`import_interrupted`): the batches saved so far stay;
        /// upload again. `errors` names where the unsaved rows begin (`not_saved`) and, as
        /// `error_report`, the path of the error report (the rows rejected so far and that
        /// point).
        503 Unavailable,
    }
}

answers! {
    /// The answers of `DELETE /roster/graduates/{candidate_no}`.
    pub enum DeleteAnswer {
        /// The graduate is on the invalid list.
        200 Ok(Json<RemovedGraduate>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not the employment management system's key or the administrator (`forbidden`).
        403 Forbidden,
        /// No graduate with this candidate number in the key's scope (`not_found`).
        404 NotFound,
        /// A control character in the path (`control_character`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `POST /roster/graduates/{candidate_no}/restore`.
    pub enum RestoreAnswer {
        /// The graduate is back on the roster.
        200 Ok(Json<RestoredGraduate>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not the employment management system's key or the administrator (`forbidden`).
        403 Forbidden,
        /// No graduate with this candidate number in the key's scope (`not_found`).
        404 NotFound,
        /// Not on the invalid list (`not_removed`), or not re-uploaded yet (`not_reuploaded`).
        409 Conflict,
        /// A control character in the path (`control_character`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `GET /roster/graduates`.
    pub enum RosterListAnswer {
        /// A page of the roster.
        200 Ok(Json<GraduatePage>),
        errors:
        /// A parameter does not parse or is not one the list takes (`invalid_parameter`,
        /// `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a province, school or department user (or the administrator), or without the
        /// module's permission (`forbidden`).
        403 Forbidden,
        /// An unknown module (`invalid_module`), a registration status that is not one or
        /// outside the archive and hukou lists (`invalid_registration`), paging or order out of
        /// bounds (`invalid_page`, `invalid_page_size`, `invalid_sort`), or `control_character`.
        422 Invalid,
    }
}

answers! {
    /// The answers of `GET /me/basic-info` and `POST /me/basic-info/confirm`.
    pub enum BasicInfoAnswer {
        /// The graduate's basic info.
        200 Ok(Json<Box<GraduateView>>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a graduate's token (`forbidden`).
        403 Forbidden,
        /// The graduate is not on the roster (`not_found`).
        404 NotFound,
    }
}

answers! {
    /// The answers of `POST /me/basic-info/dispute`.
    pub enum DisputeAnswer {
        /// The graduate's basic info, marked disputed.
        200 Ok(Json<Box<GraduateView>>),
        errors:
        /// The body is not the JSON the operation takes (`invalid_body`), or a query parameter
        /// was given (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a graduate's token (`forbidden`).
        403 Forbidden,
        /// The graduate is not on the roster (`not_found`).
        404 NotFound,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// The note is blank or over 200 characters (`invalid_note`), `invalid_type`,
        /// `control_character`.
        422 Invalid,
    }
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
    /// A query parameter the operation does not take (`unknown_parameter`).
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
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
    /// The id does not parse (`invalid_path_parameter`), or a query parameter was given
    /// (`unknown_parameter`).
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
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
    /// For the employment management system's roster key (or the administrator). Upserts by candidate number (an ID number another graduate of the school holds is refused);
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
    ) -> poem::Result<UploadRowsAnswer> {
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
        Ok(UploadRowsAnswer::Ok(Json(
            roster_service::import_roster(&state, &c, body.school_code.clone(), checked, 0, "json")
                .await?,
        )))
    }

    /// Upload a roster file (CSV or XLSX) as the request body.
    ///
    /// For the employment management system's roster key (or the administrator): a roster file
    /// (CSV in UTF-8 or GBK, or XLSX; detected by content, at most 20 MB) as the request body,
    /// imported like a JSON batch (upsert by candidate number, bad rows reported by row). The
    /// answer also lists the file's columns the importer does not read.
    #[oai(
        path = "/roster/files",
        method = "post",
        operation_id = "roster_upload_file"
    )]
    async fn upload_file(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The school (院校代码) of rows without 院校代码.
        school_code: Query<Option<String>>,
        body: Binary<Vec<u8>>,
    ) -> poem::Result<UploadFileAnswer> {
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
        report.ignored_columns = Some(summary.ignored_columns);
        Ok(UploadFileAnswer::Ok(Json(report)))
    }

    /// Delete a graduate from the roster (to the invalid list).
    ///
    /// For the employment management system's roster key (or the administrator), within the
    /// key's schools. The graduate moves to the invalid list (失效信息), every in-flight
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
        /// The graduate's candidate number (考生号).
        candidate_no: Path<String>,
    ) -> poem::Result<DeleteAnswer> {
        let c = caller(&state, &auth).await?;
        scope::require_integrator(&c)?;
        let g = roster_service::covered_graduate(&state, &c, &candidate_no).await?;
        // Idempotent: a repeated delete re-delivers the event to anything still in flight.
        let (invalidated, complete) = removal::remove(&state, &c, &g).await?;
        Ok(DeleteAnswer::Ok(Json(RemovedGraduate {
            candidate_no: g.candidate_no,
            removed: true,
            invalidated,
            // false: some instance could not react yet; the outbox goes on until all have.
            complete,
        })))
    }

    /// Restore a re-uploaded graduate now (恢复网签数据) instead of waiting for the hourly run.
    ///
    /// For the employment management system's roster key (or the administrator): a graduate
    /// on the invalid list who was uploaded again gets back their instances now; audited as
    /// `roster.restore`.
    #[oai(
        path = "/roster/graduates/:candidate_no/restore",
        method = "post",
        operation_id = "roster_restore_now"
    )]
    async fn restore_now(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The graduate's candidate number (考生号).
        candidate_no: Path<String>,
    ) -> poem::Result<RestoreAnswer> {
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
        Ok(RestoreAnswer::Ok(Json(RestoredGraduate {
            candidate_no: g.candidate_no,
            removed: false,
            restored,
        })))
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

    /// The roster (学生名单管理) in the caller's scope, filtered, paged and sorted.
    ///
    /// A province user sees its province's graduates, a school user its school's, a department
    /// user its department's, the administrator all. `module` (employment, archive, hukou) checks the caller's level; the hukou list shows only
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
        /// The module whose list it is: `employment` (the default), `archive`, `hukou` (only
        /// graduates whose hukou moved into the school).
        module: Query<Option<String>>,
        /// `true`: the invalid list (失效信息) instead of the roster.
        invalid: Query<Option<bool>>,
        /// Only this school's graduates (its id).
        school_id: Query<Option<i64>>,
        /// Only this department's (院系, exact).
        department: Query<Option<String>>,
        /// Only this major's (专业, exact).
        major: Query<Option<String>>,
        /// Only this education level's (学历, exact: `本科`, `硕士`, …).
        education_level: Query<Option<String>>,
        /// Only this cohort's (毕业年份).
        cohort: Query<Option<i32>>,
        /// A name, candidate number or ID number (exact).
        q: Query<Option<String>>,
        /// With `module=archive` or `hukou` (档案/户口信息): only graduates of this registration
        /// status, `unregistered` (未登记), `reviewing` (审核中) or `registered` (已登记).
        #[oai(validator(pattern = "^(unregistered|reviewing|registered)$"))]
        registration: Query<Option<String>>,
        /// Order: `department` (the default), `candidate_no`, `name`, `updated_at`; `-` before
        /// a key for descending.
        sort: Query<Option<String>>,
        /// The page, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
        page: Query<Option<u64>>,
        /// Items per page (20 by default, at most 200).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        page_size: Query<Option<u64>>,
    ) -> poem::Result<RosterListAnswer> {
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
        let sort = Sort::parse(sort.0.as_deref(), &ROSTER_SORT, "department")?;
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
        let with_status = m != gradflow_engine::definition::Module::Employment;
        let registration = match registration.0.as_deref() {
            None => None,
            Some(_) if !with_status => {
                return Err(ApiError::unprocessable(
                    "invalid_registration",
                    "registration：只有档案、户口信息（module=archive 或 hukou）有登记状态",
                )
                .into())
            }
            Some("reviewing") => Some(Some(RegistrationStatus::Reviewing)),
            Some("registered") => Some(Some(RegistrationStatus::Registered)),
            Some(_) => Some(None),
        };
        let states = if with_status {
            roster_service::registration_states(&state, m, c.actor.province.as_deref())
        } else {
            Vec::new()
        };
        let filter = RosterFilter {
            registration,
            states: states.clone(),
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
            sort,
            page.0,
            page_size.0,
            &super::PAGE_SIZE,
        )
        .await?;
        let status = if with_status {
            let ids: Vec<i64> = p.rows.iter().map(|g| g.id).collect();
            Some(roster_service::registration_of(&state, &states, &ids).await?)
        } else {
            None
        };
        let items = p
            .rows
            .iter()
            .map(|g| {
                let mut v = graduate_view(g);
                if let Some(status) = &status {
                    let r = status.get(&g.id);
                    v.registration = Some(r.map_or("unregistered", |r| r.as_str()).into());
                    v.registration_label = Some(r.map_or("未登记", |r| r.label()).into());
                }
                v
            })
            .collect();
        Ok(RosterListAnswer::Ok(Json(GraduatePage {
            total: p.total,
            page: p.page,
            page_size: p.size,
            items,
        })))
    }

    /// The graduate's own basic info, for the first-login check, and how to correct it.
    ///
    /// For a graduate's token: their roster entry as the school uploaded it, whether they still
    /// have to confirm or dispute it (`needs_check`), and where corrections are made.
    #[oai(
        path = "/me/basic-info",
        method = "get",
        operation_id = "roster_basic_info"
    )]
    async fn basic_info(&self, state: Data<&State>, auth: Token) -> poem::Result<BasicInfoAnswer> {
        let g = own_graduate(&state, &auth).await?;
        let mut v = graduate_view(&g);
        v.how_to_correct = Some(HOW_TO_CORRECT.to_string());
        v.needs_check = Some(!g.basic_info_confirmed && !g.basic_info_disputed);
        Ok(BasicInfoAnswer::Ok(Json(Box::new(v))))
    }

    /// The graduate confirms their basic info is correct.
    ///
    /// For a graduate's token: records that their roster entry is right (clearing an earlier
    /// dispute) and answers it.
    #[oai(
        path = "/me/basic-info/confirm",
        method = "post",
        operation_id = "roster_confirm"
    )]
    async fn confirm(&self, state: Data<&State>, auth: Token) -> poem::Result<BasicInfoAnswer> {
        let g = own_graduate(&state, &auth).await?;
        let g = roster_service::confirm_basic_info(&state, g).await?;
        Ok(BasicInfoAnswer::Ok(Json(Box::new(graduate_view(&g)))))
    }

    /// The graduate reports that their basic info is wrong.
    ///
    /// For a graduate's token: records what is wrong; the school sees the note in the roster
    /// list and corrects it in the employment management system.
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
    ) -> poem::Result<DisputeAnswer> {
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
        v.how_to_correct = Some(HOW_TO_CORRECT.to_string());
        Ok(DisputeAnswer::Ok(Json(Box::new(v))))
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
