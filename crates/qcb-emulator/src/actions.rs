//! Actions a restore needs besides create and replace: changing an automation's owner or
//! space, enabling it, activating a brand, upserting the banner, creating an alert condition.
//! Most set one field of a resource, so they are rows of a table, like the kinds.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawPathParams, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json};
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::generic::{params, parse_json, status};
use crate::kinds::{kind, Viewer};

use crate::tenant::Tenant;

/// What an action does to its resource.
#[derive(Clone, Copy)]
enum Effect {
    /// Sets `field` from the body's `key`, which must name an existing resource of `refers_to`.
    SetFrom {
        field: &'static str,
        key: &'static str,
        refers_to: &'static str,
    },
    /// Sets `field` to a constant.
    Set {
        field: &'static str,
        value: &'static str,
    },
}

struct Action {
    path: &'static str,
    kind: &'static str,
    effect: Effect,
    /// 204 answers nothing; 200 answers the resource.
    status: u16,
}

const OWNER: Effect = Effect::SetFrom {
    field: "ownerId",
    key: "userId",
    refers_to: "users",
};
const SPACE: Effect = Effect::SetFrom {
    field: "spaceId",
    key: "spaceId",
    refers_to: "spaces",
};

const ACTIONS: &[Action] = &[
    Action {
        path: "/api/workflows/automations/{id}/actions/change-owner",
        kind: "automations",
        effect: OWNER,
        status: 204,
    },
    Action {
        path: "/api/workflows/automations/{id}/actions/change-space",
        kind: "automations",
        effect: SPACE,
        status: 204,
    },
    Action {
        path: "/api/workflows/automations/{id}/actions/enable",
        kind: "automations",
        effect: Effect::Set {
            field: "state",
            value: "available",
        },
        status: 204,
    },
    Action {
        path: "/api/workflows/automations/{id}/actions/disable",
        kind: "automations",
        effect: Effect::Set {
            field: "state",
            value: "disabled",
        },
        status: 204,
    },
    Action {
        path: "/api/v1/automations/{id}/actions/change-owner",
        kind: "automations",
        effect: OWNER,
        status: 204,
    },
    Action {
        path: "/api/v1/automations/{id}/actions/change-space",
        kind: "automations",
        effect: SPACE,
        status: 204,
    },
    Action {
        path: "/api/v1/automations/{id}/actions/enable",
        kind: "automations",
        effect: Effect::Set {
            field: "state",
            value: "available",
        },
        status: 204,
    },
    Action {
        path: "/api/v1/automations/{id}/actions/disable",
        kind: "automations",
        effect: Effect::Set {
            field: "state",
            value: "disabled",
        },
        status: 204,
    },
    Action {
        path: "/api/workflows/automation-connections/{id}/actions/change-owner",
        kind: "automation-connections",
        effect: OWNER,
        status: 204,
    },
    Action {
        path: "/api/workflows/automation-connections/{id}/actions/change-space",
        kind: "automation-connections",
        effect: SPACE,
        status: 204,
    },
    Action {
        path: "/api/v1/automation-connections/{id}/actions/change-owner",
        kind: "automation-connections",
        effect: OWNER,
        status: 204,
    },
    Action {
        path: "/api/v1/brands/{brand-id}/actions/deactivate",
        kind: "brands",
        effect: Effect::Set {
            field: "active",
            value: "false",
        },
        status: 200,
    },
];

pub fn routes() -> crate::server::RouteSet {
    let mut r = crate::server::RouteSet::new()
        .route(
            "/api/v1/brands/{brand-id}/actions/activate",
            post(activate_brand),
        )
        .route("/api/v1/banners/actions/upsert", post(upsert_banner))
        .route("/api/v1/conditions", post(create_condition))
        .route(
            "/api/v1/data-alerts/{alertId}/condition",
            axum::routing::get(alert_condition),
        );
    for a in ACTIONS {
        r = r.route(a.path, post(move |s, p, pp, b| run(a, s, p, pp, b)));
    }
    r
}

fn bad_body(e: ApiError) -> Response {
    e.into_response()
}

async fn run(
    a: &'static Action,
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
    body: Bytes,
) -> Response {
    let id = params(&pp).into_iter().next().unwrap_or_default();
    let Some(k) = kind(a.kind) else {
        return ApiError::internal(format!("no kind {}", a.kind)).into_response();
    };
    let now = rfc3339(t.clock.now());
    let mut state = t.write();
    let Some(current) = state.get(a.kind, &id).cloned() else {
        return ApiError::not_found(a.kind, &id).into_response();
    };
    {
        let viewer = Viewer {
            state: &state,
            principal: &p,
            query: &[(String::from("listAll"), String::from("true"))],
        };
        if !(k.visible)(&viewer, &current) {
            return ApiError::not_found(a.kind, &id).into_response();
        }
    }
    let value = match a.effect {
        Effect::SetFrom { key, refers_to, .. } => {
            let body = match parse_json(&body) {
                Ok(b) => b,
                Err(e) => return bad_body(e),
            };
            let Some(v) = body.get(key).and_then(Value::as_str).map(str::to_string) else {
                return ApiError::bad_request(format!("{key} is required")).into_response();
            };
            if state.get(refers_to, &v).is_none() {
                return ApiError::not_found(refers_to, &v).into_response();
            }
            json!(v)
        }
        Effect::Set { value, .. } => serde_json::from_str(value).unwrap_or(json!(value)),
    };
    let field = match a.effect {
        Effect::SetFrom { field, .. } | Effect::Set { field, .. } => field,
    };
    let mut doc = current;
    doc[field] = value;
    if doc.get("updatedAt").is_some() {
        doc["updatedAt"] = json!(now);
    }
    state.insert(a.kind, &id, doc.clone());
    if a.status == 204 {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (status(a.status), Json(doc)).into_response()
    }
}

