//! Anomalies between two consecutive snapshots of a tenant: a kind's count dropping sharply, an
//! identity provider or tenant security setting changed, space assignments removed in bulk.
//! Detection is a pure function over the two manifests and a document reader, so it is tested
//! without a repository; [`detect_in_repo`] wires it to one.

use std::collections::{BTreeMap, BTreeSet};

use qcb_backup::{Item, ItemStatus, Manifest};
use qcb_repo::{Repo, RepoError, SnapshotInfo};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What kind of anomaly was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// A component kind's count dropped by more than the threshold.
    CountDrop,
    /// The number of apps dropped by more than the apps threshold.
    AppDrop,
    /// An identity provider was added, removed or changed.
    IdentityProviderChanged,
    /// A tenant security setting (auth settings, IP policies, tenant.json) changed.
    SecuritySettingChanged,
    /// Many space assignments were removed at once.
    AssignmentsRemoved,
}

/// One anomaly. Messages name what changed and where, never a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    /// What it is about: a component kind, a document path, a space.
    pub subject: String,
    /// One line for a person.
    pub message: String,
    /// The count before and after, where the anomaly is about counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
}

/// When a difference between two snapshots is an anomaly (`[tenants.anomaly]` in `qcb.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// A kind whose count drops by more than this percentage (apps excepted).
    pub count_drop_percent: f64,
    /// Apps whose count drops by more than this percentage.
    pub app_drop_percent: f64,
    /// A drop is only reported when at least this many items are gone (1: any drop past the
    /// percentage). Raise it to quiet small kinds, where one deletion is a large share.
    pub count_drop_min: u64,
    /// Space assignments removed in one run, across all spaces, from this many on.
    pub assignments_removed: u64,
    /// Report identity providers and tenant security settings that changed.
    pub security_changes: bool,
    /// The kinds whose documents are security settings: a change to one is an anomaly.
    pub security_kinds: Vec<String>,
}

/// The kind holding identity providers.
pub const IDENTITY_PROVIDERS: &str = "identity-providers";

/// The default of [`Thresholds::security_kinds`].
pub const SECURITY_KINDS: &[&str] = &["auth-settings", "ip-policies", "tenant", "api-keys-config"];

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            count_drop_percent: 10.0,
            app_drop_percent: 10.0,
            count_drop_min: 1,
            assignments_removed: 10,
            security_changes: true,
            security_kinds: SECURITY_KINDS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// Which of the two snapshots a document is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Previous,
    Current,
}

/// Why anomalies could not be looked for.
#[derive(Debug, thiserror::Error)]
pub enum AnomalyError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("the manifest of snapshot {snapshot} cannot be read: {source}")]
    Manifest {
        snapshot: String,
        #[source]
        source: qcb_backup::ManifestError,
    },
    #[error("`{path}` in the {side:?} snapshot is not valid JSON: {reason}")]
    Document {
        side: Side,
        path: String,
        reason: String,
    },
}

/// Reads a stored JSON document of one of the two snapshots; `None` when it is not there.
pub trait DocumentReader {
    fn read(&mut self, side: Side, path: &str) -> Result<Option<Value>, AnomalyError>;
}

impl<F> DocumentReader for F
where
    F: FnMut(Side, &str) -> Result<Option<Value>, AnomalyError>,
{
    fn read(&mut self, side: Side, path: &str) -> Result<Option<Value>, AnomalyError> {
        self(side, path)
    }
}

/// Fields that change on their own (timestamps, links) and say nothing about security.
const VOLATILE: &[&str] = &[
    "updatedAt",
    "updated",
    "modifiedAt",
    "modified",
    "modifiedDate",
    "lastModified",
    "lastUpdated",
    "lastUpdatedAt",
    "lastModifiedDate",
    "links",
];

/// The anomalies between two consecutive snapshots of a tenant.
pub fn detect(
    previous: &Manifest,
    current: &Manifest,
    thresholds: &Thresholds,
    docs: &mut impl DocumentReader,
) -> Result<Vec<Anomaly>, AnomalyError> {
    let mut out = count_drops(previous, current, thresholds);
    if thresholds.security_changes {
        out.extend(security_changes(previous, current, thresholds, docs)?);
    }
    if thresholds.assignments_removed > 0 {
        out.extend(assignments_removed(previous, current, thresholds, docs)?);
    }
    Ok(out)
}

