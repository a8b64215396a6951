//! Kinds that carry files: theme and extension zips (multipart upload, `/file` download),
//! brand files, report templates (uploaded through temporary contents, downloaded by an
//! action), glossaries (export and import as JSON), and two kinds whose writes are not plain
//! documents: OAuth clients (a secret answered once) and collection items (membership kept on
//! the items).

use std::io::Write;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, RawPathParams, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json};
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::generic::{params, parse_json, parse_query};
use crate::paging::query_value;
use crate::state::{IdStyle, State as TenantState, TempBody};
use crate::tenant::Tenant;

type Resp = Result<Response, ApiError>;

pub fn routes() -> crate::server::RouteSet {
    crate::server::RouteSet::new()
        .route(
            "/api/v1/themes",
            post(|s, p, m| create_bundle("themes", s, p, m)).layer(DefaultBodyLimit::max(64 << 20)),
        )
        .route(
            "/api/v1/extensions",
            post(|s, p, m| create_bundle("extensions", s, p, m))
                .layer(DefaultBodyLimit::max(64 << 20)),
        )
        .route(
            "/api/v1/themes/{id}/file",
            get(|s, p, pp| bundle_file("themes", s, p, pp)),
        )
        .route(
            "/api/v1/extensions/{id}/file",
            get(|s, p, pp| bundle_file("extensions", s, p, pp)),
        )
        .route(
            "/api/v1/brands",
            post(create_brand).layer(DefaultBodyLimit::max(16 << 20)),
        )
        .route(
            "/api/v1/brands/{brand-id}/files/{brand-file-id}",
            get(brand_file),
        )
        .route("/api/v1/report-templates", post(create_report_template))
        .route(
            "/api/v1/report-templates/{id}",
            put(replace_report_template),
        )
        .route(
            "/api/v1/report-templates/{id}/actions/download",
            post(download_report_template),
        )
        .route(
            "/api/v1/glossaries/{id}/actions/export",
            get(export_glossary),
        )
        .route("/api/v1/glossaries/actions/import", post(import_glossary))
        .route("/api/v1/oauth-clients", post(create_oauth_client))
        .route(
            "/api/v1/collections/{collectionId}/items",
            get(list_collection_items).post(add_collection_item),
        )
        .route(
            "/api/v1/collections/{collectionId}/items/{itemId}",
            get(get_collection_item).delete(remove_collection_item),
        )
}

/// A small, valid zip with a `.qext` and a few files, as a theme or extension bundle holds.
pub fn bundle_zip(name: &str, kind: &str, extra: &str) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let qext = json!({"name": name, "type": if kind == "themes" { "theme" } else { "visualization" }, "version": "1.0.0", "author": "qcb"});
        let files: Vec<(String, String)> = if kind == "themes" {
            vec![
                (format!("{name}.qext"), qext.to_string()),
                (
                    "theme.json".into(),
                    json!({"_inherit": true, "color": "#1a2b3c", "note": extra}).to_string(),
                ),
            ]
        } else {
            vec![(format!("{name}.qext"), qext.to_string()), (format!("{name}.js"), format!("define([], function() {{ return {{ paint: function() {{}} /* {extra} */ }}; }});"))]
        };
        for (path, content) in files {
            if zip.start_file(path, opts).is_err() || zip.write_all(content.as_bytes()).is_err() {
                break;
            }
        }
        let _ = zip.finish();
    }
    buf.into_inner()
}

fn qext_name_in(zip_bytes: &[u8]) -> Option<String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).ok()?;
    (0..archive.len()).find_map(|i| {
        archive.by_index(i).ok().and_then(|f| {
            f.name()
                .strip_suffix(".qext")
                .map(|n| n.rsplit('/').next().unwrap_or(n).to_string())
        })
    })
}

