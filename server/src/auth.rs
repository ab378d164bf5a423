//! Identity: bearer tokens for accounts of every role, each carrying its scope.
//!
//! Tokens are random, shown once, and stored only as their SHA-256. A resolved caller is
//! cached for a short time (moka); logout and account changes invalidate the entry.
//! This is the seam the full account and permission model builds on.

use chrono::{DateTime, Utc};
use gradflow_engine::apply::Actor;
use gradflow_engine::definition::{Module, Role};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use sha2::{Digest, Sha256};

use crate::db::Db;
use crate::entity::{account, token};
use crate::error::{ApiError, ApiResult};

/// The kind of account. `Admin` is the system administrator (bootstrap token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountRole {
    Admin,
    Province,
    School,
    Department,
    Graduate,
    Employer,
    /// An integrator system (the employment management system of a province or school).
    Integrator,
}

impl AccountRole {
    pub fn parse(s: &str) -> Option<AccountRole> {
        Some(match s {
            "admin" => AccountRole::Admin,
            "province" => AccountRole::Province,
            "school" => AccountRole::School,
            "department" => AccountRole::Department,
            "graduate" => AccountRole::Graduate,
            "employer" => AccountRole::Employer,
            "integrator" => AccountRole::Integrator,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AccountRole::Admin => "admin",
            AccountRole::Province => "province",
            AccountRole::School => "school",
            AccountRole::Department => "department",
            AccountRole::Graduate => "graduate",
            AccountRole::Employer => "employer",
            AccountRole::Integrator => "integrator",
        }
    }

    /// The engine role this account acts in.
    pub fn engine_role(self) -> Role {
        match self {
            AccountRole::Province => Role::Province,
            AccountRole::School => Role::School,
            AccountRole::Department => Role::Department,
            AccountRole::Graduate => Role::Graduate,
            AccountRole::Employer => Role::Employer,
            AccountRole::Admin | AccountRole::Integrator => Role::System,
        }
    }
}

/// What an integrator's API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The employment management system of a province or school: uploads, deletes and
    /// restores the roster, nothing else.
    Roster,
    /// The identity provider graduates sign in with: exchanges a candidate number for a
    /// graduate session. Only the system administrator issues such keys.
    Identity,
}

impl KeyKind {
    pub fn parse(s: &str) -> Option<KeyKind> {
        match s {
            "roster" => Some(KeyKind::Roster),
            "identity" => Some(KeyKind::Identity),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Roster => "roster",
            KeyKind::Identity => "identity",
        }
    }

    /// The kind as users read it.
    pub fn label(self) -> &'static str {
        match self {
            KeyKind::Roster => "就业管理系统（学生名单）",
            KeyKind::Identity => "身份认证系统（毕业生登录）",
        }
    }
}

/// A module permission level (SPEC.md 1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    None,
    ReadOnly,
    ReadWrite,
}

impl Level {
    pub fn parse(s: &str) -> Level {
        match s {
            "rw" => Level::ReadWrite,
            "ro" => Level::ReadOnly,
            _ => Level::None,
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: i64,
    /// When the token expires (`None` for API keys and bootstrap tokens).
    pub expires_at: Option<DateTime<Utc>>,
    pub role: AccountRole,
    /// For an API key (`Integrator`), what it may do.
    pub key_kind: Option<KeyKind>,
    pub username: String,
    pub actor: Actor,
    pub employment: Level,
    pub archive: Level,
    pub hukou: Level,
}

impl Caller {
    pub fn admin() -> Caller {
        Caller {
            account_id: 0,
            expires_at: None,
            role: AccountRole::Admin,
            key_kind: None,
            username: "admin".into(),
            actor: Actor::system(),
            employment: Level::ReadWrite,
            archive: Level::ReadWrite,
            hukou: Level::ReadWrite,
        }
    }

    /// The caller's level in a module. Graduates and employers act on their own items only,
    /// which the engine's party checks enforce; for them the module level is read-write.
    pub fn level(&self, module: Module) -> Level {
        match self.role {
            AccountRole::School | AccountRole::Department | AccountRole::Province => match module {
                Module::Employment => self.employment,
                Module::Archive => self.archive,
                Module::Hukou => self.hukou,
            },
            _ => Level::ReadWrite,
        }
    }

    /// Refuses unless the caller may enter the module.
    pub fn require_view(&self, module: Module) -> ApiResult<()> {
        if self.level(module) == Level::None {
            return Err(ApiError::forbidden(format!(
                "你的账号没有“{}”模块的权限",
                module_label(module)
            )));
        }
        Ok(())
    }

    /// Refuses unless the caller may change data in the module.
    pub fn require_write(&self, module: Module) -> ApiResult<()> {
        self.require_view(module)?;
        if self.level(module) != Level::ReadWrite {
            return Err(ApiError::forbidden(format!(
                "你的账号在“{}”模块只有只读权限，只能查看和下载",
                module_label(module)
            )));
        }
        Ok(())
    }

    pub fn require_admin(&self) -> ApiResult<()> {
        if self.role != AccountRole::Admin {
            return Err(ApiError::forbidden("仅系统管理员可以执行此操作"));
        }
        Ok(())
    }
}

pub fn module_label(m: Module) -> &'static str {
    match m {
        Module::Employment => "基本信息和就业信息",
        Module::Archive => "档案信息",
        Module::Hukou => "户口信息",
    }
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token (256 bits, hex).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("gf_{}", hex::encode(bytes))
}

/// Resolves bearer tokens to callers. Callers are kept in process while the `tokens` and
/// `accounts` tables are unchanged (`db::cache`: any login, logout or account change drops
/// them all at once; only on SQLite, where this process sees every write).
#[derive(Clone)]
pub struct Auth {
    admin_hash: Option<String>,
    cache: std::sync::Arc<crate::db::cache::RowCache<String, Caller>>,
}

impl Auth {
    pub fn new(admin_token: Option<&str>) -> Auth {
        Auth {
            admin_hash: admin_token.map(hash_token),
            cache: std::sync::Arc::new(crate::db::cache::RowCache::new(
                &["tokens", "accounts"],
                100_000,
            )),
        }
    }

