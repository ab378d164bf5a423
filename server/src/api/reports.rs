//! 违反“四不准”行为举报 (SPEC.md 4.9): the graduate's form and filing, the province's list,
//! evidence and handling. School and department users reach none of it.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Response;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::{answers, caller, Problem, Tag, Token};
use crate::service::State;
use crate::services::reports::{
    self, NewReport, ReportForm, ReportPage, ReportReceipt, ReportView,
};

answers! {
    /// The answers of `GET /reports/form`.
    pub enum ReportFormAnswer {
        /// What the form asks.
        200 Ok(Json<ReportForm>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
    }
}

answers! {
    /// The answers of `POST /reports`.
    pub enum FileReportAnswer {
        /// Filed (nothing in the answer ties the graduate to it).
        201 Created(Json<ReportReceipt>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`), or the body
        /// does not parse (`invalid_body`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a graduate's token (`forbidden`).
        403 Forbidden,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// A field refused (`invalid_input`: the category, the content — required, at most 300
        /// characters —, the evidence — at least one of the caller's own unused uploads of
        /// png/jpg/mp3/mp4/zip, at most 5), or `control_character`.
        422 Invalid,
    }
}

answers! {
    /// The answers of `GET /reports`.
    pub enum ReportListAnswer {
        /// A page of the province's reports, newest first.
        200 Ok(Json<ReportPage>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a province user or the administrator (`forbidden`).
        403 Forbidden,
        /// A page out of bounds (`invalid_page`, `invalid_page_size`).
        422 Invalid,
    }
}

/// The answers of `GET /reports/{id}/evidence/{n}`.
#[derive(ApiResponse)]
pub enum EvidenceResponse {
    /// The file with its content type (`image/png`, `image/jpeg`, `audio/mpeg`, `video/mp4`,
    /// `application/zip`).
    #[oai(status = 200, content_type = "*/*")]
    Ok(Binary<Vec<u8>>),
    /// A query parameter the operation does not take (`unknown_parameter`).
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// No or an unknown token (`unauthorized`).
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    /// Not a province user or the administrator (`forbidden`).
    #[oai(status = 403)]
    Forbidden(Json<Problem>),
    /// No such report in the province, or no such file (`not_found`).
    #[oai(status = 404)]
    NotFound(Json<Problem>),
}

/// Marking a report handled.
#[derive(Object)]
#[oai(example)]
pub struct HandleReport {
    /// 处理意见 (at most 500 characters).
    pub note: String,
    /// The report's `row_version` as read.
    pub expected_version: i32,
}

answers! {
    /// The answers of `POST /reports/{id}/handle`.
    pub enum HandleReportAnswer {
        /// The report, handled.
        200 Ok(Json<ReportView>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`), or the body
        /// does not parse (`invalid_body`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a province user or the administrator (`forbidden`).
        403 Forbidden,
        /// No such report in the province (`not_found`).
        404 NotFound,
        /// Handled meanwhile, or changed since `expected_version` (`conflict`).
        409 Conflict,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// No note, or one over 500 characters (`invalid_input`).
        422 Invalid,
    }
}

impl poem_openapi::types::Example for HandleReport {
    fn example() -> Self {
        HandleReport {
            note: "已约谈学校并责令整改".into(),
            expected_version: 1,
        }
    }
}

pub struct ReportsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Flows")]
impl ReportsApi {
    /// 违反“四不准”行为举报: what the form asks.
    ///
    /// The four categories (我要举报学校存在的以下问题), the content's limit, the evidence types and
    /// size, and the notices: 若填写此举报信息将匿名提供给上级部门; 举报材料请去掉个人信息.
    #[oai(path = "/reports/form", method = "get", operation_id = "reports_form")]
    async fn form(&self, state: Data<&State>, auth: Token) -> poem::Result<ReportFormAnswer> {
        caller(&state, &auth).await?;
        Ok(ReportFormAnswer::Ok(Json(reports::form(&state))))
    }

    /// 违反“四不准”行为举报: a graduate reports their school.
    ///
    /// For a graduate's token. The report goes to the province of the graduate's school (the
    /// authority above it), never to the school, and does not name the reporter: the evidence
    /// uploads are taken over by the report (their upload ids stop existing). Evidence is
    /// uploaded first with `POST /uploads?purpose=evidence` (png, jpg, mp3, mp4, zip, ≤ 20 MB,
    /// checked by content).
    #[oai(path = "/reports", method = "post", operation_id = "reports_file")]
    async fn file(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<NewReport>,
    ) -> poem::Result<FileReportAnswer> {
        let c = caller(&state, &auth).await?;
        Ok(FileReportAnswer::Created(Json(
            reports::file(&state, &c, body.0).await?,
        )))
    }

    /// The province's four-prohibitions reports.
    ///
    /// For province users (their province) and the administrator: each report with the school
    /// named, the category, the content and the evidence files, newest first; `handled`
    /// filters 已处理 (`true`) or 未处理 (`false`).
    #[oai(path = "/reports", method = "get", operation_id = "reports_list")]
    async fn list(
        &self,
        state: Data<&State>,
        auth: Token,
        /// `true`: 已处理 only; `false`: 未处理 only.
        handled: Query<Option<bool>>,
        /// One school's reports.
        school_id: Query<Option<i64>>,
        /// The page, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
        page: Query<Option<u64>>,
        /// Items per page (20 by default, at most 200).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        page_size: Query<Option<u64>>,
    ) -> poem::Result<ReportListAnswer> {
        let c = caller(&state, &auth).await?;
        Ok(ReportListAnswer::Ok(Json(
            reports::list(&state, &c, handled.0, school_id.0, page.0, page_size.0).await?,
        )))
    }

    /// One evidence file of a report.
    ///
    /// For province users (their province's reports) and the administrator.
    #[oai(
        path = "/reports/:id/evidence/:n",
        method = "get",
        operation_id = "reports_evidence"
    )]
    async fn evidence(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The report's id.
        id: Path<i64>,
        /// The file's number (from 1).
        n: Path<i64>,
    ) -> poem::Result<Response<EvidenceResponse>> {
        let c = caller(&state, &auth).await?;
        let (content_type, bytes) = reports::evidence(&state, &c, *id, *n).await?;
        Ok(Response::new(EvidenceResponse::Ok(Binary(bytes))).header("content-type", content_type))
    }

    /// Mark a report handled (已处理).
    ///
    /// For province users (their province's reports) and the administrator, once: a report
    /// handled meanwhile answers 409. Audited as `report.handle`.
    #[oai(
        path = "/reports/:id/handle",
        method = "post",
        operation_id = "reports_handle"
    )]
    async fn handle(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The report's id.
        id: Path<i64>,
        body: Json<HandleReport>,
    ) -> poem::Result<HandleReportAnswer> {
        let c = caller(&state, &auth).await?;
        Ok(HandleReportAnswer::Ok(Json(
            reports::handle(&state, &c, *id, body.0.note, body.0.expected_version).await?,
        )))
    }
}
