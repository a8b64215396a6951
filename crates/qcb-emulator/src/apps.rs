//! Apps: the one kind whose behaviour is more than documents. There is no app list (apps are
//! listed through items), export goes through temporary contents (201 + Location, 204 while
//! running, Range, 410 when expired), import always makes a new ID, and publishing copies an
//! app into a managed space. Exported bytes are generated from a seed per app revision, so
//! they are deterministic for an unchanged app, change when it changes, are incompressible
//! like a real QVF, and carry in their header what import needs to recreate the app.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, RawPathParams, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json};
use futures::StreamExt;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::generic::{params, parse_json, parse_query};
use crate::paging::query_value;
use crate::state::{AppContent, IdStyle, State as TenantState, TempBody, TempContent};
use crate::tenant::Tenant;
use crate::visibility::{in_space, space_roles};

const MAGIC: &[u8; 8] = b"QCBQVF\x01\n";
const FORMAT: &str = "qcb-emulated-qvf/1";

pub fn routes() -> crate::server::RouteSet {
    crate::server::RouteSet::new()
        .route("/api/v1/apps", post(create_app))
        .route(
            "/api/v1/apps/{appId}",
            get(get_app).put(update_app).delete(delete_app),
        )
        .route("/api/v1/apps/{appId}/copy", post(copy_app))
        .route("/api/v1/apps/{appId}/export", post(export_app))
        .route("/api/v1/apps/{appId}/owner", put(change_owner))
        .route(
            "/api/v1/apps/{appId}/space",
            put(change_space).delete(remove_space),
        )
        .route("/api/v1/apps/{appId}/publish", post(publish).put(republish))
        .route(
            "/api/v1/apps/import",
            post(import_app).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/v1/temp-contents",
            post(upload_temp).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/temp-contents/{id}", get(download_temp))
        .route("/api/v1/temp-contents/{id}/details", get(temp_details))
}

// ---------------------------------------------------------------- the app model

/// What a new app is made of, for seeding, import, copy and publish.
#[derive(Debug, Clone)]
pub struct NewApp {
    pub name: String,
    pub description: String,
    pub owner_id: String,
    pub space_id: String,
    pub usage: String,
    pub has_section_access: bool,
    pub origin_app_id: Option<String>,
    pub publish: bool,
    pub content: AppContent,
    pub created: chrono::DateTime<chrono::Utc>,
    pub modified: chrono::DateTime<chrono::Utc>,
    pub last_reload: Option<chrono::DateTime<chrono::Utc>>,
}

fn s<'v>(v: &'v Value, ptr: &str) -> &'v str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

/// Creates an app, its item and its content; returns the app ID.
pub fn insert_app(state: &mut TenantState, tenant_url: &str, app: NewApp) -> String {
    let id = state.new_id(IdStyle::Uuid);
    let item_id = state.new_id(IdStyle::Hex24);
    let mut attrs = json!({
        "id": id,
        "name": app.name,
        "description": app.description,
        "thumbnail": "",
        "lastReloadTime": app.last_reload.map(rfc3339).unwrap_or_default(),
        "createdDate": rfc3339(app.created),
        "modifiedDate": rfc3339(app.modified),
        "owner": format!("auth0|{}", app.owner_id),
        "ownerId": app.owner_id,
        "dynamicColor": "",
        "published": app.publish,
        "publishTime": if app.publish { rfc3339(app.modified) } else { String::new() },
        "custom": {},
        "hasSectionAccess": app.has_section_access,
        "encrypted": true,
        "originAppId": app.origin_app_id.clone().unwrap_or_default(),
        "isDirectQueryMode": false,
        "usage": app.usage,
        "_resourcetype": "app",
    });
    if !app.space_id.is_empty() {
        attrs["spaceId"] = json!(app.space_id);
    }
    let nxapp = json!({"attributes": attrs, "privileges": privileges(), "create": []});
    state.insert("apps", &id, nxapp);
    let item = app_item(state, tenant_url, &item_id, &id, &app);
    state.insert("items", &item_id, item);
    state.app_content.insert(id.clone(), app.content);
    id
}

fn privileges() -> Value {
    json!([
        "read",
        "update",
        "delete",
        "reload",
        "import",
        "publish",
        "duplicate",
        "export",
        "exportdata",
        "change_owner",
        "change_space"
    ])
}

