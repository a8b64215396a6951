//! The contract test: exercise every route the emulator serves, over the `demo` and `large`
//! tenants, and hold every answer against the response schema of its operation in Qlik's
//! specs. It fails when a route is served that no spec has, when a success answer has a
//! status the spec does not declare, or when a JSON body contradicts its schema. It prints
//! the coverage: which of the spec operations of the kinds we emulate are served.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use qcb_emulator::kinds::{kinds, KindSpec};
use qcb_emulator::{Emulator, EmulatorConfig, Exchange, Profile};
use reqwest::Method;
use serde_json::{json, Value};
use support::openapi::Validation;
use support::tenant::{fill, index, oauth_token, start, TestTenant};

/// A create body derived from an existing document: server-owned fields dropped, names made unique.
fn create_body(k: &KindSpec, doc: &Value, n: usize) -> Value {
    let mut b = doc.clone();
    if let Value::Object(m) = &mut b {
        for f in [
            k.id_field,
            "id",
            "links",
            "createdAt",
            "updatedAt",
            "createdBy",
            "updatedBy",
            "tenantId",
            "tenant",
            "created",
            "updated",
            "lastUpdated",
            "lastUpdatedAt",
        ] {
            m.remove(f);
        }
        for name_field in ["name", "qName", "subject", "clientName"] {
            if let Some(Value::String(s)) = m.get(name_field).cloned() {
                m.insert(name_field.into(), json!(format!("{s} contract {n}")));
            }
        }
        // Where a create (or replace) schema differs from the GET answer, send what the
        // request schema takes, as a restore must.
        match k.name {
            // `UserPostSchema` only takes `invited`; the service sets the rest.
            "users" => {
                m.remove("status");
            }
            // GET names the encrypted headers; the request takes {name: value}.
            "webhooks" => {
                m.remove("encryptedHeaders");
            }
            // GET answers an integer, the request schemas take "0"/"1".
            "data-connections" => {
                if let Some(n) = m.get("qLogOn").and_then(Value::as_i64) {
                    m.insert("qLogOn".into(), json!(n.to_string()));
                }
            }
            // GET answers {id, name}; the request takes the app ID.
            "odag-links" => {
                if let Some(id) = m.get("templateApp").and_then(|t| t.get("id")).cloned() {
                    m.insert("templateApp".into(), id);
                }
            }
            _ => {}
        }
        if k.name == "space-assignments" {
            // The Everyone group, which the generated spaces never assign.
            m.insert("type".into(), json!("group"));
            m.insert("assigneeId".into(), json!("000000000000000000000001"));
            m.insert("roles".into(), json!(["consumer"]));
        }
    }
    b
}

