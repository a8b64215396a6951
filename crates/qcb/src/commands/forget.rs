//! `qcb forget --keep-daily N …`: forget snapshots by a retention policy, per tenant.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use qcb_repo::{ForgetReport, KeepPolicy, PruneReport};

use super::prune::print_prune;
use super::repo_args::{blocking, show_time, RepoArgs};
use super::serve::ConfigArgs;
use super::tenant_args::UsageError;

#[derive(Args, Debug)]
pub struct ForgetArgs {
    /// Forget these snapshots (IDs, unique ID prefixes, or `latest` with --host) instead of
    /// applying a policy: for a snapshot that must go whatever the policy says.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshots: Vec<String>,
    /// Keep the N newest snapshots.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_last: u32,
    /// Keep the newest snapshot of each of the last N days that have one.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_daily: u32,
    /// Keep the newest snapshot of each of the last N ISO weeks that have one.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_weekly: u32,
    /// Keep the newest snapshot of each of the last N months that have one.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_monthly: u32,
    /// Keep the newest snapshot of each of the last N years that have one.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_yearly: u32,
    /// Prune afterwards (remove the data only forgotten snapshots used).
    #[arg(long)]
    pub prune: bool,
    /// Only show what would be forgotten.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only this tenant's snapshots (its host name, as `qcb snapshots` shows it).
    #[arg(long)]
    pub host: Option<String>,
    /// With --tenant NAME: each named tenant's own retention policy, repository and host from
    /// the configuration file (`qcb forget --tenant acme --dry-run` previews what `qcb serve`
    /// would forget after acme's next successful run).
    #[command(flatten)]
    pub config: ConfigArgs,
}

impl ForgetArgs {
    /// Whether any --keep-* rule was given.
    fn has_rules(&self) -> bool {
        [
            self.keep_last,
            self.keep_daily,
            self.keep_weekly,
            self.keep_monthly,
            self.keep_yearly,
        ]
        .iter()
        .any(|n| *n > 0)
    }
}

pub async fn run(args: ForgetArgs, repo: RepoArgs) -> anyhow::Result<ExitCode> {
    if !args.config.tenants.is_empty() {
        return run_configured(args, repo).await;
    }
    if !args.snapshots.is_empty() {
        return run_named(args, repo).await;
    }
    let policy = KeepPolicy {
        last: args.keep_last,
        daily: args.keep_daily,
        weekly: args.keep_weekly,
        monthly: args.keep_monthly,
        yearly: args.keep_yearly,
    };
    let (dry_run, prune, host) = (args.dry_run, args.prune, args.host.clone());
    let (report, pruned) = blocking(move || {
        let repo = repo.open()?;
        let report = match &host {
            Some(h) => repo.forget_host(&policy, h, dry_run)?,
            None => repo.forget(&policy, dry_run)?,
        };
        let pruned = if prune && !dry_run {
            Some(repo.prune()?)
        } else {
            None
        };
        Ok((report, pruned))
    })
    .await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({ "forget": report, "prune": pruned }),
        )?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    print_report(&mut out, &report, pruned.as_ref())?;
    Ok(ExitCode::SUCCESS)
}

/// `qcb forget SNAP…`: those snapshots, whatever a policy would say.
async fn run_named(args: ForgetArgs, repo: RepoArgs) -> anyhow::Result<ExitCode> {
    if args.has_rules() {
        return Err(UsageError("name snapshots or give --keep-* rules, not both".into()).into());
    }
    let (specs, host, dry_run, prune) = (args.snapshots, args.host, args.dry_run, args.prune);
    let (chosen, pruned) = blocking(move || {
        let repo = repo.open()?;
        // Every name is resolved before anything is forgotten: a typo forgets nothing.
        let mut chosen = Vec::new();
        for spec in &specs {
            let snap = repo.resolve(spec, host.as_deref())?;
            if !chosen
                .iter()
                .any(|c: &qcb_repo::SnapshotInfo| c.id == snap.id)
            {
                chosen.push(snap);
            }
        }
        if dry_run {
            return Ok((chosen, None));
        }
        repo.forget_snapshots(&chosen)?;
        let pruned = if prune { Some(repo.prune()?) } else { None };
        Ok((chosen, pruned))
    })
    .await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let ids: Vec<&str> = chosen.iter().map(|s| s.id.as_str()).collect();
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({ "forgotten": ids, "dry_run": dry_run, "prune": pruned }),
        )?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if dry_run { "would forget" } else { "forgot" };
    for s in &chosen {
        writeln!(
            out,
            "{verb}  {}  {}  {}",
            s.short_id,
            show_time(&s.time),
            s.host
        )?;
    }
    if let Some(p) = &pruned {
        print_prune(&mut out, p)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `--tenant NAME…`: each tenant's policy over its own snapshots in its own repository.
async fn run_configured(args: ForgetArgs, repo: RepoArgs) -> anyhow::Result<ExitCode> {
    if args.has_rules() || args.host.is_some() {
        return Err(UsageError(
            "--tenant takes the policy and host from the configuration: leave out --keep-* and --host".into(),
        )
        .into());
    }
    let config = args.config.load(&repo)?;
    let (dry_run, prune) = (args.dry_run, args.prune);
    let mut results = Vec::new();
    for tenant in config.tenants {
        if tenant.retention.is_empty() {
            return Err(UsageError(format!(
                "tenant `{}` has no retention policy: add [tenants.retention] (keep_daily, keep_weekly, keep_monthly, keep_yearly) to the configuration",
                tenant.name
            ))
            .into());
        }
        let opts = tenant
            .repo_options()?
            .with_lock_wait(repo.retry_lock.unwrap_or_default());
        let (policy, host, name) = (tenant.retention, tenant.host.clone(), tenant.name.clone());
        let done = blocking(move || {
            let repo = qcb_repo::Repo::open(&opts)?;
            let report = repo.forget_host(&policy, &host, dry_run)?;
            let pruned = if prune && !dry_run {
                Some(repo.prune()?)
            } else {
                None
            };
            Ok((report, pruned))
        })
        .await?;
        results.push((name, done));
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = results
            .iter()
            .map(|(name, (report, pruned))| {
                serde_json::json!({ "tenant": name, "forget": report, "prune": pruned })
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &list)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    for (name, (report, pruned)) in &results {
        writeln!(out, "tenant {name}:")?;
        print_report(&mut out, report, pruned.as_ref())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(
    out: &mut impl Write,
    report: &ForgetReport,
    pruned: Option<&PruneReport>,
) -> std::io::Result<()> {
    for group in &report.groups {
        writeln!(
            out,
            "{}: keep {}, forget {}",
            group.host,
            group.keep.len(),
            group.remove.len()
        )?;
        for k in &group.keep {
            writeln!(
                out,
                "  keep    {}  {}  {}",
                k.snapshot.short_id,
                show_time(&k.snapshot.time),
                k.reasons.join(",")
            )?;
        }
        for s in &group.remove {
            writeln!(out, "  forget  {}  {}", s.short_id, show_time(&s.time))?;
        }
    }
    if report.others > 0 {
        writeln!(
            out,
            "{} snapshots not written by qcb (no `qcb` tag) are left alone",
            report.others
        )?;
    }
    let n = report.removed().count();
    if report.dry_run {
        writeln!(out, "dry run: {n} snapshots would be forgotten")?;
    } else {
        writeln!(out, "forgot {n} snapshots")?;
    }
    if let Some(p) = pruned {
        print_prune(out, p)?;
    }
    Ok(())
}