async fn create_bundle(
    kind: &'static str,
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    mut mp: Multipart,
) -> Resp {
    let mut file: Option<Vec<u8>> = None;
    let mut data = json!({});
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(format!("invalid multipart body: {e}")))?
    {
        match field.name().unwrap_or_default() {
            "file" => {
                file = Some(
                    field
                        .bytes()
                        .await
                        .map_err(|e| ApiError::bad_request(e.to_string()))?
                        .to_vec(),
                )
            }
            "data" => {
                let raw = field
                    .bytes()
                    .await
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                data = serde_json::from_slice(&raw).map_err(|e| {
                    ApiError::bad_request(format!("the data part is not JSON: {e}"))
                })?;
            }
            _ => {}
        }
    }
    let file = file.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "HTTP-422",
            "Unprocessable Entity",
        )
        .detail("a zip file part named 'file' is required")
    })?;
    let qext = qext_name_in(&file).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "HTTP-415",
            "Unsupported Media Type",
        )
        .detail("the file is not a zip with a .qext")
    })?;
    let now = rfc3339(t.clock.now());
    let mut state = t.write();
    if state
        .values(kind)
        .any(|b| b["qextFilename"] == qext.as_str())
    {
        return Err(ApiError::conflict(format!(
            "a {} named '{qext}' already exists",
            kind.trim_end_matches('s')
        )));
    }
    let id = state.new_id(IdStyle::Uuid);
    let mut doc = if data.is_object() { data } else { json!({}) };
    doc["id"] = json!(id);
    doc["name"] = doc.get("name").cloned().unwrap_or(json!(qext));
    doc["qextFilename"] = json!(qext);
    doc["qextVersion"] = json!("1.0.0");
    doc["type"] = json!(if kind == "themes" {
        "theme"
    } else {
        "visualization"
    });
    doc["tenantId"] = json!(state.tenant_id);
    doc["userId"] = json!(p.user_id);
    doc["createdAt"] = json!(now);
    doc["updateAt"] = json!(now);
    doc["file"] = json!({"contentType": "application/zip"});
    doc["tags"] = doc.get("tags").cloned().unwrap_or(json!([]));
    state.blobs.insert(format!("{kind}/{id}"), file);
    state.insert(kind, &id, doc.clone());
    Ok((StatusCode::CREATED, Json(doc)).into_response())
}

fn attachment(content_type: &str, filename: &str, bytes: Vec<u8>) -> Resp {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", filename.replace('"', "")),
        )
        .header(header::CONTENT_LENGTH, bytes.len())
        .body(axum::body::Body::from(bytes))
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// `{id}` may also be the qext file name (extensions spec).
fn find_bundle<'s>(state: &'s TenantState, kind: &str, id: &str) -> Option<(String, &'s Value)> {
    if let Some(v) = state.get(kind, id) {
        return Some((id.to_string(), v));
    }
    state
        .values(kind)
        .find(|v| v["qextFilename"] == id)
        .map(|v| (v["id"].as_str().unwrap_or_default().to_string(), v))
}

async fn bundle_file(
    kind: &'static str,
    State(t): State<Arc<Tenant>>,
    Extension(_p): Extension<Principal>,
    pp: RawPathParams,
) -> Resp {
    let id = params(&pp).into_iter().next().unwrap_or_default();
    let state = t.read();
    let (id, doc) = find_bundle(&state, kind, &id)
        .ok_or_else(|| ApiError::not_found(kind.trim_end_matches('s'), &id))?;
    let name = doc["qextFilename"].as_str().unwrap_or("bundle").to_string();
    let bytes = state
        .blobs
        .get(&format!("{kind}/{id}"))
        .cloned()
        .ok_or_else(|| ApiError::not_found("file of", &id))?;
    attachment("application/zip", &format!("{name}.zip"), bytes)
}

