//! When each tenant's backups (and prunes) run: cron expressions, read by `croner`, against an
//! injectable [`Clock`], so tests drive time by hand.
//!
//! Each tenant has one loop that runs one task at a time, which is what keeps two runs of a
//! tenant from overlapping: times that pass while a task runs are skipped, not queued. After
//! downtime, a task whose next time passed while qcb was not running runs once at start, however
//! many times were missed, and stands for the newest of them: its record then says the missed
//! times are done, so the next start does not catch up again.
//!
//! `croner` rather than `cron`: it reads the five-field patterns of crontab(5) with their
//! day-of-month/day-of-week semantics (an optional seconds field, `L`, `#`, `W`), which is what
//! an admin writes; `cron` wants six or seven fields with Quartz conventions. croner is
//! maintained alongside its widely used JavaScript twin and depends only on chrono here.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Local, Utc};
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The time zone a schedule's times are read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Utc,
    /// The machine's own time zone.
    Local,
    /// A zone of the IANA database (`Europe/Stockholm`): 02:00 stays 02:00 across daylight
    /// saving changes.
    Named(chrono_tz::Tz),
}

#[derive(Debug, thiserror::Error)]
#[error("is `{expr}`, which is not a cron expression ({reason}): write five fields, minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\" for 02:00 every day (an optional sixth field in front gives seconds)")]
pub struct ScheduleError {
    expr: String,
    reason: String,
}

/// A cron schedule.
#[derive(Clone)]
pub struct Schedule {
    expr: String,
    cron: Cron,
    zone: Zone,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({:?}, {:?})", self.expr, self.zone)
    }
}

impl Schedule {
    /// Reads a cron expression: five fields, or six with seconds first; `@daily` and the
    /// other aliases work too.
    pub fn parse(expr: &str, zone: Zone) -> Result<Schedule, ScheduleError> {
        let expr = expr.trim();
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(expr)
            .map_err(|e| ScheduleError {
                expr: expr.to_string(),
                reason: e.to_string(),
            })?;
        let schedule = Schedule {
            expr: expr.to_string(),
            cron,
            zone,
        };
        // An expression that never matches (Feb 30th) is as wrong as a malformed one.
        if schedule.next_after(Utc::now()).is_none() {
            return Err(ScheduleError {
                expr: expr.to_string(),
                reason: "it never matches".into(),
            });
        }
        Ok(schedule)
    }

    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// The last time at or before `t`.
    pub fn last_until(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.zone {
            Zone::Utc => self.cron.find_previous_occurrence(&t, true).ok(),
            Zone::Local => self
                .cron
                .find_previous_occurrence(&t.with_timezone(&Local), true)
                .ok()
                .map(|l| l.with_timezone(&Utc)),
            Zone::Named(tz) => self
                .cron
                .find_previous_occurrence(&t.with_timezone(&tz), true)
                .ok()
                .map(|l| l.with_timezone(&Utc)),
        }
    }

    /// The first time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.zone {
            Zone::Utc => self.cron.find_next_occurrence(&t, false).ok(),
            Zone::Local => self
                .cron
                .find_next_occurrence(&t.with_timezone(&Local), false)
                .ok()
                .map(|l| l.with_timezone(&Utc)),
            Zone::Named(tz) => self
                .cron
                .find_next_occurrence(&t.with_timezone(&tz), false)
                .ok()
                .map(|l| l.with_timezone(&Utc)),
        }
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Schedule::parse(s, Zone::Utc)
    }
}

/// A source of time that can also wait: the system's in service, a hand-driven one in tests.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    /// Returns once `now() >= t`.
    fn sleep_until(&self, t: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Wall-clock time. Sleeps in steps of at most a minute and looks at the clock again after
/// each, so a suspended machine or a clock set forward does not delay a run by the jump.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, t: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            loop {
                let left = t - Utc::now();
                let Ok(left) = left.to_std() else { return };
                if left.is_zero() {
                    return;
                }
                tokio::time::sleep(left.min(std::time::Duration::from_secs(60))).await;
            }
        })
    }
}

#[derive(Debug, Clone)]
struct FakeState {
    now: DateTime<Utc>,
    /// Deadlines of the sleeps waiting now, by sleeper.
    sleepers: Vec<(u64, DateTime<Utc>)>,
}

/// A clock moved by hand. A test sets the time with [`FakeClock::set`] and sees what the
/// scheduler waits for with [`FakeClock::sleepers`].
#[derive(Debug, Clone)]
pub struct FakeClock {
    state: Arc<watch::Sender<FakeState>>,
    ids: Arc<AtomicU64>,
}

