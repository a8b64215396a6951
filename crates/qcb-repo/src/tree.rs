//! The virtual tree a snapshot is written from (DESIGN.md §3): files named by relative paths,
//! whose content is either a document already in memory or a stream opened only if the
//! repository needs it. Directories are implied by the paths.
//!
//! An entry whose size and modification time equal those of the parent snapshot's file at the
//! same path is not opened: its content is taken from the parent. So a caller that knows a
//! resource is unchanged (an app's `modifiedDate` equals the parent's mtime) gives the parent's
//! size and never pays for the export.

use std::cmp::Ordering;
use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Cursor, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rustic_core::repofile::{Metadata, Node, NodeType};
use rustic_core::{
    ErrorKind, ReadSource, ReadSourceEntry, ReadSourceOpen, RusticError, RusticResult,
};

use crate::error::RepoError;

/// Opens a streamed entry's content. Called at most once, on one of the repository's worker
/// threads, and only when the content is actually needed.
pub type OpenStream = Box<dyn FnOnce() -> io::Result<Box<dyn Read + Send>> + Send>;

/// Where an entry's bytes come from.
pub enum Content {
    /// A document already in memory.
    Bytes(Vec<u8>),
    /// A document in memory whose time says only when it was read (not when it changed): when
    /// its bytes are the parent snapshot's copy, it takes that copy's time and the archiver
    /// takes it from the parent unread (see `unchanged`).
    Document(Vec<u8>),
    /// A stream opened on demand (an app export, a theme archive…).
    Stream(OpenStream),
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Self::Document(b) => write!(f, "Document({} bytes)", b.len()),
            Self::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// One file of a snapshot.
#[derive(Debug)]
pub struct TreeEntry {
    /// Relative, `/`-separated path (`apps/<id>/app.qvf`).
    pub path: String,
    /// The exact number of bytes the content yields. A stream that yields a different number
    /// is recorded as a failure and the file is left out.
    pub size: u64,
    /// Modification time (for a resource: its `modifiedDate`).
    pub mtime: DateTime<Utc>,
    pub content: Content,
}

impl TreeEntry {
    /// A document held in memory.
    pub fn bytes(path: impl Into<String>, mtime: DateTime<Utc>, data: impl Into<Vec<u8>>) -> Self {
        let data = data.into();
        Self {
            path: path.into(),
            size: data.len() as u64,
            mtime,
            content: Content::Bytes(data),
        }
    }

    /// A document read at `read_at` whose time means nothing more: a configuration item's
    /// JSON, read whole every run. Bytes equal to the parent's copy keep that copy's time.
    pub fn document(
        path: impl Into<String>,
        read_at: DateTime<Utc>,
        data: impl Into<Vec<u8>>,
    ) -> Self {
        let data = data.into();
        Self {
            path: path.into(),
            size: data.len() as u64,
            mtime: read_at,
            content: Content::Document(data),
        }
    }

    /// A stream of `size` bytes, opened only if the parent snapshot does not already hold this
    /// path with the same size and mtime.
    pub fn stream(
        path: impl Into<String>,
        size: u64,
        mtime: DateTime<Utc>,
        open: impl FnOnce() -> io::Result<Box<dyn Read + Send>> + Send + 'static,
    ) -> Self {
        Self {
            path: path.into(),
            size,
            mtime,
            content: Content::Stream(Box::new(open)),
        }
    }
}

/// The files of one snapshot, checked and sorted the way the repository needs them.
#[derive(Debug, Default)]
pub struct SnapshotTree {
    entries: Vec<TreeEntry>,
}

impl SnapshotTree {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file. Paths are checked when the tree is written.
    pub fn push(&mut self, entry: TreeEntry) {
        self.entries.push(entry);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total declared size of all files.
    pub fn total_size(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }

    /// Checks every path and sorts the entries component by component (so `a/b` comes before
    /// `a.json`, as in a restic tree).
    pub fn into_sorted(mut self) -> Result<Vec<TreeEntry>, RepoError> {
        for e in &self.entries {
            check_path(&e.path)?;
        }
        self.entries.sort_by(|a, b| cmp_paths(&a.path, &b.path));
        for pair in self.entries.windows(2) {
            check_follows(&pair[0].path, &pair[1].path)?;
        }
        Ok(self.entries)
    }
}

impl FromIterator<TreeEntry> for SnapshotTree {
    fn from_iter<T: IntoIterator<Item = TreeEntry>>(iter: T) -> Self {
        Self {
            entries: iter.into_iter().collect(),
        }
    }
}

/// Checks a snapshot path: relative, `/`-separated, no empty, `.` or `..` components.
pub(crate) fn check_path(path: &str) -> Result<(), RepoError> {
    let bad = |reason| RepoError::InvalidPath {
        path: path.to_string(),
        reason,
    };
    if path.is_empty() {
        return Err(bad("it is empty"));
    }
    if path.starts_with('/') {
        return Err(bad("it must be relative (no leading `/`)"));
    }
    if path.contains('\0') || path.contains('\\') {
        return Err(bad("it contains a NUL or a backslash"));
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(bad("it has an empty, `.` or `..` component"));
    }
    Ok(())
}

/// Orders paths component by component, bytewise within a component.
/// Checks that `b` may follow `a` in a tree written in order: after it, neither the same
/// path nor inside a file.
pub(crate) fn check_follows(a: &str, b: &str) -> Result<(), RepoError> {
    if a == b {
        return Err(RepoError::InvalidPath {
            path: a.to_string(),
            reason: "it appears twice in the tree",
        });
    }
    if b.len() > a.len() && b.starts_with(a) && b.as_bytes()[a.len()] == b'/' {
        return Err(RepoError::InvalidPath {
            path: a.to_string(),
            reason: "it is a file and also the folder of another entry",
        });
    }
    if cmp_paths(a, b) == Ordering::Greater {
        return Err(RepoError::InvalidPath {
            path: b.to_string(),
            reason: "it comes after an entry it sorts before (a snapshot is written in order)",
        });
    }
    Ok(())
}

pub(crate) fn cmp_paths(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

/// A file that could not be stored: its path and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EntryFailure {
    pub path: String,
    pub error: String,
}

/// What the writer saw while rustic_core pulled the entries.
#[derive(Debug, Default)]
pub(crate) struct Probe {
    opened: AtomicU64,
    failures: Mutex<Vec<EntryFailure>>,
    /// Set when the snapshot is given up: entries not yet stored fail at once.
    aborted: AtomicBool,
}

impl Probe {
    pub(crate) fn abort(&self) {
        self.aborted.store(true, AtomicOrdering::SeqCst);
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(AtomicOrdering::SeqCst)
    }

