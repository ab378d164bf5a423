//! Uploading files (stamped agreements, termination letters, proof): checked by content, size
//! limited, large images compressed; stored under the data directory with their SHA-256.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json, Response};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::{answers, caller, Problem, Tag, Token};
use crate::auth::AccountRole;
use crate::entity::upload;
use crate::error::ApiError;
use crate::service::{AppState, State};
use crate::services::accounts as service;

/// A stored upload.
#[derive(Object)]
pub struct UploadView {
    /// The upload's id, to put in a form's file field.
    pub id: String,
    /// Its type, read from the content (`image/png`, `image/jpeg`, `audio/mpeg`, `video/mp4`,
    /// `application/zip`).
    pub content_type: String,
    /// Its stored size in bytes (after compressing a large image).
    pub size: i64,
    /// The SHA-256 of the stored bytes (hex).
    pub sha256: String,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
}

fn view(u: &upload::Model) -> UploadView {
    UploadView {
        id: u.id.clone(),
        content_type: u.content_type.clone(),
        size: u.size,
        sha256: u.sha256.clone(),
        created_at: u.created_at,
    }
}

answers! {
    /// The answers of `POST /uploads`.
    pub enum UploadAnswer {
        /// The stored upload.
        200 Ok(Json<UploadView>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`), checked before the body is read.
        401 Unauthorized,
        /// Integrator keys upload nothing (`forbidden`).
        403 Forbidden,
        /// More than 20 MB (`upload_too_large`, `body_too_large`).
        413 PayloadTooLarge,
        /// No `Content-Type` (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// An unknown purpose (`invalid_purpose`), an empty file (`empty_upload`), a type the
        /// purpose does not take (`unsupported_upload`), a broken or oversized image
        /// (`broken_image`, `image_too_large`), an unsafe zip (`unsafe_zip`), or
        /// `control_character`.
        422 Invalid,
    }
}

/// The answers of `GET /uploads/{id}`.
#[derive(ApiResponse)]
pub enum DownloadResponse {
    /// The file, with the content type it was stored with (`image/png`, `image/jpeg`,
    /// `audio/mpeg`, `video/mp4`, `application/zip`).
    #[oai(status = 200, content_type = "*/*")]
    Ok(Binary<Vec<u8>>),
    /// A query parameter the operation does not take (`unknown_parameter`).
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// No or an unknown token (`unauthorized`).
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    /// No such upload of the caller's (`not_found`): only its uploader and the administrator
    /// download it here.
    #[oai(status = 404)]
    NotFound(Json<Problem>),
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
    /// Any account's token (not an integrator key). `purpose=image` (the default) accepts png and jpg; `purpose=evidence` also mp3, mp4 and zip.
    /// The type is read from the content; at most 20 MB; images over 300 KB are compressed. Answers
    /// the id to put in a form's file field; the first application that uses it keeps it (another
    /// one is refused with `upload_used`).
    #[oai(path = "/uploads", method = "post", operation_id = "uploads_upload")]
    async fn upload(
        &self,
        state: Data<&State>,
        auth: Token,
        /// What the file is for: `image` (the default; png or jpg) or `evidence` (also mp3,
        /// mp4 and zip).
        purpose: Query<Option<String>>,
        body: Binary<Vec<u8>>,
    ) -> poem::Result<UploadAnswer> {
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
        Ok(UploadAnswer::Ok(Json(view(&m))))
    }

    /// Download an upload: its uploader and the administrator.
    ///
    /// The file as it was stored, with its content type; only the account that uploaded it
    /// and the administrator get it here. (Reviewers reach the files of the items they review
    /// through those items.)
    #[oai(
        path = "/uploads/:id",
        method = "get",
        operation_id = "uploads_download"
    )]
    async fn download(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The upload's id (as answered by `POST /uploads`).
        id: Path<String>,
    ) -> poem::Result<Response<DownloadResponse>> {
        let c = caller(&state, &auth).await?;
        let u = service::find_upload(&state, &id.0)
            .await?
            .filter(|u| c.role == AccountRole::Admin || u.account_id == c.account_id)
            .ok_or_else(|| ApiError::not_found("文件不存在"))?;
        let bytes = tokio::fs::read(state.config.data_dir.join(&u.path))
            .await
            .map_err(ApiError::internal)?;
        Ok(Response::new(DownloadResponse::Ok(Binary(bytes)))
            .header("content-type", u.content_type.clone()))
    }
}
