//! Qlik Automate: automation connections (credentials for third-party connectors) and
//! automations, whose `workspace` block graph names apps and automation connections by ID
//! the way the Automate editor writes them (`settings[id=datasource]` holds the connection).

use std::collections::BTreeSet;

use rand::Rng;
use serde_json::{json, Value};

use super::{Seeder, SECRET_MARKER};
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::kinds::BuildCtx;
use crate::state::IdStyle;

/// The connector of Qlik's own APIs; it needs no automation connection.
pub const QLIK_CLOUD_CONNECTOR: &str = "61a87510-c7a3-11ea-95da-0fb0c241e75c";
/// The "Do Reload" snippet of the Qlik Cloud Services connector and its inputs.
const DO_RELOAD_SNIPPET: &str = "b5dbb7a0-e715-11ea-b2bf-43bb35adee19";
const DO_RELOAD_APP_INPUT: &str = "29603390-e716-11ea-9e37-05e08ee32111";
const DO_RELOAD_MODE_INPUT: &str = "2ac9eef0-a677-11eb-aacc-8b755d0fe484";
const ADD_MEMBER_ENDPOINT: &str = "272d9c70-6d31-11eb-870f-67624392ed86";
const LIST_APPS_ENDPOINT: &str = "4b993580-2072-11ec-8f59-e5aaa8656a36";
const USER_CREATED_EVENT: &str = "5be4c220-6156-11eb-a3df-fdbac6cc38a0";

/// A parameter of a connector's connection form.
struct Param {
    name: &'static str,
    field_type: &'static str,
    secret: bool,
    example: &'static str,
}

const fn text(name: &'static str, example: &'static str) -> Param {
    Param {
        name,
        field_type: "text",
        secret: false,
        example,
    }
}

const fn password(name: &'static str) -> Param {
    Param {
        name,
        field_type: "password",
        secret: true,
        example: "",
    }
}

struct Connector {
    id: &'static str,
    name: &'static str,
    /// OAuth connectors keep tokens Qlik never returns; the others keep `params`.
    oauth: bool,
    params: &'static [Param],
    /// An endpoint of the connector a block calls: (endpoint GUID, block name).
    endpoint: (&'static str, &'static str),
}

