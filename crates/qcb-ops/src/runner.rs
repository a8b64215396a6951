//! One tenant's run, start to end: back up → apply the retention policy (after a successful run
//! only) → write the run report → tell the alert targets → record the run. A failing step after
//! the snapshot is written (retention, report, an alert target) is recorded and logged; it never
//! turns a written snapshot into a failed run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use qcb_backup::{backup, BackupError, Manifest};
use qcb_qlik::ClientOptions;
use qcb_repo::{Repo, SnapshotInfo};
use tokio_util::sync::CancellationToken;

use crate::alerts::{self, Event};
use crate::config::TenantConfig;
use crate::schedule::{Task, Trigger};
use crate::state::{Outcome, RunRecord, StateStore};

/// What the repository holds for a tenant, as last seen.
#[derive(Debug, Clone, Default)]
pub struct RepoView {
    /// The tenant's snapshots, oldest first.
    pub snapshots: Vec<SnapshotInfo>,
    /// Bytes the repository's files take in their storage (local or remote), `None` when
    /// they could not be listed.
    pub size_bytes: Option<u64>,
}

/// A run's record, and the repository as it was after the run when it could be read.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub record: RunRecord,
    pub view: Option<RepoView>,
}

/// How long a run waits for another process's lock on its repository: a prune (exclusive)
/// waits for the backups in progress, a backup for a prune in progress, rather than failing.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(30 * 60);

/// Runs tenants' backups and prunes, and records them in the state folder.
#[derive(Debug, Clone)]
pub struct Runner {
    state: StateStore,
    client_options: ClientOptions,
    lock_wait: Duration,
}

/// Why a run stopped early.
enum Stop {
    Failed(String),
    Aborted,
}

impl Runner {
    pub fn new(state: StateStore) -> Runner {
        Runner {
            state,
            client_options: ClientOptions::default(),
            lock_wait: DEFAULT_LOCK_WAIT,
        }
    }

    /// How long a run waits for a locked repository (default [`DEFAULT_LOCK_WAIT`]).
    pub fn with_lock_wait(mut self, wait: Duration) -> Runner {
        self.lock_wait = wait;
        self
    }

    /// Client settings the configuration file does not hold (timeouts; in tests, an emulated
    /// tenant's time scale). Each tenant's `budget` still applies.
    pub fn with_client_options(mut self, opts: ClientOptions) -> Runner {
        self.client_options = opts;
        self
    }

    pub fn state(&self) -> &StateStore {
        &self.state
    }

    /// Backs up `tenant` once. Cancelling `cancel` stops the run; an aborted run writes no
    /// snapshot (the repository's own write, once begun, completes: it is not interruptible,
    /// and the process waits for it before it exits).
    pub async fn backup(
        &self,
        tenant: &TenantConfig,
        trigger: Trigger,
        scheduled_for: Option<DateTime<Utc>>,
        cancel: &CancellationToken,
    ) -> RunResult {
        let started = Utc::now();
        let mut record =
            RunRecord::new(&tenant.name, Task::Backup, trigger, scheduled_for, started);
        tracing::info!(tenant = %tenant.name, ?trigger, "backup started");
        let view = match self.try_backup(tenant, &mut record, cancel).await {
            Ok(view) => view,
            Err(Stop::Aborted) => {
                record.status = Outcome::Aborted;
                record.error = Some("stopped by a shutdown: no snapshot was written".into());
                None
            }
            Err(Stop::Failed(message)) => {
                record.status = Outcome::Failed;
                let event = Event::failed_run(&tenant.host, Some(started.to_rfc3339()), &message);
                record.error = Some(message);
                record.alert_errors = deliver(&tenant.notify, &event).await;
                None
            }
        };
        record.finished_at = Utc::now();
        tracing::info!(
            tenant = %tenant.name,
            status = record.status.as_str(),
            snapshot = record.snapshot.as_deref().unwrap_or("-"),
            error = record.error.as_deref().unwrap_or(""),
            "backup finished"
        );
        self.save(&record);
        RunResult { record, view }
    }

