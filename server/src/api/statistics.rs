//! 数据统计: the statistics tables of schools, departments and provinces, their XLSX
//! exports and the printable page (server-rendered SVG charts).

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Html, Json};
use poem_openapi::{ApiResponse, OpenApi};

use super::{answers, caller, Problem, Tag, Token};
use crate::service::State;
use crate::services::home::{self, Home};
use crate::services::statistics::{self, Statistics, StatsQuery, Subject};

answers! {
    /// The answers of `GET /statistics/{subject}`.
    pub enum StatisticsAnswer {
        /// The table.
        200 Ok(Json<Statistics>),
        errors:
        /// A parameter does not parse, is not one the operation takes, or names an unknown
        /// grouping (`invalid_parameter`, `unknown_parameter`, `invalid_filter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a province, school or department user with the subject's module (`forbidden`).
        403 Forbidden,
        /// No such subject (`not_found`).
        404 NotFound,
        /// A cohort out of 2000–2100 (`invalid_cohort`).
        422 Invalid,
    }
}

/// The answers of `GET /statistics/{subject}/export`.
#[derive(ApiResponse)]
#[allow(dead_code)]
pub enum StatisticsExportAnswer {
    /// The workbook: the table, the counts per flow and state, per destination type, and (for
    /// the province) the modules each school enabled.
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
    /// A parameter does not parse, is not one the operation takes, or names an unknown
    /// grouping (`invalid_parameter`, `unknown_parameter`, `invalid_filter`).
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// No or an unknown token (`unauthorized`).
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    /// Not a province, school or department user with the subject's module (`forbidden`).
    #[oai(status = 403)]
    Forbidden(Json<Problem>),
    /// No such subject (`not_found`).
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// A cohort out of 2000–2100 (`invalid_cohort`).
    #[oai(status = 422)]
    Invalid(Json<Problem>),
}

/// The answers of `GET /statistics/{subject}/page`.
#[derive(ApiResponse)]
#[allow(dead_code)]
pub enum StatisticsPageAnswer {
    /// The printable page (A4 landscape).
    #[oai(status = 200, content_type = "text/html; charset=utf-8")]
    Ok(Html<String>),
    /// A parameter does not parse, is not one the operation takes, or names an unknown
    /// grouping (`invalid_parameter`, `unknown_parameter`, `invalid_filter`).
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// No or an unknown token (`unauthorized`).
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    /// Not a province, school or department user with the subject's module (`forbidden`).
    #[oai(status = 403)]
    Forbidden(Json<Problem>),
    /// No such subject (`not_found`).
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// A cohort out of 2000–2100 (`invalid_cohort`).
    #[oai(status = 422)]
    Invalid(Json<Problem>),
}

