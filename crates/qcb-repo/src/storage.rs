//! Where a repository's files live. One [`WriteBackend`] over `opendal` serves every storage
//! qcb ships; the repository location string chooses the service. Only the local folder is
//! built in so far: `s3:`, `azblob:`, `gcs:` and `sftp:` locations are recognised and refused
//! with a clear message until their services are added (each is one more arm in
//! [`Location::operator`] plus an `opendal` feature).

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use opendal::Operator;
use rustic_core::{
    BytesList, ErrorKind, FileType, Id, ReadBackend, RusticError, RusticResult, WriteBackend,
};

use crate::error::RepoError;

/// The folders of a restic repository (`locks/` is created for restic's sake: rustic_core
/// itself never locks).
const DIRS: [&str; 5] = ["keys/", "snapshots/", "index/", "data/", "locks/"];

/// Where temporary files are written before they are renamed into place, so that a writer
/// killed half-way never leaves a truncated pack, index or snapshot file under its final name.
const TMP_DIR: &str = ".qcb-tmp";

/// Temporary files older than this are left over from a writer that was killed; a live writer
/// renames its files into place within seconds.
const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Removes files under `dir` not modified for `age` (best effort: this is housekeeping).
fn remove_stale(dir: &std::path::Path, age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            remove_stale(&entry.path(), age);
        } else if meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|elapsed| elapsed > age)
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A parsed repository location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// A folder on a local (or mounted) file system.
    Local(PathBuf),
    /// A process-local in-memory store (unit tests only).
    #[cfg(test)]
    Memory,
}

impl Location {
    /// Parses `--repo` / `QCB_REPO`: a path (optionally `local:<path>`), or one of the remote
    /// schemes of DESIGN.md §6, which are not built in yet.
    pub(crate) fn parse(location: &str) -> Result<Self, RepoError> {
        let trimmed = location.trim();
        if trimmed.is_empty() {
            return Err(RepoError::NoLocation);
        }
        for (scheme, name) in [
            ("s3:", "S3"),
            ("azblob:", "Azure Blob"),
            ("gcs:", "Google Cloud Storage"),
            ("sftp:", "SFTP"),
        ] {
            if trimmed.starts_with(scheme) {
                return Err(RepoError::UnsupportedLocation {
                    location: location.to_string(),
                    service: name,
                });
            }
        }
        let path = trimmed.strip_prefix("local:").unwrap_or(trimmed);
        Ok(Self::Local(PathBuf::from(path)))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(p) => write!(f, "{}", p.display()),
            #[cfg(test)]
            Self::Memory => f.write_str("memory:"),
        }
    }
}

/// What a location holds before we try to open it as a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    /// Nothing there (no folder, or an empty one).
    Nothing,
    /// A restic `config` file.
    Repository,
    /// Files, but no `config`.
    SomethingElse,
}

/// The storage of one repository: an `opendal` operator plus the runtime its futures run on.
pub(crate) struct Storage {
    op: Operator,
    location: String,
    /// Set when a write failed because the storage is full (ENOSPC / quota), so that the error
    /// rustic_core reports later can be turned into one clear sentence.
    full: AtomicBool,
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage")
            .field("location", &self.location)
            .finish()
    }
}

/// The runtime `opendal`'s futures run on. It lives for the whole process so that dropping a
/// repository never drops a runtime (which tokio forbids inside async code).
fn runtime() -> Result<&'static tokio::runtime::Runtime, io::Error> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("qcb-storage")
        .enable_all()
        .build()?;
    // Another thread may have won the race; then ours is dropped here, outside any runtime.
    let _ = RUNTIME.set(rt);
    Ok(RUNTIME.get().expect("the storage runtime was just set"))
}

