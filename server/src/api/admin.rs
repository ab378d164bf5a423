//! Administration: reload definitions, upload a definition version, province params and
//! overlays, the test clock, and bootstrap of organisations and accounts.

use chrono::{DateTime, Utc};
use gradflow_engine::registry::SourceFile;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{Object, OpenApi};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use serde_json::{json, Map, Value};

use super::{caller, Tag, Token};
use crate::auth::{issue_token, AccountRole, Caller};
use crate::entity::{account, department, employer, graduate, province, province_param, school};
use crate::error::ApiError;
use crate::input::Fields;
use crate::service::{build_snapshot, remember_definitions, State};

pub(crate) fn diagnostics_error(diags: Vec<gradflow_engine::registry::Diagnostic>) -> ApiError {
    let mut e = ApiError::unprocessable(
        "definitions_invalid",
        format!("定义有 {} 处问题，未生效（原定义继续使用）", diags.len()),
    );
    e.body.errors = diags
        .into_iter()
        .map(|d| gradflow_engine::form::FieldError {
            field: match d.line {
                Some(l) => format!("{}:{}", d.file, l),
                None => d.file.clone(),
            },
            label: d.file,
            code: "definition_problem".into(),
            message: d.message,
        })
        .collect();
    e
}

/// Province users manage their own province; the system administrator any.
fn require_province(c: &Caller, code: &str) -> Result<(), ApiError> {
    match c.role {
        AccountRole::Admin => Ok(()),
        AccountRole::Province if c.actor.province.as_deref() == Some(code) => {
            c.require_write(gradflow_engine::definition::Module::Employment)
        }
        _ => Err(ApiError::forbidden(
            "只有本省省级用户或系统管理员可以调整本省流程",
        )),
    }
}

async fn swap_in(state: &State, extra: Vec<SourceFile>) -> Result<Value, ApiError> {
    let snap = build_snapshot(&state.db, &state.config.root, extra)
        .await
        .map_err(diagnostics_error)?;
    remember_definitions(&state.db, &snap).await?;
    let sources = crate::service::load_sources(&state.db, &state.config.root)
        .await
        .map_err(ApiError::internal)?;
    // The stored definitions now include the upload, so the reload sees it too.
    let snap = state.registry.reload(&sources).map_err(diagnostics_error)?;
    Ok(json!({
        "fingerprint": snap.fingerprint,
        "definitions": snap.definitions().map(|d| d.def.id().to_string()).collect::<Vec<_>>(),
    }))
}

#[derive(Object)]
pub struct ClockRequest {
    /// Set the clock to this instant (RFC 3339).
    pub set: Option<DateTime<Utc>>,
    /// Or move it forward by this many seconds.
    pub advance_seconds: Option<i64>,
}

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

pub struct AdminApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "Tag::Admin")]
impl AdminApi {
    /// Reload workflows/, scripts/ and templates from disk. A broken set is refused with every
    /// problem listed, and the old set keeps serving.
    #[oai(path = "/reload", method = "post")]
    async fn reload(&self, state: Data<&State>, auth: Token) -> poem::Result<Json<Value>> {
        caller(&state, &auth).await?.require_admin()?;
        Ok(Json(swap_in(&state, Vec::new()).await?))
    }

    /// Upload a new definition version (YAML). Validated with everything else first;
    /// an existing (key, version) cannot be changed.
    #[oai(path = "/definitions", method = "post")]
    async fn upload(
        &self,
        state: Data<&State>,
        auth: Token,
        body: PlainText<String>,
    ) -> poem::Result<Json<Value>> {
        caller(&state, &auth).await?.require_admin()?;
        let file = SourceFile {
            path: "upload".into(),
            text: body.0,
        };
        Ok(Json(swap_in(&state, vec![file]).await?))
    }

    /// Every stored definition version with its status (`active`, `available`, `retired`,
    /// `unusable` with its problems).
    #[oai(path = "/definitions", method = "get")]
    async fn definitions(&self, state: Data<&State>, auth: Token) -> poem::Result<Json<Value>> {
        caller(&state, &auth).await?.require_admin()?;
        Ok(Json(crate::definitions::list(&state).await?))
    }