const CONNECTORS: &[Connector] = &[
    Connector {
        id: "3f9c4a10-1b2d-11ec-9a21-2b7a9c1d0e11",
        name: "Slack",
        oauth: true,
        params: &[],
        endpoint: ("4a1e7b20-1b2d-11ec-8c10-6f3e2a9b7c01", "sendMessage"),
    },
    Connector {
        id: "8b2e6c40-5a11-11ec-b1d3-1f6e0c2a9d22",
        name: "Microsoft Teams",
        oauth: true,
        params: &[],
        endpoint: (
            "8c0f1d50-5a11-11ec-a7e2-4b9d3e1f0a02",
            "sendMessageToChannel",
        ),
    },
    Connector {
        id: "c51d2e70-2f3a-11eb-9e4a-7d1c5b3a8e33",
        name: "Salesforce",
        oauth: true,
        params: &[],
        endpoint: ("c62f3a80-2f3a-11eb-8b71-3e5d7c9a1f03", "listOpportunities"),
    },
    Connector {
        id: "d7a4f190-3c2b-11eb-a2c6-5e8b1d4f7a44",
        name: "Google Sheets",
        oauth: true,
        params: &[],
        endpoint: ("d8b502a0-3c2b-11eb-9f14-2a6c8e3d5b04", "addRowToSheet"),
    },
    Connector {
        id: "e9c613b0-4d3c-11eb-b5e8-1c7d2f5a8b55",
        name: "Microsoft Outlook 365",
        oauth: true,
        params: &[],
        endpoint: ("ead724c0-4d3c-11eb-8a3f-6d1e9b4c2a05", "sendEmail"),
    },
    Connector {
        id: "0ad835d0-5e4d-11eb-9c7a-3f8e1a6b9c66",
        name: "Snowflake",
        oauth: false,
        params: &[
            text("account", "acme-eu.snowflakecomputing.com"),
            text("username", "svc_automate"),
            password("password"),
            text("warehouse", "AUTOMATE_WH"),
        ],
        endpoint: ("1be946e0-5e4d-11eb-b2d8-7a4f2c1e3d06", "executeQuery"),
    },
    Connector {
        id: "2cfa57f0-6f5e-11eb-a6b4-4e9f3b2c1d77",
        name: "Jira",
        oauth: false,
        params: &[
            text("url", "https://acme.atlassian.net"),
            text("username", "automate@acme.example"),
            password("api_token"),
        ],
        endpoint: ("3d0b6800-6f5e-11eb-9d35-8b2a4e6f1c07", "createIssue"),
    },
    Connector {
        id: "4e1c7910-806f-11eb-b7c5-5f0a4c3d2e88",
        name: "ServiceNow",
        oauth: false,
        params: &[
            text("instance", "acme.service-now.com"),
            text("username", "qlik.automate"),
            password("password"),
        ],
        endpoint: ("5f2d8a20-806f-11eb-8e46-9c3b5f7a2d08", "createIncident"),
    },
    Connector {
        id: "603e9b30-9170-11eb-a8d6-6a1b5d4e3f99",
        name: "HubSpot",
        oauth: false,
        params: &[password("api_key")],
        endpoint: ("714fac40-9170-11eb-9f57-ad4c6e8b3e09", "listContacts"),
    },
    Connector {
        id: "8250bd50-a281-11eb-b9e7-7b2c6e5f4a10",
        name: "Amazon S3",
        oauth: false,
        params: &[
            text("access_key_id", "AKIAQCBEMULATOR00001"),
            password("secret_access_key"),
            text("region", "eu-west-1"),
        ],
        endpoint: ("9361ce60-a281-11eb-8a68-be5d7f9c4f10", "putObject"),
    },
    Connector {
        id: "a472df70-b392-11eb-8af8-8c3d7f6a5b21",
        name: "Databricks",
        oauth: false,
        params: &[
            text("host", "adb-4217.azuredatabricks.net"),
            password("personal_access_token"),
        ],
        endpoint: ("b583e080-b392-11eb-9b79-cf6e8a0d5a11", "runJob"),
    },
    Connector {
        id: "c694f190-c4a3-11eb-9c09-9d4e8a7b6c32",
        name: "Mail",
        oauth: false,
        params: &[
            text("smtp_host", "smtp.acme.example"),
            text("port", "587"),
            text("username", "automate@acme.example"),
            password("password"),
        ],
        endpoint: ("d7a50aa0-c4a3-11eb-8d1a-e07f9b1e6b12", "sendMail"),
    },
];

const TEAMS: &[&str] = &[
    "Finance",
    "Sales",
    "Marketing",
    "HR",
    "Operations",
    "IT",
    "Procurement",
    "Support",
];
const TIMEZONES: &[&str] = &[
    "Europe/Stockholm",
    "Europe/London",
    "America/New_York",
    "UTC",
    "Asia/Singapore",
];

/// An automation connection the automations can use.
struct ConnectionRef {
    id: String,
    connector: usize,
    owner: String,
}

pub fn seed(s: &mut Seeder<'_>) {
    let connections = seed_connections(s);
    seed_automations(s, &connections);
}

fn seed_connections(s: &mut Seeder<'_>) -> Vec<ConnectionRef> {
    let mut out = Vec::new();
    for i in 0..s.scale.automation_connections {
        let c = s.rng.random_range(0..CONNECTORS.len());
        let connector = &CONNECTORS[c];
        let team = TEAMS[i % TEAMS.len()];
        // Connections are personal: most belong to the people who build automations, a few to
        // the admin.
        let owner = if i % 5 == 0 {
            s.admin_id.clone()
        } else {
            s.user()
        };
        let id = s.id(IdStyle::Uuid);
        let created = s.past(500);
        let updated =
            (created + chrono::Duration::days(s.rng.random_range(0..60))).min(s.base_time);
        let round = i / (TEAMS.len() * 2);
        let name = if round == 0 {
            format!("{} - {team}", connector.name)
        } else {
            format!("{} - {team} {}", connector.name, round + 1)
        };
        let mut doc = json!({
            "id": id, "name": name, "connectorId": connector.id, "ownerId": owner,
            "isConnected": !s.chance(0.1),
            "createdAt": rfc3339(created), "updatedAt": rfc3339(updated),
        });
        if s.chance(0.3) {
            if let Some(space) = s.space_of("shared") {
                doc["spaceId"] = json!(space);
            }
        }
        if connector.oauth {
            doc["oauthAccountName"] =
                json!(format!("svc-automate-{}@acme.example", team.to_lowercase()));
            doc["params"] = json!([]);
        } else {
            let params: Vec<Value> = connector
                .params
                .iter()
                .enumerate()
                .map(|(order, p)| {
                    let value = if p.secret {
                        s.secret(&format!("automation-connection-{}", p.name))
                    } else {
                        p.example.to_string()
                    };
                    json!({
                        "id": p.name, "name": p.name, "value": value, "fieldType": p.field_type,
                        "isOptional": false, "order": order, "documentation": "",
                    })
                })
                .collect();
            doc["params"] = Value::Array(params);
        }
        s.insert("automation-connections", doc);
        out.push(ConnectionRef {
            id,
            connector: c,
            owner,
        });
    }
    out
}

