//! Uploading files (stamped agreements, termination letters, proof): checked by content, size
//! limited, large images compressed; stored under the data directory with their SHA-256.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json, Response};
use poem_openapi::OpenApi;
use serde_json::{json, Value};

use super::{caller, Tag, Token};
use crate::auth::AccountRole;
use crate::entity::upload;
use crate::error::ApiError;
use crate::service::{AppState, State};
use crate::services::accounts as service;

fn view(u: &upload::Model) -> Value {
    json!({
        "id": u.id,
        "content_type": u.content_type,
        "size": u.size,
        "sha256": u.sha256,
        "created_at": u.created_at.to_rfc3339(),
    })
}

/// Checks `bytes` by content for `purpose`, stores the file under the data directory and
/// records it as uploaded by `account_id` (0: the system, e.g. an employer's SMS link). (The
/// work is [`service::save_upload`]'s; kept here for the handlers that take files.)
pub(crate) async fn save(
    state: &AppState,
    account_id: i64,
    purpose: &str,
    bytes: Vec<u8>,
) -> Result<upload::Model, ApiError> {
    service::save_upload(state, account_id, purpose, bytes).await
}

pub struct UploadsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Uploads")]
impl UploadsApi {
    /// Upload a file as the request body (`application/octet-stream`).
    ///
    /// `purpose=image` (the default) accepts png and jpg; `purpose=evidence` also mp3, mp4 and zip.
    /// The type is read from the content; at most 20 MB; images over 300 KB are compressed. Answers
    /// the id to put in a form's file field; the first application that uses it keeps it (another
    /// one is refused with `upload_used`).
    #[oai(path = "/uploads", method = "post", operation_id = "uploads_upload")]
    async fn upload(
        &self,
        state: Data<&State>,
        auth: Token,
        purpose: Query<Option<String>>,
        body: Binary<Vec<u8>>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        if c.role == AccountRole::Integrator {
            return Err(ApiError::forbidden("接口密钥不能上传文件").into());
        }
        let purpose = purpose.0.unwrap_or_else(|| "image".into());
        if purpose != "image" && purpose != "evidence" {
            return Err(ApiError::unprocessable(
                "invalid_purpose",
                "purpose：只能是 image（图片）或 evidence（证明材料）",
            )
            .into());
        }
        let m = service::save_upload(&state, c.account_id, &purpose, body.0).await?;
        Ok(Json(view(&m)))
    }

    /// Download an upload: its uploader and the administrator.
    ///
    /// (Reviewers reach the files of the items they review through those items.)
    #[oai(
        path = "/uploads/:id",
        method = "get",
        operation_id = "uploads_download"
    )]
    async fn download(
        &self,
        state: Data<&State>,
        auth: Token,
        id: Path<String>,
    ) -> poem::Result<Response<Binary<Vec<u8>>>> {
        let c = caller(&state, &auth).await?;
        let u = service::find_upload(&state, &id.0)
            .await?
            .filter(|u| c.role == AccountRole::Admin || u.account_id == c.account_id)
            .ok_or_else(|| ApiError::not_found("文件不存在"))?;
        let bytes = tokio::fs::read(state.config.data_dir.join(&u.path))
            .await
            .map_err(ApiError::internal)?;
        Ok(Response::new(Binary(bytes)).header("content-type", u.content_type.clone()))
    }
}
