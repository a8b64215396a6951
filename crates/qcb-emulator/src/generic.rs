//! The handlers every row of the kind table shares: list with the kind's paging style, get,
//! create, replace, patch and delete.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawPathParams, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, put, MethodRouter};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::kinds::build::{body_object, stamp_new, stamp_update};
use crate::kinds::{kinds, BuildCtx, KindSpec, ListExtras, Viewer};
use crate::paging::{paginate, query_value, LinkBase, Row};
use crate::tenant::Tenant;

pub type Query = Vec<(String, String)>;

pub fn parse_query(raw: Option<String>) -> Query {
    raw.map(|q| serde_urlencoded::from_str(&q).unwrap_or_default())
        .unwrap_or_default()
}

pub fn params(p: &RawPathParams) -> Vec<String> {
    p.iter().map(|(_, v)| v.to_string()).collect()
}

pub fn parse_json(body: &Bytes) -> ApiResult<Value> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "request body is empty: a JSON document is required",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))
}

pub fn link_base(t: &Tenant) -> LinkBase {
    LinkBase {
        tenant_url: t.url().to_string(),
        style: t.config.link_style,
    }
}

fn add_routes(
    mut router: crate::server::RouteSet,
    k: &'static KindSpec,
    list: &'static str,
    item: Option<&'static str>,
) -> crate::server::RouteSet {
    let mut lr: MethodRouter<Arc<Tenant>> = get(move |s, p, q, pp| list_handler(k, s, p, q, pp));
    if k.create.is_some() {
        lr = lr.post(move |s, p, q, pp, b| create_handler(k, s, p, q, pp, b));
    }
    router = router.route(list, lr);
    if let Some(item) = item {
        router = item_routes(router, k, item);
    }
    router
}

fn item_routes(
    router: crate::server::RouteSet,
    k: &'static KindSpec,
    item: &'static str,
) -> crate::server::RouteSet {
    let mut ir: MethodRouter<Arc<Tenant>> = get(move |s, p, q, pp| get_handler(k, s, p, q, pp));
    if k.put.is_some() {
        ir = ir.merge(put(move |s, p, q, pp, b| {
            write_handler(k, Write::Put, s, p, q, pp, b)
        }));
    }
    if k.patch.is_some() {
        ir = ir.merge(patch(move |s, p, q, pp, b| {
            write_handler(k, Write::Patch, s, p, q, pp, b)
        }));
    }
    if k.delete {
        ir = ir.merge(delete(move |s, p, q, pp| delete_handler(k, s, p, q, pp)));
    }
    router.route(item, ir)
}

pub fn routes() -> crate::server::RouteSet {
    let mut router = crate::server::RouteSet::new();
    for k in kinds() {
        match (k.list_path, k.item_path) {
            (Some(list), item) => router = add_routes(router, k, list, item),
            (None, Some(item)) => router = item_routes(router, k, item),
            (None, None) => {}
        }
        if let Some((list, item)) = k.legacy_paths {
            router = add_routes(router, k, list, Some(item));
        }
    }
    router
}

/// The resource's own ID is the last path parameter; a nested kind's parent is the one before.
fn ids(k: &KindSpec, pp: &[String]) -> (Option<String>, Option<String>) {
    let parent = if k.parent_field.is_some() {
        pp.first().cloned()
    } else {
        None
    };
    let own = if pp.len() > usize::from(parent.is_some()) {
        pp.last().cloned()
    } else {
        None
    };
    (parent, own)
}

fn matches_filter(v: &Value, pointer: &str, want: &str) -> bool {
    match v.pointer(pointer) {
        Some(Value::String(s)) => s == want,
        Some(Value::Bool(b)) => b.to_string() == want,
        Some(Value::Number(n)) => n.to_string() == want,
        Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(want)),
        _ => false,
    }
}

fn sort_rows(rows: &mut [Row<'_>], sort: &str) {
    let (desc, field) = match sort.strip_prefix('-') {
        Some(f) => (true, f),
        None => (false, sort.strip_prefix('+').unwrap_or(sort)),
    };
    rows.sort_by(|a, b| {
        let key = |r: &Row<'_>| {
            r.value
                .get(field)
                .map(|v| v.to_string().to_lowercase())
                .unwrap_or_default()
        };
        let o = key(a).cmp(&key(b));
        if desc {
            o.reverse()
        } else {
            o
        }
    });
}

pub fn strip_get_only(k: &KindSpec, mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        for f in k.get_only_fields {
            m.remove(*f);
        }
    }
    v
}

