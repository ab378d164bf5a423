//! Accounts and what goes with them, loaded and stored for the handlers of `api/accounts.rs`,
//! `api/auth.rs`, `api/audit.rs`, `api/uploads.rs` and `api/admin.rs`: the school and
//! department accounts a province or school user manages and their module permission levels,
//! integrator API keys, changing one's own password, graduate sessions vouched for by an
//! identity key and logout, the audit log in a caller's scope, uploaded files, and the
//! administrator's definition swaps and province parameters. Every write goes through
//! `Db::begin_write` (an act's audit record in the same transaction) or `Db::writer`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use gradflow_engine::registry::SourceFile;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::auth::{
    hash_new_password, issue_token, issue_token_until, revoke_token, verify_password, AccountRole,
    Caller, KeyKind,
};
use crate::definitions::{build_snapshot, diagnostics_error, load_sources, remember_definitions};
use crate::entity::{account, audit_log, graduate, province_param, school, token, upload};
use crate::error::{ApiError, ApiResult};
use crate::paging::{Paged, Sort};
use crate::service::AppState;
use crate::{audit, org, scope, uploads};

// ---------------------------------------------------------------------------------------
// Accounts (SPEC.md 1, 1.1): school and department accounts, module permission levels.
// ---------------------------------------------------------------------------------------

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

