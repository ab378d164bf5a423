//! Accounts (SPEC.md 1, 1.1): a province user creates and manages its schools' accounts, a
//! school user its departments' accounts (whose department must equal a roster department
//! character for character); module permission levels; API keys for integrator systems (the
//! employment management system of a province or a school); changing one's own password.

use gradflow_engine::definition::Module;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::{json, Value};

use super::{caller, Tag, Token};
use crate::auth::{hash_new_password, issue_token, verify_password, AccountRole, Caller, KeyKind};
use crate::entity::{account, school, token};
use crate::error::{ApiError, ApiResult};
use crate::service::State;
use crate::{audit, org};

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

/// The public view of an account (never the password hash).
pub fn account_view(a: &account::Model) -> Value {
    json!({
        "id": a.id,
        "username": a.username,
        "display_name": a.display_name,
        "role": a.role,
        "province_code": a.province_code,
        "school_id": a.school_id,
        "department": a.department,
        "active": a.active,
        "permissions": {"employment": a.perm_employment, "archive": a.perm_archive, "hukou": a.perm_hukou},
        "created_at": a.created_at.to_rfc3339(),
    })
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

/// The department must equal a roster department exactly; otherwise the refusal says so and
/// lists the roster's departments (and a near miss, if spaces or width differ).
async fn check_department(state: &State, school_id: i64, department: &str) -> ApiResult<()> {
    let departments = org::roster_departments(&state.db, school_id).await?;
    if departments.iter().any(|d| d == department) {
        return Ok(());
    }
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| match c {
                '（' => '(',
                '）' => ')',
                c => c,
            })
            .collect()
    };
    let near = departments.iter().find(|d| squash(d) == squash(department));
    let hint = match near {
        Some(d) => format!("名单中有“{d}”，请注意空格和全角/半角字符。"),
        None => String::new(),
    };
    let list = if departments.is_empty() {
        "学生名单中还没有院系".to_string()
    } else {
        format!("学生名单中的院系：{}", departments.join("、"))
    };
    Err(ApiError::unprocessable(
        "department_not_in_roster",
        format!(
            "department：院系名称“{department}”与学生名单中的院系名称不一致（必须逐字相同，否则无法进行审核）。{hint}{list}"
        ),
    ))
}

fn level(field: &str, label: &str, v: &Option<String>, default: &str) -> ApiResult<String> {
    let v = v.clone().unwrap_or_else(|| default.to_string());
    check_level(field, label, &v)?;
    Ok(v)
}

fn unique_username(e: sea_orm::DbErr) -> ApiError {
    match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            ApiError::conflict("username_taken", "username：用户名已存在")
        }
        _ => ApiError::from(e),
    }
}

