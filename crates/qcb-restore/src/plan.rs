//! The plan: every action a restore would take, in dependency order, decided against what
//! the target tenant holds now — create (missing), update (a setting that differs), skip
//! (already identical), conflict (exists and differs), manual (a person must do it). Making
//! a plan reads the target and writes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use qcb_catalog::redact::is_marker;
use qcb_catalog::{spec, ComponentKind, Restore, Source};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::RestoreError;
use crate::ids::IdMap;
use crate::inputs::TenantMap;
use crate::snapshot::{Entry, SnapshotData};
use crate::target::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Skip,
    Conflict,
    Manual,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Skip => "skip",
            Action::Conflict => "conflict",
            Action::Manual => "manual",
        }
    }
}

/// One action of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub kind: String,
    /// The item's ID in the snapshot.
    pub id: String,
    pub name: String,
    pub action: Action,
    /// The target's matching item, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing: Option<String>,
    pub reason: String,
    /// Index into the snapshot's entries.
    #[serde(skip)]
    pub entry: usize,
}

/// A reference to a user, group or space that is neither in the target nor restored.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unmapped {
    pub kind: String,
    pub id: String,
    /// What the snapshot knows of it (a user's subject, a space's name).
    pub label: String,
    /// Who refers to it: `<kind> <name>`.
    pub referenced_by: Vec<String>,
}

impl Unmapped {
    /// One line saying what is unmapped, who refers to it and what to do.
    pub fn describe(&self) -> String {
        format!(
            "unmapped {} {} ({}), referenced by {}: map it with --map, or it is left out (owners go to --fallback-owner, else to the restorer)",
            self.kind,
            self.id,
            self.label,
            self.referenced_by.join(", ")
        )
    }
}

/// The user who owns what is restored when its original owner is not in the target.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FallbackOwner {
    /// The target user's ID.
    pub id: String,
    /// As the user gave it (ID, subject or e-mail).
    pub given: String,
}

/// `--fallback-owner` looked up among the target's users (by ID, subject or e-mail).
pub fn fallback_owner(target: &Target, given: &str) -> Result<FallbackOwner, RestoreError> {
    target
        .find_user(given)
        .and_then(|u| u["id"].as_str())
        .filter(|id| !id.is_empty())
        .map(|id| FallbackOwner {
            id: id.to_string(),
            given: given.to_string(),
        })
        .ok_or_else(|| RestoreError::FallbackOwner {
            given: given.to_string(),
            tenant: target.url.clone(),
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// Leave the existing item as it is (the default).
    #[default]
    Skip,
    /// Create the snapshot's item beside it under a new name.
    Rename,
    /// Overwrite the existing item where the API allows it.
    Replace,
}

/// What to restore.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only these kinds (catalog names); all when empty.
    pub only: Vec<String>,
    /// Only items with these IDs (snapshot IDs).
    pub ids: Vec<String>,
    /// Only items in these spaces (names or IDs), and the spaces themselves.
    pub spaces: Vec<String>,
    /// Only items whose name matches one of these globs (`*`, `?`).
    pub names: Vec<String>,
    /// Do not add what the selected items cannot work without.
    pub no_deps: bool,
}

impl Selection {
    fn is_narrowed(&self) -> bool {
        !self.ids.is_empty() || !self.spaces.is_empty() || !self.names.is_empty()
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.only.is_empty() {
            parts.push(format!("--only {}", self.only.join(",")));
        }
        if !self.ids.is_empty() {
            parts.push(format!("--id {}", self.ids.join(",")));
        }
        if !self.spaces.is_empty() {
            parts.push(format!("--space {}", self.spaces.join(",")));
        }
        if !self.names.is_empty() {
            parts.push(format!("--name {}", self.names.join(",")));
        }
        if parts.is_empty() {
            "everything".into()
        } else {
            parts.join(" ")
        }
    }
}

/// The plan of a restore.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub snapshot: String,
    pub source_tenant: String,
    pub target_tenant: String,
    pub steps: Vec<Step>,
    pub unmapped: Vec<Unmapped>,
    /// Kinds the snapshot has but the target does not offer to this identity.
    pub unavailable: BTreeMap<String, String>,
    /// Who owns restored items whose owner is not in the target (`--fallback-owner`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_owner: Option<FallbackOwner>,
    /// Matches known before writing (existing items, the map file, same subjects/names).
    #[serde(skip)]
    pub map: IdMap,
}

