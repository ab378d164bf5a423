//! Bootstrap of organisations and accounts by the system administrator: provinces, schools
//! and their departments, a minimal roster, employers, accounts. Every field is checked before
//! the database sees it (`input::Fields`), every problem at once.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::{json, Value};

use super::{caller, Tag, Token};
use crate::auth::AccountRole;
use crate::error::ApiError;
use crate::input::Fields;
use crate::service::State;
use crate::services::bootstrap as service;

#[derive(Object)]
pub struct ProvinceRequest {
    pub code: String,
    pub name: String,
    /// `two_party` (鉴证) or `three_party` (审核).
    pub agreement_type: Option<String>,
    #[oai(default)]
    pub employment_enabled: bool,
    #[oai(default)]
    pub archive_enabled: bool,
    #[oai(default)]
    pub hukou_enabled: bool,
}

#[derive(Object)]
pub struct SchoolRequest {
    pub code: String,
    pub name: String,
    pub province_code: String,
    /// `school` or `department_then_school`.
    pub review_mode_employment: Option<String>,
    #[oai(default)]
    pub signing_enabled: bool,
    #[oai(default)]
    pub departments: Vec<String>,
}

#[derive(Object)]
pub struct EmployerRequest {
    pub name: String,
    pub credit_code: String,
    pub region: Option<String>,
}

#[derive(Object)]
pub struct AccountRequest {
    pub username: String,
    pub display_name: Option<String>,
    /// province, school, department, graduate, employer, integrator
    pub role: String,
    pub province_code: Option<String>,
    pub school_id: Option<i64>,
    pub department: Option<String>,
    pub graduate_id: Option<i64>,
    pub employer_id: Option<i64>,
    /// A password for login (at least 8 characters); stored as an argon2 hash.
    pub password: Option<String>,
    /// rw / ro / none for the three modules.
    pub perm_employment: Option<String>,
    pub perm_archive: Option<String>,
    pub perm_hukou: Option<String>,
}