/// Compares two snapshots in a repository, given their manifests (see [`read_manifest`]).
/// `previous` is the snapshot of the same tenant before `current` (see [`previous_snapshot`]).
/// Blocking: it reads documents from the repository.
pub fn detect_in_repo(
    repo: &Repo,
    previous: &SnapshotInfo,
    current: &SnapshotInfo,
    previous_manifest: &Manifest,
    current_manifest: &Manifest,
    thresholds: &Thresholds,
) -> Result<Vec<Anomaly>, AnomalyError> {
    let mut reader = |side: Side, path: &str| -> Result<Option<Value>, AnomalyError> {
        let snap = match side {
            Side::Previous => previous,
            Side::Current => current,
        };
        let mut bytes = Vec::new();
        match repo.cat(snap, path, &mut bytes) {
            Ok(_) => {}
            Err(RepoError::PathNotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| AnomalyError::Document {
                side,
                path: path.to_string(),
                reason: e.to_string(),
            })
    };
    detect(previous_manifest, current_manifest, thresholds, &mut reader)
}

/// The manifest stored in a snapshot, with its `snapshot` field filled in. Blocking.
pub fn read_manifest(repo: &Repo, snap: &SnapshotInfo) -> Result<Manifest, AnomalyError> {
    let mut bytes = Vec::new();
    repo.cat(snap, "manifest.json", &mut bytes)?;
    let mut m = Manifest::from_slice(&bytes).map_err(|source| AnomalyError::Manifest {
        snapshot: snap.short_id.clone(),
        source,
    })?;
    m.snapshot = snap.id.to_string();
    Ok(m)
}

/// The qcb snapshot of the same tenant just before `current`, if there is one. Blocking.
pub fn previous_snapshot(
    repo: &Repo,
    current: &SnapshotInfo,
) -> Result<Option<SnapshotInfo>, RepoError> {
    let snaps = repo.snapshots()?;
    Ok(snaps.into_iter().rfind(|s| {
        s.is_qcb() && s.host == current.host && s.id != current.id && s.time < current.time
    }))
}

/// How many items of each kind a manifest holds, and the kinds that could not be listed at
/// all this run (a failed item without an ID), whose count says nothing.
fn present(m: &Manifest) -> (BTreeMap<&str, u64>, BTreeSet<&str>) {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut unlisted = BTreeSet::new();
    for i in &m.items {
        match i.status {
            ItemStatus::Skipped => {}
            ItemStatus::Failed if i.id.is_empty() => {
                unlisted.insert(i.kind.as_str());
            }
            _ => *counts.entry(i.kind.as_str()).or_default() += 1,
        }
    }
    (counts, unlisted)
}

fn count_drops(previous: &Manifest, current: &Manifest, t: &Thresholds) -> Vec<Anomaly> {
    let (prev, _) = present(previous);
    let (cur, unlisted) = present(current);
    let mut out = Vec::new();
    for (kind, &before) in &prev {
        if unlisted.contains(kind) || before == 0 {
            continue;
        }
        let after = cur.get(kind).copied().unwrap_or(0);
        if after >= before {
            continue;
        }
        let gone = before - after;
        let percent = gone as f64 * 100.0 / before as f64;
        let (anomaly, limit) = if *kind == "apps" {
            (AnomalyKind::AppDrop, t.app_drop_percent)
        } else {
            (AnomalyKind::CountDrop, t.count_drop_percent)
        };
        if percent <= limit || gone < t.count_drop_min {
            continue;
        }
        out.push(Anomaly {
            kind: anomaly,
            subject: kind.to_string(),
            message: format!(
                "{kind}: {before} → {after} ({gone} gone, -{percent:.0}%, threshold {limit}%)"
            ),
            previous: Some(before),
            current: Some(after),
        });
    }
    out
}

/// Items of a kind by ID, those with a stored document only.
fn stored<'a>(m: &'a Manifest, kind: &str) -> BTreeMap<&'a str, &'a Item> {
    m.items
        .iter()
        .filter(|i| i.kind == kind && !i.path.is_empty() && i.status != ItemStatus::Failed)
        .map(|i| (i.id.as_str(), i))
        .collect()
}

fn label(i: &Item) -> String {
    if i.name.is_empty() || i.name == i.id {
        i.id.clone()
    } else {
        format!("{} ({})", i.name, i.id)
    }
}

