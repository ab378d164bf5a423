//! Password login issuing an expiring bearer token, and logout.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{json, Value};

use super::{caller, Tag, Token};
use crate::auth::{issue_token_until, revoke_token};
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
    /// Log in with username and password; returns a session token that expires. Unknown
    /// users and wrong passwords get the same answer in the same time; after 5 failures in a
    /// row the account is locked for 15 minutes (`account_locked`, 429), and an address with
    /// 20 failures in 15 minutes is refused (`too_many_attempts`, 429).
    #[oai(path = "/login", method = "post")]
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
        scope::require_identity_key(&c)?;
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
        let (Some(g), Some(_)) = (g, school.filter(|s| scope::covers_school(&c, s))) else {
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
                am.update(&*state.db.writer().await)
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
            .insert(&*state.db.writer().await)
            .await
            .map_err(ApiError::from)?,
        };
        state.auth.forget_all();
        let expires_at = now + chrono::Duration::hours(state.config.session_hours.max(1));
        let token = issue_token_until(&state.db, acc.id, "session", Some(expires_at)).await?;
        // Who vouched for whom: every session an identity key issues is on record.
        crate::audit::record(
            &*state.db.writer().await,
            &c,
            now,
            "auth.graduate_session",
            ("graduate", g.id.to_string()),
            json!({"key": c.account_id, "school_id": g.school_id}),
        )
        .await?;
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
