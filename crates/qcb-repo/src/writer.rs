//! A snapshot written while its entries are still being produced.
//!
//! A backup's largest files, the app exports, arrive one by one over many minutes. Rather
//! than holding the tree until the last one and only then storing everything, a
//! [`SnapshotWriter`] hands each entry to rustic_core's archiver as soon as it is added, so
//! chunking, encryption and upload run alongside the exports. Entries must be added in tree
//! order (component by component, as [`SnapshotTree`](crate::SnapshotTree) sorts them).
//!
//! The snapshot file is saved only when the last entry is in ([`SnapshotWriter::finish`]); a
//! writer given up before that ([`SnapshotWriter::abort`], or dropped with a stopped run)
//! fails what it has not stored yet and deletes the snapshot file the archiver saves, so no
//! partial snapshot is left behind. Tags are given up front; `finish` rewrites the snapshot
//! file when the final tags differ (restic's own `tag` command does the same: save the
//! changed file, delete the old one).

use std::collections::HashSet;
use std::sync::Arc;
use std::thread::JoinHandle;

use rustic_core::repofile::SnapshotFile;
use rustic_core::repofile::SnapshotId as RusticSnapshotId;
use tokio::sync::mpsc;

use crate::error::RepoError;
use crate::lock::{LockKind, RepoLock};
use crate::repo::{string_lists, Repo, SnapshotMeta, WriteOutcome};
use crate::snapshot::SnapshotInfo;
use crate::tree::{check_follows, check_path, EntryFailure, Probe, TreeEntry};

/// Batches of entries queued for the archiver before [`SnapshotWriter::add`] waits: enough to
/// keep it busy, few enough that a slow repository holds the producer back.
const QUEUED: usize = 16;

/// Entries [`SnapshotWriter::add_all`] hands over at once: one wake-up of the archiver's thread
/// per batch rather than per entry (thousands of small documents end a backup).
const BATCH: usize = 256;

/// A snapshot being written; see the module documentation.
pub struct SnapshotWriter {
    repo: Arc<Repo>,
    host: String,
    tags: Vec<String>,
    tx: Option<mpsc::Sender<Vec<TreeEntry>>>,
    last: Option<String>,
    paths: Vec<String>,
    probe: Arc<Probe>,
    /// The archiver's thread, until `finish`, `abort` or `drop` has joined it.
    thread: Option<JoinHandle<Result<SnapshotFile, RepoError>>>,
    /// The repository's shared lock, held until the writer is gone (declared last: fields
    /// drop after `Drop::drop` has joined the thread, so the lock outlives every write).
    _lock: RepoLock,
}

impl std::fmt::Debug for SnapshotWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotWriter")
            .field("host", &self.host)
            .field("entries", &self.paths.len())
            .finish_non_exhaustive()
    }
}

impl Repo {
    /// Starts writing a snapshot whose entries are added one by one
    /// ([`SnapshotWriter::add`]) and which is saved by [`SnapshotWriter::finish`]. Blocks while
    /// it checks `meta` (the parent must exist); the archiver runs on a thread of its own.
    pub fn start_snapshot(
        self: &Arc<Self>,
        meta: SnapshotMeta,
    ) -> Result<SnapshotWriter, RepoError> {
        let lock = self.lock(LockKind::Shared)?;
        let prepared = self.prepare_snapshot(&meta)?;
        let (tx, mut rx) = mpsc::channel::<Vec<TreeEntry>>(QUEUED);
        let probe = Arc::new(Probe::default());
        let thread = {
            let (repo, probe, host) = (self.clone(), probe.clone(), meta.host.clone());
            std::thread::Builder::new()
                .name("qcb-snapshot-writer".into())
                .spawn(move || {
                    let batches = std::iter::from_fn(move || rx.blocking_recv());
                    let entries = Box::new(batches.flatten());
                    let written =
                        repo.archive_source(prepared, entries, None, probe.clone(), &host)?;
                    if probe.is_aborted() {
                        repo.delete_snapshot_file(&written, &host, "the partial snapshot");
                        return Err(RepoError::Unwritten {
                            host,
                            reason: "the run was stopped before its last entry".into(),
                        });
                    }
                    Ok(written)
                })
                .map_err(|e| RepoError::Unwritten {
                    host: meta.host.clone(),
                    reason: format!("cannot start the writer thread: {e}"),
                })?
        };
        Ok(SnapshotWriter {
            repo: self.clone(),
            host: meta.host,
            tags: meta.tags,
            tx: Some(tx),
            last: None,
            paths: Vec::new(),
            probe,
            thread: Some(thread),
            _lock: lock,
        })
    }

