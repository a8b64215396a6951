//! Which spaces' access changed since the parent snapshot, as the audit log tells it.
//!
//! A space's assignments and shares have no modification stamp and no bulk endpoint: reading
//! them costs two requests per space, most of an incremental run's requests in a tenant with
//! hundreds of spaces. The spaces service records every change to them in the audit log
//! (qlik.dev's spaces events: `com.qlik.core.space.assignment.created`, `…share.deleted`,
//! `com.qlik.space.updated` under the older names; their payload names the space in
//! `data.spaceId`, `extensions.spaceId` or, for a space itself, `data.id`). So an incremental
//! run asks the audit log which spaces had such an event since the parent snapshot began (less
//! an hour, for events that reach the log late) and takes the others' assignments and shares
//! from the parent. A quiet window is one page of every event; a busy one (the parent's own
//! exports fill it) is asked for the spaces service's events only: by their source
//! (`com.qlik/spaces`, one query) when `/audits/sources` lists it and the newest page shows no
//! spaces event from another source, else type by type.
//!
//! The log is trusted only once it is seen to record what happens in the tenant: the parent
//! run's app exports must be in it (here), and this run's own exports must show after the
//! newest event seen at the start (`exports_recorded_after`, asked by `run.rs`, which reads
//! every copied space again otherwise). Whenever the log cannot vouch, every space is read as
//! before: the log is out of reach (no audit access: 403), it lists no event type of the
//! spaces service, the parent is older than the log keeps events (90 days), or an event names
//! no space. `--full`, "full every N days" and a weekly whole read (`run.rs`) read every space
//! too, and `run.rs` re-reads a space whose copied assignments or shares name a user, group or
//! app that is no longer there.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use qcb_qlik::{Request, TenantClient};
use serde_json::Value;

/// How long the audit log keeps events before they move to the archive (audits.json).
pub const AUDIT_RETENTION_DAYS: i64 = 90;

/// How late an event may reach the audit log after it happened: the window starts this much
/// before the parent snapshot.
pub const AUDIT_LAG: Duration = Duration::hours(1);

/// What the audit log says of the spaces since the parent snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpaceChanges {
    /// Spaces named by an event.
    pub touched: HashSet<String>,
    /// The event types that were read.
    pub types: Vec<String>,
    /// Events read.
    pub events: usize,
    /// The log's app export event types (what `exports_recorded_after` asks for).
    pub export_types: Vec<String>,
    /// The newest event in the log when the run began, by the tenant's clock: what this run
    /// does afterwards is logged after it.
    pub newest: Option<DateTime<Utc>>,
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

/// Whether an audit event type is an app's export (`com.qlik.v1.app.exported`,
/// `com.qlik.app.exported`).
pub fn is_export_event(event_type: &str) -> bool {
    let segs: Vec<&str> = event_type.split('.').collect();
    segs.contains(&"app") && segs.last() == Some(&"exported")
}

/// What the parent run tells of the audit log.
#[derive(Debug, Clone, Copy)]
pub struct ParentRun {
    pub started: DateTime<Utc>,
    /// It exported at least one app: the log must show an export since it began.
    pub exported: bool,
    /// It found the log recording this tenant's actions (or inherited that finding).
    pub audited: bool,
}

