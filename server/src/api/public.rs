//! The public lookup (去向登记信息在线核验; SPEC.md 4.10), without an account: the JSON endpoint
//! here, the HTML page (`GET /verify`, outside the API) in [`page`]; and the sheets the graduate
//! downloads and the school previews.

use poem::web::{Data, Query as WebQuery, RemoteAddr};
use poem::{handler, IntoResponse, Response};
use poem_openapi::param::Path;
use poem_openapi::payload::{Html, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;

use super::{caller, Problem, Tag, Token};
use crate::error::ApiError;
use crate::service::State;
use crate::services::sheet::{self, SheetView, NOT_FOUND};

/// A lookup.
#[derive(Object, Deserialize)]
#[oai(example)]
pub struct LookupRequest {
    /// 毕业生姓名.
    pub name: String,
    /// 核验编号 or 转递编号.
    pub number: String,
}

impl poem_openapi::types::Example for LookupRequest {
    fn example() -> Self {
        LookupRequest {
            name: "张三".into(),
            number: "271028488KCVW56".into(),
        }
    }
}

/// What a lookup found.
#[derive(Object)]
pub struct LookupResult {
    /// The registration sheet.
    pub sheet: SheetView,
}

/// The answers of `POST /public/lookup`.
#[derive(ApiResponse)]
#[allow(dead_code)]
pub enum LookupAnswer {
    /// The sheet.
    #[oai(status = 200)]
    Ok(Json<LookupResult>),
    /// The body does not parse (`invalid_body`).
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// 未查询到相关信息或已过期 (`not_found`) — the same for a wrong name and for an unknown,
    /// expired, closed or stale number, or one past the service period.
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// Not JSON (`unsupported_media_type`).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<Problem>),
    /// A control or invisible format character in the body (`control_character`), or a
    /// field of the wrong type (`invalid_input`).
    #[oai(status = 422)]
    Invalid(Json<Problem>),
    /// Too many lookups from this address (`too_many_requests`); try again after `Retry-After`
    /// seconds.
    #[oai(status = 429)]
    TooMany(
        Json<Problem>,
        /// Seconds to wait.
        #[oai(header = "Retry-After")]
        String,
    ),
}

fn problem(code: &str, message: &str) -> Json<Problem> {
    Json(Problem {
        code: code.into(),
        message: message.into(),
        errors: Vec::new(),
    })
}

const TOO_MANY: &str = "查询过于频繁，请稍后再试";

fn address(remote: &RemoteAddr) -> String {
    remote
        .as_socket_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| remote.to_string())
}

/// The answers of the sheet downloads.
#[derive(ApiResponse)]
#[allow(dead_code)]
pub enum SheetAnswer {
    /// The sheet as a printable page (A4).
    #[oai(status = 200)]
    Ok(Html<String>),
    /// A query parameter the operation does not take (`unknown_parameter`).
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// No or an unknown token (`unauthorized`).
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    /// Not the caller's to see (`forbidden`).
    #[oai(status = 403)]
    Forbidden(Json<Problem>),
    /// No such kind or graduate (`not_found`).
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// No number in force yet (`not_active`, `no_transfer_number`).
    #[oai(status = 409)]
    Conflict(Json<Problem>),
}

