//! `qcb init`: create a repository.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::repo_args::{blocking, RepoArgs};

#[derive(Args, Debug)]
pub struct InitArgs {}

pub async fn run(_args: InitArgs, repo: RepoArgs) -> anyhow::Result<ExitCode> {
    let location = blocking(move || Ok(repo.init()?.location().to_string())).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "created repository at {location}")?;
    writeln!(
        out,
        "keep the password safe: without it nobody, qcb included, can read these backups"
    )?;
    Ok(ExitCode::SUCCESS)
}
