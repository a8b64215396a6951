//! The repository: open or create it, write a snapshot from a virtual tree, list, browse,
//! read back, check, forget and prune.
//!
//! Every method blocks; call them from a plain thread or `tokio::task::spawn_blocking`.
//! rustic_core takes no locks: writers of different tenants can run at once, and `prune`
//! deletes unused packs only after a grace period (see [`Repo::prune`]), which is what makes
//! that safe. Nothing is left locked when a call fails or the process is interrupted.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rustic_core::repofile::{MasterKey, Node, SnapshotFile, StringList};
use rustic_core::{
    BackupOptions, CheckOptions, ConfigOptions, Credentials, FileType, IndexedTree, KeyOptions,
    LsOptions, OpenStatus, ParentOptions, PruneOptions, Repository, RepositoryBackends,
    RepositoryOptions, RusticError, TreeId, WriteBackend,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::env::StorageEnv;
use crate::error::{RepoError, RusticCause};
use crate::lock::LockKind;
use crate::retention::{plan_forget, ForgetReport, KeepPolicy};
use crate::snapshot::{select_snapshot, sort_snapshots, SnapshotId, SnapshotInfo, QCB_TAG};
use crate::storage::{Location, Presence, Storage};
use crate::tree::{
    from_timestamp, to_timestamp, Entries, EntryFailure, Probe, SnapshotTree, VirtualSource,
};
use crate::unchanged::UnchangedDocs;

/// A snapshot's tags as rustic_core holds them: `qcb` first, then `tags`, each checked.
pub(crate) fn string_lists(tags: &[String]) -> Result<Vec<StringList>, RepoError> {
    let mut lists = vec![StringList::from_str(QCB_TAG).unwrap_or_default()];
    for tag in tags {
        if tag.is_empty() || tag.contains(',') || tag.chars().any(char::is_whitespace) {
            return Err(RepoError::InvalidTag {
                tag: tag.clone(),
                reason: "tags are non-empty and hold no commas or whitespace",
            });
        }
        lists.push(StringList::from_str(tag).unwrap_or_default());
    }
    Ok(lists)
}

/// A snapshot about to be written: the archiver's options, the snapshot file, and the
/// parent's root tree.
pub(crate) struct Prepared {
    opts: BackupOptions,
    snap: SnapshotFile,
    parent_tree: Option<TreeId>,
}

/// Trees read from a snapshot, by ID: each node of a folder by name.
type Trees = std::collections::HashMap<TreeId, std::collections::HashMap<std::ffi::OsString, Node>>;

/// How to reach a repository.
#[derive(Debug, Clone)]
pub struct RepoOptions {
    /// A folder path (`local:` prefix allowed), or `s3:`, `azblob:`, `gcs:` or `sftp:` (see
    /// README.md, "Storage backends").
    pub location: String,
    pub password: SecretString,
    /// Where to cache snapshot and index files and tree packs; `None` for no cache (right for
    /// local folders). [`RepoOptions::with_default_cache`] sets one for remote repositories.
    pub cache: Option<PathBuf>,
    /// Credentials, endpoints and regions of remote backends; [`RepoOptions::new`] takes them
    /// from the process environment.
    pub env: StorageEnv,
    /// How long to wait for another process's lock to go (see [`crate::LockKind`]) before
    /// failing with [`RepoError::Locked`]; zero fails at once (restic's default).
    pub lock_wait: std::time::Duration,
}

impl RepoOptions {
    pub fn new(location: impl Into<String>, password: SecretString) -> Self {
        Self {
            location: location.into(),
            password,
            cache: None,
            env: StorageEnv::from_process(),
            lock_wait: std::time::Duration::ZERO,
        }
    }

    /// These options waiting up to `wait` for a locked repository.
    pub fn with_lock_wait(mut self, wait: std::time::Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// These options with `env` instead of the process environment.
    pub fn with_env(mut self, env: StorageEnv) -> Self {
        self.env = env;
        self
    }

    /// These options with a local cache when the repository is remote and no cache is set.
    ///
    /// Every command reads all index files, and browsing reads tree packs: from a bucket or
    /// over SSH that is a download each time, which the cache (rustic_core's, the one restic
    /// keeps too) turns into one. A local folder needs none: it is as near as the cache.
    pub fn with_default_cache(mut self) -> Self {
        if self.cache.is_none() && is_remote_location(&self.location) {
            self.cache = default_cache_dir();
        }
        self
    }
}

/// Whether `location` names a remote repository (`s3:`, `azblob:`, `gcs:`, `sftp:`).
pub fn is_remote_location(location: &str) -> bool {
    Location::parse(location).is_ok_and(|l| l.backend().is_remote())
}

/// Where qcb caches remote repositories: `$QCB_CACHE_DIR`, else `$XDG_CACHE_HOME/qcb`, else
/// `~/.cache/qcb`. rustic_core keeps one folder per repository id below it.
pub fn default_cache_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("QCB_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("qcb")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("qcb")))
}

/// The snapshot a tree is written as.
#[derive(Debug, Clone)]
pub struct SnapshotMeta {
    /// The tenant's hostname.
    pub host: String,
    /// Tags; `qcb` is added. Give the run's status as `status:<status>`.
    pub tags: Vec<String>,
    /// When the run started.
    pub time: DateTime<Utc>,
    /// The snapshot whose unchanged files are reused (normally the tenant's latest). An entry
    /// with the same path, size and mtime as a file there is not opened.
    pub parent: Option<SnapshotId>,
}

/// What writing a snapshot did.
#[derive(Debug, Clone, Serialize)]
pub struct WriteOutcome {
    pub snapshot: SnapshotInfo,
    /// Entries in the tree.
    pub entries: u64,
    /// Entries whose content was opened (the others came from the parent).
    pub opened: u64,
    /// Entries that could not be stored and are missing from the snapshot.
    pub failures: Vec<EntryFailure>,
}

/// The kind of a node in a snapshot tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// One node of a snapshot, as `ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeInfo {
    /// Path from the snapshot's root, `/`-separated.
    pub path: String,
    pub kind: NodeKind,
    pub size: u64,
    pub mtime: Option<DateTime<Utc>>,
}

/// What `dump` wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DumpReport {
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
    /// Nodes that are neither files nor folders (qcb writes none).
    pub skipped: u64,
}