/// The department must equal a roster department exactly; otherwise the refusal says so and
/// lists the roster's departments (and a near miss, if spaces or width differ).
pub async fn check_roster_department(
    state: &AppState,
    school_id: i64,
    department: &str,
) -> ApiResult<()> {
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

fn unique_username(e: sea_orm::DbErr) -> ApiError {
    match crate::db::is_unique_violation(&e) {
        true => ApiError::conflict("username_taken", "username：用户名已存在"),
        _ => ApiError::from(e),
    }
}

/// Loads a school inside the caller's province (for province users) or the caller's own.
pub async fn find_managed_school(
    state: &AppState,
    c: &Caller,
    id: i64,
) -> ApiResult<school::Model> {
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

/// Loads an account the caller manages.
pub async fn find_managed_account(
    state: &AppState,
    c: &Caller,
    id: i64,
) -> ApiResult<account::Model> {
    account::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .filter(|t| manages(c, t))
        .ok_or_else(|| ApiError::not_found("账号不存在或不归你管理"))
}

/// One page of the accounts a caller manages, with the roster departments of the schools of
/// the page's department accounts.
pub struct ManagedAccounts {
    pub page: Paged<account::Model>,
    /// School id → its roster departments, for each school of a department account on the page.
    pub roster: HashMap<i64, Vec<String>>,
}

/// The filters of the managed-accounts list.
#[derive(Default)]
pub struct AccountFilter {
    pub role: Option<String>,
    pub school_id: Option<i64>,
    pub department: Option<String>,
}

/// The accounts the caller manages: a province user its schools' accounts, a school user
/// its departments' accounts. Filtered, in the order `sort` asks (`created_at`, `username`
/// or `role`, ties broken by id), paged.
pub async fn list_managed_accounts(
    state: &AppState,
    c: &Caller,
    filter: AccountFilter,
    sort: Sort,
    page: Option<u64>,
    page_size: Option<u64>,
) -> ApiResult<ManagedAccounts> {
    let AccountFilter {
        role,
        school_id,
        department,
    } = filter;
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
    if let Some(r) = role {
        cond = cond.add(account::Column::Role.eq(r));
    }
    if let Some(s) = school_id {
        cond = cond.add(account::Column::SchoolId.eq(s));
    }
    if let Some(d) = department {
        cond = cond.add(account::Column::Department.eq(d));
    }
    // `created_at` orders by id (ids grow with creation), which every scope's index holds.
    let mut q = account::Entity::find().filter(cond);
    match sort.key {
        "username" => q = q.order_by(account::Column::Username, sort.order()),
        "role" => q = q.order_by(account::Column::Role, sort.order()),
        _ => {}
    }
    let p = crate::paging::paged(
        &state.db.conn,
        q.order_by(account::Column::Id, sort.order()),
        page,
        page_size,
        &crate::paging::PAGE_SIZE,
    )
    .await?;
    // Department accounts whose name is not (or no longer) a roster department cannot
    // review: the handler says so on each (one query per school on the page).
    let mut roster: HashMap<i64, Vec<String>> = Default::default();
    for a in p.rows.iter().filter(|a| a.role == "department") {
        if let Some(s) = a.school_id {
            if let std::collections::hash_map::Entry::Vacant(e) = roster.entry(s) {
                e.insert(org::roster_departments(&state.db, s).await?);
            }
        }
    }
    Ok(ManagedAccounts { page: p, roster })
}

/// A school or department account to create, its fields already checked.
pub struct NewManagedAccount {
    pub username: String,
    pub display_name: String,
    /// `school` or `department`.
    pub role: String,
    /// The argon2 hash of its password.
    pub password_hash: String,
    /// The school it belongs to (its province too).
    pub school: school::Model,
    /// For department accounts: the roster department.
    pub department: Option<String>,
    pub perm_employment: String,
    pub perm_archive: String,
    pub perm_hukou: String,
}

/// Creates a school or department account and records `account.create` in the same
/// transaction. A username already taken is 409 `username_taken`.
pub async fn create_account(
    state: &AppState,
    c: &Caller,
    new: NewManagedAccount,
) -> ApiResult<account::Model> {
    let now = state.clock.now();
    let txn = state.db.begin_write().await.map_err(ApiError::from)?;
    let m = account::ActiveModel {
        username: Set(new.username),
        display_name: Set(new.display_name),
        role: Set(new.role),
        password_hash: Set(Some(new.password_hash)),
        province_code: Set(Some(new.school.province_code.clone())),
        school_id: Set(Some(new.school.id)),
        department: Set(new.department),
        graduate_id: Set(None),
        employer_id: Set(None),
        perm_employment: Set(new.perm_employment),
        perm_archive: Set(new.perm_archive),
        perm_hukou: Set(new.perm_hukou),
        active: Set(true),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(unique_username)?;
    audit::commit(
        txn,
        c,
        now,
        "account.create",
        ("account", m.id.to_string()),
        account_view(&m),
    )
    .await?;
    Ok(m)
}

/// Disables or enables `target`; disabling ends its sessions (its tokens are deleted in the
/// same transaction, and cached callers forgotten).
pub async fn set_account_active(
    state: &AppState,
    c: &Caller,
    target: account::Model,
    active: bool,
) -> ApiResult<account::Model> {
    let now = state.clock.now();
    let txn = state.db.begin_write().await.map_err(ApiError::from)?;
    let mut am: account::ActiveModel = target.into();
    am.active = Set(active);
    let m = am.update(&txn).await.map_err(ApiError::from)?;
    if !active {
        token::Entity::delete_many()
            .filter(token::Column::AccountId.eq(m.id))
            .exec(&txn)
            .await
            .map_err(ApiError::from)?;
    }
    audit::commit(
        txn,
        c,
        now,
        if active {
            "account.enable"
        } else {
            "account.disable"
        },
        ("account", m.id.to_string()),
        json!({}),
    )
    .await?;
    state.auth.forget_all();
    Ok(m)
}

/// Sets an account's module permission levels (each already checked: rw / ro / none), audited
/// in the same transaction (`account.permissions`, the levels before and after).
pub async fn set_module_levels(
    state: &AppState,
    c: &Caller,
    target: account::Model,
    employment: &str,
    archive: &str,
    hukou: &str,
) -> ApiResult<account::Model> {
    let levels = |e: &str, a: &str, h: &str| json!({"employment": e, "archive": a, "hukou": h});
    let before = levels(
        &target.perm_employment,
        &target.perm_archive,
        &target.perm_hukou,
    );
    let now = state.clock.now();
    let txn = state.db.begin_write().await.map_err(ApiError::from)?;
    let mut am: account::ActiveModel = target.into();
    am.perm_employment = Set(employment.to_string());
    am.perm_archive = Set(archive.to_string());
    am.perm_hukou = Set(hukou.to_string());
    let m = am.update(&txn).await.map_err(ApiError::from)?;
    audit::commit(
        txn,
        c,
        now,
        "account.permissions",
        ("account", m.id.to_string()),
        json!({"before": before, "after": levels(employment, archive, hukou)}),
    )
    .await?;
    // Cached callers carry the old levels.
    state.auth.forget_all();
    Ok(m)
}

/// Changes the caller's own password after checking the old one (422 `wrong_password`);
/// other sessions stay valid until they expire.
pub async fn change_own_password(
    state: &AppState,
    c: &Caller,
    old_password: &str,
    new_password: &str,
) -> ApiResult<()> {
    let acc = account::Entity::find_by_id(c.account_id)
        .one(&state.db.conn)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(ApiError::unauthorized)?;
    let old = old_password.to_string();
    let phc = acc.password_hash.clone().unwrap_or_default();
    let ok = tokio::task::spawn_blocking(move || verify_password(&old, &phc))
        .await
        .map_err(ApiError::internal)?;
    if !ok {
        return Err(ApiError::unprocessable(
            "wrong_password",
            "old_password：原密码不正确",
        ));
    }
    let hash = hash_new_password("new_password", new_password).await?;
    let mut am: account::ActiveModel = acc.into();
    am.password_hash = Set(Some(hash));
    am.update(&state.db.writer().await)
        .await
        .map_err(ApiError::from)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// API keys for integrator systems.
// ---------------------------------------------------------------------------------------

/// Creates an API key (an integrator account and its token) and records `api_key.create`.
/// Its scope: a school user's key its own school; with `school_id`, one of the caller's
/// schools; a province user's key without it the province; the administrator's the province
/// `province_code` names, or nationwide for an identity key. Answers the account and the key
/// (shown once).
pub async fn issue_api_key(
    state: &AppState,
    c: &Caller,
    name: String,
    kind: KeyKind,
    school_id: Option<i64>,
    province_code: Option<&str>,
) -> ApiResult<(account::Model, String)> {
    let (province_code, school_id) = match (c.role, school_id) {
        (AccountRole::School, _) => (c.actor.province.clone(), c.actor.school_id),
        (_, Some(id)) => {
            let s = find_managed_school(state, c, id).await?;
            (Some(s.province_code), Some(s.id))
        }
        (AccountRole::Province, None) => (c.actor.province.clone(), None),
        (_, None) => match (province_code, kind) {
            (Some(p), _) => (Some(org::known_province(&state.db, p).await?.code), None),
            (None, KeyKind::Identity) => (None, None),
            (None, KeyKind::Roster) => {
                return Err(ApiError::unprocessable(
                    "school_required",
                    "school_id：请选择学校（或用 province_code 指定省份）",
                ))
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
    .insert(&state.db.writer().await)
    .await
    .map_err(ApiError::from)?;
    let key = issue_token(&state.db, m.id, "api_key").await?;
    audit::record(
        &state.db.writer().await,
        c,
        now,
        "api_key.create",
        ("account", m.id.to_string()),
        json!({"name": m.display_name, "kind": kind.as_str(), "province_code": m.province_code, "school_id": m.school_id}),
    )
    .await?;
    Ok((m, key))
}

/// The API keys (integrator accounts) in the caller's scope, oldest first.
pub async fn list_api_keys(state: &AppState, c: &Caller) -> ApiResult<Vec<account::Model>> {
    let mut q = account::Entity::find().filter(account::Column::Role.eq("integrator"));
    match c.role {
        AccountRole::Province => {
            q = q.filter(account::Column::ProvinceCode.eq(c.actor.province.clone()))
        }
        AccountRole::School => q = q.filter(account::Column::SchoolId.eq(c.actor.school_id)),
        _ => {}
    }
    q.order_by_asc(account::Column::Id)
        .all(&state.db.conn)
        .await
        .map_err(ApiError::from)
}

/// Revokes an API key in the caller's scope: its tokens are deleted and the account disabled
/// (recorded as `api_key.revoke` in the same transaction), so it stops working at once.
pub async fn revoke_api_key(state: &AppState, c: &Caller, id: i64) -> ApiResult<account::Model> {
    let target = account::Entity::find_by_id(id)
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
        c,
        now,
        "api_key.revoke",
        ("account", m.id.to_string()),
        json!({}),
    )
    .await?;
    state.auth.forget_all();
    Ok(m)
}

// ---------------------------------------------------------------------------------------
// Sessions: graduates' sessions issued through an identity key, logout.
// ---------------------------------------------------------------------------------------

/// A session issued for a graduate.
pub struct GraduateSession {
    /// The bearer token (shown once).
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// The graduate's account.
    pub account: account::Model,
    pub graduate: graduate::Model,
}

/// A session for the graduate with `candidate_no`, whose school the identity key `c` must
/// cover (otherwise 404, as for an unknown number). The graduate's account is created on
/// first use and kept in step with the roster after; a disabled account is refused. Every
/// session issued is recorded (`auth.graduate_session`).
pub async fn open_graduate_session(
    state: &AppState,
    c: &Caller,
    candidate_no: &str,
) -> ApiResult<GraduateSession> {
    let g = graduate::Entity::find()
        .filter(graduate::Column::CandidateNo.eq(candidate_no))
        .one(&state.db.conn)
        .await
        .map_err(ApiError::from)?;
    let school = match &g {
        Some(g) => school::Entity::find_by_id(g.school_id)
            .one(&state.db.conn)
            .await
            .map_err(ApiError::from)?,
        None => None,
    };
    let (Some(g), Some(_)) = (g, school.filter(|s| scope::covers_school(c, s))) else {
        return Err(ApiError::not_found("candidate_no：学生名单中没有该考生号"));
    };
    let username = format!("graduate-{}", g.candidate_no);
    let existing = account::Entity::find()
        .filter(account::Column::GraduateId.eq(g.id))
        .one(&state.db.conn)
        .await
        .map_err(ApiError::from)?;
    let now = state.clock.now();
    let acc = match existing {
        Some(a) if !a.active => return Err(ApiError::forbidden("账号已停用")),
        Some(a) => {
            // Keep the account's scope in step with the roster (department may change).
            let mut am: account::ActiveModel = a.into();
            am.school_id = Set(Some(g.school_id));
            am.province_code = Set(Some(g.province_code.clone()));
            am.department = Set(Some(g.department.clone()));
            am.display_name = Set(g.name.clone());
            am.update(&state.db.writer().await)
                .await
                .map_err(ApiError::from)?
        }
        None => account::ActiveModel {
            username: Set(username),
            display_name: Set(g.name.clone()),
            role: Set("graduate".into()),
            password_hash: Set(None),
            province_code: Set(Some(g.province_code.clone())),
            school_id: Set(Some(g.school_id)),
            department: Set(Some(g.department.clone())),
            graduate_id: Set(Some(g.id)),
            employer_id: Set(None),
            perm_employment: Set("rw".into()),
            perm_archive: Set("rw".into()),
            perm_hukou: Set("rw".into()),
            active: Set(true),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&state.db.writer().await)
        .await
        .map_err(ApiError::from)?,
    };
    state.auth.forget_all();
    let expires_at = now + chrono::Duration::hours(state.config.session_hours.max(1));
    let token = issue_token_until(&state.db, acc.id, "session", Some(expires_at)).await?;
    // Who vouched for whom: every session an identity key issues is on record.
    audit::record(
        &state.db.writer().await,
        c,
        now,
        "auth.graduate_session",
        ("graduate", g.id.to_string()),
        json!({"key": c.account_id, "school_id": g.school_id}),
    )
    .await?;
    Ok(GraduateSession {
        token,
        expires_at,
        account: acc,
        graduate: g,
    })
}

/// Ends a session: the token is deleted and its cached caller forgotten, so it stops
/// working at once.
pub async fn end_session(state: &AppState, token: &str) -> ApiResult<()> {
    revoke_token(&state.db, token).await?;
    state.auth.forget(token).await;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The audit log (操作日志).
// ---------------------------------------------------------------------------------------

/// One page of audit records in the caller's scope, in `sort`'s order (its one key `at`
/// orders by id: records are written in time order): a province user its province's, a
/// school user its school's, the administrator all; other callers are refused.
/// Filters: `target_kind`, `target_id`, `action`.
#[allow(clippy::too_many_arguments)]
pub async fn list_audit_records(
    state: &AppState,
    c: &Caller,
    target_kind: Option<String>,
    target_id: Option<String>,
    action: Option<String>,
    sort: crate::paging::Sort,
    page: Option<u64>,
    page_size: Option<u64>,
) -> ApiResult<Paged<audit_log::Model>> {
    let a = &c.actor;
    let mut q = audit_log::Entity::find();
    q = match c.role {
        AccountRole::Admin => q,
        AccountRole::Province => q.filter(audit_log::Column::ProvinceCode.eq(a.province.clone())),
        AccountRole::School => q.filter(audit_log::Column::SchoolId.eq(a.school_id)),
        _ => return Err(ApiError::forbidden("只有省级和学校用户可以查看操作日志")),
    };
    if let Some(k) = target_kind {
        q = q.filter(audit_log::Column::TargetKind.eq(k));
    }
    if let Some(t) = target_id {
        q = q.filter(audit_log::Column::TargetId.eq(t));
    }
    if let Some(x) = action {
        q = q.filter(audit_log::Column::Action.eq(x));
    }
    crate::paging::paged(
        &state.db.conn,
        q.order_by(audit_log::Column::Id, sort.order()),
        page,
        page_size,
        &crate::paging::PAGE_SIZE,
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Uploads.
// ---------------------------------------------------------------------------------------

/// Checks `bytes` by content for `purpose`, stores the file under the data directory and
/// records it as uploaded by `account_id` (0: the system, e.g. an employer's SMS link).
pub async fn save_upload(
    state: &AppState,
    account_id: i64,
    purpose: &str,
    bytes: Vec<u8>,
) -> ApiResult<upload::Model> {
    let purpose = purpose.to_string();
    // Decoding and re-encoding images is the costly part: two at a time (their memory is
    // bounded by `uploads::MAX_PIXELS` each).
    static DECODERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    let _decoder = DECODERS.acquire().await.map_err(ApiError::internal)?;
    let (kind, stored) = tokio::task::spawn_blocking(move || uploads::accept(&purpose, bytes))
        .await
        .map_err(ApiError::internal)??;
    let id = uuid::Uuid::new_v4().to_string();
    let dir = state.config.data_dir.join("uploads");
    let path = dir.join(format!("{id}.{}", kind.ext()));
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(ApiError::internal)?;
    tokio::fs::write(&path, &stored)
        .await
        .map_err(ApiError::internal)?;
    let m = upload::ActiveModel {
        id: Set(id),
        account_id: Set(account_id),
        content_type: Set(kind.mime().into()),
        size: Set(stored.len() as i64),
        sha256: Set(hex::encode(Sha256::digest(&stored))),
        path: Set(format!(
            "uploads/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        )),
        created_at: Set(state.clock.now()),
        instance_id: Set(None),
    }
    .insert(&state.db.writer().await)
    .await
    .map_err(ApiError::from)?;
    Ok(m)
}

/// The upload with `id`, if any (who may download it is the handler's check).
pub async fn find_upload(state: &AppState, id: &str) -> ApiResult<Option<upload::Model>> {
    upload::Entity::find_by_id(id.to_string())
        .one(&state.db.conn)
        .await
        .map_err(ApiError::from)
}

// ---------------------------------------------------------------------------------------
// Administration: definitions and province parameters.
// ---------------------------------------------------------------------------------------

/// Builds and validates the definitions with `extra` sources, stores them, and swaps the
/// reloaded set in (one swap at a time). A broken set is refused with every problem listed
/// and the old set keeps serving. Answers the fingerprint and the definitions now in force.
pub async fn swap_in_definitions(
    state: &AppState,
    extra: Vec<SourceFile>,
) -> ApiResult<crate::definitions::Reloaded> {
    let _swap = crate::definitions::SWAP.lock().await;
    let snap = build_snapshot(&state.db, &state.config, extra)
        .await
        .map_err(diagnostics_error)?;
    remember_definitions(&state.db, &snap).await?;
    let sources = load_sources(&state.db, &state.config.root)
        .await
        .map_err(ApiError::internal)?;
    // The stored definitions now include the upload, so the reload sees it too.
    let snap = state.registry.reload(&sources).map_err(diagnostics_error)?;
    Ok(crate::definitions::Reloaded {
        fingerprint: snap.fingerprint.clone(),
        definitions: snap.definitions().map(|d| d.def.id().to_string()).collect(),
    })
}

/// Stores a province's parameter overrides for the flow `def_key` (replacing earlier ones).
/// New instances use them; running instances keep the parameters they started with.
pub async fn upsert_province_params(
    state: &AppState,
    province_code: &str,
    def_key: &str,
    overrides: &Map<String, Value>,
) -> ApiResult<()> {
    let existing =
        province_param::Entity::find_by_id((province_code.to_string(), def_key.to_string()))
            .one(&state.db.conn)
            .await
            .map_err(ApiError::from)?;
    let am = province_param::ActiveModel {
        province_code: Set(province_code.to_string()),
        def_key: Set(def_key.to_string()),
        params: Set(Value::Object(overrides.clone()).to_string()),
        updated_at: Set(Utc::now()),
    };
    if existing.is_some() {
        am.update(&state.db.writer().await)
            .await
            .map_err(ApiError::from)?;
    } else {
        am.insert(&state.db.writer().await)
            .await
            .map_err(ApiError::from)?;
    }
    Ok(())
}

/// The caller a bearer token belongs to now (cached; see [`crate::auth::Auth::resolve`]).
pub async fn caller_of_token(state: &AppState, token: &str) -> ApiResult<Caller> {
    state
        .auth
        .resolve(&state.db, Some(token), state.clock.now())
        .await
}