    /// Retire a definition version (`key@version` or `key@version+province`): new
    /// instances stop using it and the next lower version becomes active; instances pinned to
    /// it go on.
    #[oai(path = "/definitions/:id/retire", method = "post")]
    async fn retire(
        &self,
        state: Data<&State>,
        auth: Token,
        id: Path<String>,
    ) -> poem::Result<Json<Value>> {
        caller(&state, &auth).await?.require_admin()?;
        Ok(Json(crate::definitions::retire(&state, &id).await?))
    }

    /// Set a province's parameters for a flow (e.g. the response deadline). New instances use
    /// them; running instances keep the parameters they started with.
    #[oai(path = "/provinces/:code/params/:key", method = "put")]
    async fn set_params(
        &self,
        state: Data<&State>,
        auth: Token,
        code: Path<String>,
        key: Path<String>,
        body: Json<Value>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        require_province(&c, &code)?;
        let snap = state.registry.snapshot();
        let def = snap
            .active(&key, Some(&code))
            .ok_or_else(|| ApiError::not_found(format!("流程 {} 不存在", *key)))?;
        let overrides: Map<String, Value> = match body.0 {
            Value::Object(m) => m,
            _ => {
                return Err(
                    ApiError::unprocessable("invalid_params", "参数必须是 JSON 对象").into(),
                )
            }
        };
        let resolved = def
            .def
            .resolve_params(&overrides)
            .map_err(|errs| ApiError::unprocessable("invalid_params", errs.join("；")))?;
        let existing = province_param::Entity::find_by_id((code.0.clone(), key.0.clone()))
            .one(&state.db.conn)
            .await
            .map_err(ApiError::from)?;
        let am = province_param::ActiveModel {
            province_code: Set(code.0.clone()),
            def_key: Set(key.0.clone()),
            params: Set(Value::Object(overrides.clone()).to_string()),
            updated_at: Set(Utc::now()),
        };
        if existing.is_some() {
            am.update(&state.db.conn).await.map_err(ApiError::from)?;
        } else {
            am.insert(&state.db.conn).await.map_err(ApiError::from)?;
        }
        Ok(Json(
            json!({"province": code.0, "flow": key.0, "params": resolved}),
        ))
    }

    /// Install a province overlay: a whole definition of `key` used for this province only.
    #[oai(path = "/provinces/:code/overlays/:key", method = "put")]
    async fn overlay(
        &self,
        state: Data<&State>,
        auth: Token,
        code: Path<String>,
        key: Path<String>,
        body: PlainText<String>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        require_province(&c, &code)?;
        let parsed: Value = serde_yaml::from_str(&body.0).map_err(|e| {
            ApiError::unprocessable("definitions_invalid", format!("YAML 错误：{e}"))
        })?;
        if parsed.get("key").and_then(Value::as_str) != Some(key.0.as_str()) {
            return Err(ApiError::unprocessable(
                "overlay_key",
                format!("覆盖定义的 key 必须是 {}", *key),
            )
            .into());
        }
        let text = match parsed.get("province") {
            None => format!("province: \"{}\"\n{}", *code, body.0),
            Some(p) if p.as_str() == Some(code.0.as_str()) => body.0,
            Some(_) => {
                return Err(ApiError::unprocessable(
                    "overlay_province",
                    format!("覆盖定义的 province 必须是 {}", *code),
                )
                .into())
            }
        };
        let file = SourceFile {
            path: format!("overlay:{}", *code),
            text,
        };
        Ok(Json(swap_in(&state, vec![file]).await?))
    }

    /// Set or move the test clock (only with `--test-clock`).
    #[oai(path = "/clock", method = "post")]
    async fn clock(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<ClockRequest>,
    ) -> poem::Result<Json<Value>> {
        caller(&state, &auth).await?.require_admin()?;
        if !state.clock.is_manual() {
            return Err(ApiError::conflict(
                "clock_not_manual",
                "服务未以 --test-clock 启动，不能调整时钟",
            )
            .into());
        }
        use chrono::Datelike;
        // Far enough for any test, and every `now + deadline` stays representable.
        let target = match (body.set, body.advance_seconds) {
            (Some(at), _) => Some(at),
            (None, Some(s)) => chrono::Duration::try_seconds(s)
                .and_then(|d| state.clock.now().checked_add_signed(d)),
            (None, None) => Some(state.clock.now()),
        };
        let Some(target) = target.filter(|t| (2000..=2200).contains(&t.year())) else {
            return Err(ApiError::unprocessable(
                "invalid_clock",
                "set / advance_seconds：时钟只能设在 2000 年至 2200 年之间",
            )
            .into());
        };
        let now = state.clock.set(target);
        Ok(Json(json!({"now": now.to_rfc3339()})))
    }

