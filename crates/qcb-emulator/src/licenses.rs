//! Licence assignments are keyed by user subject and changed in batches: add, update and
//! delete actions answer 207 with a status per subject, as the licences spec says.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json};
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::generic::parse_json;
use crate::tenant::Tenant;

const KIND: &str = "license-assignments";

pub fn routes() -> crate::server::RouteSet {
    crate::server::RouteSet::new()
        .route(
            "/api/v1/licenses/assignments/actions/add",
            post(|s, p, b| action(Action::Add, s, p, b)),
        )
        .route(
            "/api/v1/licenses/assignments/actions/update",
            post(|s, p, b| action(Action::Update, s, p, b)),
        )
        .route(
            "/api/v1/licenses/assignments/actions/delete",
            post(|s, p, b| action(Action::Delete, s, p, b)),
        )
}

#[derive(Clone, Copy)]
enum Action {
    Add,
    Update,
    Delete,
}

impl Action {
    fn list_key(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

fn failure(subject: &str, ty: &str, status: u16, code: &str, title: &str) -> Value {
    json!({"subject": subject, "type": ty, "status": status, "code": code, "title": title})
}

async fn action(
    how: Action,
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    body: Bytes,
) -> Response {
    if !p.is_admin() {
        return ApiError::forbidden("licence assignments are managed by tenant admins")
            .into_response();
    }
    let body = match parse_json(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let Some(entries) = body.get(how.list_key()).and_then(Value::as_array).cloned() else {
        return ApiError::bad_request(format!("the body needs a '{}' array", how.list_key()))
            .into_response();
    };
    let now = rfc3339(t.clock.now());
    let mut state = t.write();
    let mut out = Vec::new();
    for e in entries {
        let subject = e
            .get("subject")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let ty = e
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if subject.is_empty() {
            out.push(failure(
                &subject,
                &ty,
                400,
                "LICENSES-001",
                "subject is required",
            ));
            continue;
        }
        match how {
            Action::Add => {
                if !matches!(ty.as_str(), "professional" | "analyzer" | "basic") {
                    out.push(failure(
                        &subject,
                        &ty,
                        400,
                        "LICENSES-002",
                        "Unknown allotment type.",
                    ));
                } else if state.get(KIND, &subject).is_some() {
                    out.push(failure(
                        &subject,
                        &ty,
                        409,
                        "LICENSES-013",
                        "Assignment already exists.",
                    ));
                } else {
                    state.insert(
                        KIND,
                        &subject,
                        json!({"subject": subject, "type": ty, "excess": false, "created": now}),
                    );
                    out.push(json!({"subject": subject, "type": ty, "status": 201}));
                }
            }
            Action::Update => {
                let source = e
                    .get("sourceSubject")
                    .and_then(Value::as_str)
                    .unwrap_or(&subject)
                    .to_string();
                match state.remove(KIND, &source) {
                    None => out.push(failure(
                        &subject,
                        &ty,
                        404,
                        "LICENSES-016",
                        "Assignment not found.",
                    )),
                    Some(mut a) => {
                        a["subject"] = json!(subject);
                        if !ty.is_empty() {
                            a["type"] = json!(ty);
                        }
                        let ty = a["type"].clone();
                        state.insert(KIND, &subject, a);
                        out.push(json!({"subject": subject, "type": ty, "status": 200}));
                    }
                }
            }
            Action::Delete => match state.remove(KIND, &subject) {
                None => out.push(failure(
                    &subject,
                    &ty,
                    404,
                    "LICENSES-016",
                    "Assignment not found.",
                )),
                Some(_) => out.push(json!({"subject": subject, "type": ty, "status": 200})),
            },
        }
    }
    (StatusCode::MULTI_STATUS, Json(json!({"data": out}))).into_response()
}
