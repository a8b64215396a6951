//! `qcb`: back up and restore a whole Qlik Cloud tenant. This binary only parses, wires and
//! prints; the work lives in the library crates.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::prelude::*;

mod commands;
mod progress;

#[derive(Parser)]
#[command(
    name = "qcb",
    version,
    about = "Back up and restore a whole Qlik Cloud tenant"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    repo: commands::repo_args::RepoArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run an emulated Qlik Cloud tenant on loopback, in the foreground.
    Emulator(commands::emulator::EmulatorArgs),
    /// Back up the built-in emulated tenant into a new local repository.
    Demo(commands::demo::DemoArgs),
    /// The component kinds qcb backs up, where they live in a snapshot, how they come back.
    Kinds(commands::kinds::KindsArgs),
    /// Create a backup repository.
    Init(commands::init::InitArgs),
    /// Back up every layer of a tenant into one snapshot with its manifest.
    Backup(commands::backup::BackupArgs),
    /// List snapshots with status and counts.
    Snapshots(commands::snapshots::SnapshotsArgs),
    /// List a folder (or file) of a snapshot.
    Ls(commands::ls::LsArgs),
    /// Write a file of a snapshot to stdout.
    Cat(commands::cat::CatArgs),
    /// Write a whole snapshot out as plain files.
    Dump(commands::dump::DumpArgs),
    /// A snapshot's run report (HTML or Markdown), with what changed since the one before.
    Report(commands::report::ReportArgs),
    /// Verify the repository (and, with --read-data, all its data).
    Check(commands::check::CheckArgs),
    /// Forget snapshots by a retention policy, per tenant.
    Forget(commands::forget::ForgetArgs),
    /// Remove data no snapshot needs any more.
    Prune(commands::prune::PruneArgs),
    /// Remove locks left on the repository by processes that died (--remove-all: every lock).
    Unlock(commands::unlock::UnlockArgs),
    /// Put a snapshot, or parts of it, back into a tenant (plan first).
    Restore(commands::restore::RestoreArgs),
    /// What a restore of a snapshot gives back, and what a person must do.
    Runbook(commands::runbook::RunbookArgs),
    /// Run every tenant of qcb.toml on its schedule; serve /metrics, /healthz and a JSON API.
    Serve(commands::serve::ServeArgs),
    /// Each tenant's last run, its age and snapshots; exit 1 when one failed or is stale.
    Status(commands::status::StatusArgs),
}

fn main() -> ExitCode {
    qcb_backup::bound_allocator_arenas();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("QCB_LOG")
        // `check` reports its findings itself; rustic_core would log each one again.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(
                "warn,qcb::progress=info,qcb_ops=info,rustic_core::commands::check=off",
            )
        });
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colours only for a person at a terminal, never in a log file or journal.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_filter(filter)
                // The storage backends' request signers print the credentials they load:
                // never shown, whatever QCB_LOG says.
                .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                    !qcb_repo::may_log_secrets(meta.target())
                })),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Emulator(args) => commands::emulator::run(args).await,
            Command::Demo(args) => commands::demo::run(args).await,
            Command::Kinds(args) => commands::kinds::run(args).await,
            Command::Init(args) => commands::init::run(args, cli.repo).await,
            Command::Backup(args) => commands::backup::run(args, cli.repo).await,
            Command::Snapshots(args) => commands::snapshots::run(args, cli.repo).await,
            Command::Ls(args) => commands::ls::run(args, cli.repo).await,
            Command::Cat(args) => commands::cat::run(args, cli.repo).await,
            Command::Dump(args) => commands::dump::run(args, cli.repo).await,
            Command::Report(args) => commands::report::run(args, cli.repo).await,
            Command::Check(args) => commands::check::run(args, cli.repo).await,
            Command::Forget(args) => commands::forget::run(args, cli.repo).await,
            Command::Prune(args) => commands::prune::run(args, cli.repo).await,
            Command::Unlock(args) => commands::unlock::run(args, cli.repo).await,
            Command::Restore(args) => commands::restore::run(args, cli.repo).await,
            Command::Runbook(args) => commands::runbook::run(args, cli.repo).await,
            Command::Serve(args) => commands::serve::run(args, cli.repo).await,
            Command::Status(args) => commands::status::run(args, cli.repo).await,
        }
    });
    match result {
        Ok(code) => code,
        // A closed pipe (`qcb … | head`) is the reader's choice, not a failure.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            if commands::repo_args::is_usage_error(&e) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// An error and its causes on one line, each said once (`{:#}` said twice a cause that an
/// error names in its message and also gives as its source).
fn describe(e: &anyhow::Error) -> String {
    qcb_qlik::error_line(e.as_ref())
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read the tenant at https://t: {source}")]
    struct Naming {
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("opening the repository")]
    struct Silent {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_the_message_already_names_is_said_once() {
        let e = anyhow::Error::new(Naming {
            source: std::io::Error::other("connection refused"),
        })
        .context("backing up the tenant");
        assert_eq!(
            describe(&e),
            "backing up the tenant: cannot read the tenant at https://t: connection refused"
        );
        // `{:#}` would have said the cause twice.
        assert_eq!(format!("{e:#}").matches("connection refused").count(), 2);
    }

    #[test]
    fn a_cause_the_message_leaves_out_is_added() {
        let e = anyhow::Error::new(Silent {
            source: std::io::Error::other("permission denied"),
        });
        assert_eq!(describe(&e), "opening the repository: permission denied");
    }
}
