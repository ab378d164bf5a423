//! Module switches and settings' storage: loading provinces and schools (the school within
//! the caller's scope), the facts the settings rules ask (department-account coverage, what
//! is in flight, whether a module or list was ever used), the review-mode rules, and saving a
//! province's switches, a school, and a school's signing and registration settings — each
//! with its audit record in the same transaction. Also the settings' JSON form, as answered
//! and as audited.

use gradflow_engine::definition::Module;
use gradflow_engine::form::FieldError;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{json, Value};

use crate::auth::{module_label, Caller};
use crate::entity::{province, school};
use crate::error::{ApiError, ApiResult};
use crate::org::{self, department_coverage, in_flight, DepartmentCoverage};
use crate::service::AppState;
use crate::{audit, scope};

pub const SCHOOL_ONLY: &str = "school";
pub const TWO_LEVEL: &str = "department_then_school";

fn mode_label(m: &str) -> &'static str {
    if m == TWO_LEVEL {
        "先院系再校级审核"
    } else {
        "仅校级审核"
    }
}

/// The e-agreement type's label; `None` for an unknown type.
pub fn agreement_label(t: Option<&str>) -> Option<&'static str> {
    match t {
        Some("two_party") => Some("两方协议（学校鉴证）"),
        Some("three_party") => Some("三方协议（学校审核）"),
        _ => None,
    }
}

/// A school's signing settings (签约设置), as answered and as audited.
#[derive(poem_openapi::Object, serde::Serialize)]
pub struct SigningView {
    /// 在线签约开关.
    pub online_signing: bool,
    /// 补登开关.
    pub paper_supplement: bool,
    /// 填报去向登记开关.
    pub destination_registration: bool,
    /// 审核方式: `school` (仅校级审核) or `department_then_school` (先院系再校级审核).
    pub review_mode: String,
    /// The review mode as users read it.
    pub review_mode_label: String,
    /// 可提交解约申请最大次数 (0–99).
    pub termination_cap: i32,
    /// 就业协议经办人信息 by education level (keys `all`, `undergraduate`, `postgraduate`, each
    /// `{name, phone, address, postal_code}`); `{}` until saved.
    pub handler_info: Value,
}

/// A school's archive or hukou registration settings (登记设置), as answered and as audited.
#[derive(poem_openapi::Object, serde::Serialize)]
pub struct RegistrationView {
    /// Whether the school enabled the registration.
    pub enabled: bool,
    /// 审核方式: `school` (仅校级审核) or `department_then_school` (先院系再校级审核).
    pub review_mode: String,
    /// The review mode as users read it.
    pub review_mode_label: String,
}

/// Per module, every roster department with its department-account coverage.
#[derive(poem_openapi::Object, serde::Serialize)]
pub struct DepartmentAccounts {
    /// 就业 (signing and destination).
    pub employment: Vec<DepartmentCoverage>,
    /// 档案.
    pub archive: Vec<DepartmentCoverage>,
    /// 户口.
    pub hukou: Vec<DepartmentCoverage>,
}

/// A school with its settings, as answered and as audited.
#[derive(poem_openapi::Object, serde::Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct SchoolView {
    /// The school's id.
    pub id: i64,
    /// 院校代码 (5 digits).
    pub code: String,
    /// 院校名称.
    pub name: String,
    /// The province it belongs to.
    pub province_code: String,
    /// Whether it saved its signing settings once (graduates can use the module only then).
    pub saved: bool,
    /// 签约设置.
    pub signing: SigningView,
    /// 档案信息登记设置.
    pub archive: RegistrationView,
    /// 户口信息登记设置.
    pub hukou: RegistrationView,
    /// In `GET /schools/{id}/settings`: the school's province with its module switches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub province: Option<ProvinceView>,
    /// In `GET /schools/{id}/settings`: per module, each roster department's department
    /// accounts (what two-level review needs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department_accounts: Option<DepartmentAccounts>,
}

