//! Password login issuing an expiring bearer token, and logout.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::{json, Value};

use super::{caller, Tag, Token};
use crate::scope;
use crate::service::State;
use crate::services::accounts as service;

#[derive(Object)]
pub struct GraduateSessionRequest {
    /// 考生号 of a graduate on the roster the key covers.
    pub candidate_no: String,
}

#[derive(Object)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

pub struct AuthApi;

#[OpenApi(prefix_path = "/api/v1/auth", tag = "Tag::Auth")]
impl AuthApi {
    /// Log in with username and password; returns a session token that expires.
    ///
    /// Unknown users and wrong passwords get the same answer in the same time; after 5 failures in
    /// a row the account is locked for 15 minutes (`account_locked`, 429), and an address with 20
    /// failures in 15 minutes is refused (`too_many_attempts`, 429).
    #[oai(path = "/login", method = "post", operation_id = "auth_login")]
    async fn login(
        &self,
        state: Data<&State>,
        remote: &poem::web::RemoteAddr,
        body: Json<LoginRequest>,
    ) -> poem::Result<Json<Value>> {
        let addr = remote
            .as_socket_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| remote.to_string());
        Ok(Json(
            crate::login::login(&state, &body.username, &body.password, &addr).await?,
        ))
    }

    /// A session for a graduate, issued to the identity provider graduates sign in with.
    ///
    /// A session for a graduate, issued to the identity provider graduates sign in with (the
    /// national system uses their 学信网 account): an integrator key covering the graduate's school
    /// vouches for the graduate's identity.
    ///
    /// The graduate's account is created on first use; the token expires like a password session.
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
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        scope::require_identity_key(&c)?;
        let service::GraduateSession {
            token,
            expires_at,
            account: acc,
            graduate: g,
        } = service::open_graduate_session(&state, &c, body.candidate_no.trim()).await?;
        Ok(Json(json!({
            "token": token,
            "expires_at": expires_at.to_rfc3339(),
            "account_id": acc.id,
            "graduate_id": g.id,
            "basic_info_confirmed": g.basic_info_confirmed,
        })))
    }

    /// Log out: the token stops working at once.
    #[oai(path = "/logout", method = "post", operation_id = "auth_logout")]
    async fn logout(&self, state: Data<&State>, auth: Token) -> poem::Result<Json<Value>> {
        caller(&state, &auth).await?;
        service::end_session(&state, &auth.0.token).await?;
        Ok(Json(json!({"ok": true})))
    }
}
