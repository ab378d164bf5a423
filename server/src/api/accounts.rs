//! Accounts (SPEC.md 1, 1.1): a province user creates and manages its schools' accounts, a
//! school user its departments' accounts (whose department must equal a roster department
//! character for character); module permission levels; API keys for integrator systems (the
//! employment management system of a province or a school); changing one's own password.

use chrono::{DateTime, Utc};
use gradflow_engine::definition::Module;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::{answers, caller, page_of, Tag, Token};
use crate::auth::{hash_new_password, AccountRole, Caller, KeyKind};
use crate::entity::account;
use crate::error::{ApiError, ApiResult};
use crate::paging::Sort;
use crate::service::State;
use crate::services::accounts::{self as service, NewManagedAccount};

/// A school or department account to create.
#[derive(Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct NewAccount {
    /// Login name, unique nationwide: 3–50 characters after trimming (the handler refuses others
    /// with `invalid_username`).
    pub username: String,
    /// The person or office shown in lists (at most 50 characters; the username when absent).
    #[oai(validator(max_length = 50))]
    pub display_name: Option<String>,
    /// At least 8 and at most 128 characters (`weak_password`, `password_too_long`); stored as
    /// an argon2 hash only.
    pub password: String,
    /// The account's role: a province user creates `school` accounts, a school user
    /// `department` accounts.
    pub role: String,
    /// The school: required for school accounts created by a province user (and for the
    /// administrator); a school user's department accounts are always of its own school.
    pub school_id: Option<i64>,
    /// For department accounts: the department (院系) name exactly as in the graduate roster (at
    /// most 50 characters).
    #[oai(validator(max_length = 50))]
    pub department: Option<String>,
    /// 基本信息和就业信息: `rw` (读写), `ro` (只读) or `none` (无权限); default `rw` (SPEC.md 1.1).
    pub perm_employment: Option<String>,
    /// 档案信息: `rw`, `ro` or `none`; default `none`.
    pub perm_archive: Option<String>,
    /// 户口信息: `rw`, `ro` or `none`; default `none`.
    pub perm_hukou: Option<String>,
}

impl poem_openapi::types::Example for NewAccount {
    fn example() -> Self {
        // A school user creating the account of one of its departments.
        NewAccount {
            username: "nju-cs".into(),
            display_name: Some("计算机科学与技术系就业办".into()),
            password: "院系密码2026!".into(),
            role: "department".into(),
            school_id: None,
            department: Some("计算机科学与技术系".into()),
            perm_employment: Some("rw".into()),
            perm_archive: Some("ro".into()),
            perm_hukou: Some("none".into()),
        }
    }
}

/// Disabling or enabling an account.
#[derive(Object)]
#[oai(example)]
pub struct ActiveRequest {
    /// `false` disables the account and ends its sessions; `true` enables it again.
    pub active: bool,
}

impl poem_openapi::types::Example for ActiveRequest {
    fn example() -> Self {
        ActiveRequest { active: false }
    }
}

/// Changing one's own password.
#[derive(Object)]
#[oai(example)]
pub struct PasswordChange {
    /// The current password (a wrong one answers `wrong_password`).
    pub old_password: String,
    /// The new password: at least 8 and at most 128 characters (`weak_password`,
    /// `password_too_long`).
    pub new_password: String,
}

impl poem_openapi::types::Example for PasswordChange {
    fn example() -> Self {
        PasswordChange {
            old_password: "南京大学就业2025".into(),
            new_password: "南京大学就业2026!".into(),
        }
    }
}

/// An API key to create for an integrator system.
#[derive(Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct NewApiKey {
    /// What the key is for, e.g. "江苏省就业管理系统" (required, at most 50 characters).
    #[oai(validator(max_length = 50))]
    pub name: String,
    /// A province user may bind the key to one of its schools; without it the key covers the
    /// whole province. A school user's key always covers its own school.
    pub school_id: Option<i64>,
    /// The system administrator's keys: the province the key covers (without `school_id`;
    /// neither = nationwide, for an identity key).
    pub province_code: Option<String>,
    /// The key's kind: `roster` (default), the employment management system, which may only
    /// upload, delete and restore the roster; `identity`, the identity provider, which may only
    /// issue graduate sessions (only the system administrator creates such keys).
    pub kind: Option<String>,
}

