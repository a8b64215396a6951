//! What can go wrong talking to a tenant, said so that a person knows which request on which
//! resource failed, why (Qlik's own `errors[].title/detail`, the status, the trace ID), and
//! what to do next. Secrets never appear here: requests are named by method and path only.

use std::fmt;

/// One entry of Qlik's `errors` array.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QlikErrorItem {
    pub code: String,
    pub title: String,
    pub detail: String,
}

/// A request, as errors name it: `GET /api/v1/apps/abc` (never the query, which may carry cursors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestName {
    pub method: String,
    pub path: String,
}

impl fmt::Display for RequestName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// An error and its causes on one line, each after a colon, a cause whose text the line
/// already holds left out: many errors name their cause in their own message and also give it
/// as their source (`cannot read the tenant at …: <why>`), and some sources only say that
/// something failed while theirs say why (reqwest's "error sending request").
pub fn error_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{request} answered {status}{}{}{}", summary(.errors), trace(.trace_id), hint(*.status))]
    Api {
        request: RequestName,
        status: u16,
        errors: Vec<QlikErrorItem>,
        trace_id: Option<String>,
    },
    #[error("{request} failed: {detail} (after {attempts} attempts); check that the tenant is reachable")]
    Transport {
        request: RequestName,
        detail: String,
        attempts: u32,
    },
    #[error("{request}: the answer is not what the API documents: {detail}")]
    Decode {
        request: RequestName,
        detail: String,
    },
    #[error("signing in to {tenant} failed: {detail}")]
    Auth { tenant: String, detail: String },
    #[error(
        "{request}: the page cursor repeated ('{cursor}'); stopping instead of looping forever"
    )]
    RepeatedCursor {
        request: RequestName,
        cursor: String,
    },
    #[error("{request}: the export was still not ready after {waited_secs} s; try again later or raise the export timeout")]
    ExportTimeout {
        request: RequestName,
        waited_secs: u64,
    },
    #[error("{request}: the exported file expired {times} times before it could be downloaded")]
    ExportExpired { request: RequestName, times: u32 },
    #[error("writing the download of {request} failed: {source}")]
    Write {
        request: RequestName,
        source: std::io::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Setup(String),
}

impl ClientError {
    /// The HTTP status Qlik answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn summary(errors: &[QlikErrorItem]) -> String {
    let Some(e) = errors.first() else {
        return String::new();
    };
    let mut s = String::from(": ");
    s.push_str(if e.title.is_empty() {
        &e.code
    } else {
        &e.title
    });
    if !e.detail.is_empty() && e.detail != e.title {
        s.push_str(" — ");
        s.push_str(&e.detail);
    }
    s
}

fn trace(id: &Option<String>) -> String {
    id.as_ref()
        .map(|t| format!(" (trace {t})"))
        .unwrap_or_default()
}

fn hint(status: u16) -> &'static str {
    match status {
        401 => "; the API key or OAuth client is invalid or expired: create a new one",
        403 => "; the identity lacks a role or scope for this: use a tenant admin, an M2M client with admin.apps, or give it a role in the space",
        404 => "; it no longer exists, or this identity cannot see it",
        429 => "; Qlik's rate limit was hit: lower the request budget or try later",
        500..=599 => "; Qlik failed on its side: retry later",
        _ => "",
    }
}

/// Reads Qlik's error body, whichever of its shapes an API uses.
pub fn parse_error_body(body: &[u8]) -> (Vec<QlikErrorItem>, Option<String>) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
        let items = if text.trim().is_empty() {
            vec![]
        } else {
            vec![QlikErrorItem {
                detail: text,
                ..Default::default()
            }]
        };
        return (items, None);
    };
    let s = |v: &serde_json::Value, k: &str| match v.get(k) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let trace_id = v
        .get("traceId")
        .and_then(|t| t.as_str())
        .map(str::to_string);
    let items = match v.get("errors").and_then(|e| e.as_array()) {
        Some(errors) => errors
            .iter()
            .map(|e| QlikErrorItem {
                code: s(e, "code"),
                title: s(e, "title"),
                detail: s(e, "detail"),
            })
            .collect(),
        None => {
            let message = s(&v, "message");
            vec![QlikErrorItem {
                code: s(&v, "code"),
                title: s(&v, "title"),
                detail: if message.is_empty() {
                    s(&v, "detail")
                } else {
                    message
                },
            }]
        }
    };
    (items, trace_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_say_what_where_why_and_what_next() {
        let (errors, trace_id) = parse_error_body(br#"{"errors":[{"code":"HTTP-403","title":"Forbidden","detail":"no role in managed space 'Finance'","status":"403"}],"traceId":"abc123"}"#);
        let e = ClientError::Api {
            request: RequestName {
                method: "POST".into(),
                path: "/api/v1/apps/a1/export".into(),
            },
            status: 403,
            errors,
            trace_id,
        };
        let msg = e.to_string();
        assert!(msg.starts_with("POST /api/v1/apps/a1/export answered 403: Forbidden — no role in managed space 'Finance' (trace abc123)"), "{msg}");
        assert!(msg.contains("admin.apps"));
    }

    #[test]
    fn other_error_shapes_are_read_too() {
        let (e, _) = parse_error_body(br#"{"code": 404, "message": "not here"}"#);
        assert_eq!(e[0].detail, "not here");
        let (e, _) = parse_error_body(b"<html>bad gateway</html>");
        assert!(e[0].detail.contains("bad gateway"));
    }
}
