//! What can stop a restore before or while it writes, each with what to do about it.

use qcb_qlik::ClientError;
use qcb_repo::RepoError;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("snapshot {snapshot} cannot be restored: {detail}")]
    Manifest { snapshot: String, detail: String },
    #[error("snapshot {snapshot}: `{path}` is not a valid JSON document ({detail}); the snapshot is damaged: run `qcb check --read-data` and restore from another snapshot")]
    CorruptDocument {
        snapshot: String,
        path: String,
        detail: String,
    },
    #[error("snapshot {snapshot}: `{path}` cannot be read ({detail}); the repository is damaged: run `qcb check --read-data` and restore from another snapshot")]
    MissingData {
        snapshot: String,
        path: String,
        detail: String,
    },
    #[error("map file {file}: {detail}")]
    Map { file: String, detail: String },
    #[error("secrets file {file}: {detail}")]
    Secrets { file: String, detail: String },
    #[error("cannot read the target tenant at {url}: {source}")]
    Tenant {
        url: String,
        source: Box<ClientError>,
    },
    #[error("unknown component kind '{0}'{hint} (see `qcb kinds` for the names)", hint = qcb_catalog::did_you_mean(.0))]
    UnknownKind(String),
    #[error("nothing in snapshot {snapshot} matches the selection ({selection})")]
    EmptySelection { snapshot: String, selection: String },
    #[error("cannot stage the snapshot's files in {dir}: {source}; free some space or set TMPDIR")]
    Spool { dir: String, source: std::io::Error },
    #[error("--fallback-owner {given}: no user of the target tenant {tenant} has that ID, subject or e-mail; name one of its users (nothing was written)")]
    FallbackOwner { given: String, tenant: String },
    #[error("a restore task stopped unexpectedly: {0}")]
    Join(String),
}

impl RestoreError {
    /// Whether the mistake is in what the user asked for (exit code 2) rather than in the
    /// snapshot, the repository or the tenant.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            RestoreError::Map { .. }
                | RestoreError::Secrets { .. }
                | RestoreError::UnknownKind(_)
                | RestoreError::EmptySelection { .. }
                | RestoreError::FallbackOwner { .. }
        )
    }
}
