//! The audit log as writes fill it. Qlik's audits API "provides access to events emitted upon
//! each action taken in your tenant" (audits.json); the event types are the system events
//! qlik.dev documents per service. The emulator records the events of the spaces service —
//! a space, an assignment or a share created, updated or deleted, under the preferred names
//! of qlik.dev's `core/spaces` events (`com.qlik.core.space.assignment.created`, …) — with
//! the documented payload (the resource as it stands, `spaceId` among its fields) and the
//! spec's `extensions` (`spaceId`, `topLevelResourceId`, `actor`); and the engine's
//! `com.qlik.v1.app.exported` when an app export begins. Other services' writes leave no
//! event here (their documented event sets are partial or absent). The fault `audit_silent`
//! stops all recording, as a log that serves only what it was seeded with would.
//!
//! `GET /api/v1/audits/types` and `/sources` answer the spec's `GetObjectsResult`: the
//! possible event types (sources) of this tenant — those recorded, and those its writes emit.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State as AxState;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::state::{IdStyle, State};
use crate::tenant::Tenant;

/// What happened to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Created,
    Updated,
    Deleted,
}

impl Action {
    fn word(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Deleted => "deleted",
        }
    }
}

/// The source of the spaces service's events.
const SPACES_SOURCE: &str = "com.qlik/spaces";

/// Event type prefix per emulated kind whose writes are audited.
fn prefix(kind: &str) -> Option<&'static str> {
    match kind {
        "spaces" => Some("com.qlik.core.space"),
        "space-assignments" => Some("com.qlik.core.space.assignment"),
        "space-shares" => Some("com.qlik.core.space.share"),
        _ => None,
    }
}

/// Every event type the emulator's writes emit.
fn emitted_types() -> Vec<String> {
    ["spaces", "space-assignments", "space-shares"]
        .iter()
        .filter_map(|k| prefix(k))
        .flat_map(|p| {
            [Action::Created, Action::Updated, Action::Deleted].map(|a| format!("{p}.{}", a.word()))
        })
        .collect()
}

/// One event of the log, as the spec's `GetByIDResult` shows it; nothing when the fault
/// `audit_silent` is on.
struct Event<'a> {
    event_type: String,
    source: &'a str,
    data: Value,
    extensions: Value,
}

fn insert(t: &Tenant, state: &mut State, now: DateTime<Utc>, principal: &Principal, e: Event<'_>) {
    if t.faults().audit_silent {
        return;
    }
    let id = state.new_id(IdStyle::Uuid);
    let event_id = state.new_id(IdStyle::Uuid);
    let base = t.url().trim_end_matches('/');
    let mut extensions = e.extensions;
    extensions["actor"] = json!({"sub": principal.user_id, "subType": "user"});
    let doc = json!({
        "id": id,
        "eventId": event_id,
        "eventType": e.event_type,
        "eventTypeVersion": "1.0.0",
        "eventTime": rfc3339(now),
        "source": e.source,
        "tenantId": state.tenant_id,
        "userId": principal.user_id,
        "contentType": "application/json",
        "data": e.data,
        "extensions": extensions,
        "links": {"self": {"href": format!("{base}/api/v1/audits/{id}")}},
    });
    state.insert("audits", &id, doc);
}

/// Records the event of a write to `kind` (nothing for kinds whose writes are not audited).
pub fn record(
    t: &Tenant,
    state: &mut State,
    now: DateTime<Utc>,
    principal: &Principal,
    kind: &str,
    action: Action,
    resource: &Value,
) {
    let Some(prefix) = prefix(kind) else {
        return;
    };
    let space_id = match kind {
        "spaces" => resource.get("id"),
        _ => resource.get("spaceId"),
    }
    .and_then(Value::as_str)
    .unwrap_or_default();
    let event = Event {
        event_type: format!("{prefix}.{}", action.word()),
        source: SPACES_SOURCE,
        data: resource.clone(),
        extensions: json!({"spaceId": space_id, "topLevelResourceId": space_id}),
    };
    insert(t, state, now, principal, event);
}

