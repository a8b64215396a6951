//! The fidelity of a round trip: every item of tenant A matched to the one item of B it came
//! back as (through the restore's own old → new IDs, else its natural key), both reduced to
//! what a restore can bring back (A's IDs mapped to B's; server-managed fields out), compared
//! field by field; and what a backup reads per item beside it (a space's assignments and
//! shares, a collection's items, a data alert's condition, a glossary's export), compared
//! item by item as sets of members. A difference is excused only by a manual step of the
//! report that names the item and is about that field.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use futures::StreamExt;
use qcb_catalog::{spec, ComponentKind, Restore, Source, Sub};
use qcb_qlik::TenantClient;
use qcb_restore::ids::IdMap;
use qcb_restore::{ManualStep, Outcome, RestoreReport};
use serde_json::{json, Value};

use super::map_of;

/// One line of the fidelity table.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub kind: String,
    /// Items of A compared.
    pub items: usize,
    pub equal: usize,
    /// Items that differ in B (or are missing there), excused or not.
    pub differing: usize,
    /// Manual steps of the report on items of this kind.
    pub runbook: usize,
}

/// A field of an item that differs between A and B.
#[derive(Debug, Clone)]
pub struct Difference {
    pub kind: String,
    /// The item's ID in A, and its name.
    pub id: String,
    pub name: String,
    /// A JSON pointer; empty when the whole item is missing in B.
    pub field: String,
    pub a: Value,
    pub b: Value,
    /// The manual step that covers it, if one does.
    pub excused_by: Option<String>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.id)?;
        if !self.name.is_empty() {
            write!(f, " ({})", self.name)?;
        }
        if self.field.is_empty() {
            write!(f, ": missing in B")
        } else {
            write!(f, " {}: A {} vs B {}", self.field, self.a, self.b)
        }
    }
}

/// A compared with B, kind by kind.
#[derive(Debug, Default)]
pub struct Fidelity {
    pub rows: Vec<Row>,
    pub differences: Vec<Difference>,
    /// What went wrong in matching items of A to items of B (one item of B claimed twice, a
    /// natural key naming several items of B, an ID the report gives that B does not have).
    pub matching: Vec<String>,
}

impl Fidelity {
    /// Matching problems and differences no manual step covers: none in a faithful restore.
    pub fn problems(&self) -> Vec<String> {
        let unexcused = self
            .differences
            .iter()
            .filter(|d| d.excused_by.is_none())
            .map(|d| d.to_string());
        self.matching.iter().cloned().chain(unexcused).collect()
    }

    /// The table (kind, items, equal, differing, runbook entries) as fixed-width Markdown.
    pub fn table(&self) -> String {
        let w = self
            .rows
            .iter()
            .map(|r| r.kind.len())
            .max()
            .unwrap_or(0)
            .max(4);
        let mut out = format!(
            "| {:<w$} | items | equal | differing | runbook entries |\n|{}|------:|------:|----------:|----------------:|\n",
            "kind",
            "-".repeat(w + 2),
        );
        for r in &self.rows {
            out.push_str(&format!(
                "| {:<w$} | {:>5} | {:>5} | {:>9} | {:>15} |\n",
                r.kind, r.items, r.equal, r.differing, r.runbook
            ));
        }
        out
    }
}

/// Compares A and B kind by kind: every kind a restore brings back (those kept only for the
/// record are restored by hand from the runbook).
pub async fn compare(ca: &TenantClient, cb: &TenantClient, report: &RestoreReport) -> Fidelity {
    let map = map_of(report);
    let (ta, tb) = (tenant_id(ca).await, tenant_id(cb).await);
    let mut f = Fidelity::default();
    for k in qcb_catalog::all()
        .iter()
        .copied()
        .filter(|k| k.restore != Restore::Reference)
    {
        let mut in_a = read_kind(ca, k, &ta).await;
        in_a.retain(|d| made_by_restore_or_qlik(k, d));
        if in_a.is_empty() {
            continue;
        }
        let in_b = read_kind(cb, k, &tb).await;
        let steps: Vec<&ManualStep> = report.manual.iter().filter(|m| m.kind == k.name).collect();
        let matched = match_items(k, &in_a, &in_b, report, &map, &mut f.matching);
        let parents = Parents {
            k,
            in_a: &in_a,
            in_b: &in_b,
            matched: &matched,
            steps: &steps,
        };
        let sub_rows = compare_subs(ca, cb, &parents, report, &map, &mut f.differences).await;
        let mut row = Row {
            kind: k.name.to_string(),
            items: in_a.len(),
            runbook: steps.len(),
            ..Row::default()
        };
        for (a, &j) in in_a.iter().zip(&matched) {
            let item = Item::of(k, a, report, &steps);
            let found = match j {
                Some(j) => item.compare(a, &in_b[j], &map),
                None => vec![item.missing()],
            };
            if found.is_empty() {
                row.equal += 1;
            } else {
                row.differing += 1;
            }
            f.differences.extend(found);
        }
        f.rows.push(row);
        f.rows.extend(sub_rows);
    }
    f
}

/// An item of A with what the report says of it.
struct Item<'r> {
    k: &'static ComponentKind,
    id: String,
    name: String,
    /// Manual steps on this item.
    steps: Vec<&'r ManualStep>,
    /// The restore left the whole item to a person (the plan's manual action).
    left_to_a_person: bool,
}

