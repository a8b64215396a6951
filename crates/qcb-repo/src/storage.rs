//! Where a repository's files live. One [`WriteBackend`] over `opendal` serves every storage
//! qcb ships — a local folder, S3, Azure Blob Storage, Google Cloud Storage and SFTP — and the
//! repository location chooses the service (see `location.rs`). Remote failures that a person
//! can fix (an endpoint out of reach, refused credentials, a missing bucket, an unknown SSH
//! host key) each become one sentence naming the backend and what to check.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use opendal::layers::RetryLayer;
use opendal::Operator;
use rustic_core::{
    BytesList, ErrorKind, FileType, Id, ReadBackend, RusticError, RusticResult, WriteBackend,
};

use crate::env::StorageEnv;
use crate::error::{RepoError, StorageCause};
pub(crate) use crate::location::{Backend, Location};

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

/// A remote failure a person can fix, remembered so that the error rustic_core reports later
/// (which wraps it in its own words) turns into the same one sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    Unreachable(String),
    Denied(String),
    NoContainer,
    UnknownHostKey,
}

/// The storage of one repository: an `opendal` operator plus what errors need to name.
pub(crate) struct Storage {
    op: Operator,
    location: String,
    backend: Backend,
    /// The endpoint (or SSH host) named in errors.
    endpoint: String,
    /// The bucket or container (object stores).
    container: Option<String>,
    /// Set when a write failed because the storage is full (ENOSPC / quota), so that the error
    /// rustic_core reports later can be turned into one clear sentence.
    full: AtomicBool,
    problem: Mutex<Option<Problem>>,
    /// A local folder's root: its files are read in the calling thread. Through `opendal`
    /// every read hops to the storage runtime and on to tokio's blocking pool and back, which
    /// for the thousands of small tree reads of a backup costs more than the reads themselves.
    local: Option<PathBuf>,
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage")
            .field("location", &self.location)
            .finish()
    }
}

/// The runtime `opendal`'s futures run on. It lives for the whole process so that dropping a
/// repository never drops a runtime (which tokio forbids inside async code), and so that the
/// SFTP connections' background tasks outlive the call that opened them.
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

/// Runs `fut` on the storage runtime and waits for it from synchronous code, on any thread
/// (rustic_core calls the backend from its own worker threads, and qcb's callers may be inside
/// tokio, where `Runtime::block_on` would panic). `None` if the task died.
pub(crate) fn wait_for<T, F>(rt: &tokio::runtime::Runtime, fut: F) -> Option<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().ok()
}

/// How long to wait for a TCP connection, and for the next bytes of a response, before the
/// request fails (and is retried): long enough for a slow link, short enough that a
/// black-holed endpoint is reported in seconds rather than minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Installs opendal's process-wide HTTP transport once: a reqwest client with timeouts (the
/// default one has none). Returns why not, if the TLS setup failed.
fn install_http_transport() -> Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let client = reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
                .build()
                .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
            opendal::HttpTransporter::install_default(
                opendal_http_transport_reqwest::ReqwestTransport::new(client),
            );
            opendal::install_default();
            Ok(())
        })
        .clone()
}

/// Retries for transient remote failures (connection resets, 5xx, throttling): three more
/// tries within a few seconds, as the AWS SDKs do by default. Each retry is logged without the
/// request's URL (opendal's own notice prints it, and an Azure SAS token travels in it).
fn retry_layer() -> RetryLayer<impl opendal::layers::RetryInterceptor> {
    RetryLayer::new()
        .with_jitter()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(4))
        .with_max_times(3)
        .with_notify(|event: opendal::layers::RetryEvent<'_>| {
            tracing::warn!(
                "storage {:?} failed ({}); retry {} in {:.1} s",
                event.op,
                StorageCause::new(event.err),
                event.attempt,
                event.retry_after.as_secs_f64()
            );
        })
}

