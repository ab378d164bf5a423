//! Direct registration by bulk import (档案/户口信息批量导入, seed 002 7): the template of a flow
//! that takes it, the import itself, and the region code table the template refers to.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::Value;

use super::{answers, caller, Problem, Tag, Token};
use crate::error::ApiError;
use crate::scope;
use crate::service::State;
use crate::services::residence::{self, FlowBackResult, RegistrationImportReport};

/// The registration part of an archive or hukou item's review detail (SPEC.md 4.8, 2.3).
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RegistrationDetailView {
    /// 登记 (a first registration waiting for review) or 修改 (a change of registered data
    /// waiting for review); absent when nothing waits.
    pub application_type: Option<String>,
    /// The graduate's status in the module (未登记 / 审核中 / 已登记).
    pub status: String,
    /// The data in force (已登记), by field.
    pub registered: Option<Value>,
    /// The data waiting for review, by field.
    pub pending: Option<Value>,
    /// Where the data came from when an approved agreement registered it (来自签约: `flow`,
    /// `title`, `instance_id`).
    pub source: Option<Value>,
    /// The graduate's destination (the agreement or destination registration in force: its
    /// flow, status, employer, number) — only for callers who may enter the employment module
    /// (读写 or 只读).
    pub destination: Option<Value>,
}

impl From<residence::RegistrationDetail> for RegistrationDetailView {
    fn from(d: residence::RegistrationDetail) -> Self {
        RegistrationDetailView {
            application_type: d.application_type.map(str::to_string),
            status: d.status.to_string(),
            registered: d.registered,
            pending: d.pending,
            source: d.source,
            destination: d.destination,
        }
    }
}

/// The largest import file (the template holds a few thousand rows in well under 1 MB).
pub const MAX_IMPORT_BYTES: usize = 5 << 20;

/// The answers of `GET /flows/{key}/import-template`.
#[derive(ApiResponse)]
pub enum ImportTemplateResponse {
    /// The template (批量导入模板.xlsx).
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
    /// The key does not parse (`invalid_path_parameter`), or a query parameter was given
    /// (`unknown_parameter`).
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// No or an unknown token (`unauthorized`).
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    /// Not a school or department user with 读写 in the flow's module (`forbidden`).
    #[oai(status = 403)]
    Forbidden(Json<Problem>),
    /// No such flow (`not_found`).
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// The flow takes no direct registration (`not_importable`).
    #[oai(status = 422)]
    Invalid(Json<Problem>),
}

answers! {
    /// The answers of `POST /flows/{key}/imports`.
    pub enum ImportAnswer {
        /// What the import did (refused rows are reported here, not refused as a whole).
        200 Ok(Json<RegistrationImportReport>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`), checked before the file is read.
        401 Unauthorized,
        /// Not a school or department user with 读写 in the flow's module (`forbidden`).
        403 Forbidden,
        /// No such flow (`not_found`).
        404 NotFound,
        /// The file is over 5 MB (`file_too_large`, `body_too_large`).
        413 PayloadTooLarge,
        /// Not `application/octet-stream` (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// The flow takes no direct registration (`not_importable`), or the file cannot be
        /// read as a whole (`empty_file`, `unsupported_file`, `invalid_csv`,
        /// `file_too_complex`, `missing_columns`, `too_many_rows`).
        422 Invalid,
    }
}

/// The management system's registration or change of a graduate's data (archive, hukou, or
/// a destination).
#[derive(Object)]
#[oai(example)]
pub struct FlowBackRequest {
    /// The flow's start form (the fields of `GET /flows/{key}`, named as there; no files):
    /// the whole data, checked like a graduate's registration.
    pub input: Value,
    /// How the management system received it: `interface` (就业管理系统接口, the default) or
    /// `upload` (就业管理系统上传, a school's upload there). Recorded as the data source.
    #[oai(validator(pattern = "^(interface|upload)$"))]
    pub channel: Option<String>,
}

impl poem_openapi::types::Example for FlowBackRequest {
    fn example() -> Self {
        FlowBackRequest {
            input: serde_json::json!({
                "transfer_type": "1",
                "receiver_name": "南京示例科技有限公司人事部",
                "receiver_region": "320106",
                "receiver_address": "南京市鼓楼区汉口路22号",
                "postal_code": "210008",
                "contact": "人事部王老师",
                "contact_phone": "025-83591234"
            }),
            channel: Some("interface".into()),
        }
    }
}

answers! {
    /// The answers of `PUT /roster/graduates/{candidate_no}/registrations/{key}`.
    pub enum FlowBackAnswer {
        /// Registered (`outcome: registered`) or the registered data changed (`updated`).
        200 Ok(Json<FlowBackResult>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`), or the body
        /// does not parse (`invalid_body`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not the employment management system's roster key (`forbidden`).
        403 Forbidden,
        /// No such graduate within the key's schools, or no such flow (`not_found`).
        404 NotFound,
        /// A registration waits for review (`pending_application`), the registration cannot be
        /// changed from outside now (`not_editable`), the graduate left the roster
        /// (`graduate_removed`), or the graduate registered meanwhile (`conflict`).
        409 Conflict,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// The data is refused, by field (`invalid_input`, a guard's code such as
        /// `origin_mismatch`), the module is not switched on (`module_disabled`), the
        /// graduate's hukou is not in the school (`hukou_not_in_school`), a file field was
        /// given (`file_not_accepted`), or the flow takes no flow-back (`no_flow_back`).
        422 Invalid,
    }
}

