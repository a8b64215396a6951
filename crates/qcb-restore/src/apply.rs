//! Carrying out a plan: each kind in dependency order, items of a kind in parallel (within
//! the client's rate limits), IDs remapped as they are learnt, secrets filled in from the
//! secrets file or left out and listed, owners handed back. One failing item never stops the
//! restore; it is reported with its error. Nothing is ever deleted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use qcb_backup::collect::{compound_members, MEMBER_CONDITIONS};
use qcb_catalog::scan::TEXT_MARKER;
use qcb_catalog::{spec, ComponentKind, Source};
use qcb_qlik::{ApiCounters, ClientError, Method, Request, TenantClient};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::{json, Value};

use crate::ids::IdMap;
use crate::inputs::Secrets;
use crate::plan::{
    create_fields, create_path, differences, project, singleton_by_put, singleton_fields,
    singleton_write_path, strip_markers, Action, FallbackOwner, OnConflict, Plan, Step, Unmapped,
    APP_REPLACE,
};
use crate::snapshot::{Entry, SnapshotData, Staged};
use crate::target::Target;

/// Told of each item as it is done (for a progress display); sees outcomes, never documents.
pub type OnResult = std::sync::Arc<dyn Fn(&ItemResult) + Send + Sync>;

/// How to carry a plan out.
#[derive(Clone)]
pub struct ApplyOptions {
    pub on_conflict: OnConflict,
    /// Who owns what was restored when its original owner is not in the target (a user ID,
    /// subject or e-mail of the target).
    pub fallback_owner: Option<String>,
    /// Writes in flight at once (the client's limiter paces them).
    pub concurrency: usize,
    /// How long to keep asking while Qlik refuses (403) to hand a just-published app to its
    /// owner: it may for a while after a publish (QLIK-API.md §3a; Qlik's own deploy script
    /// retries for 120 s).
    pub owner_wait: Duration,
    pub on_result: Option<OnResult>,
}

impl std::fmt::Debug for ApplyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyOptions")
            .field("on_conflict", &self.on_conflict)
            .field("fallback_owner", &self.fallback_owner)
            .field("concurrency", &self.concurrency)
            .field("owner_wait", &self.owner_wait)
            .finish_non_exhaustive()
    }
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            on_conflict: OnConflict::Skip,
            fallback_owner: None,
            concurrency: 8,
            owner_wait: Duration::from_secs(120),
            on_result: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Written.
    Done,
    /// Nothing written: the target's is identical.
    Skipped,
    /// Nothing written: the target's exists and differs, and was left as it is
    /// (`--on-conflict skip`, or nothing can overwrite it).
    Conflict,
    /// Left to a person (see the manual steps).
    Manual,
    Failed,
}

impl Outcome {
    /// Its column in [`RestoreReport::per_kind`].
    fn index(self) -> usize {
        match self {
            Outcome::Done => 0,
            Outcome::Skipped => 1,
            Outcome::Conflict => 2,
            Outcome::Manual => 3,
            Outcome::Failed => 4,
        }
    }
}

/// How many items ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub done: usize,
    pub skipped: usize,
    pub conflicts: usize,
    pub manual: usize,
    pub failed: usize,
}

impl Counts {
    fn of(results: &[ItemResult]) -> Counts {
        let n = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
        Counts {
            done: n(Outcome::Done),
            skipped: n(Outcome::Skipped),
            conflicts: n(Outcome::Conflict),
            manual: n(Outcome::Manual),
            failed: n(Outcome::Failed),
        }
    }
}

/// What happened to one item.
#[derive(Debug, Clone, Serialize)]
pub struct ItemResult {
    pub kind: String,
    pub id: String,
    pub name: String,
    pub action: Action,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_id: Option<String>,
    pub detail: String,
}

/// Something a person still has to do.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ManualStep {
    pub kind: String,
    pub id: String,
    pub name: String,
    pub what: String,
}

/// Conflicts listed one by one in the terminal summary.
const SHOWN_CONFLICTS: usize = 20;

/// The result of a restore.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub snapshot: String,
    pub source_tenant: String,
    pub target_tenant: String,
    pub started_at: String,
    pub finished_at: String,
    /// Items done, skipped (identical), left in conflict, left to a person, failed.
    pub counts: Counts,
    pub results: Vec<ItemResult>,
    pub manual: Vec<ManualStep>,
    /// References to users, groups and spaces neither in the target nor restored (known
    /// before writing; what referred to them was restored without them).
    pub unmapped: Vec<Unmapped>,
    /// Who got the items whose owner is not in the target (each is a manual step too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_owner: Option<FallbackOwner>,
    /// Old → new IDs per kind, where they changed.
    pub id_map: BTreeMap<String, BTreeMap<String, String>>,
    pub api: ApiCounters,
}

impl RestoreReport {
    pub fn count(&self, o: Outcome) -> usize {
        self.results.iter().filter(|r| r.outcome == o).count()
    }

    /// Per kind: items done, skipped, in conflict, manual, failed.
    pub fn per_kind(&self) -> BTreeMap<&str, [usize; 5]> {
        let mut per: BTreeMap<&str, [usize; 5]> = BTreeMap::new();
        for r in &self.results {
            per.entry(&r.kind).or_default()[r.outcome.index()] += 1;
        }
        per
    }

    pub fn failed(&self) -> bool {
        self.count(Outcome::Failed) > 0
    }

    /// One line of counts: "3 done, 1 skipped, 2 conflicts, 0 manual, 0 failed".
    pub fn totals(&self) -> String {
        format!(
            "{} done, {} skipped, {} conflicts, {} manual, {} failed",
            self.count(Outcome::Done),
            self.count(Outcome::Skipped),
            self.count(Outcome::Conflict),
            self.count(Outcome::Manual),
            self.count(Outcome::Failed)
        )
    }

    /// A summary for a terminal.
    pub fn summary(&self) -> String {
        let per = self.per_kind();
        let mut out = format!(
            "restore of snapshot {} ({}) into {}: {}\n{:<26} {:>6} {:>8} {:>9} {:>7} {:>7}\n",
            self.snapshot,
            self.source_tenant,
            self.target_tenant,
            self.totals(),
            "kind",
            "done",
            "skipped",
            "conflicts",
            "manual",
            "failed"
        );
        for (k, c) in per {
            out.push_str(&format!(
                "{k:<26} {:>6} {:>8} {:>9} {:>7} {:>7}\n",
                c[0], c[1], c[2], c[3], c[4]
            ));
        }
        for r in self.results.iter().filter(|r| r.outcome == Outcome::Failed) {
            out.push_str(&format!(
                "failed: {} {} ({}): {}\n",
                r.kind, r.id, r.name, r.detail
            ));
        }
        // Thousands of conflicts are possible (a restore into a busy tenant): the first few
        // here, all of them in the Markdown report.
        let conflicts: Vec<&ItemResult> = self
            .results
            .iter()
            .filter(|r| r.outcome == Outcome::Conflict)
            .collect();
        for r in conflicts.iter().take(SHOWN_CONFLICTS) {
            out.push_str(&format!(
                "conflict: {} {} ({}): {}\n",
                r.kind, r.id, r.name, r.detail
            ));
        }
        if conflicts.len() > SHOWN_CONFLICTS {
            out.push_str(&format!(
                "… and {} more conflicts (see the report)\n",
                conflicts.len() - SHOWN_CONFLICTS
            ));
        }
        for u in &self.unmapped {
            out.push_str(&u.describe());
            out.push('\n');
        }
        out.push_str(&format!(
            "{} manual steps left (see the runbook); API: {} requests, {} throttled, {} retried\n",
            self.manual.len(),
            self.api.requests,
            self.api.throttled,
            self.api.retries
        ));
        out
    }
}

struct Ctx<'a> {
    client: &'a TenantClient,
    data: &'a SnapshotData,
    staged: &'a Staged,
    target: &'a Target,
    secrets: &'a Secrets,
    opts: &'a ApplyOptions,
    map: Mutex<IdMap>,
    manual: Mutex<Vec<ManualStep>>,
    /// Spaces to hand to their owners once everything is in them: (new space, entry, the
    /// name it was created under — the snapshot's, or the renamed one).
    space_owners: Mutex<Vec<(String, usize, String)>>,
    /// Space shares to add once apps exist: (new space, share document).
    shares: Mutex<Vec<(String, Value, usize)>>,
    fallback: Option<FallbackOwner>,
    /// Target users this client could not create as (OAuth impersonation refused, or the user
    /// may not create it): not tried again.
    not_as: Mutex<HashSet<String>>,
}

