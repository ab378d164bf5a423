//! The HTTP API (poem-openapi): one `#[OpenApi]` struct per resource, combined into one
//! service whose spec is served at `/openapi.json` with a docs UI at `/docs`.

pub mod accounts;
pub mod admin;
pub mod agreements;
pub mod audit;
pub mod auth;
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

/// The page (from 1) and page size a list asked for: 20 rows unless told, at most `max`.
pub fn page_params(page: Option<u64>, size: Option<u64>, max: u64) -> (u64, u64) {
    (page.unwrap_or(1).max(1), size.unwrap_or(20).clamp(1, max))
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
    conn: &sea_orm::DatabaseConnection,
    q: sea_orm::Select<E>,
    page: Option<u64>,
    size: Option<u64>,
    max: u64,
) -> ApiResult<Paged<E::Model>>
where
    E: sea_orm::EntityTrait,
    E::Model: Sync,
{
    use sea_orm::{PaginatorTrait, QuerySelect};
    let (page, size) = page_params(page, size, max);
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
    state
        .auth
        .resolve(&state.db, Some(&token.0.token), state.clock.now())
        .await
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