    async fn try_backup(
        &self,
        tenant: &TenantConfig,
        record: &mut RunRecord,
        cancel: &CancellationToken,
    ) -> Result<Option<RepoView>, Stop> {
        let client = tenant
            .client(&self.client_options)
            .map_err(|e| Stop::Failed(e.to_string()))?;
        let repo = self.open(tenant).await?;
        let previous = {
            let (repo, host) = (repo.clone(), tenant.host.clone());
            blocking(move || previous_manifest(&repo, &host))
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(tenant = %tenant.name, "cannot read the previous snapshot's manifest: {e}");
                    None
                })
        };
        let opts = tenant.backup_options();
        // The backup future is driven on a blocking-pool thread with `block_on`: rustc cannot
        // prove it `Send` (a higher-ranked lifetime in its stream of kinds), which spawning or
        // holding it across the scheduler's awaits would need.
        let runtime = tokio::runtime::Handle::current();
        let (r, stop) = (repo.clone(), cancel.clone());
        let finished = tokio::task::spawn_blocking(move || {
            runtime.block_on(async move {
                tokio::select! {
                    outcome = backup(&client, r, &opts) => Some(outcome),
                    _ = stop.cancelled() => None,
                }
            })
        })
        .await
        .map_err(|e| Stop::Failed(format!("the backup task stopped unexpectedly: {e}")))?;
        let outcome = match finished {
            Some(outcome) => outcome.map_err(|e| Stop::Failed(backup_error(&e)))?,
            None => return Err(Stop::Aborted),
        };
        let manifest = outcome.manifest;
        record.status = manifest.status.into();
        record.snapshot = (!manifest.snapshot.is_empty()).then(|| manifest.snapshot.clone());
        record.counts = manifest.counts.clone();
        record.failed_items = manifest.counts.values().map(|c| c.failed).sum();
        record.api = manifest.api;
        record.bytes_added = outcome
            .snapshot
            .as_ref()
            .and_then(|s| s.summary.as_ref())
            .map_or(0, |s| s.data_added);

        let anomalies = match (&previous, &outcome.snapshot) {
            (Some((prev_snap, prev_manifest)), Some(current)) => {
                let (r, p, c, pm, cm, th) = (
                    repo.clone(),
                    prev_snap.clone(),
                    current.clone(),
                    prev_manifest.clone(),
                    manifest.clone(),
                    tenant.anomaly.clone(),
                );
                blocking(move || Ok(find_anomalies(&r, &p, &c, &pm, &cm, &th)))
                    .await
                    .unwrap_or_default()
            }
            _ => vec![],
        };
        record.anomalies = anomalies.len() as u64;

        // The rule: retention after each successful run. A partial snapshot may lack
        // what older ones hold (the apps that failed), so it does not push them out.
        if record.status == Outcome::Success && !tenant.retention.is_empty() {
            let (r, policy, host) = (repo.clone(), tenant.retention, tenant.host.clone());
            let only = host.clone();
            match blocking(move || {
                r.forget_host(&policy, &only, false)
                    .map_err(|e| error_chain(&e))
            })
            .await
            {
                Ok(report) => {
                    record.forgotten = report
                        .groups
                        .iter()
                        .filter(|g| g.host == host)
                        .map(|g| g.remove.len() as u64)
                        .sum();
                }
                Err(e) => {
                    tracing::warn!(tenant = %tenant.name, "the retention policy could not be applied: {e}");
                    record.retention_error = Some(e);
                }
            }
        }

        let report = self
            .write_reports(tenant, &manifest, previous.as_ref().map(|(_, m)| m), &anomalies)
            .map_err(|e| tracing::warn!(tenant = %tenant.name, "the run report could not be written: {e}"))
            .ok();
        record.report = report.clone();
        let mut event = Event::from_manifest(&manifest, anomalies);
        if let Some(p) = &report {
            event = event.with_report_path(p.display().to_string());
        }
        record.alert_errors = deliver(&tenant.notify, &event).await;

        let view = {
            let (r, host) = (repo.clone(), tenant.host.clone());
            blocking(move || repo_view(&r, &host)).await.ok()
        };
        Ok(view)
    }

    /// Writes the run's HTML and Markdown reports (`<time>-<snapshot>.html`, `.md`, and
    /// `latest.html`, `latest.md`) into the tenant's report folder; gives the HTML's path.
    fn write_reports(
        &self,
        tenant: &TenantConfig,
        manifest: &Manifest,
        previous: Option<&Manifest>,
        anomalies: &[crate::anomaly::Anomaly],
    ) -> std::io::Result<PathBuf> {
        let dir = self.state.reports_dir(&tenant.name);
        std::fs::create_dir_all(&dir)?;
        let stamp = chrono::DateTime::parse_from_rfc3339(&manifest.started_at)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|_| Utc::now())
            .format("%Y%m%dT%H%M%SZ");
        let short = &manifest.snapshot[..manifest.snapshot.len().min(8)];
        let base = format!("{stamp}-{short}");
        let html = crate::report::html_with_anomalies(manifest, previous, anomalies);
        let markdown = crate::report::markdown_with_anomalies(manifest, previous, anomalies);
        let html_path = dir.join(format!("{base}.html"));
        write_atomic(&html_path, html.as_bytes())?;
        write_atomic(&dir.join(format!("{base}.md")), markdown.as_bytes())?;
        write_atomic(&dir.join("latest.html"), html.as_bytes())?;
        write_atomic(&dir.join("latest.md"), markdown.as_bytes())?;
        Ok(html_path)
    }

    /// Prunes the tenant's repository once. A prune needs the repository alone: it waits up
    /// to the lock wait for the backups in progress (of any tenant sharing the repository).
    pub async fn prune(
        &self,
        tenant: &TenantConfig,
        trigger: Trigger,
        scheduled_for: Option<DateTime<Utc>>,
    ) -> RunResult {
        let mut record = RunRecord::new(
            &tenant.name,
            Task::Prune,
            trigger,
            scheduled_for,
            Utc::now(),
        );
        let result = async {
            let repo = self.open(tenant).await?;
            let r = repo.clone();
            let report = blocking(move || r.prune().map_err(|e| error_chain(&e)))
                .await
                .map_err(Stop::Failed)?;
            let host = tenant.host.clone();
            let view = blocking(move || repo_view(&repo, &host)).await.ok();
            Ok::<_, Stop>((report, view))
        }
        .await;
        let view = match result {
            Ok((report, view)) => {
                record.status = Outcome::Success;
                record.bytes_freed = Some(report.bytes_freed);
                view
            }
            Err(Stop::Failed(e)) => {
                tracing::warn!(tenant = %tenant.name, "prune failed: {e}");
                let event =
                    Event::failed_prune(&tenant.host, Some(record.started_at.to_rfc3339()), &e);
                record.alert_errors = deliver(&tenant.notify, &event).await;
                record.error = Some(e);
                None
            }
            Err(Stop::Aborted) => None,
        };
        record.finished_at = Utc::now();
        self.save(&record);
        RunResult { record, view }
    }

    fn save(&self, record: &RunRecord) {
        if let Err(e) = self.state.append(record) {
            tracing::error!(tenant = %record.tenant, "the run could not be recorded: {e}");
        }
    }
}