/// Whom an item goes to: a target user, and whether it is the fallback owner.
type NewOwner = (String, bool);

type Written = Result<(Option<String>, String), String>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ctx<'_> {
    fn manual(&self, e: &Entry, what: String) {
        lock(&self.manual).push(ManualStep {
            kind: e.kind.name.to_string(),
            id: e.id.clone(),
            name: e.name.clone(),
            what,
        });
    }

    fn rewrite(&self, v: &mut Value) {
        lock(&self.map).rewrite(v);
    }

    fn mapped(&self, old: &str) -> Option<String> {
        lock(&self.map).get(old).map(str::to_string)
    }

    /// The target user who should own an item the snapshot says `old` owned: the original
    /// owner (or whom the map file names), else the fallback owner. None when the restorer
    /// keeps it — said in the report when it had an owner.
    fn owner_for(&self, e: &Entry, old: &str) -> Option<NewOwner> {
        if old.is_empty() {
            return None;
        }
        match (self.mapped(old), &self.fallback) {
            (Some(owner), _) => Some((owner, false)),
            (None, Some(f)) => Some((f.id.clone(), true)),
            (None, None) => {
                self.manual(
                    e,
                    format!(
                        "its owner {} is not in the target: the restorer owns it now (use --fallback-owner or --map)",
                        self.user_label(old)
                    ),
                );
                None
            }
        }
    }

    /// A user of the snapshot as a person knows them: subject and e-mail, else the ID.
    fn user_label(&self, id: &str) -> String {
        self.data
            .entries
            .iter()
            .find(|e| e.kind.name == "users" && e.id == id)
            .map(|u| {
                let email = u.str_at("/email");
                let who = if email.is_empty() {
                    u.str_at("/subject").to_string()
                } else {
                    format!("{} <{email}>", u.str_at("/subject"))
                };
                format!("{id} ({who})")
            })
            .unwrap_or_else(|| id.to_string())
    }

    /// A user of the target as a person knows them: e-mail, else subject, else the ID.
    fn target_user(&self, id: &str) -> String {
        self.target
            .find_user(id)
            .and_then(|u| {
                [u["email"].as_str(), u["subject"].as_str()]
                    .into_iter()
                    .flatten()
                    .find(|s| !s.is_empty())
            })
            .map(|who| format!("{who} ({id})"))
            .unwrap_or_else(|| id.to_string())
    }

    /// Notes an item handed to the fallback owner, naming its original owner.
    fn handed_to_fallback(&self, e: &Entry, old: &str) {
        let given = self
            .fallback
            .as_ref()
            .map(|f| f.given.as_str())
            .unwrap_or_default();
        self.manual(
            e,
            format!(
                "handed to the fallback owner {given}: its owner {} is not in the target; hand it to the right user (or restore again with --map)",
                self.user_label(old)
            ),
        );
    }

    /// The document to send: references rewritten, secrets filled in where supplied (the
    /// rest left out and listed), only the fields the spec's request names.
    fn body(&self, e: &Entry, op: Option<(&str, &str)>) -> Value {
        let mut doc = e.attrs().clone();
        self.rewrite(&mut doc);
        let mut missing = Vec::new();
        // A credential cut out of a text field (a connection string) is a marker inside the
        // text: the supplied value replaces the marker, the rest of the text stays.
        let in_text = |doc: &Value, ptr: &str| {
            e.kind.scan.contains(&ptr)
                && doc
                    .pointer(ptr)
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.contains(TEXT_MARKER))
        };
        for ptr in &e.redacted {
            if in_text(&doc, ptr) {
                continue;
            }
            match self.secrets.get(e.kind.name, &e.id, &e.name, ptr) {
                Some(v) => {
                    if let Some(slot) = doc.pointer_mut(ptr) {
                        *slot = Value::String(v.expose_secret().to_string());
                    }
                }
                None => missing.push(ptr.clone()),
            }
        }
        for ptr in e.kind.scan {
            if !in_text(&doc, ptr) {
                continue;
            }
            match self.secrets.get(e.kind.name, &e.id, &e.name, ptr) {
                Some(v) => {
                    if let Some(Value::String(t)) = doc.pointer_mut(ptr) {
                        *t = t.replace(TEXT_MARKER, v.expose_secret());
                    }
                }
                None => missing.push(format!("{ptr} (a credential inside the text)")),
            }
        }
        // Fields Qlik never returns (a data connection's qPassword) may be supplied too.
        let handled: Vec<&str> = e
            .redacted
            .iter()
            .map(String::as_str)
            .chain(e.kind.scan.iter().copied())
            .collect();
        for (ptr, v) in self.secrets.fields(e.kind.name, &e.id, &e.name) {
            if handled.contains(&ptr) {
                continue;
            }
            match ptr.strip_prefix('/').filter(|f| !f.contains('/')) {
                Some(field) => {
                    if let Some(m) = doc.as_object_mut() {
                        m.insert(
                            field.to_string(),
                            Value::String(v.expose_secret().to_string()),
                        );
                    }
                }
                None => {
                    if let Some(slot) = doc.pointer_mut(ptr) {
                        *slot = Value::String(v.expose_secret().to_string());
                    }
                }
            }
        }
        if e.kind.name == "data-connections"
            && !e.str_at("/qUsername").is_empty()
            && self
                .secrets
                .get(e.kind.name, &e.id, &e.name, "/qPassword")
                .is_none()
        {
            missing.push("/qPassword (Qlik never returns it)".into());
        }
        if !missing.is_empty() {
            self.manual(
                e,
                format!(
                    "enter again: {} (not stored in backups; supply with --secrets or in the Qlik console)",
                    missing.join(", ")
                ),
            );
        }
        strip_markers(&mut doc);
        match op {
            Some((method, path)) => spec::shape_request(method, path, &doc),
            None => doc,
        }
    }

    fn missing_secret(&self, e: &Entry) -> bool {
        e.redacted
            .iter()
            .any(|p| self.secrets.get(e.kind.name, &e.id, &e.name, p).is_none())
    }
}

fn api_err(e: ClientError) -> String {
    e.to_string()
}

