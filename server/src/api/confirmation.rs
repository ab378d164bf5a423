//! 去向登记确认 (SPEC.md 4.9): the graduate's view of what they confirm, and the same view for
//! the school's reviewers (登记确认记录 with detail). The answers are the confirmation flow's
//! actions (`POST /instances/{id}/actions/confirm`, `…/report_error`).

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::{answers, caller, Tag, Token};
use crate::auth::AccountRole;
use crate::error::ApiError;
use crate::service::State;
use crate::services::confirmation::{self, ConfirmationStats, ConfirmationView};
use crate::services::roster as roster_service;
use gradflow_engine::definition::Module;

answers! {
    /// The answers of `GET /me/confirmation`.
    pub enum MyConfirmationAnswer {
        /// The graduate's confirmation.
        200 Ok(Json<ConfirmationView>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a graduate's token (`forbidden`).
        403 Forbidden,
    }
}

answers! {
    /// The answers of `GET /roster/graduates/{candidate_no}/confirmation`.
    pub enum ConfirmationAnswer {
        /// The graduate's confirmation with 登记确认记录.
        200 Ok(Json<ConfirmationView>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a school, department or province user with the employment module (`forbidden`).
        403 Forbidden,
        /// No such graduate in the caller's scope (`not_found`).
        404 NotFound,
    }
}

answers! {
    /// The answers of `GET /confirmations/stats`.
    pub enum ConfirmationStatsAnswer {
        /// The counts.
        200 Ok(Json<ConfirmationStats>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a school, department or province user with the employment module (`forbidden`).
        403 Forbidden,
    }
}

pub struct ConfirmationApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Flows")]
impl ConfirmationApi {
    /// 去向登记确认: what the graduate confirms.
    ///
    /// For a graduate's token: the status (未上报 / 未确认 / 确认无误 / 确认有误), the destination in
    /// force with when and through which system it was reported, the archive transfer and
    /// hukou migration registered (absent where none is), and 登记确认记录. While a destination
    /// is reported, `instance_id` names the confirmation to answer: `confirm`
    /// (信息无误，确认登记去向) or `report_error` (信息有误，需更新后确认) with `expected_version`
    /// `row_version`.
    #[oai(
        path = "/me/confirmation",
        method = "get",
        operation_id = "confirmation_mine"
    )]
    async fn mine(&self, state: Data<&State>, auth: Token) -> poem::Result<MyConfirmationAnswer> {
        let c = caller(&state, &auth).await?;
        let id = match (c.role, c.actor.graduate_id) {
            (AccountRole::Graduate, Some(id)) => id,
            _ => return Err(ApiError::forbidden("只有毕业生本人可以进行去向登记确认").into()),
        };
        let g = roster_service::own_graduate(&state, id).await?;
        Ok(MyConfirmationAnswer::Ok(Json(
            confirmation::view(&state, &c, &g).await?,
        )))
    }

    /// 登记确认统计: the confirmation's counts.
    ///
    /// For school and department users (their school or department) and the province (its
    /// schools) with the employment module: graduates on the roster, 未上报 / 未确认 / 确认无误 /
    /// 确认有误, and the same by the data source of the destination confirmed (登记系统,
    /// 就业管理系统上传, 就业管理系统接口).
    #[oai(
        path = "/confirmations/stats",
        method = "get",
        operation_id = "confirmation_stats"
    )]
    async fn stats(
        &self,
        state: Data<&State>,
        auth: Token,
    ) -> poem::Result<ConfirmationStatsAnswer> {
        let c = caller(&state, &auth).await?;
        super::lists::reviewer(&c)?;
        Ok(ConfirmationStatsAnswer::Ok(Json(
            confirmation::stats(&state, &c).await?,
        )))
    }

    /// 登记确认记录: a graduate's confirmation, for the school.
    ///
    /// For school and department users (their school or department) and the province (its
    /// schools) with the employment module (读写 or 只读): the graduate's confirmation as the
    /// graduate sees it, with every answer and its detail (what was wrong, the explanation,
    /// the contact mobile) and every reset by a change.
    #[oai(
        path = "/roster/graduates/:candidate_no/confirmation",
        method = "get",
        operation_id = "confirmation_of_graduate"
    )]
    async fn of_graduate(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The graduate's candidate number (考生号).
        candidate_no: Path<String>,
    ) -> poem::Result<ConfirmationAnswer> {
        let c = caller(&state, &auth).await?;
        super::lists::reviewer(&c)?;
        c.require_view(Module::Employment)?;
        let g = confirmation::graduate_in_scope(&state, &c, &candidate_no).await?;
        Ok(ConfirmationAnswer::Ok(Json(
            confirmation::view(&state, &c, &g).await?,
        )))
    }
}
