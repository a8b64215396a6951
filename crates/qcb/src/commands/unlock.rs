//! `qcb unlock`: remove the locks that processes which died left on a repository.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use qcb_repo::{FoundLock, UnlockReport};

use super::repo_args::{blocking, RepoArgs};

#[derive(Args, Debug)]
pub struct UnlockArgs {
    /// Remove every lock, also those of processes that may still run (only when you know
    /// that nothing else uses the repository: a prune beside a running backup loses data).
    #[arg(long)]
    pub remove_all: bool,
}

pub async fn run(args: UnlockArgs, repo: RepoArgs) -> anyhow::Result<ExitCode> {
    let all = args.remove_all;
    let report = blocking(move || Ok(repo.open()?.unlock(all)?)).await?;
    print_unlock(&mut std::io::stdout().lock(), &report)?;
    Ok(ExitCode::SUCCESS)
}

fn describe(lock: &FoundLock) -> String {
    let short: String = lock.id.chars().take(8).collect();
    match &lock.info {
        Some(info) => format!("{short} ({})", info.describe()),
        None => format!("{short} (unreadable)"),
    }
}

fn print_unlock(out: &mut impl Write, report: &UnlockReport) -> std::io::Result<()> {
    for lock in &report.removed {
        writeln!(out, "removed lock {}", describe(lock))?;
    }
    for lock in &report.kept {
        writeln!(
            out,
            "kept lock {}: its process may still be at work (--remove-all removes it)",
            describe(lock)
        )?;
    }
    if report.removed.is_empty() && report.kept.is_empty() {
        writeln!(out, "no locks")?;
    }
    Ok(())
}
