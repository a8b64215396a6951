//! Snapshots as qcb shows them, and naming one: `latest` (optionally per tenant) or a unique
//! prefix of its id.

use std::fmt;

use chrono::{DateTime, Utc};
use rustic_core::repofile::SnapshotFile;
use serde::Serialize;

use crate::error::RepoError;
use crate::tree::from_timestamp;

/// The tag every qcb snapshot carries.
pub const QCB_TAG: &str = "qcb";
/// The prefix of the tag carrying a run's status (`status:ok`, `status:partial`…).
pub const STATUS_TAG_PREFIX: &str = "status:";

/// The status of a snapshot while it is being written (see [`crate::SnapshotWriter`]).
pub const INCOMPLETE_STATUS: &str = "incomplete";

/// A snapshot id: 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SnapshotId(String);

impl SnapshotId {
    /// Wraps a full id (64 hex digits).
    pub fn parse(hex: &str) -> Option<Self> {
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(hex.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 8 hex digits, as restic shows them.
    pub fn short(&self) -> &str {
        &self.0[..8.min(self.0.len())]
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the writer counted while storing a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SnapshotSummary {
    /// Files that were not in the parent snapshot.
    pub files_new: u64,
    /// Files whose size or mtime differed from the parent's.
    pub files_changed: u64,
    /// Files taken from the parent without being read.
    pub files_unmodified: u64,
    pub files_total: u64,
    /// Bytes of all files in the snapshot.
    pub bytes_total: u64,
    /// New data, before compression.
    pub data_added: u64,
    /// New data as stored (compressed and encrypted).
    pub data_added_packed: u64,
    /// Seconds the write took.
    pub duration_secs: f64,
}

/// A snapshot as qcb lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotInfo {
    pub id: SnapshotId,
    pub short_id: String,
    pub time: DateTime<Utc>,
    /// The tenant's hostname.
    pub host: String,
    /// Sorted tags, including `qcb` and `status:<status>` for qcb snapshots.
    pub tags: Vec<String>,
    pub parent: Option<SnapshotId>,
    /// The root tree's id (hex).
    pub tree: String,
    /// The program that wrote the snapshot (`qcb 0.1.0`, `restic 0.14.0`…).
    pub program: String,
    pub summary: Option<SnapshotSummary>,
}

impl SnapshotInfo {
    /// The run's status, from the `status:<status>` tag.
    pub fn status(&self) -> Option<&str> {
        self.tags
            .iter()
            .find_map(|t| t.strip_prefix(STATUS_TAG_PREFIX))
    }

    /// Whether qcb wrote this snapshot (it carries the `qcb` tag).
    pub fn is_qcb(&self) -> bool {
        self.tags.iter().any(|t| t == QCB_TAG)
    }

    pub(crate) fn from_file(snap: &SnapshotFile) -> Self {
        let id = SnapshotId(snap.id.to_hex().to_string());
        Self {
            short_id: id.short().to_string(),
            id,
            time: from_timestamp(snap.time.timestamp()),
            host: snap.hostname.clone(),
            tags: snap.tags.iter().cloned().collect(),
            parent: snap.parent.map(|p| SnapshotId(p.to_hex().to_string())),
            tree: snap.tree.to_hex().to_string(),
            program: snap.program_version.clone(),
            summary: snap.summary.as_ref().map(|s| SnapshotSummary {
                files_new: s.files_new,
                files_changed: s.files_changed,
                files_unmodified: s.files_unmodified,
                files_total: s.total_files_processed,
                bytes_total: s.total_bytes_processed,
                data_added: s.data_added,
                data_added_packed: s.data_added_packed,
                duration_secs: s.backup_duration,
            }),
        }
    }
}

/// Orders snapshots oldest first (ties by id, so the order is stable).
pub(crate) fn sort_snapshots(snaps: &mut [SnapshotInfo]) {
    snaps.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
}

/// Picks the snapshot `spec` names among `snaps`: `latest` is the newest (of `host`, when
/// given); anything else must be the start of exactly one snapshot's id.
pub fn select_snapshot<'a>(
    snaps: &'a [SnapshotInfo],
    spec: &str,
    host: Option<&str>,
    location: &str,
) -> Result<&'a SnapshotInfo, RepoError> {
    let spec = spec.trim();
    let not_found = || RepoError::SnapshotNotFound {
        spec: spec.to_string(),
        host: host.map(str::to_string),
    };
    if spec == "latest" {
        // A snapshot still tagged `status:incomplete` was left by a run that died while it
        // was being written: never the latest; it can still be named by its id.
        return snaps
            .iter()
            .filter(|s| host.is_none_or(|h| s.host == h))
            .filter(|s| s.status() != Some(INCOMPLETE_STATUS))
            .max_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)))
            .ok_or_else(|| RepoError::NoSnapshots {
                location: location.to_string(),
                host: host.map(str::to_string),
            });
    }
    if spec.is_empty() || spec.len() > 64 || !spec.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let prefix = spec.to_ascii_lowercase();
    let matches: Vec<&SnapshotInfo> = snaps
        .iter()
        .filter(|s| s.id.as_str().starts_with(&prefix))
        .filter(|s| host.is_none_or(|h| s.host == h))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(not_found()),
        many => {
            let mut ids: Vec<&str> = many.iter().map(|s| s.id.as_str()).collect();
            ids.sort_unstable();
            let shown: Vec<String> = ids.iter().take(5).map(|id| id[..12].to_string()).collect();
            let more = if ids.len() > 5 {
                format!(" and {} more", ids.len() - 5)
            } else {
                String::new()
            };
            Err(RepoError::AmbiguousSnapshot {
                prefix,
                candidates: format!("{} snapshots ({}{more})", ids.len(), shown.join(", ")),
            })
        }
    }
}

