//! Reads every document of one component kind from the tenant, as the catalog describes it,
//! and makes it ready to store: redacted, secrets in free text cut out, keys sorted,
//! pretty-printed. One failing item never fails its kind; a kind the tenant does not offer
//! (403/404 for the whole list) is reported as not covered.

use std::collections::BTreeSet;

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use qcb_catalog::scan::{self, Finding};
use qcb_catalog::{redact::redact, ComponentKind, Source};
use qcb_qlik::{ClientError, Method, Request, TenantClient};
use serde_json::{Map, Value};

use crate::manifest::{Item, ItemStatus};

/// What the parent snapshot holds of the kinds whose items cost extra requests each (a full
/// document by ID, a file download) and have nothing else that could change unseen (no
/// sub-resources): an item whose list entry carries the same modification stamp as the parent's
/// copy is taken from the parent instead of being fetched again.
#[derive(Debug, Default)]
pub struct Reusable {
    /// Snapshot path → the parent's bytes (documents and files).
    pub files: std::collections::HashMap<String, Vec<u8>>,
    /// (kind, id) → the parent's manifest item.
    pub items: std::collections::HashMap<(String, String), Item>,
    /// One-per-tenant documents this run has read already, by path (the tenant itself, read
    /// first for its ID): not asked for twice.
    pub read_already: std::collections::HashMap<&'static str, Value>,
}

/// Collection ID → the items listed this run that name it in `collectionIds`.
pub type Members = std::collections::HashMap<String, Vec<Value>>;

/// What the run learned elsewhere that spares a kind requests: which collections hold the
/// apps listed (for collections), and which spaces' assignments and shares changed since the
/// parent, when the audit log can tell (for spaces; None: every space's are read).
#[derive(Debug, Clone, Copy, Default)]
pub struct Learned<'a> {
    pub members: Option<&'a Members>,
    pub spaces: Option<&'a crate::changes::SpaceChanges>,
}

/// Which listed items each collection holds, by their `collectionIds`.
pub fn members_by_collection(items: &[Value]) -> Members {
    let mut out: std::collections::HashMap<String, Vec<Value>> = Default::default();
    for item in items {
        for c in item
            .get("collectionIds")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            out.entry(c.to_string()).or_default().push(item.clone());
        }
    }
    out
}

/// The fields a list entry's modification stamp may be in.
const STAMPS: &[&str] = &[
    "updatedAt",
    "updateAt",
    "lastUpdated",
    "lastUpdatedAt",
    "modifiedAt",
];

