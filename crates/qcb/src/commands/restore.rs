//! `qcb restore SNAP`: puts a snapshot, or chosen parts of it, back into a tenant. The plan
//! comes first (`--plan` stops there and writes nothing); without `--yes` the plan is shown
//! and confirmed before anything is written. Exit codes: 0 done, 3 some items failed (the
//! rest is restored; run it again once fixed), 1 failed, 2 usage mistake.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};
use qcb_restore::{
    execute, prepare, ApplyOptions, OnConflict, RestoreError, Secrets, Selection, TenantMap,
};

use super::repo_args::{blocking, RepoArgs};
use super::tenant_args::{TenantArgs, UsageError};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ConflictArg {
    /// Keep the target's item (default).
    Skip,
    /// Create the snapshot's item beside it as "<name> (restored)".
    Rename,
    /// Overwrite the target's item where the API allows it (never an app: Qlik cannot
    /// replace one in place; the plan says so per app).
    Replace,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The snapshot: `latest` or the start of its id.
    pub snapshot: String,
    /// With `latest`: the latest snapshot of this tenant (host name).
    #[arg(long)]
    pub host: Option<String>,
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Only these component kinds (comma-separated catalog names).
    #[arg(long, value_delimiter = ',', value_name = "KIND,..")]
    pub only: Vec<String>,
    /// Only the items with these IDs (as in the snapshot).
    #[arg(long = "id", value_delimiter = ',', value_name = "ID,..")]
    pub ids: Vec<String>,
    /// Only what is in these spaces (names or IDs), with the spaces.
    #[arg(long = "space", value_delimiter = ',', value_name = "NAME,..")]
    pub spaces: Vec<String>,
    /// Only items whose name matches (globs with * and ?).
    #[arg(long = "name", value_delimiter = ',', value_name = "GLOB,..")]
    pub names: Vec<String>,
    /// Do not add what the selected items need (a task's app, an app's space).
    #[arg(long)]
    pub no_deps: bool,
    /// Compute and print the plan, write nothing.
    #[arg(long)]
    pub plan: bool,
    /// Write without asking.
    #[arg(long)]
    pub yes: bool,
    /// Print the plan or the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// What to do with an item that exists in the target and differs.
    #[arg(long, value_enum, default_value = "skip")]
    pub on_conflict: ConflictArg,
    /// Users, groups and spaces of the snapshot's tenant mapped to the target's (TOML or JSON).
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    /// Values of the secrets backups never hold (TOML or JSON; see the runbook). Without it,
    /// the document itself may be given in QCB_SECRETS.
    #[arg(long, env = "QCB_SECRETS_FILE", value_name = "FILE")]
    pub secrets: Option<PathBuf>,
    /// Who owns restored items whose owner is not in the target (ID, subject or e-mail of a
    /// target user; checked before anything is written; each hand-over is in the report).
    #[arg(long, value_name = "USER")]
    pub fallback_owner: Option<String>,
    /// Where to write the restore report and runbook (Markdown).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Writes in flight at once (the rate limiter paces them).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub writes: usize,
    /// No progress display on a terminal (log lines instead).
    #[arg(long)]
    pub no_progress: bool,
}

/// The restore's progress: a bar on a terminal, an `info` line every ten seconds otherwise.
/// It sees each item's kind and outcome, never a document.
struct Shown {
    bar: Option<indicatif::ProgressBar>,
    total: usize,
    done: std::sync::atomic::AtomicUsize,
    failed: std::sync::atomic::AtomicUsize,
    last_log: std::sync::Mutex<std::time::Instant>,
}