/// Sends `event` to the targets that want it; gives the deliveries that failed, each logged.
async fn deliver(targets: &[alerts::Target], event: &Event) -> Vec<String> {
    if targets.is_empty() {
        return vec![];
    }
    alerts::dispatch(targets, event)
        .await
        .into_iter()
        .map(|e| {
            let line = format!("{}: {} (after {} attempts)", e.target, e.reason, e.attempts);
            tracing::warn!(tenant = %event.tenant, "an alert could not be delivered: {line}");
            line
        })
        .collect()
}

impl Runner {
    async fn open(&self, tenant: &TenantConfig) -> Result<Arc<Repo>, Stop> {
        let opts = tenant
            .repo_options()
            .map_err(|e| Stop::Failed(e.to_string()))?
            .with_lock_wait(self.lock_wait);
        blocking(move || Repo::open(&opts).map_err(|e| error_chain(&e)))
            .await
            .map(Arc::new)
            .map_err(Stop::Failed)
    }
}

/// Runs blocking repository work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| format!("the repository task stopped unexpectedly: {e}"))?
}

/// The tenant's newest snapshot and its manifest, if it has one.
fn previous_manifest(repo: &Repo, host: &str) -> Result<Option<(SnapshotInfo, Manifest)>, String> {
    let Some(snap) = repo.latest(host).map_err(|e| error_chain(&e))? else {
        return Ok(None);
    };
    let manifest = crate::anomaly::read_manifest(repo, &snap).map_err(|e| error_chain(&e))?;
    Ok(Some((snap, manifest)))
}

/// The tenant's snapshots and the repository's size.
pub fn repo_view(repo: &Repo, host: &str) -> Result<RepoView, String> {
    let snapshots = repo
        .snapshots()
        .map_err(|e| error_chain(&e))?
        .into_iter()
        .filter(|s| s.host == host)
        .collect();
    // The repository's files as its storage lists them (local or remote alike); a listing
    // that fails leaves the metric out rather than failing the run.
    let size_bytes = match repo.stored_bytes() {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!("cannot measure the repository: {}", error_chain(&e));
            None
        }
    };
    Ok(RepoView {
        snapshots,
        size_bytes,
    })
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

/// A repository error with its causes, on one line.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn backup_error(e: &BackupError) -> String {
    match e {
        BackupError::Repo(r) => error_chain(r),
        other => error_chain(other),
    }
}

/// Anomalies between the previous and this snapshot. Looked for before the retention policy
/// runs, which may forget the previous snapshot.
fn find_anomalies(
    repo: &Repo,
    previous: &SnapshotInfo,
    current: &SnapshotInfo,
    previous_manifest: &Manifest,
    manifest: &Manifest,
    thresholds: &crate::anomaly::Thresholds,
) -> Vec<crate::anomaly::Anomaly> {
    crate::anomaly::detect_in_repo(
        repo,
        previous,
        current,
        previous_manifest,
        manifest,
        thresholds,
    )
    .unwrap_or_else(|e| {
        tracing::warn!(host = %current.host, "anomalies could not be looked for: {e}");
        vec![]
    })
}