/// A name for a temporary file beside `path` that is never a repository file name.
fn temp_name(path: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{path}.qcb-tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

impl Storage {
    /// Connects to the storage at `location`, with credentials from `env`. With `create`, a
    /// missing local folder is created; without it, a missing folder is reported as
    /// [`RepoError::NotFound`] (opendal's `fs` service would silently create it). Remote
    /// services are not contacted yet: the first request is [`Storage::presence`].
    pub(crate) fn connect(
        location: &Location,
        env: &StorageEnv,
        create: bool,
    ) -> Result<Arc<Self>, RepoError> {
        let shown = location.to_string();
        let backend = location.backend();
        let setup = |reason: String| RepoError::StorageSetup {
            backend: backend.name(),
            location: shown.clone(),
            reason,
        };
        let (op, endpoint) = match location {
            Location::Local(path) => {
                opendal::install_default();
                (Self::local_operator(path, &shown, create)?, shown.clone())
            }
            remote => {
                install_http_transport().map_err(setup)?;
                let rt = runtime()
                    .map_err(|e| setup(format!("cannot start the storage runtime: {e}")))?;
                let (op, endpoint) = remote.remote_operator(env, rt)?;
                (op.layer(retry_layer()), endpoint)
            }
        };
        Ok(Arc::new(Self {
            op,
            location: shown,
            backend,
            endpoint,
            container: location.container_name().map(str::to_string),
            full: AtomicBool::new(false),
            problem: Mutex::new(None),
            local: match location {
                Location::Local(path) => Some(path.clone()),
                _ => None,
            },
        }))
    }

    fn local_operator(path: &PathBuf, shown: &str, create: bool) -> Result<Operator, RepoError> {
        match std::fs::metadata(path) {
            Ok(meta) if !meta.is_dir() => {
                return Err(RepoError::NotARepository {
                    location: shown.to_string(),
                    reason: "it is a file, not a folder".into(),
                })
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound && !create => {
                return Err(RepoError::NotFound {
                    location: shown.to_string(),
                })
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
        // Atomic writes need a writable temp folder beside the data; a read-only repository
        // (a mounted archive, say) is still readable without one. A folder that is not (yet) a
        // repository is left untouched.
        let tmp = path.join(TMP_DIR);
        let ours = create || path.join("config").is_file();
        if ours && std::fs::create_dir_all(&tmp).is_ok() {
            remove_stale(&tmp, STALE_TMP);
            config.push((
                "atomic_write_dir".to_string(),
                tmp.to_string_lossy().into_owned(),
            ));
        }
        Operator::via_iter("fs", config).map_err(|source| RepoError::Storage {
            action: "cannot connect to the storage of",
            location: shown.to_string(),
            source: StorageCause::new(&source),
        })
    }

    /// An in-memory store (unit tests).
    #[cfg(test)]
    pub(crate) fn memory() -> Arc<Self> {
        opendal::install_default();
        let op = Operator::via_iter("memory", Vec::<(String, String)>::new())
            .expect("the memory service");
        Arc::new(Self {
            op,
            location: "memory:".into(),
            backend: Backend::Memory,
            endpoint: "memory".into(),
            container: None,
            full: AtomicBool::new(false),
            problem: Mutex::new(None),
            local: None,
        })
    }

    pub(crate) fn location(&self) -> &str {
        &self.location
    }

    /// True once a write has failed because the storage is full.
    pub(crate) fn saw_full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }

    /// The remote failure seen, as its one-sentence error.
    pub(crate) fn problem_error(&self) -> Option<RepoError> {
        let problem = self.problem.lock().ok()?.clone()?;
        Some(self.explain(problem))
    }

    fn explain(&self, problem: Problem) -> RepoError {
        let backend = self.backend.name();
        match problem {
            Problem::Unreachable(detail) => RepoError::Unreachable {
                backend,
                endpoint: self.endpoint.clone(),
                detail,
                check: self.backend.check_reach(),
            },
            Problem::Denied(detail) => RepoError::AccessDenied {
                backend,
                location: self.location.clone(),
                detail,
                check: self.backend.check_access(),
            },
            Problem::NoContainer => RepoError::ContainerNotFound {
                backend,
                container: self.backend.container(),
                name: self.container.clone().unwrap_or_default(),
                endpoint: self.endpoint.clone(),
            },
            Problem::UnknownHostKey => RepoError::UnknownHostKey {
                host: self.endpoint.clone(),
            },
        }
    }

    /// Runs an `opendal` future to completion from synchronous code.
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
        wait_for(rt, fut).unwrap_or_else(|| {
            Err(opendal::Error::new(
                opendal::ErrorKind::Unexpected,
                "the storage task stopped before it answered",
            ))
        })
    }

    /// What the location holds: a repository, nothing, or something else. This is the first
    /// request a remote service sees, so unreachable endpoints, refused credentials and missing
    /// buckets are reported from here.
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
            .map_err(|source| {
                // Listing the top of a bucket that does not exist is the one place where
                // "not found" means the bucket (HEAD requests carry no error code).
                if self.backend.is_object_store() && source.kind() == opendal::ErrorKind::NotFound {
                    self.remember(Problem::NoContainer);
                }
                self.storage_error("cannot list", source)
            })?;
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

    /// The names of the files directly in `dir` (`locks/`, say); a missing folder holds none.
    pub(crate) fn list_files(&self, dir: &str) -> Result<Vec<String>, RepoError> {
        let op = self.op.clone();
        let d = dir.to_string();
        let entries = match self.block_on(async move { op.list(&d).await }) {
            Ok(entries) => entries,
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(self.storage_error("cannot list the locks of", source)),
        };
        Ok(entries
            .iter()
            .filter(|e| e.metadata().is_file())
            .map(|e| e.name().to_string())
            // Temporary uploads (SFTP) and empty names are not files of the repository.
            .filter(|n| !n.is_empty() && !n.contains(".qcb-tmp"))
            .collect())
    }

    /// The content of the file at `path`, or `None` if there is none.
    pub(crate) fn read_path(&self, path: &str) -> Result<Option<Vec<u8>>, RepoError> {
        let op = self.op.clone();
        let p = path.to_string();
        match self.block_on(async move { op.read(&p).await }) {
            Ok(buf) => Ok(Some(buf.to_vec())),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(self.storage_error("cannot read a lock file of", source)),
        }
    }

    /// Writes a small file at `path` (whole, in one request).
    pub(crate) fn write_path(&self, path: &str, data: Vec<u8>) -> Result<(), RepoError> {
        let op = self.op.clone();
        let p = path.to_string();
        self.block_on(async move { op.write(&p, data).await.map(|_| ()) })
            .map_err(|source| {
                if is_storage_full(&source) {
                    self.full.store(true, Ordering::Relaxed);
                    return RepoError::StorageFull {
                        location: self.location.clone(),
                    };
                }
                if source.kind() == opendal::ErrorKind::PermissionDenied {
                    return RepoError::ReadOnly {
                        location: self.location.clone(),
                    };
                }
                self.storage_error("cannot write a lock file to", source)
            })
    }

    /// Deletes the file at `path` (one already gone is fine).
    pub(crate) fn delete_path(&self, path: &str) -> Result<(), RepoError> {
        let op = self.op.clone();
        let p = path.to_string();
        match self.block_on(async move { op.delete(&p).await }) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(self.storage_error("cannot delete a lock file of", source)),
        }
    }

    fn remember(&self, problem: Problem) {
        if let Ok(mut slot) = self.problem.lock() {
            slot.get_or_insert(problem);
        }
    }

    /// Classifies a remote failure and remembers it.
    fn note(&self, err: &opendal::Error) {
        if let Some(problem) = classify_remote(self.backend, err) {
            self.remember(problem);
        }
    }

    fn storage_error(&self, action: &'static str, source: opendal::Error) -> RepoError {
        self.note(&source);
        if let Some(err) = self.problem_error() {
            return err;
        }
        RepoError::Storage {
            action,
            location: self.location.clone(),
            source: StorageCause::new(&source),
        }
    }

    /// Turns an `opendal` error into the error rustic_core expects, remembering a full disk
    /// or a remote problem.
    fn rustic_error(&self, action: &str, path: &str, err: opendal::Error) -> Box<RusticError> {
        if is_storage_full(&err) {
            self.full.store(true, Ordering::Relaxed);
        }
        self.note(&err);
        let kind = if err.kind() == opendal::ErrorKind::NotFound {
            ErrorKind::Repository
        } else {
            ErrorKind::Backend
        };
        RusticError::with_source(
            kind,
            "cannot {action} `{path}` in {location}",
            StorageCause::new(&err),
        )
        .attach_context("action", action.to_string())
        .attach_context("path", path.to_string())
        .attach_context("location", self.location.clone())
    }
}

/// Recognises the remote failures a person can fix. Local folders have their own errors.
fn classify_remote(backend: Backend, err: &opendal::Error) -> Option<Problem> {
    if !backend.is_remote() {
        return None;
    }
    let cause = StorageCause::new(err).to_string();
    let detail = short_detail(err);
    if backend == Backend::Sftp {
        return classify_ssh(err, &cause, detail);
    }
    // The HTTP transport failed before any answer: DNS, connect, TLS, timeouts.
    if err.message() == "send http request" {
        return Some(Problem::Unreachable(detail));
    }
    for code in ["NoSuchBucket", "ContainerNotFound", "ContainerBeingDeleted"] {
        if cause.contains(code) {
            return Some(Problem::NoContainer);
        }
    }
    if err.kind() == opendal::ErrorKind::PermissionDenied
        || [
            "status: 401",
            "Unauthorized",
            "AuthenticationFailed",
            "InvalidAccessKeyId",
        ]
        .iter()
        .any(|m| cause.contains(m))
    {
        return Some(Problem::Denied(detail));
    }
    None
}

fn classify_ssh(err: &opendal::Error, cause: &str, detail: String) -> Option<Problem> {
    if cause.contains("Host key verification failed")
        || cause.contains("REMOTE HOST IDENTIFICATION")
    {
        return Some(Problem::UnknownHostKey);
    }
    if cause.contains("Permission denied (") {
        return Some(Problem::Denied(detail));
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::PermissionDenied => return Some(Problem::Denied(detail)),
                io::ErrorKind::ConnectionRefused
                | io::ErrorKind::TimedOut
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::NotFound
                | io::ErrorKind::Other => return Some(Problem::Unreachable(detail)),
                _ => {}
            }
        }
        source = e.source();
    }
    if err.message() == "ssh error" || err.message().contains("connection request: timeout") {
        return Some(Problem::Unreachable(detail));
    }
    None
}