    /// Create or update a province.
    #[oai(path = "/provinces", method = "post")]
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
        let am = province::ActiveModel {
            code: Set(code.clone()),
            name: Set(name),
            agreement_type: Set(body.agreement_type.clone()),
            employment_enabled: Set(body.employment_enabled),
            archive_enabled: Set(body.archive_enabled),
            hukou_enabled: Set(body.hukou_enabled),
        };
        let exists = province::Entity::find_by_id(code)
            .one(&state.db.conn)
            .await
            .map_err(ApiError::from)?;
        let m = if exists.is_some() {
            am.update(&state.db.conn).await
        } else {
            am.insert(&state.db.conn).await
        }
        .map_err(ApiError::from)?;
        Ok(Json(json!({"code": m.code, "name": m.name})))
    }

    /// Create or update a school (by code) and its departments.
    #[oai(path = "/schools", method = "post")]
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
        let db = &state.db.conn;
        if province::Entity::find_by_id(province_code.clone())
            .one(db)
            .await
            .map_err(ApiError::from)?
            .is_none()
        {
            return Err(ApiError::unprocessable(
                "unknown_province",
                format!("province_code：省份 {province_code} 不存在，请先创建省份"),
            )
            .into());
        }
        let existing = school::Entity::find()
            .filter(school::Column::Code.eq(code.clone()))
            .one(db)
            .await
            .map_err(ApiError::from)?;
        let m = match existing {
            Some(s) => {
                let mut am: school::ActiveModel = s.into();
                am.name = Set(name.clone());
                am.review_mode_employment = Set(mode);
                am.signing_enabled = Set(body.signing_enabled);
                am.update(db).await
            }
            None => {
                school::ActiveModel {
                    code: Set(code.clone()),
                    name: Set(name.clone()),
                    province_code: Set(province_code.clone()),
                    review_mode_employment: Set(mode),
                    review_mode_archive: Set("school".into()),
                    review_mode_hukou: Set("school".into()),
                    signing_enabled: Set(body.signing_enabled),
                    archive_enabled: Set(false),
                    hukou_enabled: Set(false),
                    termination_cap: Set(3),
                    handler_info: Set("{}".into()),
                    settings_saved: Set(body.signing_enabled),
                    ..Default::default()
                }
                .insert(db)
                .await
            }
        }
        .map_err(ApiError::from)?;
        for d in &departments {
            let exists = department::Entity::find()
                .filter(department::Column::SchoolId.eq(m.id))
                .filter(department::Column::Name.eq(d.clone()))
                .one(db)
                .await
                .map_err(ApiError::from)?;
            if exists.is_none() {
                department::ActiveModel {
                    school_id: Set(m.id),
                    name: Set(d.clone()),
                    ..Default::default()
                }
                .insert(db)
                .await
                .map_err(ApiError::from)?;
            }
        }
        Ok(Json(json!({"id": m.id, "code": m.code})))
    }

    /// Upsert graduates of a school by candidate number (a minimal roster upload; the full
    /// import with per-row validation builds on it).
    #[oai(path = "/schools/:id/graduates", method = "post")]
    async fn graduates(
        &self,
        state: Data<&State>,
        auth: Token,
        id: Path<i64>,
        body: Json<Vec<Value>>,
    ) -> poem::Result<Json<Value>> {
        caller(&state, &auth).await?.require_admin()?;
        let db = &state.db.conn;
        let s = school::Entity::find_by_id(*id)
            .one(db)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::not_found("学校不存在"))?;
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
            let am = graduate::ActiveModel {
                province_code: Set(s.province_code.clone()),
                school_id: Set(s.id),
                candidate_no: Set(candidate_no.clone()),
                id_number: Set(id_number),
                name: Set(name),
                gender: Set(gender),
                ethnicity: Set(ethnicity),
                political_status: Set(political_status),
                education_level: Set(education_level),
                training_mode: Set(training_mode),
                origin_region: Set(origin_region),
                enrolment_date: Set(enrolment_date),
                graduation_date: Set(graduation_date),
                cohort: Set(cohort),
                student_no: Set(student_no),
                department: Set(department),
                major: Set(major.unwrap_or_default()),
                schooling_length: Set(schooling_length),
                archive_in_school: Set(g
                    .get("archive_in_school")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)),
                hukou_in_school: Set(g
                    .get("hukou_in_school")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)),
                email: Set(email),
                mobile: Set(mobile),
                removed: Set(false),
                removed_at: Set(None),
                basic_info_confirmed: Set(false),
                updated_at: Set(Utc::now()),
                ..Default::default()
            };
            let existing = graduate::Entity::find()
                .filter(graduate::Column::CandidateNo.eq(candidate_no))
                .one(db)
                .await
                .map_err(ApiError::from)?;
            let m = match existing {
                Some(e) => {
                    let mut am = am;
                    am.id = Set(e.id);
                    am.update(db).await
                }
                None => am.insert(db).await,
            }
            .map_err(ApiError::from)?;
            ids.push(m.id);
        }
        Ok(Json(json!({"ids": ids})))
    }

    /// Register an employer.
    #[oai(path = "/employers", method = "post")]
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
        let _write = state.db.write_guard().await;
        let txn = state.db.conn.begin().await.map_err(ApiError::from)?;
        let m = employer::ActiveModel {
            name: Set(name),
            credit_code: Set(code.as_str().to_string()),
            nature: Set(None),
            industry: Set(None),
            region: Set(region),
            address: Set(None),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|e| match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                ApiError::conflict("credit_code_taken", "credit_code：该统一社会信用代码已注册")
            }
            _ => ApiError::from(e),
        })?;
        txn.commit().await.map_err(ApiError::from)?;
        Ok(Json(json!({"id": m.id, "checksum_ok": code.checksum_ok()})))
    }

    /// Create an account and issue its bearer token (shown once).
    #[oai(path = "/accounts", method = "post")]
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
        if let Some(p) = &province_code {
            if province::Entity::find_by_id(p.clone())
                .one(&state.db.conn)
                .await
                .map_err(ApiError::from)?
                .is_none()
            {
                return Err(ApiError::unprocessable(
                    "unknown_province",
                    format!("province_code：省份 {p} 不存在"),
                )
                .into());
            }
        }
        if let Some(id) = body.school_id {
            let s = school::Entity::find_by_id(id)
                .one(&state.db.conn)
                .await
                .map_err(ApiError::from)?;
            if s.is_none_or(|s| {
                province_code
                    .as_ref()
                    .is_some_and(|p| *p != s.province_code)
            }) {
                return Err(ApiError::unprocessable(
                    "unknown_school",
                    format!("school_id：学校 {id} 不存在或不属于该省份"),
                )
                .into());
            }
        }
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
        let m = account::ActiveModel {
            display_name: Set(display_name.unwrap_or_else(|| username.clone())),
            username: Set(username),
            role: Set(role.as_str().into()),
            password_hash: Set(password_hash),
            province_code: Set(province_code),
            school_id: Set(body.school_id),
            department: Set(department),
            graduate_id: Set(body.graduate_id),
            employer_id: Set(body.employer_id),
            perm_employment: Set(perm(&body.perm_employment, "rw")?),
            perm_archive: Set(perm(&body.perm_archive, default_other)?),
            perm_hukou: Set(perm(&body.perm_hukou, default_other)?),
            active: Set(true),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&state.db.conn)
        .await
        .map_err(|e| match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                ApiError::conflict("username_taken", "用户名已存在")
            }
            _ => ApiError::from(e),
        })?;
        let token = issue_token(&state.db, m.id, "session").await?;
        Ok(Json(json!({"id": m.id, "token": token})))
    }
}
