//! `qcb status`: per tenant of qcb.toml, the last run, its status and age, and the snapshots
//! per retention bucket. Exit code 1 when a tenant's last run failed, its newest snapshot is
//! older than its `stale_after`, or its repository cannot be read; 2 for a configuration
//! error; 0 otherwise — so any monitoring system can call it.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use qcb_ops::state::StateStore;
use qcb_ops::status::{tenant_status, TenantStatus};

use super::repo_args::{blocking, show_time, RepoArgs};
use super::serve::ConfigArgs;

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: StatusArgs, repo: RepoArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.load(&repo)?;
    let statuses: Vec<TenantStatus> = blocking(move || {
        let state = StateStore::new(&config.state_dir);
        let now = chrono::Utc::now();
        Ok(config
            .tenants
            .iter()
            .map(|t| tenant_status(t, &state, now))
            .collect())
    })
    .await?;
    let all_ok = statuses.iter().all(TenantStatus::ok);
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = statuses
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                v["ok"] = serde_json::Value::Bool(s.ok());
                v
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &list)?;
        writeln!(out)?;
    } else {
        print_table(&mut out, &statuses)?;
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn age(seconds: Option<i64>) -> String {
    match seconds {
        Some(s) => qcb_ops::config::show_duration(std::time::Duration::from_secs(s.max(0) as u64)),
        None => "-".into(),
    }
}

fn print_table(out: &mut impl Write, statuses: &[TenantStatus]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<16}  {:<8}  {:<19}  {:>8}  {:>9}  {:<5}  BUCKETS",
        "TENANT", "LAST RUN", "FINISHED (UTC)", "AGE", "SNAPSHOTS", "OK"
    )?;
    for s in statuses {
        let (status, finished) = s
            .last_run
            .as_ref()
            .map(|r| (r.status.as_str().to_string(), show_time(&r.finished_at)))
            .unwrap_or(("never".into(), "-".into()));
        // In the policy's order, with what no rule keeps last.
        let buckets: Vec<String> = ["last", "daily", "weekly", "monthly", "yearly", "forget"]
            .iter()
            .filter_map(|k| s.buckets.get(*k).map(|v| format!("{k} {v}")))
            .collect();
        writeln!(
            out,
            "{:<16}  {:<8}  {:<19}  {:>8}  {:>9}  {:<5}  {}",
            s.tenant,
            status,
            finished,
            age(s.age_seconds),
            s.snapshots.map_or("?".into(), |n| n.to_string()),
            if s.ok() { "yes" } else { "NO" },
            if buckets.is_empty() {
                "-".into()
            } else {
                buckets.join(", ")
            }
        )?;
        for p in &s.problems {
            writeln!(out, "  {}: {p}", s.tenant)?;
        }
    }
    Ok(())
}
