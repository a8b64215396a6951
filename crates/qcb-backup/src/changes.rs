//! Which spaces' access changed since the parent snapshot, as the audit log tells it.
//!
//! A space's assignments and shares have no modification stamp and no bulk endpoint: reading
//! them costs two requests per space, most of an incremental run's requests in a tenant with
//! hundreds of spaces. The spaces service records every change to them in the audit log
//! (qlik.dev's spaces events: `com.qlik.core.space.assignment.created`, `…share.deleted`,
//! `com.qlik.space.updated` under the older names; every event carries the space's ID in
//! `data.spaceId` or `extensions.spaceId`). So an incremental run asks the audit log which
//! spaces had such an event since the parent snapshot began (less an hour, for events that
//! reach the log late) and takes the others' assignments and shares from the parent.
//!
//! Whenever the log cannot vouch for that, every space is read as before: the log is out of
//! reach (no audit access: 403), it lists no event type of the spaces service, the parent is
//! older than the log keeps events (90 days), or an event names no space. `--full` and "full
//! every N days" read every space too, and `run.rs` re-reads a space whose copied assignments
//! or shares name a user, group or app that is no longer there.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use qcb_qlik::{Request, TenantClient};
use serde_json::Value;

/// How long the audit log keeps events before they move to the archive (audits.json).
pub const AUDIT_RETENTION_DAYS: i64 = 90;

/// How late an event may reach the audit log after it happened: the window starts this much
/// before the parent snapshot.
pub const AUDIT_LAG: Duration = Duration::hours(1);

/// The spaces whose access changed in the window, or that every space may have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpaceChanges {
    /// Spaces named by an event.
    pub touched: HashSet<String>,
    /// The event types that were read.
    pub types: Vec<String>,
    /// Events read.
    pub events: usize,
}

impl SpaceChanges {
    pub fn unchanged(&self, space_id: &str) -> bool {
        !self.touched.contains(space_id)
    }
}

/// Whether an audit event type belongs to the spaces service: one of its dot-separated
/// segments is `space` (`com.qlik.space.assignment.created`, `com.qlik.core.space.updated`,
/// `com.qlik.v1.space.created`).
pub fn is_space_event(event_type: &str) -> bool {
    event_type.split('.').any(|s| s == "space" || s == "spaces")
}

/// The spaces an event is about: `extensions.spaceId`, `extensions.topLevelResourceId`,
/// `data.spaceId`, and `data.id` of an event about a space itself.
pub fn spaces_of(event: &Value) -> Vec<String> {
    let event_type = event
        .get("eventType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let about_space_itself = {
        let segs: Vec<&str> = event_type.split('.').collect();
        segs.iter()
            .position(|s| *s == "space")
            .is_some_and(|i| segs.len() == i + 2)
    };
    let mut pointers = vec![
        "/extensions/spaceId",
        "/extensions/topLevelResourceId",
        "/data/spaceId",
    ];
    if about_space_itself {
        pointers.push("/data/id");
    }
    let mut out: Vec<String> = pointers
        .into_iter()
        .filter_map(|p| event.pointer(p).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Reads the audit log's spaces events between `parent_started` (less `AUDIT_LAG`) and
/// `now`. `Err` says why the log cannot vouch for unchanged access (every space is then read).
pub async fn space_changes(
    client: &TenantClient,
    parent_started: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<SpaceChanges, String> {
    let from = parent_started - AUDIT_LAG;
    if now - from >= Duration::days(AUDIT_RETENTION_DAYS) {
        return Err(format!(
            "the parent snapshot is older than the {AUDIT_RETENTION_DAYS} days the audit log keeps"
        ));
    }
    let types = client
        .list_all("/api/v1/audits/types", "", "data")
        .await
        .map_err(|e| format!("the audit log's event types cannot be read: {e}"))?;
    let mut types: Vec<String> = types
        .iter()
        .filter_map(Value::as_str)
        .filter(|t| is_space_event(t))
        .map(str::to_string)
        .collect();
    types.sort();
    types.dedup();
    if types.is_empty() {
        return Err("the audit log lists no event type of the spaces service".into());
    }
    // The end lies a day ahead: a tenant clock slightly ahead of ours loses no event.
    let window = format!("{}/{}", iso(from), iso(now + Duration::days(1)));
    let mut changes = SpaceChanges {
        types: types.clone(),
        ..SpaceChanges::default()
    };
    // A quiet window fits in one page of every event: one request instead of one per type.
    let (_, first) = client
        .call_json(
            &Request::get("/api/v1/audits").query(format!("eventTime={}&limit=100", enc(&window))),
        )
        .await
        .map_err(|e| format!("the audit log cannot be read: {e}"))?;
    let more = first
        .pointer("/links/next/href")
        .and_then(Value::as_str)
        .is_some_and(|h| !h.is_empty());
    let mut batches: Vec<(String, Vec<Value>)> = Vec::new();
    if more {
        for t in &types {
            let query = format!("eventType={}&eventTime={}&limit=100", enc(t), enc(&window));
            let events = client
                .list_all("/api/v1/audits", &query, "data")
                .await
                .map_err(|e| format!("the audit log's {t} events cannot be read: {e}"))?;
            batches.push((t.clone(), events));
        }
    } else {
        let events = first
            .get("data")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        batches.push(("spaces".to_string(), events));
    }
    for (t, events) in &batches {
        for event in events.iter().filter(|e| {
            e.get("eventType")
                .and_then(Value::as_str)
                .is_some_and(is_space_event)
        }) {
            let spaces = spaces_of(event);
            if spaces.is_empty() {
                return Err(format!(
                    "a {t} event in the audit log names no space ({})",
                    event
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or("no event ID")
                ));
            }
            changes.touched.extend(spaces);
            changes.events += 1;
        }
    }
    Ok(changes)
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn space_event_types_are_told_by_their_segments() {
        for t in [
            "com.qlik.space.assignment.created",
            "com.qlik.core.space.share.deleted",
            "com.qlik.v1.space.created",
            "com.qlik.core.space.updated",
        ] {
            assert!(is_space_event(t), "{t}");
        }
        for t in [
            "com.qlik.v1.app.created",
            "com.qlik.user-session.begin",
            "com.qlik.v1.workspace.created",
            "com.qlik.spacey.thing",
        ] {
            assert!(!is_space_event(t), "{t}");
        }
    }

    #[test]
    fn events_name_their_space_wherever_they_keep_it() {
        let assignment = json!({"eventType": "com.qlik.core.space.assignment.created",
            "data": {"id": "asg", "spaceId": "s1"}, "extensions": {}});
        assert_eq!(spaces_of(&assignment), vec!["s1"]);
        let space = json!({"eventType": "com.qlik.space.deleted", "data": {"id": "s2"}});
        assert_eq!(spaces_of(&space), vec!["s2"]);
        let by_extension = json!({"eventType": "com.qlik.space.share.updated",
            "data": {"id": "share"}, "extensions": {"spaceId": "s3", "topLevelResourceId": "s3"}});
        assert_eq!(spaces_of(&by_extension), vec!["s3"]);
        // An assignment's own ID is not a space.
        let bare = json!({"eventType": "com.qlik.space.assignment.deleted", "data": {"id": "asg"}});
        assert!(spaces_of(&bare).is_empty());
    }
}