impl poem_openapi::types::Example for NewApiKey {
    fn example() -> Self {
        NewApiKey {
            name: "江苏省就业管理系统".into(),
            school_id: None,
            province_code: None,
            kind: Some("roster".into()),
        }
    }
}

/// An account's module permission levels, each `rw` (读写), `ro` (只读) or `none` (无权限).
#[derive(Object)]
pub struct PermissionLevels {
    /// 基本信息和就业信息 (signing and destination).
    pub employment: String,
    /// 档案信息.
    pub archive: String,
    /// 户口信息.
    pub hukou: String,
}

impl PermissionLevels {
    fn of(a: &account::Model) -> PermissionLevels {
        PermissionLevels {
            employment: a.perm_employment.clone(),
            archive: a.perm_archive.clone(),
            hukou: a.perm_hukou.clone(),
        }
    }
}

/// An account as its manager sees it (never the password hash).
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AccountView {
    /// The account's id.
    pub id: i64,
    /// The login name.
    pub username: String,
    /// The person or office shown in lists.
    pub display_name: String,
    /// The role: `school` or `department` (the administrator also sees `province`, `graduate`,
    /// `employer` and `integrator` accounts).
    pub role: String,
    /// The province of the account's scope.
    pub province_code: Option<String>,
    /// The school of the account's scope.
    pub school_id: Option<i64>,
    /// A department account's department (院系).
    pub department: Option<String>,
    /// Whether the account may log in and act.
    pub active: bool,
    /// Its module permission levels.
    pub permissions: PermissionLevels,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// In lists, for department accounts: whether the department is (still) a roster
    /// department — an account whose department is not cannot review.
    pub department_in_roster: Option<bool>,
    /// In lists, for a department account whose department is not in the roster: the warning.
    pub department_warning: Option<String>,
}

impl AccountView {
    fn of(a: &account::Model) -> AccountView {
        AccountView {
            id: a.id,
            username: a.username.clone(),
            display_name: a.display_name.clone(),
            role: a.role.clone(),
            province_code: a.province_code.clone(),
            school_id: a.school_id,
            department: a.department.clone(),
            active: a.active,
            permissions: PermissionLevels::of(a),
            created_at: a.created_at,
            department_in_roster: None,
            department_warning: None,
        }
    }
}

page_of! {
    /// A page of accounts.
    pub struct AccountPage(AccountView);
}

/// An account's permission levels after setting them.
#[derive(Object)]
pub struct AccountPermissions {
    /// The account's id.
    pub id: i64,
    /// Its module permission levels now.
    pub permissions: PermissionLevels,
}

/// The answer of a password change.
#[derive(Object)]
pub struct PasswordChanged {
    /// Always `true`.
    pub changed: bool,
}

/// An API key (an integrator account), never the key itself except once, when created.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct KeyView {
    /// The key's id (its integrator account's).
    pub id: i64,
    /// What the key is for.
    pub name: String,
    /// `roster` (the employment management system) or `identity` (the identity provider).
    pub kind: String,
    /// The kind as users read it (就业管理系统（学生名单）, 身份认证系统（毕业生登录）).
    pub kind_label: String,
    /// The province the key covers (absent: nationwide).
    pub province_code: Option<String>,
    /// The school the key covers (absent: the whole province).
    pub school_id: Option<i64>,
    /// Whether the key works (`false` once revoked).
    pub active: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The account that made the key (0: the system administrator).
    pub created_by: Option<i64>,
    /// The key (a bearer token): only in the answer of creating it, shown once.
    pub key: Option<String>,
}

/// The API keys in the caller's scope.
#[derive(Object)]
pub struct KeyList {
    /// The keys, oldest first.
    pub items: Vec<KeyView>,
}