fn input(id: &str, ty: &str, value: Value) -> Value {
    json!({"id": id, "type": ty, "value": value, "structure": []})
}

/// One block of the Automate editor's workspace.
fn block(id: &str, ty: &str, name: &str, display: &str, child: Option<&str>, y: i64) -> Value {
    json!({
        "id": id, "type": ty, "x": 0, "y": y, "disabled": false, "name": name,
        "displayName": display, "comment": "", "childId": child, "inputs": [], "settings": [],
        "collapsed": [{"name": "loop", "isCollapsed": false}],
    })
}

fn block_id(s: &mut Seeder<'_>) -> String {
    s.id(IdStyle::Uuid).to_uppercase()
}

fn start_block(id: &str, child: &str, run_mode: &str, tz: &str) -> Value {
    let mut b = block(id, "StartBlock", "Start", "Start", Some(child), 0);
    let mut inputs = vec![input("run_mode", "select", json!(run_mode))];
    match run_mode {
        "scheduled" => {
            inputs.push(input(
                "schedule_start",
                "date",
                json!("2025-01-06 06:00:00"),
            ));
            inputs.push(input("schedule_interval", "select", json!("86400")));
            inputs.push(input("schedule_timezone", "select", json!(tz)));
        }
        "webhook" => {
            let mut ds = input("datasourcetype_guid", "select", json!(QLIK_CLOUD_CONNECTOR));
            ds["displayValue"] = json!("Qlik Cloud Services");
            inputs.push(ds);
            let mut ev = input("webhook_event_guid", "select", json!(USER_CREATED_EVENT));
            ev["displayValue"] = json!("User Created");
            inputs.push(ev);
        }
        _ => {}
    }
    b["inputs"] = Value::Array(inputs);
    b
}

fn reload_block(id: &str, child: Option<&str>, app: &(String, String), y: i64) -> Value {
    let mut b = block(
        id,
        "SnippetBlock",
        "DoReload",
        "Qlik Cloud Services - Do Reload",
        child,
        y,
    );
    let mut app_input = input(DO_RELOAD_APP_INPUT, "string", json!(app.0));
    app_input["displayValue"] = json!(format!("{} ({})", app.1, app.0));
    let mut mode = input(
        DO_RELOAD_MODE_INPUT,
        "select",
        json!("Wait for reload to complete"),
    );
    mode["displayValue"] = json!("Wait for reload to complete");
    b["inputs"] = json!([app_input, mode]);
    b["settings"] = json!([input("blendr_on_error", "select", json!("stop"))]);
    b["datasourcetype_guid"] = json!(QLIK_CLOUD_CONNECTOR);
    b["snippet_guid"] = json!(DO_RELOAD_SNIPPET);
    b
}

fn connector_block(id: &str, child: Option<&str>, conn: &ConnectionRef, y: i64) -> Value {
    let connector = &CONNECTORS[conn.connector];
    let (endpoint, name) = connector.endpoint;
    let mut b = block(
        id,
        "EndpointBlock",
        name,
        &format!("{} - {name}", connector.name),
        child,
        y,
    );
    b["inputs"] = if notifies(connector) {
        json!([input(
            "message",
            "string",
            json!("Reload of {$.DoReload.name} finished: {$.DoReload.status}")
        )])
    } else {
        json!([input("payload", "object", json!("{$.DoReload}"))])
    };
    // The automation connection a block uses is the `datasource` setting.
    b["settings"] = json!([
        input("datasource", "select", json!(conn.id)),
        input("blendr_on_error", "select", json!("stop")),
    ]);
    b["datasourcetype_guid"] = json!(connector.id);
    b["endpoint_guid"] = json!(endpoint);
    b["endpoint_role"] = json!("create");
    b
}