fn app_item(
    state: &TenantState,
    tenant_url: &str,
    item_id: &str,
    app_id: &str,
    app: &NewApp,
) -> Value {
    let base = tenant_url.trim_end_matches('/');
    let mut item = json!({
        "id": item_id,
        "name": app.name,
        "description": app.description,
        "resourceType": "app",
        "resourceId": app_id,
        "resourceLink": "",
        "resourceSubType": "",
        "resourceAttributes": {
            "id": app_id, "name": app.name, "description": app.description, "usage": app.usage,
            "hasSectionAccess": app.has_section_access, "originAppId": app.origin_app_id.clone().unwrap_or_default(),
            "published": app.publish, "publishTime": if app.publish { rfc3339(app.modified) } else { String::new() },
            "lastReloadTime": app.last_reload.map(rfc3339).unwrap_or_default(), "spaceId": app.space_id,
        },
        "resourceCustomAttributes": {},
        "resourceCreatedAt": rfc3339(app.created),
        "resourceUpdatedAt": rfc3339(app.modified),
        "resourceSize": {"appFile": app.content.size * 3 + 4096, "appMemory": app.content.size * 5 + 8192},
        "ownerId": app.owner_id,
        "creatorId": app.owner_id,
        "updaterId": app.owner_id,
        "tenantId": state.tenant_id,
        "createdAt": rfc3339(app.created),
        "updatedAt": rfc3339(app.modified),
        "isFavorited": false,
        "collectionIds": [],
        "actions": ["read", "update", "delete", "reload", "publish", "duplicate", "export", "change_owner", "change_space"],
        "meta": {"tags": [], "collections": [], "actions": ["read", "update"], "isFavorited": false},
        "links": {
            "self": {"href": format!("{base}/api/v1/items/{item_id}")},
            "open": {"href": format!("{base}/sense/app/{app_id}")},
            "collections": {"href": format!("{base}/api/v1/items/{item_id}/collections")},
        },
    });
    if let Some(t) = app.last_reload {
        item["resourceReloadEndTime"] = json!(rfc3339(t));
        item["resourceReloadStatus"] = json!("ok");
    }
    if !app.space_id.is_empty() {
        item["spaceId"] = json!(app.space_id);
    }
    item
}

/// The item of an app.
pub fn item_id_of(state: &TenantState, app_id: &str) -> Option<String> {
    state
        .collection("items")?
        .entries
        .iter()
        .find(|(_, e)| {
            s(&e.value, "/resourceType") == "app" && s(&e.value, "/resourceId") == app_id
        })
        .map(|(id, _)| id.clone())
}

/// Reflects a change of an app in its attributes, its item and its content revision.
pub fn touch_app(state: &mut TenantState, app_id: &str, now: chrono::DateTime<chrono::Utc>) {
    let now_s = rfc3339(now);
    if let Some(app) = state.get_mut("apps", app_id) {
        app["attributes"]["modifiedDate"] = json!(now_s);
    }
    if let Some(c) = state.app_content.get_mut(app_id) {
        c.content_seed = c
            .content_seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
    }
    sync_item(state, app_id, &now_s);
}

fn sync_item(state: &mut TenantState, app_id: &str, now_s: &str) {
    let Some(attrs) = state.get("apps", app_id).map(|a| a["attributes"].clone()) else {
        return;
    };
    let Some(item_id) = item_id_of(state, app_id) else {
        return;
    };
    if let Some(item) = state.get_mut("items", &item_id) {
        item["name"] = attrs["name"].clone();
        item["description"] = attrs["description"].clone();
        item["ownerId"] = attrs["ownerId"].clone();
        item["updatedAt"] = json!(now_s);
        item["resourceUpdatedAt"] = attrs["modifiedDate"].clone();
        let space = attrs
            .get("spaceId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if let Value::Object(m) = item {
            if space.is_empty() {
                m.remove("spaceId");
            } else {
                m.insert("spaceId".into(), json!(space));
            }
            if let Some(Value::Object(ra)) = m.get_mut("resourceAttributes") {
                for k in [
                    "name",
                    "description",
                    "publishTime",
                    "published",
                    "originAppId",
                ] {
                    ra.insert(k.into(), attrs[k].clone());
                }
                ra.insert("spaceId".into(), json!(space));
            }
        }
    }
}

pub fn remove_app(state: &mut TenantState, app_id: &str) {
    state.remove("apps", app_id);
    state.app_content.remove(app_id);
    if let Some(item_id) = item_id_of(state, app_id) {
        state.remove("items", &item_id);
    }
}

