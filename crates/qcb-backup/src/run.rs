//! One backup run: every selected kind is read (in parallel, within the client's limits),
//! apps are exported unless unchanged since the parent snapshot, and everything is written as
//! one snapshot with its manifest. One failing item never fails the run; it ends `partial`.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use qcb_catalog::{all, ComponentKind};
use qcb_qlik::{ClientError, Method, Request, TenantClient};
use qcb_repo::{NodeKind, Repo, RepoError, SnapshotInfo, SnapshotMeta, SnapshotTree, TreeEntry};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::collect::{collect, failed_item, pretty, safe, Stored};
use crate::manifest::{Item, ItemStatus, Manifest, NotCovered, RunStatus, TenantInfo, SCHEMA};

/// What to back up and how; the same struct serves flags and configuration.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// Only these kinds (catalog names); all when empty.
    pub only: Vec<String>,
    /// Not these kinds.
    pub exclude: Vec<String>,
    /// Export every app, even when unchanged since the parent snapshot.
    pub full: bool,
    /// App exports downloading at once (the client's limiter paces their requests).
    pub exports_in_flight: usize,
    /// Where exports wait between download and storage; the system's temp folder if None.
    pub spool: Option<PathBuf>,
    /// When an app cannot be exported for want of a space role, give this identity a role in
    /// that space for the export and take it away afterwards.
    pub assign_self_to_spaces: bool,
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions {
            only: vec![],
            exclude: vec![],
            full: false,
            exports_in_flight: 8,
            spool: None,
            assign_self_to_spaces: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("cannot read the tenant at {url}: {source}")]
    Tenant {
        url: String,
        source: Box<ClientError>,
    },
    #[error("unknown component kind '{0}' (see `qcb kinds` or the README for the names)")]
    UnknownKind(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(
        "cannot spool app exports in {dir}: {source}; free some space or set another spool folder"
    )]
    Spool { dir: String, source: io::Error },
    #[error("the repository task stopped unexpectedly: {0}")]
    Join(String),
}

/// What a run gives back: its manifest and, unless it failed, its snapshot.
#[derive(Debug)]
pub struct BackupOutcome {
    pub manifest: Manifest,
    pub snapshot: Option<SnapshotInfo>,
}

/// Not covered by any run yet, and why (DESIGN.md §4, issue notes).
fn standing_gaps() -> Vec<NotCovered> {
    vec![
        NotCovered { kind: "app-objects".into(), reason: "other users' private bookmarks, sheets and stories are not captured: an export holds public content and the exporting identity's own private content; reading each user's objects through the Engine API is not built yet".into() },
        NotCovered { kind: "data-files".into(), reason: "only the metadata of data files is kept: Qlik offers no API to download their content".into() },
        NotCovered { kind: "audits".into(), reason: "the audit log is not backed up (Qlik keeps it; `GET /api/v1/audits/archive` serves older days)".into() },
        NotCovered { kind: "app-scripts".into(), reason: "credentials inside load scripts are not scanned yet: the script travels inside the app's export".into() },
    ]
}

fn selected(opts: &BackupOptions) -> Result<Vec<&'static ComponentKind>, BackupError> {
    for name in opts.only.iter().chain(&opts.exclude) {
        if qcb_catalog::kind(name).is_none() {
            return Err(BackupError::UnknownKind(name.clone()));
        }
    }
    Ok(all()
        .iter()
        .copied()
        .filter(|k| opts.only.is_empty() || opts.only.iter().any(|o| o == k.name))
        .filter(|k| !opts.exclude.iter().any(|x| x == k.name))
        .collect())
}

/// The snapshot host of a tenant: its hostname, with the port when there is one.
pub fn tenant_host(client: &TenantClient) -> String {
    let url = client.tenant().as_str();
    let rest = url.split("://").nth(1).unwrap_or(url);
    rest.split('/').next().unwrap_or(rest).to_string()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RepoError> + Send + 'static,
) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BackupError::Join(e.to_string()))?
        .map_err(BackupError::from)
}

