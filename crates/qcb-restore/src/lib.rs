//! `qcb-restore`: puts a snapshot, or chosen parts of it, back into a tenant — the same one or
//! another — in dependency order, with IDs remapped, secrets supplied or listed, owners handed
//! back, and a report of what a person still has to do (DESIGN.md §1, §4, §6).
//!
//! A restore is two steps: [`prepare`] reads the snapshot and the target and makes the
//! [`Plan`] (it writes nothing), and [`execute`] carries the plan out.

pub mod apply;
pub mod error;
pub mod ids;
pub mod inputs;
pub mod plan;
pub mod runbook;
pub mod snapshot;
pub mod target;

use std::path::PathBuf;
use std::sync::Arc;

use qcb_qlik::TenantClient;
use qcb_repo::{LockKind, Repo, SnapshotInfo};

pub use apply::{ApplyOptions, ItemResult, ManualStep, Outcome, RestoreReport};
pub use error::RestoreError;
pub use inputs::{Secrets, TenantMap};
pub use plan::{Action, FallbackOwner, OnConflict, Plan, Selection, Step, Unmapped};
pub use runbook::{runbook, Runbook};
pub use snapshot::SnapshotData;
pub use target::Target;

pub(crate) fn snapshot_safe(s: &str) -> String {
    qcb_backup::collect::safe(s)
}

/// A snapshot read, a selection made, the target read and a plan computed.
pub struct Prepared {
    pub data: SnapshotData,
    pub selected: Vec<usize>,
    pub target: Target,
    pub plan: Plan,
}

impl Prepared {
    /// Looks `--fallback-owner` up among the target's users and notes it in the plan. A
    /// user the target does not have is an error here, while planning, before any write.
    pub fn set_fallback_owner(&mut self, given: Option<&str>) -> Result<(), RestoreError> {
        self.plan.fallback_owner = given
            .map(|g| plan::fallback_owner(&self.target, g))
            .transpose()?;
        Ok(())
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RestoreError> + Send + 'static,
) -> Result<T, RestoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RestoreError::Join(e.to_string()))?
}

/// Reads the snapshot and the target tenant and plans the restore. Makes no write call.
pub async fn prepare(
    client: &TenantClient,
    repo: Arc<Repo>,
    snapshot: SnapshotInfo,
    selection: &Selection,
    tenant_map: &TenantMap,
    map_file: &str,
) -> Result<Prepared, RestoreError> {
    let data = blocking(move || SnapshotData::load(&repo, snapshot)).await?;
    let selected = plan::select(&data, selection)?;
    let mut kinds: Vec<&'static qcb_catalog::ComponentKind> = Vec::new();
    for &i in &selected {
        let k = data.entries[i].kind;
        if !kinds.iter().any(|x| x.name == k.name) {
            kinds.push(k);
        }
    }
    let target = Target::read(client, &kinds).await?;
    let map = plan::premap(&data, &target, tenant_map, map_file)?;
    let plan = plan::plan(&data, &selected, &target, map);
    Ok(Prepared {
        data,
        selected,
        target,
        plan,
    })
}

/// Carries a prepared plan out: takes a shared lock on the repository (so no prune removes
/// the snapshot's data while it is read), stages the files it needs, then writes.
pub async fn execute(
    client: &TenantClient,
    repo: Arc<Repo>,
    prepared: Prepared,
    secrets: &Secrets,
    opts: &ApplyOptions,
    spool: Option<PathBuf>,
) -> Result<RestoreReport, RestoreError> {
    let Prepared {
        data,
        target,
        mut plan,
        ..
    } = prepared;
    // Checked again here for callers that did not ask the plan: still before any write.
    if let Some(given) = opts.fallback_owner.as_deref() {
        plan.fallback_owner = Some(plan::fallback_owner(&target, given)?);
    }
    let lock = {
        let repo = repo.clone();
        blocking(move || Ok(repo.lock(LockKind::Shared)?)).await?
    };
    // Only what will be written needs its files: a conflict left as it is does not.
    let writes: Vec<usize> = plan
        .steps
        .iter()
        .filter(|s| match (s.action, opts.on_conflict) {
            (Action::Create, _) => true,
            (Action::Conflict, OnConflict::Rename) => true,
            // An app is never replaced (see `plan::APP_REPLACE`).
            (Action::Conflict, OnConflict::Replace) => s.kind != "apps",
            _ => false,
        })
        .map(|s| s.entry)
        .collect();
    let data = Arc::new(data);
    let staged = {
        let data = data.clone();
        blocking(move || {
            let entries: Vec<&snapshot::Entry> = writes.iter().map(|&i| &data.entries[i]).collect();
            snapshot::Staged::stage(&repo, &data.info, &entries, spool.as_deref())
        })
        .await
    };
    let report = match staged {
        Ok(staged) => Ok(apply::apply(client, &data, &staged, plan, &target, secrets, opts).await),
        Err(e) => Err(e),
    };
    // Removing the lock file is a (possibly remote) storage call: off the async threads.
    let _ = tokio::task::spawn_blocking(move || drop(lock)).await;
    report
}