impl Storage {
    /// Connects to the storage at `location`. With `create`, a missing local folder is created;
    /// without it, a missing folder is reported as [`RepoError::NotFound`] (opendal's `fs` service
    /// would silently create it).
    pub(crate) fn connect(location: &Location, create: bool) -> Result<Arc<Self>, RepoError> {
        opendal::install_default();
        let shown = location.to_string();
        let op = match location {
            Location::Local(path) => {
                match std::fs::metadata(path) {
                    Ok(meta) if !meta.is_dir() => {
                        return Err(RepoError::NotARepository {
                            location: shown,
                            reason: "it is a file, not a folder".into(),
                        })
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound && !create => {
                        return Err(RepoError::NotFound { location: shown })
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        std::fs::create_dir_all(path).map_err(|source| RepoError::Io {
                            action: "cannot create the repository folder",
                            path: path.clone(),
                            source,
                        })?;
                    }
                    Err(source) => {
                        return Err(RepoError::Io {
                            action: "cannot read the repository folder",
                            path: path.clone(),
                            source,
                        })
                    }
                }
                let root = path.to_string_lossy().into_owned();
                let mut config = vec![("root".to_string(), root)];
                // Atomic writes need a writable temp folder beside the data; a read-only
                // repository (a mounted archive, say) is still readable without one. A folder
                // that is not (yet) a repository is left untouched.
                let tmp = path.join(TMP_DIR);
                let ours = create || path.join("config").is_file();
                if ours && std::fs::create_dir_all(&tmp).is_ok() {
                    remove_stale(&tmp, STALE_TMP);
                    config.push((
                        "atomic_write_dir".to_string(),
                        tmp.to_string_lossy().into_owned(),
                    ));
                }
                Operator::via_iter("fs", config)
            }
            #[cfg(test)]
            Location::Memory => Operator::via_iter("memory", Vec::<(String, String)>::new()),
        }
        .map_err(|source| RepoError::Storage {
            action: "cannot connect to the storage of",
            location: shown.clone(),
            source: Box::new(source),
        })?;
        Ok(Arc::new(Self {
            op,
            location: shown,
            full: AtomicBool::new(false),
        }))
    }

    pub(crate) fn location(&self) -> &str {
        &self.location
    }

    /// True once a write has failed because the storage is full.
    pub(crate) fn saw_full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }

    /// Runs an `opendal` future to completion from synchronous code, on any thread (rustic_core
    /// calls the backend from its own worker threads, and qcb's callers may be inside tokio).
    fn block_on<T, F>(&self, fut: F) -> opendal::Result<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = opendal::Result<T>> + Send + 'static,
    {
        let rt = runtime().map_err(|e| {
            opendal::Error::new(
                opendal::ErrorKind::Unexpected,
                "cannot start the storage runtime",
            )
            .set_source(e)
        })?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(opendal::Error::new(
                opendal::ErrorKind::Unexpected,
                "the storage task stopped before it answered",
            ))
        })
    }

    /// What the location holds: a repository, nothing, or something else.
    pub(crate) fn presence(&self) -> Result<Presence, RepoError> {
        let op = self.op.clone();
        let has_config = self
            .block_on(async move { op.exists("config").await })
            .map_err(|source| self.storage_error("cannot look into", source))?;
        if has_config {
            return Ok(Presence::Repository);
        }
        let op = self.op.clone();
        let entries = self
            .block_on(async move { op.list("").await })
            .map_err(|source| self.storage_error("cannot list", source))?;
        let other = entries.iter().any(|e| {
            let p = e.path().trim_end_matches('/');
            !p.is_empty() && p != TMP_DIR
        });
        Ok(if other {
            Presence::SomethingElse
        } else {
            Presence::Nothing
        })
    }

    /// Whether the repository has at least one key file.
    pub(crate) fn has_keys(&self) -> Result<bool, RepoError> {
        let op = self.op.clone();
        let entries = self
            .block_on(async move { op.list("keys/").await })
            .map_err(|source| self.storage_error("cannot list the keys of", source))?;
        Ok(entries.iter().any(|e| e.metadata().is_file()))
    }

    fn storage_error(&self, action: &'static str, source: opendal::Error) -> RepoError {
        RepoError::Storage {
            action,
            location: self.location.clone(),
            source: Box::new(source),
        }
    }

    /// Turns an `opendal` error into the error rustic_core expects, remembering a full disk.
    fn rustic_error(&self, action: &str, path: &str, err: opendal::Error) -> Box<RusticError> {
        if is_storage_full(&err) {
            self.full.store(true, Ordering::Relaxed);
        }
        let kind = if err.kind() == opendal::ErrorKind::NotFound {
            ErrorKind::Repository
        } else {
            ErrorKind::Backend
        };
        RusticError::with_source(kind, "cannot {action} `{path}` in {location}", err)
            .attach_context("action", action.to_string())
            .attach_context("path", path.to_string())
            .attach_context("location", self.location.clone())
    }
}

