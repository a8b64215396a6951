//! Settings documents that exist once per tenant (tenant settings, auth settings, licence
//! settings, feature settings, e-mail configuration, …): a GET and the write the spec offers.
//! Also the tenant itself (`/tenants/me` redirects to `/tenants/{id}`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawPathParams, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Extension, Json};
use serde_json::Value;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::generic::{apply_patch, params, parse_json, status};
use crate::tenant::Tenant;

#[derive(Debug, Clone, Copy)]
pub enum Write {
    Put(u16),
    Patch(u16),
    /// Creates the document where the tenant has none (tenant settings: POST 201).
    Post(u16),
    /// Removes it (tenant settings: DELETE 204, 404 when there is none).
    Delete(u16),
}

pub struct Singleton {
    /// Key in the `settings` collection.
    pub name: &'static str,
    pub path: &'static str,
    pub writes: &'static [Write],
    /// Only tenant admins may read it.
    pub admin_only: bool,
}

pub const SINGLETONS: &[Singleton] = &[
    Singleton {
        name: "tenant-settings",
        path: "/api/v1/tenant-settings",
        writes: &[Write::Patch(200), Write::Post(201), Write::Delete(204)],
        admin_only: false,
    },
    Singleton {
        name: "auth-settings",
        path: "/api/core/auth-settings",
        writes: &[Write::Patch(200)],
        admin_only: true,
    },
    Singleton {
        name: "license-overview",
        path: "/api/v1/licenses/overview",
        writes: &[],
        admin_only: true,
    },
    Singleton {
        name: "license-status",
        path: "/api/v1/licenses/status",
        writes: &[],
        admin_only: false,
    },
    Singleton {
        name: "license-settings",
        path: "/api/v1/licenses/settings",
        writes: &[Write::Put(200)],
        admin_only: true,
    },
    Singleton {
        name: "group-settings",
        path: "/api/v1/groups/settings",
        writes: &[Write::Patch(204)],
        admin_only: true,
    },
    Singleton {
        name: "banners",
        path: "/api/v1/banners",
        writes: &[],
        admin_only: false,
    },
    Singleton {
        name: "email-config",
        path: "/api/v1/transports/email-config",
        writes: &[Write::Put(204), Write::Patch(204)],
        admin_only: true,
    },
    Singleton {
        name: "odag-settings",
        path: "/api/analytics/odag-settings",
        writes: &[Write::Put(200)],
        admin_only: false,
    },
    Singleton {
        name: "items-settings",
        path: "/api/v1/items/settings",
        writes: &[Write::Patch(200)],
        admin_only: false,
    },
    Singleton {
        name: "sharing-tasks-settings",
        path: "/api/v1/sharing-tasks/settings",
        writes: &[Write::Put(204), Write::Patch(204)],
        admin_only: false,
    },
    Singleton {
        name: "data-alerts-settings",
        path: "/api/v1/data-alerts/settings",
        writes: &[Write::Put(204)],
        admin_only: false,
    },
    Singleton {
        name: "conditions-settings",
        path: "/api/v1/conditions/settings",
        writes: &[Write::Put(204)],
        admin_only: false,
    },
    Singleton {
        name: "automations-settings",
        path: "/api/workflows/automations/settings",
        writes: &[Write::Put(200)],
        admin_only: true,
    },
    Singleton {
        name: "audits-settings",
        path: "/api/v1/audits/settings",
        writes: &[],
        admin_only: false,
    },
    Singleton {
        name: "api-keys-config",
        path: "/api/v1/api-keys/configs/{tenantId}",
        writes: &[Write::Patch(204)],
        admin_only: true,
    },
    Singleton {
        name: "encryption-keyproviders",
        path: "/api/v1/encryption/keyproviders",
        writes: &[],
        admin_only: true,
    },
    Singleton {
        name: "tenant",
        path: "/api/v1/tenants/{tenantId}",
        writes: &[Write::Patch(204)],
        admin_only: false,
    },
];

