//! Errors of the repository layer. Each says what failed, where (repository, snapshot, path)
//! and, where there is one, what to do about it.

use std::fmt;
use std::path::PathBuf;

/// An error from the backup repository.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    #[error("no repository given: pass --repo or set QCB_REPO (a folder path, or s3:, azblob:, gcs: or sftp:)")]
    NoLocation,

    /// A repository URL that cannot be understood. `location` never holds a credential: one
    /// written into the URL is masked.
    #[error("invalid repository location `{location}`: {reason}")]
    InvalidLocation { location: String, reason: String },

    /// A backend's settings (from the environment) are missing or unusable.
    #[error("{backend} is not set up for {location}: {reason}")]
    StorageSetup {
        backend: &'static str,
        location: String,
        reason: String,
    },

    #[error("cannot reach {backend} at {endpoint} ({detail}): check {check}")]
    Unreachable {
        backend: &'static str,
        endpoint: String,
        detail: String,
        check: &'static str,
    },

    #[error("{backend} refused access to {location} ({detail}): check {check}")]
    AccessDenied {
        backend: &'static str,
        location: String,
        detail: String,
        check: &'static str,
    },

    #[error("the {backend} {container} `{name}` does not exist at {endpoint}: check the {container} name in --repo / QCB_REPO, or create the {container}")]
    ContainerNotFound {
        backend: &'static str,
        container: &'static str,
        name: String,
        endpoint: String,
    },

    #[error("the SSH host key of {host} is not trusted: add it to your known_hosts (connect once with `ssh`), or check that {host} is the right server")]
    UnknownHostKey { host: String },

    #[error("there is no repository at {location}: check --repo / QCB_REPO, or create one with `qcb init`")]
    NotFound { location: String },

    #[error("{location} is not a restic repository ({reason}): check --repo / QCB_REPO")]
    NotARepository { location: String, reason: String },

    #[error("the password does not open the repository at {location}: check --password-file, QCB_PASSWORD_FILE or QCB_PASSWORD")]
    WrongPassword { location: String },

    #[error("a repository already exists at {location}")]
    AlreadyExists { location: String },

    #[error("cannot create a repository at {location}: the folder is not empty")]
    NotEmpty { location: String },

    #[error("the storage of the repository at {location} is full: free some space (for example with `qcb forget --prune`) and run again")]
    StorageFull { location: String },

    #[error("the repository at {location} is locked by {holder}: wait until that process has finished (or pass --retry-lock to wait); if it no longer runs, remove its lock with `qcb unlock` (which removes locks of processes gone from this host and locks older than 30 minutes)")]
    Locked { location: String, holder: String },

    #[error("the repository at {location} cannot be written (permission denied): check the folder's permissions, or the credentials' write access")]
    ReadOnly { location: String },

    #[error("cannot lock the repository at {location}: {reason}")]
    Lock { location: String, reason: String },

    #[error("no password given: pass --password-file, or set QCB_PASSWORD_FILE or QCB_PASSWORD")]
    NoPassword,

    #[error("cannot read the password file {path}")]
    PasswordFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the password file {path} is empty")]
    EmptyPasswordFile { path: PathBuf },

    #[error("the repository at {location} has no snapshots{}", for_host(.host))]
    NoSnapshots {
        location: String,
        host: Option<String>,
    },

    #[error("no snapshot matches `{spec}`{}: name a snapshot by `latest` or by the start of its id (see `qcb snapshots`)", for_host(.host))]
    SnapshotNotFound { spec: String, host: Option<String> },

    #[error("snapshot id `{prefix}` is ambiguous: it starts {candidates}; give more characters")]
    AmbiguousSnapshot { prefix: String, candidates: String },

    #[error("`{path}` does not exist in snapshot {snapshot}")]
    PathNotFound { snapshot: String, path: String },

    #[error("`{path}` in snapshot {snapshot} is a directory: use `qcb ls` to list it")]
    IsADirectory { snapshot: String, path: String },

    #[error("`{path}` in snapshot {snapshot} is not a regular file")]
    NotAFile { snapshot: String, path: String },

    #[error("invalid path `{path}`: {reason}")]
    InvalidPath { path: String, reason: &'static str },

    #[error("invalid tag `{tag}`: {reason}")]
    InvalidTag { tag: String, reason: &'static str },

    #[error("the snapshot of {host} was not written: {reason}")]
    Unwritten { host: String, reason: String },

    #[error("invalid host `{host}`: it must be a non-empty name without commas or whitespace")]
    InvalidHost { host: String },

    #[error("no retention given: set at least one of --keep-last/--keep-daily/--keep-weekly/--keep-monthly/--keep-yearly (qcb never forgets every snapshot)")]
    EmptyKeepPolicy,

    #[error("cannot write the snapshot out to {path}: the folder is not empty")]
    DumpTargetNotEmpty { path: PathBuf },

    #[error("cannot write the output")]
    Output {
        #[source]
        source: std::io::Error,
    },

    #[error("{action} {}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{action} {location}")]
    Storage {
        action: &'static str,
        location: String,
        #[source]
        source: StorageCause,
    },

    #[error("{action} (repository {location})")]
    Rustic {
        action: String,
        location: String,
        #[source]
        source: RusticCause,
    },
}

fn for_host(host: &Option<String>) -> String {
    host.as_ref()
        .map(|h| format!(" for tenant {h}"))
        .unwrap_or_default()
}

/// A storage error without its request context: `opendal` puts request URLs into its errors,
/// and an Azure SAS token travels in the URL. Only the kind, the message and the causes stay.
pub struct StorageCause {
    kind: opendal::ErrorKind,
    text: String,
}

impl StorageCause {
    pub(crate) fn new(err: &opendal::Error) -> Self {
        let mut text = err.message().trim().to_string();
        let mut source = std::error::Error::source(err);
        while let Some(e) = source {
            let line = e.to_string();
            if !line.is_empty() && !text.contains(&line) {
                if !text.is_empty() {
                    text.push_str(": ");
                }
                text.push_str(&line);
            }
            source = e.source();
        }
        Self {
            kind: err.kind(),
            text,
        }
    }

    /// opendal's classification of the failure.
    pub fn kind(&self) -> opendal::ErrorKind {
        self.kind
    }
}

impl fmt::Display for StorageCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.text.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{} ({})", self.text, self.kind)
        }
    }
}

impl fmt::Debug for StorageCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for StorageCause {}

/// A rustic_core error, shown in one line (rustic's own `Display` is a multi-paragraph report).
pub struct RusticCause(pub(crate) Box<rustic_core::RusticError>);

impl fmt::Display for RusticCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.0.display_log();
        f.write_str(line.strip_prefix("Error: ").unwrap_or(&line))
    }
}

impl fmt::Debug for RusticCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

// The one-line form already names rustic's own cause, so the chain stops here.
impl std::error::Error for RusticCause {}

impl RusticCause {
    /// The wrapped rustic_core error.
    pub fn inner(&self) -> &rustic_core::RusticError {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_place_and_the_remedy() {
        let e = RepoError::SnapshotNotFound {
            spec: "abc".into(),
            host: Some("t.eu.qlikcloud.com".into()),
        };
        assert_eq!(
            e.to_string(),
            "no snapshot matches `abc` for tenant t.eu.qlikcloud.com: name a snapshot by `latest` or by the start of its id (see `qcb snapshots`)"
        );
        let e = RepoError::NoSnapshots {
            location: "/r".into(),
            host: None,
        };
        assert_eq!(e.to_string(), "the repository at /r has no snapshots");
    }
}