fn stamp(doc: &Value) -> Option<&str> {
    STAMPS
        .iter()
        .find_map(|f| doc.get(*f).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
}

/// Whether the parent's documents of a kind are loaded for reuse: the kinds `reusable` names,
/// and spaces, whose sub-resources the audit log may vouch for.
pub fn parent_copy_wanted(kind: &ComponentKind) -> bool {
    reusable(kind) || kind.name == SPACES
}

const SPACES: &str = "spaces";
const COLLECTIONS: &str = "collections";

/// Whether a kind's items may be taken from the parent when their stamp is unchanged.
pub fn reusable(kind: &ComponentKind) -> bool {
    kind.name != "apps"
        && kind.subs.is_empty()
        && !kind.bundle
        && matches!(kind.source, Source::List { .. })
        && (kind.get_one.is_some() || !kind.files.is_empty())
}

impl Reusable {
    /// The parent's copy of an item, when its stamp equals the list entry's and every file
    /// of it is there.
    fn take(
        &self,
        kind: &ComponentKind,
        id: &str,
        listed: &Value,
        path: &str,
    ) -> Option<(Item, Vec<Stored>)> {
        if !reusable(kind) {
            return None;
        }
        let item = self.items.get(&(kind.name.to_string(), id.to_string()))?;
        let doc = self.files.get(path)?;
        let stored: Value = serde_json::from_slice(doc).ok()?;
        let now = stamp(listed)?;
        if stamp(&stored)? != now {
            return None;
        }
        let mut files = vec![Stored {
            path: path.to_string(),
            bytes: doc.clone(),
        }];
        for f in kind.files {
            let p = format!("{}/{}.{}", kind.folder, safe(id), f.extension);
            match self.files.get(&p) {
                Some(b) => files.push(Stored {
                    path: p,
                    bytes: b.clone(),
                }),
                // A brand without a favicon has none in the parent either; any other file
                // missing means the parent is incomplete: fetch again.
                None if kind.name == "brands" => {}
                None => return None,
            }
        }
        let mut item = item.clone();
        item.status = ItemStatus::Unchanged;
        Some((item, files))
    }

    /// The parent's sub-resources of a space (assignments, shares) when the audit log names
    /// no change to it since the parent and its list entry carries the parent's stamp.
    fn subs_of(
        &self,
        kind: &ComponentKind,
        changes: Option<&crate::changes::SpaceChanges>,
        id: &str,
        listed: &Value,
        path: &str,
    ) -> Option<Value> {
        if kind.name != SPACES || !changes?.unchanged(id) {
            return None;
        }
        self.items.get(&(kind.name.to_string(), id.to_string()))?;
        let stored: Value = serde_json::from_slice(self.files.get(path)?).ok()?;
        if stamp(&stored)? != stamp(listed)? {
            return None;
        }
        let mut subs = Map::new();
        for sub in kind.subs {
            subs.insert(sub.name.to_string(), stored.get(sub.name)?.clone());
        }
        Some(Value::Object(subs))
    }
}

/// A collection's members without asking for them: the items listed this run that name it,
/// when they are as many as the collection's `itemCount` says it holds (a collection holding
/// anything but apps, or an item this identity cannot see, is read as before).
fn members_of(members: &Members, kind: &ComponentKind, id: &str, listed: &Value) -> Option<Value> {
    if kind.name != COLLECTIONS {
        return None;
    }
    let count = listed.get("itemCount")?.as_u64()?;
    let held = members.get(id).cloned().unwrap_or_default();
    (held.len() as u64 == count).then_some(Value::Array(held))
}

/// A data alert's condition as its list entry carries it: the alerting API's
/// `AlertingTaskResponse` holds `conditionResponse` and `hideSelections`, what `GET
/// /data-alerts/{id}/condition` answers. Taken only when it is the condition the alert names
/// (`conditionId`); otherwise the condition is asked for.
fn inline_condition(kind: &ComponentKind, alert: &Value) -> Option<Value> {
    if kind.name != "data-alerts" {
        return None;
    }
    let want = alert.get("conditionId").and_then(Value::as_str)?;
    let condition = alert.get("conditionResponse").filter(|c| c.is_object())?;
    (condition_id(condition) == Some(want)).then(|| {
        serde_json::json!({
            "conditionResponse": condition,
            "hideSelections": alert.get("hideSelections").cloned().unwrap_or(Value::Bool(false)),
        })
    })
}

/// A file to store.
#[derive(Debug)]
pub struct Stored {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// What reading one kind gave.
#[derive(Debug, Default)]
pub struct Collected {
    pub files: Vec<Stored>,
    pub items: Vec<Item>,
    /// Why the whole kind is missing, when it is.
    pub not_covered: Option<String>,
}

/// Object keys sorted at every level, so that snapshots diff cleanly. In place: rebuilding
/// each object hashed every key again, for thousands of documents a run.
pub fn canonical(mut v: Value) -> Value {
    v.sort_all_objects();
    v
}

pub fn pretty(v: Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(&canonical(v)).unwrap_or_default();
    out.push(b'\n');
    out
}

/// A path segment from an ID: only characters that are safe in any file system.
pub fn safe(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

fn fill(path: &str, id: &str, tenant_id: &str) -> String {
    path.replace("{id}", id).replace("{tenantId}", tenant_id)
}

/// Whether an error means the API itself is out of reach (not licensed, not there, not allowed).
pub fn whole_kind_missing(e: &ClientError) -> bool {
    matches!(e.status(), Some(403) | Some(404) | Some(405) | Some(501))
}

/// What a kind's source answers: its list, every page of it, or its one document.
pub async fn list(
    client: &TenantClient,
    kind: &ComponentKind,
    tenant_id: &str,
) -> Result<Vec<Value>, ClientError> {
    pages(client, kind, tenant_id).try_concat().await
}

/// The kind's list a page at a time, as the tenant answers (a one-per-tenant document is one
/// page of one): what is listed can be worked on while later pages are asked for.
pub fn pages(
    client: &TenantClient,
    kind: &ComponentKind,
    tenant_id: &str,
) -> BoxStream<'static, Result<Vec<Value>, ClientError>> {
    match kind.source {
        Source::Singleton { path } => {
            let (client, path) = (client.clone(), fill(path, "", tenant_id));
            futures::stream::once(async move { client.get_json(&path, "").await.map(|v| vec![v]) })
                .boxed()
        }
        Source::List {
            path,
            query,
            property,
        } => client.pages(path, query, property),
    }
}

/// The list of the kind's deprecated API, where it has one.
async fn legacy_list(
    client: &TenantClient,
    kind: &ComponentKind,
) -> Option<Result<Vec<Value>, ClientError>> {
    match kind.legacy {
        Some(Source::List {
            path,
            query,
            property,
        }) => Some(client.list_all(path, query, property).await),
        _ => None,
    }
}

/// Every document of `kind`, except apps (see `apps`).
pub async fn collect(
    client: &TenantClient,
    kind: &'static ComponentKind,
    tenant_id: &str,
    reuse: &Reusable,
    learned: Learned<'_>,
) -> Collected {
    let mut out = Collected::default();
    let already = match kind.source {
        Source::Singleton { path } => reuse.read_already.get(path),
        Source::List { .. } => None,
    };
    let listed = match already {
        Some(doc) => Ok(vec![doc.clone()]),
        None => list(client, kind, tenant_id).await,
    };
    let mut docs = match listed {
        Ok(d) => d,
        Err(e) if whole_kind_missing(&e) => {
            out.not_covered = Some(format!(
                "the tenant does not offer it to this identity: {e}"
            ));
            return out;
        }
        Err(e) => {
            out.items
                .push(failed_item(kind, "*", "", &format!("listing failed: {e}")));
            return out;
        }
    };
    // The deprecated API of the kind may still hold items the new one does not show.
    if let Some(Ok(legacy)) = legacy_list(client, kind).await {
        let seen: BTreeSet<String> = docs
            .iter()
            .filter_map(|d| kind.id_of(d).map(str::to_string))
            .collect();
        docs.extend(
            legacy
                .into_iter()
                .filter(|d| kind.id_of(d).is_some_and(|id| !seen.contains(id))),
        );
    }
    if kind.bundle {
        let label = format!("{} items", docs.len());
        let mut all = Value::Array(docs);
        let item = store(
            kind,
            &mut all,
            "all",
            &label,
            &format!("{}.json", kind.folder),
            &mut out,
        );
        out.items.push(item);
        return out;
    }
    // Items one after the other would leave most of tier 1 unused: a few at a time, in order.
    let owners = &Owners::default();
    let done: Vec<(Collected, bool)> = futures::stream::iter(docs)
        .map(|doc| async move {
            let mut one = Collected::default();
            let (item, not_found) = collect_one(
                client, kind, tenant_id, doc, reuse, learned, owners, &mut one,
            )
            .await;
            one.items.push(item);
            (one, not_found)
        })
        .buffered(ITEMS_IN_FLIGHT)
        .collect()
        .await;
    let suspects: Vec<String> = done
        .iter()
        .filter(|(_, not_found)| *not_found)
        .flat_map(|(one, _)| one.items.iter().map(|i| i.id.clone()))
        .collect();
    let gone = deleted_meanwhile(client, kind, tenant_id, &suspects).await;
    for (one, _) in done {
        match one.items.first().filter(|i| gone.contains(&i.id)) {
            Some(i) => out.items.push(gone_item(kind, &i.id, &i.name)),
            None => {
                out.files.extend(one.files);
                out.items.extend(one.items);
            }
        }
    }
    out
}

/// What the manifest notes on an item deleted while the run went on.
const GONE_NOTE: &str = "deleted from the tenant during the run (listed, then answered 404 and no longer listed): not in this snapshot; the parent snapshot holds it if it was backed up before";

/// An item deleted while the run went on: kept in the manifest as skipped, with a note.
pub(crate) fn gone_item(kind: &ComponentKind, id: &str, name: &str) -> Item {
    let mut item = failed_item(kind, id, name, "");
    item.status = ItemStatus::Skipped;
    item.error = None;
    item.notes.push(GONE_NOTE.into());
    item
}

/// Of `ids`, items of `kind` that answered 404 to one of their own reads, those its list no
/// longer holds: deleted while the run went on (a busy tenant's long run meets that). The list
/// is read again once, only when there are such items; when it cannot be, none is taken for
/// deleted, so the 404s stay failures and nothing out of reach is passed over.
async fn deleted_meanwhile(
    client: &TenantClient,
    kind: &ComponentKind,
    tenant_id: &str,
    ids: &[String],
) -> BTreeSet<String> {
    if ids.is_empty() {
        return BTreeSet::new();
    }
    let Ok(mut docs) = list(client, kind, tenant_id).await else {
        return BTreeSet::new();
    };
    match legacy_list(client, kind).await {
        Some(Ok(legacy)) => docs.extend(legacy),
        Some(Err(_)) => return BTreeSet::new(),
        None => {}
    }
    let listed: BTreeSet<&str> = docs.iter().filter_map(|d| kind.id_of(d)).collect();
    ids.iter()
        .filter(|id| !listed.contains(id.as_str()))
        .cloned()
        .collect()
}

/// Items of one kind read at once.
const ITEMS_IN_FLIGHT: usize = 8;

#[allow(clippy::too_many_arguments)]
async fn collect_one(
    client: &TenantClient,
    kind: &'static ComponentKind,
    tenant_id: &str,
    doc: Value,
    reuse: &Reusable,
    learned: Learned<'_>,
    owners: &Owners,
    out: &mut Collected,
) -> (Item, bool) {
    let singleton = matches!(kind.source, Source::Singleton { .. });
    let id = if singleton {
        kind.name.to_string()
    } else {
        kind.id_of(&doc).unwrap_or_default().to_string()
    };
    let name = doc
        .get(kind.name_field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let path = if singleton {
        format!("{}.json", kind.folder)
    } else {
        format!("{}/{}.json", kind.folder, safe(&id))
    };
    if !singleton && !id.is_empty() {
        if let Some((item, files)) = reuse.take(kind, &id, &doc, &path) {
            out.files.extend(files);
            return (item, false);
        }
    }
    let parent_subs = if singleton || id.is_empty() {
        None
    } else {
        reuse.subs_of(kind, learned.spaces, &id, &doc, &path)
    };
    let mut read_as = None;
    let mut full = match kind.get_one {
        Some(p) if !id.is_empty() => {
            match read_one(client, kind, &fill(p, &id, tenant_id), &doc, owners).await {
                Ok((v, owner)) => {
                    read_as = owner;
                    v
                }
                Err(refused) => {
                    let failed = failed_item(kind, &id, &name, &refused.error);
                    return (failed, refused.not_found);
                }
            }
        }
        _ => doc,
    };
    if let Some(Value::Object(subs)) = parent_subs {
        for (field, v) in subs {
            full[field.as_str()] = v;
        }
        let mut item = store(kind, &mut full, &id, &name, &path, out);
        item.status = ItemStatus::Unchanged;
        return (item, false);
    }
    // A part the run already holds is not asked for again.
    let mut held: Option<(&str, Value)> = match learned.members {
        Some(m) if !singleton && !id.is_empty() => {
            members_of(m, kind, &id, &full).map(|v| ("items", v))
        }
        _ => None,
    }
    .or_else(|| inline_condition(kind, &full).map(|v| ("condition", v)));
    for sub in kind.subs {
        if let Some((_, v)) = held.take_if(|(name, _)| *name == sub.name) {
            full[sub.name] = v;
            continue;
        }
        let path = fill(sub.path, &id, tenant_id);
        let got = match sub.list {
            Some((query, property)) => client
                .list_all(&path, query, property)
                .await
                .map(Value::Array),
            None => client.call_json(&Request::get(path)).await.map(|(_, v)| v),
        };
        match got {
            Ok(v) => full[sub.name] = v,
            Err(e) => {
                let failed = failed_item(
                    kind,
                    &id,
                    &name,
                    &format!("reading its {} failed: {e}", sub.name),
                );
                return (failed, not_found(&e));
            }
        }
    }
    if kind.name == "data-alerts" {
        match member_conditions(client, &full["condition"]).await {
            Ok(Some(members)) => full[MEMBER_CONDITIONS] = members,
            Ok(None) => {}
            Err(e) => {
                let failed = failed_item(
                    kind,
                    &id,
                    &name,
                    &format!("reading the conditions its compound condition combines failed: {e}"),
                );
                return (failed, false);
            }
        }
    }
    for file in kind.files {
        let method = file.method.parse::<Method>().unwrap_or(Method::GET);
        // A POST here only reads (a download or export action): safe to repeat.
        let req = Request::new(method, fill(file.path, &id, tenant_id)).idempotent();
        match download(client, req).await {
            Ok(bytes) => out.files.push(Stored {
                path: format!("{}/{}.{}", kind.folder, safe(&id), file.extension),
                bytes,
            }),
            // A brand without a favicon answers 404 for it: there is nothing to keep.
            Err(e) if e.status() == Some(404) => {}
            Err(e) => {
                let failed = failed_item(
                    kind,
                    &id,
                    &name,
                    &format!("downloading its {} failed: {e}", file.extension),
                );
                return (failed, false);
            }
        }
    }
    let mut item = store(kind, &mut full, &id, &name, &path, out);
    if let Some(owner) = read_as {
        item.notes.push(format!(
            "read as its owner {owner} (OAuth user impersonation): Qlik lets only the owner read it"
        ));
    }
    (item, false)
}

/// Owners of items only their owner may read ([`ComponentKind::read_as_owner`]) whom this
/// client could not act as, and why: their other items are not tried again. The clients that
/// act as owners are the client's own, one per user (`TenantClient::impersonating`).
#[derive(Default)]
pub(crate) struct Owners {
    refused: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl Owners {
    /// A client acting as `owner`, or why there is none.
    fn client(&self, client: &TenantClient, owner: &str) -> Result<TenantClient, String> {
        let refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(why) = refused.get(owner) {
            return Err(why.clone());
        }
        client
            .impersonating(qcb_qlik::UserLookup::UserId(owner.to_string()))
            .ok_or_else(|| {
                "an API key cannot act as another user: back up with an OAuth M2M client that may impersonate users (the user-impersonation grant) to include it".to_string()
            })
    }

    /// Notes that the tenant would not let this client act as `owner`: `why`.
    fn refuse(&self, owner: &str, why: String) {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        refused.insert(owner.to_string(), why);
    }
}

/// Why an item's own document could not be read, and whether Qlik said it is not there.
struct Unread {
    error: String,
    not_found: bool,
}

/// An item's own document (`path`). A kind only whose owner may read its items
/// ([`ComponentKind::read_as_owner`]) is asked again as the owner when Qlik refuses the
/// backup's identity (403, or 404 as Qlik answers what it hides): the document, and the owner
/// it was read as. Where that cannot be (an API key; a client Qlik does not let impersonate),
/// the error says what would reach it.
async fn read_one(
    client: &TenantClient,
    kind: &ComponentKind,
    path: &str,
    listed: &Value,
    owners: &Owners,
) -> Result<(Value, Option<String>), Unread> {
    let e = match client.get_json(path, "").await {
        Ok(v) => return Ok((v, None)),
        Err(e) => e,
    };
    let missing = not_found(&e);
    let refused = matches!(e.status(), Some(403) | Some(404));
    let owner = kind
        .read_as_owner
        .filter(|_| refused)
        .and_then(|p| listed.pointer(p))
        .and_then(Value::as_str)
        .filter(|o| !o.is_empty());
    let Some(owner) = owner else {
        return Err(Unread {
            error: e.to_string(),
            not_found: missing,
        });
    };
    let as_owner = match owners.client(client, owner) {
        Ok(c) => c,
        Err(why) => {
            return Err(Unread {
                error: format!("{e}; Qlik lets only its owner ({owner}) read it, and {why}"),
                not_found: missing,
            })
        }
    };
    match as_owner.get_json(path, "").await {
        Ok(v) => Ok((v, Some(owner.to_string()))),
        Err(again) => {
            let hint = match again.status() {
                Some(401) | Some(403) => "; an owner who is disabled or lacks the rights cannot be acted as: enable them, or give the item another owner, to back it up",
                // The token endpoint refused: this client may not impersonate (or not them).
                _ if matches!(again, ClientError::Auth { .. }) => "; allow the OAuth client user impersonation (the user-impersonation grant) to include it",
                _ => "",
            };
            // Signing in as them failed, or their token was refused even fresh: their other
            // items are not tried again, and say why.
            if matches!(again, ClientError::Auth { .. }) || again.status() == Some(401) {
                owners.refuse(
                    owner,
                    format!("the tenant did not let this client act as them ({again}){hint}"),
                );
            }
            Err(Unread {
                error: format!(
                    "{e}; read as its owner {owner} (OAuth user impersonation), it answered: {again}{hint}"
                ),
                // Gone since it was listed, whatever its owner may do: the list tells.
                not_found: missing,
            })
        }
    }
}

/// Whether Qlik answered that the thing asked for is not there.
fn not_found(e: &ClientError) -> bool {
    e.status() == Some(404)
}

/// The users, groups and apps a space's assignments and shares name.
fn named_by_access(space: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    for (sub, fields) in [
        ("assignments", &["assigneeId"][..]),
        ("shares", &["assigneeId", "resourceId"][..]),
    ] {
        for entry in space
            .get(sub)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.extend(
                fields
                    .iter()
                    .filter_map(|f| entry.get(*f).and_then(Value::as_str))
                    .filter(|s| !s.is_empty()),
            );
        }
    }
    out
}

/// Reads again, whole, every space whose assignments and shares were taken from the parent
/// but name a user, group or app that this run did not find (deleted since, or not read):
/// the audit log vouches for the spaces service's own changes, not for what a deletion
/// elsewhere did to them. Returns how many were read again.
///
/// With `all`, every space whose access was copied is read again (the audit log was found
/// not to record this run's own actions).
pub async fn recheck_copied_spaces(
    client: &TenantClient,
    tenant_id: &str,
    items: &mut [Item],
    files: &mut Vec<Stored>,
    all: bool,
) -> usize {
    let Some(kind) = qcb_catalog::kind(SPACES) else {
        return 0;
    };
    let stale: Vec<(usize, Value)> = {
        let known: std::collections::HashSet<&str> = items
            .iter()
            .filter(|i| i.status != ItemStatus::Failed)
            .map(|i| i.id.as_str())
            .collect();
        let by_path: std::collections::HashMap<&str, &[u8]> = files
            .iter()
            .map(|f| (f.path.as_str(), f.bytes.as_slice()))
            .collect();
        items
            .iter()
            .enumerate()
            .filter(|(_, i)| i.kind == SPACES && i.status == ItemStatus::Unchanged)
            .filter_map(|(at, i)| {
                let doc: Value = by_path
                    .get(i.path.as_str())
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                let gone = all
                    || doc.is_null()
                    || named_by_access(&doc).iter().any(|id| !known.contains(id));
                gone.then_some((at, doc))
            })
            .collect()
    };
    let n = stale.len();
    let mut suspects = Vec::new();
    for (at, mut doc) in stale {
        if let Value::Object(m) = &mut doc {
            for sub in kind.subs {
                m.remove(sub.name);
            }
        }
        let path = items[at].path.clone();
        if doc.is_null() {
            // The copied document cannot be read back: keep the item, marked failed.
            items[at] = failed_item(
                kind,
                &items[at].id,
                &items[at].name,
                "its copied document could not be read back",
            );
            files.retain(|f| f.path != path);
            continue;
        }
        let mut one = Collected::default();
        let (item, not_found) = collect_one(
            client,
            kind,
            tenant_id,
            doc,
            &Reusable::default(),
            Learned::default(),
            &Owners::default(),
            &mut one,
        )
        .await;
        files.retain(|f| f.path != path);
        files.extend(one.files);
        if not_found {
            suspects.push(at);
        }
        items[at] = item;
    }
    let ids: Vec<String> = suspects.iter().map(|at| items[*at].id.clone()).collect();
    let gone = deleted_meanwhile(client, kind, tenant_id, &ids).await;
    for at in suspects {
        if gone.contains(&items[at].id) {
            items[at] = gone_item(kind, &items[at].id, &items[at].name);
        }
    }
    n
}

/// A condition's ID, wherever Qlik puts it: at the top, or in its `conditionBase` (as `GET`
/// answers it, wrapped in `conditionResponse` or not).
pub fn condition_id(condition: &Value) -> Option<&str> {
    let inner = condition.get("conditionResponse").unwrap_or(condition);
    [
        "/id",
        "/dataCondition/conditionBase/id",
        "/compoundCondition/conditionBase/id",
    ]
    .iter()
    .find_map(|p| inner.pointer(p).and_then(Value::as_str))
}

/// Where a data alert's document keeps the conditions its compound condition combines, by ID.
pub const MEMBER_CONDITIONS: &str = "memberConditions";

/// The IDs a compound condition combines (as `GET …/condition` answers it, wrapped or not).
pub fn compound_members(condition: &Value) -> Vec<String> {
    [
        "/conditionResponse/compoundCondition/data/conditions",
        "/compoundCondition/data/conditions",
    ]
    .iter()
    .find_map(|p| condition.pointer(p).and_then(Value::as_array))
    .into_iter()
    .flatten()
    .filter_map(Value::as_str)
    .map(str::to_string)
    .collect()
}

/// A compound condition names other conditions by ID only: they are read too, so that a
/// restore can create them first (a snapshot without them could not rebuild the alert).
async fn member_conditions(
    client: &TenantClient,
    condition: &Value,
) -> Result<Option<Value>, ClientError> {
    let ids = compound_members(condition);
    if ids.is_empty() {
        return Ok(None);
    }
    let mut members = Map::new();
    for id in ids {
        // Condition IDs are URL-safe (hex or base64url), as every ID in the paths here.
        let path = format!("/api/v1/conditions/{id}");
        let (_, v) = client.call_json(&Request::get(path)).await?;
        members.insert(id, v);
    }
    Ok(Some(Value::Object(members)))
}

async fn download(client: &TenantClient, req: Request) -> Result<Vec<u8>, ClientError> {
    let mut dl = client.download_request(req).await?;
    let mut bytes = Vec::new();
    while let Some(chunk) = dl.stream.next().await {
        bytes.extend_from_slice(&chunk?);
    }
    Ok(bytes)
}

/// Redacts, scans and queues one document.
fn store(
    kind: &'static ComponentKind,
    doc: &mut Value,
    id: &str,
    name: &str,
    path: &str,
    out: &mut Collected,
) -> Item {
    let findings: Vec<Finding> = kind
        .scan
        .iter()
        .flat_map(|field| texts_under(doc, field))
        .flat_map(|(at, text)| scan::find(&text, &at))
        .collect();
    let redacted = redact(kind, doc);
    let bytes = pretty(std::mem::take(doc));
    let item = Item {
        kind: kind.name.to_string(),
        id: id.to_string(),
        name: name.to_string(),
        path: path.to_string(),
        status: ItemStatus::BackedUp,
        bytes: bytes.len() as u64,
        error: None,
        redacted,
        findings,
        restore: kind.restore,
        notes: vec![],
        files: vec![],
    };
    out.files.push(Stored {
        path: path.to_string(),
        bytes,
    });
    item
}

/// Every string under a pointer (`*` matches any member), with its pointer.
fn texts_under(doc: &Value, pointer: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let target = if pointer.is_empty() {
        Some(doc)
    } else {
        doc.pointer(pointer)
    };
    if let Some(v) = target {
        strings(v, pointer.to_string(), &mut out);
    }
    out
}

fn strings(v: &Value, at: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => out.push((at, s.clone())),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| strings(x, format!("{at}/{i}"), out)),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, x)| strings(x, format!("{at}/{k}"), out)),
        _ => {}
    }
}