/// Messaging connectors are told about a reload; the others receive its result.
fn notifies(c: &Connector) -> bool {
    c.endpoint.1.starts_with("send")
}

/// The connector, endpoint and snippet GUIDs a workspace uses, as the service detects them.
fn detected_ids(workspace: &Value) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut connectors = BTreeSet::new();
    let mut endpoints = BTreeSet::new();
    let mut snippets = BTreeSet::new();
    let blocks = workspace
        .get("blocks")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for b in blocks {
        let field = |f: &str| b.get(f).and_then(Value::as_str).map(str::to_string);
        if let Some(c) = field("datasourcetype_guid") {
            connectors.insert(c);
        }
        if let Some(e) = field("endpoint_guid") {
            endpoints.insert(e);
        }
        if let Some(sn) = field("snippet_guid") {
            snippets.insert(sn);
        }
    }
    (
        connectors.into_iter().collect(),
        endpoints.into_iter().collect(),
        snippets.into_iter().collect(),
    )
}

/// What an automation does; decides its blocks and name.
#[derive(Clone, Copy)]
enum Recipe {
    ReloadAndNotify,
    ReloadOnly,
    OnboardUsers,
    CallPartnerApi,
    AppInventory,
}

fn recipe_for(i: usize) -> Recipe {
    match i % 8 {
        0 | 3 | 6 => Recipe::ReloadAndNotify,
        1 | 5 => Recipe::ReloadOnly,
        2 => Recipe::OnboardUsers,
        4 => Recipe::CallPartnerApi,
        _ => Recipe::AppInventory,
    }
}

fn app_ref(s: &mut Seeder<'_>) -> Option<(String, String)> {
    let id = s.app()?;
    let name = s
        .state
        .get("apps", &id)
        .and_then(|a| a["attributes"]["name"].as_str())
        .unwrap_or("app")
        .to_string();
    Some((id, name))
}

