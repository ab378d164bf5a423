//! Bootstrap of organisations and accounts by the system administrator: provinces, schools
//! and their departments, a minimal roster, employers, accounts. Every field is checked before
//! the database sees it (`input::Fields`), every problem at once.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{NewType, Object, OpenApi};

use super::{answers, caller, Tag, Token};
use crate::auth::AccountRole;
use crate::error::ApiError;
use crate::input::Fields;
use crate::service::State;
use crate::services::bootstrap as service;

/// A province to create or update.
#[derive(Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct ProvinceRequest {
    /// The 2-digit province code (GB/T 2260 prefix, e.g. `32`).
    pub code: String,
    /// The province's name (at most 20 characters).
    #[oai(validator(max_length = 20))]
    pub name: String,
    /// 电子就业协议书类型: `two_party` (两方协议, 鉴证) or `three_party` (三方协议, 审核).
    pub agreement_type: Option<String>,
    /// 毕业去向登记与网签 enabled.
    #[oai(default)]
    pub employment_enabled: bool,
    /// 档案信息登记 enabled.
    #[oai(default)]
    pub archive_enabled: bool,
    /// 户口信息登记 enabled.
    #[oai(default)]
    pub hukou_enabled: bool,
}

impl poem_openapi::types::Example for ProvinceRequest {
    fn example() -> Self {
        ProvinceRequest {
            code: "32".into(),
            name: "江苏省".into(),
            agreement_type: Some("two_party".into()),
            employment_enabled: true,
            archive_enabled: false,
            hukou_enabled: false,
        }
    }
}

/// A school to create or update (by code), with its departments.
#[derive(Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct SchoolRequest {
    /// 院校代码: 5 digits.
    pub code: String,
    /// The school's name (at most 100 characters).
    #[oai(validator(max_length = 100))]
    pub name: String,
    /// The 2-digit code of its province (which must exist).
    pub province_code: String,
    /// 就业 review mode: `school` (default) or `department_then_school`.
    pub review_mode_employment: Option<String>,
    /// 在线签约 enabled.
    #[oai(default)]
    pub signing_enabled: bool,
    /// Its departments (院系), each at most 50 characters; at most 1000.
    #[oai(default, validator(max_items = 1000))]
    pub departments: Vec<String>,
}

impl poem_openapi::types::Example for SchoolRequest {
    fn example() -> Self {
        SchoolRequest {
            code: "10284".into(),
            name: "南京大学".into(),
            province_code: "32".into(),
            review_mode_employment: Some("department_then_school".into()),
            signing_enabled: true,
            departments: vec!["计算机科学与技术系".into(), "外国语学院".into()],
        }
    }
}

/// One graduate of a minimal roster upload. Text fields take strings; fields marked required
/// are checked by the handler, which reports every problem of a row at once.
#[derive(Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct GraduateRow {
    /// 考生号: 14 digits (required).
    pub candidate_no: Option<String>,
    /// 身份证号: 18 characters, 17 digits and a digit or `X` (required).
    pub id_number: Option<String>,
    /// 姓名 (required, at most 50 characters).
    pub name: Option<String>,
    /// 院系 (required, at most 50 characters).
    pub department: Option<String>,
    /// 性别 (at most 2 characters).
    pub gender: Option<String>,
    /// 民族 (at most 20 characters).
    pub ethnicity: Option<String>,
    /// 政治面貌 (at most 20 characters).
    pub political_status: Option<String>,
    /// 学历 (at most 20 characters; default 本科).
    pub education_level: Option<String>,
    /// 培养方式: a code of the `training_mode` table (default `10`).
    pub training_mode: Option<String>,
    /// 生源所在地: a 6-digit region code.
    pub origin_region: Option<String>,
    /// 入学日期 (at most 10 characters).
    pub enrolment_date: Option<String>,
    /// 毕业日期 (at most 10 characters).
    pub graduation_date: Option<String>,
    /// 届别: a year from 2000 to 2100 (default: the current cohort; `invalid_int` otherwise).
    pub cohort: Option<i64>,
    /// 学号 (at most 30 characters).
    pub student_no: Option<String>,
    /// 专业 (at most 50 characters).
    pub major: Option<String>,
    /// 学制 (at most 10 characters).
    pub schooling_length: Option<String>,
    /// 档案是否在校 (default false).
    pub archive_in_school: Option<bool>,
    /// 户口是否在校 (default false).
    pub hukou_in_school: Option<bool>,
    /// 电子邮箱 (at most 100 characters).
    pub email: Option<String>,
    /// 手机号码 (at most 20 characters).
    pub mobile: Option<String>,
}