impl Plan {
    pub fn count(&self, action: Action) -> usize {
        self.steps.iter().filter(|s| s.action == action).count()
    }

    /// The plan as a table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "restore plan: snapshot {} of {} into {}\n{:<24} {:<9} {:<38} {}\n",
            self.snapshot, self.source_tenant, self.target_tenant, "kind", "action", "name", "why"
        );
        for s in &self.steps {
            let name: String = s.name.chars().take(38).collect();
            out.push_str(&format!(
                "{:<24} {:<9} {:<38} {}\n",
                s.kind,
                s.action.as_str(),
                name,
                s.reason
            ));
        }
        out.push_str(&format!(
            "{} to create, {} to update, {} identical (skip), {} conflicts, {} manual\n",
            self.count(Action::Create),
            self.count(Action::Update),
            self.count(Action::Skip),
            self.count(Action::Conflict),
            self.count(Action::Manual)
        ));
        for u in &self.unmapped {
            out.push_str(&u.describe());
            out.push('\n');
        }
        if let Some(f) = &self.fallback_owner {
            out.push_str(&format!(
                "owners not in the target: their items go to {} ({}), each listed in the report\n",
                f.given, f.id
            ));
        }
        for (k, why) in &self.unavailable {
            out.push_str(&format!("not offered by the target: {k}: {why}\n"));
        }
        out
    }
}

/// Where a kind's items are created (POST), when it has a plain create.
pub fn create_path(k: &ComponentKind) -> Option<&'static str> {
    match k.source {
        Source::List { path, .. } => spec::request_fields("POST", path).map(|_| path),
        Source::Singleton { .. } => None,
    }
}

/// The fields a create of this kind sends (the spec's request schema), if known.
pub fn create_fields(k: &ComponentKind) -> Option<&'static [&'static str]> {
    create_path(k)
        .and_then(|p| spec::request_fields("POST", p))
        .map(|(f, _)| f)
}

/// Removes redaction markers (and the fields holding them) from a document.
pub fn strip_markers(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !is_marker(x));
            m.values_mut().for_each(strip_markers);
        }
        Value::Array(a) => {
            a.retain(|x| !is_marker(x));
            a.iter_mut().for_each(strip_markers);
        }
        _ => {}
    }
}

/// The fields of `doc` that a write of this kind carries, markers removed.
pub fn project(doc: &Value, fields: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(m) = doc.as_object() {
        for f in fields {
            if let Some(v) = m.get(*f) {
                if !is_marker(v) {
                    let mut v = v.clone();
                    strip_markers(&mut v);
                    out.insert((*f).to_string(), v);
                }
            }
        }
    }
    out
}

/// The top-level fields where `want` (the snapshot's) and `have` (the target's) differ,
/// among those `want` has.
pub fn differences(want: &Map<String, Value>, have: &Value) -> Vec<String> {
    want.iter()
        .filter(|(k, v)| {
            let h = have.get(k.as_str());
            !(h == Some(v) || (h.is_none() && (v.is_null() || *v == &Value::String(String::new()))))
        })
        .map(|(k, _)| k.clone())
        .collect()
}

fn key_of(k: &ComponentKind, doc: &Value) -> Option<String> {
    if k.match_on.is_empty() {
        return doc
            .pointer(&format!("/{}", k.name_field))
            .map(|v| v.to_string())
            .filter(|s| s != "null" && s != "\"\"");
    }
    let pointers = k.match_on;
    let parts: Vec<String> = pointers
        .iter()
        .map(|p| match doc.pointer(p) {
            None | Some(Value::Null) => "\"\"".to_string(),
            Some(v) => v.to_string(),
        })
        .collect();
    (!parts.iter().all(|p| p == "\"\"")).then(|| parts.join("\u{1f}"))
}

fn app_key(name: &str, space: &str) -> String {
    format!("{name}\u{1f}{space}")
}