impl<'r> Item<'r> {
    fn of(
        k: &'static ComponentKind,
        a: &Value,
        report: &RestoreReport,
        steps: &[&'r ManualStep],
    ) -> Item<'r> {
        // A setting is the only one of its kind: its steps and results are the kind's.
        let singleton = matches!(k.source, Source::Singleton { .. });
        let id = if singleton {
            k.name.to_string()
        } else {
            id_of(k, a)
        };
        let on_item = |kind: &str, of: &str| kind == k.name && (singleton || of == id);
        Item {
            k,
            name: name_of(k, a),
            steps: steps
                .iter()
                .copied()
                .filter(|m| on_item(&m.kind, &m.id))
                .collect(),
            left_to_a_person: report
                .results
                .iter()
                .any(|r| on_item(&r.kind, &r.id) && r.outcome == Outcome::Manual),
            id,
        }
    }

    fn difference(
        &self,
        field: String,
        a: Value,
        b: Value,
        excused_by: Option<String>,
    ) -> Difference {
        Difference {
            kind: self.k.name.to_string(),
            id: self.id.clone(),
            name: self.name.clone(),
            field,
            a,
            b,
            excused_by,
        }
    }

    /// Missing in B: excused only when the restore left the item to a person.
    fn missing(&self) -> Difference {
        let by = self
            .steps
            .first()
            .filter(|_| self.left_to_a_person)
            .map(|m| m.what.clone());
        self.difference(String::new(), Value::Null, Value::Null, by)
    }

    /// The step that covers a difference at `field`: a step on an item left to a person
    /// covers all of it; any other only the fields it is about.
    fn excuse(&self, field: &str, credential_in_text: bool) -> Option<String> {
        self.steps
            .iter()
            .find(|m| {
                let s = Scope::of(self.k.name, &m.what);
                self.left_to_a_person
                    || s.fields.iter().any(|p| covers(p, field))
                    || credential_in_text && s.credentials_in_text.iter().any(|p| covers(p, field))
            })
            .map(|m| m.what.clone())
    }

    /// The differences between A's document and B's.
    fn compare(&self, a: &Value, b: &Value, map: &IdMap) -> Vec<Difference> {
        // The item itself maps to what it was matched with (a DataFiles connection Qlik made
        // anew is matched by name and space, its own ID is not in the restore's map).
        let (old, new) = (id_of(self.k, a), id_of(self.k, b));
        let mut own = None;
        if old != new && map.get(&old) != Some(new.as_str()) {
            let mut m = map.clone();
            m.insert(self.k.name, &old, &new);
            own = Some(m);
        }
        let mut want = normalise(self.k, a, own.as_ref().unwrap_or(map));
        let have = normalise(self.k, b, &IdMap::default());
        // A credential inside free text is cut out of A's text as a backup cuts it (B's holds
        // the same cut where none was supplied); the rest of the text is compared, and each
        // cut is a difference some step must name.
        let mut cut = Vec::new();
        for p in self.k.scan {
            qcb_catalog::scan::rewrite_at(&mut want, p, &mut cut);
        }
        let mut fields = Vec::new();
        diff(Some(&want), Some(&have), "", &mut fields);
        let mut out: Vec<Difference> = cut
            .into_iter()
            .map(|field| {
                let by = self.excuse(&field, true);
                let b = have.pointer(&field).cloned().unwrap_or_default();
                self.difference(field, json!("(a credential inside the text)"), b, by)
            })
            .collect();
        for field in fields {
            let by = self.excuse(&field, false);
            let (x, y) = (
                want.pointer(&field).cloned().unwrap_or_default(),
                have.pointer(&field).cloned().unwrap_or_default(),
            );
            out.push(self.difference(field, x, y, by));
        }
        out
    }
}

// ---- sub-resources: what a backup reads per item beside its document (a space's
// assignments and shares, a collection's items, a data alert's condition), compared item by
// item as sets of members.

/// A kind's items in A and B, and the item of B each item of A came back as.
struct Parents<'p, 'r> {
    k: &'static ComponentKind,
    in_a: &'p [Value],
    in_b: &'p [Value],
    matched: &'p [Option<usize>],
    /// Manual steps on items of the kind.
    steps: &'p [&'r ManualStep],
}

/// The table's name for a sub-resource: `space-assignments`, `data-alert-conditions`.
pub fn sub_row(kind: &str, sub: &str) -> String {
    let parent = match kind.strip_suffix("ies") {
        Some(stem) => format!("{stem}y"),
        None => kind.strip_suffix('s').unwrap_or(kind).to_string(),
    };
    let plural = if sub.ends_with('s') { "" } else { "s" };
    format!("{parent}-{sub}{plural}")
}

