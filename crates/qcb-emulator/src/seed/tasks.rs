//! Everything that runs on a schedule or a trigger: legacy reload tasks, scheduling tasks
//! (serverless-workflow documents, chained into small DAGs through task-finished events),
//! sharing and report tasks, and data alerts with the conditions they evaluate.

use std::collections::HashMap;

use rand::Rng;
use serde_json::{json, Map, Value};

use super::Seeder;
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::kinds::BuildCtx;
use crate::state::{IdStyle, State};

const TIMEZONES: &[&str] = &[
    "Europe/Stockholm",
    "Europe/London",
    "America/New_York",
    "UTC",
    "Asia/Tokyo",
    "Australia/Sydney",
];

/// The event a scheduling task's state waits on when the task runs on its own schedule
/// rather than after another task. The spec requires `eventRefs` on every `onEvents` entry
/// but defines no schedule event type, so time-triggered tasks name this one.
const SCHEDULE_EVENT: &str = "schedule";
/// Finished-task events correlate on the upstream run's status.
const SUCCEEDED: &str = "succeeded";

/// What tasks need to know about an app.
struct AppInfo {
    id: String,
    name: String,
    owner: String,
    space_id: Option<String>,
    space_type: Option<String>,
    usage: String,
    sheets: Vec<String>,
    bookmarks: Vec<String>,
}

fn str_of<'v>(v: &'v Value, f: &str) -> &'v str {
    v.get(f).and_then(Value::as_str).unwrap_or_default()
}

fn field<'m>(obj: &'m Map<String, Value>, f: &str) -> &'m str {
    obj.get(f).and_then(Value::as_str).unwrap_or_default()
}

fn app_info(state: &State, space_types: &HashMap<String, String>, id: &str) -> Option<AppInfo> {
    let attrs = state.get("apps", id)?.get("attributes")?;
    let space_id = Some(str_of(attrs, "spaceId").to_string()).filter(|s| !s.is_empty());
    let space_type = space_id
        .as_ref()
        .and_then(|sp| space_types.get(sp))
        .cloned();
    let (mut sheets, mut bookmarks) = (Vec::new(), Vec::new());
    if let Some(content) = state.app_content.get(id) {
        for o in &content.objects {
            let qid = o["qInfo"]["qId"].as_str().unwrap_or_default().to_string();
            match o["qInfo"]["qType"].as_str() {
                Some("sheet") => sheets.push(qid),
                Some("bookmark") if o["qMeta"]["published"] == true => bookmarks.push(qid),
                _ => {}
            }
        }
    }
    Some(AppInfo {
        id: id.to_string(),
        name: str_of(attrs, "name").to_string(),
        owner: str_of(attrs, "ownerId").to_string(),
        space_id,
        space_type,
        usage: str_of(attrs, "usage").to_string(),
        sheets,
        bookmarks,
    })
}

fn space_types(s: &Seeder<'_>) -> HashMap<String, String> {
    s.spaces.iter().cloned().collect()
}

fn random_app(s: &mut Seeder<'_>, space_types: &HashMap<String, String>) -> Option<AppInfo> {
    let id = s.app()?;
    app_info(s.state, space_types, &id)
}

/// An RFC 5545 recurrence line, as the task APIs write them.
fn rrule(s: &mut Seeder<'_>) -> String {
    let h = s.rng.random_range(0..24);
    let m = [0, 15, 30, 45][s.rng.random_range(0..4)];
    match s.rng.random_range(0..10) {
        0..=4 => format!("RRULE:FREQ=DAILY;INTERVAL=1;BYHOUR={h};BYMINUTE={m};BYSECOND=0"),
        5..=6 => format!(
            "RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=MO,WE,FR;BYHOUR={h};BYMINUTE={m};BYSECOND=0"
        ),
        7..=8 => format!("RRULE:FREQ=HOURLY;INTERVAL=4;BYMINUTE={m};BYSECOND=0"),
        _ => "RRULE:FREQ=MONTHLY;INTERVAL=1;BYMONTHDAY=1;BYHOUR=5;BYMINUTE=0;BYSECOND=0".into(),
    }
}

