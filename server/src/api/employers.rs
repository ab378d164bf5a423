//! Employers (SPEC.md 5): self-registration with a unified social credit code (a malformed
//! code is an error, a wrong check character a warning reviewers see), search by name or code,
//! and warning employers (预警单位) marked and unmarked by schools.

use chrono::{DateTime, Utc};
use gradflow_engine::form::Form;
use gradflow_engine::ident::CreditCode;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::{Map, Value};

use super::{answers, caller, page_of, FieldProblem, Tag, Token};
use crate::auth::{hash_new_password, AccountRole, Caller};
use crate::entity::employer;
use crate::error::{ApiError, ApiResult};
use crate::paging::Sort;
use crate::service::State;
use crate::services::employers::{self, EmployerSearch};
use crate::warnings::{self, WarningView};

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

/// Why a school marks or unmarks a warning employer.
#[derive(Object)]
#[oai(example)]
pub struct WarningRequest {
    /// Why (违规单位、虚假单位、就业歧视、虚假宣传…), 1–200 characters (trimmed; blank is
    /// refused with `invalid_reason`).
    #[oai(validator(max_length = 200))]
    pub reason: String,
}

impl poem_openapi::types::Example for WarningRequest {
    fn example() -> Self {
        WarningRequest {
            reason: "招聘时承诺的岗位与签约岗位不符，多名毕业生反映存在虚假宣传".into(),
        }
    }
}

/// An employer's registration (单位注册): the employer's data reviewers see on every
/// agreement, and its login account. Every rule is checked by the registration form, which
/// answers 422 `invalid_input` naming each field with its Chinese label.
#[derive(Object)]
#[oai(example)]
pub struct EmployerRegistration {
    /// 单位名称, required, at most 100 characters.
    pub name: Option<String>,
    /// 统一社会信用代码 (18 characters), required; a malformed code is refused, a wrong check
    /// character is accepted with the warning `credit_code_checksum`.
    pub credit_code: Option<String>,
    /// 单位性质, required: a code of the `employer_nature` table.
    pub nature: Option<String>,
    /// 单位行业, required: a code of the `industry` table.
    pub industry: Option<String>,
    /// 单位所在地, required: a region code (6 digits).
    pub region: Option<String>,
    /// 单位地址, at most 200 characters.
    pub address: Option<String>,
    /// 联系人, required, at most 20 characters (the account's display name).
    pub contact_name: Option<String>,
    /// 联系电话, required: a mobile or landline number.
    pub contact_phone: Option<String>,
    /// The login name, 3–50 characters (trimmed; `invalid_username` otherwise).
    pub username: Option<String>,
    /// The password, at least 8 characters (`weak_password`), at most the password limit
    /// (`password_too_long`).
    pub password: Option<String>,
}

impl poem_openapi::types::Example for EmployerRegistration {
    fn example() -> Self {
        let s = |v: &str| Some(v.to_string());
        EmployerRegistration {
            name: s("南京某某网络科技有限公司"),
            credit_code: s("91320100MA1XYW1235"),
            nature: s("39"),
            industry: s("34"),
            region: s("320102"),
            address: s("江苏省南京市玄武区珠江路 88 号"),
            contact_name: s("刘经理"),
            contact_phone: s("13912345678"),
            username: s("njmm-hr"),
            password: s("单位密码123456"),
        }
    }
}

/// An employer as a caller sees it. A graduate sees what filling in an employer needs (id,
/// name, credit code, its check and the warning); reviewers and the employer itself see the
/// rest too.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EmployerView {
    /// The employer's id.
    pub id: i64,
    /// 单位名称.
    pub name: String,
    /// 统一社会信用代码.
    pub credit_code: String,
    /// Whether the credit code's check character is right.
    pub credit_code_checksum_ok: bool,
    /// The warning reviewers see when the check character is wrong (not shown to graduates).
    pub credit_code_warning: Option<String>,
    /// 单位性质 (a code of the `employer_nature` table).
    pub nature: Option<String>,
    /// The nature as users see it.
    pub nature_label: Option<String>,
    /// 单位行业 (a code of the `industry` table).
    pub industry: Option<String>,
    /// The industry as users see it.
    pub industry_label: Option<String>,
    /// 单位所在地 (a region code).
    pub region: Option<String>,
    /// The region's name.
    pub region_name: Option<String>,
    /// 单位地址.
    pub address: Option<String>,
    /// The warning (预警单位) the caller is shown, if any (never shown to employers).
    pub warning: Option<WarningView>,
}

