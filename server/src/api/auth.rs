//! Password login issuing an expiring bearer token, and logout.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{json, Value};

use super::{caller, Tag, Token};
use crate::auth::{issue_token_until, revoke_token, verify_password, AccountRole};
use crate::entity::{account, graduate, school};
use crate::error::ApiError;
use crate::scope;
use crate::service::State;

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

    /// A session for a graduate, issued to the identity provider graduates sign in with (the
    /// national system uses their 学信网 account): an integrator key covering the graduate's
    /// school vouches for the graduate's identity. The graduate's account is created on first
    /// use; the token expires like a password session.
    #[oai(path = "/graduate-sessions", method = "post")]
    async fn graduate_session(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<GraduateSessionRequest>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        if !matches!(c.role, AccountRole::Admin | AccountRole::Integrator) {
            return Err(
                ApiError::forbidden("只有身份认证系统的接口密钥可以为毕业生签发登录令牌").into(),
            );
        }
        let g = graduate::Entity::find()
            .filter(graduate::Column::CandidateNo.eq(body.candidate_no.trim()))
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
        let (Some(g), Some(_)) = (g, school.filter(|s| scope::covers_roster(&c, s))) else {
            return Err(ApiError::not_found("candidate_no：学生名单中没有该考生号").into());
        };
        let username = format!("graduate-{}", g.candidate_no);
        let existing = account::Entity::find()
            .filter(account::Column::GraduateId.eq(g.id))
            .one(&state.db.conn)
            .await
            .map_err(ApiError::from)?;
        let now = state.clock.now();
        let acc = match existing {
            Some(a) if !a.active => return Err(ApiError::forbidden("账号已停用").into()),
            Some(a) => {
                // Keep the account's scope in step with the roster (department may change).
                let mut am: account::ActiveModel = a.into();
                am.school_id = Set(Some(g.school_id));
                am.province_code = Set(Some(g.province_code.clone()));
                am.department = Set(Some(g.department.clone()));
                am.display_name = Set(g.name.clone());
                am.update(&state.db.conn).await.map_err(ApiError::from)?
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
            .insert(&state.db.conn)
            .await
            .map_err(ApiError::from)?,
        };
        state.auth.forget_all();
        let expires_at = now + chrono::Duration::hours(state.config.session_hours.max(1));
        let token = issue_token_until(&state.db, acc.id, "session", Some(expires_at)).await?;
        Ok(Json(json!({
            "token": token,
            "expires_at": expires_at.to_rfc3339(),
            "account_id": acc.id,
            "graduate_id": g.id,
            "basic_info_confirmed": g.basic_info_confirmed,
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