/// A school with its settings, as answered and as audited.
pub fn school_view(s: &school::Model) -> SchoolView {
    let handler: Value = serde_json::from_str(&s.handler_info).unwrap_or_else(|_| json!({}));
    SchoolView {
        id: s.id,
        code: s.code.clone(),
        name: s.name.clone(),
        province_code: s.province_code.clone(),
        saved: s.settings_saved,
        signing: SigningView {
            online_signing: s.signing_enabled,
            paper_supplement: s.supplement_enabled,
            destination_registration: s.destination_enabled,
            review_mode: s.review_mode_employment.clone(),
            review_mode_label: mode_label(&s.review_mode_employment).into(),
            termination_cap: s.termination_cap,
            handler_info: handler,
        },
        archive: RegistrationView {
            enabled: s.archive_enabled,
            review_mode: s.review_mode_archive.clone(),
            review_mode_label: mode_label(&s.review_mode_archive).into(),
        },
        hukou: RegistrationView {
            enabled: s.hukou_enabled,
            review_mode: s.review_mode_hukou.clone(),
            review_mode_label: mode_label(&s.review_mode_hukou).into(),
        },
        province: None,
        department_accounts: None,
    }
}

/// A province's module switches.
#[derive(poem_openapi::Object, serde::Serialize)]
pub struct ModuleSwitches {
    /// 毕业去向登记与网签 enabled (never reversible).
    pub employment: bool,
    /// 档案信息登记 enabled (never reversible).
    pub archive: bool,
    /// 户口信息登记 enabled (never reversible).
    pub hukou: bool,
}

/// A province with its module switches (功能设置), as answered and as audited.
#[derive(poem_openapi::Object, serde::Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct ProvinceView {
    /// The 2-digit province code.
    pub code: String,
    /// The province's name.
    pub name: String,
    /// 电子就业协议书类型: `two_party` (两方协议, 学校鉴证) or `three_party` (三方协议, 学校审核);
    /// absent until chosen.
    pub agreement_type: Option<String>,
    /// The agreement type as users read it.
    pub agreement_type_label: Option<String>,
    /// The modules the province enabled.
    pub modules: ModuleSwitches,
}

/// A province with its module switches, as answered and as audited.
pub fn province_view(p: &province::Model) -> ProvinceView {
    ProvinceView {
        code: p.code.clone(),
        name: p.name.clone(),
        agreement_type: p.agreement_type.clone(),
        agreement_type_label: agreement_label(p.agreement_type.as_deref()).map(str::to_string),
        modules: ModuleSwitches {
            employment: p.employment_enabled,
            archive: p.archive_enabled,
            hukou: p.hukou_enabled,
        },
    }
}

/// A view as the audit log stores it.
fn audited(v: impl serde::Serialize) -> ApiResult<Value> {
    serde_json::to_value(v).map_err(ApiError::internal)
}

/// The province with this code.
pub async fn find_province(state: &AppState, code: &str) -> ApiResult<province::Model> {
    province::Entity::find_by_id(code.to_string())
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| ApiError::not_found("省份不存在"))
}

/// Loads a school the caller may see.
pub async fn visible_school(state: &AppState, c: &Caller, id: i64) -> ApiResult<school::Model> {
    school::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .filter(|s| scope::sees_school(c, s))
        .ok_or_else(|| ApiError::not_found("学校不存在或不在你的管理范围内"))
}

/// The province a school belongs to.
pub async fn province_of(state: &AppState, s: &school::Model) -> ApiResult<province::Model> {
    province::Entity::find_by_id(s.province_code.clone())
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| ApiError::internal(format!("province {} missing", s.province_code)))
}