/// One row per sub-resource of the kind: each item of A's members (A's IDs mapped, reduced
/// to what the restore writes) against those of the item of B it came back as. A difference
/// is excused as a difference in the item's own field `/<sub>` would be: by a step about that
/// field, or by the whole item being left to a person.
async fn compare_subs(
    ca: &TenantClient,
    cb: &TenantClient,
    p: &Parents<'_, '_>,
    report: &RestoreReport,
    map: &IdMap,
    out: &mut Vec<Difference>,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for sub in p.k.subs {
        let kind = sub_row(p.k.name, sub.name);
        let at = format!("/{}", sub.name);
        let read: Vec<(Read, Option<Read>)> =
            futures::stream::iter(p.in_a.iter().zip(p.matched).map(|(a, j)| {
                let b = j.map(|j| &p.in_b[j]);
                async move {
                    let in_b = match b {
                        Some(b) => Some(read_sub(cb, p.k, sub, b).await),
                        None => None,
                    };
                    (read_sub(ca, p.k, sub, a).await, in_b)
                }
            }))
            .buffered(16)
            .collect()
            .await;
        let mut row = Row {
            kind: kind.clone(),
            items: p.in_a.len(),
            runbook: p
                .steps
                .iter()
                .filter(|m| step_about(report, p.k, m, &at))
                .count(),
            ..Row::default()
        };
        for (a, (in_a, in_b)) in p.in_a.iter().zip(read) {
            let item = Item::of(p.k, a, report, p.steps);
            let mut found = match in_b {
                None => vec![item.missing()],
                Some(in_b) => {
                    let want = members(p.k, sub, &in_a, map);
                    let have = members(p.k, sub, &in_b, &IdMap::default());
                    member_differences(&want, &have)
                        .into_iter()
                        .map(|inner| {
                            let field = format!("{at}{inner}");
                            let inner = inner.as_str();
                            let (x, y) = (
                                want.pointer(inner).cloned().unwrap_or_default(),
                                have.pointer(inner).cloned().unwrap_or_default(),
                            );
                            let by = item.excuse(&field, false);
                            item.difference(field, x, y, by)
                        })
                        .collect()
                }
            };
            if found.is_empty() {
                row.equal += 1;
            } else {
                row.differing += 1;
            }
            for d in &mut found {
                d.kind = kind.clone();
            }
            out.extend(found);
        }
        rows.push(row);
    }
    rows
}

/// The fields where two reduced sub-resources differ, each reported where one side has a
/// member (or a field) the other has not.
fn member_differences(want: &Value, have: &Value) -> Vec<String> {
    let mut fields = Vec::new();
    diff(Some(want), Some(have), "", &mut fields);
    let mut fields: Vec<String> = fields
        .iter()
        .map(|f| outermost_absent(want, have, f))
        .collect();
    fields.dedup();
    fields
}

/// Where a difference at `field` is reported: the outermost field that one side has and
/// the other not (a member missing in B is one difference, not one per field of it).
fn outermost_absent(want: &Value, have: &Value, field: &str) -> String {
    let absent = |v: &Value, p: &str| v.pointer(p).is_none_or(Value::is_null);
    let mut at = String::new();
    for step in field.split('/').skip(1) {
        at = format!("{at}/{step}");
        if absent(want, &at) != absent(have, &at) {
            return at;
        }
    }
    field.to_string()
}

/// Whether a manual step is about a sub-resource: it names the field (`assignment of …`
/// covers `/assignments`), or its item was left to a person whole.
fn step_about(report: &RestoreReport, k: &ComponentKind, m: &ManualStep, at: &str) -> bool {
    let whole = report
        .results
        .iter()
        .any(|r| r.kind == k.name && r.id == m.id && r.outcome == Outcome::Manual);
    whole
        || Scope::of(k.name, &m.what)
            .fields
            .iter()
            .any(|p| covers(p, at) || covers(at, p))
}

/// A sub-resource as read: its members (a single document is one), or why it could not be.
type Read = Result<Vec<Value>, String>;

/// An item's sub-resource, read where the backup reads it. A compound condition's
/// conditions are read too, each in its place (see `expand_compound`).
async fn read_sub(c: &TenantClient, k: &ComponentKind, sub: &Sub, parent: &Value) -> Read {
    let path = sub.path.replace("{id}", &id_of(k, parent));
    match sub.list {
        Some((query, property)) => c
            .list_all(&path, query, property)
            .await
            .map_err(|e| e.to_string()),
        None => {
            let mut d = c.get_json(&path, "").await.map_err(|e| e.to_string())?;
            if sub.name == "condition" {
                expand_compound(c, &mut d, 0).await;
            }
            Ok(vec![d])
        }
    }
}

/// A compound condition names its conditions by ID, in a list and in its expression: each ID
/// is replaced by the condition it names (read at `/api/v1/conditions/{id}`; null where the
/// tenant has none) and, in the expression, by its place (`$0`), so that A's conditions are
/// compared with the ones B's compound condition names, whatever their IDs.
fn expand_compound<'a>(
    c: &'a TenantClient,
    d: &'a mut Value,
    depth: usize,
) -> futures::future::BoxFuture<'a, ()> {
    Box::pin(async move {
        let inner = if d.get("conditionResponse").is_some() {
            &mut d["conditionResponse"]
        } else {
            d
        };
        let Some(data) = inner.pointer_mut("/compoundCondition/data") else {
            return;
        };
        let ids: Vec<String> = data["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let mut named = Vec::new();
        for id in &ids {
            let mut cond = c
                .get_json(&format!("/api/v1/conditions/{id}"), "")
                .await
                .unwrap_or(Value::Null);
            if depth < 4 && !cond.is_null() {
                expand_compound(c, &mut cond, depth + 1).await;
            }
            named.push(cond);
        }
        if let Some(e) = data["expression"].as_str() {
            let mut e = e.to_string();
            for (i, id) in ids.iter().enumerate() {
                e = e.replace(id.as_str(), &format!("${i}"));
            }
            data["expression"] = json!(e);
        }
        data["conditions"] = Value::Array(named);
    })
}

