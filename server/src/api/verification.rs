//! 核验授权 (SPEC.md 4.10): the graduate's authorizations of archive and hukou verification,
//! and the identity provider's record of the real-person identity check.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::{answers, caller, Tag, Token};
use crate::service::State;
use crate::services::verification::{self, MyVerifications, VerificationPage};
use poem_openapi::param::Query;

answers! {
    /// The answers of `GET /me/verifications`.
    pub enum MyVerificationsAnswer {
        /// The graduate's authorizations.
        200 Ok(Json<MyVerifications>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a graduate's token (`forbidden`).
        403 Forbidden,
    }
}

/// The validity asked for.
#[derive(Object)]
#[oai(example)]
pub struct SetValidity {
    /// 有效期至: the last day (`YYYY-MM-DD`, China time; valid until 23:59:59 of it), at most
    /// the end of the service period (graduation + 6 months).
    pub valid_until: String,
}

impl poem_openapi::types::Example for SetValidity {
    fn example() -> Self {
        SetValidity {
            valid_until: "2027-03-01".into(),
        }
    }
}

answers! {
    /// The answers of `PUT /me/verifications/{kind}`.
    pub enum SetValidityAnswer {
        /// The authorizations, the one set 生效中 with its number.
        200 Ok(Json<MyVerifications>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`), or the body
        /// does not parse (`invalid_body`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a graduate's token (`forbidden`).
        403 Forbidden,
        /// No such kind (`not_found`: `archive` or `hukou`).
        404 NotFound,
        /// Not possible now: the data is not registered (`not_registered`), the registration
        /// is not confirmed 确认无误 (`not_confirmed`), or the identity check is not done
        /// (`identity_not_checked`).
        409 Conflict,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// The day is not a date, is past, or is after the service period (`invalid_input`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `POST /me/verifications/{kind}/close`.
    pub enum CloseAnswer {
        /// The authorizations, the one closed 未确认.
        200 Ok(Json<MyVerifications>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a graduate's token (`forbidden`).
        403 Forbidden,
        /// No such kind (`not_found`).
        404 NotFound,
        /// Nothing 生效中 to close (`not_active`), or closed meanwhile (`conflict`).
        409 Conflict,
    }
}

/// The identity check recorded.
#[derive(Object)]
pub struct IdentityChecked {
    pub candidate_no: String,
    /// When it was recorded.
    pub identity_checked_at: DateTime<Utc>,
}

answers! {
    /// The answers of `PUT /roster/graduates/{candidate_no}/identity-check`.
    pub enum IdentityCheckAnswer {
        /// Recorded.
        200 Ok(Json<IdentityChecked>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not the identity provider's key (`forbidden`).
        403 Forbidden,
        /// No graduate with this candidate number on a roster the key covers (`not_found`).
        404 NotFound,
    }
}

answers! {
    /// The answers of `GET /verifications/{kind}`.
    pub enum VerificationListAnswer {
        /// A page of the list.
        200 Ok(Json<VerificationPage>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a school or department user of the kind's module (`forbidden`).
        403 Forbidden,
        /// No such kind (`not_found`).
        404 NotFound,
        /// A page out of bounds (`invalid_page`, `invalid_page_size`).
        422 Invalid,
    }
}

pub struct VerificationApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Flows")]
impl VerificationApi {
    /// 核验授权: the graduate's archive and hukou verification authorizations.
    ///
    /// For a graduate's token: per kind (档案信息核验, 户口信息核验) the status (未确认 / 生效中 /
    /// 已过期), the verification number (核验编号) and validity while one is in force, whether a
    /// validity can be set now (and why not), and the end of the service period.
    #[oai(
        path = "/me/verifications",
        method = "get",
        operation_id = "verification_mine"
    )]
    async fn mine(&self, state: Data<&State>, auth: Token) -> poem::Result<MyVerificationsAnswer> {
        let c = caller(&state, &auth).await?;
        Ok(MyVerificationsAnswer::Ok(Json(
            verification::mine(&state, &c).await?,
        )))
    }

    /// 设置有效期: authorize the verification of archive or hukou data until a day.
    ///
    /// For a graduate's token, only with that data registered, the registration confirmed
    /// 确认无误 and the real-person identity check done. A verification number is issued (or
    /// the one in force keeps its number with the new validity); status 生效中. Any later
    /// change of the destination, archive or hukou asks for a new confirmation and voids it.
    #[oai(
        path = "/me/verifications/:kind",
        method = "put",
        operation_id = "verification_set"
    )]
    async fn set(
        &self,
        state: Data<&State>,
        auth: Token,
        /// `archive` or `hukou`.
        kind: Path<String>,
        body: Json<SetValidity>,
    ) -> poem::Result<SetValidityAnswer> {
        let c = caller(&state, &auth).await?;
        Ok(SetValidityAnswer::Ok(Json(
            verification::authorize(&state, &c, &kind, &body.0.valid_until).await?,
        )))
    }

    /// 关闭: end the authorization in force.
    ///
    /// For a graduate's token: the authorization 生效中 of that kind ends (未确认, no number); the
    /// sheet can no longer be looked up with its number.
    #[oai(
        path = "/me/verifications/:kind/close",
        method = "post",
        operation_id = "verification_close"
    )]
    async fn close(
        &self,
        state: Data<&State>,
        auth: Token,
        /// `archive` or `hukou`.
        kind: Path<String>,
    ) -> poem::Result<CloseAnswer> {
        let c = caller(&state, &auth).await?;
        Ok(CloseAnswer::Ok(Json(
            verification::close(&state, &c, &kind).await?,
        )))
    }

    /// 档案/户口信息核验列表: the graduates' authorizations, for the school.
    ///
    /// For school and department users of the kind's module, in their scope: each graduate's
    /// latest authorization with its state (生效中 / 已过期 / 未确认) and validity — never the
    /// verification number. The sheet is previewed with the transfer number
    /// (`GET /transfer-numbers/{kind}/{graduate_id}/sheet`).
    #[oai(
        path = "/verifications/:kind",
        method = "get",
        operation_id = "verification_school_list"
    )]
    async fn school_list(
        &self,
        state: Data<&State>,
        auth: Token,
        /// `archive` or `hukou`.
        kind: Path<String>,
        /// The page, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
        page: Query<Option<u64>>,
        /// Items per page (20 by default, at most 200).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        page_size: Query<Option<u64>>,
    ) -> poem::Result<VerificationListAnswer> {
        let c = caller(&state, &auth).await?;
        Ok(VerificationListAnswer::Ok(Json(
            verification::school_list(&state, &c, &kind, page.0, page_size.0).await?,
        )))
    }

    /// 实人认证: the identity provider records a graduate's real-person identity check.
    ///
    /// For the identity provider's key (issued by the administrator): from now on the graduate
    /// may authorize verification (with the other conditions met).
    #[oai(
        path = "/roster/graduates/:candidate_no/identity-check",
        method = "put",
        operation_id = "verification_identity_check"
    )]
    async fn identity_check(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The graduate's candidate number (考生号).
        candidate_no: Path<String>,
    ) -> poem::Result<IdentityCheckAnswer> {
        let c = caller(&state, &auth).await?;
        let at = verification::identity_checked(&state, &c, &candidate_no).await?;
        Ok(IdentityCheckAnswer::Ok(Json(IdentityChecked {
            candidate_no: candidate_no.0.trim().to_string(),
            identity_checked_at: at,
        })))
    }
}