/// Drives every kind through list, get, create, replace, patch and delete.
async fn exercise_kinds(t: &TestTenant, full: bool) {
    for (n, k) in kinds().iter().enumerate() {
        let Some(list_path) = k.list_path else {
            continue;
        };
        let parents: Vec<String> = match k.parent_kind {
            Some(pk) => {
                let pk = kinds().iter().find(|x| x.name == pk).expect("parent kind");
                let ps = t
                    .walk(pk.list_path.expect("parent list"), "", pk.list_property)
                    .await;
                ps.iter()
                    .take(3)
                    .filter_map(|p| pk.id_of(p).map(str::to_string))
                    .collect()
            }
            None => vec![String::new()],
        };
        for parent in parents.iter().take(if full { 3 } else { 1 }) {
            let pvals: Vec<&str> = if parent.is_empty() {
                vec![]
            } else {
                vec![parent.as_str()]
            };
            let path = fill(list_path, &pvals);
            let extra = if k.name.starts_with("automation") {
                "listAll=true"
            } else {
                ""
            };
            let max = k
                .limits
                .max
                .map(|m| format!("limit={m}"))
                .unwrap_or_default();
            let q = [extra, max.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join("&");
            let items = t.walk(&path, &q, k.list_property).await;
            if full && k.limits.max.is_some() && items.len() > 2 {
                let small = [extra, "limit=2"]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("&");
                let paged = t.walk(&path, &small, k.list_property).await;
                assert_eq!(
                    paged.len(),
                    items.len(),
                    "{}: paging by 2 gives every item once",
                    k.name
                );
            }
            let Some(item_path) = k.item_path else {
                continue;
            };
            for doc in items.iter().take(if full { 25 } else { 2 }) {
                let Some(id) = k.id_of(doc) else { continue };
                let mut v = pvals.clone();
                v.push(id);
                t.get(&fill(item_path, &v)).await;
            }
            if !full || k.create.is_none() {
                continue;
            }
            let Some(template) = items.first() else {
                continue;
            };
            let created = t
                .call(Method::POST, &path, Some(&create_body(k, template, n)))
                .await;
            if !(200..300).contains(&created.status) {
                continue; // recorded and judged like any other answer
            }
            let Some(id) = k.id_of(&created.body).map(str::to_string) else {
                continue;
            };
            let mut v = pvals.clone();
            v.push(&id);
            let item = fill(item_path, &v);
            let current = t.get(&item).await.body;
            if k.put.is_some() {
                let mut replacement = create_body(k, &current, n + 1000);
                // `ConnectionUpdate` requires the connection's own qID.
                if k.id_field == "qID" {
                    replacement["qID"] = json!(id);
                }
                t.call(Method::PUT, &item, Some(&replacement)).await;
            }
            if k.patch.is_some() {
                let field = if current.get("description").is_some() {
                    "/description"
                } else {
                    "/name"
                };
                t.call(Method::PATCH, &item, Some(&json!([{"op": "replace", "path": field, "value": "changed by the contract test"}]))).await;
            }
            if k.delete {
                let s = t.call(Method::DELETE, &item, None).await.status;
                assert!((200..300).contains(&s), "DELETE {item} answered {s}");
            }
        }
    }
}

async fn exercise_singletons(t: &TestTenant, tenant_id: &str) {
    for s in qcb_emulator::singletons::SINGLETONS {
        let path = fill(s.path, &[tenant_id]);
        let r = t.get(&path).await;
        if r.status != 200 {
            continue;
        }
        let doc = r.body;
        for w in s.writes {
            match w {
                qcb_emulator::singletons::Write::Put(_) => {
                    t.call(Method::PUT, &path, Some(&doc)).await;
                }
                qcb_emulator::singletons::Write::Patch(_) => {
                    t.call(Method::PATCH, &path, Some(&json!([]))).await;
                }
                // Creating needs the document gone: exercised with the delete.
                qcb_emulator::singletons::Write::Post(_) => {}
                qcb_emulator::singletons::Write::Delete(_) => {
                    t.call(Method::DELETE, &path, None).await;
                    let created = t
                        .post(&path, &json!({"preferredStartPage": "analytics-hub"}))
                        .await;
                    assert_eq!(created.status, 201, "{path}: {}", created.body);
                }
            }
        }
    }
    let r = t.call(Method::GET, "/api/v1/tenants/me", None).await;
    assert!(
        r.status == 302 || r.status == 200,
        "tenants/me answered {} {:?}",
        r.status,
        r.headers
    );
}

/// Apps: items, get, export/download, import, copy, publish, republish, owner, space, delete.
async fn exercise_apps(t: &TestTenant) {
    let items = t.app_items().await;
    assert!(!items.is_empty(), "the tenant has apps");
    let spaces = t.walk("/api/v1/spaces", "limit=100", "data").await;
    let shared = spaces
        .iter()
        .find(|s| s["type"] == "shared")
        .and_then(|s| s["id"].as_str())
        .expect("a shared space")
        .to_string();
    // An app in a shared space: the admin holds a role in every generated shared space.
    let shared_ids: Vec<&str> = spaces
        .iter()
        .filter(|s| s["type"] == "shared")
        .filter_map(|s| s["id"].as_str())
        .collect();
    let app_id = items
        .iter()
        .find(|i| {
            i["spaceId"]
                .as_str()
                .is_some_and(|s| shared_ids.contains(&s))
        })
        .and_then(|i| i["resourceId"].as_str())
        .expect("an app in a shared space")
        .to_string();
    t.get(&format!("/api/v1/apps/{app_id}")).await;
    t.get(&format!(
        "/api/v1/items?resourceType=app&resourceId={app_id}"
    ))
    .await;
    let location = t.export(&app_id).await;
    let len = t.download(&location).await.len();
    t.get(&format!("{location}/details")).await;
    // Import the export back (body), then copy, move, publish and delete.
    let bytes = t.download(&location).await;
    assert_eq!(bytes.len(), len);
    let resp = t
        .send(
            Method::POST,
            &format!("/api/v1/apps/import?spaceId={shared}&name=contract-import"),
            Some(("application/octet-stream", bytes.clone())),
        )
        .await;
    assert_eq!(resp.status, 200);
    let imported = resp.json().expect("json");
    let new_id = imported["attributes"]["id"]
        .as_str()
        .expect("new id")
        .to_string();
    assert_ne!(new_id, app_id, "import makes a new app ID");
    t.call(
        Method::PUT,
        &format!("/api/v1/apps/{new_id}"),
        Some(&json!({"attributes": {"description": "imported by the contract test"}})),
    )
    .await;
    let copy = t
        .call(
            Method::POST,
            &format!("/api/v1/apps/{new_id}/copy"),
            Some(&json!({"attributes": {"name": "contract copy"}})),
        )
        .await
        .body;
    let copy_id = copy["attributes"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    t.call(
        Method::DELETE,
        &format!("/api/v1/apps/{copy_id}/space"),
        None,
    )
    .await;
    t.call(
        Method::PUT,
        &format!("/api/v1/apps/{copy_id}/space"),
        Some(&json!({"spaceId": shared})),
    )
    .await;
    let users = t.walk("/api/v1/users", "limit=100", "data").await;
    let other = users
        .iter()
        .filter_map(|u| u["id"].as_str())
        .nth(3)
        .unwrap_or_default()
        .to_string();
    t.call(
        Method::PUT,
        &format!("/api/v1/apps/{copy_id}/owner"),
        Some(&json!({"ownerId": other})),
    )
    .await;
    // Upload through temporary contents and import by fileId.
    let resp = t
        .request(
            Method::POST,
            "/api/v1/temp-contents?filename=app.qvf&ttl=600",
        )
        .body(bytes)
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status().as_u16(), 201);
    let file = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .and_then(|l| l.rsplit('/').next())
        .expect("location")
        .to_string();
    t.call(
        Method::POST,
        &format!("/api/v1/apps/import?fileId={file}&spaceId={shared}"),
        None,
    )
    .await;
    // Publish to a managed space where the admin is publisher (the demo tenant has one).
    let mut published = false;
    for sp in spaces.iter().filter(|s| s["type"] == "managed") {
        let sid = sp["id"].as_str().unwrap_or_default();
        let r = t
            .call(
                Method::POST,
                &format!("/api/v1/apps/{new_id}/publish"),
                Some(&json!({"spaceId": sid, "data": "source"})),
            )
            .await;
        if r.status == 200 {
            let target = r.body;
            let target_id = target["attributes"]["id"].as_str().unwrap_or_default();
            assert_eq!(target["attributes"]["originAppId"], new_id.as_str());
            let s = t
                .call(
                    Method::PUT,
                    &format!("/api/v1/apps/{new_id}/publish"),
                    Some(&json!({"targetId": target_id, "data": "source"})),
                )
                .await
                .status;
            assert_eq!(s, 200);
            published = true;
            break;
        }
    }
    assert!(published, "publishing to a managed space worked somewhere");
    t.call(
        Method::POST,
        "/api/v1/apps",
        Some(&json!({"attributes": {"name": "contract empty app"}})),
    )
    .await;
    t.call(Method::DELETE, &format!("/api/v1/apps/{copy_id}"), None)
        .await;
    // Errors: a missing app, a bad limit, no credentials.
    t.get("/api/v1/apps/does-not-exist").await;
    t.get("/api/v1/items?limit=1000").await;
    let anon = t
        .http
        .get(t.url_for("/api/v1/spaces"))
        .send()
        .await
        .expect("anon");
    assert_eq!(anon.status().as_u16(), 401);
}

async fn exercise_files(t: &TestTenant) {
    for kind in ["themes", "extensions"] {
        let list = t.walk(&format!("/api/v1/{kind}"), "", "data").await;
        if let Some(id) = list.first().and_then(|d| d["id"].as_str()) {
            let zip = t.get(&format!("/api/v1/{kind}/{id}/file")).await;
            assert_eq!(zip.status, 200);
            assert_eq!(zip.header("content-type"), Some("application/zip"));
        }
    }
    for rt in t
        .walk("/api/v1/report-templates", "limit=100", "data")
        .await
        .iter()
        .take(2)
    {
        let id = rt["id"].as_str().unwrap_or_default();
        t.call(
            Method::POST,
            &format!("/api/v1/report-templates/{id}/actions/download"),
            None,
        )
        .await;
    }
    for g in t
        .walk("/api/v1/glossaries", "limit=100", "data")
        .await
        .iter()
        .take(2)
    {
        let id = g["id"].as_str().unwrap_or_default();
        let export = t
            .get(&format!("/api/v1/glossaries/{id}/actions/export"))
            .await;
        assert_eq!(export.status, 200);
        t.call(
            Method::POST,
            "/api/v1/glossaries/actions/import",
            Some(&export.body),
        )
        .await;
    }
}

/// Actions a restore needs: owners, spaces, enable/disable, brand activation, banner, conditions.
async fn exercise_actions(t: &TestTenant) {
    let users = t.walk("/api/v1/users", "limit=100", "data").await;
    let user = users
        .iter()
        .filter_map(|u| u["id"].as_str())
        .nth(2)
        .expect("a user")
        .to_string();
    let spaces = t.walk("/api/v1/spaces", "limit=100", "data").await;
    let space = spaces
        .iter()
        .find(|s| s["type"] == "shared")
        .and_then(|s| s["id"].as_str())
        .expect("a shared space")
        .to_string();
    for base in ["/api/workflows/automations", "/api/v1/automations"] {
        let autos = t.walk(base, "listAll=true&limit=200", "data").await;
        let id = autos
            .first()
            .and_then(|a| a["id"].as_str())
            .expect("an automation")
            .to_string();
        for (action, body) in [
            ("change-space", Some(json!({"spaceId": space}))),
            ("disable", None),
            ("enable", None),
            ("change-owner", Some(json!({"userId": user}))),
        ] {
            let s = t
                .call(
                    Method::POST,
                    &format!("{base}/{id}/actions/{action}"),
                    body.as_ref(),
                )
                .await
                .status;
            assert_eq!(s, 204, "{base} {action}");
        }
    }
    let conns = t
        .walk(
            "/api/workflows/automation-connections",
            "listAll=true&limit=200",
            "data",
        )
        .await;
    let id = conns
        .first()
        .and_then(|a| a["id"].as_str())
        .expect("an automation connection")
        .to_string();
    let s = t
        .call(
            Method::POST,
            &format!("/api/workflows/automation-connections/{id}/actions/change-owner"),
            Some(&json!({"userId": user})),
        )
        .await
        .status;
    assert_eq!(s, 204);
    let brands = t.walk("/api/v1/brands", "limit=100", "data").await;
    if let Some(id) = brands
        .iter()
        .find(|b| b["active"] != true)
        .and_then(|b| b["id"].as_str())
    {
        let r = t
            .call(
                Method::POST,
                &format!("/api/v1/brands/{id}/actions/activate"),
                Some(&json!({})),
            )
            .await;
        assert_eq!((r.status, r.body["active"].as_bool()), (200, Some(true)));
        t.call(
            Method::POST,
            &format!("/api/v1/brands/{id}/actions/deactivate"),
            Some(&json!({})),
        )
        .await;
    }
    let banner = json!({"type": "warning", "enabled": true, "message": "Restored by qcb", "startTime": "2026-11-01T00:00:00Z", "endTime": "2026-12-01T00:00:00Z", "linkEnabled": false});
    let s = t
        .call(
            Method::POST,
            "/api/v1/banners/actions/upsert",
            Some(&banner),
        )
        .await
        .status;
    assert_eq!(s, 201);
    let apps = t.app_items().await;
    let app = apps
        .first()
        .and_then(|a| a["resourceId"].as_str())
        .unwrap_or_default();
    let condition = json!({"type": "data", "dataCondition": {"conditionBase": {"appId": app, "description": "restored"}, "headers": ["Sales"], "measures": [{"title": "Sales"}], "dimensions": [], "selections": []}});
    let created = t
        .call(Method::POST, "/api/v1/conditions", Some(&condition))
        .await;
    assert_eq!(created.status, 201);
    let id = created
        .body
        .pointer("/dataCondition/conditionBase/id")
        .and_then(Value::as_str)
        .expect("condition id");
    t.get(&format!("/api/v1/conditions/{id}")).await;
}

async fn exercise_licenses(t: &TestTenant) {
    let added = t.call(Method::POST, "/api/v1/licenses/assignments/actions/add", Some(&json!({"add": [{"subject": "auth0|contract", "type": "analyzer"}, {"subject": "auth0|contract", "type": "analyzer"}]}))).await;
    assert_eq!(added.status, 207);
    assert_eq!(added.body["data"][0]["status"], 201);
    assert_eq!(added.body["data"][1]["status"], 409);
    let updated = t.call(Method::POST, "/api/v1/licenses/assignments/actions/update", Some(&json!({"update": [{"subject": "auth0|contract", "type": "professional", "sourceType": "analyzer"}]}))).await;
    assert_eq!(
        (updated.status, updated.body["data"][0]["status"].as_u64()),
        (207, Some(200))
    );
    let deleted = t.call(Method::POST, "/api/v1/licenses/assignments/actions/delete", Some(&json!({"delete": [{"subject": "auth0|contract", "type": "professional"}, {"subject": "auth0|nobody", "type": "analyzer"}]}))).await;
    assert_eq!(deleted.status, 207);
    assert_eq!(deleted.body["data"][1]["status"], 404);
}

async fn exercise_oauth(emulator: &Emulator) {
    let creds = emulator.tenant().credentials();
    let Some((id, secret)) = creds.admin_bot else {
        return;
    };
    let resp = oauth_token(
        emulator,
        json!({"client_id": id, "client_secret": secret, "grant_type": "client_credentials"}),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let bad = oauth_token(
        emulator,
        json!({"client_id": id, "client_secret": "wrong", "grant_type": "client_credentials"}),
    )
    .await;
    assert_eq!(bad.status().as_u16(), 401);
}

/// Every (method, path) the emulator answers, found by asking each served path with each
/// method: axum answers 405 for a method a path does not have.
async fn served_operations(t: &TestTenant) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for path in qcb_emulator::server::served_paths() {
        let concrete = fill(path, &[]);
        for m in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let resp = t.request(m.clone(), &concrete).send().await.expect("probe");
            if resp.status().as_u16() != 405 {
                out.insert((m.to_string(), path.to_string()));
            }
        }
    }
    out
}