async fn list_handler(
    k: &'static KindSpec,
    State(t): State<Arc<Tenant>>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
    pp: RawPathParams,
) -> Response {
    let query = parse_query(raw);
    let later_pages_delay = t.faults().later_pages_delay_ms;
    if later_pages_delay > 0 && query_value(&query, "next").is_some() {
        tokio::time::sleep(std::time::Duration::from_millis(later_pages_delay)).await;
    }
    let pp = params(&pp);
    let (parent, _) = ids(k, &pp);
    let path = list_path_for(k, &pp);
    let state = t.read();
    if let (Some(parent_kind), Some(parent_id)) = (k.parent_kind, &parent) {
        if state.get(parent_kind, parent_id).is_none() {
            return ApiError::not_found(parent_kind, parent_id).into_response();
        }
    }
    let viewer = Viewer {
        state: &state,
        principal: &principal,
        query: &query,
    };
    let mut rows: Vec<Row<'_>> = Vec::new();
    if let Some(coll) = state.collection(k.name) {
        for (id, e) in &coll.entries {
            if let (Some(pf), Some(parent_id)) = (k.parent_field, &parent) {
                if e.value.get(pf).and_then(Value::as_str) != Some(parent_id.as_str()) {
                    continue;
                }
            }
            if !k.filters.iter().all(|(q, ptr)| {
                query_value(&query, q).is_none_or(|want| matches_filter(&e.value, ptr, want))
            }) {
                continue;
            }
            if let Some((q, ptr)) = k.interval_filter {
                if let Some(want) = query_value(&query, q) {
                    let at = e
                        .value
                        .pointer(ptr)
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    if !crate::audit::in_interval(at, want) {
                        continue;
                    }
                }
            }
            if !(k.visible)(&viewer, &e.value) {
                continue;
            }
            rows.push(Row {
                seq: e.seq,
                id,
                value: if k.get_only_fields.is_empty() {
                    std::borrow::Cow::Borrowed(&e.value)
                } else {
                    std::borrow::Cow::Owned(strip_get_only(k, e.value.clone()))
                },
            });
        }
    }
    if let Some(sort) = query_value(&query, "sort") {
        sort_rows(&mut rows, sort);
    } else if let Some(sort) = k.default_sort {
        // Equal keys keep the order of writing, the later first in a descending order.
        if sort.starts_with('-') {
            rows.reverse();
        }
        sort_rows(&mut rows, sort);
        // The cursors of an unsorted list follow `seq`: number the rows in their order.
        for (i, r) in rows.iter_mut().enumerate() {
            r.seq = i as u64;
        }
    }
    let mut page = match paginate(rows, &query, k.paging, k.limits, &path, &link_base(&t)) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if let Some(view) = k.view {
        page.items.iter_mut().for_each(|v| view(&state, v));
    }
    drop(state);
    delete_once_listed(&t, k, &page.items);
    list_response(k, page.items, page.links, page.total)
}

/// The `delete_once_listed` fault: what a served page holds of those resources goes now.
fn delete_once_listed(t: &Tenant, k: &KindSpec, served: &[Value]) {
    let wanted = t.faults().delete_once_listed;
    if wanted.is_empty() {
        return;
    }
    let listed: Vec<&str> = served
        .iter()
        .filter_map(|v| v.get(k.id_field).and_then(Value::as_str))
        .filter(|id| wanted.iter().any(|w| w == id))
        .collect();
    if listed.is_empty() {
        return;
    }
    for id in &listed {
        let _ = t.delete_resource(k.name, id);
    }
    t.update_faults(|f| {
        f.delete_once_listed
            .retain(|w| !listed.contains(&w.as_str()))
    });
}

pub fn list_response(k: &KindSpec, items: Vec<Value>, mut links: Value, total: usize) -> Response {
    if k.links_always {
        for end in ["next", "prev"] {
            if links.get(end).is_none() {
                links[end] = json!({"href": null});
            }
        }
    }
    let page_count = items.len();
    if k.list_property.is_empty() {
        return Json(Value::Array(items)).into_response();
    }
    let mut body = Map::new();
    body.insert(k.list_property.to_string(), Value::Array(items));
    body.insert("links".into(), links);
    match k.list_extras {
        ListExtras::None => {}
        ListExtras::TotalResults => {
            body.insert("totalResults".into(), json!(total));
        }
        ListExtras::MetaCount => {
            body.insert("meta".into(), json!({"count": total}));
        }
        ListExtras::PageCounts => {
            body.insert("currentPageCount".into(), json!(page_count));
            body.insert("totalCount".into(), json!(total));
        }
    }
    Json(Value::Object(body)).into_response()
}

