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
use poem_openapi::{Object, OpenApi, OpenApiService, SecurityScheme, Tags};
use serde_json::{json, Value};

use crate::auth::Caller;

use crate::service::State;

pub use crate::paging::{page_params, paged, Paged, Paging, MAX_PAGE, PAGE_SIZE};

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

/// The body of every error response (what `ApiError` serialises to), for the operations'
/// typed responses.
#[derive(Object)]
pub struct Problem {
    /// A stable machine code (`unauthorized`, `forbidden`, `invalid_parameter`, …).
    pub code: String,
    /// What went wrong, in Chinese, for the user.
    pub message: String,
    /// Per field, when the request named fields.
    pub errors: Vec<FieldProblem>,
}

/// One field's problem in a [`Problem`].
#[derive(Object)]
pub struct FieldProblem {
    /// The field's key (`id_number`, `input.reason`).
    pub field: String,
    /// The field as the user sees it (`身份证号`).
    pub label: String,
    /// A stable machine code.
    pub code: String,
    /// What is wrong with it, in Chinese.
    pub message: String,
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
    #[oai(path = "/me", method = "get", operation_id = "me")]
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
