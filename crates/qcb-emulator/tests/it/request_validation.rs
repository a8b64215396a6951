//! The emulator's write side is held to the specs: a body that Qlik's request schema refuses
//! gets 400 in the operation's own error shape, naming the property; a conformant body of
//! every kind is accepted; and a replaced or patched resource reads back in the shape GET
//! answers, with its stamps refreshed. A restore that passes here sends what Qlik Cloud takes.

use crate::support;

use std::collections::BTreeMap;

use qcb_emulator::kinds::{kinds, KindSpec};
use qcb_emulator::{Emulator, Profile};
use reqwest::Method;
use serde_json::{json, Value};
use support::openapi::Validation;
use support::tenant::{fill, index, start_profile, Reply, TestTenant};

/// IDs of existing resources that conformant bodies refer to.
struct Refs {
    app: String,
    other_app: String,
    shared_space: String,
    user: String,
    condition: String,
}

async fn refs(c: &TestTenant) -> Refs {
    let apps = c
        .walk("/api/v1/items", "resourceType=app&limit=100", "data")
        .await;
    let app_ids: Vec<String> = apps
        .iter()
        .filter_map(|i| i["resourceId"].as_str().map(str::to_string))
        .collect();
    let spaces = c
        .walk("/api/v1/spaces", "type=shared&limit=100", "data")
        .await;
    let users = c.walk("/api/v1/users", "limit=100", "data").await;
    let me = c.json("/api/v1/users/me").await;
    let alerts = c.json("/api/v1/data-alerts?limit=1").await;
    Refs {
        app: app_ids[0].clone(),
        other_app: app_ids[1].clone(),
        shared_space: spaces[0]["id"].as_str().expect("space id").to_string(),
        user: users
            .iter()
            .find(|u| u["id"] != me["id"])
            .and_then(|u| u["id"].as_str())
            .expect("another user")
            .to_string(),
        condition: alerts["tasks"][0]["conditionId"]
            .as_str()
            .expect("an alert's condition")
            .to_string(),
    }
}

/// A minimal body each create schema accepts, by kind. Every kind the table lets clients
/// create must be here, so a new kind cannot skip the check.
fn create_bodies(r: &Refs) -> BTreeMap<&'static str, Value> {
    let states = json!([{"name": "reload", "type": "EVENT", "end": true, "onEvents": [{"eventRefs": ["schedule"],
        "actions": [{"name": "reload", "functionRef": {"refName": "app.reload", "arguments": {"appId": r.app, "partial": false}}}]}]}]);
    BTreeMap::from([
        (
            "users",
            json!({"subject": "auth0|request-validation", "name": "Request Validation", "email": "rv@example.com"}),
        ),
        ("groups", json!({"name": "Request validation group"})),
        (
            "roles",
            json!({"name": "Request validation role", "description": "made by a test"}),
        ),
        (
            "identity-providers",
            json!({"protocol": "jwtAuth", "provider": "external", "interactive": false, "active": true,
            "description": "made by a test", "options": {"jwtLoginEnabled": true, "issuer": "https://issuer.example", "staticKeys": [{"kid": "k1", "pem": "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"}]}}),
        ),
        (
            "spaces",
            json!({"name": "Request validation space", "type": "shared", "description": "made by a test"}),
        ),
        (
            "space-assignments",
            json!({"type": "group", "assigneeId": "000000000000000000000001", "roles": ["consumer"]}),
        ),
        (
            "space-shares",
            json!({"type": "user", "assigneeId": r.user, "roles": ["consumer"], "resourceType": "app", "resourceId": r.app}),
        ),
        (
            "csp-origins",
            json!({"name": "Request validation", "origin": "https://rv.example", "imgSrc": true}),
        ),
        (
            "ip-policies",
            json!({"name": "Request validation", "allowedIps": ["192.0.2.0/24"]}),
        ),
        (
            "pinned-links",
            json!({"name": "Request validation", "link": "https://rv.example", "type": "custom-link", "scope": "tenant"}),
        ),
        (
            "web-integrations",
            json!({"name": "Request validation", "validOrigins": ["https://rv.example"]}),
        ),
        (
            "webhooks",
            json!({"name": "Request validation", "url": "https://rv.example/hook", "eventTypes": ["com.qlik.v1.app.created"], "enabled": false}),
        ),
        (
            "data-connections",
            json!({"qName": "Request validation", "qType": "QvRestConnector.exe", "datasourceID": "rest",
            "qConnectStatement": "CUSTOM CONNECT TO \"provider=QvRestConnector.exe;url=https://rv.example;\""}),
        ),
        (
            "glossaries",
            json!({"name": "Request validation glossary", "description": "made by a test"}),
        ),
        (
            "glossary-categories",
            json!({"name": "Request validation category", "description": "made by a test"}),
        ),
        (
            "glossary-terms",
            json!({"name": "Request validation term", "description": "made by a test"}),
        ),
        (
            "collections",
            json!({"name": "Request validation", "type": "private", "description": "made by a test"}),
        ),
        (
            "automations",
            json!({"name": "Request validation", "description": "made by a test", "workspace": {"blocks": [], "variables": []}}),
        ),
        (
            "automation-connections",
            json!({"name": "Request validation", "connectorId": "603e9b30-9170-11eb-a8d6-6a1b5d4e3f99", "params": [{"name": "api_key", "value": "k"}]}),
        ),
        (
            "reload-tasks",
            json!({"appId": r.app, "timeZone": "UTC", "recurrence": ["RRULE:FREQ=DAILY;INTERVAL=1;BYHOUR=6"], "startDateTime": "2026-01-01T06:00:00"}),
        ),
        (
            "scheduling-tasks",
            json!({"name": "Request validation", "specVersion": "0.8", "states": states,
            "start": {"schedule": {"recurrence": "RRULE:FREQ=DAILY;INTERVAL=1", "startDateTime": "2026-01-01T06:00:00", "timezone": "UTC"}}}),
        ),
        (
            "sharing-tasks",
            json!({"name": "Request validation", "type": "sheet-sharing", "state": {"selections": []},
            "templates": [{"type": "sheet", "subType": "pdf", "sheetData": {"appId": r.app, "sheetId": "abc"}}],
            "recipients": {"userIds": [{"value": r.user}]}, "transportChannels": ["email"]}),
        ),
        (
            "data-alerts",
            json!({"name": "Request validation", "appId": r.app, "conditionId": r.condition, "triggerType": "RELOAD",
            "recipients": {"userIds": [{"value": r.user, "enabled": true}]}}),
        ),
        (
            "odag-links",
            json!({"name": "Request validation", "selectionApp": r.app, "templateApp": r.other_app}),
        ),
    ])
}

