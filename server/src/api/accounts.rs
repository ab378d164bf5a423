//! Accounts (SPEC.md 1, 1.1): a province user creates and manages its schools' accounts, a
//! school user its departments' accounts (whose department must equal a roster department
//! character for character); module permission levels; API keys for integrator systems (the
//! employment management system of a province or a school); changing one's own password.

use gradflow_engine::definition::Module;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::{json, Value};

use super::{caller, Tag, Token};
use crate::auth::{hash_new_password, AccountRole, Caller, KeyKind};
use crate::entity::account;
use crate::error::{ApiError, ApiResult};
use crate::service::State;
use crate::services::accounts::{self as service, account_view, NewManagedAccount};

#[derive(Object)]
pub struct NewAccount {
    /// Login name, unique nationwide (3–50 characters).
    pub username: String,
    /// The person or office shown in lists.
    pub display_name: Option<String>,
    /// At least 8 characters; stored as an argon2 hash only.
    pub password: String,
    /// A province user creates `school` accounts, a school user `department` accounts.
    pub role: String,
    /// For school accounts created by a province user: the school.
    pub school_id: Option<i64>,
    /// For department accounts: the department name exactly as in the graduate roster.
    pub department: Option<String>,
    /// rw / ro / none; defaults (SPEC.md 1.1): employment rw, archive none, hukou none.
    pub perm_employment: Option<String>,
    pub perm_archive: Option<String>,
    pub perm_hukou: Option<String>,
}

#[derive(Object)]
pub struct ActiveRequest {
    /// false disables the account and ends its sessions; true enables it again.
    pub active: bool,
}

#[derive(Object)]
pub struct PasswordChange {
    pub old_password: String,
    pub new_password: String,
}

#[derive(Object)]
pub struct NewApiKey {
    /// What the key is for, e.g. "江苏省就业管理系统".
    pub name: String,
    /// A province user may bind the key to one of its schools; without it the key covers the
    /// whole province. A school user's key always covers its own school.
    pub school_id: Option<i64>,
    /// The system administrator's keys: the province the key covers (without `school_id`;
    /// neither = nationwide, for an identity key).
    pub province_code: Option<String>,
    /// `roster` (default): the employment management system, which may only upload, delete
    /// and restore the roster. `identity`: the identity provider, which may only issue
    /// graduate sessions; only the system administrator creates such keys.
    pub kind: Option<String>,
}

/// Refuses unless the caller is a province or school user (or the administrator) who may
/// manage accounts.
fn require_manager(c: &Caller) -> ApiResult<()> {
    if !matches!(
        c.role,
        AccountRole::Admin | AccountRole::Province | AccountRole::School
    ) {
        return Err(ApiError::forbidden(
            "只有省级用户和学校用户可以管理下级账号",
        ));
    }
    c.require_write(Module::Employment)
}

fn level(field: &str, label: &str, v: &Option<String>, default: &str) -> ApiResult<String> {
    let v = v.clone().unwrap_or_else(|| default.to_string());
    check_level(field, label, &v)?;
    Ok(v)
}

#[derive(Object)]
pub struct PermissionsRequest {
    /// 基本信息和就业信息: rw (读写) / ro (只读) / none (无权限)
    pub employment: String,
    /// 档案信息
    pub archive: String,
    /// 户口信息
    pub hukou: String,
}

fn check_level(field: &str, label: &str, v: &str) -> Result<(), ApiError> {
    if ["rw", "ro", "none"].contains(&v) {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "invalid_permission",
            format!("{field}：{label}权限只能是 rw（读写）、ro（只读）或 none（无权限）"),
        ))
    }
}