impl poem_openapi::types::Example for GraduateRow {
    fn example() -> Self {
        GraduateRow {
            candidate_no: Some("26320102150001".into()),
            id_number: Some("11010519491231002X".into()),
            name: Some("张三".into()),
            department: Some("计算机科学与技术系".into()),
            gender: None,
            ethnicity: None,
            political_status: None,
            education_level: Some("本科".into()),
            training_mode: Some("10".into()),
            origin_region: Some("320102".into()),
            enrolment_date: None,
            graduation_date: None,
            cohort: Some(2027),
            student_no: None,
            major: Some("软件工程".into()),
            schooling_length: None,
            archive_in_school: None,
            hukou_in_school: Some(true),
            email: None,
            mobile: Some("13800138000".into()),
        }
    }
}

impl GraduateRow {
    /// A text field by its key (the handler checks each the same way).
    fn text(&self, key: &str) -> Option<&str> {
        match key {
            "candidate_no" => &self.candidate_no,
            "id_number" => &self.id_number,
            "name" => &self.name,
            "department" => &self.department,
            "gender" => &self.gender,
            "ethnicity" => &self.ethnicity,
            "political_status" => &self.political_status,
            "education_level" => &self.education_level,
            "training_mode" => &self.training_mode,
            "origin_region" => &self.origin_region,
            "enrolment_date" => &self.enrolment_date,
            "graduation_date" => &self.graduation_date,
            "student_no" => &self.student_no,
            "major" => &self.major,
            "schooling_length" => &self.schooling_length,
            "email" => &self.email,
            "mobile" => &self.mobile,
            _ => &None,
        }
        .as_deref()
    }
}

/// The rows of a minimal roster upload (at most 10000).
#[derive(NewType)]
#[oai(
    example,
    from_parameter = false,
    from_multipart = false,
    to_header = false
)]
pub struct GraduateRows(pub Vec<GraduateRow>);

impl poem_openapi::types::Example for GraduateRows {
    fn example() -> Self {
        GraduateRows(vec![GraduateRow::example()])
    }
}

/// An employer to register.
#[derive(Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct EmployerRequest {
    /// 单位名称 (at most 100 characters).
    #[oai(validator(max_length = 100))]
    pub name: String,
    /// 统一社会信用代码: 18 characters (a wrong check character is accepted, see `checksum_ok`).
    pub credit_code: String,
    /// 所在地区: a 6-digit region code.
    pub region: Option<String>,
}

impl poem_openapi::types::Example for EmployerRequest {
    fn example() -> Self {
        EmployerRequest {
            name: "南京示例科技有限公司".into(),
            credit_code: "91320100MA1X2Y3Z4A".into(),
            region: Some("320102".into()),
        }
    }
}

/// An account to create, with its bearer token.
#[derive(Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct AccountRequest {
    /// Login name, unique nationwide (at most 50 characters).
    #[oai(validator(max_length = 50))]
    pub username: String,
    /// The person or office shown in lists (at most 50 characters; the username when absent).
    #[oai(validator(max_length = 50))]
    pub display_name: Option<String>,
    /// The role: `province`, `school`, `department`, `graduate` or `employer` (API keys:
    /// `POST /api/v1/api-keys`).
    pub role: String,
    /// The 2-digit province of the account's scope (which must exist).
    pub province_code: Option<String>,
    /// The school of the account's scope (in that province).
    pub school_id: Option<i64>,
    /// A department account's department (院系, at most 50 characters).
    #[oai(validator(max_length = 50))]
    pub department: Option<String>,
    /// The graduate a graduate account stands for.
    pub graduate_id: Option<i64>,
    /// The employer an employer account stands for.
    pub employer_id: Option<i64>,
    /// A password for login (8–128 characters); stored as an argon2 hash.
    pub password: Option<String>,
    /// 基本信息和就业信息: `rw`, `ro` or `none` (default `rw`).
    pub perm_employment: Option<String>,
    /// 档案信息: `rw`, `ro` or `none` (default `rw` for province accounts, else `none`).
    pub perm_archive: Option<String>,
    /// 户口信息: `rw`, `ro` or `none` (default `rw` for province accounts, else `none`).
    pub perm_hukou: Option<String>,
}

