//! The one error type of the API routes: every failure renders as `{"error": "..."}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::store::StoreError;
use crate::model::ApiErrorBody;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    /// What went wrong inside, for the log only: it may carry SQL or paths (never request
    /// secrets), which the client is not told.
    cause: Option<anyhow::Error>,
    /// Seconds after which the client may try again (`Retry-After`).
    retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), cause: None, retry_after: None }
    }

    /// A 500 saying only `message`; `cause` is logged when the answer is sent.
    pub fn internal(message: impl Into<String>, cause: anyhow::Error) -> Self {
        Self { cause: Some(cause), ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, message) }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "missing or invalid API keys (HTTP Basic publishable_key:secret_key)")
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(message) => Self::not_found(message),
            StoreError::Conflict(message) => Self::new(StatusCode::CONFLICT, message),
            StoreError::Invalid(message) => Self::bad_request(message),
            StoreError::Busy(message) => Self::new(StatusCode::SERVICE_UNAVAILABLE, message),
            error @ StoreError::Unavailable(_) => {
                Self { retry_after: Some(1), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string()) }
            }
            StoreError::Internal(error) => Self::internal("internal server error", error),
        }
    }
}

/// axum's own rejections (bad JSON, wrong content type, body too large, bad path or query)
/// keep their status and message but take our JSON shape.
macro_rules! from_rejection {
    ($($rejection:ty),* $(,)?) => {$(
        impl From<$rejection> for ApiError {
            fn from(rejection: $rejection) -> Self {
                Self::new(rejection.status(), rejection.body_text())
            }
        }
    )*};
}

from_rejection!(
    axum::extract::rejection::JsonRejection,
    axum::extract::rejection::PathRejection,
    axum::extract::rejection::QueryRejection,
);

impl IntoResponse for ApiError {
    /// The one place where an internal failure of an API route is logged.
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            tracing::error!(status = self.status.as_u16(), error = format!("{cause:#}"), "{}", self.message);
        }
        let mut response = (self.status, Json(ApiErrorBody { error: self.message })).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"xkit platform\""));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::log_capture::captured;

    /// An internal failure is logged once, when it is answered (not when it is converted), and
    /// its detail reaches the log only.
    #[test]
    fn an_internal_failure_is_logged_once_when_answered_and_never_shown() {
        let detail = "disk I/O error in /var/lib/platform.sqlite3";
        let (error, converting) = captured(|| ApiError::from(StoreError::Internal(anyhow::anyhow!(detail))));
        assert!(converting.is_empty(), "converting logs nothing: {converting:?}");
        let (response, answering) = captured(|| error.into_response());
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answering.len(), 1, "{answering:?}");
        assert!(answering[0].contains("ERROR") && answering[0].contains(detail), "{answering:?}");
        let body = body_text(response);
        assert_eq!(body, r#"{"error":"internal server error"}"#);
    }

    #[test]
    fn a_client_error_is_not_logged() {
        let (_, lines) = captured(|| ApiError::from(StoreError::NotFound("no context".into())).into_response());
        assert!(lines.is_empty(), "{lines:?}");
    }

    /// The database unreachable is a 503 JSON answer the client may retry after a second.
    #[test]
    fn an_unavailable_database_is_a_503_with_retry_after() {
        let response = ApiError::from(StoreError::Unavailable("connection refused".into())).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
        assert_eq!(body_text(response), r#"{"error":"the database is unavailable: connection refused"}"#);
    }

    fn body_text(response: Response) -> String {
        let bytes = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(axum::body::to_bytes(response.into_body(), 1024))
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}