answers! {
    /// The answers of `GET /home`.
    pub enum HomeAnswer {
        /// The home page.
        200 Ok(Json<Home>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Integrator keys and the system administrator have no home page (`forbidden`).
        403 Forbidden,
    }
}

/// The caller, the subject and the table's parameters, as every statistics operation reads
/// them.
async fn request(
    state: &State,
    auth: &Token,
    subject: &str,
    by: Option<String>,
    cohort: Option<i32>,
    school_id: Option<i64>,
    department: Option<String>,
) -> poem::Result<(crate::auth::Caller, Subject, StatsQuery)> {
    let c = caller(state, auth).await?;
    let subject = Subject::parse(subject)?;
    Ok((
        c,
        subject,
        StatsQuery {
            by,
            cohort,
            school_id,
            department,
        },
    ))
}

pub struct StatisticsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Statistics")]
impl StatisticsApi {
    /// 首页: pending counts, the handler info and the guide.
    ///
    /// Per management list of the modules the caller may enter (在线签约, 补登, 解约, 去向登记,
    /// 去向登记确认; 档案信息申请, 户口信息申请): how many items wait for the caller, how many of
    /// them are overdue, and for a school in 先院系再校级审核 how many still wait at department
    /// level; the school's 就业协议经办人信息; the guide text for the caller's role (the template
    /// `pages/guide`).
    #[oai(path = "/home", method = "get", operation_id = "home")]
    async fn home(&self, state: Data<&State>, auth: Token) -> poem::Result<HomeAnswer> {
        let c = caller(&state, &auth).await?;
        Ok(HomeAnswer::Ok(Json(home::home(&state, &c).await?)))
    }

    /// 数据统计: a statistics table.
    ///
    /// `subject`: `signing` (签约 per status of 在线签约、线下签约、补登), `destination` (毕业去向:
    /// 已上报 per category, 审核中, 未上报, 就业人数 and 就业率), `archive` / `hukou` (已登记, 审核中,
    /// 未登记), `confirmation` (未确认, 确认无误, 确认有误, 未上报). Rows per `by` — `school`
    /// (the province's default), `department` (the school's default), `major`,
    /// `education_level` — each with 毕业生人数 (the roster); then the total, the counts per flow
    /// and state, per destination type, and for the province which modules each school
    /// enabled. Real time: read from counters every transition keeps in its own transaction.
    /// The province sees its schools (`school_id` narrows to one), a school its own
    /// (`department` narrows), a department its own.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/statistics/:subject",
        method = "get",
        operation_id = "statistics_table"
    )]
    async fn table(
        &self,
        state: Data<&State>,
        auth: Token,
        /// `signing`, `destination`, `archive`, `hukou` or `confirmation`.
        subject: Path<String>,
        /// `school`, `department`, `major` or `education_level`.
        by: Query<Option<String>>,
        /// The graduating year (届); the current one by default.
        #[oai(validator(minimum(value = "2000"), maximum(value = "2100")))]
        cohort: Query<Option<i32>>,
        /// The province's narrowing to one school.
        school_id: Query<Option<i64>>,
        /// A narrowing to one department (院系).
        department: Query<Option<String>>,
    ) -> poem::Result<StatisticsAnswer> {
        let (c, subject, q) = request(
            &state,
            &auth,
            &subject,
            by.0,
            cohort.0,
            school_id.0,
            department.0,
        )
        .await?;
        Ok(StatisticsAnswer::Ok(Json(
            statistics::table(&state, &c, subject, &q).await?,
        )))
    }

    /// 导出: a statistics table as XLSX.
    ///
    /// The same table and parameters as `GET /statistics/{subject}`: one sheet for the table
    /// (with 就业率 as a percentage for `destination`), one per flow and state, one per
    /// destination type, and for the province 学校功能开通情况.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/statistics/:subject/export",
        method = "get",
        operation_id = "statistics_export"
    )]
    async fn export(
        &self,
        state: Data<&State>,
        auth: Token,
        /// `signing`, `destination`, `archive`, `hukou` or `confirmation`.
        subject: Path<String>,
        /// `school`, `department`, `major` or `education_level`.
        by: Query<Option<String>>,
        /// The graduating year (届); the current one by default.
        #[oai(validator(minimum(value = "2000"), maximum(value = "2100")))]
        cohort: Query<Option<i32>>,
        /// The province's narrowing to one school.
        school_id: Query<Option<i64>>,
        /// A narrowing to one department (院系).
        department: Query<Option<String>>,
    ) -> poem::Result<StatisticsExportAnswer> {
        let (c, subject, q) = request(
            &state,
            &auth,
            &subject,
            by.0,
            cohort.0,
            school_id.0,
            department.0,
        )
        .await?;
        let t = statistics::table(&state, &c, subject, &q).await?;
        let bytes = statistics::xlsx(&t)?;
        Ok(StatisticsExportAnswer::Ok(
            Binary(bytes),
            crate::export::attachment(
                &format!("{}（{}届）.xlsx", t.title, t.cohort),
                "statistics.xlsx",
            ),
        ))
    }

    /// 打印: a statistics table as a printable page with its chart.
    ///
    /// The same table and parameters as `GET /statistics/{subject}`, as an HTML page for A4
    /// landscape: the table, a stacked bar per row (SVG drawn by the server), the counts per
    /// flow and state.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/statistics/:subject/page",
        method = "get",
        operation_id = "statistics_page"
    )]
    async fn page(
        &self,
        state: Data<&State>,
        auth: Token,
        /// `signing`, `destination`, `archive`, `hukou` or `confirmation`.
        subject: Path<String>,
        /// `school`, `department`, `major` or `education_level`.
        by: Query<Option<String>>,
        /// The graduating year (届); the current one by default.
        #[oai(validator(minimum(value = "2000"), maximum(value = "2100")))]
        cohort: Query<Option<i32>>,
        /// The province's narrowing to one school.
        school_id: Query<Option<i64>>,
        /// A narrowing to one department (院系).
        department: Query<Option<String>>,
    ) -> poem::Result<StatisticsPageAnswer> {
        let (c, subject, q) = request(
            &state,
            &auth,
            &subject,
            by.0,
            cohort.0,
            school_id.0,
            department.0,
        )
        .await?;
        let t = statistics::table(&state, &c, subject, &q).await?;
        Ok(StatisticsPageAnswer::Ok(Html(statistics::page(
            &state,
            &t,
            state.clock.now(),
        )?)))
    }
}