/// Where a kind is created: its list path, with the parent filled in for nested kinds.
fn list_path(k: &KindSpec, parent: Option<&str>) -> String {
    fill(
        k.list_path.expect("a list path"),
        &parent.into_iter().collect::<Vec<_>>(),
    )
}

/// Holds an answer against the response schema of `method template`; returns the problems.
fn response_problems(r: &Reply, method: &str, template: &str) -> Vec<String> {
    match r.validate(method, template) {
        Some(Validation::Valid | Validation::NoSchema) => Vec::new(),
        Some(other) => vec![format!("{method} {template} → {}: {other}", r.status)],
        None => vec![format!("{method} {template}: no spec has this operation")],
    }
}

/// Operations whose patch schema the emulator reads leniently where the spec contradicts
/// itself (see `repair_json_patch` in build.rs); the tests' validator reads them strictly.
const LENIENT: &[(&str, &str)] = &[
    // Paths enumerated without their leading slash.
    ("PATCH", "/api/v1/groups/{groupId}"),
    // `value` typed as an empty object where the paths name strings.
    ("PATCH", "/api/v1/data-alerts/{alertId}"),
    ("PATCH", "/api/v1/sharing-tasks/{taskId}"),
];

/// Holds a body against the request schema of `method template` with the tests' own
/// validator (`support::openapi`), so the bodies below are conformant by an independent check.
fn request_problems(method: &str, template: &str, body: &Value) -> Vec<String> {
    if LENIENT.contains(&(method, template)) {
        return Vec::new();
    }
    let Some(op) = index().operation(method, template) else {
        return vec![format!("{method} {template}: no spec has this operation")];
    };
    match index().validate_request(&op, "application/json", body) {
        Validation::Valid => Vec::new(),
        other => vec![format!("{method} {template} request: {other}")],
    }
}

struct Created {
    kind: &'static KindSpec,
    parent: Option<String>,
    id: String,
}

impl Created {
    fn item_path(&self) -> String {
        let mut values: Vec<&str> = self.parent.iter().map(String::as_str).collect();
        values.push(&self.id);
        fill(self.kind.item_path.expect("an item path"), &values)
    }
}