/// The concrete list path of this request (template with parameters filled in).
fn list_path_for(k: &KindSpec, pp: &[String]) -> String {
    let template = k.list_path.unwrap_or_default();
    let mut vals = pp.iter();
    template
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                vals.next().cloned().unwrap_or_default()
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn find<'s>(
    state: &'s crate::state::State,
    k: &KindSpec,
    parent: &Option<String>,
    id: &str,
) -> ApiResult<&'s Value> {
    let v = state
        .get(k.name, id)
        .ok_or_else(|| ApiError::not_found(k.name, id))?;
    if let (Some(pf), Some(p)) = (k.parent_field, parent) {
        if v.get(pf).and_then(Value::as_str) != Some(p.as_str()) {
            return Err(ApiError::not_found(k.name, id));
        }
    }
    Ok(v)
}

async fn get_handler(
    k: &'static KindSpec,
    State(t): State<Arc<Tenant>>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
    pp: RawPathParams,
) -> Response {
    let query = parse_query(raw);
    let (parent, id) = ids(k, &params(&pp));
    let id = id.unwrap_or_default();
    let state = t.read();
    let v = match find(&state, k, &parent, &id) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let viewer = Viewer {
        state: &state,
        principal: &principal,
        query: &query,
    };
    if !(k.visible)(&viewer, v) {
        return ApiError::not_found(k.name, &id).into_response();
    }
    let mut v = v.clone();
    if let Some(view) = k.view {
        view(&state, &mut v);
    }
    Json(v).into_response()
}

/// Creates a resource of kind `k` from a request body, as the API would.
pub fn create(
    t: &Tenant,
    k: &'static KindSpec,
    principal: &Principal,
    parent: Option<String>,
    body: Value,
) -> ApiResult<Value> {
    let mut state = t.write();
    if let (Some(pk), Some(p)) = (k.parent_kind, &parent) {
        if state.get(pk, p).is_none() {
            return Err(ApiError::not_found(pk, p));
        }
    }
    let obj = body_object(body)?;
    // Data connections may keep their ID (qID) on create, which is how a restore keeps it.
    let given = obj
        .get(k.id_field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && k.id_field == "qID")
        .map(str::to_string);
    let id = match given {
        Some(id) if state.get(k.name, &id).is_some() => {
            return Err(ApiError::conflict(format!(
                "{} '{id}' already exists",
                k.name
            )))
        }
        Some(id) => id,
        None => state.new_id(k.id_style),
    };
    let now = t.clock.now();
    let mut ctx = BuildCtx {
        state: &mut state,
        now,
        principal,
        kind: k,
        parent_id: parent,
        id: id.clone(),
        tenant_url: t.url().to_string(),
        previous: None,
    };
    let mut obj = obj;
    stamp_new(&ctx, k.stamps, &mut obj);
    let mut value = Value::Object(obj);
    if let Some(custom) = k.custom_build {
        value = custom(&mut ctx, value)?;
    }
    state.insert(k.name, &id, value.clone());
    crate::audit::record(
        t,
        &mut state,
        now,
        principal,
        k.name,
        crate::audit::Action::Created,
        &value,
    );
    Ok(value)
}

async fn create_handler(
    k: &'static KindSpec,
    State(t): State<Arc<Tenant>>,
    Extension(principal): Extension<Principal>,
    RawQuery(_raw): RawQuery,
    pp: RawPathParams,
    body: Bytes,
) -> Response {
    let (parent, _) = ids(k, &params(&pp));
    let result = parse_json(&body).and_then(|b| create(&t, k, &principal, parent, b));
    match result {
        Ok(v) => {
            let v = strip_get_only(k, v);
            let v = match k.created_view {
                Some(view) => view(v),
                None => v,
            };
            (status(k.create.unwrap_or(201)), Json(v)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Clone, Copy)]
enum Write {
    Put,
    Patch,
}

/// Applies a JSON Patch (array) or a merge patch (object) to a document.
pub fn apply_patch(doc: &mut Value, body: Value) -> ApiResult<()> {
    match body {
        Value::Array(ops) => {
            let ops: Vec<Value> = ops
                .into_iter()
                .map(|mut op| {
                    // Qlik's APIs accept "op" values in upper case in places; the RFC wants lower case.
                    if let Some(o) = op.get("op").and_then(Value::as_str).map(str::to_lowercase) {
                        op["op"] = json!(o);
                    }
                    op
                })
                .collect();
            let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops))
                .map_err(|e| ApiError::bad_request(format!("invalid JSON Patch: {e}")))?;
            json_patch::patch(doc, &patch)
                .map_err(|e| ApiError::bad_request(format!("JSON Patch cannot be applied: {e}")))
        }
        Value::Object(_) => {
            json_patch::merge(doc, &body);
            Ok(())
        }
        other => Err(ApiError::bad_request(format!(
            "patch body must be an array or an object, got {}",
            crate::kinds::build::type_name(&other)
        ))),
    }
}

