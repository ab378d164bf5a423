//! The HTTP API (poem-openapi): one `#[OpenApi]` struct per resource, combined into one
//! service whose spec is served at `/openapi.json` with a docs UI at `/docs`.

pub mod accounts;
pub mod admin;
pub mod agreements;
mod answers;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod codes;
pub mod confirmation;
pub mod employers;
pub mod flows;
pub mod lists;
pub mod public;
pub mod reports;
pub mod residence;
pub mod reviews;
pub mod roster;
pub mod settings;
pub mod statistics;
pub mod tasks;
pub mod transfer;
pub mod uploads;
pub mod verification;

use poem::web::Data;
use poem_openapi::auth::Bearer;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, OpenApiService, SecurityScheme, Tags};

pub(crate) use answers::{answers, page_of};

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
    /// 数据统计 and the home page.
    Statistics,
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

/// Who a token belongs to.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MeView {
    /// The account's id (0 for the administrator's token).
    pub account_id: i64,
    /// The login name.
    pub username: String,
    /// The account's role (`admin`, `province`, `school`, `department`, `graduate`,
    /// `employer`, `integrator`).
    pub role: String,
    /// The province code of the caller's scope.
    pub province: Option<String>,
    /// The school of the caller's scope.
    pub school_id: Option<i64>,
    /// The department (院系) of a department user.
    pub department: Option<String>,
    /// The graduate a graduate's token stands for.
    pub graduate_id: Option<i64>,
    /// The employer an employer's token stands for.
    pub employer_id: Option<i64>,
    /// The module permission levels (`ReadWrite`, `ReadOnly`, `None`).
    pub permissions: MePermissions,
}

/// A caller's module permission levels (SPEC.md 2.3).
#[derive(Object)]
pub struct MePermissions {
    /// 就业信息管理 (signing and destination).
    pub employment: String,
    /// 档案信息管理.
    pub archive: String,
    /// 户口信息管理.
    pub hukou: String,
}