pub struct BootstrapApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "Tag::Admin")]
impl BootstrapApi {
    /// Create or update a province.
    #[oai(
        path = "/provinces",
        method = "post",
        operation_id = "bootstrap_province"
    )]
    async fn province(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<ProvinceRequest>,
    ) -> poem::Result<Json<Value>> {
        caller(&state, &auth).await?.require_admin()?;
        if let Some(t) = &body.agreement_type {
            if t != "two_party" && t != "three_party" {
                return Err(ApiError::unprocessable(
                    "invalid_agreement_type",
                    "agreement_type：只能是 two_party（两方协议）或 three_party（三方协议）",
                )
                .into());
            }
        }
        let mut f = Fields::new();
        let code = f.digits("code", "省份代码", &body.code, 2);
        let name = f.text("name", "省份名称", &body.name, 20);
        f.finish()?;
        let m = service::upsert_province(
            &state,
            service::ProvinceFields {
                code,
                name,
                agreement_type: body.agreement_type.clone(),
                employment_enabled: body.employment_enabled,
                archive_enabled: body.archive_enabled,
                hukou_enabled: body.hukou_enabled,
            },
        )
        .await?;
        Ok(Json(json!({"code": m.code, "name": m.name})))
    }

    /// Create or update a school (by code) and its departments.
    #[oai(path = "/schools", method = "post", operation_id = "bootstrap_school")]
    async fn school(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<SchoolRequest>,
    ) -> poem::Result<Json<Value>> {
        caller(&state, &auth).await?.require_admin()?;
        let mode = body
            .review_mode_employment
            .clone()
            .unwrap_or_else(|| "school".into());
        if mode != "school" && mode != "department_then_school" {
            return Err(ApiError::unprocessable("invalid_review_mode", "review_mode_employment：只能是 school（仅校级审核）或 department_then_school（先院系再校级审核）").into());
        }
        let mut f = Fields::new();
        let code = f.digits("code", "院校代码", &body.code, 5);
        let name = f.text("name", "学校名称", &body.name, 100);
        let province_code = f.digits("province_code", "省份代码", &body.province_code, 2);
        if body.departments.len() > 1000 {
            f.problem("departments", "院系", "too_many", "最多 1000 个");
        }
        let departments: Vec<String> = body
            .departments
            .iter()
            .enumerate()
            .map(|(i, d)| f.text(&format!("departments[{i}]"), "院系名称", d, 50))
            .collect();
        f.finish()?;
        let m = service::upsert_school(
            &state,
            service::SchoolFields {
                code,
                name,
                province_code,
                review_mode_employment: mode,
                signing_enabled: body.signing_enabled,
                departments,
            },
        )
        .await?;
        Ok(Json(json!({"id": m.id, "code": m.code})))
    }

    /// Upsert graduates of a school by candidate number.
    ///
    /// Upsert graduates of a school by candidate number (a minimal roster upload; the full import
    /// with per-row validation builds on it).
    #[oai(
        path = "/schools/:id/graduates",
        method = "post",
        operation_id = "bootstrap_graduates"
    )]
    async fn graduates(
        &self,
        state: Data<&State>,
        auth: Token,
        id: Path<i64>,
        body: Json<Vec<Value>>,
    ) -> poem::Result<Json<Value>> {
        caller(&state, &auth).await?.require_admin()?;
        let s = service::find_school(&state, *id).await?;
        let mut ids = Vec::new();
        if body.0.len() > 10_000 {
            return Err(ApiError::unprocessable("too_many_rows", "一次最多 10000 行").into());
        }
        let snap = state.registry.snapshot();
        for (i, g) in body.0.iter().enumerate() {
            let raw = |k: &str| g.get(k).and_then(Value::as_str);
            let at = |k: &str| format!("[{i}].{k}");
            let mut f = Fields::new();
            let candidate_no = f.digits(
                &at("candidate_no"),
                "考生号",
                raw("candidate_no").unwrap_or(""),
                14,
            );
            let id_number = f.text(
                &at("id_number"),
                "身份证号",
                raw("id_number").unwrap_or(""),
                18,
            );
            if id_number.len() != 18
                || !id_number[..17].bytes().all(|b| b.is_ascii_digit())
                || !matches!(id_number.as_bytes().get(17), Some(b'0'..=b'9' | b'X'))
            {
                f.problem(
                    &at("id_number"),
                    "身份证号",
                    "invalid_format",
                    "应为18位（17位数字加数字或 X）",
                );
            }
            let name = f.text(&at("name"), "姓名", raw("name").unwrap_or(""), 50);
            let department = f.text(
                &at("department"),
                "院系",
                raw("department").unwrap_or(""),
                50,
            );
            let mut opt = |k: &str, label: &str, max: usize| f.opt_text(&at(k), label, raw(k), max);
            let (gender, ethnicity, political_status) = (
                opt("gender", "性别", 2),
                opt("ethnicity", "民族", 20),
                opt("political_status", "政治面貌", 20),
            );
            let education_level =
                opt("education_level", "学历", 20).unwrap_or_else(|| "本科".into());
            let training_mode = opt("training_mode", "培养方式", 2).unwrap_or_else(|| "10".into());
            let (enrolment_date, graduation_date) = (
                opt("enrolment_date", "入学日期", 10),
                opt("graduation_date", "毕业日期", 10),
            );
            let (student_no, major, schooling_length) = (
                opt("student_no", "学号", 30),
                opt("major", "专业", 50),
                opt("schooling_length", "学制", 10),
            );
            let (email, mobile) = (opt("email", "电子邮箱", 100), opt("mobile", "手机号码", 20));
            let origin_region =
                f.opt_digits(&at("origin_region"), "生源所在地", raw("origin_region"), 6);
            if snap.codes.label("training_mode", &training_mode).is_none() {
                f.problem(
                    &at("training_mode"),
                    "培养方式",
                    "unknown_code",
                    format!("代码 {training_mode} 不在代码表中"),
                );
            }
            let cohort = match g.get("cohort") {
                None | Some(Value::Null) => crate::scope::current_cohort(state.clock.now()),
                Some(v) => match v.as_i64().filter(|y| (2000..=2100).contains(y)) {
                    Some(y) => y as i32,
                    None => {
                        f.problem(
                            &at("cohort"),
                            "届别",
                            "invalid_int",
                            "应为 2000–2100 的年份",
                        );
                        0
                    }
                },
            };
            f.finish()?;
            let row = crate::roster::RosterRow {
                row: i + 1,
                school_code: None,
                directed_employer: None,
                candidate_no,
                id_number,
                name,
                gender,
                ethnicity,
                political_status,
                education_level,
                training_mode,
                origin_region,
                enrolment_date,
                graduation_date,
                cohort,
                student_no,
                department,
                major: major.unwrap_or_default(),
                schooling_length,
                archive_in_school: g
                    .get("archive_in_school")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                hukou_in_school: g
                    .get("hukou_in_school")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                email,
                mobile,
            };
            let m = service::upsert_graduate(&state, &s, row).await?;
            ids.push(m.id);
        }
        Ok(Json(json!({"ids": ids})))
    }

    /// Register an employer.
    #[oai(
        path = "/employers",
        method = "post",
        operation_id = "bootstrap_employer"
    )]
    async fn employer(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<EmployerRequest>,
    ) -> poem::Result<Json<Value>> {
        caller(&state, &auth).await?.require_admin()?;
        let code = gradflow_engine::ident::CreditCode::parse(&body.credit_code).map_err(|e| {
            ApiError::unprocessable(e.code, format!("统一社会信用代码：{}", e.message))
        })?;
        let mut f = Fields::new();
        let name = f.text("name", "单位名称", &body.name, 100);
        let region = f.opt_digits("region", "所在地区", body.region.as_deref(), 6);
        f.finish()?;
        let m = service::register_employer(&state, name, code.as_str(), region).await?;
        Ok(Json(json!({"id": m.id, "checksum_ok": code.checksum_ok()})))
    }

    /// Create an account and issue its bearer token (shown once).
    #[oai(
        path = "/accounts",
        method = "post",
        operation_id = "bootstrap_account"
    )]
    async fn account(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<AccountRequest>,
    ) -> poem::Result<Json<Value>> {
        caller(&state, &auth).await?.require_admin()?;
        let role = AccountRole::parse(&body.role)
            .filter(|r| !matches!(r, AccountRole::Admin | AccountRole::Integrator))
            .ok_or_else(|| {
                ApiError::unprocessable(
                    "invalid_role",
                    "role：账号类型无效（province、school、department、graduate 或 employer；接口密钥请用 POST /api/v1/api-keys）",
                )
            })?;
        let mut f = Fields::new();
        let username = f.text("username", "用户名", &body.username, 50);
        let display_name = f.opt_text("display_name", "显示名称", body.display_name.as_deref(), 50);
        let province_code = f.opt_digits(
            "province_code",
            "省份代码",
            body.province_code.as_deref(),
            2,
        );
        let department = f.opt_text("department", "院系", body.department.as_deref(), 50);
        f.finish()?;
        service::check_account_province_and_school(
            &state,
            province_code.as_deref(),
            body.school_id,
        )
        .await?;
        let perm = |p: &Option<String>, default: &str| -> Result<String, ApiError> {
            let v = p.clone().unwrap_or_else(|| default.into());
            if ["rw", "ro", "none"].contains(&v.as_str()) {
                Ok(v)
            } else {
                Err(ApiError::unprocessable(
                    "invalid_permission",
                    "模块权限只能是 rw（读写）、ro（只读）或 none（无权限）",
                ))
            }
        };
        let password_hash = match &body.password {
            Some(p) => Some(crate::auth::hash_new_password("password", p).await?),
            None => None,
        };
        // SPEC.md 1.1: school and department accounts start with archive and hukou "none";
        // province accounts (managed by nobody above them) start with every module.
        let default_other = if role == AccountRole::Province {
            "rw"
        } else {
            "none"
        };
        let new = service::NewAccount {
            display_name: display_name.unwrap_or_else(|| username.clone()),
            username,
            role,
            password_hash,
            province_code,
            school_id: body.school_id,
            department,
            graduate_id: body.graduate_id,
            employer_id: body.employer_id,
            perm_employment: perm(&body.perm_employment, "rw")?,
            perm_archive: perm(&body.perm_archive, default_other)?,
            perm_hukou: perm(&body.perm_hukou, default_other)?,
        };
        let (m, token) = service::create_account_with_token(&state, new).await?;
        Ok(Json(json!({"id": m.id, "token": token})))
    }
}
