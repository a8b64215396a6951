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
        writes: &[Write::Patch(200)],
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
    let body = match parse_json(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let Some(mut current) = doc(&t, s.name) else {
        return ApiError::not_found("setting", s.name).into_response();
    };
    let code = match how {
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
            if let Err(e) = apply_patch(&mut current, body) {
                return e.into_response();
            }
            code
        }
    };
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