async fn create_brand(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    mut mp: Multipart,
) -> Resp {
    let mut fields = serde_json::Map::new();
    let mut files: Vec<(String, Vec<u8>, String)> = Vec::new();
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(format!("invalid multipart body: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let ct = field
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        match name.as_str() {
            "name" | "description" => {
                drop(fields.insert(name, json!(String::from_utf8_lossy(&bytes))))
            }
            "logo" | "favIcon" | "styles" => files.push((name, bytes.to_vec(), ct)),
            _ => {}
        }
    }
    if fields
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(ApiError::bad_request("name is required"));
    }
    let now = rfc3339(t.clock.now());
    let mut state = t.write();
    let id = state.new_id(IdStyle::Hex24);
    let mut file_docs = Vec::new();
    for (name, bytes, ct) in files {
        state.blobs.insert(format!("brands/{id}/{name}"), bytes);
        file_docs.push(json!({"id": name, "path": format!("/api/v1/brands/{id}/files/{name}"), "contentType": ct, "eTag": ""}));
    }
    let doc = json!({
        "id": id, "name": fields["name"], "description": fields.get("description").cloned().unwrap_or(json!("")),
        "active": false, "files": file_docs, "createdAt": now, "updatedAt": now, "createdBy": p.user_id, "updatedBy": p.user_id,
    });
    state.insert("brands", &id, doc.clone());
    Ok((StatusCode::CREATED, Json(doc)).into_response())
}

async fn brand_file(
    State(t): State<Arc<Tenant>>,
    Extension(_p): Extension<Principal>,
    pp: RawPathParams,
) -> Resp {
    let ps = params(&pp);
    let (id, file) = (
        ps.first().cloned().unwrap_or_default(),
        ps.get(1).cloned().unwrap_or_default(),
    );
    let state = t.read();
    state
        .get("brands", &id)
        .ok_or_else(|| ApiError::not_found("brand", &id))?;
    let bytes = state
        .blobs
        .get(&format!("brands/{id}/{file}"))
        .cloned()
        .ok_or_else(|| ApiError::not_found("brand file", &file))?;
    let ct = if file == "styles" {
        "text/css"
    } else if file == "favIcon" {
        "image/x-icon"
    } else {
        "image/png"
    };
    attachment(ct, &file, bytes)
}

fn template_type(filename: &str) -> &'static str {
    match filename
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
        .as_str()
    {
        "xlsx" | "xls" => "excel",
        "pptx" => "powerPoint",
        "docx" => "word",
        "html" | "htm" => "html",
        _ => "pixelPerfect",
    }
}

/// Creates or replaces a report template from a body naming a temporary content.
fn write_template(t: &Tenant, p: &Principal, id: Option<String>, body: Value) -> ApiResult<Value> {
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("name is required"))?
        .to_string();
    let temp = body
        .get("temporaryContentId")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("temporaryContentId is required"))?
        .to_string();
    let now = rfc3339(t.clock.now());
    let mut state = t.write();
    let tc = state
        .temp_contents
        .get(&temp)
        .cloned()
        .ok_or_else(|| ApiError::not_found("temporary content", &temp))?;
    let TempBody::Upload { bytes } = tc.body else {
        return Err(ApiError::bad_request(
            "the temporary content is not an uploaded template",
        ));
    };
    let source_app = body
        .get("sourceAppId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let app_name = state
        .get("apps", &source_app)
        .and_then(|a| a["attributes"]["name"].as_str())
        .map(str::to_string);
    if !source_app.is_empty() && app_name.is_none() {
        return Err(ApiError::not_found("app", &source_app));
    }
    let old = id
        .as_ref()
        .and_then(|i| state.get("report-templates", i).cloned());
    if id.is_some() && old.is_none() {
        return Err(ApiError::not_found(
            "report template",
            id.as_deref().unwrap_or_default(),
        ));
    }
    let id = id.unwrap_or_else(|| state.new_id(IdStyle::Uuid));
    let doc = json!({
        "id": id, "name": name, "description": body.get("description").cloned().unwrap_or(json!("")),
        "type": template_type(&tc.filename), "sourceAppId": source_app, "sourceAppName": app_name.unwrap_or_default(),
        "ownerId": old.as_ref().and_then(|o| o["ownerId"].as_str()).unwrap_or(&p.user_id),
        "createdBy": old.as_ref().and_then(|o| o["createdBy"].as_str()).unwrap_or(&p.user_id),
        "createdAt": old.as_ref().and_then(|o| o["createdAt"].as_str()).map(str::to_string).unwrap_or(now.clone()),
        "updatedAt": now, "updatedBy": p.user_id, "metadataVersion": 2,
    });
    state.blobs.insert(format!("report-templates/{id}"), bytes);
    state.insert("report-templates", &id, doc.clone());
    Ok(doc)
}