/// Loads a school inside the caller's province (for province users) or the caller's own.
async fn managed_school(state: &State, c: &Caller, id: i64) -> ApiResult<school::Model> {
    school::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .filter(|s| match c.role {
            AccountRole::Admin => true,
            AccountRole::Province => c.actor.province.as_deref() == Some(s.province_code.as_str()),
            AccountRole::School => c.actor.school_id == Some(s.id),
            _ => false,
        })
        .ok_or_else(|| ApiError::not_found("school_id：学校不存在或不在你的管理范围内"))
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

/// Whether `c` manages `target`: province → its schools' accounts, school → its departments'.
fn manages(c: &Caller, target: &account::Model) -> bool {
    match c.role {
        AccountRole::Admin => true,
        AccountRole::Province => {
            target.role == "school"
                && target.province_code.is_some()
                && target.province_code == c.actor.province
        }
        AccountRole::School => {
            target.role == "department"
                && target.school_id.is_some()
                && target.school_id == c.actor.school_id
        }
        _ => false,
    }
}

pub struct AccountsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Accounts")]
impl AccountsApi {
    /// The accounts the caller manages: a province user its schools' accounts, a school user
    /// its departments' accounts. Filters: role, school_id, department; paged.
    #[oai(path = "/accounts", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&State>,
        auth: Token,
        role: Query<Option<String>>,
        school_id: Query<Option<i64>>,
        department: Query<Option<String>>,
        page: Query<Option<u64>>,
        per_page: Query<Option<u64>>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        require_manager(&c)?;
        let mut cond = Condition::all();
        match c.role {
            AccountRole::Province => {
                cond = cond
                    .add(account::Column::Role.eq("school"))
                    .add(account::Column::ProvinceCode.eq(c.actor.province.clone()));
            }
            AccountRole::School => {
                cond = cond
                    .add(account::Column::Role.eq("department"))
                    .add(account::Column::SchoolId.eq(c.actor.school_id));
            }
            _ => {}
        }
        if let Some(r) = role.0 {
            cond = cond.add(account::Column::Role.eq(r));
        }
        if let Some(s) = school_id.0 {
            cond = cond.add(account::Column::SchoolId.eq(s));
        }
        if let Some(d) = department.0 {
            cond = cond.add(account::Column::Department.eq(d));
        }
        let p = super::paged(
            &state.db.conn,
            account::Entity::find()
                .filter(cond)
                .order_by_asc(account::Column::Id),
            page.0,
            per_page.0,
            &super::PER_PAGE,
        )
        .await?;
        let (page, per_page, total, items) = (p.page, p.size, p.total, p.rows);
        // Department accounts whose name is not (or no longer) a roster department cannot
        // review: say so on each (one query per school on the page).
        let mut roster: std::collections::HashMap<i64, Vec<String>> = Default::default();
        for a in items.iter().filter(|a| a.role == "department") {
            if let Some(s) = a.school_id {
                if let std::collections::hash_map::Entry::Vacant(e) = roster.entry(s) {
                    e.insert(org::roster_departments(&state.db, s).await?);
                }
            }
        }
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
            "per_page": per_page,
            "items": views,
        })))
    }

    /// Create a school account (province users, for a school of the province) or a department
    /// account (school users; the department must be named exactly as in the roster).
    #[oai(path = "/accounts", method = "post")]
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
                (managed_school(&state, &c, id).await?, None)
            }
            (AccountRole::School, "department") | (AccountRole::Admin, "department") => {
                let id = match c.role {
                    AccountRole::School => c.actor.school_id.unwrap_or_default(),
                    _ => body.school_id.unwrap_or_default(),
                };
                let s = managed_school(&state, &c, id).await?;
                let d = body
                    .department
                    .clone()
                    .filter(|d| !d.trim().is_empty())
                    .ok_or_else(|| {
                        ApiError::unprocessable("department_required", "department：请填写院系名称")
                    })?;
                check_department(&state, s.id, &d).await?;
                (s, Some(d))
            }
            (AccountRole::Province, _) => {
                return Err(ApiError::forbidden("省级用户只能创建学校账号").into())
            }
            _ => return Err(ApiError::forbidden("学校用户只能创建院系账号").into()),
        };
        let hash = hash_new_password("password", &body.password).await?;
        let now = state.clock.now();
        let txn = state.db.begin_write().await.map_err(ApiError::from)?;
        let m = account::ActiveModel {
            username: Set(username.clone()),
            display_name: Set(display_name.unwrap_or(username)),
            role: Set(body.role.clone()),
            password_hash: Set(Some(hash)),
            province_code: Set(Some(school.province_code.clone())),
            school_id: Set(Some(school.id)),
            department: Set(department),
            graduate_id: Set(None),
            employer_id: Set(None),
            perm_employment: Set(level(
                "perm_employment",
                "基本信息和就业信息",
                &body.perm_employment,
                "rw",
            )?),
            perm_archive: Set(level(
                "perm_archive",
                "档案信息",
                &body.perm_archive,
                "none",
            )?),
            perm_hukou: Set(level("perm_hukou", "户口信息", &body.perm_hukou, "none")?),
            active: Set(true),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(unique_username)?;
        audit::commit(
            txn,
            &c,
            now,
            "account.create",
            ("account", m.id.to_string()),
            account_view(&m),
        )
        .await?;
        Ok(Json(account_view(&m)))
    }

    /// Disable or enable an account the caller manages; disabling ends its sessions.
    #[oai(path = "/accounts/:id/active", method = "put")]
    async fn set_active(
        &self,
        state: Data<&State>,
        auth: Token,
        id: Path<i64>,
        body: Json<ActiveRequest>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        require_manager(&c)?;
        let target = managed_account(&state, &c, *id).await?;
        let now = state.clock.now();
        let txn = state.db.begin_write().await.map_err(ApiError::from)?;
        let mut am: account::ActiveModel = target.into();
        am.active = Set(body.active);
        let m = am.update(&txn).await.map_err(ApiError::from)?;
        if !body.active {
            token::Entity::delete_many()
                .filter(token::Column::AccountId.eq(m.id))
                .exec(&txn)
                .await
                .map_err(ApiError::from)?;
        }
        audit::commit(
            txn,
            &c,
            now,
            if body.active {
                "account.enable"
            } else {
                "account.disable"
            },
            ("account", m.id.to_string()),
            json!({}),
        )
        .await?;
        state.auth.forget_all();
        Ok(Json(account_view(&m)))
    }

    /// Change one's own password (other sessions stay valid until they expire).
    #[oai(path = "/me/password", method = "put")]
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
        let acc = account::Entity::find_by_id(c.account_id)
            .one(&state.db.conn)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(ApiError::unauthorized)?;
        let old = body.old_password.clone();
        let phc = acc.password_hash.clone().unwrap_or_default();
        let ok = tokio::task::spawn_blocking(move || verify_password(&old, &phc))
            .await
            .map_err(ApiError::internal)?;
        if !ok {
            return Err(
                ApiError::unprocessable("wrong_password", "old_password：原密码不正确").into(),
            );
        }
        let hash = hash_new_password("new_password", &body.new_password).await?;
        let mut am: account::ActiveModel = acc.into();
        am.password_hash = Set(Some(hash));
        am.update(&*state.db.writer().await)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(json!({"changed": true})))
    }

    /// Create an API key for an integrator system (the employment management system): a
    /// province user's key covers the province or one of its schools, a school user's key its
    /// own school. The key is shown once.
    #[oai(path = "/api-keys", method = "post")]
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
        let (province_code, school_id) = match (c.role, body.school_id) {
            (AccountRole::School, _) => (c.actor.province.clone(), c.actor.school_id),
            (_, Some(id)) => {
                let s = managed_school(&state, &c, id).await?;
                (Some(s.province_code), Some(s.id))
            }
            (AccountRole::Province, None) => (c.actor.province.clone(), None),
            (_, None) => match (&body.province_code, kind) {
                (Some(p), _) => (
                    Some(crate::org::known_province(&state.db, p).await?.code),
                    None,
                ),
                (None, KeyKind::Identity) => (None, None),
                (None, KeyKind::Roster) => {
                    return Err(ApiError::unprocessable(
                        "school_required",
                        "school_id：请选择学校（或用 province_code 指定省份）",
                    )
                    .into())
                }
            },
        };
        let now = state.clock.now();
        let m = account::ActiveModel {
            username: Set(format!("apikey-{}", uuid::Uuid::new_v4())),
            display_name: Set(name),
            role: Set("integrator".into()),
            password_hash: Set(None),
            province_code: Set(province_code),
            school_id: Set(school_id),
            department: Set(None),
            graduate_id: Set(None),
            employer_id: Set(None),
            perm_employment: Set("rw".into()),
            perm_archive: Set("rw".into()),
            perm_hukou: Set("rw".into()),
            active: Set(true),
            created_at: Set(now),
            key_kind: Set(Some(kind.as_str().into())),
            created_by: Set(Some(c.account_id)),
            ..Default::default()
        }
        .insert(&*state.db.writer().await)
        .await
        .map_err(ApiError::from)?;
        let key = issue_token(&state.db, m.id, "api_key").await?;
        audit::record(
            &*state.db.writer().await,
            &c,
            now,
            "api_key.create",
            ("account", m.id.to_string()),
            json!({"name": m.display_name, "kind": kind.as_str(), "province_code": m.province_code, "school_id": m.school_id}),
        )
        .await?;
        let mut v = key_view(&m);
        v["key"] = json!(key);
        Ok(Json(v))
    }

    /// The API keys in the caller's scope (never the keys themselves).
    #[oai(path = "/api-keys", method = "get")]
    async fn list_keys(&self, state: Data<&State>, auth: Token) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        require_manager(&c)?;
        let mut q = account::Entity::find().filter(account::Column::Role.eq("integrator"));
        match c.role {
            AccountRole::Province => {
                q = q.filter(account::Column::ProvinceCode.eq(c.actor.province.clone()))
            }
            AccountRole::School => q = q.filter(account::Column::SchoolId.eq(c.actor.school_id)),
            _ => {}
        }
        let rows = q
            .order_by_asc(account::Column::Id)
            .all(&state.db.conn)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(
            json!({"items": rows.iter().map(key_view).collect::<Vec<_>>()}),
        ))
    }

    /// Revoke an API key: it stops working at once.
    #[oai(path = "/api-keys/:id", method = "delete")]
    async fn revoke_key(
        &self,
        state: Data<&State>,
        auth: Token,
        id: Path<i64>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        require_manager(&c)?;
        let target = account::Entity::find_by_id(*id)
            .one(&state.db.conn)
            .await
            .map_err(ApiError::from)?
            .filter(|a| a.role == "integrator")
            .filter(|a| match c.role {
                AccountRole::Admin => true,
                AccountRole::Province => a.province_code == c.actor.province,
                AccountRole::School => a.school_id.is_some() && a.school_id == c.actor.school_id,
                _ => false,
            })
            .ok_or_else(|| ApiError::not_found("接口密钥不存在或不归你管理"))?;
        let now = state.clock.now();
        let txn = state.db.begin_write().await.map_err(ApiError::from)?;
        token::Entity::delete_many()
            .filter(token::Column::AccountId.eq(target.id))
            .exec(&txn)
            .await
            .map_err(ApiError::from)?;
        let mut am: account::ActiveModel = target.into();
        am.active = Set(false);
        let m = am.update(&txn).await.map_err(ApiError::from)?;
        audit::commit(
            txn,
            &c,
            now,
            "api_key.revoke",
            ("account", m.id.to_string()),
            json!({}),
        )
        .await?;
        state.auth.forget_all();
        Ok(Json(key_view(&m)))
    }

    /// Set an account's module permission levels.
    #[oai(path = "/accounts/:id/permissions", method = "put")]
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
        let target = managed_account(&state, &c, *id).await?;
        let mut am: account::ActiveModel = target.into();
        am.perm_employment = Set(body.employment.clone());
        am.perm_archive = Set(body.archive.clone());
        am.perm_hukou = Set(body.hukou.clone());
        let m = am
            .update(&*state.db.writer().await)
            .await
            .map_err(ApiError::from)?;
        // Cached callers carry the old levels.
        state.auth.forget_all();
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

/// Loads an account the caller manages.
async fn managed_account(state: &State, c: &Caller, id: i64) -> ApiResult<account::Model> {
    account::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .filter(|t| manages(c, t))
        .ok_or_else(|| ApiError::not_found("账号不存在或不归你管理"))
}