/// A sub-resource reduced for comparison: a list as an object of its members by their key
/// (the order Qlik lists them in is not the restore's to keep), a single document as itself.
fn members(k: &ComponentKind, sub: &Sub, read: &Read, map: &IdMap) -> Value {
    let docs = match read {
        Ok(d) => d,
        Err(e) => return json!(format!("(could not be read: {e})")),
    };
    if sub.list.is_none() {
        return docs
            .first()
            .map(|d| member(k, sub, d, map))
            .unwrap_or_default();
    }
    let mut out = serde_json::Map::new();
    for d in docs {
        let m = member(k, sub, d, map);
        let key = member_key(k, sub, &m);
        let mut unique = key.clone();
        for n in 2.. {
            if !out.contains_key(&unique) {
                break;
            }
            unique = format!("{key} #{n}");
        }
        out.insert(unique, m);
    }
    Value::Object(out)
}

/// One member reduced to what a restore writes, A's IDs mapped to B's: the fields of the
/// create request (so its own ID, its parent's, stamps and links are out).
fn member(k: &ComponentKind, sub: &Sub, d: &Value, map: &IdMap) -> Value {
    let mut m = d.clone();
    match (k.name, sub.name) {
        ("data-alerts", "condition") => return condition(d, map),
        ("glossaries", "export") => return glossary_export(d, map),
        // A member is an item of the tenant, added by its ID (B's own): which resource it
        // stands for, and its name.
        ("collections", "items") => {
            m = json!({"resourceType": d["resourceType"], "resourceId": d["resourceId"], "name": d["name"]});
            map.rewrite(&mut m);
            return m;
        }
        _ => {}
    }
    map.rewrite(&mut m);
    let create = match (k.name, sub.name) {
        ("spaces", "assignments") => "/api/v1/spaces/{spaceId}/assignments",
        ("spaces", "shares") => "/api/v1/spaces/{spaceId}/shares",
        _ => sub.path,
    };
    let mut m = spec::shape_request("POST", create, &m);
    // Roles are a set.
    if let Some(roles) = m.get_mut("roles").and_then(Value::as_array_mut) {
        roles.sort_by_key(Value::to_string);
    }
    m
}

/// Who or what a member is about: one assignment per assignee, one share per assignee and
/// resource, one member per resource.
fn member_key(k: &ComponentKind, sub: &Sub, m: &Value) -> String {
    let fields: &[&str] = match (k.name, sub.name) {
        ("spaces", "assignments") => &["type", "assigneeId"],
        ("spaces", "shares") => &["type", "assigneeId", "resourceType", "resourceId"],
        ("collections", "items") => &["resourceType", "resourceId"],
        _ => &["id"],
    };
    fields
        .iter()
        .map(|f| m[*f].as_str().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A glossary's export as its import carries it, the IDs of its categories and terms (new in
/// each import) replaced by their names wherever the export names them.
fn glossary_export(d: &Value, map: &IdMap) -> Value {
    let mut m = d.clone();
    map.rewrite(&mut m);
    let mut m = spec::shape_request("POST", "/api/v1/glossaries/actions/import", &m);
    let mut own = IdMap::default();
    for (list, what) in [("categories", "category"), ("terms", "term")] {
        for x in m[list].as_array().into_iter().flatten() {
            if let (Some(id), Some(name)) = (x["id"].as_str(), x["name"].as_str()) {
                own.insert(what, id, &format!("({what} {name})"));
            }
        }
    }
    own.rewrite(&mut m);
    m
}

/// A condition as its create request carries it (the spec marks its ID, owner, stamps and
/// last reload read-only), with the conditions a compound one names each reduced the same way.
fn condition(d: &Value, map: &IdMap) -> Value {
    let mut inner = d.get("conditionResponse").unwrap_or(d).clone();
    let named = inner
        .pointer_mut("/compoundCondition/data/conditions")
        .map(Value::take);
    map.rewrite(&mut inner);
    let mut shaped = spec::shape_request("POST", "/api/v1/conditions", &inner);
    if let Some(Value::Array(named)) = named {
        let named = named
            .iter()
            .map(|c| {
                if c.is_null() {
                    Value::Null
                } else {
                    condition(c, map)
                }
            })
            .collect();
        shaped["compoundCondition"]["data"]["conditions"] = Value::Array(named);
    }
    shaped
}

/// Whether the field pattern `p` (a JSON pointer; `*` matches one step) is `field` or holds it.
fn covers(p: &str, field: &str) -> bool {
    let ps: Vec<&str> = p.split('/').collect();
    let fs: Vec<&str> = field.split('/').collect();
    ps.len() <= fs.len() && ps.iter().zip(&fs).all(|(x, y)| x == y || *x == "*")
}

/// What a manual step is about, by its wording in `apply.rs` and `plan.rs`: the fields of
/// its item a person still sets. Kept tight — a step excuses no other field; a step not
/// listed here excuses none.
#[derive(Debug, Default, PartialEq)]
pub struct Scope {
    /// Fields whose whole value is left to a person.
    pub fields: Vec<String>,
    /// Text fields only whose cut credential is (the rest of the text must be equal).
    pub credentials_in_text: Vec<String>,
}

impl Scope {
    pub fn of(kind: &str, what: &str) -> Scope {
        let fields = |f: &[&str]| Scope {
            fields: f.iter().map(|s| s.to_string()).collect(),
            credentials_in_text: vec![],
        };
        let owner = || fields(owner_fields(kind));
        if let Some(list) = what.strip_prefix("enter again: ") {
            // "enter again: /secret, /qConnectStatement (a credential inside the text), … (not
            // stored in backups; …)": the pointers of its secrets.
            let list = list
                .split(" (not stored in backups")
                .next()
                .unwrap_or_default();
            let mut s = Scope::default();
            for entry in list.split(", ") {
                match entry.split_once(" (") {
                    Some((p, why)) if why.starts_with("a credential inside the text") => {
                        s.credentials_in_text.push(p.to_string())
                    }
                    Some((p, _)) => s.fields.push(p.to_string()),
                    None => s.fields.push(entry.to_string()),
                }
            }
            return s;
        }
        if let Some(names) = what.strip_prefix("enter its encrypted headers again: ") {
            return Scope {
                fields: names.split(", ").map(|h| format!("/headers/{h}")).collect(),
                credentials_in_text: vec![],
            };
        }
        match what {
            // A webhook without its secret, an IP policy that could lock the restorer out:
            // created disabled on purpose.
            w if w.starts_with("enable it once its secret is entered") => fields(&["/enabled"]),
            w if w.starts_with("restored disabled: check its allowed IPs") => fields(&["/enabled"]),
            // Who a task runs as, who owns an item: the restorer until a person hands it over.
            w if w.starts_with("it now runs as the identity that restored it") => owner(),
            w if w.starts_with("its owner ") && w.contains("the restorer owns it now") => owner(),
            w if w.starts_with("handed to the fallback owner") => owner(),
            w if w.starts_with("hand it to its owner")
                || w.starts_with("hand the app (now")
                || w.starts_with("hand the space to its owner by hand") =>
            {
                owner()
            }
            w if w.starts_with("its webhook trigger has a new URL/token") => {
                fields(&["/executionToken"])
            }
            // An automation connection's consent (its secret parameters have their own step).
            w if w.starts_with("enter its credentials again or consent to the OAuth connector") => {
                fields(&["/isConnected", "/oauthAccountName"])
            }
            // The new client ID is the item's own (matched through the map); the secret is new.
            w if w.starts_with("its consumers need the new client ID") => {
                fields(&["/clientSecret"])
            }
            w if w.starts_with("disable the user by hand") => fields(&["/status"]),
            w if w.starts_with("disable it by hand (it was disabled)") => fields(&["/state"]),
            w if w.starts_with("enable it by hand (it was created disabled)") => {
                fields(&["/enabled"])
            }
            w if w.starts_with("activate the brand by hand") => fields(&["/active"]),
            w if w.starts_with("member ") || w.starts_with("could not add member") => {
                fields(&["/items"])
            }
            w if w.starts_with("its space ")
                && w.contains("put in the restorer's personal space") =>
            {
                fields(&["/spaceId"])
            }
            w if w.starts_with("publish it to its managed space by hand") => fields(&["/spaceId"]),
            w if w.starts_with("assignment of ") => fields(&["/assignments"]),
            w if w.starts_with("share of ") => fields(&["/shares"]),
            w if w.starts_with("enter the SMTP password") => fields(&[
                "/passwordExists",
                "/emailPassword",
                "/providerConfig/password",
                "/providerConfig/clientSecret",
            ]),
            w if w.starts_with("created beside the existing connection as ") => fields(&["/qName"]),
            // New IDs (the item's own, matched through the map), apps to reload (their data
            // is not among the attributes compared), an automation handed over whose
            // connections are re-attached in the editor, an app left in conflict: no field.
            _ => Scope::default(),
        }
    }
}

/// Who owns an item or runs it, per kind.
fn owner_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "reload-tasks" => &["/userId"],
        "scheduling-tasks" => &[
            "/metadata/ownerId",
            "/metadata/createdBy",
            "/metadata/scriptOwnerId",
        ],
        "sharing-tasks" => &["/owner"],
        "collections" => &["/creatorId"],
        _ => &["/ownerId"],
    }
}