fn app_space(app: &Value) -> &str {
    s(app, "/attributes/spaceId")
}

fn app_owner(app: &Value) -> &str {
    s(app, "/attributes/ownerId")
}

fn visible_app<'s>(state: &'s TenantState, p: &Principal, app_id: &str) -> ApiResult<&'s Value> {
    let app = state
        .get("apps", app_id)
        .ok_or_else(|| ApiError::not_found("app", app_id))?;
    let viewer = crate::kinds::Viewer {
        state,
        principal: p,
        query: &[],
    };
    if !in_space(&viewer, app_space(app), app_owner(app)) {
        // Qlik answers 403 for an app that exists but is out of reach.
        return Err(ApiError::forbidden(format!("no access to app '{app_id}'")));
    }
    Ok(app)
}

fn space_type(state: &TenantState, space_id: &str) -> String {
    state
        .get("spaces", space_id)
        .map(|sp| s(sp, "/type").to_string())
        .unwrap_or_default()
}

/// Export rules from help.qlik.com: admins cannot export apps from other users' personal
/// spaces, nor from managed spaces where they hold no role; a bot with `admin.apps` can.
fn may_export(state: &TenantState, p: &Principal, app: &Value) -> ApiResult<()> {
    if p.reaches_private_apps() {
        return Ok(());
    }
    let space = app_space(app);
    if space.is_empty() {
        if app_owner(app) == p.user_id {
            return Ok(());
        }
        return Err(ApiError::forbidden("apps in another user's personal space cannot be exported; use an OAuth M2M client with admin.apps"));
    }
    if space_type(state, space) == "managed" && space_roles(state, &p.user_id, space).is_none() {
        return Err(ApiError::forbidden(format!(
            "no role in managed space '{space}': app export needs a space role or admin.apps"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------- export file format

/// The header of an emulated QVF: everything import needs to recreate the app.
pub fn export_header(app: &Value, content: &AppContent) -> Vec<u8> {
    let a = &app["attributes"];
    let header = json!({
        "format": FORMAT,
        "name": a["name"], "description": a["description"], "usage": a["usage"],
        "hasSectionAccess": a["hasSectionAccess"],
        "script": content.script, "objects": content.objects,
        "contentSeed": content.content_seed, "bodySize": content.size,
    });
    let json = serde_json::to_vec(&header).unwrap_or_default();
    let mut out = Vec::with_capacity(12 + json.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out
}

/// Parses the header of an uploaded file; the rest of the file is its body.
pub fn parse_header(bytes: &[u8]) -> ApiResult<(Value, usize)> {
    let invalid = || ApiError::bad_request("the file is not a valid Qlik Sense app (.qvf)");
    if bytes.len() < 12 || &bytes[..8] != MAGIC {
        return Err(invalid());
    }
    let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    let end = 12 + len;
    let json = bytes.get(12..end).ok_or_else(invalid)?;
    let header: Value = serde_json::from_slice(json).map_err(|_| invalid())?;
    if header["format"] != FORMAT {
        return Err(invalid());
    }
    Ok((header, end))
}

/// Writes bytes `[from, from+buf.len())` of an app body.
fn body_bytes(seed: u64, from: u64, buf: &mut [u8]) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_word_pos(u128::from(from / 4));
    let skip = (from % 4) as usize;
    if skip == 0 {
        rng.fill_bytes(buf);
        return;
    }
    let mut lead = [0u8; 4];
    rng.fill_bytes(&mut lead);
    let first = (4 - skip).min(buf.len());
    buf[..first].copy_from_slice(&lead[skip..skip + first]);
    if buf.len() > first {
        rng.fill_bytes(&mut buf[first..]);
    }
}

/// Streams `[start, end)` of an export, optionally dropping the connection at `drop_at`.
fn export_stream(header: Vec<u8>, seed: u64, start: u64, end: u64, drop_at: Option<u64>) -> Body {
    const CHUNK: u64 = 64 * 1024;
    let hlen = header.len() as u64;
    let stream = futures::stream::unfold(start, move |pos| {
        let header = header.clone();
        async move {
            if pos >= end {
                return None;
            }
            if drop_at.is_some_and(|d| pos >= d) {
                return Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "injected drop",
                    )),
                    end,
                ));
            }
            let stop = (pos + CHUNK)
                .min(end)
                .min(drop_at.unwrap_or(u64::MAX).max(pos + 1));
            let mut buf = vec![0u8; (stop - pos) as usize];
            let mut filled = 0usize;
            if pos < hlen {
                let n = (hlen.min(stop) - pos) as usize;
                buf[..n].copy_from_slice(&header[pos as usize..pos as usize + n]);
                filled = n;
            }
            if filled < buf.len() {
                let body_from = pos + filled as u64 - hlen;
                body_bytes(seed, body_from, &mut buf[filled..]);
            }
            Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), stop))
        }
    });
    Body::from_stream(stream)
}

