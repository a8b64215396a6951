//! A snapshot as restore sees it: its manifest and, per item, the stored document, the
//! fields that were redacted, and the files that go with it (an app's QVF, a theme's zip).
//! Documents are read with one pass over the repository; files are staged in a spool folder
//! only for the items a restore selected, so restoring one app does not read a thousand.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use qcb_backup::collect::safe;
use qcb_backup::{ItemStatus, Manifest};
use qcb_catalog::{kind, ComponentKind};
use qcb_repo::{Repo, SnapshotInfo};
use serde_json::Value;

use crate::error::RestoreError;

/// One restorable thing of a snapshot.
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: &'static ComponentKind,
    /// Its ID in the tenant it was backed up from.
    pub id: String,
    pub name: String,
    /// The stored document (redaction markers where secrets were).
    pub doc: Value,
    /// JSON pointers of the redacted fields.
    pub redacted: Vec<String>,
    /// Where the document sits in the snapshot.
    pub path: String,
    /// Files that belong to it: (suffix, path in the snapshot), e.g. ("qvf", "apps/x/app.qvf").
    pub files: Vec<(String, String)>,
}

impl Entry {
    /// An app's attributes (`app.json` holds `{app: {attributes}, item}`); the document
    /// itself for every other kind.
    pub fn attrs(&self) -> &Value {
        if self.kind.name == "apps" {
            self.doc.pointer("/app/attributes").unwrap_or(&Value::Null)
        } else {
            &self.doc
        }
    }

