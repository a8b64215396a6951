//! `qcb runbook [SNAP]`: what a restore of a snapshot would give back and what a person must
//! do — written before any disaster (Markdown, or `--json`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use qcb_restore::SnapshotData;

use super::repo_args::{blocking, RepoArgs};

#[derive(Args, Debug)]
pub struct RunbookArgs {
    /// The snapshot: `latest` (default) or the start of its id.
    #[arg(default_value = "latest")]
    pub snapshot: String,
    /// With `latest`: the latest snapshot of this tenant (host name).
    #[arg(long)]
    pub host: Option<String>,
    /// JSON instead of Markdown.
    #[arg(long)]
    pub json: bool,
    /// Write it to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub async fn run(args: RunbookArgs, repo: RepoArgs) -> anyhow::Result<ExitCode> {
    let (snapshot, host) = (args.snapshot.clone(), args.host.clone());
    let data = blocking(move || {
        let repo = repo.open()?;
        let snap = repo.resolve(&snapshot, host.as_deref())?;
        Ok(SnapshotData::load(&repo, snap)?)
    })
    .await?;
    let book = qcb_restore::runbook::runbook_of(&data);
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&book)?;
        s.push('\n');
        s
    } else {
        qcb_restore::runbook::markdown(&book)
    };
    match &args.out {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