/// How serious a problem `check` found is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The repository's integrity is affected.
    Error,
    /// Something is odd but no data is at risk (an unreferenced pack, say).
    Warning,
}

/// One problem `check` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckProblem {
    pub severity: Severity,
    pub message: String,
}

/// What `check` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// Whether every pack file was read and verified.
    pub read_data: bool,
    pub snapshots: usize,
    pub problems: Vec<CheckProblem>,
}

impl CheckReport {
    /// No error-level problem.
    pub fn is_ok(&self) -> bool {
        !self.problems.iter().any(|p| p.severity == Severity::Error)
    }
}

/// What `prune` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Packs no snapshot needs any more. With the default grace period they are marked for
    /// deletion now and removed by a prune at least 23 hours later.
    pub packs_unused: u64,
    /// Partly used packs rewritten.
    pub packs_repacked: u64,
    /// Packs marked earlier and removed now.
    pub packs_removed: u64,
    /// Bytes this prune frees (now or after the grace period).
    pub bytes_freed: u64,
    /// Bytes the repository's packs hold afterwards.
    pub bytes_remaining: u64,
    /// Whether unused packs were deleted at once.
    pub instant: bool,
}

/// An open repository.
pub struct Repo {
    repo: Repository<OpenStatus>,
    storage: Arc<Storage>,
    cache: Option<PathBuf>,
    /// The decrypted master key: indexed views of the repository are opened with it, so the
    /// password's key derivation runs once per `open`.
    key: MasterKey,
    lock_wait: std::time::Duration,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("location", &self.storage.location())
            .finish()
    }
}

fn rustic_repo(
    storage: &Arc<Storage>,
    cache: Option<&PathBuf>,
) -> Result<Repository<()>, RepoError> {
    let be: Arc<dyn WriteBackend> = storage.clone();
    let backends = RepositoryBackends::new(be, None);
    let opts = match cache {
        Some(dir) => RepositoryOptions::default().cache_dir(dir.clone()),
        None => RepositoryOptions::default().no_cache(true),
    };
    Repository::new(&opts, &backends).map_err(|e| RepoError::Rustic {
        action: "cannot set up access".into(),
        location: storage.location().to_string(),
        source: RusticCause(e),
    })
}

impl Repo {
    /// Creates a repository (restic format version 2: compressed) in an empty or missing folder.
    pub fn init(opts: &RepoOptions) -> Result<Self, RepoError> {
        let location = Location::parse(&opts.location)?;
        let storage = Storage::connect(&location, &opts.env, true)?;
        match storage.presence()? {
            Presence::Nothing => {}
            Presence::Repository => {
                return Err(RepoError::AlreadyExists {
                    location: storage.location().to_string(),
                })
            }
            Presence::SomethingElse => {
                return Err(RepoError::NotEmpty {
                    location: storage.location().to_string(),
                })
            }
        }
        let credentials = Credentials::password(opts.password.expose_secret());
        let mut repo = Self::init_with(storage, opts.cache.as_ref(), &credentials)?;
        repo.lock_wait = opts.lock_wait;
        Ok(repo)
    }

    fn init_with(
        storage: Arc<Storage>,
        cache: Option<&PathBuf>,
        credentials: &Credentials,
    ) -> Result<Self, RepoError> {
        let repo = rustic_repo(&storage, cache)?
            .init(
                credentials,
                &KeyOptions::default(),
                // Smaller data packs than rustic's 32 MiB default: the writer holds packs in
                // memory until they are stored, and a slow disk or network lets several queue.
                &ConfigOptions::default()
                    .set_datapack_size(bytesize::ByteSize::mib(16))
                    .set_datapack_size_limit(bytesize::ByteSize::mib(64)),
            )
            .map_err(|e| classify(&storage, "cannot create the repository", e))?;
        Ok(Self::from_open(repo, storage, cache))
    }

    /// Opens an existing repository.
    pub fn open(opts: &RepoOptions) -> Result<Self, RepoError> {
        let location = Location::parse(&opts.location)?;
        let storage = Storage::connect(&location, &opts.env, false)?;
        let shown = storage.location().to_string();
        match storage.presence()? {
            Presence::Repository => {}
            Presence::Nothing => return Err(RepoError::NotFound { location: shown }),
            Presence::SomethingElse => {
                return Err(RepoError::NotARepository {
                    location: shown,
                    reason: "it has no `config` file".into(),
                })
            }
        }
        if !storage.has_keys()? {
            return Err(RepoError::NotARepository {
                location: shown,
                reason: "it has no key files".into(),
            });
        }
        let credentials = Credentials::password(opts.password.expose_secret());
        let repo = rustic_repo(&storage, opts.cache.as_ref())?
            .open(&credentials)
            .map_err(|e| classify(&storage, "cannot open the repository", e))?;
        let mut repo = Self::from_open(repo, storage, opts.cache.as_ref());
        repo.lock_wait = opts.lock_wait;
        Ok(repo)
    }

    fn from_open(
        repo: Repository<OpenStatus>,
        storage: Arc<Storage>,
        cache: Option<&PathBuf>,
    ) -> Self {
        let key = repo.key();
        Self {
            repo,
            storage,
            cache: cache.cloned(),
            key,
            lock_wait: std::time::Duration::ZERO,
        }
    }

    pub(crate) fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    pub(crate) fn master_key(&self) -> &MasterKey {
        &self.key
    }

    pub(crate) fn lock_wait(&self) -> std::time::Duration {
        self.lock_wait
    }

    /// A second handle on the repository (rustic_core's indexed states consume their handle).
    /// The open rustic_core repository.
    pub(crate) fn rustic(&self) -> &Repository<OpenStatus> {
        &self.repo
    }

    fn handle(&self) -> Result<Repository<OpenStatus>, RepoError> {
        rustic_repo(&self.storage, self.cache.as_ref())?
            .open(&Credentials::Masterkey(self.key.clone()))
            .map_err(|e| self.err("cannot open the repository", e))
    }

    /// A fresh in-memory repository opened with a random master key: no key derivation, no
    /// disk. For unit tests.
    #[cfg(test)]
    pub(crate) fn in_memory() -> Self {
        let storage = Storage::memory();
        let key = MasterKey::new();
        Self::init_with(storage, None, &Credentials::Masterkey(key)).expect("memory repository")
    }

