//! `AppError`: every failure a handler can answer with, mapped once to a status code and the
//! contract's `{error, message}` body. Internal causes are logged, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::model::ApiError;
use crate::server::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    InvalidPayload(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("no website with id {0:?}")]
    UnknownWebsite(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    TooManyConnections(String),
    #[error("the ingest queue is full; retry shortly")]
    QueueFull,
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The store refused a write; nothing was acknowledged. Details are logged.
    #[error("events cannot be stored right now; retry shortly")]
    StoreUnavailable,
    #[error("email or password is wrong")]
    InvalidCredentials,
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("store error: {0}")]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::InvalidPayload(_) | AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::UnknownWebsite(_) | AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::RateLimited { .. } | AppError::TooManyConnections(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::QueueFull | AppError::ShuttingDown | AppError::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::InvalidCredentials | AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Store(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable `error` code of the body.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::InvalidPayload(_) => "invalid_payload",
            AppError::BadRequest(_) => "bad_request",
            AppError::UnknownWebsite(_) => "unknown_website",
            AppError::NotFound(_) => "not_found",
            AppError::PayloadTooLarge(_) => "payload_too_large",
            AppError::UnsupportedMediaType(_) => "unsupported_media_type",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::TooManyConnections(_) => "too_many_connections",
            AppError::QueueFull => "queue_full",
            AppError::ShuttingDown => "shutting_down",
            AppError::StoreUnavailable => "store_unavailable",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::Conflict(_) => "conflict",
            AppError::Store(_) | AppError::Internal(_) => "internal",
        }
    }

    pub fn body(&self) -> ApiError {
        let message = match self {
            AppError::Store(_) | AppError::Internal(_) => {
                "something went wrong on our side; it has been logged".to_string()
            }
            other => other.to_string(),
        };
        ApiError { error: self.code().to_string(), message }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error()
            && !matches!(self, AppError::QueueFull | AppError::ShuttingDown | AppError::StoreUnavailable)
        {
            tracing::error!(error = %self, "request failed");
        }
        let retry_after = match &self {
            AppError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            AppError::QueueFull | AppError::ShuttingDown | AppError::StoreUnavailable => Some(1),
            AppError::TooManyConnections(_) => Some(5),
            _ => None,
        };
        let mut resp = (status, Json(self.body())).into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<AppError> for crate::model::UiError {
    fn from(e: AppError) -> Self {
        use crate::model::UiError;
        let message = e.to_string();
        match e {
            AppError::Unauthorized(_) | AppError::InvalidCredentials => UiError::Unauthorized(message),
            AppError::Forbidden(_) => UiError::Forbidden(message),
            AppError::NotFound(_) | AppError::UnknownWebsite(_) => UiError::NotFound(message),
            AppError::InvalidPayload(_) | AppError::BadRequest(_) => UiError::Invalid(message),
            AppError::Conflict(_) => UiError::Conflict(message),
            AppError::Store(_) | AppError::Internal(_) => {
                tracing::error!(error = %message, "server function failed");
                UiError::Failed("something went wrong on the server; the log has details".into())
            }
            _ => UiError::Failed(message),
        }
    }
}

impl From<StoreError> for crate::model::UiError {
    fn from(e: StoreError) -> Self {
        AppError::from(e).into()
    }
}