#[derive(Default)]
struct Verdict {
    failures: Vec<String>,
    validated: usize,
    no_schema: usize,
    undeclared_errors: BTreeMap<String, usize>,
}

fn judge(exchanges: &[Exchange], served: &BTreeSet<String>) -> Verdict {
    let spec = index();
    let mut v = Verdict::default();
    for ex in exchanges {
        if !served.contains(&ex.route) {
            continue; // no route matched: the fallback's 404
        }
        let Some(op) = spec.operation(&ex.method, &ex.route) else {
            v.failures.push(format!(
                "{} {} is served but no spec has it",
                ex.method, ex.route
            ));
            continue;
        };
        let body = ex.body.clone().unwrap_or(Value::Null);
        let outcome = if ex.body.is_some() {
            spec.validate_response(&op, ex.status, &ex.content_type, &body)
        } else {
            Validation::NoSchema
        };
        match outcome {
            Validation::Valid => v.validated += 1,
            Validation::NoSchema => v.no_schema += 1,
            Validation::UndeclaredStatus if ex.status >= 400 => {
                *v.undeclared_errors
                    .entry(format!("{} {} → {}", ex.method, ex.route, ex.status))
                    .or_default() += 1;
            }
            Validation::UndeclaredContentType(_) if ex.status >= 400 => {
                *v.undeclared_errors
                    .entry(format!(
                        "{} {} → {} ({})",
                        ex.method, ex.route, ex.status, ex.content_type
                    ))
                    .or_default() += 1;
            }
            other => {
                let detail = match &other {
                    Validation::Invalid(errs) => {
                        errs.iter().take(4).cloned().collect::<Vec<_>>().join("; ")
                    }
                    o => format!("{o:?}"),
                };
                let msg = format!("{} {} → {}: {detail}", ex.method, ex.route, ex.status);
                if !v.failures.contains(&msg) {
                    v.failures.push(msg);
                }
            }
        }
    }
    v
}

