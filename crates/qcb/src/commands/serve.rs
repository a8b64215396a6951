//! `qcb serve`: every tenant of qcb.toml backed up on its schedule, with `/healthz`,
//! `/metrics` and a read-only JSON API; `--once` runs each tenant's backup now and exits, and
//! `--once --prune` prunes each repository now instead (for a systemd timer or a Kubernetes
//! CronJob, where serve's own schedules do not run). Ctrl-C or SIGTERM stops it: a run in
//! progress is aborted and writes no snapshot.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use qcb_ops::config::{self, Config, Fallbacks};
use qcb_ops::runner::Runner;
use qcb_ops::schedule::{SystemClock, Trigger};
use qcb_ops::state::{Outcome, StateStore};
use tokio_util::sync::CancellationToken;

use super::repo_args::{show_bytes, RepoArgs};
use super::tenant_args::UsageError;

/// `--config` and `--tenant`, shared by `serve` and `status`.
#[derive(Args, Debug, Clone)]
pub struct ConfigArgs {
    /// The configuration file (default: ./qcb.toml, then ~/.config/qcb/qcb.toml, then
    /// /etc/qcb/qcb.toml).
    #[arg(long, env = "QCB_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Only this tenant of the configuration, by name (repeat for more).
    #[arg(long = "tenant", value_name = "NAME")]
    pub tenants: Vec<String>,
}

impl ConfigArgs {
    /// Reads the configuration; its mistakes are usage errors (exit code 2). Warnings go to
    /// stderr.
    pub fn load(&self, repo: &RepoArgs) -> anyhow::Result<Config> {
        let usage = |e: config::ConfigError| UsageError(e.to_string());
        let path = config::locate(self.config.as_deref()).map_err(usage)?;
        let fallbacks = Fallbacks::from_env(repo.repo.clone(), repo.password_file.clone());
        let mut config = config::load(&path, &fallbacks).map_err(usage)?;
        for w in &config.warnings {
            eprintln!("warning: {w}");
        }
        if !self.tenants.is_empty() {
            if let Some(unknown) = self
                .tenants
                .iter()
                .find(|n| !config.tenants.iter().any(|t| &t.name == *n))
            {
                let known: Vec<&str> = config.tenants.iter().map(|t| t.name.as_str()).collect();
                return Err(UsageError(format!(
                    "{}: no tenant named `{unknown}` (the tenants are: {})",
                    path.display(),
                    known.join(", ")
                ))
                .into());
            }
            config.tenants.retain(|t| self.tenants.contains(&t.name));
        }
        Ok(config)
    }
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Where to serve /healthz, /metrics and /api (loopback by default: put a reverse proxy
    /// with authentication in front to expose it).
    #[arg(long, default_value = config::DEFAULT_LISTEN, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Back up each tenant once now (with its retention, report and alerts), then exit with
    /// `qcb backup`'s codes: 0 all succeeded, 3 some partial, 1 some failed.
    #[arg(long)]
    pub once: bool,
    /// With --once: prune each repository of the tenants once now (one prune per repository,
    /// however many tenants share it) instead of backing up; exit 0 when all were pruned, 1
    /// otherwise. A prune needs the repository alone: it waits up to 30 minutes for backups in
    /// progress to finish.
    #[arg(long, requires = "once")]
    pub prune: bool,
}

pub async fn run(args: ServeArgs, repo: RepoArgs) -> anyhow::Result<ExitCode> {
    let config = Arc::new(args.config.load(&repo)?);
    let runner = Runner::new(StateStore::new(&config.state_dir));
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            shutdown_signal().await;
            eprintln!("stopping: runs in progress are aborted and write no snapshot");
            shutdown.cancel();
        }
    });
    if args.once && args.prune {
        return prune_once(&config, &runner, &shutdown).await;
    }
    if args.once {
        return once(&config, &runner, &shutdown).await;
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: another program may hold the port; choose another with --listen",
                args.listen
            )
        })?;
    eprintln!(
        "qcb serve: {} tenant(s) from {}, state in {}, listening on http://{}",
        config.tenants.len(),
        config.path.display(),
        config.state_dir.display(),
        args.listen
    );
    for t in &config.tenants {
        eprintln!(
            "  {}: {} on \"{}\"{}",
            t.name,
            t.host,
            t.schedule.as_str(),
            t.prune_schedule
                .as_ref()
                .map(|p| format!(", prune on \"{}\"", p.as_str()))
                .unwrap_or_default()
        );
    }
    qcb_ops::server::serve(config, runner, Arc::new(SystemClock), listener, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// Each tenant once, one after the other.
async fn once(
    config: &Config,
    runner: &Runner,
    shutdown: &CancellationToken,
) -> anyhow::Result<ExitCode> {
    let mut worst = 0u8;
    for t in &config.tenants {
        if shutdown.is_cancelled() {
            break;
        }
        let r = runner
            .backup(t, Trigger::Manual, None, shutdown)
            .await
            .record;
        let mut line = format!("{}: {}", t.name, r.status.as_str());
        if let Some(s) = &r.snapshot {
            line.push_str(&format!(", snapshot {}", &s[..s.len().min(8)]));
            line.push_str(&format!(
                ", {} failed items, {} added",
                r.failed_items,
                show_bytes(r.bytes_added)
            ));
        }
        if r.forgotten > 0 {
            line.push_str(&format!(", {} snapshot(s) forgotten", r.forgotten));
        }
        if let Some(e) = &r.error {
            line.push_str(&format!(": {e}"));
        }
        println!("{line}");
        if let Some(p) = &r.report {
            println!("  report: {}", p.display());
        }
        if let Some(e) = &r.retention_error {
            println!("  retention not applied: {e}");
        }
        for e in &r.alert_errors {
            println!("  alert not delivered: {e}");
        }
        let code = match r.status {
            Outcome::Success => 0,
            Outcome::Partial => 3,
            Outcome::Failed | Outcome::Aborted => 1,
        };
        // Failed outranks partial outranks success.
        worst = match (worst, code) {
            (1, _) | (_, 1) => 1,
            (3, _) | (_, 3) => 3,
            _ => 0,
        };
    }
    if shutdown.is_cancelled() {
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::from(worst))
}

/// Each repository of the tenants pruned once, one after the other. The prune is recorded
/// under the first tenant of the repository.
async fn prune_once(
    config: &Config,
    runner: &Runner,
    shutdown: &CancellationToken,
) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    let mut done: Vec<&str> = Vec::new();
    for t in &config.tenants {
        if done.contains(&t.repository.as_str()) {
            continue;
        }
        if shutdown.is_cancelled() {
            return Ok(ExitCode::from(130));
        }
        done.push(&t.repository);
        let sharing: Vec<&str> = config
            .tenants
            .iter()
            .filter(|o| o.repository == t.repository)
            .map(|o| o.name.as_str())
            .collect();
        let r = runner.prune(t, Trigger::Manual, None).await.record;
        let mut line = format!(
            "{}: prune {} (repository of {})",
            t.name,
            r.status.as_str(),
            sharing.join(", ")
        );
        if let Some(freed) = r.bytes_freed {
            line.push_str(&format!(", {} freed", show_bytes(freed)));
        }
        if let Some(e) = &r.error {
            line.push_str(&format!(": {e}"));
        }
        println!("{line}");
        failed |= r.status != Outcome::Success;
    }
    Ok(ExitCode::from(u8::from(failed)))
}

/// Ctrl-C, or SIGTERM (what systemd and Kubernetes send).
async fn shutdown_signal() {
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