fn new_id_of(k: &ComponentKind, v: &Value) -> Option<String> {
    v.get(k.id_field)
        .or_else(|| v.get("id"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The spec's item path under a list path with the given method (`/api/v1/spaces/{spaceId}`).
fn item_path(list: &str, method: &str) -> Option<&'static str> {
    spec::REQUEST_FIELDS
        .iter()
        .find(|(m, p, _, _)| {
            *m == method
                && p.strip_prefix(list)
                    .and_then(|rest| rest.strip_prefix("/{"))
                    .is_some_and(|rest| rest.ends_with('}') && !rest.contains('/'))
        })
        .map(|(_, p, _, _)| *p)
}

fn fill_id(path: &str, id: &str) -> String {
    match (path.find('{'), path.rfind('}')) {
        (Some(a), Some(b)) if a < b => format!("{}{}{}", &path[..a], id, &path[b + 1..]),
        _ => path.to_string(),
    }
}

/// Carries the plan out against the target.
pub async fn apply(
    client: &TenantClient,
    data: &SnapshotData,
    staged: &Staged,
    plan: Plan,
    target: &Target,
    secrets: &Secrets,
    opts: &ApplyOptions,
) -> RestoreReport {
    let started_at = chrono::Utc::now().to_rfc3339();
    // `execute` has checked it against the target; a direct caller gets None for a user the
    // target does not have (the restorer keeps those items, and the report says so).
    let fallback = plan.fallback_owner.clone().or_else(|| {
        opts.fallback_owner
            .as_deref()
            .and_then(|g| crate::plan::fallback_owner(target, g).ok())
    });
    let ctx = Ctx {
        client,
        data,
        staged,
        target,
        secrets,
        opts,
        map: Mutex::new(plan.map.clone()),
        manual: Mutex::new(Vec::new()),
        space_owners: Mutex::new(Vec::new()),
        shares: Mutex::new(Vec::new()),
        fallback: fallback.clone(),
        not_as: Mutex::new(HashSet::new()),
    };
    let unmapped = plan.unmapped.clone();
    let mut results = Vec::new();
    // Steps grouped by kind, in plan order.
    let mut groups: Vec<(String, Vec<Step>)> = Vec::new();
    for s in plan.steps {
        match groups.last_mut() {
            Some((k, v)) if *k == s.kind => v.push(s),
            _ => groups.push((s.kind.clone(), vec![s])),
        }
    }
    for (kind, steps) in groups {
        let out = match kind.as_str() {
            "apps" => apps_in_waves(&ctx, steps).await,
            "scheduling-tasks" => {
                let ordered = topological(&ctx, steps);
                let mut out = Vec::new();
                for s in ordered {
                    out.push(run_step(&ctx, s).await);
                }
                out
            }
            "license-assignments" => licenses(&ctx, steps).await,
            _ => {
                futures::stream::iter(steps.into_iter().map(|s| run_step(&ctx, s)))
                    .buffered(opts.concurrency.max(1))
                    .collect()
                    .await
            }
        };
        results.extend(out);
    }
    finish_spaces(&ctx, &mut results).await;
    // Apps come back without data: each needs a reload.
    let reloaded: Vec<&ItemResult> = results
        .iter()
        .filter(|r| r.kind == "apps" && r.outcome == Outcome::Done)
        .collect();
    if !reloaded.is_empty() {
        lock(&ctx.manual).push(ManualStep {
            kind: "apps".into(),
            id: "*".into(),
            name: format!("{} restored apps", reloaded.len()),
            what: "reload them (they were exported without data); the restore report lists their new IDs".into(),
        });
    }
    let mut manual = std::mem::take(&mut *lock(&ctx.manual));
    manual.sort();
    manual.dedup();
    let id_map = lock(&ctx.map).by_kind.clone();
    RestoreReport {
        snapshot: data.info.short_id.clone(),
        source_tenant: data.manifest.tenant.hostname.clone(),
        target_tenant: target.url.clone(),
        started_at,
        finished_at: chrono::Utc::now().to_rfc3339(),
        counts: Counts::of(&results),
        results,
        manual,
        unmapped,
        fallback_owner: fallback,
        id_map,
        api: client.counters(),
    }
}

fn result(step: &Step, outcome: Outcome, new_id: Option<String>, detail: String) -> ItemResult {
    ItemResult {
        kind: step.kind.clone(),
        id: step.id.clone(),
        name: step.name.clone(),
        action: step.action,
        outcome,
        new_id,
        detail,
    }
}

async fn run_step(ctx: &Ctx<'_>, step: Step) -> ItemResult {
    let r = run_step_inner(ctx, step).await;
    tell(ctx, &r);
    r
}

fn tell(ctx: &Ctx<'_>, r: &ItemResult) {
    if let Some(f) = &ctx.opts.on_result {
        f(r);
    }
}

async fn run_step_inner(ctx: &Ctx<'_>, step: Step) -> ItemResult {
    let e = &ctx.data.entries[step.entry];
    match step.action {
        Action::Skip => result(
            &step,
            Outcome::Skipped,
            step.existing.clone(),
            step.reason.clone(),
        ),
        Action::Manual => {
            ctx.manual(e, step.reason.clone());
            result(&step, Outcome::Manual, None, step.reason.clone())
        }
        Action::Update => match update_singleton(ctx, e).await {
            Ok(detail) => result(&step, Outcome::Done, None, detail),
            Err(err) => result(&step, Outcome::Failed, None, err),
        },
        Action::Conflict => match ctx.opts.on_conflict {
            OnConflict::Skip => result(
                &step,
                Outcome::Conflict,
                step.existing.clone(),
                format!(
                    "{}; the target's is kept (--on-conflict {} to change that)",
                    step.reason,
                    if e.kind.name == "apps" {
                        "rename"
                    } else {
                        "rename|replace"
                    }
                ),
            ),
            OnConflict::Rename => {
                let renamed = format!("{} (restored)", e.name);
                finish(ctx, &step, create(ctx, e, Some(renamed)).await)
            }
            // Said in the plan already; the app is left as it is, not failed.
            OnConflict::Replace if e.kind.name == "apps" => {
                ctx.manual(e, format!("not replaced: {APP_REPLACE}"));
                result(
                    &step,
                    Outcome::Conflict,
                    step.existing.clone(),
                    "the target's app is kept: an app cannot be replaced in place".into(),
                )
            }
            OnConflict::Replace => {
                let existing = step.existing.clone().unwrap_or_default();
                finish(ctx, &step, replace(ctx, e, &existing).await)
            }
        },
        Action::Create => finish(ctx, &step, create(ctx, e, None).await),
    }
}

fn finish(ctx: &Ctx<'_>, step: &Step, w: Written) -> ItemResult {
    match w {
        Ok((new_id, detail)) => {
            if let Some(new) = &new_id {
                lock(&ctx.map).insert(&step.kind, &step.id, new);
            }
            result(step, Outcome::Done, new_id, detail)
        }
        Err(err) => result(step, Outcome::Failed, None, err),
    }
}

/// Creates one item; returns its new ID.
async fn create(ctx: &Ctx<'_>, e: &Entry, rename: Option<String>) -> Written {
    match e.kind.name {
        "apps" => create_app(ctx, e, rename).await,
        "themes" | "extensions" => create_bundle(ctx, e, rename).await,
        "brands" => create_brand(ctx, e, rename).await,
        "report-templates" => create_template(ctx, e, rename).await,
        "glossaries" => import_glossary(ctx, e, rename).await,
        "data-alerts" => create_alert(ctx, e, rename).await,
        _ => create_plain(ctx, e, rename).await,
    }
}

fn set_name(k: &ComponentKind, body: &mut Value, rename: Option<String>) {
    if let (Some(n), Some(m)) = (rename, body.as_object_mut()) {
        m.insert(k.name_field.to_string(), Value::String(n));
    }
}

async fn post(ctx: &Ctx<'_>, path: &str, query: &str, body: &Value) -> Result<Value, String> {
    ctx.client
        .call_json(&Request::new(Method::POST, path).query(query).json(body))
        .await
        .map(|(_, v)| v)
        .map_err(api_err)
}

async fn create_plain(ctx: &Ctx<'_>, e: &Entry, rename: Option<String>) -> Written {
    let k = e.kind;
    let Some(path) = create_path(k) else {
        return Err(format!(
            "qcb knows no create API for {}; restore it by hand from the runbook",
            k.name
        ));
    };
    let mut body = ctx.body(e, Some(("POST", path)));
    let renamed = rename.is_some();
    if renamed {
        // Created beside the existing item: its ID (a data connection's qID, which a create
        // may set) belongs to that one.
        if let Some(m) = body.as_object_mut() {
            m.remove(k.id_field);
        }
        if k.name == "data-connections" {
            ctx.manual(e, format!("created beside the existing connection as '{}': load scripts name connections by name (lib://…), so they still use the existing one until it is renamed", rename.as_deref().unwrap_or_default()));
        }
    }
    set_name(k, &mut body, rename);
    let mut notes = Vec::new();
    match k.name {
        "ip-policies" => {
            // Restored disabled: a policy that does not let the restorer in would lock it out.
            body["enabled"] = json!(false);
            if e.doc["enabled"] == json!(true) {
                ctx.manual(
                    e,
                    "restored disabled: check its allowed IPs, then enable it".into(),
                );
            }
        }
        "webhooks" if ctx.missing_secret(e) => {
            body["enabled"] = json!(false);
            notes.push("created disabled until its secret is entered");
        }
        "sharing-tasks" => {
            // A report task names its report template; the spec marks `templateId` read-only
            // (deprecated), yet a report task cannot be made without it.
            let mut original = e.doc.get("templates").cloned().unwrap_or(Value::Null);
            ctx.rewrite(&mut original);
            if let (Some(sent), Some(orig)) =
                (body["templates"].as_array_mut(), original.as_array())
            {
                for (t, o) in sent.iter_mut().zip(orig) {
                    if let (Some(id), Some(m)) = (o.get("templateId"), t.as_object_mut()) {
                        m.insert("templateId".into(), id.clone());
                    }
                }
            }
        }
        "collections" => {
            let t = e.str_at("/type");
            if t == "private" || t == "favorite" {
                return Err(format!(
                    "a {t} collection belongs to its user; they recreate it (or restore as that user)"
                ));
            }
        }
        _ => {}
    }
    let created = match task_owner(e) {
        Some(owner) => create_as(ctx, &owner, path, &body).await?,
        None => post(ctx, path, "", &body).await?,
    };
    let new_id = new_id_of(k, &created).ok_or_else(|| format!("{path} answered without an ID"))?;
    lock(&ctx.map).insert(k.name, &e.id, &new_id);
    after_create(ctx, e, &new_id, &created, &mut notes).await;
    Ok((Some(new_id), notes.join("; ")))
}

/// The user a task of the snapshot ran as, in the snapshot's IDs (`None` for other kinds).
fn task_owner(e: &Entry) -> Option<String> {
    let owner = match e.kind.name {
        "reload-tasks" => e.str_at("/userId").to_string(),
        "scheduling-tasks" => e
            .doc
            .pointer("/metadata/ownerId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => return None,
    };
    (!owner.is_empty()).then_some(owner)
}

/// The user a created task runs as, from the create's answer.
fn created_owner(kind: &str, created: &Value) -> Option<String> {
    let p = if kind == "reload-tasks" {
        "/userId"
    } else {
        "/metadata/ownerId"
    };
    created
        .pointer(p)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Creates a task as its owner when the owner is in the target and this OAuth client may
/// impersonate users: no task API takes an owner, and a task runs as whoever created it.
/// Else (an API key, impersonation refused, the owner absent) as the restorer; the step
/// after the create says so.
async fn create_as(ctx: &Ctx<'_>, owner: &str, path: &str, body: &Value) -> Result<Value, String> {
    let user = ctx
        .mapped(owner)
        .filter(|u| *u != ctx.target.me && !lock(&ctx.not_as).contains(u));
    if let Some(user) = user {
        let client = ctx
            .client
            .impersonating(qcb_qlik::UserLookup::UserId(user.clone()));
        if let Some(client) = client {
            match client
                .call_json(&Request::new(Method::POST, path).json(body))
                .await
            {
                Ok((_, v)) => return Ok(v),
                Err(err) => {
                    // Not allowed to impersonate (or the user may not create it): once per
                    // user, then as the restorer.
                    tracing::info!(
                        "creating a task as its owner {user} failed ({}); creating it as the restorer",
                        api_err(err)
                    );
                    lock(&ctx.not_as).insert(user);
                }
            }
        }
    }
    post(ctx, path, "", body).await
}

/// What a created item still needs: assignments, members, owner, state.
async fn after_create(
    ctx: &Ctx<'_>,
    e: &Entry,
    new_id: &str,
    created: &Value,
    notes: &mut [&'static str],
) {
    match e.kind.name {
        "spaces" => {
            add_assignments(ctx, e, new_id, &HashMap::new()).await;
            let name = created["name"]
                .as_str()
                .unwrap_or(e.str_at("/name"))
                .to_string();
            lock(&ctx.space_owners).push((new_id.to_string(), entry_index(ctx, e), name));
            for share in e.doc["shares"].as_array().into_iter().flatten() {
                lock(&ctx.shares).push((new_id.to_string(), share.clone(), entry_index(ctx, e)));
            }
        }
        "collections" => {
            for item in e.doc["items"].as_array().into_iter().flatten() {
                let old = item["resourceId"].as_str().unwrap_or_default();
                let Some(new_app) = ctx.mapped(old) else {
                    ctx.manual(
                        e,
                        format!(
                            "member '{}' was not restored; add it by hand",
                            item["name"].as_str().unwrap_or(old)
                        ),
                    );
                    continue;
                };
                let q = format!(
                    "resourceType={}&resourceId={}",
                    enc(item["resourceType"].as_str().unwrap_or("app")),
                    enc(&new_app)
                );
                let item_id = ctx
                    .client
                    .get_json("/api/v1/items", &q)
                    .await
                    .ok()
                    .and_then(|v| v["data"][0]["id"].as_str().map(str::to_string));
                match item_id {
                    Some(id) => {
                        if let Err(err) = post(
                            ctx,
                            &format!("/api/v1/collections/{new_id}/items"),
                            "",
                            &json!({"id": id}),
                        )
                        .await
                        {
                            ctx.manual(e, format!("could not add member {new_app}: {err}"));
                        }
                    }
                    None => ctx.manual(
                        e,
                        format!("member {new_app} has no item yet; add it by hand"),
                    ),
                }
            }
        }
        "automations" | "automation-connections" => {
            hand_automation_over(ctx, e, new_id, created).await;
            if e.kind.name == "automation-connections" {
                ctx.manual(e, "enter its credentials again or consent to the OAuth connector in the automation editor".into());
            } else if e.doc.get("executionToken").is_some() && e.doc["runMode"] == json!("webhook")
            {
                ctx.manual(e, format!("its webhook trigger has a new URL/token: update the callers (new automation ID {new_id})"));
            }
        }
        "reload-tasks" | "scheduling-tasks" => {
            let owner = if e.kind.name == "reload-tasks" {
                e.str_at("/userId")
            } else {
                e.doc
                    .pointer("/metadata/ownerId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            };
            let runs_as = created_owner(e.kind.name, created);
            let wanted = ctx.mapped(owner);
            if !owner.is_empty()
                && wanted.as_deref() != Some(ctx.target.me.as_str())
                && (wanted.is_none() || runs_as != wanted)
            {
                ctx.manual(e, "it now runs as the identity that restored it; Qlik offers no API to hand a task over (qcb creates a task as its owner only when its OAuth client may impersonate users), so its owner recreates or takes it over in the console if it must run as them".into());
            }
            task_state(ctx, e, new_id, created).await;
        }
        "users" if e.doc["status"] == json!("disabled") => {
            let patch = json!([{"op": "replace", "path": "/status", "value": "disabled"}]);
            let r = ctx
                .client
                .call_json(&Request::new(Method::PATCH, format!("/api/v1/users/{new_id}")).json(&patch))
                .await;
            if let Err(err) = r {
                ctx.manual(e, format!("disable the user by hand (it was disabled): {err}"));
            }
        }
        "webhooks" => {
            let names: Vec<&str> = e.doc["encryptedHeaders"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !names.is_empty() {
                ctx.manual(e, format!("enter its encrypted headers again: {}", names.join(", ")));
            }
            if notes.contains(&"created disabled until its secret is entered") {
                ctx.manual(e, "enable it once its secret is entered".into());
            }
        }
        "web-integrations" => ctx.manual(
            e,
            format!("embedding sites must use the new web integration ID {new_id} (was {})", e.id),
        ),
        "oauth-clients" => ctx.manual(
            e,
            format!(
                "its consumers need the new client ID {new_id} (was {}) and a new secret: generate one in the console (the secret issued at creation is not kept)",
                e.id
            ),
        ),
        _ => {}
    }
}

/// Hands an automation (or an automation connection) to its owner, or to the fallback owner
/// (reported), or says who keeps it.
async fn hand_automation_over(ctx: &Ctx<'_>, e: &Entry, new_id: &str, created: &Value) {
    let old = e.str_at("/ownerId");
    let Some((owner, fallback)) = ctx.owner_for(e, old) else {
        return;
    };
    if owner != ctx.target.me && created["ownerId"].as_str() != Some(owner.as_str()) {
        let base = create_path(e.kind).unwrap_or_default();
        let path = format!("{base}/{new_id}/actions/change-owner");
        if let Err(err) = post(ctx, &path, "", &json!({"userId": owner})).await {
            ctx.manual(
                e,
                format!(
                    "hand it to its owner {} by hand: {err}",
                    ctx.target_user(&owner)
                ),
            );
            return;
        }
        if e.kind.name == "automations" {
            // The spec of change-owner: "All linked connections used in the automation are
            // detached and not moved to the new owner."
            let connectors = e.doc["connectorIds"].as_array().map_or(0, Vec::len);
            let used = if connectors > 0 {
                format!(" (its blocks use {connectors} connectors)")
            } else {
                String::new()
            };
            ctx.manual(
                e,
                format!("handed to {}, and Qlik detaches an automation's linked connections when its owner changes: open it in the automation editor as its owner and re-attach its connections{used}", ctx.target_user(&owner)),
            );
        }
    }
    if fallback {
        ctx.handed_to_fallback(e, old);
    }
}

/// A task comes back in the state it had: reload tasks created enabled are disabled again,
/// scheduling tasks (created disabled) are enabled again.
async fn task_state(ctx: &Ctx<'_>, e: &Entry, new_id: &str, created: &Value) {
    match e.kind.name {
        "reload-tasks"
            if e.doc["state"] == json!("Disabled") && created["state"] != json!("Disabled") =>
        {
            if let Some(path) = item_path("/api/v1/reload-tasks", "PUT") {
                let mut body = ctx.body(e, Some(("PUT", path)));
                body["state"] = json!("Disabled");
                let r = ctx
                    .client
                    .call_json(&Request::new(Method::PUT, fill_id(path, new_id)).json(&body))
                    .await;
                if let Err(err) = r {
                    ctx.manual(e, format!("disable it by hand (it was disabled): {err}"));
                }
            }
        }
        "scheduling-tasks"
            if e.doc["enabled"] == json!(true) && created["enabled"] != json!(true) =>
        {
            let patch = json!([{"op": "replace", "path": "/enabled", "value": true}]);
            let r = ctx
                .client
                .call_json(
                    &Request::new(Method::PATCH, format!("/api/scheduling/tasks/{new_id}"))
                        .json(&patch),
                )
                .await;
            if let Err(err) = r {
                ctx.manual(
                    e,
                    format!("enable it by hand (it was created disabled): {err}"),
                );
            }
        }
        _ => {}
    }
}

fn entry_index(ctx: &Ctx<'_>, e: &Entry) -> usize {
    ctx.data
        .entries
        .iter()
        .position(|x| std::ptr::eq(x, e))
        .unwrap_or(0)
}

/// Adds the space's assignments the target does not have yet.
/// A space's assignments in the target: assignee → (assignment ID, roles).
async fn space_assignments(ctx: &Ctx<'_>, space: &str) -> HashMap<String, (String, Vec<String>)> {
    ctx.client
        .list_all(
            &format!("/api/v1/spaces/{space}/assignments"),
            "limit=100",
            "data",
        )
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|a| {
            let assignee = a["assigneeId"].as_str()?.to_string();
            let id = a["id"].as_str()?.to_string();
            Some((assignee, (id, role_list(a))))
        })
        .collect()
}

fn role_list(a: &Value) -> Vec<String> {
    a["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// An assignee already in the space keeps its assignment (Qlik holds one per assignee) and
/// gets the snapshot's roles it lacks: restore adds, never removes.
async fn add_missing_roles(
    ctx: &Ctx<'_>,
    e: &Entry,
    space: &str,
    assignee: &str,
    (id, roles): &(String, Vec<String>),
    wanted: &Value,
) {
    let mut all = roles.clone();
    for r in role_list(wanted) {
        if !all.contains(&r) {
            all.push(r);
        }
    }
    if all.len() == roles.len() {
        return;
    }
    let path = format!("/api/v1/spaces/{space}/assignments/{id}");
    let body = spec::shape_request(
        "PUT",
        "/api/v1/spaces/{spaceId}/assignments/{assignmentId}",
        &json!({ "roles": all }),
    );
    if let Err(err) = ctx
        .client
        .call_json(&Request::new(Method::PUT, path).json(&body))
        .await
    {
        ctx.manual(
            e,
            format!(
                "roles {} of {assignee} could not be added to its assignment: {}",
                roles_of(wanted),
                api_err(err)
            ),
        );
    }
}

async fn add_assignments(
    ctx: &Ctx<'_>,
    e: &Entry,
    space: &str,
    have: &HashMap<String, (String, Vec<String>)>,
) {
    for a in e.doc["assignments"].as_array().into_iter().flatten() {
        let old = a["assigneeId"].as_str().unwrap_or_default();
        let Some(assignee) = ctx.mapped(old) else {
            ctx.manual(
                e,
                format!("assignment of {} {old} ({}) left out: it is not in the target; map it with --map", a["type"].as_str().unwrap_or("user"), roles_of(a)),
            );
            continue;
        };
        if assignee == ctx.target.me
            && a["roles"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x == "owner"))
        {
            continue;
        }
        if let Some(existing) = have.get(&assignee) {
            add_missing_roles(ctx, e, space, &assignee, existing, a).await;
            continue;
        }
        let body = json!({"type": a["type"], "assigneeId": assignee, "roles": a["roles"]});
        if let Err(err) = post(
            ctx,
            &format!("/api/v1/spaces/{space}/assignments"),
            "",
            &body,
        )
        .await
        {
            if err.contains("409") {
                // Assigned meanwhile (a new space's creator, say): add what it lacks.
                let now = space_assignments(ctx, space).await;
                match now.get(&assignee) {
                    Some(existing) => {
                        add_missing_roles(ctx, e, space, &assignee, existing, a).await
                    }
                    None => ctx.manual(
                        e,
                        format!("assignment of {assignee} ({}) failed: {err}", roles_of(a)),
                    ),
                }
            } else {
                ctx.manual(
                    e,
                    format!("assignment of {assignee} ({}) failed: {err}", roles_of(a)),
                );
            }
        }
    }
}

fn roles_of(a: &Value) -> String {
    a["roles"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// Once apps are in: space shares, then each created space handed to its owner (last, so
/// the restorer keeps the right to publish into it until then).
async fn finish_spaces(ctx: &Ctx<'_>, results: &mut [ItemResult]) {
    let shares = std::mem::take(&mut *lock(&ctx.shares));
    for (space, share, i) in shares {
        let e = &ctx.data.entries[i];
        let mut body = Value::Object(project(
            &share,
            spec::request_fields("POST", "/api/v1/spaces/{spaceId}/shares")
                .map(|(f, _)| f)
                .unwrap_or_default(),
        ));
        ctx.rewrite(&mut body);
        if let Err(err) = post(ctx, &format!("/api/v1/spaces/{space}/shares"), "", &body).await {
            ctx.manual(
                e,
                format!(
                    "share of {} failed: {err}",
                    share["resourceId"].as_str().unwrap_or("?")
                ),
            );
        }
    }
    let owners = std::mem::take(&mut *lock(&ctx.space_owners));
    for (space, i, name) in owners {
        let e = &ctx.data.entries[i];
        let old = e.str_at("/ownerId");
        let Some((owner, fallback)) = ctx.owner_for(e, old) else {
            continue;
        };
        if owner == ctx.target.me {
            if fallback {
                ctx.handed_to_fallback(e, old);
            }
            continue;
        }
        let body = json!({"name": name, "description": e.str_at("/description"), "ownerId": owner});
        let r = ctx
            .client
            .call_json(&Request::new(Method::PUT, format!("/api/v1/spaces/{space}")).json(&body))
            .await;
        if let Err(err) = r {
            if let Some(res) = results
                .iter_mut()
                .find(|r| r.kind == "spaces" && r.id == e.id)
            {
                res.detail = format!("created; handing it to its owner failed: {err}");
            }
            ctx.manual(e, format!("hand the space to its owner by hand: {err}"));
        } else if fallback {
            ctx.handed_to_fallback(e, old);
        }
    }
}

/// A conflict under `--on-conflict replace`: the existing item is overwritten with the
/// snapshot's where the API has an update.
async fn replace(ctx: &Ctx<'_>, e: &Entry, existing: &str) -> Written {
    let k = e.kind;
    let Source::List { path: list, .. } = k.source else {
        return Err("not a list kind".into());
    };
    if let Some(put) = item_path(list, "PUT") {
        let body = ctx.body(e, Some(("PUT", put)));
        ctx.client
            .call_json(&Request::new(Method::PUT, fill_id(put, existing)).json(&body))
            .await
            .map_err(api_err)?;
    } else if let Some(patch) = item_path(list, "PATCH") {
        let current = ctx
            .client
            .get_json(&fill_id(patch, existing), "")
            .await
            .map_err(api_err)?;
        let paths = spec::patch_paths("PATCH", patch).unwrap_or_default();
        let fields: Vec<&str> = if paths.is_empty() {
            create_fields(k).unwrap_or_default().to_vec()
        } else {
            paths
                .iter()
                .filter(|p| !p.contains('{') && p.matches('/').count() == 1)
                .map(|p| p.trim_start_matches('/'))
                .collect()
        };
        let want = project(&ctx.body(e, None), &fields);
        let ops: Vec<Value> = differences(&want, &current)
            .into_iter()
            .map(|f| json!({"op": "replace", "path": format!("/{f}"), "value": want[&f]}))
            .collect();
        if !ops.is_empty() {
            ctx.client
                .call_json(
                    &Request::new(Method::PATCH, fill_id(patch, existing)).json(&Value::Array(ops)),
                )
                .await
                .map_err(api_err)?;
        }
    } else {
        return Err(format!(
            "{} has no update API; the target's is kept",
            k.name
        ));
    }
    if k.name == "spaces" {
        let have = space_assignments(ctx, existing).await;
        add_assignments(ctx, e, existing, &have).await;
    }
    Ok((
        Some(existing.to_string()),
        "replaced with the snapshot's".into(),
    ))
}

/// A setting (one document per tenant) written back.
async fn update_singleton(ctx: &Ctx<'_>, e: &Entry) -> Result<String, String> {
    let k = e.kind;
    let Source::Singleton { path } = k.source else {
        return Err("not a setting".into());
    };
    let write_path = singleton_write_path(k, path);
    let filled = write_path.replace("{tenantId}", &ctx.target.tenant_id);
    let fields = singleton_fields(k, path);
    let doc = ctx.body(e, None);
    let want = project(&doc, &fields);
    if k.name == "email-config" && e.doc.get("passwordExists") == Some(&json!(true)) {
        ctx.manual(
            e,
            "enter the SMTP password (or client secret) again in the console".into(),
        );
    }
    let current_doc = ctx
        .target
        .items(k.name)
        .first()
        .cloned()
        .unwrap_or(Value::Null);
    if spec::request_fields("PATCH", &write_path).is_some()
        && !singleton_by_put(k, path, &want, &current_doc)
    {
        let current = match ctx
            .client
            .get_json(&path.replace("{tenantId}", &ctx.target.tenant_id), "")
            .await
        {
            Ok(v) => v,
            Err(e) if e.status() == Some(404) => Value::Null,
            Err(e) => return Err(api_err(e)),
        };
        // `replace` needs the member to exist; `add` sets it either way.
        let ops: Vec<Value> = differences(&want, &current)
            .into_iter()
            .map(|f| {
                let op = if current.get(&f).is_some() {
                    "replace"
                } else {
                    "add"
                };
                json!({"op": op, "path": format!("/{f}"), "value": want[&f]})
            })
            .collect();
        let n = ops.len();
        let ops = spec::shape_request("PATCH", &write_path, &Value::Array(ops));
        let patched = ctx
            .client
            .call_json(&Request::new(Method::PATCH, filled.clone()).json(&ops))
            .await;
        return match patched {
            Ok(_) => Ok(format!("{n} settings patched")),
            // Settings that do not exist yet (tenant-settings answers 404) are created.
            Err(e)
                if e.status() == Some(404)
                    && spec::request_fields("POST", &write_path).is_some() =>
            {
                let body = spec::shape_request("POST", &write_path, &Value::Object(want));
                ctx.client
                    .call_json(&Request::new(Method::POST, filled).json(&body))
                    .await
                    .map_err(api_err)?;
                Ok("created".into())
            }
            Err(e) => Err(api_err(e)),
        };
    }
    let (method, at) = if spec::request_fields("PUT", &write_path).is_some() {
        (Method::PUT, filled)
    } else if k.name == "banners" {
        (Method::POST, "/api/v1/banners/actions/upsert".to_string())
    } else {
        return Err(format!(
            "{} has no write API; set it by hand from the runbook",
            k.name
        ));
    };
    let body = if method == Method::PUT {
        spec::shape_request("PUT", &write_path, &doc)
    } else {
        spec::shape_request(method.as_str(), &at, &Value::Object(want))
    };
    ctx.client
        .call_json(&Request::new(method, at).json(&body))
        .await
        .map_err(api_err)?;
    Ok("written".into())
}

// ------------------------------------------------------------------ apps

/// Apps that other apps were published from go first, so a published copy can name its
/// restored source.
async fn apps_in_waves(ctx: &Ctx<'_>, steps: Vec<Step>) -> Vec<ItemResult> {
    let ids: HashSet<&str> = steps.iter().map(|s| s.id.as_str()).collect();
    let (later, first): (Vec<Step>, Vec<Step>) = steps.iter().cloned().partition(|s| {
        let origin = ctx.data.entries[s.entry].str_at("/originAppId");
        !origin.is_empty() && ids.contains(origin)
    });
    let mut out = Vec::new();
    for wave in [first, later] {
        let r: Vec<ItemResult> = futures::stream::iter(wave.into_iter().map(|s| run_step(ctx, s)))
            .buffered(ctx.opts.concurrency.max(1))
            .collect()
            .await;
        out.extend(r);
    }
    out
}

async fn create_app(ctx: &Ctx<'_>, e: &Entry, rename: Option<String>) -> Written {
    let name = rename.unwrap_or_else(|| e.str_at("/name").to_string());
    let qvf = e
        .files
        .iter()
        .find(|(s, _)| s == "qvf")
        .and_then(|(_, p)| ctx.staged.path(p))
        .ok_or("the snapshot holds no export of this app")?;
    let len = tokio::fs::metadata(qvf)
        .await
        .map_err(|err| format!("cannot read the staged export: {err}"))?
        .len();
    let qvf = qvf.to_path_buf();
    let old_space = e.str_at("/spaceId");
    let space = if old_space.is_empty() {
        String::new()
    } else {
        match ctx.mapped(old_space) {
            Some(s) => s,
            None => {
                ctx.manual(e, format!("its space {old_space} is not in the target: the app was put in the restorer's personal space; move it"));
                String::new()
            }
        }
    };
    let space_type = ctx
        .target
        .space_type(&space)
        .map(str::to_string)
        .or_else(|| {
            ctx.data
                .entries
                .iter()
                .find(|s| s.kind.name == "spaces" && s.id == old_space)
                .map(|s| s.str_at("/type").to_string())
        })
        .unwrap_or_default();
    let managed = space_type == "managed";
    let mut query = format!("name={}&mode=NEW", enc(&name));
    if !space.is_empty() && !managed {
        query.push_str(&format!("&spaceId={}", enc(&space)));
    }
    let req = Request::new(Method::POST, "/api/v1/apps/import")
        .query(query)
        .file(qvf, len, "application/octet-stream");
    let (_, imported) = ctx.client.call_json(&req).await.map_err(api_err)?;
    let mut id = imported["attributes"]["id"]
        .as_str()
        .ok_or("the import answered without an app ID")?
        .to_string();
    let mut detail = vec![];
    let mut published = false;
    if managed {
        let origin = e.str_at("/originAppId");
        let origin = ctx.mapped(origin).unwrap_or_else(|| id.clone());
        let body = json!({
            "spaceId": space, "moveApp": true, "originAppId": origin,
            "attributes": {"name": name, "description": e.str_at("/description")},
        });
        match post(ctx, &format!("/api/v1/apps/{id}/publish"), "", &body).await {
            Ok(answer) => {
                if let Some(p) = answer["attributes"]["id"].as_str() {
                    id = p.to_string();
                }
                detail.push("published to its managed space");
                published = true;
            }
            Err(err) => {
                ctx.manual(
                    e,
                    format!("publish it to its managed space by hand (app {id}): {err}"),
                );
                detail.push("imported, not published");
            }
        }
    }
    lock(&ctx.map).insert("apps", &e.id, &id);
    hand_app_over(ctx, e, &id, published).await;
    Ok((Some(id), detail.join("; ")))
}

/// Hands a restored app to its owner, or to the fallback owner (reported), or says who
/// keeps it.
async fn hand_app_over(ctx: &Ctx<'_>, e: &Entry, id: &str, published: bool) {
    let old = e.str_at("/ownerId");
    let Some((owner, fallback)) = ctx.owner_for(e, old) else {
        return;
    };
    if owner != ctx.target.me {
        let req = Request::new(Method::PUT, format!("/api/v1/apps/{id}/owner"))
            .json(&json!({"ownerId": owner}));
        // Only a refusal right after a publish is worth waiting out; any other is final.
        let wait = if published {
            ctx.opts.owner_wait
        } else {
            Duration::ZERO
        };
        if let Err(err) = retry_forbidden(wait, || ctx.client.call_json(&req)).await {
            ctx.manual(
                e,
                format!(
                    "hand the app (now {id}) to its owner {} by hand: {err}",
                    ctx.target_user(&owner)
                ),
            );
            return;
        }
    }
    if fallback {
        ctx.handed_to_fallback(e, old);
    }
}

/// Calls `call` again while it answers 403, with a growing pause, until `wait` has passed.
/// Qlik may refuse calls on an app it has just published for up to two minutes (QLIK-API.md
/// §3a); Qlik's own deploy script retries for 120 s.
async fn retry_forbidden<T, F, Fut>(wait: Duration, mut call: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let started = tokio::time::Instant::now();
    // 1 s, 2 s, 4 s … 15 s apart for the default two minutes.
    let mut pause = wait / 120;
    let longest = wait / 8;
    loop {
        match call().await {
            Err(err) if err.status() == Some(403) && started.elapsed() + pause < wait => {
                tracing::debug!("{err}; asking again in {} ms", pause.as_millis());
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(longest);
            }
            other => return other,
        }
    }
}

// ------------------------------------------------------------------ files

const BOUNDARY: &str = "qcb-restore-7f3a9c1e5b2d4f60a8e1c3b5d7f9a2c4";
const MULTIPART: &str =
    "multipart/form-data; boundary=qcb-restore-7f3a9c1e5b2d4f60a8e1c3b5d7f9a2c4";

fn part(out: &mut Vec<u8>, name: &str, filename: Option<&str>, content_type: &str, body: &[u8]) {
    out.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes(),
    );
    if let Some(f) = filename {
        out.extend_from_slice(format!("; filename=\"{}\"", f.replace('"', "")).as_bytes());
    }
    out.extend_from_slice(format!("\r\nContent-Type: {content_type}\r\n\r\n").as_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

async fn staged_file(ctx: &Ctx<'_>, e: &Entry, suffix: &str) -> Option<Vec<u8>> {
    let p = e
        .files
        .iter()
        .find(|(s, _)| s == suffix)
        .and_then(|(_, p)| ctx.staged.path(p))?;
    tokio::fs::read(p).await.ok()
}

fn holds_boundary(bytes: &[u8]) -> bool {
    bytes
        .windows(BOUNDARY.len())
        .any(|w| w == BOUNDARY.as_bytes())
}

async fn send_multipart(ctx: &Ctx<'_>, path: &str, body: Vec<u8>) -> Result<Value, String> {
    ctx.client
        .call_json(&Request::new(Method::POST, path).bytes(Bytes::from(body), MULTIPART))
        .await
        .map(|(_, v)| v)
        .map_err(api_err)
}

async fn create_bundle(ctx: &Ctx<'_>, e: &Entry, rename: Option<String>) -> Written {
    let k = e.kind;
    let Source::List { path, .. } = k.source else {
        return Err("not a list kind".into());
    };
    let zip = staged_file(ctx, e, "zip")
        .await
        .ok_or("the snapshot holds no zip for it")?;
    if holds_boundary(&zip) {
        return Err("the zip holds qcb's multipart boundary; upload it by hand".into());
    }
    let data_part = format!("{path}#data");
    let mut data = ctx.body(e, Some(("POST", &data_part)));
    if let Some(m) = data.as_object_mut() {
        m.remove("file");
    }
    set_name(k, &mut data, rename);
    let mut body = Vec::new();
    part(
        &mut body,
        "data",
        None,
        "application/json",
        data.to_string().as_bytes(),
    );
    part(
        &mut body,
        "file",
        Some(&format!("{}.zip", e.str_at("/qextFilename"))),
        "application/zip",
        &zip,
    );
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    let created = send_multipart(ctx, path, body).await?;
    let id = new_id_of(k, &created).ok_or("the upload answered without an ID")?;
    Ok((Some(id), String::new()))
}

async fn create_brand(ctx: &Ctx<'_>, e: &Entry, rename: Option<String>) -> Written {
    let mut body = Vec::new();
    let name = rename.unwrap_or_else(|| e.str_at("/name").to_string());
    part(&mut body, "name", None, "text/plain", name.as_bytes());
    part(
        &mut body,
        "description",
        None,
        "text/plain",
        e.str_at("/description").as_bytes(),
    );
    for f in e.doc["files"].as_array().into_iter().flatten() {
        let which = f["id"].as_str().unwrap_or_default();
        if let Some(bytes) = staged_file(ctx, e, which)
            .await
            .filter(|b| !holds_boundary(b))
        {
            let ct = f["contentType"]
                .as_str()
                .unwrap_or("application/octet-stream");
            part(&mut body, which, Some(which), ct, &bytes);
        }
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    let created = send_multipart(ctx, "/api/v1/brands", body).await?;
    let id = new_id_of(e.kind, &created).ok_or("the upload answered without an ID")?;
    if e.doc["active"] == json!(true) {
        if let Err(err) = post(
            ctx,
            &format!("/api/v1/brands/{id}/actions/activate"),
            "",
            &json!({}),
        )
        .await
        {
            ctx.manual(e, format!("activate the brand by hand: {err}"));
        }
    }
    Ok((Some(id), String::new()))
}

/// Uploads bytes as a temporary content; returns its ID.
async fn upload_temp(ctx: &Ctx<'_>, filename: &str, bytes: Vec<u8>) -> Result<String, String> {
    let req = Request::new(Method::POST, "/api/v1/temp-contents")
        .query(format!("filename={}&ttl=3600", enc(filename)))
        .bytes(Bytes::from(bytes), "application/octet-stream");
    let resp = ctx.client.send(&req).await.map_err(api_err)?;
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or("the upload answered without a Location")?;
    location
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .map(str::to_string)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| "the upload answered an empty Location".into())
}

async fn create_template(ctx: &Ctx<'_>, e: &Entry, rename: Option<String>) -> Written {
    let file = staged_file(ctx, e, "bin")
        .await
        .ok_or("the snapshot holds no template file")?;
    let name = rename.unwrap_or_else(|| e.str_at("/name").to_string());
    let temp = upload_temp(ctx, &format!("{}.bin", crate::snapshot_safe(&name)), file).await?;
    let source = e.str_at("/sourceAppId");
    let source = ctx.mapped(source).unwrap_or_else(|| source.to_string());
    let body = json!({
        "name": name, "description": e.str_at("/description"), "sourceAppId": source,
        "sourceAppAction": "replace", "temporaryContentId": temp,
    });
    let created = post(ctx, "/api/v1/report-templates", "", &body).await?;
    let id = new_id_of(e.kind, &created).ok_or("the template answered without an ID")?;
    Ok((Some(id), String::new()))
}

async fn import_glossary(ctx: &Ctx<'_>, e: &Entry, rename: Option<String>) -> Written {
    let mut export = e
        .doc
        .get("export")
        .cloned()
        .ok_or("the snapshot holds no export of this glossary")?;
    ctx.rewrite(&mut export);
    if let (Some(n), Some(m)) = (rename, export.as_object_mut()) {
        m.insert("name".into(), Value::String(n));
    }
    let mut query = "importerAsFallbackSteward=true&lookupUserOnEmail=true".to_string();
    let space = e.str_at("/spaceId");
    if let Some(s) = ctx.mapped(space).filter(|_| !space.is_empty()) {
        query.push_str(&format!("&spaceId={}", enc(&s)));
    }
    let created = post(ctx, "/api/v1/glossaries/actions/import", &query, &export).await?;
    let id = new_id_of(e.kind, &created).ok_or("the import answered without an ID")?;
    Ok((Some(id), String::new()))
}

/// Creates a condition from its document as `GET` answers it (wrapped in
/// `conditionResponse` or not), its references rewritten; gives its new ID.
async fn create_condition(ctx: &Ctx<'_>, cond: &Value) -> Result<String, String> {
    // The condition as GET answers it wraps the definition; a create names its type.
    let inner = cond
        .get("conditionResponse")
        .cloned()
        .unwrap_or(cond.clone());
    let ty = match inner.get("type").and_then(Value::as_str) {
        Some(t) => t.to_string(),
        None if inner.get("compoundCondition").is_some() => "compound".into(),
        None => "data".into(),
    };
    let mut cond_body = json!({"type": ty});
    for f in ["dataCondition", "compoundCondition"] {
        if let Some(v) = inner.get(f) {
            cond_body[f] = v.clone();
        }
    }
    ctx.rewrite(&mut cond_body);
    let cond_body = spec::shape_request("POST", "/api/v1/conditions", &cond_body);
    let created = post(ctx, "/api/v1/conditions", "", &cond_body).await?;
    // Conditions carry their ID inside conditionBase, as Qlik answers them.
    Ok(qcb_backup::collect::condition_id(&created)
        .ok_or("the condition answered without an ID")?
        .to_string())
}

async fn create_alert(ctx: &Ctx<'_>, e: &Entry, rename: Option<String>) -> Written {
    let cond = e
        .doc
        .get("condition")
        .cloned()
        .ok_or("the snapshot holds no condition for this alert")?;
    // A compound condition names other conditions by ID: those are created first (the
    // backup keeps them beside the alert) and the compound is rewritten to their new IDs.
    for member in compound_members(&cond) {
        if lock(&ctx.map).contains(&member) {
            continue;
        }
        let Some(doc) = e.doc.get(MEMBER_CONDITIONS).and_then(|m| m.get(&member)) else {
            return Err(format!(
                "its compound condition combines condition {member}, which the snapshot does not hold (a backup by an older qcb): recreate the alert's condition by hand"
            ));
        };
        if !compound_members(doc).is_empty() {
            return Err(format!(
                "condition {member} is itself compound: qcb restores one level of compound conditions; recreate this alert's condition by hand"
            ));
        }
        let new = create_condition(ctx, doc).await?;
        lock(&ctx.map).insert("conditions", &member, &new);
    }
    let cond_id = create_condition(ctx, &cond).await?;
    lock(&ctx.map).insert("conditions", e.str_at("/conditionId"), &cond_id);
    let mut body = ctx.body(e, Some(("POST", "/api/v1/data-alerts")));
    body["conditionId"] = json!(cond_id);
    set_name(e.kind, &mut body, rename);
    let alert = post(ctx, "/api/v1/data-alerts", "", &body).await?;
    let id = new_id_of(e.kind, &alert).ok_or("the alert answered without an ID")?;
    Ok((Some(id), String::new()))
}

// ------------------------------------------------------------------ licences, tasks

/// Licence assignments go in batches of up to 100 per call.
async fn licenses(ctx: &Ctx<'_>, steps: Vec<Step>) -> Vec<ItemResult> {
    let mut out = Vec::new();
    let (create, rest): (Vec<Step>, Vec<Step>) =
        steps.into_iter().partition(|s| s.action == Action::Create);
    for s in rest {
        out.push(run_step(ctx, s).await);
    }
    for chunk in create.chunks(100) {
        let add: Vec<Value> = chunk
            .iter()
            .map(|s| {
                let e = &ctx.data.entries[s.entry];
                json!({"subject": e.str_at("/subject"), "type": e.str_at("/type")})
            })
            .collect();
        match post(
            ctx,
            "/api/v1/licenses/assignments/actions/add",
            "",
            &json!({"add": add}),
        )
        .await
        {
            Ok(answer) => {
                let by_subject: HashMap<&str, &Value> = answer["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["subject"].as_str().map(|s| (s, r)))
                    .collect();
                for s in chunk {
                    let before = out.len();
                    let r = by_subject.get(s.id.as_str());
                    let failed = r
                        .and_then(|r| r["status"].as_i64())
                        .is_some_and(|st| st >= 400)
                        || r.and_then(|r| r.get("error")).is_some();
                    out.push(if failed {
                        result(
                            s,
                            Outcome::Failed,
                            None,
                            r.map(|r| r.to_string()).unwrap_or_default(),
                        )
                    } else {
                        result(s, Outcome::Done, None, String::new())
                    });
                    out[before..].iter().for_each(|r| tell(ctx, r));
                }
            }
            Err(err) => {
                for s in chunk {
                    let r = result(s, Outcome::Failed, None, err.clone());
                    tell(ctx, &r);
                    out.push(r);
                }
            }
        }
    }
    out
}

/// Chained scheduling tasks: a task that waits on another comes after it.
fn topological(ctx: &Ctx<'_>, steps: Vec<Step>) -> Vec<Step> {
    let ids: HashSet<String> = steps.iter().map(|s| s.id.clone()).collect();
    let deps: Vec<HashSet<String>> = steps
        .iter()
        .map(|s| {
            let e = &ctx.data.entries[s.entry];
            let mut found = Vec::new();
            crate::ids::ids_in(e.doc.get("events").unwrap_or(&Value::Null), &mut found);
            found
                .into_iter()
                .filter(|i| ids.contains(i) && *i != s.id)
                .collect()
        })
        .collect();
    let mut done: HashSet<String> = HashSet::new();
    let mut left: Vec<(Step, HashSet<String>)> = steps.into_iter().zip(deps).collect();
    let mut out = Vec::new();
    while !left.is_empty() {
        let before = left.len();
        let (ready, wait): (Vec<_>, Vec<_>) =
            left.into_iter().partition(|(_, d)| d.is_subset(&done));
        left = wait;
        for (s, _) in ready {
            done.insert(s.id.clone());
            out.push(s);
        }
        if left.len() == before {
            // A cycle: the rest in their own order.
            out.extend(left.drain(..).map(|(s, _)| s));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_paths_come_from_the_spec() {
        assert_eq!(
            item_path("/api/v1/spaces", "PUT"),
            Some("/api/v1/spaces/{spaceId}")
        );
        assert_eq!(
            item_path("/api/v1/web-integrations", "PATCH"),
            Some("/api/v1/web-integrations/{id}")
        );
        assert_eq!(
            fill_id("/api/v1/spaces/{spaceId}", "x1"),
            "/api/v1/spaces/x1"
        );
    }

    fn answered(status: u16) -> ClientError {
        ClientError::Api {
            request: qcb_qlik::RequestName {
                method: "PUT".into(),
                path: "/api/v1/apps/a1/owner".into(),
            },
            status,
            errors: vec![],
            trace_id: None,
        }
    }

    /// Counts the calls; answers `status` to the first `refusals`, then Ok.
    fn refusing(
        status: u16,
        refusals: usize,
    ) -> (
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
        impl FnMut() -> std::future::Ready<Result<(), ClientError>>,
    ) {
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = calls.clone();
        let call = move || {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::future::ready(if n < refusals {
                Err(answered(status))
            } else {
                Ok(())
            })
        };
        (calls, call)
    }

    #[tokio::test]
    async fn an_owner_change_refused_after_a_publish_is_asked_again() {
        let wait = Duration::from_millis(600);
        let (calls, call) = refusing(403, 3);
        assert!(retry_forbidden(wait, call).await.is_ok());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 4);

        // Refused for longer than the wait: the last refusal is the answer.
        let started = std::time::Instant::now();
        let (calls, call) = refusing(403, usize::MAX);
        let err = retry_forbidden(wait, call).await.unwrap_err();
        assert_eq!(err.status(), Some(403));
        assert!(started.elapsed() < wait * 2, "{:?}", started.elapsed());
        let n = calls.load(std::sync::atomic::Ordering::SeqCst);
        assert!((3..30).contains(&n), "{n} calls");

        // Any other refusal, or no wait at all, is final at once.
        let (calls, call) = refusing(404, usize::MAX);
        assert!(retry_forbidden(wait, call).await.is_err());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        let (calls, call) = refusing(403, usize::MAX);
        assert!(retry_forbidden(Duration::ZERO, call).await.is_err());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    fn item(kind: &str, outcome: Outcome) -> ItemResult {
        ItemResult {
            kind: kind.into(),
            id: format!("{kind}-{outcome:?}"),
            name: format!("{kind} {outcome:?}"),
            action: Action::Conflict,
            outcome,
            new_id: None,
            detail: "exists and differs: description".into(),
        }
    }

    #[test]
    fn conflicts_left_in_place_are_counted_apart_from_skips() {
        let results = vec![
            item("spaces", Outcome::Done),
            item("spaces", Outcome::Skipped),
            item("spaces", Outcome::Conflict),
            item("apps", Outcome::Conflict),
            item("apps", Outcome::Failed),
        ];
        let report = RestoreReport {
            snapshot: "abcd1234".into(),
            source_tenant: "a.example".into(),
            target_tenant: "https://b.example".into(),
            started_at: String::new(),
            finished_at: String::new(),
            counts: Counts::of(&results),
            results,
            manual: vec![],
            unmapped: vec![],
            fallback_owner: None,
            id_map: BTreeMap::new(),
            api: ApiCounters::default(),
        };
        assert_eq!(
            report.counts,
            Counts {
                done: 1,
                skipped: 1,
                conflicts: 2,
                manual: 0,
                failed: 1
            }
        );
        assert_eq!(report.per_kind()["spaces"], [1, 1, 1, 0, 0]);
        let summary = report.summary();
        assert!(
            summary.contains("1 done, 1 skipped, 2 conflicts, 0 manual, 1 failed"),
            "{summary}"
        );
        assert!(
            summary.contains("conflict: apps apps-Conflict"),
            "{summary}"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["counts"]["conflicts"], 2);
        assert_eq!(json["results"][2]["outcome"], "conflict");
        let md = crate::runbook::report_markdown(&report);
        assert!(
            md.contains("| kind | done | skipped | conflicts | manual | failed |")
                && md.contains("| spaces | 1 | 1 | 1 | 0 | 0 |")
                && md.contains("## Conflicts left in place")
                && md.contains("2 conflicts"),
            "{md}"
        );
    }

    #[test]
    fn multipart_parts_are_framed() {
        let mut b = Vec::new();
        part(&mut b, "file", Some("a.zip"), "application/zip", b"PK");
        let s = String::from_utf8_lossy(&b);
        assert!(s.starts_with(&format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.zip\"\r\nContent-Type: application/zip\r\n\r\nPK\r\n")));
        assert!(MULTIPART.ends_with(BOUNDARY));
    }
}
