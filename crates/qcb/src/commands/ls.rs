//! `qcb ls SNAP [PATH]`: browse a snapshot.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use qcb_repo::NodeKind;

use super::repo_args::{blocking, show_time, RepoArgs};

#[derive(Args, Debug)]
pub struct LsArgs {
    /// The snapshot: `latest` or the start of its id.
    pub snapshot: String,
    /// A folder or file in the snapshot (default: its root).
    #[arg(default_value = "")]
    pub path: String,
    /// List everything below PATH, not just its entries.
    #[arg(long, short)]
    pub recursive: bool,
    /// With `latest`: the latest snapshot of this tenant.
    #[arg(long)]
    pub host: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: LsArgs, repo: RepoArgs) -> anyhow::Result<ExitCode> {
    let (snap, nodes) = {
        let (spec, host, path, recursive) = (args.snapshot, args.host, args.path, args.recursive);
        blocking(move || {
            let repo = repo.open()?;
            let snap = repo.resolve(&spec, host.as_deref())?;
            let nodes = repo.ls(&snap, &path, recursive)?;
            Ok((snap, nodes))
        })
        .await?
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({ "snapshot": snap.id, "nodes": nodes }),
        )?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    for n in &nodes {
        let kind = match n.kind {
            NodeKind::Dir => 'd',
            NodeKind::File => '-',
            NodeKind::Symlink => 'l',
            NodeKind::Other => '?',
        };
        let size = if n.kind == NodeKind::Dir {
            String::new()
        } else {
            n.size.to_string()
        };
        let time = n.mtime.as_ref().map(show_time).unwrap_or_default();
        let slash = if n.kind == NodeKind::Dir { "/" } else { "" };
        writeln!(out, "{kind} {size:>12}  {time:<19}  {}{slash}", n.path)?;
    }
    Ok(ExitCode::SUCCESS)
}