answers! {
    /// The answers of `GET /me`.
    pub enum MeAnswer {
        /// The caller.
        200 Ok(Json<MeView>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
    }
}

pub struct MeApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Me")]
impl MeApi {
    /// Who the token belongs to, with its scope and module permission levels.
    ///
    /// Any token: an account's, an integrator key's or the administrator's.
    #[oai(path = "/me", method = "get", operation_id = "me")]
    async fn me(&self, state: Data<&State>, auth: Token) -> poem::Result<MeAnswer> {
        let c = caller(&state, &auth).await?;
        Ok(MeAnswer::Ok(Json(MeView {
            account_id: c.account_id,
            username: c.username.clone(),
            role: c.role.as_str().to_string(),
            province: c.actor.province.clone(),
            school_id: c.actor.school_id,
            department: c.actor.department.clone(),
            graduate_id: c.actor.graduate_id,
            employer_id: c.actor.employer_id,
            permissions: MePermissions {
                employment: format!("{:?}", c.employment),
                archive: format!("{:?}", c.archive),
                hukou: format!("{:?}", c.hukou),
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
    (
        lists::ListsApi,
        reviews::ReviewsApi,
        residence::ResidenceApi,
        confirmation::ConfirmationApi,
        reports::ReportsApi,
        verification::VerificationApi,
        transfer::TransferApi,
        public::PublicApi,
        statistics::StatisticsApi,
    ),
);

/// The characters the edge refuses in a path or query parameter (control and invisible
/// format characters, `ident::is_forbidden_char`), as a JSON Schema pattern.
pub const TEXT_PATTERN: &str = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF\uFFF9-\uFFFB\uFFFE\uFFFF]*$";

/// The served spec: poem-openapi's, with the rules the server applies to every request
/// written into it, so a request the spec allows is one the server reads as the spec says:
/// a string path or query parameter without a pattern of its own gets [`TEXT_PATTERN`] (the
/// edge's rule), and an optional field of a request body is `nullable` — `null` is read as
/// leaving the field out ([`nullable_request_fields`]).
pub fn spec_json(api: &OpenApiService<Apis, ()>) -> String {
    let mut spec: serde_json::Value =
        serde_json::from_str(&api.spec()).expect("poem-openapi writes JSON");
    nullable_request_fields(&mut spec);
    for ops in spec["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|p| p.values_mut())
    {
        for op in ops.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
            let params = op.get_mut("parameters").and_then(|p| p.as_array_mut());
            for p in params.into_iter().flatten() {
                let schema = &mut p["schema"];
                if schema["type"] == "string" && schema.get("pattern").is_none() {
                    schema["pattern"] = TEXT_PATTERN.into();
                }
            }
        }
    }
    serde_json::to_string_pretty(&spec).expect("a JSON value serialises")
}

/// Marks every optional property of a request body's schemas (and of the schemas they refer
/// to) `nullable`: poem-openapi reads a JSON `null` for an `Option` field as the field left
/// out, which an OpenAPI 3.0 schema allows only when it says `nullable`. A property that is a
/// `$ref` becomes `allOf: [$ref]` beside `nullable` (3.0 ignores siblings of a `$ref`).
/// Response schemas are left as they are: answers leave unset fields out, never `null`.
fn nullable_request_fields(spec: &mut serde_json::Value) {
    use serde_json::Value;
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    if let Some(name) = r.strip_prefix("#/components/schemas/") {
                        out.push(name.to_string());
                    }
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    fn mark(schema: &mut Value) {
        let required: Vec<String> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect();
        let props = schema.get_mut("properties").and_then(Value::as_object_mut);
        for (field, prop) in props.into_iter().flatten() {
            if required.contains(field) {
                continue;
            }
            if let Some(r) = prop.as_object_mut().and_then(|p| p.remove("$ref")) {
                prop["allOf"] = serde_json::json!([{ "$ref": r }]);
            }
            prop["nullable"] = true.into();
        }
    }
    let mut todo = Vec::new();
    for ops in spec["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|p| p.values_mut())
    {
        for op in ops.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
            refs(&op["requestBody"], &mut todo);
            let content = op
                .get_mut("requestBody")
                .and_then(|b| b.get_mut("content"))
                .and_then(Value::as_object_mut);
            for media in content.into_iter().flat_map(|c| c.values_mut()) {
                if let Some(schema) = media.get_mut("schema") {
                    mark(schema);
                }
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    while let Some(name) = todo.pop() {
        if seen.insert(name.clone()) {
            let schema = &mut spec["components"]["schemas"][&name];
            refs(schema, &mut todo);
            mark(schema);
        }
    }
}

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
            (
                lists::ListsApi,
                reviews::ReviewsApi,
                residence::ResidenceApi,
                confirmation::ConfirmationApi,
                reports::ReportsApi,
                verification::VerificationApi,
                transfer::TransferApi,
                public::PublicApi,
                statistics::StatisticsApi,
            ),
        ),
        "gradflow",
        env!("CARGO_PKG_VERSION"),
    )
    .description("Workflow service for China's graduate destination registration (全国高校毕业生毕业去向登记).")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pattern refuses exactly the characters the edge refuses, over the whole of Unicode.
    #[test]
    fn the_text_pattern_is_the_edges_rule() {
        let re = regex::Regex::new(TEXT_PATTERN).unwrap();
        let mut refused = 0;
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let forbidden = gradflow_engine::ident::is_forbidden_char(c);
            assert_eq!(
                re.is_match(&format!("a{c}b")),
                !forbidden,
                "U+{:04X}",
                c as u32
            );
            refused += usize::from(forbidden);
        }
        assert!(refused > 60, "{refused}");
    }

    #[test]
    fn string_parameters_carry_the_pattern() {
        let spec: serde_json::Value = serde_json::from_str(&spec_json(&service())).unwrap();
        let key = &spec["paths"]["/api/v1/flows/{key}/instances"]["post"]["parameters"][0];
        assert_eq!(key["schema"]["pattern"], TEXT_PATTERN, "{key}");
        // A parameter's own pattern stays.
        let initiator = spec["paths"]["/api/v1/tasks"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "initiator")
            .unwrap();
        assert!(initiator["schema"]["pattern"]
            .as_str()
            .unwrap()
            .contains("employer"));
    }
}