#[cfg(test)]
pub(crate) fn fake(id_hex: &str, host: &str, time: DateTime<Utc>) -> SnapshotInfo {
    let id = SnapshotId(format!("{id_hex:0<64}"));
    SnapshotInfo {
        short_id: id.short().to_string(),
        id,
        time,
        host: host.into(),
        tags: vec![QCB_TAG.into(), "status:ok".into()],
        parent: None,
        tree: "0".repeat(64),
        program: "qcb".into(),
        summary: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + h * 3600, 0).unwrap()
    }

    #[test]
    fn latest_and_prefixes_name_snapshots() {
        let snaps = vec![
            fake("abc1", "a.qlikcloud.com", at(1)),
            fake("abc2", "b.qlikcloud.com", at(3)),
            fake("def0", "a.qlikcloud.com", at(2)),
        ];
        let sel = |spec, host| select_snapshot(&snaps, spec, host, "/r");
        assert!(sel("latest", None).unwrap().id.as_str().starts_with("abc2"));
        assert!(sel("latest", Some("a.qlikcloud.com"))
            .unwrap()
            .id
            .as_str()
            .starts_with("def0"));
        assert!(sel("DEF", None).unwrap().id.as_str().starts_with("def0"));
        assert!(sel("abc1", None).unwrap().id.as_str().starts_with("abc1"));
        let e = sel("abc", None).unwrap_err();
        assert!(matches!(e, RepoError::AmbiguousSnapshot { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("2 snapshots (abc100000000, abc200000000)"),
            "{e}"
        );
        assert!(
            matches!(sel("abc", Some("b.qlikcloud.com")), Ok(s) if s.id.as_str().starts_with("abc2"))
        );
        assert!(matches!(
            sel("fff", None),
            Err(RepoError::SnapshotNotFound { .. })
        ));
        assert!(matches!(
            sel("lates", None),
            Err(RepoError::SnapshotNotFound { .. })
        ));
        assert!(matches!(
            sel("latest", Some("c.qlikcloud.com")),
            Err(RepoError::NoSnapshots { .. })
        ));
        assert_eq!(snaps[0].status(), Some("ok"));
        assert!(snaps[0].is_qcb());
    }

    #[test]
    fn a_snapshot_left_incomplete_is_never_the_latest() {
        let mut left = fake("eee1", "a.qlikcloud.com", at(9));
        left.tags = vec![QCB_TAG.into(), format!("status:{INCOMPLETE_STATUS}")];
        let snaps = vec![fake("abc1", "a.qlikcloud.com", at(1)), left];
        let sel = |spec| select_snapshot(&snaps, spec, Some("a.qlikcloud.com"), "/r");
        assert!(sel("latest").unwrap().id.as_str().starts_with("abc1"));
        assert!(sel("eee1").unwrap().id.as_str().starts_with("eee1"));
    }
}