/// Creates one of every creatable kind with a conformant body; collects what went wrong.
async fn create_every_kind(
    c: &TestTenant,
    r: &Refs,
    problems: &mut Vec<String>,
) -> BTreeMap<&'static str, Created> {
    let bodies = create_bodies(r);
    let mut created: BTreeMap<&'static str, Created> = BTreeMap::new();
    // Parents first: the table lists a parent before its nested kinds.
    for k in kinds()
        .iter()
        .filter(|k| k.create.is_some() && k.list_path.is_some())
    {
        let Some(body) = bodies.get(k.name) else {
            problems.push(format!(
                "{}: no conformant create body in this test",
                k.name
            ));
            continue;
        };
        let parent = match k.parent_kind {
            Some("spaces") => Some(r.shared_space.clone()),
            Some(pk) => match created.get(pk) {
                Some(p) => Some(p.id.clone()),
                None => {
                    problems.push(format!("{}: its parent {pk} was not created", k.name));
                    continue;
                }
            },
            None => None,
        };
        let template = k.list_path.expect("list path");
        problems.extend(request_problems("POST", template, body));
        let resp = c.post(&list_path(k, parent.as_deref()), body).await;
        let want = k.create.unwrap_or(201);
        if resp.status != want {
            problems.push(format!(
                "{}: POST answered {} instead of {want}: {}",
                k.name, resp.status, resp.body
            ));
            continue;
        }
        problems.extend(response_problems(&resp, "POST", template));
        let Some(id) = k.id_of(&resp.body) else {
            problems.push(format!(
                "{}: the create answer has no {}",
                k.name, k.id_field
            ));
            continue;
        };
        created.insert(
            k.name,
            Created {
                kind: k,
                parent,
                id: id.to_string(),
            },
        );
    }
    created
}