/// Whether an item of A is one a restore (or Qlik, for it) brings back. A personal space's
/// DataFiles connection is made by Qlik with the user's personal space, which no restore
/// creates (a shared or managed space's is made with the restored space, and compared).
fn made_by_restore_or_qlik(k: &ComponentKind, d: &Value) -> bool {
    !(k.name == "data-connections"
        && d["qType"] == "qix-datafiles.exe"
        && d["space"].as_str().unwrap_or_default().is_empty())
}

/// A document reduced to what a restore can bring back, A's IDs mapped to B's: the fields
/// the kind's create request carries (so server stamps, counters and derived fields are out),
/// a setting's fields but those the spec marks read-only, an app's attributes an import
/// keeps; then the server-managed fields listed in `server_managed`.
pub fn normalise(k: &ComponentKind, doc: &Value, map: &IdMap) -> Value {
    let mut d = doc.clone();
    map.rewrite(&mut d);
    qcb_restore::plan::strip_markers(&mut d);
    let mut shaped = match k.source {
        // An import keeps these; its ID and times are new.
        _ if k.name == "apps" => json!({
            "name": d["name"], "description": d["description"],
            "usage": d.pointer("/resourceAttributes/usage"),
            "spaceId": d["spaceId"], "ownerId": d["ownerId"],
        }),
        Source::Singleton { path } => {
            // The tenant is read at `tenants/me`, which the spec describes at its ID.
            let described = qcb_restore::plan::singleton_write_path(k, path);
            if let Some(m) = d.as_object_mut() {
                for f in read_only_fields(&described) {
                    m.remove(&f);
                }
            }
            d
        }
        // Licence assignments are added by subject and type; the list answers no more.
        Source::List { .. } if k.bundle => d,
        Source::List { path, .. } if spec::request_fields("POST", path).is_some() => {
            spec::shape_request("POST", path, &d)
        }
        Source::List { path, .. } => spec::shape_request("POST", &format!("{path}#data"), &d),
    };
    // The tenant's own ID: the map sends A's to B's where a document names it, but it is
    // the tenant's, not the item's.
    for p in ["/tenantId"].iter().chain(server_managed(k.name)) {
        remove_pointer(&mut shaped, p);
    }
    shaped
}