async fn create_report_template(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    body: Bytes,
) -> Resp {
    let doc = write_template(&t, &p, None, parse_json(&body)?)?;
    Ok((StatusCode::CREATED, Json(doc)).into_response())
}

async fn replace_report_template(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
    body: Bytes,
) -> Resp {
    let id = params(&pp).into_iter().next().unwrap_or_default();
    let doc = write_template(&t, &p, Some(id), parse_json(&body)?)?;
    // The spec answers a replaced template with 201.
    Ok((StatusCode::CREATED, Json(doc)).into_response())
}

async fn download_report_template(
    State(t): State<Arc<Tenant>>,
    Extension(_p): Extension<Principal>,
    pp: RawPathParams,
) -> Resp {
    let id = params(&pp).into_iter().next().unwrap_or_default();
    let state = t.read();
    let doc = state
        .get("report-templates", &id)
        .ok_or_else(|| ApiError::not_found("report template", &id))?;
    let ext = match doc["type"].as_str().unwrap_or_default() {
        "excel" => "xlsx",
        "powerPoint" => "pptx",
        "word" => "docx",
        "html" => "html",
        _ => "qpx",
    };
    let bytes = state
        .blobs
        .get(&format!("report-templates/{id}"))
        .cloned()
        .ok_or_else(|| ApiError::not_found("template file of", &id))?;
    attachment(
        "application/octet-stream",
        &format!("{}.{ext}", doc["name"].as_str().unwrap_or("template")),
        bytes,
    )
}