/// A registered employer.
#[derive(Object)]
pub struct RegisteredEmployer {
    /// The new employer's id.
    pub employer_id: i64,
    /// Its login account's id.
    pub account_id: i64,
    /// What was accepted with a warning (`credit_code_checksum`: the credit code's check
    /// character is wrong; reviewers see it).
    pub warnings: Vec<FieldProblem>,
}

page_of! {
    /// A page of employers.
    pub struct EmployerPage(EmployerView);
}

/// One of a school's warning employers (its active mark).
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WarningMarkView {
    /// The employer's id.
    pub employer_id: i64,
    /// The employer's name.
    pub employer_name: Option<String>,
    /// The employer's credit code.
    pub credit_code: Option<String>,
    /// The school's reason.
    pub reason: String,
    /// When the school marked it (or last changed the reason).
    pub marked_at: DateTime<Utc>,
    /// How many schools mark the employer.
    pub schools_marking: u64,
}

/// A school's warning employers.
#[derive(Object)]
pub struct WarningList {
    /// The active marks, newest first.
    pub items: Vec<WarningMarkView>,
}

/// The keys `GET /employers` sorts by (`created_at` orders by id: ids grow with creation).
pub const EMPLOYER_SORT: [&str; 3] = ["name", "credit_code", "created_at"];

answers! {
    /// The answers of `POST /employers/register`.
    pub enum RegisterAnswer {
        /// The employer and its account were registered.
        200 Ok(Json<RegisteredEmployer>),
        errors:
        /// The body is not the JSON object the operation takes (`invalid_body`), or a query
        /// parameter was given (`unknown_parameter`).
        400 BadRequest,
        /// The credit code or the username is taken (`credit_code_taken`, `username_taken`).
        409 Conflict,
        /// The body is too large (`body_too_large`).
        413 PayloadTooLarge,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// A field breaks a rule (`invalid_input`; per field `required`, `too_long`,
        /// `invalid_format`, `credit_code_format`, `unknown_code`, …), or `invalid_username`,
        /// `weak_password`, `password_too_long`, `invalid_type` (a number or boolean in a
        /// text field), `control_character`.
        422 Invalid,
    }
}

answers! {
    /// The answers of `GET /employers`.
    pub enum EmployerSearchAnswer {
        /// A page of employers.
        200 Ok(Json<EmployerPage>),
        errors:
        /// A parameter does not parse or is not one the list takes (`invalid_parameter`,
        /// `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Integrator keys search no employers (`forbidden`).
        403 Forbidden,
        /// The query is missing for a graduate (`query_required`), too short or too broad
        /// (`query_too_short`, `query_too_broad`), paging or order out of bounds
        /// (`invalid_page`, `invalid_page_size`, `invalid_sort`), or `control_character`.
        422 Invalid,
    }
}

answers! {
    /// The answers of `GET /employers/{id}`.
    pub enum EmployerAnswer {
        /// The employer.
        200 Ok(Json<Box<EmployerView>>),
        errors:
        /// The id does not parse (`invalid_path_parameter`), or a query parameter was given
        /// (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Integrator keys see no employers (`forbidden`).
        403 Forbidden,
        /// No such employer, or another employer than the caller's own (`not_found`).
        404 NotFound,
    }
}

answers! {
    /// The answers of `GET /warnings`.
    pub enum WarningListAnswer {
        /// The school's warning employers.
        200 Ok(Json<WarningList>),
        errors:
        /// A query parameter was given (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a school or department user, or without the employment module (`forbidden`).
        403 Forbidden,
    }
}

answers! {
    /// The answers of `PUT /warnings/{employer_id}` and `POST /warnings/{employer_id}/unmark`.
    pub enum WarningMarkAnswer {
        /// The employer, with the warning the caller now sees.
        200 Ok(Json<Box<EmployerView>>),
        errors:
        /// The body is not the JSON the operation takes (`invalid_body`), the id does not
        /// parse (`invalid_path_parameter`), or a query parameter was given
        /// (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a school user, or without write access to the employment module (`forbidden`).
        403 Forbidden,
        /// No such employer, or (unmarking) the school has no mark of it (`not_found`).
        404 NotFound,
        /// Another user of the school marked it at the same moment (`conflict`).
        409 Conflict,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// The reason is blank or too long (`invalid_reason`; `invalid_input` with `too_long`),
        /// `invalid_type`, `control_character`.
        422 Invalid,
    }
}

