//! `qcb demo`: starts the built-in emulated tenant and shows what it holds. (Until backup
//! lands, the demo lists the tenant; later it backs it up into a temporary repository.)

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use qcb_emulator::{Emulator, EmulatorConfig, Profile};

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
    let summary = qcb_qlik::inventory::inventory(&emulator.url(), key)
        .await
        .context("listing the emulated tenant")?;
    println!("Emulated Qlik Cloud tenant at {}", emulator.url());
    println!("{:<28} {:>8}", "component", "count");
    for (kind, n) in &summary {
        println!("{kind:<28} {n:>8}");
    }
    emulator.stop().await?;
    Ok(ExitCode::SUCCESS)
}
