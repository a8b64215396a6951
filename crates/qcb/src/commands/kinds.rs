//! `qcb kinds`: the component kinds qcb backs up — their names (for `--only`/`--exclude`),
//! where they live in a snapshot, how they come back, and why.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

#[derive(Args, Debug)]
pub struct KindsArgs {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: KindsArgs) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let kinds = qcb_catalog::all();
    if args.json {
        let rows: Vec<serde_json::Value> = kinds
            .iter()
            .map(|k| serde_json::json!({"name": k.name, "folder": k.folder, "restore": k.restore, "note": k.restore_note, "secrets": k.secrets.iter().map(|s| s.pointer).collect::<Vec<_>>()}))
            .collect();
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<26} {:<42} {:<10} secrets",
        "kind", "in a snapshot", "restore"
    )?;
    for k in kinds {
        let restore = serde_json::to_value(k.restore)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        writeln!(
            out,
            "{:<26} {:<42} {:<10} {}",
            k.name,
            k.folder,
            restore,
            k.secrets.len()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