pub fn routes() -> crate::server::RouteSet {
    let mut r = crate::server::RouteSet::new()
        .route("/api/v1/tenants/me", get(tenant_me))
        .route("/api/v1/users/me", get(user_me));
    for s in SINGLETONS {
        let mut mr: MethodRouter<Arc<Tenant>> = get(move |st, p, pp| read(s, st, p, pp));
        for w in s.writes {
            let w = *w;
            mr = match w {
                Write::Put(_) => mr.put(move |st, p, pp, b| write(s, w, st, p, pp, b)),
                Write::Patch(_) => mr.patch(move |st, p, pp, b| write(s, w, st, p, pp, b)),
                Write::Post(_) => mr.post(move |st, p, pp, b| write(s, w, st, p, pp, b)),
                Write::Delete(_) => {
                    mr.delete(move |st, p, pp| write(s, w, st, p, pp, Bytes::new()))
                }
            };
        }
        r = r.route(s.path, mr);
    }
    r
}

/// The settings document of `name` (documents live in the `settings` collection).
pub fn doc(t: &Tenant, name: &str) -> Option<Value> {
    let state = t.read();
    if name == "tenant" {
        let id = state.tenant_id.clone();
        return state.get("tenants", &id).cloned();
    }
    state.get("settings", name).cloned()
}

fn check(s: &Singleton, t: &Tenant, p: &Principal, pp: &RawPathParams) -> Result<(), ApiError> {
    if s.admin_only && !p.is_admin() {
        return Err(ApiError::forbidden(
            "this setting is reserved for tenant admins",
        ));
    }
    if s.path.contains("{tenantId}") {
        let asked = params(pp).into_iter().next().unwrap_or_default();
        if asked != t.read().tenant_id {
            return Err(ApiError::not_found("tenant", &asked));
        }
    }
    Ok(())
}

async fn read(
    s: &'static Singleton,
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
) -> Response {
    if let Err(e) = check(s, &t, &p, &pp) {
        return e.into_response();
    }
    match doc(&t, s.name) {
        Some(v) => Json(v).into_response(),
        None => ApiError::not_found("setting", s.name).into_response(),
    }
}

async fn write(
    s: &'static Singleton,
    how: Write,
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
    body: Bytes,
) -> Response {
    if let Err(e) = check(s, &t, &p, &pp) {
        return e.into_response();
    }
    if !p.is_admin() {
        return ApiError::forbidden("changing tenant settings needs the TenantAdmin role")
            .into_response();
    }
    let existing = doc(&t, s.name);
    match (how, &existing) {
        (Write::Delete(code), Some(_)) => {
            t.write().remove("settings", s.name);
            return status(code).into_response();
        }
        (Write::Delete(_), None) => {
            return ApiError::not_found("setting", s.name).into_response();
        }
        (Write::Post(_), Some(_)) => {
            return ApiError::bad_request(format!(
                "{} already exist: change them with PATCH",
                s.name
            ))
            .into_response();
        }
        _ => {}
    }
    let body = match parse_json(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let mut current = match (how, existing) {
        (Write::Post(_), _) => Value::Object(serde_json::Map::new()),
        (_, Some(c)) => c,
        (_, None) => return ApiError::not_found("setting", s.name).into_response(),
    };
    let code = match how {
        Write::Post(code) | Write::Delete(code) => {
            if let (Value::Object(cur), Value::Object(new)) = (&mut current, body) {
                cur.extend(new);
            }
            // What the server owns (TenantSettingsDefinition requires it).
            let now = crate::clock::rfc3339(t.clock.now());
            let (id, tenant) = {
                let mut state = t.write();
                (
                    state.new_id(crate::state::IdStyle::Hex24),
                    state.tenant_id.clone(),
                )
            };
            for (field, v) in [
                ("id", id),
                ("tenantId", tenant),
                ("createdBy", p.user_id.clone()),
                ("createdAt", now.clone()),
                ("updatedBy", p.user_id.clone()),
                ("updatedAt", now),
            ] {
                current[field] = Value::String(v);
            }
            code
        }
        Write::Put(code) => {
            // Secrets sent in a PUT are kept, but the document only says that one exists.
            let mut body = body;
            if let Value::Object(m) = &mut body {
                for secret in ["password", "emailPassword", "clientSecret"] {
                    if let Some(Value::Object(pc)) = m.get_mut("providerConfig") {
                        if pc.remove(secret).is_some() {
                            m.insert("passwordExists".into(), Value::Bool(true));
                        }
                    }
                }
            }
            if let (Value::Object(cur), Value::Object(new)) = (&mut current, body) {
                for (k, v) in new {
                    cur.insert(k, v);
                }
            }
            code
        }
        Write::Patch(code) => {
            let mut body = body;
            if s.name == "email-config" {
                take_email_password(&mut body, &mut current);
            }
            if let Err(e) = apply_patch(&mut current, body) {
                return e.into_response();
            }
            code
        }
    };
    if s.name == "email-config" {
        mirror_email_config(&mut current, how);
    }
    if s.name == "tenant-settings" {
        start_page_as_shown(&mut current);
    }
    {
        let mut state = t.write();
        if s.name == "tenant" {
            let id = state.tenant_id.clone();
            state.insert("tenants", &id, current.clone());
        } else {
            state.insert("settings", s.name, current.clone());
        }
    }
    if code == 204 {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (status(code), Json(current)).into_response()
    }
}

/// Tenant settings take the preferred start page as its name (`StartPage`, the create
/// schema) and show it with its route (`StartPageConfig*`, what GET answers).
fn start_page_as_shown(doc: &mut Value) {
    let Some(name) = doc
        .get("preferredStartPage")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return;
    };
    let route = match name.as_str() {
        "analytics-hub" => "/insights",
        "analytics-creation-hub" => "/analytics",
        "data-integration-hub" => "/qdi",
        "management-console" => "/console",
        _ => return,
    };
    doc["preferredStartPage"] = serde_json::json!({"route": route, "value": name});
}