/// The answers of `GET /regions/table`.
#[derive(ApiResponse)]
pub enum RegionTableResponse {
    /// The region code table (地区代码表.xlsx).
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
    /// A query parameter was given (`unknown_parameter`).
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
}

pub struct ResidenceApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Flows")]
impl ResidenceApi {
    /// 下载批量导入模板: the bulk import template of a flow that takes direct registration.
    ///
    /// For school and department users with 读写 in the flow's module (档案信息登记, 户口信息登记):
    /// an XLSX workbook whose first sheet's header row is 考生号*, 姓名*, 身份证号* and the
    /// registration's fields (required ones marked `*`), every column formatted as text; the
    /// second sheet lists the codes of the code columns. Region codes: `GET /regions/table`.
    #[oai(
        path = "/flows/:key/import-template",
        method = "get",
        operation_id = "residence_import_template"
    )]
    async fn template(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The flow's key (`archive_registration`, `hukou_registration`).
        key: Path<String>,
    ) -> poem::Result<ImportTemplateResponse> {
        let c = caller(&state, &auth).await?;
        let snap = state.registry.snapshot();
        let def = residence::importable(&snap, &c, &key)?;
        let columns = residence::template_columns(&snap, def)?;
        let title = def.title.trim_end_matches("登记").to_string();
        let bytes = crate::roster_template::import_template_xlsx(&title, &columns)
            .map_err(ApiError::internal)?;
        Ok(ImportTemplateResponse::Ok(
            Binary(bytes),
            crate::export::attachment(&format!("{title}批量导入模板.xlsx"), "import-template.xlsx"),
        ))
    }

    /// 批量导入: register or edit graduates' data directly from a filled-in template.
    ///
    /// For school and department users with 读写 in the flow's module: the file (XLSX or CSV,
    /// by content, at most 5 MB) as the request body. Each row names a graduate of the caller's
    /// scope by 考生号, 姓名 and 身份证号 (all three must match the roster) and registers their data
    /// directly — no further review, synced and notified at once — or, when the graduate is
    /// already registered, changes the registered data. A graduate with an application waiting
    /// for review is refused (review it first). Reading stops at the first empty row: the answer
    /// gives the line. Every refused row is listed (row, column, Chinese message) and, as
    /// `error_report`, downloadable as XLSX.
    #[oai(
        path = "/flows/:key/imports",
        method = "post",
        operation_id = "residence_import"
    )]
    async fn import(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The flow's key (`archive_registration`, `hukou_registration`).
        key: Path<String>,
        body: Binary<Vec<u8>>,
    ) -> poem::Result<ImportAnswer> {
        let c = caller(&state, &auth).await?;
        residence::importable(&state.registry.snapshot(), &c, &key)?;
        if body.0.len() > MAX_IMPORT_BYTES {
            return Err(ApiError::new(
                poem::http::StatusCode::PAYLOAD_TOO_LARGE,
                "file_too_large",
                "文件不能超过 5 MB",
            )
            .into());
        }
        let report = residence::import(&state, &c, &key, body.0).await?;
        Ok(ImportAnswer::Ok(Json(report)))
    }

    /// 就业管理系统回流: the management system registers or changes archive/hukou data.
    ///
    /// For the employment management system's roster key (or the administrator), within the
    /// key's schools. The body is the flow's start form; it is checked like a graduate's
    /// registration (every field, the guards, the module switched on by province and school,
    /// for hukou the hukou in the school). A graduate without a registration is registered
    /// (已登记, no review); a registered one has the data changed — also while a change the
    /// graduate applied for waits (it stays staged for the reviewer). Either way the graduate
    /// is told (WeChat, SMS), the step is audited under the key's account, and the registration
    /// records its source (`vars.source.system = employment_management_system`); nothing is
    /// synced back. A first registration waiting for the school's review is not overridden (409).
    #[oai(
        path = "/roster/graduates/:candidate_no/registrations/:key",
        method = "put",
        operation_id = "residence_flow_back"
    )]
    async fn flow_back(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The graduate's candidate number (考生号).
        candidate_no: Path<String>,
        /// The flow's key (`archive_registration`, `hukou_registration`).
        key: Path<String>,
        body: Json<FlowBackRequest>,
    ) -> poem::Result<FlowBackAnswer> {
        let c = caller(&state, &auth).await?;
        scope::require_integrator(&c)?;
        let Value::Object(input) = body.0.input else {
            return Err(ApiError::unprocessable(
                "invalid_input",
                "input：必须是一个对象（表单字段名 → 值）",
            )
            .into());
        };
        let channel = body.0.channel.unwrap_or_else(|| "interface".into());
        let done = residence::flow_back(&state, &c, &candidate_no, &key, input, &channel).await?;
        Ok(FlowBackAnswer::Ok(Json(done)))
    }

    /// 下载地区代码表: every region code (GB/T 2260) with its name, as XLSX.
    ///
    /// Public (no token), like `GET /regions`: the codes the import template's region columns
    /// take.
    #[oai(
        path = "/regions/table",
        method = "get",
        operation_id = "codes_region_table"
    )]
    async fn region_table(&self, state: Data<&State>) -> poem::Result<RegionTableResponse> {
        let snap = state.registry.snapshot();
        let empty = Default::default();
        let regions = snap.codes.regions.as_ref().unwrap_or(&empty);
        let bytes = crate::roster_template::regions_xlsx(regions).map_err(ApiError::internal)?;
        Ok(RegionTableResponse::Ok(
            Binary(bytes),
            crate::export::attachment("地区代码表.xlsx", "regions.xlsx"),
        ))
    }
}
