//! Password login. An unknown user costs the same argon2 check as a wrong password (a dummy
//! hash), so usernames cannot be told apart by the time an answer takes; failed logins are
//! limited per account (a lock stored with the account, so every process honours it) and
//! per client address (in this process's memory).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use moka::sync::Cache;
use poem::http::StatusCode;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::auth::{dummy_hash, issue_token_until, verify_password, MAX_PASSWORD};
use crate::entity::account;
use crate::error::{ApiError, ApiResult};
use crate::service::AppState;

/// Failed logins in a row that lock an account.
pub const ACCOUNT_FAILURES: i32 = 5;
/// How long a locked account refuses password logins.
pub const LOCK_MINUTES: i64 = 15;
/// Failed logins from one address within [`ADDRESS_WINDOW`] before it is refused.
pub const ADDRESS_FAILURES: u32 = 20;
/// The window of the address limit, counted from its first failure.
pub const ADDRESS_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Failed logins per client address, forgotten a window after the first.
pub struct AddressFailures {
    counts: Cache<String, Arc<AtomicU32>>,
}

impl Default for AddressFailures {
    fn default() -> Self {
        AddressFailures {
            counts: Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(ADDRESS_WINDOW)
                .build(),
        }
    }
}

impl AddressFailures {
    fn count(&self, addr: &str) -> u32 {
        self.counts
            .get(addr)
            .map_or(0, |c| c.load(Ordering::SeqCst))
    }

    fn fail(&self, addr: &str) {
        self.counts
            .get_with(addr.to_string(), || Arc::new(AtomicU32::new(0)))
            .fetch_add(1, Ordering::SeqCst);
    }
}

fn failed() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "login_failed", "用户名或密码错误")
}

fn locked(until: DateTime<Utc>) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "account_locked",
        format!(
            "登录失败次数过多，账号已锁定，请于 {} 后再试",
            crate::store::china_minute(until)
        ),
    )
}

/// A password session: its token and what it is for.
pub struct Session {
    /// The bearer token (shown once).
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// The account's role (`province`, `school`, …).
    pub role: String,
    pub account_id: i64,
}

/// Logs in with username and password from client address `addr`; the session token and
/// what it is for.
pub async fn login(
    state: &AppState,
    username: &str,
    password: &str,
    addr: &str,
) -> ApiResult<Session> {
    if state.login_failures.count(addr) >= ADDRESS_FAILURES {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!(
                "登录失败次数过多，请 {} 分钟后再试",
                ADDRESS_WINDOW.as_secs() / 60
            ),
        ));
    }
    let now = state.clock.now();
    let acc = account::Entity::find()
        .filter(account::Column::Username.eq(username.trim()))
        .one(&state.db.conn)
        .await?;
    if let Some(until) = acc
        .as_ref()
        .and_then(|a| a.locked_until)
        .filter(|u| *u > now)
    {
        return Err(locked(until));
    }
    // The same argon2 work whether or not the account exists or has a password.
    let hash = acc
        .as_ref()
        .and_then(|a| a.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_string());
    let candidate: String = password.chars().take(MAX_PASSWORD + 1).collect();
    let too_long = candidate.chars().count() > MAX_PASSWORD;
    let ok = tokio::task::spawn_blocking(move || verify_password(&candidate, &hash))
        .await
        .map_err(ApiError::internal)?
        && !too_long;
    let acc = match acc {
        Some(a) if ok && a.password_hash.is_some() => a,
        other => {
            state.login_failures.fail(addr);
            return Err(match other.filter(|a| a.password_hash.is_some()) {
                Some(a) => count_failure(state, &a, now).await?,
                None => failed(),
            });
        }
    };
    if !acc.active {
        return Err(ApiError::forbidden("账号已停用"));
    }
    if acc.failed_logins != 0 || acc.locked_until.is_some() {
        let w = state.db.writer().await;
        account::Entity::update_many()
            .col_expr(account::Column::FailedLogins, Expr::value(0))
            .col_expr(
                account::Column::LockedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(account::Column::Id.eq(acc.id))
            .exec(&w)
            .await?;
    }
    let expires_at = now + chrono::Duration::hours(state.config.session_hours.max(1));
    let token = issue_token_until(&state.db, acc.id, "session", Some(expires_at)).await?;
    Ok(Session {
        token,
        expires_at,
        role: acc.role,
        account_id: acc.id,
    })
}

/// Counts a failed login of an existing account (one atomic update); the failure that reaches
/// [`ACCOUNT_FAILURES`] locks it. The answer to give.
async fn count_failure(
    state: &AppState,
    a: &account::Model,
    now: DateTime<Utc>,
) -> ApiResult<ApiError> {
    let w = state.db.writer().await;
    account::Entity::update_many()
        .col_expr(
            account::Column::FailedLogins,
            Expr::col(account::Column::FailedLogins).add(1),
        )
        .filter(account::Column::Id.eq(a.id))
        .exec(&w)
        .await?;
    let until = now + chrono::Duration::minutes(LOCK_MINUTES);
    let lock = account::Entity::update_many()
        .col_expr(account::Column::FailedLogins, Expr::value(0))
        .col_expr(account::Column::LockedUntil, Expr::value(Some(until)))
        .filter(account::Column::Id.eq(a.id))
        .filter(account::Column::FailedLogins.gte(ACCOUNT_FAILURES))
        .exec(&w)
        .await?;
    Ok(if lock.rows_affected == 1 {
        locked(until)
    } else {
        failed()
    })
}
