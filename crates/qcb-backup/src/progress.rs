//! What a run tells while it works: kinds read, apps listed and done, export bytes as they
//! arrive, the snapshot being written. The library only emits events; how they are shown (a
//! progress display on a terminal, log lines elsewhere) is the caller's choice. Events carry
//! names, IDs and counts, never a document, so no secret can travel through them.

use std::fmt;
use std::sync::Arc;

use crate::manifest::{ItemStatus, RunStatus};

/// One thing that happened during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// The run reached the tenant and knows how many kinds besides apps it will read.
    Started { tenant: &'a str, kinds: usize },
    /// Whether every app is exported, and why (`--full`, "full every N days", no parent).
    FullExport { reason: &'a str },
    /// One kind (other than apps) is read: its items, and how many of them failed.
    KindDone {
        kind: &'a str,
        items: usize,
        failed: usize,
    },
    /// A page of apps came in while they are listed: how many are listed so far. Their
    /// exports may start at once, before the listing ends.
    AppsListing { listed: usize },
    /// Apps are listed: how many there are.
    AppsListed { total: usize },
    /// One app is done: exported, taken from the parent, or failed.
    AppDone {
        id: &'a str,
        name: &'a str,
        status: ItemStatus,
        bytes: u64,
    },
    /// Bytes of app exports arrived (a download in progress).
    Downloaded { bytes: u64 },
    /// Everything is read; the snapshot of this many files is being written.
    Storing { files: usize },
    /// The snapshot is written (or the run failed without one).
    Finished { status: RunStatus },
}

/// Receives a run's events. Called from the run's tasks, concurrently: keep it quick.
pub trait Progress: Send + Sync {
    fn event(&self, event: &Event<'_>);
}

/// Where a run sends its events; nowhere by default.
#[derive(Clone, Default)]
pub struct ProgressSink(Option<Arc<dyn Progress>>);

impl ProgressSink {
    pub fn new(progress: Arc<dyn Progress>) -> ProgressSink {
        ProgressSink(Some(progress))
    }

    pub fn none() -> ProgressSink {
        ProgressSink(None)
    }

    pub(crate) fn emit(&self, event: Event<'_>) {
        if let Some(p) = &self.0 {
            p.event(&event);
        }
    }
}

impl fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "ProgressSink(set)"
        } else {
            "ProgressSink(none)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl Progress for Recorder {
        fn event(&self, event: &Event<'_>) {
            if let Ok(mut v) = self.0.lock() {
                v.push(format!("{event:?}"));
            }
        }
    }

    #[test]
    fn events_reach_the_sink_and_none_is_silent() {
        let r = Arc::new(Recorder::default());
        let sink = ProgressSink::new(r.clone());
        sink.emit(Event::AppsListed { total: 3 });
        ProgressSink::none().emit(Event::AppsListed { total: 4 });
        assert_eq!(r.0.lock().unwrap().as_slice(), ["AppsListed { total: 3 }"]);
        assert_eq!(format!("{:?}", ProgressSink::none()), "ProgressSink(none)");
    }
}
