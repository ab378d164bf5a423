//! Password login issuing an expiring bearer token, and logout.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use super::{caller, Tag, Token};
use crate::auth::{issue_token_until, revoke_token, verify_password};
use crate::entity::account;
use crate::error::ApiError;
use crate::service::State;

#[derive(Object)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

pub struct AuthApi;

#[OpenApi(prefix_path = "/api/v1/auth", tag = "Tag::Auth")]
impl AuthApi {
    /// Log in with username and password; returns a session token that expires.
    /// Unknown users and wrong passwords get the same answer.
    #[oai(path = "/login", method = "post")]
    async fn login(
        &self,
        state: Data<&State>,
        body: Json<LoginRequest>,
    ) -> poem::Result<Json<Value>> {
        let failed = || {
            ApiError::new(
                poem::http::StatusCode::UNAUTHORIZED,
                "login_failed",
                "用户名或密码错误",
            )
        };
        let acc = account::Entity::find()
            .filter(account::Column::Username.eq(body.username.trim()))
            .one(&state.db.conn)
            .await
            .map_err(ApiError::from)?;
        let Some(acc) = acc else {
            return Err(failed().into());
        };
        let Some(hash) = acc.password_hash.clone() else {
            return Err(failed().into());
        };
        let password = body.password.clone();
        // argon2 is deliberately slow: keep it off the async workers.
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(ApiError::internal)?;
        if !ok {
            return Err(failed().into());
        }
        if !acc.active {
            return Err(ApiError::forbidden("账号已停用").into());
        }
        let expires_at =
            state.clock.now() + chrono::Duration::hours(state.config.session_hours.max(1));
        let token = issue_token_until(&state.db, acc.id, "session", Some(expires_at)).await?;
        Ok(Json(json!({
            "token": token,
            "expires_at": expires_at.to_rfc3339(),
            "role": acc.role,
            "account_id": acc.id,
        })))
    }

    /// Log out: the token stops working at once.
    #[oai(path = "/logout", method = "post")]
    async fn logout(&self, state: Data<&State>, auth: Token) -> poem::Result<Json<Value>> {
        caller(&state, &auth).await?;
        revoke_token(&state.db, &auth.0.token).await?;
        state.auth.forget(&auth.0.token).await;
        Ok(Json(json!({"ok": true})))
    }
}