impl Shown {
    fn start(total: usize, no_progress: bool) -> std::sync::Arc<Shown> {
        let bar = (!no_progress && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} restoring [{bar:30}] {pos}/{len} items, {msg} (ETA {eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        std::sync::Arc::new(Shown {
            bar,
            total,
            done: Default::default(),
            failed: Default::default(),
            last_log: std::sync::Mutex::new(std::time::Instant::now()),
        })
    }

    fn item(&self, r: &qcb_restore::ItemResult) {
        use std::sync::atomic::Ordering::Relaxed;
        let done = self.done.fetch_add(1, Relaxed) + 1;
        if r.outcome == qcb_restore::Outcome::Failed {
            self.failed.fetch_add(1, Relaxed);
        }
        let failed = self.failed.load(Relaxed);
        let msg = format!("now {}, {failed} failed", r.kind);
        match &self.bar {
            Some(bar) => {
                bar.set_position(done as u64);
                bar.set_message(msg);
            }
            None => {
                let mut last = self.last_log.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed() >= std::time::Duration::from_secs(10) || done == self.total {
                    *last = std::time::Instant::now();
                    tracing::info!(target: "qcb::progress", "restore: {done} of {} items, {msg}", self.total);
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The references the restore cannot carry over, on stderr (stdout may be JSON).
fn warn_unmapped(unmapped: &[qcb_restore::Unmapped]) -> std::io::Result<()> {
    if unmapped.is_empty() {
        return Ok(());
    }
    let mut err = std::io::stderr().lock();
    let n = match unmapped.len() {
        1 => "1 reference is".to_string(),
        n => format!("{n} references are"),
    };
    writeln!(
        err,
        "warning: {n} neither in the target nor restored; what refers to them is restored without them:"
    )?;
    for u in unmapped {
        writeln!(err, "  {}", u.describe())?;
    }
    err.flush()
}

fn usage_if(e: RestoreError) -> anyhow::Error {
    if e.is_usage() {
        UsageError(e.to_string()).into()
    } else {
        e.into()
    }
}

/// A variable holding the secrets document itself (TOML or JSON), for where a file is awkward.
const SECRETS_ENV: &str = "QCB_SECRETS";

pub async fn run(args: RestoreArgs, repo: RepoArgs) -> anyhow::Result<ExitCode> {
    let client = args.tenant.client()?;
    let tenant_map = match &args.map {
        Some(f) => TenantMap::from_file(f).map_err(usage_if)?,
        None => TenantMap::default(),
    };
    let secrets = match &args.secrets {
        Some(f) => Secrets::from_file(f).map_err(usage_if)?,
        // The document itself in a variable (a container's secret), when no file is named.
        None => match std::env::var(SECRETS_ENV) {
            Ok(text) if !text.trim().is_empty() => {
                Secrets::from_text(std::path::Path::new(SECRETS_ENV), &text).map_err(usage_if)?
            }
            _ => Secrets::default(),
        },
    };
    let (snapshot, host) = (args.snapshot.clone(), args.host.clone());
    let (repo, snap) = blocking(move || {
        let repo = repo.open()?;
        let snap = repo.resolve(&snapshot, host.as_deref())?;
        Ok((Arc::new(repo), snap))
    })
    .await?;
    let selection = Selection {
        only: args.only.clone(),
        ids: args.ids.clone(),
        spaces: args.spaces.clone(),
        names: args.names.clone(),
        no_deps: args.no_deps,
    };
    let map_file = args
        .map
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut prepared = prepare(
        &client,
        repo.clone(),
        snap.clone(),
        &selection,
        &tenant_map,
        &map_file,
    )
    .await
    .map_err(usage_if)?;
    // A fallback owner the target does not have stops the restore here, before any write.
    prepared
        .set_fallback_owner(args.fallback_owner.as_deref())
        .map_err(usage_if)?;
    let mut out = std::io::stdout().lock();
    if args.plan || !args.yes {
        if args.json {
            serde_json::to_writer_pretty(&mut out, &prepared.plan)?;
            writeln!(out)?;
        } else {
            write!(out, "{}", prepared.plan.table())?;
        }
        out.flush()?;
    }
    if args.plan {
        return Ok(ExitCode::SUCCESS);
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(UsageError(
                "restore writes to the tenant: review the plan above and run again with --yes (or --plan to only see it)".into(),
            )
            .into());
        }
        write!(
            out,
            "Apply this plan to {}? [y/N] ",
            prepared.plan.target_tenant
        )?;
        out.flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES") {
            writeln!(out, "nothing written")?;
            return Ok(ExitCode::SUCCESS);
        }
    }
    // Right before the first write, also with --yes (which shows no plan): what the restore
    // leaves out.
    warn_unmapped(&prepared.plan.unmapped)?;
    let opts = ApplyOptions {
        on_conflict: match args.on_conflict {
            ConflictArg::Skip => OnConflict::Skip,
            ConflictArg::Rename => OnConflict::Rename,
            ConflictArg::Replace => OnConflict::Replace,
        },
        fallback_owner: args.fallback_owner.clone(),
        concurrency: args.writes.max(1),
        on_result: None,
        ..ApplyOptions::default()
    };
    let shown = Shown::start(prepared.plan.steps.len(), args.no_progress || args.json);
    let opts = {
        let shown = shown.clone();
        ApplyOptions {
            on_result: Some(std::sync::Arc::new(move |r| shown.item(r))),
            ..opts
        }
    };
    let report = tokio::select! {
        r = execute(&client, repo, prepared, &secrets, &opts, None) => r.context("restoring")?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: the restore stopped; what was written stays, and running it again skips it");
            return Ok(ExitCode::from(130));
        }
    };
    shown.finish();
    let path = args.report.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "qcb-restore-{}-{}.md",
            snap.short_id,
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ))
    });
    std::fs::write(&path, qcb_restore::runbook::report_markdown(&report))
        .with_context(|| format!("writing the restore report to {}", path.display()))?;
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", report.summary())?;
        writeln!(out, "report and what is left to do: {}", path.display())?;
    }
    Ok(if report.failed() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
