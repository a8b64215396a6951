//! `qcb check [--read-data]`: verify the repository.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use qcb_repo::Severity;

use super::repo_args::{blocking, RepoArgs};

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Also read every pack file and verify every blob (reads the whole repository).
    #[arg(long)]
    pub read_data: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: CheckArgs, repo: RepoArgs) -> anyhow::Result<ExitCode> {
    let read_data = args.read_data;
    let report = blocking(move || Ok(repo.open()?.check(read_data)?)).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        for p in &report.problems {
            let level = match p.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            writeln!(out, "{level}: {}", p.message)?;
        }
        let scope = if report.read_data {
            "structure and all data"
        } else {
            "structure; add --read-data to read all data"
        };
        let errors = report
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count();
        let warnings = report.problems.len() - errors;
        if report.problems.is_empty() {
            writeln!(
                out,
                "no problems found in {} snapshots ({scope})",
                report.snapshots
            )?;
        } else {
            writeln!(
                out,
                "{errors} errors, {warnings} warnings in {} snapshots ({scope})",
                report.snapshots
            )?;
        }
    }
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