impl poem_openapi::types::Example for AccountRequest {
    fn example() -> Self {
        AccountRequest {
            username: "js-province".into(),
            display_name: Some("江苏省高校毕业生就业指导中心".into()),
            role: "province".into(),
            province_code: Some("32".into()),
            school_id: None,
            department: None,
            graduate_id: None,
            employer_id: None,
            password: Some("江苏就业2026!".into()),
            perm_employment: None,
            perm_archive: None,
            perm_hukou: None,
        }
    }
}

/// A province as saved.
#[derive(Object)]
pub struct ProvinceCreated {
    /// The 2-digit province code.
    pub code: String,
    /// Its name.
    pub name: String,
}

/// A school as saved.
#[derive(Object)]
pub struct SchoolCreated {
    /// The school's id.
    pub id: i64,
    /// 院校代码.
    pub code: String,
}

/// The graduates saved.
#[derive(Object)]
pub struct GraduatesSaved {
    /// The graduates' ids, in the order of the rows.
    pub ids: Vec<i64>,
}

/// An employer as registered.
#[derive(Object)]
pub struct EmployerCreated {
    /// The employer's id.
    pub id: i64,
    /// Whether the credit code's check character is right.
    pub checksum_ok: bool,
}

/// An account created, with its token.
#[derive(Object)]
pub struct AccountCreated {
    /// The account's id.
    pub id: i64,
    /// Its bearer token (shown once).
    pub token: String,
}