    /// Deletes a snapshot file this writer saved and no longer wants (`what` it is); its
    /// data is left for `prune`. A failure is logged with what to do: the file then stays.
    fn delete_snapshot_file(&self, snap: &SnapshotFile, host: &str, what: &str) {
        if let Err(e) = self.rustic().delete_snapshots(&[snap.id]) {
            tracing::warn!(
                "could not delete {what} {} of {host}: {}; remove it with `qcb forget {}`",
                snap.id,
                e.display_log(),
                snap.id
            );
        }
    }

    /// Saves `snap` again with `tags` (and `qcb`) and deletes the old file. Returns the new
    /// snapshot.
    fn retag(&self, mut snap: SnapshotFile, tags: &[String]) -> Result<SnapshotFile, RepoError> {
        let host = snap.hostname.clone();
        let err = |what: &str, e: Box<rustic_core::RusticError>| {
            self.err(
                format!("cannot {what} the snapshot of {host} with its final tags"),
                e,
            )
        };
        let old = snap.id;
        let before: HashSet<RusticSnapshotId> = self
            .rustic()
            .list::<RusticSnapshotId>()
            .map_err(|e| err("list snapshots to tag", e))?
            .collect();
        snap.set_tags(string_lists(tags)?);
        self.rustic()
            .save_snapshots(vec![snap.clone()])
            .map_err(|e| err("save", e))?;
        let new: Vec<String> = self
            .rustic()
            .list::<RusticSnapshotId>()
            .map_err(|e| err("list snapshots to tag", e))?
            .filter(|id| !before.contains(id))
            .map(|id| id.to_hex().to_string())
            .collect();
        // Another tenant's run may have saved a snapshot at the same moment: ours is the one
        // with this tree, time, host and tags.
        let saved = self
            .rustic()
            .get_snapshots(&new)
            .map_err(|e| err("read back", e))?
            .into_iter()
            .find(|s| {
                s.tree == snap.tree
                    && s.time == snap.time
                    && s.hostname == snap.hostname
                    && s.tags == snap.tags
            })
            .ok_or_else(|| RepoError::Unwritten {
                host: host.clone(),
                reason: "the snapshot saved with its final tags cannot be found again".into(),
            })?;
        self.delete_snapshot_file(
            &SnapshotFile { id: old, ..snap },
            &host,
            "the snapshot as first tagged (status:incomplete), now saved again with its final tags,",
        );
        Ok(saved)
    }
}

impl SnapshotWriter {
    /// Adds the next entry. Entries come in tree order; one out of order, repeated, or inside a
    /// file is refused. Waits while the archiver is behind. An error from the archiver itself
    /// is returned by [`finish`](Self::finish).
    pub async fn add(&mut self, entry: TreeEntry) -> Result<(), RepoError> {
        self.accept(&entry)?;
        self.send(vec![entry]).await
    }

    /// Adds `entries`, in order, until one is refused (those before it are added).
    pub async fn add_all(
        &mut self,
        entries: impl IntoIterator<Item = TreeEntry>,
    ) -> Result<(), RepoError> {
        let mut batch = Vec::with_capacity(BATCH);
        for e in entries {
            if let Err(refused) = self.accept(&e) {
                self.send(batch).await?;
                return Err(refused);
            }
            batch.push(e);
            if batch.len() == BATCH {
                self.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                    .await?;
            }
        }
        self.send(batch).await
    }

    /// Checks that `entry` may come next, and records it.
    fn accept(&mut self, entry: &TreeEntry) -> Result<(), RepoError> {
        check_path(&entry.path)?;
        if let Some(last) = &self.last {
            check_follows(last, &entry.path)?;
        }
        self.last = Some(entry.path.clone());
        self.paths.push(entry.path.clone());
        Ok(())
    }

    /// Hands accepted entries to the archiver; waits while it is behind.
    async fn send(&mut self, batch: Vec<TreeEntry>) -> Result<(), RepoError> {
        if batch.is_empty() {
            return Ok(());
        }
        let Some(tx) = &self.tx else {
            return Err(self.stopped());
        };
        if tx.send(batch).await.is_err() {
            return Err(self.stopped());
        }
        Ok(())
    }

    fn stopped(&self) -> RepoError {
        RepoError::Unwritten {
            host: self.host.clone(),
            reason: "the repository writer stopped early; its error follows".into(),
        }
    }