fn security_changes(
    previous: &Manifest,
    current: &Manifest,
    t: &Thresholds,
    docs: &mut impl DocumentReader,
) -> Result<Vec<Anomaly>, AnomalyError> {
    let mut kinds: Vec<&str> = vec![IDENTITY_PROVIDERS];
    kinds.extend(t.security_kinds.iter().map(String::as_str));
    let mut out = Vec::new();
    // A kind that failed to list this run is reported as a failure, not as everything removed.
    let (_, unlisted) = present(current);
    for kind in kinds {
        let (anomaly, what) = if kind == IDENTITY_PROVIDERS {
            (AnomalyKind::IdentityProviderChanged, "identity provider")
        } else {
            (AnomalyKind::SecuritySettingChanged, "security setting")
        };
        let before = stored(previous, kind);
        let after = stored(current, kind);
        let failed_now: BTreeSet<&str> = current
            .items
            .iter()
            .filter(|i| i.kind == kind && i.status == ItemStatus::Failed)
            .map(|i| i.id.as_str())
            .collect();
        for (id, item) in &before {
            if !after.contains_key(id) && !unlisted.contains(kind) && !failed_now.contains(id) {
                out.push(Anomaly {
                    kind: anomaly,
                    subject: item.path.clone(),
                    message: format!("{what} removed: {kind} {}", label(item)),
                    previous: None,
                    current: None,
                });
            }
        }
        for (id, item) in &after {
            let Some(old) = before.get(id) else {
                // A kind seen for the first time is a new backup, not a change.
                if !before.is_empty() || kind == IDENTITY_PROVIDERS {
                    out.push(Anomaly {
                        kind: anomaly,
                        subject: item.path.clone(),
                        message: format!("{what} added: {kind} {}", label(item)),
                        previous: None,
                        current: None,
                    });
                }
                continue;
            };
            let (Some(a), Some(b)) = (
                docs.read(Side::Previous, &old.path)?,
                docs.read(Side::Current, &item.path)?,
            ) else {
                continue;
            };
            let mut changed = Vec::new();
            diff(&a, &b, String::new(), &mut changed);
            if changed.is_empty() {
                continue;
            }
            let shown: Vec<&str> = changed.iter().take(8).map(String::as_str).collect();
            let more = if changed.len() > shown.len() {
                format!(" and {} more", changed.len() - shown.len())
            } else {
                String::new()
            };
            out.push(Anomaly {
                kind: anomaly,
                subject: item.path.clone(),
                message: format!(
                    "{what} changed: {kind} {}: {}{more}",
                    label(item),
                    shown.join(", ")
                ),
                previous: None,
                current: None,
            });
        }
    }
    Ok(out)
}

/// The JSON pointers where two documents differ, ignoring volatile fields. Values are never
/// kept: a changed field may be a secret.
fn diff(a: &Value, b: &Value, at: String, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                if VOLATILE.contains(&k.as_str()) {
                    continue;
                }
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (x.get(k), y.get(k)) {
                    (Some(v), Some(w)) => diff(v, w, p, out),
                    _ => out.push(p),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                diff(v, w, format!("{at}/{i}"), out);
            }
        }
        _ if a != b => out.push(if at.is_empty() { "/".to_string() } else { at }),
        _ => {}
    }
}

/// The identity of an assignment: its ID, or who it assigns and their type.
fn assignment_keys(doc: &Value) -> BTreeSet<String> {
    let Some(list) = doc.get("assignments").and_then(Value::as_array) else {
        return BTreeSet::new();
    };
    list.iter()
        .map(|a| match a.get("id").and_then(Value::as_str) {
            Some(id) => id.to_string(),
            None => format!(
                "{}:{}",
                a.get("type").and_then(Value::as_str).unwrap_or(""),
                a.get("assigneeId").and_then(Value::as_str).unwrap_or("")
            ),
        })
        .collect()
}

fn assignments_removed(
    previous: &Manifest,
    current: &Manifest,
    t: &Thresholds,
    docs: &mut impl DocumentReader,
) -> Result<Vec<Anomaly>, AnomalyError> {
    let (_, unlisted) = present(current);
    if unlisted.contains("spaces") {
        return Ok(Vec::new());
    }
    let before = stored(previous, "spaces");
    let after = stored(current, "spaces");
    let failed_now: BTreeSet<&str> = current
        .items
        .iter()
        .filter(|i| i.kind == "spaces" && i.status == ItemStatus::Failed)
        .map(|i| i.id.as_str())
        .collect();
    let mut per_space: Vec<(String, u64)> = Vec::new();
    for (id, old) in &before {
        if failed_now.contains(id) {
            continue;
        }
        // Every space is read on both sides: the same size says nothing (N assignees swapped
        // for N others with IDs of the same length keep it).
        let new = after.get(id);
        let Some(a) = docs.read(Side::Previous, &old.path)? else {
            continue;
        };
        let was = assignment_keys(&a);
        let is = match new {
            Some(n) => match docs.read(Side::Current, &n.path)? {
                Some(b) => assignment_keys(&b),
                None => continue,
            },
            None => BTreeSet::new(),
        };
        let gone = was.difference(&is).count() as u64;
        if gone > 0 {
            let what = if new.is_some() {
                label(old)
            } else {
                format!("{} (space deleted)", label(old))
            };
            per_space.push((what, gone));
        }
    }
    let total: u64 = per_space.iter().map(|(_, n)| n).sum();
    if total < t.assignments_removed {
        return Ok(Vec::new());
    }
    per_space.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let shown: Vec<String> = per_space
        .iter()
        .take(5)
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    let more = if per_space.len() > shown.len() {
        format!(" and {} more spaces", per_space.len() - shown.len())
    } else {
        String::new()
    };
    Ok(vec![Anomaly {
        kind: AnomalyKind::AssignmentsRemoved,
        subject: "spaces".to_string(),
        message: format!(
            "{total} space assignments removed in {} space{} (threshold {}): {}{more}",
            per_space.len(),
            if per_space.len() == 1 { "" } else { "s" },
            t.assignments_removed,
            shown.join("; ")
        ),
        previous: None,
        current: Some(total),
    }])
}