/// A few words on what went wrong, for the one-sentence errors: an S3 error code, the
/// innermost cause (`Connection refused (os error 111)`), or opendal's kind. Never a URL.
fn short_detail(err: &opendal::Error) -> String {
    let message = err.message();
    if let Some(at) = message.find("code: \"") {
        let code: String = message[at + 7..]
            .chars()
            .take_while(|c| *c != '"')
            .collect();
        if !code.is_empty() {
            return code;
        }
    }
    let mut innermost: Option<String> = None;
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        let line = e.to_string();
        if !line.trim().is_empty() {
            innermost = Some(line);
        }
        source = e.source();
    }
    let text = innermost.unwrap_or_else(|| {
        if message.trim().is_empty() || message.starts_with('<') {
            err.kind().to_string()
        } else {
            message.to_string()
        }
    });
    let text = text.lines().next().unwrap_or_default().trim();
    let text = text.strip_prefix("ssh: ").unwrap_or(text);
    if text.chars().count() > 120 {
        let cut: String = text.chars().take(117).collect();
        format!("{cut}...")
    } else {
        text.to_string()
    }
}

/// `length` bytes of the file at `path` from `offset`.
fn read_range(path: &std::path::Path, offset: u32, length: u32) -> io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(u64::from(offset)))?;
    let mut buf = vec![0; length as usize];
    file.read_exact(&mut buf)?;
    Ok(buf)
}