async fn run_profile(profile: Profile, full: bool) -> Verdict {
    let config = EmulatorConfig {
        profile,
        seed: 7,
        rate_limits: false,
        record_exchanges: true,
        export_latency: Duration::from_millis(50),
        ..EmulatorConfig::default()
    };
    let emulator = start(config).await;
    let t = TestTenant::admin(&emulator);
    let tenant_id = emulator.tenant().credentials().tenant_id;
    exercise_singletons(&t, &tenant_id).await;
    exercise_kinds(&t, full).await;
    if full {
        exercise_apps(&t).await;
        exercise_files(&t).await;
        exercise_oauth(&emulator).await;
        exercise_licenses(&t).await;
        exercise_actions(&t).await;
    }
    let served: BTreeSet<String> = qcb_emulator::server::served_paths()
        .into_iter()
        .map(str::to_string)
        .collect();
    let verdict = judge(&emulator.tenant().exchanges(), &served);
    let _ = emulator.stop().await;
    verdict
}

fn report(name: &str, v: &Verdict) {
    println!(
        "{name}: {} JSON answers valid, {} without a JSON schema",
        v.validated, v.no_schema
    );
    if !v.undeclared_errors.is_empty() {
        println!("{name}: error statuses the spec does not declare for the operation (Qlik answers them too):");
        for (k, n) in &v.undeclared_errors {
            println!("  {k} ×{n}");
        }
    }
    assert!(
        v.failures.is_empty(),
        "{name}: {} contract failures:\n{}",
        v.failures.len(),
        v.failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_tenant_answers_as_the_specs_say() {
    let v = run_profile(Profile::Demo, true).await;
    report("demo", &v);
    assert!(
        v.validated > 100,
        "the exercise validated only {} answers",
        v.validated
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_tenant_answers_as_the_specs_say() {
    let v = run_profile(Profile::Large, false).await;
    report("large", &v);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_served_operation_is_in_a_spec_and_coverage_is_reported() {
    let config = EmulatorConfig {
        profile: Profile::Empty,
        rate_limits: false,
        ..EmulatorConfig::default()
    };
    let emulator = start(config).await;
    let t = TestTenant::admin(&emulator);
    let served = served_operations(&t).await;
    let spec = index();
    let unknown: Vec<String> = served
        .iter()
        .filter(|(m, p)| spec.operation(m, p).is_none())
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        unknown.is_empty(),
        "served but in no spec:\n{}",
        unknown.join("\n")
    );

    // Coverage over the spec files of the kinds we emulate.
    let files: BTreeSet<String> = served
        .iter()
        .filter_map(|(m, p)| spec.operation(m, p))
        .map(|op| op.spec_file.clone())
        .collect();
    let in_scope: Vec<_> = spec
        .operations()
        .into_iter()
        .filter(|o| files.contains(&o.spec_file))
        .collect();
    let covered: BTreeSet<(String, String)> = served
        .iter()
        .filter_map(|(m, p)| spec.operation(m, p))
        .map(|op| (op.method.clone(), op.path.clone()))
        .collect();
    println!("coverage: {} of {} operations in the {} specs of emulated kinds are served ({} in all specs)", covered.len(), in_scope.len(), files.len(), spec.operations().len());
    let mut per_file: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for o in &in_scope {
        let e = per_file.entry(o.spec_file.as_str()).or_default();
        e.1 += 1;
        if covered.contains(&(o.method.clone(), o.path.clone())) {
            e.0 += 1;
        }
    }
    for (f, (c, n)) in per_file {
        println!("  {f:<42} {c:>3}/{n:<3}");
    }
    let _ = emulator.stop().await;
}

/// The table's limits (minimum, default, maximum) are the spec's, for every list.
#[test]
fn list_limits_are_the_specs() {
    fn resolve<'a>(spec: &'a Value, mut v: &'a Value) -> &'a Value {
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            match spec.pointer(r.trim_start_matches('#')) {
                Some(t) => v = t,
                None => break,
            }
        }
        v
    }
    let dir = support::openapi::SpecIndex::default_dir();
    let mut checked = 0;
    for k in kinds() {
        let Some(path) = k.list_path else { continue };
        let spec: Value =
            serde_json::from_slice(&std::fs::read(dir.join(k.spec)).expect("spec file"))
                .expect("json");
        let op = spec["paths"][path]["get"].clone();
        assert!(op.is_object(), "{}: GET {path} is in {}", k.name, k.spec);
        let limit = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(&spec, p))
            .find(|p| p["name"] == "limit");
        let Some(limit) = limit else {
            assert!(
                k.limits.max.is_none() && k.limits.default.is_none(),
                "{}: the spec has no limit, the table should not either",
                k.name
            );
            continue;
        };
        let schema = resolve(&spec, &limit["schema"]);
        let max = schema["maximum"].as_u64().map(|m| m as usize);
        assert_eq!(k.limits.max, max, "{}: maximum", k.name);
        if let Some(min) = schema["minimum"].as_u64() {
            assert_eq!(k.limits.min, min as usize, "{}: minimum", k.name);
        }
        let default = schema["default"].as_u64().map(|d| d as usize);
        assert_eq!(k.limits.default, default, "{}: default", k.name);
        checked += 1;
    }
    assert!(checked >= 25, "checked {checked} lists");
}
