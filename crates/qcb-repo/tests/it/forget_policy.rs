//! Retention against an independent model: a calendar of about 400 daily snapshots per
//! tenant, random policies, and a model of keep-last/daily/weekly/monthly/yearly written from
//! the definition rather than from the implementation.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use qcb_repo::{plan_forget, KeepPolicy, SnapshotId, SnapshotInfo};

fn snapshot(n: usize, host: &str, time: DateTime<Utc>, tags: &[&str]) -> SnapshotInfo {
    let id = SnapshotId::parse(&format!("{n:064x}")).expect("id");
    SnapshotInfo {
        short_id: id.short().to_string(),
        id,
        time,
        host: host.to_string(),
        tags: tags.iter().map(|t| (*t).to_string()).collect(),
        parent: None,
        tree: "0".repeat(64),
        program: "qcb".into(),
        summary: None,
    }
}

/// The ISO week a date belongs to, by the Thursday rule: a week (Monday to Sunday) belongs to
/// the year its Thursday falls in, and is numbered from that year's first such week.
fn iso_week(d: NaiveDate) -> (i32, u32) {
    let from_monday = i64::from(d.weekday().num_days_from_monday());
    let thursday = d + Duration::days(3 - from_monday);
    (thursday.year(), (thursday.ordinal() - 1) / 7 + 1)
}

/// What the policy keeps of one tenant's snapshots: for each rule with n > 0, the newest
/// snapshot of each of the n newest periods that hold a snapshot, plus the oldest snapshot if
/// there are fewer than n such periods.
fn model(snaps: &[&SnapshotInfo], p: &KeepPolicy) -> BTreeSet<String> {
    let mut newest_first: Vec<&SnapshotInfo> = snaps.to_vec();
    newest_first.sort_by(|a, b| b.time.cmp(&a.time).then(b.id.cmp(&a.id)));
    type Key = fn(usize, &SnapshotInfo) -> (i64, i64, i64);
    let rules: [(u32, Key); 5] = [
        (p.last, |i, _| (i as i64, 0, 0)),
        (p.daily, |_, s| {
            (
                i64::from(s.time.year()),
                i64::from(s.time.month()),
                i64::from(s.time.day()),
            )
        }),
        (p.weekly, |_, s| {
            let (y, w) = iso_week(s.time.date_naive());
            (i64::from(y), i64::from(w), 0)
        }),
        (p.monthly, |_, s| {
            (i64::from(s.time.year()), i64::from(s.time.month()), 0)
        }),
        (p.yearly, |_, s| (i64::from(s.time.year()), 0, 0)),
    ];
    let mut keep = BTreeSet::new();
    for (n, key) in rules {
        if n == 0 {
            continue;
        }
        let mut periods: Vec<(i64, i64, i64)> = Vec::new();
        let mut newest_in: BTreeMap<(i64, i64, i64), &SnapshotInfo> = BTreeMap::new();
        for (i, s) in newest_first.iter().enumerate() {
            let k = key(i, s);
            if let std::collections::btree_map::Entry::Vacant(e) = newest_in.entry(k) {
                periods.push(k);
                e.insert(s);
            }
        }
        for k in periods.iter().take(n as usize) {
            keep.insert(newest_in[k].id.to_string());
        }
        if periods.len() < n as usize {
            if let Some(oldest) = newest_first.last() {
                keep.insert(oldest.id.to_string());
            }
        }
    }
    keep
}

/// About 400 days of snapshots from `start`: most days one, some days none, some two.
fn calendar(host: &str, start: NaiveDate, days: &[(u8, u32)], first_n: usize) -> Vec<SnapshotInfo> {
    let mut out = Vec::new();
    let mut n = first_n;
    for (i, (count, minute)) in days.iter().enumerate() {
        let date = start + Duration::days(i as i64);
        for k in 0..*count {
            let at = Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"))
                + Duration::minutes(i64::from(*minute) + i64::from(k) * 600);
            out.push(snapshot(n, host, at, &["qcb", "status:ok"]));
            n += 1;
        }
    }
    out
}

fn policy() -> impl Strategy<Value = KeepPolicy> {
    (0u32..6, 0u32..20, 0u32..12, 0u32..16, 0u32..4)
        .prop_filter("at least one rule", |(l, d, w, m, y)| l + d + w + m + y > 0)
        .prop_map(|(last, daily, weekly, monthly, yearly)| KeepPolicy {
            last,
            daily,
            weekly,
            monthly,
            yearly,
        })
}

/// Per day: how many snapshots (mostly 1, sometimes 0 or 2) and at which minute.
fn days() -> impl Strategy<Value = Vec<(u8, u32)>> {
    prop::collection::vec(
        (
            prop_oneof![8 => Just(1u8), 1 => Just(0u8), 1 => Just(2u8)],
            0u32..(14 * 60),
        ),
        400,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn forget_keeps_exactly_what_the_model_keeps(
        p in policy(),
        start_a in 0i64..3650,
        start_b in 0i64..3650,
        days_a in days(),
        days_b in days(),
    ) {
        let base = NaiveDate::from_ymd_opt(2018, 1, 1).expect("date");
        let mut snaps = calendar("a.eu.qlikcloud.com", base + Duration::days(start_a), &days_a, 1);
        snaps.extend(calendar("b.us.qlikcloud.com", base + Duration::days(start_b), &days_b, 10_000));
        // Another program's snapshot in a shared repository is never touched.
        snaps.push(snapshot(99_999, "a.eu.qlikcloud.com", Utc::now(), &["nightly"]));

        let report = plan_forget(&snaps, &p, true).expect("plan");
        prop_assert_eq!(report.groups.len(), 2);
        for group in &report.groups {
            let mine: Vec<&SnapshotInfo> =
                snaps.iter().filter(|s| s.host == group.host && s.is_qcb()).collect();
            let want = model(&mine, &p);
            let kept: BTreeSet<String> = group.keep.iter().map(|k| k.snapshot.id.to_string()).collect();
            prop_assert_eq!(&kept, &want, "host {} policy {:?}", &group.host, p);
            prop_assert_eq!(group.keep.len() + group.remove.len(), mine.len());
            prop_assert!(group.keep.iter().all(|k| !k.reasons.is_empty()));
            prop_assert!(group.remove.iter().all(|s| !want.contains(&s.id.to_string())));
        }
        prop_assert!(report.removed().all(|s| s.is_qcb()));
    }
}

#[test]
fn the_model_agrees_on_known_iso_weeks() {
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).expect("date");
    assert_eq!(iso_week(d(2024, 12, 30)), (2025, 1));
    assert_eq!(iso_week(d(2021, 1, 3)), (2020, 53));
    assert_eq!(iso_week(d(2026, 12, 31)), (2026, 53));
    assert_eq!(iso_week(d(2027, 1, 4)), (2027, 1));
}