pub struct AccountsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Accounts")]
impl AccountsApi {
    /// The accounts the caller manages.
    ///
    /// The accounts the caller manages: a province user its schools' accounts, a school user its
    /// departments' accounts.
    ///
    /// Filters: role, school_id, department; paged.
    #[oai(path = "/accounts", method = "get", operation_id = "accounts_list")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&State>,
        auth: Token,
        role: Query<Option<String>>,
        school_id: Query<Option<i64>>,
        department: Query<Option<String>>,
        page: Query<Option<u64>>,
        page_size: Query<Option<u64>>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        require_manager(&c)?;
        let service::ManagedAccounts { page: p, roster } = service::list_managed_accounts(
            &state,
            &c,
            role.0,
            school_id.0,
            department.0,
            page.0,
            page_size.0,
        )
        .await?;
        let (page, page_size, total, items) = (p.page, p.size, p.total, p.rows);
        // Department accounts whose name is not (or no longer) a roster department cannot
        // review: say so on each.
        let views: Vec<Value> = items
            .iter()
            .map(|a| {
                let mut v = account_view(a);
                if a.role == "department" {
                    let ok = a
                        .school_id
                        .and_then(|s| roster.get(&s))
                        .zip(a.department.as_ref())
                        .is_some_and(|(names, d)| names.contains(d));
                    v["department_in_roster"] = json!(ok);
                    if !ok {
                        v["department_warning"] =
                            json!("该院系账号的院系名称与学生名单中的院系名称不一致，无法进行审核");
                    }
                }
                v
            })
            .collect();
        Ok(Json(json!({
            "total": total,
            "page": page,
            "page_size": page_size,
            "items": views,
        })))
    }

    /// Create a school account.
    ///
    /// Create a school account (province users, for a school of the province) or a department
    /// account (school users; the department must be named exactly as in the roster).
    #[oai(path = "/accounts", method = "post", operation_id = "accounts_create")]
    async fn create(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<NewAccount>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        require_manager(&c)?;
        let username = body.username.trim().to_string();
        if !(3..=50).contains(&username.chars().count()) {
            return Err(ApiError::unprocessable(
                "invalid_username",
                "username：用户名应为 3–50 个字符",
            )
            .into());
        }
        let mut f = crate::input::Fields::new();
        let display_name = f.opt_text("display_name", "显示名称", body.display_name.as_deref(), 50);
        f.opt_text("department", "院系", body.department.as_deref(), 50);
        f.finish()?;
        let (school, department) = match (c.role, body.role.as_str()) {
            (AccountRole::Province | AccountRole::Admin, "school") => {
                let id = body.school_id.ok_or_else(|| {
                    ApiError::unprocessable("school_required", "school_id：请选择学校")
                })?;
                (service::find_managed_school(&state, &c, id).await?, None)
            }
            (AccountRole::School, "department") | (AccountRole::Admin, "department") => {
                let id = match c.role {
                    AccountRole::School => c.actor.school_id.unwrap_or_default(),
                    _ => body.school_id.unwrap_or_default(),
                };
                let s = service::find_managed_school(&state, &c, id).await?;
                let d = body
                    .department
                    .clone()
                    .filter(|d| !d.trim().is_empty())
                    .ok_or_else(|| {
                        ApiError::unprocessable("department_required", "department：请填写院系名称")
                    })?;
                service::check_roster_department(&state, s.id, &d).await?;
                (s, Some(d))
            }
            (AccountRole::Province, _) => {
                return Err(ApiError::forbidden("省级用户只能创建学校账号").into())
            }
            _ => return Err(ApiError::forbidden("学校用户只能创建院系账号").into()),
        };
        let hash = hash_new_password("password", &body.password).await?;
        let new = NewManagedAccount {
            display_name: display_name.unwrap_or_else(|| username.clone()),
            username,
            role: body.role.clone(),
            password_hash: hash,
            school,
            department,
            perm_employment: level(
                "perm_employment",
                "基本信息和就业信息",
                &body.perm_employment,
                "rw",
            )?,
            perm_archive: level("perm_archive", "档案信息", &body.perm_archive, "none")?,
            perm_hukou: level("perm_hukou", "户口信息", &body.perm_hukou, "none")?,
        };
        let m = service::create_account(&state, &c, new).await?;
        Ok(Json(account_view(&m)))
    }

    /// Disable or enable an account the caller manages; disabling ends its sessions.
    #[oai(
        path = "/accounts/:id/active",
        method = "put",
        operation_id = "accounts_set_active"
    )]
    async fn set_active(
        &self,
        state: Data<&State>,
        auth: Token,
        id: Path<i64>,
        body: Json<ActiveRequest>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        require_manager(&c)?;
        let target = service::find_managed_account(&state, &c, *id).await?;
        let m = service::set_account_active(&state, &c, target, body.active).await?;
        Ok(Json(account_view(&m)))
    }

    /// Change one's own password (other sessions stay valid until they expire).
    #[oai(
        path = "/me/password",
        method = "put",
        operation_id = "accounts_change_password"
    )]
    async fn change_password(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<PasswordChange>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        if c.role == AccountRole::Admin {
            return Err(ApiError::forbidden("系统管理员令牌没有密码，不能修改").into());
        }
        service::change_own_password(&state, &c, &body.old_password, &body.new_password).await?;
        Ok(Json(json!({"changed": true})))
    }

    /// Create an API key for an integrator system.
    ///
    /// Create an API key for an integrator system (the employment management system): a province
    /// user's key covers the province or one of its schools, a school user's key its own school.
    ///
    /// The key is shown once.
    #[oai(
        path = "/api-keys",
        method = "post",
        operation_id = "accounts_create_key"
    )]
    async fn create_key(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<NewApiKey>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        require_manager(&c)?;
        let mut f = crate::input::Fields::new();
        let name = f.text("name", "密钥名称", &body.name, 50);
        let kind_text = body.kind.clone().unwrap_or_else(|| "roster".into());
        f.one_of("kind", "密钥类型", &kind_text, &["roster", "identity"]);
        f.finish()?;
        let kind = KeyKind::parse(&kind_text).unwrap_or(KeyKind::Roster);
        if kind == KeyKind::Identity && c.role != AccountRole::Admin {
            return Err(ApiError::forbidden(
                "身份认证系统的接口密钥（可为毕业生签发登录令牌）只能由系统管理员创建",
            )
            .into());
        }
        let (m, key) = service::issue_api_key(
            &state,
            &c,
            name,
            kind,
            body.school_id,
            body.province_code.as_deref(),
        )
        .await?;
        let mut v = key_view(&m);
        v["key"] = json!(key);
        Ok(Json(v))
    }

    /// The API keys in the caller's scope (never the keys themselves).
    #[oai(
        path = "/api-keys",
        method = "get",
        operation_id = "accounts_list_keys"
    )]
    async fn list_keys(&self, state: Data<&State>, auth: Token) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        require_manager(&c)?;
        let rows = service::list_api_keys(&state, &c).await?;
        Ok(Json(
            json!({"items": rows.iter().map(key_view).collect::<Vec<_>>()}),
        ))
    }

    /// Revoke an API key: it stops working at once.
    #[oai(
        path = "/api-keys/:id",
        method = "delete",
        operation_id = "accounts_revoke_key"
    )]
    async fn revoke_key(
        &self,
        state: Data<&State>,
        auth: Token,
        id: Path<i64>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        require_manager(&c)?;
        let m = service::revoke_api_key(&state, &c, *id).await?;
        Ok(Json(key_view(&m)))
    }

    /// Set an account's module permission levels.
    #[oai(
        path = "/accounts/:id/permissions",
        method = "put",
        operation_id = "accounts_set_permissions"
    )]
    async fn set_permissions(
        &self,
        state: Data<&State>,
        auth: Token,
        id: Path<i64>,
        body: Json<PermissionsRequest>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        require_manager(&c)?;
        check_level("employment", "基本信息和就业信息", &body.employment)?;
        check_level("archive", "档案信息", &body.archive)?;
        check_level("hukou", "户口信息", &body.hukou)?;
        let target = service::find_managed_account(&state, &c, *id).await?;
        let m = service::set_module_levels(
            &state,
            target,
            &body.employment,
            &body.archive,
            &body.hukou,
        )
        .await?;
        Ok(Json(json!({
            "id": m.id,
            "permissions": {"employment": m.perm_employment, "archive": m.perm_archive, "hukou": m.perm_hukou},
        })))
    }
}

fn key_view(a: &account::Model) -> Value {
    let kind = a
        .key_kind
        .as_deref()
        .and_then(KeyKind::parse)
        .unwrap_or(KeyKind::Roster);
    json!({
        "id": a.id,
        "name": a.display_name,
        "kind": kind.as_str(),
        "kind_label": kind.label(),
        "province_code": a.province_code,
        "school_id": a.school_id,
        "active": a.active,
        "created_at": a.created_at.to_rfc3339(),
        // The account that made the key (0: the system administrator).
        "created_by": a.created_by,
    })
}
