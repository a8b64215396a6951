//! The flags every repository command shares (DESIGN.md §6): `--repo` / `QCB_REPO` and
//! `--password-file` / `QCB_PASSWORD_FILE` / `QCB_PASSWORD`, and running a blocking repository
//! call off the async runtime.

use std::path::PathBuf;

use clap::Args;
use qcb_repo::{Repo, RepoError, RepoOptions};

#[derive(Args, Debug, Clone, Default)]
pub struct RepoArgs {
    /// The backup repository: a folder path (s3:, azblob:, gcs: and sftp: come later).
    #[arg(long, global = true, env = "QCB_REPO", value_name = "URL")]
    pub repo: Option<String>,
    /// A file holding the repository password [env: QCB_PASSWORD_FILE, or the password itself in QCB_PASSWORD].
    // Read from the environment by `qcb_repo::password_from_env`, which also skips an empty
    // QCB_PASSWORD_FILE (clap would reject it as an empty path).
    #[arg(long, global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

impl RepoArgs {
    fn options(&self) -> Result<RepoOptions, RepoError> {
        let location = self
            .repo
            .clone()
            .filter(|r| !r.trim().is_empty())
            .ok_or(RepoError::NoLocation)?;
        let password = qcb_repo::password_from_env(self.password_file.as_deref())?;
        Ok(RepoOptions::new(location, password))
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
    matches!(
        e.downcast_ref::<RepoError>(),
        Some(RepoError::NoLocation | RepoError::EmptyKeepPolicy)
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