/// The path of a repository file, as restic lays it out.
fn file_path(tpe: FileType, id: &Id) -> String {
    let hex = id.to_hex();
    match tpe {
        FileType::Config => "config".to_string(),
        FileType::Pack => format!("data/{}/{}", &hex[..2], &*hex),
        other => format!("{}/{}", other.dirname(), &*hex),
    }
}

/// Whether an `opendal` error comes from a full disk or an exhausted quota.
pub(crate) fn is_storage_full(err: &opendal::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if is_full_io(io) {
                return true;
            }
        }
        source = e.source();
    }
    false
}

/// ENOSPC or EDQUOT, by kind or by raw code (Linux 28 / 122).
pub(crate) fn is_full_io(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || matches!(err.raw_os_error(), Some(28 | 122))
}

impl ReadBackend for Storage {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        if tpe == FileType::Config {
            let op = self.op.clone();
            return match self.block_on(async move { op.stat("config").await }) {
                Ok(meta) => Ok(vec![(
                    Id::default(),
                    u32::try_from(meta.content_length()).unwrap_or(u32::MAX),
                )]),
                Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(self.rustic_error("read", "config", e)),
            };
        }
        let dir = format!("{}/", tpe.dirname());
        let op = self.op.clone();
        let listed = dir.clone();
        let entries = self
            .block_on(async move { op.list_with(&listed).recursive(true).await })
            .map_err(|e| self.rustic_error("list", &dir, e))?;
        let mut files = Vec::with_capacity(entries.len());
        for entry in entries {
            if !entry.metadata().is_file() {
                continue;
            }
            // Anything that is not a 64-hex-digit name (a stray temporary file, say) is not a
            // repository file; restic ignores those too.
            let Ok(id) = entry.name().parse::<Id>() else {
                continue;
            };
            let mut size = entry.metadata().content_length();
            if size == 0 {
                // Some services do not report sizes in listings: ask.
                let op = self.op.clone();
                let path = entry.path().to_string();
                size = self
                    .block_on(async move { op.stat(&path).await })
                    .map_err(|e| self.rustic_error("read", entry.path(), e))?
                    .content_length();
            }
            let size = u32::try_from(size).map_err(|_| {
                RusticError::new(
                    ErrorKind::Repository,
                    "repository file `{path}` is larger than 4 GiB, which restic repositories never hold",
                )
                .attach_context("path", entry.path().to_string())
            })?;
            files.push((id, size));
        }
        Ok(files)
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        let path = file_path(tpe, id);
        let op = self.op.clone();
        let p = path.clone();
        self.block_on(async move { op.read(&p).await })
            .map(|b| b.to_bytes())
            .map_err(|e| self.rustic_error("read", &path, e))
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        let path = file_path(tpe, id);
        let op = self.op.clone();
        let p = path.clone();
        let range = u64::from(offset)..u64::from(offset) + u64::from(length);
        self.block_on(async move { op.read_with(&p).range(range).await })
            .map(|b| b.to_bytes())
            .map_err(|e| self.rustic_error("read", &path, e))
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        file_path(tpe, id)
    }
}

impl WriteBackend for Storage {
    fn create(&self) -> RusticResult<()> {
        let mut dirs: Vec<String> = DIRS.iter().map(|d| (*d).to_string()).collect();
        dirs.extend((0..=255u8).map(|b| format!("data/{b:02x}/")));
        for dir in dirs {
            let op = self.op.clone();
            let d = dir.clone();
            self.block_on(async move { op.create_dir(&d).await })
                .map_err(|e| self.rustic_error("create", &dir, e))?;
        }
        Ok(())
    }

