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
use crate::progress::{Mode, RunDisplay};

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
    /// Export every app when the last run that did is older than DAYS (or there is none):
    /// a guard against modification dates that stay the same when an app changes.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub full_every: Option<u32>,
    /// No progress display: log lines instead (as when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// App exports in flight at once (the client's limiter paces their requests).
    #[arg(long, default_value_t = qcb_backup::DEFAULT_EXPORTS_IN_FLIGHT, value_name = "N")]
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
    let display = RunDisplay::start(Mode::choose(args.no_progress), &client);
    let opts = BackupOptions {
        only: args.only,
        exclude: args.exclude,
        full: args.full,
        exports_in_flight: args.exports,
        spool: None,
        assign_self_to_spaces: args.assign_self_to_spaces,
        full_every_days: args.full_every,
        progress: display.sink.clone(),
    };
    // Ctrl-C stops the run: no snapshot is written, so none is marked a success. The
    // repository's writes are atomic; what an interrupted write leaves behind is unreferenced
    // and `qcb prune` removes it.
    let outcome = tokio::select! {
        outcome = backup(&client, repo, &opts) => outcome,
        _ = tokio::signal::ctrl_c() => {
            display.stop();
            eprintln!("interrupted: the run stopped and wrote no snapshot");
            return Ok(ExitCode::from(130));
        }
    };
    display.stop();
    let outcome = outcome.context("backing up the tenant")?;
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
