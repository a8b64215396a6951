//! `qcb prune`: remove data no snapshot needs any more.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use qcb_repo::PruneReport;

use super::repo_args::{blocking, show_bytes, RepoArgs};

#[derive(Args, Debug)]
pub struct PruneArgs {}

pub async fn run(_args: PruneArgs, repo: RepoArgs) -> anyhow::Result<ExitCode> {
    let report = blocking(move || Ok(repo.open()?.prune()?)).await?;
    print_prune(&mut std::io::stdout().lock(), &report)?;
    Ok(ExitCode::SUCCESS)
}

pub fn print_prune(out: &mut impl Write, p: &PruneReport) -> std::io::Result<()> {
    writeln!(
        out,
        "pruned: {} frees {}, {} remain; {} packs repacked, {} removed",
        if p.instant {
            "deleted at once"
        } else {
            "grace period 23h"
        },
        show_bytes(p.bytes_freed),
        show_bytes(p.bytes_remaining),
        p.packs_repacked,
        p.packs_removed
    )?;
    if !p.instant && p.packs_unused > 0 {
        writeln!(
            out,
            "{} unused packs are marked for deletion; a prune 23 hours or more from now removes them",
            p.packs_unused
        )?;
    }
    Ok(())
}
