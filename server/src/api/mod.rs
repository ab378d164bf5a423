//! The HTTP API (poem-openapi): one `#[OpenApi]` struct per resource, combined into one
//! service whose spec is served at `/openapi.json` with a docs UI at `/docs`.

pub mod accounts;
pub mod admin;
pub mod agreements;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod codes;
pub mod employers;
pub mod flows;
pub mod lists;
pub mod roster;
pub mod settings;
pub mod tasks;
pub mod uploads;

use poem::web::Data;
use poem_openapi::auth::Bearer;
use poem_openapi::payload::Json;
use poem_openapi::{OpenApi, OpenApiService, SecurityScheme, Tags};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::service::State;

/// How a list is paged: the query parameter naming its page size, the size when none is
/// asked for, and the largest size allowed.
pub struct Paging {
    pub size_param: &'static str,
    pub default: u64,
    pub max: u64,
}

/// The paging of most lists: `page_size`, 20 by default, at most 200.
pub const PAGE_SIZE: Paging = Paging {
    size_param: "page_size",
    default: 20,
    max: 200,
};

/// The paging of the account and roster lists: `per_page`, 50 by default, at most 500.
pub const PER_PAGE: Paging = Paging {
    size_param: "per_page",
    default: 50,
    max: 500,
};

/// The deepest page any list serves: beyond it, narrow the query (or export it).
pub const MAX_PAGE: u64 = 100_000;

/// The page (from 1) and page size a list asked for, each within its bounds; out of them, a
/// 422 naming the parameter (never an overflowing offset).
pub fn page_params(page: Option<u64>, size: Option<u64>, p: &Paging) -> ApiResult<(u64, u64)> {
    let page = page.unwrap_or(1);
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(crate::error::ApiError::unprocessable(
            "invalid_page",
            format!("page：页码应为 1 到 {MAX_PAGE} 之间的整数，请缩小查询范围"),
        ));
    }
    let size = size.unwrap_or(p.default);
    if !(1..=p.max).contains(&size) {
        return Err(crate::error::ApiError::unprocessable(
            "invalid_page_size",
            format!("{}：每页条数应为 1 到 {} 之间的整数", p.size_param, p.max),
        ));
    }
    Ok((page, size))
}

/// One page of a list query and the number of rows the whole query has.
pub struct Paged<M> {
    pub page: u64,
    pub size: u64,
    pub total: u64,
    pub rows: Vec<M>,
}

/// Counts `q` and fetches the page asked for (see [`page_params`]).
pub async fn paged<E>(
    conn: &crate::db::Conn,
    q: sea_orm::Select<E>,
    page: Option<u64>,
    size: Option<u64>,
    paging: &Paging,
) -> ApiResult<Paged<E::Model>>
where
    E: sea_orm::EntityTrait,
    E::Model: Sync,
{
    use sea_orm::{PaginatorTrait, QuerySelect};
    let (page, size) = page_params(page, size, paging)?;
    let total = q.clone().count(conn).await?;
    let rows = q.offset((page - 1) * size).limit(size).all(conn).await?;
    Ok(Paged {
        page,
        size,
        total,
        rows,
    })
}

#[derive(Tags)]
pub enum Tag {
    /// Flows and their instances.
    Flows,
    /// Reviewers' task inbox.
    Tasks,
    /// Administration and bootstrap.
    Admin,
    /// The caller's identity.
    Me,
    /// Login and logout.
    Auth,
    /// Accounts and their module permissions.
    Accounts,
    /// Province module switches and school settings.
    Settings,
    /// Employers and warning employers.
    Employers,
    /// Reference data: code tables and regions.
    Codes,
    /// The graduate roster and the graduate's basic-info check.
    Roster,
    /// File uploads.
    Uploads,
}

/// A bearer token of an account (or the administrator's token).
#[derive(SecurityScheme)]
#[oai(ty = "bearer")]
pub struct Token(pub Bearer);

/// Resolves the request's token to a caller.
pub async fn caller(state: &State, token: &Token) -> Result<Caller, crate::error::ApiError> {
    crate::services::accounts::caller_of_token(state, &token.0.token).await
}

pub struct MeApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Me")]
impl MeApi {
    /// Who the token belongs to, with its scope and module permission levels.
    #[oai(path = "/me", method = "get")]
    async fn me(&self, state: Data<&State>, auth: Token) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        Ok(Json(json!({
            "account_id": c.account_id,
            "username": c.username,
            "role": c.role.as_str(),
            "province": c.actor.province,
            "school_id": c.actor.school_id,
            "department": c.actor.department,
            "graduate_id": c.actor.graduate_id,
            "employer_id": c.actor.employer_id,
            "permissions": {
                "employment": format!("{:?}", c.employment),
                "archive": format!("{:?}", c.archive),
                "hukou": format!("{:?}", c.hukou),
            },
        })))
    }
}

pub type Apis = (
    flows::FlowsApi,
    tasks::TasksApi,
    admin::AdminApi,
    bootstrap::BootstrapApi,
    MeApi,
    auth::AuthApi,
    accounts::AccountsApi,
    settings::SettingsApi,
    employers::EmployersApi,
    codes::CodesApi,
    roster::RosterApi,
    uploads::UploadsApi,
    agreements::AgreementsApi,
    audit::AuditApi,
    lists::ListsApi,
);

/// The OpenAPI service of every endpoint.
pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            flows::FlowsApi,
            tasks::TasksApi,
            admin::AdminApi,
            bootstrap::BootstrapApi,
            MeApi,
            auth::AuthApi,
            accounts::AccountsApi,
            settings::SettingsApi,
            employers::EmployersApi,
            codes::CodesApi,
            roster::RosterApi,
            uploads::UploadsApi,
            agreements::AgreementsApi,
            audit::AuditApi,
            lists::ListsApi,
        ),
        "gradflow",
        env!("CARGO_PKG_VERSION"),
    )
    .description("Workflow service for China's graduate destination registration (全国高校毕业生毕业去向登记).")
}
