//! Which snapshots to keep: keep-last/daily/weekly/monthly/yearly, per tenant (host), with
//! restic's semantics.
//!
//! Snapshots of one host are walked newest first. A rule with `n > 0` keeps a snapshot when it
//! is the first (newest) of its period — day, ISO week, month, year; for `last`, every
//! snapshot — and counts down; a rule whose count is not used up also keeps the oldest
//! snapshot, so history reaches back as far as the policy allows. Periods are UTC calendar
//! periods; weeks are ISO weeks (Monday to Sunday, numbered within their ISO year, so the week
//! around New Year is one week).
//!
//! rustic_core's own `KeepOptions` compares the calendar year *and* the ISO week number, which
//! splits the week around New Year in two; qcb plans with this module and only asks
//! rustic_core to delete.

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;

use crate::error::RepoError;
use crate::snapshot::SnapshotInfo;

/// How many snapshots to keep, per tenant. Zero means "this rule keeps nothing".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KeepPolicy {
    pub last: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
    pub yearly: u32,
}

impl KeepPolicy {
    pub fn is_empty(&self) -> bool {
        self.last == 0
            && self.daily == 0
            && self.weekly == 0
            && self.monthly == 0
            && self.yearly == 0
    }
}

/// A snapshot forget keeps, and the rules that keep it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeptSnapshot {
    pub snapshot: SnapshotInfo,
    /// `last`, `daily`, `weekly`, `monthly`, `yearly`.
    pub reasons: Vec<&'static str>,
}

/// The plan (or the result) of forget for one tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForgetGroup {
    pub host: String,
    /// Newest first.
    pub keep: Vec<KeptSnapshot>,
    /// Newest first.
    pub remove: Vec<SnapshotInfo>,
}

/// What forget did (or, with `dry_run`, would do).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForgetReport {
    pub dry_run: bool,
    pub policy: KeepPolicy,
    /// One group per tenant, by hostname.
    pub groups: Vec<ForgetGroup>,
    /// Snapshots not written by qcb (no `qcb` tag), left alone.
    pub others: usize,
}

impl ForgetReport {
    pub fn removed(&self) -> impl Iterator<Item = &SnapshotInfo> {
        self.groups.iter().flat_map(|g| g.remove.iter())
    }

    pub fn kept(&self) -> impl Iterator<Item = &KeptSnapshot> {
        self.groups.iter().flat_map(|g| g.keep.iter())
    }
}

#[derive(Clone, Copy)]
enum Rule {
    Last,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Self::Last => "last",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
            Self::Yearly => "yearly",
        }
    }

    /// The period a snapshot falls in (for `last`: its position, so each is its own period).
    fn period(self, t: DateTime<Utc>, position: usize) -> i64 {
        match self {
            Self::Last => position as i64,
            Self::Daily => i64::from(t.year()) * 1000 + i64::from(t.ordinal()),
            Self::Weekly => {
                let w = t.iso_week();
                i64::from(w.year()) * 100 + i64::from(w.week())
            }
            Self::Monthly => i64::from(t.year()) * 100 + i64::from(t.month()),
            Self::Yearly => i64::from(t.year()),
        }
    }
}

/// Plans forget: groups `snapshots` by host and applies `policy` to each group. Only snapshots
/// qcb wrote (tagged `qcb`) are considered; others in a shared repository are left alone.
pub fn plan_forget(
    snapshots: &[SnapshotInfo],
    policy: &KeepPolicy,
    dry_run: bool,
) -> Result<ForgetReport, RepoError> {
    if policy.is_empty() {
        return Err(RepoError::EmptyKeepPolicy);
    }
    let mut hosts: Vec<&str> = snapshots
        .iter()
        .filter(|s| s.is_qcb())
        .map(|s| s.host.as_str())
        .collect();
    hosts.sort_unstable();
    hosts.dedup();
    let groups = hosts
        .into_iter()
        .map(|host| {
            let mut snaps: Vec<&SnapshotInfo> = snapshots
                .iter()
                .filter(|s| s.is_qcb() && s.host == host)
                .collect();
            // Newest first; equal times by id, so the plan does not depend on listing order.
            snaps.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id)));
            plan_group(host, &snaps, policy)
        })
        .collect();
    Ok(ForgetReport {
        dry_run,
        policy: *policy,
        groups,
        others: snapshots.iter().filter(|s| !s.is_qcb()).count(),
    })
}

