//! Test controls, outside `/api` (a real tenant has nothing here): faults, counters, clock,
//! token expiry, touching and deleting resources, and the credentials of the tenant's test
//! identities. Each has a Rust twin on `Tenant` for in-process tests.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

use crate::clock::rfc3339;
use crate::config::Faults;
use crate::error::ApiError;
use crate::seed::identity::{BOT_CLIENT_ID, PLAIN_CLIENT_ID};
use crate::tenant::Tenant;

pub fn routes() -> Router<Arc<Tenant>> {
    Router::new()
        .route("/_qcb/info", get(info))
        .route("/_qcb/counters", get(counters))
        .route("/_qcb/counters/reset", post(reset_counters))
        .route("/_qcb/faults", get(get_faults).put(put_faults))
        .route("/_qcb/tokens/expire", post(expire_tokens))
        .route("/_qcb/clock/advance/{seconds}", post(advance))
        .route("/_qcb/ratelimits/reset", post(reset_limits))
        .route("/_qcb/resources/{kind}", get(list_ids))
        .route(
            "/_qcb/resources/{kind}/{id}",
            axum::routing::delete(delete_resource),
        )
        .route("/_qcb/resources/{kind}/{id}/touch", post(touch))
        .route("/_qcb/state/save", post(save))
}

/// The identities a test can use.
#[derive(Debug, Clone, Serialize)]
pub struct Credentials {
    pub tenant_url: String,
    pub tenant_id: String,
    pub admin_api_key: String,
    /// API key of a regular (non-admin) user, when the profile has users.
    pub user_api_key: Option<String>,
    /// M2M client with admin.apps (reaches personal and private content; may impersonate).
    pub admin_bot: Option<(String, String)>,
    /// M2M client with user scopes only.
    pub plain_bot: Option<(String, String)>,
}

impl Tenant {
    pub fn credentials(&self) -> Credentials {
        let state = self.read();
        let user_api_key = state
            .api_keys
            .iter()
            .find(|(k, _)| k.starts_with("qcbemu_user_"))
            .map(|(k, _)| k.clone());
        let bot = |id: &str| {
            state
                .m2m_clients
                .get(id)
                .map(|c| (c.client_id.clone(), c.client_secret.clone()))
        };
        Credentials {
            tenant_url: self.url().to_string(),
            tenant_id: state.tenant_id.clone(),
            admin_api_key: self.admin_api_key.clone(),
            user_api_key,
            admin_bot: bot(BOT_CLIENT_ID),
            plain_bot: bot(PLAIN_CLIENT_ID),
        }
    }

    /// Marks a resource as changed now (apps: new content revision, item and dates follow).
    pub fn touch(&self, kind: &str, id: &str) -> Result<(), ApiError> {
        let now = self.clock.now();
        let mut state = self.write();
        if kind == "apps" {
            if state.get("apps", id).is_none() {
                return Err(ApiError::not_found("app", id));
            }
            crate::apps::touch_app(&mut state, id, now);
            return Ok(());
        }
        let v = state
            .get_mut(kind, id)
            .ok_or_else(|| ApiError::not_found(kind, id))?;
        if let Value::Object(m) = v {
            for f in [
                "updatedAt",
                "lastUpdatedAt",
                "lastUpdated",
                "modifiedDate",
                "updated",
                "updateAt",
            ] {
                if m.contains_key(f) {
                    m.insert(f.into(), json!(rfc3339(now)));
                }
            }
            let d = m
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            m.insert(
                "description".into(),
                json!(format!("{d} (changed {})", rfc3339(now))),
            );
        }
        Ok(())
    }

    /// Deletes a resource as if a user had (apps: with their item and content).
    pub fn delete_resource(&self, kind: &str, id: &str) -> Result<(), ApiError> {
        let mut state = self.write();
        if kind == "apps" {
            if state.get("apps", id).is_none() {
                return Err(ApiError::not_found("app", id));
            }
            crate::apps::remove_app(&mut state, id);
            return Ok(());
        }
        state
            .remove(kind, id)
            .map(|_| ())
            .ok_or_else(|| ApiError::not_found(kind, id))
    }

    pub fn expire_tokens(&self) {
        crate::auth_routes::expire_all_tokens(self);
    }

    /// IDs of every resource of a kind, in creation order.
    pub fn ids(&self, kind: &str) -> Vec<String> {
        self.read()
            .collection(kind)
            .map(|c| c.entries.keys().cloned().collect())
            .unwrap_or_default()
    }
}

async fn info(State(t): State<Arc<Tenant>>) -> Response {
    Json(t.credentials()).into_response()
}

async fn counters(State(t): State<Arc<Tenant>>) -> Response {
    Json(t.counters()).into_response()
}

async fn reset_counters(State(t): State<Arc<Tenant>>) -> Response {
    t.reset_counters();
    StatusCode::NO_CONTENT.into_response()
}

async fn get_faults(State(t): State<Arc<Tenant>>) -> Response {
    Json(t.faults()).into_response()
}

async fn put_faults(State(t): State<Arc<Tenant>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(f) => {
            t.set_faults(f);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => ApiError::bad_request(format!("not a fault configuration: {e}")).into_response(),
    }
}

async fn expire_tokens(State(t): State<Arc<Tenant>>) -> Response {
    t.expire_tokens();
    StatusCode::NO_CONTENT.into_response()
}

async fn advance(State(t): State<Arc<Tenant>>, Path(seconds): Path<u64>) -> Response {
    t.clock.advance(Duration::from_secs(seconds));
    Json(json!({"now": rfc3339(t.clock.now())})).into_response()
}

async fn reset_limits(State(t): State<Arc<Tenant>>) -> Response {
    t.limiter.reset();
    StatusCode::NO_CONTENT.into_response()
}

async fn list_ids(State(t): State<Arc<Tenant>>, Path(kind): Path<String>) -> Response {
    Json(t.ids(&kind)).into_response()
}

async fn delete_resource(
    State(t): State<Arc<Tenant>>,
    Path((kind, id)): Path<(String, String)>,
) -> Response {
    match t.delete_resource(&kind, &id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn touch(State(t): State<Arc<Tenant>>, Path((kind, id)): Path<(String, String)>) -> Response {
    match t.touch(&kind, &id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn save(State(t): State<Arc<Tenant>>) -> Response {
    match crate::seed::save_state(&t) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}