    pub fn str_at(&self, pointer: &str) -> &str {
        self.attrs()
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// A loaded snapshot.
pub struct SnapshotData {
    pub info: SnapshotInfo,
    pub manifest: Manifest,
    pub entries: Vec<Entry>,
    /// Documents whose kind this version of qcb does not know (a newer catalog).
    pub unknown_kinds: Vec<String>,
}

impl SnapshotData {
    /// Reads the manifest and every document of the snapshot (not the large files).
    pub fn load(repo: &Repo, info: SnapshotInfo) -> Result<SnapshotData, RestoreError> {
        let short = info.short_id.clone();
        let mut raw = Vec::new();
        match repo.cat(&info, "manifest.json", &mut raw) {
            Ok(_) => {}
            Err(qcb_repo::RepoError::PathNotFound { .. }) => {
                return Err(RestoreError::Manifest {
                    snapshot: short.clone(),
                    detail: "it has no manifest.json: it was not written by qcb".into(),
                })
            }
            Err(e) => {
                return Err(RestoreError::MissingData {
                    snapshot: short.clone(),
                    path: "manifest.json".into(),
                    detail: e.to_string(),
                })
            }
        }
        let manifest = Manifest::from_slice(&raw).map_err(|e| RestoreError::Manifest {
            snapshot: short.clone(),
            detail: e.to_string(),
        })?;

        // Which documents to read, and which manifest items they carry.
        let mut paths: Vec<String> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut wanted = Vec::new();
        let mut unknown_kinds = Vec::new();
        for item in &manifest.items {
            if !matches!(item.status, ItemStatus::BackedUp | ItemStatus::Unchanged) {
                continue;
            }
            let Some(k) = kind(&item.kind) else {
                if !unknown_kinds.contains(&item.kind) {
                    unknown_kinds.push(item.kind.clone());
                }
                continue;
            };
            let doc_path = if k.name == "apps" {
                match item.path.rsplit_once('/') {
                    Some((dir, _)) => format!("{dir}/app.json"),
                    None => continue,
                }
            } else {
                item.path.clone()
            };
            let at = *index.entry(doc_path.clone()).or_insert_with(|| {
                paths.push(doc_path.clone());
                paths.len() - 1
            });
            wanted.push((k, item, at, doc_path));
        }
        let docs = repo.read_many(&info, &paths)?;
        let mut parsed: Vec<Option<Value>> = Vec::with_capacity(docs.len());
        for (bytes, path) in docs.into_iter().zip(&paths) {
            let bytes = bytes.map_err(|e| RestoreError::MissingData {
                snapshot: short.clone(),
                path: path.clone(),
                detail: e.to_string(),
            })?;
            let v: Value =
                serde_json::from_slice(&bytes).map_err(|e| RestoreError::CorruptDocument {
                    snapshot: short.clone(),
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
            parsed.push(Some(v));
        }

        let mut entries = Vec::new();
        for (k, item, at, doc_path) in wanted {
            let Some(doc) = parsed[at].clone() else {
                continue;
            };
            if k.bundle {
                // One file holds every item (licence assignments, keyed by subject).
                for one in doc.as_array().into_iter().flatten() {
                    let id = one
                        .pointer(&format!("/{}", k.id_field))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    if id.is_empty() {
                        continue;
                    }
                    entries.push(Entry {
                        kind: k,
                        name: id.clone(),
                        id,
                        doc: one.clone(),
                        redacted: vec![],
                        path: doc_path.clone(),
                        files: vec![],
                    });
                }
                continue;
            }
            let mut files = Vec::new();
            if k.name == "apps" {
                files.push(("qvf".to_string(), item.path.clone()));
                if let Some((dir, _)) = item.path.rsplit_once('/') {
                    let script = format!("{dir}/script.qvs");
                    files.push(("script".to_string(), script));
                }
            }
            for f in k.files {
                files.push((
                    f.extension.to_string(),
                    format!("{}/{}.{}", k.folder, safe(&item.id), f.extension),
                ));
            }
            entries.push(Entry {
                kind: k,
                id: item.id.clone(),
                name: item.name.clone(),
                doc,
                redacted: item.redacted.clone(),
                path: doc_path,
                files,
            });
        }
        // Files exist only for what was stored: a brand without a favicon has none. Keep
        // the ones the snapshot holds (checked when staging).
        Ok(SnapshotData {
            info,
            manifest,
            entries,
            unknown_kinds,
        })
    }
}

/// Files of the selected entries, copied out of the repository into a private folder.
pub struct Staged {
    dir: tempfile::TempDir,
    files: HashMap<String, PathBuf>,
}

impl Staged {
    /// Copies the files of `entries` out of the snapshot. A file the manifest promises but
    /// the snapshot lacks (an app QVF) is an error; optional ones (scripts, brand images) may
    /// be missing.
    pub fn stage(
        repo: &Repo,
        snap: &SnapshotInfo,
        entries: &[&Entry],
        spool: Option<&std::path::Path>,
    ) -> Result<Staged, RestoreError> {
        let base = spool.map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let dir = tempfile::Builder::new()
            .prefix("qcb-restore-")
            .tempdir_in(&base)
            .map_err(|source| RestoreError::Spool {
                dir: base.display().to_string(),
                source,
            })?;
        let mut listed = std::collections::HashSet::new();
        let paths: Vec<(String, bool)> = entries
            .iter()
            .flat_map(|e| {
                e.files
                    .iter()
                    .map(|(suffix, p)| (p.clone(), suffix == "qvf"))
            })
            .filter(|(p, _)| listed.insert(p.clone()))
            .collect();
        let names: Vec<String> = paths.iter().map(|(p, _)| p.clone()).collect();
        let target = |i: usize| dir.path().join(format!("{i}.bin"));
        let results = repo.cat_many(snap, &names, |i, _| {
            File::create(target(i)).map(BufWriter::new)
        })?;
        let mut files = HashMap::new();
        for (i, ((path, required), r)) in paths.into_iter().zip(results).enumerate() {
            match r {
                Ok(_) => {
                    files.insert(path, target(i));
                }
                Err(qcb_repo::RepoError::Output { source }) => {
                    return Err(RestoreError::Spool {
                        dir: dir.path().display().to_string(),
                        source,
                    })
                }
                // An optional file the snapshot does not have (a brand without a favicon, an
                // app whose script was not readable) is fine; a damaged one is not.
                Err(qcb_repo::RepoError::PathNotFound { .. }) if !required => {}
                Err(e) => {
                    return Err(RestoreError::MissingData {
                        snapshot: snap.short_id.clone(),
                        path,
                        detail: e.to_string(),
                    })
                }
            }
        }
        Ok(Staged { dir, files })
    }

    /// The staged copy of a snapshot file, when the snapshot has it.
    pub fn path(&self, snapshot_path: &str) -> Option<&std::path::Path> {
        self.files.get(snapshot_path).map(PathBuf::as_path)
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}