/// `{userId, name, email}` for each steward ID, as the export names people.
fn steward_details(state: &TenantState, ids: &Value) -> Vec<Value> {
    ids.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|uid| {
                    let user = state.get("users", uid);
                    let field = |f: &str| user.and_then(|u| u[f].as_str()).unwrap_or_default();
                    json!({"userId": uid, "name": field("name"), "email": field("email")})
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The glossary export: the glossary with its categories and terms, as import takes it back.
/// People are named by ID, name and e-mail (`stewardDetails`), so another tenant can match them.
pub fn glossary_export(state: &TenantState, id: &str) -> Option<Value> {
    let g = state.get("glossaries", id)?;
    let categories: Vec<Value> = state
        .values("glossary-categories")
        .filter(|c| c["glossaryId"] == id)
        .map(|c| {
            let mut out = json!({
                "id": c["id"], "name": c["name"], "description": c["description"],
                "stewardDetails": steward_details(state, &c["stewards"]),
            });
            if let Some(p) = c.get("parentId").filter(|p| p.is_string()) {
                out["parentId"] = p.clone();
            }
            out
        })
        .collect();
    let terms: Vec<Value> = state
        .values("glossary-terms")
        .filter(|t| t["glossaryId"] == id)
        .map(|t| {
            let links: Vec<Value> = t["linksTo"]
                .as_array()
                .map(|ls| {
                    ls.iter()
                        .map(|l| {
                            let mut out = serde_json::Map::new();
                            for f in [
                                "resourceType",
                                "resourceId",
                                "type",
                                "subResourceId",
                                "subResourceName",
                                "subResourceType",
                            ] {
                                if let Some(v) = l.get(f) {
                                    out.insert(f.into(), v.clone());
                                }
                            }
                            Value::Object(out)
                        })
                        .collect()
                })
                .unwrap_or_default();
            // relatedInformation and the status type are not in the export schema, but
            // nothing forbids them, and without them a round trip would lose them.
            json!({
                "id": t["id"], "name": t["name"], "description": t["description"], "abbreviation": t["abbreviation"],
                "tags": t["tags"], "categories": t["categories"], "relatesTo": t.get("relatesTo").cloned().unwrap_or(json!([])),
                "linksTo": links, "stewardDetails": steward_details(state, &t["stewards"]),
                "relatedInformation": t["relatedInformation"], "status": t["status"]["type"],
            })
        })
        .collect();
    Some(json!({
        "id": g["id"], "name": g["name"], "description": g["description"], "overview": g["overview"], "tags": g["tags"],
        "spaceId": g["spaceId"], "ownerId": g["ownerId"], "termTemplate": g["termTemplate"],
        "createdAt": g["createdAt"], "createdBy": g["createdBy"], "updatedAt": g["updatedAt"], "updatedBy": g["updatedBy"],
        "categories": categories, "terms": terms,
    }))
}

async fn export_glossary(
    State(t): State<Arc<Tenant>>,
    Extension(_p): Extension<Principal>,
    pp: RawPathParams,
    RawQuery(q): RawQuery,
) -> Resp {
    let id = params(&pp).into_iter().next().unwrap_or_default();
    let query = parse_query(q);
    if let Some(f) = query_value(&query, "format") {
        if f != "json" {
            return Err(ApiError::bad_request(format!(
                "format '{f}' is not supported by this tenant; use json"
            )));
        }
    }
    let state = t.read();
    let doc = glossary_export(&state, &id).ok_or_else(|| ApiError::not_found("glossary", &id))?;
    Ok(Json(doc).into_response())
}

/// Steward user IDs from an import document: plain IDs (categories), or `{userId, email}`
/// objects (terms), matched on e-mail when `lookupUserOnEmail=true`; unknown people are dropped.
fn import_stewards(state: &TenantState, entry: &Value, by_email: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for field in ["stewards", "stewardDetails"] {
        for s in entry
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let found = match s {
                Value::String(uid) => state.get("users", uid).map(|_| uid.clone()),
                Value::Object(o) => {
                    let uid = o.get("userId").and_then(Value::as_str).unwrap_or_default();
                    let email = o.get("email").and_then(Value::as_str).unwrap_or_default();
                    if state.get("users", uid).is_some() {
                        Some(uid.to_string())
                    } else if by_email && !email.is_empty() {
                        state
                            .values("users")
                            .find(|u| u["email"] == email)
                            .and_then(|u| u["id"].as_str())
                            .map(str::to_string)
                    } else {
                        None
                    }
                }
                _ => None,
            };
            if let Some(uid) = found.filter(|u| !out.contains(u)) {
                out.push(uid);
            }
        }
    }
    out
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

async fn import_glossary(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Resp {
    let query = parse_query(q);
    let body = parse_json(&body)?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("the glossary needs a name"))?
        .to_string();
    let space = query_value(&query, "spaceId")
        .map(str::to_string)
        .or_else(|| {
            body.get("spaceId")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default();
    let by_email = query_value(&query, "lookupUserOnEmail") == Some("true");
    let fallback = query_value(&query, "importerAsFallbackSteward") == Some("true");
    let now = rfc3339(t.clock.now());
    let mut state = t.write();
    if !space.is_empty() && state.get("spaces", &space).is_none() {
        return Err(ApiError::not_found("space", &space));
    }
    let stewards_of = |state: &TenantState, entry: &Value| {
        let found = import_stewards(state, entry, by_email);
        if found.is_empty() && fallback {
            vec![p.user_id.clone()]
        } else {
            found
        }
    };
    let gid = state.new_id(IdStyle::Uuid);
    let g = json!({
        "id": gid, "name": name, "description": body.get("description").cloned().unwrap_or(json!("")),
        "overview": body.get("overview").cloned().unwrap_or(json!("")), "tags": body.get("tags").cloned().unwrap_or(json!([])),
        "spaceId": space, "ownerId": p.user_id, "createdAt": now, "createdBy": p.user_id, "updatedAt": now, "updatedBy": p.user_id,
        "termTemplate": body.get("termTemplate").cloned().unwrap_or(json!({"relatedInformation": ""})),
    });
    state.insert("glossaries", &gid, g.clone());
    let categories: Vec<Value> = body
        .get("categories")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let terms: Vec<Value> = body
        .get("terms")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // New IDs first, so parents, categories and related terms can be pointed at them.
    let mut cat_map = std::collections::HashMap::new();
    let cat_ids: Vec<String> = categories
        .iter()
        .map(|c| {
            let cid = state.new_id(IdStyle::Uuid);
            if let Some(old) = c.get("id").and_then(Value::as_str) {
                cat_map.insert(old.to_string(), cid.clone());
            }
            cid
        })
        .collect();
    let mut term_map = std::collections::HashMap::new();
    let term_ids: Vec<String> = terms
        .iter()
        .map(|term| {
            let tid = state.new_id(IdStyle::Uuid);
            if let Some(old) = term.get("id").and_then(Value::as_str) {
                term_map.insert(old.to_string(), tid.clone());
            }
            tid
        })
        .collect();
    for (c, cid) in categories.iter().zip(cat_ids) {
        let mut doc = json!({
            "id": cid, "glossaryId": gid, "name": c.get("name").cloned().unwrap_or(json!("")),
            "description": c.get("description").cloned().unwrap_or(json!("")), "stewards": stewards_of(&state, c),
            "createdAt": now, "createdBy": p.user_id, "updatedAt": now, "updatedBy": p.user_id,
        });
        if let Some(parent) = c
            .get("parentId")
            .and_then(Value::as_str)
            .and_then(|old| cat_map.get(old))
        {
            doc["parentId"] = json!(parent);
        }
        state.insert("glossary-categories", &cid, doc);
    }
    for (term, tid) in terms.iter().zip(term_ids) {
        // "Any category referred in the category array in terms will have to be identical to
        // the id property of the category. If not, the category reference will be discarded."
        let cats: Vec<String> = str_list(term.get("categories"))
            .iter()
            .filter_map(|c| cat_map.get(c).cloned())
            .collect();
        let relates: Vec<Value> = term
            .get("relatesTo")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let target = term_map.get(r.get("termId")?.as_str()?)?;
                Some(json!({"termId": target, "type": r.get("type").cloned().unwrap_or(json!("seeAlso"))}))
            })
            .collect();
        let mut links = Vec::new();
        for l in term
            .get("linksTo")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mut link = l.clone();
            link["id"] = json!(state.new_id(IdStyle::Uuid));
            link["createdAt"] = json!(now);
            link["createdBy"] = json!(p.user_id);
            if link.get("type").is_none() {
                link["type"] = json!("related");
            }
            links.push(link);
        }
        let status = match term.get("status") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(o)) => o
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("draft")
                .to_string(),
            _ => "draft".to_string(),
        };
        let status = if matches!(status.as_str(), "draft" | "verified" | "deprecated") {
            status
        } else {
            "draft".to_string()
        };
        let text = |f: &str| term.get(f).cloned().unwrap_or(json!(""));
        let doc = json!({
            "id": tid, "glossaryId": gid, "name": text("name"), "description": text("description"),
            "abbreviation": text("abbreviation"), "relatedInformation": text("relatedInformation"),
            "tags": term.get("tags").cloned().unwrap_or(json!([])), "stewards": stewards_of(&state, term),
            "categories": cats, "relatesTo": relates, "linksTo": links, "revision": 1,
            "status": {"type": status, "updatedBy": p.user_id, "updatedAt": now},
            "createdAt": now, "createdBy": p.user_id, "updatedAt": now, "updatedBy": p.user_id,
        });
        state.insert("glossary-terms", &tid, doc);
    }
    Ok((StatusCode::CREATED, Json(g)).into_response())
}

