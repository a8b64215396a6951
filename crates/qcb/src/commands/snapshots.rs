//! `qcb snapshots`: list snapshots with status and counts.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::repo_args::{blocking, show_bytes, show_time, RepoArgs};

#[derive(Args, Debug)]
pub struct SnapshotsArgs {
    /// Only this tenant's snapshots (its hostname).
    #[arg(long)]
    pub host: Option<String>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: SnapshotsArgs, repo: RepoArgs) -> anyhow::Result<ExitCode> {
    let snaps = blocking(move || Ok(repo.open()?.snapshots()?)).await?;
    let snaps: Vec<_> = snaps
        .into_iter()
        .filter(|s| args.host.as_ref().is_none_or(|h| &s.host == h))
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &snaps)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<8}  {:<19}  {:<32}  {:<10}  {:>7}  {:>10}  {:>10}",
        "ID", "TIME (UTC)", "TENANT", "STATUS", "FILES", "SIZE", "ADDED"
    )?;
    for s in &snaps {
        let (files, size, added) = s
            .summary
            .as_ref()
            .map(|m| {
                (
                    m.files_total.to_string(),
                    show_bytes(m.bytes_total),
                    show_bytes(m.data_added_packed),
                )
            })
            .unwrap_or_else(|| ("-".into(), "-".into(), "-".into()));
        writeln!(
            out,
            "{:<8}  {:<19}  {:<32}  {:<10}  {:>7}  {:>10}  {:>10}",
            s.short_id,
            show_time(&s.time),
            s.host,
            s.status().unwrap_or("-"),
            files,
            size,
            added
        )?;
    }
    writeln!(out, "{} snapshots", snaps.len())?;
    Ok(ExitCode::SUCCESS)
}
