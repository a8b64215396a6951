//! `qcb dump SNAP --to DIR`: write a snapshot out as plain files.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::repo_args::{blocking, show_bytes, RepoArgs};

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// The snapshot: `latest` or the start of its id.
    pub snapshot: String,
    /// The folder to write to; created if missing, and it must be empty.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// With `latest`: the latest snapshot of this tenant.
    #[arg(long)]
    pub host: Option<String>,
}

pub async fn run(args: DumpArgs, repo: RepoArgs) -> anyhow::Result<ExitCode> {
    let to = args.to.clone();
    let (snap, report) = blocking(move || {
        let repo = repo.open()?;
        let snap = repo.resolve(&args.snapshot, args.host.as_deref())?;
        let report = repo.dump(&snap, &args.to)?;
        Ok((snap, report))
    })
    .await?;
    writeln!(
        std::io::stdout().lock(),
        "wrote snapshot {} of {}: {} files ({}) in {} folders to {}",
        snap.short_id,
        snap.host,
        report.files,
        show_bytes(report.bytes),
        report.dirs,
        to.display()
    )?;
    Ok(ExitCode::SUCCESS)
}
