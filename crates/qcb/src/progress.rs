//! How a backup shows itself while it runs. On a terminal: a display of a few lines (kinds
//! read, apps done of all, bytes downloaded and their rate, ETA, the API's use and whether
//! Qlik is throttling). Elsewhere, or with `--no-progress`: an `info` log line now and then
//! (target `qcb::progress`). Both read the run's events (qcb_backup::progress) and the
//! client's counters; neither ever sees a document, so no secret can reach them.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use qcb_backup::manifest::ItemStatus;
use qcb_backup::{Event, Progress, ProgressSink};
use qcb_qlik::{ApiCounters, TenantClient};
use tokio::task::JoinHandle;

/// How a run is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The terminal display.
    Display,
    /// Log lines.
    Log,
}

impl Mode {
    /// A display when stderr is a terminal and it was not turned off; log lines otherwise.
    pub fn choose(no_progress: bool) -> Mode {
        if !no_progress && std::io::stderr().is_terminal() {
            Mode::Display
        } else {
            Mode::Log
        }
    }
}

/// Counts of a run so far.
#[derive(Default)]
struct Tally {
    kinds_total: AtomicU64,
    kinds_done: AtomicU64,
    apps_total: AtomicU64,
    apps_done: AtomicU64,
    exported: AtomicU64,
    unchanged: AtomicU64,
    failed: AtomicU64,
    /// Deleted from the tenant while the run went on.
    gone: AtomicU64,
    bytes: AtomicU64,
}

impl Tally {
    fn get(a: &AtomicU64) -> u64 {
        a.load(Ordering::Relaxed)
    }

    fn apps_line(&self) -> String {
        let line = format!(
            "{} exported, {} unchanged, {} failed",
            Self::get(&self.exported),
            Self::get(&self.unchanged),
            Self::get(&self.failed)
        );
        match Self::get(&self.gone) {
            0 => line,
            gone => format!("{line}, {gone} deleted meanwhile"),
        }
    }
}

struct Bars {
    multi: MultiProgress,
    kinds: ProgressBar,
    apps: ProgressBar,
    bytes: ProgressBar,
}

struct Shown {
    tally: Tally,
    bars: Option<Bars>,
    started: Instant,
    stage: Mutex<&'static str>,
}

impl Progress for Shown {
    fn event(&self, event: &Event<'_>) {
        let t = &self.tally;
        match *event {
            Event::Started { tenant, kinds } => {
                t.kinds_total.store(kinds as u64, Ordering::Relaxed);
                match &self.bars {
                    Some(b) => {
                        b.kinds.set_length(kinds as u64);
                        b.kinds.set_prefix(tenant.to_string());
                    }
                    None => {
                        tracing::info!(target: "qcb::progress", "backing up {tenant}: apps and {kinds} other kinds")
                    }
                }
            }
            Event::FullExport { reason } => match &self.bars {
                Some(b) => b.apps.set_prefix("apps (all)"),
                None => tracing::info!(target: "qcb::progress", "exporting every app: {reason}"),
            },
            Event::KindDone {
                kind,
                items,
                failed,
            } => {
                t.kinds_done.fetch_add(1, Ordering::Relaxed);
                match &self.bars {
                    Some(b) => {
                        b.kinds.inc(1);
                        b.kinds.set_message(format!("{kind}: {items} items"));
                    }
                    None if failed > 0 => {
                        tracing::info!(target: "qcb::progress", "{kind}: {items} items, {failed} failed")
                    }
                    None => tracing::debug!(target: "qcb::progress", "{kind}: {items} items"),
                }
            }
            Event::AppsListing { listed } => match &self.bars {
                Some(b) => b.apps.set_length(listed as u64),
                None => tracing::debug!(target: "qcb::progress", "apps: {listed} listed so far"),
            },
            Event::AppsListed { total } => {
                t.apps_total.store(total as u64, Ordering::Relaxed);
                match &self.bars {
                    Some(b) => b.apps.set_length(total as u64),
                    None => tracing::info!(target: "qcb::progress", "apps: {total} listed"),
                }
            }
            Event::AppDone { status, .. } => {
                t.apps_done.fetch_add(1, Ordering::Relaxed);
                let counter = match status {
                    ItemStatus::BackedUp => &t.exported,
                    ItemStatus::Unchanged => &t.unchanged,
                    ItemStatus::Failed => &t.failed,
                    ItemStatus::Skipped => &t.gone,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if let Some(b) = &self.bars {
                    b.apps.inc(1);
                    b.apps.set_message(t.apps_line());
                }
            }
            Event::Downloaded { bytes } => {
                t.bytes.fetch_add(bytes, Ordering::Relaxed);
                if let Some(b) = &self.bars {
                    b.bytes.inc(bytes);
                }
            }
            Event::Storing { files } => {
                if let Ok(mut s) = self.stage.lock() {
                    *s = "writing the snapshot";
                }
                match &self.bars {
                    Some(b) => {
                        b.kinds.finish();
                        b.apps.finish();
                        b.bytes
                            .set_message(format!("writing the snapshot ({files} files)"));
                    }
                    None => {
                        tracing::info!(target: "qcb::progress", "writing the snapshot ({files} files)")
                    }
                }
            }
            Event::Finished { status } => {
                if let Some(b) = &self.bars {
                    b.bytes.finish_and_clear();
                    b.kinds.finish_and_clear();
                    b.apps.finish_and_clear();
                    let _ = b.multi.clear();
                } else {
                    tracing::info!(
                        target: "qcb::progress",
                        "run {} after {:.0} s",
                        status.as_str(),
                        self.started.elapsed().as_secs_f64()
                    );
                }
            }
        }
    }
}

/// A run being shown: its sink for `BackupOptions::progress`, and the ticker that refreshes
/// what the events alone do not move (API counters, throttling, the periodic log line).
pub struct RunDisplay {
    pub sink: ProgressSink,
    ticker: JoinHandle<()>,
}

impl RunDisplay {
    pub fn start(mode: Mode, client: &TenantClient) -> RunDisplay {
        let bars = (mode == Mode::Display).then(new_bars);
        let shown = Arc::new(Shown {
            tally: Tally::default(),
            bars,
            started: Instant::now(),
            stage: Mutex::new("reading the tenant"),
        });
        let ticker = tokio::spawn(tick(shown.clone(), client.clone(), mode));
        RunDisplay {
            sink: ProgressSink::new(shown),
            ticker,
        }
    }