    pub(crate) fn opened(&self) -> u64 {
        self.opened.load(AtomicOrdering::Relaxed)
    }

    fn fail(&self, path: &str, error: String) {
        if let Ok(mut f) = self.failures.lock() {
            f.push(EntryFailure {
                path: path.to_string(),
                error,
            });
        }
    }

    pub(crate) fn failures(&self) -> Vec<EntryFailure> {
        let mut f = self.failures.lock().map(|f| f.clone()).unwrap_or_default();
        f.sort_by(|a, b| cmp_paths(&a.path, &b.path));
        f
    }
}

/// The tree as rustic_core's `ReadSource`.
pub(crate) struct VirtualSource {
    entries: Mutex<Option<Entries>>,
    total: Option<u64>,
    probe: Arc<Probe>,
}

/// The entries of a virtual tree in order: a sorted list, or a channel fed while the
/// snapshot is being written.
pub(crate) type Entries = Box<dyn Iterator<Item = TreeEntry> + Send>;

impl VirtualSource {
    pub(crate) fn new(entries: Entries, total: Option<u64>, probe: Arc<Probe>) -> Self {
        Self {
            entries: Mutex::new(Some(entries)),
            total,
            probe,
        }
    }
}

pub(crate) struct EntryOpener {
    path: String,
    size: u64,
    content: Content,
    probe: Arc<Probe>,
}

impl ReadSourceOpen for EntryOpener {
    type Reader = CheckedReader;

    fn open(self) -> RusticResult<Self::Reader> {
        if self.probe.is_aborted() {
            return Err(RusticError::new(
                ErrorKind::InputOutput,
                "the snapshot was given up before `{path}` was stored",
            )
            .attach_context("path", self.path));
        }
        self.probe.opened.fetch_add(1, AtomicOrdering::Relaxed);
        let inner: Box<dyn Read + Send> = match self.content {
            Content::Bytes(b) | Content::Document(b) => Box::new(Cursor::new(b)),
            Content::Stream(open) => match open() {
                Ok(r) => r,
                Err(e) => {
                    self.probe.fail(&self.path, format!("cannot open: {e}"));
                    return Err(RusticError::with_source(
                        ErrorKind::InputOutput,
                        "cannot open `{path}`",
                        e,
                    )
                    .attach_context("path", self.path));
                }
            },
        };
        Ok(CheckedReader {
            inner,
            path: self.path,
            expected: self.size,
            read: 0,
            failed: false,
            probe: self.probe,
        })
    }
}

/// Counts the bytes of an entry, records a read error, and refuses content whose length is
/// not the declared size (so a tree never holds a node whose size lies about its content).
pub(crate) struct CheckedReader {
    inner: Box<dyn Read + Send>,
    path: String,
    expected: u64,
    read: u64,
    failed: bool,
    probe: Arc<Probe>,
}

impl CheckedReader {
    fn failure(&mut self, message: String) -> io::Error {
        if !self.failed {
            self.failed = true;
            self.probe.fail(&self.path, message.clone());
        }
        io::Error::other(message)
    }
}

impl Read for CheckedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.probe.is_aborted() {
            return Err(io::Error::other("the snapshot was given up"));
        }
        if self.failed {
            return Err(io::Error::other(format!("reading `{}` failed", self.path)));
        }
        match self.inner.read(buf) {
            Ok(0) if !buf.is_empty() && self.read != self.expected => {
                let msg = format!(
                    "it yielded {} bytes but {} were declared",
                    self.read, self.expected
                );
                Err(self.failure(msg))
            }
            Ok(n) => {
                self.read += n as u64;
                if self.read > self.expected {
                    let msg = format!("it yielded more than the {} bytes declared", self.expected);
                    return Err(self.failure(msg));
                }
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let msg = format!("read error after {} bytes: {e}", self.read);
                Err(self.failure(msg))
            }
        }
    }
}

