//! Module switches and settings (SPEC.md 2): the province enables modules (irreversibly) and
//! chooses the e-agreement type; a school saves its signing settings and its archive and
//! hukou registration settings, with every refusal the guides name.

use gradflow_engine::definition::Module;
use gradflow_engine::form::{FieldError, Form};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::{json, Value};

use super::{answers, caller, Tag, Token};
use crate::auth::{AccountRole, Caller};
use crate::entity::province;
use crate::error::{ApiError, ApiResult};
use crate::org::parse_module;
use crate::service::State;
use crate::services::settings::{
    self, agreement_label, province_view, school_view, DepartmentAccounts, ProvinceSwitches,
    ProvinceView, SchoolView, SigningChange,
};
pub use crate::services::settings::{visible_school, SCHOOL_ONLY, TWO_LEVEL};

/// The agreement handler form (就业协议经办人信息), one per education-level group.
const HANDLER_FORM: &str = r#"
- {name: name, label: 经办人姓名, type: text, max: 20, required: true}
- {name: phone, label: 联系电话, type: phone, required: true}
- {name: address, label: 学校通讯地址, type: text, max: 100, required: true}
- {name: postal_code, label: 邮政编码, type: postal_code, required: true}
"#;

/// The education-level groups of handler info and their labels.
const HANDLER_GROUPS: [(&str, &str); 3] = [
    ("all", "全部"),
    ("undergraduate", "本专科"),
    ("postgraduate", "研究生"),
];

/// A province's module switches and e-agreement type to save (absent fields stay as they are).
#[derive(Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct ProvinceSettings {
    /// 毕业去向登记与网签: `true` enables it (never reversible); needs `agreement_type`.
    pub employment_enabled: Option<bool>,
    /// 电子就业协议书类型: `two_party` (两方协议, 学校鉴证) or `three_party` (三方协议, 学校审核);
    /// fixed once the signing module is enabled.
    pub agreement_type: Option<String>,
    /// 档案信息登记 (never reversible once enabled).
    pub archive_enabled: Option<bool>,
    /// 户口信息登记 (never reversible once enabled).
    pub hukou_enabled: Option<bool>,
}

impl poem_openapi::types::Example for ProvinceSettings {
    fn example() -> Self {
        ProvinceSettings {
            employment_enabled: Some(true),
            agreement_type: Some("three_party".into()),
            archive_enabled: Some(true),
            hukou_enabled: None,
        }
    }
}

/// A school to add to the province (or to rename).
#[derive(Object)]
#[oai(example)]
pub struct NewSchool {
    /// 院校代码: 5 digits (10001 = 北京大学; `school_code_format` otherwise).
    pub code: String,
    /// 院校名称: 1–100 characters after trimming (`invalid_name` otherwise).
    pub name: String,
}

impl poem_openapi::types::Example for NewSchool {
    fn example() -> Self {
        NewSchool {
            code: "10459".into(),
            name: "郑州大学".into(),
        }
    }
}

/// A school's signing settings (签约设置).
#[derive(Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct SigningSettings {
    /// 在线签约开关 (also opens 补登 and 填报去向登记).
    pub online_signing: bool,
    /// 审核方式: `school` (仅校级审核) or `department_then_school` (先院系再校级审核).
    pub review_mode: String,
    /// 可提交解约申请最大次数: 0–99.
    #[oai(validator(minimum(value = "0"), maximum(value = "99")))]
    pub termination_cap: i64,
    /// 补登开关; absent: unchanged (on by default, and turned on with online signing).
    pub paper_supplement: Option<bool>,
    /// 填报去向登记; absent: unchanged (on by default, and turned on with online signing).
    pub destination_registration: Option<bool>,
    /// 就业协议经办人信息 by education level: an object with the keys `all`, `undergraduate`
    /// and/or `postgraduate`, each `{name, phone, address, postal_code}` (经办人姓名 at most 20
    /// characters, 联系电话, 学校通讯地址 at most 100 characters, 邮政编码); at least one group.
    pub handler_info: Value,
}

