//! The seeded content kinds (themes, extensions, report templates, glossaries, collections,
//! ODAG links, brands, audits) and configuration kinds (settings documents, CSP origins, IP
//! policies, pinned links, web integrations, OAuth clients, webhooks) answer what Qlik's specs
//! describe, over HTTP, for lists, items, files and creates; `empty` holds the settings only.

use crate::support;

use std::collections::{HashMap, HashSet};

use qcb_emulator::{Emulator, Profile};
use reqwest::Method;
use serde_json::{json, Value};
use support::openapi::Validation;
use support::tenant::{fill, next_href, start_profile, Reply, TestTenant};

/// (list path, item path template, ID field) of the list kinds under test.
const LISTS: &[(&str, &str, &str)] = &[
    ("/api/v1/themes", "/api/v1/themes/{id}", "id"),
    ("/api/v1/extensions", "/api/v1/extensions/{id}", "id"),
    (
        "/api/v1/report-templates",
        "/api/v1/report-templates/{id}",
        "id",
    ),
    ("/api/v1/glossaries", "/api/v1/glossaries/{id}", "id"),
    (
        "/api/v1/collections",
        "/api/v1/collections/{collectionId}",
        "id",
    ),
    (
        "/api/analytics/odag-links",
        "/api/analytics/odag-links/{linkId}",
        "id",
    ),
    ("/api/v1/brands", "/api/v1/brands/{brand-id}", "id"),
    ("/api/v1/audits", "/api/v1/audits/{id}", "id"),
    ("/api/v1/csp-origins", "/api/v1/csp-origins/{id}", "id"),
    ("/api/core/ip-policies", "/api/core/ip-policies/{id}", "id"),
    (
        "/api/v1/ui-config/pinned-links",
        "/api/v1/ui-config/pinned-links/{id}",
        "id",
    ),
    (
        "/api/v1/web-integrations",
        "/api/v1/web-integrations/{id}",
        "id",
    ),
    (
        "/api/v1/oauth-clients",
        "/api/v1/oauth-clients/{id}",
        "clientId",
    ),
    ("/api/v1/webhooks", "/api/v1/webhooks/{id}", "id"),
];

/// Where a secret may live: the licence key, a webhook's signing secret and its
/// Authorization header. Anything else holding the marker is a leak in the seed.
const SECRET_FIELDS: &[&str] = &["licenseKey", "secret", "Authorization"];

/// The admin's client, with the problems found so far.
struct Client {
    tenant: TestTenant,
    failures: Vec<String>,
    /// Every JSON body read, for the secret scan.
    bodies: Vec<(String, Value)>,
}

impl Client {
    fn new(emulator: &Emulator) -> Client {
        Client {
            tenant: TestTenant::admin(emulator),
            failures: Vec::new(),
            bodies: Vec::new(),
        }
    }

    /// Checks a JSON reply against the operation's response schema.
    fn validate(&mut self, method: &str, template: &str, path: &str, reply: &Reply) -> Value {
        let what = format!("{method} {path}");
        let Some(body) = reply.json() else {
            self.failures.push(format!(
                "{what}: {} answered a body that is not JSON ({} bytes)",
                reply.status,
                reply.bytes.len()
            ));
            return Value::Null;
        };
        self.bodies.push((what.clone(), body.clone()));
        let Some(validation) = reply.validate(method, template) else {
            self.failures
                .push(format!("{what}: {method} {template} is not in the specs"));
            return body;
        };
        match validation {
            Validation::Valid => {}
            Validation::Invalid(errors) => {
                if !errors.is_empty() {
                    self.failures
                        .push(format!("{what} ({}): {}", reply.status, errors.join("; ")));
                }
            }
            other => self
                .failures
                .push(format!("{what} ({}): {other}", reply.status)),
        }
        body
    }

    async fn get(&mut self, template: &str, path: &str) -> Value {
        let reply = self.tenant.send(Method::GET, path, None).await;
        if reply.status != 200 {
            self.failures.push(format!(
                "GET {path}: status {} ({})",
                reply.status,
                String::from_utf8_lossy(&reply.bytes)
            ));
        }
        self.validate("GET", template, path, &reply)
    }