    /// What the repository's files take in its storage: packs, indexes, snapshots, keys and
    /// config (one listing per folder; in a bucket, a request per thousand files).
    pub fn stored_bytes(&self) -> Result<u64, RepoError> {
        use rustic_core::ReadBackend as _;
        let mut total = 0u64;
        for tpe in [
            FileType::Pack,
            FileType::Index,
            FileType::Snapshot,
            FileType::Key,
            FileType::Config,
        ] {
            let files = self
                .storage
                .list_with_size(tpe)
                .map_err(|e| self.err("cannot list the files of", e))?;
            total += files.iter().map(|(_, size)| u64::from(*size)).sum::<u64>();
        }
        Ok(total)
    }

    /// Where the repository lives, as given.
    pub fn location(&self) -> &str {
        self.storage.location()
    }

    pub(crate) fn err(&self, action: impl Into<String>, e: Box<RusticError>) -> RepoError {
        classify(&self.storage, action, e)
    }

    /// Every snapshot, oldest first.
    pub fn snapshots(&self) -> Result<Vec<SnapshotInfo>, RepoError> {
        let files = self
            .repo
            .get_all_snapshots()
            .map_err(|e| self.err("cannot list the snapshots", e))?;
        let mut snaps: Vec<SnapshotInfo> = files.iter().map(SnapshotInfo::from_file).collect();
        sort_snapshots(&mut snaps);
        Ok(snaps)
    }

    /// The snapshot `spec` names: `latest` (of `host`, when given) or a unique id prefix.
    pub fn resolve(&self, spec: &str, host: Option<&str>) -> Result<SnapshotInfo, RepoError> {
        let snaps = self.snapshots()?;
        select_snapshot(&snaps, spec, host, self.location()).cloned()
    }

