//! Documents a run produced again with the same bytes as the parent snapshot's copy.
//!
//! A backup writes most of a tenant's configuration as documents in memory
//! ([`TreeEntry::document`](crate::TreeEntry::document)), stamped with the run's time: unchanged
//! or not, rustic_core's archiver would chunk, hash and look up every
//! one of them again (thousands a run; creating a chunker alone costs more than hashing a small
//! document). [`UnchangedDocs`] compares each such document with the parent's file at the same
//! path — same size, and one blob whose ID, the SHA-256 of its plaintext, is the document's
//! own hash — and gives the entry the parent's time, so that the archiver takes the parent's
//! node as it is. Only a document proven equal is touched; anything else (no parent file, a
//! tree that cannot be read, a file of several blobs) goes through the archiver as before.
//!
//! The parent's folders are read on demand and only along the current path: entries come in
//! tree order, so a folder is never needed again once the entries have left it.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::sync::Arc;

use rustic_core::repofile::Node;
use rustic_core::{IndexedTree, Repository, TreeId};
use sha2::{Digest, Sha256};

use crate::tree::{from_timestamp, Content, TreeEntry};

type Folder = Option<HashMap<OsString, Node>>;

pub(crate) struct UnchangedDocs<S> {
    repo: Arc<Repository<S>>,
    root: TreeId,
    /// The folders from the root down to the last one asked for (`None`: not in the parent).
    open: Vec<(String, Folder)>,
}

impl<S: IndexedTree> UnchangedDocs<S> {
    pub(crate) fn new(repo: Arc<Repository<S>>, root: TreeId) -> Self {
        Self {
            repo,
            root,
            open: Vec::new(),
        }
    }

    /// `entry`, with the parent's time when its bytes are the parent's.
    pub(crate) fn adjust(&mut self, mut entry: TreeEntry) -> TreeEntry {
        // Only a document whose time is when it was read: an app's script keeps the app's
        // revision as its time, which the next run compares, whatever its bytes.
        let Content::Document(data) = &entry.content else {
            return entry;
        };
        let (dir, name) = entry.path.rsplit_once('/').unwrap_or(("", &entry.path));
        let Some(node) = self.folder(dir).and_then(|f| f.get(OsStr::new(name))) else {
            return entry;
        };
        if !node.is_file() || node.meta.size != entry.size {
            return entry;
        }
        let same = match node.content.as_deref() {
            None | Some([]) => data.is_empty(),
            Some([blob]) => {
                !data.is_empty() && blob.to_hex().as_str() == hex::encode(Sha256::digest(data))
            }
            Some(_) => false,
        };
        if let Some(mtime) = node.meta.mtime.filter(|_| same) {
            entry.mtime = from_timestamp(mtime);
        }
        entry
    }

    /// The parent's folder at `path` ("" for the root), read once while entries stay in it.
    fn folder(&mut self, path: &str) -> Option<&HashMap<OsString, Node>> {
        // Leave the folders `path` is not inside.
        while let Some((open, _)) = self.open.last() {
            let inside = open.is_empty()
                || path == open
                || path
                    .strip_prefix(open.as_str())
                    .is_some_and(|rest| rest.starts_with('/'));
            if inside {
                break;
            }
            self.open.pop();
        }
        if self.open.is_empty() {
            let root = self.read(Some(self.root));
            self.open.push((String::new(), root));
        }
        loop {
            let (open, folder) = self.open.last()?;
            if open == path {
                break;
            }
            let rest = if open.is_empty() {
                path
            } else {
                &path[open.len() + 1..]
            };
            let name = rest.split('/').next().unwrap_or(rest);
            let child = if open.is_empty() {
                name.to_string()
            } else {
                format!("{open}/{name}")
            };
            let subtree = folder
                .as_ref()
                .and_then(|f| f.get(OsStr::new(name)))
                .filter(|n| n.is_dir())
                .and_then(|n| n.subtree);
            let read = self.read(subtree);
            self.open.push((child, read));
        }
        self.open.last().and_then(|(_, f)| f.as_ref())
    }

    fn read(&self, tree: Option<TreeId>) -> Folder {
        let tree = self.repo.get_tree(&tree?).ok()?;
        Some(
            tree.nodes
                .into_iter()
                .map(|n| (n.name().to_os_string(), n))
                .collect(),
        )
    }
}
