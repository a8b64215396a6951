//! App load scripts (`apps.json`: `GET /api/v1/apps/{appId}/scripts` lists the saved versions,
//! latest first; `GET …/scripts/{id}` answers one version's text, `current` naming the newest).
//! The script is the one each app's content carries (the one its export holds). The emulated
//! history keeps only the current version, whose ID follows the script text.
//!
//! Access follows the export rules (the script is what an export would reveal): the app must
//! be visible, and in a managed space the caller needs a space role or `admin.apps`.

use std::sync::Arc;

use axum::extract::{RawPathParams, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json};
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::generic::{params, parse_query};
use crate::paging::query_value;
use crate::state::State as TenantState;
use crate::tenant::Tenant;
use crate::visibility::{in_space, space_roles};

pub fn routes() -> crate::server::RouteSet {
    crate::server::RouteSet::new()
        .route("/api/v1/apps/{appId}/scripts", get(list_versions))
        .route("/api/v1/apps/{appId}/scripts/{id}", get(get_version))
}

fn text<'v>(v: &'v Value, ptr: &str) -> &'v str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

/// The app's current script and its metadata, if the caller may read it.
fn readable(state: &TenantState, p: &Principal, app_id: &str) -> ApiResult<(String, Value)> {
    let app = state
        .get("apps", app_id)
        .ok_or_else(|| ApiError::not_found("app", app_id))?;
    let space = text(app, "/attributes/spaceId");
    let owner = text(app, "/attributes/ownerId");
    let viewer = crate::kinds::Viewer {
        state,
        principal: p,
        query: &[],
    };
    if !in_space(&viewer, space, owner) {
        return Err(ApiError::forbidden(format!("no access to app '{app_id}'")));
    }
    let managed = !space.is_empty()
        && state
            .get("spaces", space)
            .is_some_and(|s| text(s, "/type") == "managed");
    if managed && !p.reaches_private_apps() && space_roles(state, &p.user_id, space).is_none() {
        return Err(ApiError::forbidden(format!(
            "no role in managed space '{space}': reading an app's script needs a space role or admin.apps"
        )));
    }
    let script = state
        .app_content
        .get(app_id)
        .map(|c| c.script.clone())
        .ok_or_else(|| ApiError::not_found("script of app", app_id))?;
    let meta = json!({
        "scriptId": version_id(app_id, &script),
        "size": script.len(),
        "modifierId": owner,
        "modifiedTime": text(app, "/attributes/modifiedDate"),
        "versionMessage": "",
    });
    Ok((script, meta))
}

/// A stable ID for one version of a script: FNV-1a over the app ID and the text.
fn version_id(app_id: &str, script: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in app_id.bytes().chain([0u8]).chain(script.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}{:08x}", (h >> 17) as u32)
}

async fn list_versions(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let app_id = params(&pp).into_iter().next().unwrap_or_default();
    let query = parse_query(q);
    if let Some(limit) = query_value(&query, "limit") {
        if limit.parse::<u32>().map_or(true, |l| l == 0) {
            return Err(ApiError::bad_request(format!(
                "limit must be a positive number, got '{limit}'"
            )));
        }
    }
    let state = t.read();
    let (_, meta) = readable(&state, &p, &app_id)?;
    Ok(Json(json!({
        "scripts": [meta],
        "privileges": ["read", "update"],
        "links": {},
    }))
    .into_response())
}

async fn get_version(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
) -> Result<Response, ApiError> {
    let mut ids = params(&pp).into_iter();
    let app_id = ids.next().unwrap_or_default();
    let version = ids.next().unwrap_or_default();
    let state = t.read();
    let (script, meta) = readable(&state, &p, &app_id)?;
    if version != "current" && meta["scriptId"] != version.as_str() {
        return Err(ApiError::not_found("script version", &version));
    }
    Ok(Json(json!({"script": script, "versionMessage": ""})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids_follow_the_text() {
        let a = version_id("app", "LOAD 1;");
        assert_eq!(a, version_id("app", "LOAD 1;"));
        assert_ne!(a, version_id("app", "LOAD 2;"));
        assert_ne!(a, version_id("other", "LOAD 1;"));
        assert_eq!(a.len(), 24);
    }
}