// ---------------------------------------------------------------- handlers

type Resp = Result<Response, ApiError>;

fn app_id(pp: &RawPathParams) -> String {
    params(pp).into_iter().next().unwrap_or_default()
}

async fn get_app(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
) -> Resp {
    let state = t.read();
    Ok(Json(visible_app(&state, &p, &app_id(&pp))?.clone()).into_response())
}

fn default_content(state: &mut TenantState) -> AppContent {
    use rand::Rng;
    AppContent {
        content_seed: state.rng.random(),
        size: 64 * 1024,
        script: "///$tab Main\nSET ThousandSep=',';\n".into(),
        objects: vec![],
    }
}

async fn create_app(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    body: Bytes,
) -> Resp {
    let body = parse_json(&body)?;
    let attrs = body.get("attributes").cloned().unwrap_or(json!({}));
    let name = attrs
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("attributes.name is required"))?;
    let space_id = attrs
        .get("spaceId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let now = t.clock.now();
    let mut state = t.write();
    check_target_space(&state, &p, &space_id)?;
    let content = default_content(&mut state);
    let new = NewApp {
        name: name.to_string(),
        description: attrs
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        owner_id: p.user_id.clone(),
        space_id,
        usage: attrs
            .get("usage")
            .and_then(Value::as_str)
            .unwrap_or("ANALYTICS")
            .to_string(),
        has_section_access: false,
        origin_app_id: None,
        publish: false,
        content,
        created: now,
        modified: now,
        last_reload: None,
    };
    let id = insert_app(&mut state, t.url(), new);
    Ok(Json(state.get("apps", &id).cloned().unwrap_or_default()).into_response())
}

fn check_target_space(state: &TenantState, p: &Principal, space_id: &str) -> ApiResult<()> {
    if space_id.is_empty() {
        return Ok(());
    }
    if state.get("spaces", space_id).is_none() {
        return Err(ApiError::not_found("space", space_id));
    }
    if p.is_admin()
        || p.reaches_private_apps()
        || space_roles(state, &p.user_id, space_id).is_some()
    {
        return Ok(());
    }
    Err(ApiError::forbidden(format!(
        "no role in space '{space_id}'"
    )))
}

async fn update_app(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
    body: Bytes,
) -> Resp {
    let body = parse_json(&body)?;
    let id = app_id(&pp);
    let now = t.clock.now();
    let mut state = t.write();
    visible_app(&state, &p, &id)?;
    if let (Some(app), Some(Value::Object(attrs))) =
        (state.get_mut("apps", &id), body.get("attributes"))
    {
        for (k, v) in attrs {
            if matches!(
                k.as_str(),
                "name" | "description" | "thumbnail" | "custom" | "dynamicColor"
            ) {
                app["attributes"][k] = v.clone();
            }
        }
    }
    touch_app(&mut state, &id, now);
    Ok(Json(state.get("apps", &id).cloned().unwrap_or_default()).into_response())
}

async fn delete_app(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
) -> Resp {
    let id = app_id(&pp);
    let mut state = t.write();
    let app = visible_app(&state, &p, &id)?;
    if app_owner(app) != p.user_id && !p.is_admin() {
        return Err(ApiError::forbidden(
            "only the owner or a tenant admin can delete an app",
        ));
    }
    remove_app(&mut state, &id);
    Ok(StatusCode::OK.into_response())
}