fn seed_automations(s: &mut Seeder<'_>, connections: &[ConnectionRef]) {
    for i in 0..s.scale.automations {
        let recipe = recipe_for(i);
        let app = app_ref(s);
        let conn = if connections.is_empty() {
            None
        } else {
            let k = s.rng.random_range(0..connections.len());
            connections.get(k)
        };
        let run_mode = match recipe {
            Recipe::OnboardUsers => "webhook",
            Recipe::CallPartnerApi => "triggered",
            _ => match s.rng.random_range(0..10) {
                0..=4 => "scheduled",
                5..=7 => "manual",
                _ => "triggered",
            },
        };
        let tz = TIMEZONES[i % TIMEZONES.len()];
        let start = block_id(s);
        let second = block_id(s);
        let third = block_id(s);
        let (name, mut blocks) = match (recipe, &app) {
            (Recipe::ReloadAndNotify, Some(app)) if conn.is_some() => {
                let mut blocks = vec![reload_block(&second, Some(&third), app, 120)];
                let mut name = format!("Reload {}", app.1);
                if let Some(conn) = conn {
                    let c = &CONNECTORS[conn.connector];
                    let verb = if notifies(c) { "notify" } else { "push to" };
                    name = format!("{name} and {verb} {}", c.name);
                    blocks.push(connector_block(&third, None, conn, 240));
                }
                (name, blocks)
            }
            (Recipe::ReloadOnly | Recipe::ReloadAndNotify, Some(app)) => (
                format!("Reload {}", app.1),
                vec![reload_block(&second, None, app, 120)],
            ),
            (Recipe::CallPartnerApi, _) => {
                // A credential pasted straight into a block: the backup must report it.
                let mut call = block(&second, "CallUrlBlock", "callUrl", "Call URL", None, 120);
                let token = s.secret("automation-block-credential");
                call["inputs"] = json!([
                    input(
                        "url",
                        "string",
                        json!("https://partner.acme.example/api/v1/export")
                    ),
                    input("method", "select", json!("POST")),
                    input(
                        "headers",
                        "string",
                        json!(format!("Authorization: Bearer {token}"))
                    ),
                ]);
                let mut blocks = vec![call];
                if let Some(app) = &app {
                    blocks[0]["childId"] = json!(third);
                    blocks.push(reload_block(&third, None, app, 240));
                }
                ("Push partner export".to_string(), blocks)
            }
            (Recipe::OnboardUsers, _) => {
                let mut add = block(
                    &second,
                    "EndpointBlock",
                    "addMemberToSpace",
                    "Qlik Cloud Services - Add Member To Space",
                    None,
                    120,
                );
                let space = s.space_of("managed").unwrap_or_default();
                add["inputs"] = json!([
                    input(
                        "3162f740-6d33-11eb-a089-71f7ccab24b9",
                        "string",
                        json!(space)
                    ),
                    input(
                        "27499b00-6d31-11eb-bbe5-5b3db3c974dc",
                        "string",
                        json!("{$.Start.data.id}")
                    ),
                    input(
                        "2751b870-6d31-11eb-9d77-41c5fae28bc5",
                        "string",
                        json!("[\"consumer\"]")
                    ),
                ]);
                add["datasourcetype_guid"] = json!(QLIK_CLOUD_CONNECTOR);
                add["endpoint_guid"] = json!(ADD_MEMBER_ENDPOINT);
                add["endpoint_role"] = json!("create");
                ("Add new users to Production".to_string(), vec![add])
            }
            _ => {
                let mut list = block(
                    &second,
                    "EndpointBlock",
                    "listItems",
                    "Qlik Cloud Services - List Items",
                    Some(&third),
                    120,
                );
                list["inputs"] = json!([input("resourceType", "string", json!("app"))]);
                list["datasourcetype_guid"] = json!(QLIK_CLOUD_CONNECTOR);
                list["endpoint_guid"] = json!(LIST_APPS_ENDPOINT);
                list["endpoint_role"] = json!("list");
                let mut show = block(&third, "ShowBlock", "output", "Output", None, 240);
                show["inputs"] = json!([input("input", "string", json!("{$.listItems}"))]);
                ("App inventory".to_string(), vec![list, show])
            }
        };
        let first_child = blocks
            .first()
            .and_then(|b| b["id"].as_str())
            .unwrap_or(&second)
            .to_string();
        blocks.insert(0, start_block(&start, &first_child, run_mode, tz));
        let workspace = json!({"blocks": blocks, "variables": []});
        // Automations are built by the people who own the connections they use; only a few
        // belong to the admin, who must list with listAll=true to see the rest.
        let owner = match (recipe, conn) {
            (Recipe::ReloadAndNotify, Some(c)) if !s.chance(0.2) => c.owner.clone(),
            _ if i % 6 == 5 => s.admin_id.clone(),
            _ => s.user(),
        };
        let doc = automation_doc(s, i, &name, &owner, run_mode, tz, workspace);
        s.insert("automations", doc);
    }
}

