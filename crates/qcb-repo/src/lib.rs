//! `qcb-repo`: the backup repository. A qcb repository is a restic repository (DESIGN.md §3),
//! written through `rustic_core` with storage through `opendal`: encrypted, deduplicated,
//! checkable, and readable by any restic client.
//!
//! ```no_run
//! use chrono::Utc;
//! use qcb_repo::{Repo, RepoOptions, SnapshotMeta, SnapshotTree, TreeEntry};
//!
//! # fn main() -> Result<(), qcb_repo::RepoError> {
//! let password = qcb_repo::password_from_env(None)?;
//! let repo = Repo::open(&RepoOptions::new("/srv/qcb", password))?;
//! let parent = repo.latest("acme.eu.qlikcloud.com")?;
//! let mut tree = SnapshotTree::new();
//! tree.push(TreeEntry::bytes("tenant/tenant.json", Utc::now(), b"{}".to_vec()));
//! let outcome = repo.write_snapshot(
//!     tree,
//!     SnapshotMeta {
//!         host: "acme.eu.qlikcloud.com".into(),
//!         tags: vec!["status:ok".into()],
//!         time: Utc::now(),
//!         parent: parent.map(|p| p.id),
//!     },
//! )?;
//! println!("snapshot {}", outcome.snapshot.short_id);
//! # Ok(())
//! # }
//! ```
//!
//! rustic_core logs through the `log` crate; a binary bridges it to `tracing` (the `tracing-log`
//! bridge that `tracing_subscriber`'s `init()` installs). The request signers of the remote
//! backends (`reqsign_*`) log the credentials they load at debug level: a binary must drop
//! every log target for which [`may_log_secrets`] is true, whatever level it is asked for.

mod env;
mod error;
mod location;
mod lock;
mod password;
mod repo;
mod retention;
mod snapshot;
mod storage;
mod tree;
mod unchanged;
mod writer;

pub use env::{StorageEnv, STORAGE_ENV_NAMES};
pub use error::{RepoError, RusticCause, StorageCause};
pub use lock::{
    write_lock_for_tests, FoundLock, LockInfo, LockKind, RepoLock, UnlockReport, STALE_AFTER,
};
pub use password::{
    password_from_env, read_password_file, resolve_password, PASSWORD_ENV, PASSWORD_FILE_ENV,
};
pub use repo::{
    default_cache_dir, is_remote_location, CheckProblem, CheckReport, DumpReport, NodeInfo,
    NodeKind, PruneReport, Repo, RepoOptions, Severity, SnapshotMeta, SnapshotReader, WriteOutcome,
};
pub use retention::{plan_forget, ForgetGroup, ForgetReport, KeepPolicy, KeptSnapshot};
pub use snapshot::{
    select_snapshot, SnapshotId, SnapshotInfo, SnapshotSummary, INCOMPLETE_STATUS, QCB_TAG,
    STATUS_TAG_PREFIX,
};
pub use tree::{Content, EntryFailure, OpenStream, SnapshotTree, TreeEntry};
pub use writer::SnapshotWriter;

/// Whether log records of `target` may carry credentials: those of the request signers that
/// the S3, Azure and GCS backends use (`reqsign_core` prints a static key pair in full at debug
/// level). Filter them out of every log output.
pub fn may_log_secrets(target: &str) -> bool {
    target.starts_with("reqsign")
}