impl poem_openapi::types::Example for SigningSettings {
    fn example() -> Self {
        SigningSettings {
            online_signing: true,
            review_mode: "department_then_school".into(),
            termination_cap: 3,
            paper_supplement: Some(true),
            destination_registration: Some(true),
            handler_info: json!({"all": {
                "name": "李老师",
                "phone": "025-83592442",
                "address": "江苏省南京市鼓楼区汉口路22号",
                "postal_code": "210093"
            }}),
        }
    }
}

/// A school's archive or hukou registration settings (登记设置).
#[derive(Object)]
#[oai(example)]
pub struct RegistrationSettings {
    /// 开启档案（户口）信息登记.
    pub enabled: bool,
    /// 审核方式: `school` (仅校级审核) or `department_then_school` (先院系再校级审核).
    pub review_mode: String,
}

impl poem_openapi::types::Example for RegistrationSettings {
    fn example() -> Self {
        RegistrationSettings {
            enabled: true,
            review_mode: "school".into(),
        }
    }
}

/// A province and its schools.
#[derive(Object)]
pub struct ProvinceSchools {
    /// The province with its module switches.
    pub province: ProvinceView,
    /// Its schools with their settings, by school code.
    pub items: Vec<SchoolView>,
}

answers! {
    /// The answers of `GET /provinces/{code}/settings`.
    pub enum ProvinceSettingsAnswer {
        /// The province's switches.
        200 Ok(Json<ProvinceView>),
        errors:
        /// A query parameter was sent (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not a province user (`forbidden`).
        403 Forbidden,
        /// Not the caller's province, or no such province (`not_found`).
        404 NotFound,
        /// A control character in the path (`invalid_input` with `control_character`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `PUT /provinces/{code}/settings`.
    pub enum SetProvinceSettingsAnswer {
        /// The province's switches after saving.
        200 Ok(Json<ProvinceView>),
        errors:
        /// The body is not the JSON the operation takes, or a query parameter was sent
        /// (`invalid_body`, `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not a province user, or no read-write permission in a module changed (`forbidden`).
        403 Forbidden,
        /// Not the caller's province, or no such province (`not_found`).
        404 NotFound,
        /// An enabled module cannot be switched off, nor the agreement type changed once signing
        /// is enabled (`module_irreversible`, `agreement_type_fixed`).
        409 Conflict,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// A field breaks a rule (`invalid_agreement_type`, `agreement_type_required`,
        /// `invalid_type`; `invalid_input` with `control_character`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `GET /provinces/{code}/schools`.
    pub enum ProvinceSchoolsAnswer {
        /// The province and its schools.
        200 Ok(Json<ProvinceSchools>),
        errors:
        /// A query parameter was sent (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not a province user (`forbidden`).
        403 Forbidden,
        /// Not the caller's province, or no such province (`not_found`).
        404 NotFound,
        /// A control character in the path (`invalid_input` with `control_character`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `POST /provinces/{code}/schools`.
    pub enum AddSchoolAnswer {
        /// The school added or renamed.
        200 Ok(Json<Box<SchoolView>>),
        errors:
        /// The body is not the JSON the operation takes, or a query parameter was sent
        /// (`invalid_body`, `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not a province user with read-write 就业 permission (`forbidden`).
        403 Forbidden,
        /// Not the caller's province, or no such province (`not_found`).
        404 NotFound,
        /// The school code belongs to another province (`school_in_other_province`).
        409 Conflict,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// A field breaks a rule (`school_code_format`, `invalid_name`, `invalid_type`;
        /// `invalid_input` with `control_character`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `GET /schools/{id}/settings`.
    pub enum SchoolSettingsAnswer {
        /// The school's settings with its province and department-account coverage.
        200 Ok(Json<Box<SchoolView>>),
        errors:
        /// The id does not parse, or a query parameter was sent (`invalid_path_parameter`,
        /// `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// No such school in the caller's scope (`not_found`).
        404 NotFound,
    }
}

answers! {
    /// The answers of `PUT /schools/{id}/settings/signing`.
    pub enum SetSigningAnswer {
        /// The school's settings after saving.
        200 Ok(Json<Box<SchoolView>>),
        errors:
        /// The id does not parse, the body is not the JSON the operation takes, or a query
        /// parameter was sent (`invalid_path_parameter`, `invalid_body`, `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not the school's own school user with read-write 就业 permission (`forbidden`).
        403 Forbidden,
        /// No such school in the caller's scope (`not_found`).
        404 NotFound,
        /// A switch cannot be turned off once used, or the review mode cannot change while
        /// data is in flight (`signing_irreversible`, `supplement_irreversible`,
        /// `destination_irreversible`, `review_mode_in_flight`).
        409 Conflict,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// The province has not enabled signing, or a field breaks a rule (`module_disabled`,
        /// `invalid_handler_info`, `invalid_review_mode`, `departments_missing`,
        /// `department_accounts_missing`, `invalid_type`; `invalid_input` per field
        /// `out_of_range`, `required`, `unknown_field`, `control_character` and the handler
        /// form's codes).
        422 Invalid,
    }
}

answers! {
    /// The answers of `PUT /schools/{id}/settings/registration/{module}`.
    pub enum SetRegistrationAnswer {
        /// The school's settings after saving.
        200 Ok(Json<Box<SchoolView>>),
        errors:
        /// The id does not parse, the body is not the JSON the operation takes, or a query
        /// parameter was sent (`invalid_path_parameter`, `invalid_body`, `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not the school's own school user with read-write permission in the module
        /// (`forbidden`).
        403 Forbidden,
        /// No such school in the caller's scope, or a module other than `archive` and `hukou`
        /// (`not_found`).
        404 NotFound,
        /// The registration cannot be turned off once used, or the review mode cannot change
        /// while data is in flight (`registration_irreversible`, `review_mode_in_flight`).
        409 Conflict,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// The province has not enabled the module, or a field breaks a rule
        /// (`module_disabled`, `invalid_review_mode`, `departments_missing`,
        /// `department_accounts_missing`, `invalid_type`; `invalid_input` with
        /// `control_character`).
        422 Invalid,
    }
}

async fn load_province(state: &State, c: &Caller, code: &str) -> ApiResult<province::Model> {
    let visible = match c.role {
        AccountRole::Admin => true,
        AccountRole::Province => c.actor.province.as_deref() == Some(code),
        _ => false,
    };
    if !visible {
        return Err(if c.role == AccountRole::Province {
            ApiError::not_found("省份不存在或不归你管理")
        } else {
            ApiError::forbidden("只有省级用户可以查看和修改本省的功能设置")
        });
    }
    settings::find_province(state, code).await
}

/// Refuses unless the caller is the school's own school user (or the administrator) with
/// read-write level in `module`.
fn require_school_user(c: &Caller, module: Module) -> ApiResult<()> {
    match c.role {
        AccountRole::Admin | AccountRole::School => c.require_write(module),
        AccountRole::Department => Err(ApiError::forbidden(
            "院系用户不能修改学校设置，请联系学校用户",
        )),
        _ => Err(ApiError::forbidden("只有学校用户可以修改本校的设置")),
    }
}

/// Validates handler info by education-level group; returns the normalised object.
fn check_handler_info(state: &State, v: &Value) -> ApiResult<Value> {
    let form: Form = serde_norway::from_str(HANDLER_FORM).map_err(ApiError::internal)?;
    let Some(obj) = v.as_object() else {
        return Err(ApiError::unprocessable(
            "invalid_handler_info",
            "handler_info：应为按学历层次（all / undergraduate / postgraduate）填写的经办人信息",
        ));
    };
    let mut errors = Vec::new();
    let mut out = serde_json::Map::new();
    for key in obj.keys() {
        if !HANDLER_GROUPS.iter().any(|(k, _)| k == key) {
            errors.push(FieldError {
                field: format!("handler_info.{key}"),
                label: key.clone(),
                code: "unknown_field".into(),
                message: format!(
                    "handler_info.{key}：学历层次只能是 all（全部）、undergraduate（本专科）或 postgraduate（研究生）"
                ),
            });
        }
    }
    let snap = state.registry.snapshot();
    for (key, label) in HANDLER_GROUPS {
        let Some(group) = obj.get(key).filter(|g| !g.is_null()) else {
            continue;
        };
        match form.validate(group, snap.code_lookup()) {
            Ok(valid) => {
                out.insert(key.to_string(), Value::Object(valid.values));
            }
            Err(errs) => errors.extend(errs.into_iter().map(|e| FieldError {
                field: format!("handler_info.{key}.{}", e.field),
                message: format!("{label}经办人信息 {}", e.message),
                ..e
            })),
        }
    }
    if errors.is_empty() && out.is_empty() {
        errors.push(FieldError {
            field: "handler_info".into(),
            label: "就业协议经办人信息".into(),
            code: "required".into(),
            message: "就业协议经办人信息：至少填写“全部”或按学历层次填写一组".into(),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    Ok(Value::Object(out))
}

/// Whether the province enabled the module.
fn province_enabled(p: &province::Model, m: Module) -> bool {
    match m {
        Module::Employment => p.employment_enabled,
        Module::Archive => p.archive_enabled,
        Module::Hukou => p.hukou_enabled,
    }
}

pub struct SettingsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Settings")]
impl SettingsApi {
    /// A province's module switches and e-agreement type (功能设置).
    ///
    /// The province's own province users (and the administrator): which modules the province
    /// enabled and which e-agreement type it chose.
    #[oai(
        path = "/provinces/:code/settings",
        method = "get",
        operation_id = "settings_province_settings"
    )]
    async fn province_settings(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The province's 2-digit code.
        code: Path<String>,
    ) -> poem::Result<ProvinceSettingsAnswer> {
        let c = caller(&state, &auth).await?;
        let p = load_province(&state, &c, &code).await?;
        Ok(ProvinceSettingsAnswer::Ok(Json(province_view(&p))))
    }

    /// Enable modules for the province and choose the e-agreement type.
    ///
    /// The province's own province users (and the administrator), with read-write permission in
    /// each module they switch. Enabling is irreversible; the agreement type is fixed once the
    /// signing module is enabled, and enabling it needs one.
    #[oai(
        path = "/provinces/:code/settings",
        method = "put",
        operation_id = "settings_set_province_settings"
    )]
    async fn set_province_settings(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The province's 2-digit code.
        code: Path<String>,
        body: Json<ProvinceSettings>,
    ) -> poem::Result<SetProvinceSettingsAnswer> {
        let c = caller(&state, &auth).await?;
        let p = load_province(&state, &c, &code).await?;
        let wanted = [
            (Module::Employment, body.employment_enabled),
            (Module::Archive, body.archive_enabled),
            (Module::Hukou, body.hukou_enabled),
        ];
        for (m, on) in wanted {
            if on.is_some() {
                c.require_write(m)?;
            }
            if on == Some(false) && province_enabled(&p, m) {
                return Err(ApiError::conflict(
                    "module_irreversible",
                    format!("“{}”功能开启后不能关闭", module_title(m)),
                )
                .into());
            }
        }
        let mut agreement_type = p.agreement_type.clone();
        if let Some(t) = &body.agreement_type {
            if agreement_label(Some(t)).is_none() {
                return Err(ApiError::unprocessable(
                    "invalid_agreement_type",
                    "agreement_type：电子就业协议书类型只能是 two_party（两方协议）或 three_party（三方协议）",
                )
                .into());
            }
            if p.employment_enabled && p.agreement_type.as_deref() != Some(t.as_str()) {
                return Err(ApiError::conflict(
                    "agreement_type_fixed",
                    "本省已开启“毕业去向登记与网签”，电子就业协议书类型不能再更改",
                )
                .into());
            }
            c.require_write(Module::Employment)?;
            agreement_type = Some(t.clone());
        }
        let employment = body.employment_enabled.unwrap_or(p.employment_enabled);
        if employment && agreement_type.is_none() {
            return Err(ApiError::unprocessable(
                "agreement_type_required",
                "agreement_type：开启“毕业去向登记与网签”需先选择电子就业协议书类型（两方协议或三方协议）",
            )
            .into());
        }
        let switches = ProvinceSwitches {
            agreement_type,
            employment,
            archive: body.archive_enabled.unwrap_or(p.archive_enabled),
            hukou: body.hukou_enabled.unwrap_or(p.hukou_enabled),
        };
        let m = settings::save_province_settings(&state, &c, &p, switches).await?;
        Ok(SetProvinceSettingsAnswer::Ok(Json(province_view(&m))))
    }

    /// The province's schools and the modules each enabled.
    ///
    /// The province's own province users (and the administrator): every school of the province
    /// with the modules it enabled and whether it saved its signing settings (the province's
    /// view of which schools enabled what), by school code.
    #[oai(
        path = "/provinces/:code/schools",
        method = "get",
        operation_id = "settings_province_schools"
    )]
    async fn province_schools(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The province's 2-digit code.
        code: Path<String>,
    ) -> poem::Result<ProvinceSchoolsAnswer> {
        let c = caller(&state, &auth).await?;
        let p = load_province(&state, &c, &code).await?;
        let rows = settings::schools_of_province(&state, &p.code).await?;
        Ok(ProvinceSchoolsAnswer::Ok(Json(ProvinceSchools {
            province: province_view(&p),
            items: rows.iter().map(school_view).collect(),
        })))
    }

    /// Add a school to the province (or rename it): 5-digit school code, name.
    ///
    /// The province's own province users (and the administrator) with read-write 就业
    /// permission. A code the province has already renames that school; a code of another
    /// province is refused.
    #[oai(
        path = "/provinces/:code/schools",
        method = "post",
        operation_id = "settings_add_school"
    )]
    async fn add_school(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The province's 2-digit code.
        code: Path<String>,
        body: Json<NewSchool>,
    ) -> poem::Result<AddSchoolAnswer> {
        let c = caller(&state, &auth).await?;
        let p = load_province(&state, &c, &code).await?;
        c.require_write(Module::Employment)?;
        let school_code = body.code.trim().to_string();
        if school_code.len() != 5 || !school_code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(
                ApiError::unprocessable("school_code_format", "code：院校代码应为5位数字").into(),
            );
        }
        let name = body.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ApiError::unprocessable(
                "invalid_name",
                "name：院校名称不能为空，且不超过 100 个字",
            )
            .into());
        }
        let m = settings::upsert_school(&state, &c, &p, school_code, name).await?;
        Ok(AddSchoolAnswer::Ok(Json(Box::new(school_view(&m)))))
    }

    /// A school's signing and registration settings.
    ///
    /// Whoever sees the school (its province's users, its own school and department users, the
    /// administrator): its signing and registration settings, its province's switches, and
    /// each roster department's account coverage per module (what two-level review needs).
    #[oai(
        path = "/schools/:id/settings",
        method = "get",
        operation_id = "settings_school_settings"
    )]
    async fn school_settings(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The school's id.
        id: Path<i64>,
    ) -> poem::Result<SchoolSettingsAnswer> {
        let c = caller(&state, &auth).await?;
        let s = visible_school(&state, &c, *id).await?;
        let p = settings::province_of(&state, &s).await?;
        let mut v = school_view(&s);
        v.province = Some(province_view(&p));
        let mut coverage = DepartmentAccounts {
            employment: Vec::new(),
            archive: Vec::new(),
            hukou: Vec::new(),
        };
        for (m, departments) in settings::department_coverage_by_module(&state, &s).await? {
            match m {
                Module::Employment => coverage.employment = departments,
                Module::Archive => coverage.archive = departments,
                Module::Hukou => coverage.hukou = departments,
            }
        }
        v.department_accounts = Some(coverage);
        Ok(SchoolSettingsAnswer::Ok(Json(Box::new(v))))
    }

    /// Save the school's signing settings (签约设置).
    ///
    /// The school's own school users with read-write 就业 permission (and the administrator),
    /// once the province enabled signing and chose the agreement type. Graduates can use the
    /// module only after this was saved once. Switches that were used cannot be turned off; the
    /// review mode changes only with nothing in flight.
    #[oai(
        path = "/schools/:id/settings/signing",
        method = "put",
        operation_id = "settings_set_signing"
    )]
    async fn set_signing(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The school's id.
        id: Path<i64>,
        body: Json<SigningSettings>,
    ) -> poem::Result<SetSigningAnswer> {
        let c = caller(&state, &auth).await?;
        let s = visible_school(&state, &c, *id).await?;
        require_school_user(&c, Module::Employment)?;
        let p = settings::province_of(&state, &s).await?;
        if !p.employment_enabled || p.agreement_type.is_none() {
            return Err(ApiError::unprocessable(
                "module_disabled",
                "本省尚未开启“毕业去向登记与网签”或尚未设置电子就业协议书类型，学校暂不能进行签约设置",
            )
            .into());
        }
        if !(0..=99).contains(&body.termination_cap) {
            return Err(ApiError::invalid(vec![FieldError {
                field: "termination_cap".into(),
                label: "可提交解约申请最大次数".into(),
                code: "out_of_range".into(),
                message: "可提交解约申请最大次数：应为 0–99 的整数".into(),
            }])
            .into());
        }
        let handler = check_handler_info(&state, &body.handler_info)?;
        if s.signing_enabled
            && !body.online_signing
            && settings::module_used(&state, s.id, Module::Employment).await?
        {
            return Err(ApiError::conflict(
                "signing_irreversible",
                "已有毕业生或用人单位进行过操作，在线签约不能再关闭",
            )
            .into());
        }
        settings::check_review_mode(
            &state,
            &s,
            Module::Employment,
            &s.review_mode_employment,
            &body.review_mode,
        )
        .await?;
        // Switching online signing on also switches 补登 and 填报去向登记 on; each is its own
        // switch after that, and stays on once a graduate used it.
        let turned_on = body.online_signing && !s.signing_enabled;
        let supplement = body
            .paper_supplement
            .unwrap_or(s.supplement_enabled || turned_on);
        let destination = body
            .destination_registration
            .unwrap_or(s.destination_enabled || turned_on);
        for (was, now_on, list, code, name) in [
            (
                s.supplement_enabled,
                supplement,
                "supplement",
                "supplement_irreversible",
                "补登",
            ),
            (
                s.destination_enabled,
                destination,
                crate::facts::DESTINATION_LIST,
                "destination_irreversible",
                "填报去向登记",
            ),
        ] {
            if was && !now_on && settings::list_used(&state, s.id, list).await? {
                return Err(ApiError::conflict(
                    code,
                    format!("已有毕业生进行过{name}，“{name}”不能再关闭"),
                )
                .into());
            }
        }
        let change = SigningChange {
            online_signing: body.online_signing,
            supplement,
            destination,
            review_mode: body.review_mode.clone(),
            termination_cap: body.termination_cap as i32,
            handler_info: handler,
        };
        let m = settings::save_signing_settings(&state, &c, s, change).await?;
        Ok(SetSigningAnswer::Ok(Json(Box::new(school_view(&m)))))
    }

    /// Save the school's archive or hukou registration settings (登记设置).
    ///
    /// The school's own school users with read-write permission in the module (and the
    /// administrator), once the province enabled the module. A registration that was used
    /// cannot be turned off; the review mode changes only with nothing in flight.
    #[oai(
        path = "/schools/:id/settings/registration/:module",
        method = "put",
        operation_id = "settings_set_registration"
    )]
    async fn set_registration(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The school's id.
        id: Path<i64>,
        /// The module: `archive` (档案) or `hukou` (户口).
        module: Path<String>,
        body: Json<RegistrationSettings>,
    ) -> poem::Result<SetRegistrationAnswer> {
        let c = caller(&state, &auth).await?;
        let s = visible_school(&state, &c, *id).await?;
        let m = parse_module(&module)
            .filter(|m| *m != Module::Employment)
            .ok_or_else(|| {
                ApiError::not_found("登记设置只有 archive（档案）和 hukou（户口）两类")
            })?;
        require_school_user(&c, m)?;
        let p = settings::province_of(&state, &s).await?;
        if !province_enabled(&p, m) {
            return Err(ApiError::unprocessable(
                "module_disabled",
                format!("本省尚未开启“{}”功能", module_title(m)),
            )
            .into());
        }
        let (enabled_now, mode_now) = match m {
            Module::Archive => (s.archive_enabled, s.review_mode_archive.clone()),
            _ => (s.hukou_enabled, s.review_mode_hukou.clone()),
        };
        if enabled_now && !body.enabled && settings::module_used(&state, s.id, m).await? {
            return Err(ApiError::conflict(
                "registration_irreversible",
                format!("已有毕业生进行过操作，“{}”不能再关闭", module_title(m)),
            )
            .into());
        }
        settings::check_review_mode(&state, &s, m, &mode_now, &body.review_mode).await?;
        let saved = settings::save_registration_settings(
            &state,
            &c,
            s,
            m,
            body.enabled,
            body.review_mode.clone(),
        )
        .await?;
        Ok(SetRegistrationAnswer::Ok(Json(Box::new(school_view(
            &saved,
        )))))
    }
}

pub use crate::auth::module_title;