/// A wall-clock time without offset: the time zone travels in its own field.
fn local(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn timezone(s: &mut Seeder<'_>) -> &'static str {
    TIMEZONES[s.rng.random_range(0..TIMEZONES.len())]
}

pub fn seed(s: &mut Seeder<'_>) {
    if s.apps.is_empty() {
        return;
    }
    let types = space_types(s);
    let migrated = seed_reload_tasks(s, &types);
    seed_scheduling_tasks(s, &types, &migrated);
    seed_sharing_tasks(s, &types);
    seed_data_alerts(s, &types);
}

// ---- reload tasks (legacy)

/// Returns the reload tasks already migrated to the scheduling service: (task ID, app ID).
fn seed_reload_tasks(s: &mut Seeder<'_>, types: &HashMap<String, String>) -> Vec<(String, String)> {
    let base = s.url.trim_end_matches('/').to_string();
    let mut migrated = Vec::new();
    for i in 0..s.scale.reload_tasks {
        let Some(app) = random_app(s, types) else {
            continue;
        };
        let id = s.id(IdStyle::Hex24);
        let tz = timezone(s);
        let start = s.past(500);
        let last = s.past(2);
        let next = s.base_time + chrono::Duration::hours(s.rng.random_range(1..24));
        let state = match s.rng.random_range(0..20) {
            0..=3 => "Disabled",
            4 => "Completed",
            _ => "Enabled",
        };
        let mut doc = json!({
            "id": id, "appId": app.id, "partial": i % 9 == 4, "timeZone": tz,
            "autoReload": false, "autoReloadPartial": false, "recurrence": [rrule(s)],
            "startDateTime": local(start), "endDateTime": "",
            "userId": app.owner, "tenantId": s.state.tenant_id, "state": state,
            "jobId": s.id(IdStyle::Hex24), "migrated": false,
            "lastExecutionTime": rfc3339(last),
            "links": {"self": {"href": format!("{base}/api/v1/reload-tasks/{id}")}},
        });
        if let Some(space) = &app.space_id {
            doc["spaceId"] = json!(space);
        }
        match state {
            "Enabled" => doc["nextExecutionTime"] = json!(rfc3339(next)),
            "Completed" => {
                doc["endDateTime"] = json!(local(last));
            }
            _ => {
                if s.chance(0.5) {
                    doc["disabledCode"] = json!("CONSECUTIVE-FAILURES");
                    doc["log"] = json!("Scheduled reload has been disabled since exceeded limit of 5 consecutive reload failures. Please fix error and re-enable schedule.");
                } else {
                    doc["disabledCode"] = json!("MANUALLY");
                }
            }
        }
        // A quarter have been migrated to the scheduling service, which keeps the link.
        if i % 4 == 1 {
            doc["migrated"] = json!(true);
            migrated.push((id.clone(), app.id.clone()));
        }
        s.insert("reload-tasks", doc);
    }
    migrated
}

/// A reload task created through the (deprecated) API: it needs an existing app, gets the
/// app's space and a job of its own.
pub fn build_reload_task(ctx: &mut BuildCtx<'_>, v: Value) -> ApiResult<Value> {
    let Value::Object(mut obj) = v else {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    };
    let app_id = match obj.get("appId") {
        Some(Value::String(a)) if !a.is_empty() => a.clone(),
        _ => return Err(ApiError::bad_request("appId is required")),
    };
    let Some(app) = ctx.state.get("apps", &app_id) else {
        return Err(ApiError::not_found("apps", &app_id));
    };
    let space = str_of(&app["attributes"], "spaceId").to_string();
    if let Some(rec) = obj.get("recurrence") {
        let ok = rec.as_array().is_some_and(|lines| {
            lines
                .iter()
                .all(|l| l.as_str().is_some_and(|l| l.contains("FREQ=")))
        });
        if !ok {
            return Err(ApiError::bad_request(
                "recurrence must be a list of RRULE lines such as 'RRULE:FREQ=DAILY;INTERVAL=1;BYHOUR=6'",
            ));
        }
    }
    if let Some(st) = obj.get("state") {
        if !matches!(st.as_str(), Some("Enabled" | "Disabled" | "Completed")) {
            return Err(ApiError::bad_request(format!(
                "state must be Enabled, Disabled or Completed, got {st}"
            )));
        }
    }
    // "type" has not been used since 2022 and is not part of a task.
    obj.remove("type");
    if space.is_empty() {
        obj.remove("spaceId");
    } else {
        obj.insert("spaceId".into(), json!(space));
    }
    obj.insert("jobId".into(), json!(ctx.state.new_id(IdStyle::Hex24)));
    ctx.keep_previous(&mut obj, &["jobId"]);
    obj.entry("partial").or_insert(json!(false));
    obj.entry("autoReload").or_insert(json!(false));
    obj.entry("autoReloadPartial").or_insert(json!(false));
    obj.entry("recurrence").or_insert(json!([]));
    obj.entry("startDateTime").or_insert(json!(""));
    obj.entry("endDateTime").or_insert(json!(""));
    obj.entry("migrated").or_insert(json!(false));
    Ok(Value::Object(obj))
}

// ---- scheduling tasks

fn reload_action(app_id: &str, partial: bool) -> Value {
    json!({"name": "reload", "functionRef": {"refName": "app.reload", "arguments": {"appId": app_id, "partial": partial}}})
}

fn task_metadata(s: &mut Seeder<'_>, app: &AppInfo, trigger_type: u8, is_child: bool) -> Value {
    let created = s.past(300);
    let updated = (created + chrono::Duration::days(s.rng.random_range(0..30))).min(s.base_time);
    let mut m = json!({
        "ownerId": app.owner, "createdBy": app.owner, "scriptOwnerId": app.owner,
        "tenantId": s.state.tenant_id, "createdAt": rfc3339(created), "updatedAt": rfc3339(updated),
        "resourceName": app.name, "resourceType": "app", "resourceSubType": "script",
        "trigger": {"id": s.id(IdStyle::Uuid), "type": trigger_type},
        "topology": {"isChild": is_child, "isParent": false},
    });
    if matches!(app.usage.as_str(), "ANALYTICS" | "DATA_PREPARATION") {
        m["usage"] = json!(app.usage);
    }
    match (&app.space_id, app.space_type.as_deref()) {
        (None, _) => m["spaceType"] = json!("personal"),
        (Some(sp), ty) => {
            m["spaceId"] = json!(sp);
            // The spec knows personal, shared and managed spaces only.
            if let Some(t @ ("shared" | "managed")) = ty {
                m["spaceType"] = json!(t);
            }
        }
    }
    m
}

/// An upstream task a chained task waits for.
struct Upstream {
    id: String,
    app_id: String,
    space_id: Option<String>,
}

fn finished_event(name: &str, up: &Upstream) -> Value {
    let mut corr = vec![
        json!({"contextAttributeName": "id", "contextAttributeValue": up.id}),
        json!({"contextAttributeName": "status", "contextAttributeValue": SUCCEEDED}),
        json!({"contextAttributeName": "appId", "contextAttributeValue": up.app_id}),
    ];
    if let Some(sp) = &up.space_id {
        corr.push(json!({"contextAttributeName": "spaceId", "contextAttributeValue": sp}));
    }
    json!({"name": name, "type": "com.qlik.v1.task.run.finished", "source": "system-events.task", "dataOnly": true, "correlation": corr})
}

fn seed_scheduling_tasks(
    s: &mut Seeder<'_>,
    types: &HashMap<String, String>,
    migrated: &[(String, String)],
) {
    let n = s.scale.scheduling_tasks;
    let mut docs: Vec<Value> = Vec::with_capacity(n);
    let mut ups: Vec<Upstream> = Vec::with_capacity(n);
    let mut is_parent: Vec<bool> = Vec::with_capacity(n);
    for i in 0..n {
        let from_reload = migrated.get(i);
        let app = match from_reload {
            Some((_, app_id)) => app_info(s.state, types, app_id),
            None => random_app(s, types),
        };
        let Some(app) = app else {
            continue;
        };
        let id = s.id(IdStyle::Uuid);
        // About a third wait for earlier tasks (among the last few, so the DAGs stay small);
        // one in five of those waits for two.
        let chained = from_reload.is_none() && docs.len() >= 2 && s.chance(0.35);
        let mut upstream: Vec<usize> = Vec::new();
        if chained {
            let lo = docs.len().saturating_sub(8);
            upstream.push(s.rng.random_range(lo..docs.len()));
            if docs.len() >= 3 && s.chance(0.2) {
                let other = s.rng.random_range(lo..docs.len());
                if !upstream.contains(&other) {
                    upstream.push(other);
                }
            }
        }
        let mut doc = json!({
            "id": id, "specVersion": "0.8", "resourceId": app.id,
            "enabled": !s.chance(0.1),
        });
        let partial = i % 11 == 3;
        let action = reload_action(&app.id, partial);
        if upstream.is_empty() {
            let tz = timezone(s);
            let start = s.past(400);
            doc["name"] = json!(format!("Reload {}", app.name));
            doc["description"] = json!(format!("Scheduled reload of {}", app.name));
            doc["start"] = json!({"schedule": {"recurrence": rrule(s), "startDateTime": local(start), "timezone": tz}});
            doc["states"] = json!([{"name": "reload", "type": "EVENT", "end": true, "exclusive": true,
                "onEvents": [{"eventRefs": [SCHEDULE_EVENT], "actionMode": "SEQUENTIAL", "actions": [action]}]}]);
            doc["metadata"] = task_metadata(s, &app, 0, false);
        } else {
            let mut events = Vec::new();
            let mut refs = Vec::new();
            for (k, up) in upstream.iter().enumerate() {
                let name = format!("upstream-{}-succeeded", k + 1);
                events.push(finished_event(&name, &ups[*up]));
                refs.push(json!(name));
                is_parent[*up] = true;
            }
            let trigger = if upstream.len() > 1 { 2 } else { 1 };
            doc["name"] = json!(format!("Reload {} after upstream reloads", app.name));
            doc["description"] = json!(format!(
                "Reloads {} when the tasks it depends on have succeeded",
                app.name
            ));
            doc["events"] = Value::Array(events);
            // With several upstream tasks every event must arrive before the reload runs.
            doc["states"] = json!([{"name": "reload", "type": "EVENT", "end": true, "exclusive": upstream.len() == 1,
                "onEvents": [{"eventRefs": refs, "actionMode": "SEQUENTIAL", "actions": [action]}]}]);
            doc["metadata"] = task_metadata(s, &app, trigger, true);
        }
        if let Some((reload_id, _)) = from_reload {
            doc["metadata"]["migratedFrom"] = json!(reload_id);
        }
        if doc["enabled"] == false {
            doc["metadata"]["disabledCode"] = json!(if s.chance(0.5) {
                "MANUALLY"
            } else {
                "CONSECUTIVE-FAILURES"
            });
        }
        ups.push(Upstream {
            id,
            app_id: app.id.clone(),
            space_id: app.space_id.clone(),
        });
        is_parent.push(false);
        docs.push(doc);
    }
    for (mut doc, parent) in docs.into_iter().zip(is_parent) {
        doc["metadata"]["topology"]["isParent"] = json!(parent);
        s.insert("scheduling-tasks", doc);
    }
}

/// The top-level fields of a scheduling task; the spec allows no others.
const TASK_FIELDS: &[&str] = &[
    "id",
    "key",
    "name",
    "start",
    "events",
    "states",
    "enabled",
    "version",
    "metadata",
    "keepActive",
    "resourceId",
    "annotations",
    "description",
    "specVersion",
];

/// The app of the first reload action: `states[].onEvents[].actions[].functionRef.arguments.appId`.
fn first_reload_app(task: &Map<String, Value>) -> Option<String> {
    task.get("states")?
        .as_array()?
        .iter()
        .filter_map(|st| st.get("onEvents").and_then(Value::as_array))
        .flatten()
        .filter_map(|ev| ev.get("actions").and_then(Value::as_array))
        .flatten()
        .filter_map(|a| a.pointer("/functionRef/arguments/appId"))
        .find_map(Value::as_str)
        .map(str::to_string)
}

/// The task IDs a task's finished-task events correlate on.
fn upstream_ids(task: &Map<String, Value>) -> Vec<String> {
    task.get("events")
        .and_then(Value::as_array)
        .map(|evs| {
            evs.iter()
                .filter_map(|e| e.get("correlation").and_then(Value::as_array))
                .flatten()
                .filter(|c| c["contextAttributeName"] == "id")
                .filter_map(|c| c["contextAttributeValue"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A scheduling task created through the API. It is created disabled and owned by the
/// caller; `resourceId` comes from the first reload action's app and the metadata is the
/// service's, whatever the request says.
pub fn build_scheduling_task(ctx: &mut BuildCtx<'_>, v: Value) -> ApiResult<Value> {
    let Value::Object(mut obj) = v else {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    };
    match obj.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() && n.chars().count() <= 100 => {}
        _ => {
            return Err(ApiError::bad_request(
                "name is required and must be 1 to 100 characters",
            ))
        }
    }
    if obj
        .get("states")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return Err(ApiError::bad_request(
            "states is required: at least one EVENT state with a reload action",
        ));
    }
    let Some(app_id) = first_reload_app(&obj) else {
        return Err(ApiError::bad_request(
            "no app to reload: states[].onEvents[].actions[].functionRef.arguments.appId is required",
        ));
    };
    let Some(app) = ctx
        .state
        .get("apps", &app_id)
        .map(|a| a["attributes"].clone())
    else {
        return Err(ApiError::forbidden(format!(
            "app '{app_id}' does not exist or you cannot reload it"
        )));
    };
    let upstream = upstream_ids(&obj);
    if let Some(missing) = upstream
        .iter()
        .find(|id| ctx.state.get("scheduling-tasks", id).is_none())
    {
        return Err(ApiError::bad_request(format!(
            "the upstream task '{missing}' named in events[].correlation does not exist"
        )));
    }
    obj.retain(|k, _| TASK_FIELDS.contains(&k.as_str()));
    let has_schedule = obj.get("start").is_some();
    let has_events = obj
        .get("events")
        .and_then(Value::as_array)
        .is_some_and(|e| !e.is_empty());
    let trigger_type = match (has_schedule, has_events) {
        (true, true) => 3,
        (false, true) if upstream.len() > 1 => 2,
        (false, true) => 1,
        _ => 0,
    };
    let now = rfc3339(ctx.now);
    let user = ctx.principal.user_id.clone();
    let space_id = str_of(&app, "spaceId").to_string();
    let mut meta = json!({
        "ownerId": user, "createdBy": user, "scriptOwnerId": user, "tenantId": ctx.state.tenant_id,
        "createdAt": now, "updatedAt": now, "resourceName": str_of(&app, "name"),
        "resourceType": "app", "resourceSubType": "script",
        "trigger": {"id": ctx.state.new_id(IdStyle::Uuid), "type": trigger_type},
        "topology": {"isChild": !upstream.is_empty(), "isParent": false},
    });
    if matches!(str_of(&app, "usage"), "ANALYTICS" | "DATA_PREPARATION") {
        meta["usage"] = json!(str_of(&app, "usage"));
    }
    if space_id.is_empty() {
        meta["spaceType"] = json!("personal");
    } else {
        let ty = ctx
            .state
            .get("spaces", &space_id)
            .map(|sp| str_of(sp, "type").to_string())
            .unwrap_or_default();
        if matches!(ty.as_str(), "shared" | "managed") {
            meta["spaceType"] = json!(ty);
        }
        meta["spaceId"] = json!(space_id);
    }
    // A replaced task keeps who made it, when, its trigger and whether it runs.
    if let Some(before) = ctx.previous.as_ref().and_then(|p| p.get("metadata")) {
        for f in ["ownerId", "createdBy", "scriptOwnerId", "createdAt"] {
            if let Some(v) = before.get(f) {
                meta[f] = v.clone();
            }
        }
        if let Some(id) = before.pointer("/trigger/id") {
            meta["trigger"]["id"] = id.clone();
        }
    }
    obj.insert("metadata".into(), meta);
    obj.insert("resourceId".into(), json!(app_id));
    // A task is created disabled; an update (PUT or PATCH of /enabled) turns it on or off.
    if ctx.previous.is_none() {
        obj.insert("enabled".into(), json!(false));
    } else if !obj.contains_key("enabled") {
        ctx.keep_previous(&mut obj, &["enabled"]);
    }
    obj.entry("specVersion").or_insert(json!("0.8"));
    // The tasks this one waits for now have a child.
    for up in &upstream {
        if let Some(t) = ctx.state.get_mut("scheduling-tasks", up) {
            t["metadata"]["topology"]["isParent"] = json!(true);
        }
    }
    Ok(Value::Object(obj))
}

// ---- sharing tasks (subscriptions and report tasks)

struct Template {
    id: String,
    app_id: String,
    ty: String,
    name: String,
}

/// (template type, template subtype, task subtype, file extension) of a report template.
fn report_format(template_type: &str) -> (&'static str, &'static str, &'static str, &'static str) {
    match template_type {
        "excel" => ("excel", "xlsx", "xlsx", "xlsx"),
        "html" => ("html", "qhtml", "html", "html"),
        "powerPoint" => ("powerpoint", "pptx", "pptx", "pptx"),
        "word" => ("word", "docx", "docx", "docx"),
        _ => ("pixel-perfect", "pdf", "pdf", "pdf"),
    }
}

fn user_name(state: &State, id: &str) -> String {
    state
        .get("users", id)
        .map(|u| str_of(u, "name").to_string())
        .unwrap_or_default()
}

fn recipients(s: &mut Seeder<'_>) -> Value {
    let users = 1 + s.rng.random_range(0..4);
    let mut user_ids = Vec::new();
    for _ in 0..users {
        let u = s.user();
        user_ids.push(json!({"value": u, "groups": [], "subscribed": true, "enabledByUser": true, "enabledBySystem": true}));
    }
    let mut group_ids = Vec::new();
    if s.chance(0.4) {
        let groups = s.groups.clone();
        if let Some(g) = s.pick(&groups) {
            group_ids.push(json!({"value": g, "enabledByUser": true, "enabledBySystem": true}));
        }
    }
    let mut emails = Vec::new();
    if s.chance(0.2) {
        let n = s.rng.random_range(1..50);
        emails.push(json!({"value": format!("controller{n}@partner.example"), "enabled": true}));
    }
    let count = user_ids.len() + group_ids.len() + emails.len();
    json!({"userIds": user_ids, "groupIds": group_ids, "emailAddresses": emails, "netRecipientCount": count})
}

fn selections(s: &mut Seeder<'_>) -> Value {
    if s.chance(0.5) {
        json!({"selections": []})
    } else {
        let region =
            ["Nordics", "DACH", "Benelux", "Iberia", "North America"][s.rng.random_range(0..5)];
        json!({"selections": [{"name": "Region", "displayName": "Region", "stateName": "$", "isNumeric": false,
            "values": [region], "displayValues": [region]}]})
    }
}

fn seed_sharing_tasks(s: &mut Seeder<'_>, types: &HashMap<String, String>) {
    let templates: Vec<Template> = s
        .state
        .values("report-templates")
        .map(|t| Template {
            id: str_of(t, "id").to_string(),
            app_id: str_of(t, "sourceAppId").to_string(),
            ty: str_of(t, "type").to_string(),
            name: str_of(t, "name").to_string(),
        })
        .filter(|t| !t.id.is_empty())
        .collect();
    // Report tasks delivered to SharePoint go through a SharePoint data connection.
    let sharepoint: Vec<String> = s
        .state
        .values("data-connections")
        .filter(|c| str_of(c, "datasourceID") == "sharepoint")
        .map(|c| str_of(c, "qID").to_string())
        .collect();
    let base = s.url.trim_end_matches('/').to_string();
    for i in 0..s.scale.sharing_tasks {
        let mut ty = match i % 10 {
            0..=3 => "chart-sharing",
            4..=6 => "sheet-sharing",
            7 | 8 => "template-sharing",
            _ => "chart-monitoring",
        };
        if ty == "template-sharing" && templates.is_empty() {
            ty = "sheet-sharing";
        }
        let template = (ty == "template-sharing").then(|| &templates[i % templates.len()]);
        let app = match template {
            Some(t) => app_info(s.state, types, &t.app_id).or_else(|| random_app(s, types)),
            None => random_app(s, types),
        };
        let Some(app) = app else {
            continue;
        };
        let id = s.id(IdStyle::Hex24);
        let owner = if s.chance(0.5) {
            app.owner.clone()
        } else {
            s.user()
        };
        let sheet = app
            .sheets
            .first()
            .cloned()
            .unwrap_or_else(|| s.id(IdStyle::Token));
        let tz = timezone(s);
        let created = s.past(400);
        let updated =
            (created + chrono::Duration::days(s.rng.random_range(0..60))).min(s.base_time);
        let last_run = s.past(7);
        let next_run = s.base_time + chrono::Duration::hours(s.rng.random_range(1..168));
        let rule = rrule(s);
        let (name, template_list, sub_type) = match (ty, template) {
            ("template-sharing", Some(t)) => {
                let (tty, tsub, sub, ext) = report_format(&t.ty);
                let file = format!("{}.{ext}", t.name.replace(' ', "_"));
                (
                    format!("{} report", t.name),
                    json!([{"type": tty, "subType": tsub, "templateId": t.id, "fileName": file, "fileTimeStamp": "yyyy-MM-dd"}]),
                    Some(sub),
                )
            }
            ("sheet-sharing", _) => (
                format!("{} sheet subscription", app.name),
                json!([{"type": "sheet", "subType": "pdf", "sheetData": {"appId": app.id, "sheetId": sheet, "sheetName": "Overview", "widthPx": 1680, "heightPx": 1050, "isPrivate": false}}]),
                Some("pdf"),
            ),
            _ => {
                let object = s.id(IdStyle::Token);
                (
                    format!(
                        "{} chart {}",
                        app.name,
                        if ty == "chart-monitoring" {
                            "monitoring"
                        } else {
                            "subscription"
                        }
                    ),
                    json!([{"type": "chart", "subType": "image", "chartData": {"appId": app.id, "sheetId": sheet, "objectId": object, "widthPx": 1200, "heightPx": 800, "outDpi": 96, "outZoom": 1}}]),
                    None,
                )
            }
        };
        let on_reload = s.chance(0.2);
        let mut doc = json!({
            "id": id, "name": name, "type": ty, "description": "", "tags": [],
            "appId": app.id, "appName": app.name, "owner": owner, "ownerName": user_name(s.state, &owner),
            "createdBy": owner, "updatedBy": owner, "tenant": s.state.tenant_id,
            "dateCreated": rfc3339(created), "lastUpdated": rfc3339(updated),
            "enabled": !s.chance(0.1), "enabledByUser": true, "enabledBySystem": true,
            "statusCode": "VALID", "statusLabel": "Valid",
            "state": selections(s), "templates": template_list, "recipients": recipients(s),
            "emailContent": {"subject": format!("{name}"), "body": "Please find the latest numbers attached."},
            "trigger": {"recurrence": if on_reload { Value::Null } else { json!([rule]) }, "executeOnAppReload": on_reload, "executionHistoryInterval": "monthly"},
            "scheduleOptions": {"timezone": tz, "recurrence": [rule], "startDateTime": local(created), "endDateTime": null,
                "lastExecutionTime": rfc3339(last_run), "nextExecutionTime": rfc3339(next_run)},
            "retentionPolicy": {"historySize": 10, "overrideInterval": ""},
            "transportChannels": ["email"],
            "lastExecutionDate": rfc3339(last_run), "nextScheduledRun": rfc3339(next_run),
            "failedExecutionsCount": 0, "hasSectionAccess": false,
            // Qlik stores these encrypted; their ciphers are secrets a backup must drop.
            "encryptedState": {"cipher": s.secret("sharing-encryptedState")},
            "encryptedTemplates": {"cipher": s.secret("sharing-encryptedTemplates")},
            "encryptedEmailContent": {
                "subject": {"cipher": s.secret("sharing-encryptedEmailContent-subject")},
                "body": {"cipher": s.secret("sharing-encryptedEmailContent-body")},
            },
            "links": {"self": {"href": format!("{base}/api/v1/sharing-tasks/{id}")}},
        });
        if let Some(sp) = &app.space_id {
            doc["spaceId"] = json!(sp);
        }
        if let Some(sub) = sub_type {
            doc["subType"] = json!(sub);
        }
        if let Some(t) = template {
            doc["templateId"] = json!(t.id);
            if !sharepoint.is_empty() && i % 3 == 0 {
                doc["transportChannels"] = json!(["sharepoint"]);
                doc["dataConnectionID"] = json!(sharepoint[i % sharepoint.len()]);
                doc["sharePointFolder"] = json!("/Shared Documents/Reports");
            }
        }
        s.insert("sharing-tasks", doc);
    }
}

const SHARING_TYPES: &[&str] = &[
    "chart-monitoring",
    "chart-sharing",
    "sheet-sharing",
    "template-sharing",
];

/// The app a sharing task's templates point at: a chart, sheet or story's `appId`, or the
/// source app of a report template.
fn template_app(state: &State, templates: &[Value]) -> Option<String> {
    templates.iter().find_map(|t| {
        [
            "/chartData/appId",
            "/sheetData/appId",
            "/storyData/appId",
            "/multiSheetData/0/appId",
        ]
        .iter()
        .find_map(|p| t.pointer(p).and_then(Value::as_str))
        .map(str::to_string)
        .or_else(|| {
            let tid = t.get("templateId")?.as_str()?;
            let rt = state.get("report-templates", tid)?;
            Some(str_of(rt, "sourceAppId").to_string())
        })
        .filter(|a| !a.is_empty())
    })
}

/// A sharing or report task created through the API: its app comes from its templates,
/// report templates must exist.
pub fn build_sharing_task(ctx: &mut BuildCtx<'_>, v: Value) -> ApiResult<Value> {
    let Value::Object(mut obj) = v else {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    };
    match obj.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => {}
        _ => return Err(ApiError::bad_request("name is required")),
    }
    let ty = field(&obj, "type").to_string();
    if !SHARING_TYPES.contains(&ty.as_str()) {
        return Err(ApiError::bad_request(format!(
            "type must be one of {}, got '{ty}'",
            SHARING_TYPES.join(", ")
        )));
    }
    if !obj.get("state").is_some_and(Value::is_object) {
        return Err(ApiError::bad_request(
            "state is required (an object, may hold selections)",
        ));
    }
    let templates = obj
        .get("templates")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if templates.is_empty() {
        return Err(ApiError::bad_request(
            "templates is required: at least one template",
        ));
    }
    for t in &templates {
        if let Some(tid) = t.get("templateId").and_then(Value::as_str) {
            if ctx.state.get("report-templates", tid).is_none() {
                return Err(ApiError::bad_request(format!(
                    "report template '{tid}' does not exist"
                )));
            }
            obj.entry("templateId").or_insert(json!(tid));
        }
    }
    let Some(app_id) = template_app(ctx.state, &templates) else {
        return Err(ApiError::bad_request(
            "the templates name no app: set chartData.appId, sheetData.appId or a report templateId",
        ));
    };
    let Some(app) = ctx
        .state
        .get("apps", &app_id)
        .map(|a| a["attributes"].clone())
    else {
        return Err(ApiError::bad_request(format!(
            "app '{app_id}' does not exist"
        )));
    };
    let user = ctx.principal.user_id.clone();
    obj.insert("appId".into(), json!(app_id));
    obj.entry("appName").or_insert(json!(str_of(&app, "name")));
    let space = str_of(&app, "spaceId");
    if !space.is_empty() {
        obj.insert("spaceId".into(), json!(space));
    }
    obj.insert("ownerName".into(), json!(user_name(ctx.state, &user)));
    obj.insert("statusCode".into(), json!("VALID"));
    obj.insert("statusLabel".into(), json!("Valid"));
    obj.entry("enabled").or_insert(json!(true));
    obj.insert("enabledByUser".into(), json!(true));
    obj.insert("enabledBySystem".into(), json!(true));
    obj.insert("failedExecutionsCount".into(), json!(0));
    // What the service writes itself is not taken from the request.
    for ro in [
        "encryptedState",
        "encryptedTemplates",
        "encryptedEmailContent",
        "lastExecutionDate",
    ] {
        obj.remove(ro);
    }
    ctx.keep_previous(
        &mut obj,
        &[
            "failedExecutionsCount",
            "encryptedState",
            "encryptedTemplates",
            "encryptedEmailContent",
            "lastExecutionDate",
        ],
    );
    Ok(Value::Object(obj))
}

// ---- data alerts and their conditions

fn condition_base(
    s: &mut Seeder<'_>,
    id: &str,
    ty: &str,
    app: &AppInfo,
    owner: &str,
    created: chrono::DateTime<chrono::Utc>,
) -> Value {
    json!({
        "id": id, "type": ty, "appId": app.id, "ownerId": owner, "createdById": owner,
        "tenantId": s.state.tenant_id, "created": rfc3339(created), "updated": rfc3339(created),
        "description": "", "lastReloadTime": rfc3339(s.past(3)),
    })
}

fn data_condition(
    s: &mut Seeder<'_>,
    app: &AppInfo,
    owner: &str,
    created: chrono::DateTime<chrono::Utc>,
) -> String {
    let id = s.id(IdStyle::Hex24);
    let (measure, dimension) = [
        ("Sales", "Region"),
        ("Margin %", "Product Line"),
        ("Open Tickets", "Team"),
        ("Stock on Hand", "Warehouse"),
    ][s.rng.random_range(0..4)];
    let lib = s.id(IdStyle::Token);
    let mut base = condition_base(s, &id, "data", app, owner, created);
    if let Some(b) = app.bookmarks.first() {
        base["bookmarkId"] = json!(b);
    }
    let doc = json!({
        "type": "data", "ownerId": owner, "tenantId": s.state.tenant_id,
        "dataCondition": {
            "conditionBase": base, "headers": [dimension, measure],
            "measures": [{"title": measure, "qLibraryId": lib}],
            "dimensions": [{"field": dimension, "title": dimension}],
            "selections": [], "history": {"enabled": false}, "conditionData": {},
        },
    });
    // Conditions carry their ID inside conditionBase only, as Qlik returns them.
    s.state.insert("conditions", &id, doc);
    id
}

fn seed_data_alerts(s: &mut Seeder<'_>, types: &HashMap<String, String>) {
    let base = s.url.trim_end_matches('/').to_string();
    for i in 0..s.scale.other {
        let Some(app) = random_app(s, types) else {
            continue;
        };
        let owner = if i % 3 == 0 {
            s.admin_id.clone()
        } else {
            s.user()
        };
        let created = s.past(300);
        let condition_id = if i % 5 == 2 {
            // A compound condition over two data conditions.
            let a = data_condition(s, &app, &owner, created);
            let b = data_condition(s, &app, &owner, created);
            let id = s.id(IdStyle::Hex24);
            let cbase = condition_base(s, &id, "compound", &app, &owner, created);
            let doc = json!({
                "type": "compound", "ownerId": owner, "tenantId": s.state.tenant_id,
                "compoundCondition": {"conditionBase": cbase, "data": {"conditions": [a, b], "expression": format!("{a} AND {b}"), "history": {"enabled": false}}},
            });
            s.state.insert("conditions", &id, doc);
            id
        } else {
            data_condition(s, &app, &owner, created)
        };
        let id = s.id(IdStyle::Hex24);
        let scheduled = s.chance(0.4);
        let tz = timezone(s);
        let scans = s.rng.random_range(0..=100);
        let last_scan = s.past(2);
        let mut doc = json!({
            "id": id, "name": format!("{} alert {}", app.name, i + 1), "description": "Notify when the threshold is crossed",
            "appId": app.id, "conditionId": condition_id, "ownerId": owner, "ownerName": user_name(s.state, &owner),
            "tenantId": s.state.tenant_id, "enabled": !s.chance(0.15),
            "recipients": {"userIds": [{"value": owner, "enabled": true, "subscribed": true, "groups": []}], "groupIds": []},
            "throttling": {"capacity": 1, "replenishRate": 86400, "initialTokenCount": 1, "timezone": tz,
                "recurrenceRule": "RRULE:FREQ=DAILY;INTERVAL=1", "referenceTimestamp": rfc3339(created)},
            "triggerType": if scheduled { "SCHEDULED" } else { "RELOAD" },
            "triggerStats": {"totalScans": scans, "last10Scans": scans.min(10), "last100Scans": scans},
            "accessMode": "SOURCE_ACCESS", "errorStatus": "OK", "lastExecutionStatus": "OK",
            "evaluationCount": scans, "hideSelections": false, "hasHistoryCondition": false,
            "lastScan": rfc3339(last_scan), "absoluteLastScan": rfc3339(last_scan),
            "dateCreated": rfc3339(created), "lastUpdated": rfc3339(created),
            "links": {"self": {"href": format!("{base}/api/v1/data-alerts/{id}")}},
        });
        if let Some(sheet) = app.sheets.first() {
            doc["sheetId"] = json!(sheet);
        }
        if scheduled {
            let rule = rrule(s);
            doc["scheduleOptions"] = json!({"timezone": tz, "recurrence": [rule], "startDateTime": local(created), "endDateTime": null});
        }
        if s.chance(0.3) {
            let groups = s.groups.clone();
            if let Some(g) = s.pick(&groups) {
                doc["recipients"]["groupIds"] = json!([{"value": g, "enabled": true}]);
            }
        }
        s.insert("data-alerts", doc);
    }
}

/// A data alert created through the API: its app and condition must exist, and it needs
/// recipients.
pub fn build_data_alert(ctx: &mut BuildCtx<'_>, v: Value) -> ApiResult<Value> {
    let Value::Object(mut obj) = v else {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    };
    match obj.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() && n.chars().count() <= 78 => {}
        _ => {
            return Err(ApiError::bad_request(
                "name is required (at most 78 characters)",
            ))
        }
    }
    let app_id = field(&obj, "appId").to_string();
    if app_id.is_empty() {
        return Err(ApiError::bad_request("appId is required"));
    }
    if ctx.state.get("apps", &app_id).is_none() {
        return Err(ApiError::bad_request(format!(
            "app '{app_id}' does not exist"
        )));
    }
    let cond = field(&obj, "conditionId").to_string();
    if cond.is_empty() || ctx.state.get("conditions", &cond).is_none() {
        return Err(ApiError::bad_request(format!(
            "conditionId '{cond}' does not name an existing condition: create it with POST /api/v1/conditions first"
        )));
    }
    if !obj
        .get("recipients")
        .and_then(|r| r.get("userIds"))
        .is_some_and(Value::is_array)
    {
        return Err(ApiError::bad_request("recipients.userIds is required"));
    }
    let owner = field(&obj, "ownerId").to_string();
    obj.insert("ownerName".into(), json!(user_name(ctx.state, &owner)));
    obj.entry("triggerType").or_insert(json!("RELOAD"));
    obj.insert("errorStatus".into(), json!("OK"));
    obj.insert("evaluationCount".into(), json!(0));
    ctx.keep_previous(&mut obj, &["evaluationCount", "errorStatus"]);
    Ok(Value::Object(obj))
}
