//! Run records: one JSON line per run (backup or prune) in `<state_dir>/<tenant>/runs.jsonl`,
//! failed and aborted runs included (they write no snapshot, so the repository alone cannot
//! tell of them). `qcb status`, `/metrics` and `/api/runs` read them; the scheduler reads the
//! last start of each task to catch up after downtime.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use qcb_backup::Counts;
use qcb_qlik::ApiCounters;
use serde::{Deserialize, Serialize};

use crate::schedule::{LastStarts, Task, Trigger};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    /// Some items failed; the snapshot was written.
    Partial,
    /// No snapshot (or, for a prune, nothing done).
    Failed,
    /// Stopped by a shutdown: no snapshot.
    Aborted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Partial => "partial",
            Outcome::Failed => "failed",
            Outcome::Aborted => "aborted",
        }
    }

    pub const ALL: [Outcome; 4] = [
        Outcome::Success,
        Outcome::Partial,
        Outcome::Failed,
        Outcome::Aborted,
    ];

    /// Whether the run wrote a snapshot.
    pub fn wrote_snapshot(self) -> bool {
        matches!(self, Outcome::Success | Outcome::Partial)
    }
}

impl From<qcb_backup::RunStatus> for Outcome {
    fn from(s: qcb_backup::RunStatus) -> Self {
        match s {
            qcb_backup::RunStatus::Success => Outcome::Success,
            qcb_backup::RunStatus::Partial => Outcome::Partial,
            qcb_backup::RunStatus::Failed => Outcome::Failed,
        }
    }
}

/// One run, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    pub tenant: String,
    pub task: Task,
    pub trigger: Trigger,
    /// The scheduled time the run stands for, when it was scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub status: Outcome,
    /// The snapshot written, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Why the run failed (one line, no secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Items per kind, from the manifest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, Counts>,
    #[serde(default)]
    pub failed_items: u64,
    /// New data the snapshot added to the repository, before compression.
    #[serde(default)]
    pub bytes_added: u64,
    #[serde(default)]
    pub api: ApiCounters,
    /// Snapshots of this tenant the retention policy forgot after the run.
    #[serde(default)]
    pub forgotten: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_error: Option<String>,
    #[serde(default)]
    pub anomalies: u64,
    /// The run report (HTML), when one was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<PathBuf>,
    /// Alert targets that could not be reached (the run's outcome does not depend on them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_errors: Vec<String>,
    /// For a prune: bytes freed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_freed: Option<u64>,
}

impl RunRecord {
    /// A record with only the essentials; the runner fills in the rest.
    pub fn new(
        tenant: &str,
        task: Task,
        trigger: Trigger,
        scheduled_for: Option<DateTime<Utc>>,
        started_at: DateTime<Utc>,
    ) -> RunRecord {
        RunRecord {
            tenant: tenant.to_string(),
            task,
            trigger,
            scheduled_for,
            started_at,
            finished_at: started_at,
            status: Outcome::Failed,
            snapshot: None,
            error: None,
            counts: BTreeMap::new(),
            failed_items: 0,
            bytes_added: 0,
            api: ApiCounters::default(),
            forgotten: 0,
            retention_error: None,
            anomalies: 0,
            report: None,
            alert_errors: vec![],
            bytes_freed: None,
        }
    }

    pub fn duration_secs(&self) -> f64 {
        (self.finished_at - self.started_at)
            .to_std()
            .map_or(0.0, |d| d.as_secs_f64())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {path}: {source}; check that the state folder (state_dir in qcb.toml) is writable")]
pub struct StateError {
    action: &'static str,
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// Past this size a tenant's record file is cut to its newest records.
const MAX_FILE_BYTES: u64 = 4 << 20;
const KEEP_WHEN_CUT: usize = 2000;

/// The state folder: one folder per tenant with its records and reports.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    pub fn new(dir: impl Into<PathBuf>) -> StateStore {
        StateStore { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn tenant_dir(&self, tenant: &str) -> PathBuf {
        self.dir.join(tenant)
    }

    pub fn reports_dir(&self, tenant: &str) -> PathBuf {
        self.tenant_dir(tenant).join("reports")
    }

    fn runs_file(&self, tenant: &str) -> PathBuf {
        self.tenant_dir(tenant).join("runs.jsonl")
    }

    /// Appends a record.
    pub fn append(&self, record: &RunRecord) -> Result<(), StateError> {
        let dir = self.tenant_dir(&record.tenant);
        std::fs::create_dir_all(&dir).map_err(|source| StateError {
            action: "create",
            path: dir.clone(),
            source,
        })?;
        let path = self.runs_file(&record.tenant);
        let io = |source| StateError {
            action: "write",
            path: path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(record).map_err(|e| io(std::io::Error::other(e)))?;
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        f.write_all(&line).map_err(io)?;
        f.sync_data().map_err(io)?;
        if f.metadata().map(|m| m.len()).unwrap_or(0) > MAX_FILE_BYTES {
            self.cut(&record.tenant).map_err(io)?;
        }
        Ok(())
    }

    /// Keeps the newest records only: written aside, then renamed over.
    fn cut(&self, tenant: &str) -> std::io::Result<()> {
        let runs = self.runs(tenant)?;
        let keep = &runs[runs.len().saturating_sub(KEEP_WHEN_CUT)..];
        let path = self.runs_file(tenant);
        let tmp = path.with_extension("jsonl.tmp");
        let mut out = Vec::new();
        for r in keep {
            out.extend(serde_json::to_vec(r).map_err(std::io::Error::other)?);
            out.push(b'\n');
        }
        std::fs::write(&tmp, out)?;
        std::fs::rename(tmp, path)
    }

    /// A tenant's records, oldest first. A line that does not parse (cut short by a crash) is
    /// skipped; no file means no runs yet.
    pub fn runs(&self, tenant: &str) -> std::io::Result<Vec<RunRecord>> {
        let text = match std::fs::read_to_string(self.runs_file(tenant)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e),
        };
        Ok(text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| match serde_json::from_str(l) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!(tenant, "skipping an unreadable run record: {e}");
                    None
                }
            })
            .collect())
    }