    fn write_bytes(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        content: BytesList,
    ) -> RusticResult<()> {
        let path = file_path(tpe, id);
        let op = self.op.clone();
        let p = path.clone();
        let buffer = opendal::Buffer::from(content.into_vec());
        self.block_on(async move { op.write(&p, buffer).await })
            .map(|_| ())
            .map_err(|e| self.rustic_error("write", &path, e))
    }

    fn remove(&self, tpe: FileType, id: &Id, _cacheable: bool) -> RusticResult<()> {
        let path = file_path(tpe, id);
        let op = self.op.clone();
        let p = path.clone();
        self.block_on(async move { op.delete(&p).await })
            .map_err(|e| self.rustic_error("remove", &path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_to_local_paths_or_clear_refusals() {
        assert_eq!(
            Location::parse("/srv/backup").unwrap(),
            Location::Local("/srv/backup".into())
        );
        assert_eq!(
            Location::parse("local:/srv/backup").unwrap(),
            Location::Local("/srv/backup".into())
        );
        let err = Location::parse("s3:https://s3.example.com/bucket").unwrap_err();
        assert!(
            err.to_string()
                .contains("S3 repositories are not supported yet"),
            "{err}"
        );
        assert!(matches!(Location::parse("  "), Err(RepoError::NoLocation)));
    }

    #[test]
    fn restic_layout() {
        let id: Id = "ab".repeat(32).parse().unwrap();
        assert_eq!(file_path(FileType::Config, &id), "config");
        assert_eq!(
            file_path(FileType::Pack, &id),
            format!("data/ab/{}", "ab".repeat(32))
        );
        assert_eq!(
            file_path(FileType::Snapshot, &id),
            format!("snapshots/{}", "ab".repeat(32))
        );
        assert_eq!(
            file_path(FileType::Key, &id),
            format!("keys/{}", "ab".repeat(32))
        );
        assert_eq!(
            file_path(FileType::Index, &id),
            format!("index/{}", "ab".repeat(32))
        );
    }

    #[test]
    fn a_full_disk_is_recognised_through_opendal_errors() {
        let io = io::Error::from_raw_os_error(28);
        assert!(is_full_io(&io));
        let err =
            opendal::Error::new(opendal::ErrorKind::Unexpected, "write failed").set_source(io);
        assert!(is_storage_full(&err));
        let other = opendal::Error::new(opendal::ErrorKind::Unexpected, "x")
            .set_source(io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(!is_storage_full(&other));
    }

    #[test]
    fn stale_temporary_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("data/ab");
        std::fs::create_dir_all(&nested).unwrap();
        let old = nested.join("x.tmp");
        let fresh = nested.join("y.tmp");
        std::fs::write(&old, "partial").unwrap();
        std::fs::write(&fresh, "in flight").unwrap();
        let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3 * 86_400);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        remove_stale(dir.path(), STALE_TMP);
        assert!(!old.exists());
        assert!(fresh.exists());
    }

    #[test]
    fn the_local_backend_writes_lists_reads_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::Local(dir.path().join("repo"));
        assert!(matches!(
            Storage::connect(&loc, false),
            Err(RepoError::NotFound { .. })
        ));
        let s = Storage::connect(&loc, true).unwrap();
        assert_eq!(s.presence().unwrap(), Presence::Nothing);
        s.create().unwrap();
        let id: Id = "0f".repeat(32).parse().unwrap();
        s.write_bytes(FileType::Pack, &id, false, b"hello world".to_vec().into())
            .unwrap();
        assert_eq!(s.list_with_size(FileType::Pack).unwrap(), vec![(id, 11)]);
        assert_eq!(
            &s.read_partial(FileType::Pack, &id, false, 6, 5).unwrap()[..],
            b"world"
        );
        assert!(dir
            .path()
            .join("repo/data/0f")
            .join("0f".repeat(32))
            .is_file());
        assert_eq!(s.presence().unwrap(), Presence::SomethingElse);
        s.remove(FileType::Pack, &id, false).unwrap();
        assert!(s.list_with_size(FileType::Pack).unwrap().is_empty());
        assert!(s.list_with_size(FileType::Config).unwrap().is_empty());
    }
}