async fn copy_app(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
    body: Bytes,
) -> Resp {
    let body = if body.is_empty() {
        json!({})
    } else {
        parse_json(&body)?
    };
    let id = app_id(&pp);
    let now = t.clock.now();
    let mut state = t.write();
    let app = visible_app(&state, &p, &id)?.clone();
    let content = state
        .app_content
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("app", &id))?;
    let attrs = body.get("attributes").cloned().unwrap_or(json!({}));
    let space_id = attrs
        .get("spaceId")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| app_space(&app).to_string());
    check_target_space(&state, &p, &space_id)?;
    let new = NewApp {
        name: attrs
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{} (copy)", s(&app, "/attributes/name"))),
        description: attrs
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| s(&app, "/attributes/description").to_string()),
        owner_id: p.user_id.clone(),
        space_id,
        usage: s(&app, "/attributes/usage").to_string(),
        has_section_access: app["attributes"]["hasSectionAccess"]
            .as_bool()
            .unwrap_or(false),
        origin_app_id: None,
        publish: false,
        content,
        created: now,
        modified: now,
        last_reload: None,
    };
    let new_id = insert_app(&mut state, t.url(), new);
    Ok(Json(state.get("apps", &new_id).cloned().unwrap_or_default()).into_response())
}

async fn export_app(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
    RawQuery(q): RawQuery,
) -> Resp {
    let id = app_id(&pp);
    let query = parse_query(q);
    let faults = t.faults();
    if faults.exports_fail {
        return Err(ApiError::internal(format!(
            "export of app '{id}' failed (injected fault)"
        )));
    }
    let now = t.clock.now();
    let mut state = t.write();
    let app = visible_app(&state, &p, &id)?.clone();
    may_export(&state, &p, &app)?;
    let content = state
        .app_content
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("app", &id))?;
    let no_data = query_value(&query, "NoData").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let _ = no_data; // the emulated file never holds data: apps here have none to export
    let latency = faults
        .export_latency_secs
        .map(std::time::Duration::from_secs_f64)
        .unwrap_or(t.config.export_latency);
    // Bigger apps take longer, about 1 s per 20 MB on top of the base latency.
    let latency = latency + std::time::Duration::from_secs_f64(content.size as f64 / 20e6);
    let ttl = faults
        .export_ttl_secs
        .map(std::time::Duration::from_secs)
        .unwrap_or(t.config.export_ttl);
    let ready_at = now + chrono::Duration::from_std(latency).unwrap_or_default();
    crate::audit::record_export(&t, &mut state, now, &p, &app);
    let temp_id = state.new_id(IdStyle::Hex24);
    let name = s(&app, "/attributes/name").to_string();
    state.temp_contents.insert(
        temp_id.clone(),
        TempContent {
            id: temp_id.clone(),
            filename: format!("{name}.qvf"),
            owner_id: p.user_id.clone(),
            created_at: now,
            ready_at,
            expires_at: ready_at + chrono::Duration::from_std(ttl).unwrap_or_default(),
            body: TempBody::Export {
                app_name: name,
                header: export_header(&app, &content),
                content_seed: content.content_seed,
                size: content.size,
            },
        },
    );
    let mut resp = StatusCode::CREATED.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/temp-contents/{temp_id}")) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

fn temp_lookup(t: &Tenant, id: &str) -> ApiResult<TempContent> {
    let state = t.read();
    let tc = state
        .temp_contents
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("temporary content", id))?;
    if t.clock.now() >= tc.expires_at {
        return Err(ApiError::gone(format!(
            "temporary content '{id}' has expired; export the app again"
        )));
    }
    Ok(tc)
}

/// Parses `Range: bytes=a-b` (one range).
fn parse_range(h: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(v) = h.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let spec = v.strip_prefix("bytes=").ok_or(())?;
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        (size.saturating_sub(n), size)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            size
        } else {
            b.parse::<u64>()
                .map_err(|_| ())?
                .saturating_add(1)
                .min(size)
        };
        (start, end)
    };
    if start >= size || start >= end {
        return Err(());
    }
    Ok(Some((start, end)))
}