/// Employer views with their check-character status and the caller's warning (one query for
/// the warnings of all of them).
async fn views(
    state: &State,
    c: &Caller,
    rows: &[employer::Model],
) -> ApiResult<Vec<EmployerView>> {
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
            let mut v = EmployerView {
                id: e.id,
                name: e.name.clone(),
                credit_code: e.credit_code.clone(),
                credit_code_checksum_ok: checksum_ok,
                credit_code_warning: None,
                nature: None,
                nature_label: None,
                industry: None,
                industry_label: None,
                region: None,
                region_name: None,
                address: None,
                warning,
            };
            if c.role == AccountRole::Graduate {
                // What filling in an employer needs, and the warning to heed.
                return Ok(v);
            }
            v.credit_code_warning =
                (!checksum_ok).then(|| "统一社会信用代码校验位不正确，请核实单位信息".to_string());
            v.nature_label = e
                .nature
                .as_deref()
                .and_then(|n| snap.codes.label("employer_nature", n));
            v.nature = e.nature.clone();
            v.industry_label = e
                .industry
                .as_deref()
                .and_then(|n| snap.codes.label("industry", n));
            v.industry = e.industry.clone();
            v.region_name = e.region.as_deref().and_then(|r| snap.codes.region_name(r));
            v.region = e.region.clone();
            v.address = e.address.clone();
            Ok(v)
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
    /// Anyone may register an employer (单位注册): the employer's data (name, credit code,
    /// nature, industry, region, address, contact) and its login account (username and
    /// password) in one step. A malformed credit code is refused; a wrong check character is
    /// accepted with a warning that reviewers see. A taken credit code or username is a 409.
    #[oai(
        path = "/employers/register",
        method = "post",
        operation_id = "employers_register"
    )]
    async fn register(
        &self,
        state: Data<&State>,
        body: Json<EmployerRegistration>,
    ) -> poem::Result<RegisterAnswer> {
        let EmployerRegistration {
            name,
            credit_code,
            nature,
            industry,
            region,
            address,
            contact_name,
            contact_phone,
            username,
            password,
        } = body.0;
        let username = username
            .map(|u| u.trim().to_string())
            .filter(|u| (3..=50).contains(&u.chars().count()))
            .ok_or_else(|| {
                ApiError::unprocessable("invalid_username", "username：用户名应为 3–50 个字符")
            })?;
        let password = password.unwrap_or_default();
        // The form checks every employer field (with its Chinese label).
        let mut obj = Map::new();
        for (k, v) in [
            ("name", name),
            ("credit_code", credit_code),
            ("nature", nature),
            ("industry", industry),
            ("region", region),
            ("address", address),
            ("contact_name", contact_name),
            ("contact_phone", contact_phone),
        ] {
            if let Some(v) = v {
                obj.insert(k.into(), Value::String(v));
            }
        }
        let input = Value::Object(obj);
        let form: Form = serde_norway::from_str(EMPLOYER_FORM).map_err(ApiError::internal)?;
        let snap = state.registry.snapshot();
        let valid = form
            .validate(&input, snap.code_lookup())
            .map_err(ApiError::invalid)?;
        let hash = hash_new_password("password", &password).await?;
        let (e, a) = employers::register_employer(&state, &valid.values, username, hash).await?;
        Ok(RegisterAnswer::Ok(Json(RegisteredEmployer {
            employer_id: e.id,
            account_id: a.id,
            warnings: valid
                .warnings
                .into_iter()
                .map(|w| FieldProblem {
                    field: w.field,
                    label: w.label,
                    code: w.code,
                    message: w.message,
                })
                .collect(),
        })))
    }

    /// Search employers by name or unified social credit code, paged.
    ///
    /// Search employers by name (contains, at least two characters, case-insensitive) or unified
    /// social credit code (exact), paged and sorted.
    ///
    /// A name too common to narrow the search (`query_too_broad`) or too short (`query_too_short`)
    /// is refused. Reviewers (province, school, department) search (without `q`: every
    /// employer); a graduate finds an employer only by its full name or its credit code (exact
    /// match: name, credit code and the warning, no listing); an employer sees its own
    /// organisation only. Integrator keys are refused.
    #[oai(path = "/employers", method = "get", operation_id = "employers_search")]
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        state: Data<&State>,
        auth: Token,
        /// A part of the name (at least two characters) or a whole credit code; a graduate's
        /// must be the full name or the credit code.
        q: Query<Option<String>>,
        /// Order: `name` (the default), `credit_code`, `created_at` (registration order); `-`
        /// before a key for descending.
        sort: Query<Option<String>>,
        /// The page, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
        page: Query<Option<u64>>,
        /// Items per page (20 by default, at most 200).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        page_size: Query<Option<u64>>,
    ) -> poem::Result<EmployerSearchAnswer> {
        let c = caller(&state, &auth).await?;
        if c.role == AccountRole::Integrator {
            return Err(ApiError::forbidden("接口密钥不能查询用人单位").into());
        }
        let sort = Sort::parse(sort.0.as_deref(), &EMPLOYER_SORT, "name")?;
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
        let p = employers::search_employers(
            &state,
            search,
            sort,
            page.0,
            page_size.0,
            &super::PAGE_SIZE,
        )
        .await?;
        Ok(EmployerSearchAnswer::Ok(Json(EmployerPage {
            total: p.total,
            page: p.page,
            page_size: p.size,
            items: views(&state, &c, &p.rows).await?,
        })))
    }

    /// One employer, with the warning the caller should see.
    ///
    /// Reviewers and graduates see any employer (a graduate only what filling in an employer
    /// needs); an employer sees only its own organisation. Integrator keys are refused.
    #[oai(
        path = "/employers/:id",
        method = "get",
        operation_id = "employers_get"
    )]
    async fn get(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The employer's id.
        id: Path<i64>,
    ) -> poem::Result<EmployerAnswer> {
        let c = caller(&state, &auth).await?;
        if c.role == AccountRole::Integrator {
            return Err(ApiError::forbidden("接口密钥不能查询用人单位").into());
        }
        if c.role == AccountRole::Employer && c.actor.employer_id != Some(*id) {
            return Err(ApiError::not_found("用人单位不存在").into());
        }
        let e = employers::find_employer(&state, *id).await?;
        Ok(EmployerAnswer::Ok(Json(Box::new(
            views(&state, &c, std::slice::from_ref(&e)).await?.remove(0),
        ))))
    }

    /// The school's warning employers (its active marks, newest first).
    ///
    /// For school and department users with the employment module: every employer their
    /// school marks, with its reason and how many schools mark it. Not paged (a school marks
    /// few employers).
    #[oai(
        path = "/warnings",
        method = "get",
        operation_id = "employers_list_warnings"
    )]
    async fn list_warnings(
        &self,
        state: Data<&State>,
        auth: Token,
    ) -> poem::Result<WarningListAnswer> {
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
        let items = marks
            .into_iter()
            .map(|m| WarningMarkView {
                employer_id: m.employer_id,
                employer_name: by_id.get(&m.employer_id).map(|e| e.name.clone()),
                credit_code: by_id.get(&m.employer_id).map(|e| e.credit_code.clone()),
                schools_marking: all.get(&m.employer_id).map(|s| s.len()).unwrap_or(0) as u64,
                reason: m.reason,
                marked_at: m.marked_at,
            })
            .collect();
        Ok(WarningListAnswer::Ok(Json(WarningList { items })))
    }

    /// Mark an employer as a warning employer of the caller's school (school users only).
    ///
    /// A school user with write access to the employment module marks an employer as a warning
    /// employer (预警单位) of their school, with a reason; marking again updates the reason. The
    /// school's graduates and reviewers are warned wherever the employer is shown; audited as
    /// `warning.mark`.
    #[oai(
        path = "/warnings/:employer_id",
        method = "put",
        operation_id = "employers_mark"
    )]
    async fn mark(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The employer's id.
        employer_id: Path<i64>,
        body: Json<WarningRequest>,
    ) -> poem::Result<WarningMarkAnswer> {
        let c = caller(&state, &auth).await?;
        let school_id = require_school_user(&c)?;
        let reason = check_reason("reason", &body.reason)?;
        let e = employers::find_employer(&state, *employer_id).await?;
        employers::mark_warning_employer(&state, &c, &e, school_id, reason).await?;
        Ok(WarningMarkAnswer::Ok(Json(Box::new(
            views(&state, &c, std::slice::from_ref(&e)).await?.remove(0),
        ))))
    }

    /// Remove the caller's school's warning mark, with a reason.
    ///
    /// A school user with write access to the employment module removes their school's mark
    /// of an employer, saying why; audited as `warning.unmark`. The school must have marked it.
    #[oai(
        path = "/warnings/:employer_id/unmark",
        method = "post",
        operation_id = "employers_unmark"
    )]
    async fn unmark(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The employer's id.
        employer_id: Path<i64>,
        body: Json<WarningRequest>,
    ) -> poem::Result<WarningMarkAnswer> {
        let c = caller(&state, &auth).await?;
        let school_id = require_school_user(&c)?;
        let reason = check_reason("reason", &body.reason)?;
        let e = employers::find_employer(&state, *employer_id).await?;
        employers::unmark_warning_employer(&state, &c, &e, school_id, reason).await?;
        Ok(WarningMarkAnswer::Ok(Json(Box::new(
            views(&state, &c, std::slice::from_ref(&e)).await?.remove(0),
        ))))
    }
}