impl ReadSource for VirtualSource {
    type Open = EntryOpener;
    type Iter = Box<dyn Iterator<Item = RusticResult<ReadSourceEntry<EntryOpener>>> + Send>;

    fn size(&self) -> RusticResult<Option<u64>> {
        Ok(self.total)
    }

    fn entries(&self) -> Self::Iter {
        let entries: Entries = self
            .entries
            .lock()
            .ok()
            .and_then(|mut e| e.take())
            .unwrap_or_else(|| Box::new(std::iter::empty()));
        let probe = self.probe.clone();
        Box::new(entries.map(move |e| {
            let name = e.path.rsplit('/').next().unwrap_or(&e.path).to_string();
            let ts = to_timestamp(e.mtime);
            let meta = Metadata {
                mode: Some(0o644),
                mtime: Some(ts),
                atime: Some(ts),
                ctime: Some(ts),
                size: e.size,
                ..Metadata::default()
            };
            let node = Node::new_node(OsStr::new(&name), NodeType::File, meta);
            Ok(ReadSourceEntry {
                path: PathBuf::from(&e.path),
                node,
                open: Some(EntryOpener {
                    path: e.path,
                    size: e.size,
                    content: e.content,
                    probe: probe.clone(),
                }),
            })
        }))
    }
}

pub(crate) fn to_timestamp(t: DateTime<Utc>) -> rustic_core::jiff::Timestamp {
    let nanos = i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos());
    rustic_core::jiff::Timestamp::from_nanosecond(nanos)
        .unwrap_or(rustic_core::jiff::Timestamp::UNIX_EPOCH)
}

/// jiff → chrono.
pub(crate) fn from_timestamp(t: rustic_core::jiff::Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(
        t.as_second(),
        u32::try_from(t.subsec_nanosecond()).unwrap_or(0),
    )
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap()
    }

    #[test]
    fn paths_sort_by_component_like_a_restic_tree() {
        let tree: SnapshotTree = ["a.json", "a/b", "manifest.json", "a/a/z", "B"]
            .into_iter()
            .map(|p| TreeEntry::bytes(p, t(), "x"))
            .collect();
        let sorted: Vec<_> = tree
            .into_sorted()
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(sorted, ["B", "a/a/z", "a/b", "a.json", "manifest.json"]);
    }

    #[test]
    fn bad_paths_and_clashes_are_refused() {
        for bad in ["", "/abs", "a//b", "a/./b", "../x", "a/"] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        let clash: SnapshotTree = ["apps/a", "apps/a/app.json"]
            .into_iter()
            .map(|p| TreeEntry::bytes(p, t(), "x"))
            .collect();
        let e = clash.into_sorted().unwrap_err();
        assert!(e.to_string().contains("also the folder"), "{e}");
        let dup: SnapshotTree = ["x", "x"]
            .into_iter()
            .map(|p| TreeEntry::bytes(p, t(), ""))
            .collect();
        assert!(dup.into_sorted().unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn times_survive_the_round_trip_to_the_nanosecond() {
        assert_eq!(from_timestamp(to_timestamp(t())), t());
    }

    #[test]
    fn readers_record_errors_and_size_mismatches_once() {
        let probe = Arc::new(Probe::default());
        let open = |content: Content, size| EntryOpener {
            path: "apps/x/app.qvf".into(),
            size,
            content,
            probe: probe.clone(),
        };
        let mut ok = String::new();
        open(Content::Bytes(b"hello".to_vec()), 5)
            .open()
            .unwrap()
            .read_to_string(&mut ok)
            .unwrap();
        assert_eq!(ok, "hello");
        let mut short = open(Content::Bytes(b"hey".to_vec()), 5).open().unwrap();
        assert!(short.read_to_end(&mut Vec::new()).is_err());
        let mut long = open(Content::Bytes(b"hello!".to_vec()), 5).open().unwrap();
        assert!(long.read_to_end(&mut Vec::new()).is_err());
        let failing = open(
            Content::Stream(Box::new(|| Err(io::Error::other("export expired")))),
            5,
        );
        assert!(failing.open().is_err());
        let f = probe.failures();
        assert_eq!(f.len(), 3, "{f:?}");
        assert!(f
            .iter()
            .any(|f| f.error == "it yielded 3 bytes but 5 were declared"));
        assert!(f.iter().any(|f| f.error == "cannot open: export expired"));
        assert_eq!(probe.opened(), 4);
    }
}
