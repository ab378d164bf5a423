//! Employers (SPEC.md 5): self-registration with a unified social credit code (a malformed
//! code is an error, a wrong check character a warning reviewers see), search by name or code,
//! and warning employers (预警单位) marked and unmarked by schools.

use gradflow_engine::form::Form;
use gradflow_engine::ident::CreditCode;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::{json, Value};

use super::{caller, Tag, Token};
use crate::auth::{hash_new_password, AccountRole, Caller};
use crate::entity::employer;
use crate::error::{ApiError, ApiResult};
use crate::service::State;
use crate::services::employers::{self, EmployerSearch};
use crate::warnings;

/// The employer registration form (data the reviewers see on every agreement).
const EMPLOYER_FORM: &str = r#"
- {name: name, label: 单位名称, type: text, max: 100, required: true}
- {name: credit_code, label: 统一社会信用代码, type: credit_code, required: true}
- {name: nature, label: 单位性质, type: code, table: employer_nature, required: true}
- {name: industry, label: 单位行业, type: code, table: industry, required: true}
- {name: region, label: 单位所在地, type: region, required: true}
- {name: address, label: 单位地址, type: text, max: 200}
- {name: contact_name, label: 联系人, type: text, max: 20, required: true}
- {name: contact_phone, label: 联系电话, type: phone, required: true}
"#;

#[derive(Object)]
pub struct WarningRequest {
    /// Why (违规单位、虚假单位、就业歧视、虚假宣传…), 1–200 characters.
    pub reason: String,
}

/// Employer views with their check-character status and the caller's warning (one query for
/// the warnings of all of them).
async fn views(state: &State, c: &Caller, rows: &[employer::Model]) -> ApiResult<Vec<Value>> {
    let ids: Vec<i64> = rows.iter().map(|e| e.id).collect();
    let employers::WarningContext {
        marks,
        viewer_school: school,
        sees_all,
    } = employers::warning_context(state, c, &ids).await?;
    let shows = c.role != AccountRole::Employer;
    let snap = state.registry.snapshot();
    rows.iter()
        .map(|e| {
            let warning = if shows {
                warnings::warning_for(state, marks.get(&e.id), school, sees_all)?
            } else {
                None
            };
            let checksum_ok = CreditCode::parse(&e.credit_code)
                .map(|c| c.checksum_ok())
                .unwrap_or(false);
            if c.role == AccountRole::Graduate {
                // What filling in an employer needs, and the warning to heed.
                return Ok(json!({
                    "id": e.id,
                    "name": e.name,
                    "credit_code": e.credit_code,
                    "credit_code_checksum_ok": checksum_ok,
                    "warning": warning,
                }));
            }
            Ok(json!({
                "id": e.id,
                "name": e.name,
                "credit_code": e.credit_code,
                "credit_code_checksum_ok": checksum_ok,
                "credit_code_warning": (!checksum_ok).then_some("统一社会信用代码校验位不正确，请核实单位信息"),
                "nature": e.nature,
                "nature_label": e.nature.as_deref().and_then(|n| snap.codes.label("employer_nature", n)),
                "industry": e.industry,
                "industry_label": e.industry.as_deref().and_then(|n| snap.codes.label("industry", n)),
                "region": e.region,
                "region_name": e.region.as_deref().and_then(|r| snap.codes.region_name(r)),
                "address": e.address,
                "warning": warning,
            }))
        })
        .collect()
}

fn require_school_user(c: &Caller) -> ApiResult<i64> {
    match (c.role, c.actor.school_id) {
        (AccountRole::School, Some(id)) => {
            c.require_write(gradflow_engine::definition::Module::Employment)?;
            Ok(id)
        }
        (AccountRole::Department, _) => Err(ApiError::forbidden(
            "院系用户不能管理预警单位，请联系学校用户",
        )),
        _ => Err(ApiError::forbidden("只有学校用户可以标记预警单位")),
    }
}

fn check_reason(field: &str, reason: &str) -> ApiResult<String> {
    let r = reason.trim();
    if r.is_empty() || r.chars().count() > 200 {
        return Err(ApiError::unprocessable(
            "invalid_reason",
            format!("{field}：原因不能为空，且不超过 200 个字"),
        ));
    }
    Ok(r.to_string())
}