    /// Stops the ticker (the display itself is cleared by the run's last event).
    pub fn stop(self) {
        self.ticker.abort();
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn new_bars() -> Bars {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    let kinds = multi.add(ProgressBar::new(0));
    kinds.set_style(style(
        "{prefix:.bold} kinds [{bar:30}] {pos}/{len} {wide_msg}",
    ));
    let apps = multi.add(ProgressBar::new(0));
    apps.set_style(style(
        "{prefix:.bold} [{bar:30}] {pos}/{len} ({msg}) {elapsed_precise} ETA {eta}",
    ));
    apps.set_prefix("apps");
    let bytes = multi.add(ProgressBar::new(0));
    bytes.set_style(style(
        "{spinner} {bytes} downloaded, {binary_bytes_per_sec} {wide_msg}",
    ));
    for b in [&kinds, &apps, &bytes] {
        b.enable_steady_tick(Duration::from_millis(250));
    }
    Bars {
        multi,
        kinds,
        apps,
        bytes,
    }
}

/// The API line: requests, retries, and whether Qlik is throttling right now.
fn api_line(now: ApiCounters, before: ApiCounters) -> String {
    let throttling = if now.throttled > before.throttled {
        ", THROTTLED by Qlik (429): waiting as told"
    } else {
        ""
    };
    format!(
        "| API: {} requests, {} throttled, {} retried{throttling}",
        now.requests, now.throttled, now.retries
    )
}

async fn tick(shown: Arc<Shown>, client: TenantClient, mode: Mode) {
    let every = match mode {
        Mode::Display => Duration::from_secs(1),
        Mode::Log => Duration::from_secs(10),
    };
    let mut before = client.counters();
    let mut bytes_before = 0u64;
    let mut interval = tokio::time::interval(every);
    interval.tick().await;
    loop {
        interval.tick().await;
        let now = client.counters();
        let t = &shown.tally;
        match &shown.bars {
            Some(b) => {
                if !b.bytes.is_finished() {
                    b.bytes.set_message(api_line(now, before));
                }
            }
            None => {
                let bytes = Tally::get(&t.bytes);
                let rate = (bytes - bytes_before) as f64 / every.as_secs_f64();
                bytes_before = bytes;
                let stage = shown.stage.lock().map(|s| *s).unwrap_or("");
                tracing::info!(
                    target: "qcb::progress",
                    "{stage}: kinds {}/{}, apps {}/{} ({}), {} downloaded at {}/s {}",
                    Tally::get(&t.kinds_done),
                    Tally::get(&t.kinds_total),
                    Tally::get(&t.apps_done),
                    Tally::get(&t.apps_total),
                    t.apps_line(),
                    indicatif::HumanBytes(bytes),
                    indicatif::HumanBytes(rate as u64),
                    api_line(now, before)
                );
            }
        }
        before = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_line_says_when_qlik_throttles() {
        let before = ApiCounters {
            requests: 10,
            throttled: 1,
            retries: 1,
            bytes: 0,
            export_ready_ms: None,
        };
        let calm = api_line(before, before);
        assert!(!calm.contains("THROTTLED"), "{calm}");
        let now = ApiCounters {
            throttled: 3,
            ..before
        };
        assert!(api_line(now, before).contains("THROTTLED"));
    }

    #[test]
    fn apps_deleted_meanwhile_are_counted_apart_from_failures() {
        let t = Tally::default();
        t.exported.store(3, Ordering::Relaxed);
        t.failed.store(1, Ordering::Relaxed);
        assert_eq!(t.apps_line(), "3 exported, 0 unchanged, 1 failed");
        t.gone.store(2, Ordering::Relaxed);
        assert_eq!(
            t.apps_line(),
            "3 exported, 0 unchanged, 1 failed, 2 deleted meanwhile"
        );
    }
}