fn time_of(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Why `--on-conflict replace` leaves an app alone, said in the plan of every app conflict.
pub const APP_REPLACE: &str = "--on-conflict replace cannot overwrite an app (Qlik's import always makes a new app; its AUTOREPLACE mode is internal only): use --on-conflict rename to bring the snapshot's beside it, or delete the target's app and restore again";

/// How an app of the snapshot matches the target's apps of the same name and space.
///
/// An import stamps a new app ID and new times, so an app this snapshot's restore made
/// earlier cannot be told by its modification time. It is told by what the restore sets and
/// the import keeps (name, space, description, usage) and by having been created after the
/// backup began: an older app of that name in that space is someone else's and a conflict.
/// The original app itself (same ID: a restore into the same tenant) is identical only while
/// its modification time is the snapshot's.
fn match_app<'v>(
    e: &Entry,
    candidates: &[&'v Value],
    backup_started: DateTime<Utc>,
) -> (&'v Value, Action, String) {
    let stamp = e
        .doc
        .pointer("/item/resourceUpdatedAt")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    if let Some(same) = candidates
        .iter()
        .copied()
        .find(|d| stamp.is_some() && d["updatedAt"].as_str() == stamp)
    {
        return (
            same,
            Action::Skip,
            "identical (same name, space and modification time)".into(),
        );
    }
    if let Some(original) = candidates
        .iter()
        .copied()
        .find(|d| d["id"].as_str() == Some(e.id.as_str()))
    {
        return (
            original,
            Action::Conflict,
            format!(
                "the app was changed after the snapshot (modified {}, the snapshot's {}); its content is not compared. {APP_REPLACE}",
                original["updatedAt"].as_str().unwrap_or("?"),
                stamp.unwrap_or("?")
            ),
        );
    }
    let differing = |d: &Value| -> Vec<&'static str> {
        ["description", "usage"]
            .into_iter()
            .filter(|f| {
                let want = e.str_at(&format!("/{f}"));
                // A field the target's listing does not carry is not compared.
                d[*f].as_str().is_some_and(|have| have != want)
            })
            .collect()
    };
    let created_after = |d: &Value| {
        d["createdAt"]
            .as_str()
            .and_then(time_of)
            .is_some_and(|created| created >= backup_started)
    };
    if let Some(restored) = candidates
        .iter()
        .copied()
        .find(|d| differing(d).is_empty() && created_after(d))
    {
        return (
            restored,
            Action::Skip,
            "restored from this snapshot before (same name, space, description and usage, created after the backup); its content is not compared".into(),
        );
    }
    let first = candidates[0];
    let diff = differing(first);
    let why = if diff.is_empty() {
        "an app of that name is in that space; its content is not compared".to_string()
    } else {
        format!(
            "an app of that name is in that space and differs: {}",
            diff.join(", ")
        )
    };
    (first, Action::Conflict, format!("{why}. {APP_REPLACE}"))
}

/// Whether a name matches a glob of `*` and `?`.
pub fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b) && go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// Kinds a selected item pulls in when it refers to one of theirs.
const PULLED: &[&str] = &[
    "spaces",
    "apps",
    "data-connections",
    "report-templates",
    "scheduling-tasks",
    "automation-connections",
    "themes",
    "extensions",
    "glossaries",
    "collections",
];