    /// The newest record of `task`.
    pub fn last(&self, tenant: &str, task: Task) -> std::io::Result<Option<RunRecord>> {
        Ok(self
            .runs(tenant)?
            .into_iter()
            .rev()
            .find(|r| r.task == task))
    }

    /// The newest backup that wrote a snapshot.
    pub fn last_success(&self, tenant: &str) -> std::io::Result<Option<RunRecord>> {
        Ok(self
            .runs(tenant)?
            .into_iter()
            .rev()
            .find(|r| r.task == Task::Backup && r.status.wrote_snapshot()))
    }

    /// When each task last started (its scheduled time for a scheduled run). Aborted runs do
    /// not count: a shutdown stopped them before their work was done, so the next start runs
    /// their time again (once). When only aborted runs are recorded, the last start is just
    /// before the first of them.
    pub fn last_starts(&self, tenant: &str) -> std::io::Result<LastStarts> {
        let runs = self.runs(tenant)?;
        let time = |r: &RunRecord| r.scheduled_for.unwrap_or(r.started_at);
        let last = |task| {
            let mine = || runs.iter().filter(move |r| r.task == task);
            mine()
                .rev()
                .find(|r| r.status != Outcome::Aborted)
                .map(time)
                .or_else(|| {
                    mine()
                        .next()
                        .map(|r| time(r) - chrono::Duration::seconds(1))
                })
        };
        Ok(LastStarts {
            backup: last(Task::Backup),
            prune: last(Task::Prune),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        assert!(store.runs("acme").unwrap().is_empty());
        let t0 = Utc::now();
        let mut a = RunRecord::new("acme", Task::Backup, Trigger::Schedule, Some(t0), t0);
        a.status = Outcome::Success;
        store.append(&a).unwrap();
        let b = RunRecord::new(
            "acme",
            Task::Backup,
            Trigger::Manual,
            None,
            t0 + chrono::Duration::hours(1),
        );
        store.append(&b).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("acme/runs.jsonl"))
            .unwrap()
            .write_all(b"{\"tenant\":\"acme\",\"ta")
            .unwrap();
        let runs = store.runs("acme").unwrap();
        assert_eq!(runs, vec![a.clone(), b.clone()]);
        assert_eq!(store.last("acme", Task::Backup).unwrap(), Some(b));
        assert_eq!(store.last_success("acme").unwrap(), Some(a));
        assert_eq!(
            store.last_starts("acme").unwrap().backup,
            Some(t0 + chrono::Duration::hours(1))
        );
    }

    #[test]
    fn aborted_runs_are_not_last_starts() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        let t0 = Utc::now();
        let t1 = t0 + chrono::Duration::hours(1);
        let mut aborted = RunRecord::new("acme", Task::Backup, Trigger::Schedule, Some(t1), t1);
        aborted.status = Outcome::Aborted;
        store.append(&aborted).unwrap();
        assert_eq!(
            store.last_starts("acme").unwrap().backup,
            Some(t1 - chrono::Duration::seconds(1)),
            "only aborted runs: just before the first"
        );
        let mut done = RunRecord::new("acme", Task::Backup, Trigger::Schedule, Some(t0), t0);
        done.status = Outcome::Partial;
        store.append(&done).unwrap();
        store.append(&aborted).unwrap();
        assert_eq!(store.last_starts("acme").unwrap().backup, Some(t0));
        assert_eq!(store.last_starts("acme").unwrap().prune, None);
    }
}