    /// The newest snapshot of a tenant, if it has one.
    pub fn latest(&self, host: &str) -> Result<Option<SnapshotInfo>, RepoError> {
        match self.resolve("latest", Some(host)) {
            Ok(s) => Ok(Some(s)),
            Err(RepoError::NoSnapshots { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes `tree` as a new snapshot. Entries unchanged against `meta.parent` (same path,
    /// size and mtime) are taken from the parent without being opened. An entry that cannot be
    /// opened or read is left out and listed in [`WriteOutcome::failures`]; the snapshot is
    /// still written, and the caller decides what that means for the run's status.
    pub fn write_snapshot(
        &self,
        tree: SnapshotTree,
        meta: SnapshotMeta,
    ) -> Result<WriteOutcome, RepoError> {
        let _lock = self.lock(LockKind::Shared)?;
        let prepared = self.prepare_snapshot(&meta)?;
        let entries = tree.into_sorted()?;
        let paths: Vec<String> = entries.iter().map(|e| e.path.clone()).collect();
        let total = entries.iter().map(|e| e.size).sum();
        let probe = Arc::new(Probe::default());
        let written = self.archive_source(
            prepared,
            Box::new(entries.into_iter()),
            Some(total),
            probe.clone(),
            &meta.host,
        )?;
        self.write_outcome(&written, &probe, paths)
    }

    /// Checks `meta` and makes the snapshot file and archiver options it is written with.
    pub(crate) fn prepare_snapshot(&self, meta: &SnapshotMeta) -> Result<Prepared, RepoError> {
        if meta.host.is_empty() || meta.host.contains([',', ' ', '\t', '\n']) {
            return Err(RepoError::InvalidHost {
                host: meta.host.clone(),
            });
        }
        let tags = string_lists(&meta.tags)?;
        let (parent_opts, parent_tree) = match &meta.parent {
            Some(parent) => {
                let Some(tree) = self
                    .repo
                    .get_snapshots(&[parent.as_str()])
                    .ok()
                    .and_then(|s| s.first().map(|s| s.tree))
                else {
                    return Err(RepoError::SnapshotNotFound {
                        spec: parent.to_string(),
                        host: None,
                    });
                };
                (
                    ParentOptions::default().parents(vec![parent.to_string()]),
                    Some(tree),
                )
            }
            None => (ParentOptions::default().force(true), None),
        };
        let opts = BackupOptions::default()
            .parent_opts(parent_opts)
            .no_scan(true);

        let mut summary = rustic_core::repofile::SnapshotSummary::default();
        summary.command = "qcb".into();
        let mut snap = SnapshotFile {
            time: to_timestamp(meta.time).to_zoned(rustic_core::jiff::tz::TimeZone::UTC),
            hostname: meta.host.clone(),
            program_version: format!("qcb {}", env!("CARGO_PKG_VERSION")),
            summary: Some(summary),
            ..SnapshotFile::default()
        };
        snap.set_tags(tags);
        Ok(Prepared {
            opts,
            snap,
            parent_tree,
        })
    }

    /// Runs rustic_core's archiver over `entries` and saves the snapshot file. Documents whose
    /// bytes are the parent's copy keep its time, so the archiver takes them from the parent
    /// without chunking them again (see `unchanged`).
    pub(crate) fn archive_source(
        &self,
        prepared: Prepared,
        entries: Entries,
        total: Option<u64>,
        probe: Arc<Probe>,
        host: &str,
    ) -> Result<SnapshotFile, RepoError> {
        let indexed = Arc::new(
            self.handle()?
                .to_indexed_ids()
                .map_err(|e| self.err("cannot read the index", e))?,
        );
        let entries: Entries = match prepared.parent_tree {
            Some(root) => {
                let mut docs = UnchangedDocs::new(indexed.clone(), root);
                Box::new(entries.map(move |e| docs.adjust(e)))
            }
            None => entries,
        };
        let source = VirtualSource::new(entries, total, probe);
        indexed
            .archive(
                &prepared.opts,
                &source,
                prepared.snap,
                &[PathBuf::from("/")],
            )
            .map_err(|e| self.err(format!("cannot write the snapshot of {host}"), e))
    }

    /// What writing `written` did: every entry of `paths` missing from it is a failure.
    pub(crate) fn write_outcome(
        &self,
        written: &SnapshotFile,
        probe: &Probe,
        paths: Vec<String>,
    ) -> Result<WriteOutcome, RepoError> {
        let count = paths.len() as u64;
        let snapshot = SnapshotInfo::from_file(written);
        let mut failures = probe.failures();
        let stored = snapshot.summary.as_ref().map_or(0, |s| s.files_total);
        if stored + (failures.len() as u64) < count {
            // rustic_core also leaves out, with a log line, a file whose data it could not
            // pack; name those too, so the outcome never claims a file it does not hold.
            let present: std::collections::HashSet<String> = self
                .ls(&snapshot, "", true)?
                .into_iter()
                .map(|n| n.path)
                .collect();
            let known: std::collections::HashSet<String> =
                failures.iter().map(|f| f.path.clone()).collect();
            for path in paths {
                if !present.contains(&path) && !known.contains(&path) {
                    failures.push(EntryFailure {
                        path,
                        error: "left out by the repository writer (see the log)".into(),
                    });
                }
            }
        }
        Ok(WriteOutcome {
            snapshot,
            entries: count,
            opened: probe.opened(),
            failures,
        })
    }

    /// Lists `path` in a snapshot: the folder's entries (all of them, depth first, with
    /// `recursive`), or the file itself.
    pub fn ls(
        &self,
        snapshot: &SnapshotInfo,
        path: &str,
        recursive: bool,
    ) -> Result<Vec<NodeInfo>, RepoError> {
        let repo = self
            .handle()?
            .to_indexed_ids()
            .map_err(|e| self.err("cannot read the index", e))?;
        let (path, node) = self.find_node(&repo, snapshot, path)?;
        if !node.is_dir() {
            return Ok(vec![node_info(path, &node)]);
        }
        let mut out = Vec::new();
        if recursive {
            let walk = repo
                .ls(&node, &LsOptions::default().recursive(true))
                .map_err(|e| {
                    self.err(
                        format!("cannot list `{path}` in snapshot {}", snapshot.short_id),
                        e,
                    )
                })?;
            for item in walk {
                let (rel, child) = item.map_err(|e| {
                    self.err(
                        format!("cannot list `{path}` in snapshot {}", snapshot.short_id),
                        e,
                    )
                })?;
                out.push(node_info(join(&path, &rel.to_string_lossy()), &child));
            }
        } else {
            let id = node.subtree.unwrap_or_default();
            let tree = repo.get_tree(&id).map_err(|e| {
                self.err(
                    format!("cannot read `{path}` in snapshot {}", snapshot.short_id),
                    e,
                )
            })?;
            for child in &tree.nodes {
                out.push(node_info(
                    join(&path, &child.name().to_string_lossy()),
                    child,
                ));
            }
        }
        Ok(out)
    }

    /// Writes the file at `path` of a snapshot to `out`; returns the number of bytes.
    pub fn cat(
        &self,
        snapshot: &SnapshotInfo,
        path: &str,
        out: &mut impl Write,
    ) -> Result<u64, RepoError> {
        let repo = self
            .handle()?
            .to_indexed()
            .map_err(|e| self.err("cannot read the index", e))?;
        let (path, node) = self.find_node(&repo, snapshot, path)?;
        if node.is_dir() {
            return Err(RepoError::IsADirectory {
                snapshot: snapshot.short_id.clone(),
                path,
            });
        }
        if !node.is_file() {
            return Err(RepoError::NotAFile {
                snapshot: snapshot.short_id.clone(),
                path,
            });
        }
        let mut w = TrackedWriter::new(out);
        let result = repo.dump(&node, &mut w);
        match (result, w.error.take()) {
            (Ok(()), _) => Ok(w.written),
            (Err(_), Some(source)) => Err(RepoError::Output { source }),
            (Err(e), None) => Err(self.err(
                format!("cannot read `{path}` from snapshot {}", snapshot.short_id),
                e,
            )),
        }
    }

    /// Reads files of one snapshot through one index load, each folder's tree read once
    /// (see [`SnapshotReader`]): for files asked for in turn, such as a manifest and then the
    /// files it names.
    pub fn reader(&self, snapshot: &SnapshotInfo) -> Result<SnapshotReader<'_>, RepoError> {
        let indexed = self
            .handle()?
            .to_indexed()
            .map_err(|e| self.err("cannot read the index", e))?;
        Ok(SnapshotReader {
            repo: self,
            indexed,
            snapshot: snapshot.clone(),
            trees: Trees::new(),
        })
    }

    /// Reads many files of one snapshot with one index load: for each path, `open` gives the
    /// writer it goes to (a buffer, a spool file). Returns the bytes written per path; a path
    /// that is missing or unreadable gets its own error and does not stop the others.
    pub fn cat_many<W: Write>(
        &self,
        snapshot: &SnapshotInfo,
        paths: &[String],
        mut open: impl FnMut(usize, &str) -> io::Result<W>,
    ) -> Result<Vec<Result<u64, RepoError>>, RepoError> {
        let mut reader = self.reader(snapshot)?;
        Ok(paths
            .iter()
            .enumerate()
            .map(|(i, path)| reader.cat_with(path, |path| open(i, path)))
            .collect())
    }

    /// Reads many small files of one snapshot into memory with one index load; each path
    /// gets its bytes or its own error.
    pub fn read_many(
        &self,
        snapshot: &SnapshotInfo,
        paths: &[String],
    ) -> Result<Vec<Result<Vec<u8>, RepoError>>, RepoError> {
        let mut reader = self.reader(snapshot)?;
        Ok(paths.iter().map(|path| reader.read(path)).collect())
    }

    /// Writes a whole snapshot out as plain files under `dir` (created if missing; it must be
    /// empty). File modification times are restored.
    pub fn dump(&self, snapshot: &SnapshotInfo, dir: &Path) -> Result<DumpReport, RepoError> {
        match std::fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(RepoError::DumpTargetNotEmpty {
                        path: dir.to_path_buf(),
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(RepoError::Io {
                    action: "cannot read the target folder",
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
        std::fs::create_dir_all(dir).map_err(|source| RepoError::Io {
            action: "cannot create the target folder",
            path: dir.to_path_buf(),
            source,
        })?;
        let _lock = self.lock_for_reading()?;
        let repo = self
            .handle()?
            .to_indexed()
            .map_err(|e| self.err("cannot read the index", e))?;
        let (_, root) = self.find_node(&repo, snapshot, "")?;
        let walk = repo
            .ls(&root, &LsOptions::default().recursive(true))
            .map_err(|e| self.err(format!("cannot list snapshot {}", snapshot.short_id), e))?;
        let mut report = DumpReport::default();
        for item in walk {
            let (rel, node) = item
                .map_err(|e| self.err(format!("cannot list snapshot {}", snapshot.short_id), e))?;
            if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
                // A hostile repository could name a node `..`; never write outside `dir`.
                report.skipped += 1;
                continue;
            }
            let target = dir.join(&rel);
            if node.is_dir() {
                std::fs::create_dir_all(&target).map_err(|source| RepoError::Io {
                    action: "cannot create",
                    path: target.clone(),
                    source,
                })?;
                report.dirs += 1;
            } else if node.is_file() {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|source| RepoError::Io {
                        action: "cannot create",
                        path: parent.to_path_buf(),
                        source,
                    })?;
                }
                let file = File::create(&target).map_err(|source| RepoError::Io {
                    action: "cannot create",
                    path: target.clone(),
                    source,
                })?;
                let mut w = TrackedWriter::new(BufWriter::with_capacity(1 << 20, file));
                let result = repo.dump(&node, &mut w);
                if let Some(source) = w.error.take() {
                    return Err(RepoError::Io {
                        action: "cannot write",
                        path: target,
                        source,
                    });
                }
                result.map_err(|e| {
                    self.err(
                        format!(
                            "cannot read `{}` from snapshot {}",
                            rel.display(),
                            snapshot.short_id
                        ),
                        e,
                    )
                })?;
                let file = w.inner.into_inner().map_err(|e| RepoError::Io {
                    action: "cannot write",
                    path: target.clone(),
                    source: e.into_error(),
                })?;
                if let Some(mtime) = node.meta.mtime {
                    let t: std::time::SystemTime = from_timestamp(mtime).into();
                    let _ = file.set_modified(t);
                }
                report.files += 1;
                report.bytes += w.written;
            } else {
                report.skipped += 1;
            }
        }
        Ok(report)
    }

    /// Checks the repository's structure (index, packs, every snapshot's trees); with
    /// `read_data`, also reads every pack file and verifies every blob's hash.
    pub fn check(&self, read_data: bool) -> Result<CheckReport, RepoError> {
        let _lock = self.lock_for_reading()?;
        let snapshots = self.snapshots()?.len();
        let results = self
            .repo
            .check(CheckOptions::default().read_data(read_data))
            .map_err(|e| self.err("cannot check the repository", e))?;
        let problems = results
            .0
            .iter()
            .map(|(level, problem)| CheckProblem {
                // rustic_core does not export the level's type; its Debug name is stable.
                severity: if format!("{level:?}") == "Warn" {
                    Severity::Warning
                } else {
                    Severity::Error
                },
                message: one_line(problem),
            })
            .collect();
        Ok(CheckReport {
            read_data,
            snapshots,
            problems,
        })
    }

    /// Forgets snapshots by `policy`, per tenant; with `dry_run`, only reports. Only snapshots
    /// tagged `qcb` are considered. Their data stays until [`Repo::prune`].
    pub fn forget(&self, policy: &KeepPolicy, dry_run: bool) -> Result<ForgetReport, RepoError> {
        self.forget_where(policy, None, dry_run)
    }

    /// Forgets by `policy` among one tenant's snapshots only: tenants sharing a repository
    /// keep their own retention.
    pub fn forget_host(
        &self,
        policy: &KeepPolicy,
        host: &str,
        dry_run: bool,
    ) -> Result<ForgetReport, RepoError> {
        self.forget_where(policy, Some(host), dry_run)
    }

    fn forget_where(
        &self,
        policy: &KeepPolicy,
        host: Option<&str>,
        dry_run: bool,
    ) -> Result<ForgetReport, RepoError> {
        let mut snaps = self.snapshots()?;
        if let Some(h) = host {
            snaps.retain(|s| s.host == h);
        }
        let report = plan_forget(&snaps, policy, dry_run)?;
        if !dry_run {
            // Forgetting deletes snapshot files only, never data a running backup may reuse:
            // a shared lock, so one tenant's retention runs beside another tenant's backup
            // (restic takes an exclusive one), while a prune — exclusive — waits.
            let _lock = self.lock(LockKind::Shared)?;
            let ids = report
                .removed()
                .filter_map(|s| {
                    s.id.as_str()
                        .parse::<rustic_core::repofile::SnapshotId>()
                        .ok()
                })
                .collect::<Vec<_>>();
            if !ids.is_empty() {
                self.repo
                    .delete_snapshots(&ids)
                    .map_err(|e| self.err("cannot remove the forgotten snapshots", e))?;
            }
        }
        Ok(report)
    }

    /// Forgets the given snapshots, whatever their tags (their data stays until
    /// [`Repo::prune`]).
    pub fn forget_snapshots(&self, snapshots: &[SnapshotInfo]) -> Result<(), RepoError> {
        let ids = snapshots
            .iter()
            .map(|s| {
                s.id.as_str()
                    .parse::<rustic_core::repofile::SnapshotId>()
                    .map_err(|_| RepoError::SnapshotNotFound {
                        spec: s.id.as_str().to_string(),
                        host: None,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if ids.is_empty() {
            return Ok(());
        }
        let _lock = self.lock(LockKind::Shared)?;
        self.repo
            .delete_snapshots(&ids)
            .map_err(|e| self.err("cannot remove the snapshots", e))
    }

    /// Removes data no snapshot needs. Unused packs are marked for deletion and removed by a
    /// prune at least 23 hours later, so a backup running at the same time (which may just
    /// have decided to reuse a blob in such a pack) stays valid.
    pub fn prune(&self) -> Result<PruneReport, RepoError> {
        self.prune_with(PruneOptions::default(), false)
    }

    /// [`Repo::prune`] that deletes unused packs at once. Only safe when nothing else writes
    /// to the repository meanwhile.
    pub fn prune_instant(&self) -> Result<PruneReport, RepoError> {
        self.prune_with(PruneOptions::default().instant_delete(true), true)
    }

    fn prune_with(&self, opts: PruneOptions, instant: bool) -> Result<PruneReport, RepoError> {
        let _lock = self.lock(LockKind::Exclusive)?;
        let plan = self
            .repo
            .prune_plan(&opts)
            .map_err(|e| self.err("cannot plan the prune", e))?;
        let stats = &plan.stats;
        let size = stats.size_sum();
        let report = PruneReport {
            packs_unused: stats.packs.unused,
            packs_repacked: stats.packs.repack,
            packs_removed: stats.packs_to_delete.remove,
            bytes_freed: size.remove + size.repackrm + stats.size_unref,
            bytes_remaining: size.total_after_prune(),
            instant,
        };
        self.repo
            .prune(&opts, plan)
            .map_err(|e| self.err("cannot prune", e))?;
        Ok(report)
    }

    /// Finds the node at `path` (normalised: no leading or trailing `/`; empty is the root).
    fn find_node<S: IndexedTree>(
        &self,
        repo: &Repository<S>,
        snapshot: &SnapshotInfo,
        path: &str,
    ) -> Result<(String, Node), RepoError> {
        self.find_node_cached(repo, snapshot, path, &mut Trees::new())
    }

    /// The node at `path` (the root for "" or "."), reading each folder's tree once into
    /// `trees`, so many lookups in one snapshot share them.
    fn find_node_cached<S: IndexedTree>(
        &self,
        repo: &Repository<S>,
        snapshot: &SnapshotInfo,
        path: &str,
        trees: &mut Trees,
    ) -> Result<(String, Node), RepoError> {
        let path = path.trim_matches('/').to_string();
        let path = if path == "." { String::new() } else { path };
        let tree: TreeId = snapshot.tree.parse().map_err(|_| RepoError::Rustic {
            action: format!("snapshot {} has an invalid tree id", snapshot.short_id),
            location: self.location().to_string(),
            source: RusticCause(RusticError::new(
                rustic_core::ErrorKind::Repository,
                "invalid tree id",
            )),
        })?;
        let mut node = Node::new_node(
            std::ffi::OsStr::new(""),
            rustic_core::repofile::NodeType::Dir,
            rustic_core::repofile::Metadata::default(),
        );
        node.subtree = Some(tree);
        let not_found = || RepoError::PathNotFound {
            snapshot: snapshot.short_id.clone(),
            path: path.clone(),
        };
        for component in path.split('/').filter(|c| !c.is_empty()) {
            let Some(id) = node.subtree.filter(|_| node.is_dir()) else {
                return Err(not_found());
            };
            if let std::collections::hash_map::Entry::Vacant(slot) = trees.entry(id) {
                let tree = repo.get_tree(&id).map_err(|e| {
                    self.err(
                        format!("cannot read `{path}` in snapshot {}", snapshot.short_id),
                        e,
                    )
                })?;
                slot.insert(
                    tree.nodes
                        .into_iter()
                        .map(|n| (n.name().to_os_string(), n))
                        .collect(),
                );
            }
            node = trees
                .get(&id)
                .and_then(|t| t.get(std::ffi::OsStr::new(component)))
                .cloned()
                .ok_or_else(not_found)?;
        }
        Ok((path, node))
    }
}

/// A check finding in one line: rustic_core's own errors inside it display as multi-paragraph
/// reports (with a backtrace), so their one-line form replaces them.
fn one_line(problem: &(dyn std::error::Error + 'static)) -> String {
    let mut message = problem.to_string();
    if let Some(source) = problem.source() {
        let rustic = source.downcast_ref::<RusticError>().or_else(|| {
            source
                .downcast_ref::<Box<RusticError>>()
                .map(|b| b.as_ref())
        });
        if let Some(rustic) = rustic {
            let short = rustic.display_log();
            let short = short.strip_prefix("Error: ").unwrap_or(&short);
            message = message.replace(&source.to_string(), short);
        }
    }
    message.trim_end().to_string()
}

/// Maps a rustic_core error to a qcb one: a full disk and a wrong password each get their own
/// sentence.
fn classify(storage: &Storage, action: impl Into<String>, e: Box<RusticError>) -> RepoError {
    let location = storage.location().to_string();
    if storage.saw_full() {
        return RepoError::StorageFull { location };
    }
    if let Some(remote) = storage.problem_error() {
        return remote;
    }
    if e.is_incorrect_password() {
        return RepoError::WrongPassword { location };
    }
    RepoError::Rustic {
        action: action.into(),
        location,
        source: RusticCause(e),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn node_info(path: String, node: &Node) -> NodeInfo {
    let kind = if node.is_dir() {
        NodeKind::Dir
    } else if node.is_file() {
        NodeKind::File
    } else if node.is_symlink() {
        NodeKind::Symlink
    } else {
        NodeKind::Other
    };
    NodeInfo {
        path,
        kind,
        size: node.meta.size,
        mtime: node.meta.mtime.map(from_timestamp),
    }
}

/// A writer that remembers its first I/O error (rustic_core wraps it in its own error, which
/// would hide a closed pipe or a full disk) and counts bytes.
/// A writer into one of a list of buffers.
/// Files of one snapshot, read through one index load; each folder's tree is read once,
/// however many of its files are asked for. Made by [`Repo::reader`].
pub struct SnapshotReader<'r> {
    repo: &'r Repo,
    indexed: Repository<rustic_core::IndexedFullStatus>,
    snapshot: SnapshotInfo,
    trees: Trees,
}

impl std::fmt::Debug for SnapshotReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotReader")
            .field("snapshot", &self.snapshot.short_id)
            .finish_non_exhaustive()
    }
}

impl SnapshotReader<'_> {
    /// The file at `path`, in memory.
    pub fn read(&mut self, path: &str) -> Result<Vec<u8>, RepoError> {
        let mut buf = Vec::new();
        self.cat_with(path, |_| Ok(&mut buf))?;
        Ok(buf)
    }

    /// Writes the file at `path` to the writer `open` gives for its normalised path; returns
    /// the number of bytes.
    pub fn cat_with<W: Write>(
        &mut self,
        path: &str,
        open: impl FnOnce(&str) -> io::Result<W>,
    ) -> Result<u64, RepoError> {
        let (repo, snapshot) = (self.repo, &self.snapshot);
        let (path, node) = repo.find_node_cached(&self.indexed, snapshot, path, &mut self.trees)?;
        if !node.is_file() {
            return Err(RepoError::NotAFile {
                snapshot: snapshot.short_id.clone(),
                path,
            });
        }
        let out = open(&path).map_err(|source| RepoError::Output { source })?;
        let mut w = TrackedWriter::new(out);
        let result = self.indexed.dump(&node, &mut w);
        match (result, w.error.take()) {
            (Ok(()), _) => Ok(w.written),
            (Err(_), Some(source)) => Err(RepoError::Output { source }),
            (Err(e), None) => Err(repo.err(
                format!("cannot read `{path}` from snapshot {}", snapshot.short_id),
                e,
            )),
        }
    }
}

struct TrackedWriter<W: Write> {
    inner: W,
    written: u64,
    error: Option<io::Error>,
}

impl<W: Write> TrackedWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            written: 0,
            error: None,
        }
    }

    fn keep(&mut self, e: &io::Error) {
        if self.error.is_none() {
            self.error = Some(io::Error::new(e.kind(), e.to_string()));
        }
    }
}

impl<W: Write> Write for TrackedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.inner.write(buf) {
            Ok(n) => {
                self.written += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.keep(&e);
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().inspect_err(|e| self.keep(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::TreeEntry;
    use std::io::Read;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn meta(parent: Option<SnapshotId>) -> SnapshotMeta {
        SnapshotMeta {
            host: "acme.eu.qlikcloud.com".into(),
            tags: vec!["status:ok".into()],
            time: t(0),
            parent,
        }
    }

    #[test]
    fn documents_equal_to_the_parent_s_are_taken_from_it_with_its_time() {
        let repo = Repo::in_memory();
        let docs = |when: DateTime<Utc>, users: &str| {
            let mut tree = SnapshotTree::new();
            // An app's script: its time is the app's revision, kept whatever its bytes.
            tree.push(TreeEntry::bytes("apps/a1/script.qvs", when, "LOAD 1;"));
            tree.push(TreeEntry::document(
                "spaces/s1.json",
                when,
                r#"{"id":"s1"}"#,
            ));
            tree.push(TreeEntry::document(
                "spaces/s2.json",
                when,
                r#"{"id":"s2"}"#,
            ));
            tree.push(TreeEntry::document("tenant/empty.json", when, ""));
            tree.push(TreeEntry::document(
                "users/u1.json",
                when,
                users.to_string(),
            ));
            // Same size as the parent's, other bytes.
            tree.push(TreeEntry::document(
                "users/u2.json",
                when,
                users.to_string(),
            ));
            tree
        };
        let first = repo
            .write_snapshot(docs(t(0), r#"{"n":1}"#), meta(None))
            .unwrap();
        assert_eq!(first.opened, 6);
        let mut later = meta(Some(first.snapshot.id.clone()));
        later.time = t(86_400);
        // u1 and u2 change to bytes of the same length; a new file appears under spaces.
        let mut tree = docs(t(86_400), r#"{"n":2}"#);
        tree.push(TreeEntry::document(
            "spaces/s3.json",
            t(86_400),
            r#"{"id":"s3"}"#,
        ));
        let second = repo.write_snapshot(tree, later).unwrap();
        assert_eq!(
            second.opened, 4,
            "only the script (a new revision), the changed and the new documents are read"
        );
        let nodes = repo.ls(&second.snapshot, "", true).unwrap();
        let mtime = |path: &str| nodes.iter().find(|n| n.path == path).unwrap().mtime;
        assert_eq!(
            mtime("spaces/s1.json"),
            Some(t(0)),
            "unchanged: the parent's time"
        );
        assert_eq!(mtime("spaces/s2.json"), Some(t(0)));
        assert_eq!(mtime("tenant/empty.json"), Some(t(0)));
        assert_eq!(
            mtime("users/u1.json"),
            Some(t(86_400)),
            "changed: this run's time"
        );
        assert_eq!(mtime("spaces/s3.json"), Some(t(86_400)));
        assert_eq!(
            mtime("apps/a1/script.qvs"),
            Some(t(86_400)),
            "same bytes, but its time is a revision: kept"
        );
        for (path, want) in [
            ("spaces/s1.json", r#"{"id":"s1"}"#),
            ("spaces/s3.json", r#"{"id":"s3"}"#),
            ("users/u1.json", r#"{"n":2}"#),
            ("users/u2.json", r#"{"n":2}"#),
        ] {
            let mut out = Vec::new();
            repo.cat(&second.snapshot, path, &mut out).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), want, "{path}");
        }
        assert!(repo.check(true).unwrap().is_ok());
    }

    #[test]
    fn a_reader_reads_file_after_file_and_says_what_it_could_not() {
        let repo = Repo::in_memory();
        let mut tree = SnapshotTree::new();
        tree.push(TreeEntry::bytes(
            "manifest.json",
            t(5),
            r#"{"names":"spaces/s1.json"}"#,
        ));
        tree.push(TreeEntry::bytes("spaces/s1.json", t(1), r#"{"id":"s1"}"#));
        tree.push(TreeEntry::bytes("spaces/s2.json", t(1), ""));
        let snap = repo.write_snapshot(tree, meta(None)).unwrap().snapshot;
        let mut reader = repo.reader(&snap).unwrap();
        assert_eq!(
            reader.read("manifest.json").unwrap(),
            br#"{"names":"spaces/s1.json"}"#
        );
        assert_eq!(reader.read("/spaces/s1.json").unwrap(), br#"{"id":"s1"}"#);
        assert_eq!(reader.read("spaces/s2.json").unwrap(), b"");
        assert!(matches!(
            reader.read("spaces"),
            Err(RepoError::NotAFile { .. })
        ));
        assert!(matches!(
            reader.read("spaces/s9.json"),
            Err(RepoError::PathNotFound { .. })
        ));
        // The same through the one-call forms.
        let paths = ["spaces/s1.json".to_string(), "nothing".to_string()];
        let many = repo.read_many(&snap, &paths).unwrap();
        assert_eq!(many[0].as_deref().unwrap(), br#"{"id":"s1"}"#);
        assert!(many[1].is_err());
        let mut named = Vec::new();
        let sizes = repo
            .cat_many(&snap, &paths[..1], |i, path| {
                named.push((i, path.to_string()));
                Ok(Vec::new())
            })
            .unwrap();
        assert_eq!(*sizes[0].as_ref().unwrap(), 11);
        assert_eq!(named, [(0, "spaces/s1.json".to_string())]);
    }

    #[test]
    fn write_list_read_back_in_memory() {
        let repo = Repo::in_memory();
        let opened = Arc::new(AtomicUsize::new(0));
        let tree = |opened: Arc<AtomicUsize>| -> SnapshotTree {
            let mut tree = SnapshotTree::new();
            tree.push(TreeEntry::bytes("manifest.json", t(5), "{}"));
            tree.push(TreeEntry::bytes("apps/a1/app.json", t(1), r#"{"id":"a1"}"#));
            tree.push(TreeEntry::stream("apps/a1/app.qvf", 4, t(2), move || {
                opened.fetch_add(1, Ordering::SeqCst);
                Ok(Box::new(io::Cursor::new(b"QVF!".to_vec())) as Box<dyn Read + Send>)
            }));
            tree.push(TreeEntry::stream("apps/a2/app.qvf", 4, t(2), || {
                Err(io::Error::other("export expired"))
            }));
            tree
        };
        let first = repo
            .write_snapshot(tree(opened.clone()), meta(None))
            .unwrap();
        assert_eq!(first.entries, 4);
        assert_eq!(first.opened, 4);
        assert_eq!(first.failures.len(), 1);
        assert_eq!(first.failures[0].path, "apps/a2/app.qvf");
        assert_eq!(first.snapshot.tags, ["qcb", "status:ok"]);
        assert_eq!(first.snapshot.host, "acme.eu.qlikcloud.com");
        assert_eq!(first.snapshot.time, t(0));

        let mut later = meta(Some(first.snapshot.id.clone()));
        later.time = t(86_400);
        let second = repo.write_snapshot(tree(opened.clone()), later).unwrap();
        assert_eq!(
            opened.load(Ordering::SeqCst),
            1,
            "the unchanged stream is not reopened"
        );
        // The two documents are in memory (opening them costs nothing, but they too come from
        // the parent); the failed export is tried again.
        assert_eq!(second.opened, 1);
        assert_eq!(second.snapshot.parent.as_ref(), Some(&first.snapshot.id));

        let latest = repo.resolve("latest", None).unwrap();
        assert_eq!(latest.id, second.snapshot.id);
        let top = repo.ls(&latest, "", false).unwrap();
        let names: Vec<_> = top.iter().map(|n| (n.path.as_str(), n.kind)).collect();
        assert_eq!(
            names,
            [("apps", NodeKind::Dir), ("manifest.json", NodeKind::File)]
        );
        let all = repo.ls(&latest, "/apps/", true).unwrap();
        let paths: Vec<_> = all.iter().map(|n| n.path.as_str()).collect();
        // The failed export leaves its folder behind, empty.
        assert_eq!(
            paths,
            ["apps/a1", "apps/a1/app.json", "apps/a1/app.qvf", "apps/a2"]
        );
        assert_eq!(all[2].size, 4);
        assert_eq!(all[2].mtime, Some(t(2)));

        let mut out = Vec::new();
        assert_eq!(repo.cat(&latest, "apps/a1/app.qvf", &mut out).unwrap(), 4);
        assert_eq!(out, b"QVF!");
        assert!(matches!(
            repo.cat(&latest, "apps", &mut Vec::new()),
            Err(RepoError::IsADirectory { .. })
        ));
        assert!(matches!(
            repo.cat(&latest, "apps/a2/app.qvf", &mut Vec::new()),
            Err(RepoError::PathNotFound { .. })
        ));
        assert!(matches!(
            repo.ls(&latest, "manifest.json/x", false),
            Err(RepoError::PathNotFound { .. })
        ));
        let report = repo.check(true).unwrap();
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(report.snapshots, 2);
    }

    #[test]
    fn stored_bytes_grow_with_what_is_written() {
        let repo = Repo::in_memory();
        let empty = repo.stored_bytes().unwrap();
        assert!(empty > 0, "the config");
        let mut tree = SnapshotTree::new();
        let mut noise = vec![0u8; 200_000];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut noise);
        tree.push(TreeEntry::bytes("a/big", t(0), noise));
        repo.write_snapshot(tree, meta(None)).unwrap();
        let after = repo.stored_bytes().unwrap();
        assert!(after > empty + 200_000, "{empty} -> {after}");
    }

    #[test]
    fn an_empty_tree_is_an_empty_snapshot() {
        let repo = Repo::in_memory();
        let out = repo
            .write_snapshot(SnapshotTree::new(), meta(None))
            .unwrap();
        assert_eq!(out.entries, 0);
        let snap = repo.resolve(out.snapshot.short_id.as_str(), None).unwrap();
        assert!(repo.ls(&snap, "", true).unwrap().is_empty());
        assert!(repo.check(false).unwrap().is_ok());
    }

    #[test]
    fn bad_meta_and_unknown_parents_are_refused() {
        let repo = Repo::in_memory();
        let mut m = meta(None);
        m.tags = vec!["a,b".into()];
        assert!(matches!(
            repo.write_snapshot(SnapshotTree::new(), m),
            Err(RepoError::InvalidTag { .. })
        ));
        let mut m = meta(None);
        m.host = String::new();
        assert!(matches!(
            repo.write_snapshot(SnapshotTree::new(), m),
            Err(RepoError::InvalidHost { .. })
        ));
        let ghost = SnapshotId::parse(&"ab".repeat(32)).unwrap();
        assert!(matches!(
            repo.write_snapshot(SnapshotTree::new(), meta(Some(ghost))),
            Err(RepoError::SnapshotNotFound { .. })
        ));
    }

    #[test]
    fn forget_removes_what_the_plan_says() {
        let repo = Repo::in_memory();
        for day in 0..5 {
            let mut m = meta(None);
            m.time = t(day * 86_400);
            let mut tree = SnapshotTree::new();
            tree.push(TreeEntry::bytes(
                "tenant/tenant.json",
                t(0),
                format!("{day}"),
            ));
            repo.write_snapshot(tree, m).unwrap();
        }
        let policy = KeepPolicy {
            last: 2,
            ..KeepPolicy::default()
        };
        let dry = repo.forget(&policy, true).unwrap();
        assert_eq!(dry.removed().count(), 3);
        assert_eq!(repo.snapshots().unwrap().len(), 5);
        let done = repo.forget(&policy, false).unwrap();
        assert_eq!(done.removed().count(), 3);
        let left = repo.snapshots().unwrap();
        assert_eq!(left.len(), 2);
        assert_eq!(left[1].time, t(4 * 86_400));
        let pruned = repo.prune_instant().unwrap();
        assert!(pruned.bytes_freed > 0, "{pruned:?}");
        assert!(repo.check(true).unwrap().is_ok());
    }
}
