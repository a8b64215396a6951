//! The flags every repository command shares (DESIGN.md §6): `--repo` / `QCB_REPO` and
//! `--password-file` / `QCB_PASSWORD_FILE` / `QCB_PASSWORD`, and running a blocking repository
//! call off the async runtime.

use std::path::PathBuf;

use clap::Args;
use qcb_repo::{Repo, RepoError, RepoOptions};

#[derive(Args, Debug, Clone, Default)]
pub struct RepoArgs {
    /// The backup repository: a folder path, or an s3:, azblob:, gcs: or sftp: location.
    ///
    /// /srv/qcb, local:/srv/qcb                 a local or mounted folder
    /// s3:https://HOST[:PORT]/BUCKET[/PREFIX]   an S3-compatible store (MinIO, SeaweedFS, R2, ...)
    /// s3:BUCKET[/PREFIX]                       AWS S3 (or the endpoint in AWS_ENDPOINT_URL)
    /// azblob:CONTAINER[/PREFIX]                Azure Blob Storage
    /// gcs:BUCKET[/PREFIX]                      Google Cloud Storage
    /// sftp:[USER@]HOST:[PORT]/ABSOLUTE/PATH    a folder on an SSH server, also written
    /// sftp://[USER@]HOST[:PORT]/ABSOLUTE/PATH  (through the system ssh and ~/.ssh/config)
    ///
    /// Credentials never go into the location; they come from the environment:
    ///   S3     AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY [AWS_SESSION_TOKEN]; region from
    ///          AWS_REGION / AWS_DEFAULT_REGION; without keys, AWS's own chain (AWS_PROFILE,
    ///          instance or task role)
    ///   Azure  AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, or
    ///          AZURE_STORAGE_CONNECTION_STRING (which may name a BlobEndpoint)
    ///   GCS    GOOGLE_APPLICATION_CREDENTIALS (a service account key file), or the machine's
    ///          own account; STORAGE_EMULATOR_HOST for an emulator
    ///   SFTP   QCB_SFTP_KEY (a private key file), else ~/.ssh/config and ssh-agent; the host
    ///          key must be in known_hosts
    /// Remote repositories keep a local cache in QCB_CACHE_DIR (default ~/.cache/qcb).
    #[arg(
        long,
        global = true,
        env = "QCB_REPO",
        value_name = "URL",
        verbatim_doc_comment
    )]
    pub repo: Option<String>,
    /// A file holding the repository password [env: QCB_PASSWORD_FILE, or the password itself in QCB_PASSWORD].
    // Read from the environment by `qcb_repo::password_from_env`, which also skips an empty
    // QCB_PASSWORD_FILE (clap would reject it as an empty path).
    #[arg(long, global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Wait up to this long (90s, 10m, 1h) for another process's lock on the repository
    /// instead of failing at once: a prune waits for running backups, a backup for a prune.
    #[arg(long, global = true, value_name = "DURATION", env = "QCB_RETRY_LOCK", value_parser = lock_wait)]
    pub retry_lock: Option<std::time::Duration>,
}

fn lock_wait(text: &str) -> Result<std::time::Duration, String> {
    if text.trim() == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    qcb_ops::config::parse_duration(text).map_err(|e| format!("the lock wait {e}"))
}

impl RepoArgs {
    fn options(&self) -> Result<RepoOptions, RepoError> {
        let location = self
            .repo
            .clone()
            .filter(|r| !r.trim().is_empty())
            .ok_or(RepoError::NoLocation)?;
        let password = qcb_repo::password_from_env(self.password_file.as_deref())?;
        Ok(RepoOptions::new(location, password)
            .with_default_cache()
            .with_lock_wait(self.retry_lock.unwrap_or_default()))
    }

    pub fn open(&self) -> Result<Repo, RepoError> {
        Repo::open(&self.options()?)
    }

    pub fn init(&self) -> Result<Repo, RepoError> {
        Repo::init(&self.options()?)
    }
}

/// Runs blocking repository work on tokio's blocking pool.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| anyhow::anyhow!("the repository task failed: {e}"))?
}

/// Whether an error is the user's usage mistake (exit code 2) rather than a failure.
pub fn is_usage_error(e: &anyhow::Error) -> bool {
    if e.downcast_ref::<super::tenant_args::UsageError>().is_some() {
        return true;
    }
    if let Some(qcb_backup::BackupError::UnknownKind(_)) =
        e.downcast_ref::<qcb_backup::BackupError>()
    {
        return true;
    }
    matches!(
        e.downcast_ref::<RepoError>(),
        Some(
            RepoError::NoLocation
                | RepoError::EmptyKeepPolicy
                | RepoError::InvalidLocation { .. }
                | RepoError::StorageSetup { .. }
        )
    )
}

/// `2025-01-31 23:59:59` (UTC).
pub fn show_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `1.5 MiB`.
pub fn show_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(show_bytes(512), "512 B");
        assert_eq!(show_bytes(1536), "1.5 KiB");
        assert_eq!(show_bytes(3 << 30), "3.0 GiB");
    }
}