/// Fields Qlik sets itself, beyond what the spec marks read-only or leaves out of a create.
fn server_managed(kind: &str) -> &'static [&'static str] {
    match kind {
        "users" => &[
            // Only `invited` can be created; the rest follows from logging in.
            "/status",
        ],
        "scheduling-tasks" => &[
            // Stamped by the scheduling service on each write.
            "/metadata/updatedAt",
            // The service's own ID for the task's trigger, made with each task.
            "/metadata/trigger/id",
            // Set only by Qlik's migration of a legacy reload task into this one.
            "/metadata/migratedFrom",
            // Qlik's record of why it is disabled (a person's click, repeated failures); the
            // task's `enabled` is compared.
            "/metadata/disabledCode",
        ],
        // The day the licence was assigned: the restore assigns it anew.
        "license-assignments" => &["/created"],
        // The spec's Brand marks these read-only: who made it and when.
        "brands" => &[
            "/createdAt",
            "/createdBy",
            "/updatedAt",
            "/updatedBy",
            // A tag Qlik computes for each uploaded file's version.
            "/files/*/eTag",
        ],
        // Who last wrote the setting: the restorer.
        "tenant-settings" | "banners" => &["/updatedBy"],
        // Links name the tenant's own host.
        "group-settings" => &["/links"],
        "email-config" => &[
            // Stamped by Qlik on each write.
            "/lastUpdated",
            "/modificationTime",
            // Qlik's verdict on its last check of the mail server, not a setting.
            "/isValid",
            "/status",
            "/errorCode",
            "/authFailures",
        ],
        _ => &[],
    }
}

/// Removes the field at `p` (a JSON pointer; `*` matches any member).
fn remove_pointer(v: &mut Value, p: &str) {
    let parts: Vec<&str> = p.split('/').skip(1).collect();
    remove_at(v, &parts);
}

fn remove_at(v: &mut Value, parts: &[&str]) {
    match (parts, v) {
        ([last], Value::Object(m)) => {
            m.remove(*last);
        }
        (["*", rest @ ..], Value::Array(items)) => {
            items.iter_mut().for_each(|x| remove_at(x, rest))
        }
        (["*", rest @ ..], Value::Object(m)) => m.values_mut().for_each(|x| remove_at(x, rest)),
        ([head, rest @ ..], Value::Object(m)) => {
            if let Some(x) = m.get_mut(*head) {
                remove_at(x, rest);
            }
        }
        _ => {}
    }
}

/// The top-level fields the spec's answer to `GET path` marks read-only (IDs, stamps,
/// counters Qlik keeps).
fn read_only_fields(path: &str) -> Vec<String> {
    static CACHE: OnceLock<std::sync::Mutex<HashMap<String, Vec<String>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(f) = cache.lock().expect("cache").get(path) {
        return f.clone();
    }
    let quoted = format!("\"{path}\"");
    let found = spec::SPECS
        .iter()
        .filter(|(_, text)| text.contains(&quoted))
        .filter_map(|(_, text)| serde_json::from_str::<Value>(text).ok())
        .find_map(|s| {
            let op = s.get("paths")?.get(path)?.get("get")?;
            let ok = resolve(&s, op.pointer("/responses/200")?);
            let schema = resolve(&s, ok.pointer("/content/application~1json/schema")?);
            let mut out = Vec::new();
            read_only_in(&s, schema, &mut out);
            Some(out)
        })
        .unwrap_or_default();
    cache
        .lock()
        .expect("cache")
        .insert(path.to_string(), found.clone());
    found
}

fn read_only_in(spec: &Value, schema: &Value, out: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    for sub in schema["allOf"].as_array().into_iter().flatten() {
        read_only_in(spec, sub, out);
    }
    for (f, p) in schema["properties"].as_object().into_iter().flatten() {
        if p["readOnly"] == true || resolve(spec, p)["readOnly"] == true {
            out.push(f.clone());
        }
    }
}

fn resolve<'a>(spec: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..16 {
        match v["$ref"]
            .as_str()
            .and_then(|r| spec.pointer(r.trim_start_matches('#')))
        {
            Some(t) => v = t,
            None => break,
        }
    }
    v
}

/// Every item of a kind in a tenant, as a restore reads it: the list (the full document
/// where the list answers a summary), a setting's one document, apps as their items.
pub async fn read_kind(c: &TenantClient, k: &ComponentKind, tenant_id: &str) -> Vec<Value> {
    match k.source {
        Source::Singleton { path } => c
            .get_json(&path.replace("{tenantId}", tenant_id), "")
            .await
            .map(|d| vec![d])
            .unwrap_or_default(),
        Source::List {
            path,
            query,
            property,
        } => {
            let docs = c.list_all(path, query, property).await.unwrap_or_default();
            let Some(one) = k.get_one.filter(|_| k.name != "apps") else {
                return docs;
            };
            futures::stream::iter(docs.into_iter().map(|d| async move {
                let id = k.id_of(&d).unwrap_or_default().to_string();
                match c.get_json(&one.replace("{id}", &id), "").await {
                    Ok(full) if full.is_object() => full,
                    _ => d,
                }
            }))
            .buffered(8)
            .collect()
            .await
        }
    }
}

