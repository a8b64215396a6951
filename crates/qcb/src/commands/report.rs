//! `qcb report [SNAP]`: a snapshot's run report, as a self-contained HTML page or Markdown,
//! compared with the snapshot before it (or `--previous`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use qcb_ops::anomaly::{self, Thresholds};
use qcb_ops::report;

use super::repo_args::{blocking, RepoArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Html,
    Md,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The snapshot: `latest` or the start of its id.
    #[arg(default_value = "latest")]
    pub snapshot: String,
    /// The snapshot to compare with (default: the same tenant's snapshot before SNAP).
    #[arg(long, value_name = "SNAP")]
    pub previous: Option<String>,
    /// html or md (default: from --out's extension, else html).
    #[arg(long)]
    pub format: Option<Format>,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// With `latest`: the latest snapshot of this tenant.
    #[arg(long)]
    pub host: Option<String>,
}

fn format_of(args: &ReportArgs) -> Format {
    let by_extension = args
        .out
        .as_deref()
        .and_then(Path::extension)
        .is_some_and(|e| e.eq_ignore_ascii_case("md") || e.eq_ignore_ascii_case("markdown"));
    match args.format {
        Some(f) => f,
        None if by_extension => Format::Md,
        None => Format::Html,
    }
}

pub async fn run(args: ReportArgs, repo: RepoArgs) -> anyhow::Result<ExitCode> {
    let format = format_of(&args);
    let out = args.out.clone();
    let text = blocking(move || {
        let repo = repo.open()?;
        let snap = repo.resolve(&args.snapshot, args.host.as_deref())?;
        let current = anomaly::read_manifest(&repo, &snap)?;
        let previous_snap = match &args.previous {
            Some(spec) => Some(repo.resolve(spec, None)?),
            None => anomaly::previous_snapshot(&repo, &snap)?,
        };
        let previous = match &previous_snap {
            Some(p) => Some(anomaly::read_manifest(&repo, p)?),
            None => None,
        };
        // Anomalies with the default thresholds; the report is still written without them.
        let anomalies = match (&previous_snap, &previous) {
            (Some(ps), Some(pm)) => {
                anomaly::detect_in_repo(&repo, ps, &snap, pm, &current, &Thresholds::default())
                    .unwrap_or_else(|e| {
                        tracing::warn!("anomalies not looked for: {e}");
                        Vec::new()
                    })
            }
            _ => Vec::new(),
        };
        Ok(match format {
            Format::Html => report::html_with_anomalies(&current, previous.as_ref(), &anomalies),
            Format::Md => report::markdown_with_anomalies(&current, previous.as_ref(), &anomalies),
        })
    })
    .await?;
    match out {
        Some(path) => std::fs::write(&path, text.as_bytes())
            .map_err(|e| anyhow::anyhow!("cannot write the report to {}: {e}", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