// ---------------------------------------------------------------- OAuth clients

/// Creating a client answers its secret once; the stored client keeps only the hint.
async fn create_oauth_client(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    body: Bytes,
) -> Resp {
    if !p.is_admin() {
        return Err(ApiError::forbidden(
            "creating OAuth clients needs the TenantAdmin role",
        ));
    }
    let kind = crate::kinds::kind("oauth-clients")
        .ok_or_else(|| ApiError::internal("the oauth-clients kind is missing"))?;
    let doc = crate::generic::create(&t, kind, &p, None, parse_json(&body)?)?;
    let id = doc["clientId"].as_str().unwrap_or_default().to_string();
    if let Some(Value::Object(stored)) = t.write().get_mut("oauth-clients", &id) {
        stored.remove("clientSecret");
    }
    Ok((StatusCode::CREATED, Json(doc)).into_response())
}

// ---------------------------------------------------------------- collection items

const COLLECTION_ITEM_LIMITS: crate::paging::Limits = crate::paging::Limits {
    min: 1,
    default: Some(10),
    max: Some(100),
};

/// The collection, if the caller may see it.
fn visible_collection<'s>(state: &'s TenantState, p: &Principal, id: &str) -> ApiResult<&'s Value> {
    let c = state
        .get("collections", id)
        .ok_or_else(|| ApiError::not_found("collection", id))?;
    let viewer = crate::kinds::Viewer {
        state,
        principal: p,
        query: &[],
    };
    if !crate::visibility::collection(&viewer, c) {
        return Err(ApiError::not_found("collection", id));
    }
    Ok(c)
}