async fn tenant_id(c: &TenantClient) -> String {
    c.get_json("/api/v1/tenants/me", "")
        .await
        .ok()
        .and_then(|t| t["id"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// An item's identity in any tenant: its match fields (IDs among them mapped by the
/// caller), or its name.
fn natural_key(k: &ComponentKind, doc: &Value) -> String {
    let name = format!("/{}", k.name_field);
    let pointers: Vec<&str> = if k.match_on.is_empty() {
        vec![name.as_str()]
    } else {
        k.match_on.to_vec()
    };
    pointers
        .iter()
        .map(|p| doc.pointer(p).map(Value::to_string).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("|")
}

fn id_of(k: &ComponentKind, doc: &Value) -> String {
    k.id_of(doc).unwrap_or_default().to_string()
}

fn name_of(k: &ComponentKind, doc: &Value) -> String {
    doc.pointer(&format!("/{}", k.name_field))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The item of B each item of A came back as (an index into `in_b`): the one the report's
/// ID map names (an ID a restore kept is not in it: the same ID), else the one free item of
/// B with the same natural key. Each item of B is claimed once.
fn match_items(
    k: &ComponentKind,
    in_a: &[Value],
    in_b: &[Value],
    report: &RestoreReport,
    map: &IdMap,
    matching: &mut Vec<String>,
) -> Vec<Option<usize>> {
    if matches!(k.source, Source::Singleton { .. }) {
        return in_a
            .iter()
            .map(|_| (!in_b.is_empty()).then_some(0))
            .collect();
    }
    let by_id: HashMap<String, usize> = in_b
        .iter()
        .enumerate()
        .map(|(j, d)| (id_of(k, d), j))
        .collect();
    let renamed = report.id_map.get(k.name);
    let mut claimed: HashMap<usize, String> = HashMap::new();
    let mut out: Vec<Option<usize>> = vec![None; in_a.len()];
    let mut by_key = Vec::new();
    for (i, a) in in_a.iter().enumerate() {
        let old = id_of(k, a);
        let told = renamed.and_then(|m| m.get(&old));
        match (by_id.get(told.unwrap_or(&old)), told) {
            (Some(&j), _) => {
                if let Some(other) = claimed.insert(j, old.clone()) {
                    matching.push(format!(
                        "{} {old} and {other} both came back as {} in B",
                        k.name,
                        id_of(k, &in_b[j])
                    ));
                }
                out[i] = Some(j);
            }
            (None, Some(new)) => matching.push(format!(
                "{} {old} ({}): the report says it came back as {new}, which B does not have",
                k.name,
                name_of(k, a)
            )),
            (None, None) => by_key.push(i),
        }
    }
    let mut keys_b: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (j, b) in in_b.iter().enumerate() {
        keys_b.entry(natural_key(k, b)).or_default().push(j);
    }
    for i in by_key {
        let mut a = in_a[i].clone();
        map.rewrite(&mut a);
        let key = natural_key(k, &a);
        let free: Vec<usize> = keys_b
            .get(&key)
            .into_iter()
            .flatten()
            .copied()
            .filter(|j| !claimed.contains_key(j))
            .collect();
        match free.as_slice() {
            [] => {}
            [j] => {
                claimed.insert(*j, id_of(k, &in_a[i]));
                out[i] = Some(*j);
            }
            many => matching.push(format!(
                "{} {} ({}): its natural key {key} names {} items of B",
                k.name,
                id_of(k, &in_a[i]),
                name_of(k, &in_a[i]),
                many.len()
            )),
        }
    }
    out
}

/// The pointers where two documents differ (an absent field and null are the same).
pub fn diff(a: Option<&Value>, b: Option<&Value>, at: &str, out: &mut Vec<String>) {
    let a = a.filter(|v| !v.is_null());
    let b = b.filter(|v| !v.is_null());
    let field = |f: &str| format!("{at}/{}", f.replace('~', "~0").replace('/', "~1"));
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for f in keys {
                diff(x.get(f), y.get(f), &field(f), out);
            }
        }
        (Some(Value::Object(x)), None) | (None, Some(Value::Object(x))) => {
            let other_side_missing = a.is_some();
            for (f, v) in x {
                let (p, q) = if other_side_missing {
                    (Some(v), None)
                } else {
                    (None, Some(v))
                };
                diff(p, q, &field(f), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff(Some(p), Some(q), &format!("{at}/{i}"), out);
            }
        }
        (x, y) if x != y => out.push(at.to_string()),
        _ => {}
    }
}

/// The IDs of A the report maps, for assertions that name a restored item's new ID.
pub fn new_id<'r>(report: &'r RestoreReport, kind: &str, old: &str) -> Option<&'r str> {
    report
        .id_map
        .get(kind)
        .and_then(|m| m.get(old))
        .map(String::as_str)
}

#[test]
fn steps_excuse_only_the_fields_they_are_about() {
    let s = Scope::of(
        "data-connections",
        "enter again: /qPassword (Qlik never returns it), /qConnectStatement (a credential inside the text) (not stored in backups; supply with --secrets or in the Qlik console)",
    );
    assert_eq!(s.fields, vec!["/qPassword"]);
    assert_eq!(s.credentials_in_text, vec!["/qConnectStatement"]);
    let s = Scope::of("webhooks", "enable it once its secret is entered");
    assert_eq!(s.fields, vec!["/enabled"]);
    let s = Scope::of(
        "reload-tasks",
        "it now runs as the identity that restored it; Qlik offers no API to hand a task over",
    );
    assert_eq!(s.fields, vec!["/userId"]);
    assert_eq!(
        Scope::of("apps", "reload them (they were exported without data)"),
        Scope::default()
    );
    assert!(covers("/headers/*", "/headers/Authorization"));
    assert!(covers("/metadata/ownerId", "/metadata/ownerId"));
    assert!(!covers("/metadata/ownerId", "/metadata/owner"));
    assert!(!covers("/enabled", "/name"));
}

/// The old key dropped ID fields, so tasks on one schedule collapsed into one item of B and
/// a task pointing at the wrong app passed. Matched through the report's map, each task is
/// compared with its own restored task, app ID mapped.
#[test]
fn reload_tasks_on_one_schedule_are_matched_apart_and_their_apps_compared() {
    let k = qcb_catalog::kind("reload-tasks").expect("kind");
    let task =
        |id: &str, app: &str| json!({"id": id, "appId": app, "recurrence": ["RRULE:FREQ=DAILY"]});
    let in_a = vec![task("t1", "app-a1"), task("t2", "app-a2")];
    // B's second task runs the wrong app.
    let in_b = vec![task("n2", "app-b1"), task("n1", "app-b1")];
    let report = RestoreReport {
        snapshot: String::new(),
        source_tenant: String::new(),
        target_tenant: String::new(),
        started_at: String::new(),
        finished_at: String::new(),
        counts: qcb_restore::apply::Counts::default(),
        results: vec![],
        manual: vec![],
        unmapped: vec![],
        fallback_owner: None,
        id_map: [
            ("reload-tasks", [("t1", "n1"), ("t2", "n2")]),
            ("apps", [("app-a1", "app-b1"), ("app-a2", "app-b2")]),
        ]
        .into_iter()
        .map(|(k, m)| {
            let m = m.into_iter().map(|(o, n)| (o.to_string(), n.to_string()));
            (k.to_string(), m.collect())
        })
        .collect(),
        api: qcb_qlik::ApiCounters::default(),
    };
    let map = map_of(&report);
    let mut matching = Vec::new();
    let matched = match_items(k, &in_a, &in_b, &report, &map, &mut matching);
    assert_eq!(matched, vec![Some(1), Some(0)]);
    assert!(matching.is_empty(), "{matching:?}");
    let steps = [];
    let second = Item::of(k, &in_a[1], &report, &steps);
    let found = second.compare(&in_a[1], &in_b[0], &map);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].field.as_str(), &found[0].a, &found[0].b),
        ("/appId", &json!("app-b2"), &json!("app-b1"))
    );
    assert!(found[0].excused_by.is_none());
}

