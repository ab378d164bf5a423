//! Module permission levels (SPEC.md 1.1): a province user sets its school accounts' levels,
//! a school user its department accounts' levels, for the three modules.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{json, Value};

use super::{caller, Tag, Token};
use crate::auth::{AccountRole, Caller};
use crate::entity::account;
use crate::error::ApiError;
use crate::service::State;

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

#[OpenApi(prefix_path = "/api/v1/accounts", tag = "Tag::Accounts")]
impl AccountsApi {
    /// Set an account's module permission levels.
    #[oai(path = "/:id/permissions", method = "put")]
    async fn set_permissions(
        &self,
        state: Data<&State>,
        auth: Token,
        id: Path<i64>,
        body: Json<PermissionsRequest>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        if !matches!(
            c.role,
            AccountRole::Admin | AccountRole::Province | AccountRole::School
        ) {
            return Err(
                ApiError::forbidden("只有省级用户和学校用户可以设置下级账号的模块权限").into(),
            );
        }
        c.require_write(gradflow_engine::definition::Module::Employment)?;
        check_level("employment", "基本信息和就业信息", &body.employment)?;
        check_level("archive", "档案信息", &body.archive)?;
        check_level("hukou", "户口信息", &body.hukou)?;
        let target = account::Entity::find_by_id(*id)
            .one(&state.db.conn)
            .await
            .map_err(ApiError::from)?
            .filter(|t| manages(&c, t))
            .ok_or_else(|| ApiError::not_found("账号不存在或不归你管理"))?;
        let mut am: account::ActiveModel = target.into();
        am.perm_employment = Set(body.employment.clone());
        am.perm_archive = Set(body.archive.clone());
        am.perm_hukou = Set(body.hukou.clone());
        let m = am.update(&state.db.conn).await.map_err(ApiError::from)?;
        // Cached callers carry the old levels.
        state.auth.forget_all();
        Ok(Json(json!({
            "id": m.id,
            "permissions": {"employment": m.perm_employment, "archive": m.perm_archive, "hukou": m.perm_hukou},
        })))
    }
}