pub struct EmployersApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Employers")]
impl EmployersApi {
    /// Register an employer and its login account (no token needed).
    ///
    /// Body: the employer fields (name, credit_code, nature, industry, region, address,
    /// contact_name, contact_phone) plus username and password. A wrong check character of the
    /// credit code is accepted with a warning that reviewers see.
    #[oai(
        path = "/employers/register",
        method = "post",
        operation_id = "employers_register"
    )]
    async fn register(&self, state: Data<&State>, body: Json<Value>) -> poem::Result<Json<Value>> {
        let mut input = body.0;
        let obj = input
            .as_object_mut()
            .ok_or_else(|| ApiError::unprocessable("form_not_object", "请求内容应为 JSON 对象"))?;
        let username = obj
            .remove("username")
            .and_then(|v| v.as_str().map(|s| s.trim().to_string()))
            .filter(|u| (3..=50).contains(&u.chars().count()))
            .ok_or_else(|| {
                ApiError::unprocessable("invalid_username", "username：用户名应为 3–50 个字符")
            })?;
        let password = obj
            .remove("password")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let form: Form = serde_norway::from_str(EMPLOYER_FORM).map_err(ApiError::internal)?;
        let snap = state.registry.snapshot();
        let valid = form
            .validate(&input, snap.code_lookup())
            .map_err(ApiError::invalid)?;
        let hash = hash_new_password("password", &password).await?;
        let (e, a) = employers::register_employer(&state, &valid.values, username, hash).await?;
        Ok(Json(json!({
            "employer_id": e.id,
            "account_id": a.id,
            "warnings": valid.warnings,
        })))
    }

    /// Search employers by name.
    ///
    /// Search employers by name (contains, at least two characters, case-insensitive) or unified
    /// social credit code (exact), paged.
    ///
    /// A name too common to narrow the search (`query_too_broad`) or too short (`query_too_short`)
    /// is refused. Reviewers (province, school, department) search; a graduate finds an employer
    /// only by its full name or its credit code (exact match: name, credit code and the warning, no
    /// listing); an employer sees its own organisation only.
    #[oai(path = "/employers", method = "get", operation_id = "employers_search")]
    async fn search(
        &self,
        state: Data<&State>,
        auth: Token,
        q: Query<Option<String>>,
        page: Query<Option<u64>>,
        page_size: Query<Option<u64>>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        if c.role == AccountRole::Integrator {
            return Err(ApiError::forbidden("接口密钥不能查询用人单位").into());
        }
        let q = q.0.map(|q| q.trim().to_string()).filter(|q| !q.is_empty());
        let search = match (c.role, q) {
            (AccountRole::Employer, _) => EmployerSearch::Own(c.actor.employer_id.unwrap_or(-1)),
            (AccountRole::Graduate, None) => {
                return Err(ApiError::unprocessable(
                    "query_required",
                    "q：请输入用人单位全称或统一社会信用代码",
                )
                .into())
            }
            (AccountRole::Graduate, Some(q)) => EmployerSearch::Exact(q),
            (_, Some(q)) => EmployerSearch::Text(q),
            (_, None) => EmployerSearch::All,
        };
        let p = employers::search_employers(&state, search, page.0, page_size.0, &super::PAGE_SIZE)
            .await?;
        Ok(Json(json!({
            "total": p.total,
            "page": p.page,
            "page_size": p.size,
            "items": views(&state, &c, &p.rows).await?,
        })))
    }

    /// One employer, with the warning the caller should see.
    #[oai(
        path = "/employers/:id",
        method = "get",
        operation_id = "employers_get"
    )]
    async fn get(
        &self,
        state: Data<&State>,
        auth: Token,
        id: Path<i64>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        if c.role == AccountRole::Integrator {
            return Err(ApiError::forbidden("接口密钥不能查询用人单位").into());
        }
        if c.role == AccountRole::Employer && c.actor.employer_id != Some(*id) {
            return Err(ApiError::not_found("用人单位不存在").into());
        }
        let e = employers::find_employer(&state, *id).await?;
        Ok(Json(
            views(&state, &c, std::slice::from_ref(&e)).await?.remove(0),
        ))
    }

    /// The school's warning employers (its active marks, newest first).
    #[oai(
        path = "/warnings",
        method = "get",
        operation_id = "employers_list_warnings"
    )]
    async fn list_warnings(&self, state: Data<&State>, auth: Token) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        let school_id = match (c.role, c.actor.school_id) {
            (AccountRole::School | AccountRole::Department, Some(id)) => {
                c.require_view(gradflow_engine::definition::Module::Employment)?;
                id
            }
            _ => {
                return Err(
                    ApiError::forbidden("只有学校（院系）用户可以查看本校的预警单位").into(),
                )
            }
        };
        let employers::SchoolWarnings {
            marks,
            employers: by_id,
            all_marks: all,
        } = employers::school_warnings(&state, school_id).await?;
        let items: Vec<Value> = marks
            .iter()
            .map(|m| {
                json!({
                    "employer_id": m.employer_id,
                    "employer_name": by_id.get(&m.employer_id).map(|e| e.name.clone()),
                    "credit_code": by_id.get(&m.employer_id).map(|e| e.credit_code.clone()),
                    "reason": m.reason,
                    "marked_at": m.marked_at.to_rfc3339(),
                    "schools_marking": all.get(&m.employer_id).map(|s| s.len()).unwrap_or(0),
                })
            })
            .collect();
        Ok(Json(json!({ "items": items })))
    }

    /// Mark an employer as a warning employer of the caller's school (school users only).
    ///
    /// Marking again updates the reason.
    #[oai(
        path = "/warnings/:employer_id",
        method = "put",
        operation_id = "employers_mark"
    )]
    async fn mark(
        &self,
        state: Data<&State>,
        auth: Token,
        employer_id: Path<i64>,
        body: Json<WarningRequest>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        let school_id = require_school_user(&c)?;
        let reason = check_reason("reason", &body.reason)?;
        let e = employers::find_employer(&state, *employer_id).await?;
        employers::mark_warning_employer(&state, &c, &e, school_id, reason).await?;
        Ok(Json(
            views(&state, &c, std::slice::from_ref(&e)).await?.remove(0),
        ))
    }

    /// Remove the caller's school's warning mark, with a reason.
    #[oai(
        path = "/warnings/:employer_id/unmark",
        method = "post",
        operation_id = "employers_unmark"
    )]
    async fn unmark(
        &self,
        state: Data<&State>,
        auth: Token,
        employer_id: Path<i64>,
        body: Json<WarningRequest>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        let school_id = require_school_user(&c)?;
        let reason = check_reason("reason", &body.reason)?;
        let e = employers::find_employer(&state, *employer_id).await?;
        employers::unmark_warning_employer(&state, &c, &e, school_id, reason).await?;
        Ok(Json(
            views(&state, &c, std::slice::from_ref(&e)).await?.remove(0),
        ))
    }
}