pub struct PublicApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Flows")]
impl PublicApi {
    /// 去向登记信息在线核验: look a registration sheet up by name and number.
    ///
    /// No account. A receiving office enters the graduate's name and the verification number
    /// (核验编号) or transfer number (转递编号); while the number is valid and inside the service
    /// period (graduation + 6 months) the answer is the sheet, otherwise the one plain 未查询到相关
    /// 信息或已过期. At most 10 lookups per address and minute (429 with `Retry-After`). Every
    /// lookup is audited by its outcome alone.
    #[oai(
        path = "/public/lookup",
        method = "post",
        operation_id = "public_lookup"
    )]
    async fn lookup(
        &self,
        state: Data<&State>,
        remote: &RemoteAddr,
        body: Json<LookupRequest>,
    ) -> poem::Result<LookupAnswer> {
        if let Err(wait) = state.lookups.check(&address(remote)) {
            return Ok(LookupAnswer::TooMany(
                problem("too_many_requests", TOO_MANY),
                wait.to_string(),
            ));
        }
        Ok(
            match sheet::lookup(&state, &body.name, &body.number).await? {
                Some(f) => LookupAnswer::Ok(Json(LookupResult { sheet: f.sheet })),
                None => LookupAnswer::NotFound(problem("not_found", NOT_FOUND)),
            },
        )
    }

    /// 查看下载报告: the graduate's registration sheet of archive or hukou.
    ///
    /// For a graduate's token, while that authorization is 生效中: the sheet with the
    /// verification number and its QR code, as a printable page.
    #[oai(
        path = "/me/verifications/:kind/sheet",
        method = "get",
        operation_id = "public_graduate_sheet"
    )]
    async fn graduate_sheet(
        &self,
        state: Data<&State>,
        auth: Token,
        /// `archive` or `hukou`.
        kind: Path<String>,
    ) -> poem::Result<SheetAnswer> {
        let c = caller(&state, &auth).await?;
        let s = sheet::graduate_sheet(&state, &c, &kind).await?;
        Ok(SheetAnswer::Ok(Html(sheet::sheet_html(&state, &s)?)))
    }

    /// 查询 (预览): a graduate's registration sheet, for the school.
    ///
    /// For school and department users of the kind's module, in their scope: the sheet with
    /// the graduate's current transfer number (never the verification number).
    #[oai(
        path = "/transfer-numbers/:kind/:graduate_id/sheet",
        method = "get",
        operation_id = "public_school_sheet"
    )]
    async fn school_sheet(
        &self,
        state: Data<&State>,
        auth: Token,
        /// `archive` or `hukou`.
        kind: Path<String>,
        /// The graduate's id.
        graduate_id: Path<i64>,
    ) -> poem::Result<SheetAnswer> {
        let c = caller(&state, &auth).await?;
        let s = sheet::school_sheet(&state, &c, &kind, *graduate_id).await?;
        Ok(SheetAnswer::Ok(Html(sheet::sheet_html(&state, &s)?)))
    }
}

/// The page's query: both filled, a lookup; the number alone (the QR link), the form with it.
#[derive(Deserialize)]
pub struct PageQuery {
    name: Option<String>,
    number: Option<String>,
}

/// `GET /verify`: the public lookup page (server-rendered, usable on a phone).
#[handler]
pub async fn page(
    state: Data<&State>,
    remote: &RemoteAddr,
    WebQuery(q): WebQuery<PageQuery>,
) -> poem::Result<Response> {
    let html = |body: String, status: poem::http::StatusCode| {
        Response::builder()
            .status(status)
            .content_type("text/html; charset=utf-8")
            .header("cache-control", "no-store")
            .header("referrer-policy", "no-referrer")
            .body(body)
    };
    let name = q.name.unwrap_or_default();
    let number = q.number.unwrap_or_default();
    if name.trim().is_empty() || number.trim().is_empty() {
        let body = sheet::form_html(&state, &name, &number, false)?;
        return Ok(html(body, poem::http::StatusCode::OK));
    }
    if let Err(wait) = state.lookups.check(&address(remote)) {
        let mut r = html(
            format!("<!DOCTYPE html><meta charset=\"utf-8\"><p>{TOO_MANY}</p>"),
            poem::http::StatusCode::TOO_MANY_REQUESTS,
        );
        r.headers_mut().insert(
            "retry-after",
            poem::http::HeaderValue::from_str(&wait.to_string()).map_err(ApiError::internal)?,
        );
        return Ok(r);
    }
    Ok(match sheet::lookup(&state, &name, &number).await? {
        Some(f) => html(
            sheet::sheet_html(&state, &f.sheet)?,
            poem::http::StatusCode::OK,
        ),
        None => html(
            sheet::form_html(&state, "", "", true)?,
            poem::http::StatusCode::NOT_FOUND,
        ),
    }
    .into_response())
}