async fn demo() -> (Emulator, TestTenant, Refs) {
    let emu = start_profile(Profile::Demo).await;
    let c = TestTenant::admin(&emu);
    let r = refs(&c).await;
    (emu, c, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conformant_create_of_every_kind_succeeds() {
    let (emu, c, r) = demo().await;
    let mut problems = Vec::new();
    let created = create_every_kind(&c, &r, &mut problems).await;
    for made in created.values() {
        let got = c.get(&made.item_path()).await;
        if got.status != 200 {
            problems.push(format!("{}: GET answered {}", made.kind.name, got.status));
            continue;
        }
        problems.extend(response_problems(
            &got,
            "GET",
            made.kind.item_path.expect("item path"),
        ));
    }
    println!("{} kinds created with conformant bodies", created.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    emu.stop().await.expect("stop");
}

/// A refused body: 400, the operation's error shape, and the failing property named.
async fn assert_refused(
    c: &TestTenant,
    method: Method,
    template: &str,
    path: &str,
    body: &Value,
    names: &str,
) {
    let resp = c.call(method.clone(), path, Some(body)).await;
    assert_eq!(resp.status, 400, "{method} {path} {body}: {}", resp.body);
    // Some operations declare no 400 (Qlik answers it anyway): their other errors' shape.
    let op = index()
        .operation(method.as_str(), template)
        .expect("operation");
    let outcome = [400, 422, 409, 403, 404, 401, 500]
        .into_iter()
        .map(|status| index().validate_response(&op, status, resp.media_type(), &resp.body))
        .find(|v| *v != Validation::UndeclaredStatus);
    assert_eq!(
        outcome,
        Some(Validation::Valid),
        "{method} {path}: the error body is not in the operation's shape: {}",
        resp.body
    );
    let text = resp.body.to_string();
    assert!(
        text.contains(names),
        "{method} {path}: the error should name {names}: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_the_spec_refuses_get_400_in_the_operations_error_shape() {
    let (emu, c, r) = demo().await;
    let spaces = "/api/v1/spaces";
    // A missing required property, a wrong type, a value outside the enum.
    assert_refused(
        &c,
        Method::POST,
        spaces,
        spaces,
        &json!({"type": "shared"}),
        "name",
    )
    .await;
    assert_refused(
        &c,
        Method::POST,
        spaces,
        spaces,
        &json!({"name": 42, "type": "shared"}),
        "/name",
    )
    .await;
    assert_refused(
        &c,
        Method::POST,
        spaces,
        spaces,
        &json!({"name": "x", "type": "club"}),
        "/type",
    )
    .await;

    // Other APIs, other error shapes (integer status, integer code, …).
    let alerts = "/api/v1/data-alerts";
    let alert = json!({"name": "x", "appId": r.app, "conditionId": r.condition,
        "recipients": {"userIds": [{"value": r.user}]}});
    assert_refused(&c, Method::POST, alerts, alerts, &alert, "triggerType").await;
    let mut wrong = alert.clone();
    wrong["triggerType"] = json!("HOURLY");
    assert_refused(&c, Method::POST, alerts, alerts, &wrong, "/triggerType").await;
    let banner = "/api/v1/banners/actions/upsert";
    assert_refused(&c, Method::POST, banner, banner, &json!({"type": "warning", "enabled": "yes", "message": "m",
        "startTime": "2026-11-01T00:00:00Z", "endTime": "2026-12-01T00:00:00Z", "linkEnabled": false}), "/enabled").await;
    let licenses = "/api/v1/licenses/assignments/actions/add";
    assert_refused(
        &c,
        Method::POST,
        licenses,
        licenses,
        &json!({"add": [{"type": "analyzer"}]}),
        "subject",
    )
    .await;
    let users = "/api/v1/users";
    assert_refused(
        &c,
        Method::POST,
        users,
        users,
        &json!({"name": "no subject"}),
        "subject",
    )
    .await;
    let webhooks = "/api/v1/webhooks";
    assert_refused(
        &c,
        Method::POST,
        webhooks,
        webhooks,
        &json!({"name": "w", "url": "https://x.example", "level": "galaxy"}),
        "/level",
    )
    .await;

    // `additionalProperties: false` where the spec says so (scheduling-tasks' `Task`).
    let tasks = "/api/scheduling/tasks";
    assert_refused(
        &c,
        Method::POST,
        tasks,
        tasks,
        &json!({"name": "t", "specVersion": "0.8", "colour": "red"}),
        "colour",
    )
    .await;

    // JSON Patch bodies against the patch schema: an op or path the spec does not list,
    // and a merge patch where the spec wants a JSON Patch array.
    let space = c
        .post(
            spaces,
            &json!({"name": "Patched by the test", "type": "shared"}),
        )
        .await;
    let id = space.body["id"].as_str().expect("space id").to_string();
    let item = format!("{spaces}/{id}");
    let template = "/api/v1/spaces/{spaceId}";
    assert_refused(
        &c,
        Method::PATCH,
        template,
        &item,
        &json!([{"op": "delete", "path": "/name", "value": "x"}]),
        "/0/op",
    )
    .await;
    assert_refused(
        &c,
        Method::PATCH,
        template,
        &item,
        &json!([{"op": "replace", "path": "/tenantId", "value": "x"}]),
        "/0/path",
    )
    .await;
    assert_refused(
        &c,
        Method::PATCH,
        template,
        &item,
        &json!({"name": "merge"}),
        "array",
    )
    .await;
    // A PUT is held to its own schema too.
    assert_refused(
        &c,
        Method::PUT,
        template,
        &item,
        &json!({"name": ["not", "a", "string"]}),
        "/name",
    )
    .await;

    // Unknown properties pass where the spec does not forbid them, as Qlik's services do.
    let lenient = c
        .post(
            spaces,
            &json!({"name": "Lenient", "type": "shared", "restoredFrom": "snapshot 1"}),
        )
        .await;
    assert_eq!(lenient.status, 201, "{}", lenient.body);
    // Uploads are not JSON and are not read here.
    emu.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replace_or_patch_reads_back_as_get_answers_with_fresh_stamps() {
    let (emu, c, r) = demo().await;
    let mut problems = Vec::new();
    let created = create_every_kind(&c, &r, &mut problems).await;
    // Writes happen later than the creates, so refreshed stamps differ from the originals.
    let control = format!("{}/_qcb/clock/advance/3600", c.url);
    c.http
        .post(&control)
        .send()
        .await
        .expect("advance the clock");
    let mut replaced = 0;
    for made in created.values() {
        let k = made.kind;
        let item = made.item_path();
        let template = k.item_path.expect("item path");
        let before = c.get(&item).await.body;
        let writes: Vec<(Method, Value)> = [
            k.put.map(|_| (Method::PUT, put_body(k, &before))),
            k.patch
                .and_then(|_| patch_body(k, &before).map(|b| (Method::PATCH, b))),
        ]
        .into_iter()
        .flatten()
        .collect();
        for (method, body) in writes {
            problems.extend(request_problems(method.as_str(), template, &body));
            let resp = c.call(method.clone(), &item, Some(&body)).await;
            if !(200..300).contains(&resp.status) {
                problems.push(format!(
                    "{}: {method} answered {}: {}",
                    k.name, resp.status, resp.body
                ));
                continue;
            }
            replaced += 1;
            problems.extend(response_problems(&resp, method.as_str(), template));
            let after = c.get(&item).await;
            problems.extend(response_problems(&after, "GET", template));
            if k.id_of(&after.body) != Some(made.id.as_str()) {
                problems.push(format!("{}: {method} changed the ID", k.name));
            }
            if let Some(field) = updated_stamp(k) {
                if after.body.get(field).is_none() || after.body[field] == before[field] {
                    problems.push(format!(
                        "{}: {method} left {field} at {}",
                        k.name, before[field]
                    ));
                }
            }
        }
    }
    println!("{replaced} replaces and patches read back as GET answers");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    emu.stop().await.expect("stop");
}

/// The field a kind stamps with the time of the last write, if it has one.
fn updated_stamp(k: &KindSpec) -> Option<&'static str> {
    use qcb_emulator::kinds::build::Stamp;
    k.stamps.iter().find_map(|s| match s {
        Stamp::Updated(f) => Some(*f),
        _ => None,
    })
}

/// A replace body as a restore sends it: the document as GET answered it, renamed, with
/// the fields whose request schema differs from the GET answer converted.
fn put_body(k: &KindSpec, doc: &Value) -> Value {
    let mut body = doc.clone();
    for name in ["name", "qName"] {
        if let Some(Value::String(s)) = doc.get(name) {
            body[name] = json!(format!("{s} (replaced)"));
        }
    }
    match k.name {
        // GET answers `qLogOn` as an integer; `ConnectionUpdate` takes "0"/"1" strings.
        "data-connections" => {
            if let Some(n) = doc.get("qLogOn").and_then(Value::as_i64) {
                body["qLogOn"] = json!(n.to_string());
            }
        }
        // GET answers `templateApp` as {id, name}; `LinkPutPayloadV2` takes the app ID.
        "odag-links" => body["templateApp"] = doc["templateApp"]["id"].clone(),
        // GET answers the names of encrypted headers; `WebhookBase` takes {name: value},
        // values a backup never has: a restore leaves them out and has them entered again.
        "webhooks" => {
            if let Value::Object(m) = &mut body {
                m.remove("encryptedHeaders");
            }
        }
        _ => {}
    }
    body
}

/// A JSON Patch the kind's schema accepts: replace the name (or the description where the
/// name may not be patched). `None` where no patch satisfies both the spec and the GET shape.
fn patch_body(k: &KindSpec, doc: &Value) -> Option<Value> {
    let field = match k.name {
        // `SharePatch` types every value as a string, `/roles` and `/disabled` included.
        "space-shares" => return None,
        // A jwtAuth provider may only have its description patched.
        "identity-providers" => "description",
        "data-connections" => "qName",
        _ => "name",
    };
    let value = format!(
        "{} (patched)",
        doc.get(field).and_then(Value::as_str).unwrap_or("x")
    );
    Some(json!([{"op": "replace", "path": format!("/{field}"), "value": value}]))
}

/// A replace that names only what changes (`SpaceUpdate` and its kin require nothing) keeps
/// the rest: regression for the restore handing a space back to its owner with `{ownerId}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replace_naming_only_what_changes_keeps_the_rest() {
    let (emu, c, r) = demo().await;
    let space = c
        .post(
            "/api/v1/spaces",
            &json!({"name": "Handed over", "type": "managed", "description": "d"}),
        )
        .await;
    assert_eq!(space.status, 201, "{}", space.body);
    let item = format!("/api/v1/spaces/{}", space.body["id"].as_str().expect("id"));
    let resp = c
        .call(Method::PUT, &item, Some(&json!({"ownerId": r.user})))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let got = c.get(&item).await;
    assert!(
        response_problems(&got, "GET", "/api/v1/spaces/{spaceId}").is_empty(),
        "{}",
        got.body
    );
    assert_eq!(got.body["ownerId"], r.user.as_str());
    assert_eq!(got.body["type"], "managed");
    assert_eq!(got.body["name"], "Handed over");
    emu.stop().await.expect("stop");
}
