//! `qcb emulator`: an emulated Qlik Cloud tenant in the foreground. The first line on stdout
//! is `QCB_TENANT=<url> QCB_API_KEY=<key>`, so that scripts can `eval` it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use qcb_emulator::{Emulator, EmulatorConfig, LinkStyle, Profile};

#[derive(Args, Debug)]
pub struct EmulatorArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// The generated tenant: empty (what a new tenant holds), demo (a few dozen of everything) or large (1842 apps).
    #[arg(long, default_value = "demo", value_parser = parse_profile)]
    pub profile: Profile,
    /// Seed of the generated tenant; the same seed gives the same tenant.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Emulated time runs this many times faster than real time (rate limits, export latency, token expiry).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// The tenant admin's API key (generated when absent).
    #[arg(long)]
    pub api_key: Option<String>,
    /// Load the tenant from this file if it exists, and save it there on exit.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Write links.*.href with an internal host, as some of the specs' examples do.
    #[arg(long)]
    pub internal_links: bool,
    /// Do not enforce rate limits.
    #[arg(long)]
    pub no_rate_limits: bool,
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    s.parse()
}

impl EmulatorArgs {
    pub fn config(&self) -> anyhow::Result<EmulatorConfig> {
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            anyhow::bail!(
                "--time-scale must be a positive number, got {}",
                self.time_scale
            );
        }
        Ok(EmulatorConfig {
            profile: self.profile,
            seed: self.seed,
            time_scale: self.time_scale,
            admin_api_key: self.api_key.clone(),
            state_file: self.state.clone(),
            link_style: if self.internal_links {
                LinkStyle::Internal
            } else {
                LinkStyle::Absolute
            },
            rate_limits: !self.no_rate_limits,
            ..EmulatorConfig::default()
        })
    }
}

pub async fn run(args: EmulatorArgs) -> anyhow::Result<ExitCode> {
    let config = args.config()?;
    let emulator = Emulator::start(config, &args.listen)
        .await
        .context("starting the emulator")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "QCB_TENANT={} QCB_API_KEY={}",
            emulator.url(),
            emulator.admin_api_key()
        )?;
        out.flush()?;
    }
    let creds = emulator.tenant().credentials();
    eprintln!(
        "qcb emulator: {:?} tenant (seed {}) at {}",
        args.profile,
        args.seed,
        emulator.url()
    );
    if let Some((id, _)) = &creds.admin_bot {
        eprintln!(
            "  OAuth M2M client with admin.apps: {id} (its secret: GET {}/_qcb/info)",
            emulator.url()
        );
    }
    eprintln!(
        "  test controls under {}/_qcb/ ; Ctrl-C stops",
        emulator.url()
    );
    shutdown_signal().await;
    emulator.stop().await.context("stopping the emulator")?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
