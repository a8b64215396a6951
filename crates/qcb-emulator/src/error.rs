//! Errors as Qlik's APIs write them: `{"errors":[{"code","title","detail","status"}],"traceId"}`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub title: String,
    pub detail: Option<String>,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, title: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            title: title.into(),
            detail: None,
            retry_after_secs: None,
        }
    }
    pub fn detail(mut self, detail: impl Into<String>) -> ApiError {
        self.detail = Some(detail.into());
        self
    }
    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "HTTP-404", "Not found")
            .detail(format!("{what} '{id}' was not found"))
    }
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "HTTP-400", "Bad request").detail(detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "HTTP-401", "Unauthorized").detail(detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "HTTP-403", "Forbidden").detail(detail)
    }
    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "HTTP-409", "Conflict").detail(detail)
    }
    pub fn gone(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::GONE, "HTTP-410", "Gone").detail(detail)
    }
    pub fn internal(detail: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "HTTP-500",
            "Internal server error",
        )
        .detail(detail)
    }
    pub fn rate_limited(wait_secs: u64) -> ApiError {
        // Qlik's own wording (qlik.dev, "Rate limiting").
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "HTTP-429",
            "API rate limit reached.",
        )
        .detail(format!(
            "You need to wait {wait_secs} seconds until limit is lifted."
        ));
        e.retry_after_secs = Some(wait_secs);
        e
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut err = json!({"code": self.code, "title": self.title, "status": self.status.as_u16().to_string()});
        if let Some(detail) = &self.detail {
            err["detail"] = json!(detail);
        }
        let body = json!({"errors": [err], "traceId": trace_id()});
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert("retry-after", v);
            }
        }
        resp
    }
}

fn trace_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "{:032x}",
        NEXT.fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
    )
}

pub type ApiResult<T> = Result<T, ApiError>;
