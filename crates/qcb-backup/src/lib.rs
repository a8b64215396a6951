//! `qcb-backup`: one `backup` run captures every component kind of the catalog from a tenant
//! into one snapshot with its manifest (DESIGN.md §3–§5). Secrets are redacted before anything
//! is stored; unchanged apps are neither exported nor stored again.

pub mod alloc;
pub mod changes;
pub mod collect;
pub mod manifest;
pub mod progress;
pub mod run;

pub use alloc::bound_allocator_arenas;
pub use manifest::{Counts, Item, ItemStatus, Manifest, ManifestError, NotCovered, RunStatus};
pub use progress::{Event, Progress, ProgressSink};
pub use run::{
    access_read_reason, backup, full_export_reason, last_full_export, tenant_host, BackupError,
    BackupOptions, BackupOutcome, ACCESS_READ_EVERY_DAYS, ACCESS_TAG, AUDITED_TAG,
    DEFAULT_EXPORTS_IN_FLIGHT, EXPORTS_TAG, FULL_TAG,
};