fn automation_doc(
    s: &mut Seeder<'_>,
    i: usize,
    name: &str,
    owner: &str,
    run_mode: &str,
    tz: &str,
    workspace: Value,
) -> Value {
    let id = s.id(IdStyle::Uuid);
    let created = s.past(600);
    let updated = (created + chrono::Duration::days(s.rng.random_range(0..90))).min(s.base_time);
    let (connector_ids, endpoint_ids, snippet_ids) = detected_ids(&workspace);
    let state = match s.rng.random_range(0..20) {
        0..=2 => "disabled",
        3 => "unavailable",
        _ => "available",
    };
    let round = i / 8;
    let name = if round == 0 {
        name.to_string()
    } else {
        format!("{name} ({})", round + 1)
    };
    let mut doc = json!({
        "id": id, "name": name, "description": format!("{name}, maintained by the analytics team"),
        "ownerId": owner, "state": state, "runMode": run_mode, "workspace": workspace,
        "connectorIds": connector_ids, "endpointIds": endpoint_ids, "snippetIds": snippet_ids,
        "executionToken": s.secret("automation-execution-token"), "maxConcurrentRuns": 1,
        "createdAt": rfc3339(created), "updatedAt": rfc3339(updated), "schedules": [],
    });
    if s.chance(0.35) {
        if let Some(space) = s.space_of("shared") {
            doc["spaceId"] = json!(space);
        }
    }
    if run_mode == "scheduled" {
        let last = s.past(2);
        doc["schedules"] = json!([{
            "id": s.id(IdStyle::Uuid), "startAt": "2025-01-06 06:00:00", "interval": 86400,
            "timezone": tz, "lastStartedAt": rfc3339(last),
        }]);
    }
    // Most automations have run; some never have.
    if s.chance(0.85) {
        let started = s.past(14);
        let stopped = started + chrono::Duration::seconds(s.rng.random_range(2..600));
        let status = match s.rng.random_range(0..10) {
            0 => "failed",
            1 => "finished with warnings",
            _ => "finished",
        };
        let context = match run_mode {
            "webhook" => "webhook",
            "triggered" => "api_async",
            "manual" => "editor",
            _ => "detail",
        };
        let mut last_run = json!({
            "id": s.id(IdStyle::Uuid), "title": "", "status": status, "context": context,
            "ownerId": owner, "executedById": owner, "isTestRun": false, "isArchived": false,
            "startTime": rfc3339(started), "stopTime": rfc3339(stopped),
            "createdAt": rfc3339(started), "updatedAt": rfc3339(stopped),
        });
        if let Some(space) = doc.get("spaceId").cloned() {
            last_run["spaceId"] = space;
        }
        if run_mode == "scheduled" {
            last_run["scheduledStartTime"] = json!(rfc3339(started));
        }
        doc["lastRun"] = last_run;
        doc["lastRunAt"] = json!(rfc3339(stopped));
        doc["lastRunStatus"] = json!(status);
    } else {
        doc["lastRunStatus"] = json!("not started");
    }
    doc
}

const RUN_MODES: &[&str] = &["manual", "scheduled", "triggered", "webhook"];
const STATES: &[&str] = &["available", "unavailable", "disabled"];

/// Schedules as the service stores them: an ID each, the interval in whole minutes.
fn schedules(ctx: &mut BuildCtx<'_>, v: Option<&Value>) -> ApiResult<Value> {
    let list = match v {
        None | Some(Value::Null) => return Ok(json!([])),
        Some(Value::Array(a)) => a.clone(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "schedules must be an array, got {}",
                crate::kinds::build::type_name(other)
            )))
        }
    };
    let mut out = Vec::new();
    for (k, sch) in list.into_iter().enumerate() {
        let Value::Object(mut m) = sch else {
            return Err(ApiError::bad_request(format!(
                "schedules[{k}] must be an object with startAt, stopAt, interval and timezone"
            )));
        };
        if let Some(iv) = m.get("interval") {
            let Some(secs) = iv.as_i64() else {
                return Err(ApiError::bad_request(format!(
                    "schedules[{k}].interval must be an integer number of seconds"
                )));
            };
            // "Values are rounded to the nearest minute (≥30 seconds rounded up)."
            let rounded = if secs < 0 {
                secs
            } else {
                (secs + 30) / 60 * 60
            };
            m.insert("interval".into(), json!(rounded));
        }
        m.entry("id")
            .or_insert_with(|| json!(ctx.state.new_id(IdStyle::Uuid)));
        out.push(Value::Object(m));
    }
    Ok(Value::Array(out))
}