/// Reads the audit log's spaces events between the parent's start (less `AUDIT_LAG`) and
/// `now`. `Err` says why the log cannot vouch for unchanged access (every space is then read).
///
/// A log is trusted only once it is seen to record what happens in the tenant: the apps the
/// parent run exported must have left their export events in it (qlik.dev's apps events); a
/// parent that exported nothing passes on its own finding. A log that serves only old events
/// (an audit service down, a log that is not subscribed) is never taken to say "no change".
pub async fn space_changes(
    client: &TenantClient,
    parent: ParentRun,
    now: DateTime<Utc>,
) -> Result<SpaceChanges, String> {
    let parent_started = parent.started;
    let from = parent_started - AUDIT_LAG;
    if now - from >= Duration::days(AUDIT_RETENTION_DAYS) {
        return Err(format!(
            "the parent snapshot is older than the {AUDIT_RETENTION_DAYS} days the audit log keeps"
        ));
    }
    let listed = client
        .list_all("/api/v1/audits/types", "", "data")
        .await
        .map_err(|e| format!("the audit log's event types cannot be read: {e}"))?;
    let export_types: Vec<String> = listed
        .iter()
        .filter_map(Value::as_str)
        .filter(|t| is_export_event(t))
        .map(str::to_string)
        .collect();
    let mut types: Vec<String> = listed
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
    // The end lies a day ahead: a tenant clock ahead of ours loses no event.
    let window = format!("{}/{}", iso(from), iso(now + Duration::days(1)));
    if parent.exported && export_types.is_empty() {
        return Err("the audit log lists no app export event type, so whether it records this tenant's actions cannot be checked".into());
    } else if !parent.exported && !parent.audited {
        return Err("no earlier run has seen the audit log record this tenant's actions (the last one exported no app to check it by)".into());
    }
    // A quiet window fits in one page of every event: one request instead of one per type.
    let (_, mut first) = client
        .call_json(
            &Request::get("/api/v1/audits").query(format!("eventTime={}&limit=100", enc(&window))),
        )
        .await
        .map_err(|e| format!("the audit log cannot be read: {e}"))?;
    // The list is newest first (the spec's default sort, `-eventTime`).
    let newest_page = match first.get_mut("data").map(Value::take) {
        Some(Value::Array(events)) => events,
        _ => Vec::new(),
    };
    if parent.exported {
        // The newest events often are the parent's exports; else they are asked for.
        let on_page = newest_page
            .iter()
            .any(|e| event_type(e).is_some_and(|t| export_types.iter().any(|x| x == t)));
        if !on_page && !any_export_in(client, &export_types, &window).await? {
            return Err("the audit log holds no export of the apps the last run exported, so it is not taken to record every change".into());
        }
    }
    let mut changes = SpaceChanges {
        types: types.clone(),
        export_types,
        ..SpaceChanges::default()
    };
    changes.newest = newest_page
        .first()
        .and_then(|e| e.get("eventTime"))
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let more = first
        .pointer("/links/next/href")
        .and_then(Value::as_str)
        .is_some_and(|h| !h.is_empty());
    let mut batches: Vec<(String, Vec<Value>)> = Vec::new();
    if more {
        // The spaces service's sources (`com.qlik/spaces`) when the log names them and the
        // newest page agrees that its spaces events come from them: one query each. Otherwise
        // each type on its own. Either way all at once (within the client's limiter).
        let sources = spaces_sources(client).await;
        let filters: Vec<(&str, &String)> = if sources_hold_spaces_events(&sources, &newest_page) {
            sources.iter().map(|s| ("source", s)).collect()
        } else {
            types.iter().map(|t| ("eventType", t)).collect()
        };
        let asked = futures::future::join_all(filters.into_iter().map(|(param, value)| {
            let query = format!(
                "{param}={}&eventTime={}&limit=100",
                enc(value),
                enc(&window)
            );
            async move {
                client
                    .list_all("/api/v1/audits", &query, "data")
                    .await
                    .map(|events| (value.clone(), events))
                    .map_err(|e| format!("the audit log's {value} events cannot be read: {e}"))
            }
        }))
        .await;
        for batch in asked {
            batches.push(batch?);
        }
    } else {
        batches.push(("spaces".to_string(), newest_page));
    }
    for (t, events) in &batches {
        for event in events
            .iter()
            .filter(|e| event_type(e).is_some_and(is_space_event))
        {
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

/// An event's type (`eventType`).
fn event_type(event: &Value) -> Option<&str> {
    event.get("eventType").and_then(Value::as_str)
}

/// The audit log's sources of the spaces service (`com.qlik/spaces`: a `space` or `spaces`
/// segment); none when they cannot be read.
async fn spaces_sources(client: &TenantClient) -> Vec<String> {
    let mut sources: Vec<String> = client
        .list_all("/api/v1/audits/sources", "", "data")
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .filter(|s| {
            s.split(['/', '.'])
                .any(|seg| seg == "space" || seg == "spaces")
        })
        .map(str::to_string)
        .collect();
    sources.sort();
    sources.dedup();
    sources
}

/// Whether asking `sources` finds every spaces event: there are some, and each spaces event
/// of `sample` (the newest events of the window) comes from one of them. One that does not
/// means the service logs under other names too, and each type is asked for instead.
fn sources_hold_spaces_events(sources: &[String], sample: &[Value]) -> bool {
    !sources.is_empty()
        && sample
            .iter()
            .filter(|e| event_type(e).is_some_and(is_space_event))
            .all(|e| {
                e.get("source")
                    .and_then(Value::as_str)
                    .is_some_and(|s| sources.iter().any(|t| t == s))
            })
}

/// Whether the audit log holds an app export newer than `after` (the newest event when the
/// run began, by the tenant's own clock; the run's start less `AUDIT_LAG` when the log was
/// empty): asked after a run's own exports, it says whether the log still records this
/// tenant's actions. Any failure to tell counts as "no".
pub async fn exports_recorded_after(
    client: &TenantClient,
    export_types: &[String],
    after: DateTime<Utc>,
) -> bool {
    let window = format!(
        "{}/{}",
        iso(after + Duration::milliseconds(1)),
        iso(Utc::now() + Duration::days(1))
    );
    any_export_in(client, export_types, &window)
        .await
        .unwrap_or(false)
}

/// Whether the log holds an event of one of `export_types` in `window` (`from/to`).
async fn any_export_in(
    client: &TenantClient,
    export_types: &[String],
    window: &str,
) -> Result<bool, String> {
    for t in export_types {
        let query = format!("eventType={}&eventTime={}&limit=1", enc(t), enc(window));
        let (_, page) = client
            .call_json(&Request::get("/api/v1/audits").query(query))
            .await
            .map_err(|e| format!("the audit log's {t} events cannot be read: {e}"))?;
        if page
            .get("data")
            .and_then(Value::as_array)
            .is_some_and(|d| !d.is_empty())
        {
            return Ok(true);
        }
    }
    Ok(false)
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
    fn sources_are_asked_only_when_every_sampled_spaces_event_comes_from_them() {
        let spaces = vec!["com.qlik/spaces".to_string()];
        let event = |t: &str, source: &str| json!({"eventType": t, "source": source});
        let sample = [
            event("com.qlik.v1.app.exported", "com.qlik/engine"),
            event("com.qlik.core.space.assignment.created", "com.qlik/spaces"),
        ];
        assert!(sources_hold_spaces_events(&spaces, &sample));
        assert!(
            sources_hold_spaces_events(&spaces, &[]),
            "nothing against them"
        );
        assert!(
            !sources_hold_spaces_events(&[], &sample),
            "no spaces source listed"
        );
        let elsewhere = [
            sample[1].clone(),
            event("com.qlik.space.updated", "com.qlik/collaboration"),
        ];
        assert!(!sources_hold_spaces_events(&spaces, &elsewhere));
        let unnamed = [json!({"eventType": "com.qlik.core.space.deleted"})];
        assert!(!sources_hold_spaces_events(&spaces, &unnamed));
    }

    #[test]
    fn export_events_are_told_by_their_segments() {
        assert!(is_export_event("com.qlik.v1.app.exported"));
        assert!(is_export_event("com.qlik.app.exported"));
        assert!(!is_export_event("com.qlik.v1.app.created"));
        assert!(!is_export_event("com.qlik.v1.glossary.exported"));
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