impl FakeClock {
    pub fn new(now: DateTime<Utc>) -> FakeClock {
        FakeClock {
            state: Arc::new(watch::Sender::new(FakeState {
                now,
                sleepers: vec![],
            })),
            ids: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Moves the clock to `t` (forward or back) and wakes the sleeps that are due.
    pub fn set(&self, t: DateTime<Utc>) {
        self.state.send_modify(|s| s.now = t);
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.state.send_modify(|s| s.now += by);
    }

    /// Waits until `n` sleeps are waiting, and gives their deadlines, earliest first.
    pub async fn sleepers(&self, n: usize) -> Vec<DateTime<Utc>> {
        let mut rx = self.state.subscribe();
        let state = rx
            .wait_for(|s| s.sleepers.len() >= n)
            .await
            .map(|s| s.clone());
        let mut deadlines: Vec<_> = state
            .map(|s| s.sleepers.iter().map(|(_, t)| *t).collect())
            .unwrap_or_default();
        deadlines.sort();
        deadlines
    }
}

struct SleeperGuard<'a> {
    state: &'a watch::Sender<FakeState>,
    id: u64,
}

impl Drop for SleeperGuard<'_> {
    fn drop(&mut self) {
        self.state
            .send_modify(|s| s.sleepers.retain(|(i, _)| *i != self.id));
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        self.state.borrow().now
    }

    fn sleep_until(&self, t: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let mut rx = self.state.subscribe();
            if rx.borrow().now >= t {
                return;
            }
            let id = self.ids.fetch_add(1, Ordering::Relaxed);
            self.state.send_modify(|s| s.sleepers.push((id, t)));
            let _guard = SleeperGuard {
                state: &self.state,
                id,
            };
            let _ = rx.wait_for(|s| s.now >= t).await;
        })
    }
}

/// What a tenant's loop runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Backup,
    Prune,
}

/// Why a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// At its scheduled time.
    Schedule,
    /// At start, for the scheduled time(s) missed while qcb was not running.
    Missed,
    /// Asked for (`qcb serve --once`).
    Manual,
}

/// One run a tenant's loop starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub task: Task,
    /// The scheduled time it stands for (for a missed run, the newest time missed: recorded
    /// as the run's `scheduled_for`, it is what the next start catches up from).
    pub at: DateTime<Utc>,
    pub trigger: Trigger,
}

/// A tenant's schedules.
#[derive(Debug, Clone)]
pub struct Plan {
    pub backup: Schedule,
    pub prune: Option<Schedule>,
}

/// When each task last started, from the run records: what catching up after downtime
/// compares with. A scheduled time after it that has passed is missed.
#[derive(Debug, Clone, Copy, Default)]
pub struct LastStarts {
    pub backup: Option<DateTime<Utc>>,
    pub prune: Option<DateTime<Utc>>,
}