/// Checks a review-mode change: a valid value; two-level review needs every roster department
/// covered by a read-write department account of exactly that name; any change needs nothing
/// in flight.
pub async fn check_review_mode(
    state: &AppState,
    s: &school::Model,
    module: Module,
    current: &str,
    wanted: &str,
) -> ApiResult<()> {
    if wanted != SCHOOL_ONLY && wanted != TWO_LEVEL {
        return Err(ApiError::unprocessable(
            "invalid_review_mode",
            "review_mode：审核方式只能是 school（仅校级审核）或 department_then_school（先院系再校级审核）",
        ));
    }
    if wanted == current {
        return Ok(());
    }
    if wanted == TWO_LEVEL {
        let coverage = department_coverage(&state.db, s.id, module).await?;
        if coverage.is_empty() {
            return Err(ApiError::unprocessable(
                "departments_missing",
                "学生名单中还没有院系，暂不能选择“先院系再校级审核”",
            ));
        }
        let lacking: Vec<String> = coverage
            .iter()
            .filter(|d| d.read_write == 0)
            .map(|d| {
                if d.accounts == 0 {
                    format!("{}（没有院系账号）", d.department)
                } else {
                    format!("{}（院系账号没有读写权限）", d.department)
                }
            })
            .collect();
        if !lacking.is_empty() {
            let mut e = ApiError::unprocessable(
                "department_accounts_missing",
                format!(
                    "选择“先院系再校级审核”需要学生名单中的每个院系都有名称完全一致、且至少一个有“{}”读写权限的院系账号。以下院系不满足：{}",
                    module_label(module),
                    lacking.join("、")
                ),
            );
            e.body.errors = coverage
                .iter()
                .filter(|d| d.read_write == 0)
                .map(|d| FieldError {
                    field: "review_mode".into(),
                    label: d.department.clone(),
                    code: "department_account_missing".into(),
                    message: format!("{}：没有名称完全一致且有读写权限的院系账号", d.department),
                })
                .collect();
            return Err(e);
        }
    }
    let f = in_flight(&state.db, s.id, module).await?;
    if f.unfinished > 0 || f.pending_review > 0 {
        return Err(ApiError::conflict(
            "review_mode_in_flight",
            format!(
                "还有 {} 条处于流程中的数据（其中 {} 条待学校或院系审核），全部处理完成后才能修改审核方式",
                f.unfinished, f.pending_review
            ),
        ));
    }
    Ok(())
}

/// For each module, every roster department of the school with its department-account
/// coverage.
pub async fn department_coverage_by_module(
    state: &AppState,
    s: &school::Model,
) -> ApiResult<Vec<(Module, Vec<DepartmentCoverage>)>> {
    let mut out = Vec::new();
    for m in [Module::Employment, Module::Archive, Module::Hukou] {
        out.push((m, department_coverage(&state.db, s.id, m).await?));
    }
    Ok(out)
}

/// Whether anyone acted in the module at the school: any instance at all, finished or not.
pub async fn module_used(state: &AppState, school_id: i64, module: Module) -> ApiResult<bool> {
    org::any_activity(&state.db, school_id, module).await
}

/// Whether any instance of the management list (补登, 填报去向登记) exists at the school.
pub async fn list_used(state: &AppState, school_id: i64, list: &str) -> ApiResult<bool> {
    org::any_activity_in_list(&state.db, school_id, list).await
}

/// A province's module switches and e-agreement type, as they are to be saved.
pub struct ProvinceSwitches {
    pub agreement_type: Option<String>,
    pub employment: bool,
    pub archive: bool,
    pub hukou: bool,
}

/// Saves a province's switches, audited as `province.settings`; returns the saved province.
pub async fn save_province_settings(
    state: &AppState,
    c: &Caller,
    p: &province::Model,
    switches: ProvinceSwitches,
) -> ApiResult<province::Model> {
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let mut am: province::ActiveModel = p.clone().into();
    am.agreement_type = Set(switches.agreement_type);
    am.employment_enabled = Set(switches.employment);
    am.archive_enabled = Set(switches.archive);
    am.hukou_enabled = Set(switches.hukou);
    let m = am.update(&txn).await?;
    audit::commit(
        txn,
        c,
        now,
        "province.settings",
        ("province", m.code.clone()),
        audited(province_view(&m))?,
    )
    .await?;
    Ok(m)
}

/// The province's schools, by code.
pub async fn schools_of_province(state: &AppState, code: &str) -> ApiResult<Vec<school::Model>> {
    Ok(school::Entity::find()
        .filter(school::Column::ProvinceCode.eq(code.to_string()))
        .order_by_asc(school::Column::Code)
        .all(&state.db.conn)
        .await?)
}