    /// Every entry of a list, following `links.next.href` (its path and query, on our base).
    async fn list(&mut self, template: &str, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut next = Some(path.to_string());
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            assert!(pages < 1000, "{template}: paging does not end");
            let body = self.get(template, &path).await;
            match &body {
                Value::Array(items) => out.extend(items.iter().cloned()),
                Value::Object(_) => {
                    let items = ["data", "sharingTasks", "tasks"]
                        .iter()
                        .find_map(|p| body.get(*p).and_then(Value::as_array));
                    out.extend(items.into_iter().flatten().cloned());
                    if let Some(href) = next_href(&body) {
                        let url = reqwest::Url::parse(href)
                            .or_else(|_| reqwest::Url::parse(&format!("{}{href}", self.tenant.url)))
                            .unwrap_or_else(|e| panic!("{template}: bad next link {href}: {e}"));
                        next = Some(match url.query() {
                            Some(q) => format!("{}?{q}", url.path()),
                            None => url.path().to_string(),
                        });
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Sends a JSON body and validates the answer against `status`.
    async fn write(
        &mut self,
        method: Method,
        template: &str,
        path: &str,
        body: Value,
        status: u16,
    ) -> Value {
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let reply = self
            .tenant
            .send(method.clone(), path, Some(("application/json", bytes)))
            .await;
        self.expect(method.as_str(), template, path, reply, status)
    }

    fn expect(
        &mut self,
        method: &str,
        template: &str,
        path: &str,
        reply: Reply,
        status: u16,
    ) -> Value {
        if reply.status != status {
            self.failures.push(format!(
                "{method} {path}: status {} instead of {status} ({})",
                reply.status,
                String::from_utf8_lossy(&reply.bytes)
            ));
            return Value::Null;
        }
        if reply.bytes.is_empty() {
            return Value::Null;
        }
        self.validate(method, template, path, &reply)
    }

    async fn multipart(&mut self, template: &str, parts: &[(&str, &str, &str, Vec<u8>)]) -> Value {
        let boundary = "qcb-test-boundary-7d1f";
        let mut body = Vec::new();
        for (name, filename, ct, bytes) in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let disposition = if filename.is_empty() {
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n")
            } else {
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                )
            };
            body.extend_from_slice(disposition.as_bytes());
            body.extend_from_slice(format!("Content-Type: {ct}\r\n\r\n").as_bytes());
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let ct = format!("multipart/form-data; boundary={boundary}");
        let reply = self
            .tenant
            .send(Method::POST, template, Some((&ct, body)))
            .await;
        self.expect("POST", template, template, reply, 201)
    }

    /// A download: the status, the content type it should start with, and non-empty bytes.
    async fn download(&mut self, method: Method, path: &str, content_type: &str) -> Vec<u8> {
        let reply = self.tenant.send(method.clone(), path, None).await;
        if reply.status != 200
            || !reply.content_type().starts_with(content_type)
            || reply.bytes.is_empty()
        {
            self.failures.push(format!(
                "{method} {path}: status {}, content type '{}', {} bytes",
                reply.status,
                reply.content_type(),
                reply.bytes.len()
            ));
        }
        reply.bytes
    }
}

fn singleton_path(path: &str, tenant_id: &str) -> String {
    path.replace("{tenantId}", tenant_id)
}

/// Every string under `v` that holds the secret marker, with the name of its field.
fn secrets_in(v: &Value, field: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) if s.contains("QCBSECRET") => out.push((field.to_string(), s.clone())),
        Value::Array(a) => a.iter().for_each(|x| secrets_in(x, field, out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| secrets_in(x, k, out)),
        _ => {}
    }
}

/// A check that records a failure and lets the test go on, so one run shows every problem.
macro_rules! check {
    ($c:expr, $cond:expr, $($msg:tt)+) => {
        if !$cond {
            $c.failures.push(format!($($msg)+));
        }
    };
}

macro_rules! check_eq {
    ($c:expr, $left:expr, $right:expr, $($msg:tt)+) => {
        if $left != $right {
            $c.failures.push(format!("{}: {:?} != {:?}", format!($($msg)+), $left, $right));
        }
    };
}

fn report(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Reads every settings document, list, entry, file and nested list of the kinds under test,
/// validating each answer; returns the list entries by list path, and the glossary exports.
async fn read_all(
    c: &mut Client,
    tenant_id: &str,
) -> (HashMap<&'static str, Vec<Value>>, Vec<Value>) {
    // Settings documents.
    for s in qcb_emulator::singletons::SINGLETONS
        .iter()
        .filter(|s| s.name != "tenant")
    {
        c.get(s.path, &singleton_path(s.path, tenant_id)).await;
    }

    // Every list, every entry of it.
    let mut seen: HashMap<&'static str, Vec<Value>> = HashMap::new();
    for (list, item, id_field) in LISTS {
        let entries = c.list(list, list).await;
        if entries.is_empty() {
            c.failures.push(format!("GET {list}: empty in demo"));
        }
        for e in &entries {
            let id = e[*id_field].as_str().unwrap_or_default();
            c.get(item, &fill(item, &[id])).await;
        }
        seen.insert(list, entries);
    }

    // Files and nested lists.
    for t in &seen["/api/v1/themes"] {
        let zip = c
            .download(
                Method::GET,
                &format!(
                    "/api/v1/themes/{}/file",
                    t["id"].as_str().unwrap_or_default()
                ),
                "application/zip",
            )
            .await;
        assert!(zip.starts_with(b"PK"), "theme {} is not a zip", t["id"]);
    }
    for e in &seen["/api/v1/extensions"] {
        let zip = c
            .download(
                Method::GET,
                &format!(
                    "/api/v1/extensions/{}/file",
                    e["id"].as_str().unwrap_or_default()
                ),
                "application/zip",
            )
            .await;
        assert!(zip.starts_with(b"PK"), "extension {} is not a zip", e["id"]);
    }
    for t in &seen["/api/v1/report-templates"] {
        c.download(
            Method::POST,
            &format!(
                "/api/v1/report-templates/{}/actions/download",
                t["id"].as_str().unwrap_or_default()
            ),
            "application/octet-stream",
        )
        .await;
    }
    for b in &seen["/api/v1/brands"] {
        for f in b["files"].as_array().into_iter().flatten() {
            let path = f["path"].as_str().unwrap_or_default();
            c.download(
                Method::GET,
                path,
                f["contentType"].as_str().unwrap_or_default(),
            )
            .await;
        }
    }
    let mut exports = Vec::new();
    for g in &seen["/api/v1/glossaries"] {
        let gid = g["id"].as_str().unwrap_or_default();
        for (list, item, id) in [
            (
                "/api/v1/glossaries/{id}/categories",
                "/api/v1/glossaries/{id}/categories/{categoryId}",
                "id",
            ),
            (
                "/api/v1/glossaries/{id}/terms",
                "/api/v1/glossaries/{id}/terms/{termId}",
                "id",
            ),
        ] {
            let entries = c.list(list, &fill(list, &[gid])).await;
            assert!(!entries.is_empty(), "glossary {gid} has no {list}");
            for e in entries {
                c.get(
                    item,
                    &fill(item, &[gid, e[id].as_str().unwrap_or_default()]),
                )
                .await;
            }
        }
        let export = c
            .get(
                "/api/v1/glossaries/{id}/actions/export",
                &format!("/api/v1/glossaries/{gid}/actions/export?format=json"),
            )
            .await;
        exports.push(export);
    }
    for col in &seen["/api/v1/collections"] {
        let cid = col["id"].as_str().unwrap_or_default();
        let items = c
            .list(
                "/api/v1/collections/{collectionId}/items",
                &format!("/api/v1/collections/{cid}/items?limit=3"),
            )
            .await;
        for i in items.iter().take(2) {
            c.get(
                "/api/v1/collections/{collectionId}/items/{itemId}",
                &format!(
                    "/api/v1/collections/{cid}/items/{}",
                    i["id"].as_str().unwrap_or_default()
                ),
            )
            .await;
        }
    }

    (seen, exports)
}

#[tokio::test]
async fn demo_content_and_configuration_match_the_specs() {
    let emulator = start_profile(Profile::Demo).await;
    let tenant_id = emulator.tenant().read().tenant_id.clone();
    let mut c = Client::new(&emulator);
    let (seen, exports) = read_all(&mut c, &tenant_id).await;

    // What the data says about itself (read from the tenant, which sees what no caller sees).
    {
        let state = emulator.tenant().read();
        let values = |k: &str| state.values(k).cloned().collect::<Vec<Value>>();
        let apps: HashSet<String> = state
            .values("apps")
            .filter_map(|a| a["attributes"]["id"].as_str().map(str::to_string))
            .collect();
        let users: HashSet<String> = state
            .values("users")
            .filter_map(|u| u["id"].as_str().map(str::to_string))
            .collect();
        let admin = state
            .api_keys
            .get(emulator.admin_api_key())
            .cloned()
            .unwrap_or_default();
        let mut qext = HashSet::new();
        for b in values("themes").iter().chain(values("extensions").iter()) {
            assert!(
                qext.insert(b["qextFilename"].to_string()),
                "qextFilename {} twice",
                b["qextFilename"]
            );
        }
        for t in values("report-templates") {
            assert!(
                apps.contains(t["sourceAppId"].as_str().unwrap_or_default()),
                "template {} names no app",
                t["id"]
            );
            assert!(state.blobs.contains_key(&format!(
                "report-templates/{}",
                t["id"].as_str().unwrap_or_default()
            )));
        }
        for l in values("odag-links") {
            for p in ["/templateApp/id", "/selectionApp"] {
                assert!(
                    apps.contains(l.pointer(p).and_then(Value::as_str).unwrap_or_default()),
                    "odag link {} {p}",
                    l["id"]
                );
            }
        }
        let categories = values("glossary-categories");
        for t in values("glossary-terms") {
            for cat in t["categories"].as_array().into_iter().flatten() {
                assert!(
                    categories
                        .iter()
                        .any(|c| c["id"] == *cat && c["glossaryId"] == t["glossaryId"]),
                    "term {} names category {cat} of another glossary",
                    t["id"]
                );
            }
            for s in t["stewards"].as_array().into_iter().flatten() {
                assert!(
                    users.contains(s.as_str().unwrap_or_default()),
                    "steward {s} is no user"
                );
            }
        }
        assert!(
            values("glossaries")
                .iter()
                .any(|g| g["spaceId"].as_str().is_some_and(|s| !s.is_empty())),
            "no glossary in a space"
        );
        let collections = values("collections");
        for ty in ["public", "publicgoverned", "private", "favorite"] {
            assert!(
                collections.iter().any(|c| c["type"] == ty),
                "no {ty} collection"
            );
        }
        assert!(
            collections
                .iter()
                .any(|c| c["type"] == "private" && c["creatorId"] != admin.as_str()),
            "every private collection is the admin's"
        );
        for col in &collections {
            let id = col["id"].as_str().unwrap_or_default();
            let members = state
                .values("items")
                .filter(|i| {
                    i["collectionIds"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == id))
                })
                .count();
            assert_eq!(
                col["itemCount"].as_u64(),
                Some(members as u64),
                "itemCount of collection {id}"
            );
        }
        for item in state.values("items") {
            let ids: Vec<&Value> = item["collectionIds"]
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            let meta: Vec<&Value> = item["meta"]["collections"]
                .as_array()
                .map(|a| a.iter().map(|c| &c["id"]).collect())
                .unwrap_or_default();
            assert_eq!(
                ids, meta,
                "item {}: collectionIds and meta.collections differ",
                item["id"]
            );
        }
    }

    // One of each creatable kind, through the API.
    // Apps in a space: an admin API key sees those (personal ones it does not).
    let in_space: Vec<String> = emulator
        .tenant()
        .read()
        .values("apps")
        .filter(|a| {
            a["attributes"]["spaceId"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        })
        .filter_map(|a| a["attributes"]["id"].as_str().map(str::to_string))
        .collect();
    let app_id = in_space.first().cloned().unwrap_or_default();
    let app2 = in_space.get(1).cloned().unwrap_or_default();
    for kind in ["themes", "extensions"] {
        let name = format!("qcb-test-{kind}");
        let zip = qcb_emulator::files::bundle_zip(&name, kind, "test");
        let data = serde_json::to_vec(&json!({"name": name, "tags": ["test"]})).unwrap_or_default();
        let created = c
            .multipart(
                &format!("/api/v1/{kind}"),
                &[
                    ("file", "bundle.zip", "application/zip", zip),
                    ("data", "", "application/json", data),
                ],
            )
            .await;
        let id = created["id"].as_str().unwrap_or_default().to_string();
        c.get(
            &format!("/api/v1/{kind}/{{id}}"),
            &format!("/api/v1/{kind}/{id}"),
        )
        .await;
        c.download(
            Method::GET,
            &format!("/api/v1/{kind}/{id}/file"),
            "application/zip",
        )
        .await;
    }
    let brand = c
        .multipart(
            "/api/v1/brands",
            &[
                ("name", "", "text/plain", b"Test brand".to_vec()),
                (
                    "logo",
                    "logo.png",
                    "image/png",
                    vec![0x89, b'P', b'N', b'G'],
                ),
            ],
        )
        .await;
    c.get(
        "/api/v1/brands/{brand-id}",
        &format!(
            "/api/v1/brands/{}",
            brand["id"].as_str().unwrap_or_default()
        ),
    )
    .await;

    let upload = c
        .tenant
        .send(
            Method::POST,
            "/api/v1/temp-contents?filename=test.xlsx",
            Some(("application/octet-stream", b"PK\x03\x04test".to_vec())),
        )
        .await;
    let temp_id = upload
        .location()
        .and_then(|l| l.rsplit('/').next())
        .unwrap_or_default()
        .to_string();
    check_eq!(c, upload.status, 201, "temp-contents upload");
    let template = c
        .write(Method::POST, "/api/v1/report-templates", "/api/v1/report-templates", json!({"name": "Test template", "description": "made by a test", "sourceAppId": app_id, "sourceAppAction": "validate", "temporaryContentId": temp_id}), 201)
        .await;
    let tid = template["id"].as_str().unwrap_or_default().to_string();
    c.get(
        "/api/v1/report-templates/{id}",
        &format!("/api/v1/report-templates/{tid}"),
    )
    .await;
    c.download(
        Method::POST,
        &format!("/api/v1/report-templates/{tid}/actions/download"),
        "application/octet-stream",
    )
    .await;

    // A glossary round trip: import what an export gave, then read it back in full.
    let export = exports.first().cloned().unwrap_or_default();
    let imported = c
        .write(
            Method::POST,
            "/api/v1/glossaries/actions/import",
            "/api/v1/glossaries/actions/import?lookupUserOnEmail=true",
            export.clone(),
            201,
        )
        .await;
    let gid = imported["id"].as_str().unwrap_or_default().to_string();
    c.get(
        "/api/v1/glossaries/{id}",
        &format!("/api/v1/glossaries/{gid}"),
    )
    .await;
    let terms = c
        .list(
            "/api/v1/glossaries/{id}/terms",
            &format!("/api/v1/glossaries/{gid}/terms"),
        )
        .await;
    let cats = c
        .list(
            "/api/v1/glossaries/{id}/categories",
            &format!("/api/v1/glossaries/{gid}/categories"),
        )
        .await;
    check_eq!(
        c,
        terms.len(),
        export["terms"].as_array().map_or(0, Vec::len),
        "imported terms"
    );
    check_eq!(
        c,
        cats.len(),
        export["categories"].as_array().map_or(0, Vec::len),
        "imported categories"
    );
    let cat_ids: HashSet<&str> = cats.iter().filter_map(|c| c["id"].as_str()).collect();
    check!(
        c,
        terms.iter().all(|t| t["categories"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|c| cat_ids.contains(c.as_str().unwrap_or_default()))),
        "imported terms point at the new categories"
    );
    check!(
        c,
        terms
            .iter()
            .any(|t| t["stewards"].as_array().is_some_and(|s| !s.is_empty())),
        "stewards survive the round trip"
    );
    c.write(
        Method::POST,
        "/api/v1/glossaries/{id}/categories",
        &format!("/api/v1/glossaries/{gid}/categories"),
        json!({"name": "Test category"}),
        201,
    )
    .await;
    let term = c
        .write(
            Method::POST,
            "/api/v1/glossaries/{id}/terms",
            &format!("/api/v1/glossaries/{gid}/terms"),
            json!({"name": "Test term", "description": "a term"}),
            201,
        )
        .await;
    c.get(
        "/api/v1/glossaries/{id}/terms/{termId}",
        &format!(
            "/api/v1/glossaries/{gid}/terms/{}",
            term["id"].as_str().unwrap_or_default()
        ),
    )
    .await;
    c.write(
        Method::POST,
        "/api/v1/glossaries",
        "/api/v1/glossaries",
        json!({"name": "Test glossary"}),
        201,
    )
    .await;

    // A collection with an item added and removed again.
    let col = c
        .write(
            Method::POST,
            "/api/v1/collections",
            "/api/v1/collections",
            json!({"name": "Test collection", "type": "public"}),
            201,
        )
        .await;
    let cid = col["id"].as_str().unwrap_or_default().to_string();
    let item_id = emulator
        .tenant()
        .read()
        .values("items")
        .find(|i| i["resourceId"] == app_id.as_str())
        .and_then(|i| i["id"].as_str().map(str::to_string))
        .unwrap_or_default();
    c.write(
        Method::POST,
        "/api/v1/collections/{collectionId}/items",
        &format!("/api/v1/collections/{cid}/items"),
        json!({"id": item_id}),
        201,
    )
    .await;
    let after = c
        .get(
            "/api/v1/collections/{collectionId}",
            &format!("/api/v1/collections/{cid}"),
        )
        .await;
    check_eq!(c, after["itemCount"], 1, "itemCount after adding");
    let listed = c
        .list(
            "/api/v1/collections/{collectionId}/items",
            &format!("/api/v1/collections/{cid}/items"),
        )
        .await;
    check_eq!(c, listed.len(), 1, "the collection lists its item");
    let del = c
        .tenant
        .send(
            Method::DELETE,
            &format!("/api/v1/collections/{cid}/items/{item_id}"),
            None,
        )
        .await;
    check_eq!(c, del.status, 204, "removing the item");
    let after = c
        .get(
            "/api/v1/collections/{collectionId}",
            &format!("/api/v1/collections/{cid}"),
        )
        .await;
    check_eq!(c, after["itemCount"], 0, "itemCount after removing");
    let dup = c
        .tenant
        .send(
            Method::POST,
            "/api/v1/collections",
            Some((
                "application/json",
                br#"{"name":"Test collection","type":"public"}"#.to_vec(),
            )),
        )
        .await;
    check_eq!(c, dup.status, 409, "public collection names are unique");

    let link = c
        .write(
            Method::POST,
            "/api/analytics/odag-links",
            "/api/analytics/odag-links",
            json!({"name": "Test link", "selectionApp": app_id, "templateApp": app2}),
            201,
        )
        .await;
    c.get(
        "/api/analytics/odag-links/{linkId}",
        &format!(
            "/api/analytics/odag-links/{}",
            link["id"].as_str().unwrap_or_default()
        ),
    )
    .await;

    for (list, item, body) in [
        (
            "/api/v1/csp-origins",
            "/api/v1/csp-origins/{id}",
            json!({"name": "Test", "origin": "https://test.example", "imgSrc": true}),
        ),
        (
            "/api/core/ip-policies",
            "/api/core/ip-policies/{id}",
            json!({"name": "Test", "allowedIps": ["192.0.2.0/24"]}),
        ),
        (
            "/api/v1/ui-config/pinned-links",
            "/api/v1/ui-config/pinned-links/{id}",
            // The spec requires the type and scope, each with its one value.
            json!({"name": "Test", "link": "https://test.example", "type": "custom-link", "scope": "tenant"}),
        ),
        (
            "/api/v1/web-integrations",
            "/api/v1/web-integrations/{id}",
            json!({"name": "Test", "validOrigins": ["https://test.example"]}),
        ),
    ] {
        let created = c.write(Method::POST, list, list, body, 201).await;
        c.get(
            item,
            &fill(item, &[created["id"].as_str().unwrap_or_default()]),
        )
        .await;
    }

    // An OAuth client answers its secret once; afterwards only the hint is there.
    let client = c
        .write(Method::POST, "/api/v1/oauth-clients", "/api/v1/oauth-clients", json!({"clientName": "Test client", "appType": "web", "allowedGrantTypes": ["client_credentials"], "allowedScopes": ["user_default"]}), 201)
        .await;
    let secret = client["clientSecret"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    check!(
        c,
        secret.starts_with("QCBSECRET-"),
        "one-time clientSecret: {client}"
    );
    let client_id = client["clientId"].as_str().unwrap_or_default().to_string();
    let stored = c
        .get(
            "/api/v1/oauth-clients/{id}",
            &format!("/api/v1/oauth-clients/{client_id}"),
        )
        .await;
    check!(
        c,
        stored.get("clientSecret").is_none(),
        "the secret is answered once"
    );
    check_eq!(
        c,
        stored["clientSecrets"][0]["hint"].as_str(),
        secret.get(secret.len() - 4..),
        "the hint is the secret's end"
    );

    let hook = c
        .write(Method::POST, "/api/v1/webhooks", "/api/v1/webhooks", json!({"name": "Test hook", "url": "https://hooks.test.example/x", "eventTypes": ["com.qlik.v1.app.reload.finished"], "encryptedHeaders": {"X-Api-Key": "QCBSECRET-test-header-value"}}), 201)
        .await;
    check_eq!(
        c,
        hook["encryptedHeaders"],
        json!(["X-Api-Key"]),
        "encrypted header values are not kept"
    );
    c.get(
        "/api/v1/webhooks/{id}",
        &format!(
            "/api/v1/webhooks/{}",
            hook["id"].as_str().unwrap_or_default()
        ),
    )
    .await;

    // Secrets: only in the fields that hold them, and each value once. Bodies written by
    // this test (the one-time client secret) are left out.
    let mut found = Vec::new();
    for (what, body) in &c.bodies {
        if what.starts_with("POST /api/v1/oauth-clients") {
            continue;
        }
        let mut here = Vec::new();
        secrets_in(body, "", &mut here);
        found.extend(here.into_iter().map(|(f, v)| (what.clone(), f, v)));
    }
    let mut by_value: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (what, field, value) in &found {
        if !SECRET_FIELDS.contains(&field.as_str()) {
            c.failures
                .push(format!("{what}: field '{field}' holds a secret"));
        }
        by_value
            .entry(value.as_str())
            .or_default()
            .insert(field.as_str());
    }
    let fields: HashSet<&str> = found.iter().map(|(_, f, _)| f.as_str()).collect();
    for f in SECRET_FIELDS {
        check!(c, fields.contains(f), "no seeded secret in field {f}");
    }
    // The same secret is read several times (list and item), but never under two fields.
    for (value, fields) in by_value {
        if fields.len() > 1 {
            c.failures
                .push(format!("secret {value} appears in fields {fields:?}"));
        }
    }
    let distinct: HashSet<&str> = found.iter().map(|(_, _, v)| v.as_str()).collect();
    let webhooks = seen["/api/v1/webhooks"].len();
    check!(
        c,
        distinct.len() > 2 * webhooks,
        "each webhook has its own secrets ({} distinct for {webhooks} webhooks)",
        distinct.len()
    );

    eprintln!("demo: {} JSON bodies validated", c.bodies.len());
    report(&c.failures);
    emulator
        .stop()
        .await
        .unwrap_or_else(|e| panic!("stopping: {e}"));
}

#[tokio::test]
async fn large_content_and_configuration_match_the_specs() {
    let emulator = start_profile(Profile::Large).await;
    let tenant_id = emulator.tenant().read().tenant_id.clone();
    let mut c = Client::new(&emulator);
    let (seen, _) = read_all(&mut c, &tenant_id).await;
    eprintln!(
        "large: {} JSON bodies validated; {}",
        c.bodies.len(),
        LISTS
            .iter()
            .map(|(l, _, _)| format!("{l} {}", seen[l].len()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    report(&c.failures);
    emulator
        .stop()
        .await
        .unwrap_or_else(|e| panic!("stopping: {e}"));
}

#[tokio::test]
async fn empty_tenant_has_every_setting_and_no_content() {
    let emulator = start_profile(Profile::Empty).await;
    let tenant_id = emulator.tenant().read().tenant_id.clone();
    let mut c = Client::new(&emulator);
    for s in qcb_emulator::singletons::SINGLETONS
        .iter()
        .filter(|s| s.name != "tenant")
    {
        c.get(s.path, &singleton_path(s.path, &tenant_id)).await;
    }
    for (list, _, _) in LISTS {
        let entries = c.list(list, list).await;
        if *list == "/api/v1/oauth-clients" {
            // The M2M bots every emulated tenant has (they answer /oauth/token) are its clients.
            let ids: Vec<&str> = entries
                .iter()
                .filter_map(|e| e["clientId"].as_str())
                .collect();
            assert_eq!(
                ids,
                ["qcb-emulator-admin-bot", "qcb-emulator-plain-bot"],
                "oauth clients of an empty tenant"
            );
        } else if !entries.is_empty() {
            c.failures.push(format!(
                "GET {list}: {} entries in an empty tenant",
                entries.len()
            ));
        }
    }
    let overview = c
        .get("/api/v1/licenses/overview", "/api/v1/licenses/overview")
        .await;
    assert!(
        overview["licenseKey"]
            .as_str()
            .is_some_and(|k| k.contains("QCBSECRET")),
        "the licence key is a known secret"
    );
    report(&c.failures);
    emulator
        .stop()
        .await
        .unwrap_or_else(|e| panic!("stopping: {e}"));
}
