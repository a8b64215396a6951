//! `qcb demo`: starts the built-in emulated tenant, backs it up into a new local repository and
//! prints the manifest summary, with the commands to look inside the repository afterwards.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use qcb_backup::{backup, BackupOptions};
use qcb_emulator::{Emulator, EmulatorConfig, Profile};
use qcb_qlik::{Budget, ClientOptions, Credentials, TenantClient, TenantUrl};
use qcb_repo::{Repo, RepoOptions};
use secrecy::SecretString;

use crate::progress::{Mode, RunDisplay};

/// The demo repository's password (the demo holds only generated data).
const DEMO_PASSWORD: &str = "qcb-demo";

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// The generated tenant to back up.
    #[arg(long, default_value = "demo", value_parser = |s: &str| s.parse::<Profile>())]
    pub profile: Profile,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The emulated tenant's time runs this many times faster (rate limits, export latency).
    #[arg(long, default_value_t = 20.0)]
    pub time_scale: f64,
    /// Print the manifest as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// No progress display: log lines instead (as when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let config = EmulatorConfig {
        profile: args.profile,
        seed: args.seed,
        time_scale: args.time_scale,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(config, "127.0.0.1:0")
        .await
        .context("starting the emulated tenant")?;
    // The M2M bot with admin.apps reaches every app, as a production backup should.
    let (id, secret) = emulator
        .tenant()
        .credentials()
        .admin_bot
        .context("the emulated tenant has no M2M client")?;
    let creds = Credentials::OAuthClient {
        client_id: id,
        client_secret: SecretString::from(secret),
        scope: None,
    };
    let opts = ClientOptions {
        budget: Budget {
            time_scale: args.time_scale,
            ..Budget::default()
        },
        ..ClientOptions::default()
    };
    let client = TenantClient::new(TenantUrl::parse(&emulator.url())?, creds, opts)?;

    let dir = tempfile::Builder::new()
        .prefix("qcb-demo-")
        .tempdir()
        .context("creating the demo repository folder")?
        .keep();
    let location = dir.join("repo").display().to_string();
    let repo_opts = RepoOptions::new(
        location.clone(),
        SecretString::from(DEMO_PASSWORD.to_string()),
    );
    let repo = Arc::new(
        tokio::task::spawn_blocking(move || Repo::init(&repo_opts))
            .await
            .context("creating the demo repository")??,
    );
    let display = RunDisplay::start(Mode::choose(args.no_progress), &client);
    let opts = BackupOptions {
        progress: display.sink.clone(),
        ..BackupOptions::default()
    };
    let outcome = backup(&client, repo, &opts).await;
    display.stop();
    let outcome = outcome.context("backing up the emulated tenant")?;
    super::backup::print(&outcome.manifest, args.json)?;
    if !args.json {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "\nRepository: {location} (password: {DEMO_PASSWORD}). Look inside:"
        )?;
        writeln!(
            out,
            "  QCB_PASSWORD={DEMO_PASSWORD} qcb snapshots --repo {location}"
        )?;
        writeln!(
            out,
            "  QCB_PASSWORD={DEMO_PASSWORD} qcb ls latest --repo {location}"
        )?;
        writeln!(
            out,
            "  QCB_PASSWORD={DEMO_PASSWORD} qcb runbook latest --repo {location}   # what a restore gives back"
        )?;
    }
    emulator.stop().await?;
    Ok(super::backup::exit_code(outcome.manifest.status))
}