/// Backs up the tenant behind `client` into `repo`.
pub async fn backup(
    client: &TenantClient,
    repo: Arc<Repo>,
    opts: &BackupOptions,
) -> Result<BackupOutcome, BackupError> {
    let started = Utc::now();
    let kinds = selected(opts)?;
    let url = client.tenant().as_str().to_string();
    let tenant = client
        .get_json("/api/v1/tenants/me", "")
        .await
        .map_err(|source| BackupError::Tenant {
            url: url.clone(),
            source: Box::new(source),
        })?;
    let tenant_id = tenant
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let host = tenant_host(client);
    let parent = {
        let (repo, host) = (repo.clone(), host.clone());
        blocking(move || repo.latest(&host)).await?
    };

    let mut files: Vec<Stored> = Vec::new();
    let mut items: Vec<Item> = Vec::new();
    let mut not_covered = standing_gaps();
    if client.uses_api_key() && kinds.iter().any(|k| k.name == "apps") {
        not_covered.push(NotCovered {
            kind: "apps".into(),
            reason: "apps in other users' personal spaces are invisible to an API key, which acts as its user; back up with an OAuth M2M client that has the admin.apps scope to include them".into(),
        });
    }
    let mut tree = SnapshotTree::new();

    // Every kind but apps, four at a time.
    let plain: Vec<&'static ComponentKind> =
        kinds.iter().copied().filter(|k| k.name != "apps").collect();
    let tenant_id_ref = &tenant_id;
    let collected: Vec<_> = futures::stream::iter(plain)
        .map(|k| async move { (k, collect(client, k, tenant_id_ref).await) })
        .buffer_unordered(4)
        .collect()
        .await;
    for (k, c) in collected {
        if let Some(reason) = c.not_covered {
            not_covered.push(NotCovered {
                kind: k.name.into(),
                reason,
            });
        }
        files.extend(c.files);
        items.extend(c.items);
    }

    let spool_dir = match &opts.spool {
        Some(d) => tempfile::Builder::new().prefix("qcb-spool-").tempdir_in(d),
        None => tempfile::Builder::new().prefix("qcb-spool-").tempdir(),
    }
    .map_err(|source| BackupError::Spool {
        dir: opts
            .spool
            .as_ref()
            .map_or("the temp folder".into(), |d| d.display().to_string()),
        source,
    })?;
    if let Some(apps_kind) = kinds.iter().copied().find(|k| k.name == "apps") {
        let previous = match (&parent, opts.full) {
            (Some(p), false) => {
                let (repo, p) = (repo.clone(), p.clone());
                blocking(move || repo.ls(&p, "apps", true))
                    .await
                    .unwrap_or_default()
            }
            _ => vec![],
        };
        let previous: HashMap<String, (u64, Option<DateTime<Utc>>)> = previous
            .into_iter()
            .filter(|n| n.kind == NodeKind::File && n.path.ends_with("/app.qvf"))
            .map(|n| (n.path.clone(), (n.size, n.mtime)))
            .collect();
        let (app_items, app_entries, app_files, gap) =
            backup_apps(client, apps_kind, &previous, opts, spool_dir.path()).await;
        items.extend(app_items);
        files.extend(app_files);
        if let Some(g) = gap {
            not_covered.push(g);
        }
        for e in app_entries {
            tree.push(e);
        }
    }

    let status = if items.iter().any(|i| i.status == ItemStatus::Failed) {
        RunStatus::Partial
    } else {
        RunStatus::Success
    };
    let mut manifest = Manifest {
        schema: SCHEMA.to_string(),
        snapshot: String::new(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        tenant: TenantInfo {
            url,
            id: tenant
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            hostname: host.clone(),
        },
        started_at: started.to_rfc3339(),
        finished_at: Utc::now().to_rfc3339(),
        status,
        counts: Manifest::count(&items),
        items,
        not_covered,
        api: client.counters(),
    };
    for f in files {
        tree.push(TreeEntry::bytes(f.path, started, f.bytes));
    }
    let manifest_json = serde_json::to_value(&manifest).unwrap_or(Value::Null);
    tree.push(TreeEntry::bytes(
        "manifest.json",
        started,
        pretty(manifest_json),
    ));

    let meta = SnapshotMeta {
        host,
        tags: vec![format!("status:{}", status.as_str())],
        time: started,
        parent: parent.map(|p| p.id),
    };
    let written = {
        let repo = repo.clone();
        blocking(move || repo.write_snapshot(tree, meta)).await
    };
    drop(spool_dir);
    match written {
        Ok(outcome) => {
            // A file that could not be stored after all makes its item failed and the run partial.
            for failure in &outcome.failures {
                if let Some(item) = manifest.items.iter_mut().find(|i| i.path == failure.path) {
                    item.status = ItemStatus::Failed;
                    item.error = Some(format!("could not be stored: {}", failure.error));
                }
            }
            if !outcome.failures.is_empty() {
                manifest.status = RunStatus::Partial;
                manifest.counts = Manifest::count(&manifest.items);
            }
            manifest.snapshot = outcome.snapshot.id.as_str().to_string();
            manifest.api = client.counters();
            Ok(BackupOutcome {
                manifest,
                snapshot: Some(outcome.snapshot),
            })
        }
        Err(e) => Err(e),
    }
}

type AppsResult = (Vec<Item>, Vec<TreeEntry>, Vec<Stored>, Option<NotCovered>);

/// Apps: each app's attributes and item as `apps/<id>/app.json`, and its export without data
/// as `apps/<id>/app.qvf` — taken from the parent snapshot when the app is unchanged.
async fn backup_apps(
    client: &TenantClient,
    kind: &'static ComponentKind,
    previous: &HashMap<String, (u64, Option<DateTime<Utc>>)>,
    opts: &BackupOptions,
    spool: &std::path::Path,
) -> AppsResult {
    let listed = match kind.source {
        qcb_catalog::Source::List {
            path,
            query,
            property,
        } => client.list_all(path, query, property).await,
        qcb_catalog::Source::Singleton { path } => client.get_json(path, "").await.map(|v| vec![v]),
    };
    let app_items = match listed {
        Ok(v) => v,
        Err(e) => {
            return (
                vec![failed_item(
                    kind,
                    "*",
                    "",
                    &format!("listing apps failed: {e}"),
                )],
                vec![],
                vec![],
                None,
            )
        }
    };
    let by_id: HashMap<String, Value> = app_items
        .iter()
        .filter_map(|i| {
            i.get("resourceId")
                .and_then(Value::as_str)
                .map(|id| (id.to_string(), i.clone()))
        })
        .collect();
    let mut results: Vec<(Item, Option<TreeEntry>, Option<Stored>)> =
        futures::stream::iter(app_items)
            .map(|item| backup_app(client, kind, item, previous, opts.full, spool))
            .buffer_unordered(opts.exports_in_flight.max(1))
            .collect()
            .await;
    if opts.assign_self_to_spaces {
        results = with_space_roles(client, kind, results, &by_id, previous, opts, spool).await;
    }
    let mut items = Vec::new();
    let mut entries = Vec::new();
    let mut files = Vec::new();
    for (item, entry, file) in results {
        items.push(item);
        entries.extend(entry);
        files.extend(file);
    }
    (items, entries, files, None)
}

/// Second chance for apps refused for want of a space role: this identity takes a role in
/// each such space, exports them, and gives the role back — whatever happens in between.
async fn with_space_roles(
    client: &TenantClient,
    kind: &'static ComponentKind,
    results: Vec<(Item, Option<TreeEntry>, Option<Stored>)>,
    items: &HashMap<String, Value>,
    previous: &HashMap<String, (u64, Option<DateTime<Utc>>)>,
    opts: &BackupOptions,
    spool: &std::path::Path,
) -> Vec<(Item, Option<TreeEntry>, Option<Stored>)> {
    let refused = |i: &Item| {
        i.status == ItemStatus::Failed
            && i.error
                .as_deref()
                .is_some_and(|e| e.contains("answered 403"))
    };
    let mut spaces: Vec<String> = results
        .iter()
        .filter(|(i, _, _)| refused(i))
        .filter_map(|(i, _, _)| {
            items
                .get(&i.id)
                .and_then(|v| v.get("spaceId"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    spaces.sort();
    spaces.dedup();
    if spaces.is_empty() {
        return results;
    }
    let me = match client.get_json("/api/v1/users/me", "").await {
        Ok(u) => u
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        Err(e) => {
            tracing::warn!("cannot tell who this identity is, so no space roles are taken: {e}");
            return results;
        }
    };
    let mut taken: Vec<(String, String)> = Vec::new();
    for space in &spaces {
        let ty = client
            .get_json(&format!("/api/v1/spaces/{space}"), "")
            .await
            .ok()
            .and_then(|s| s.get("type").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        let role = if ty == "managed" {
            "contributor"
        } else {
            "producer"
        };
        let req = Request::new(Method::POST, format!("/api/v1/spaces/{space}/assignments"))
            .json(&json!({"type": "user", "assigneeId": me, "roles": [role]}));
        match client.call_json(&req).await {
            Ok((_, a)) => {
                if let Some(id) = a.get("id").and_then(Value::as_str) {
                    taken.push((space.clone(), id.to_string()));
                }
            }
            // Already assigned (409): the role is not ours to take away.
            Err(e) => tracing::warn!("cannot take a role in space {space}: {e}"),
        }
    }
    let (retry, mut kept): (Vec<_>, Vec<_>) = results.into_iter().partition(|(i, _, _)| {
        refused(i) && items.get(&i.id).and_then(|v| v.get("spaceId")).is_some()
    });
    let again: Vec<_> = futures::stream::iter(
        retry
            .into_iter()
            .filter_map(|(i, _, _)| items.get(&i.id).cloned()),
    )
    .map(|item| backup_app(client, kind, item, previous, opts.full, spool))
    .buffer_unordered(opts.exports_in_flight.max(1))
    .collect()
    .await;
    kept.extend(again);
    for (space, assignment) in taken {
        let req = Request::new(
            Method::DELETE,
            format!("/api/v1/spaces/{space}/assignments/{assignment}"),
        );
        if let Err(e) = client.call_json(&req).await {
            tracing::warn!("could not give back the role taken in space {space} (assignment {assignment}): {e}; remove it by hand");
        }
    }
    kept
}

async fn backup_app(
    client: &TenantClient,
    kind: &'static ComponentKind,
    item: Value,
    previous: &HashMap<String, (u64, Option<DateTime<Utc>>)>,
    full: bool,
    spool: &std::path::Path,
) -> (Item, Option<TreeEntry>, Option<Stored>) {
    let id = item
        .get("resourceId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let name = item
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if id.is_empty() {
        return (
            failed_item(kind, "?", &name, "the item has no resourceId"),
            None,
            None,
        );
    }
    let app = match client.get_json(&format!("/api/v1/apps/{id}"), "").await {
        Ok(a) => a,
        Err(e) => return (failed_item(kind, &id, &name, &e.to_string()), None, None),
    };
    let modified = app
        .pointer("/attributes/modifiedDate")
        .and_then(Value::as_str)
        .or_else(|| item.get("resourceUpdatedAt").and_then(Value::as_str))
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(Utc::now);
    let dir = format!("apps/{}", safe(&id));
    let json_path = format!("{dir}/app.json");
    let qvf_path = format!("{dir}/app.qvf");
    let mut doc = json!({"app": app, "item": item});
    let redacted = qcb_catalog::redact::redact(kind, &mut doc);
    let stored = Stored {
        path: json_path,
        bytes: pretty(doc),
    };

    let unchanged = !full
        && previous.get(&qvf_path).is_some_and(|(_, mtime)| {
            mtime.is_some_and(|m| m.timestamp_millis() == modified.timestamp_millis())
        });
    let mk_item = |status: ItemStatus, bytes: u64, error: Option<String>| Item {
        kind: kind.name.to_string(),
        id: id.clone(),
        name: name.clone(),
        path: qvf_path.clone(),
        status,
        bytes,
        error,
        redacted: redacted.clone(),
        findings: vec![],
        restore: kind.restore,
    };
    if unchanged {
        let size = previous.get(&qvf_path).map_or(0, |(s, _)| *s);
        // Same path, size and mtime as in the parent: the repository takes the content from
        // there and never opens this entry.
        let entry = TreeEntry::stream(qvf_path.clone(), size, modified, || {
            Err(io::Error::other(
                "an unchanged app was expected to come from the parent snapshot",
            ))
        });
        return (
            mk_item(ItemStatus::Unchanged, size, None),
            Some(entry),
            Some(stored),
        );
    }
    match spool_export(client, &id, spool).await {
        Ok((file, size)) => {
            let entry = TreeEntry::stream(qvf_path.clone(), size, modified, move || {
                let f = std::fs::File::open(&file)?;
                Ok(Box::new(io::BufReader::new(f)) as Box<dyn io::Read + Send>)
            });
            (
                mk_item(ItemStatus::BackedUp, size, None),
                Some(entry),
                Some(stored),
            )
        }
        Err(e) => (mk_item(ItemStatus::Failed, 0, Some(e)), None, Some(stored)),
    }
}

/// Exports an app and writes it to a spool file (bounded memory whatever the app's size).
async fn spool_export(
    client: &TenantClient,
    id: &str,
    spool: &std::path::Path,
) -> Result<(PathBuf, u64), String> {
    let mut dl = client.export_app(id).await.map_err(|e| e.to_string())?;
    let path = spool.join(format!("{}.qvf", safe(id)));
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| format!("cannot write the export to {}: {e}", path.display()))?;
    let mut size = 0u64;
    while let Some(chunk) = dl.stream.try_next().await.map_err(|e| e.to_string())? {
        size += chunk.len() as u64;
        file.write_all(&chunk)
            .await
            .map_err(|e| format!("cannot write the export to {}: {e}", path.display()))?;
    }
    file.flush().await.map_err(|e| e.to_string())?;
    Ok((path, size))
}