/// The entries a selection picks, with what they cannot work without.
pub fn select(data: &SnapshotData, sel: &Selection) -> Result<Vec<usize>, RestoreError> {
    for k in &sel.only {
        if qcb_catalog::kind(k).is_none() {
            return Err(RestoreError::UnknownKind(k.clone()));
        }
    }
    let space_names: HashMap<&str, &str> = data
        .entries
        .iter()
        .filter(|e| e.kind.name == "spaces")
        .map(|e| (e.id.as_str(), e.name.as_str()))
        .collect();
    let in_space = |e: &Entry, wanted: &str| -> bool {
        if e.kind.name == "spaces" {
            return e.id == wanted || e.name == wanted;
        }
        ["/spaceId", "/space", "/metadata/spaceId"].iter().any(|p| {
            let s = e.str_at(p);
            !s.is_empty() && (s == wanted || space_names.get(s) == Some(&wanted))
        })
    };
    let mut picked: Vec<usize> = Vec::new();
    for (i, e) in data.entries.iter().enumerate() {
        if !sel.only.is_empty() && !sel.only.iter().any(|k| k == e.kind.name) {
            continue;
        }
        if sel.is_narrowed() {
            let by_id = sel.ids.contains(&e.id);
            let by_space = !sel.spaces.is_empty() && sel.spaces.iter().any(|s| in_space(e, s));
            let by_name = !sel.names.is_empty() && sel.names.iter().any(|g| glob(g, &e.name));
            let ok = (sel.ids.is_empty() || by_id)
                && (sel.spaces.is_empty() || by_space)
                && (sel.names.is_empty() || by_name);
            if !ok {
                continue;
            }
        }
        picked.push(i);
    }
    if picked.is_empty() {
        return Err(RestoreError::EmptySelection {
            snapshot: data.info.short_id.clone(),
            selection: sel.describe(),
        });
    }
    if !sel.no_deps {
        let by_id: HashMap<&str, usize> = data
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| PULLED.contains(&e.kind.name) && e.id.len() >= 16)
            .map(|(i, e)| (e.id.as_str(), i))
            .collect();
        let mut seen: HashSet<usize> = picked.iter().copied().collect();
        let mut queue = picked.clone();
        while let Some(i) = queue.pop() {
            let mut ids = Vec::new();
            crate::ids::ids_in(data.entries[i].attrs(), &mut ids);
            for id in ids {
                if let Some(&j) = by_id.get(id.as_str()) {
                    // A collection does not pull its members' apps along, nor an app its
                    // collections: only what an item cannot work without.
                    if data.entries[j].kind.name == "collections" {
                        continue;
                    }
                    if seen.insert(j) {
                        picked.push(j);
                        queue.push(j);
                    }
                }
            }
        }
    }
    // Restore order: the catalog's order of kinds, the snapshot's order within a kind.
    let order: HashMap<&str, usize> = qcb_catalog::all()
        .iter()
        .enumerate()
        .map(|(i, k)| (k.name, i))
        .collect();
    picked.sort_by_key(|&i| (order.get(data.entries[i].kind.name).copied(), i));
    picked.dedup();
    Ok(picked)
}

/// Matches known before anything is written: the map file, then the same subject (users),
/// name (groups, roles) or name and type (spaces) in the target.
pub fn premap(
    data: &SnapshotData,
    target: &Target,
    tmap: &TenantMap,
    map_file: &str,
) -> Result<IdMap, RestoreError> {
    let mut map = IdMap::default();
    map.insert("tenant", &data.manifest.tenant.id, &target.tenant_id);
    let err = |detail: String| RestoreError::Map {
        file: map_file.to_string(),
        detail,
    };
    fn entries<'d>(data: &'d SnapshotData, kind: &'d str) -> impl Iterator<Item = &'d Entry> {
        data.entries.iter().filter(move |e| e.kind.name == kind)
    }
    for (old, new) in &tmap.users {
        let src = entries(data, "users")
            .find(|e| e.id == *old || e.str_at("/subject") == old || e.str_at("/email") == old)
            .ok_or_else(|| err(format!("user '{old}' is not in the snapshot")))?;
        let dst = target.find_user(new).ok_or_else(|| {
            err(format!(
                "user '{new}' (for '{old}') does not exist in the target tenant; create or invite it first, or map '{old}' to an existing user"
            ))
        })?;
        map.insert("users", &src.id, dst["id"].as_str().unwrap_or_default());
    }
    for (kind, pairs) in [("groups", &tmap.groups), ("spaces", &tmap.spaces)] {
        for (old, new) in pairs {
            let src = entries(data, kind)
                .find(|e| e.id == *old || e.name == *old)
                .ok_or_else(|| err(format!("{kind} '{old}' is not in the snapshot")))?;
            let dst = target.find_named(kind, new).ok_or_else(|| {
                err(format!(
                    "{kind} '{new}' (for '{old}') does not exist in the target tenant"
                ))
            })?;
            map.insert(kind, &src.id, dst["id"].as_str().unwrap_or_default());
        }
    }
    for e in &data.entries {
        if map.contains(&e.id) {
            continue;
        }
        let found = match e.kind.name {
            "users" => target
                .items("users")
                .iter()
                .find(|u| u["subject"].as_str() == Some(e.str_at("/subject"))),
            "groups" | "roles" => target
                .items(e.kind.name)
                .iter()
                .find(|g| g["name"].as_str() == Some(e.str_at("/name"))),
            "spaces" => target.items("spaces").iter().find(|s| {
                s["name"].as_str() == Some(e.str_at("/name"))
                    && s["type"].as_str() == Some(e.str_at("/type"))
            }),
            _ => None,
        };
        if let Some(id) = found.and_then(|f| f["id"].as_str()) {
            map.insert(e.kind.name, &e.id, id);
        }
    }
    Ok(map)
}

