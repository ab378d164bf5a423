//! Errors to HTTP in one place: every refusal has a status, a stable machine code and a
//! Chinese message; 5xx details go to the log, never to the client.

use gradflow_engine::apply::EngineError;
use gradflow_engine::form::FieldError;
use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use serde::Serialize;

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    /// Per field; empty when the refusal names none (always present, as the spec says).
    pub errors: Vec<FieldError>,
}

/// An API error: status + body.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {} {}", body.code, body.message)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                code: code.to_string(),
                message: message.into(),
                errors: Vec::new(),
            },
        }
    }
    pub fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unauthorized() -> ApiError {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "请先登录（缺少或无效的访问令牌）",
        )
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn conflict(code: &str, message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    /// The item changed since the caller read it (a concurrent decision won).
    pub fn stale() -> ApiError {
        Self::conflict("conflict", "该事项已被他人处理或已发生变化，请刷新后重试")
    }
    pub fn unprocessable(code: &str, message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
    pub fn invalid(errors: Vec<FieldError>) -> ApiError {
        let mut e = Self::unprocessable(
            "invalid_input",
            errors
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join("；"),
        );
        e.body.errors = errors;
        e
    }
    /// An internal error: logged with its detail, answered without it.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "服务器内部错误，请稍后重试",
        )
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::internal(e)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid(errors) => ApiError::invalid(errors),
            EngineError::NotAvailable { .. } => ApiError::conflict(e.code(), e.to_string()),
            EngineError::Forbidden(_) => ApiError::forbidden(e.to_string()),
            EngineError::Moved(_) => ApiError::conflict(e.code(), e.to_string()),
            EngineError::Denied { .. } => ApiError::unprocessable(e.code(), e.to_string()),
            // A guard stopped by a limit cannot decide: say so (retrying will not help).
            EngineError::Script(s) if s.limit => ApiError::unprocessable(
                    "guard_limit_exceeded",
                    format!(
                        "流程校验规则（{}）运行超出限制（{}），无法判断能否办理，请联系系统管理员检查流程配置",
                        s.script, s.message
                    ),
                ),
            // The flow's definition is wrong: say so (retrying will not help).
            EngineError::Script(s) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "guard_failed",
                format!(
                    "流程校验规则（{}）出错，无法判断能否办理：该流程的定义有误，需由系统管理员修复",
                    s.script
                ),
            ),
            EngineError::Definition(_) => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_string(&self.body).unwrap_or_default();
        Response::builder()
            .status(self.status)
            .content_type("application/json; charset=utf-8")
            .body(body)
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }
    fn as_response(&self) -> Response {
        self.clone().into_response()
    }
}
