//! `/metrics` in the Prometheus text format (version 0.0.4), one label `tenant` (the name in
//! qcb.toml) on every series. Built from the run records and the repository as last seen, so
//! a scrape never waits for a repository or a tenant.

use std::fmt::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::runner::RepoView;
use crate::schedule::Task;
use crate::state::{Outcome, RunRecord};

/// What the service knows of one tenant.
#[derive(Debug, Clone)]
pub struct TenantView {
    pub name: String,
    pub host: String,
    pub stale_after: Duration,
    pub last_backup: Option<RunRecord>,
    /// The last backup that wrote a snapshot.
    pub last_success: Option<RunRecord>,
    pub last_prune: Option<RunRecord>,
    pub repo: Option<RepoView>,
    /// The task running now, if one is.
    pub running: Option<Task>,
    /// Whether the stale alert was sent for the current stale spell.
    pub stale_alerted: bool,
}

impl TenantView {
    pub fn new(name: &str, host: &str, stale_after: Duration) -> TenantView {
        TenantView {
            name: name.to_string(),
            host: host.to_string(),
            stale_after,
            last_backup: None,
            last_success: None,
            last_prune: None,
            repo: None,
            running: None,
            stale_alerted: false,
        }
    }

    /// The newest snapshot written: from the records, or from the repository (a snapshot
    /// `qcb backup` wrote by hand counts too).
    pub fn last_snapshot_time(&self) -> Option<DateTime<Utc>> {
        let recorded = self.last_success.as_ref().map(|r| r.finished_at);
        let seen = self
            .repo
            .as_ref()
            .and_then(|v| v.snapshots.iter().map(|s| s.time).max());
        recorded.max(seen)
    }

    /// No snapshot within `stale_after` (or none at all).
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        match self.last_snapshot_time() {
            Some(t) => (now - t).to_std().unwrap_or_default() > self.stale_after,
            None => true,
        }
    }
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

type Getter = fn(&RunRecord) -> f64;