/// The engine's event of an app export begun (qlik.dev's apps events:
/// `com.qlik.v1.app.exported`, the app's attributes as `data.attributes`).
pub const APP_EXPORTED: &str = "com.qlik.v1.app.exported";
const ENGINE_SOURCE: &str = "com.qlik/engine";

/// Records an app's export.
pub fn record_export(
    t: &Tenant,
    state: &mut State,
    now: DateTime<Utc>,
    principal: &Principal,
    app: &Value,
) {
    let attr = |f: &str| {
        app.pointer(&format!("/attributes/{f}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let mut extensions = json!({"ownerId": attr("ownerId"), "topLevelResourceId": attr("id")});
    if !attr("spaceId").is_empty() {
        extensions["spaceId"] = json!(attr("spaceId"));
    }
    let event = Event {
        event_type: APP_EXPORTED.to_string(),
        source: ENGINE_SOURCE,
        data: json!({"attributes": app.get("attributes").cloned().unwrap_or(Value::Null)}),
        extensions,
    };
    insert(t, state, now, principal, event);
}

fn distinct(state: &State, field: &str, extra: Vec<String>) -> Vec<String> {
    let mut out: BTreeSet<String> = extra.into_iter().collect();
    if let Some(c) = state.collection("audits") {
        out.extend(
            c.values()
                .filter_map(|v| v.get(field).and_then(Value::as_str))
                .map(str::to_string),
        );
    }
    out.into_iter().collect()
}

fn objects(t: &Tenant, path: &str, data: Vec<String>) -> Response {
    let href = format!("{}{path}", t.url().trim_end_matches('/'));
    Json(json!({"data": data, "links": {"self": {"href": href}}})).into_response()
}

async fn types(
    AxState(t): AxState<Arc<Tenant>>,
    axum::Extension(_p): axum::Extension<Principal>,
) -> Response {
    let mut emitted = emitted_types();
    emitted.push(APP_EXPORTED.to_string());
    let data = distinct(&t.read(), "eventType", emitted);
    objects(&t, "/api/v1/audits/types", data)
}

async fn sources(
    AxState(t): AxState<Arc<Tenant>>,
    axum::Extension(_p): axum::Extension<Principal>,
) -> Response {
    let data = distinct(
        &t.read(),
        "source",
        vec![SPACES_SOURCE.to_string(), ENGINE_SOURCE.to_string()],
    );
    objects(&t, "/api/v1/audits/sources", data)
}

pub fn routes() -> crate::server::RouteSet {
    crate::server::RouteSet::new()
        .route("/api/v1/audits/types", axum::routing::get(types))
        .route("/api/v1/audits/sources", axum::routing::get(sources))
}

/// Whether an event's time lies in a `from/to` interval (ISO 8601, both ends inclusive).
/// An interval that does not parse matches nothing.
pub fn in_interval(event_time: &str, interval: &str) -> bool {
    let parse = |s: &str| DateTime::parse_from_rfc3339(s.trim()).ok();
    let Some((from, to)) = interval.split_once('/') else {
        return false;
    };
    match (parse(event_time), parse(from), parse(to)) {
        (Some(t), Some(f), Some(e)) => f <= t && t <= e,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_include_both_ends_and_reject_nonsense() {
        let i = "2021-07-14T18:41:15.00Z/2021-07-14T18:41:15.99Z";
        assert!(in_interval("2021-07-14T18:41:15.000Z", i));
        assert!(in_interval("2021-07-14T18:41:15.990Z", i));
        assert!(!in_interval("2021-07-14T18:41:16.000Z", i));
        assert!(!in_interval("2021-07-14T18:41:15.000Z", "yesterday"));
    }

    #[test]
    fn only_the_spaces_service_is_audited() {
        assert_eq!(emitted_types().len(), 9);
        assert!(emitted_types().contains(&"com.qlik.core.space.share.deleted".to_string()));
        assert!(prefix("apps").is_none());
    }
}
