//! 转递编号 (SPEC.md 4.10): the schools' batch generation, list and download of transfer
//! numbers per kind (档案信息转递, 户口信息转递).

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, OpenApi};

use super::{answers, caller, Problem, Tag, Token};
use crate::service::State;
use crate::services::transfer::{self, GenerateResult, TransferFilter, TransferPage};

answers! {
    /// The answers of `POST /transfer-numbers/{kind}/generate`.
    pub enum GenerateAnswer {
        /// What the batch did.
        200 Ok(Json<GenerateResult>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a school or department user with 读写 in the kind's module (`forbidden`).
        403 Forbidden,
        /// No such kind (`not_found`: `archive` or `hukou`).
        404 NotFound,
        /// Another user's batch ran at the same moment (`conflict`): run it again.
        409 Conflict,
    }
}

answers! {
    /// The answers of `GET /transfer-numbers/{kind}`.
    pub enum TransferListAnswer {
        /// A page of the numbers.
        200 Ok(Json<TransferPage>),
        errors:
        /// A parameter does not parse or is not one the list takes (`invalid_parameter`,
        /// `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a school or department user of the kind's module (`forbidden`).
        403 Forbidden,
        /// No such kind (`not_found`).
        404 NotFound,
        /// An unknown status, or a page out of bounds (`invalid_status`, `invalid_page`).
        422 Invalid,
    }
}

/// The answers of `GET /transfer-numbers/{kind}/export`.
#[derive(ApiResponse)]
#[allow(dead_code)]
pub enum TransferExportAnswer {
    /// The workbook.
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
    /// A parameter does not parse or is not one the export takes (`invalid_parameter`,
    /// `unknown_parameter`).
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// No or an unknown token (`unauthorized`).
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    /// Not a school or department user of the kind's module (`forbidden`).
    #[oai(status = 403)]
    Forbidden(Json<Problem>),
    /// No such kind (`not_found`).
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// An unknown status, or more than 100,000 rows (`invalid_status`, `export_too_large`).
    #[oai(status = 422)]
    Invalid(Json<Problem>),
}

pub struct TransferApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Flows")]
impl TransferApi {
    /// 批量生成/重新生成转递编号.
    ///
    /// For school and department users with 读写 in the kind's module: every graduate in scope
    /// with a reported destination (an approved agreement or destination registration) gets a
    /// transfer number; stale ones (an important field changed since) are generated anew.
    #[oai(
        path = "/transfer-numbers/:kind/generate",
        method = "post",
        operation_id = "transfer_generate"
    )]
    async fn generate(
        &self,
        state: Data<&State>,
        auth: Token,
        /// `archive` (档案信息转递) or `hukou` (户口信息转递).
        kind: Path<String>,
    ) -> poem::Result<GenerateAnswer> {
        let c = caller(&state, &auth).await?;
        Ok(GenerateAnswer::Ok(Json(
            transfer::generate(&state, &c, &kind).await?,
        )))
    }

    /// 档案/户口信息转递列表.
    ///
    /// The transfer numbers in the caller's scope, newest change first, with how many
    /// graduates have a reported destination; `status` `generated` (已生成) or `stale` (已失效),
    /// and the update time from/to.
    #[oai(
        path = "/transfer-numbers/:kind",
        method = "get",
        operation_id = "transfer_list"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&State>,
        auth: Token,
        /// `archive` or `hukou`.
        kind: Path<String>,
        /// `generated` (已生成) or `stale` (已失效); left out, both.
        status: Query<Option<String>>,
        /// Updated at or after (RFC 3339).
        updated_from: Query<Option<DateTime<Utc>>>,
        /// Updated at or before (RFC 3339).
        updated_to: Query<Option<DateTime<Utc>>>,
        /// The page, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
        page: Query<Option<u64>>,
        /// Items per page (20 by default, at most 200).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        page_size: Query<Option<u64>>,
    ) -> poem::Result<TransferListAnswer> {
        let c = caller(&state, &auth).await?;
        let f = TransferFilter {
            status: status.0,
            updated_from: updated_from.0,
            updated_to: updated_to.0,
        };
        Ok(TransferListAnswer::Ok(Json(
            transfer::list(&state, &c, &kind, &f, page.0, page_size.0).await?,
        )))
    }

    /// 下载: the list as XLSX.
    ///
    /// The same filters as the list, no paging: per graduate the basic info, the destination,
    /// the kind's transfer or migration data, the transfer number, its status and update time.
    #[oai(
        path = "/transfer-numbers/:kind/export",
        method = "get",
        operation_id = "transfer_export"
    )]
    async fn export(
        &self,
        state: Data<&State>,
        auth: Token,
        /// `archive` or `hukou`.
        kind: Path<String>,
        /// `generated` or `stale`; left out, both.
        status: Query<Option<String>>,
        /// Updated at or after (RFC 3339).
        updated_from: Query<Option<DateTime<Utc>>>,
        /// Updated at or before (RFC 3339).
        updated_to: Query<Option<DateTime<Utc>>>,
    ) -> poem::Result<TransferExportAnswer> {
        let c = caller(&state, &auth).await?;
        let f = TransferFilter {
            status: status.0,
            updated_from: updated_from.0,
            updated_to: updated_to.0,
        };
        let (title, bytes) = transfer::export(&state, &c, &kind, &f).await?;
        Ok(TransferExportAnswer::Ok(
            Binary(bytes),
            crate::export::attachment(&format!("{title}.xlsx"), "transfer.xlsx"),
        ))
    }
}