    /// Entries added so far.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Ends the snapshot: waits for the archiver and saves the snapshot file. `tags` gives
    /// its final tags (`qcb` is added) from the entries that could not be stored; when they
    /// differ from those it was started with, the snapshot file is rewritten. Blocks.
    pub fn finish(
        mut self,
        tags: impl FnOnce(&[EntryFailure]) -> Vec<String>,
    ) -> Result<WriteOutcome, RepoError> {
        let written = self.join()?;
        let paths = std::mem::take(&mut self.paths);
        let mut outcome = self.repo.write_outcome(&written, &self.probe, paths)?;
        let tags = tags(&outcome.failures);
        let set = |t: &[String]| t.iter().cloned().collect::<std::collections::BTreeSet<_>>();
        if set(&tags) != set(&self.tags) {
            outcome.snapshot = SnapshotInfo::from_file(&self.repo.retag(written, &tags)?);
        }
        Ok(outcome)
    }

    /// Gives up the snapshot: the archiver ends on what it has and nothing stays saved.
    /// Returns the archiver's own error, if it stopped on one. Blocks.
    pub fn abort(mut self) -> Option<RepoError> {
        self.probe.abort();
        self.join().err()
    }

    fn join(&mut self) -> Result<SnapshotFile, RepoError> {
        drop(self.tx.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) | None => Err(RepoError::Unwritten {
                host: self.host.clone(),
                reason: "the repository writer thread panicked".into(),
            }),
        }
    }
}