/// The SMTP fields an e-mail configuration shows both at its top level (the fields its PATCH
/// names) and inside a basic-auth `providerConfig` (what its PUT takes): one setting, two
/// views, so a write through either is seen through both.
const EMAIL_MIRRORED: [&str; 5] = [
    "username",
    "serverAddress",
    "serverPort",
    "securityType",
    "emailAddress",
];

/// A PATCH of `/emailPassword` sets the password, which the document never shows ("The
/// password itself is not returned"): only `passwordExists` says so. (Kept out of the JSON
/// Patch proper, where `replace` would need the member to be there.)
fn take_email_password(ops: &mut Value, doc: &mut Value) {
    let Value::Array(list) = ops else { return };
    let mut exists = None;
    list.retain(|op| {
        if op.get("path").and_then(Value::as_str) != Some("/emailPassword") {
            return true;
        }
        exists = Some(op.get("op").and_then(Value::as_str) != Some("remove"));
        false
    });
    if let (Some(exists), Value::Object(m)) = (exists, doc) {
        m.insert("passwordExists".into(), Value::Bool(exists));
    }
}

fn mirror_email_config(doc: &mut Value, how: Write) {
    let Value::Object(m) = doc else { return };
    let basic = m
        .get("serviceProvider")
        .and_then(Value::as_str)
        .is_none_or(|p| p == "BasicAuth");
    if !basic {
        return;
    }
    match how {
        Write::Put(_) => {
            let Some(Value::Object(pc)) = m.get("providerConfig").cloned() else {
                return;
            };
            for f in EMAIL_MIRRORED {
                if let Some(v) = pc.get(f) {
                    m.insert(f.into(), v.clone());
                }
            }
        }
        Write::Patch(_) => {
            let top: Vec<(&str, Value)> = EMAIL_MIRRORED
                .iter()
                .filter_map(|f| m.get(*f).map(|v| (*f, v.clone())))
                .collect();
            if let Some(Value::Object(pc)) = m.get_mut("providerConfig") {
                for (f, v) in top {
                    pc.insert(f.into(), v);
                }
            }
        }
        // The e-mail configuration is neither created nor deleted through its singleton.
        Write::Post(_) | Write::Delete(_) => {}
    }
}

async fn tenant_me(State(t): State<Arc<Tenant>>, Extension(_p): Extension<Principal>) -> Response {
    let id = t.read().tenant_id.clone();
    redirect(StatusCode::FOUND, &format!("/api/v1/tenants/{id}"))
}

async fn user_me(State(_t): State<Arc<Tenant>>, Extension(p): Extension<Principal>) -> Response {
    redirect(
        StatusCode::MOVED_PERMANENTLY,
        &format!("/api/v1/users/{}", p.user_id),
    )
}

fn redirect(code: StatusCode, location: &str) -> Response {
    let mut resp = code.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}