/// The first run of a task after start: when times passed since the last start, one run for
/// the newest of them (once, however many passed: recorded under that time, it is not caught
/// up again by a later start); else the next time from now.
fn first_due(
    task: Task,
    schedule: &Schedule,
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Due> {
    if let (Some(last), Some(missed)) = (last, schedule.last_until(now)) {
        if missed > last {
            return Some(Due {
                task,
                at: missed,
                trigger: Trigger::Missed,
            });
        }
    }
    schedule.next_after(now).map(|at| Due {
        task,
        at,
        trigger: Trigger::Schedule,
    })
}

/// Runs one tenant's schedules until `cancel`: waits for the next due task, awaits `job` for
/// it, and only then looks for the next one. `job` sees `cancel` too and decides how to stop
/// a run in progress.
pub async fn run_tenant<F, Fut>(
    clock: Arc<dyn Clock>,
    plan: Plan,
    last: LastStarts,
    cancel: CancellationToken,
    mut job: F,
) where
    F: FnMut(Due) -> Fut,
    Fut: Future<Output = ()>,
{
    let now = clock.now();
    let mut next_backup = first_due(Task::Backup, &plan.backup, last.backup, now);
    let mut next_prune = plan
        .prune
        .as_ref()
        .and_then(|p| first_due(Task::Prune, p, last.prune, now));
    loop {
        // The earlier of the two; a backup before a prune due at the same time.
        let due = match (next_backup, next_prune) {
            (Some(b), Some(p)) if p.at < b.at => p,
            (Some(b), _) => b,
            (None, Some(p)) => p,
            (None, None) => return,
        };
        if due.at > clock.now() {
            tokio::select! {
                _ = clock.sleep_until(due.at) => {}
                _ = cancel.cancelled() => return,
            }
        }
        if cancel.is_cancelled() {
            return;
        }
        job(due).await;
        if cancel.is_cancelled() {
            return;
        }
        let now = clock.now();
        let schedule = match due.task {
            Task::Backup => &plan.backup,
            Task::Prune => match &plan.prune {
                Some(p) => p,
                None => return,
            },
        };
        let skipped = skipped_between(schedule, due.at, now);
        if skipped > 0 {
            tracing::warn!(
                task = ?due.task,
                skipped,
                "the run took longer than its schedule's interval: {skipped} scheduled time(s) passed during it and were skipped"
            );
        }
        let next = schedule.next_after(now).map(|at| Due {
            task: due.task,
            at,
            trigger: Trigger::Schedule,
        });
        match due.task {
            Task::Backup => next_backup = next,
            Task::Prune => next_prune = next,
        }
    }
}

/// Scheduled times strictly after `from` and not after `to` (at most 1000 counted).
fn skipped_between(schedule: &Schedule, from: DateTime<Utc>, to: DateTime<Utc>) -> usize {
    let mut n = 0;
    let mut t = from;
    while let Some(next) = schedule.next_after(t) {
        if next > to || n >= 1000 {
            break;
        }
        n += 1;
        t = next;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Outcome, RunRecord, StateStore};
    use chrono::TimeZone;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;
    use tokio::sync::{mpsc, Notify};

    #[test]
    fn a_named_zone_keeps_local_time_across_daylight_saving() {
        let tz: chrono_tz::Tz = "Europe/Stockholm".parse().unwrap();
        let s = Schedule::parse("0 2 * * *", Zone::Named(tz)).unwrap();
        // Winter: 02:00 in Stockholm is 01:00 UTC; summer: 00:00 UTC.
        let winter = s.next_after(at(10, 12, 0)).unwrap();
        assert_eq!(winter, Utc.with_ymd_and_hms(2026, 1, 11, 1, 0, 0).unwrap());
        let summer = s
            .next_after(Utc.with_ymd_and_hms(2026, 7, 10, 12, 0, 0).unwrap())
            .unwrap();
        assert_eq!(summer, Utc.with_ymd_and_hms(2026, 7, 11, 0, 0, 0).unwrap());
    }

    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, d, h, m, 0).unwrap()
    }

    fn plan(backup: &str, prune: Option<&str>) -> Plan {
        Plan {
            backup: backup.parse().unwrap(),
            prune: prune.map(|p| p.parse().unwrap()),
        }
    }

    async fn recv(rx: &mut mpsc::UnboundedReceiver<Due>) -> Due {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a run within 10 s")
            .expect("the loop is alive")
    }

    /// Starts a tenant loop whose job reports each run and returns at once.
    fn start(
        clock: &FakeClock,
        plan: Plan,
        last: LastStarts,
    ) -> (
        mpsc::UnboundedReceiver<Due>,
        CancellationToken,
        tokio::task::JoinHandle<()>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let handle = tokio::spawn(run_tenant(
            Arc::new(clock.clone()),
            plan,
            last,
            cancel.clone(),
            move |due| {
                let _ = tx.send(due);
                async {}
            },
        ));
        (rx, cancel, handle)
    }

    #[test]
    fn expressions_read_like_crontab() {
        let s: Schedule = "0 2 * * *".parse().unwrap();
        assert_eq!(s.next_after(at(1, 0, 0)), Some(at(1, 2, 0)));
        assert_eq!(
            s.next_after(at(1, 2, 0)),
            Some(at(2, 2, 0)),
            "strictly after"
        );
        let weekdays: Schedule = "30 6 * * MON-FRI".parse().unwrap();
        // 2026-01-03 is a Saturday.
        assert_eq!(weekdays.next_after(at(2, 7, 0)), Some(at(5, 6, 30)));
        let seconds: Schedule = "*/5 * * * * *".parse().unwrap();
        assert_eq!(
            seconds.next_after(at(1, 0, 0)),
            Some(at(1, 0, 0) + chrono::Duration::seconds(5))
        );
        let e = "61 * * * *".parse::<Schedule>().unwrap_err().to_string();
        assert!(
            e.starts_with("is `61 * * * *`, which is not a cron expression"),
            "{e}"
        );
        assert!("0 0 30 2 *".parse::<Schedule>().is_err(), "never matches");
    }

    #[tokio::test]
    async fn fires_at_the_scheduled_times() {
        let clock = FakeClock::new(at(1, 0, 0));
        let (mut rx, cancel, handle) = start(
            &clock,
            plan("0 2 * * *", Some("0 4 * * 0")),
            LastStarts::default(),
        );
        assert_eq!(clock.sleepers(1).await, [at(1, 2, 0)], "waits for 02:00");
        clock.set(at(1, 1, 59));
        assert_eq!(clock.sleepers(1).await, [at(1, 2, 0)]);
        assert!(rx.try_recv().is_err(), "nothing before its time");
        clock.set(at(1, 2, 0));
        assert_eq!(
            recv(&mut rx).await,
            Due {
                task: Task::Backup,
                at: at(1, 2, 0),
                trigger: Trigger::Schedule
            }
        );
        assert_eq!(clock.sleepers(1).await, [at(2, 2, 0)], "then the next day");
        // 2026-01-04 is a Sunday: the prune's 04:00 comes after that day's backup.
        clock.set(at(4, 5, 0));
        assert_eq!(recv(&mut rx).await.at, at(2, 2, 0));
        assert_eq!(
            recv(&mut rx).await,
            Due {
                task: Task::Prune,
                at: at(4, 4, 0),
                trigger: Trigger::Schedule
            }
        );
        assert_eq!(clock.sleepers(1).await, [at(5, 2, 0)]);
        assert!(
            rx.try_recv().is_err(),
            "one run for the two days jumped over, not two"
        );
        cancel.cancel();
        handle.await.unwrap();
    }

    #[tokio::test]
    async fn overlapping_runs_are_not_started() {
        let clock = FakeClock::new(at(1, 0, 0));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Notify::new());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let job = {
            let (running, most, started, release) = (
                running.clone(),
                most.clone(),
                started.clone(),
                release.clone(),
            );
            move |due: Due| {
                let (running, most, started, release, tx) = (
                    running.clone(),
                    most.clone(),
                    started.clone(),
                    release.clone(),
                    tx.clone(),
                );
                async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let _ = tx.send(due);
                    release.notified().await;
                    running.fetch_sub(1, Ordering::SeqCst);
                }
            }
        };
        let handle = tokio::spawn(run_tenant(
            Arc::new(clock.clone()),
            plan("*/10 * * * *", None),
            LastStarts::default(),
            cancel.clone(),
            job,
        ));
        assert_eq!(clock.sleepers(1).await, [at(1, 0, 10)]);
        clock.set(at(1, 0, 10));
        assert_eq!(recv(&mut rx).await.at, at(1, 0, 10));
        // 00:20, 00:30 and 00:40 pass while the run goes on.
        for m in [15, 20, 25, 30, 40, 45] {
            clock.set(at(1, 0, m));
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            started.load(Ordering::SeqCst),
            1,
            "no run starts while one is running"
        );
        release.notify_one();
        assert_eq!(
            clock.sleepers(1).await,
            [at(1, 0, 50)],
            "the times passed during the run are skipped"
        );
        assert_eq!(started.load(Ordering::SeqCst), 1);
        clock.set(at(1, 0, 50));
        assert_eq!(recv(&mut rx).await.at, at(1, 0, 50));
        release.notify_one();
        assert_eq!(clock.sleepers(1).await, [at(1, 1, 0)]);
        assert_eq!(most.load(Ordering::SeqCst), 1, "never two at once");
        cancel.cancel();
        handle.await.unwrap();
    }

    #[tokio::test]
    async fn runs_missed_during_downtime_run_once() {
        // The last backup started on the 1st at 02:00; qcb comes back on the 5th at 10:00,
        // after four missed nights.
        let clock = FakeClock::new(at(5, 10, 0));
        let last = LastStarts {
            backup: Some(at(1, 2, 0)),
            prune: None,
        };
        let (mut rx, cancel, handle) = start(&clock, plan("0 2 * * *", None), last);
        assert_eq!(
            recv(&mut rx).await,
            Due {
                task: Task::Backup,
                at: at(5, 2, 0),
                trigger: Trigger::Missed
            },
            "it stands for the newest time missed"
        );
        assert_eq!(clock.sleepers(1).await, [at(6, 2, 0)], "then on schedule");
        assert!(rx.try_recv().is_err(), "once, not four times");
        cancel.cancel();
        handle.await.unwrap();

        // Nothing missed: a restart before the next time waits for it.
        let clock = FakeClock::new(at(1, 12, 0));
        let (mut rx, cancel, handle) = start(&clock, plan("0 2 * * *", None), last);
        assert_eq!(clock.sleepers(1).await, [at(2, 2, 0)]);
        assert!(rx.try_recv().is_err());
        cancel.cancel();
        handle.await.unwrap();
    }

    /// Starts a tenant loop whose job records each run in `store`, as `qcb serve` does, and
    /// gives how many runs it started.
    async fn start_recording(
        clock: &FakeClock,
        schedule: &str,
        store: &StateStore,
        status: Outcome,
    ) -> usize {
        let last = store.last_starts("acme").unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let cancel = CancellationToken::new();
        let job = {
            let (clock, store, runs) = (clock.clone(), store.clone(), runs.clone());
            move |due: Due| {
                let mut r =
                    RunRecord::new("acme", due.task, due.trigger, Some(due.at), clock.now());
                r.status = status;
                store.append(&r).unwrap();
                runs.fetch_add(1, Ordering::SeqCst);
                async {}
            }
        };
        let handle = tokio::spawn(run_tenant(
            Arc::new(clock.clone()),
            plan(schedule, None),
            last,
            cancel.clone(),
            job,
        ));
        // Once it waits for its next time, whatever it caught up has run.
        clock.sleepers(1).await;
        cancel.cancel();
        handle.await.unwrap();
        runs.load(Ordering::SeqCst)
    }

    fn record(store: &StateStore, scheduled: DateTime<Utc>, status: Outcome) {
        let mut r = RunRecord::new(
            "acme",
            Task::Backup,
            Trigger::Schedule,
            Some(scheduled),
            scheduled,
        );
        r.status = status;
        store.append(&r).unwrap();
    }

    /// Regression: a catch-up run was recorded under the first time missed, so every restart
    /// before the next scheduled time caught up again (up to once per night missed).
    #[tokio::test]
    async fn a_catch_up_run_is_not_repeated_by_later_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        // The last backup ran on the 1st at 02:00; qcb was down for four nights.
        record(&store, at(1, 2, 0), Outcome::Success);
        let clock = FakeClock::new(at(5, 10, 0));
        let mut started = 0;
        for restart in [
            at(5, 10, 0),
            at(5, 10, 1),
            at(5, 12, 0),
            at(5, 23, 0),
            at(6, 1, 59),
        ] {
            clock.set(restart);
            started += start_recording(&clock, "0 2 * * *", &store, Outcome::Success).await;
        }
        assert_eq!(started, 1, "one catch-up run over five restarts");
        let runs = store.runs("acme").unwrap();
        let catch_up: Vec<_> = runs
            .iter()
            .filter(|r| r.trigger == Trigger::Missed)
            .collect();
        assert_eq!(catch_up.len(), 1);
        assert_eq!(catch_up[0].scheduled_for, Some(at(5, 2, 0)));
        // The next night missed is caught up again, once.
        clock.set(at(6, 9, 0));
        assert_eq!(
            start_recording(&clock, "0 2 * * *", &store, Outcome::Success).await,
            1
        );
        assert_eq!(
            start_recording(&clock, "0 2 * * *", &store, Outcome::Success).await,
            0
        );
    }

    /// An aborted run (a shutdown during it) did not do its work: the next start runs it
    /// again, once.
    #[tokio::test]
    async fn an_aborted_run_is_retried_once_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        record(&store, at(1, 2, 0), Outcome::Success);
        record(&store, at(2, 2, 0), Outcome::Aborted);
        let clock = FakeClock::new(at(2, 2, 5));
        assert_eq!(
            start_recording(&clock, "0 2 * * *", &store, Outcome::Success).await,
            1
        );
        assert_eq!(
            store.runs("acme").unwrap().last().unwrap().scheduled_for,
            Some(at(2, 2, 0))
        );
        assert_eq!(
            start_recording(&clock, "0 2 * * *", &store, Outcome::Success).await,
            0,
            "once"
        );

        // The very first run aborted: it is retried too.
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        record(&store, at(2, 2, 0), Outcome::Aborted);
        assert_eq!(
            start_recording(&clock, "0 2 * * *", &store, Outcome::Aborted).await,
            1
        );
        // Aborted again: retried again at the next start.
        assert_eq!(
            start_recording(&clock, "0 2 * * *", &store, Outcome::Success).await,
            1
        );
        assert_eq!(
            start_recording(&clock, "0 2 * * *", &store, Outcome::Success).await,
            0
        );
    }

    #[tokio::test]
    async fn cancelling_stops_a_waiting_loop() {
        let clock = FakeClock::new(at(1, 0, 0));
        let (_rx, cancel, handle) = start(&clock, plan("0 2 * * *", None), LastStarts::default());
        clock.sleepers(1).await;
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .expect("stops")
            .unwrap();
        assert!(clock.sleepers(0).await.is_empty(), "its sleep is gone");
    }
}