/// Computes the plan for the selected entries.
pub fn plan(data: &SnapshotData, selected: &[usize], target: &Target, mut map: IdMap) -> Plan {
    let mut steps = Vec::new();
    // Target items by key, per kind.
    // Several items may share a key (two tasks of one name): each is matched once.
    let mut index: HashMap<&str, HashMap<String, Vec<&Value>>> = HashMap::new();
    let mut taken: HashSet<(&str, String)> = HashSet::new();
    for (kind, docs) in &target.docs {
        let Some(k) = qcb_catalog::kind(kind) else {
            continue;
        };
        let m = index.entry(kind).or_default();
        for d in docs {
            let key = if k.name == "apps" {
                Some(app_key(
                    d["name"].as_str().unwrap_or_default(),
                    d["spaceId"].as_str().unwrap_or_default(),
                ))
            } else {
                key_of(k, d)
            };
            if let Some(key) = key {
                m.entry(key).or_default().push(d);
            }
        }
    }
    let selected_ids: HashSet<&str> = selected
        .iter()
        .map(|&i| data.entries[i].id.as_str())
        .collect();
    let backup_started = time_of(&data.manifest.started_at).unwrap_or(data.info.time);
    for &i in selected {
        let e = &data.entries[i];
        let k = e.kind;
        let step = |action: Action, existing: Option<String>, reason: String| Step {
            kind: k.name.to_string(),
            id: e.id.clone(),
            name: e.name.clone(),
            action,
            existing,
            reason,
            entry: i,
        };
        if let Some(why) = target.unavailable.get(k.name) {
            steps.push(step(
                Action::Manual,
                None,
                format!("the target does not offer this kind to this identity ({why})"),
            ));
            continue;
        }
        if k.name == "data-connections" && e.str_at("/qType") == "qix-datafiles.exe" {
            steps.push(step(
                Action::Skip,
                None,
                "Qlik makes a space's DataFiles connection with the space".into(),
            ));
            continue;
        }
        if k.name == "data-connections" && e.str_at("/space").is_empty() {
            let owner = e.str_at("/user");
            let mine = map.get(owner) == Some(target.me.as_str());
            if !mine && !owner.is_empty() {
                steps.push(step(
                    Action::Manual,
                    None,
                    format!("a personal data connection of user {owner}: only that user can make it again (Qlik has no API to create one in another user's personal space)"),
                ));
                continue;
            }
        }
        if let Some(manual) = manual_reason(e) {
            steps.push(step(Action::Manual, None, manual));
            continue;
        }
        // Singletons: the setting differs or it does not.
        if let Source::Singleton { path } = k.source {
            let have = target.items(k.name).first().cloned().unwrap_or(Value::Null);
            let fields = singleton_fields(k, path);
            let mut want_doc = e.doc.clone();
            map.rewrite(&mut want_doc);
            let want = project(&want_doc, &fields);
            // Compared as the restore would write it: a setting never configured in the
            // target is written whole (PUT, e.g. an e-mail server's `providerConfig`), whose
            // fields are not the PATCH fields the target then still shows empty.
            let diff = if singleton_by_put(k, path, &want, &have) {
                let write_path = singleton_write_path(k, path);
                strip_markers(&mut want_doc);
                let want = match spec::shape_request("PUT", &write_path, &want_doc) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                differences(&want, &spec::shape_request("PUT", &write_path, &have))
            } else {
                differences(&want, &have)
            };
            steps.push(if diff.is_empty() {
                step(Action::Skip, None, "identical".into())
            } else {
                step(
                    Action::Update,
                    None,
                    format!("differs: {}", diff.join(", ")),
                )
            });
            continue;
        }
        let mut doc = e.attrs().clone();
        map.rewrite(&mut doc);
        let key = if k.name == "apps" {
            Some(app_key(
                doc["name"].as_str().unwrap_or_default(),
                doc["spaceId"].as_str().unwrap_or_default(),
            ))
        } else {
            key_of(k, &doc)
        };
        let id_field = if k.name == "apps" { "id" } else { k.id_field };
        let target_id = |d: &Value| {
            d.get(id_field)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let candidates: Vec<&Value> = key
            .as_ref()
            .and_then(|key| index.get(k.name).and_then(|m| m.get(key)))
            .map(|c| {
                c.iter()
                    .copied()
                    .filter(|d| !taken.contains(&(k.name, target_id(d))))
                    .collect()
            })
            .unwrap_or_default();
        if candidates.is_empty() {
            // Mapped by the map file to an item of the target that goes by another key.
            if let Some(mapped) = map.get(&e.id).filter(|m| *m != e.id) {
                if matches!(k.name, "users" | "groups" | "spaces") {
                    steps.push(step(
                        Action::Skip,
                        Some(mapped.to_string()),
                        "mapped to the target's by the map file".into(),
                    ));
                    continue;
                }
            }
            steps.push(step(Action::Create, None, "not in the target".into()));
            continue;
        }
        if k.name == "apps" {
            let (found, action, reason) = match_app(e, &candidates, backup_started);
            let existing = target_id(found);
            taken.insert((k.name, existing.clone()));
            map.insert(k.name, &e.id, &existing);
            steps.push(step(action, Some(existing), reason));
            continue;
        }
        let compared: Vec<(&Value, Vec<String>)> = candidates
            .iter()
            .map(|d| {
                let (want, have) = comparable(e, &doc, d);
                (*d, differences(&want, &have))
            })
            .collect();
        let (found, diff) = compared
            .iter()
            .find(|(_, diff)| diff.is_empty())
            .unwrap_or(&compared[0])
            .clone();
        let existing = target_id(found);
        taken.insert((k.name, existing.clone()));
        map.insert(k.name, &e.id, &existing);
        steps.push(if diff.is_empty() {
            step(Action::Skip, Some(existing), "identical".into())
        } else {
            step(
                Action::Conflict,
                Some(existing),
                format!("exists and differs: {}", diff.join(", ")),
            )
        });
    }
    let unmapped = unmapped(data, selected, &selected_ids, &map);
    Plan {
        snapshot: data.info.short_id.clone(),
        source_tenant: data.manifest.tenant.hostname.clone(),
        target_tenant: target.url.clone(),
        steps,
        unmapped,
        fallback_owner: None,
        unavailable: target
            .unavailable
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        map,
    }
}

/// The snapshot's item and the target's, both as the kind's create request would carry them
/// (so answer-only fields, counters and stamps are out and both have the same shape), without
/// the snapshot's secret fields and what a restore cannot set (ownership metadata, a
/// condition's ID, a user's login status).
fn comparable(e: &Entry, snapshot_doc: &Value, target_doc: &Value) -> (Map<String, Value>, Value) {
    let k = e.kind;
    let mut have = target_doc.clone();
    // Whole fields the snapshot holds as markers are left out of the target's too.
    for p in e
        .redacted
        .iter()
        .filter(|p| e.attrs().pointer(p).is_some_and(is_marker))
    {
        if let Some((parent, field)) = p.rsplit_once('/') {
            if let Some(Value::Object(m)) = have.pointer_mut(parent) {
                m.remove(field);
            }
        }
    }
    // Credentials inside text were cut out of the snapshot; cut them out of the target's too.
    let mut cut = Vec::new();
    for p in k.scan {
        qcb_catalog::scan::rewrite_at(&mut have, p, &mut cut);
    }
    let mut want_doc = snapshot_doc.clone();
    strip_markers(&mut want_doc);
    let (want, have) = match create_path(k) {
        Some(path) => (
            spec::shape_request("POST", path, &want_doc),
            spec::shape_request("POST", path, &have),
        ),
        None => {
            let fields = create_fields(k).unwrap_or(k.match_on);
            (Value::Object(project(&want_doc, fields)), have)
        }
    };
    let mut want = match want {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for f in ["metadata", "conditionId", "tenantId"] {
        want.remove(f);
    }
    if k.name == "users" {
        want.remove("status");
    }
    // A restore creates these disabled on purpose and asks a person to enable them (an IP
    // policy that could lock the restorer out, a webhook without its secret): disabled in the
    // target is the restore's own doing, not a difference.
    if matches!(k.name, "ip-policies" | "webhooks")
        && want.get("enabled") == Some(&Value::Bool(true))
        && have.get("enabled") == Some(&Value::Bool(false))
    {
        want.remove("enabled");
    }
    (want, have)
}

/// Fields a singleton's write carries: the PATCH paths (as top-level names) or PUT fields.
pub fn singleton_fields(k: &ComponentKind, path: &str) -> Vec<&'static str> {
    let patch_path = singleton_write_path(k, path);
    if let Some(paths) = spec::patch_paths("PATCH", &patch_path) {
        let fields: Vec<&'static str> = paths
            .iter()
            .filter(|p| !p.contains('{') && p.matches('/').count() == 1)
            .map(|p| p.trim_start_matches('/'))
            .filter(|f| *f != "emailPassword")
            .collect();
        // A generic JSON Patch (tenant-settings: any path) names no fields: those of the
        // create request are the ones the tenant sets.
        if !fields.is_empty() {
            return fields;
        }
    }
    for m in ["PUT", "POST"] {
        if let Some((fields, _)) = spec::request_fields(m, &patch_path) {
            return fields.to_vec();
        }
    }
    if k.name == "banners" {
        if let Some((fields, _)) = spec::request_fields("POST", "/api/v1/banners/actions/upsert") {
            return fields.to_vec();
        }
    }
    vec![]
}

/// Whether a setting is written whole (PUT) rather than patched: when it has a PATCH, only
/// if the target has never been configured (some of the patched fields are missing) and a
/// PUT exists; `want` holds the patched fields.
pub fn singleton_by_put(
    k: &ComponentKind,
    path: &str,
    want: &Map<String, Value>,
    have: &Value,
) -> bool {
    let write_path = singleton_write_path(k, path);
    let put = spec::request_fields("PUT", &write_path).is_some();
    if spec::request_fields("PATCH", &write_path).is_none() {
        return false;
    }
    let configured = want.keys().all(|f| have.get(f).is_some());
    put && !configured
}

/// The path a singleton is written at (the tenant's own is `tenants/{tenantId}`).
pub fn singleton_write_path(k: &ComponentKind, path: &str) -> String {
    match k.name {
        "tenant" => "/api/v1/tenants/{tenantId}".into(),
        _ => path.to_string(),
    }
}

/// Why an item is left to a person, if it is.
fn manual_reason(e: &Entry) -> Option<String> {
    let k = e.kind;
    match k.name {
        "api-keys" => Some("API keys cannot be restored: their tokens are shown once at creation; issue new keys for the consumers".into()),
        "encryption-keyproviders" => Some("bring-your-own-key providers are recreated by hand (ARN and cloud permissions), see the runbook".into()),
        "license-overview" => Some("kept for the record (the licence itself comes from Qlik)".into()),
        "collections" if matches!(e.str_at("/type"), "private" | "favorite") => Some(format!(
            "a {} collection belongs to its user, who recreates it (a restore made by that user brings it back)",
            e.str_at("/type")
        )),
        _ if k.restore == Restore::Reference => Some(if k.restore_note.is_empty() { "kept for the record; restored by hand from the runbook".into() } else { k.restore_note.to_string() }),
        _ => None,
    }
}

/// References to users, groups and spaces that are neither mapped nor restored.
fn unmapped(
    data: &SnapshotData,
    selected: &[usize],
    selected_ids: &HashSet<&str>,
    map: &IdMap,
) -> Vec<Unmapped> {
    let labels: HashMap<&str, (&str, String)> = data
        .entries
        .iter()
        .filter(|e| matches!(e.kind.name, "users" | "groups" | "spaces"))
        .map(|e| {
            let label = match e.kind.name {
                "users" => format!("{} <{}>", e.str_at("/subject"), e.str_at("/email")),
                _ => e.name.clone(),
            };
            (e.id.as_str(), (e.kind.name, label))
        })
        .collect();
    let mut found: BTreeMap<(String, String), (String, Vec<String>)> = BTreeMap::new();
    for &i in selected {
        let e = &data.entries[i];
        let mut ids = Vec::new();
        crate::ids::ids_in(e.attrs(), &mut ids);
        for id in ids {
            let Some((kind, label)) = labels.get(id.as_str()) else {
                continue;
            };
            if map.contains(&id) || selected_ids.contains(id.as_str()) || id == e.id {
                continue;
            }
            let by = format!("{} {}", e.kind.name, e.name);
            let slot = found
                .entry((kind.to_string(), id.clone()))
                .or_insert_with(|| (label.clone(), vec![]));
            if !slot.1.contains(&by) && slot.1.len() < 5 {
                slot.1.push(by);
            }
        }
    }
    found
        .into_iter()
        .map(|((kind, id), (label, referenced_by))| Unmapped {
            kind,
            id,
            label,
            referenced_by,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs_match_names() {
        assert!(glob("Sales*", "Sales 2024"));
        assert!(glob("*2024", "Sales 2024"));
        assert!(glob("S?les*", "sales"));
        assert!(!glob("Sales", "Sales 2024"));
    }

    #[test]
    fn differences_ignore_what_the_target_adds() {
        let want = project(
            &json!({"name": "A", "description": "", "x": 1}),
            &["name", "description"],
        );
        assert!(differences(&want, &json!({"name": "A", "createdAt": "t"})).is_empty());
        assert_eq!(differences(&want, &json!({"name": "B"})), vec!["name"]);
    }

    #[test]
    fn markers_are_not_sent_nor_compared() {
        let doc = json!({"name": "w", "secret": {"$qcb_redacted": "secret"}, "headers": {"a": {"$qcb_redacted": "h"}, "b": "1"}});
        let p = project(&doc, &["name", "secret", "headers"]);
        assert!(!p.contains_key("secret"));
        assert_eq!(p["headers"], json!({"b": "1"}));
    }

    fn app_entry() -> Entry {
        Entry {
            kind: qcb_catalog::kind("apps").unwrap(),
            id: "a-original".into(),
            name: "Sales".into(),
            doc: json!({
                "app": {"attributes": {"id": "a-original", "name": "Sales", "description": "Sales by region", "usage": "ANALYTICS"}},
                "item": {"resourceUpdatedAt": "2026-01-10T08:00:00.000Z"},
            }),
            redacted: vec![],
            path: "apps/a-original/app.json".into(),
            files: vec![],
        }
    }

    fn target_app(id: &str, created: &str, updated: &str, description: &str) -> Value {
        json!({"id": id, "name": "Sales", "spaceId": "s1", "createdAt": created, "updatedAt": updated, "description": description, "usage": "ANALYTICS"})
    }

    #[test]
    fn an_app_restored_earlier_is_identical_though_its_times_are_new() {
        let e = app_entry();
        let backup = time_of("2026-02-01T00:00:00Z").unwrap();
        // Imported by an earlier restore of this snapshot: new ID, new times.
        let restored = target_app(
            "a-new",
            "2026-03-01T09:00:00.000Z",
            "2026-03-01T09:00:00.000Z",
            "Sales by region",
        );
        let (found, action, why) = match_app(&e, &[&restored], backup);
        assert_eq!(
            (found["id"].as_str(), action),
            (Some("a-new"), Action::Skip),
            "{why}"
        );

        // The same, older than the backup: someone else's app of that name.
        let older = target_app(
            "a-other",
            "2025-12-01T09:00:00.000Z",
            "2025-12-01T09:00:00.000Z",
            "Sales by region",
        );
        let (_, action, why) = match_app(&e, &[&older], backup);
        assert_eq!(action, Action::Conflict, "{why}");
        assert!(why.contains(APP_REPLACE), "{why}");

        // Restored earlier but its description differs.
        let edited = target_app(
            "a-new",
            "2026-03-01T09:00:00.000Z",
            "2026-03-01T09:00:00.000Z",
            "Sales, edited",
        );
        let (_, action, why) = match_app(&e, &[&edited], backup);
        assert_eq!(action, Action::Conflict, "{why}");
        assert!(why.contains("differs: description"), "{why}");

        // The original itself: identical while unchanged, a conflict once changed.
        let same = target_app(
            "a-original",
            "2025-06-01T09:00:00.000Z",
            "2026-01-10T08:00:00.000Z",
            "Sales by region",
        );
        assert_eq!(match_app(&e, &[&same], backup).1, Action::Skip);
        let changed = target_app(
            "a-original",
            "2025-06-01T09:00:00.000Z",
            "2026-02-10T08:00:00.000Z",
            "Sales by region",
        );
        let (_, action, why) = match_app(&e, &[&changed], backup);
        assert_eq!(action, Action::Conflict, "{why}");
        assert!(why.contains("changed after the snapshot"), "{why}");
    }

    #[test]
    fn kinds_with_a_plain_create_name_their_spec_fields() {
        let spaces = qcb_catalog::kind("spaces").unwrap();
        assert_eq!(create_path(spaces), Some("/api/v1/spaces"));
        assert!(create_fields(spaces).unwrap().contains(&"type"));
        let auth = qcb_catalog::kind("auth-settings").unwrap();
        let f = singleton_fields(auth, "/api/core/auth-settings");
        assert!(f.contains(&"userSessionInactivityTimeoutMinutes"), "{f:?}");
    }
}