/// An automation created through the API: the service detects the connectors, endpoints
/// and snippets its workspace uses, takes the run mode from the start block, and issues the
/// execution token.
pub fn build_automation(ctx: &mut BuildCtx<'_>, v: Value) -> ApiResult<Value> {
    let Value::Object(mut obj) = v else {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    };
    match obj.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => {}
        _ => return Err(ApiError::bad_request("name is required")),
    }
    let workspace = match obj.remove("workspace") {
        None | Some(Value::Null) => json!({}),
        Some(w @ Value::Object(_)) => w,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "workspace must be an object (the Automate editor's block graph), got {}",
                crate::kinds::build::type_name(&other)
            )))
        }
    };
    if let Some(st) = obj.get("state") {
        if !st.as_str().is_some_and(|s| STATES.contains(&s)) {
            return Err(ApiError::bad_request(format!(
                "state must be one of {}, got {st}",
                STATES.join(", ")
            )));
        }
    }
    match obj.get("maxConcurrentRuns") {
        None | Some(Value::Null) => {
            obj.insert("maxConcurrentRuns".into(), json!(1));
        }
        Some(n) if n.as_i64().is_some_and(|n| n >= 1) => {}
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "maxConcurrentRuns must be an integer of at least 1, got {n}"
            )))
        }
    }
    match obj.get("spaceId").cloned() {
        None => {}
        Some(Value::String(sp)) if !sp.is_empty() && ctx.state.get("spaces", &sp).is_none() => {
            return Err(ApiError::forbidden(format!(
                "space '{sp}' does not exist or you have no access to it"
            )));
        }
        Some(Value::String(sp)) if !sp.is_empty() => {}
        Some(Value::String(_) | Value::Null) => {
            obj.remove("spaceId");
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "spaceId must be a space ID string, got {}",
                crate::kinds::build::type_name(&other)
            )))
        }
    }
    let schedules = schedules(ctx, obj.get("schedules"))?;
    let start_mode = workspace
        .get("blocks")
        .and_then(Value::as_array)
        .and_then(|bs| bs.iter().find(|b| b["type"] == "StartBlock"))
        .and_then(|b| b["inputs"].as_array())
        .and_then(|ins| ins.iter().find(|i| i["id"] == "run_mode"))
        .and_then(|i| i["value"].as_str())
        .filter(|m| RUN_MODES.contains(m))
        .map(str::to_string);
    let run_mode = start_mode.unwrap_or_else(|| {
        if schedules.as_array().is_some_and(|a| !a.is_empty()) {
            "scheduled".to_string()
        } else {
            "manual".to_string()
        }
    });
    let (connector_ids, endpoint_ids, snippet_ids) = detected_ids(&workspace);
    // What the service owns is never taken from the request.
    for ro in ["lastRun", "lastRunAt", "lastRunStatus", "duration"] {
        obj.remove(ro);
    }
    let token = format!(
        "{SECRET_MARKER}-executionToken-{}",
        ctx.state.new_id(IdStyle::Token)
    );
    obj.insert("workspace".into(), workspace);
    obj.insert("schedules".into(), schedules);
    obj.insert("runMode".into(), json!(run_mode));
    obj.insert("connectorIds".into(), json!(connector_ids));
    obj.insert("endpointIds".into(), json!(endpoint_ids));
    obj.insert("snippetIds".into(), json!(snippet_ids));
    obj.insert("executionToken".into(), json!(token));
    obj.insert("lastRunStatus".into(), json!("not started"));
    obj.entry("description").or_insert(json!(""));
    ctx.keep_previous(
        &mut obj,
        &[
            "lastRun",
            "lastRunAt",
            "lastRunStatus",
            "duration",
            "executionToken",
        ],
    );
    Ok(Value::Object(obj))
}

/// An automation connection created through the API: `connectorId` is required; secret
/// parameters are kept (Qlik does not say whether it masks them when read).
pub fn build_automation_connection(_ctx: &mut BuildCtx<'_>, v: Value) -> ApiResult<Value> {
    let Value::Object(mut obj) = v else {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    };
    let connector = match obj.get("connectorId") {
        Some(Value::String(c)) if !c.is_empty() => c.clone(),
        _ => return Err(ApiError::bad_request("connectorId is required")),
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(ps)) => ps,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "params must be an array of {{name, value}}, got {}",
                crate::kinds::build::type_name(&other)
            )))
        }
    };
    let known = CONNECTORS.iter().find(|c| c.id == connector);
    let mut out = Vec::new();
    for (order, p) in params.into_iter().enumerate() {
        let Value::Object(mut m) = p else {
            return Err(ApiError::bad_request(format!(
                "params[{order}] must be an object with name and value"
            )));
        };
        let name = m
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let field_type = known
            .and_then(|c| c.params.iter().find(|p| p.name == name))
            .map_or("text", |p| p.field_type);
        m.entry("id").or_insert(json!(name));
        m.entry("fieldType").or_insert(json!(field_type));
        m.entry("order").or_insert(json!(order));
        m.entry("isOptional").or_insert(json!(false));
        out.push(Value::Object(m));
    }
    obj.insert("params".into(), Value::Array(out));
    obj.entry("name")
        .or_insert_with(|| json!(known.map_or("Connection", |c| c.name)));
    Ok(Value::Object(obj))
}
