//! `qcb backup`: every layer of a tenant into one snapshot with its manifest. Exit codes
//! (DESIGN.md §5): 0 success, 3 partial (some items failed, the snapshot was still written),
//! 1 failed (no snapshot), 2 usage or configuration error.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use qcb_backup::{backup, BackupOptions, RunStatus};

use super::repo_args::{blocking, RepoArgs};
use super::tenant_args::TenantArgs;

#[derive(Args, Debug)]
pub struct BackupArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Only these component kinds (comma-separated catalog names, e.g. apps,spaces).
    #[arg(long, value_delimiter = ',', value_name = "KIND,..")]
    pub only: Vec<String>,
    /// Leave these component kinds out.
    #[arg(long, value_delimiter = ',', value_name = "KIND,..")]
    pub exclude: Vec<String>,
    /// Export every app, even those unchanged since the last snapshot.
    #[arg(long)]
    pub full: bool,
    /// App exports downloading at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub exports: usize,
    /// Print the manifest as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// When an app cannot be exported for want of a space role (managed spaces), take a role
    /// in that space for the export and give it back afterwards.
    #[arg(long)]
    pub assign_self_to_spaces: bool,
}

pub async fn run(args: BackupArgs, repo: RepoArgs) -> anyhow::Result<ExitCode> {
    let client = args.tenant.client()?;
    let repo = Arc::new(blocking(move || Ok(repo.open()?)).await?);
    let opts = BackupOptions {
        only: args.only,
        exclude: args.exclude,
        full: args.full,
        exports_in_flight: args.exports,
        spool: None,
        assign_self_to_spaces: args.assign_self_to_spaces,
    };
    // Ctrl-C stops the run: no snapshot is written, so none is marked a success. The
    // repository's writes are atomic; what an interrupted write leaves behind is unreferenced
    // and `qcb prune` removes it.
    let outcome = tokio::select! {
        outcome = backup(&client, repo, &opts) => outcome.context("backing up the tenant")?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: the run stopped and wrote no snapshot");
            return Ok(ExitCode::from(130));
        }
    };
    print(&outcome.manifest, args.json)?;
    Ok(exit_code(outcome.manifest.status))
}

pub fn print(manifest: &qcb_backup::Manifest, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, manifest)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", manifest.summary())?;
    }
    Ok(())
}

pub fn exit_code(status: RunStatus) -> ExitCode {
    match status {
        RunStatus::Success => ExitCode::SUCCESS,
        RunStatus::Partial => ExitCode::from(3),
        RunStatus::Failed => ExitCode::from(1),
    }
}