impl Drop for SnapshotWriter {
    /// A writer dropped before [`finish`](SnapshotWriter::finish) (a stopped run) is given up
    /// as by [`abort`](SnapshotWriter::abort): entries not stored yet fail at once, and the
    /// snapshot file the archiver then saves is deleted before `drop` returns, so an
    /// interrupted process leaves no partial snapshot behind.
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.probe.abort();
            let _ = self.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Read};

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::SnapshotTree;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn meta(tags: &[&str]) -> SnapshotMeta {
        SnapshotMeta {
            host: "acme.eu.qlikcloud.com".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            time: t(0),
            parent: None,
        }
    }

    fn entries() -> Vec<TreeEntry> {
        vec![
            TreeEntry::bytes("apps/a1/app.json", t(1), r#"{"id":"a1"}"#),
            TreeEntry::stream("apps/a1/app.qvf", 4, t(2), || {
                Ok(Box::new(io::Cursor::new(b"QVF!".to_vec())) as Box<dyn Read + Send>)
            }),
            TreeEntry::stream("apps/a2/app.qvf", 4, t(2), || {
                Err(io::Error::other("export expired"))
            }),
            TreeEntry::bytes("identity/users/u1.json", t(3), "{}"),
            TreeEntry::bytes("manifest.json", t(5), "{}"),
        ]
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    fn cat(repo: &Repo, snap: &crate::SnapshotInfo, path: &str) -> Vec<u8> {
        let mut out = Vec::new();
        repo.cat(snap, path, &mut out).unwrap();
        out
    }

    #[test]
    fn a_streamed_snapshot_holds_what_a_whole_tree_would() {
        let repo = Arc::new(Repo::in_memory());
        let mut w = repo.start_snapshot(meta(&["status:success"])).unwrap();
        runtime().block_on(async {
            for e in entries() {
                w.add(e).await.unwrap();
            }
        });
        assert_eq!(w.len(), 5);
        let out = w.finish(|_| vec!["status:success".into()]).unwrap();
        assert_eq!(out.entries, 5);
        assert_eq!(out.failures.len(), 1, "{:?}", out.failures);
        assert_eq!(out.failures[0].path, "apps/a2/app.qvf");
        assert_eq!(out.snapshot.tags, ["qcb", "status:success"]);
        assert_eq!(cat(&repo, &out.snapshot, "apps/a1/app.qvf"), b"QVF!");

        let whole: SnapshotTree = entries().into_iter().collect();
        let mut m = meta(&["status:success"]);
        m.time = t(60);
        let written = repo.write_snapshot(whole, m).unwrap();
        assert_eq!(
            written.snapshot.summary.as_ref().map(|s| s.files_total),
            out.snapshot.summary.as_ref().map(|s| s.files_total)
        );
        assert_eq!(repo.snapshots().unwrap().len(), 2);
    }

    #[test]
    fn a_writer_holds_a_shared_lock_until_it_is_finished_or_dropped() {
        let repo = Arc::new(Repo::in_memory());
        let w = repo.start_snapshot(meta(&[])).unwrap();
        assert_eq!(repo.locks().unwrap().len(), 1);
        let err = repo.prune().unwrap_err();
        assert!(matches!(err, RepoError::Locked { .. }), "{err}");
        w.finish(|_| Vec::new()).unwrap();
        assert!(repo.locks().unwrap().is_empty(), "finish releases");
        let mut w = repo.start_snapshot(meta(&[])).unwrap();
        runtime().block_on(async {
            w.add(TreeEntry::bytes("a", t(0), "x")).await.unwrap();
        });
        drop(w);
        assert!(repo.locks().unwrap().is_empty(), "dropping releases");
        repo.prune().unwrap();
    }

    #[test]
    fn final_tags_replace_the_expected_ones_in_a_single_snapshot() {
        let repo = Arc::new(Repo::in_memory());
        let mut w = repo
            .start_snapshot(meta(&["status:success", "full"]))
            .unwrap();
        runtime().block_on(async {
            for e in entries() {
                w.add(e).await.unwrap();
            }
        });
        let out = w
            .finish(|failed| {
                assert_eq!(failed.len(), 1);
                vec!["status:partial".into()]
            })
            .unwrap();
        assert_eq!(out.snapshot.tags, ["qcb", "status:partial"]);
        let all = repo.snapshots().unwrap();
        assert_eq!(all.len(), 1, "the provisional snapshot is gone: {all:?}");
        assert_eq!(all[0].id, out.snapshot.id);
        assert_eq!(cat(&repo, &all[0], "apps/a1/app.json"), br#"{"id":"a1"}"#);
    }

    #[test]
    fn entries_out_of_order_repeated_or_inside_a_file_are_refused() {
        let repo = Arc::new(Repo::in_memory());
        let mut w = repo.start_snapshot(meta(&[])).unwrap();
        runtime().block_on(async {
            w.add(TreeEntry::bytes("b/x", t(0), "")).await.unwrap();
            for (bad, why) in [
                ("a/x", "sorts before"),
                ("b/x", "twice"),
                ("b/x/y", "also the folder"),
                ("/abs", "relative"),
            ] {
                let e = w.add(TreeEntry::bytes(bad, t(0), "")).await.unwrap_err();
                assert!(e.to_string().contains(why), "{bad}: {e}");
            }
            w.add(TreeEntry::bytes("c", t(0), "")).await.unwrap();
        });
    }

    #[test]
    fn add_all_hands_over_batches_and_stops_at_a_refused_entry() {
        let repo = Arc::new(Repo::in_memory());
        let mut w = repo.start_snapshot(meta(&[])).unwrap();
        // More than a batch, then one out of order: all before it are stored, none after.
        let mut docs: Vec<TreeEntry> = (0..BATCH + 10)
            .map(|i| TreeEntry::bytes(format!("kind/{i:05}.json"), t(0), format!("{i}")))
            .collect();
        docs.push(TreeEntry::bytes("a/early.json", t(0), "x"));
        docs.push(TreeEntry::bytes("kind/zz.json", t(0), "never"));
        runtime().block_on(async {
            let e = w.add_all(docs).await.unwrap_err();
            assert!(e.to_string().contains("sorts before"), "{e}");
            w.add(TreeEntry::bytes("z.json", t(0), "last"))
                .await
                .unwrap();
        });
        assert_eq!(w.len(), BATCH + 11);
        let out = w.finish(|_| vec![]).unwrap();
        assert_eq!(out.entries, (BATCH + 11) as u64);
        assert!(out.failures.is_empty(), "{:?}", out.failures);
        assert_eq!(cat(&repo, &out.snapshot, "kind/00000.json"), b"0");
        let last = format!("kind/{:05}.json", BATCH + 9);
        assert_eq!(
            cat(&repo, &out.snapshot, &last),
            format!("{}", BATCH + 9).as_bytes()
        );
        assert_eq!(cat(&repo, &out.snapshot, "z.json"), b"last");
        assert!(repo
            .cat(&out.snapshot, "kind/zz.json", &mut Vec::new())
            .is_err());
    }

    #[test]
    fn a_writer_dropped_before_its_end_leaves_no_snapshot() {
        let repo = Arc::new(Repo::in_memory());
        let mut w = repo.start_snapshot(meta(&["status:success"])).unwrap();
        runtime().block_on(async {
            for e in entries().into_iter().take(2) {
                w.add(e).await.unwrap();
            }
        });
        // Dropped (a stopped run): the drop itself waits until nothing is left saved.
        drop(w);
        assert!(repo.snapshots().unwrap().is_empty());

        // Given up explicitly: the archiver's answer says why.
        let mut w = repo.start_snapshot(meta(&["status:success"])).unwrap();
        runtime().block_on(async { w.add(entries().remove(0)).await.unwrap() });
        let e = w.abort().expect("the archiver's error");
        assert!(
            e.to_string().contains("stopped before its last entry"),
            "{e}"
        );
        assert!(repo.snapshots().unwrap().is_empty());
    }
}