/// The metrics text for `tenants` at `now`.
pub fn render(tenants: &[TenantView], now: DateTime<Utc>) -> String {
    let mut o = Out(String::new());
    o.family("qcb_tenants", "gauge", "Tenants in the configuration.");
    o.sample("qcb_tenants", &[], tenants.len() as f64);

    let per_run: [(&str, &str, Getter); 7] = [
        (
            "qcb_last_run_timestamp_seconds",
            "When the last backup run ended (Unix time).",
            |r| seconds(r.finished_at),
        ),
        (
            "qcb_last_run_duration_seconds",
            "How long the last backup run took.",
            |r| r.duration_secs(),
        ),
        (
            "qcb_last_run_failed_items",
            "Items that failed in the last backup run.",
            |r| r.failed_items as f64,
        ),
        (
            "qcb_last_run_bytes_added",
            "New data the last snapshot added to the repository, before compression.",
            |r| r.bytes_added as f64,
        ),
        (
            "qcb_last_run_api_requests",
            "Qlik API requests of the last backup run.",
            |r| r.api.requests as f64,
        ),
        (
            "qcb_last_run_api_throttled",
            "Qlik API answers of the last backup run that were 429 (rate limited).",
            |r| r.api.throttled as f64,
        ),
        (
            "qcb_last_run_api_retries",
            "Qlik API requests of the last backup run that were retried.",
            |r| r.api.retries as f64,
        ),
    ];
    for (name, help, get) in per_run {
        o.family(name, "gauge", help);
        for t in tenants {
            if let Some(r) = &t.last_backup {
                o.sample(name, &[("tenant", &t.name)], get(r));
            }
        }
    }

    o.family(
        "qcb_last_run_status",
        "gauge",
        "The last backup run's outcome: 1 for the status it ended with, 0 for the others.",
    );
    for t in tenants {
        if let Some(r) = &t.last_backup {
            for s in Outcome::ALL {
                let v = if r.status == s { 1.0 } else { 0.0 };
                o.sample(
                    "qcb_last_run_status",
                    &[("tenant", &t.name), ("status", s.as_str())],
                    v,
                );
            }
        }
    }

    o.family(
        "qcb_last_run_items",
        "gauge",
        "Items of the last backup run per component kind and status (total, backed_up, unchanged, failed).",
    );
    for t in tenants {
        let Some(r) = &t.last_backup else { continue };
        for (kind, c) in &r.counts {
            for (status, v) in [
                ("total", c.total),
                ("backed_up", c.backed_up),
                ("unchanged", c.unchanged),
                ("failed", c.failed),
            ] {
                o.sample(
                    "qcb_last_run_items",
                    &[("tenant", &t.name), ("kind", kind), ("status", status)],
                    v as f64,
                );
            }
        }
    }

    o.family(
        "qcb_last_success_timestamp_seconds",
        "gauge",
        "When the newest snapshot was written (Unix time).",
    );
    o.family_samples(tenants, "qcb_last_success_timestamp_seconds", |t| {
        t.last_snapshot_time().map(seconds)
    });
    o.family(
        "qcb_snapshot_age_seconds",
        "gauge",
        "Age of the newest snapshot.",
    );
    o.family_samples(tenants, "qcb_snapshot_age_seconds", |t| {
        t.last_snapshot_time()
            .map(|s| (now - s).num_milliseconds().max(0) as f64 / 1000.0)
    });
    o.family(
        "qcb_stale",
        "gauge",
        "1 when the tenant has no snapshot within its stale_after threshold.",
    );
    o.family_samples(tenants, "qcb_stale", |t| {
        Some(if t.is_stale(now) { 1.0 } else { 0.0 })
    });
    o.family(
        "qcb_stale_threshold_seconds",
        "gauge",
        "The tenant's stale_after threshold.",
    );
    o.family_samples(tenants, "qcb_stale_threshold_seconds", |t| {
        Some(t.stale_after.as_secs_f64())
    });
    o.family(
        "qcb_snapshots",
        "gauge",
        "Snapshots of the tenant in its repository.",
    );
    o.family_samples(tenants, "qcb_snapshots", |t| {
        t.repo.as_ref().map(|v| v.snapshots.len() as f64)
    });
    o.family(
        "qcb_repository_size_bytes",
        "gauge",
        "Bytes the tenant's repository takes (local repositories).",
    );
    o.family_samples(tenants, "qcb_repository_size_bytes", |t| {
        t.repo.as_ref().and_then(|v| v.size_bytes).map(|b| b as f64)
    });
    o.family(
        "qcb_run_in_progress",
        "gauge",
        "1 while a backup or prune of the tenant runs.",
    );
    o.family_samples(tenants, "qcb_run_in_progress", |t| {
        Some(if t.running.is_some() { 1.0 } else { 0.0 })
    });
    o.family(
        "qcb_last_prune_timestamp_seconds",
        "gauge",
        "When the last prune ended (Unix time).",
    );
    o.family_samples(tenants, "qcb_last_prune_timestamp_seconds", |t| {
        t.last_prune.as_ref().map(|r| seconds(r.finished_at))
    });
    o.0
}

impl Out {
    fn family_samples(
        &mut self,
        tenants: &[TenantView],
        name: &str,
        value: impl Fn(&TenantView) -> Option<f64>,
    ) {
        for t in tenants {
            if let Some(v) = value(t) {
                self.sample(name, &[("tenant", &t.name)], v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Trigger;

    #[test]
    fn labels_are_escaped_and_each_family_is_typed_once() {
        let mut t = TenantView::new("a\"b", "a.example", Duration::from_secs(60));
        let mut r = RunRecord::new("a\"b", Task::Backup, Trigger::Manual, None, Utc::now());
        r.status = Outcome::Partial;
        t.last_backup = Some(r);
        let text = render(&[t], Utc::now());
        assert!(
            text.contains("qcb_last_run_status{tenant=\"a\\\"b\",status=\"partial\"} 1"),
            "{text}"
        );
        assert_eq!(text.matches("# TYPE qcb_last_run_status gauge").count(), 1);
        assert!(text.contains("qcb_stale{tenant=\"a\\\"b\"} 1"));
    }
}
