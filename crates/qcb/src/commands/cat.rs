//! `qcb cat SNAP PATH`: write one file of a snapshot to stdout.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use qcb_repo::RepoError;

use super::repo_args::{blocking, RepoArgs};

#[derive(Args, Debug)]
pub struct CatArgs {
    /// The snapshot: `latest` or the start of its id.
    pub snapshot: String,
    /// The file in the snapshot (`tenant/tenant.json`).
    pub path: String,
    /// With `latest`: the latest snapshot of this tenant.
    #[arg(long)]
    pub host: Option<String>,
}

pub async fn run(args: CatArgs, repo: RepoArgs) -> anyhow::Result<ExitCode> {
    let result = blocking(move || {
        let repo = repo.open()?;
        let snap = repo.resolve(&args.snapshot, args.host.as_deref())?;
        let mut out = std::io::stdout().lock();
        repo.cat(&snap, &args.path, &mut out)?;
        out.flush().map_err(|source| RepoError::Output { source })?;
        Ok(())
    })
    .await;
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // `qcb cat … | head` closing the pipe early is the reader's choice, not a failure.
        Err(e)
            if matches!(
                e.downcast_ref::<RepoError>(),
                Some(RepoError::Output { source }) if source.kind() == std::io::ErrorKind::BrokenPipe
            ) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e),
    }
}