/// A local read's failure in `opendal`'s terms, so that it is reported as any other.
fn local_error(e: io::Error) -> opendal::Error {
    let kind = match e.kind() {
        io::ErrorKind::NotFound => opendal::ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => opendal::ErrorKind::PermissionDenied,
        io::ErrorKind::UnexpectedEof => opendal::ErrorKind::RangeNotSatisfied,
        _ => opendal::ErrorKind::Unexpected,
    };
    opendal::Error::new(kind, e.to_string()).set_source(e)
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
        if let Some(root) = &self.local {
            return std::fs::read(root.join(&path))
                .map(Bytes::from)
                .map_err(|e| self.rustic_error("read", &path, local_error(e)));
        }
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
        if let Some(root) = &self.local {
            return read_range(&root.join(&path), offset, length)
                .map(Bytes::from)
                .map_err(|e| self.rustic_error("read", &path, local_error(e)));
        }
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
        // In a bucket, folders are only name prefixes: restic creates none there either.
        if self.backend.is_object_store() {
            return Ok(());
        }
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
        if self.backend == Backend::Sftp {
            // An SFTP upload is not atomic: write beside the file, then rename, so that a
            // writer killed half-way never leaves a truncated file under a repository name
            // (the temporary name is not one, so listings skip it).
            let tmp = temp_name(&path);
            return self
                .block_on(async move {
                    op.write(&tmp, buffer).await?;
                    match op.rename(&tmp, &p).await {
                        Ok(()) => Ok(()),
                        // SFTP's rename does not replace: the file is there already, and a
                        // repository file's name is the hash of its content.
                        Err(e) if op.exists(&p).await.unwrap_or(false) => {
                            tracing::debug!("{p} exists already: {e}");
                            op.delete(&tmp).await
                        }
                        Err(e) => {
                            let _ = op.delete(&tmp).await;
                            Err(e)
                        }
                    }
                })
                .map_err(|e| self.rustic_error("write", &path, e));
        }
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
        let env = StorageEnv::empty();
        assert!(matches!(
            Storage::connect(&loc, &env, false),
            Err(RepoError::NotFound { .. })
        ));
        let s = Storage::connect(&loc, &env, true).unwrap();
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