fn plan_group(host: &str, newest_first: &[&SnapshotInfo], policy: &KeepPolicy) -> ForgetGroup {
    let mut rules: Vec<(Rule, u32, Option<i64>)> = [
        (Rule::Last, policy.last),
        (Rule::Daily, policy.daily),
        (Rule::Weekly, policy.weekly),
        (Rule::Monthly, policy.monthly),
        (Rule::Yearly, policy.yearly),
    ]
    .into_iter()
    .map(|(rule, n)| (rule, n, None))
    .collect();
    let mut group = ForgetGroup {
        host: host.to_string(),
        keep: Vec::new(),
        remove: Vec::new(),
    };
    let oldest = newest_first.len().saturating_sub(1);
    for (position, snap) in newest_first.iter().enumerate() {
        let mut reasons = Vec::new();
        for (rule, left, last_period) in &mut rules {
            if *left == 0 {
                continue;
            }
            let period = rule.period(snap.time, position);
            if *last_period != Some(period) || position == oldest {
                reasons.push(rule.name());
                *last_period = Some(period);
                *left -= 1;
            }
        }
        if reasons.is_empty() {
            group.remove.push((*snap).clone());
        } else {
            group.keep.push(KeptSnapshot {
                snapshot: (*snap).clone(),
                reasons,
            });
        }
    }
    group
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::fake;
    use chrono::TimeZone;

    fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 3, 0, 0).unwrap()
    }

    #[test]
    fn the_week_around_new_year_is_one_week() {
        // 2024-12-30 (Mon) … 2025-01-05 (Sun) is ISO week 2025-W01.
        let snaps: Vec<_> = (0..7)
            .map(|i| {
                let t = day(2024, 12, 30) + chrono::Duration::days(i);
                fake(&format!("{i:02x}"), "t.qlikcloud.com", t)
            })
            .chain([fake("ff", "t.qlikcloud.com", day(2024, 12, 29))])
            .collect();
        let policy = KeepPolicy {
            weekly: 2,
            ..KeepPolicy::default()
        };
        let report = plan_forget(&snaps, &policy, true).unwrap();
        let kept: Vec<_> = report.kept().map(|k| k.snapshot.time).collect();
        assert_eq!(kept, [day(2025, 1, 5), day(2024, 12, 29)]);
    }

    #[test]
    fn an_unused_count_keeps_the_oldest_and_hosts_are_separate() {
        let snaps = vec![
            fake("01", "a", day(2024, 3, 1)),
            fake("02", "a", day(2024, 3, 2)),
            fake("03", "b", day(2024, 3, 2)),
            fake("04", "other", day(2024, 3, 2)),
        ];
        let mut snaps = snaps;
        snaps[3].tags = vec!["restic-only".into()];
        let report = plan_forget(
            &snaps,
            &KeepPolicy {
                monthly: 3,
                ..KeepPolicy::default()
            },
            false,
        )
        .unwrap();
        assert_eq!(report.groups.len(), 2, "the untagged snapshot is not qcb's");
        assert_eq!(report.others, 1);
        let a = &report.groups[0];
        assert_eq!(a.host, "a");
        assert_eq!(a.keep.len(), 2, "same month, but the count is not used up");
        assert!(a.remove.is_empty());
        assert!(matches!(
            plan_forget(&snaps, &KeepPolicy::default(), true),
            Err(RepoError::EmptyKeepPolicy)
        ));
    }
}