answers! {
    /// The answers of `GET /accounts`.
    pub enum AccountListAnswer {
        /// A page of the accounts the caller manages.
        200 Ok(Json<AccountPage>),
        errors:
        /// A parameter does not parse or is not one the list takes (`invalid_parameter`,
        /// `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not a province or school user with read-write 就业 permission (`forbidden`).
        403 Forbidden,
        /// Paging or order out of bounds, or a control character in a parameter
        /// (`invalid_page`, `invalid_page_size`, `invalid_sort`; `invalid_input` with
        /// `control_character`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `POST /accounts`.
    pub enum CreateAccountAnswer {
        /// The account created.
        200 Ok(Json<AccountView>),
        errors:
        /// The body is not the JSON the operation takes, or a query parameter was sent
        /// (`invalid_body`, `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not a province or school user with read-write 就业 permission, or a role the caller
        /// may not create (`forbidden`).
        403 Forbidden,
        /// The school is not in the caller's scope (`not_found`).
        404 NotFound,
        /// The username is taken (`username_taken`).
        409 Conflict,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// A field breaks a rule (`invalid_username`, `school_required`, `department_required`,
        /// `department_not_in_roster`, `weak_password`, `password_too_long`,
        /// `invalid_permission`, `invalid_type`; `invalid_input` per field `too_long`,
        /// `control_character`, `line_break`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `PUT /accounts/{id}/active`.
    pub enum SetActiveAnswer {
        /// The account after the change.
        200 Ok(Json<AccountView>),
        errors:
        /// The id does not parse, the body is not the JSON the operation takes, or a query
        /// parameter was sent (`invalid_path_parameter`, `invalid_body`, `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not a province or school user with read-write 就业 permission (`forbidden`).
        403 Forbidden,
        /// No such account among those the caller manages (`not_found`).
        404 NotFound,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// A control character in the body (`invalid_input` with `control_character`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `PUT /me/password`.
    pub enum ChangePasswordAnswer {
        /// The password was changed.
        200 Ok(Json<PasswordChanged>),
        errors:
        /// The body is not the JSON the operation takes, or a query parameter was sent
        /// (`invalid_body`, `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// The administrator's token has no password (`forbidden`).
        403 Forbidden,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// The old password is wrong or the new one breaks the rule (`wrong_password`,
        /// `weak_password`, `password_too_long`, `invalid_type`; `invalid_input` with
        /// `control_character`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `POST /api-keys`.
    pub enum CreateKeyAnswer {
        /// The key created, with the key itself (shown once).
        200 Ok(Json<KeyView>),
        errors:
        /// The body is not the JSON the operation takes, or a query parameter was sent
        /// (`invalid_body`, `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not a province or school user with read-write 就业 permission, or an identity key
        /// asked for by anyone but the administrator (`forbidden`).
        403 Forbidden,
        /// The school is not in the caller's scope (`not_found`).
        404 NotFound,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// A field breaks a rule (`school_required`, `unknown_province`, `invalid_type`;
        /// `invalid_input` per field `required`, `too_long`, `invalid_choice`,
        /// `control_character`, `line_break`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `GET /api-keys`.
    pub enum KeyListAnswer {
        /// The keys in the caller's scope.
        200 Ok(Json<KeyList>),
        errors:
        /// A query parameter was sent (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not a province or school user with read-write 就业 permission (`forbidden`).
        403 Forbidden,
    }
}

answers! {
    /// The answers of `DELETE /api-keys/{id}`.
    pub enum RevokeKeyAnswer {
        /// The key after revoking it (`active` false).
        200 Ok(Json<KeyView>),
        errors:
        /// The id does not parse, or a query parameter was sent (`invalid_path_parameter`,
        /// `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not a province or school user with read-write 就业 permission (`forbidden`).
        403 Forbidden,
        /// No such key in the caller's scope (`not_found`).
        404 NotFound,
    }
}

answers! {
    /// The answers of `PUT /accounts/{id}/permissions`.
    pub enum SetPermissionsAnswer {
        /// The account's permission levels now.
        200 Ok(Json<AccountPermissions>),
        errors:
        /// The id does not parse, the body is not the JSON the operation takes, or a query
        /// parameter was sent (`invalid_path_parameter`, `invalid_body`, `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not a province or school user with read-write 就业 permission (`forbidden`).
        403 Forbidden,
        /// No such account among those the caller manages (`not_found`).
        404 NotFound,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// A level is not `rw`, `ro` or `none` (`invalid_permission`, `invalid_type`;
        /// `invalid_input` with `control_character`).
        422 Invalid,
    }
}

/// The keys `GET /accounts` sorts by (`created_at` orders by id: ids grow with creation).
pub const ACCOUNT_SORT: [&str; 3] = ["created_at", "username", "role"];

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

/// An account's module permission levels to set.
#[derive(Object)]
#[oai(example)]
pub struct PermissionsRequest {
    /// 基本信息和就业信息: `rw` (读写), `ro` (只读) or `none` (无权限).
    pub employment: String,
    /// 档案信息: `rw`, `ro` or `none`.
    pub archive: String,
    /// 户口信息: `rw`, `ro` or `none`.
    pub hukou: String,
}

impl poem_openapi::types::Example for PermissionsRequest {
    fn example() -> Self {
        PermissionsRequest {
            employment: "rw".into(),
            archive: "ro".into(),
            hukou: "none".into(),
        }
    }
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
    /// The accounts the caller manages, filtered and sorted, one page at a time.
    ///
    /// Province and school users (and the administrator) with read-write 就业 permission: a
    /// province user sees its schools' accounts, a school user its departments' accounts, the
    /// administrator every account. Department accounts whose department is not (or no longer) a roster
    /// department are flagged (`department_in_roster`, `department_warning`): they cannot review.
    #[oai(path = "/accounts", method = "get", operation_id = "accounts_list")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&State>,
        auth: Token,
        /// Only accounts of this role (`school`, `department`, …).
        role: Query<Option<String>>,
        /// Only accounts of this school.
        school_id: Query<Option<i64>>,
        /// Only department accounts of this department (院系), exactly as stored.
        department: Query<Option<String>>,
        /// Order: `created_at` (the default, oldest first), `username`, `role`; `-` before a key
        /// for descending.
        sort: Query<Option<String>>,
        /// The page, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
        page: Query<Option<u64>>,
        /// Items per page (20 by default, at most 200).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        page_size: Query<Option<u64>>,
    ) -> poem::Result<AccountListAnswer> {
        let c = caller(&state, &auth).await?;
        require_manager(&c)?;
        let sort = Sort::parse(sort.0.as_deref(), &ACCOUNT_SORT, "created_at")?;
        let service::ManagedAccounts { page: p, roster } = service::list_managed_accounts(
            &state,
            &c,
            service::AccountFilter {
                role: role.0,
                school_id: school_id.0,
                department: department.0,
            },
            sort,
            page.0,
            page_size.0,
        )
        .await?;
        let items = p
            .rows
            .iter()
            .map(|a| {
                let mut v = AccountView::of(a);
                if a.role == "department" {
                    let ok = a
                        .school_id
                        .and_then(|s| roster.get(&s))
                        .zip(a.department.as_ref())
                        .is_some_and(|(names, d)| names.contains(d));
                    v.department_in_roster = Some(ok);
                    if !ok {
                        v.department_warning = Some(
                            "该院系账号的院系名称与学生名单中的院系名称不一致，无法进行审核".into(),
                        );
                    }
                }
                v
            })
            .collect();
        Ok(AccountListAnswer::Ok(Json(AccountPage {
            total: p.total,
            page: p.page,
            page_size: p.size,
            items,
        })))
    }

    /// Create a school account (province users) or a department account (school users).
    ///
    /// A province user with read-write 就业 permission creates `school` accounts for a school of
    /// its province; a school user creates `department` accounts of its own school, whose
    /// department must be named exactly as in the roster. Permission levels default to
    /// 就业 `rw`, 档案 `none`, 户口 `none` (SPEC.md 1.1).
    #[oai(path = "/accounts", method = "post", operation_id = "accounts_create")]
    async fn create(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<NewAccount>,
    ) -> poem::Result<CreateAccountAnswer> {
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
        Ok(CreateAccountAnswer::Ok(Json(AccountView::of(&m))))
    }

    /// Disable or enable an account the caller manages; disabling ends its sessions.
    ///
    /// Province and school users with read-write 就业 permission, for the accounts they manage
    /// (a province its schools', a school its departments'). Disabling deletes the account's
    /// tokens at once; enabling lets it log in again.
    #[oai(
        path = "/accounts/:id/active",
        method = "put",
        operation_id = "accounts_set_active"
    )]
    async fn set_active(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The account's id.
        id: Path<i64>,
        body: Json<ActiveRequest>,
    ) -> poem::Result<SetActiveAnswer> {
        let c = caller(&state, &auth).await?;
        require_manager(&c)?;
        let target = service::find_managed_account(&state, &c, *id).await?;
        let m = service::set_account_active(&state, &c, target, body.active).await?;
        Ok(SetActiveAnswer::Ok(Json(AccountView::of(&m))))
    }

    /// Change one's own password (other sessions stay valid until they expire).
    ///
    /// Any account with a password, after giving the current one; the administrator's token has
    /// no password.
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
    ) -> poem::Result<ChangePasswordAnswer> {
        let c = caller(&state, &auth).await?;
        if c.role == AccountRole::Admin {
            return Err(ApiError::forbidden("系统管理员令牌没有密码，不能修改").into());
        }
        service::change_own_password(&state, &c, &body.old_password, &body.new_password).await?;
        Ok(ChangePasswordAnswer::Ok(Json(PasswordChanged {
            changed: true,
        })))
    }

    /// Create an API key for an integrator system; the key is shown once.
    ///
    /// Province and school users with read-write 就业 permission create keys for the employment
    /// management system: a province user's key covers the province or one of its schools, a
    /// school user's key its own school. The administrator also creates identity keys (for the
    /// identity provider that issues graduate sessions), for a province or nationwide.
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
    ) -> poem::Result<CreateKeyAnswer> {
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
        v.key = Some(key);
        Ok(CreateKeyAnswer::Ok(Json(v)))
    }

    /// The API keys in the caller's scope (never the keys themselves).
    ///
    /// Province and school users with read-write 就业 permission: a province user sees its
    /// province's keys, a school user its school's, the administrator every key; oldest first.
    #[oai(
        path = "/api-keys",
        method = "get",
        operation_id = "accounts_list_keys"
    )]
    async fn list_keys(&self, state: Data<&State>, auth: Token) -> poem::Result<KeyListAnswer> {
        let c = caller(&state, &auth).await?;
        require_manager(&c)?;
        let rows = service::list_api_keys(&state, &c).await?;
        Ok(KeyListAnswer::Ok(Json(KeyList {
            items: rows.iter().map(key_view).collect(),
        })))
    }

    /// Revoke an API key: it stops working at once.
    ///
    /// Province and school users with read-write 就业 permission, for a key in their scope (a
    /// province its province's, a school its school's); the key's tokens are deleted and it is
    /// disabled.
    #[oai(
        path = "/api-keys/:id",
        method = "delete",
        operation_id = "accounts_revoke_key"
    )]
    async fn revoke_key(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The key's id.
        id: Path<i64>,
    ) -> poem::Result<RevokeKeyAnswer> {
        let c = caller(&state, &auth).await?;
        require_manager(&c)?;
        let m = service::revoke_api_key(&state, &c, *id).await?;
        Ok(RevokeKeyAnswer::Ok(Json(key_view(&m))))
    }

    /// Set an account's module permission levels.
    ///
    /// Province and school users with read-write 就业 permission, for the accounts they manage;
    /// each level is `rw`, `ro` or `none`. The account's cached sessions take the new levels at
    /// once.
    #[oai(
        path = "/accounts/:id/permissions",
        method = "put",
        operation_id = "accounts_set_permissions"
    )]
    async fn set_permissions(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The account's id.
        id: Path<i64>,
        body: Json<PermissionsRequest>,
    ) -> poem::Result<SetPermissionsAnswer> {
        let c = caller(&state, &auth).await?;
        require_manager(&c)?;
        check_level("employment", "基本信息和就业信息", &body.employment)?;
        check_level("archive", "档案信息", &body.archive)?;
        check_level("hukou", "户口信息", &body.hukou)?;
        let target = service::find_managed_account(&state, &c, *id).await?;
        let m = service::set_module_levels(
            &state,
            &c,
            target,
            &body.employment,
            &body.archive,
            &body.hukou,
        )
        .await?;
        Ok(SetPermissionsAnswer::Ok(Json(AccountPermissions {
            id: m.id,
            permissions: PermissionLevels::of(&m),
        })))
    }
}

fn key_view(a: &account::Model) -> KeyView {
    let kind = a
        .key_kind
        .as_deref()
        .and_then(KeyKind::parse)
        .unwrap_or(KeyKind::Roster);
    KeyView {
        id: a.id,
        name: a.display_name.clone(),
        kind: kind.as_str().to_string(),
        kind_label: kind.label().to_string(),
        province_code: a.province_code.clone(),
        school_id: a.school_id,
        active: a.active,
        created_at: a.created_at,
        created_by: a.created_by,
        key: None,
    }
}