pub fn failed_item(kind: &ComponentKind, id: &str, name: &str, error: &str) -> Item {
    Item {
        kind: kind.name.to_string(),
        id: id.to_string(),
        name: name.to_string(),
        path: String::new(),
        status: ItemStatus::Failed,
        bytes: 0,
        error: Some(error.to_string()),
        redacted: vec![],
        findings: vec![],
        restore: kind.restore,
        notes: vec![],
        files: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_are_stored_with_sorted_keys() {
        let v = json!({"b": 1, "a": {"d": 2, "c": [ {"z": 1, "y": 2}, 3, 1 ], "B": null}});
        let text = String::from_utf8(pretty(v)).unwrap();
        // Every level sorted (bytewise: upper case first), arrays kept in their order.
        let want = json!({"a": {"B": null, "c": [ {"y": 2, "z": 1}, 3, 1 ], "d": 2}, "b": 1});
        assert_eq!(
            text,
            format!("{}\n", serde_json::to_string_pretty(&want).unwrap())
        );
    }

    #[test]
    fn an_alert_s_listed_condition_is_taken_only_when_it_is_the_one_it_names() {
        let kind = qcb_catalog::kind("data-alerts").expect("kind");
        let alert =
            |cond: Value| json!({"id": "a", "conditionId": "c1", "conditionResponse": cond});
        let listed =
            alert(json!({"type": "data", "dataCondition": {"conditionBase": {"id": "c1"}}}));
        let got = inline_condition(kind, &listed).expect("taken");
        assert_eq!(
            got["conditionResponse"]["dataCondition"]["conditionBase"]["id"],
            "c1"
        );
        assert_eq!(got["hideSelections"], false);
        // Another condition, an empty one, or none: asked for.
        assert!(inline_condition(kind, &alert(json!({"id": "c2"}))).is_none());
        assert!(inline_condition(kind, &alert(json!({}))).is_none());
        assert!(inline_condition(kind, &json!({"id": "a", "conditionId": "c1"})).is_none());
        let other = qcb_catalog::kind("collections").expect("kind");
        assert!(inline_condition(other, &listed).is_none());
    }

    #[test]
    fn ids_become_safe_path_segments() {
        assert_eq!(safe("a1-b_2.c"), "a1-b_2.c");
        assert_eq!(safe("auth0|x/y"), "auth0_x_y");
        assert_eq!(safe(".."), "_..");
        assert_eq!(safe(""), "_");
    }
}
