//! `qcb demo`: starts the built-in emulated tenant and shows what it holds. (Until backup
//! lands, the demo lists the tenant; later it backs it up into a temporary repository.)

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use qcb_emulator::{Emulator, EmulatorConfig, Profile};
use qcb_qlik::{ClientOptions, Credentials, TenantClient, TenantUrl};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// The generated tenant to show.
    #[arg(long, default_value = "demo", value_parser = |s: &str| s.parse::<Profile>())]
    pub profile: Profile,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let config = EmulatorConfig {
        profile: args.profile,
        seed: args.seed,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(config, "127.0.0.1:0")
        .await
        .context("starting the emulated tenant")?;
    let key = secrecy::SecretString::from(emulator.admin_api_key().to_string());
    let client = TenantClient::new(
        TenantUrl::parse(&emulator.url())?,
        Credentials::ApiKey(key),
        ClientOptions::default(),
    )?;
    let summary = qcb_qlik::inventory::inventory(&client)
        .await
        .context("listing the emulated tenant")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "Emulated Qlik Cloud tenant at {}", emulator.url())?;
    writeln!(out, "{:<28} {:>8}", "component", "count")?;
    for (kind, n) in &summary {
        writeln!(out, "{kind:<28} {n:>8}")?;
    }
    let api = client.counters();
    writeln!(
        out,
        "\n{} API requests, {} throttled, {} retried",
        api.requests, api.throttled, api.retries
    )?;
    drop(out);
    emulator.stop().await?;
    Ok(ExitCode::SUCCESS)
}
