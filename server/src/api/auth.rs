//! Password login issuing an expiring bearer token, graduate sessions vouched for by the
//! identity provider's key, and logout.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::{answers, caller, Tag, Token};
use crate::scope;
use crate::service::State;
use crate::services::accounts as service;

/// The graduate a session is asked for.
#[derive(Object)]
#[oai(example)]
pub struct GraduateSessionRequest {
    /// 考生号 of a graduate on the roster the key covers (surrounding spaces ignored).
    pub candidate_no: String,
}

impl poem_openapi::types::Example for GraduateSessionRequest {
    fn example() -> Self {
        GraduateSessionRequest {
            candidate_no: "26320102150001".into(),
        }
    }
}

/// A password login.
#[derive(Object)]
#[oai(example)]
pub struct LoginRequest {
    /// The login name (surrounding spaces ignored).
    pub username: String,
    /// The password (a password longer than 128 characters never matches).
    pub password: String,
}

impl poem_openapi::types::Example for LoginRequest {
    fn example() -> Self {
        LoginRequest {
            username: "nju-admin".into(),
            password: "南京大学就业2026!".into(),
        }
    }
}

/// A session opened by a password login.
#[derive(Object)]
pub struct LoginSession {
    /// The bearer token of the session.
    pub token: String,
    /// When the session expires.
    pub expires_at: DateTime<Utc>,
    /// The account's role (`province`, `school`, `department`, `graduate`, `employer`).
    pub role: String,
    /// The account's id.
    pub account_id: i64,
}

/// A session issued for a graduate.
#[derive(Object)]
pub struct GraduateSession {
    /// The bearer token of the graduate's session.
    pub token: String,
    /// When the session expires.
    pub expires_at: DateTime<Utc>,
    /// The graduate's account (created on first use).
    pub account_id: i64,
    /// The graduate on the roster.
    pub graduate_id: i64,
    /// Whether the graduate already confirmed their basic information (基本信息确认).
    pub basic_info_confirmed: bool,
}

/// The answer of a logout.
#[derive(Object)]
pub struct LoggedOut {
    /// Always `true`.
    pub ok: bool,
}

answers! {
    /// The answers of `POST /auth/login`.
    pub enum LoginAnswer {
        /// The session.
        200 Ok(Json<LoginSession>),
        errors:
        /// The body is not the JSON the operation takes, or a query parameter was sent
        /// (`invalid_body`, `unknown_parameter`).
        400 BadRequest,
        /// Unknown user or wrong password, the same answer for both (`login_failed`).
        401 Unauthorized,
        /// The account is disabled (`forbidden`).
        403 Forbidden,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// A field is not text or holds a control character (`invalid_type`; `invalid_input`
        /// with `control_character`).
        422 Invalid,
        /// Too many failed logins: of the account (`account_locked`) or from the address
        /// (`too_many_attempts`).
        429 TooManyRequests,
    }
}

answers! {
    /// The answers of `POST /auth/graduate-sessions`.
    pub enum GraduateSessionAnswer {
        /// The graduate's session.
        200 Ok(Json<GraduateSession>),
        errors:
        /// The body is not the JSON the operation takes, or a query parameter was sent
        /// (`invalid_body`, `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
        /// Not an identity key, or the graduate's account is disabled (`forbidden`).
        403 Forbidden,
        /// No graduate with this candidate number on a roster the key covers (`not_found`).
        404 NotFound,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// A field is not text or holds a control character (`invalid_type`; `invalid_input`
        /// with `control_character`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `POST /auth/logout`.
    pub enum LogoutAnswer {
        /// The session ended.
        200 Ok(Json<LoggedOut>),
        errors:
        /// A query parameter was sent (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`, `token_expired`).
        401 Unauthorized,
    }
}

pub struct AuthApi;

#[OpenApi(prefix_path = "/api/v1/auth", tag = "Tag::Auth")]
impl AuthApi {
    /// Log in with username and password; returns a session token that expires.
    ///
    /// Anyone with a password account. Unknown users and wrong passwords get the same answer in
    /// the same time; after 5 failures in a row the account is locked for 15 minutes
    /// (`account_locked`, 429), and an address with 20 failures in 15 minutes is refused
    /// (`too_many_attempts`, 429).
    #[oai(path = "/login", method = "post", operation_id = "auth_login")]
    async fn login(
        &self,
        state: Data<&State>,
        remote: &poem::web::RemoteAddr,
        body: Json<LoginRequest>,
    ) -> poem::Result<LoginAnswer> {
        let addr = remote
            .as_socket_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| remote.to_string());
        let s = crate::login::login(&state, &body.username, &body.password, &addr).await?;
        Ok(LoginAnswer::Ok(Json(LoginSession {
            token: s.token,
            expires_at: s.expires_at,
            role: s.role,
            account_id: s.account_id,
        })))
    }

    /// A session for a graduate, issued to the identity provider graduates sign in with.
    ///
    /// Only an identity key (or the administrator): the identity provider graduates sign in with
    /// (the national system uses their 学信网 account) vouches for the graduate's identity, for a
    /// graduate of a school the key covers. The graduate's account is created on first use; the
    /// token expires like a password session. Every session issued is in the audit log.
    #[oai(
        path = "/graduate-sessions",
        method = "post",
        operation_id = "auth_graduate_session"
    )]
    async fn graduate_session(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<GraduateSessionRequest>,
    ) -> poem::Result<GraduateSessionAnswer> {
        let c = caller(&state, &auth).await?;
        scope::require_identity_key(&c)?;
        let service::GraduateSession {
            token,
            expires_at,
            account: acc,
            graduate: g,
        } = service::open_graduate_session(&state, &c, body.candidate_no.trim()).await?;
        Ok(GraduateSessionAnswer::Ok(Json(GraduateSession {
            token,
            expires_at,
            account_id: acc.id,
            graduate_id: g.id,
            basic_info_confirmed: g.basic_info_confirmed,
        })))
    }

    /// Log out: the token stops working at once.
    ///
    /// Any token; the administrator's token is not ended by it (it is configured, not issued).
    #[oai(path = "/logout", method = "post", operation_id = "auth_logout")]
    async fn logout(&self, state: Data<&State>, auth: Token) -> poem::Result<LogoutAnswer> {
        caller(&state, &auth).await?;
        service::end_session(&state, &auth.0.token).await?;
        Ok(LogoutAnswer::Ok(Json(LoggedOut { ok: true })))
    }
}