/// Sub-resources were not compared: a space's assignee restored as the wrong user, or a
/// compound condition naming conditions B does not have, passed. Members are compared as a
/// set by what they are about (order, their own IDs and stamps aside), A's IDs mapped, and a
/// compound condition through the conditions it names.
#[test]
fn sub_resources_are_compared_as_sets_with_ids_mapped() {
    let spaces = qcb_catalog::kind("spaces").expect("kind");
    let assignments = &spaces.subs[0];
    let mut map = IdMap::default();
    map.insert("users", "ua1", "ub1");
    map.insert("users", "ua2", "ub2");
    map.insert("apps", "app-a", "app-b");
    let a: Read = Ok(vec![
        json!({"id": "x1", "type": "user", "assigneeId": "ua1", "roles": ["producer", "consumer"],
            "createdAt": "2025-01-01T00:00:00Z"}),
        json!({"id": "x2", "type": "user", "assigneeId": "ua2", "roles": ["consumer"]}),
    ]);
    // Listed in another order, new IDs and times, roles reordered: the same. The second
    // assignee is the wrong user.
    let b: Read = Ok(vec![
        json!({"id": "y2", "type": "user", "assigneeId": "ub9", "roles": ["consumer"]}),
        json!({"id": "y1", "type": "user", "assigneeId": "ub1", "roles": ["consumer", "producer"],
            "createdAt": "2026-01-01T00:00:00Z"}),
    ]);
    let want = members(spaces, assignments, &a, &map);
    let have = members(spaces, assignments, &b, &IdMap::default());
    assert_eq!(
        member_differences(&want, &have),
        vec!["/user ub2", "/user ub9"]
    );

    let alerts = qcb_catalog::kind("data-alerts").expect("kind");
    let condition = &alerts.subs[0];
    let data = |id: &str, app: &str| {
        json!({"type": "data", "dataCondition": {"conditionBase": {"id": id, "type": "data",
            "appId": app, "created": "2025-01-01T00:00:00Z"}, "measures": [{"title": "Sales"}]}})
    };
    let compound = |app: &str, named: Value| {
        json!({"hideSelections": false, "conditionResponse": {"type": "compound",
            "compoundCondition": {"conditionBase": {"id": "c0", "type": "compound", "appId": app},
            "data": {"conditions": named, "expression": "$0 AND $1"}}}})
    };
    let a: Read = Ok(vec![compound(
        "app-a",
        json!([data("c1", "app-a"), data("c2", "app-a")]),
    )]);
    // B's first condition is A's under a new ID; its second is none B has.
    let b: Read = Ok(vec![compound("app-b", json!([data("d1", "app-b"), null]))]);
    let want = members(alerts, condition, &a, &map);
    let have = members(alerts, condition, &b, &IdMap::default());
    assert_eq!(
        member_differences(&want, &have),
        vec!["/compoundCondition/data/conditions/1"]
    );
    assert_eq!(sub_row("data-alerts", "condition"), "data-alert-conditions");
    assert_eq!(sub_row("glossaries", "export"), "glossary-exports");
}