async fn write_handler(
    k: &'static KindSpec,
    how: Write,
    State(t): State<Arc<Tenant>>,
    Extension(principal): Extension<Principal>,
    RawQuery(_raw): RawQuery,
    pp: RawPathParams,
    body: Bytes,
) -> Response {
    let (parent, id) = ids(k, &params(&pp));
    let id = id.unwrap_or_default();
    let result =
        parse_json(&body).and_then(|body| replace(&t, k, how, &principal, parent, &id, body));
    let value = match result {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let code = match how {
        Write::Put => k.put,
        Write::Patch => k.patch,
    }
    .unwrap_or(200);
    if code == 204 {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (status(code), Json(value)).into_response()
    }
}

/// Replaces (PUT) or patches (PATCH) a resource of kind `k`, and completes the result as a
/// create does: the stamps are refreshed and the kind's build hook runs again, so the stored
/// document (and the answer) is shaped as GET answers it, not as the request was.
fn replace(
    t: &Tenant,
    k: &'static KindSpec,
    how: Write,
    principal: &Principal,
    parent: Option<String>,
    id: &str,
    body: Value,
) -> ApiResult<Value> {
    let now = t.clock.now();
    let mut state = t.write();
    let old = find(&state, k, &parent, id)?.clone();
    let viewer = Viewer {
        state: &state,
        principal,
        query: &[],
    };
    if !(k.visible)(&viewer, &old) {
        return Err(ApiError::not_found(k.name, id));
    }
    let new = match how {
        // Qlik's update schemas make nearly every field optional (`SpaceUpdate`,
        // `AssignmentUpdate`, `AutomationDetailUpdateRequestObject` require nothing), and a
        // replace cannot drop what the service needs (a space's type, an assignment's
        // assignee): fields the body leaves out keep their value.
        Write::Put => match (old.clone(), body) {
            (Value::Object(mut merged), Value::Object(given)) => {
                merged.extend(given);
                Value::Object(merged)
            }
            (_, other) => other,
        },
        Write::Patch => {
            let mut doc = old.clone();
            apply_patch(&mut doc, body)?;
            doc
        }
    };
    let Value::Object(mut obj) = new else {
        return Err(ApiError::bad_request(
            "the resource must stay a JSON object",
        ));
    };
    stamp_update(
        k,
        k.stamps,
        &old,
        &mut obj,
        &principal.user_id,
        &rfc3339(now),
    );
    if let Some(pf) = k.parent_field {
        if let Some(p) = old.get(pf) {
            obj.insert(pf.to_string(), p.clone());
        }
    }
    let mut value = Value::Object(obj);
    if let Some(custom) = k.custom_build {
        let mut ctx = BuildCtx {
            state: &mut state,
            now,
            principal,
            kind: k,
            parent_id: parent,
            id: id.to_string(),
            tenant_url: t.url().to_string(),
            previous: Some(old),
        };
        value = custom(&mut ctx, value)?;
    }
    state.insert(k.name, id, value.clone());
    crate::audit::record(
        t,
        &mut state,
        now,
        principal,
        k.name,
        crate::audit::Action::Updated,
        &value,
    );
    Ok(value)
}

async fn delete_handler(
    k: &'static KindSpec,
    State(t): State<Arc<Tenant>>,
    Extension(principal): Extension<Principal>,
    RawQuery(_raw): RawQuery,
    pp: RawPathParams,
) -> Response {
    let (parent, id) = ids(k, &params(&pp));
    let id = id.unwrap_or_default();
    let mut state = t.write();
    match find(&state, k, &parent, &id) {
        Ok(v) => {
            let viewer = Viewer {
                state: &state,
                principal: &principal,
                query: &[],
            };
            if !(k.visible)(&viewer, v) {
                return ApiError::not_found(k.name, &id).into_response();
            }
        }
        Err(e) => return e.into_response(),
    }
    if let Some(old) = state.remove(k.name, &id) {
        crate::audit::record(
            &t,
            &mut state,
            t.clock.now(),
            &principal,
            k.name,
            crate::audit::Action::Deleted,
            &old,
        );
    }
    StatusCode::NO_CONTENT.into_response()
}

pub fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
}