    /// The caller a bearer token belongs to, at `now` (the server's clock).
    pub async fn resolve(
        &self,
        db: &Db,
        bearer: Option<&str>,
        now: DateTime<Utc>,
    ) -> ApiResult<Caller> {
        let token = bearer.ok_or_else(ApiError::unauthorized)?;
        let hash = hash_token(token);
        if self.admin_hash.as_deref() == Some(hash.as_str()) {
            return Ok(Caller::admin());
        }
        let caller = match self.cache.get(db, &hash) {
            Some(c) => c,
            None => {
                let stamp = self.cache.stamp();
                let Some(tok) = token::Entity::find_by_id(hash.clone())
                    .one(&db.conn)
                    .await?
                else {
                    return Err(ApiError::unauthorized());
                };
                let acc = account::Entity::find_by_id(tok.account_id)
                    .one(&db.conn)
                    .await?
                    .ok_or_else(ApiError::unauthorized)?;
                if !acc.active {
                    return Err(ApiError::forbidden("账号已停用"));
                }
                let mut caller = caller_of(&acc)?;
                caller.expires_at = tok.expires_at;
                self.cache.put(db, stamp, hash, caller.clone());
                caller
            }
        };
        if caller.expires_at.is_some_and(|e| e <= now) {
            return Err(ApiError::new(
                poem::http::StatusCode::UNAUTHORIZED,
                "token_expired",
                "登录已过期，请重新登录",
            ));
        }
        Ok(caller)
    }

    /// Forgets a token (logout).
    pub async fn forget(&self, token: &str) {
        self.cache.forget(&hash_token(token));
    }

    /// Forgets every cached caller (after an account or permission change).
    pub fn forget_all(&self) {
        self.cache.forget_all();
    }
}

/// Builds the caller (and the engine actor) from an account row.
pub fn caller_of(acc: &account::Model) -> ApiResult<Caller> {
    let role = AccountRole::parse(&acc.role)
        .ok_or_else(|| ApiError::internal(format!("unknown account role {}", acc.role)))?;
    Ok(Caller {
        account_id: acc.id,
        expires_at: None,
        role,
        key_kind: match role {
            // Keys made before kinds existed are roster keys.
            AccountRole::Integrator => Some(
                acc.key_kind
                    .as_deref()
                    .and_then(KeyKind::parse)
                    .unwrap_or(KeyKind::Roster),
            ),
            _ => None,
        },
        username: acc.username.clone(),
        actor: Actor {
            role: role.engine_role(),
            account_id: acc.id,
            province: acc.province_code.clone(),
            school_id: acc.school_id,
            department: acc.department.clone(),
            graduate_id: acc.graduate_id,
            employer_id: acc.employer_id,
        },
        employment: Level::parse(&acc.perm_employment),
        archive: Level::parse(&acc.perm_archive),
        hukou: Level::parse(&acc.perm_hukou),
    })
}

/// Issues a token for an account and stores its hash; returns the token (shown once).
pub async fn issue_token(db: &Db, account_id: i64, kind: &str) -> ApiResult<String> {
    issue_token_until(db, account_id, kind, None).await
}

/// Issues a token that expires at `expires_at` (sessions from a password login).
pub async fn issue_token_until(
    db: &Db,
    account_id: i64,
    kind: &str,
    expires_at: Option<DateTime<Utc>>,
) -> ApiResult<String> {
    let t = new_token();
    token::ActiveModel {
        token_hash: Set(hash_token(&t)),
        account_id: Set(account_id),
        kind: Set(kind.to_string()),
        created_at: Set(Utc::now()),
        expires_at: Set(expires_at),
    }
    .insert(&db.writer().await)
    .await?;
    Ok(t)
}

/// The longest password accepted (a login with a longer one fails without hashing it).
pub const MAX_PASSWORD: usize = 128;

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> ApiResult<String> {
    use argon2::password_hash::rand_core::OsRng;
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

/// Checks the password rule and hashes it off the async runtime (argon2 is deliberately slow).
pub async fn hash_new_password(field: &str, password: &str) -> ApiResult<String> {
    if password.chars().count() < 8 {
        return Err(ApiError::unprocessable(
            "weak_password",
            format!("{field}：密码至少 8 位"),
        ));
    }
    if password.chars().count() > MAX_PASSWORD {
        return Err(ApiError::unprocessable(
            "password_too_long",
            format!("{field}：密码不能超过 {MAX_PASSWORD} 个字符"),
        ));
    }
    let p = password.to_string();
    tokio::task::spawn_blocking(move || hash_password(&p))
        .await
        .map_err(ApiError::internal)?
}

/// The hash a login checks when the account does not exist (or has no password), so that
/// the answer takes as long as for a wrong password: usernames cannot be told apart by time.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("no account has this password").unwrap_or_default())
}

/// Whether `password` matches a stored PHC hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Removes a token (logout).
pub async fn revoke_token(db: &Db, token: &str) -> ApiResult<()> {
    token::Entity::delete_by_id(hash_token(token))
        .exec(&db.writer().await)
        .await?;
    Ok(())
}

/// The module's name as the province's 功能设置 page shows it.
pub fn module_title(m: Module) -> &'static str {
    match m {
        Module::Employment => "毕业去向登记与网签",
        Module::Archive => "档案信息登记",
        Module::Hukou => "户口信息登记",
    }
}
