//! `qcb status`: per tenant, the last run, its status and age, and the snapshots per retention
//! bucket; whether the tenant needs attention (its last run failed or was aborted, or its newest
//! snapshot is older than `stale_after`, or its repository cannot be read).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use qcb_repo::{plan_forget, Repo, SnapshotInfo};
use serde::Serialize;

use crate::config::TenantConfig;
use crate::runner::error_chain;
use crate::schedule::Task;
use crate::state::{Outcome, RunRecord, StateStore};

/// The last run, as status shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    pub status: Outcome,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub snapshot: Option<String>,
    pub error: Option<String>,
    /// `records` (qcb serve or --once), or `repository` (no record: a snapshot `qcb backup`
    /// wrote).
    pub source: &'static str,
}

impl From<&RunRecord> for LastRun {
    fn from(r: &RunRecord) -> Self {
        LastRun {
            status: r.status,
            started_at: r.started_at,
            finished_at: r.finished_at,
            snapshot: r.snapshot.clone(),
            error: r.error.clone(),
            source: "records",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TenantStatus {
    pub tenant: String,
    pub host: String,
    pub last_run: Option<LastRun>,
    /// When the newest snapshot was written.
    pub last_snapshot: Option<DateTime<Utc>>,
    /// Seconds since then.
    pub age_seconds: Option<i64>,
    pub stale_after_seconds: u64,
    pub stale: bool,
    /// The tenant's snapshots in its repository, when it could be read.
    pub snapshots: Option<usize>,
    /// Snapshots kept by each rule of the retention policy (`daily`, `weekly`, …); one
    /// snapshot may be in several. `forget` counts those no rule keeps.
    pub buckets: BTreeMap<String, usize>,
    pub repository_error: Option<String>,
    /// What needs attention; empty when all is well.
    pub problems: Vec<String>,
}

impl TenantStatus {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The status of `tenant` at `now`. Blocks: it opens the repository.
pub fn tenant_status(
    tenant: &TenantConfig,
    state: &StateStore,
    now: DateTime<Utc>,
) -> TenantStatus {
    let mut problems = Vec::new();
    let runs = state.runs(&tenant.name).unwrap_or_else(|e| {
        problems.push(format!("cannot read the run records: {e}"));
        vec![]
    });
    let last_record = runs.iter().rev().find(|r| r.task == Task::Backup);
    let last_success = runs
        .iter()
        .rev()
        .find(|r| r.task == Task::Backup && r.status.wrote_snapshot());

    let (snaps, repository_error) = match read_snapshots(tenant) {
        Ok(s) => (Some(s), None),
        Err(e) => (None, Some(e)),
    };
    if let Some(e) = &repository_error {
        problems.push(format!("cannot read the repository: {e}"));
    }
    let newest = snaps.as_ref().and_then(|s| s.iter().max_by_key(|s| s.time));
    let last_snapshot = last_success
        .map(|r| r.finished_at)
        .max(newest.map(|s| s.time));
    let last_run = match (last_record, newest) {
        (Some(r), _) => Some(LastRun::from(r)),
        (None, Some(s)) => Some(LastRun {
            status: match s.status() {
                Some("partial") => Outcome::Partial,
                Some("failed") => Outcome::Failed,
                _ => Outcome::Success,
            },
            started_at: s.time,
            finished_at: s.time,
            snapshot: Some(s.id.as_str().to_string()),
            error: None,
            source: "repository",
        }),
        (None, None) => None,
    };
    match &last_run {
        Some(run) if run.status == Outcome::Failed => problems.push(format!(
            "the last run failed: {}",
            run.error.as_deref().unwrap_or("no reason recorded")
        )),
        Some(run) if run.status == Outcome::Aborted => problems.push(
            "the last run was aborted by a shutdown and wrote no snapshot: `qcb serve` runs it again when it starts, or run `qcb serve --once` now".to_string(),
        ),
        _ => {}
    }
    let age_seconds = last_snapshot.map(|t| (now - t).num_seconds());
    let stale_after = tenant.stale_after.as_secs();
    let stale = age_seconds.is_none_or(|a| a > stale_after as i64);
    if stale {
        problems.push(match age_seconds {
            Some(a) => format!(
                "stale: the newest snapshot is {} old, more than stale_after ({})",
                crate::config::show_duration(std::time::Duration::from_secs(a.max(0) as u64)),
                crate::config::show_duration(tenant.stale_after)
            ),
            None => "stale: no snapshot yet".to_string(),
        });
    }
    let mut buckets = BTreeMap::new();
    if let Some(snaps) = &snaps {
        if !tenant.retention.is_empty() {
            if let Ok(plan) = plan_forget(snaps, &tenant.retention, true) {
                for g in plan.groups.iter().filter(|g| g.host == tenant.host) {
                    for k in &g.keep {
                        for reason in &k.reasons {
                            *buckets.entry((*reason).to_string()).or_insert(0) += 1;
                        }
                    }
                    buckets.insert("forget".into(), g.remove.len());
                }
            }
        }
    }
    TenantStatus {
        tenant: tenant.name.clone(),
        host: tenant.host.clone(),
        last_run,
        last_snapshot,
        age_seconds,
        stale_after_seconds: stale_after,
        stale,
        snapshots: snaps.as_ref().map(Vec::len),
        buckets,
        repository_error,
        problems,
    }
}

fn read_snapshots(tenant: &TenantConfig) -> Result<Vec<SnapshotInfo>, String> {
    let opts = tenant.repo_options().map_err(|e| e.to_string())?;
    let repo = Repo::open(&opts).map_err(|e| error_chain(&e))?;
    Ok(repo
        .snapshots()
        .map_err(|e| error_chain(&e))?
        .into_iter()
        .filter(|s| s.host == tenant.host && s.is_qcb())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse, Fallbacks};
    use crate::schedule::Trigger;

    #[test]
    fn an_aborted_last_run_needs_attention() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[[tenants]]\nname = \"acme\"\nurl = \"https://acme.eu.qlikcloud.com\"\napi_key_env = \"ACME_KEY\"\nrepository = {:?}\npassword_env = \"QCB_TEST_SURELY_UNSET_VAR\"\n",
            dir.path().join("no-repo").display().to_string()
        );
        let config = parse(
            &text,
            std::path::Path::new("q.toml"),
            &Fallbacks::default(),
            true,
        )
        .unwrap();
        let state = StateStore::new(dir.path().join("state"));
        let now = Utc::now();
        let mut done = RunRecord::new("acme", Task::Backup, Trigger::Schedule, Some(now), now);
        done.status = Outcome::Success;
        state.append(&done).unwrap();
        let status = tenant_status(&config.tenants[0], &state, now);
        assert!(
            !status.problems.iter().any(|p| p.contains("aborted")),
            "{:?}",
            status.problems
        );

        let mut aborted = RunRecord::new("acme", Task::Backup, Trigger::Schedule, Some(now), now);
        aborted.status = Outcome::Aborted;
        state.append(&aborted).unwrap();
        let status = tenant_status(&config.tenants[0], &state, now);
        assert!(!status.ok());
        assert!(
            status
                .problems
                .iter()
                .any(|p| p.starts_with("the last run was aborted by a shutdown")),
            "{:?}",
            status.problems
        );
    }
}