fn item_visible(state: &TenantState, p: &Principal, item: &Value) -> bool {
    let viewer = crate::kinds::Viewer {
        state,
        principal: p,
        query: &[],
    };
    crate::visibility::item(&viewer, item)
}

fn in_collection(item: &Value, collection_id: &str) -> bool {
    item["collectionIds"]
        .as_array()
        .is_some_and(|ids| ids.iter().any(|c| c == collection_id))
}

async fn list_collection_items(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
    pp: RawPathParams,
) -> Resp {
    let cid = params(&pp).into_iter().next().unwrap_or_default();
    let query = parse_query(q);
    let state = t.read();
    visible_collection(&state, &p, &cid)?;
    let exact = ["resourceType", "resourceId", "spaceId", "name"];
    let search = query_value(&query, "query").map(str::to_lowercase);
    let mut rows = Vec::new();
    if let Some(items) = state.collection("items") {
        for (id, e) in &items.entries {
            let v = &e.value;
            if !in_collection(v, &cid) || !item_visible(&state, &p, v) {
                continue;
            }
            if !exact
                .iter()
                .all(|f| query_value(&query, f).is_none_or(|want| v[*f] == want))
            {
                continue;
            }
            if let Some(s) = &search {
                if !v["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_lowercase()
                    .contains(s)
                {
                    continue;
                }
            }
            rows.push(crate::paging::Row {
                seq: e.seq,
                id,
                value: std::borrow::Cow::Borrowed(v),
            });
        }
    }
    if let Some(sort) = query_value(&query, "sort") {
        let (desc, field) = match sort.strip_prefix('-') {
            Some(f) => (true, f),
            None => (false, sort.trim_start_matches('+')),
        };
        rows.sort_by(|a, b| {
            let o = a.value[field].to_string().cmp(&b.value[field].to_string());
            if desc {
                o.reverse()
            } else {
                o
            }
        });
    }
    let path = format!("/api/v1/collections/{cid}/items");
    let base = crate::generic::link_base(&t);
    let page = crate::paging::paginate(
        rows,
        &query,
        crate::paging::Paging::Next,
        COLLECTION_ITEM_LIMITS,
        &path,
        &base,
    )?;
    let mut links = page.links;
    links["collection"] = json!({"href": base.href(&format!("/api/v1/collections/{cid}"), &[])});
    Ok(Json(json!({"data": page.items, "links": links})).into_response())
}

async fn get_collection_item(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
) -> Resp {
    let ps = params(&pp);
    let (cid, iid) = (
        ps.first().cloned().unwrap_or_default(),
        ps.get(1).cloned().unwrap_or_default(),
    );
    let state = t.read();
    visible_collection(&state, &p, &cid)?;
    let item = state
        .get("items", &iid)
        .filter(|i| in_collection(i, &cid) && item_visible(&state, &p, i))
        .ok_or_else(|| ApiError::not_found("collection item", &iid))?;
    Ok(Json(item.clone()).into_response())
}

/// Private and favorite collections change only for their creator; governed ones need an admin.
fn may_change_collection(p: &Principal, c: &Value) -> bool {
    match c["type"].as_str().unwrap_or_default() {
        "private" | "favorite" => c["creatorId"] == p.user_id.as_str(),
        "publicgoverned" => p.is_admin(),
        _ => true,
    }
}

async fn add_collection_item(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
    body: Bytes,
) -> Resp {
    let cid = params(&pp).into_iter().next().unwrap_or_default();
    let body = parse_json(&body)?;
    let iid = body
        .get("id")
        .and_then(Value::as_str)
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::bad_request("id (the item's ID) is required"))?
        .to_string();
    let now = rfc3339(t.clock.now());
    let mut state = t.write();
    let (name, allowed) = {
        let c = visible_collection(&state, &p, &cid)?;
        (
            c["name"].as_str().unwrap_or_default().to_string(),
            may_change_collection(&p, c),
        )
    };
    if !allowed {
        return Err(ApiError::forbidden(
            "this collection cannot be changed by the caller",
        ));
    }
    let item = state
        .get("items", &iid)
        .filter(|i| item_visible(&state, &p, i))
        .ok_or_else(|| ApiError::not_found("item", &iid))?;
    if in_collection(item, &cid) {
        return Err(ApiError::conflict(format!(
            "item '{iid}' is already in collection '{cid}'"
        )));
    }
    crate::seed::content::add_to_collection(&mut state, &iid, &cid, &name);
    bump_collection(&mut state, &cid, &p.user_id, &now, 1);
    let item = state.get("items", &iid).cloned().unwrap_or_default();
    Ok((StatusCode::CREATED, Json(item)).into_response())
}