async fn download_temp(
    State(t): State<Arc<Tenant>>,
    Extension(_p): Extension<Principal>,
    pp: RawPathParams,
    headers: HeaderMap,
) -> Resp {
    let id = app_id(&pp);
    let tc = temp_lookup(&t, &id)?;
    if t.clock.now() < tc.ready_at {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let size = tc.size();
    let range = parse_range(&headers, size).map_err(|_| {
        let mut e = ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "HTTP-416",
            "Range Not Satisfiable.",
        );
        e.detail = Some(format!("the file has {size} bytes"));
        e
    })?;
    let (start, end) = range.unwrap_or((0, size));
    let faults = t.faults();
    let drop_at = if t.chance(faults.drop_rate) && end - start > 1 {
        t.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(start + (end - start) / 2)
    } else {
        None
    };
    let body = match &tc.body {
        TempBody::Export {
            header,
            content_seed,
            ..
        } => export_stream(header.clone(), *content_seed, start, end, drop_at),
        TempBody::Upload { bytes } => {
            let slice = Bytes::copy_from_slice(&bytes[start as usize..end as usize]);
            match drop_at {
                None => Body::from(slice),
                Some(d) => {
                    let cut = (d - start) as usize;
                    let first = slice.slice(..cut);
                    let stream = futures::stream::iter(vec![
                        Ok(first),
                        Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "injected drop",
                        )),
                    ]);
                    Body::from_stream(stream)
                }
            }
        }
    };
    let status = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut resp = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, end - start)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", tc.filename.replace('"', "")),
        )
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if range.is_some() {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", end - 1)) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

async fn temp_details(
    State(t): State<Arc<Tenant>>,
    Extension(_p): Extension<Principal>,
    pp: RawPathParams,
) -> Resp {
    let id = app_id(&pp);
    let tc = temp_lookup(&t, &id)?;
    if t.clock.now() < tc.ready_at {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let ttl = (tc.expires_at - tc.created_at).num_seconds().max(0);
    Ok(Json(json!({
        "ID": tc.id, "Name": tc.filename, "Size": tc.size().to_string(), "CreatorID": tc.owner_id,
        "CreatedAt": rfc3339(tc.created_at), "UpdatedAt": rfc3339(tc.ready_at), "Expires": rfc3339(tc.expires_at), "TTLSeconds": ttl,
    }))
    .into_response())
}

async fn upload_temp(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
    body: Body,
) -> Resp {
    let query = parse_query(q);
    let filename = query_value(&query, "filename")
        .unwrap_or("upload")
        .to_string();
    let ttl: i64 = match query_value(&query, "ttl") {
        Some(v) => v.parse().map_err(|_| {
            ApiError::bad_request(format!("ttl must be a number of seconds, got '{v}'"))
        })?,
        None => 3600,
    };
    if !(0..=259_200).contains(&ttl) {
        return Err(ApiError::bad_request(
            "ttl must be between 0 and 259200 seconds",
        ));
    }
    let bytes = collect_body(body).await?;
    let now = t.clock.now();
    let mut state = t.write();
    let id = state.new_id(IdStyle::Hex24);
    state.temp_contents.insert(
        id.clone(),
        TempContent {
            id: id.clone(),
            filename,
            owner_id: p.user_id.clone(),
            created_at: now,
            ready_at: now,
            expires_at: now + chrono::Duration::seconds(if ttl == 0 { 3600 } else { ttl }),
            body: TempBody::Upload {
                bytes: bytes.to_vec(),
            },
        },
    );
    let mut resp = StatusCode::CREATED.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/temp-contents/{id}")) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn collect_body(body: Body) -> ApiResult<Bytes> {
    let mut out = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("reading the request body failed: {e}")))?;
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

/// Reads the app header from an uploaded file (body or temporary content).
async fn import_source(
    t: &Tenant,
    query: &[(String, String)],
    body: Body,
) -> ApiResult<(Value, u64)> {
    if let Some(file_id) = query_value(query, "fileId") {
        let tc = temp_lookup(t, file_id)?;
        return match tc.body {
            TempBody::Upload { bytes } => {
                let (h, end) = parse_header(&bytes)?;
                Ok((h, (bytes.len() - end) as u64))
            }
            TempBody::Export { header, size, .. } => {
                let (h, _) = parse_header(&header)?;
                Ok((h, size))
            }
        };
    }
    // Streamed: keep the header, count the rest, so a large app costs no memory.
    let mut head = Vec::new();
    let mut total = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("reading the uploaded app failed: {e}")))?;
        total += chunk.len() as u64;
        if head.len() < 4 * 1024 * 1024 {
            head.extend_from_slice(&chunk[..chunk.len().min(4 * 1024 * 1024 - head.len())]);
        }
    }
    if total == 0 {
        return Err(ApiError::bad_request(
            "no app file: send the .qvf as the body or give fileId",
        ));
    }
    let (h, end) = parse_header(&head)?;
    Ok((h, total - end as u64))
}