/// Activating a brand deactivates the one that was active.
async fn activate_brand(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
) -> Response {
    if !p.is_admin() {
        return ApiError::forbidden("brands are managed by tenant admins").into_response();
    }
    let id = params(&pp).into_iter().next().unwrap_or_default();
    let mut state = t.write();
    if state.get("brands", &id).is_none() {
        return ApiError::not_found("brand", &id).into_response();
    }
    let ids: Vec<String> = state
        .collection("brands")
        .map(|c| c.entries.keys().cloned().collect())
        .unwrap_or_default();
    for other in ids {
        if let Some(b) = state.get_mut("brands", &other) {
            b["active"] = json!(other == id);
        }
    }
    Json(state.get("brands", &id).cloned().unwrap_or_default()).into_response()
}

async fn upsert_banner(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    body: Bytes,
) -> Response {
    if !p.is_admin() {
        return ApiError::forbidden("the banner is managed by tenant admins").into_response();
    }
    let body = match parse_json(&body) {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    for required in [
        "type",
        "enabled",
        "message",
        "startTime",
        "endTime",
        "linkEnabled",
    ] {
        if body.get(required).is_none() {
            return ApiError::bad_request(format!("{required} is required")).into_response();
        }
    }
    let now = rfc3339(t.clock.now());
    let mut state = t.write();
    let mut doc = state
        .get("settings", "banners")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let (Value::Object(d), Value::Object(b)) = (&mut doc, body) {
        for (k, v) in b {
            d.insert(k, v);
        }
        d.insert("updatedAt".into(), json!(now));
        d.insert("updatedBy".into(), json!(p.user_id));
    }
    state.insert("settings", "banners", doc.clone());
    (StatusCode::CREATED, Json(doc)).into_response()
}

/// Data-alert conditions are created on their own, before the alert that names them.
async fn create_condition(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    body: Bytes,
) -> Response {
    let body = match parse_json(&body) {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    let ty = body
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let ty = ty.as_str();
    if !matches!(ty, "data" | "compound") {
        return ApiError::bad_request(format!("type must be data or compound, got '{ty}'"))
            .into_response();
    }
    let now = rfc3339(t.clock.now());
    let mut state = t.write();
    let id = state.new_id(crate::state::IdStyle::Hex24);
    let key = if ty == "data" {
        "dataCondition"
    } else {
        "compoundCondition"
    };
    let mut doc = body;
    let app_id = doc
        .pointer(&format!("/{key}/conditionBase/appId"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !app_id.is_empty() && state.get("apps", &app_id).is_none() {
        return ApiError::not_found("app", &app_id).into_response();
    }
    // Conditions carry their ID and owner inside conditionBase, as Qlik answers them.
    let base = json!({
        "id": id, "type": ty, "appId": app_id, "ownerId": p.user_id, "createdById": p.user_id,
        "tenantId": state.tenant_id, "created": now, "updated": now,
    });
    if !doc.get(key).is_some_and(Value::is_object) {
        doc[key] = json!({});
    }
    let merged = match doc[key].get("conditionBase") {
        Some(Value::Object(given)) => {
            let mut b = base;
            for (k, v) in given {
                if !matches!(
                    k.as_str(),
                    "id" | "ownerId" | "createdById" | "tenantId" | "created" | "updated"
                ) {
                    b[k] = v.clone();
                }
            }
            b
        }
        _ => base,
    };
    doc[key]["conditionBase"] = merged;
    doc["ownerId"] = json!(p.user_id);
    doc["tenantId"] = json!(state.tenant_id);
    state.insert("conditions", &id, doc.clone());
    (StatusCode::CREATED, Json(doc)).into_response()
}

/// A data alert's condition, as the alerting API answers it.
/// A data alert as the alerting API shows it: `AlertingTaskResponse` carries the alert's
/// condition (`conditionResponse`, "ConditionResponse in condition-manager api docs") and
/// `hideSelections`, as `GET /data-alerts/{alertId}/condition` answers them.
pub fn alert_view(state: &crate::state::State, alert: &mut Value) {
    let condition = alert
        .get("conditionId")
        .and_then(Value::as_str)
        .and_then(|id| state.get("conditions", id))
        .cloned();
    if let Some(c) = condition {
        alert["conditionResponse"] = c;
    }
    if alert.get("hideSelections").is_none() {
        alert["hideSelections"] = json!(false);
    }
}

async fn alert_condition(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
) -> Response {
    let id = params(&pp).into_iter().next().unwrap_or_default();
    let state = t.read();
    let Some(alert) = state.get("data-alerts", &id) else {
        return ApiError::not_found("data alert", &id).into_response();
    };
    let Some(k) = kind("data-alerts") else {
        return ApiError::internal("no data-alerts kind").into_response();
    };
    let viewer = Viewer {
        state: &state,
        principal: &p,
        query: &[],
    };
    if !(k.visible)(&viewer, alert) {
        return ApiError::not_found("data alert", &id).into_response();
    }
    let condition_id = alert
        .get("conditionId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(condition) = state.get("conditions", condition_id) else {
        return ApiError::not_found("condition", condition_id).into_response();
    };
    let hide = alert.get("hideSelections").cloned().unwrap_or(json!(false));
    Json(json!({"hideSelections": hide, "conditionResponse": condition})).into_response()
}