async fn remove_collection_item(
    State(t): State<Arc<Tenant>>,
    Extension(p): Extension<Principal>,
    pp: RawPathParams,
) -> Resp {
    let ps = params(&pp);
    let (cid, iid) = (
        ps.first().cloned().unwrap_or_default(),
        ps.get(1).cloned().unwrap_or_default(),
    );
    let now = rfc3339(t.clock.now());
    let mut state = t.write();
    let allowed = may_change_collection(&p, visible_collection(&state, &p, &cid)?);
    if !allowed {
        return Err(ApiError::forbidden(
            "this collection cannot be changed by the caller",
        ));
    }
    if !crate::seed::content::remove_from_collection(&mut state, &iid, &cid) {
        return Err(ApiError::not_found("collection item", &iid));
    }
    bump_collection(&mut state, &cid, &p.user_id, &now, -1);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Keeps `itemCount` in step with the items that name the collection.
fn bump_collection(state: &mut TenantState, cid: &str, user: &str, now: &str, delta: i64) {
    if let Some(c) = state.get_mut("collections", cid) {
        let count = c["itemCount"].as_i64().unwrap_or(0) + delta;
        c["itemCount"] = json!(count.max(0));
        c["updatedAt"] = json!(now);
        c["updaterId"] = json!(user);
    }
}