async fn import_app(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
    body: Body,
) -> Resp {
    let query = parse_query(q);
    if let Some(mode) = query_value(&query, "mode") {
        if !mode.eq_ignore_ascii_case("NEW") {
            return Err(ApiError::bad_request(format!(
                "mode '{mode}' is not permitted for external use; only NEW"
            )));
        }
    }
    let (header, body_size) = import_source(&t, &query, body).await?;
    let declared = header["bodySize"].as_u64().unwrap_or(0);
    if declared != body_size {
        return Err(ApiError::bad_request(format!(
            "the app file is truncated: {body_size} of {declared} bytes"
        )));
    }
    let space_id = query_value(&query, "spaceId")
        .unwrap_or_default()
        .to_string();
    let now = t.clock.now();
    let mut state = t.write();
    check_target_space(&state, &p, &space_id)?;
    if !space_id.is_empty() && space_type(&state, &space_id) == "managed" {
        return Err(ApiError::forbidden(
            "apps cannot be imported into a managed space: import elsewhere and publish",
        ));
    }
    let name = query_value(&query, "name")
        .map(str::to_string)
        .unwrap_or_else(|| {
            header["name"]
                .as_str()
                .unwrap_or("Imported app")
                .to_string()
        });
    let content = AppContent {
        content_seed: header["contentSeed"].as_u64().unwrap_or(0),
        size: declared,
        script: header["script"].as_str().unwrap_or_default().to_string(),
        objects: header["objects"].as_array().cloned().unwrap_or_default(),
    };
    let new = NewApp {
        name,
        description: header["description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        owner_id: p.user_id.clone(),
        space_id,
        usage: header["usage"].as_str().unwrap_or("ANALYTICS").to_string(),
        has_section_access: header["hasSectionAccess"].as_bool().unwrap_or(false),
        origin_app_id: None,
        publish: false,
        content,
        created: now,
        modified: now,
        last_reload: None,
    };
    let id = insert_app(&mut state, t.url(), new);
    Ok(Json(state.get("apps", &id).cloned().unwrap_or_default()).into_response())
}

async fn change_owner(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
    body: Bytes,
) -> Resp {
    let body = parse_json(&body)?;
    let id = app_id(&pp);
    let owner = body
        .get("ownerId")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("ownerId is required"))?
        .to_string();
    let now = t.clock.now();
    let mut state = t.write();
    let app = visible_app(&state, &p, &id)?;
    if app_owner(app) != p.user_id && !p.is_admin() {
        return Err(ApiError::forbidden(
            "only the owner or a tenant admin can change an app's owner",
        ));
    }
    if state.get("users", &owner).is_none() {
        return Err(ApiError::not_found("user", &owner));
    }
    if let Some(app) = state.get_mut("apps", &id) {
        app["attributes"]["ownerId"] = json!(owner);
        app["attributes"]["owner"] = json!(format!("auth0|{owner}"));
    }
    sync_item(&mut state, &id, &rfc3339(now));
    Ok(Json(state.get("apps", &id).cloned().unwrap_or_default()).into_response())
}

async fn change_space(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
    body: Bytes,
) -> Resp {
    let body = parse_json(&body)?;
    let id = app_id(&pp);
    let space = body
        .get("spaceId")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("spaceId is required"))?
        .to_string();
    move_app(&t, &p, &id, &space)
}

async fn remove_space(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
) -> Resp {
    move_app(&t, &p, &app_id(&pp), "")
}

fn move_app(t: &Tenant, p: &Principal, id: &str, space: &str) -> Resp {
    let now = t.clock.now();
    let mut state = t.write();
    visible_app(&state, p, id)?;
    check_target_space(&state, p, space)?;
    if !space.is_empty() && space_type(&state, space) == "managed" {
        return Err(ApiError::forbidden(
            "apps are published to managed spaces, not moved there",
        ));
    }
    if let Some(Value::Object(attrs)) = state
        .get_mut("apps", id)
        .and_then(|a| a.get_mut("attributes"))
    {
        if space.is_empty() {
            attrs.remove("spaceId");
        } else {
            attrs.insert("spaceId".into(), json!(space));
        }
    }
    sync_item(&mut state, id, &rfc3339(now));
    Ok(Json(state.get("apps", id).cloned().unwrap_or_default()).into_response())
}

fn may_publish(state: &TenantState, p: &Principal, space_id: &str) -> ApiResult<()> {
    if space_type(state, space_id) != "managed" {
        return Err(ApiError::bad_request(format!(
            "space '{space_id}' is not a managed space"
        )));
    }
    if p.reaches_private_apps() {
        return Ok(());
    }
    let roles = space_roles(state, &p.user_id, space_id).unwrap_or_default();
    if roles.iter().any(|r| r == "owner" || r == "publisher") {
        return Ok(());
    }
    Err(ApiError::forbidden(format!(
        "publishing to managed space '{space_id}' needs the owner or publisher role in it"
    )))
}