/// Adds a school to the province, or renames it when its code is the province's already
/// (409 when the code belongs to another province); audited as `school.upsert`.
pub async fn upsert_school(
    state: &AppState,
    c: &Caller,
    p: &province::Model,
    school_code: String,
    name: String,
) -> ApiResult<school::Model> {
    let existing = school::Entity::find()
        .filter(school::Column::Code.eq(school_code.clone()))
        .one(&state.db.conn)
        .await?;
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let m = match existing {
        Some(s) if s.province_code != p.code => {
            return Err(ApiError::conflict(
                "school_in_other_province",
                format!("code：院校代码 {school_code} 已属于其他省份"),
            ))
        }
        Some(s) => {
            let mut am: school::ActiveModel = s.into();
            am.name = Set(name);
            am.update(&txn).await
        }
        None => {
            school::ActiveModel {
                code: Set(school_code),
                name: Set(name),
                province_code: Set(p.code.clone()),
                review_mode_employment: Set(SCHOOL_ONLY.into()),
                review_mode_archive: Set(SCHOOL_ONLY.into()),
                review_mode_hukou: Set(SCHOOL_ONLY.into()),
                signing_enabled: Set(false),
                archive_enabled: Set(false),
                hukou_enabled: Set(false),
                termination_cap: Set(3),
                handler_info: Set("{}".into()),
                settings_saved: Set(false),
                ..Default::default()
            }
            .insert(&txn)
            .await
        }
    }?;
    audit::commit(
        txn,
        c,
        now,
        "school.upsert",
        ("school", m.id.to_string()),
        json!({"code": m.code, "name": m.name}),
    )
    .await?;
    Ok(m)
}

/// A school's signing settings (签约设置), as they are to be saved.
pub struct SigningChange {
    pub online_signing: bool,
    pub supplement: bool,
    pub destination: bool,
    pub review_mode: String,
    pub termination_cap: i32,
    /// The normalised handler info by education-level group.
    pub handler_info: Value,
}

/// Saves a school's signing settings and marks its settings saved, audited as
/// `school.settings.signing`; returns the saved school.
pub async fn save_signing_settings(
    state: &AppState,
    c: &Caller,
    s: school::Model,
    change: SigningChange,
) -> ApiResult<school::Model> {
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let mut am: school::ActiveModel = s.into();
    am.signing_enabled = Set(change.online_signing);
    am.supplement_enabled = Set(change.supplement);
    am.destination_enabled = Set(change.destination);
    am.review_mode_employment = Set(change.review_mode);
    am.termination_cap = Set(change.termination_cap);
    am.handler_info = Set(change.handler_info.to_string());
    am.settings_saved = Set(true);
    let m = am.update(&txn).await?;
    audit::commit(
        txn,
        c,
        now,
        "school.settings.signing",
        ("school", m.id.to_string()),
        audited(school_view(&m).signing)?,
    )
    .await?;
    Ok(m)
}

/// Saves a school's archive or hukou registration settings (登记设置), audited as
/// `school.settings.archive` or `school.settings.hukou`; returns the saved school.
pub async fn save_registration_settings(
    state: &AppState,
    c: &Caller,
    s: school::Model,
    m: Module,
    enabled: bool,
    review_mode: String,
) -> ApiResult<school::Model> {
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let mut am: school::ActiveModel = s.into();
    match m {
        Module::Archive => {
            am.archive_enabled = Set(enabled);
            am.review_mode_archive = Set(review_mode);
        }
        _ => {
            am.hukou_enabled = Set(enabled);
            am.review_mode_hukou = Set(review_mode);
        }
    }
    let saved = am.update(&txn).await?;
    audit::commit(
        txn,
        c,
        now,
        &format!("school.settings.{}", org::module_key(m)),
        ("school", saved.id.to_string()),
        {
            let v = school_view(&saved);
            audited(if m == Module::Archive {
                v.archive
            } else {
                v.hukou
            })?
        },
    )
    .await?;
    Ok(saved)
}
