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

mod generated {
    include!(concat!(env!("OUT_DIR"), "/error_styles.rs"));
}

/// The error-body shape an operation declares for a status (see build.rs for the codes).
pub fn style_for(method: &str, route: &str, status: u16) -> char {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    type ByOperation = HashMap<(String, String), Vec<(String, char)>>;
    static BY_OP: OnceLock<ByOperation> = OnceLock::new();
    let table = BY_OP.get_or_init(|| {
        let mut m: ByOperation = HashMap::new();
        for (method, shape, status, style) in generated::ERROR_STYLES {
            m.entry((method.to_string(), shape.to_string()))
                .or_default()
                .push((status.to_string(), *style));
        }
        m
    });
    let Some(styles) = table.get(&(method.to_ascii_uppercase(), crate::tiers::path_shape(route)))
    else {
        return 'S';
    };
    let code = status.to_string();
    styles
        .iter()
        .find(|(s, _)| *s == code)
        .or_else(|| styles.iter().find(|(s, _)| s == "default"))
        .or_else(|| styles.iter().find(|(s, _)| s.starts_with('4')))
        .or_else(|| styles.first())
        .map_or('S', |(_, style)| *style)
}

impl ApiError {
    /// The error body in the shape `style` names.
    pub fn render(&self, style: char) -> Response {
        let status = self.status.as_u16();
        let detail = self.detail.clone().unwrap_or_else(|| self.title.clone());
        let mut item = json!({"code": self.code, "title": self.title, "detail": detail});
        let body = match style {
            'I' => {
                item["status"] = json!(status);
                json!({"errors": [item], "traceId": trace_id()})
            }
            'C' => {
                item["code"] = json!(status);
                json!({"errors": [item], "traceId": trace_id()})
            }
            'L' => {
                item["status"] = json!(status.to_string());
                json!({"errors": [item], "error": "util.Error", "message": detail, "traceId": trace_id()})
            }
            'E' => json!({"error": self.code, "message": detail}),
            'M' => json!({"code": status, "message": detail}),
            'F' => {
                json!({"code": self.code, "title": self.title, "detail": detail, "status": status, "traceId": trace_id()})
            }
            _ => {
                item["status"] = json!(status.to_string());
                json!({"errors": [item], "traceId": trace_id()})
            }
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert("retry-after", v);
            }
        }
        resp
    }
}

impl IntoResponse for ApiError {
    /// Qlik's most common shape; the API guard re-renders it in the shape of the operation.
    fn into_response(self) -> Response {
        let mut resp = self.render('S');
        resp.extensions_mut().insert(self);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_shapes_follow_each_spec() {
        assert_eq!(style_for("GET", "/api/v1/tenant-settings", 404), 'C');
        assert_eq!(style_for("GET", "/api/v1/banners", 404), 'I');
        assert_eq!(style_for("GET", "/api/v1/spaces/{spaceId}", 404), 'S');
        assert_eq!(style_for("GET", "/api/v1/licenses/overview", 404), 'L');
    }

    #[test]
    fn into_response_keeps_the_error_for_restyling() {
        let resp = ApiError::not_found("x", "y").into_response();
        assert!(resp.extensions().get::<ApiError>().is_some());
    }
}