async fn publish(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
    body: Bytes,
) -> Resp {
    let body = parse_json(&body)?;
    let id = app_id(&pp);
    let space_id = body
        .get("spaceId")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("spaceId is required"))?
        .to_string();
    let now = t.clock.now();
    let mut state = t.write();
    let app = visible_app(&state, &p, &id)?.clone();
    if state.get("spaces", &space_id).is_none() {
        return Err(ApiError::not_found("space", &space_id));
    }
    may_publish(&state, &p, &space_id)?;
    let content = state
        .app_content
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("app", &id))?;
    let attrs = body.get("attributes").cloned().unwrap_or(json!({}));
    let move_app = body
        .get("moveApp")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let origin = if move_app {
        body.get("originAppId")
            .and_then(Value::as_str)
            .map(str::to_string)
    } else {
        Some(id.clone())
    };
    let new = NewApp {
        name: attrs
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| s(&app, "/attributes/name").to_string()),
        description: attrs
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| s(&app, "/attributes/description").to_string()),
        owner_id: app_owner(&app).to_string(),
        space_id,
        usage: s(&app, "/attributes/usage").to_string(),
        has_section_access: app["attributes"]["hasSectionAccess"]
            .as_bool()
            .unwrap_or(false),
        origin_app_id: origin,
        publish: true,
        content,
        created: now,
        modified: now,
        last_reload: None,
    };
    let new_id = insert_app(&mut state, t.url(), new);
    if move_app {
        remove_app(&mut state, &id);
    }
    Ok(Json(state.get("apps", &new_id).cloned().unwrap_or_default()).into_response())
}

async fn republish(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
    body: Bytes,
) -> Resp {
    let body = parse_json(&body)?;
    let id = app_id(&pp);
    let target = body
        .get("targetId")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("targetId is required"))?
        .to_string();
    let now = t.clock.now();
    let mut state = t.write();
    visible_app(&state, &p, &id)?;
    let target_app = state
        .get("apps", &target)
        .cloned()
        .ok_or_else(|| ApiError::not_found("app", &target))?;
    may_publish(&state, &p, app_space(&target_app))?;
    if body
        .get("checkOriginAppId")
        .and_then(Value::as_bool)
        .unwrap_or(true)
        && s(&target_app, "/attributes/originAppId") != id
    {
        return Err(ApiError::bad_request(format!(
            "app '{target}' was not published from app '{id}'"
        )));
    }
    let content = state
        .app_content
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("app", &id))?;
    state.app_content.insert(target.clone(), content);
    if let Some(app) = state.get_mut("apps", &target) {
        if let Some(Value::Object(attrs)) = body.get("attributes") {
            for k in ["name", "description"] {
                if let Some(v) = attrs.get(k) {
                    app["attributes"][k] = v.clone();
                }
            }
        }
        app["attributes"]["modifiedDate"] = json!(rfc3339(now));
        app["attributes"]["publishTime"] = json!(rfc3339(now));
    }
    sync_item(&mut state, &target, &rfc3339(now));
    Ok(Json(state.get("apps", &target).cloned().unwrap_or_default()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_bytes_are_seekable() {
        let mut whole = vec![0u8; 1000];
        body_bytes(42, 0, &mut whole);
        for from in [0u64, 1, 3, 4, 5, 333, 999] {
            let mut part = vec![0u8; (1000 - from) as usize];
            body_bytes(42, from, &mut part);
            assert_eq!(&whole[from as usize..], &part[..], "from {from}");
        }
        let mut other = vec![0u8; 1000];
        body_bytes(43, 0, &mut other);
        assert_ne!(whole, other);
    }

    #[test]
    fn header_round_trip() {
        let app = json!({"attributes": {"name": "Sales", "description": "d", "usage": "ANALYTICS", "hasSectionAccess": false}});
        let content = AppContent {
            content_seed: 7,
            size: 10,
            script: "LOAD 1;".into(),
            objects: vec![json!({"qId": "x"})],
        };
        let h = export_header(&app, &content);
        let (parsed, end) = parse_header(&h).unwrap();
        assert_eq!(end, h.len());
        assert_eq!(parsed["name"], "Sales");
        assert_eq!(parsed["contentSeed"], 7);
        assert!(parse_header(b"PK\x03\x04garbage").is_err());
    }
}