answers! {
    /// The answers of `POST /admin/provinces`.
    pub enum BootstrapProvinceAnswer {
        /// The province saved.
        200 Ok(Json<ProvinceCreated>),
        errors:
        /// The body is not the JSON the operation takes, or a query parameter was sent
        /// (`invalid_body`, `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not the system administrator (`forbidden`).
        403 Forbidden,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// A field breaks a rule (`invalid_agreement_type`, `invalid_type`; `invalid_input` per
        /// field `required`, `too_long`, `invalid_format`, `control_character`, `line_break`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `POST /admin/schools`.
    pub enum BootstrapSchoolAnswer {
        /// The school saved.
        200 Ok(Json<SchoolCreated>),
        errors:
        /// The body is not the JSON the operation takes, or a query parameter was sent
        /// (`invalid_body`, `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not the system administrator (`forbidden`).
        403 Forbidden,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// A field breaks a rule (`invalid_review_mode`, `unknown_province`, `invalid_type`;
        /// `invalid_input` per field `required`, `too_long`, `too_many`, `invalid_format`,
        /// `control_character`, `line_break`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `POST /admin/schools/{id}/graduates`.
    pub enum BootstrapGraduatesAnswer {
        /// The graduates saved.
        200 Ok(Json<GraduatesSaved>),
        errors:
        /// The id does not parse, the body is not the JSON the operation takes, or a query
        /// parameter was sent (`invalid_path_parameter`, `invalid_body`, `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not the system administrator (`forbidden`).
        403 Forbidden,
        /// No such school (`not_found`).
        404 NotFound,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// Too many rows or a row breaks a rule (`too_many_rows`, `invalid_type`;
        /// `invalid_input` per field `required`, `too_long`, `invalid_format`, `unknown_code`,
        /// `invalid_int`, `control_character`, `line_break`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `POST /admin/employers`.
    pub enum BootstrapEmployerAnswer {
        /// The employer registered.
        200 Ok(Json<EmployerCreated>),
        errors:
        /// The body is not the JSON the operation takes, or a query parameter was sent
        /// (`invalid_body`, `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not the system administrator (`forbidden`).
        403 Forbidden,
        /// The credit code is registered already (`credit_code_taken`).
        409 Conflict,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// A field breaks a rule (`credit_code_format`, `invalid_type`; `invalid_input` per
        /// field `required`, `too_long`, `invalid_format`, `control_character`, `line_break`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `POST /admin/accounts`.
    pub enum BootstrapAccountAnswer {
        /// The account created, with its token.
        200 Ok(Json<AccountCreated>),
        errors:
        /// The body is not the JSON the operation takes, or a query parameter was sent
        /// (`invalid_body`, `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not the system administrator (`forbidden`).
        403 Forbidden,
        /// The username is taken (`username_taken`).
        409 Conflict,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// A field breaks a rule (`invalid_role`, `unknown_province`, `unknown_school`,
        /// `invalid_permission`, `weak_password`, `password_too_long`, `invalid_type`;
        /// `invalid_input` per field `required`, `too_long`, `invalid_format`,
        /// `control_character`, `line_break`).
        422 Invalid,
    }
}

pub struct BootstrapApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "Tag::Admin")]
impl BootstrapApi {
    /// Create or update a province.
    ///
    /// The system administrator only: the province by its code, with its e-agreement type and
    /// module switches as given.
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
    ) -> poem::Result<BootstrapProvinceAnswer> {
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
        Ok(BootstrapProvinceAnswer::Ok(Json(ProvinceCreated {
            code: m.code,
            name: m.name,
        })))
    }

    /// Create or update a school (by code) and its departments.
    ///
    /// The system administrator only: the school by its code in a province that exists, with
    /// its 就业 review mode and signing switch; departments it lacks are added.
    #[oai(path = "/schools", method = "post", operation_id = "bootstrap_school")]
    async fn school(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<SchoolRequest>,
    ) -> poem::Result<BootstrapSchoolAnswer> {
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
        Ok(BootstrapSchoolAnswer::Ok(Json(SchoolCreated {
            id: m.id,
            code: m.code,
        })))
    }

    /// Upsert graduates of a school by candidate number (a minimal roster upload).
    ///
    /// The system administrator only: each row creates or updates the graduate with its
    /// candidate number in the school (the full import with per-row validation, `POST
    /// /roster/graduates`, builds on it). A row with a problem stops the upload at that row,
    /// the rows before it saved.
    #[oai(
        path = "/schools/:id/graduates",
        method = "post",
        operation_id = "bootstrap_graduates"
    )]
    async fn graduates(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The school's id.
        id: Path<i64>,
        body: Json<GraduateRows>,
    ) -> poem::Result<BootstrapGraduatesAnswer> {
        caller(&state, &auth).await?.require_admin()?;
        let s = service::find_school(&state, *id).await?;
        let mut ids = Vec::new();
        let rows = &body.0 .0;
        if rows.len() > 10_000 {
            return Err(ApiError::unprocessable("too_many_rows", "一次最多 10000 行").into());
        }
        let snap = state.registry.snapshot();
        for (i, g) in rows.iter().enumerate() {
            let raw = |k: &str| g.text(k);
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
            let cohort = match g.cohort {
                None => crate::scope::current_cohort(state.clock.now()),
                Some(y) if (2000..=2100).contains(&y) => y as i32,
                Some(_) => {
                    f.problem(
                        &at("cohort"),
                        "届别",
                        "invalid_int",
                        "应为 2000–2100 的年份",
                    );
                    0
                }
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
                archive_in_school: g.archive_in_school.unwrap_or(false),
                hukou_in_school: g.hukou_in_school.unwrap_or(false),
                email,
                mobile,
            };
            let m = service::upsert_graduate(&state, &s, row).await?;
            ids.push(m.id);
        }
        Ok(BootstrapGraduatesAnswer::Ok(Json(GraduatesSaved { ids })))
    }

    /// Register an employer.
    ///
    /// The system administrator only: an employer with its name, credit code and region, without
    /// the self-registration's checks (`POST /employers/register`).
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
    ) -> poem::Result<BootstrapEmployerAnswer> {
        caller(&state, &auth).await?.require_admin()?;
        let code = gradflow_engine::ident::CreditCode::parse(&body.credit_code).map_err(|e| {
            ApiError::unprocessable(e.code, format!("统一社会信用代码：{}", e.message))
        })?;
        let mut f = Fields::new();
        let name = f.text("name", "单位名称", &body.name, 100);
        let region = f.opt_digits("region", "所在地区", body.region.as_deref(), 6);
        f.finish()?;
        let m = service::register_employer(&state, name, code.as_str(), region).await?;
        Ok(BootstrapEmployerAnswer::Ok(Json(EmployerCreated {
            id: m.id,
            checksum_ok: code.checksum_ok(),
        })))
    }

    /// Create an account and issue its bearer token (shown once).
    ///
    /// The system administrator only: an account of any role but the administrator's and
    /// integrators' (API keys are made with `POST /api-keys`), in a province and school that
    /// exist. Province accounts start with every module read-write, others with 档案 and 户口
    /// `none` (SPEC.md 1.1).
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
    ) -> poem::Result<BootstrapAccountAnswer> {
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
        Ok(BootstrapAccountAnswer::Ok(Json(AccountCreated {
            id: m.id,
            token,
        })))
    }
}
